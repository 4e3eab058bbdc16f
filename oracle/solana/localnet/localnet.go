package localnet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// ErrUnavailable is returned by Start when node or the npm packages are not installed.
var ErrUnavailable = errors.New("localnet unavailable")

// InstallHint says how to install what Start needs.
const InstallHint = "install Node.js ≥ 20.18 (Debian: apt-get install nodejs npm) and run `npm ci --prefix oracle/solana/localnet`"

// Options configures Start. The zero value starts a server on a free loopback port.
type Options struct {
	// Port is the JSON-RPC port; pubsub listens on Port+1. Default 0: a free pair is chosen.
	Port int
	// Dir holds server.js and node_modules. Default: $HEXFIELD_LOCALNET_DIR, else the
	// directory of this source file.
	Dir string
	// Node is the node executable. Default: $HEXFIELD_NODE, else "node" from PATH.
	Node string
	// StartTimeout bounds the wait for the server to answer getHealth. Default 20 s.
	StartTimeout time.Duration
	// Logger receives the server's stderr lines. Default: discard.
	Logger *slog.Logger
}

func (o *Options) fill() {
	if o.Dir == "" {
		o.Dir = os.Getenv("HEXFIELD_LOCALNET_DIR")
	}
	if o.Dir == "" {
		if _, file, _, ok := runtime.Caller(0); ok {
			o.Dir = filepath.Dir(file)
		}
	}
	if o.Node == "" {
		o.Node = os.Getenv("HEXFIELD_NODE")
	}
	if o.Node == "" {
		o.Node = "node"
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 20 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate checks the options after defaults are filled.
func (o *Options) Validate() error {
	if o.Port < 0 || o.Port > 65534 {
		return fmt.Errorf("localnet: port %d out of range", o.Port)
	}
	if o.StartTimeout < 0 {
		return errors.New("localnet: negative start timeout")
	}
	return nil
}

// Server is a running localnet.
type Server struct {
	url, wsURL string
	cmd        *exec.Cmd
	stdin      io.Closer
	done       chan struct{}
	waitErr    error
	closeOnce  sync.Once
}

// Start launches server.js and waits until it answers getHealth. The server also exits when
// this process dies (its stdin is a pipe from us).
func Start(ctx context.Context, opts Options) (*Server, error) {
	opts.fill()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	node, err := exec.LookPath(opts.Node)
	if err != nil {
		return nil, fmt.Errorf("%w: node not found (%v); %s", ErrUnavailable, err, InstallHint)
	}
	script := filepath.Join(opts.Dir, "server.js")
	if _, err := os.Stat(script); err != nil {
		return nil, fmt.Errorf("%w: %v; set HEXFIELD_LOCALNET_DIR or %s", ErrUnavailable, err, InstallHint)
	}
	if _, err := os.Stat(filepath.Join(opts.Dir, "node_modules", "litesvm", "package.json")); err != nil {
		return nil, fmt.Errorf("%w: node_modules missing in %s; %s", ErrUnavailable, opts.Dir, InstallHint)
	}
	cmd := exec.Command(node, script, "--port", fmt.Sprint(opts.Port), "--exit-on-stdin-eof")
	cmd.Dir = opts.Dir
	ownGroup(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("localnet stdin: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("localnet stdout: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("localnet stderr: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start localnet: %w", err)
	}
	s := &Server{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	var errTail tailBuffer
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			errTail.add(sc.Text())
			opts.Logger.Warn("localnet stderr", "line", sc.Text())
		}
	}()
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			first <- sc.Text()
		}
		close(first)
		for sc.Scan() {
		}
	}()
	go func() { s.waitErr = cmd.Wait(); close(s.done) }()

	timer := time.NewTimer(opts.StartTimeout)
	defer timer.Stop()
	select {
	case line, ok := <-first:
		if !ok {
			<-s.done
			return nil, fmt.Errorf("localnet exited before listening: %v: %s", s.waitErr, errTail.String())
		}
		var addr struct{ RPC, WS string }
		if err := json.Unmarshal([]byte(line), &addr); err != nil || addr.RPC == "" {
			s.Close()
			return nil, fmt.Errorf("localnet: unexpected first line %q", line)
		}
		s.url, s.wsURL = addr.RPC, addr.WS
	case <-timer.C:
		s.Close()
		return nil, fmt.Errorf("localnet: not listening after %v: %s", opts.StartTimeout, errTail.String())
	case <-ctx.Done():
		s.Close()
		return nil, fmt.Errorf("start localnet: %w", ctx.Err())
	}
	for {
		if err := s.health(ctx); err == nil {
			return s, nil
		}
		select {
		case <-timer.C:
			s.Close()
			return nil, fmt.Errorf("localnet: no health after %v", opts.StartTimeout)
		case <-ctx.Done():
			s.Close()
			return nil, fmt.Errorf("start localnet: %w", ctx.Err())
		case <-s.done:
			return nil, fmt.Errorf("localnet exited: %v: %s", s.waitErr, errTail.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *Server) health(ctx context.Context) error {
	var out struct{ Result string }
	if err := s.Call(ctx, "getHealth", nil, &out.Result); err != nil {
		return err
	}
	if out.Result != "ok" {
		return fmt.Errorf("health %q", out.Result)
	}
	return nil
}

// URL is the JSON-RPC endpoint, e.g. http://127.0.0.1:8899.
func (s *Server) URL() string { return s.url }

// WSURL is the pubsub endpoint, e.g. ws://127.0.0.1:8900.
func (s *Server) WSURL() string { return s.wsURL }

// Close stops the server and waits for it to exit.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		_ = s.stdin.Close()
		if s.cmd.Process != nil {
			_ = s.cmd.Process.Signal(os.Interrupt)
		}
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	return nil
}

// Call makes one JSON-RPC call; result (a pointer) receives the "result" member. Used for the
// test-control methods (litesvm_expireBlockhash, litesvm_warpToSlot, …).
func (s *Server) Call(ctx context.Context, method string, params []any, result any) error {
	return Call(ctx, s.url, method, params, result)
}

// ExpireBlockhash makes the current blockhash invalid and moves the block height past its
// lastValidBlockHeight, as 151 blocks would on a real cluster.
func (s *Server) ExpireBlockhash(ctx context.Context) error {
	return s.Call(ctx, "litesvm_expireBlockhash", nil, nil)
}

// WarpToSlot moves the clock forward to slot.
func (s *Server) WarpToSlot(ctx context.Context, slot uint64) error {
	return s.Call(ctx, "litesvm_warpToSlot", []any{slot}, nil)
}

// RPCError is an error member of a JSON-RPC response.
type RPCError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *RPCError) Error() string { return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message) }

// Call makes one JSON-RPC call to url.
func Call(ctx context.Context, url, method string, params []any, result any) error {
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	defer resp.Body.Close()
	var env struct {
		Result json.RawMessage `json:"result"`
		Error  *RPCError       `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("%s: decode response: %w", method, err)
	}
	if env.Error != nil {
		return fmt.Errorf("%s: %w", method, env.Error)
	}
	if result != nil {
		if err := json.Unmarshal(env.Result, result); err != nil {
			return fmt.Errorf("%s: decode result: %w", method, err)
		}
	}
	return nil
}

type tailBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *tailBuffer) add(l string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, l)
	if len(b.lines) > 20 {
		b.lines = b.lines[1:]
	}
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}

// StartForTest starts a localnet for a test or benchmark and closes it when
// tb ends. Where Node.js or the npm packages are missing it skips tb with
// the install hint, so the rest of a suite still runs.
func StartForTest(tb testing.TB) *Server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := Start(ctx, Options{})
	if errors.Is(err, ErrUnavailable) {
		tb.Skipf("localnet: %v", err)
	}
	if err != nil {
		tb.Fatalf("localnet: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// Token program address and rent-exempt balances of its accounts.
const (
	tokenProgram        = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
	tokenAccountLamport = 2039280
	mintLamports        = 1461600
)

// SetMint writes an initialized SPL Token mint at address (base58), with
// authority as its mint authority, for tests that need tokens without a
// setup transaction.
func (s *Server) SetMint(ctx context.Context, address string, authority [32]byte, decimals uint8, supply uint64) error {
	d := make([]byte, 82)
	d[0] = 1 // COption::Some(mint authority)
	copy(d[4:36], authority[:])
	putU64(d[36:44], supply)
	d[44], d[45] = decimals, 1
	return s.setAccount(ctx, address, mintLamports, tokenProgram, d)
}

// SetTokenAccount writes an initialized SPL Token account at address
// (base58) holding amount of mint for owner.
func (s *Server) SetTokenAccount(ctx context.Context, address string, mint, owner [32]byte, amount uint64) error {
	d := make([]byte, 165)
	copy(d[0:32], mint[:])
	copy(d[32:64], owner[:])
	putU64(d[64:72], amount)
	d[108] = 1 // AccountState::Initialized
	return s.setAccount(ctx, address, tokenAccountLamport, tokenProgram, d)
}

func (s *Server) setAccount(ctx context.Context, address string, lamports uint64, owner string, data []byte) error {
	return s.Call(ctx, "litesvm_setAccount", []any{address, map[string]any{
		"lamports": lamports, "data": base64.StdEncoding.EncodeToString(data), "owner": owner, "executable": false,
	}}, nil)
}

func putU64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
}

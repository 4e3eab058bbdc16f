package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/wire"
)

// buildOracled builds this command into a temporary directory.
func buildOracled(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "oracled")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("build oracled: %v", err)
	}
	return bin
}

type oracledProc struct {
	cmd  *exec.Cmd
	key  wire.PublicKey
	quic string
	http string
	// metrics is the base URL of the metrics listener.
	metrics string
	exit    chan error
}

// startOracled runs the binary on loopback ports and waits for its ready
// line.
func startOracled(t testing.TB, bin, data string) *oracledProc {
	t.Helper()
	cmd := exec.Command(bin, "run", "--data", data, "--quic-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
		"--metrics-listen", "127.0.0.1:0", "--log-level", "warn")
	cmd.Env = append(os.Environ(), "HEXFIELD_ORACLE_COMMIT_MAX_BATCH=512")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &oracledProc{cmd: cmd, exit: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "oracled ready ") {
				ready <- sc.Text()
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-ready:
		for _, f := range strings.Fields(line)[2:] {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "key":
				if p.key, err = wire.ParsePublicKey(v); err != nil {
					t.Fatal(err)
				}
			case "quic":
				p.quic = v
			case "http":
				p.http = "http://" + v
			case "metrics":
				p.metrics = "http://" + v
			}
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("oracled did not become ready")
	}
	go func() { p.exit <- cmd.Wait() }()
	return p
}

func (p *oracledProc) kill9(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exit:
	case <-time.After(10 * time.Second):
		t.Fatal("oracled did not die")
	}
}

// loader submits signed reports as fast as the oracle acks them and
// records every acknowledged id.
type loader struct {
	mu    sync.Mutex
	acked map[[32]byte]bool
	seq   uint64
}

func (l *loader) run(ctx context.Context, addr string, oraclePub wire.PublicKey, hs ed25519.PrivateKey) error {
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	tr := &quic.Transport{Conn: udp}
	defer udp.Close()
	defer tr.Close()
	tlsConf, err := wire.ClientTLSConfig(hs, oraclePub)
	if err != nil {
		return err
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return err
	}
	conn, err := tr.Dial(ctx, ua, tlsConf, wire.QUICConfig())
	if err != nil {
		return err
	}
	defer conn.CloseWithError(0, "")
	// A killed oracle sends no close: hang up when the test says so.
	stop := context.AfterFunc(ctx, func() { conn.CloseWithError(0, "") })
	defer stop()
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return err
	}
	fw, fr := wire.NewFrameWriter(str), wire.NewFrameReader(str)
	inflight := make(chan [32]byte, 256)
	errc := make(chan error, 1)
	go func() {
		var f wire.Frame
		for id := range inflight {
			if err := fr.ReadInto(&f); err != nil {
				errc <- err
				return
			}
			a := f.GetAck()
			if string(a.GetId()) != string(id[:]) {
				errc <- fmt.Errorf("ack for another report")
				return
			}
			switch a.GetCode() {
			case wire.Code_CODE_OK, wire.Code_CODE_DUPLICATE:
				l.mu.Lock()
				l.acked[id] = true
				l.mu.Unlock()
			default:
				errc <- fmt.Errorf("ack %v", a)
				return
			}
		}
		errc <- nil
	}()
	defer close(inflight)
	for ctx.Err() == nil {
		l.mu.Lock()
		l.seq++
		seq := l.seq
		l.mu.Unlock()
		raw, err := sealPacket(hs, int(seq), seq)
		if err != nil {
			return err
		}
		select {
		case inflight <- wire.ReportID(raw):
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return err
		}
		if err := fw.Write(&wire.Frame{Msg: &wire.Frame_Submit{Submit: &wire.Submit{Envelope: raw}}}); err != nil {
			return err
		}
		if len(inflight) < 4 || seq%16 == 0 {
			if err := fw.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *loader) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// TestCrashKill9 runs oracled under continuous ingest load, kills it with
// SIGKILL, and checks that every report it acknowledged is in the store
// after the crash; several times over the same data directory.
func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a binary")
	}
	bin := buildOracled(t)
	data := t.TempDir()
	l := &loader{acked: map[[32]byte]bool{}}
	var hotspots []ed25519.PrivateKey
	for round := range 4 {
		p := startOracled(t, bin, data)
		if round == 0 {
			owner, _ := wire.GenerateKey()
			c := &oracle.Client{BaseURL: p.http}
			putTestRoute(t, context.Background(), time.Now(), nil, c)
			for range 6 {
				hs, _ := wire.GenerateKey()
				req, err := oracle.NewOnboardRequest(hs, owner, false, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.Onboard(context.Background(), req); err != nil {
					t.Fatal(err)
				}
				hotspots = append(hotspots, hs)
			}
		}
		before := l.count()
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for _, hs := range hotspots {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.run(ctx, p.quic, p.key, hs) // ends with an error when the oracle dies
			}()
		}
		// Kill once enough load was acknowledged, however slow the
		// machine: at a random count, so the kill lands at varied points of
		// the group commit.
		want := before + 50 + rand.IntN(500)
		deadline := time.Now().Add(2 * time.Minute)
		for l.count() < want {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: only %d of %d reports acked in 2 minutes", round, l.count()-before, want-before)
			}
			time.Sleep(time.Millisecond)
		}
		p.kill9(t)
		cancel()
		wg.Wait()
		n := l.count()
		// The store opens cleanly after SIGKILL and holds every acked report.
		st, err := oracle.OpenStore(data, 30*24*time.Hour, nil)
		if err != nil {
			t.Fatalf("round %d: open store after kill -9: %v", round, err)
		}
		missing := 0
		for id := range l.acked {
			if _, found, err := st.Report(id); err != nil || !found {
				missing++
			}
		}
		// The hotspot counters are written with the reports: exact too.
		for _, hs := range hotspots {
			pub := wire.PublicKeyOf(hs)
			n, err := st.CountHotspotReports(pub[:], wire.Kind_KIND_PACKET_REPORT, 0)
			rs, err2 := st.HotspotReports(pub[:], wire.Kind_KIND_PACKET_REPORT, 1<<30)
			if err != nil || err2 != nil || n != len(rs) {
				t.Errorf("round %d: hotspot %s counted %d reports, index holds %d (%v, %v)", round, pub, n, len(rs), err, err2)
			}
		}
		st.Close()
		if missing > 0 {
			t.Fatalf("round %d: %d of %d acked reports missing after kill -9", round, missing, n)
		}
		t.Logf("round %d: %d reports acked in total, all present after kill -9", round, n)
	}
}

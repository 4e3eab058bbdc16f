package hotspot

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/radio/semtech"
	"github.com/hexfield/hexfield/wire"
)

// The hotspot ↔ oracle conversation over one QUIC connection (mutual TLS,
// ALPN wire.ALPN, the oracle's key pinned):
//
//   - a report stream, opened by the hotspot: Hello, then Submit frames;
//     the oracle answers the Hello (Hello or Ack) and each Submit with an
//     Ack carrying the report id, in any order, pipelined;
//   - one short stream per request: EntropyRequest → Entropy envelope, or
//     ConfigRequest → Config envelope (or an Ack with an error code).

const (
	submitWindow   = 512 // reports in flight per oracle
	submitBatch    = 64
	requestTimeout = 5 * time.Second
	// handshakeTimeout bounds a dial: an oracle that does not answer the
	// QUIC handshake by then (a wrong host or port, UDP blocked) is
	// reported by address and retried with backoff.
	handshakeTimeout = 5 * time.Second
	backoffMin       = 500 * time.Millisecond
	backoffMax       = 30 * time.Second
	retryTransient   = 5 * time.Second // resend after OVERLOADED / INTERNAL
	retryUnknown     = 60 * time.Second
)

// oracleClient keeps a connection to one oracle and drains the outbox to it.
type oracleClient struct {
	idx      int
	key      wire.PublicKey
	addr     string
	software string
	priv     ed25519.PrivateKey
	tr       *quic.Transport
	outbox   *Outbox
	log      *slog.Logger
	m        *metrics
	// handshake bounds a dial; 0 means handshakeTimeout.
	handshake time.Duration
	// rejectLog bounds "oracle rejected report" lines (the acks_total
	// metric counts every one); the zero value allows one a minute.
	rejectLog semtech.LogLimiter

	mu        sync.Mutex
	conn      *quic.Conn
	lastErr   string
	lastAckMs int64
	acked     uint64
	up        time.Time
}

// OracleStatus is one oracle's line in the status API.
type OracleStatus struct {
	Address   string `json:"address"`
	Addr      string `json:"addr"`
	Connected bool   `json:"connected"`
	Since     string `json:"since,omitempty"`
	LastError string `json:"last_error,omitempty"`
	LastAckMs int64  `json:"last_ack_ms,omitempty"`
	Acked     uint64 `json:"acked"`
}

func (c *oracleClient) status() OracleStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := OracleStatus{Address: c.key.String(), Addr: c.addr, Connected: c.conn != nil,
		LastError: c.lastErr, LastAckMs: c.lastAckMs, Acked: c.acked}
	if c.conn != nil {
		st.Since = c.up.UTC().Format(time.RFC3339)
	}
	return st
}

func (c *oracleClient) current() *quic.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn
}

func (c *oracleClient) setConn(conn *quic.Conn, err error) {
	c.mu.Lock()
	c.conn = conn
	if conn != nil {
		c.up = time.Now()
		c.lastErr = "" // an error from before this connection is history
	}
	if err != nil {
		c.lastErr = err.Error()
	}
	c.mu.Unlock()
	v := 0.0
	if conn != nil {
		v = 1
	}
	c.m.oracleUp.WithLabelValues(c.key.String()).Set(v)
}

func (c *oracleClient) dial(ctx context.Context) (*quic.Conn, error) {
	tlsConf, err := wire.ClientTLSConfig(c.priv, c.key)
	if err != nil {
		return nil, err
	}
	udpAddr, err := net.ResolveUDPAddr("udp", c.addr)
	if err != nil {
		return nil, err
	}
	timeout := c.handshake
	if timeout <= 0 {
		timeout = handshakeTimeout
	}
	qc := wire.QUICConfig()
	qc.HandshakeIdleTimeout = timeout
	dctx, cancel := context.WithTimeout(ctx, timeout+time.Second) // quic-go's own timeout first
	defer cancel()
	conn, err := c.tr.Dial(dctx, udpAddr, tlsConf, qc)
	if err != nil && ctx.Err() == nil {
		var idle *quic.IdleTimeoutError
		var hs *quic.HandshakeTimeoutError
		if errors.As(err, &idle) || errors.As(err, &hs) || errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("oracle %s at %s did not answer the QUIC handshake within %s (check the host and port, its quic_listen, and that UDP is not blocked): %w",
				c.key, c.addr, timeout, err)
		}
		return nil, fmt.Errorf("oracle %s at %s: %w", c.key, c.addr, err)
	}
	return conn, err
}

// Run connects, reconnecting with backoff and jitter, and sends the outbox
// until ctx ends.
func (c *oracleClient) Run(ctx context.Context) error {
	backoff := backoffMin
	for {
		conn, err := c.dial(ctx)
		if ctx.Err() != nil {
			if conn != nil {
				conn.CloseWithError(0, "shutdown")
			}
			c.setConn(nil, nil)
			return nil
		}
		if wire.KeyRefused(err) {
			err = fmt.Errorf("%w: %w", errNotOnboarded, err)
		}
		if err != nil {
			c.m.dials.WithLabelValues(c.key.String(), "error").Inc()
			c.setConn(nil, fmt.Errorf("dial: %w", err))
			if errors.Is(err, errNotOnboarded) {
				backoff = backoffMax // it will not change in a second
			}
			c.log.Warn("oracle unreachable", "oracle", c.key.String(), "addr", c.addr, "retry_in", backoff, "err", err)
		} else {
			c.m.dials.WithLabelValues(c.key.String(), "ok").Inc()
			c.log.Info("oracle connected", "oracle", c.key.String(), "addr", c.addr)
			c.setConn(conn, nil)
			start := time.Now()
			err = c.session(ctx, conn)
			if wire.KeyRefused(err) {
				// The handshake ends on the oracle after it ends here.
				err = fmt.Errorf("%w: %w", errNotOnboarded, err)
			}
			conn.CloseWithError(0, "")
			c.setConn(nil, err)
			if ctx.Err() != nil {
				return nil
			}
			c.log.Warn("oracle connection lost", "oracle", c.key.String(), "err", err)
			if time.Since(start) > backoffMax {
				backoff = backoffMin
			}
			if errors.Is(err, errNotOnboarded) {
				backoff = backoffMax // it will not change in a second
			}
		}
		// Full jitter in [backoff/2, backoff).
		d := backoff/2 + time.Duration(rand.Int64N(int64(backoff/2)+1))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d):
		}
		backoff = min(2*backoff, backoffMax)
	}
}

// session runs the report stream on conn until it fails or ctx ends.
func (c *oracleClient) session(ctx context.Context, conn *quic.Conn) error {
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return fmt.Errorf("open report stream: %w", err)
	}
	defer str.CancelRead(0)
	fw := wire.NewFrameWriter(str)
	hello := &wire.Frame{Msg: &wire.Frame_Hello{Hello: &wire.Hello{
		ProtocolVersion: wire.ProtocolVersion,
		PubKey:          wire.PublicKeyOf(c.priv).Bytes(),
		Role:            wire.Role_ROLE_HOTSPOT,
		Software:        c.software,
	}}}
	if err := fw.Write(hello); err != nil {
		return err
	}
	if err := fw.Flush(); err != nil {
		return err
	}

	s := &submitter{c: c, inflight: map[[32]byte]uint64{}, freed: make(chan struct{}, 1)}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	readErr := make(chan error, 1)
	go func() {
		readErr <- s.readAcks(wire.NewFrameReader(str))
		cancel()
	}()
	werr := s.writeLoop(sctx, fw)
	str.CancelWrite(0)
	cancel()
	conn.CloseWithError(0, "")
	rerr := <-readErr
	if ctx.Err() != nil {
		return nil
	}
	if werr != nil && !errors.Is(werr, context.Canceled) {
		return werr
	}
	return rerr
}

// submitter tracks the reports in flight on one session.
type submitter struct {
	c        *oracleClient
	mu       sync.Mutex
	inflight map[[32]byte]uint64 // report id → outbox seq
	inSeq    map[uint64]bool
	rewindAt time.Time // when transient rejects ask for a resend
	freed    chan struct{}
}

func (s *submitter) writeLoop(ctx context.Context, fw *wire.FrameWriter) error {
	var cursor uint64
	s.inSeq = map[uint64]bool{}
	for {
		changed := s.c.outbox.Changed()
		s.mu.Lock()
		full := len(s.inflight) >= submitWindow
		if !s.rewindAt.IsZero() && !time.Now().Before(s.rewindAt) {
			cursor, s.rewindAt = 0, time.Time{}
		}
		rewind := s.rewindAt
		s.mu.Unlock()
		var items []OutboxItem
		if !full {
			var err error
			items, err = s.c.outbox.Next(s.c.idx, cursor, submitBatch)
			if err != nil {
				return err
			}
		}
		sent := 0
		now := time.Now().UnixMilli()
		for _, it := range items {
			cursor = it.Seq
			s.mu.Lock()
			if s.inSeq[it.Seq] {
				s.mu.Unlock()
				continue
			}
			id := wire.ReportID(it.Report)
			s.inflight[id] = it.Seq
			s.inSeq[it.Seq] = true
			s.mu.Unlock()
			hold := max(now-it.CreatedMs, 0)
			f := &wire.Frame{Msg: &wire.Frame_Submit{Submit: &wire.Submit{Envelope: it.Report, HoldMs: uint64(hold)}}}
			if err := fw.Write(f); err != nil {
				return err
			}
			sent++
		}
		if sent > 0 || fw.Buffered() > 0 {
			if err := fw.Flush(); err != nil {
				return err
			}
		}
		if len(items) == submitBatch && !full {
			continue
		}
		var timer <-chan time.Time
		if !rewind.IsZero() {
			timer = time.After(time.Until(rewind))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-s.freed:
		case <-timer:
		}
	}
}

func (s *submitter) readAcks(fr *wire.FrameReader) error {
	for {
		f, err := fr.Read()
		if err != nil {
			if errors.Is(err, wire.ErrMalformedFrame) && !errors.Is(err, io.ErrUnexpectedEOF) {
				continue
			}
			return fmt.Errorf("read acks: %w", err)
		}
		switch msg := f.Msg.(type) {
		case *wire.Frame_Hello:
			// The oracle's hello; nothing to do.
		case *wire.Frame_Ack:
			if err := s.handleAck(msg.Ack); err != nil {
				return err
			}
		default:
			return fmt.Errorf("report stream: unexpected %T", msg)
		}
	}
}

func (s *submitter) handleAck(a *wire.Ack) error {
	c := s.c
	if len(a.Id) != 32 {
		switch a.Code {
		case wire.Code_CODE_OK:
			return nil
		case wire.Code_CODE_UNKNOWN_HOTSPOT:
			return fmt.Errorf("%w: %s", errNotOnboarded, a.Message)
		}
		return fmt.Errorf("oracle refused the session: %s: %s", a.Code, a.Message)
	}
	var id [32]byte
	copy(id[:], a.Id)
	s.mu.Lock()
	seq, ok := s.inflight[id]
	if ok {
		delete(s.inflight, id)
		delete(s.inSeq, seq)
	}
	s.mu.Unlock()
	if !ok {
		return nil
	}
	c.m.submits.WithLabelValues(c.key.String(), codeLabel(a.Code)).Inc()
	switch a.Code {
	case wire.Code_CODE_OK, wire.Code_CODE_DUPLICATE:
		c.outbox.Ack(seq, c.idx)
		c.mu.Lock()
		c.lastAckMs = time.Now().UnixMilli()
		c.acked++
		c.lastErr = "" // the oracle takes our reports: no "not onboarded" any more
		c.mu.Unlock()
	case wire.Code_CODE_OVERLOADED, wire.Code_CODE_INTERNAL, wire.Code_CODE_UNKNOWN_HOTSPOT:
		// Keep it; send again later.
		d := retryTransient
		if a.Code == wire.Code_CODE_UNKNOWN_HOTSPOT {
			d = retryUnknown
			c.mu.Lock()
			c.lastErr = "oracle does not know this hotspot (not onboarded?)"
			c.mu.Unlock()
		}
		s.mu.Lock()
		if s.rewindAt.IsZero() {
			s.rewindAt = time.Now().Add(d)
		}
		s.mu.Unlock()
	default:
		// The oracle will never take this report; keeping it would block
		// nothing but waste the outbox. Count it as this oracle's answer.
		c.rejectLog.Log(c.log, slog.LevelError, "oracle rejected report", "oracle", c.key.String(), "seq", seq, "reason", a.Code.String(), "message", a.Message)
		c.outbox.Ack(seq, c.idx)
	}
	select {
	case s.freed <- struct{}{}:
	default:
	}
	return nil
}

func codeLabel(c wire.Code) string {
	switch c {
	case wire.Code_CODE_OK:
		return "ok"
	case wire.Code_CODE_DUPLICATE:
		return "duplicate"
	case wire.Code_CODE_BAD_SIGNATURE:
		return "bad_signature"
	case wire.Code_CODE_UNKNOWN_HOTSPOT:
		return "unknown_hotspot"
	case wire.Code_CODE_WRONG_KEY:
		return "wrong_key"
	case wire.Code_CODE_MALFORMED:
		return "malformed"
	case wire.Code_CODE_OVERSIZE:
		return "oversize"
	case wire.Code_CODE_UNSUPPORTED:
		return "unsupported"
	case wire.Code_CODE_OVERLOADED:
		return "overloaded"
	case wire.Code_CODE_INTERNAL:
		return "internal"
	default:
		return "other"
	}
}

// errNotConnected is returned by requests while the oracle is unreachable.
var errNotConnected = errors.New("not connected")

// errNotOnboarded ends a session the oracle refused because it does not
// know this hotspot's key.
var errNotOnboarded = errors.New("the oracle does not know this hotspot: onboard it")

// openRequest sends one request frame on a fresh stream, with ctx's
// deadline, and closes the stream's send side; the caller reads the answer
// and then cancels the receive side (str.CancelRead(0)).
func (c *oracleClient) openRequest(ctx context.Context, req *wire.Frame) (*quic.Stream, error) {
	conn := c.current()
	if conn == nil {
		return nil, errNotConnected
	}
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, fmt.Errorf("open stream: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		str.SetDeadline(dl)
	}
	if err := wire.WriteFrame(str, req); err != nil {
		str.CancelWrite(0)
		str.CancelRead(0)
		return nil, err
	}
	str.Close()
	return str, nil
}

// request sends one request frame on a fresh stream and returns the
// envelope bytes of the answer.
func (c *oracleClient) request(ctx context.Context, req *wire.Frame) (*wire.Frame, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	str, err := c.openRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	defer str.CancelRead(0)
	f, err := wire.ReadFrame(str)
	if err != nil {
		return nil, err
	}
	if a, ok := f.Msg.(*wire.Frame_Ack); ok {
		return nil, fmt.Errorf("oracle answered %s: %s", a.Ack.Code, a.Ack.Message)
	}
	return f, nil
}

// fetchEntropy asks for the oracle's current entropy and checks it is
// signed by this oracle. It returns the envelope bytes and the value.
func (c *oracleClient) fetchEntropy(ctx context.Context) ([]byte, *wire.Entropy, error) {
	f, err := c.request(ctx, &wire.Frame{Msg: &wire.Frame_EntropyRequest{EntropyRequest: &wire.EntropyRequest{}}})
	if err != nil {
		return nil, nil, fmt.Errorf("entropy from %s: %w", c.key, err)
	}
	env := f.GetEntropy()
	if env == nil {
		return nil, nil, fmt.Errorf("entropy from %s: unexpected answer", c.key)
	}
	raw, err := marshalEnvelope(env)
	if err != nil {
		return nil, nil, err
	}
	var e wire.Entropy
	signer, err := wire.Unseal(raw, wire.Kind_KIND_ENTROPY, &e)
	if err != nil {
		return nil, nil, fmt.Errorf("entropy from %s: %w", c.key, err)
	}
	if signer != c.key {
		return nil, nil, fmt.Errorf("entropy from %s: signed by %s", c.key, signer)
	}
	if len(e.Data) != 32 {
		return nil, nil, fmt.Errorf("entropy from %s: %d data bytes", c.key, len(e.Data))
	}
	return raw, &e, nil
}

// fetchConfig asks the oracle for this hotspot's Config.
func (c *oracleClient) fetchConfig(ctx context.Context) (*wire.Config, error) {
	f, err := c.request(ctx, &wire.Frame{Msg: &wire.Frame_ConfigRequest{ConfigRequest: &wire.ConfigRequest{}}})
	if err != nil {
		return nil, fmt.Errorf("config from %s: %w", c.key, err)
	}
	env := f.GetConfig()
	if env == nil {
		return nil, fmt.Errorf("config from %s: unexpected answer", c.key)
	}
	raw, err := marshalEnvelope(env)
	if err != nil {
		return nil, err
	}
	var cfg wire.Config
	signer, err := wire.Unseal(raw, wire.Kind_KIND_CONFIG, &cfg)
	if err != nil {
		return nil, fmt.Errorf("config from %s: %w", c.key, err)
	}
	if signer != c.key {
		return nil, fmt.Errorf("config from %s: signed by %s", c.key, signer)
	}
	return &cfg, nil
}

// marshalEnvelope re-encodes a decoded envelope canonically (the bytes the
// signer produced: wire envelopes are canonical).
func marshalEnvelope(env *wire.Envelope) ([]byte, error) {
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	return raw, nil
}

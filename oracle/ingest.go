package oracle

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/wire"
)

// The ingest protocol, on every bidirectional stream a hotspot opens
// (frames of wire.Frame, length-prefixed by wire's framing):
//
//	Hello          → Ack{code OK, message "hexfield oracle <key>"}; CODE_UNSUPPORTED on another protocol version
//	Submit         → Ack{id, code, received_ms}: OK when durable, DUPLICATE (with the first stamp) when already stored,
//	                 else BAD_SIGNATURE, WRONG_KEY, MALFORMED, OVERSIZE, UNSUPPORTED, OVERLOADED or INTERNAL
//	EntropyRequest → Entropy (the current signed Entropy envelope)
//	ConfigRequest  → Config (a signed Config for the peer)
//	RouteTableRequest → RouteTableUnchanged, or RouteTableChunk frames of a signed RouteTable, full or
//	                 incremental (routetable.go), or an Ack with an error code
//
// Answers come in request order on each stream, so a hotspot may pipeline
// many Submits and match Acks by order or by id. A frame over
// wire.MaxFrameSize is answered CODE_OVERSIZE and the stream is closed (it
// cannot be resynchronised).
//
// Admission, cheapest refusal first:
//   - before any connection state: attempts over the handshake caps (in
//     total and per source address) or the connection cap per source
//     address are refused with CONNECTION_REFUSED (admission.go);
//   - in the TLS handshake: a client whose key is not an onboarded hotspot
//     fails it (alert bad_certificate, QUIC CRYPTO_ERROR 0x12a; a hotspot
//     reads it with wire.KeyRefused);
//   - after it: a key already holding MaxConnsPerKey connections has its
//     newest one closed with application error CODE_OVERLOADED (8).
//
// All connections of one key share one report budget (RateLimit per
// second, bursts of ten seconds' worth).

// ingest serves hotspots over QUIC.
type ingest struct {
	o    *Oracle
	keys *keyLimits
}

// errUnknownHotspot fails the handshake of a key that is not onboarded.
var errUnknownHotspot = errors.New("not an onboarded hotspot")

// serve accepts connections on pc until ctx ends, then closes pc.
func (in *ingest) serve(ctx context.Context, pc net.PacketConn) error {
	o := in.o
	in.keys = newKeyLimits(float64(o.cfg.RateLimit), float64(10*o.cfg.RateLimit), o.cfg.MaxConnsPerKey,
		func(d int) { o.m.keyConns.Add(float64(d)) })
	defer in.keys.stop()
	tlsConf, err := wire.ServerTLSConfig(o.key, in.verifyPeer)
	if err != nil {
		return fmt.Errorf("ingest tls: %w", err)
	}
	qc := wire.QUICConfig().Clone()
	qc.MaxIncomingStreams = int64(o.cfg.MaxStreams)
	qc.MaxIncomingUniStreams = -1
	adm := newAdmission(admissionLimits{
		handshakes: o.cfg.MaxHandshakes, handshakesPerSource: o.cfg.MaxHandshakesPerSource, connsPerSource: o.cfg.MaxConnsPerSource,
	}, func(reason string, remote net.Addr) {
		o.m.connsTotal.WithLabelValues(reason).Inc()
		o.logs.Log(slog.LevelWarn, reason, "connection refused", "reason", reason, "remote", remote.String())
	}, func(d int) { o.m.handshakes.Add(float64(d)) })
	if err := serveQUIC(ctx, pc, tlsConf, qc, adm, in.handleConn); err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	return nil
}

// verifyPeer runs inside every TLS handshake: only onboarded hotspots get
// a connection.
func (in *ingest) verifyPeer(key wire.PublicKey) error {
	o := in.o
	_, known, err := o.store.hotspot(key[:])
	if err != nil {
		o.m.connsTotal.WithLabelValues("registry_error").Inc()
		o.logs.Log(slog.LevelError, "registry_error", "registry lookup in handshake", "err", err, "hotspot_key", key.String())
		return errors.New("registry unavailable")
	}
	if !known {
		o.m.connsTotal.WithLabelValues("unknown_hotspot").Inc()
		o.logs.Log(slog.LevelInfo, "unknown_hotspot", "unknown hotspot refused in the handshake", "hotspot_key", key.String())
		return errUnknownHotspot
	}
	return nil
}

// serveQUIC accepts QUIC connections on pc and runs handle for each on its
// own goroutine until ctx ends; then it waits for the handlers and closes
// the listener, the transport and pc. adm, if not nil, admits connection
// attempts before their handshake.
func serveQUIC(ctx context.Context, pc net.PacketConn, tlsConf *tls.Config, qc *quic.Config, adm *admission,
	handle func(context.Context, *quic.Conn)) error {
	tr := &quic.Transport{Conn: pc}
	if adm != nil {
		tr.ConnContext = adm.connContext
		tr.VerifySourceAddress = adm.verifySource
	}
	ln, err := tr.Listen(tlsConf, qc)
	if err != nil {
		pc.Close()
		return fmt.Errorf("listen: %w", err)
	}
	var wg sync.WaitGroup
	defer func() {
		ln.Close()
		wg.Wait()
		tr.Close()
		pc.Close()
	}()
	for {
		conn, err := ln.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		handshakeDone(conn.Context())
		wg.Go(func() { handle(ctx, conn) })
	}
}

func (in *ingest) handleConn(ctx context.Context, conn *quic.Conn) {
	o := in.o
	peer, err := wire.PeerKey(conn.ConnectionState().TLS)
	if err != nil {
		o.m.connsTotal.WithLabelValues("handshake_error").Inc()
		conn.CloseWithError(quic.ApplicationErrorCode(wire.Code_CODE_MALFORMED), "no peer key")
		return
	}
	kb, ok := in.keys.acquire(peer)
	if !ok {
		o.m.connsTotal.WithLabelValues("key_conn_limit").Inc()
		o.logs.Log(slog.LevelWarn, "key_conn_limit", "hotspot connection refused: too many connections for its key",
			"hotspot_key", peer.String(), "remote", conn.RemoteAddr().String(), "limit", o.cfg.MaxConnsPerKey)
		conn.CloseWithError(quic.ApplicationErrorCode(wire.Code_CODE_OVERLOADED),
			fmt.Sprintf("hotspot %s already has %d connections", peer, o.cfg.MaxConnsPerKey))
		return
	}
	defer in.keys.release(peer, kb)
	o.m.connsTotal.WithLabelValues("ok").Inc()
	o.m.connections.Inc()
	defer o.m.connections.Dec()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		str, err := conn.AcceptStream(ctx)
		if err != nil {
			if ctx.Err() != nil {
				conn.CloseWithError(0, "oracle shutting down")
			}
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			in.handleStream(ctx, conn, str, peer, kb.bucket)
		}()
	}
}

// answer is one response on a stream, in request order. frame is set when
// ready is closed; more are frames that follow it (a route table's
// chunks).
type answer struct {
	frame *wire.Frame
	more  []*wire.Frame
	ready chan struct{}
}

func readyAnswer(f *wire.Frame) *answer {
	a := &answer{frame: f, ready: make(chan struct{})}
	close(a.ready)
	return a
}

func ackFrame(id []byte, code wire.Code, ms int64, msg string) *wire.Frame {
	return &wire.Frame{Msg: &wire.Frame_Ack{Ack: &wire.Ack{Id: id, Code: code, ReceivedMs: uint64(max(ms, 0)), Message: msg}}}
}

func (in *ingest) handleStream(ctx context.Context, conn *quic.Conn, str *quic.Stream, peer wire.PublicKey, limit *tokenBucket) {
	o := in.o
	answers := make(chan *answer, o.cfg.StreamWindow)
	writerDone := make(chan struct{})
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(writerDone)
		in.writeAnswers(sctx, str, answers)
	}()
	defer func() {
		close(answers)
		<-writerDone
	}()
	fr := wire.NewFrameReader(str)
	var f wire.Frame
	var prevErr error
	for {
		err := fr.ReadInto(&f)
		if err != nil && err == prevErr {
			return // the reader is out of step (truncated frame): stop
		}
		prevErr = err
		if err != nil {
			switch {
			case errors.Is(err, io.EOF):
				return
			case errors.Is(err, wire.ErrFrameTooLarge):
				o.m.rejected.WithLabelValues(codeLabel(wire.Code_CODE_OVERSIZE)).Inc()
				answers <- readyAnswer(ackFrame(nil, wire.Code_CODE_OVERSIZE, 0, fmt.Sprintf("frame exceeds %d bytes", wire.MaxFrameSize)))
				str.CancelRead(quic.StreamErrorCode(wire.Code_CODE_OVERSIZE))
				return
			case errors.Is(err, wire.ErrMalformedFrame):
				o.m.rejected.WithLabelValues(codeLabel(wire.Code_CODE_MALFORMED)).Inc()
				answers <- readyAnswer(ackFrame(nil, wire.Code_CODE_MALFORMED, 0, err.Error()))
				continue
			default:
				return // stream reset, connection gone, or truncated frame
			}
		}
		var a *answer
		switch m := f.Msg.(type) {
		case *wire.Frame_Submit:
			if !limit.take(time.Now()) {
				o.m.rejected.WithLabelValues(codeLabel(wire.Code_CODE_OVERLOADED)).Inc()
				id := wire.ReportID(m.Submit.GetEnvelope())
				a = readyAnswer(ackFrame(id[:], wire.Code_CODE_OVERLOADED, 0,
					fmt.Sprintf("more than %d reports/s from this hotspot key; retry later", o.cfg.RateLimit)))
				break
			}
			a = in.submit(sctx, m.Submit, peer)
		case *wire.Frame_Hello:
			a = readyAnswer(in.hello(m.Hello, peer))
		case *wire.Frame_EntropyRequest:
			a = readyAnswer(in.entropyFrame())
		case *wire.Frame_ConfigRequest:
			a = readyAnswer(in.configFrame(peer))
		case *wire.Frame_RouteTableRequest:
			frames := in.routeTableFrames(peer, m.RouteTableRequest)
			a = readyAnswer(frames[0])
			a.more = frames[1:]
		default:
			a = readyAnswer(ackFrame(nil, wire.Code_CODE_UNSUPPORTED, 0, "unsupported frame"))
		}
		if a == nil { // shutting down
			return
		}
		select {
		case answers <- a:
		case <-sctx.Done():
			return
		}
	}
}

// writeAnswers writes answers in order, flushing whenever the next one is
// not ready yet, until answers is closed and drained.
func (in *ingest) writeAnswers(ctx context.Context, str *quic.Stream, answers <-chan *answer) {
	fw := wire.NewFrameWriter(str)
	failed := false
	defer func() {
		if failed && ctx.Err() == nil {
			in.o.m.writeErrors.WithLabelValues("ack").Inc()
		}
	}()
	for a := range answers {
		select {
		case <-a.ready:
		default:
			if !failed && fw.Buffered() > 0 && fw.Flush() != nil {
				failed = true
			}
			select {
			case <-a.ready:
			case <-ctx.Done():
				failed = true
				continue
			}
		}
		if failed {
			continue
		}
		if fw.Write(a.frame) != nil {
			failed = true
			continue
		}
		for _, f := range a.more {
			if fw.Write(f) != nil {
				failed = true
				break
			}
		}
		if len(answers) == 0 && fw.Flush() != nil {
			failed = true
		}
	}
	if !failed {
		fw.Flush()
		str.Close()
	}
}

// submit authenticates and stamps one report and hands it to group commit.
// The answer becomes ready when the report's fate is known.
func (in *ingest) submit(ctx context.Context, s *wire.Submit, peer wire.PublicKey) *answer {
	o := in.o
	raw := s.GetEnvelope()
	id := wire.ReportID(raw)
	reject := func(code wire.Code, format string, a ...any) *answer {
		o.m.rejected.WithLabelValues(codeLabel(code)).Inc()
		return readyAnswer(ackFrame(id[:], code, 0, fmt.Sprintf(format, a...)))
	}
	if len(raw) > o.cfg.MaxReportBytes {
		return reject(wire.Code_CODE_OVERSIZE, "report of %d bytes exceeds %d", len(raw), o.cfg.MaxReportBytes)
	}
	if err := o.store.admitIngest(); err != nil { // disk nearly full (diskspace.go)
		return reject(wire.Code_CODE_OVERLOADED, "%v", err)
	}
	env, err := wire.Open(raw, wire.Kind_KIND_UNSPECIFIED)
	if err != nil {
		return reject(wire.CodeOf(err), "%v", err)
	}
	var msg interface {
		proto.Message
		GetPubKey() []byte
	}
	var payload func() []byte
	switch env.Kind {
	case wire.Kind_KIND_BEACON_REPORT:
		msg = new(wire.BeaconReport)
	case wire.Kind_KIND_WITNESS_REPORT:
		w := new(wire.WitnessReport)
		msg, payload = w, w.GetPayload
	case wire.Kind_KIND_PACKET_REPORT:
		msg = new(wire.PacketReport)
	default:
		return reject(wire.Code_CODE_UNSUPPORTED, "%v is not a report", env.Kind)
	}
	signer := env.SignerKey()
	if signer != peer {
		return reject(wire.Code_CODE_WRONG_KEY, "report signed by %s on a connection authenticated as %s", signer, peer)
	}
	if err := proto.Unmarshal(env.Body, msg); err != nil {
		return reject(wire.Code_CODE_MALFORMED, "report body: %v", err)
	}
	if string(msg.GetPubKey()) != string(signer[:]) {
		return reject(wire.Code_CODE_WRONG_KEY, "report pub_key is not its signer")
	}
	if pr, ok := msg.(*wire.PacketReport); ok {
		if err := o.checkPacketReport(pr); err != nil {
			if _, bad := err.(errPacketRejected); bad {
				return reject(wire.Code_CODE_MALFORMED, "packet report: %v", err)
			}
			return reject(wire.Code_CODE_INTERNAL, "packet report: %v", err)
		}
	}
	if s.GetHoldMs() > 0 {
		o.m.holdSeconds.Observe(float64(s.GetHoldMs()) / 1000)
	}
	a := &answer{ready: make(chan struct{})}
	it := &ingestItem{
		id: id, kind: env.Kind, receivedMs: o.now().UnixMilli(), signer: signer[:], envelope: raw,
		done: func(code wire.Code, ms int64) {
			a.frame = ackFrame(id[:], code, ms, "")
			close(a.ready)
		},
	}
	if payload != nil {
		it.payload = payload()
	}
	if !o.commit.submit(ctx, it) {
		return nil
	}
	return a
}

func (in *ingest) hello(h *wire.Hello, peer wire.PublicKey) *wire.Frame {
	o := in.o
	if h.GetProtocolVersion() != wire.ProtocolVersion {
		return ackFrame(nil, wire.Code_CODE_UNSUPPORTED, 0,
			fmt.Sprintf("protocol version %d not supported; this oracle speaks %d", h.GetProtocolVersion(), wire.ProtocolVersion))
	}
	if len(h.GetPubKey()) > 0 && string(h.GetPubKey()) != string(peer[:]) {
		return ackFrame(nil, wire.Code_CODE_WRONG_KEY, 0, "hello pub_key is not the authenticated peer")
	}
	return ackFrame(nil, wire.Code_CODE_OK, 0, "hexfield oracle "+o.pub.String())
}

func (in *ingest) entropyFrame() *wire.Frame {
	env := in.o.entropy.current()
	if env == nil {
		return ackFrame(nil, wire.Code_CODE_OVERLOADED, 0, "no entropy issued yet; retry shortly")
	}
	return &wire.Frame{Msg: &wire.Frame_Entropy{Entropy: env}}
}

func (in *ingest) configFrame(peer wire.PublicKey) *wire.Frame {
	env, err := in.o.hotspotConfig(peer)
	if err != nil {
		in.o.logs.Log(slog.LevelError, "config_error", "build hotspot config", "err", err, "hotspot_key", peer.String())
		return ackFrame(nil, wire.Code_CODE_INTERNAL, 0, "config unavailable")
	}
	return &wire.Frame{Msg: &wire.Frame_Config{Config: env}}
}

func (in *ingest) routeTableFrames(peer wire.PublicKey, req *wire.RouteTableRequest) []*wire.Frame {
	frames, label, err := in.o.routeTableAnswer(peer, req)
	if err != nil {
		in.o.m.routeTables.WithLabelValues("error").Inc()
		in.o.logs.Log(slog.LevelError, "route_table_error", "build route table", "err", err, "hotspot_key", peer.String())
		return []*wire.Frame{ackFrame(nil, wire.Code_CODE_INTERNAL, 0, "route table unavailable")}
	}
	in.o.m.routeTables.WithLabelValues(label).Inc()
	return frames
}

// keyLimits holds one report budget and a connection count per hotspot
// key, shared by all of the key's connections. A key's entry is forgotten
// once it has no connection and its bucket has refilled (a new bucket
// starts full, so forgetting loses nothing); reconnecting never buys a
// fresh burst.
type keyLimits struct {
	rate, burst float64
	maxConns    int
	connected   func(delta int) // keys with a connection; may be nil

	mu      sync.Mutex
	keys    map[wire.PublicKey]*keyBudget
	stopped bool
}

type keyBudget struct {
	conns  int
	bucket *tokenBucket
	idle   *time.Timer // forgets the key once idle and refilled
}

func newKeyLimits(rate, burst float64, maxConns int, connected func(int)) *keyLimits {
	return &keyLimits{rate: rate, burst: burst, maxConns: maxConns, connected: connected, keys: map[wire.PublicKey]*keyBudget{}}
}

// acquire counts one more connection of k, unless k is at its cap.
func (l *keyLimits) acquire(k wire.PublicKey) (*keyBudget, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	kb := l.keys[k]
	if kb == nil {
		kb = &keyBudget{bucket: newTokenBucket(l.rate, l.burst, time.Now())}
		l.keys[k] = kb
	}
	if kb.conns >= l.maxConns {
		return nil, false
	}
	if kb.conns++; kb.conns == 1 && l.connected != nil {
		l.connected(1)
	}
	return kb, true
}

// release ends one connection of k.
func (l *keyLimits) release(k wire.PublicKey, kb *keyBudget) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if kb.conns--; kb.conns > 0 {
		return
	}
	if l.connected != nil {
		l.connected(-1)
	}
	l.forgetLater(k, kb)
}

// forgetLater (l.mu held) schedules forget for when kb's bucket is full.
func (l *keyLimits) forgetLater(k wire.PublicKey, kb *keyBudget) {
	if l.stopped {
		return
	}
	d := kb.bucket.untilFull(time.Now())
	if kb.idle == nil {
		kb.idle = time.AfterFunc(d, func() { l.forget(k, kb) })
	} else {
		kb.idle.Reset(d)
	}
}

func (l *keyLimits) forget(k wire.PublicKey, kb *keyBudget) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys[k] != kb || kb.conns > 0 {
		return
	}
	if kb.bucket.untilFull(time.Now()) > 0 {
		l.forgetLater(k, kb) // spent again meanwhile
		return
	}
	delete(l.keys, k)
}

// stop cancels the pending forgets (the listener is gone).
func (l *keyLimits) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
	for _, kb := range l.keys {
		if kb.idle != nil {
			kb.idle.Stop()
		}
	}
}

// tracked is the number of keys held in memory (tests).
func (l *keyLimits) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// tokenBucket limits one hotspot key's report rate: rate tokens per
// second, at most burst saved up. Safe for concurrent use by all the
// key's streams.
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate, burst float64, now time.Time) *tokenBucket {
	return &tokenBucket{rate: rate, burst: burst, tokens: burst, last: now}
}

// refill (b.mu held) adds the tokens earned since the last call.
func (b *tokenBucket) refill(now time.Time) {
	if d := now.Sub(b.last).Seconds(); d > 0 {
		b.tokens = min(b.burst, b.tokens+d*b.rate)
		b.last = now
	}
}

// take spends one token if there is one.
func (b *tokenBucket) take(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// untilFull is how long until the bucket is full again.
func (b *tokenBucket) untilFull(now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	return time.Duration((b.burst - b.tokens) / b.rate * float64(time.Second))
}

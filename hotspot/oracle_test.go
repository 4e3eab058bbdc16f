package hotspot

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/quic-go/quic-go"

	"github.com/hexfield/hexfield/wire"
)

// testOracle is a small QUIC oracle built from wire primitives for unit
// tests: it verifies and stores reports by id, acks them, and serves signed
// entropy and config. The e2e package tests against the real oracle.
type testOracle struct {
	t    testing.TB
	key  ed25519.PrivateKey
	pub  wire.PublicKey
	addr string

	mu      sync.Mutex
	reports map[[32]byte][]byte
	submits int // every Submit seen, duplicates included
	dups    int
	holds   []uint64
	reject  wire.Code // answer every submit with this code when not OK
	config  *wire.Config
	entropy int
	// tables, when set, answers route table requests: a sealed envelope,
	// or nil for unchanged. tableReqs records the requests.
	tables    func(req *wire.RouteTableRequest) []byte
	tableReqs []*wire.RouteTableRequest
	// listen opens the oracle's socket; nil is real UDP.
	listen   func(address string) (net.PacketConn, error)
	stopOnce sync.Once
	cancel   context.CancelFunc
	done     chan struct{}
}

func startTestOracle(t testing.TB) *testOracle {
	t.Helper()
	key, err := wire.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	o := &testOracle{t: t, key: key, pub: wire.PublicKeyOf(key), reports: map[[32]byte][]byte{}}
	o.start(t, "127.0.0.1:0")
	t.Cleanup(o.stop)
	return o
}

// startTestOracleOn is a test oracle on listen's network with key.
func startTestOracleOn(t testing.TB, listen func(string) (net.PacketConn, error), key ed25519.PrivateKey) *testOracle {
	t.Helper()
	o := &testOracle{t: t, key: key, pub: wire.PublicKeyOf(key), reports: map[[32]byte][]byte{}, listen: listen}
	o.start(t, "127.0.0.1:0")
	t.Cleanup(o.stop)
	return o
}

func (o *testOracle) start(t testing.TB, addr string) {
	t.Helper()
	listen := o.listen
	if listen == nil {
		listen = func(a string) (net.PacketConn, error) { return net.ListenPacket("udp", a) }
	}
	pc, err := listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	o.addr = pc.LocalAddr().String()
	tlsConf, err := wire.ServerTLSConfig(o.key, func(wire.PublicKey) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: pc}
	ln, err := tr.Listen(tlsConf, wire.QUICConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	o.cancel = cancel
	o.done = make(chan struct{})
	o.stopOnce = sync.Once{}
	go func() {
		defer close(o.done)
		var wg sync.WaitGroup
		for {
			conn, err := ln.Accept(ctx)
			if err != nil {
				break
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				o.serveConn(ctx, conn)
			}()
		}
		ln.Close()
		wg.Wait()
		tr.Close()
		pc.Close()
	}()
}

func (o *testOracle) stop() {
	o.stopOnce.Do(func() {
		o.cancel()
		<-o.done
	})
}

func (o *testOracle) restart(t testing.TB) {
	t.Helper()
	o.start(t, o.addr)
}

func (o *testOracle) dialString() string { return o.pub.String() + "@" + o.addr }

func (o *testOracle) serveConn(ctx context.Context, conn *quic.Conn) {
	defer conn.CloseWithError(0, "")
	peer, err := wire.PeerKey(conn.ConnectionState().TLS)
	if err != nil {
		return
	}
	for {
		str, err := conn.AcceptStream(ctx)
		if err != nil {
			return
		}
		go o.serveStream(str, peer)
	}
}

func (o *testOracle) serveStream(str *quic.Stream, peer wire.PublicKey) {
	defer str.Close()
	fr := wire.NewFrameReader(str)
	fw := wire.NewFrameWriter(str)
	for {
		f, err := fr.Read()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				str.CancelRead(0)
			}
			return
		}
		var out *wire.Frame
		switch m := f.Msg.(type) {
		case *wire.Frame_Hello:
			out = ack(nil, wire.Code_CODE_OK)
		case *wire.Frame_Submit:
			out = o.submit(m.Submit, peer)
		case *wire.Frame_EntropyRequest:
			o.mu.Lock()
			o.entropy++
			o.mu.Unlock()
			data := make([]byte, 32)
			data[0] = 7
			raw, _ := wire.Seal(o.key, wire.Kind_KIND_ENTROPY, &wire.Entropy{Version: 1, Ts: time.Now().Unix(), Data: data})
			env, _ := wire.Open(raw, wire.Kind_KIND_ENTROPY)
			out = &wire.Frame{Msg: &wire.Frame_Entropy{Entropy: env}}
		case *wire.Frame_RouteTableRequest:
			o.mu.Lock()
			o.tableReqs = append(o.tableReqs, m.RouteTableRequest)
			tables := o.tables
			o.mu.Unlock()
			if tables == nil {
				out = ack(nil, wire.Code_CODE_UNSUPPORTED)
				break
			}
			raw := tables(m.RouteTableRequest)
			if raw == nil {
				out = &wire.Frame{Msg: &wire.Frame_RouteTableUnchanged{RouteTableUnchanged: &wire.RouteTableUnchanged{}}}
				break
			}
			frames := wire.RouteTableFrames(raw)
			for _, f := range frames[:len(frames)-1] {
				if fw.Write(f) != nil {
					return
				}
			}
			out = frames[len(frames)-1]
		case *wire.Frame_ConfigRequest:
			o.mu.Lock()
			c := o.config
			o.mu.Unlock()
			if c == nil {
				c = &wire.Config{}
			}
			c.Hotspot = peer.Bytes()
			raw, _ := wire.Seal(o.key, wire.Kind_KIND_CONFIG, c)
			env, _ := wire.Open(raw, wire.Kind_KIND_CONFIG)
			out = &wire.Frame{Msg: &wire.Frame_Config{Config: env}}
		default:
			out = ack(nil, wire.Code_CODE_UNSUPPORTED)
		}
		if fw.Write(out) != nil {
			return
		}
		if fr2 := fw.Flush(); fr2 != nil {
			return
		}
	}
}

func ack(id []byte, code wire.Code) *wire.Frame {
	return &wire.Frame{Msg: &wire.Frame_Ack{Ack: &wire.Ack{Id: id, Code: code}}}
}

func (o *testOracle) submit(s *wire.Submit, peer wire.PublicKey) *wire.Frame {
	raw := s.GetEnvelope()
	id := wire.ReportID(raw)
	env, err := wire.Open(raw, wire.Kind_KIND_UNSPECIFIED)
	if err != nil {
		return ack(id[:], wire.CodeOf(err))
	}
	if env.SignerKey() != peer {
		return ack(id[:], wire.Code_CODE_WRONG_KEY)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.submits++
	if o.reject != wire.Code_CODE_OK {
		return ack(id[:], o.reject)
	}
	o.holds = append(o.holds, s.GetHoldMs())
	if _, ok := o.reports[id]; ok {
		o.dups++
		return ack(id[:], wire.Code_CODE_DUPLICATE)
	}
	o.reports[id] = raw
	return ack(id[:], wire.Code_CODE_OK)
}

func (o *testOracle) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.reports)
}

// minWait is the least any waitFor waits: the deadline only bounds a
// failing test (a passing one returns as soon as cond holds), so a caller's
// short estimate must not fail a test on a loaded machine.
const minWait = 2 * time.Minute

// waitFor polls cond until it holds, or fails after timeout (at least
// minWait).
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(max(timeout, minWait))
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// clientRig runs an outbox and an oracle client for one test oracle.
type clientRig struct {
	ob     *Outbox
	c      *oracleClient
	m      *metrics
	key    ed25519.PrivateKey
	cancel context.CancelFunc
	done   chan struct{}
}

func startClient(t *testing.T, dir string, o *testOracle) *clientRig {
	t.Helper()
	key, _ := wire.GenerateKey()
	return startClientKey(t, dir, o, key)
}

func startClientKey(t *testing.T, dir string, o *testOracle, key ed25519.PrivateKey) *clientRig {
	t.Helper()
	m := newMetrics(prometheus.NewRegistry())
	ob, err := OpenOutbox(OutboxConfig{Dir: dir, Oracles: []wire.PublicKey{o.pub}, SyncInterval: 5 * time.Millisecond}, nil, m.outbox)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: pc}
	c := &oracleClient{idx: 0, key: o.pub, addr: o.addr, software: "test", priv: key, tr: tr, outbox: ob,
		log: testLogger(t), m: m}
	ctx, cancel := context.WithCancel(context.Background())
	r := &clientRig{ob: ob, c: c, m: m, key: key, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); ob.Run(ctx) }()
		go func() { defer wg.Done(); c.Run(ctx) }()
		wg.Wait()
		tr.Close()
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *clientRig) stop() {
	r.cancel()
	<-r.done
}

func (r *clientRig) appendReports(t *testing.T, n int, tag string) {
	t.Helper()
	for i := range n {
		raw, err := wire.Seal(r.key, wire.Kind_KIND_WITNESS_REPORT, &wire.WitnessReport{
			PubKey: wire.PublicKeyOf(r.key).Bytes(), Payload: []byte(fmt.Sprintf("%s-%d", tag, i)),
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.ob.Append(raw); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOracleClientDrainsOutbox(t *testing.T) {
	o := startTestOracle(t)
	r := startClient(t, t.TempDir(), o)
	r.appendReports(t, 1500, "a")
	waitFor(t, "1500 reports at the oracle", 20*time.Second, func() bool { return o.count() == 1500 })
	waitFor(t, "outbox empty", 5*time.Second, func() bool { return r.ob.Stats().Reports == 0 })
	if o.dups != 0 {
		t.Fatalf("%d duplicates sent on a healthy connection", o.dups)
	}
	if got := testutil.ToFloat64(r.m.submits.WithLabelValues(o.pub.String(), "ok")); got != 1500 {
		t.Fatalf("ok acks counted %v", got)
	}
	// Entropy and config requests on the same connection.
	raw, e, err := r.c.fetchEntropy(context.Background())
	if err != nil || len(raw) == 0 || e.Data[0] != 7 {
		t.Fatalf("fetchEntropy = %v, %v", e, err)
	}
	o.mu.Lock()
	o.config = &wire.Config{Region: "EU868", Asserted: true, GainDdbi: 30, BeaconIntervalS: 60}
	o.mu.Unlock()
	cfg, err := r.c.fetchConfig(context.Background())
	if err != nil || cfg.Region != "EU868" || cfg.GainDdbi != 30 {
		t.Fatalf("fetchConfig = %v, %v", cfg, err)
	}
}

func TestOracleClientOracleDownAndBack(t *testing.T) {
	o := startTestOracle(t)
	r := startClient(t, t.TempDir(), o)
	r.appendReports(t, 100, "before")
	waitFor(t, "first 100", 10*time.Second, func() bool { return o.count() == 100 })
	waitFor(t, "first 100 acked", 10*time.Second, func() bool { return r.ob.Stats().Reports == 0 })
	o.stop()
	waitFor(t, "client notices", 30*time.Second, func() bool { return r.c.current() == nil })
	r.appendReports(t, 300, "during")
	if st := r.ob.Stats(); st.Reports != 300 {
		t.Fatalf("outbox holds %d while the oracle is down", st.Reports)
	}
	o.restart(t)
	waitFor(t, "all 400 after restart", 60*time.Second, func() bool { return o.count() == 400 })
	waitFor(t, "outbox empty", 5*time.Second, func() bool { return r.ob.Stats().Reports == 0 })
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.dups != 0 {
		t.Fatalf("%d reports sent twice", o.dups)
	}
	var maxHold uint64
	for _, h := range o.holds {
		maxHold = max(maxHold, h)
	}
	if maxHold < 100 {
		t.Fatalf("max hold %d ms; reports held through the outage should say so", maxHold)
	}
}

func TestOracleClientRestartResumes(t *testing.T) {
	o := startTestOracle(t)
	dir := t.TempDir()
	key, _ := wire.GenerateKey()
	o.stop() // oracle down: everything stays in the outbox
	r := startClientKey(t, dir, o, key)
	r.appendReports(t, 50, "x")
	waitFor(t, "durable", 5*time.Second, func() bool { items, _ := r.ob.Next(0, 0, 100); return len(items) == 50 })
	r.stop()
	o.restart(t)
	r2 := startClientKey(t, dir, o, key)
	waitFor(t, "50 after restart", 30*time.Second, func() bool { return o.count() == 50 })
	waitFor(t, "outbox empty", 5*time.Second, func() bool { return r2.ob.Stats().Reports == 0 })
}

func TestOracleClientTransientRejectRetries(t *testing.T) {
	o := startTestOracle(t)
	o.mu.Lock()
	o.reject = wire.Code_CODE_OVERLOADED
	o.mu.Unlock()
	r := startClient(t, t.TempDir(), o)
	r.appendReports(t, 10, "y")
	waitFor(t, "overloaded answers", 10*time.Second, func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		return o.submits >= 10
	})
	if r.ob.Stats().Reports != 10 {
		t.Fatal("reports answered OVERLOADED left the outbox")
	}
	o.mu.Lock()
	o.reject = wire.Code_CODE_OK
	o.mu.Unlock()
	waitFor(t, "resent after backoff", 3*retryTransient, func() bool { return o.count() == 10 })
}

func TestOracleClientPermanentRejectDoesNotBlock(t *testing.T) {
	o := startTestOracle(t)
	o.mu.Lock()
	o.reject = wire.Code_CODE_BAD_SIGNATURE
	o.mu.Unlock()
	r := startClient(t, t.TempDir(), o)
	r.appendReports(t, 5, "z")
	waitFor(t, "rejected reports retired", 10*time.Second, func() bool { return r.ob.Stats().Reports == 0 })
	if got := testutil.ToFloat64(r.m.submits.WithLabelValues(o.pub.String(), "bad_signature")); got != 5 {
		t.Fatalf("bad_signature acks counted %v", got)
	}
}

func TestOracleClientPinsKey(t *testing.T) {
	o := startTestOracle(t)
	impostor, _ := wire.GenerateKey()
	m := newMetrics(prometheus.NewRegistry())
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	tr := &quic.Transport{Conn: pc}
	defer tr.Close()
	key, _ := wire.GenerateKey()
	c := &oracleClient{key: wire.PublicKeyOf(impostor), addr: o.addr, priv: key, tr: tr, m: m, log: testLogger(t)}
	if conn, err := c.dial(context.Background()); err == nil {
		conn.CloseWithError(0, "")
		t.Fatal("dial succeeded against an oracle with another key")
	}
}

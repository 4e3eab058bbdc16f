package oracle

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/quic-go/quic-go"

	"github.com/hexfield/hexfield/wire"
)

// The transport's defences against what anyone on the network can do
// cheaply: many connections for one key, handshakes with made-up keys,
// floods of connection attempts from one address, and the log lines all of
// these cause. Everything here runs over real QUIC on loopback.

// clientTransport is one UDP socket that dials many connections (as a
// flooding client would).
func clientTransport(t testing.TB) *quic.Transport {
	t.Helper()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: udp}
	t.Cleanup(func() {
		tr.Close()
		udp.Close()
	})
	return tr
}

// dialWith dials the oracle at addr as key over tr; tweak, if set, changes
// the client's TLS configuration.
func dialWith(ctx context.Context, tr *quic.Transport, addr string, key ed25519.PrivateKey, oracle wire.PublicKey,
	tweak func(*tls.Config)) (*quic.Conn, error) {
	tlsConf, err := wire.ClientTLSConfig(key, oracle)
	if err != nil {
		return nil, err
	}
	if tweak != nil {
		tweak(tlsConf)
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	return tr.Dial(ctx, ua, tlsConf, wire.QUICConfig())
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestKeyBudgetSharedAcrossConnections: the connections of one hotspot key
// share one report budget. Four connections (the cap) each pipeline more
// reports than the burst; together they store no more than one burst plus
// the refill, where per-connection buckets stored them all.
func TestKeyBudgetSharedAcrossConnections(t *testing.T) {
	const rate, burst, conns, per = 50, 500, 4, 300 // per connection < burst < conns·per
	to := startOracle(t, t.TempDir(), Config{RateLimit: rate}, Deps{})
	packetRoute(t, to.o)
	hs, _ := onboardHotspot(t, to.o, time.Now(), 0)
	hcs := make([]*hotspotConn, conns)
	envs := make([][][]byte, conns)
	for i := range hcs {
		hcs[i] = dialOracle(t, to.quic, hs, to.o.PublicKey())
		for j := range per {
			envs[i] = append(envs[i], packetReport(t, hs, uint64(i*per+j)))
		}
	}
	var ok, overloaded atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i, hc := range hcs {
		wg.Go(func() {
			for _, env := range envs[i] {
				if err := hc.fw.Write(submitFrame(env)); err != nil {
					t.Error(err)
					return
				}
			}
			if err := hc.fw.Flush(); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			hc.str.SetReadDeadline(time.Now().Add(30 * time.Second))
			for range per {
				f, err := hc.fr.Read()
				if err != nil {
					t.Error(err)
					return
				}
				switch c := f.GetAck().GetCode(); c {
				case wire.Code_CODE_OK:
					ok.Add(1)
				case wire.Code_CODE_OVERLOADED:
					overloaded.Add(1)
				default:
					t.Errorf("ack %v", c)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	// The bound follows from the measured time, so a slow machine loosens
	// it rather than failing.
	limit := int64(burst + math.Ceil(rate*elapsed.Seconds()) + 1)
	if ok.Load() > limit || ok.Load()+overloaded.Load() != conns*per {
		t.Fatalf("%d stored, %d overloaded in %s over %d connections of one key; want at most %d stored (one budget per key)",
			ok.Load(), overloaded.Load(), elapsed, conns, limit)
	}
	if n := countReports(t, to.o.store, wire.Kind_KIND_PACKET_REPORT); int64(n) != ok.Load() {
		t.Fatalf("%d reports stored, %d acked OK", n, ok.Load())
	}
}

// TestConnsPerKeyCapped: of 1,000 connections for one key, held open, only
// max_conns_per_key are accepted; the others are closed right after their
// handshake with CODE_OVERLOADED. Closing one makes room for another.
func TestConnsPerKeyCapped(t *testing.T) {
	to := startOracle(t, t.TempDir(), Config{}, Deps{}) // max_conns_per_key 4
	packetRoute(t, to.o)
	o := to.o
	hs, _ := onboardHotspot(t, o, time.Now(), 0)
	tr := clientTransport(t)
	const attempts = 1000
	var mu sync.Mutex
	var open []*quic.Conn
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for range attempts {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			conn, err := dialWith(ctx, tr, to.quic, hs, o.PublicKey(), nil)
			if err != nil {
				// The oracle's refusal may overtake the end of the client's
				// handshake.
				if !isAppError(err, wire.Code_CODE_OVERLOADED) {
					t.Error(err)
				}
				return
			}
			mu.Lock()
			open = append(open, conn) // held open: the test hangs up at the end
			mu.Unlock()
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range open {
			c.CloseWithError(0, "")
		}
	})
	waitFor(t, "every attempt judged", func() bool {
		return testutil.ToFloat64(o.m.connsTotal.WithLabelValues("ok"))+
			testutil.ToFloat64(o.m.connsTotal.WithLabelValues("key_conn_limit")) == attempts
	})
	if v := testutil.ToFloat64(o.m.connsTotal.WithLabelValues("ok")); v != 4 {
		t.Fatalf("%v connections of one key accepted, want 4", v)
	}
	if v := testutil.ToFloat64(o.m.connections); v != 4 {
		t.Fatalf("connections gauge %v, want 4", v)
	}
	waitFor(t, "refused connections closed", func() bool {
		n := 0
		for _, c := range open {
			if c.Context().Err() == nil {
				n++
			}
		}
		return n == 4
	})
	// The refused ones were told why; an accepted one serves, and after it
	// closes a new one is let in.
	var served *quic.Conn
	for _, c := range open {
		if c.Context().Err() == nil {
			served = c
		} else if !isAppError(context.Cause(c.Context()), wire.Code_CODE_OVERLOADED) {
			t.Fatalf("refused with %v, want CODE_OVERLOADED", context.Cause(c.Context()))
		}
	}
	str, err := served.OpenStreamSync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	hc := &hotspotConn{conn: served, str: str, fw: wire.NewFrameWriter(str), fr: wire.NewFrameReader(str)}
	if a := hc.submit(t, packetReport(t, hs, 1)); a.GetCode() != wire.Code_CODE_OK {
		t.Fatalf("ack on an accepted connection: %v", a)
	}
	served.CloseWithError(0, "")
	waitFor(t, "the closed connection released", func() bool { return testutil.ToFloat64(o.m.connections) == 3 })
	again := dialOracle(t, to.quic, hs, o.PublicKey())
	if a := again.submit(t, packetReport(t, hs, 2)); a.GetCode() != wire.Code_CODE_OK {
		t.Fatalf("ack after a slot freed: %v", a)
	}
}

// TestUnknownKeysRefusedInHandshake: handshakes with made-up keys fail in
// TLS (the client sees wire.KeyRefused), nothing is accepted, and the
// per-source counts return to zero.
func TestUnknownKeysRefusedInHandshake(t *testing.T) {
	to := startOracle(t, t.TempDir(), Config{}, Deps{})
	o := to.o
	tr := clientTransport(t)
	const n = 50
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		conn, err := dialWith(ctx, tr, to.quic, testKey(t), o.PublicKey(), nil)
		if err == nil {
			_, err = conn.AcceptStream(ctx) // the server's verdict follows the client's handshake
		}
		cancel()
		if !wire.KeyRefused(err) {
			t.Fatalf("unknown key: %v, want the TLS handshake refused", err)
		}
	}
	if v := testutil.ToFloat64(o.m.connsTotal.WithLabelValues("unknown_hotspot")); v != n {
		t.Fatalf("unknown_hotspot %v, want %d", v, n)
	}
	if v := testutil.ToFloat64(o.m.connsTotal.WithLabelValues("ok")); v != 0 {
		t.Fatalf("%v unknown connections accepted", v)
	}
	waitFor(t, "handshake counts released", func() bool { return testutil.ToFloat64(o.m.handshakes) == 0 })
}

// TestHandshakesCappedPerSource: handshakes held open by one source (the
// client stalls before sending its certificate) are capped; the next
// attempt is refused before any handshake state, and the slot comes back
// when a stalled handshake ends.
func TestHandshakesCappedPerSource(t *testing.T) {
	const perSource = 3
	to := startOracle(t, t.TempDir(), Config{MaxHandshakesPerSource: perSource}, Deps{})
	o := to.o
	hs, _ := onboardHotspot(t, o, time.Now(), 0)
	tr := clientTransport(t)
	release := make(chan struct{})
	var once sync.Once
	unstall := func() { once.Do(func() { close(release) }) }
	defer unstall()
	stall := func(c *tls.Config) {
		cert := c.Certificates[0]
		c.Certificates = nil
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			<-release
			return &cert, nil
		}
	}
	type result struct {
		conn *quic.Conn
		err  error
	}
	stalled := make(chan result, perSource)
	for range perSource {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := dialWith(ctx, tr, to.quic, hs, o.PublicKey(), stall)
			stalled <- result{c, err}
		}()
	}
	waitFor(t, "stalled handshakes", func() bool { return testutil.ToFloat64(o.m.handshakes) == perSource })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := dialWith(ctx, tr, to.quic, hs, o.PublicKey(), nil)
	var te *quic.TransportError
	if !errors.As(err, &te) || te.ErrorCode != quic.ConnectionRefused {
		t.Fatalf("attempt over the per-source cap: %v, want CONNECTION_REFUSED", err)
	}
	// Counted per refused Initial packet: a ClientHello may span two.
	if v := testutil.ToFloat64(o.m.connsTotal.WithLabelValues("source_handshake_limit")); v < 1 {
		t.Fatalf("source_handshake_limit %v", v)
	}
	unstall()
	var conns []*quic.Conn
	for range perSource {
		r := <-stalled
		if r.err != nil {
			t.Fatalf("stalled handshake: %v", r.err)
		}
		conns = append(conns, r.conn)
	}
	waitFor(t, "handshakes done", func() bool { return testutil.ToFloat64(o.m.handshakes) == 0 })
	// Three connections are open (cap per key 4): one more is let in.
	c, err := dialWith(ctx, tr, to.quic, hs, o.PublicKey(), nil)
	if err != nil {
		t.Fatalf("after the handshakes ended: %v", err)
	}
	for _, c := range append(conns, c) {
		c.CloseWithError(0, "")
	}
}

// TestConnsCappedPerSource: open connections count against their source.
func TestConnsCappedPerSource(t *testing.T) {
	to := startOracle(t, t.TempDir(), Config{MaxConnsPerSource: 2}, Deps{})
	o := to.o
	a, _ := onboardHotspot(t, o, time.Now(), 0)
	b, _ := onboardHotspot(t, o, time.Now(), 0)
	c, _ := onboardHotspot(t, o, time.Now(), 0)
	first := dialOracle(t, to.quic, a, o.PublicKey())
	dialOracle(t, to.quic, b, o.PublicKey())
	_, err := dialOracleErr(to.quic, c, o.PublicKey())
	var te *quic.TransportError
	if !errors.As(err, &te) || te.ErrorCode != quic.ConnectionRefused {
		t.Fatalf("third connection from one source: %v, want CONNECTION_REFUSED", err)
	}
	first.close()
	waitFor(t, "a source slot freed", func() bool {
		hc, err := dialOracleErr(to.quic, c, o.PublicKey())
		if err != nil {
			return false
		}
		hc.close()
		return true
	})
}

// TestAdmissionCounts: the admission bookkeeping returns to zero whether a
// handshake fails or the connection closes, and asks for a Retry from half
// of the handshake budget on.
func TestAdmissionCounts(t *testing.T) {
	var refused []string
	a := newAdmission(admissionLimits{handshakes: 4, handshakesPerSource: 3, connsPerSource: 3},
		func(r string, _ net.Addr) { refused = append(refused, r) }, nil)
	addr := func(s string) *quic.ClientInfo {
		return &quic.ClientInfo{RemoteAddr: net.UDPAddrFromAddrPort(mustAddrPort(t, s))}
	}
	var cancels []context.CancelFunc
	admit := func(s string) (context.Context, error) {
		base, cancel := context.WithCancel(context.Background())
		ctx, err := a.connContext(base, addr(s))
		if err != nil {
			cancel()
			return nil, err
		}
		cancels = append(cancels, cancel)
		return ctx, nil
	}
	// IPv6 addresses of one /64 are one source.
	for _, s := range []string{"[2001:db8::1]:1", "[2001:db8::2]:2", "[2001:db8::3]:3"} {
		if _, err := admit(s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admit("[2001:db8::4]:4"); err == nil {
		t.Fatal("fourth handshake from one /64 admitted")
	}
	if !a.verifySource(nil) {
		t.Fatal("no Retry at 3 of 4 handshakes")
	}
	ctx, err := admit("192.0.2.1:5")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admit("192.0.2.2:6"); err == nil {
		t.Fatal("handshake over the total admitted")
	}
	handshakeDone(ctx)
	handshakeDone(ctx) // idempotent
	if h, _ := a.counts(); h != 3 {
		t.Fatalf("%d handshakes after one ended, want 3", h)
	}
	for _, c := range cancels {
		c()
	}
	// The releases run on context.AfterFunc goroutines.
	waitFor(t, "every count released", func() bool { h, s := a.counts(); return h == 0 && s == 0 })
	want := []string{"source_handshake_limit", "handshake_limit"}
	if strings.Join(refused, ",") != strings.Join(want, ",") {
		t.Fatalf("refused %v, want %v", refused, want)
	}
}

// TestKeyLimitsForget: a key's budget survives its connections until the
// bucket has refilled, so reconnecting never buys a fresh burst; then the
// entry is dropped. Virtual time.
func TestKeyLimitsForget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newKeyLimits(10, 20, 2, nil)
		var k wire.PublicKey
		k[0] = 1
		kb, ok := l.acquire(k)
		if !ok {
			t.Fatal("first connection refused")
		}
		for range 20 {
			kb.bucket.take(time.Now())
		}
		l.release(k, kb)
		kb2, _ := l.acquire(k) // reconnect at once
		if kb2.bucket.take(time.Now()) {
			t.Fatal("reconnecting restored the burst")
		}
		if _, ok := l.acquire(k); !ok {
			t.Fatal("second connection refused")
		}
		if _, ok := l.acquire(k); ok {
			t.Fatal("third connection over the cap of 2 accepted")
		}
		l.release(k, kb2)
		l.release(k, kb2)
		time.Sleep(time.Second) // half refilled
		synctest.Wait()
		if l.tracked() != 1 {
			t.Fatal("key forgotten before its bucket refilled")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if l.tracked() != 0 {
			t.Fatal("idle key with a full bucket still tracked")
		}
		l.stop()
	})
}

// TestLogSampler: a flood of one event writes at most burst lines per
// period, counts the rest, and the next period's first line says how many
// were left out. Virtual time.
func TestLogSampler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf lockedBuffer
		suppressed := map[string]int{}
		s := newLogSampler(slog.New(slog.NewTextHandler(&buf, nil)), 10*time.Second, 5, nil,
			func(e string) { suppressed[e]++ })
		for range 1000 {
			s.Log(slog.LevelInfo, "flood", "refused", "n", 1)
		}
		s.Log(slog.LevelInfo, "other", "other event")
		if n := buf.count("msg=refused"); n != 5 {
			t.Fatalf("%d lines in the first period, want 5", n)
		}
		if suppressed["flood"] != 995 || suppressed["other"] != 0 {
			t.Fatalf("suppressed %v", suppressed)
		}
		time.Sleep(10 * time.Second)
		s.Log(slog.LevelInfo, "flood", "refused")
		if !strings.Contains(buf.String(), "suppressed=995") {
			t.Fatalf("no suppressed count in the next period:\n%s", buf.String())
		}
		// Debug lines below the handler's level cost nothing and count nothing.
		s.Log(slog.LevelDebug, "quiet", "hidden")
		if suppressed["quiet"] != 0 || buf.count("hidden") != 0 {
			t.Fatal("a disabled level was logged or counted")
		}
	})
}

// TestUnknownKeyFloodLogs: 200 handshakes with made-up keys yield a
// bounded number of log lines, and metrics count every one of them.
func TestUnknownKeyFloodLogs(t *testing.T) {
	var buf lockedBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	to := startOracle(t, t.TempDir(), Config{}, Deps{Logger: log})
	o := to.o
	tr := clientTransport(t)
	const n = 200
	start := time.Now()
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if conn, err := dialWith(ctx, tr, to.quic, testKey(t), o.PublicKey(), nil); err == nil {
				conn.AcceptStream(ctx) // until the oracle's verdict closes it
			}
		})
	}
	wg.Wait()
	waitFor(t, "every unknown handshake counted", func() bool {
		return testutil.ToFloat64(o.m.connsTotal.WithLabelValues("unknown_hotspot")) == n
	})
	elapsed := time.Since(start)
	lines := buf.count("unknown hotspot")
	periods := 1 + int(elapsed/logSamplePeriod)
	if lines == 0 || lines > logSampleBurst*periods {
		t.Fatalf("%d log lines for %d unknown handshakes in %s, want 1..%d:\n%s", lines, n, elapsed, logSampleBurst*periods, buf.String())
	}
	if v := testutil.ToFloat64(o.m.logSuppressed.WithLabelValues("unknown_hotspot")); int(v) != n-lines {
		t.Fatalf("suppressed %v, want %d", v, n-lines)
	}
}

// TestMetricsOwnListener: /metrics is served on the metrics listener and
// not on the public API.
func TestMetricsOwnListener(t *testing.T) {
	to := startOracle(t, t.TempDir(), Config{}, Deps{})
	if code, _ := httpGet(t, to.http+"/metrics"); code != 404 {
		t.Fatalf("public API /metrics: %d, want 404", code)
	}
	code, body := httpGet(t, to.metrics+"/metrics")
	if code != 200 || !bytes.Contains(body, []byte("hexfield_oracle_handshakes ")) {
		t.Fatalf("metrics listener: %d %.200s", code, body)
	}
	if code, _ := httpGet(t, to.metrics+"/v1/oracle"); code != 404 {
		t.Fatalf("metrics listener serves the API: %d", code)
	}
}

func mustAddrPort(t testing.TB, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// lockedBuffer is a log sink safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// count is the number of lines containing s.
func (b *lockedBuffer) count(s string) int {
	n := 0
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

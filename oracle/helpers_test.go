package oracle

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quic-go/quic-go"

	"github.com/hexfield/hexfield/verifier"
	"github.com/hexfield/hexfield/wire"
)

// testOracle is an oracle running in-process on loopback sockets.
type testOracle struct {
	o       *Oracle
	quic    string // UDP address
	http    string // base URL
	metrics string // base URL of the metrics listener
	reg     *prometheus.Registry
	cancel  context.CancelFunc
	done    chan error
	dataDir string
}

// startOracle starts an oracle in dir with cfg (DataDir is set to dir).
func startOracle(t testing.TB, dir string, cfg Config, d Deps) *testOracle {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = dir
	if d.Key == nil {
		d.Key = testKey(t)
	}
	reg := prometheus.NewRegistry()
	d.PacketConn, d.HTTPListener, d.MetricsListener, d.Registerer, d.Gatherer = pc, ln, mln, reg, reg
	o, err := New(cfg, d)
	if err != nil {
		pc.Close()
		ln.Close()
		mln.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	to := &testOracle{o: o, quic: pc.LocalAddr().String(), http: "http://" + ln.Addr().String(),
		metrics: "http://" + mln.Addr().String(), reg: reg,
		cancel: cancel, done: make(chan error, 1), dataDir: dir}
	go func() { to.done <- o.Run(ctx) }()
	t.Cleanup(func() { to.stop(t) })
	return to
}

// stop cancels the oracle and waits for Run to return (idempotent).
func (to *testOracle) stop(t testing.TB) error {
	t.Helper()
	if to.done == nil {
		return nil
	}
	to.cancel()
	var err error
	select {
	case err = <-to.done:
	case <-time.After(30 * time.Second):
		t.Fatal("oracle did not stop within 30 s")
	}
	to.done = nil
	return err
}

func testKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// testCell is a resolution-12 cell in the EU868 area (Amsterdam) offset by
// i·0.01° of longitude.
func testCell(t testing.TB, i int) uint64 {
	t.Helper()
	c, err := verifier.LatLngToCell(52.37, 4.89+float64(i)*0.01, 12)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// onboardHotspot onboards and asserts a new hotspot; it returns the
// hotspot key and the owner key.
func onboardHotspot(t testing.TB, o *Oracle, now time.Time, cell uint64) (hs, owner ed25519.PrivateKey) {
	t.Helper()
	hs, owner = testKey(t), testKey(t)
	req, err := NewOnboardRequest(hs, owner, false, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.onboard(req, now); err != nil {
		t.Fatalf("onboard: %v", err)
	}
	if cell != 0 {
		ar, err := NewAssertRequest(owner, wire.PublicKeyOf(hs), cell, 30, 10, 1, now.Add(time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.assertLocation(ar.Envelope, now.Add(time.Millisecond)); err != nil {
			t.Fatalf("assert: %v", err)
		}
	}
	return hs, owner
}

// packetReport seals a packet report by hs; seq makes it unique.
func packetReport(t testing.TB, hs ed25519.PrivateKey, seq uint64) []byte {
	t.Helper()
	raw, err := sealPacketReport(hs, seq)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// sealPacketReport is packetReport for goroutines other than the test's.
func sealPacketReport(hs ed25519.PrivateKey, seq uint64) ([]byte, error) {
	pub := wire.PublicKeyOf(hs)
	phy := testUplink(testPacketDevAddr, uint16(seq), 23)
	sum := sha256.Sum256(phy)
	return wire.Seal(hs, wire.Kind_KIND_PACKET_REPORT, &wire.PacketReport{
		PubKey: pub[:], PayloadHash: sum[:], PayloadSize: uint32(len(phy)), Payload: phy, DevAddr: testPacketDevAddr,
		RouteId: "route-1", FrequencyHz: 868_100_000, Datarate: "SF7BW125", RssiDdbm: -1000, SnrDdb: 55,
		TimestampMs: seq,
	})
}

// testPacketDevAddr is the DevAddr of packetReport's frames: the first of
// the first block an organization gets from the default NetID's prefix.
const testPacketDevAddr = 0x02000000

// packetRoute registers, on o, organization "packets" with route
// "route-1", which holds packetReport's frames: ingest stores only packet
// reports of an existing route.
func packetRoute(t testing.TB, o *Oracle) {
	t.Helper()
	org := putTestRoute(t, o, "packets", "route-1", testKey(t), 1_000_000)
	if b := org.DevAddrBlocks[0]; uint32(b.Start) != testPacketDevAddr {
		t.Fatalf("route-1 holds DevAddrs from %08x, not %08x", uint32(b.Start), testPacketDevAddr)
	}
}

// hotspotConn is a hotspot's QUIC connection to an oracle, with one stream.
type hotspotConn struct {
	tr   *quic.Transport
	conn *quic.Conn
	str  *quic.Stream
	fw   *wire.FrameWriter
	fr   *wire.FrameReader
}

func dialOracle(t testing.TB, addr string, key ed25519.PrivateKey, oracle wire.PublicKey) *hotspotConn {
	t.Helper()
	hc, err := dialOracleErr(addr, key, oracle)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.close)
	return hc
}

func dialOracleErr(addr string, key ed25519.PrivateKey, oracle wire.PublicKey) (*hotspotConn, error) {
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	tr := &quic.Transport{Conn: udp}
	tlsConf, err := wire.ClientTLSConfig(key, oracle)
	if err != nil {
		return nil, err
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := tr.Dial(ctx, ua, tlsConf, wire.QUICConfig())
	if err != nil {
		tr.Close()
		udp.Close()
		return nil, err
	}
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		conn.CloseWithError(0, "")
		tr.Close()
		udp.Close()
		return nil, err
	}
	return &hotspotConn{tr: tr, conn: conn, str: str, fw: wire.NewFrameWriter(str), fr: wire.NewFrameReader(str)}, nil
}

func (h *hotspotConn) close() {
	h.conn.CloseWithError(0, "")
	h.tr.Close()
	h.tr.Conn.Close()
}

func (h *hotspotConn) send(t testing.TB, f *wire.Frame) {
	t.Helper()
	if err := h.fw.Write(f); err != nil {
		t.Fatal(err)
	}
	if err := h.fw.Flush(); err != nil {
		t.Fatal(err)
	}
}

func (h *hotspotConn) recv(t testing.TB) *wire.Frame {
	t.Helper()
	h.str.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := h.fr.Read()
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	return f
}

func submitFrame(env []byte) *wire.Frame {
	return &wire.Frame{Msg: &wire.Frame_Submit{Submit: &wire.Submit{Envelope: env}}}
}

// submit sends one report and returns its ack.
func (h *hotspotConn) submit(t testing.TB, env []byte) *wire.Ack {
	t.Helper()
	h.send(t, submitFrame(env))
	f := h.recv(t)
	a := f.GetAck()
	if a == nil {
		t.Fatalf("want an ack, got %v", f)
	}
	return a
}

// httpGet fetches url and returns the status code.
func httpGet(t testing.TB, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b
}

// isAppError reports whether err is a QUIC application close with code.
func isAppError(err error, code wire.Code) bool {
	var ae *quic.ApplicationError
	return errors.As(err, &ae) && ae.ErrorCode == quic.ApplicationErrorCode(code)
}

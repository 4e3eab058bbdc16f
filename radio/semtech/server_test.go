package semtech

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// listenUDP binds a loopback UDP socket closed at the end of the test.
func listenUDP(t testing.TB) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// recorder is a Handler and StatHandler collecting what the server delivers.
type recorder struct {
	uplinks chan Uplink
	stats   chan Stat
}

func newRecorder() *recorder {
	return &recorder{uplinks: make(chan Uplink, 100), stats: make(chan Stat, 100)}
}

func (r *recorder) HandleUplink(_ context.Context, u Uplink) { r.uplinks <- u }
func (r *recorder) HandleStat(_ context.Context, _ EUI, s Stat) {
	r.stats <- s
}

func (r *recorder) next(t *testing.T) Uplink {
	t.Helper()
	select {
	case u := <-r.uplinks:
		return u
	case <-time.After(5 * time.Second):
		t.Fatal("no uplink delivered")
	}
	return Uplink{}
}

func (r *recorder) none(t *testing.T, wait time.Duration) {
	t.Helper()
	select {
	case u := <-r.uplinks:
		t.Fatalf("unexpected uplink %+v", u.RXPK)
	case <-time.After(wait):
	}
}

// testServer runs a Server on a loopback socket until the test ends, and
// checks Run returns nil on cancellation.
type testServer struct {
	*Server
	reg *prometheus.Registry
	rec *recorder
}

func startServer(t testing.TB, cfg ServerConfig) *testServer {
	t.Helper()
	return startServerLog(t, cfg, nil)
}

// startServerLog is startServer with a logger.
func startServerLog(t testing.TB, cfg ServerConfig, log *slog.Logger) *testServer {
	t.Helper()
	rec := newRecorder()
	if cfg.Handler == nil {
		cfg.Handler = rec
	}
	reg := prometheus.NewRegistry()
	s, err := NewServer(cfg, listenUDP(t), log, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("server Run did not return")
		}
	})
	return &testServer{Server: s, reg: reg, rec: rec}
}

// metric returns the value of a counter or gauge with the given label value
// ("" for none), gathered from the registry as a scrape would.
func metric(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	return 0
}

// waitMetric polls until the metric reaches want (datagrams are processed
// asynchronously to the test).
func waitMetric(t *testing.T, reg *prometheus.Registry, name, label string, want float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := metric(t, reg, name, label)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s{%s} = %v, want %v", name, label, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rawForwarder is the test playing a packet forwarder byte by byte.
type rawForwarder struct {
	t      *testing.T
	conn   net.PacketConn
	server net.Addr
}

func newRawForwarder(t *testing.T, server net.Addr) *rawForwarder {
	t.Helper()
	return &rawForwarder{t: t, conn: listenUDP(t), server: server}
}

func (f *rawForwarder) send(b []byte) {
	f.t.Helper()
	if _, err := f.conn.WriteTo(b, f.server); err != nil {
		f.t.Fatal(err)
	}
}

// recv reads one datagram or fails after timeout.
func (f *rawForwarder) recv(timeout time.Duration) []byte {
	f.t.Helper()
	b, err := f.tryRecv(timeout)
	if err != nil {
		f.t.Fatalf("no datagram: %v", err)
	}
	return b
}

func (f *rawForwarder) tryRecv(timeout time.Duration) ([]byte, error) {
	buf := make([]byte, MaxDatagramSize)
	f.conn.SetReadDeadline(time.Now().Add(timeout))
	n, _, err := f.conn.ReadFrom(buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

func (f *rawForwarder) expect(timeout time.Duration, want []byte) {
	f.t.Helper()
	if got := f.recv(timeout); !bytes.Equal(got, want) {
		f.t.Fatalf("got % X, want % X", got, want)
	}
}

func TestServerConfig(t *testing.T) {
	if _, err := NewServer(ServerConfig{}, listenUDP(t), nil, nil); err == nil {
		t.Error("no handler accepted")
	}
	if _, err := NewServer(ServerConfig{Handler: newRecorder(), TxAckTimeout: -1}, listenUDP(t), nil, nil); err == nil {
		t.Error("negative timeout accepted")
	}
	if _, err := NewServer(ServerConfig{Handler: newRecorder()}, nil, nil, nil); err == nil {
		t.Error("nil socket accepted")
	}
	c := ServerConfig{Handler: newRecorder()}
	c.setDefaults()
	if c.TxAckTimeout != 5*time.Second || c.GatewayTimeout != 60*time.Second || c.QueueSize != 1024 || c.MaxGateways != 1024 {
		t.Errorf("defaults %+v", c)
	}
	if DefaultListenAddr != "127.0.0.1:1680" {
		t.Errorf("DefaultListenAddr = %s", DefaultListenAddr)
	}
	// Two servers may share one registry.
	reg := prometheus.NewRegistry()
	for range 2 {
		if _, err := NewServer(c, listenUDP(t), nil, reg); err != nil {
			t.Fatal(err)
		}
	}
}

// TestServerAcksThenValidates plays the spec's datagrams byte by byte: ACKs
// echo version and token, uplinks reach the handler with the right fields.
func TestServerAcksThenValidates(t *testing.T) {
	s := startServer(t, ServerConfig{})
	f := newRawForwarder(t, s.Addr())

	f.send(datagram(t, specPushDataHeader, specUplinkJSON))
	f.expect(time.Second, unhex(t, specPushAck))
	u := s.rec.next(t)
	if u.EUI != specEUI || u.RXPK.Freq != 868_500_000 || u.DataRate.SF != 7 || u.DataRate.Bandwidth != 125_000 || u.RXPK.Tmst != 3512348611 || u.Received.IsZero() {
		t.Errorf("uplink %+v", u)
	}
	if !bytes.Equal(u.RXPK.Data, specUplinkRXPK().Data) {
		t.Errorf("payload % X", u.RXPK.Data)
	}

	f.send(datagram(t, specPushDataHeader, specBeaconJSON))
	f.expect(time.Second, unhex(t, specPushAck))
	if u := s.rec.next(t); u.RXPK.SignalRSSI() != -96 || u.RXPK.RSSI != -95 || len(u.RXPK.Data) != 52 || u.DataRate.SF != 12 {
		t.Errorf("beacon uplink %+v", u.RXPK)
	}

	f.send(datagram(t, specStatHeader, specStatJSON))
	f.expect(time.Second, unhex(t, "02 7A 01 01"))
	select {
	case st := <-s.rec.stats:
		if st.RXNb != 2 || *st.Lati != 52.37 {
			t.Errorf("stat %+v", st)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no stat")
	}

	// Version 1: the PUSH_ACK is version 1 too.
	f.send(datagram(t, "01 33 44 00 B8 27 EB FF FE 12 34 56", specUplinkJSON))
	f.expect(time.Second, unhex(t, "01 33 44 01"))
	s.rec.next(t)

	f.send(unhex(t, specPullData))
	f.expect(time.Second, unhex(t, specPullAck))
	waitMetric(t, s.reg, "hexfield_semtech_uplinks_total", "", 3)
	waitMetric(t, s.reg, "hexfield_semtech_datagrams_total", "PUSH_DATA", 4)
	waitMetric(t, s.reg, "hexfield_semtech_gateways_online", "", 1)
}

// TestServerFilters checks each rxpk is judged on its own and every
// rejection is counted by reason (spec §8.4, §8.8).
func TestServerFilters(t *testing.T) {
	s := startServer(t, ServerConfig{})
	f := newRawForwarder(t, s.Addr())
	rx := func(fields string) string {
		return `{"tmst":1,"freq":868.1,"rfch":0,"rssi":-80,"lsnr":5,"size":1,"data":"QA==",` + fields + `}`
	}
	body := `{"rxpk":[` + strings.Join([]string{
		rx(`"stat":1,"modu":"LORA","datr":"SF9BW125","codr":"4/5"`),            // ok
		rx(`"stat":-1,"modu":"LORA","datr":"SF9BW125","codr":"4/5"`),           // bad CRC
		rx(`"stat":0,"modu":"LORA","datr":"SF9BW125","codr":"4/5"`),            // no CRC
		rx(`"stat":1,"modu":"FSK","datr":50000`),                               // FSK
		rx(`"stat":1,"modu":"LORA","datr":"M0CW137","codr":"4/5"`),             // LR-FHSS
		rx(`"stat":1,"modu":"LORA","datr":"SF6BW125","codr":"4/5"`),            // SF6
		rx(`"stat":1,"modu":"LORA","datr":"SF7BW125","codr":"4/5","freq":"x"`), // invalid
		`{"stat":1,"modu":"LORA","datr":"SF7BW125","freq":868.1,"data":"%%%"}`, // bad Base64
		rx(`"stat":1,"modu":"LORA","datr":"SF12BW500","codr":"4/5"`),           // ok
	}, ",") + `]}`
	f.send(datagram(t, specPushDataHeader, body))
	f.expect(time.Second, unhex(t, specPushAck))
	if u := s.rec.next(t); u.DataRate.SF != 9 {
		t.Errorf("first uplink %v", u.DataRate)
	}
	if u := s.rec.next(t); u.DataRate.SF != 12 || u.DataRate.Bandwidth != 500_000 {
		t.Errorf("second uplink %v", u.DataRate)
	}
	s.rec.none(t, 50*time.Millisecond)
	for reason, n := range map[string]float64{rxpkCRC: 2, rxpkModulation: 1, rxpkDataRate: 2, rxpkInvalid: 2} {
		waitMetric(t, s.reg, "hexfield_semtech_rxpk_dropped_total", reason, n)
	}
}

// TestServerSurvivesGarbage interleaves malformed datagrams with good ones:
// each is dropped with a counted reason, nothing stops the server.
func TestServerSurvivesGarbage(t *testing.T) {
	s := startServer(t, ServerConfig{})
	f := newRawForwarder(t, s.Addr())
	good := datagram(t, specPushDataHeader, specUplinkJSON)
	garbage := []struct {
		b      []byte
		reason string
		acked  bool // header valid: PUSH_ACK sent before the JSON fails
	}{
		{[]byte{0x02}, dropTooShort, false},
		{unhex(t, "02 1A 2B"), dropTooShort, false},
		{unhex(t, "09 1A 2B 00 B8 27 EB FF FE 12 34 56 7B 7D"), dropVersion, false},
		{unhex(t, "02 1A 2B 07 00"), dropUnknownType, false},
		{unhex(t, "02 3C 4D 02 B8 27 EB FF FE 12 34"), dropLength, false},
		{unhex(t, specPushDataHeader), dropLength, false},
		{unhex(t, "02 5E 6F 05 B8 27"), dropLength, false},
		{datagram(t, specPushDataHeader, `{"rxpk":[{"tmst":1,`), dropJSON, true},
		{datagram(t, specPushDataHeader, "\x00\xff\xfe garbage"), dropJSON, true},
		{unhex(t, specPushAck), dropUnexpected, false},
		{unhex(t, specPullAck), dropUnexpected, false},
		{datagram(t, specPullRespHeader, specPullRespJSON), dropUnexpected, false},
		{unhex(t, specTxAckTooLate), dropUnknownToken, false},
		{datagram(t, specTxAckOK, `{"txpk_ack":`), dropJSON, false},
		{bytes.Repeat([]byte{0xFF}, 4000), dropVersion, false},
	}
	counts := map[string]float64{}
	for i, g := range garbage {
		f.send(g.b)
		if g.acked {
			f.expect(time.Second, unhex(t, specPushAck))
		}
		counts[g.reason]++
		// A good datagram after every bad one is still served.
		f.send(good)
		f.expect(time.Second, unhex(t, specPushAck))
		if u := s.rec.next(t); u.RXPK.Tmst != 3512348611 {
			t.Fatalf("after garbage %d: uplink %+v", i, u.RXPK)
		}
	}
	for reason, n := range counts {
		waitMetric(t, s.reg, "hexfield_semtech_dropped_total", reason, n)
	}
	// Nothing else came back for the garbage.
	if b, err := f.tryRecv(50 * time.Millisecond); err == nil {
		t.Errorf("unexpected reply % X", b)
	}
}

// TestServerDownlinkAddressFromPullData: downlinks go to the PULL_DATA
// source, never to where PUSH_DATA or TX_ACK came from (spec §8.5).
func TestServerDownlinkAddressFromPullData(t *testing.T) {
	s := startServer(t, ServerConfig{TxAckTimeout: 2 * time.Second})
	up := newRawForwarder(t, s.Addr())
	down := newRawForwarder(t, s.Addr())

	up.send(datagram(t, specPushDataHeader, specUplinkJSON))
	up.expect(time.Second, unhex(t, specPushAck))
	if _, err := s.Send(context.Background(), specEUI, specBeaconTXPK(t)); !errors.Is(err, ErrUnknownGateway) {
		t.Fatalf("Send before PULL_DATA: %v", err)
	}
	down.send(unhex(t, specPullData))
	down.expect(time.Second, unhex(t, specPullAck))
	// A later PUSH_DATA from the up socket must not move the address.
	up.send(datagram(t, specPushDataHeader, specUplinkJSON))
	up.expect(time.Second, unhex(t, specPushAck))

	type result struct {
		r   TxResult
		err error
	}
	res := make(chan result, 1)
	go func() {
		r, err := s.Send(context.Background(), specEUI, specBeaconTXPK(t))
		res <- result{r, err}
	}()
	b := down.recv(2 * time.Second)
	var pr PullResp
	if err := pr.UnmarshalBinary(b); err != nil || pr.Version != 2 {
		t.Fatalf("PULL_RESP % X: %v", b, err)
	}
	if !equalTXPK(pr.TXPK, specBeaconTXPK(t)) {
		t.Errorf("txpk %+v", pr.TXPK)
	}
	if b, err := up.tryRecv(50 * time.Millisecond); err == nil {
		t.Fatalf("up socket got % X", b)
	}
	// A TX_ACK from another socket, even with the right token and EUI, is
	// dropped: forwarders answer from the socket the PULL_RESP reached.
	other := newRawForwarder(t, s.Addr())
	ack, _ := (&TxAck{Version: 2, Token: pr.Token, EUI: specEUI, Status: TxPowerWarning(14)}).MarshalBinary()
	other.send(ack)
	waitMetric(t, s.reg, "hexfield_semtech_dropped_total", dropTxAckAddress, 1)
	down.send(ack)
	r := <-res
	if r.err != nil || !r.r.Accepted() || !r.r.Acked || r.r.PowerDBm != 14 {
		t.Fatalf("Send = %+v, %v", r.r, r.err)
	}
	gw, ok := s.Gateway(specEUI)
	if !ok || gw.Addr.String() != down.conn.LocalAddr().String() || !gw.Online || gw.Version != 2 {
		t.Errorf("gateway %+v", gw)
	}
}

func equalTXPK(a, b TXPK) bool {
	ea, err1 := a.MarshalJSON()
	eb, err2 := b.MarshalJSON()
	return err1 == nil && err2 == nil && bytes.Equal(ea, eb)
}

// TestServerTxAckTimeout: a forwarder that never answers (as after a
// malformed txpk) makes Send fail after the configured timeout; a late
// TX_ACK is then dropped as unknown.
func TestServerTxAckTimeout(t *testing.T) {
	s := startServer(t, ServerConfig{TxAckTimeout: 150 * time.Millisecond})
	f := newRawForwarder(t, s.Addr())
	f.send(unhex(t, specPullData))
	f.expect(time.Second, unhex(t, specPullAck))
	_, err := s.Send(context.Background(), specEUI, specBeaconTXPK(t))
	if !errors.Is(err, ErrTxAckTimeout) {
		t.Fatalf("Send = %v, want timeout", err)
	}
	var pr PullResp
	if err := pr.UnmarshalBinary(f.recv(time.Second)); err != nil {
		t.Fatal(err)
	}
	ack, _ := (&TxAck{Version: 2, Token: pr.Token, EUI: specEUI}).MarshalBinary()
	f.send(ack)
	waitMetric(t, s.reg, "hexfield_semtech_dropped_total", dropUnknownToken, 1)
	waitMetric(t, s.reg, "hexfield_semtech_downlinks_total", "timeout", 1)

	// Context cancellation ends the wait early.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Send(ctx, specEUI, specBeaconTXPK(t)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Send = %v", err)
	}
	// An unencodable txpk fails before anything is sent.
	if _, err := s.Send(context.Background(), specEUI, TXPK{}); !errors.Is(err, ErrInvalidJSON) {
		t.Errorf("empty txpk Send = %v", err)
	}
}

// TestServerTxAckForeignEUI: a TX_ACK with the right token but another EUI
// does not complete a Send; the real one does.
func TestServerTxAckForeignEUI(t *testing.T) {
	s := startServer(t, ServerConfig{TxAckTimeout: 10 * time.Second})
	f := newRawForwarder(t, s.Addr())
	f.send(unhex(t, specPullData))
	f.expect(time.Second, unhex(t, specPullAck))
	go func() {
		var pr PullResp
		b, err := f.tryRecv(5 * time.Second)
		if err != nil || pr.UnmarshalBinary(b) != nil {
			return
		}
		foreign, _ := (&TxAck{Version: 2, Token: pr.Token, EUI: EUI{1}, Status: TxStatusError(TxTooLate)}).MarshalBinary()
		f.conn.WriteTo(foreign, f.server)
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if metric(t, s.reg, "hexfield_semtech_dropped_total", dropEUIMismatch) == 1 {
				break
			}
		}
		real, _ := (&TxAck{Version: 2, Token: pr.Token, EUI: specEUI, Status: TxPowerWarning(12)}).MarshalBinary()
		f.conn.WriteTo(real, f.server)
	}()
	r, err := s.Send(context.Background(), specEUI, specBeaconTXPK(t))
	if err != nil || !r.Accepted() || r.PowerDBm != 12 {
		t.Fatalf("Send = %+v, %v", r, err)
	}
}

// TestServerVersion1 plays a version 1 forwarder: answers are version 1,
// the PULL_RESP token is zero, and Send does not wait for a TX_ACK.
func TestServerVersion1(t *testing.T) {
	s := startServer(t, ServerConfig{TxAckTimeout: time.Minute})
	f := newRawForwarder(t, s.Addr())
	f.send(unhex(t, "01 3C 4D 02 B8 27 EB FF FE 12 34 56"))
	f.expect(time.Second, unhex(t, "01 3C 4D 04"))
	start := time.Now()
	r, err := s.Send(context.Background(), specEUI, specBeaconTXPK(t))
	if err != nil || r.Acked || !r.Accepted() || r.PowerDBm != 10 {
		t.Fatalf("Send = %+v, %v", r, err)
	}
	if time.Since(start) > 10*time.Second {
		t.Error("Send waited for a TX_ACK")
	}
	want := append(unhex(t, "01 00 00 03"), specPullRespJSON...)
	f.expect(time.Second, want)
	waitMetric(t, s.reg, "hexfield_semtech_downlinks_total", "unacked", 1)
}

// fakeClock is a settable ServerConfig.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestServerGatewayLiveness: 60 s without PULL_DATA and the forwarder is
// gone; its next PULL_DATA brings it back.
func TestServerGatewayLiveness(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := startServer(t, ServerConfig{Now: clock.Now, TxAckTimeout: 100 * time.Millisecond})
	f := newRawForwarder(t, s.Addr())
	f.send(unhex(t, specPullData))
	f.expect(time.Second, unhex(t, specPullAck))
	if gws := s.Gateways(); len(gws) != 1 || !gws[0].Online || !gws[0].LastPull.Equal(clock.Now()) {
		t.Fatalf("gateways %+v", gws)
	}
	clock.Add(59 * time.Second)
	if gw, _ := s.Gateway(specEUI); !gw.Online {
		t.Error("offline after 59 s")
	}
	clock.Add(2 * time.Second)
	if gw, _ := s.Gateway(specEUI); gw.Online {
		t.Error("online after 61 s")
	}
	if metric(t, s.reg, "hexfield_semtech_gateways_online", "") != 0 {
		t.Error("gauge still counts the gone forwarder")
	}
	if _, err := s.Send(context.Background(), specEUI, specBeaconTXPK(t)); !errors.Is(err, ErrGatewayGone) {
		t.Errorf("Send to gone forwarder = %v", err)
	}
	f.send(unhex(t, specPullData))
	f.expect(time.Second, unhex(t, specPullAck))
	if gw, _ := s.Gateway(specEUI); !gw.Online {
		t.Error("not back online after PULL_DATA")
	}
	if _, ok := s.Gateway(EUI{9}); ok {
		t.Error("unknown EUI reported")
	}
}

// blockingHandler holds the dispatch goroutine until released.
type blockingHandler struct {
	started chan struct{}
	release chan struct{}
	got     chan Uplink
}

func (h *blockingHandler) HandleUplink(ctx context.Context, u Uplink) {
	select {
	case h.started <- struct{}{}:
	default:
	}
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	h.got <- u
}

// TestServerQueueFull: a stuck handler neither blocks acks nor grows memory;
// the overflow is counted.
func TestServerQueueFull(t *testing.T) {
	h := &blockingHandler{started: make(chan struct{}, 1), release: make(chan struct{}), got: make(chan Uplink, 10)}
	s := startServer(t, ServerConfig{Handler: h, QueueSize: 2})
	f := newRawForwarder(t, s.Addr())
	f.send(datagram(t, specPushDataHeader, specUplinkJSON))
	f.expect(time.Second, unhex(t, specPushAck))
	<-h.started
	for range 4 {
		f.send(datagram(t, specPushDataHeader, specUplinkJSON))
		f.expect(time.Second, unhex(t, specPushAck))
	}
	// One in the handler, two queued, the rest dropped.
	waitMetric(t, s.reg, "hexfield_semtech_rxpk_dropped_total", rxpkQueueFull, 2)
	close(h.release)
	for range 3 {
		<-h.got
	}
}

func TestServerRunTwiceAndClosed(t *testing.T) {
	s, err := NewServer(ServerConfig{Handler: newRecorder()}, listenUDP(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	f := newRawForwarder(t, s.Addr())
	f.send(unhex(t, specPullData))
	f.expect(time.Second, unhex(t, specPullAck))
	if err := s.Run(ctx); err == nil {
		t.Error("second Run accepted")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	if _, err := s.Send(context.Background(), specEUI, specBeaconTXPK(t)); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Send after Run = %v", err)
	}
}

// TestServerNilAddress: a PacketConn that reports no source address (some
// in-memory implementations) gets its datagram dropped, not a panic.
func TestServerNilAddress(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := NewServer(ServerConfig{Handler: newRecorder()}, discardConn{}, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	s.handle(context.Background(), unhex(t, specPullData), nil)
	if metric(t, reg, "hexfield_semtech_dropped_total", dropNoAddress) != 1 || metric(t, reg, "hexfield_semtech_dropped_total", dropPanic) != 0 {
		t.Error("nil address not dropped cleanly")
	}
}

// TestServerMaxGateways: forwarders beyond the limit are not tracked, but
// their uplinks are still served.
func TestServerMaxGateways(t *testing.T) {
	s := startServer(t, ServerConfig{MaxGateways: 1})
	f := newRawForwarder(t, s.Addr())
	f.send(unhex(t, specPullData))
	f.expect(time.Second, unhex(t, specPullAck))
	other := unhex(t, "02 3C 4D 02 00 00 00 00 00 00 00 01")
	f.send(other)
	waitMetric(t, s.reg, "hexfield_semtech_dropped_total", dropTooManyGateways, 1)
	f.send(datagram(t, "02 1A 2B 00 00 00 00 00 00 00 00 01", specUplinkJSON))
	f.expect(time.Second, unhex(t, specPushAck))
	if u := s.rec.next(t); u.EUI != (EUI{7: 1}) {
		t.Errorf("uplink from %v", u.EUI)
	}
	if gws := s.Gateways(); len(gws) != 1 || gws[0].EUI != specEUI {
		t.Errorf("gateways %+v", gws)
	}
}

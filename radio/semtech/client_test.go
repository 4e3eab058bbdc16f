package semtech

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// scriptedRadio is a DownlinkHandler answering with a fixed status and
// recording the requests.
type scriptedRadio struct {
	mu     sync.Mutex
	status TxStatus
	got    []TXPK
}

func (r *scriptedRadio) HandleDownlink(_ context.Context, tx TXPK) TxStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, tx)
	return r.status
}

func (r *scriptedRadio) set(s TxStatus) {
	r.mu.Lock()
	r.status = s
	r.mu.Unlock()
}

func (r *scriptedRadio) requests() []TXPK {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]TXPK(nil), r.got...)
}

type testClient struct {
	*Client
	reg *prometheus.Registry
}

// startClient runs a Client with separate up and down loopback sockets.
func startClient(t testing.TB, cfg ClientConfig, server net.Addr) *testClient {
	t.Helper()
	if cfg.EUI == (EUI{}) {
		cfg.EUI = specEUI
	}
	reg := prometheus.NewRegistry()
	c, err := NewClient(cfg, listenUDP(t), listenUDP(t), server, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("client Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("client Run did not return")
		}
	})
	return &testClient{Client: c, reg: reg}
}

// waitOnline waits until the server has the client's PULL_DATA.
func waitOnline(t *testing.T, s *testServer, eui EUI) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if gw, ok := s.Gateway(eui); ok && gw.Online {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("forwarder never came online")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestClientConfig(t *testing.T) {
	addr := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1680}
	for _, cfg := range []ClientConfig{
		{},                              // no EUI
		{EUI: specEUI, Version: 3},      // bad version
		{EUI: specEUI, PushTimeout: -1}, // negative
	} {
		if _, err := NewClient(cfg, listenUDP(t), nil, addr, nil, nil); err == nil {
			t.Errorf("NewClient(%+v) accepted", cfg)
		}
	}
	if _, err := NewClient(ClientConfig{EUI: specEUI}, nil, nil, addr, nil, nil); err == nil {
		t.Error("nil socket accepted")
	}
	c := ClientConfig{EUI: specEUI}
	c.setDefaults()
	if c.Version != 2 || c.KeepaliveInterval != 10*time.Second || c.PushTimeout != 100*time.Millisecond {
		t.Errorf("defaults %+v", c)
	}
}

// TestClientServerUplinks sends rxpk and stat from a Client to a Server
// over loopback UDP.
func TestClientServerUplinks(t *testing.T) {
	s := startServer(t, ServerConfig{})
	c := startClient(t, ClientConfig{PushTimeout: 2 * time.Second}, s.Addr())
	ctx := context.Background()

	if err := c.Push(ctx, []RXPK{specUplinkRXPK(), specBeaconRXPK(t)}, nil); err != nil {
		t.Fatal(err)
	}
	u1, u2 := s.rec.next(t), s.rec.next(t)
	if u1.EUI != specEUI || !equalRXPK(u1.RXPK, specUplinkRXPK()) || !equalRXPK(u2.RXPK, specBeaconRXPK(t)) {
		t.Errorf("uplinks %+v %+v", u1.RXPK, u2.RXPK)
	}
	lati, long := 52.37, 4.89
	if err := c.Push(ctx, nil, &Stat{Lati: &lati, Long: &long, RXNb: 2, ACKR: c.Stats().ACKR()}); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-s.rec.stats:
		if *st.Lati != lati || st.RXNb != 2 || st.ACKR != 100 {
			t.Errorf("stat %+v", st)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no stat")
	}
	// Many concurrent pushes are all acknowledged by token.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() { errs <- c.Push(ctx, []RXPK{specUplinkRXPK()}, nil) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	for range 20 {
		s.rec.next(t)
	}
	st := c.Stats()
	if st.PushSent != 22 || st.PushAcked != 22 || st.ACKR() != 100 {
		t.Errorf("stats %+v", st)
	}
	waitMetric(t, c.reg, "hexfield_semtech_client_acked_total", "PUSH_DATA", 22)
}

// TestClientServerDownlinks sends downlinks from a Server to a Client and
// checks the TX_ACK results: accepted, TOO_LATE, TX_POWER warning, and a
// receive-only client.
func TestClientServerDownlinks(t *testing.T) {
	s := startServer(t, ServerConfig{TxAckTimeout: 2 * time.Second})
	radio := &scriptedRadio{}
	startClient(t, ClientConfig{Handler: radio}, s.Addr())
	waitOnline(t, s, specEUI)
	ctx := context.Background()
	tx := specBeaconTXPK(t)

	cases := []struct {
		name     string
		status   TxStatus
		accepted bool
		power    int
	}{
		{"accepted", TxStatus{}, true, 10},
		{"too late", TxStatusError(TxTooLate), false, 10},
		{"tx power warning", TxPowerWarning(14), true, 14},
		{"tx freq", TxStatusError(TxFreq), false, 10},
		{"none", TxStatusError(TxNone), true, 10},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			radio.set(c.status)
			r, err := s.Send(ctx, specEUI, tx)
			if err != nil {
				t.Fatal(err)
			}
			if r.Accepted() != c.accepted || !r.Acked || r.PowerDBm != c.power || r.Status.Error != c.status.Error || r.Status.Warn != c.status.Warn {
				t.Errorf("result %+v", r)
			}
			if got := radio.requests(); len(got) != i+1 || !equalTXPK(got[i], tx) {
				t.Errorf("radio got %+v", got)
			}
		})
	}
	if c := cases[1]; !c.status.Error.Retryable() {
		t.Error("TOO_LATE not retryable")
	}
	waitMetric(t, s.reg, "hexfield_semtech_downlinks_total", "ok", 3)
	waitMetric(t, s.reg, "hexfield_semtech_downlinks_total", "too_late", 1)
	waitMetric(t, s.reg, "hexfield_semtech_downlinks_total", "tx_freq", 1)

	// Concurrent downlinks are matched by token.
	radio.set(TxStatus{})
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if r, err := s.Send(ctx, specEUI, tx); err != nil || !r.Accepted() {
				t.Errorf("concurrent Send = %+v, %v", r, err)
			}
		})
	}
	wg.Wait()
}

func TestClientReceiveOnly(t *testing.T) {
	s := startServer(t, ServerConfig{TxAckTimeout: 2 * time.Second})
	startClient(t, ClientConfig{}, s.Addr())
	waitOnline(t, s, specEUI)
	r, err := s.Send(context.Background(), specEUI, specBeaconTXPK(t))
	if err != nil || r.Accepted() || r.Status.Error != TxFreq {
		t.Errorf("Send to receive-only client = %+v, %v", r, err)
	}
}

// TestClientVersion1 runs a version 1 client: the server answers in
// version 1, does not wait for TX_ACK, and the client sends none.
func TestClientVersion1(t *testing.T) {
	s := startServer(t, ServerConfig{TxAckTimeout: time.Minute})
	radio := &scriptedRadio{status: TxStatusError(TxTooLate)}
	c := startClient(t, ClientConfig{Version: 1, Handler: radio, PushTimeout: 2 * time.Second}, s.Addr())
	waitOnline(t, s, specEUI)
	if gw, _ := s.Gateway(specEUI); gw.Version != 1 {
		t.Errorf("gateway version %d", gw.Version)
	}
	if err := c.Push(context.Background(), []RXPK{specUplinkRXPK()}, nil); err != nil {
		t.Fatal(err)
	}
	s.rec.next(t)
	r, err := s.Send(context.Background(), specEUI, specBeaconTXPK(t))
	if err != nil || r.Acked || !r.Accepted() {
		t.Fatalf("Send = %+v, %v", r, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(radio.requests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(radio.requests()) != 1 {
		t.Fatal("version 1 client did not get the downlink")
	}
	time.Sleep(50 * time.Millisecond)
	if v := metric(t, s.reg, "hexfield_semtech_datagrams_total", "TX_ACK"); v != 0 {
		t.Errorf("version 1 client sent %v TX_ACK", v)
	}
	if v := metric(t, c.reg, "hexfield_semtech_client_sent_total", "TX_ACK"); v != 0 {
		t.Errorf("client counted %v TX_ACK", v)
	}
}

// rawServer is the test playing a network server byte by byte.
type rawServer struct {
	*rawForwarder
}

// TestClientAgainstRawServer checks the client's datagrams and its handling
// of garbage and malformed PULL_RESP (no TX_ACK, as lora_pkt_fwd).
func TestClientAgainstRawServer(t *testing.T) {
	srv := rawServer{newRawForwarder(t, nil)}
	radio := &scriptedRadio{}
	reg := prometheus.NewRegistry()
	down := listenUDP(t)
	c, err := NewClient(ClientConfig{EUI: specEUI, KeepaliveInterval: time.Hour, PushTimeout: 100 * time.Millisecond, Handler: radio}, listenUDP(t), down, srv.conn.LocalAddr(), nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()

	// The first PULL_DATA comes at once from the down socket.
	buf := make([]byte, 2048)
	srv.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, from, err := srv.conn.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	var pd PullData
	if err := pd.UnmarshalBinary(buf[:n]); err != nil || pd.EUI != specEUI || pd.Version != 2 {
		t.Fatalf("PULL_DATA % X: %v", buf[:n], err)
	}
	if from.String() != down.LocalAddr().String() {
		t.Errorf("PULL_DATA from %v, want down socket %v", from, down.LocalAddr())
	}
	reply := func(b []byte) {
		if _, err := srv.conn.WriteTo(b, from); err != nil {
			t.Fatal(err)
		}
	}
	ack, _ := (&PullAck{Version: 2, Token: pd.Token}).MarshalBinary()
	reply(ack)

	// No PUSH_ACK: Push reports it.
	if err := c.Push(ctx, []RXPK{specUplinkRXPK()}, nil); !errors.Is(err, ErrNoPushAck) {
		t.Errorf("Push without ack = %v", err)
	}
	b := srv.recv(time.Second)
	var pushed PushData
	if err := pushed.UnmarshalBinary(b); err != nil || len(pushed.RXPK) != 1 {
		t.Fatalf("PUSH_DATA % X: %v", b, err)
	}

	// Garbage and a malformed txpk: no TX_ACK, counted, client keeps going.
	reply([]byte{0xFF})
	reply(unhex(t, "02 00 00 03 7B"))
	reply(datagram(t, specPullRespHeader, `{"txpk":{"imme":true,"freq":867.9}}`))
	reply(unhex(t, specPullData))
	if b, err := srv.tryRecv(100 * time.Millisecond); err == nil {
		t.Fatalf("client answered garbage with % X", b)
	}
	// A good PULL_RESP gets the TX_ACK with its token, from the down socket.
	reply(datagram(t, specPullRespHeader, specPullRespJSON))
	srv.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, from2, err := srv.conn.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := buf[:n], unhex(t, specTxAckOK); string(got) != string(want) || from2.String() != from.String() {
		t.Errorf("TX_ACK % X from %v, want % X from %v", got, from2, want, from)
	}
	if len(radio.requests()) != 1 {
		t.Errorf("radio got %d requests", len(radio.requests()))
	}
	for reason, n := range map[string]float64{dropTooShort: 1, dropJSON: 2, dropUnexpected: 1} {
		waitMetric(t, reg, "hexfield_semtech_client_dropped_total", reason, n)
	}
	if st := c.Stats(); st.PullAcked != 1 || st.PushSent != 1 || st.PushAcked != 0 || st.LastPullAck.IsZero() || st.Downlinks != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestClientKeepalive: PULL_DATA every interval, each acknowledged.
func TestClientKeepalive(t *testing.T) {
	s := startServer(t, ServerConfig{})
	c := startClient(t, ClientConfig{KeepaliveInterval: 20 * time.Millisecond}, s.Addr())
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats().PullAcked < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", c.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := metric(t, s.reg, "hexfield_semtech_datagrams_total", "PULL_DATA"); n < 4 {
		t.Errorf("server saw %v PULL_DATA", n)
	}
}

// TestClientSingleSocket uses one socket for up and down.
func TestClientSingleSocket(t *testing.T) {
	s := startServer(t, ServerConfig{TxAckTimeout: 2 * time.Second})
	radio := &scriptedRadio{}
	c, err := NewClient(ClientConfig{EUI: specEUI, Handler: radio, PushTimeout: 2 * time.Second}, listenUDP(t), nil, s.Addr(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitOnline(t, s, specEUI)
	if err := c.Push(ctx, []RXPK{specUplinkRXPK()}, nil); err != nil {
		t.Fatal(err)
	}
	s.rec.next(t)
	if r, err := s.Send(ctx, specEUI, specBeaconTXPK(t)); err != nil || !r.Accepted() {
		t.Errorf("Send = %+v, %v", r, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

// TestClientStatReports: with StatInterval set the client pushes stat
// objects with the interval's counters and its position.
func TestClientStatReports(t *testing.T) {
	s := startServer(t, ServerConfig{TxAckTimeout: 2 * time.Second})
	radio := &scriptedRadio{}
	c := startClient(t, ClientConfig{Handler: radio, StatInterval: 100 * time.Millisecond, PushTimeout: 2 * time.Second,
		Position: &Position{Lat: 52.37, Lng: 4.89, AltM: 3}}, s.Addr())
	waitOnline(t, s, specEUI)
	bad := specUplinkRXPK()
	bad.Stat = -1
	if err := c.Push(context.Background(), []RXPK{specUplinkRXPK(), bad}, nil); err != nil {
		t.Fatal(err)
	}
	s.rec.next(t)
	if r, err := s.Send(context.Background(), specEUI, specBeaconTXPK(t)); err != nil || !r.Accepted() {
		t.Fatalf("Send = %+v, %v", r, err)
	}
	// Reports arrive every interval; find one covering the traffic above.
	deadline := time.After(5 * time.Second)
	var sum Stat
	for sum.RXNb < 2 || sum.TXNb < 1 {
		select {
		case st := <-s.rec.stats:
			if st.Lati == nil || *st.Lati != 52.37 || *st.Long != 4.89 || *st.Alti != 3 || st.Time.IsZero() {
				t.Fatalf("stat %+v", st)
			}
			sum.RXNb += st.RXNb
			sum.RXOk += st.RXOk
			sum.DWNb += st.DWNb
			sum.TXNb += st.TXNb
		case <-deadline:
			t.Fatalf("stats so far %+v", sum)
		}
	}
	if sum.RXNb != 2 || sum.RXOk != 1 || sum.DWNb != 1 || sum.TXNb != 1 {
		t.Errorf("summed stats %+v", sum)
	}
}

// laterRadio is a DownlinkRelayer: it answers each downlink from another
// goroutine after the handler returned, twice (the second answer must be
// ignored), or never when the request's power is 0.
type laterRadio struct {
	scriptedRadio
	wg sync.WaitGroup
}

func (r *laterRadio) RelayDownlink(_ context.Context, tx TXPK, ack func(TxStatus)) {
	r.mu.Lock()
	r.got = append(r.got, tx)
	st := r.status
	r.mu.Unlock()
	if tx.Powe == 0 {
		return
	}
	r.wg.Go(func() {
		time.Sleep(10 * time.Millisecond)
		ack(st)
		ack(TxStatusError(TxCollisionPacket))
	})
}

// TestClientRelayDownlink: a handler implementing DownlinkRelayer answers
// later, its first answer is the TX_ACK under the PULL_RESP's token, and
// one that never answers gets no TX_ACK at all.
func TestClientRelayDownlink(t *testing.T) {
	s := startServer(t, ServerConfig{TxAckTimeout: 500 * time.Millisecond})
	radio := &laterRadio{}
	startClient(t, ClientConfig{Handler: radio}, s.Addr())
	waitOnline(t, s, specEUI)
	t.Cleanup(radio.wg.Wait)
	tx := specBeaconTXPK(t)
	for _, st := range []TxStatus{TxStatusError(TxTooLate), {}, TxPowerWarning(14)} {
		radio.set(st)
		r, err := s.Send(context.Background(), specEUI, tx)
		if err != nil || !r.Acked || r.Status.Error != st.Error || r.Status.Warn != st.Warn {
			t.Fatalf("Send = %+v, %v; want %v", r, err, st)
		}
	}
	tx.Powe = 0
	if _, err := s.Send(context.Background(), specEUI, tx); !errors.Is(err, ErrTxAckTimeout) {
		t.Fatalf("unanswered relay: Send err = %v, want ErrTxAckTimeout", err)
	}
	if n := len(radio.requests()); n != 4 {
		t.Fatalf("relayer saw %d downlinks", n)
	}
}

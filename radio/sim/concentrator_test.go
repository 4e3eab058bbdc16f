package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/radio/semtech"
)

// lns is a semtech.Handler and StatHandler that records what the server
// passes up.
type lns struct {
	uplinks chan semtech.Uplink
	stats   chan semtech.Stat
}

func (l *lns) HandleUplink(_ context.Context, u semtech.Uplink) {
	select {
	case l.uplinks <- u:
	default:
	}
}

func (l *lns) HandleStat(_ context.Context, _ semtech.EUI, s semtech.Stat) {
	select {
	case l.stats <- s:
	default:
	}
}

// listener is what startServer and startConcentrator bind sockets with:
// real loopback UDP, or a PacketNetwork under synctest.
type listenFunc func(address string) (net.PacketConn, error)

func udp(address string) (net.PacketConn, error) { return net.ListenPacket("udp", address) }

// startServer runs a semtech.Server on a loopback socket until the test
// ends.
func startServer(t *testing.T, listen listenFunc, cfg semtech.ServerConfig) (*semtech.Server, *lns) {
	t.Helper()
	conn, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &lns{uplinks: make(chan semtech.Uplink, 64), stats: make(chan semtech.Stat, 64)}
	cfg.Handler = h
	srv, err := semtech.NewServer(cfg, conn, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runUntilCleanup(t, srv.Run)
	return srv, h
}

// runUntilCleanup runs f until the test ends, then cancels it and checks
// it returned nil.
func runUntilCleanup(t *testing.T, f func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
}

// startConcentrator attaches a gateway radio at (north, east) metres and
// runs a concentrator for it against srv.
func startConcentrator(t *testing.T, listen listenFunc, m *Medium, srv net.Addr, name string, north, east float64, cfg ConcentratorConfig) *Concentrator {
	t.Helper()
	lat, lng := at(north, east)
	r, err := m.Attach(RadioConfig{Name: name, Lat: lat, Lng: lng, Elevation: 10, Gain: 3})
	if err != nil {
		t.Fatal(err)
	}
	up, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewConcentrator(cfg, r, up, down, srv, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runUntilCleanup(t, c.Run)
	return c
}

// waitOnline waits until the server has the gateway's PULL_DATA (the
// deadline, like the others here, is generous: it only bounds a failure).
func waitOnline(t *testing.T, srv *semtech.Server, eui semtech.EUI) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if gw, ok := srv.Gateway(eui); ok && gw.Online {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("gateway %v never sent PULL_DATA", eui)
}

func nextUplink(t *testing.T, h *lns) semtech.Uplink {
	t.Helper()
	select {
	case u := <-h.uplinks:
		return u
	case <-time.After(time.Minute):
		t.Fatal("no uplink reached the server")
	}
	return semtech.Uplink{}
}

func realMedium(t *testing.T, cfg MediumConfig) *Medium {
	t.Helper()
	m, err := NewMedium(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func TestConcentratorUplinkOverUDP(t *testing.T) {
	m := realMedium(t, MediumConfig{Seed: 1})
	srv, h := startServer(t, udp, semtech.ServerConfig{})
	gw := startConcentrator(t, udp, m, srv.Addr(), "gw", 0, 0, ConcentratorConfig{GPS: true})
	var rec recorder
	gw.Radio().Listen(rec.add)

	lat, lng := at(800, 300)
	dev, err := NewDevice(m, DeviceConfig{Radio: RadioConfig{Name: "sensor", Lat: lat, Lng: lng}, DataRate: sf9})
	if err != nil {
		t.Fatal(err)
	}
	frame := []byte{0x40, 0xda, 0x1b, 0x01, 0x26, 0x00, 0x01, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0xa1, 0xb2, 0xc3, 0xd4}
	sent, err := dev.Send(frame)
	if err != nil {
		t.Fatal(err)
	}
	u := nextUplink(t, h)
	got := rec.all()
	if len(got) != 1 {
		t.Fatalf("radio heard %d frames", len(got))
	}
	r := got[0]
	p := u.RXPK
	switch {
	case u.EUI != gw.EUI():
		t.Errorf("uplink from %v, want %v", u.EUI, gw.EUI())
	case string(p.Data) != string(frame) || p.Freq != 867_100_000 || u.DataRate != sf9 || p.Stat != 1 || p.CodR != "4/5":
		t.Errorf("rxpk %+v does not describe the frame", p)
	case p.Tmst != r.Tmst || p.Tmst != gw.Radio().Counter(sent.End):
		t.Errorf("tmst %d, want the counter at the end of the frame %d", p.Tmst, r.Tmst)
	case float64(p.RSSI) != math.Round(float64(r.RSSI)) || p.RSSIS == nil || float64(*p.RSSIS) != math.Round(float64(r.RSSIS)):
		t.Errorf("rssi %v rssis %v, want %v and %v rounded", p.RSSI, p.RSSIS, r.RSSI, r.RSSIS)
	case abs(float64(p.LSNR)-float64(r.SNR)) > 0.05:
		t.Errorf("lsnr %v, want %v", p.LSNR, r.SNR)
	case !p.Time.Equal(sent.End.UTC().Truncate(time.Microsecond)) || p.Tmms == nil:
		t.Errorf("GPS time %v tmms %v, want %v", p.Time, p.Tmms, sent.End)
	case p.Chan != 0:
		t.Errorf("chan %d, want 0 (867.1 MHz is the first EU868 channel)", p.Chan)
	}
	eventually(t, func() bool {
		st := gw.Stats()
		return st.Received == 1 && st.Forwarded == 1 && st.PushAcked == 1
	}, func() string { return fmt.Sprintf("concentrator stats %+v", gw.Stats()) })
}

// TestBeaconThroughPullResp sends a frame through one concentrator's
// PULL_RESP and checks that another concentrator hears it and forwards it
// to the same server, as a witness of a beacon would.
func TestBeaconThroughPullResp(t *testing.T) {
	m := realMedium(t, MediumConfig{Seed: 2})
	srv, h := startServer(t, udp, semtech.ServerConfig{})
	beaconer := startConcentrator(t, udp, m, srv.Addr(), "beaconer", 0, 0, ConcentratorConfig{})
	witness := startConcentrator(t, udp, m, srv.Addr(), "witness", 1500, 600, ConcentratorConfig{})
	waitOnline(t, srv, beaconer.EUI())

	reg, err := radio.LookupRegion("EU868")
	if err != nil {
		t.Fatal(err)
	}
	var pub [32]byte
	b, err := radio.NewBeacon(reg, [32]byte{1}, 1_700_000_000, pub, [16]byte{2}, 60)
	if err != nil {
		t.Fatal(err)
	}
	frame := radio.BeaconFrame(b.Payload)
	res, err := srv.Send(context.Background(), beaconer.EUI(), semtech.TXPK{
		Imme: true, Freq: b.Frequency, Powe: b.PowerDBm, Modu: "LORA",
		DatR: semtech.DatRFor(b.DataRate), CodR: "4/5", Data: frame,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Accepted() || !res.Acked || res.PowerDBm != b.PowerDBm || !res.Status.IsZero() {
		t.Fatalf("beacon TX result %+v", res)
	}
	u := nextUplink(t, h)
	if u.EUI != witness.EUI() || string(u.RXPK.Data) != string(frame) || u.RXPK.Freq != b.Frequency || u.DataRate != b.DataRate {
		t.Fatalf("witness uplink %+v", u)
	}
	// The beacon was sent at the prescribed power from a 3 dBi antenna:
	// the witness's signal follows the link budget.
	want := m.Link(beaconer.Radio(), witness.Radio(), b.Frequency, radio.DBm(b.PowerDBm)).Signal
	if d := float64(*u.RXPK.RSSIS - want); d > 7 || d < -7 {
		t.Errorf("witness rssis %v, link budget %v (fading is at most 3σ = 6 dB)", *u.RXPK.RSSIS, want)
	}
	if parsed, ok := radio.ParseBeaconFrame(u.RXPK.Data); !ok || parsed != b.Payload {
		t.Error("witness did not get the beacon payload")
	}
	select {
	case u := <-h.uplinks:
		t.Errorf("unexpected second uplink from %v (a radio must not hear itself)", u.EUI)
	case <-time.After(50 * time.Millisecond):
	}
	if st := beaconer.Stats(); st.Emitted != 1 || st.Downlinks != 1 {
		t.Errorf("beaconer stats %+v", st)
	}
}

// TestClassADownlink answers an uplink in RX1 (tmst + 1 s) with an
// inverted-IQ downlink the device hears at exactly that time.
func TestClassADownlink(t *testing.T) {
	m := realMedium(t, MediumConfig{Seed: 3})
	srv, h := startServer(t, udp, semtech.ServerConfig{})
	gw := startConcentrator(t, udp, m, srv.Addr(), "gw", 0, 0, ConcentratorConfig{})
	waitOnline(t, srv, gw.EUI())
	lat, lng := at(-700, 0)
	dev, err := NewDevice(m, DeviceConfig{Radio: RadioConfig{Name: "sensor", Lat: lat, Lng: lng}})
	if err != nil {
		t.Fatal(err)
	}
	sent, err := dev.Send([]byte("uplink"))
	if err != nil {
		t.Fatal(err)
	}
	u := nextUplink(t, h)
	res, err := srv.Send(context.Background(), gw.EUI(), semtech.TXPK{
		Tmst: u.RXPK.Tmst + 1_000_000, Freq: u.RXPK.Freq, Powe: 14, Modu: "LORA",
		DatR: u.RXPK.DatR, CodR: "4/5", IPol: true, Data: []byte("downlink"),
	})
	if err != nil || !res.Accepted() {
		t.Fatalf("RX1 downlink: %+v %v", res, err)
	}
	select {
	case r := <-dev.Receptions():
		if string(r.Payload) != "downlink" || !r.InvertIQ {
			t.Fatalf("device heard %+v", r)
		}
		// Scheduled at the end of the uplink + 1 s; the real clock's timer
		// may fire a little late, never early.
		// (Generous bound for loaded machines; RX2 would be 1 s later.)
		if late := r.Start.Sub(sent.End.Add(time.Second)); late < 0 || late > 500*time.Millisecond {
			t.Errorf("downlink started %v after RX1 opened", late)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("device heard no downlink")
	}
	select {
	case u := <-h.uplinks:
		t.Errorf("gateway forwarded an inverted-IQ frame: %+v", u)
	default:
	}
}

// txAckRig is a server with two concentrators on the in-memory packet
// network: one with a power table and antenna gain, one with GPS. It runs
// inside a synctest bubble, so TX_ACK deadlines and JIT slots are virtual
// time and no case depends on the machine's speed.
type txAckRig struct {
	m         *Medium
	srv       *semtech.Server
	gw, gpsGW *Concentrator
}

func newTxAckRig(t *testing.T, seed uint64) *txAckRig {
	t.Helper()
	pn := NewPacketNetwork()
	m := realMedium(t, MediumConfig{Seed: seed})
	srv, _ := startServer(t, pn.ListenPacket, semtech.ServerConfig{TxAckTimeout: 300 * time.Millisecond})
	gw := startConcentrator(t, pn.ListenPacket, m, srv.Addr(), "gw", 0, 0, ConcentratorConfig{TxPowers: []int{12, 14, 16, 20, 27}, AntennaGain: 2})
	gpsGW := startConcentrator(t, pn.ListenPacket, m, srv.Addr(), "gps", 100, 0, ConcentratorConfig{GPS: true})
	waitOnline(t, srv, gw.EUI())
	waitOnline(t, srv, gpsGW.EUI())
	return &txAckRig{m: m, srv: srv, gw: gw, gpsGW: gpsGW}
}

// base is an immediate SF9 downlink the gateway accepts as it is.
func (r *txAckRig) base() semtech.TXPK {
	return semtech.TXPK{Imme: true, Freq: 869_525_000, Powe: 16, Modu: "LORA", DatR: semtech.DatRFor(sf9), CodR: "4/5", IPol: true, Data: []byte{1, 2, 3}}
}

func TestTxAckErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newTxAckRig(t, 4)
		m, gw, gpsGW := r.m, r.gw, r.gpsGW
		counter := func(ahead time.Duration) uint32 {
			return gw.Radio().Counter(m.Clock().Now().Add(ahead))
		}
		// One absolute slot for the two cases that must collide.
		slot := m.Clock().Now().Add(4 * time.Second)
		counterAt := func(t time.Time) uint32 { return gw.Radio().Counter(t) }
		gps := func() *uint64 {
			v := uint64(m.Clock().Now().Add(time.Second+gpsLeap).Sub(gpsEpoch()) / time.Millisecond)
			return &v
		}
		tests := []struct {
			name  string
			gw    *Concentrator
			edit  func(*semtech.TXPK)
			want  semtech.TxStatus
			power int
		}{
			{"accepted", gw, func(p *semtech.TXPK) {}, semtech.TxStatus{}, 16},
			{"tmst already passed", gw, func(p *semtech.TXPK) { p.Imme, p.Tmst = false, counter(-time.Second) }, semtech.TxStatusError(semtech.TxTooLate), 0},
			{"tmst 10 ms ahead", gw, func(p *semtech.TXPK) { p.Imme, p.Tmst = false, counter(10*time.Millisecond) }, semtech.TxStatusError(semtech.TxTooLate), 0},
			{"tmst 10 min ahead", gw, func(p *semtech.TXPK) { p.Imme, p.Tmst = false, counter(10*time.Minute) }, semtech.TxStatusError(semtech.TxTooEarly), 0},
			{"tmst seconds ahead", gw, func(p *semtech.TXPK) { p.Imme, p.Tmst = false, counterAt(slot) }, semtech.TxStatus{}, 16},
			{"same slot again", gw, func(p *semtech.TXPK) { p.Imme, p.Tmst = false, counterAt(slot.Add(20*time.Millisecond)) }, semtech.TxStatusError(semtech.TxCollisionPacket), 0},
			{"frequency outside EU868", gw, func(p *semtech.TXPK) { p.Freq = 915_000_000 }, semtech.TxStatusError(semtech.TxFreq), 0},
			{"disabled RF chain", gw, func(p *semtech.TXPK) { p.RFCh = 1 }, semtech.TxStatusError(semtech.TxFreq), 0},
			{"power above table", gw, func(p *semtech.TXPK) { p.Powe = 33 }, semtech.TxPowerWarning(27), 27},
			{"power between entries", gw, func(p *semtech.TXPK) { p.Powe = 20 }, semtech.TxPowerWarning(16), 16},
			{"power below table", gw, func(p *semtech.TXPK) { p.Powe = 5 }, semtech.TxPowerWarning(12), 12},
			{"tmms without GPS", gw, func(p *semtech.TXPK) { p.Imme, p.Tmms = false, gps() }, semtech.TxStatusError(semtech.TxGPSUnlocked), 0},
			{"tmms with GPS", gpsGW, func(p *semtech.TXPK) { p.Imme, p.Tmms = false, gps() }, semtech.TxStatus{}, 16},
		}
		// T.Run is not allowed inside a bubble: the cases run in order,
		// each error named by its case.
		for _, tt := range tests {
			p := r.base()
			tt.edit(&p)
			res, err := r.srv.Send(context.Background(), tt.gw.EUI(), p)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if res.Status.String() != tt.want.String() {
				t.Errorf("%s: TX_ACK %v, want %v", tt.name, res.Status, tt.want)
			}
			if tt.want.Accepted() && res.PowerDBm != tt.power {
				t.Errorf("%s: power used %d, want %d", tt.name, res.PowerDBm, tt.power)
			}
			if st := tt.gw.Stats(); st.LastTxAck.String() != tt.want.String() {
				t.Errorf("%s: concentrator recorded %v", tt.name, st.LastTxAck)
			}
		}
	})
}

// TestTxImmediateFramesQueueBackToBack sends three immediate frames in a
// row: the JIT queue puts each after the previous one's end with the
// concentrator's pre-TX and margin delays.
func TestTxImmediateFramesQueueBackToBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newTxAckRig(t, 4)
		var heard recorder
		lat, lng := at(-200, 0)
		ear, err := r.m.Attach(RadioConfig{Name: "ear", Lat: lat, Lng: lng})
		if err != nil {
			t.Fatal(err)
		}
		ear.Listen(heard.add)
		p := r.base()
		p.IPol = false // so a gateway radio hears them
		p.Freq = 868_100_000
		sentAt := r.m.Clock().Now()
		for i := range 3 {
			p.Data = []byte{byte(i)}
			if res, err := r.srv.Send(context.Background(), r.gw.EUI(), p); err != nil || !res.Accepted() {
				t.Fatalf("immediate frame %d: %+v %v", i, res, err)
			}
		}
		eventually(t, func() bool { return len(heard.all()) == 3 }, func() string { return fmt.Sprintf("heard %d frames; medium %+v", len(heard.all()), r.m.Stats()) })
		got := heard.all()
		for _, f := range got {
			t.Logf("frame %v: %v – %v", f.Payload, f.Start.Sub(sentAt), f.End.Sub(sentAt))
		}
		for i := 1; i < 3; i++ {
			if gap := got[i].Start.Sub(got[i-1].End); gap < txPreDelay+txMarginDelay {
				t.Errorf("frame %d starts %v after the previous one ends; the JIT queue needs %v", i, gap, txPreDelay+txMarginDelay)
			}
		}
	})
}

// TestTxAckFaults covers a forced TX_ACK error, a dropped TX_ACK and an FSK
// request the simulated forwarder drops without a TX_ACK.
func TestTxAckFaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newTxAckRig(t, 4)
		gw := r.gw
		// A forced error.
		gw.SetFaults(Faults{TxAckError: semtech.TxCollisionBeacon})
		before := gw.Stats().Scheduled
		res, err := r.srv.Send(context.Background(), gw.EUI(), r.base())
		if err != nil || res.Status.Error != semtech.TxCollisionBeacon {
			t.Fatalf("forced error: got %+v %v, want COLLISION_BEACON", res, err)
		}
		if gw.Stats().Scheduled != before {
			t.Error("a refused downlink was scheduled")
		}
		// A dropped TX_ACK.
		gw.SetFaults(Faults{DropTxAcks: true})
		if _, err := r.srv.Send(context.Background(), gw.EUI(), r.base()); !errors.Is(err, semtech.ErrTxAckTimeout) {
			t.Fatalf("dropped TX_ACK: got %v, want a TX_ACK timeout", err)
		}
		gw.SetFaults(Faults{})
		// FSK is dropped without TX_ACK.
		p := r.base()
		p.Modu, p.DatR, p.FDev = "FSK", semtech.DatR{FSK: 50000}, 25000
		if _, err := r.srv.Send(context.Background(), gw.EUI(), p); !errors.Is(err, semtech.ErrTxAckTimeout) {
			t.Fatalf("FSK: got %v, want a TX_ACK timeout", err)
		}
		// The next good downlink is acknowledged again.
		if res, err := r.srv.Send(context.Background(), gw.EUI(), r.base()); err != nil || !res.Accepted() {
			t.Fatalf("after the FSK request: %+v %v", res, err)
		}
	})
}

func TestStatAndFaults(t *testing.T) {
	m := realMedium(t, MediumConfig{Seed: 5})
	srv, h := startServer(t, udp, semtech.ServerConfig{})
	gw := startConcentrator(t, udp, m, srv.Addr(), "gw", 0, 0, ConcentratorConfig{StatInterval: 150 * time.Millisecond, GPS: true})
	lat, lng := at(300, 0)
	dev, err := NewDevice(m, DeviceConfig{Radio: RadioConfig{Name: "sensor", Lat: lat, Lng: lng}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dev.Send([]byte("one")); err != nil {
		t.Fatal(err)
	}
	nextUplink(t, h)
	var s semtech.Stat
	for s.RXNb == 0 {
		select {
		case s = <-h.stats:
		case <-time.After(time.Minute):
			t.Fatal("no stat with the reception")
		}
	}
	wantLat, wantLng, _ := gw.Radio().Position()
	if s.RXNb != 1 || s.RXOk != 1 || s.RXFw != 1 || s.ACKR != 100 || s.Lati == nil || abs(*s.Lati-wantLat) > 1e-5 || abs(*s.Long-wantLng) > 1e-5 {
		t.Errorf("stat %+v", s)
	}

	// Without PUSH_ACKs the uplinks still arrive; ackr falls to 0.
	gw.SetFaults(Faults{DropPushAcks: true, GarbageEvery: 1})
	for i := range 6 {
		if _, err := dev.Send([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if u := nextUplink(t, h); string(u.RXPK.Data) != string([]byte{byte(i)}) {
			t.Fatalf("uplink %d: %q", i, u.RXPK.Data)
		}
		time.Sleep(150 * time.Millisecond) // let the push time out and the garbage go
	}
	deadline := time.After(time.Minute)
	for {
		select {
		case s = <-h.stats:
		case <-deadline:
			t.Fatal("no stat with ackr 0")
		}
		if s.RXNb > 0 && s.ACKR == 0 {
			break
		}
	}
	st := gw.Stats()
	if st.Garbage < 6 || st.PushAcked >= st.Pushes {
		t.Errorf("stats %+v: want ≥ 6 garbage datagrams and unacknowledged pushes", st)
	}
	// The server survived six kinds of garbage and still takes uplinks.
	gw.SetFaults(Faults{})
	if _, err := dev.Send([]byte("after")); err != nil {
		t.Fatal(err)
	}
	for {
		if u := nextUplink(t, h); string(u.RXPK.Data) == "after" {
			break
		}
	}
}

func TestConcentratorConfig(t *testing.T) {
	m := realMedium(t, MediumConfig{})
	r, err := m.Attach(RadioConfig{Name: "gw", Lat: baseLat, Lng: baseLng})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := udp("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, cfg := range []ConcentratorConfig{
		{Region: "NOWHERE"},
		{TxFreqMin: 900_000_000, TxFreqMax: 800_000_000},
		{TxPowers: []int{100}},
		{Version: 3},
		{MinLead: time.Second, MaxLead: time.Millisecond},
	} {
		if _, err := NewConcentrator(cfg, r, conn, nil, conn.LocalAddr(), nil, nil); err == nil {
			t.Errorf("NewConcentrator(%+v) succeeded", cfg)
		}
	}
	c, err := NewConcentrator(ConcentratorConfig{Region: "US915"}, r, conn, nil, conn.LocalAddr(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.Config()
	if cfg.TxFreqMin != 902_000_000 || cfg.TxFreqMax != 928_000_000 || len(cfg.Channels) != 8 || cfg.EUI == (semtech.EUI{}) {
		t.Errorf("US915 defaults %+v", cfg)
	}
}

// TestDevnetUnderSynctest runs two concentrators and a server over the
// in-memory packet network inside a synctest bubble: keepalives, stats and
// a beacon pass in virtual time, deterministically and instantly.
func TestDevnetUnderSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := NewPacketNetwork()
		m := realMedium(t, MediumConfig{Seed: 6})
		srv, h := startServer(t, pn.ListenPacket, semtech.ServerConfig{})
		a := startConcentrator(t, pn.ListenPacket, m, srv.Addr(), "a", 0, 0, ConcentratorConfig{})
		b := startConcentrator(t, pn.ListenPacket, m, srv.Addr(), "b", 2000, 0, ConcentratorConfig{})
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		var stats int
		for len(h.stats) > 0 {
			<-h.stats
			stats++
		}
		if stats != 4 { // two per concentrator in 60 s at 30 s
			t.Errorf("%d stats in a virtual minute, want 4", stats)
		}
		res, err := srv.Send(context.Background(), a.EUI(), semtech.TXPK{
			Imme: true, Freq: 867_900_000, Powe: 10, Modu: "LORA", DatR: semtech.DatRFor(sf12), CodR: "4/5", Data: make([]byte, 52),
		})
		if err != nil || !res.Accepted() {
			t.Fatalf("beacon: %+v %v", res, err)
		}
		start := time.Now()
		u := <-h.uplinks
		if u.EUI != b.EUI() {
			t.Errorf("uplink from %v, want %v", u.EUI, b.EUI())
		}
		// SF12 airtime of 52 bytes is 2.466 s (poc-rules §3), after the
		// 80 ms an immediate frame waits in the JIT queue.
		if d := time.Since(start); d != radio.Airtime(sf12, 52)+80*time.Millisecond {
			t.Errorf("beacon arrived %v after it was sent", d)
		}
	})
}

// eventually waits up to a minute for cond, then fails with msg(). The
// deadline only bounds a failing test, so it is generous for loaded
// machines.
func eventually(t *testing.T, cond func() bool, msg func() string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(msg())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestSplitter puts two concentrators behind one antenna: both forward
// every frame with identical signal values, the pattern poc-rules §12e
// (antenna_split) looks for.
func TestSplitter(t *testing.T) {
	m := realMedium(t, MediumConfig{Seed: 7})
	srv, h := startServer(t, udp, semtech.ServerConfig{})
	a := startConcentrator(t, udp, m, srv.Addr(), "a", 0, 0, ConcentratorConfig{})
	up, _ := udp("127.0.0.1:0")
	down, _ := udp("127.0.0.1:0")
	// The default EUI comes from the radio's name: a second concentrator
	// on the same radio needs its own.
	b, err := NewConcentrator(ConcentratorConfig{EUI: semtech.EUI{0xb8, 0x27, 0xeb, 0xff, 0xfe, 0, 0, 2}}, a.Radio(), up, down, srv.Addr(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runUntilCleanup(t, b.Run)
	waitOnline(t, srv, a.EUI())
	waitOnline(t, srv, b.EUI()) // both Run, so both listen
	lat, lng := at(500, 500)
	dev, err := NewDevice(m, DeviceConfig{Radio: RadioConfig{Name: "sensor", Lat: lat, Lng: lng}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dev.Send([]byte("x")); err != nil {
		t.Fatal(err)
	}
	u1, u2 := nextUplink(t, h), nextUplink(t, h)
	if u1.EUI == u2.EUI || u1.RXPK.RSSI != u2.RXPK.RSSI || *u1.RXPK.RSSIS != *u2.RXPK.RSSIS || u1.RXPK.LSNR != u2.RXPK.LSNR || u1.RXPK.Tmst != u2.RXPK.Tmst {
		t.Errorf("splitter uplinks differ: %+v vs %+v", u1.RXPK, u2.RXPK)
	}
}

func TestVersion1AndFullQueue(t *testing.T) {
	m := realMedium(t, MediumConfig{Seed: 8})
	srv, _ := startServer(t, udp, semtech.ServerConfig{})
	v1 := startConcentrator(t, udp, m, srv.Addr(), "v1", 0, 0, ConcentratorConfig{Version: semtech.Version1})
	small := startConcentrator(t, udp, m, srv.Addr(), "small", 100, 0, ConcentratorConfig{QueueSize: 2})
	waitOnline(t, srv, v1.EUI())
	waitOnline(t, srv, small.EUI())
	txpk := func(c *Concentrator, ahead time.Duration) semtech.TXPK {
		return semtech.TXPK{
			Tmst: c.Radio().Counter(m.Clock().Now().Add(ahead)), Freq: 869_525_000, Powe: 14,
			Modu: "LORA", DatR: semtech.DatRFor(sf7), CodR: "4/5", IPol: true, Data: []byte{1},
		}
	}
	// A version 1 forwarder transmits but never answers.
	res, err := srv.Send(context.Background(), v1.EUI(), txpk(v1, 200*time.Millisecond))
	if err != nil || res.Acked || !res.Accepted() {
		t.Fatalf("version 1: %+v %v", res, err)
	}
	eventually(t, func() bool { return v1.Stats().Emitted == 1 }, func() string { return fmt.Sprintf("v1 stats %+v", v1.Stats()) })

	// Two slots fill a queue of two; the third distinct slot is refused.
	for i, want := range []semtech.TxError{"", "", semtech.TxCollisionPacket} {
		res, err := srv.Send(context.Background(), small.EUI(), txpk(small, time.Duration(i+1)*time.Second))
		if err != nil || res.Status.Error != want {
			t.Fatalf("downlink %d: %+v %v, want error %q", i, res, err, want)
		}
	}
}

// FuzzDownlink feeds arbitrary transmission requests to a concentrator's
// JIT queue: it never panics, answers with a known TX_ACK value, and
// whatever it accepts goes on the air within MaxLead.
func FuzzDownlink(f *testing.F) {
	f.Add(true, uint32(0), uint64(0), false, uint64(868_100_000), 0, 14, "LORA", "SF9BW125", "4/5", true, []byte{1, 2, 3})
	f.Add(false, uint32(1_000_000), uint64(0), false, uint64(869_525_000), 0, 27, "LORA", "SF12BW125", "4/5", true, make([]byte, 52))
	f.Add(false, uint32(0), uint64(1<<53), true, uint64(867_900_000), 1, -128, "FSK", "50000", "", false, []byte{})
	f.Add(false, uint32(4_294_967_295), uint64(0), false, uint64(0), 255, 127, "LORA", "SF7BW500", "4/8", false, make([]byte, 255))
	f.Add(true, uint32(0), uint64(0), false, uint64(868_100_000), 0, 14, "LORA", "SF7BW125", "4/5", false, make([]byte, 300))
	f.Fuzz(func(t *testing.T, imme bool, tmst uint32, tmms uint64, useTmms bool, freq uint64, rfch, powe int, modu, datr, codr string, ipol bool, data []byte) {
		clk := NewManualClock(t0)
		m, err := NewMedium(MediumConfig{Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		r, err := m.Attach(RadioConfig{Name: "gw", Lat: baseLat, Lng: baseLng})
		if err != nil {
			t.Fatal(err)
		}
		pn := NewPacketNetwork()
		conn, _ := pn.ListenPacket("127.0.0.1:0")
		c, err := NewConcentrator(ConcentratorConfig{GPS: useTmms}, r, conn, nil, conn.LocalAddr(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		p := semtech.TXPK{Imme: imme, Tmst: tmst, Freq: radio.Hz(freq), RFCh: rfch, Powe: powe, Modu: modu,
			DatR: semtech.DatR{LoRa: datr}, CodR: codr, IPol: ipol, Data: data}
		if useTmms {
			p.Tmms = &tmms
		}
		st := c.downlink(p)
		switch {
		case st.IsZero(), st.Warn == semtech.TxPower && st.Value != nil:
		case !st.Accepted():
			switch st.Error {
			case semtech.TxTooLate, semtech.TxTooEarly, semtech.TxCollisionPacket, semtech.TxFreq, semtech.TxGPSUnlocked:
			default:
				t.Fatalf("unexpected TX_ACK %v", st)
			}
		default:
			t.Fatalf("unexpected TX_ACK %v", st)
		}
		clk.Advance(c.Config().MaxLead + 10*time.Second)
		s := c.Stats()
		if s.Scheduled != s.Emitted {
			t.Fatalf("scheduled %d, emitted %d", s.Scheduled, s.Emitted)
		}
		if s.Scheduled+s.Rejected+s.NoAck != 1 {
			t.Fatalf("stats %+v do not account for the request", s)
		}
	})
}

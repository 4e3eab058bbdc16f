package hotspot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/radio/semtech"
	"github.com/hexfield/hexfield/radio/sim"
	"github.com/hexfield/hexfield/wire"
)

var (
	fwJoinEUI = lorawan.EUI64{0x70, 0xb3, 0xd5, 0x7e, 0xd0, 0, 0, 1}
	fwAppKey  = lorawan.AES128Key{0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c}
	// fwCell is an H3 res-12 cell (its value only travels through meta).
	fwCell = uint64(0x8c1fb46622dd5ff)
)

const fwLat, fwLng = 52.0, 5.0

func fwDevEUI(n byte) lorawan.EUI64 { return lorawan.EUI64{0x00, 0x80, 0xe1, 0x15, 0, 0, 0, n} }

// netID1Range is every DevAddr of NetID 000001 (type 0, NwkID 1), which
// the test LNS hands out.
var netID1Range = &wire.DevAddrRange{Start: 0x02000000, End: 0x03ffffff}

// fwRoute is a route to lns for NetID 000001's DevAddrs and every device
// of fwJoinEUI (the DevEUI wildcard).
func fwRoute(id string, lns net.Addr) *wire.TableRoute {
	return &wire.TableRoute{Id: id, Lns: lns.String(), MaxCopies: 1, Active: true,
		DevaddrRanges: []*wire.DevAddrRange{netID1Range},
		EuiPairs: []*wire.EUIPairRange{{JoinEui: &wire.EUIRange{Start: 0x70b3d57ed0000001, End: 0x70b3d57ed0000001},
			DevEui: &wire.EUIRange{Start: 0, End: ^uint64(0)}}}}
}

// fwTableID is the table id of the test tables.
var fwTableID = []byte("test-route-table")

// fwTable is a full table of version v for EU868.
func fwTable(v uint64, routes ...*wire.TableRoute) *wire.RouteTable {
	return &wire.RouteTable{TableId: fwTableID, Version: v, Full: true, Region: "EU868", Routes: routes}
}

// fwSetup gives a hotspot without oracles its config (region, location)
// and a full route table of version 1, as an oracle would.
func fwSetup(t testing.TB, h *Hotspot, routes ...*wire.TableRoute) {
	t.Helper()
	h.applyConfig(wire.PublicKey{}, fwConfig())
	fwOffer(t, h, fwTable(1, routes...), tableFull)
}

// fwOffer offers a table as if an oracle had signed it, expecting want.
func fwOffer(t testing.TB, h *Hotspot, tab *wire.RouteTable, want string) {
	t.Helper()
	if err := wire.CheckRouteTable(tab); err != nil {
		t.Fatal(err)
	}
	if got := h.fwd.offer(wire.PublicKey{1}, tab); got != want {
		t.Fatalf("offer of v%d: %s, want %s", tab.Version, got, want)
	}
}

type listenFunc func(address string) (net.PacketConn, error)

func runOwned(t testing.TB, name string, f func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", name, err)
		}
	})
}

// fwHotspot is a real Hotspot whose sockets come from listen. Without
// oracles it takes its config (region, location, routes) from the test.
func fwHotspot(t testing.TB, listen listenFunc, cfg Config) (*Hotspot, *prometheus.Registry) {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.OutboxSyncInterval == 0 {
		cfg.OutboxSyncInterval = 5 * time.Millisecond
	}
	cfg.ShutdownTimeout = time.Second
	key, _ := wire.GenerateKey()
	st, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	qc, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h, err := New(cfg, Deps{Key: key, Semtech: st, QUIC: qc, Logger: testLogger(t), Registerer: reg,
		ListenLNS: func() (net.PacketConn, error) { return listen("127.0.0.1:0") }})
	if err != nil {
		t.Fatal(err)
	}
	runOwned(t, "hotspot", h.Run)
	return h, reg
}

func fwConfig() *wire.Config {
	return &wire.Config{Region: "EU868", Asserted: true, DataOnly: true, H3Cell: fwCell, Lat: fwLat, Lng: fwLng, IssuedMs: 1}
}

func fwLNS(t *testing.T, listen listenFunc, cfg sim.LNSConfig) *sim.LNS {
	t.Helper()
	conn, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := sim.NewLNS(cfg, conn, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runOwned(t, "lns", l.Run)
	return l
}

func fwMedium(t *testing.T) *sim.Medium {
	t.Helper()
	m, err := sim.NewMedium(sim.MediumConfig{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// fwConcentrator is a simulated concentrator at (fwLat, fwLng) whose
// packet forwarder talks to the hotspot.
func fwConcentrator(t *testing.T, listen listenFunc, m *sim.Medium, h *Hotspot, name string, cfg sim.ConcentratorConfig) *sim.Concentrator {
	t.Helper()
	r, err := m.Attach(sim.RadioConfig{Name: name, Lat: fwLat, Lng: fwLng, Elevation: 10, Gain: 3})
	if err != nil {
		t.Fatal(err)
	}
	up, _ := listen("127.0.0.1:0")
	down, _ := listen("127.0.0.1:0")
	c, err := sim.NewConcentrator(cfg, r, up, down, h.bridge.srv.Addr(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runOwned(t, "concentrator", c.Run)
	waitFor(t, "concentrator online", 30*time.Second, func() bool {
		g, ok := h.bridge.srv.Gateway(c.EUI())
		return ok && g.Online
	})
	return c
}

// fwSensor is a sensor 700 m north of the concentrator.
func fwSensor(t *testing.T, m *sim.Medium, name string, cfg sim.SensorConfig) *sim.Sensor {
	t.Helper()
	cfg.Device.Radio = sim.RadioConfig{Name: name, Lat: fwLat + 700/111_195.0, Lng: fwLng}
	s, err := sim.NewSensor(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func otaaSensor(t *testing.T, m *sim.Medium, l *sim.LNS, n byte, class sim.Class) *sim.Sensor {
	t.Helper()
	if err := l.AddOTAA(sim.OTAADevice{DevEUI: fwDevEUI(n), JoinEUI: fwJoinEUI, AppKey: fwAppKey, Class: class}); err != nil {
		t.Fatal(err)
	}
	return fwSensor(t, m, fmt.Sprintf("sensor-%d", n), sim.SensorConfig{DevEUI: fwDevEUI(n), JoinEUI: fwJoinEUI, AppKey: fwAppKey, Class: class})
}

func abpSensor(t *testing.T, m *sim.Medium, l *sim.LNS, n byte, addr lorawan.DevAddr) *sim.Sensor {
	t.Helper()
	nwk := lorawan.AES128Key{n, 1}
	app := lorawan.AES128Key{n, 2}
	if l != nil {
		if err := l.AddABP(sim.ABPDevice{DevEUI: fwDevEUI(n), DevAddr: addr, NwkSKey: nwk, AppSKey: app}); err != nil {
			t.Fatal(err)
		}
	}
	return fwSensor(t, m, fmt.Sprintf("abp-%d", n), sim.SensorConfig{DevEUI: fwDevEUI(n), ABP: true, DevAddr: addr, NwkSKey: nwk, AppSKey: app})
}

// packetReports decodes the packet reports waiting in the outbox.
func packetReports(t *testing.T, ob *Outbox) []*wire.PacketReport {
	t.Helper()
	var out []*wire.PacketReport
	if err := ob.Sync(); err != nil {
		t.Fatal(err)
	}
	items, err := ob.Next(0, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		var r wire.PacketReport
		if _, err := wire.Unseal(it.Report, wire.Kind_KIND_PACKET_REPORT, &r); err == nil {
			out = append(out, &r)
		}
	}
	return out
}

// TestForwardOTAAJoinConfirmedClassC: an OTAA Class C sensor joins through
// a simulated concentrator, a real hotspot and the test LNS, with the
// join-accept in the join RX1 window; confirmed uplinks are acknowledged
// in RX1; a Class C downlink five minutes after the last uplink still
// arrives (the PULL_DATA keepalive holds the path); a DevAddr owned by no
// route is not forwarded. Virtual time: windows are exact.
func TestForwardOTAAJoinConfirmedClassC(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := sim.NewPacketNetwork()
		m := fwMedium(t)
		l := fwLNS(t, pn.ListenPacket, sim.LNSConfig{})
		h, reg := fwHotspot(t, pn.ListenPacket, Config{})
		fwSetup(t, h, fwRoute("acme", l.Addr()))
		fwConcentrator(t, pn.ListenPacket, m, h, "gw", sim.ConcentratorConfig{})
		s := otaaSensor(t, m, l, 1, sim.ClassC)

		j, err := s.Join(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if j.Window != sim.WindowRX1 || !j.Reception.Start.Equal(j.Sent.End.Add(5*time.Second)) {
			t.Fatalf("join-accept in %s at %v after the request, want RX1 at 5 s", j.Window, j.Reception.Start.Sub(j.Sent.End))
		}
		joins := l.Joins()
		if len(joins) != 1 || joins[0].Gateway != GatewayEUI(h.PublicKey()) {
			t.Fatalf("LNS joins %+v, want one through gateway %v", joins, GatewayEUI(h.PublicKey()))
		}
		meta := joins[0].RXPK.Meta
		want := map[string]string{"network": "hexfield", "gateway_id": h.PublicKey().String(), "regi": "EU868",
			"gateway_h3index": "8c1fb46622dd5ff", "gateway_lat": "52.000000", "gateway_long": "5.000000",
			"gateway_name": "hexfield-" + GatewayEUI(h.PublicKey()).String()}
		for k, v := range want {
			if meta[k] != v {
				t.Errorf("meta %s = %q, want %q (meta %v)", k, meta[k], v, meta)
			}
		}
		if joins[0].RXPK.Time.IsZero() {
			t.Error("forwarded rxpk has no time (hotspot clock without GPS)")
		}

		for i := range 3 {
			res, err := s.Uplink(context.Background(), 10, []byte(fmt.Sprintf("reading %d", i)), true)
			if err != nil {
				t.Fatal(err)
			}
			d := res.Downlink
			if d == nil || !d.ACK || d.Window != sim.WindowRX1 || !d.Reception.Start.Equal(res.Sent.End.Add(time.Second)) {
				t.Fatalf("uplink %d: downlink %+v, want an ACK in RX1 at 1 s", i, d)
			}
		}
		ups := l.Uplinks()
		if len(ups) != 3 {
			t.Fatalf("LNS accepted %d uplinks", len(ups))
		}
		for i, u := range ups {
			if string(u.Payload) != fmt.Sprintf("reading %d", i) || u.Gateway != GatewayEUI(h.PublicKey()) || u.Copies != 1 {
				t.Errorf("LNS uplink %d: %+v", i, u)
			}
		}

		time.Sleep(5 * time.Minute)
		if err := l.Enqueue(fwDevEUI(1), sim.Downlink{FPort: 7, Payload: []byte("open valve")}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		d, err := s.Receive(ctx)
		cancel()
		if err != nil || string(d.Payload) != "open valve" || d.Window != sim.WindowImmediate {
			t.Fatalf("Class C downlink: %+v, %v", d, err)
		}
		// EU868's RX2 power (27 dBm) is above the region's 16 dBm: sent at
		// 16 with the TX_POWER warning.
		acks := l.TxAcks()
		last := acks[len(acks)-1]
		if last.Status.Warn != semtech.TxPower || last.Status.Value == nil || *last.Status.Value != 16 {
			t.Errorf("Class C TX_ACK %v, want the TX_POWER warning with 16 dBm", last.Status)
		}
		for _, a := range acks[:len(acks)-1] {
			if !a.Status.Accepted() {
				t.Errorf("TX_ACK %+v", a)
			}
		}

		// A sensor whose DevAddr no route owns is heard but not forwarded.
		stray := abpSensor(t, m, nil, 9, lorawan.DevAddr{0x26, 0, 0, 1})
		if _, err := stray.Uplink(context.Background(), 1, []byte("x"), false); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n := len(l.Uplinks()) + len(l.Rejections()); n != 3 {
			t.Errorf("LNS saw %d frames, want the 3 routed uplinks only", n)
		}
		if got := counter(t, reg, "hexfield_hotspot_lns_uplinks_total", "result", "no_route"); got != 1 {
			t.Errorf("no_route counted %v", got)
		}

		// One packet report per forwarded copy: the join (free) and 3 uplinks.
		reps := packetReports(t, h.Outbox())
		if len(reps) != 4 {
			t.Fatalf("%d packet reports, want 4", len(reps))
		}
		if r := reps[0]; !r.Join || !r.Free || r.JoinEui != 0x70b3d57ed0000001 || r.RouteId != "acme" || len(r.Payload) != 23 {
			t.Errorf("join report %+v", r)
		}
		for _, r := range reps[1:] {
			if r.Join || r.Free || r.DevAddr != binaryDevAddr(s.DevAddr()) || r.RouteId != "acme" ||
				int(r.PayloadSize) != len(r.Payload) || r.FrequencyHz == 0 || r.Datarate != "SF7BW125" || r.TimestampMs == 0 {
				t.Errorf("uplink report %+v", r)
			}
		}
	})
}

func binaryDevAddr(a lorawan.DevAddr) uint32 {
	return uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
}

// TestForwardRelaysConcentratorRefusals: the concentrator's own TOO_LATE
// and TX_FREQ reach the LNS as such, under the LNS's token.
func TestForwardRelaysConcentratorRefusals(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  sim.ConcentratorConfig
		want semtech.TxError
	}{
		// A forwarder that needs 3 s of lead misses RX1 (1 s) and RX2 (2 s).
		{"too late", sim.ConcentratorConfig{MinLead: 3 * time.Second}, semtech.TxTooLate},
		// A board that transmits only around 869.5 MHz refuses RX1 on the
		// uplink channel, which is inside EU868: the concentrator says so.
		{"tx freq", sim.ConcentratorConfig{TxFreqMin: 869_400_000, TxFreqMax: 869_650_000}, semtech.TxFreq},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pn := sim.NewPacketNetwork()
				m := fwMedium(t)
				l := fwLNS(t, pn.ListenPacket, sim.LNSConfig{})
				h, _ := fwHotspot(t, pn.ListenPacket, Config{})
				fwSetup(t, h, fwRoute("acme", l.Addr()))
				gw := fwConcentrator(t, pn.ListenPacket, m, h, "gw", c.cfg)
				s := abpSensor(t, m, l, 2, lorawan.DevAddr{0x02, 0, 0, 7})
				if _, err := s.Uplink(context.Background(), 1, []byte("hi"), true); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				acks := l.TxAcks()
				if len(acks) == 0 || acks[0].Status.Error != c.want {
					t.Fatalf("LNS TX_ACKs %+v, want %s first", acks, c.want)
				}
				if st := gw.Stats(); st.Rejected == 0 || st.Emitted != 0 {
					t.Errorf("concentrator %+v: the refusal must be its own", st)
				}
			})
		})
	}
}

// hostileLNS answers a gateway's PULL_DATA with garbage, a malformed
// PULL_RESP, a PULL_RESP outside the region's plan, then keeps spewing
// garbage; it records the TX_ACKs it gets.
type hostileLNS struct {
	conn net.PacketConn
	mu   sync.Mutex
	acks []semtech.TxAck
	pull int
}

func (x *hostileLNS) run(ctx context.Context) error {
	go func() { <-ctx.Done(); x.conn.Close() }()
	buf := make([]byte, 65536)
	for {
		n, from, err := x.conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		h, err := semtech.ParseHeader(buf[:n])
		if err != nil {
			continue
		}
		switch h.Type {
		case semtech.TypeTxAck:
			var a semtech.TxAck
			if a.UnmarshalBinary(buf[:n]) == nil {
				x.mu.Lock()
				x.acks = append(x.acks, a)
				x.mu.Unlock()
			}
		case semtech.TypePullData:
			x.mu.Lock()
			x.pull++
			first := x.pull == 1
			x.mu.Unlock()
			x.conn.WriteTo([]byte{0xff, 0x00}, from)
			x.conn.WriteTo([]byte{2, 1, 2, 4, 0xde, 0xad}, from) // PULL_ACK with a wrong token
			if first {
				x.conn.WriteTo([]byte("\x02\x77\x77\x03{\"txpk\":{\"freq\":868.1"), from)     // torn JSON
				x.conn.WriteTo([]byte("\x02\x77\x78\x03{\"txpk\":{\"imme\":true}}"), from)    // fields missing
				x.conn.WriteTo([]byte("\x02\x77\x79\x03{\"txpk\":{\"imme\":\"yes\"}}"), from) // wrong type
				out, _ := (&semtech.PullResp{Version: 2, Token: semtech.TokenFrom(0x4242), TXPK: semtech.TXPK{
					Imme: true, Freq: 915_000_000, Powe: 14, Modu: "LORA", DatR: semtech.DatRFor(radio.DataRate{SF: 12, Bandwidth: 125_000}), CodR: "4/5", IPol: true, Data: []byte{0x60, 1, 2, 3},
				}}).MarshalBinary()
				x.conn.WriteTo(out, from)
			}
		case semtech.TypePushData:
			x.conn.WriteTo([]byte{2, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, from) // PUSH_ACK with a wrong token, and junk
		}
	}
}

// TestForwardHostileLNS: a malformed PULL_RESP and a garbage-spewing LNS
// crash nothing, a frequency outside the region's plan is answered
// TX_FREQ without touching the concentrator, and another route keeps
// flowing.
func TestForwardHostileLNS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := sim.NewPacketNetwork()
		m := fwMedium(t)
		l := fwLNS(t, pn.ListenPacket, sim.LNSConfig{})
		bad, _ := pn.ListenPacket("127.0.0.1:0")
		x := &hostileLNS{conn: bad}
		runOwned(t, "hostile lns", x.run)
		h, reg := fwHotspot(t, pn.ListenPacket, Config{})
		fwSetup(t, h, fwRoute("hostile", bad.LocalAddr()), fwRoute("good", l.Addr()))
		gw := fwConcentrator(t, pn.ListenPacket, m, h, "gw", sim.ConcentratorConfig{})
		s := abpSensor(t, m, l, 3, lorawan.DevAddr{0x02, 0, 0, 9})
		for i := range 5 {
			if _, err := s.Uplink(context.Background(), 1, []byte{byte(i)}, false); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if n := len(l.Uplinks()); n != 5 {
			t.Fatalf("good route: LNS accepted %d of 5 uplinks", n)
		}
		x.mu.Lock()
		acks, pulls := x.acks, x.pull
		x.mu.Unlock()
		if len(acks) != 1 || acks[0].Token != semtech.TokenFrom(0x4242) || acks[0].Status.Error != semtech.TxFreq ||
			acks[0].EUI != GatewayEUI(h.PublicKey()) {
			t.Fatalf("hostile LNS got TX_ACKs %+v, want one TX_FREQ under its token", acks)
		}
		if pulls < 3 {
			t.Errorf("%d PULL_DATA in 30 s+, want one every 10 s", pulls)
		}
		if st := gw.Stats(); st.Downlinks != 0 {
			t.Errorf("the concentrator was asked to transmit: %+v", st)
		}
		if got := counter(t, reg, "hexfield_hotspot_lns_downlinks_total", "result", "tx_freq"); got != 1 {
			t.Errorf("tx_freq counted %v", got)
		}
		if got := counter(t, reg, "hexfield_semtech_client_dropped_total", "reason", "json"); got < 2 {
			t.Errorf("malformed PULL_RESPs not counted as dropped (%v)", got)
		}
		// Both routes were sent each copy and reported it.
		if n := len(packetReports(t, h.Outbox())); n != 10 {
			t.Errorf("%d packet reports, want 10", n)
		}
		// The status shows which LNS stopped answering.
		rs := h.Status().Routing
		if rs.GatewayEUI != GatewayEUI(h.PublicKey()).String() || rs.Routes != 2 || rs.Active != 2 || len(rs.Sessions) != 2 {
			t.Fatalf("routing status %+v", rs)
		}
		good, hostile := rs.Sessions[0], rs.Sessions[1]
		if good.Route != "good" || good.PushAcked != 5 || good.PullAcked == 0 || good.LastPullAck == nil {
			t.Errorf("good session %+v", good)
		}
		if hostile.Route != "hostile" || hostile.PushSent != 5 || hostile.PushAcked != 0 || hostile.PullAcked != 0 || hostile.PullSent < 3 {
			t.Errorf("hostile session %+v", hostile)
		}
		var text bytes.Buffer
		st := h.Status()
		st.WriteText(&text)
		if !strings.Contains(text.String(), "lns          hostile") {
			t.Errorf("status text:\n%s", text.String())
		}
	})
}

// TestForwardOracleUnreachable, over real loopback UDP: with the route
// table, region and location persisted by an earlier run and the oracle
// down from the start, uplinks reach the
// LNS and their packet reports wait in the outbox, then reach the oracle
// once it is back.
func TestForwardOracleUnreachable(t *testing.T) {
	udp := func(a string) (net.PacketConn, error) { return net.ListenPacket("udp", a) }
	m := fwMedium(t)
	l := fwLNS(t, udp, sim.LNSConfig{})
	o := startTestOracle(t)
	o.stop()
	dir := t.TempDir()
	tab := newRouteTable(fwTable(5, fwRoute("acme", l.Addr())), wire.PublicKey{1})
	b, _ := savedState{Table: tab, Region: "EU868", Loc: location{asserted: true, cell: fwCell, lat: fwLat, lng: fwLng}}.MarshalBinary()
	if err := saveRouteTable(dir+"/"+routeTableFile, b); err != nil {
		t.Fatal(err)
	}
	h, _ := fwHotspot(t, udp, Config{DataDir: dir, Oracles: []string{o.dialString()}})
	if st := h.Status(); st.Region != "EU868" || st.RegionSource != "persisted" {
		t.Fatalf("region %q from %q, want the persisted EU868", st.Region, st.RegionSource)
	}
	fwConcentrator(t, udp, m, h, "gw", sim.ConcentratorConfig{})
	s := abpSensor(t, m, l, 4, lorawan.DevAddr{0x02, 0, 0, 0x11})
	for i := range 2 {
		if _, err := s.Uplink(context.Background(), 1, []byte{byte(i)}, false); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "uplinks at the LNS", 20*time.Second, func() bool { return len(l.Uplinks()) == 2 })
	if meta := l.Uplinks()[0].RXPK.Meta; meta["gateway_h3index"] != "8c1fb46622dd5ff" || meta["regi"] != "EU868" {
		t.Errorf("meta from the persisted state: %v", meta)
	}
	waitFor(t, "packet reports in the outbox", 20*time.Second, func() bool { return len(packetReports(t, h.Outbox())) == 2 })
	if o.count() != 0 {
		t.Fatal("the oracle is down but has reports")
	}
	o.restart(t)
	waitFor(t, "packet reports at the oracle", 60*time.Second, func() bool {
		return o.count() == 2 && h.Outbox().Stats().Reports == 0
	})
}

// TestForwardCopyLimits: a data uplink goes once per route in the dedup
// window, a join up to max(max_copies, 3) times; the window expires.
func TestForwardCopyLimits(t *testing.T) {
	fw := &forwarder{dedup: map[dedupKey]dedupEntry{}}
	t0 := time.Unix(1_700_000_000, 0)
	h := [32]byte{1}
	if !fw.takeCopy("a", h, 1, t0) || fw.takeCopy("a", h, 1, t0.Add(time.Second)) {
		t.Fatal("data uplink: want exactly one copy")
	}
	if !fw.takeCopy("b", h, 1, t0) {
		t.Fatal("another route gets its own copy")
	}
	if !fw.takeCopy("a", h, 1, t0.Add(dedupWindow)) {
		t.Fatal("the window did not expire")
	}
	j := [32]byte{2}
	n := 0
	for range 10 {
		if fw.takeCopy("a", j, max(uint32(1), minJoinCopies), t0) {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("join forwarded %d times, want 3", n)
	}
	for i := range dedupEntries + 10 {
		fw.takeCopy("flood", [32]byte{byte(i), byte(i >> 8), 9}, 1, t0)
	}
	if len(fw.dedup) > dedupEntries {
		t.Fatalf("dedup holds %d entries", len(fw.dedup))
	}
}

// TestForwardRouteDeactivated: when a route turns inactive its session
// ends and nothing more is forwarded on it; an older table is ignored;
// the table in force is what a restart loads.
func TestForwardRouteDeactivated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := sim.NewPacketNetwork()
		m := fwMedium(t)
		l := fwLNS(t, pn.ListenPacket, sim.LNSConfig{})
		dir := t.TempDir()
		h, reg := fwHotspot(t, pn.ListenPacket, Config{DataDir: dir})
		r := fwRoute("acme", l.Addr())
		h.applyConfig(wire.PublicKey{}, fwConfig())
		fwOffer(t, h, fwTable(10, r), tableFull)
		fwConcentrator(t, pn.ListenPacket, m, h, "gw", sim.ConcentratorConfig{})
		s := abpSensor(t, m, l, 5, lorawan.DevAddr{0x02, 0, 0, 0x21})
		if _, err := s.Uplink(context.Background(), 1, []byte("a"), false); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if len(l.Uplinks()) != 1 || counter(t, reg, "hexfield_hotspot_lns_sessions") != 1 {
			t.Fatalf("before: %d uplinks, sessions %v", len(l.Uplinks()), counter(t, reg, "hexfield_hotspot_lns_sessions"))
		}
		// An older table (another oracle lagging) changes nothing.
		fwOffer(t, h, fwTable(9), tableOlder)
		if got := h.fwd.table.Load(); got.Version != 10 || len(got.Routes) != 1 {
			t.Fatalf("older table taken: %+v", got)
		}
		fwOffer(t, h, &wire.RouteTable{TableId: fwTableID, Version: 11, BaseVersion: 10, Region: "EU868",
			Routes: []*wire.TableRoute{{Id: r.Id}}}, tableIncremental)
		synctest.Wait()
		if got := counter(t, reg, "hexfield_hotspot_lns_sessions"); got != 0 {
			t.Fatalf("sessions %v after the route turned inactive", got)
		}
		if _, err := s.Uplink(context.Background(), 1, []byte("b"), false); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := len(l.Uplinks()); n != 1 {
			t.Fatalf("%d uplinks after the route turned inactive", n)
		}
		if g, ok := l.Server().Gateway(GatewayEUI(h.PublicKey())); !ok || g.Online {
			t.Errorf("the LNS still sees the gateway online (%+v): PULL_DATA did not stop", g)
		}
		saved, err := loadRouteTable(dir + "/" + routeTableFile)
		if err != nil || saved.Table.Version != 11 || len(saved.Table.Routes) != 1 || saved.Table.Routes[0].Active || saved.Region != "EU868" {
			t.Fatalf("persisted table %+v, %v", saved, err)
		}
	})
}

// TestForwardNoConcentratorAnswer: a protocol v1 concentrator sends no
// TX_ACK, so the hotspot invents none: the LNS times out on every
// downlink, while the device still gets its ACK.
func TestForwardNoConcentratorAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := sim.NewPacketNetwork()
		m := fwMedium(t)
		l := fwLNS(t, pn.ListenPacket, sim.LNSConfig{})
		h, reg := fwHotspot(t, pn.ListenPacket, Config{})
		fwSetup(t, h, fwRoute("acme", l.Addr()))
		fwConcentrator(t, pn.ListenPacket, m, h, "gw", sim.ConcentratorConfig{Version: 1})
		s := abpSensor(t, m, l, 6, lorawan.DevAddr{0x02, 0, 0, 0x31})
		res, err := s.Uplink(context.Background(), 1, []byte("c"), true)
		if err != nil {
			t.Fatal(err)
		}
		if res.Downlink == nil || !res.Downlink.ACK {
			t.Fatalf("device got %+v, want its ACK", res.Downlink)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		as := l.TxAttempts()
		if len(as) == 0 {
			t.Fatal("no downlink attempted")
		}
		for _, a := range as {
			if !errors.Is(a.Err, semtech.ErrTxAckTimeout) {
				t.Errorf("LNS attempt %+v: want no TX_ACK (timeout)", a)
			}
		}
		if got := counter(t, reg, "hexfield_hotspot_lns_downlinks_total", "result", "unacked"); got != float64(len(as)) {
			t.Errorf("unacked counted %v, want %d", got, len(as))
		}
	})
}

// TestForwardSessionBound: a route table naming more LNS sessions than
// the bound gets the bound, and the rest are counted, not opened.
func TestForwardSessionBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := sim.NewPacketNetwork()
		m := fwMedium(t)
		l := fwLNS(t, pn.ListenPacket, sim.LNSConfig{})
		h, reg := fwHotspot(t, pn.ListenPacket, Config{})
		var routes []*wire.TableRoute
		for i := range maxLNSSessions + 8 {
			routes = append(routes, fwRoute(fmt.Sprintf("r%02d", i), l.Addr()))
		}
		fwSetup(t, h, routes...)
		fwConcentrator(t, pn.ListenPacket, m, h, "gw", sim.ConcentratorConfig{})
		s := abpSensor(t, m, l, 7, lorawan.DevAddr{0x02, 0, 0, 0x41})
		if _, err := s.Uplink(context.Background(), 1, []byte("z"), false); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := counter(t, reg, "hexfield_hotspot_lns_sessions"); got != maxLNSSessions {
			t.Errorf("%v sessions, want %d", got, maxLNSSessions)
		}
		if got := counter(t, reg, "hexfield_hotspot_lns_uplinks_total", "result", "no_session"); got != 8 {
			t.Errorf("no_session counted %v, want 8", got)
		}
		if got := counter(t, reg, "hexfield_hotspot_lns_uplinks_total", "result", "forwarded"); got != maxLNSSessions {
			t.Errorf("forwarded %v copies, want %d", got, maxLNSSessions)
		}
	})
}

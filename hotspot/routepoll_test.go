package hotspot

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hexfield/hexfield/radio/sim"
	"github.com/hexfield/hexfield/wire"
)

// The route table poll against test oracles speaking the real protocol
// over QUIC, on an in-memory UDP network inside synctest bubbles, so the
// poll interval passes in virtual time. (The oracle's side — versions,
// updates, locks from DC balances, over Badger — is tested in package
// oracle; these oracles serve tables the test seals.)

// startTableOracle starts an oracle that gives EU868 and answers route
// table requests with answer.
func startTableOracle(t *testing.T, pn *sim.PacketNetwork, answer func(o *testOracle, req *wire.RouteTableRequest) []byte) *testOracle {
	t.Helper()
	key, _ := wire.GenerateKey()
	o := startTestOracleOn(t, pn.ListenPacket, key)
	o.mu.Lock()
	o.config = fwConfig()
	o.tables = func(req *wire.RouteTableRequest) []byte { return answer(o, req) }
	o.mu.Unlock()
	return o
}

// seal signs tab with key, failing the test on a bad table.
func seal(t testing.TB, key ed25519.PrivateKey, tab *wire.RouteTable) []byte {
	t.Helper()
	raw, err := wire.SealRouteTable(key, tab)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// pollHotspot is a hotspot with key on pn polling oracles; stop ends it
// and waits.
func pollHotspot(t *testing.T, pn *sim.PacketNetwork, key ed25519.PrivateKey, dir string, oracles ...*testOracle) (h *Hotspot, reg *prometheus.Registry, stop func()) {
	t.Helper()
	cfg := Config{DataDir: dir, OutboxSyncInterval: 5 * time.Millisecond, ShutdownTimeout: time.Second}
	for _, o := range oracles {
		cfg.Oracles = append(cfg.Oracles, o.dialString())
	}
	st, _ := pn.ListenPacket("127.0.0.1:0")
	qc, _ := pn.ListenPacket("127.0.0.1:0")
	reg = prometheus.NewRegistry()
	h, err := New(cfg, Deps{Key: key, Semtech: st, QUIC: qc, Logger: testLogger(t), Registerer: reg,
		ListenLNS: func() (net.PacketConn, error) { return pn.ListenPacket("127.0.0.1:0") }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hotspot: %v", err)
		}
	}
	t.Cleanup(stop)
	return h, reg, stop
}

// waitVirtual sleeps in virtual time until cond holds, failing after d.
func waitVirtual(t *testing.T, what string, d time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

func tableVersion(h *Hotspot) uint64 {
	if t := h.fwd.table.Load(); t != nil {
		return t.Version
	}
	return 0
}

// TestRoutePollLockStopsWithinAMinute: the hotspot fetches the full table
// at start and forwards on it; when the organization is locked, the
// oracle's next answer to the hotspot's poll (an update naming the version
// it holds) turns the route inactive, within the default poll interval,
// and its traffic stops; polls in between are answered unchanged.
func TestRoutePollLockStopsWithinAMinute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := sim.NewPacketNetwork()
		m := fwMedium(t)
		l := fwLNS(t, pn.ListenPacket, sim.LNSConfig{})
		route := fwRoute("acme", l.Addr())
		var locked atomic.Bool
		o := startTableOracle(t, pn, func(o *testOracle, req *wire.RouteTableRequest) []byte {
			if !locked.Load() {
				if bytes.Equal(req.TableId, fwTableID) && req.Version == 1 {
					return nil
				}
				return seal(t, o.key, fwTable(1, route))
			}
			if bytes.Equal(req.TableId, fwTableID) && req.Version == 2 {
				return nil
			}
			if bytes.Equal(req.TableId, fwTableID) && req.Version == 1 {
				return seal(t, o.key, &wire.RouteTable{TableId: fwTableID, Version: 2, BaseVersion: 1, Region: "EU868",
					Routes: []*wire.TableRoute{{Id: "acme"}}})
			}
			return seal(t, o.key, fwTable(2, &wire.TableRoute{Id: "acme"}))
		})
		key, _ := wire.GenerateKey()
		h, reg, _ := pollHotspot(t, pn, key, t.TempDir(), o)
		waitVirtual(t, "the first table", 10*time.Second, func() bool { return tableVersion(h) == 1 && h.Region() != nil })
		fwConcentrator(t, pn.ListenPacket, m, h, "gw", sim.ConcentratorConfig{})
		s := abpSensor(t, m, l, 8, lorawan.DevAddr{0x02, 0, 0, 0x51})
		if _, err := s.Uplink(context.Background(), 1, []byte("a"), false); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n := len(l.Uplinks()); n != 1 {
			t.Fatalf("%d uplinks at the LNS before the lock", n)
		}
		time.Sleep(time.Minute) // polls answered unchanged
		synctest.Wait()
		if got := counter(t, reg, "hexfield_hotspot_route_tables_total", "result", "unchanged"); got < 2 {
			t.Fatalf("unchanged answers %v in a minute", got)
		}
		locked.Store(true)
		took := waitVirtual(t, "the lock", time.Minute, func() bool { return tableVersion(h) == 2 })
		t.Logf("lock in force at the hotspot %s after the oracle locked (virtual time)", took)
		if took > DefaultRoutePoll+time.Second {
			t.Errorf("the lock took %s, want at most the poll interval %s", took, DefaultRoutePoll)
		}
		if got := counter(t, reg, "hexfield_hotspot_route_tables_total", "result", "incremental"); got != 1 {
			t.Errorf("incremental answers %v, want the lock as one update", got)
		}
		if _, err := s.Uplink(context.Background(), 1, []byte("b"), false); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if n := len(l.Uplinks()); n != 1 {
			t.Fatalf("%d uplinks at the LNS after the lock", n)
		}
		if got := counter(t, reg, "hexfield_hotspot_lns_sessions"); got != 0 {
			t.Errorf("%v LNS sessions after the lock", got)
		}
		o.mu.Lock()
		reqs := o.tableReqs
		o.mu.Unlock()
		// The first request held no table; the one that brought the lock
		// named the version held.
		if last := reqs[len(reqs)-1]; len(reqs[0].TableId) != 0 || !bytes.Equal(last.TableId, fwTableID) || last.Version != 1 || last.Region != "EU868" {
			t.Errorf("requests: first %v, last %v", reqs[0], last)
		}
		if st := h.Status().Routing; st.TableVersion != 2 || st.TableFrom != o.pub.String() || st.TableChecked == nil || st.Active != 0 {
			t.Errorf("routing status %+v", st)
		}
	})
}

// TestRoutePollRefusesForgedTables: a table signed by a key the hotspot
// does not pin, and one whose signature was tampered with, are refused;
// nothing is forwarded on them.
func TestRoutePollRefusesForgedTables(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := sim.NewPacketNetwork()
		forger, _ := wire.GenerateKey()
		var tampered atomic.Bool
		o := startTableOracle(t, pn, func(o *testOracle, req *wire.RouteTableRequest) []byte {
			tab := fwTable(5, fwRoute("acme", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1700}))
			if !tampered.Load() {
				return seal(t, forger, tab)
			}
			raw := seal(t, o.key, tab)
			raw[len(raw)-1] ^= 1
			return raw
		})
		key, _ := wire.GenerateKey()
		h, reg, _ := pollHotspot(t, pn, key, t.TempDir(), o)
		waitVirtual(t, "a refusal", 10*time.Second, func() bool {
			return counter(t, reg, "hexfield_hotspot_route_tables_total", "result", "refused") >= 1
		})
		tampered.Store(true)
		time.Sleep(10 * time.Second) // refused answers are retried every second
		synctest.Wait()
		if got := counter(t, reg, "hexfield_hotspot_route_tables_total", "result", "refused"); got < 5 {
			t.Errorf("refused %v", got)
		}
		if h.fwd.table.Load() != nil {
			t.Fatalf("a forged table was taken: %+v", h.fwd.table.Load())
		}
	})
}

// TestRoutePollNewestOracleWins: with two oracles (their own table ids),
// the hotspot takes the higher version whichever signed it; the other
// oracle's lower version never replaces it, also while the first is down;
// when the second oracle gets ahead, its table is taken.
func TestRoutePollNewestOracleWins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := sim.NewPacketNetwork()
		lns := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1700}
		idB := []byte("table-of-oracleB")
		a := startTableOracle(t, pn, func(o *testOracle, req *wire.RouteTableRequest) []byte {
			if bytes.Equal(req.TableId, fwTableID) && req.Version >= 10 {
				return nil
			}
			return seal(t, o.key, fwTable(10, fwRoute("new", lns)))
		})
		var bVersion atomic.Uint64
		bVersion.Store(7)
		b := startTableOracle(t, pn, func(o *testOracle, req *wire.RouteTableRequest) []byte {
			v := bVersion.Load()
			if bytes.Equal(req.TableId, idB) && req.Version == v {
				return nil
			}
			tab := fwTable(v, fwRoute("old", lns))
			tab.TableId = idB
			return seal(t, o.key, tab) // a full table even when not newer: the hotspot must judge
		})
		key, _ := wire.GenerateKey()
		h, reg, _ := pollHotspot(t, pn, key, t.TempDir(), b, a)
		waitVirtual(t, "oracle A's table", 10*time.Second, func() bool { return tableVersion(h) == 10 })
		time.Sleep(time.Minute)
		synctest.Wait()
		if tab := h.fwd.table.Load(); tab.Version != 10 || tab.Signer != a.pub || tab.Routes[0].ID != "new" {
			t.Fatalf("table %+v", tab)
		}
		if got := counter(t, reg, "hexfield_hotspot_route_tables_total", "result", "older"); got < 2 {
			t.Errorf("B's older tables counted %v", got)
		}
		a.stop()
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if tab := h.fwd.table.Load(); tab.Version != 10 || tab.Signer != a.pub {
			t.Fatalf("with A down, B's older table replaced A's: %+v", tab)
		}
		bVersion.Store(11)
		waitVirtual(t, "B's newer table", time.Minute, func() bool { return tableVersion(h) == 11 })
		if tab := h.fwd.table.Load(); tab.Signer != b.pub || !bytes.Equal(tab.TableID, idB) || tab.Routes[0].ID != "old" {
			t.Fatalf("table %+v", tab)
		}
	})
}

// TestRoutePollPersistedTableAfterRestart: a table fetched from the
// oracle is persisted; the hotspot restarted with the oracle gone loads it
// and forwards on it.
func TestRoutePollPersistedTableAfterRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := sim.NewPacketNetwork()
		m := fwMedium(t)
		l := fwLNS(t, pn.ListenPacket, sim.LNSConfig{})
		o := startTableOracle(t, pn, func(o *testOracle, req *wire.RouteTableRequest) []byte {
			if req.Version == 3 {
				return nil
			}
			return seal(t, o.key, fwTable(3, fwRoute("acme", l.Addr())))
		})
		key, _ := wire.GenerateKey()
		dir := t.TempDir()
		h, _, stop := pollHotspot(t, pn, key, dir, o)
		waitVirtual(t, "the table", 10*time.Second, func() bool { return tableVersion(h) == 3 && h.Region() != nil })
		stop()
		o.stop()

		h, _, _ = pollHotspot(t, pn, key, dir, o)
		if tab := h.fwd.table.Load(); tab == nil || tab.Version != 3 || tab.Signer != o.pub || h.Region() == nil {
			t.Fatalf("after the restart: table %+v, region %v", tab, h.Region())
		}
		fwConcentrator(t, pn.ListenPacket, m, h, "gw", sim.ConcentratorConfig{})
		s := abpSensor(t, m, l, 9, lorawan.DevAddr{0x02, 0, 0, 0x61})
		for i := range 3 {
			if _, err := s.Uplink(context.Background(), 1, []byte{byte(i)}, false); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Second)
		}
		synctest.Wait()
		if n := len(l.Uplinks()); n != 3 {
			t.Fatalf("%d of 3 uplinks reached the LNS with no oracle", n)
		}
	})
}

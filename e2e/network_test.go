package e2e

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/hexfield/hexfield/hotspot"
	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/radio/semtech"
	"github.com/hexfield/hexfield/radio/sim"
	"github.com/hexfield/hexfield/wire"
)

func waitRegion(t *testing.T, sites ...*site) {
	t.Helper()
	for _, s := range sites {
		waitFor(t, s.name+" learns its region from the oracle", 20*time.Second, func() bool {
			return s.h.Status().Region == "EU868"
		})
	}
}

// TestBeaconsHeardAndWitnessed: four hotspots ~1 km apart beacon through
// their virtual concentrators; the others hear the beacons and their
// witness reports arrive at the oracle next to the beacon reports.
func TestBeaconsHeardAndWitnessed(t *testing.T) {
	o := startOracle(t, "oracle")
	w := newWorld(t, 1)
	offsets := [][2]float64{{0, 0}, {0.01, 0}, {0, 0.015}, {0.01, 0.015}}
	for i, d := range offsets {
		s := w.addSite(string(rune('a'+i)), d[0], d[1], o)
		s.startHotspot(t, hotspot.Config{}, o)
	}
	waitRegion(t, w.sites...)

	type heard struct {
		beaconer *site
		payload  []byte
		freq     uint64
		dr       string
	}
	var found *heard
	var witnesses []oracleWitness
	waitFor(t, "a beacon with witnesses at the oracle", 60*time.Second, func() bool {
		for _, s := range w.sites {
			for _, r := range o.reports(t, s.pub(), wire.Kind_KIND_BEACON_REPORT) {
				var b wire.BeaconReport
				if _, err := wire.Unseal(r.Envelope, wire.Kind_KIND_BEACON_REPORT, &b); err != nil {
					t.Fatalf("stored beacon report: %v", err)
				}
				ws, err := o.o.Store().WitnessesOf(b.Payload)
				if err != nil {
					t.Fatal(err)
				}
				if len(ws) == 0 {
					continue
				}
				found = &heard{beaconer: s, payload: b.Payload, freq: b.FrequencyHz, dr: b.Datarate}
				witnesses = witnesses[:0]
				for _, sr := range ws {
					var wr wire.WitnessReport
					signer, err := wire.Unseal(sr.Envelope, wire.Kind_KIND_WITNESS_REPORT, &wr)
					if err != nil {
						t.Fatal(err)
					}
					witnesses = append(witnesses, oracleWitness{signer, &wr})
				}
				return true
			}
		}
		return false
	})
	if found.dr != "SF12BW125" || found.freq < 867_100_000 || found.freq > 868_500_000 {
		t.Fatalf("beacon %+v", found)
	}
	for _, wi := range witnesses {
		if wi.signer == found.beaconer.pub() {
			t.Fatal("a hotspot witnessed its own beacon")
		}
		r := wi.report
		if !bytes.Equal(r.Payload, found.payload) || r.FrequencyHz != found.freq || r.Datarate != "SF12BW125" ||
			r.RssiDdbm >= 0 || r.RssisDdbm == nil || r.Tmst == 0 {
			t.Fatalf("witness report %v for beacon %+v", r, found)
		}
	}
	t.Logf("beacon of %s on %d Hz witnessed by %d hotspots", found.beaconer.name, found.freq, len(witnesses))
}

type oracleWitness struct {
	signer wire.PublicKey
	report *wire.WitnessReport
}

// TestOracleOutage: two oracles; one is stopped for a while and restarted
// on the same store. Every report the hotspots made meanwhile arrives at
// both, and none is stored twice.
func TestOracleOutage(t *testing.T) {
	a := startOracle(t, "a")
	b := startOracle(t, "b")
	w := newWorld(t, 2)
	offsets := [][2]float64{{0, 0}, {0.01, 0}, {0, 0.015}}
	for i, d := range offsets {
		s := w.addSite(string(rune('a'+i)), d[0], d[1], a, b)
		s.startHotspot(t, hotspot.Config{}, a, b)
	}
	waitRegion(t, w.sites...)
	pending := func() int {
		n := 0
		for _, s := range w.sites {
			n += s.h.Outbox().Stats().Reports
		}
		return n
	}
	witnessesAt := func(o *oracleNode) int {
		n := 0
		for _, s := range w.sites {
			n += len(o.reports(t, s.pub(), wire.Kind_KIND_WITNESS_REPORT))
		}
		return n
	}
	waitFor(t, "first witness reports at both oracles", 60*time.Second, func() bool {
		return witnessesAt(a) > 0 && witnessesAt(b) > 0
	})
	b.stop()
	down := time.Now()
	beforeA := witnessesAt(a)
	waitFor(t, "reports made while b is down", 90*time.Second, func() bool {
		return witnessesAt(a) >= beforeA+3 && pending() >= 5
	})
	t.Logf("b down for %v: %d reports waiting in the outboxes", time.Since(down).Round(time.Second), pending())
	for _, s := range w.sites {
		if !s.h.Status().Oracles[0].Connected {
			t.Fatalf("%s lost oracle a while b was down", s.name)
		}
	}
	b.start()
	waitFor(t, "outboxes drained after b is back", 90*time.Second, func() bool { return pending() == 0 })
	for _, s := range w.sites {
		s.stopHotspot() // graceful: flushes anything made since
	}
	for _, s := range w.sites {
		made := int(s.h.Outbox().Stats().LastSeq)
		for _, o := range []*oracleNode{a, b} {
			ids := map[[32]byte]bool{}
			for _, k := range []wire.Kind{wire.Kind_KIND_BEACON_REPORT, wire.Kind_KIND_WITNESS_REPORT} {
				for _, r := range o.reports(t, s.pub(), k) {
					if ids[r.ID] {
						t.Fatalf("oracle %s stores report %x twice", o.name, r.ID[:4])
					}
					ids[r.ID] = true
				}
			}
			if len(ids) != made {
				t.Errorf("%s made %d reports; oracle %s has %d", s.name, made, o.name, len(ids))
			}
		}
	}
}

// TestGarbageForwarder: a forwarder that sends garbage datagrams between
// its PUSH_DATA, and junk from elsewhere on the Semtech port, do not stop
// the daemon: every beacon heard is still witnessed.
func TestGarbageForwarder(t *testing.T) {
	o := startOracle(t, "oracle")
	w := newWorld(t, 3)
	s := w.addSite("a", 0, 0, o)
	// A day-long beacon window: the hotspot's own beacon (half duplex)
	// will not blank its receiver during the test.
	s.startHotspot(t, hotspot.Config{BeaconInterval: 24 * time.Hour}, o)
	waitRegion(t, s)
	s.conc.SetFaults(sim.Faults{GarbageEvery: 1})
	junk, err := net.Dial("udp", s.h.Status().Semtech)
	if err != nil {
		t.Fatal(err)
	}
	defer junk.Close()
	for _, b := range [][]byte{{}, {2}, {1, 2, 3, 4}, {2, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, '{'},
		append([]byte{2, 0, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8}, []byte(`{"txpk_ack":{"error":`)...),
		bytes.Repeat([]byte{0xff}, 65000)} {
		junk.Write(b)
	}
	sp := w.newSpammer("spammer")
	for range 8 {
		sp.once(868_100_000)
		junk.Write([]byte{2, 9, 9, 0, 1, 1, 1, 1, 1, 1, 1, 1, '[', '{'})
		time.Sleep(150 * time.Millisecond)
	}
	waitFor(t, "8 witness reports despite the garbage", 30*time.Second, func() bool {
		return len(o.reports(t, s.pub(), wire.Kind_KIND_WITNESS_REPORT)) == 8
	})
	if s.conc.Stats().Garbage == 0 {
		t.Fatal("the concentrator sent no garbage")
	}
}

// TestTxAckErrors: a forwarder answering TOO_LATE, then TX_FREQ: each is
// counted, no beacon report is made for a refused beacon, and once the
// forwarder behaves the beacon goes out.
func TestTxAckErrors(t *testing.T) {
	o := startOracle(t, "oracle")
	w := newWorld(t, 4)
	s := w.addSite("a", 0, 0, o)
	s.startHotspot(t, hotspot.Config{}, o)
	s.conc.SetFaults(sim.Faults{TxAckError: semtech.TxTooLate})
	waitRegion(t, s)
	beacons := func() int { return len(o.reports(t, s.pub(), wire.Kind_KIND_BEACON_REPORT)) }
	waitFor(t, "TOO_LATE counted", 40*time.Second, func() bool {
		return counter(t, s.reg, "hexfield_hotspot_beacon_tx_errors_total", "error", "TOO_LATE") >= 1
	})
	if n := beacons(); n != 0 {
		t.Fatalf("%d beacon reports for beacons refused TOO_LATE", n)
	}
	if lb := s.h.Status().LastBeacon; lb == nil || lb.Result != "tx_error" {
		t.Fatalf("last beacon %+v", lb)
	}
	s.conc.SetFaults(sim.Faults{})
	waitFor(t, "a beacon after the forwarder recovers", 40*time.Second, func() bool { return beacons() >= 1 })

	s.conc.SetFaults(sim.Faults{TxAckError: semtech.TxFreq})
	before := beacons()
	waitFor(t, "TX_FREQ counted", 40*time.Second, func() bool {
		return counter(t, s.reg, "hexfield_hotspot_beacon_tx_errors_total", "error", "TX_FREQ") >= 1
	})
	// Attempts refused with TX_FREQ make no report.
	time.Sleep(200 * time.Millisecond)
	if n := beacons(); n != before {
		t.Fatalf("beacon reports went from %d to %d while the forwarder refused with TX_FREQ", before, n)
	}
	if s.conc.Stats().Rejected < 2 {
		t.Fatalf("concentrator rejected %d downlinks", s.conc.Stats().Rejected)
	}
}

// TestOracleDownReportsQueued: the only oracle is stopped; beacons heard
// meanwhile are witnessed into the outbox; when the oracle comes back on
// the same store every one of them arrives, once.
func TestOracleDownReportsQueued(t *testing.T) {
	o := startOracle(t, "oracle")
	w := newWorld(t, 6)
	s := w.addSite("a", 0, 0, o)
	s.startHotspot(t, hotspot.Config{BeaconInterval: 24 * time.Hour}, o)
	waitRegion(t, s)
	sp := w.newSpammer("spammer")
	stored := func() int { return len(o.reports(t, s.pub(), wire.Kind_KIND_WITNESS_REPORT)) }
	for range 5 {
		sp.once(868_100_000)
		time.Sleep(150 * time.Millisecond)
	}
	waitFor(t, "5 witness reports", 20*time.Second, func() bool { return stored() == 5 })
	// Stored is not yet acknowledged: stop the oracle only once the hotspot
	// has every ack, or a loaded machine resends one the oracle already
	// holds (a duplicate the assertion below would count).
	waitFor(t, "the 5 acked", 20*time.Second, func() bool { return s.h.Outbox().Stats().Reports == 0 })
	o.stop()
	waitFor(t, "hotspot sees the oracle gone", 30*time.Second, func() bool { return !s.h.Status().Oracles[0].Connected })
	for i := range 30 {
		sp.once(radio.Hz(867_100_000 + 200_000*(i%8)))
		time.Sleep(60 * time.Millisecond)
	}
	waitFor(t, "30 reports queued", 10*time.Second, func() bool { return s.h.Outbox().Stats().Reports == 30 })
	time.Sleep(2 * time.Second) // down a while: the client backs off
	o.start()
	waitFor(t, "all 35 at the oracle", 60*time.Second, func() bool { return stored() == 35 })
	waitFor(t, "outbox empty", 10*time.Second, func() bool { return s.h.Outbox().Stats().Reports == 0 })
	seen := map[string]bool{}
	for _, r := range o.reports(t, s.pub(), wire.Kind_KIND_WITNESS_REPORT) {
		var wr wire.WitnessReport
		if _, err := wire.Unseal(r.Envelope, wire.Kind_KIND_WITNESS_REPORT, &wr); err != nil {
			t.Fatal(err)
		}
		if seen[string(wr.Payload)] {
			t.Fatalf("beacon %q reported twice", wr.Payload)
		}
		seen[string(wr.Payload)] = true
	}
	if dups := counter(t, o.reg, "hexfield_oracle_reports_rejected_total", "code", "duplicate"); dups != 0 {
		t.Fatalf("%v reports resent after the outage were duplicates", dups)
	}
}

// TestNotAssertedForwardsNothing: an onboarded hotspot without an asserted
// location has no region, so it neither beacons nor witnesses; once the
// owner asserts the location, the oracle's config gives it EU868 and heard
// beacons are witnessed.
func TestNotAssertedForwardsNothing(t *testing.T) {
	o := startOracle(t, "oracle")
	w := newWorld(t, 7)
	s := w.addSite("a", 0, 0)
	owner := o.onboardOnly(t, s.key)
	s.startHotspot(t, hotspot.Config{BeaconInterval: 24 * time.Hour, ConfigRefresh: time.Second}, o)
	waitFor(t, "config from the oracle", 20*time.Second, func() bool { return s.h.Status().ConfigFrom != "" })
	if st := s.h.Status(); st.Region != "" || st.Asserted {
		t.Fatalf("not asserted, yet region %q asserted %v", st.Region, st.Asserted)
	}
	sp := w.newSpammer("spammer")
	sp.once(868_100_000)
	waitFor(t, "beacon dropped for no region", 10*time.Second, func() bool {
		return counter(t, s.reg, "hexfield_hotspot_dropped_frames_total", "reason", hotspot.ReasonNoRegion) == 1
	})
	if n := len(o.reports(t, s.pub(), wire.Kind_KIND_WITNESS_REPORT)); n != 0 {
		t.Fatalf("%d witness reports without a region", n)
	}
	o.assert(t, owner, s.key, s.lat, s.lng)
	waitRegion(t, s) // within config_refresh
	sp.once(868_300_000)
	waitFor(t, "witness once the location is asserted", 20*time.Second, func() bool {
		return len(o.reports(t, s.pub(), wire.Kind_KIND_WITNESS_REPORT)) == 1
	})
}

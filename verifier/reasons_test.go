package verifier

import (
	"math"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/wire"
)

// smallTown: four hotspots about 1–2 km apart in Zürich, three days of
// history so reciprocity holds, plus spare hotspots for the cases.
func smallTown(tb testing.TB) *town {
	tb.Helper()
	t := newTown(tb, 3)
	t.add("a", 47.3769, 8.5417)
	lat, lng := offset(47.3769, 8.5417, 1200, 30)
	t.add("b", lat, lng)
	lat, lng = offset(47.3769, 8.5417, 1500, 150)
	t.add("c", lat, lng)
	lat, lng = offset(47.3769, 8.5417, 2000, 260)
	t.add("d", lat, lng)
	// spares: never beacon or witness in the history
	lat, lng = offset(47.3769, 8.5417, 100, 90)
	t.add("near", lat, lng).silent = true
	t.by["near"].deaf = true
	lat, lng = offset(47.3769, 8.5417, 150_000, 60) // ~150 km, still Europe/EU868
	t.add("far", lat, lng).silent = true
	t.by["far"].deaf = true
	t.add("newbie", 47.39, 8.52).silent = true
	t.by["newbie"].deaf = true
	t.add("usa", 40.71, -74.0).silent = true
	t.by["usa"].deaf = true
	t.add("dataonly", 47.37, 8.55).dataOnly = true
	t.by["dataonly"].silent = true
	t.by["dataonly"].deaf = true
	t.add("ghost", 47.38, 8.53).unregistered = true
	t.by["ghost"].silent = true
	t.by["ghost"].deaf = true
	t.add("nowhere", 47.38, 8.56).silent = true
	t.by["nowhere"].deaf = true
	t.build()
	t.by["nowhere"].cell = 0
	start := t.p.EpochStart(testEpoch)
	t.rounds(start-3*dayMs, start)
	return t
}

type reasonCase struct {
	name string
	// mutate changes the beacon (from "a" unless beaconer is set) and the
	// witness reports (from b, c, d at −100 dBm, SNR 17 dB) before
	// evaluation; target is the index of the witness checked, -1 for the
	// beacon.
	beaconer string
	mutate   func(t *town, p *Params, b *Beacon, ws *[]Witness)
	target   int
	want     Reason
	side     Side
}

func TestReasonTable(t *testing.T) {
	setPower := func(db int32) func(*town, *Params, *Beacon, *[]Witness) {
		return func(_ *town, _ *Params, b *Beacon, _ *[]Witness) { b.Report.TxPowerDbm += db }
	}
	addWitness := func(name string, sig float64) func(*town, *Params, *Beacon, *[]Witness) {
		return func(tw *town, _ *Params, b *Beacon, ws *[]Witness) {
			w := tw.witness(tw.by[name], b, b.ReceivedMs+400, sig, -117)
			*ws = append(*ws, *w)
		}
	}
	editW := func(i int, f func(r *wire.WitnessReport, w *Witness)) func(*town, *Params, *Beacon, *[]Witness) {
		return func(_ *town, _ *Params, _ *Beacon, ws *[]Witness) { f((*ws)[i].Report, &(*ws)[i]) }
	}
	cases := []reasonCase{
		{name: "valid beacon", target: -1, want: ReasonNone},
		{name: "valid witness", target: 0, want: ReasonNone},
		{name: "gateway_not_found beacon", beaconer: "ghost", target: -1, want: ReasonGatewayNotFound},
		{name: "not_asserted beacon", beaconer: "nowhere", target: -1, want: ReasonNotAsserted},
		{name: "denied beacon", target: -1, want: ReasonDenied, mutate: func(tw *town, p *Params, _ *Beacon, _ *[]Witness) {
			p.Deny.Keys = []wire.PublicKey{tw.by["a"].key}
		}},
		{name: "denied spreads to witnesses", target: 1, want: ReasonDenied, side: SideBeaconer, mutate: func(tw *town, p *Params, _ *Beacon, _ *[]Witness) {
			p.Deny.Keys = []wire.PublicKey{tw.by["a"].key}
		}},
		{name: "stale: unknown entropy signer", target: -1, want: ReasonStale, mutate: func(_ *town, p *Params, _ *Beacon, _ *[]Witness) {
			p.EntropySigners = []wire.PublicKey{{1}}
		}},
		{name: "entropy_expired beacon", target: -1, want: ReasonEntropyExpired, mutate: func(_ *town, _ *Params, b *Beacon, _ *[]Witness) {
			b.ReceivedMs += 200_000
		}},
		{name: "invalid_capability beacon", beaconer: "dataonly", target: -1, want: ReasonInvalidCapability},
		{name: "irregular_interval", target: -1, want: ReasonIrregularInterval, mutate: func(tw *town, _ *Params, b *Beacon, _ *[]Witness) {
			// an earlier beacon of a in the same bucket is in the history
			early := tw.makeBeacon(tw.by["a"], b.ReceivedMs-60_000)
			tw.beacons = append(tw.beacons, early)
		}},
		{name: "invalid_packet: payload", target: -1, want: ReasonInvalidPacket, mutate: func(_ *town, _ *Params, b *Beacon, _ *[]Witness) {
			b.Report.Nonce[0] ^= 1
		}},
		{name: "invalid_packet: frequency", target: -1, want: ReasonInvalidPacket, mutate: func(_ *town, _ *Params, b *Beacon, _ *[]Witness) {
			b.Report.FrequencyHz += 200_000
		}},
		{name: "invalid_packet: data rate", target: -1, want: ReasonInvalidPacket, mutate: func(_ *town, _ *Params, b *Beacon, _ *[]Witness) {
			b.Report.Datarate = "SF9BW125"
		}},
		{name: "invalid_packet: stolen by another key", target: -1, want: ReasonInvalidPacket, mutate: func(tw *town, _ *Params, b *Beacon, _ *[]Witness) {
			b.Report.PubKey = tw.by["b"].key[:]
		}},
		{name: "invalid_packet spreads to witnesses", target: 0, want: ReasonInvalidPacket, side: SideBeaconer, mutate: func(_ *town, _ *Params, b *Beacon, _ *[]Witness) {
			b.Report.Nonce[0] ^= 1
		}},
		{name: "invalid_tx_power", target: -1, want: ReasonInvalidTxPower, mutate: setPower(+3)},
		{name: "gateway_no_valid_witnesses", beaconer: "newbie", target: -1, want: ReasonGatewayNoValidWitnesses},
		{name: "duplicate", target: 3, want: ReasonDuplicate, mutate: func(tw *town, _ *Params, b *Beacon, ws *[]Witness) {
			w := tw.witness(tw.by["b"], b, b.ReceivedMs+900, -101, -117)
			*ws = append(*ws, *w)
		}},
		{name: "self_witness is dropped", target: 3, want: ReasonSelfWitness, mutate: addWitness("a", -100)},
		{name: "gateway_not_found witness", target: 3, want: ReasonGatewayNotFound, mutate: addWitness("ghost", -100)},
		{name: "not_asserted witness", target: 3, want: ReasonNotAsserted, mutate: addWitness("nowhere", -100)},
		{name: "denied witness", target: 0, want: ReasonDenied, mutate: func(tw *town, p *Params, _ *Beacon, _ *[]Witness) {
			p.Deny.Keys = []wire.PublicKey{tw.by["b"].key}
		}},
		{name: "denied_edge", target: 0, want: ReasonDeniedEdge, mutate: func(tw *town, p *Params, _ *Beacon, _ *[]Witness) {
			p.Deny.Edges = []Edge{{tw.by["a"].key, tw.by["b"].key}}
		}},
		{name: "entropy_expired witness", target: 2, want: ReasonEntropyExpired, mutate: editW(2, func(_ *wire.WitnessReport, w *Witness) { w.ReceivedMs += 200_000 })},
		{name: "too_late after the beacon", target: 2, want: ReasonTooLate, mutate: editW(2, func(_ *wire.WitnessReport, w *Witness) { w.ReceivedMs += 4000 })},
		{name: "too_late after the first witness", target: 2, want: ReasonTooLate, mutate: func(_ *town, _ *Params, b *Beacon, ws *[]Witness) {
			b.ReceivedMs += 2000 // beacon report after the first witness: 1.5 s rule
			(*ws)[2].ReceivedMs = (*ws)[0].ReceivedMs + 1501
		}},
		{name: "invalid_capability witness", target: 3, want: ReasonInvalidCapability, mutate: addWitness("dataonly", -100)},
		{name: "invalid_frequency", target: 1, want: ReasonInvalidFrequency, mutate: editW(1, func(r *wire.WitnessReport, _ *Witness) { r.FrequencyHz += 100_001 })},
		{name: "frequency within tolerance", target: 1, want: ReasonNone, mutate: editW(1, func(r *wire.WitnessReport, _ *Witness) { r.FrequencyHz += 100_000 })},
		{name: "invalid_datarate", target: 1, want: ReasonInvalidDatarate, mutate: editW(1, func(r *wire.WitnessReport, _ *Witness) { r.Datarate = "SF11BW125" })},
		{name: "invalid_region", target: 3, want: ReasonInvalidRegion, mutate: addWitness("usa", -120)},
		{name: "below_min_distance", target: 3, want: ReasonBelowMinDistance, mutate: addWitness("near", -100)},
		{name: "max_distance_exceeded", target: 3, want: ReasonMaxDistanceExceeded, mutate: addWitness("far", -125)},
		{name: "bad_rssi", target: 0, want: ReasonBadRSSI, mutate: editW(0, func(r *wire.WitnessReport, _ *Witness) {
			v := int32(-500)
			r.RssisDdbm = &v
			r.RssiDdbm = -500
		})},
		// snr 25 dB at −100 dBm: implied noise −125.01 dBm, inside the floor
		// tolerance; before the revision snr > 20 alone rejected it.
		{name: "snr 25 alone is valid", target: 0, want: ReasonNone, mutate: editW(0, func(r *wire.WitnessReport, _ *Witness) { r.SnrDdb = 250 })},
		{name: "implausible_signal: rssis inconsistent", target: 0, want: ReasonImplausibleSignal, mutate: editW(0, func(r *wire.WitnessReport, _ *Witness) {
			v := *r.RssisDdbm + 100
			r.RssisDdbm = &v
		})},
		{name: "gateway_no_valid_beacons", target: 3, want: ReasonGatewayNoValidBeacons, mutate: addWitness("newbie", -105)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tw := smallTown(t)
			name := tc.beaconer
			if name == "" {
				name = "a"
			}
			ms := tw.p.EpochStart(testEpoch) + hourMs
			b := tw.makeBeacon(tw.by[name], ms)
			var ws []Witness
			for _, n := range []string{"b", "c", "d"} {
				if n == name {
					n = "a"
				}
				ws = append(ws, *tw.witness(tw.by[n], &b, ms+300+int64(len(ws))*50, -100, -117))
			}
			p := tw.p
			// witness reports are protos shared with the town: clone
			b.Report = proto.Clone(b.Report).(*wire.BeaconReport)
			for i := range ws {
				ws[i].Report = proto.Clone(ws[i].Report).(*wire.WitnessReport)
			}
			if tc.mutate != nil {
				tc.mutate(tw, &p, &b, &ws)
			}
			reg, err := NewRegistry(tw.registry())
			if err != nil {
				t.Fatal(err)
			}
			hist := NewHistory(p, reg, tw.beacons, tw.witnesses)
			poc := VerifyPoC(p, b, ws, reg, hist)
			if tc.target < 0 {
				if poc.Reason != tc.want {
					t.Fatalf("beacon reason %v, want %v", poc.Reason, tc.want)
				}
				return
			}
			id := ws[tc.target].ID
			for _, w := range poc.Witnesses {
				if w.ID == id {
					if w.Reason != tc.want {
						t.Fatalf("witness reason %v (side %d), want %v; beacon %v", w.Reason, w.Side, tc.want, poc.Reason)
					}
					if tc.side != SideNone && w.Side != tc.side {
						t.Fatalf("side %d, want %d", w.Side, tc.side)
					}
					return
				}
			}
			if tc.want != ReasonSelfWitness {
				t.Fatalf("witness not in the PoC; want %v", tc.want)
			}
		})
	}
}

// The free-space vector of poc-rules §5 through the witness check.
func TestBadRSSIVector(t *testing.T) {
	got := radio.MaxRSSI(12, 81, 83, 508, 867_900_024)
	if d := float64(got) + 57.3342; d > 5e-5 || d < -5e-5 {
		t.Fatalf("max rssi %v, want -57.3342", got)
	}
	if !(float64(-570)/10.0 > float64(got)) || float64(-580)/10.0 > float64(got) {
		t.Fatalf("-570 must fail and -580 pass against %v", got)
	}
}

// The examples of poc-rules §12c at BW125.
func TestImplausibleSignalExamples(t *testing.T) {
	e := newEngine(DefaultParams(), &Registry{index: map[wire.PublicKey]int32{}})
	dr := radio.DataRate{SF: 9, Bandwidth: 125_000}
	ptr := func(v int32) *int32 { return &v }
	cases := []struct {
		rssi, snr int32
		rssis     *int32
		ok        bool
	}{
		{-1250, 80, nil, false},
		{-1100, -50, nil, true},
		{-500, -150, nil, false},
		{-950, 75, ptr(-960), true},
		{-1100, 210, nil, false},     // snr 21 but N = −131.03 < −125.03: the floor, not the SNR, rejects it
		{-800, 300, nil, true},       // snr 30 at −80 dBm: N = −110.00, a strong honest link, no longer rejected
		{-700, 400, ptr(-700), true}, // snr 40 (unsaturated SNR), rssis = N + snr
		{-600, 500, nil, true},       // snr 50: no upper SNR bound at all
		{-1300, -160, nil, false},    // below SNR_min(SF9) − 3
		{-1150, -155, nil, true},     // exactly SNR_min(SF9) − 3 = −15.5 is allowed
	}
	for _, c := range cases {
		w := &wire.WitnessReport{RssiDdbm: c.rssi, SnrDdb: c.snr, RssisDdbm: c.rssis}
		if got := e.plausible(w, dr); got != c.ok {
			t.Errorf("rssi %d snr %d rssis %v: plausible %v, want %v", c.rssi, c.snr, c.rssis, got, c.ok)
		}
	}
}

// A witness report whose payload matches no beacon is stale, counted on
// the witness's line.
func TestStaleOrphanWitness(t *testing.T) {
	tw := smallTown(t)
	ms := tw.p.EpochStart(testEpoch) + hourMs
	b := tw.makeBeacon(tw.by["a"], ms) // never stored
	tw.witness(tw.by["b"], &b, ms+300, -100, -117)
	m, err := ComputeEpoch(tw.input(testEpoch))
	if err != nil {
		t.Fatal(err)
	}
	l := lineOf(m, tw.by["b"])
	if l == nil || len(l.InvalidWitnesses) != 1 || l.InvalidWitnesses[0] != (ReasonCount{ReasonStale, 1}) {
		t.Fatalf("line %+v", l)
	}
}

func TestParamsHash(t *testing.T) {
	p := DefaultParams()
	h := p.Hash()
	q := DefaultParams()
	q.Deny.Keys = []wire.PublicKey{{2}, {1}}
	r := DefaultParams()
	r.Deny.Keys = []wire.PublicKey{{1}, {2}}
	if q.Hash() != r.Hash() || q.Hash() == h {
		t.Fatal("deny list order must not matter, its content must")
	}
	for i, mut := range []func(*Params){
		func(p *Params) { p.EpochLength *= 2 },
		func(p *Params) { p.MaxWitnesses = 13 },
		func(p *Params) { p.Density[2].Max = 51 },
		func(p *Params) { p.NoiseFigureDB = 7 },
		func(p *Params) { p.Detectors.CliqueDensity = 0.5 },
		func(p *Params) { p.Detectors.TxMinEvents = 4 },
		func(p *Params) { p.Detectors.TxMinEpochEvents = 2 },
		func(p *Params) { p.Detectors.TxMinPartners = 6 },
		func(p *Params) { p.Detectors.TxMaxAsymmetryDB = 7 },
		func(p *Params) { p.OpsBP = 999 },
		func(p *Params) { p.EntropySigners = []wire.PublicKey{{3}} },
		func(p *Params) { p.OpsOwner = wire.PublicKey{4} },
	} {
		q := DefaultParams()
		q.Density = slices.Clone(q.Density)
		mut(&q)
		if q.Hash() == h {
			t.Errorf("mutation %d does not change the hash", i)
		}
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := DefaultParams()
	bad.BeaconInterval = 7 * time.Hour
	if err := bad.Validate(); err == nil {
		t.Fatal("an interval that does not divide the epoch must be rejected")
	}
	for i, mut := range []func(*DetectorParams){
		func(d *DetectorParams) { d.TxMinEvents = 0 },
		func(d *DetectorParams) { d.TxMinEpochEvents = 0 },
		func(d *DetectorParams) { d.TxMinPartners = 0 },
		func(d *DetectorParams) { d.TxMaxAsymmetryDB = -1 },
		func(d *DetectorParams) { d.TxMaxAsymmetryDB = math.NaN() },
		func(d *DetectorParams) { d.TxMaxAsymmetryDB = math.Inf(1) },
	} {
		q := DefaultParams()
		mut(&q.Detectors)
		if err := q.Validate(); err == nil {
			t.Errorf("excess_tx_power mutation %d accepted", i)
		}
		q.Detectors.Disabled = true
		if err := q.Validate(); err != nil {
			t.Errorf("excess_tx_power mutation %d rejected with the detectors off: %v", i, err)
		}
	}
}

func TestInputWindow(t *testing.T) {
	p := DefaultParams()
	from, to := p.InputWindow(testEpoch)
	start := p.EpochStart(testEpoch)
	// 6 previous epochs + 48 h + 180 s, rounded down to a 6 h bucket
	if want := start - 6*dayMs - 48*hourMs - 6*hourMs; from != want {
		t.Errorf("from %d, want %d", from, want)
	}
	if to != start+dayMs+30*60*1000 {
		t.Errorf("to %d", to)
	}
}

// Every reason code: its number (poc-rules §13, 31 an [hx] addition), its
// name both ways, and whether it is a hotspot-scope detector flag.
func TestReasonNames(t *testing.T) {
	cases := []struct {
		r     Reason
		num   uint8
		name  string
		scope string // B, W, H, or "" for reserved codes
	}{
		{ReasonNone, 0, "reason_none", "BW"},
		{ReasonBadSignature, 1, "bad_signature", ""},
		{ReasonNotAsserted, 2, "not_asserted", "BW"},
		{ReasonEntropyExpired, 3, "entropy_expired", "BW"},
		{ReasonBadEntropy, 4, "bad_entropy", ""},
		{ReasonInvalidCapability, 5, "invalid_capability", "BW"},
		{ReasonInvalidPubkey, 6, "invalid_pubkey", ""},
		{ReasonIrregularInterval, 7, "irregular_interval", "B"},
		{ReasonGatewayNotFound, 8, "gateway_not_found", "BW"},
		{ReasonDenied, 9, "denied", "BW"},
		{ReasonInvalidPacket, 10, "invalid_packet", "BW"},
		{ReasonBadRSSI, 11, "bad_rssi", "W"},
		{ReasonInvalidRegion, 12, "invalid_region", "W"},
		{ReasonMaxDistanceExceeded, 13, "max_distance_exceeded", "W"},
		{ReasonInvalidFrequency, 14, "invalid_frequency", "W"},
		{ReasonSelfWitness, 15, "self_witness", "W"},
		{ReasonStale, 16, "stale", "BW"},
		{ReasonScalingFactorNotFound, 17, "scaling_factor_not_found", ""},
		{ReasonUnknownError, 18, "unknown_error", ""},
		{ReasonBelowMinDistance, 19, "below_min_distance", "W"},
		{ReasonDuplicate, 20, "duplicate", "W"},
		{ReasonDeniedEdge, 21, "denied_edge", ""},
		{ReasonTooLate, 22, "too_late", "W"},
		{ReasonGatewayNoValidBeacons, 23, "gateway_no_valid_beacons", "W"},
		{ReasonGatewayNoValidWitnesses, 24, "gateway_no_valid_witnesses", "B"},
		{ReasonInvalidTxPower, 25, "invalid_tx_power", "B"},
		{ReasonImplausibleSignal, 26, "implausible_signal", "W"},
		{ReasonInvalidDatarate, 27, "invalid_datarate", "W"},
		{ReasonDistanceInsensitive, 28, "distance_insensitive", "H"},
		{ReasonIsolatedClique, 29, "isolated_clique", "H"},
		{ReasonAntennaSplit, 30, "antenna_split", "H"},
		{ReasonExcessTxPower, 31, "excess_tx_power", "H"},
		{ReasonUnheard, 32, "unheard", "H"},
		{ReasonUntrusted, 33, "untrusted", "H"},
	}
	if len(cases) != NumReasons {
		t.Fatalf("%d cases for %d reasons", len(cases), NumReasons)
	}
	for i, c := range cases {
		if uint8(c.r) != c.num || int(c.num) != i {
			t.Errorf("%s is %d, want %d", c.name, c.r, c.num)
		}
		if c.r.String() != c.name {
			t.Errorf("%d: String %q, want %q", c.num, c.r.String(), c.name)
		}
		got, err := ParseReason(c.name)
		if err != nil || got != c.r {
			t.Errorf("ParseReason(%q) = %v, %v", c.name, got, err)
		}
		var u Reason
		if b, _ := c.r.MarshalText(); u.UnmarshalText(b) != nil || u != c.r {
			t.Errorf("%s: text round trip gives %v", c.name, u)
		}
		if c.r.IsHotspotFlag() != (c.scope == "H") {
			t.Errorf("%s: IsHotspotFlag %v", c.name, c.r.IsHotspotFlag())
		}
		if c.r.Valid() != (c.num == 0) {
			t.Errorf("%s: Valid %v", c.name, c.r.Valid())
		}
	}
	if Reason(NumReasons).String() != "reason_34" {
		t.Errorf("unknown reason prints %q", Reason(NumReasons).String())
	}
	if _, err := ParseReason("reason_33"); err == nil {
		t.Error("an unknown name parses")
	}
}

// An honest US915 hotspot transmits what its SX1302 board can emit,
// 27 dBm, and reports it (TX_ACK). Before the region's conducted-power cap
// the prescribed power was 34 dBm for the default 1.2 dBi antenna (30 dBm
// for 6 dBi), so every honest US915 beacon failed invalid_tx_power.
func TestUS915BeaconAtSX1302Power(t *testing.T) {
	for _, gain := range []int32{12, 60} {
		tw := newTown(t, 5)
		for i, name := range []string{"a", "b", "c", "d"} {
			lat, lng := offset(40.7128, -74.0060, 1200*float64(i), float64(i)*95)
			tw.add(name, lat, lng).gain = gain
		}
		tw.build()
		start := tw.p.EpochStart(testEpoch)
		tw.rounds(start-3*dayMs, start)
		for i := range tw.beacons {
			if p := tw.beacons[i].Report.TxPowerDbm; p != 27 {
				t.Fatalf("gain %d: the town's US915 beacons report %d dBm, want 27", gain, p)
			}
		}
		ms := start + hourMs
		b := tw.beacon(tw.by["a"], ms)
		var ws []Witness
		for _, w := range tw.witnesses {
			if string(w.Report.Payload) == string(b.Report.Payload) {
				ws = append(ws, w)
			}
		}
		poc := VerifyPoC(tw.p, *b, ws, mustRegistry(t, tw), NewHistory(tw.p, mustRegistry(t, tw), tw.beacons, tw.witnesses))
		if poc.Reason != ReasonNone || poc.Selected == 0 {
			t.Errorf("gain %d: US915 beacon at 27 dBm: %v with %d selected witnesses", gain, poc.Reason, poc.Selected)
		}
	}
}

func mustRegistry(tb testing.TB, tw *town) *Registry {
	tb.Helper()
	reg, err := NewRegistry(tw.registry())
	if err != nil {
		tb.Fatal(err)
	}
	return reg
}

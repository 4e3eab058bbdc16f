package verifier

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/hexfield/hexfield/wire"
)

// Charging throughput (routing.md §7) against ingest: an epoch's packet
// reports must be charged at epoch close faster than the oracle ingests
// them, or the close falls behind the traffic. Both benchmarks count per
// packet report, so that one command compares them at the same size:
//
//	go test -p 1 -run '^$' -bench '^Benchmark(Charging|ChargingEpoch|Ingest)$' -benchtime 100000x ./verifier ./oracle

// Shape of the charging benchmark's epoch: a city of hotspots, eight
// routes of four payers, and devices each heard by one to seven nearby
// hotspots.
const (
	benchHotspots      = 5000
	benchRoutes        = 8
	benchDevsPerRoute  = 250
	benchDevAddrsRoute = 256 // DevAddrs per route; devices use the first benchDevsPerRoute
)

// benchMaxCopies is each route's max_copies.
var benchMaxCopies = [benchRoutes]uint32{1, 1, 2, 2, 3, 3, 5, 10}

// chargingEpoch builds one day's epoch of n packet reports and no PoC
// reports, for the charging benchmark. Route r3 has session key filters
// for all its devices, so its copies are MIC-checked; the payer of r6 and
// r7 can pay for only part of their traffic. Copies of an uplink arrive
// within a second; one copy in 20 is repeated by its hotspot 2 s later
// (a repeat: free), one uplink in 100 gets a copy 130 s later (a replay
// after the copy window: free). Ids are hashes, not signatures (ingest
// checked those).
func chargingEpoch(tb testing.TB, n int) EpochInput {
	tb.Helper()
	p := DefaultParams()
	p.Charging.AllowWithoutPoC = true // no beacons here: let every hotspot win copies
	reg := make([]Hotspot, benchHotspots)
	keys := make([][]byte, benchHotspots)
	for i := range reg {
		k := wire.PublicKey(sha256.Sum256(binary.LittleEndian.AppendUint64([]byte("bench hotspot"), uint64(i))))
		reg[i] = Hotspot{Key: k, Owner: k, GainDdBi: 12}
		keys[i] = k[:]
	}
	payers := make([]wire.PublicKey, benchRoutes/2)
	var balances []Balance
	for i := range payers {
		payers[i] = wire.PublicKey(sha256.Sum256([]byte{'p', byte(i)}))
		dc := uint64(1 << 40)
		if i == len(payers)-1 {
			dc = uint64(n) / 20 // pays for part of r6's and r7's traffic only
		}
		balances = append(balances, Balance{Wallet: payers[i], DC: dc})
	}
	type device struct {
		route   int
		devAddr uint32
		key     [16]byte
		fcnt    uint32
		near    int // the first of the hotspots that hear it
	}
	var devs []device
	var routes []Route
	for r := range benchRoutes {
		start := uint32(0x02000000 + r*benchDevAddrsRoute)
		rt := Route{ID: fmt.Sprintf("r%d", r), Payer: payers[r/2], MaxCopies: benchMaxCopies[r], Active: true,
			DevAddrs: []DevAddrRange{{start, start + benchDevAddrsRoute - 1}}}
		for d := range benchDevsPerRoute {
			dv := device{route: r, devAddr: start + uint32(d), near: (r*benchDevsPerRoute + d) * 7 % benchHotspots}
			h := sha256.Sum256(binary.LittleEndian.AppendUint32(nil, dv.devAddr))
			dv.key = [16]byte(h[:16])
			if r == 3 {
				rt.SessionKeys = append(rt.SessionKeys, SessionKey{DevAddr: dv.devAddr, NwkSKey: dv.key})
			}
			devs = append(devs, dv)
		}
		routes = append(routes, rt)
	}

	in := EpochInput{Epoch: testEpoch, Params: p, Registry: reg, Routes: routes, Balances: balances, Emission: 1e12, TokensPerDC: Ratio{1, 1}}
	fundAll(&in)
	in.Packets = make([]Packet, 0, n+n/10)
	start := p.EpochStart(testEpoch)
	epochMs := p.EpochLength.Milliseconds()
	add := func(hs int, route string, phy []byte, ms int64) {
		if len(in.Packets) >= n {
			return
		}
		sum := sha256.Sum256(phy)
		rep := &wire.PacketReport{PubKey: keys[hs], PayloadHash: sum[:], PayloadSize: uint32(len(phy)), Payload: phy,
			RouteId: route, Datarate: "SF9BW125"}
		id := sha256.Sum256(binary.LittleEndian.AppendUint64(append(sum[:], keys[hs]...), uint64(ms)))
		in.Packets = append(in.Packets, Packet{ID: id, ReceivedMs: ms, Report: rep})
	}
	// Uplinks go round the devices (in a stride that mixes the routes),
	// evenly over the epoch, until there are n reports (about 4.2 per
	// uplink).
	uplinks := max(1, n*10/42)
	for u := 0; len(in.Packets) < n; u++ {
		dv := &devs[u*7919%len(devs)] // 7919 is prime: every device in turn
		route := routes[dv.route].ID
		phy := signedUp(tb, dv.devAddr, dv.fcnt, dv.key, string(make([]byte, 8+u%32)))
		dv.fcnt++
		ms := start + int64(u%uplinks)*epochMs/int64(uplinks)
		copies := 1 + int(sum8(phy)%7)
		for c := range copies {
			hs := (dv.near + c) % benchHotspots
			at := ms + 150 + int64(c)*120
			add(hs, route, phy, at)
			if len(in.Packets)%20 == 0 {
				add(hs, route, phy, at+2000) // the hotspot's repeat
			}
		}
		if u%100 == 99 {
			add((dv.near+copies)%benchHotspots, route, phy, ms+130_000) // after the copy window
		}
	}
	return in
}

func sum8(b []byte) byte {
	var s byte
	for _, x := range b {
		s += x
	}
	return s
}

// BenchmarkCharging times the charging rules alone over an epoch of
// b.N packet reports (run it with -benchtime 100000x for the issue's
// 100 000): each run is the whole epoch, so ns/op is per packet report,
// as in the oracle's BenchmarkIngest.
func BenchmarkCharging(b *testing.B) {
	in := chargingEpoch(b, b.N)
	reg, err := NewRegistry(in.Registry)
	if err != nil {
		b.Fatal(err)
	}
	routes, err := sortedRoutes(in.Routes)
	if err != nil {
		b.Fatal(err)
	}
	e := newEngine(in.Params, reg)
	start, end := in.Params.EpochStart(in.Epoch), in.Params.EpochEnd(in.Epoch)
	benchPerReport(b, func() ChargeStats {
		return e.charge(in.Packets, routes, in.Balances, start, end, func(int32) bool { return true }).stats
	})
}

// BenchmarkChargingEpoch is BenchmarkCharging through ComputeEpoch's
// path (EvaluateEpoch without beacons: charging, data-transfer rewards,
// the manifest), which is what the oracle runs at epoch close.
func BenchmarkChargingEpoch(b *testing.B) {
	in := chargingEpoch(b, b.N)
	benchPerReport(b, func() ChargeStats {
		res, err := EvaluateEpoch(in)
		if err != nil {
			b.Fatal(err)
		}
		return res.Charging
	})
}

// benchPerReport times charge, which charges an epoch of b.N packet
// reports once, and reports reports/s, the process CPU per report and the
// share of reports charged.
func benchPerReport(b *testing.B, charge func() ChargeStats) {
	cpu0 := processCPU()
	b.ResetTimer()
	st := charge()
	b.StopTimer()
	cpu := processCPU() - cpu0
	if st.Charged == 0 && b.N > 100 {
		b.Fatalf("nothing charged: %+v", st)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu_us/report")
	b.ReportMetric(float64(st.Charged)/float64(b.N), "charged/report")
	if b.N > 100 {
		b.Logf("%d packet reports: %d charged, free %v", b.N, st.Charged, st.Free)
	}
}

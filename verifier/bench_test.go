package verifier

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"syscall"
	"testing"
	"time"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/wire"
)

// bigNetwork builds one epoch of a network of side×side hotspots on a
// 1 km grid in central Europe, each beaconing once per 6 h bucket and heard
// by witnesses of its 5×5 neighbourhood (all 24 neighbours; per beacon the
// first `perBeacon` of them in a per-beacon rotation). Signals follow a
// log-distance model (exponent 3) so the checks pass; ids are hashes of
// counters (signing millions of reports would only time ed25519).
func bigNetwork(tb testing.TB, side, perBeacon int) EpochInput {
	tb.Helper()
	p := DefaultParams()
	p.Detectors.Disabled = false
	oracle := ed25519.NewKeyFromSeed(make([]byte, 32))
	p.EntropySigners = []wire.PublicKey{wire.PublicKeyOf(oracle)}
	const lat0, lng0 = 46.5, 6.5
	type node struct {
		key      wire.PublicKey
		lat, lng float64
	}
	n := side * side
	nodes := make([]node, n)
	reg := make([]Hotspot, n)
	keys := make([][]byte, n)
	for i := range n {
		var k wire.PublicKey
		binary.LittleEndian.PutUint64(k[:], uint64(i)+1)
		k = sha256.Sum256(k[:])
		lat := lat0 + float64(i/side)*1000/111_000
		lng := lng0 + float64(i%side)*1000/(111_000*math.Cos(lat0*math.Pi/180))
		cell, err := LatLngToCell(lat, lng, 12)
		if err != nil {
			tb.Fatal(err)
		}
		clat, clng, _ := CellLatLng(cell)
		nodes[i] = node{k, clat, clng}
		reg[i] = Hotspot{Key: k, Owner: k, Cell: cell, GainDdBi: 12}
		keys[i] = k[:]
	}
	eu, _ := radio.LookupRegion("EU868")
	start := p.EpochStart(testEpoch)
	ents := map[int64]struct {
		raw  []byte
		data [32]byte
	}{}
	entropy := func(ts int64) ([]byte, [32]byte) {
		if e, ok := ents[ts]; ok {
			return e.raw, e.data
		}
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(ts))
		data := sha256.Sum256(b[:])
		raw, err := wire.Seal(oracle, wire.Kind_KIND_ENTROPY, &wire.Entropy{Version: 1, Ts: ts, Data: data[:]})
		if err != nil {
			tb.Fatal(err)
		}
		ents[ts] = struct {
			raw  []byte
			data [32]byte
		}{raw, data}
		return raw, data
	}
	noise := float64(radio.NoiseFloor(125_000, 6))
	var ctr uint64
	id := func() [32]byte {
		ctr++
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], ctr)
		return sha256.Sum256(b[:])
	}
	in := EpochInput{Epoch: testEpoch, Params: p, Registry: reg, Emission: 1e12, TokensPerDC: Ratio{1, 1}}
	fundAll(&in)
	in.Beacons = make([]Beacon, 0, n*4)
	in.Witnesses = make([]Witness, 0, n*4*perBeacon)
	wreports := make([]wire.WitnessReport, 0, n*4*perBeacon)
	for bucket := range 4 {
		for i := range n {
			ms := start + int64(bucket)*6*hourMs + int64(i%20_000)*1000 + 5000
			ts := (ms/1000 - 20) / 60 * 60 // a new entropy value every 60 s
			raw, data := entropy(ts)
			var nonce [16]byte
			binary.LittleEndian.PutUint64(nonce[:], uint64(i))
			nonce[15] = byte(bucket)
			bc, err := radio.NewBeacon(eu, data, ts, nodes[i].key, nonce, 12)
			if err != nil {
				tb.Fatal(err)
			}
			payload := bc.Payload[:]
			dr := bc.DataRate.String()
			in.Beacons = append(in.Beacons, Beacon{ID: id(), ReceivedMs: ms, Report: &wire.BeaconReport{
				PubKey: keys[i], Entropy: raw, Nonce: nonce[:], Payload: payload,
				FrequencyHz: uint64(bc.Frequency), Datarate: dr, TxPowerDbm: int32(bc.PowerDBm),
			}})
			r, c := i/side, i%side
			got := 0
			for k := range 25 {
				kk := (k + bucket*7 + i) % 25
				dr0, dc0 := kk/5-2, kk%5-2
				if dr0 == 0 && dc0 == 0 {
					continue
				}
				rr, cc := r+dr0, c+dc0
				if rr < 0 || cc < 0 || rr >= side || cc >= side || got >= perBeacon {
					continue
				}
				j := rr*side + cc
				d := float64(radio.Distance(nodes[i].lat, nodes[i].lng, nodes[j].lat, nodes[j].lng))
				lo, hi := min(i, j), max(i, j)
				shadow := 6 * hashNormal(uint64(lo)<<32|uint64(hi))
				fade := 2 * hashNormal(uint64(i)<<40|uint64(j)<<8|uint64(bucket)|1<<63)
				sig := float64(bc.PowerDBm+2) - float64(radio.LogDistanceLoss(radio.Meters(d), bc.Frequency, 3, 1)) + shadow + fade
				sig = min(sig, -80)
				snr := sig - noise
				ch := 10 * math.Log10(math.Pow(10, sig/10)+math.Pow(10, noise/10))
				wreports = append(wreports, wire.WitnessReport{
					PubKey: keys[j], Payload: payload, FrequencyHz: uint64(bc.Frequency), Datarate: dr,
					RssiDdbm: int32(math.Round(ch * 10)), SnrDdb: int32(math.Round(snr * 10)),
				})
				in.Witnesses = append(in.Witnesses, Witness{ID: id(), ReceivedMs: ms + 300 + int64(got)*20, Report: &wreports[len(wreports)-1]})
				got++
			}
		}
	}
	return in
}

// hashNormal is a standard normal value drawn from a key, clipped to ±2.5.
func hashNormal(key uint64) float64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], key)
	h := sha256.Sum256(b[:])
	u1 := (float64(binary.LittleEndian.Uint32(h[:4])) + 1) / (1 << 32)
	u2 := float64(binary.LittleEndian.Uint32(h[4:8])) / (1 << 32)
	z := math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
	return max(-2.5, min(2.5, z))
}

func TestBigNetworkSmall(t *testing.T) {
	in := bigNetwork(t, 30, 15)
	res, err := EvaluateEpoch(in)
	if err != nil {
		t.Fatal(err)
	}
	h := reasonHistogram(res)
	if h["witness reason_none"] < len(in.Witnesses)/2 {
		t.Fatalf("few valid witnesses: %v", h)
	}
	if len(res.Flags) != 0 {
		t.Fatalf("flags in an honest grid: %v", res.Flags[:min(10, len(res.Flags))])
	}
	t.Logf("%v", h)
}

// BenchmarkComputeEpoch100k is the epoch: 100 000 hotspots, 4
// beacons each, 15 witnesses per beacon (6 M witness reports).
func BenchmarkComputeEpoch100k(b *testing.B) {
	in := bigNetwork(b, 317, 15)
	b.Logf("%d hotspots, %d beacons, %d witness reports", len(in.Registry), len(in.Beacons), len(in.Witnesses))
	benchEpoch(b, in)
}

// benchEpoch times ComputeEpoch and also reports the process CPU time per
// operation (user + system, every thread, GC included), which the other
// helpers' load on the shared machine does not inflate the way it does the
// wall time.
func benchEpoch(b *testing.B, in EpochInput) {
	cpu0 := processCPU()
	b.ResetTimer()
	for b.Loop() {
		if _, err := ComputeEpoch(in); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric((processCPU()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
}

// processCPU is the CPU time this process used so far (user + system, every
// thread), which other load on a shared machine does not inflate.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkComputeEpoch10k is the same network at a tenth of the size, to
// compare against (the time should scale about linearly).
func BenchmarkComputeEpoch10k(b *testing.B) {
	in := bigNetwork(b, 100, 15)
	benchEpoch(b, in)
}

// BenchmarkVerifyPoC is the oracle's per-beacon path: one beacon with its
// 15 witness reports against a prepared registry and history (900
// hotspots, one epoch of reports).
func BenchmarkVerifyPoC(b *testing.B) {
	in := bigNetwork(b, 30, 15)
	reg, err := NewRegistry(in.Registry)
	if err != nil {
		b.Fatal(err)
	}
	hist := NewHistory(in.Params, reg, in.Beacons, in.Witnesses)
	byPayload := map[string][]Witness{}
	for _, w := range in.Witnesses {
		byPayload[string(w.Report.Payload)] = append(byPayload[string(w.Report.Payload)], w)
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		bc := in.Beacons[len(in.Beacons)/2+i%(len(in.Beacons)/2)]
		p := VerifyPoC(in.Params, bc, byPayload[string(bc.Report.Payload)], reg, hist)
		if p.Reason != ReasonNone && p.Reason != ReasonGatewayNoValidWitnesses {
			b.Fatalf("beacon %v", p.Reason)
		}
		i++
	}
}

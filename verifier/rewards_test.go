package verifier

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/wire"
)

func TestDataCredits(t *testing.T) {
	for n, want := range map[int]uint64{1: 1, 24: 1, 25: 2, 48: 2, 49: 3, 255: 11, 0: 1} {
		if got := DataCredits(n, 24); got != want {
			t.Errorf("DataCredits(%d) = %d, want %d", n, got, want)
		}
	}
}

// addPackets gives h n delivered copies of distinct data uplinks of size
// bytes (at least 12, a data frame's minimum) in the epoch, on the town's
// route r1; join makes them join-requests and free copies forwarded free.
func (t *town) addPackets(h *tHotspot, n, size int, join, free bool) {
	start := t.p.EpochStart(testEpoch)
	for i := range n {
		phy := testFrame(fmt.Sprintf("%s-%d-%d", h.name, i, size), uint16(i), size, join)
		t.addCopy(h, phy, "r1", start+int64(i)*1000+5, free)
	}
}

// addCopy adds one packet report of h delivering phy on route at ms.
func (t *town) addCopy(h *tHotspot, phy []byte, route string, ms int64, free bool) *wire.PacketReport {
	hash := sha256.Sum256(phy)
	rep := &wire.PacketReport{PubKey: h.key[:], PayloadHash: hash[:], PayloadSize: uint32(len(phy)), Payload: phy,
		Free: free, RouteId: route, Datarate: "SF7BW125"}
	if u, err := radio.ParseUplink(phy); err == nil {
		rep.Join, rep.DevAddr, rep.JoinEui, rep.DevEui = u.Type == radio.FrameJoin, u.DevAddr, u.JoinEUI, u.DevEUI
	}
	t.packets = append(t.packets, Packet{ID: t.id(rep, ms), ReceivedMs: ms, Report: rep})
	return rep
}

// testFrame is a LoRaWAN uplink of size bytes (a 23-byte join-request for
// join) whose DevAddr (or DevEUI) derives from seed, with frame counter
// fcnt and a MIC that no session key verifies.
func testFrame(seed string, fcnt uint16, size int, join bool) []byte {
	d := sha256.Sum256([]byte(seed))
	if join {
		return append([]byte{0x00}, d[:22]...)
	}
	size = max(size, 12)
	b := []byte{0x40, d[0], d[1], d[2], d[3], 0, byte(fcnt), byte(fcnt >> 8)}
	if size > 12 {
		b = append(b, 1) // FPort
		for len(b) < size-4 {
			b = append(b, d[len(b)%32])
		}
	}
	return append(b, d[4:8]...)
}

func TestPoolsAndSplit(t *testing.T) {
	tw := honestTown(t, 11)
	const E = 1_000_000_000
	cases := []struct {
		name             string
		dc               int // copies of 24 bytes to h00 (1 DC each)
		perDC            uint64
		wantDT, wantPoC  uint64
		wantOps          uint64
		wantUnallocAtMin uint64
	}{
		{name: "no traffic", dc: 0, perDC: 1, wantDT: 0, wantPoC: 300_000_000, wantOps: 100_000_000},
		{name: "some traffic", dc: 2000, perDC: 100_000, wantDT: 200_000_000, wantPoC: 300_000_000, wantOps: 100_000_000},
		{name: "heavy traffic", dc: 2000, perDC: 1_000_000, wantDT: 850_000_000, wantPoC: 50_000_000, wantOps: 100_000_000},
		{name: "between", dc: 2000, perDC: 350_000, wantDT: 700_000_000, wantPoC: 200_000_000, wantOps: 100_000_000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tw.packets = nil
			tw.addPackets(tw.by["h00"], tc.dc, 24, false, false)
			tw.addPackets(tw.by["h01"], 50, 24, true, false) // joins are free
			tw.addPackets(tw.by["h02"], 50, 24, false, true) // free copies earn nothing
			in := tw.input(testEpoch)
			in.Emission = E
			in.TokensPerDC = Ratio{tc.perDC, 1}
			m, err := ComputeEpoch(in)
			if err != nil {
				t.Fatal(err)
			}
			if m.DataTransfer != tc.wantDT || m.BeaconPool+m.WitnessPool != tc.wantPoC || m.Ops != tc.wantOps {
				t.Fatalf("dt %d poc %d+%d ops %d; want %d %d %d", m.DataTransfer, m.BeaconPool, m.WitnessPool, m.Ops, tc.wantDT, tc.wantPoC, tc.wantOps)
			}
			if m.BeaconPool*4 != m.WitnessPool {
				t.Fatalf("beacon:witness %d:%d is not 20:80", m.BeaconPool, m.WitnessPool)
			}
			if l := lineOf(m, tw.by["h01"]); l.DC != 0 || l.DataTransfer != 0 {
				t.Fatalf("joins paid: %+v", l)
			}
			if l := lineOf(m, tw.by["h02"]); l.DC != 0 || l.DataTransfer != 0 {
				t.Fatalf("free copies paid: %+v", l)
			}
			if l := lineOf(m, tw.by["h00"]); l.DataTransfer != tc.wantDT {
				t.Fatalf("h00 data transfer %d, want %d", l.DataTransfer, tc.wantDT)
			}
			if m.Total+m.Unallocated != E || m.Total > E {
				t.Fatalf("total %d + unallocated %d ≠ %d", m.Total, m.Unallocated, E)
			}
			// the PoC pools are paid out but for rounding
			var poc uint64
			for _, h := range m.Hotspots {
				poc += h.Beacon + h.Witness
			}
			if tc.wantPoC-poc > uint64(2*len(m.Hotspots)) {
				t.Fatalf("poc paid %d of %d", poc, tc.wantPoC)
			}
		})
	}
}

func TestDataTransferProRata(t *testing.T) {
	tw := honestTown(t, 12)
	tw.addPackets(tw.by["h00"], 100, 24, false, false)
	tw.addPackets(tw.by["h01"], 100, 49, false, false) // 3 DC each
	in := tw.input(testEpoch)
	in.Emission = 1_000_000
	in.TokensPerDC = Ratio{1_000_000, 1} // far oversubscribed
	m, err := ComputeEpoch(in)
	if err != nil {
		t.Fatal(err)
	}
	a, b := lineOf(m, tw.by["h00"]), lineOf(m, tw.by["h01"])
	if a.DC != 100 || b.DC != 300 {
		t.Fatalf("dc %d %d", a.DC, b.DC)
	}
	if m.DataTransfer != 850_000 || a.DataTransfer != 212_500 || b.DataTransfer != 637_500 {
		t.Fatalf("dt %d: %d / %d", m.DataTransfer, a.DataTransfer, b.DataTransfer)
	}
}

func TestOpsOwnerIsPaid(t *testing.T) {
	tw := honestTown(t, 13)
	in := tw.input(testEpoch)
	in.Params.OpsOwner = fill(0xee)
	fundAll(&in)
	m, err := ComputeEpoch(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Amount(fill(0xee)); got != m.Ops || got == 0 {
		t.Fatalf("ops owner paid %d, ops %d", got, m.Ops)
	}
}

func shuffled[T any](rng *rand.Rand, xs []T) []T {
	out := slices.Clone(xs)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// Property: the order of every input slice never changes the manifest
// bytes, and reports passed twice count once.
func TestManifestShuffleInvariant(t *testing.T) {
	tw := honestTown(t, 21)
	tw.addPackets(tw.by["h03"], 40, 30, false, false)
	in := tw.input(testEpoch)
	in.TokensPerDC = Ratio{7, 3}
	m, err := ComputeEpoch(in)
	if err != nil {
		t.Fatal(err)
	}
	want := m.Marshal()
	rng := rand.New(rand.NewPCG(4, 4))
	for i := range 4 {
		in2 := in
		in2.Registry = shuffled(rng, in.Registry)
		in2.Beacons = shuffled(rng, in.Beacons)
		in2.Witnesses = shuffled(rng, in.Witnesses)
		in2.Packets = shuffled(rng, in.Packets)
		in2.Params.EntropySigners = append([]wire.PublicKey{{9}}, in.Params.EntropySigners...)
		if i%2 == 1 {
			in2.Witnesses = append(in2.Witnesses, in.Witnesses[:100]...)
			in2.Beacons = append(in2.Beacons, in.Beacons[:10]...)
		}
		in2.Params.EntropySigners = in.Params.EntropySigners
		m2, err := ComputeEpoch(in2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(m2.Marshal(), want) {
			t.Fatalf("shuffle %d: manifest bytes differ (root %x vs %x)", i, m2.Root, m.Root)
		}
	}
}

func TestManifestRoundTrip(t *testing.T) {
	tw := honestTown(t, 22)
	in := tw.input(testEpoch)
	m, err := ComputeEpoch(in)
	if err != nil {
		t.Fatal(err)
	}
	b := m.Marshal()
	m2, err := UnmarshalManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m2.Marshal(), b) {
		t.Fatal("marshal(unmarshal(b)) != b")
	}
	for _, p := range m.Payouts {
		pr, err := m2.Proof(p.Owner)
		if err != nil {
			t.Fatal(err)
		}
		if !VerifyProof(m.Root, m.Epoch, pr) {
			t.Fatalf("proof of %s does not verify", p.Owner)
		}
	}
	if _, err := m.Proof(fill(0xab)); err == nil {
		t.Fatal("proof for an unpaid owner")
	}
	// corrupting an amount breaks the root check
	bad := bytes.Clone(b)
	bad[len(bad)-33] ^= 1
	if _, err := UnmarshalManifest(bad); err == nil {
		t.Fatal("corrupt manifest accepted")
	}
	for n := 0; n < len(b); n += 97 {
		if _, err := UnmarshalManifest(b[:n]); err == nil {
			t.Fatalf("truncated manifest (%d bytes) accepted", n)
		}
	}
}

func FuzzUnmarshalManifest(f *testing.F) {
	m := &Manifest{
		Version: 2, Epoch: 42, StartMs: 1, EndMs: 2, Emission: 10_000, TokensPerDC: Ratio{1, 3},
		Ops: 1000, BeaconPool: 600, WitnessPool: 2400,
		Hotspots: []HotspotReward{
			{Hotspot: fill(1), Owner: fill(7), Scale: 5000, BeaconUnits: 10000, Beacon: 600, Amount: 600,
				Flags: []Reason{ReasonAntennaSplit}, InvalidWitnesses: []ReasonCount{{ReasonTooLate, 2}}},
			{Hotspot: fill(2), Owner: fill(8), Scale: 10000, WitnessUnits: 30000, Witness: 2399, Amount: 2399,
				InvalidBeacons: []ReasonCount{{ReasonStale, 1}}},
		},
		Payouts: []Payout{{fill(7), 600}, {fill(8), 2399}},
	}
	m.Total = 2999
	m.Unallocated = m.Emission - m.Total
	m.Root = MerkleRoot(m.Epoch, m.Payouts)
	if _, err := UnmarshalManifest(m.Marshal()); err != nil {
		f.Fatal(err)
	}
	f.Add(m.Marshal())
	f.Add((&Manifest{Version: ManifestVersion}).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := UnmarshalManifest(b)
		if err != nil {
			return
		}
		if !bytes.Equal(m.Marshal(), b) {
			t.Fatal("decoded manifest does not re-encode to the same bytes")
		}
	})
}

// Property: the total paid never exceeds the emission, whatever the
// emission, DC price and traffic.
func TestTotalNeverExceedsEmission(t *testing.T) {
	tw := honestTown(t, 24)
	rng := rand.New(rand.NewPCG(5, 5))
	for i := range 30 {
		tw.packets = nil
		tw.addPackets(tw.hs[rng.IntN(len(tw.hs))], rng.IntN(300), 1+rng.IntN(255), false, false)
		in := tw.input(testEpoch)
		in.Emission = rng.Uint64N(1 << 62)
		if i%5 == 0 {
			in.Emission = uint64(rng.IntN(1000))
		}
		in.TokensPerDC = Ratio{rng.Uint64N(1 << 40), 1 + rng.Uint64N(1000)}
		in.Params.OpsOwner = fill(byte(i))
		fundAll(&in)
		m, err := ComputeEpoch(in)
		if err != nil {
			t.Fatal(err)
		}
		if m.Total > m.Emission || m.Total+m.Unallocated != m.Emission {
			t.Fatalf("emission %d: total %d unallocated %d", m.Emission, m.Total, m.Unallocated)
		}
		var sum uint64
		for _, h := range m.Hotspots {
			sum += h.Amount
		}
		if !in.Params.OpsOwner.IsZero() {
			sum += m.Ops
		}
		if sum != m.Total {
			t.Fatalf("lines %d + ops %d vs total %d", sum, m.Ops, m.Total)
		}
	}
}

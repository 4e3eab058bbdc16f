package verifier

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/brocaar/lorawan"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/wire"
)

// chargingTown is the honest grid town plus "sybil", a registered hotspot
// 300 km away that never beacons (so it has no valid PoC), and route r1
// paid by townPayer.
func chargingTown(tb testing.TB, seed uint64) *town {
	tb.Helper()
	t := newTown(tb, seed)
	t.grid("h", 47.3769, 8.5417, 6, 1200, 300)
	t.add("sybil", 45.0, 6.0).silent = true
	t.build()
	start := t.p.EpochStart(testEpoch)
	t.rounds(start-3*dayMs, start+dayMs)
	return t
}

// signedUp is a LoRaWAN 1.0 data uplink with a valid MIC under key.
func signedUp(tb testing.TB, devAddr uint32, fcnt uint32, key [16]byte, payload string) []byte {
	tb.Helper()
	port := uint8(2)
	p := lorawan.PHYPayload{
		MHDR: lorawan.MHDR{MType: lorawan.UnconfirmedDataUp, Major: lorawan.LoRaWANR1},
		MACPayload: &lorawan.MACPayload{
			FHDR:       lorawan.FHDR{DevAddr: lorawan.DevAddr{byte(devAddr >> 24), byte(devAddr >> 16), byte(devAddr >> 8), byte(devAddr)}, FCnt: fcnt},
			FPort:      &port,
			FRMPayload: []lorawan.Payload{&lorawan.DataPayload{Bytes: []byte(payload)}},
		},
	}
	if err := p.SetUplinkDataMIC(lorawan.LoRaWAN1_0, 0, 0, 0, key, key); err != nil {
		tb.Fatal(err)
	}
	b, err := p.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func evaluate(t *testing.T, in EpochInput) *EpochResult {
	t.Helper()
	res, err := EvaluateEpoch(in)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// checkChargeSums checks that the route charges, the hotspot lines and the
// manifest's DC agree, and that no payer is charged beyond its balance.
func checkChargeSums(t *testing.T, in EpochInput, m *Manifest) {
	t.Helper()
	var routes, lines uint64
	perPayer := map[wire.PublicKey]uint64{}
	for _, c := range m.Charges {
		routes += c.DC
		perPayer[c.Payer] += c.DC
	}
	for _, h := range m.Hotspots {
		lines += h.DC
	}
	if routes != m.DC || lines != m.DC {
		t.Fatalf("route charges %d, hotspot lines %d, manifest DC %d", routes, lines, m.DC)
	}
	for payer, dc := range perPayer {
		var bal uint64
		for _, b := range in.Balances {
			if b.Wallet == payer {
				bal += b.DC
			}
		}
		if dc > bal {
			t.Fatalf("payer %s charged %d DC with a balance of %d", payer, dc, bal)
		}
	}
}

// TestChargingForgedReports: packet reports whose claims are false earn
// nothing beyond routing.md §7's rules, and cost the customer nothing.
func TestChargingForgedReports(t *testing.T) {
	tw := chargingTown(t, 31)
	h := tw.by["h00"]
	start := tw.p.EpochStart(testEpoch)
	at := func(i int) int64 { return start + 3_600_000 + int64(i)*1000 }
	key := [16]byte{0x5e, 0xc7}
	real := signedUp(t, 0x02000001, 1, key, "real sensor data")

	// A huge claimed size on a 12-byte frame: priced by the payload.
	rep := tw.addCopy(h, testFrame("big", 1, 12, false), "r1", at(0), false)
	rep.PayloadSize = 1<<32 - 1
	// A hash that is not the payload's.
	rep = tw.addCopy(h, testFrame("hash", 1, 40, false), "r1", at(1), false)
	rep.PayloadHash[0] ^= 1
	// No payload at all, only claims.
	rep = tw.addCopy(h, testFrame("nopayload", 1, 40, false), "r1", at(2), false)
	rep.Payload = nil
	// An unknown route, and a route that is not active.
	tw.addCopy(h, testFrame("unknown", 1, 40, false), "nobody", at(3), false)
	tw.addCopy(h, testFrame("inactive", 1, 40, false), "off", at(4), false)
	// Not LoRaWAN: a proprietary frame, random bytes, a downlink.
	tw.addCopy(h, append([]byte{0xe0}, make([]byte, 51)...), "r1", at(5), false)
	tw.addCopy(h, []byte("not a lorawan frame at all"), "r1", at(6), false)
	tw.addCopy(h, append([]byte{0x60}, make([]byte, 20)...), "r1", at(7), false)
	// A DevAddr outside r2's range.
	tw.addCopy(h, signedUp(t, 0x03000000, 1, key, "x"), "r2", at(8), false)
	// On r2, which filters 0x02000001 by its NwkSKey: a forged frame with a
	// bad MIC is free, the real one is charged.
	tw.addCopy(h, signedUp(t, 0x02000001, 2, [16]byte{0xba, 0xd}, "forged"), "r2", at(9), false)
	tw.addCopy(h, real, "r2", at(10), false)
	// A sybil without PoC reports the frame the insider h00 heard.
	tw.addCopy(tw.by["sybil"], real, "r2", at(10)+50, false)
	// A join-request: free.
	tw.addCopy(h, testFrame("join", 0, 0, true), "r1", at(11), false)

	in := tw.input(testEpoch)
	in.Routes = append(in.Routes,
		Route{ID: "off", Payer: townPayer, DevAddrs: []DevAddrRange{{0, 0xffffffff}}, Active: false},
		Route{ID: "r2", Payer: townPayer, DevAddrs: []DevAddrRange{{0x02000000, 0x020000ff}}, MaxCopies: 3, Active: true,
			SessionKeys: []SessionKey{{DevAddr: 0x02000001, NwkSKey: key}}})
	res := evaluate(t, in)
	m := res.Manifest
	checkChargeSums(t, in, m)
	want := map[string]uint32{FreeInvalid: 5, FreeNoRoute: 3, FreeMIC: 1, FreeNoPoC: 1, FreeJoin: 1}
	if fmt.Sprint(res.Charging.Free) != fmt.Sprint(want) || res.Charging.Charged != 2 {
		t.Fatalf("charging %+v, want 2 charged and free %v", res.Charging, want)
	}
	// The 12-byte frame costs 1 DC, the real 30-byte uplink 2.
	if l := lineOf(m, h); l.DC != 3 {
		t.Fatalf("h00 earned %d DC, want 3", l.DC)
	}
	if l := lineOf(m, tw.by["sybil"]); l != nil && l.DC != 0 {
		t.Fatalf("the sybil earned %d DC", l.DC)
	}
}

// TestChargingMaxCopies: four hotspots hear one uplink and the route pays
// for two: exactly two are charged, the two first by SHA-256(payload hash
// ‖ hotspot key), whatever the order of the reports.
func TestChargingMaxCopies(t *testing.T) {
	tw := chargingTown(t, 32)
	start := tw.p.EpochStart(testEpoch)
	phy := signedUp(t, 0x02000010, 7, [16]byte{1}, "heard four times")
	hs := []*tHotspot{tw.by["h00"], tw.by["h07"], tw.by["h14"], tw.by["h21"]}
	for i, h := range hs {
		tw.addCopy(h, phy, "r1", start+7_200_000+int64(i)*40, false)
	}
	// One hotspot re-signs its copy: counted once.
	tw.addCopy(hs[0], phy, "r1", start+7_200_000+500, false)
	in := tw.input(testEpoch)
	in.Routes[0].MaxCopies = 2
	res := evaluate(t, in)
	checkChargeSums(t, in, res.Manifest)
	sum := sha256.Sum256(phy)
	var winners []wire.PublicKey
	for _, h := range sortedBy(hs, func(h *tHotspot) [32]byte { return sha256.Sum256(append(sum[:], h.key[:]...)) })[:2] {
		winners = append(winners, h.key)
	}
	paid := map[wire.PublicKey]uint64{}
	for _, l := range res.Manifest.Hotspots {
		if l.DC > 0 {
			paid[l.Hotspot] = l.DC
		}
	}
	if len(paid) != 2 || paid[winners[0]] == 0 || paid[winners[1]] == 0 {
		t.Fatalf("paid %v, want the two first by the order hash %v", paid, winners)
	}
	if res.Charging.Charged != 2 || res.Charging.Free[FreeCopies] != 2 || res.Charging.Free[FreeRepeat] != 1 {
		t.Fatalf("charging %+v", res.Charging)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 4 {
		in2 := in
		in2.Packets = shuffled(rng, in.Packets)
		in2.Routes = shuffled(rng, in.Routes)
		m2 := evaluate(t, in2).Manifest
		if string(m2.Marshal()) != string(res.Manifest.Marshal()) {
			t.Fatal("another report order charged other copies")
		}
	}
}

func sortedBy(hs []*tHotspot, key func(*tHotspot) [32]byte) []*tHotspot {
	out := slices.Clone(hs)
	slices.SortFunc(out, func(a, b *tHotspot) int { ka, kb := key(a), key(b); return bytes.Compare(ka[:], kb[:]) })
	return out
}

// TestChargingReplays: a copy reported again after the copy window, a
// frame first seen in the previous epoch, and a frame with another payload
// but the same (DevAddr, FCnt) are never charged twice.
func TestChargingReplays(t *testing.T) {
	tw := chargingTown(t, 33)
	start := tw.p.EpochStart(testEpoch)
	a, b := tw.by["h00"], tw.by["h01"]
	phy := signedUp(t, 0x02000020, 9, [16]byte{2}, "once")
	tw.addCopy(a, phy, "r1", start+1_000_000, false)
	tw.addCopy(b, phy, "r1", start+1_000_000+5*60_000, false) // five minutes later
	// The same counter with another payload: the same uplink.
	tw.addCopy(b, signedUp(t, 0x02000020, 9, [16]byte{2}, "other"), "r1", start+1_000_000+100, false)
	// Heard in the last minute of the previous epoch, reported again now.
	old := signedUp(t, 0x02000021, 3, [16]byte{2}, "yesterday")
	tw.addCopy(a, old, "r1", start-60_000, false)
	tw.addCopy(b, old, "r1", start+10_000, false)
	in := tw.input(testEpoch)
	in.Routes[0].MaxCopies = 5
	res := evaluate(t, in)
	checkChargeSums(t, in, res.Manifest)
	if res.Charging.Charged != 2 || res.Charging.Free[FreeReplay] != 2 {
		t.Fatalf("charging %+v, want 2 charged (both copies of the first uplink within its window) and 2 replays", res.Charging)
	}
}

// TestChargingCaps: one DevAddr is charged for at most its duty cycle's
// airtime, however many forged frames name it, and no payer beyond its
// balance.
func TestChargingCaps(t *testing.T) {
	tw := chargingTown(t, 34)
	start := tw.p.EpochStart(testEpoch)
	h := tw.by["h00"]
	// 1 % of a day is 864 s of airtime; a 12-byte frame at SF7BW125 is
	// 41 ms on air, so at most 21 073 such uplinks fit. Forge 30 000.
	const forged = 30_000
	for i := range forged {
		phy := testFrame("victim", uint16(i), 12, false)
		phy[1], phy[2], phy[3], phy[4] = 0x30, 0, 0, 0x02 // DevAddr 0x02000030
		tw.addCopy(h, phy, "r1", start+int64(i)*2000, false)
	}
	in := tw.input(testEpoch)
	res := evaluate(t, in)
	checkChargeSums(t, in, res.Manifest)
	air := airtimeOf(t, testFrame("victim", 0, 12, false))
	fit := uint32(int64(tw.p.EpochLength) / 100 / air)
	if res.Charging.Charged != fit || res.Charging.Free[FreeDutyCycle] != forged-fit {
		t.Fatalf("charging %+v; %d uplinks fit the duty cycle", res.Charging, fit)
	}

	// A payer with 5 DC pays for 5 one-DC copies of 20 uplinks.
	tw.packets = nil
	tw.addPackets(h, 20, 12, false, false)
	in = tw.input(testEpoch)
	in.Balances = []Balance{{Wallet: townPayer, DC: 5}}
	res = evaluate(t, in)
	checkChargeSums(t, in, res.Manifest)
	if res.Charging.Charged != 5 || res.Charging.Free[FreeBalance] != 15 || res.Manifest.DC != 5 {
		t.Fatalf("charging %+v, DC %d; want 5 charged, 15 beyond the balance", res.Charging, res.Manifest.DC)
	}
}

func airtimeOf(t *testing.T, phy []byte) int64 {
	t.Helper()
	dr, err := radio.ParseDataRate("SF7BW125")
	if err != nil {
		t.Fatal(err)
	}
	return int64(radio.Airtime(dr, len(phy)))
}

// TestChargingDeniedHotspotEarnsNothing: a hotspot on the deny list has no
// valid PoC, so its copies are free.
func TestChargingDeniedHotspotEarnsNothing(t *testing.T) {
	tw := chargingTown(t, 35)
	start := tw.p.EpochStart(testEpoch)
	tw.p.Deny.Keys = []wire.PublicKey{tw.by["h03"].key}
	tw.addCopy(tw.by["h03"], signedUp(t, 0x02000040, 1, [16]byte{3}, "denied"), "r1", start+5000, false)
	res := evaluate(t, tw.input(testEpoch))
	if res.Charging.Charged != 0 || res.Charging.Free[FreeNoPoC] != 1 {
		t.Fatalf("charging %+v: a denied hotspot's copy was charged", res.Charging)
	}
}

// TestChargingWithoutPoCAllowed: a private network may let hotspots without
// PoC win copies; and the
// parameter is part of the parameter hash, so oracles that differ on it
// never co-sign.
func TestChargingWithoutPoCAllowed(t *testing.T) {
	tw := chargingTown(t, 36)
	start := tw.p.EpochStart(testEpoch)
	tw.addCopy(tw.by["sybil"], signedUp(t, 0x02000050, 1, [16]byte{4}, "private"), "r1", start+5000, false)
	in := tw.input(testEpoch)
	if res := evaluate(t, in); res.Charging.Charged != 0 {
		t.Fatalf("open network: %+v", res.Charging)
	}
	in.Params.Charging.AllowWithoutPoC = true
	if res := evaluate(t, in); res.Charging.Charged != 1 {
		t.Fatalf("private network: %+v", res.Charging)
	}
	if in.Params.Hash() == tw.p.Hash() {
		t.Fatal("AllowWithoutPoC is not in the parameter hash")
	}
}

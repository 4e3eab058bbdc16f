package verifier

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/hexfield/hexfield/wire"
)

// accrualTown is the honest town beaconing over days epochs from
// testEpoch on, its 36 hotspots shared among owners owners.
func accrualTown(tb testing.TB, seed uint64, days, owners int) (*town, []wire.PublicKey) {
	tb.Helper()
	t := newTown(tb, seed)
	t.grid("h", 47.3769, 8.5417, 6, 1200, 300)
	t.build()
	start := t.p.EpochStart(testEpoch)
	t.rounds(start-3*dayMs, start+int64(days)*dayMs)
	keys := make([]wire.PublicKey, owners)
	for i := range keys {
		keys[i] = wire.PublicKeyOf(seedKey("accrual-owner:" + string(rune('a'+i))))
	}
	for i, h := range t.hs {
		h.owner = keys[i%owners]
	}
	slices.SortFunc(keys, cmpOwner)
	return t, keys
}

// earnedBy sums a manifest's hotspot lines by owner (no ops owner here).
func earnedBy(m *Manifest) map[wire.PublicKey]uint64 {
	out := map[wire.PublicKey]uint64{}
	for _, h := range m.Hotspots {
		out[h.Owner] += h.Amount
	}
	return out
}

// next is the input of the epoch after parent, as an oracle builds it:
// the parent's ledger from its stored bytes.
func next(tb testing.TB, t *town, epoch uint64, parent *Manifest, funded []wire.PublicKey, minPayout uint64) EpochInput {
	tb.Helper()
	in := t.input(epoch)
	in.Funded = make([][32]byte, 0, len(funded))
	for _, o := range funded {
		in.Funded = append(in.Funded, o)
	}
	in.Funded = sortedFunded(in.Funded)
	in.MinPayout = minPayout
	if parent != nil {
		stored, err := UnmarshalManifest(parent.Marshal())
		if err != nil {
			tb.Fatal(err)
		}
		in.Parent, in.Ledger = stored.Epoch, stored.Ledger
	}
	return in
}

// The case: an owner without a token account accrues for three
// epochs; once it has opened its account it is paid the exact sum, once,
// and the epoch after pays it nothing more.
func TestOwnerAccruesThreeEpochsThenIsPaidOnce(t *testing.T) {
	tw, owners := accrualTown(t, 31, 4, 4)
	late := owners[1]
	others := slices.DeleteFunc(slices.Clone(owners), func(o wire.PublicKey) bool { return o == late })
	var parent *Manifest
	var earned, paidOthers, earnedOthers uint64
	for k := range 5 {
		epoch := testEpoch + uint64(k)
		funded := others
		if k >= 3 {
			funded = owners // the late owner opened its account before epoch testEpoch+3
		}
		m, err := ComputeEpoch(next(t, tw, epoch, parent, funded, 0))
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyLedger(parent, m); err != nil {
			t.Fatalf("epoch %d: %v", epoch, err)
		}
		e := earnedBy(m)
		earned += e[late]
		for _, o := range others {
			earnedOthers += e[o]
			paidOthers += m.Amount(o)
		}
		got := m.Amount(late)
		switch {
		case k < 3:
			if e[late] == 0 {
				t.Fatalf("epoch %d: the late owner earned nothing; the test needs earnings", epoch)
			}
			if got != 0 {
				t.Fatalf("epoch %d: unfunded owner paid %d", epoch, got)
			}
			if l := m.LedgerOf(late); l.Owed != earned || l.Paid != 0 {
				t.Fatalf("epoch %d: ledger %+v, want owed %d paid 0", epoch, l, earned)
			}
		case k == 3:
			if got != earned {
				t.Fatalf("epoch %d: paid %d, earned %d over four epochs", epoch, got, earned)
			}
			if l := m.LedgerOf(late); l.Owed != earned || l.Paid != earned {
				t.Fatalf("epoch %d: ledger %+v", epoch, l)
			}
		case k == 4:
			// No reports after testEpoch+3: nothing earned, nothing paid again.
			if e[late] != 0 || got != 0 {
				t.Fatalf("epoch %d: earned %d, paid %d again", epoch, e[late], got)
			}
		}
		if m.Earned+m.Unallocated != m.Emission {
			t.Fatalf("epoch %d: earned %d + unallocated %d ≠ emission %d", epoch, m.Earned, m.Unallocated, m.Emission)
		}
		parent = m
	}
	if paidOthers != earnedOthers {
		t.Fatalf("funded owners paid %d of %d earned", paidOthers, earnedOthers)
	}
	if parent.Outstanding() != 0 {
		t.Fatalf("outstanding %d after everyone was funded", parent.Outstanding())
	}
}

// Property, through ComputeEpoch and the stored bytes of each manifest:
// over random sequences of epochs, owners opening their accounts at random
// epochs and random minimum payouts, no owner is ever paid more than it
// has earned; an owner is paid whenever it is funded and due at least the
// minimum; and a final epoch with every owner funded and no minimum pays
// each owner exactly what it earned over the sequence, less what it was
// paid.
func TestAccrualSequenceProperty(t *testing.T) {
	const epochs = 5
	tw, owners := accrualTown(t, 32, epochs, 6)
	rng := rand.New(rand.NewPCG(32, 1))
	for trial := range 3 {
		fundAt := map[wire.PublicKey]int{}
		for _, o := range owners {
			fundAt[o] = rng.IntN(epochs + 2) // ≥ epochs: opens only for the final epoch
		}
		earned, paid := map[wire.PublicKey]uint64{}, map[wire.PublicKey]uint64{}
		var parent *Manifest
		for k := range epochs + 1 {
			final := k == epochs
			minPayout := []uint64{0, 1, 5_000_000, 20_000_000, 60_000_000, math.MaxUint64}[rng.IntN(6)]
			var funded []wire.PublicKey
			for _, o := range owners {
				if fundAt[o] <= k || final {
					funded = append(funded, o)
				}
			}
			if final {
				minPayout = 0
			}
			m, err := ComputeEpoch(next(t, tw, testEpoch+uint64(k), parent, funded, minPayout))
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyLedger(parent, m); err != nil {
				t.Fatalf("trial %d epoch %d: %v", trial, k, err)
			}
			for o, a := range earnedBy(m) {
				earned[o] += a
			}
			for _, p := range m.Payouts {
				if fundAt[p.Owner] > k && !final {
					t.Fatalf("trial %d epoch %d: unfunded owner %s paid", trial, k, p.Owner)
				}
				if p.Amount < max(minPayout, 1) {
					t.Fatalf("trial %d epoch %d: paid %d below the minimum %d", trial, k, p.Amount, minPayout)
				}
				paid[p.Owner] += p.Amount
			}
			for _, o := range owners {
				if paid[o] > earned[o] {
					t.Fatalf("trial %d epoch %d: owner %s paid %d, earned %d", trial, k, o, paid[o], earned[o])
				}
				l := m.LedgerOf(o)
				if l.Owed != earned[o] || l.Paid != paid[o] {
					t.Fatalf("trial %d epoch %d: ledger %+v, want owed %d paid %d", trial, k, l, earned[o], paid[o])
				}
				if slices.Contains(funded, o) && l.Due() >= max(minPayout, 1) {
					t.Fatalf("trial %d epoch %d: funded owner %s left %d due (minimum %d)", trial, k, o, l.Due(), minPayout)
				}
			}
			parent = m
		}
		for _, o := range owners {
			if paid[o] != earned[o] {
				t.Fatalf("trial %d: owner %s paid %d in all, earned %d", trial, o, paid[o], earned[o])
			}
		}
	}
}

// Property of the payment rule alone, over many more sequences than
// ComputeEpoch can afford: random earnings, owners funded from a random
// epoch on, a minimum that changes between epochs. Nothing is paid before
// an owner is funded, nothing twice, and owed − paid is always what was
// earned and not yet paid.
func TestSettleProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	owners := make([]wire.PublicKey, 40)
	for i := range owners {
		owners[i] = fill(byte(i * 5))
	}
	for trial := range 300 {
		n := 2 + rng.IntN(len(owners)-2)
		os := owners[:n]
		fundAt := make([]int, n)
		epochs := 1 + rng.IntN(12)
		for i := range fundAt {
			fundAt[i] = rng.IntN(epochs + 1)
		}
		earned, paid := make([]uint64, n), make([]uint64, n)
		var ledger []OwnerLedger
		for k := range epochs + 1 {
			final := k == epochs
			minPayout := uint64(rng.IntN(4)) * 1000
			var in []Payout
			var funded [][32]byte
			for i, o := range os {
				if !final && rng.IntN(3) > 0 {
					a := uint64(rng.IntN(1500))
					if a > 0 {
						in = append(in, Payout{o, a})
						earned[i] += a
					}
				}
				if fundAt[i] <= k || final {
					funded = append(funded, o)
				}
			}
			if final {
				minPayout = 0
			}
			var pays []Payout
			var total uint64
			var err error
			ledger, pays, total, err = settle(in, ledger, funded, minPayout)
			if err != nil {
				t.Fatal(err)
			}
			var sum uint64
			for _, p := range pays {
				i := slices.Index(os, p.Owner)
				if fundAt[i] > k && !final {
					t.Fatalf("trial %d epoch %d: owner %d paid before it was funded", trial, k, i)
				}
				paid[i] += p.Amount
				sum += p.Amount
			}
			if sum != total {
				t.Fatalf("trial %d: total %d, payouts sum to %d", trial, total, sum)
			}
			if err := checkLedger(ledger); err != nil {
				t.Fatal(err)
			}
			for i, o := range os {
				j, ok := slices.BinarySearchFunc(ledger, o, func(l OwnerLedger, o wire.PublicKey) int { return cmpOwner(l.Owner, o) })
				var l OwnerLedger
				if ok {
					l = ledger[j]
				}
				if l.Owed != earned[i] || l.Paid != paid[i] || paid[i] > earned[i] {
					t.Fatalf("trial %d epoch %d owner %d: ledger %+v, earned %d paid %d", trial, k, i, l, earned[i], paid[i])
				}
			}
		}
		for i := range os {
			if paid[i] != earned[i] {
				t.Fatalf("trial %d owner %d: paid %d, earned %d", trial, i, paid[i], earned[i])
			}
		}
	}
}

// Same inputs, same bytes: repeated runs, shuffled report slices and a
// ledger decoded from the parent's stored bytes give an identical manifest.
func TestAccrualDeterministic(t *testing.T) {
	tw, owners := accrualTown(t, 33, 2, 5)
	p0, err := ComputeEpoch(next(t, tw, testEpoch, nil, owners[:2], 0))
	if err != nil {
		t.Fatal(err)
	}
	in := next(t, tw, testEpoch+1, p0, owners[1:4], 10_000_000)
	m, err := ComputeEpoch(in)
	if err != nil {
		t.Fatal(err)
	}
	want := m.Marshal()
	rng := rand.New(rand.NewPCG(3, 3))
	for i := range 2 {
		in2 := in
		in2.Registry = shuffled(rng, in.Registry)
		in2.Beacons = shuffled(rng, in.Beacons)
		in2.Witnesses = shuffled(rng, in.Witnesses)
		in2.Ledger = slices.Clone(p0.Ledger)
		m2, err := ComputeEpoch(in2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(m2.Marshal(), want) {
			t.Fatalf("run %d: manifest bytes differ", i)
		}
	}
	// Every accrual input is in the input digest.
	for name, change := range map[string]func(*EpochInput){
		"min payout": func(in *EpochInput) { in.MinPayout++ },
		"funded":     func(in *EpochInput) { in.Funded = in.Funded[1:] },
		"parent":     func(in *EpochInput) { in.Parent = testEpoch - 1 },
		"ledger":     func(in *EpochInput) { in.Ledger = slices.Clone(in.Ledger); in.Ledger[0].Owed++ },
	} {
		in2 := in
		change(&in2)
		m2, err := ComputeEpoch(in2)
		if err != nil {
			t.Fatal(err)
		}
		if m2.InputDigest == m.InputDigest {
			t.Errorf("%s: input digest unchanged", name)
		}
	}
	if _, err := UnmarshalManifest(want); err != nil {
		t.Fatal(err)
	}
}

// Hostile accrual inputs are refused with a reason, before any work.
func TestAccrualRejectsBadInput(t *testing.T) {
	tw, owners := accrualTown(t, 34, 1, 3)
	good := next(t, tw, testEpoch, nil, owners, 0)
	a, b := owners[0], owners[1]
	cases := []struct {
		name   string
		change func(*EpochInput)
		want   string
	}{
		{"unsorted ledger", func(in *EpochInput) {
			in.Parent, in.Ledger = testEpoch-1, []OwnerLedger{{b, 5, 0}, {a, 5, 0}}
		}, "not sorted"},
		{"duplicate ledger owner", func(in *EpochInput) {
			in.Parent, in.Ledger = testEpoch-1, []OwnerLedger{{a, 5, 0}, {a, 7, 0}}
		}, "twice"},
		{"paid more than owed", func(in *EpochInput) { in.Parent, in.Ledger = testEpoch-1, []OwnerLedger{{a, 5, 6}} }, "paid 6 of 5"},
		{"owed nothing", func(in *EpochInput) { in.Parent, in.Ledger = testEpoch-1, []OwnerLedger{{a, 0, 0}} }, "owed nothing"},
		{"ledger without parent", func(in *EpochInput) { in.Ledger = []OwnerLedger{{a, 5, 0}} }, "without a parent"},
		{"own parent", func(in *EpochInput) { in.Parent = testEpoch }, "own parent"},
		{"unsorted funded", func(in *EpochInput) { in.Funded = [][32]byte{b, a} }, "not sorted"},
		{"duplicate funded", func(in *EpochInput) { in.Funded = [][32]byte{a, a} }, "twice"},
		{"owed overflows", func(in *EpochInput) {
			in.Parent, in.Ledger = testEpoch-1, []OwnerLedger{{owners[0], math.MaxUint64 - 1, 0}, {owners[1], math.MaxUint64 - 1, 0}, {owners[2], math.MaxUint64 - 1, 0}}
		}, "overflows"},
		{"payouts overflow", func(in *EpochInput) {
			in.Parent, in.Ledger = testEpoch-1, []OwnerLedger{{owners[0], math.MaxUint64 / 2, 0}, {owners[1], math.MaxUint64 / 2, 0}, {owners[2], math.MaxUint64 / 2, 0}}
		}, "overflow"},
	}
	for _, tc := range cases {
		in := good
		tc.change(&in)
		_, err := ComputeEpoch(in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
		if !errors.Is(err, ErrInput) {
			t.Errorf("%s: %v is not ErrInput", tc.name, err)
		}
	}
	if _, err := ComputeEpoch(good); err != nil {
		t.Fatal(err)
	}
}

// A dishonest ledger is caught: a manifest that forgets a payment (so the
// owner would be paid again), pays an unfunded owner's due twice, or
// credits more than was earned fails VerifyLedger against its parent, and
// the decoder refuses a ledger inconsistent with the manifest's payouts.
func TestVerifyLedgerCatchesTampering(t *testing.T) {
	tw, owners := accrualTown(t, 35, 2, 3)
	p0, err := ComputeEpoch(next(t, tw, testEpoch, nil, owners[:1], 0))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ComputeEpoch(next(t, tw, testEpoch+1, p0, owners, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyLedger(p0, m); err != nil {
		t.Fatal(err)
	}
	if err := VerifyLedger(nil, m); !errors.Is(err, ErrLedger) {
		t.Fatalf("missing parent: %v", err)
	}
	// The parent paid owner 0 in full; a parent ledger that forgets that
	// payment would pay it again in m.
	forgot := *p0
	forgot.Ledger = slices.Clone(p0.Ledger)
	i := slices.IndexFunc(forgot.Ledger, func(l OwnerLedger) bool { return l.Owner == owners[0] })
	if forgot.Ledger[i].Paid == 0 {
		t.Fatal("owner 0 was not paid in the parent")
	}
	forgot.Ledger[i].Paid = 0
	if err := VerifyLedger(&forgot, m); !errors.Is(err, ErrLedger) {
		t.Fatalf("forgotten payment accepted: %v", err)
	}
	tamper := func(name string, decoderCatches bool, f func(m *Manifest)) {
		t.Helper()
		bad, err := UnmarshalManifest(m.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		f(bad)
		bad.Total = 0
		for _, p := range bad.Payouts {
			bad.Total += p.Amount
		}
		bad.Root = MerkleRoot(bad.Epoch, bad.Payouts)
		if VerifyLedger(p0, bad) == nil {
			t.Errorf("%s: VerifyLedger accepted it", name)
		}
		if _, err := UnmarshalManifest(bad.Marshal()); err == nil && decoderCatches {
			t.Errorf("%s: decoder accepted it", name)
		}
	}
	tamper("payout doubled", false, func(b *Manifest) { b.Payouts[0].Amount *= 2 })
	tamper("owed inflated", false, func(b *Manifest) { b.Ledger[0].Owed++; b.Ledger[0].Paid++ })
	tamper("paid owner left due", true, func(b *Manifest) {
		for j := range b.Ledger {
			if b.Ledger[j].Owner == b.Payouts[0].Owner {
				b.Ledger[j].Paid--
			}
		}
	})
	tamper("owner paid outside the ledger", true, func(b *Manifest) {
		b.Payouts = append(b.Payouts, Payout{fill(0xff), 1})
	})
	tamper("below the minimum", true, func(b *Manifest) { b.MinPayout = b.Payouts[0].Amount + 1 })
}

func TestManifestV3RoundTrip(t *testing.T) {
	tw, owners := accrualTown(t, 36, 2, 4)
	p0, err := ComputeEpoch(next(t, tw, testEpoch, nil, owners[:2], 0))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ComputeEpoch(next(t, tw, testEpoch+1, p0, owners[1:], 1))
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != 3 || len(m.Ledger) != len(owners) || m.Parent != testEpoch || m.MinPayout != 1 {
		t.Fatalf("version %d ledger %d parent %d min %d", m.Version, len(m.Ledger), m.Parent, m.MinPayout)
	}
	b := m.Marshal()
	m2, err := UnmarshalManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m2.Marshal(), b) || !slices.Equal(m2.Ledger, m.Ledger) || m2.Earned != m.Earned {
		t.Fatal("round trip changed the manifest")
	}
	for n := 0; n < len(b); n += 61 {
		if _, err := UnmarshalManifest(b[:n]); err == nil {
			t.Fatalf("truncated manifest (%d bytes) accepted", n)
		}
	}
	// Version 2 bytes of the same content still decode, without a ledger.
	v2 := *m
	v2.Version, v2.Ledger, v2.Parent, v2.MinPayout, v2.OpsOwner, v2.Earned = 2, nil, 0, 0, wire.PublicKey{}, 0
	v2.Unallocated = v2.Emission - v2.Total
	if v2.Total > v2.Emission {
		t.Fatalf("total %d > emission %d: pick a case a version-2 manifest can hold", v2.Total, v2.Emission)
	}
	d2, err := UnmarshalManifest(v2.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if d2.Version != 2 || d2.Ledger != nil || !bytes.Equal(d2.Marshal(), v2.Marshal()) {
		t.Fatal("version 2 manifest did not round-trip")
	}
}

// v3Seed is a small hand-made version-3 manifest: two owners earned, one
// paid its due of two epochs, one accruing, one from the parent's ledger
// untouched.
func v3Seed() *Manifest {
	m := &Manifest{
		Version: 3, Epoch: 43, StartMs: 1, EndMs: 2, Emission: 10_000, TokensPerDC: Ratio{1, 3},
		Ops: 1000, BeaconPool: 600, WitnessPool: 2400, Parent: 42, MinPayout: 100, OpsOwner: fill(9),
		Hotspots: []HotspotReward{
			{Hotspot: fill(1), Owner: fill(7), Scale: 5000, BeaconUnits: 10000, Beacon: 600, Amount: 600},
			{Hotspot: fill(2), Owner: fill(8), Scale: 10000, WitnessUnits: 30000, Witness: 2399, Amount: 2399},
		},
		Ledger: []OwnerLedger{{fill(5), 70, 30}, {fill(7), 900, 900}, {fill(8), 2399, 0}, {fill(9), 1000, 0}},
		// fill(7) was owed 300 and paid 0 by the parent; fill(8) and the
		// ops owner have no account.
		Payouts: []Payout{{fill(7), 900}},
	}
	m.Earned = 600 + 2399 + 1000
	m.Unallocated = m.Emission - m.Earned
	m.Total = 900
	m.Root = MerkleRoot(m.Epoch, m.Payouts)
	return m
}

func TestV3SeedVerifies(t *testing.T) {
	m := v3Seed()
	if _, err := UnmarshalManifest(m.Marshal()); err != nil {
		t.Fatal(err)
	}
	parent := &Manifest{Version: 3, Epoch: 42, Ledger: []OwnerLedger{{fill(5), 70, 30}, {fill(7), 300, 0}}}
	if err := VerifyLedger(parent, m); err != nil {
		t.Fatal(err)
	}
}

func FuzzUnmarshalManifestV3(f *testing.F) {
	f.Add(v3Seed().Marshal())
	f.Add((&Manifest{Version: 3}).Marshal())
	f.Add((&Manifest{Version: 3, Parent: 9, Epoch: 10, Ledger: []OwnerLedger{{fill(1), 5, 5}}}).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := UnmarshalManifest(b)
		if err != nil {
			return
		}
		if !bytes.Equal(m.Marshal(), b) {
			t.Fatal("decoded manifest does not re-encode to the same bytes")
		}
		if m.Version >= 3 {
			if err := checkLedger(m.Ledger); err != nil {
				t.Fatalf("decoded a bad ledger: %v", err)
			}
			for _, p := range m.Payouts {
				if l := m.LedgerOf(p.Owner); l.Paid != l.Owed {
					t.Fatalf("decoded a payout that leaves %s due", p.Owner)
				}
			}
			_ = VerifyLedger(nil, m) // must not panic
		}
	})
}

// BenchmarkSettle1M is the payment rule over a ledger of 1,000,000 owners,
// 100,000 of them earning in the epoch and half of all funded.
func BenchmarkSettle1M(b *testing.B) {
	const owners, earning = 1_000_000, 100_000
	key := func(i int) (k wire.PublicKey) {
		k[0], k[1], k[2], k[3] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		return k
	}
	ledger := make([]OwnerLedger, owners)
	var funded [][32]byte
	for i := range ledger {
		ledger[i] = OwnerLedger{Owner: key(i), Owed: 1000 + uint64(i%7), Paid: 1000}
		if i%2 == 0 {
			funded = append(funded, key(i))
		}
	}
	earned := make([]Payout, earning)
	for i := range earned {
		earned[i] = Payout{Owner: key(i * (owners / earning)), Amount: 500}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := settle(earned, ledger, funded, 100); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(owners*48)/1e6, "ledger_MB")
}

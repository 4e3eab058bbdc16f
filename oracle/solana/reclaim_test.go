package solana

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
)

func TestPhase1MemoEpoch(t *testing.T) {
	for _, c := range []struct {
		memo string
		e    uint64
		ok   bool
	}{
		{"[80] hexfield rwd e=42 n=3 total=3750042 root=7t6W", 42, true},
		{"hexfield rwd e=18446744073709551615 n=1 total=1 root=x", 1<<64 - 1, true},
		{"[24] hexfield rwd e=42 b=3", 0, false},
		{"[5] hello", 0, false},
		{"hexfield rwd e=-1 n=1", 0, false},
	} {
		m := c.memo
		e, ok := phase1MemoEpoch(&m)
		if e != c.e || ok != c.ok {
			t.Errorf("%q: %d %v, want %d %v", c.memo, e, ok, c.e, c.ok)
		}
	}
	if _, ok := phase1MemoEpoch(nil); ok {
		t.Error("nil memo parsed")
	}
}

func balanceOf(t *testing.T, f *fixture, k [32]byte) uint64 {
	t.Helper()
	r, err := rpc.New(f.net.URL()).GetBalance(context.Background(), sol.PublicKey(k), rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	return r.Value
}

// TestReclaimMarkers pays epochs 1..6 (3 oracles, 2-of-3, horizon 2), has each co-signing
// oracle reclaim its markers of every epoch, and checks that exactly the markers more than
// 2 epochs behind the newest authorised epoch (6) are closed, their rent returned to the
// payer, and that the reclaimed epochs (and only they) are refused by co-signers, so none
// can be authorised a second time.
func TestReclaimMarkers(t *testing.T) {
	f := newFixture(t, 3, 2)
	ctx := context.Background()
	const horizon = 2
	var ps []EpochPayout
	for e := uint64(1); e <= 6; e++ {
		ps = append(ps, makePayoutOwners(e, 5, "same"))
	}
	f.openAccounts(t, ps...)
	chain := NewChain(f.net.URL()).WithHorizon(horizon)
	cfg := f.config([]int{0, 1}, summaries(ps...))
	for _, c := range cfg.Cosigners {
		c.(*LocalCosigner).Chain = chain
	}
	cfg.Horizon = horizon
	d := f.distributor(t, cfg)
	// A stranger funded oracle 2's marker address of epoch 2 (it never co-signs): oracle 2
	// gets those lamports back too.
	funded, _ := MarkerAddress(pub(f.oracles[2]), 2)
	prefund(t, f, d, 890_880, funded)
	for _, p := range ps {
		if err := d.Distribute(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	newest, ok, err := chain.NewestAuthorized(ctx, d.Accounts())
	if err != nil || !ok || newest != 6 {
		t.Fatalf("newest authorised: %d %v %v, want 6", newest, ok, err)
	}
	// Before reclaiming: the horizon refuses epoch 3 already (3 + 2 < 6), epoch 4 is
	// refused by its marker only.
	before := balanceOf(t, f, pub(f.payer))
	var total Reclaimed
	for _, i := range []int{0, 1, 2} {
		r, err := d.Reclaim(ctx, f.oracles[i], 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		want, lamports := 3, 3*uint64(markerRent) // epochs 1, 2, 3
		if i == 2 {
			want, lamports = 1, 890_880 // oracle 2 never co-signed: its funded address only
		}
		if r.Markers != want || r.Lamports != lamports {
			t.Fatalf("oracle %d reclaimed %+v, want %d markers, %d lamports", i, r, want, lamports)
		}
		total.Markers += r.Markers
		total.Lamports += r.Lamports
	}
	after := balanceOf(t, f, pub(f.payer))
	fees := uint64(3 * 2 * 5_000) // one transaction per oracle, payer and oracle signing
	if after != before+total.Lamports-fees {
		t.Fatalf("payer balance %d → %d, want +%d − %d fees", before, after, total.Lamports, fees)
	}
	t.Logf("2-of-3: %d markers reclaimed over 3 epochs: %d lamports (%d per epoch), %d lamports of fees", total.Markers, total.Lamports, total.Lamports/3, fees)
	// Closed markers are gone; recent ones stay.
	for e := uint64(1); e <= 6; e++ {
		m, _ := MarkerAddress(pub(f.oracles[0]), e)
		ex, err := chain.Exists(ctx, [][32]byte{m})
		if err != nil {
			t.Fatal(err)
		}
		if ex[0] != (e > 3) {
			t.Fatalf("epoch %d marker exists=%v", e, ex[0])
		}
	}
	// Repeating is harmless.
	if r, err := d.Reclaim(ctx, f.oracles[0], 0, 100); err != nil || r.Markers != 0 {
		t.Fatalf("second reclaim: %+v %v", r, err)
	}
	// The batch markers of the same epochs (one batch each) go back to the distributor.
	distBefore := balanceOf(t, f, pub(f.dist))
	rb, err := d.ReclaimBatchMarkers(ctx, 0, 100)
	if err != nil || rb.Markers != 3 || rb.Lamports != 3*markerRent || len(rb.Epochs) != 3 {
		t.Fatalf("batch markers reclaimed %+v (%v), want 3", rb, err)
	}
	if got := balanceOf(t, f, pub(f.dist)); got != distBefore+rb.Lamports-5_000 {
		t.Fatalf("distributor balance %d → %d, want +%d − 5 000", distBefore, got, rb.Lamports)
	}
	for e := uint64(1); e <= 6; e++ {
		m, _ := BatchMarkerAddress(pub(f.dist), e, 0)
		if ex, err := chain.Exists(ctx, [][32]byte{m}); err != nil || ex[0] != (e > 3) {
			t.Fatalf("epoch %d batch marker exists=%v (%v)", e, ex[0], err)
		}
	}
	if rb, err := d.ReclaimBatchMarkers(ctx, 0, 100); err != nil || rb.Markers != 0 {
		t.Fatalf("second batch reclaim: %+v %v", rb, err)
	}
	// A reclaimed epoch cannot be authorised again: every co-signer refuses it.
	for e := uint64(1); e <= 3; e++ {
		for _, i := range []int{0, 1, 2} {
			if err := chain.CheckAuthorizable(ctx, d.Accounts(), pub(f.oracles[i]), e); !errors.Is(err, ErrNotAuthorizable) {
				t.Fatalf("epoch %d, oracle %d: %v, want ErrNotAuthorizable", e, i, err)
			}
		}
	}
	cfg2 := f.config([]int{1, 2}, summaries(ps...))
	for _, c := range cfg2.Cosigners {
		c.(*LocalCosigner).Chain = chain
	}
	cfg2.JournalDir = t.TempDir()
	d2 := f.distributor(t, cfg2)
	if err := d2.Distribute(ctx, ps[1]); !errors.Is(err, ErrNotAuthorizable) {
		t.Fatalf("re-authorising reclaimed epoch 2: %v, want ErrNotAuthorizable", err)
	}
	checkPaid(t, f, d, 0, ps...)
	// Within the horizon, a new epoch is still authorisable.
	if err := chain.CheckAuthorizable(ctx, d.Accounts(), pub(f.oracles[2]), 7); err != nil {
		t.Fatalf("epoch 7: %v", err)
	}
}

// TestReclaimTables: a phase-2 lookup table no batch used within the horizon is taken out
// of use, deactivated, and closed once the runtime's cooldown has passed (the localnet
// warps 600 slots), its rent returned to the distributor; a table still in use stays, and
// the old owners are paid again later through a new table.
func TestReclaimTables(t *testing.T) {
	f := newFixture(t, 3, 2)
	ctx := context.Background()
	const horizon = 2
	ps := []EpochPayout{makePayoutOwners(1, tableCapacity, "old")} // fills a table
	for e := uint64(2); e <= 5; e++ {
		ps = append(ps, makePayoutOwners(e, 5, "recent"))
	}
	later := makePayoutOwners(6, 5, "old")
	later.Payouts = append(later.Payouts[:0], ps[0].Payouts[:5]...)
	later.Total = 0
	for _, q := range later.Payouts {
		later.Total += q.Amount
	}
	later.Root = testRoot(later)
	f.openAccounts(t, ps...) // later's owners are ps[0]'s
	cfg := f.config([]int{0, 1}, summaries(append(ps, later)...))
	cfg.Horizon = horizon
	d := f.distributor(t, cfg)
	for _, p := range ps {
		if err := d.Distribute(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	registry := func() []string {
		t.Helper()
		var reg tableRegistry
		b, _, err := d.journal.marked("tables.json")
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &reg); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range reg.Tables {
			out = append(out, r.Addr)
		}
		return out
	}
	tables := registry()
	if len(tables) != 2 {
		t.Fatalf("%d tables, want 2 (one per owner set)", len(tables))
	}
	// The localnet keeps SlotHashes lazily: observing the slot now puts the deactivation
	// slot into it, so the cooldown applies as on a cluster.
	if _, err := rpc.New(f.net.URL()).GetSlot(ctx, rpc.CommitmentFinalized); err != nil {
		t.Fatal(err)
	}
	r, err := d.ReclaimTables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Deactivated != 1 || r.Closed != 0 {
		t.Fatalf("first reclaim: %+v, want 1 deactivated", r)
	}
	if got := registry(); len(got) != 1 || got[0] != tables[1] {
		t.Fatalf("tables in use %v, want only %s", got, tables[1])
	}
	// Still cooling down: nothing is closed.
	if r, err := d.ReclaimTables(ctx); err != nil || r.Closed != 0 {
		t.Fatalf("reclaim during the cooldown: %+v %v", r, err)
	}
	slot, err := rpc.New(f.net.URL()).GetSlot(ctx, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.net.WarpToSlot(ctx, slot+600); err != nil {
		t.Fatal(err)
	}
	before := balanceOf(t, f, pub(f.dist))
	r, err = d.ReclaimTables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Closed != 1 || r.Lamports == 0 {
		t.Fatalf("reclaim after the cooldown: %+v, want 1 closed", r)
	}
	if after := balanceOf(t, f, pub(f.dist)); after != before+r.Lamports-5_000 {
		t.Fatalf("distributor balance %d → %d, want +%d − 5000 fee", before, after, r.Lamports)
	}
	t.Logf("lookup table of %d addresses closed: %d lamports returned", tableCapacity, r.Lamports)
	old, _ := sol.PublicKeyFromBase58(tables[0])
	if ex, err := NewChain(f.net.URL()).Exists(ctx, [][32]byte{old}); err != nil || ex[0] {
		t.Fatalf("closed table exists=%v %v", ex, err)
	}
	// The old owners are paid again through a new table.
	if err := d.Distribute(ctx, later); err != nil {
		t.Fatal(err)
	}
	checkPaid(t, f, d, 0, append(ps, later)...)
}

// TestReclaimThreeCosigners measures what three co-signing oracles (3-of-3) get back per
// epoch: epochs 1..4 paid, horizon 1, so epochs 1 and 2 are reclaimed.
func TestReclaimThreeCosigners(t *testing.T) {
	f := newFixture(t, 3, 3)
	ctx := context.Background()
	var ps []EpochPayout
	for e := uint64(1); e <= 4; e++ {
		ps = append(ps, makePayoutOwners(e, 3, "three"))
	}
	f.openAccounts(t, ps...)
	cfg := f.config([]int{0, 1, 2}, summaries(ps...))
	cfg.Horizon = 1
	d := f.distributor(t, cfg)
	for _, p := range ps {
		if err := d.Distribute(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	before := balanceOf(t, f, pub(f.payer))
	var got Reclaimed
	for i := range 3 {
		r, err := d.Reclaim(ctx, f.oracles[i], 1, 4)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(r.Epochs, []uint64{1, 2}) {
			t.Fatalf("oracle %d reclaimed epochs %v, want [1 2]", i, r.Epochs)
		}
		got.Markers += r.Markers
		got.Lamports += r.Lamports
	}
	gain := balanceOf(t, f, pub(f.payer)) - before
	if got.Lamports != 6*markerRent || gain != got.Lamports-3*10_000 {
		t.Fatalf("reclaimed %d lamports, payer gained %d", got.Lamports, gain)
	}
	t.Logf("3 co-signers: %d lamports per epoch returned (%d markers), %d net of fees over 2 epochs", got.Lamports/2, got.Markers/2, gain)
}

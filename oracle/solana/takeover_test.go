package solana

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// coordinator returns a Distributor with its own journal and the deployment's shared
// payer and distributor keys, co-signed by the oracles at quorum.
func (f *fixture) coordinator(tb testing.TB, quorum []int, ps ...EpochPayout) *Distributor {
	tb.Helper()
	cfg := f.config(quorum, summaries(ps...))
	cfg.JournalDir = tb.TempDir()
	return f.distributor(tb, cfg)
}

// setupTransactions returns what d has signed so far, requiring it to be exactly the one
// transaction Setup signs for a coordinator joining a deployment that exists: its own
// phase-1 lookup table (per journal, created before any epoch, paying no owner).
func setupTransactions(t *testing.T, d *Distributor) int64 {
	t.Helper()
	n := d.Stats().Transactions
	tables := 0
	for _, e := range d.journal.list("setup/") {
		if !strings.HasPrefix(e.Name, "setup/phase1-table/") || !e.Done {
			t.Fatalf("a joining coordinator's Setup journaled %s (done %v)", e.Name, e.Done)
		}
		tables++
	}
	if n != 1 || tables != 1 {
		t.Fatalf("Setup signed %d transactions, journaled %d phase-1 tables; want its one table", n, tables)
	}
	return n
}

// crashAt makes d stop (like kill -9: nothing after the step runs) at the named step.
func crashAt(d *Distributor, step string) *bool {
	hit := new(bool)
	d.crash = func(s string) error {
		if s == step {
			*hit = true
			return errCrash
		}
		return nil
	}
	return hit
}

// distributeCrashing runs d.Distribute and requires the injected crash.
func distributeCrashing(t *testing.T, d *Distributor, p EpochPayout, hit *bool) {
	t.Helper()
	if err := d.Distribute(context.Background(), p); !errors.Is(err, errCrash) || !*hit {
		t.Fatalf("want the injected crash, got %v", err)
	}
}

// batchEntries counts the journal's batch entries of epoch: done by this journal's own
// transactions, and done because the chain showed them paid.
func batchEntries(t *testing.T, d *Distributor, epoch uint64) (own, elsewhere int) {
	t.Helper()
	for _, e := range d.journal.list(epochDir(epoch) + "/batch-") {
		switch {
		case e.Done && e.Elsewhere:
			elsewhere++
		case e.Done:
			own++
		}
	}
	return own, elsewhere
}

// TestTakeoverAfterPhase1: the leader dies right after its phase 1 landed; the next
// coordinator, with its own journal and another quorum, does not authorise again but takes
// the epoch over and pays every batch; the old leader, restarted, pays nothing more.
func TestTakeoverAfterPhase1(t *testing.T) {
	f := newFixture(t, 3, 2)
	p := makePayout(5, 150)
	f.openAccounts(t, p)
	a := f.coordinator(t, []int{0, 1}, p)
	distributeCrashing(t, a, p, crashAt(a, "sent e5/phase1"))
	if got := supply(t, f, a); got != p.Total {
		t.Fatalf("supply %d after phase 1, want %d", got, p.Total)
	}
	b := f.coordinator(t, []int{1, 2}, p)
	if err := b.Distribute(context.Background(), p); err != nil {
		t.Fatalf("takeover: %v", err)
	}
	checkPaid(t, f, b, 0, p)
	if e, _ := b.journal.get("e5/phase1"); e == nil || !e.Done || !e.Elsewhere {
		t.Fatalf("takeover journal phase 1: %+v", e)
	}
	if own, _ := batchEntries(t, b, 5); own != p.Batches() {
		t.Fatalf("takeover paid %d of %d batches", own, p.Batches())
	}
	a = f.distributor(t, a.cfg)
	if err := a.Distribute(context.Background(), p); err != nil {
		t.Fatalf("old leader restarted: %v", err)
	}
	if own, elsewhere := batchEntries(t, a, 5); own != 0 || elsewhere != p.Batches() {
		t.Fatalf("old leader: %d batches own, %d elsewhere", own, elsewhere)
	}
	checkPaid(t, f, a, 0, p)
}

// TestTakeoverMidPhase2: the leader dies after paying four of its batches; the next
// coordinator pays the rest, and the old leader restarted finds all of them paid.
func TestTakeoverMidPhase2(t *testing.T) {
	f := newFixture(t, 3, 2)
	p := makePayout(5, 250) // 7 batches
	f.openAccounts(t, p)
	a := f.coordinator(t, []int{0, 1, 2}, p)
	a.group = 2
	// Groups [0 1] [2 3] are sent; the crash comes before group [4 5] is journaled.
	distributeCrashing(t, a, p, crashAt(a, "sent e5/batch-00002"))
	cfg := f.config([]int{2, 0}, summaries(p))
	cfg.JournalDir = t.TempDir()
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	b := f.distributor(t, cfg)
	if err := b.Distribute(context.Background(), p); err != nil {
		t.Fatalf("takeover: %v", err)
	}
	if own, elsewhere := batchEntries(t, b, 5); own != p.Batches()-4 || elsewhere != 4 {
		t.Fatalf("takeover: %d batches own, %d elsewhere; want %d and 4", own, elsewhere, p.Batches()-4)
	}
	want := `
# HELP hexfield_solana_batches_paid_elsewhere_total Phase-2 batches found paid on chain (their marker exists) instead of paid by this coordinator.
# TYPE hexfield_solana_batches_paid_elsewhere_total counter
hexfield_solana_batches_paid_elsewhere_total 4
# HELP hexfield_solana_takeovers_total Epochs whose phase 1 another coordinator landed with the same manifest, taken over here.
# TYPE hexfield_solana_takeovers_total counter
hexfield_solana_takeovers_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "hexfield_solana_batches_paid_elsewhere_total", "hexfield_solana_takeovers_total"); err != nil {
		t.Fatal(err)
	}
	checkPaid(t, f, b, 0, p)
	a = f.distributor(t, a.cfg)
	if err := a.Distribute(context.Background(), p); err != nil {
		t.Fatalf("old leader restarted: %v", err)
	}
	checkPaid(t, f, a, 0, p)
}

// TestBatchPaidWhileSending: another coordinator pays batch 1 (with other transaction
// bytes) after this one checked the markers and signed the batch: this one's transaction
// fails at the marker, preflight tells AccountAlreadyInUse, and the batch counts as paid.
func TestBatchPaidWhileSending(t *testing.T) {
	f := newFixture(t, 3, 2)
	p := makePayout(5, 100)
	f.openAccounts(t, p)
	a := f.coordinator(t, []int{0, 1}, p)
	distributeCrashing(t, a, p, crashAt(a, "sent e5/phase1"))
	b := f.coordinator(t, []int{0, 1}, p)
	ctx := context.Background()
	paid := false
	b.crash = func(step string) error {
		if step != "persisted e5/batch-00001" || paid {
			return nil
		}
		paid = true
		return payBatchAside(t, f, a, p, 1)
	}
	if err := b.Distribute(ctx, p); err != nil {
		t.Fatal(err)
	}
	e, err := b.journal.get("e5/batch-00001")
	if err != nil || e == nil || !e.Done || !e.Elsewhere || len(e.Failed) != 1 {
		t.Fatalf("batch 1 entry %+v (%v): want done elsewhere with its failed signature", e, err)
	}
	checkPaid(t, f, b, 0, p)
}

// payBatchAside pays batch k of p through d's keys with its own transaction bytes (a
// compute-unit limit no Distributor picks), as another coordinator with another blockhash
// would.
func payBatchAside(t *testing.T, f *fixture, d *Distributor, p EpochPayout, k int) error {
	t.Helper()
	ctx := context.Background()
	atas := make([]sol.PublicKey, len(p.Payouts))
	for i, q := range p.Payouts {
		atas[i], _ = ata(sol.PublicKey(q.Owner), d.accounts.Mint)
	}
	tables, err := d.prepareTables(ctx, p, atas, []int{k})
	if err != nil {
		return err
	}
	body, err := batchBody(d.accounts, p, atas, k, batchMarkerSeed(p.Epoch, k), nil)
	if err != nil {
		return err
	}
	s, err := d.sign(ctx, append([]sol.Instruction{setComputeUnitLimit(777_777)}, body...), d.dist.PublicKey(),
		map[sol.PublicKey]sol.PublicKeySlice{tables[k].addr: tables[k].entries}, d.dist)
	if err != nil {
		return err
	}
	_, err = rpc.New(f.net.URL()).SendRawTransactionWithOpts(ctx, s.raw, rpc.TransactionOpts{PreflightCommitment: rpc.CommitmentFinalized})
	return err
}

// TestConcurrentPhase2: the leader resumes phase 2 while the next coordinator takes the
// epoch over, and both send every batch at the same time with different transaction bytes
// (each its own lookup tables; the leader's blockhash expires under it, so it re-signs):
// every owner is paid once, and a coordinator counts a batch the other paid as paid.
func TestConcurrentPhase2(t *testing.T) {
	f := newFixture(t, 3, 2)
	p := makePayout(5, 400) // 12 batches
	f.openAccounts(t, p)
	a := f.coordinator(t, []int{0, 1}, p)
	distributeCrashing(t, a, p, crashAt(a, "sent e5/phase1"))
	a = f.distributor(t, a.cfg)
	b := f.coordinator(t, []int{1, 2}, p)
	a.group, b.group = 2, 3 // interleave their groups
	ctx := context.Background()
	wait := func(c chan struct{}) {
		select {
		case <-c:
		case <-time.After(60 * time.Second):
			t.Error("coordinator did not reach its first batch")
		}
	}
	aSigned, bSigned := make(chan struct{}), make(chan struct{})
	var aOnce, bOnce sync.Once
	// The leader signs its first group, the blockhash expires, the takeover signs its
	// batches, then both send.
	a.crash = func(step string) error {
		if strings.HasPrefix(step, "persisted e5/batch-") {
			aOnce.Do(func() {
				if err := f.net.ExpireBlockhash(ctx); err != nil {
					t.Error(err)
				}
				close(aSigned)
				wait(bSigned)
			})
		}
		return nil
	}
	b.crash = func(step string) error {
		if strings.HasPrefix(step, "persisted e5/batch-") {
			bOnce.Do(func() { close(bSigned) })
		}
		return nil
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = a.Distribute(ctx, p) })
	wg.Go(func() { wait(aSigned); errs[1] = b.Distribute(ctx, p) })
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("coordinator %d: %v", i, err)
		}
	}
	ownA, elsewhereA := batchEntries(t, a, 5)
	ownB, elsewhereB := batchEntries(t, b, 5)
	t.Logf("leader: %d batches own, %d elsewhere; takeover: %d own, %d elsewhere", ownA, elsewhereA, ownB, elsewhereB)
	if ownA+elsewhereA != p.Batches() || ownB+elsewhereB != p.Batches() {
		t.Fatal("a coordinator does not account for every batch")
	}
	if ownA+ownB != p.Batches() {
		t.Fatalf("%d batches landed by the two coordinators, want %d (their bytes differ)", ownA+ownB, p.Batches())
	}
	checkPaid(t, f, a, 0, p)
}

// TestOutOfOrderEpochs: a disputed epoch 5 is paid after epoch 6, each exactly once, and
// neither is paid again by this coordinator or another.
func TestOutOfOrderEpochs(t *testing.T) {
	f := newFixture(t, 3, 2)
	p5, p6 := makePayoutOwners(5, 80, "five"), makePayoutOwners(6, 90, "six")
	f.openAccounts(t, p5, p6)
	d := f.coordinator(t, []int{0, 1, 2}, p5, p6)
	ctx := context.Background()
	for _, p := range []EpochPayout{p6, p5, p6, p5} {
		if err := d.Distribute(ctx, p); err != nil {
			t.Fatalf("epoch %d: %v", p.Epoch, err)
		}
	}
	checkPaid(t, f, d, 0, p5, p6)
	other := f.coordinator(t, []int{1, 2}, p5, p6)
	// other's Setup signed its own phase-1 lookup table only; Distribute signs nothing.
	setup := setupTransactions(t, other)
	for _, p := range []EpochPayout{p5, p6} {
		if err := other.Distribute(ctx, p); err != nil {
			t.Fatalf("other coordinator, epoch %d: %v", p.Epoch, err)
		}
	}
	if n := other.Stats().Transactions - setup; n != 0 {
		t.Fatalf("other coordinator signed %d transactions for paid epochs", n)
	}
	checkPaid(t, f, d, 0, p5, p6)
}

// TestUnfinishedNamesEpoch: while epoch 6's allowance is unused (its leader died after
// phase 1, then after one batch), authorising epoch 5 fails with ErrUnfinished naming
// epoch 6, found from the chain by a coordinator that never saw epoch 6; finishing epoch 6
// (a takeover) lets epoch 5 through.
func TestUnfinishedNamesEpoch(t *testing.T) {
	f := newFixture(t, 3, 2)
	p5, p6 := makePayoutOwners(5, 40, "five"), makePayoutOwners(6, 100, "six")
	f.openAccounts(t, p5, p6)
	ctx := context.Background()
	a := f.coordinator(t, []int{0, 1}, p6)
	distributeCrashing(t, a, p6, crashAt(a, "sent e6/phase1"))
	b := f.coordinator(t, []int{1, 2}, p5, p6)
	check := func(what string) {
		t.Helper()
		err := b.Distribute(ctx, p5)
		e, ok := UnfinishedEpoch(err)
		if !errors.Is(err, ErrUnfinished) || !ok || e != 6 {
			t.Fatalf("%s: epoch 5 while 6 is unfinished: %v (names %d %v)", what, err, e, ok)
		}
		t.Logf("%s: %v", what, err)
	}
	check("after phase 1 of epoch 6")
	// The leader restarts, pays batch 0 and dies again: the newest memo is a batch's.
	a = f.distributor(t, a.cfg)
	a.group = 1
	distributeCrashing(t, a, p6, crashAt(a, "sent e6/batch-00000"))
	check("after batch 0 of epoch 6")
	if got := supply(t, f, b); got != p6.Total {
		t.Fatalf("supply %d: epoch 5 was minted", got)
	}
	e, ok := UnfinishedEpoch(b.Distribute(ctx, p5))
	if !ok {
		t.Fatal("no unfinished epoch named")
	}
	// The oracle finishes the named epoch first (a takeover), then epoch 5.
	if err := b.Distribute(ctx, map[uint64]EpochPayout{5: p5, 6: p6}[e]); err != nil {
		t.Fatalf("finish epoch %d: %v", e, err)
	}
	if err := b.Distribute(ctx, p5); err != nil {
		t.Fatal(err)
	}
	checkPaid(t, f, b, 0, p5, p6)
	if _, ok := UnfinishedEpoch(errors.New("other")); ok {
		t.Fatal("UnfinishedEpoch of another error")
	}
}

// lamports reads an account's balance.
func lamports(t *testing.T, f *fixture, k [32]byte) uint64 {
	t.Helper()
	r, err := rpc.New(f.net.URL()).GetBalance(context.Background(), sol.PublicKey(k), rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	return r.Value
}

// spending sums what d's own landed transactions of epoch cost, from the chain: fees
// (getTransaction meta.fee), the markers they created, and the lookup tables of its
// registry (their whole balance is rent).
type spending struct {
	fees, markers, tables uint64
	txs                   int
}

func (s spending) total() uint64 { return s.fees + s.markers + s.tables }

func measure(t *testing.T, f *fixture, d *Distributor, prefixes ...string) spending {
	t.Helper()
	ctx := context.Background()
	c := rpc.New(f.net.URL())
	v := uint64(0)
	var s spending
	for _, pre := range prefixes {
		for _, e := range d.journal.list(pre) {
			if !e.Done || e.Elsewhere || strings.HasSuffix(e.Name, ".settled") {
				continue
			}
			sig, err := sol.SignatureFromBase58(e.Signature)
			if err != nil {
				t.Fatal(err)
			}
			tx, err := c.GetTransaction(ctx, sig, &rpc.GetTransactionOpts{Encoding: sol.EncodingBase64, MaxSupportedTransactionVersion: &v})
			if err != nil || tx.Meta == nil {
				t.Fatalf("get transaction %s: %v", e.Name, err)
			}
			s.fees += tx.Meta.Fee
			s.txs++
			if strings.Contains(e.Name, "/batch-") {
				s.markers += markerRent
			}
		}
	}
	return s
}

// tableRent sums the balances of the lookup tables in d's registry.
func tableRent(t *testing.T, f *fixture, d *Distributor) (uint64, int) {
	t.Helper()
	var reg tableRegistry
	if b, ok, err := d.journal.marked("tables.json"); err != nil || !ok {
		t.Fatalf("tables.json: %v %v", ok, err)
	} else if err := json.Unmarshal(b, &reg); err != nil {
		t.Fatal(err)
	}
	var sum uint64
	for _, r := range reg.Tables {
		k, err := sol.PublicKeyFromBase58(r.Addr)
		if err != nil {
			t.Fatal(err)
		}
		sum += lamports(t, f, k)
	}
	return sum, len(reg.Tables)
}

// TestOwnerWithoutTokenAccount: the network creates no token account, and an owner of the
// manifest closed its account before phase 2. Its batch is still sent: the other owners
// are paid, its payout is burned from the escrow (the batch memo names its position), the
// allowance is used up, and the next epoch is authorised and paid (before, the batch was
// held back and the epoch's allowance blocked every later epoch). The distributor's and
// payer's lamports went to fees, markers and lookup tables only.
func TestOwnerWithoutTokenAccount(t *testing.T) {
	f := newFixture(t, 3, 2)
	p := makePayout(8, 80) // batches of 36, 36, 8
	next := makePayoutOwners(9, 10, "nine")
	ownerKey := testKey(t, "owner-without-account")
	lonely := pub(ownerKey)
	p.Payouts[40].Owner = lonely
	p = resort(p)
	d := f.coordinator(t, []int{0, 1}, p, next)
	others := without(p, lonely)
	f.openAccounts(t, others, next)
	payer0, dist0 := lamports(t, f, pub(f.payer)), lamports(t, f, pub(f.dist))
	ctx := context.Background()
	if err := d.Distribute(ctx, p); err != nil {
		t.Fatalf("distribute with a missing token account: %v", err)
	}
	idx := slices.IndexFunc(p.Payouts, func(q Payout) bool { return q.Owner == lonely })
	if got, want := batchMemoOf(t, f, 8, idx/BatchSize), batchMemo(8, idx/BatchSize, []int{idx % BatchSize}); got != want {
		t.Fatalf("batch memo %q, want %q", got, want)
	}
	checkPaid(t, f, d, 0, others)
	mint := d.Accounts().Mint
	ataAddr, _ := AssociatedTokenAddress(lonely, mint)
	if ex, err := NewChain(f.net.URL()).Exists(ctx, [][32]byte{ataAddr}); err != nil || ex[0] {
		t.Fatalf("the network created the owner's token account (%v)", err)
	}
	// Every lamport the distributor and the payer spent is explained without token accounts.
	spentDist, spentPayer := dist0-lamports(t, f, pub(f.dist)), payer0-lamports(t, f, pub(f.payer))
	batches := measure(t, f, d, "e8/batch-", "table/")
	tables, _ := tableRent(t, f, d)
	if want := batches.total() + tables; spentDist != want {
		t.Fatalf("distributor spent %d, fees+markers+tables %d", spentDist, want)
	}
	phase1 := measure(t, f, d, "e8/phase1", "e8/fund-markers")
	if want := phase1.fees + 2*markerRent; spentPayer != want {
		t.Fatalf("payer spent %d, phase-1 and funding fees and markers %d", spentPayer, want)
	}
	if own, _ := batchEntries(t, d, 8); own != p.Batches() {
		t.Fatalf("%d batches paid, want %d", own, p.Batches())
	}
	// The next epoch is not held up.
	if err := d.Distribute(ctx, next); err != nil {
		t.Fatalf("next epoch: %v", err)
	}
	checkPaid(t, f, d, 0, others, next)
}

// without is p less the payout of owner.
func without(p EpochPayout, owner [32]byte) EpochPayout {
	q := p
	q.Payouts = slices.DeleteFunc(slices.Clone(p.Payouts), func(x Payout) bool { return x.Owner == owner })
	q.Total = sumAmounts(q.Payouts)
	return q
}

// batchMemoOf returns the memo of the transaction that created batch k's marker.
func batchMemoOf(t *testing.T, f *fixture, epoch uint64, k int) string {
	t.Helper()
	m, err := BatchMarkerAddress(pub(f.dist), epoch, k)
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := rpc.New(f.net.URL()).GetSignaturesForAddress(context.Background(), sol.PublicKey(m))
	if err != nil {
		t.Fatal(err)
	}
	for _, sg := range sigs {
		if sg.Err == nil {
			if ts := memoTexts(sg.Memo); len(ts) > 0 {
				return ts[0]
			}
		}
	}
	t.Fatalf("no memo on batch %d's marker", k)
	return ""
}

func sumAmounts(ps []Payout) uint64 {
	var s uint64
	for _, q := range ps {
		s += q.Amount
	}
	return s
}

// resort sorts p's payouts by owner and recomputes total and root.
func resort(p EpochPayout) EpochPayout {
	p.Payouts = append([]Payout(nil), p.Payouts...)
	slices.SortFunc(p.Payouts, func(a, b Payout) int { return bytes.Compare(a.Owner[:], b.Owner[:]) })
	p.Total = sumAmounts(p.Payouts)
	p.Root = testRoot(p)
	return p
}

// TestCostPerEpoch measures what an epoch costs the network on the localnet (fees from
// getTransaction, deposits from balances) for n owners, first with new lookup tables and
// then for the same owners again (tables reused), and extrapolates to 100 000 owners with
// the measured per-transaction fees and the rent constants.
func TestCostPerEpoch(t *testing.T) {
	const n = BatchSize * 7 * 3 // 693 owners: 21 batches, 3 full lookup tables
	f := newFixture(t, 3, 2)
	p1 := makePayoutOwners(1, n, "cost")
	p2 := makePayoutOwners(2, n, "cost")
	f.openAccounts(t, p1)
	d := f.coordinator(t, []int{0, 1}, p1, p2)
	ctx := context.Background()
	payer0, dist0 := lamports(t, f, pub(f.payer)), lamports(t, f, pub(f.dist))
	if err := d.Distribute(ctx, p1); err != nil {
		t.Fatal(err)
	}
	payer1, dist1 := lamports(t, f, pub(f.payer)), lamports(t, f, pub(f.dist))
	batches := measure(t, f, d, "e1/batch-")
	tableTx := measure(t, f, d, "table/")
	phase1 := measure(t, f, d, "e1/phase1", "e1/fund-markers") // the markers' funding too
	tables, nTables := tableRent(t, f, d)
	if got := dist0 - dist1; got != batches.total()+tableTx.fees+tables {
		t.Fatalf("distributor spent %d, explained %d", got, batches.total()+tableTx.fees+tables)
	}
	if got := payer0 - payer1; got != phase1.fees+2*markerRent {
		t.Fatalf("payer spent %d, explained %d", got, phase1.fees+2*markerRent)
	}
	if err := d.Distribute(ctx, p2); err != nil {
		t.Fatal(err)
	}
	steady := measure(t, f, d, "e2/batch-")
	if got := dist1 - lamports(t, f, pub(f.dist)); got != steady.total() {
		t.Fatalf("steady epoch: distributor spent %d, explained %d (tables reused)", got, steady.total())
	}
	feeBatch := batches.fees / uint64(batches.txs)
	feeTable := tableTx.fees / uint64(tableTx.txs)
	rentTable := tables / uint64(nTables)
	t.Logf("measured, %d owners: phase 1 %d tx fee %d; %d batches fee %d each, markers %d; %d table tx fee %d each; %d tables rent %d each",
		n, phase1.txs, phase1.fees, batches.txs, feeBatch, batches.markers, tableTx.txs, feeTable, nTables, rentTable)

	// 100 000 owners: batches of BatchSize, tables of 7 batches (231 addresses), extends of
	// 28 addresses (9 per table) plus one create per table.
	const owners = 100_000
	nb := uint64((owners + BatchSize - 1) / BatchSize)
	perTable := uint64(tableCapacity / BatchSize)
	nt := (nb + perTable - 1) / perTable
	tableTxs := nt * (1 + (perTable*BatchSize+extendPerTx-1)/extendPerTx)
	sol9 := func(l uint64) string { return fmt.Sprintf("%d.%09d SOL", l/1e9, l%1e9) }
	fees := phase1.fees + nb*feeBatch
	deposits := 2*markerRent + nb*markerRent
	t.Logf("100 000 owners, 2-of-3, every epoch: %d transactions, fees %s; deposits reclaimed later: markers %s (%d batch + 2 phase-1)",
		uint64(phase1.txs)+nb, sol9(fees), sol9(deposits), nb)
	t.Logf("100 000 owners, first epoch of a coordinator (or new owners): + %d lookup tables, rent %s (reclaimed later), + %d table transactions, fees %s",
		nt, sol9(nt*rentTable), tableTxs, sol9(tableTxs*feeTable))
	t.Logf("owners' token-account rent paid by the network: 0 (was %s for 100 000 new owners)", sol9(owners*2_039_280))
	if feeBatch != 5_000 || feeTable != 5_000 {
		t.Fatalf("fees per transaction %d, %d: want 5 000 (one signature, no priority fee)", feeBatch, feeTable)
	}
}

// TestReclaimedBatchMarkerNotPaidAgain: after an epoch was paid, closing one of its batch
// markers (rent reclaim) must not make a coordinator pay that batch again, neither while no
// epoch is open nor, worse, out of the next epoch's allowance: Distribute stops with
// ErrAllowanceGone and sends nothing.
func TestReclaimedBatchMarkerNotPaidAgain(t *testing.T) {
	f := newFixture(t, 3, 2)
	p5, p6 := makePayoutOwners(5, 80, "five"), makePayoutOwners(6, 80, "six")
	f.openAccounts(t, p5, p6)
	a := f.coordinator(t, []int{0, 1}, p5, p6)
	ctx := context.Background()
	if err := a.Distribute(ctx, p5); err != nil {
		t.Fatal(err)
	}
	marker, err := BatchMarkerAddress(pub(f.dist), 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	dist := a.dist.PublicKey()
	closeIx := closeBuffer(marker, dist, dist)
	s, err := a.sign(ctx, []sol.Instruction{closeIx}, dist, nil, a.dist)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rpc.New(f.net.URL()).SendRawTransactionWithOpts(ctx, s.raw, rpc.TransactionOpts{PreflightCommitment: rpc.CommitmentFinalized}); err != nil {
		t.Fatalf("close marker: %v", err)
	}
	if ex, err := NewChain(f.net.URL()).Exists(ctx, [][32]byte{marker}); err != nil || ex[0] {
		t.Fatalf("marker still exists (%v)", err)
	}
	b := f.coordinator(t, []int{1, 2}, p5, p6)
	// b's and c's Setup signed their own phase-1 lookup tables only; Distribute signs nothing.
	setupB := setupTransactions(t, b)
	if err := b.Distribute(ctx, p5); !errors.Is(err, ErrAllowanceGone) {
		t.Fatalf("no epoch open: %v, want ErrAllowanceGone", err)
	}
	// Epoch 6 is authorised and its leader dies: its allowance must not pay epoch 5.
	distributeCrashing(t, a, p6, crashAt(a, "sent e6/phase1"))
	c := f.coordinator(t, []int{0, 2}, p5, p6)
	setupC := setupTransactions(t, c)
	if err := c.Distribute(ctx, p5); !errors.Is(err, ErrAllowanceGone) {
		t.Fatalf("epoch 6 open: %v, want ErrAllowanceGone", err)
	}
	if n := b.Stats().Transactions - setupB + c.Stats().Transactions - setupC; n != 0 {
		t.Fatalf("%d transactions signed", n)
	}
	checkPaid(t, f, a, p6.Total, p5, p6Unpaid(p6))
}

// p6Unpaid is p's mint with no owner paid: for checkPaid while p is authorised only.
func p6Unpaid(p EpochPayout) EpochPayout {
	q := p
	q.Payouts = nil
	return q
}

// TestPhase1RaceTakenOver: two coordinators authorise the same epoch at once (quorums {0,1}
// and {1,2} share oracle 1). The second's phase 1 fails at oracle 1's marker
// (AccountAlreadyInUse); with the same manifest it takes the epoch over and finds it paid,
// with another manifest it stops with ErrAuthorizedElsewhere. Nothing is minted twice.
func TestPhase1RaceTakenOver(t *testing.T) {
	for _, same := range []bool{true, false} {
		name := map[bool]string{true: "same manifest", false: "other manifest"}[same]
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, 3, 2)
			p := makePayout(5, 50)
			mine := p
			if !same {
				mine = makePayoutOwners(5, 50, "other")
			}
			f.openAccounts(t, p, mine)
			a := f.coordinator(t, []int{0, 1}, p)
			b := f.coordinator(t, []int{1, 2}, mine)
			ctx := context.Background()
			raced := false
			b.crash = func(step string) error {
				if step == "persisted e5/phase1" && !raced {
					raced = true
					// b signed its phase 1; a's lands first.
					return a.Distribute(ctx, p)
				}
				return nil
			}
			err := b.Distribute(ctx, mine)
			if !raced {
				t.Fatal("race not injected")
			}
			if same && err != nil {
				t.Fatalf("same manifest: %v", err)
			}
			if !same && !errors.Is(err, ErrAuthorizedElsewhere) {
				t.Fatalf("other manifest: %v, want ErrAuthorizedElsewhere", err)
			}
			t.Logf("%s: %v", name, err)
			if same {
				e, _ := b.journal.get("e5/phase1")
				if e == nil || !e.Done || !e.Elsewhere || len(e.Failed) != 1 {
					t.Fatalf("phase 1 entry %+v: want taken over, own signature failed", e)
				}
			}
			checkPaid(t, f, a, 0, p)
		})
	}
}

// TestTokenAccountClosedBeforeSend: an owner closes its token account after the check and
// before its batch is sent. The batch fails at the transfer (InvalidAccountData), nothing
// of it lands; phase 2 checks the accounts again, sends the batch with that payout burned
// instead, and the epoch is settled: every other owner paid once, the allowance used up.
func TestTokenAccountClosedBeforeSend(t *testing.T) {
	f := newFixture(t, 3, 2)
	p := makePayout(9, 80)
	f.openAccounts(t, p)
	d := f.coordinator(t, []int{0, 1}, p)
	ctx := context.Background()
	victim := p.Batch(1)[7].Owner
	addr, err := AssociatedTokenAddress(victim, d.Accounts().Mint)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	d.crash = func(step string) error {
		if step == "persisted e9/batch-00001" && !closed {
			closed = true
			// The account is gone (as after CloseAccount): no lamports, no data.
			return f.net.Call(ctx, "litesvm_setAccount", []any{sol.PublicKey(addr).String(), map[string]any{
				"lamports": 0, "data": "", "owner": systemProgram.String(), "executable": false}}, nil)
		}
		return nil
	}
	if err := d.Distribute(ctx, p); err != nil {
		t.Fatalf("closed before send: %v", err)
	}
	if e, _ := d.journal.get("e9/batch-00001"); e == nil || !e.Done || len(e.Failed) != 1 {
		t.Fatalf("batch 1 entry %+v: want paid after one failed signature", e)
	}
	if own, _ := batchEntries(t, d, 9); own != p.Batches() {
		t.Fatalf("%d batches paid, want %d", own, p.Batches())
	}
	if got := batchMemoOf(t, f, 9, 1); got != batchMemo(9, 1, []int{7}) {
		t.Fatalf("batch 1 memo %q", got)
	}
	checkPaid(t, f, d, 0, without(p, victim))
}

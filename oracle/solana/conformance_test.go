package solana

import (
	"context"
	"testing"
)

// rewarder is the seam the oracle uses.
type rewarder interface {
	Distribute(ctx context.Context, p EpochPayout) error
}

// conformanceEpochs are the epochs testRewarder pays: 20 and 21, then 19 out of order.
func conformanceEpochs() []EpochPayout {
	return []EpochPayout{makePayout(20, 50), makePayout(21, 70), makePayout(19, 3)}
}

// testRewarder is the conformance suite every rewarder passes: two epochs paid exactly once
// (repeats are no-ops), an older epoch paid after them, once, invalid payouts refused.
func testRewarder(t *testing.T, r rewarder, balance func(owner [32]byte) uint64) {
	t.Helper()
	ctx := context.Background()
	ps := conformanceEpochs()
	p1, p2, p0 := ps[0], ps[1], ps[2]
	for _, p := range []EpochPayout{p1, p1, p2, p1, p2, p0, p0, p2} {
		if err := r.Distribute(ctx, p); err != nil {
			t.Fatalf("epoch %d: %v", p.Epoch, err)
		}
	}
	want := map[[32]byte]uint64{}
	for _, p := range ps {
		for _, q := range p.Payouts {
			want[q.Owner] += q.Amount
		}
	}
	for o, w := range want {
		if got := balance(o); got != w {
			t.Fatalf("owner %x: %d, want %d", o[:4], got, w)
		}
	}
	bad := makePayout(22, 3)
	bad.Total++
	if err := r.Distribute(ctx, bad); err == nil {
		t.Fatal("payout with a wrong total accepted")
	}
}

func TestConformanceMemory(t *testing.T) {
	m := NewMemory()
	testRewarder(t, m, m.Balance)
}

func TestConformanceDistributor(t *testing.T) {
	f := newFixture(t, 3, 2)
	d := f.distributor(t, f.config([]int{0, 1, 2}, summaries(conformanceEpochs()...)))
	f.openAccounts(t, conformanceEpochs()...)
	c := NewChain(f.net.URL())
	testRewarder(t, d, func(o [32]byte) uint64 {
		b, err := c.TokenBalances(context.Background(), d.Accounts().Mint, [][32]byte{o})
		if err != nil {
			t.Fatal(err)
		}
		return b[0]
	})
}

func TestDryRunPlan(t *testing.T) {
	acc, _ := DeriveAccounts(pub(testKey(t, "payer")), "hexfield", pub(testKey(t, "distributor")), 6)
	plan, err := PlanPayout(acc, makePayout(3, 1000))
	if err != nil {
		t.Fatal(err)
	}
	if plan.Batches != 31 || plan.Transactions != 32 || plan.MaxBatchBytes > maxTxSize || plan.MaxBatchBytes < 1000 {
		t.Fatalf("plan %+v", plan)
	}
	if err := (DryRun{Accounts: acc}).Distribute(context.Background(), makePayout(3, 10)); err != nil {
		t.Fatal(err)
	}
}

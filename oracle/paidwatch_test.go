package oracle

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hexfield/hexfield/oracle/solana"
)

// A non-paying oracle (no rewarder) closes an epoch with "distributed":
// false; once the chain shows its manifest paid, the paid watcher records
// it, leaving the rest of the record and the scheduler's cursor alone. The
// chain is a function here (the seam NewNode fills with
// solana.Chain.EpochPaid, run against the real SVM in cmd/oracled's
// three-oracle test).
func TestWatchPaidMarksNonLeaderEpochs(t *testing.T) {
	dir := t.TempDir()
	seedEpochStore(t, dir)
	if err := runEpochUntil(t, dir, nil, nil); err != nil {
		t.Fatal(err)
	}
	cfg := epochCfg(testEpoch)
	cfg.DataDir = dir
	o, err := New(cfg, Deps{Key: seedKey("oracle")})
	if err != nil {
		t.Fatal(err)
	}
	defer o.store.Close()
	before, _, _ := o.store.epochRecord(testEpoch)
	if before.Step != StepDone || before.Distributed || before.Payouts == 0 {
		t.Fatalf("non-paying oracle's epoch: %+v", before)
	}
	own, err := o.EpochSummary(context.Background(), testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	onChain := false
	var asked []solana.Summary
	paid := func(_ context.Context, s solana.Summary) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, s)
		return onChain && s == own, nil
	}
	o.checkPaid(context.Background(), paid)
	if rec, _, _ := o.store.epochRecord(testEpoch); rec.Distributed {
		t.Fatal("marked distributed before the chain shows it paid")
	}
	if len(asked) != 1 || asked[0] != own {
		t.Fatalf("asked the chain about %+v, want its own summary %+v", asked, own)
	}

	mu.Lock()
	onChain = true
	mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.watchPaid(ctx, paid, 10*time.Millisecond) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rec, _, _ := o.store.epochRecord(testEpoch)
		if rec.Distributed {
			rec.Distributed = false
			if !equalJSON(rec, before) {
				t.Fatalf("marking changed other fields:\n got %+v\nwant %+v", rec, before)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("paid epoch never marked distributed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	n := len(asked)
	mu.Unlock()
	o.checkPaid(context.Background(), paid)
	if len(asked) != n {
		t.Fatal("asked the chain again about an epoch already marked")
	}
	if next, _, _ := o.store.getMetaU64(metaEpochNext); next != testEpoch+1 {
		t.Fatalf("epoch_next = %d", next)
	}
}

func equalJSON(a, b epochRecord) bool { return string(encodeJSON(a)) == string(encodeJSON(b)) }

package solana

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

var errCrash = errors.New("injected crash")

// TestCrashAfterEveryStep runs epoch i with a crash injected after its i-th step (journal
// write, send, re-sign, table creation…), restarts a new distributor on the same journal,
// and checks after each epoch that every owner of every epoch so far is paid exactly once.
// Each epoch has new owners (who opened their own token accounts), so lookup-table steps
// are crashed too.
func TestCrashAfterEveryStep(t *testing.T) {
	f := newFixture(t, 3, 2)
	ctx := context.Background()
	var paid []EpochPayout
	var steps []string
	for i := 1; ; i++ {
		p := makePayoutOwners(uint64(i), 150, fmt.Sprintf("crash-%d", i))
		cfg := f.config([]int{0, 1, 2}, summaries(p))
		d := f.distributor(t, cfg)
		f.openAccounts(t, p)
		n := 0
		d.crash = func(step string) error {
			if n++; n == i {
				steps = append(steps, step)
				return errCrash
			}
			return nil
		}
		err := d.Distribute(ctx, p)
		paid = append(paid, p)
		if err == nil {
			checkPaid(t, f, d, 0, paid...)
			break
		}
		if !errors.Is(err, errCrash) {
			t.Fatalf("epoch %d, crash after step %d: %v", i, i, err)
		}
		restarted := f.distributor(t, cfg)
		if err := restarted.Distribute(ctx, p); err != nil {
			t.Fatalf("restart after %q: %v", steps[len(steps)-1], err)
		}
		checkPaid(t, f, restarted, 0, paid...)
	}
	if len(steps) < 20 {
		t.Fatalf("only %d crash points: %q", len(steps), steps)
	}
	t.Logf("%d crash points: %q", len(steps), steps)
}

package oracle

import (
	"context"
	"time"

	"github.com/hexfield/hexfield/oracle/solana"
)

// An oracle that does not pay (a non-leader of an M-of-N deployment) hands
// no payout to a rewarder, so its epochs would say "distributed": false
// for ever, also after the leader paid them. The paid watcher fixes that: it
// asks the chain whether each recent epoch's own manifest was paid and
// records it.

// epochPaidFunc reports whether the epoch with summary s was paid on chain
// exactly as s says (solana.Chain.EpochPaid with the deployment's accounts
// and members).
type epochPaidFunc func(ctx context.Context, s solana.Summary) (bool, error)

// paidWatchEpochs is how many of the newest epochs each round looks at.
const paidWatchEpochs = 8

// watchPaid checks every interval, until ctx ends, the newest epochs past
// the rewarder step that are not marked distributed, and marks those the
// chain shows paid. An epoch without payouts has nothing to pay and is
// marked at once.
func (o *Oracle) watchPaid(ctx context.Context, paid epochPaidFunc, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		o.checkPaid(ctx, paid)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (o *Oracle) checkPaid(ctx context.Context, paid epochPaidFunc) {
	recs, err := o.store.epochs(paidWatchEpochs)
	if err != nil {
		o.log.Warn("paid watch: epochs", "err", err)
		return
	}
	for _, rec := range recs {
		if rec.Step < StepDistributed || rec.Distributed {
			continue
		}
		ok := rec.Payouts == 0
		if !ok {
			s, err := o.EpochSummary(ctx, rec.Epoch)
			if err != nil {
				o.log.Warn("paid watch: summary", "epoch", rec.Epoch, "err", err)
				continue
			}
			if ok, err = paid(ctx, s); err != nil {
				if ctx.Err() == nil {
					o.log.Debug("paid watch: chain", "epoch", rec.Epoch, "err", err)
				}
				continue
			}
		}
		if !ok {
			continue
		}
		if err := o.store.markEpochDistributed(rec.Epoch); err != nil {
			o.log.Debug("paid watch: mark", "epoch", rec.Epoch, "err", err)
			continue
		}
		o.log.Info("epoch paid on chain by another oracle", "epoch", rec.Epoch)
	}
}

package oracle

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/hexfield/hexfield/oracle/solana"
)

// reclaimBatch bounds the epochs one pass reclaims (ReclaimBatchMarkers
// takes at most 10,000).
const reclaimBatch = 10_000

// reclaimRent returns the rent of what payment no longer needs, once per
// epoch length: this oracle's epoch markers and the deployment's phase-2
// batch markers of epochs more than the reclaim horizon behind the newest
// authorised one, which co-signers refuse to authorise again, and the
// lookup tables no recent batch used (solana.Distributor's Reclaim,
// ReclaimBatchMarkers and ReclaimTables, each harmless to repeat).
func (o *Oracle) reclaimRent(ctx context.Context, d *solana.Distributor) error {
	for {
		t := time.NewTimer(o.params.EpochLength)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		if err := o.reclaimOnce(ctx, d); err != nil && ctx.Err() == nil {
			o.log.Warn("reclaiming rent", "err", err)
		}
	}
}

// reclaimOnce reclaims from the epoch after the last one reclaimed (at
// first, this oracle's first epoch) to the horizon.
func (o *Oracle) reclaimOnce(ctx context.Context, d *solana.Distributor) error {
	newest, ok, err := solana.NewChain(o.cfg.SolanaRPC).NewestAuthorized(ctx, d.Accounts())
	if err != nil || !ok || newest <= o.cfg.ReclaimHorizon+1 {
		return err
	}
	to := newest - o.cfg.ReclaimHorizon - 1
	done, found, err := o.store.getMetaU64(metaReclaimedTo)
	if err != nil {
		return err
	}
	from := done + 1
	if !found {
		if from, found, err = o.store.firstEpoch(); err != nil || !found {
			return err
		}
	}
	if from > to {
		return nil
	}
	to = min(to, from+reclaimBatch-1)
	var got solana.Reclaimed
	for _, step := range []func() (solana.Reclaimed, error){
		func() (solana.Reclaimed, error) { return d.Reclaim(ctx, o.key, from, to) },
		func() (solana.Reclaimed, error) { return d.ReclaimBatchMarkers(ctx, from, to) },
		func() (solana.Reclaimed, error) { return d.ReclaimTables(ctx) },
	} {
		r, err := step()
		if err != nil {
			return err
		}
		got.Markers += r.Markers
		got.Deactivated += r.Deactivated
		got.Closed += r.Closed
		got.Lamports += r.Lamports
	}
	if err := o.store.setMetaU64(metaReclaimedTo, to); err != nil {
		return err
	}
	if got.Lamports > 0 || got.Deactivated > 0 {
		o.log.Info("rent reclaimed", "epochs_from", from, "epochs_to", to, "markers", got.Markers,
			"tables_deactivated", got.Deactivated, "tables_closed", got.Closed, "lamports", got.Lamports)
	}
	return nil
}

// firstEpoch is the oldest epoch this oracle has a record of.
func (s *Store) firstEpoch() (uint64, bool, error) {
	var n uint64
	var found bool
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixEpoch}})
		defer it.Close()
		if it.Rewind(); it.Valid() {
			k := it.Item().Key()
			if len(k) != 9 {
				return errCorrupt
			}
			n, found = binary.BigEndian.Uint64(k[1:]), true
		}
		return nil
	})
	return n, found, err
}

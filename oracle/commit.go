package oracle

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/hexfield/hexfield/wire"
)

// ingestItem is one authenticated, stamped report on its way to the store.
type ingestItem struct {
	id         [32]byte
	kind       wire.Kind
	receivedMs int64
	signer     []byte
	payload    []byte // witness reports: the beacon payload heard, for the index
	envelope   []byte
	// done is called exactly once, after the report is durable (CODE_OK),
	// found already stored (CODE_DUPLICATE with the first receive stamp), or
	// could not be stored (CODE_INTERNAL).
	done func(code wire.Code, receivedMs int64)
}

// committer is the group-commit stage: it drains a bounded queue into one
// synced Badger transaction per batch and acknowledges each report only
// after its batch is on disk. A full queue blocks the producers
// (backpressure); nothing grows without bound.
type committer struct {
	store    *Store
	queue    chan *ingestItem
	maxBatch int
	m        *metrics
}

func newCommitter(s *Store, queueLen, maxBatch int, m *metrics) *committer {
	return &committer{store: s, queue: make(chan *ingestItem, queueLen), maxBatch: maxBatch, m: m}
}

// submit queues it, waiting while the queue is full. It returns false
// (and does not call it.done) when ctx ends first.
func (c *committer) submit(ctx context.Context, it *ingestItem) bool {
	select {
	case c.queue <- it:
		return true
	default:
	}
	c.m.commitQueueFull.Inc()
	select {
	case c.queue <- it:
		return true
	case <-ctx.Done():
		return false
	}
}

// Run commits batches until ctx ends. Reports still queued then are
// answered CODE_INTERNAL (never acked as stored), so clients resend them.
func (c *committer) Run(ctx context.Context) error {
	batch := make([]*ingestItem, 0, c.maxBatch)
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			c.fail()
			return nil
		case it := <-c.queue:
			batch = append(batch, it)
		}
	drain:
		for len(batch) < c.maxBatch {
			select {
			case it := <-c.queue:
				batch = append(batch, it)
			default:
				break drain
			}
		}
		c.commit(batch)
	}
}

func (c *committer) fail() {
	for {
		select {
		case it := <-c.queue:
			it.done(wire.Code_CODE_INTERNAL, 0)
		default:
			return
		}
	}
}

// result of one item within a batch.
type commitResult struct {
	code wire.Code
	ms   int64
}

func (c *committer) commit(batch []*ingestItem) {
	start := time.Now()
	results := make([]commitResult, len(batch))
	err := c.writeBatch(batch, results)
	if err != nil {
		c.store.log.Error("commit reports", "err", err, "count", len(batch))
		for _, it := range batch {
			it.done(wire.Code_CODE_INTERNAL, 0)
		}
		c.m.commitErrors.Inc()
		return
	}
	c.m.commitBatch.Observe(float64(len(batch)))
	c.m.commitSeconds.Observe(time.Since(start).Seconds())
	for i, it := range batch {
		if results[i].code == wire.Code_CODE_OK {
			c.m.stored.WithLabelValues(kindLabel(it.kind)).Inc()
		} else {
			c.m.rejected.WithLabelValues(codeLabel(results[i].code)).Inc()
		}
		it.done(results[i].code, results[i].ms)
	}
}

// writeBatch writes every new report of batch in synced transactions
// (normally one; more only if Badger says the batch is too big) and fills
// results.
func (c *committer) writeBatch(batch []*ingestItem, results []commitResult) error {
	s := c.store
	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	seen := make(map[[32]byte]int64, len(batch))
	set := func(e *badger.Entry) error {
		err := txn.SetEntry(e)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err := txn.Commit(); err != nil {
				return err
			}
			txn = s.db.NewTransaction(true)
			err = txn.SetEntry(e)
		}
		return err
	}
	for i, it := range batch {
		if ms, ok := seen[it.id]; ok {
			results[i] = commitResult{wire.Code_CODE_DUPLICATE, ms}
			continue
		}
		item, err := txn.Get(reportKey(it.id))
		switch {
		case err == nil:
			var ms int64
			_ = item.Value(func(v []byte) error {
				if len(v) >= 9 {
					ms = int64(binary.BigEndian.Uint64(v[1:9]))
				}
				return nil
			})
			seen[it.id] = ms
			results[i] = commitResult{wire.Code_CODE_DUPLICATE, ms}
			continue
		case !errors.Is(err, badger.ErrKeyNotFound):
			return fmt.Errorf("check duplicate: %w", err)
		}
		seen[it.id] = it.receivedMs
		results[i] = commitResult{wire.Code_CODE_OK, it.receivedMs}
		v := encodeReport(reportValue{Kind: it.kind, ReceivedMs: it.receivedMs, Envelope: it.envelope})
		if err := set(s.entry(reportKey(it.id), v)); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		if err := set(s.entry(timeKey(it.kind, it.receivedMs, it.id), it.signer)); err != nil {
			return fmt.Errorf("write time index: %w", err)
		}
		if err := set(s.entry(byHotspotKey(it.signer, it.kind, it.receivedMs, it.id), nil)); err != nil {
			return fmt.Errorf("write hotspot index: %w", err)
		}
		if it.kind == wire.Kind_KIND_WITNESS_REPORT && len(it.payload) == payloadLen {
			if err := set(s.entry(witnessPayKey(it.payload, it.receivedMs, it.id), nil)); err != nil {
				return fmt.Errorf("write witness index: %w", err)
			}
		}
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

package oracle

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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
// after its batch is on disk. Up to depth batches are in flight at once,
// so the next batch is prepared while the previous one syncs. A full queue
// blocks the producers (backpressure); nothing grows without bound.
type committer struct {
	store    *Store
	queue    chan *ingestItem
	maxBatch int
	depth    int
	m        *metrics
	logs     *logSampler // nil: store.log, unsampled

	mu      sync.Mutex
	pending map[[32]byte]pendingRef // reports written by batches not yet committed
}

// pendingRef points at the in-flight batch that writes a report.
type pendingRef struct {
	b  *batchState
	ms int64
}

// batchState is one in-flight batch. Reports that duplicate one of its
// reports are answered when it completes: DUPLICATE if it committed,
// INTERNAL if it failed.
type batchState struct {
	followers []follower
}

// follower is a duplicate waiting for the batch that stores its original,
// received at ms.
type follower struct {
	it *ingestItem
	ms int64
}

// commitDepth is how many batches may be in flight.
const commitDepth = 4

func newCommitter(s *Store, queueLen, maxBatch int, m *metrics) *committer {
	return &committer{store: s, queue: make(chan *ingestItem, queueLen), maxBatch: maxBatch, depth: commitDepth, m: m,
		pending: map[[32]byte]pendingRef{}}
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

// Run commits batches until ctx ends. It then waits for the batches in
// flight; reports still queued are answered CODE_INTERNAL (never acked as
// stored), so clients resend them.
func (c *committer) Run(ctx context.Context) error {
	slots := make(chan struct{}, c.depth)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		batch := make([]*ingestItem, 0, min(c.maxBatch, 64))
		select {
		case <-ctx.Done():
			wg.Wait()
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
		slots <- struct{}{}
		wg.Add(1)
		c.start(batch, func() {
			<-slots
			wg.Done()
		})
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

// resultFollower marks an item answered when the batch it duplicates
// completes.
const resultFollower wire.Code = -1

// start prepares batch as one transaction and commits it
// asynchronously; release is called when every report of the batch has
// been answered. A batch that the free disk space cannot take is answered
// CODE_OVERLOADED without being written.
func (c *committer) start(batch []*ingestItem, release func()) {
	begin := time.Now()
	n := batchBytes(batch)
	if err := c.store.space.reserve(n); err != nil {
		for _, it := range batch {
			c.m.rejected.WithLabelValues(codeLabel(wire.Code_CODE_OVERLOADED)).Inc()
			it.done(wire.Code_CODE_OVERLOADED, 0)
		}
		release()
		return
	}
	release = func(release func()) func() {
		return func() {
			c.store.space.release(n)
			release()
		}
	}(release)
	bs := &batchState{}
	results := make([]commitResult, len(batch))
	// Preparing and handing to Badger (which gives it its commit
	// timestamp) under reportTxn: the next preparation's transaction then
	// waits in Badger for this commit, so counters add up (schema.go).
	c.store.reportTxn.Lock()
	defer c.store.reportTxn.Unlock()
	txn, added, err := c.prepare(batch, results, bs)
	if err != nil {
		c.finish(batch, results, bs, added, err, begin)
		release()
		return
	}
	txn.CommitWith(func(err error) {
		if err != nil {
			err = fmt.Errorf("commit: %w", err)
		}
		c.finish(batch, results, bs, added, err, begin)
		release()
	})
}

// writeBatch writes batch synchronously and fills results; tests and the
// epoch seeding use it. Followers of other batches cannot occur here.
func (c *committer) writeBatch(batch []*ingestItem, results []commitResult) error {
	n := batchBytes(batch)
	if err := c.store.space.reserve(n); err != nil {
		return err
	}
	defer c.store.space.release(n)
	bs := &batchState{}
	c.store.reportTxn.Lock()
	txn, added, err := c.prepare(batch, results, bs)
	if err == nil {
		if err = txn.Commit(); err != nil {
			err = fmt.Errorf("commit: %w", err)
		}
	}
	c.store.reportTxn.Unlock()
	c.mu.Lock()
	for _, id := range added {
		delete(c.pending, id)
	}
	c.mu.Unlock()
	for i := range results {
		if results[i].code == resultFollower {
			results[i].code = wire.Code_CODE_DUPLICATE
		}
	}
	return err
}

// batchBytes estimates what batch adds to the memtable log: each report's
// envelope and the keys of its indexes and counters.
func batchBytes(batch []*ingestItem) uint64 {
	var n uint64
	for _, it := range batch {
		n += uint64(len(it.envelope)) + 400
	}
	return n
}

// prepare writes every new report of batch, with its counters, into a
// transaction and fills results: OK for new reports, DUPLICATE for ones
// already durable, resultFollower for duplicates of reports still in
// flight. A batch too big for one transaction is split: the earlier parts
// are committed synchronously, each with the counters of its own reports.
// It returns the ids it added to c.pending. The caller holds
// Store.reportTxn until it has committed the transaction or handed it to
// CommitWith.
func (c *committer) prepare(batch []*ingestItem, results []commitResult, bs *batchState) (*badger.Txn, [][32]byte, error) {
	s := c.store
	added := make([][32]byte, 0, len(batch))
	// Duplicates of in-flight reports follow their batch. This check comes
	// before the transaction starts: a report not pending now is either
	// unknown or committed and visible to the new transaction's reads.
	c.mu.Lock()
	for i, it := range batch {
		if ref, ok := c.pending[it.id]; ok {
			ref.b.followers = append(ref.b.followers, follower{it, ref.ms})
			results[i] = commitResult{resultFollower, ref.ms}
		}
	}
	c.mu.Unlock()
	txn := s.db.NewTransaction(true)
	// size and count follow Badger's own estimate of txn (Txn.checkSize),
	// so that the batch is split before ErrTxnTooBig, between reports.
	var size, count int64
	deltas := map[counterID]uint64{}
	const counterCost = 1 + keyLen + 2 + 8 + 8 + 12
	fail := func(err error) (*badger.Txn, [][32]byte, error) {
		txn.Discard()
		return nil, added, err
	}
	entries := make([]*badger.Entry, 0, 4)
	for i, it := range batch {
		if results[i].code == resultFollower {
			continue
		}
		c.mu.Lock()
		ref, ok := c.pending[it.id]
		c.mu.Unlock()
		if ok { // an earlier report of this same batch
			bs.followers = append(bs.followers, follower{it, ref.ms})
			results[i] = commitResult{resultFollower, ref.ms}
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
			results[i] = commitResult{wire.Code_CODE_DUPLICATE, ms}
			continue
		case !errors.Is(err, badger.ErrKeyNotFound):
			return fail(fmt.Errorf("check duplicate: %w", err))
		}
		v := encodeReport(reportValue{Kind: it.kind, ReceivedMs: it.receivedMs, Envelope: it.envelope})
		entries = append(entries[:0],
			s.entry(reportKey(it.id), v),
			s.entry(timeKey(it.kind, it.receivedMs, it.id), nil),
			s.entry(byHotspotKey(it.signer, it.kind, it.receivedMs, it.id), nil))
		if it.kind == wire.Kind_KIND_WITNESS_REPORT && len(it.payload) == payloadLen {
			entries = append(entries, s.entry(witnessPayKey(it.payload, it.receivedMs, it.id), nil))
		}
		var itSize, itCount int64
		for _, e := range entries {
			itSize += int64(len(e.Key)+len(e.Value)) + 12
			itCount++
		}
		ids := reportCounters(it.signer, it.kind, it.receivedMs)
		for _, id := range ids {
			if _, ok := deltas[id]; !ok {
				itSize += counterCost
				itCount++
			}
		}
		if len(deltas) > 0 && (size+itSize >= s.txnMaxSize || count+itCount >= s.txnMaxCount) {
			if err := addCounters(txn, deltas); err != nil {
				return fail(err)
			}
			if err := txn.Commit(); err != nil {
				return nil, added, fmt.Errorf("commit part of a batch: %w", err)
			}
			txn = s.db.NewTransaction(true)
			size, count = 0, 0
			clear(deltas)
			itSize, itCount = 0, int64(len(ids))
			for _, e := range entries {
				itSize += int64(len(e.Key)+len(e.Value)) + 12
			}
			itSize += int64(len(ids)) * counterCost
			itCount += int64(len(entries))
		}
		for _, e := range entries {
			if err := txn.SetEntry(e); err != nil {
				return fail(fmt.Errorf("write report: %w", err))
			}
		}
		size, count = size+itSize, count+itCount
		for _, id := range ids {
			deltas[id]++
		}
		c.mu.Lock()
		c.pending[it.id] = pendingRef{bs, it.receivedMs}
		c.mu.Unlock()
		added = append(added, it.id)
		results[i] = commitResult{wire.Code_CODE_OK, it.receivedMs}
	}
	if err := addCounters(txn, deltas); err != nil {
		return fail(err)
	}
	return txn, added, nil
}

// finish answers every report of a completed batch and its followers.
func (c *committer) finish(batch []*ingestItem, results []commitResult, bs *batchState, added [][32]byte, err error, begin time.Time) {
	c.mu.Lock()
	for _, id := range added {
		delete(c.pending, id)
	}
	followers := bs.followers
	bs.followers = nil
	c.mu.Unlock()
	if err != nil {
		if c.logs != nil {
			c.logs.Log(slog.LevelError, "commit_error", "commit reports", "err", err, "count", len(batch))
		} else {
			c.store.log.Error("commit reports", "err", err, "count", len(batch))
		}
		c.m.commitErrors.Inc()
		for i, it := range batch {
			if results[i].code != resultFollower {
				it.done(wire.Code_CODE_INTERNAL, 0)
			}
		}
		for _, f := range followers {
			f.it.done(wire.Code_CODE_INTERNAL, 0)
		}
		return
	}
	c.m.commitBatch.Observe(float64(len(batch)))
	c.m.commitSeconds.Observe(time.Since(begin).Seconds())
	for i, it := range batch {
		switch results[i].code {
		case resultFollower:
			continue
		case wire.Code_CODE_OK:
			c.m.stored.WithLabelValues(kindLabel(it.kind)).Inc()
		default:
			c.m.rejected.WithLabelValues(codeLabel(results[i].code)).Inc()
		}
		it.done(results[i].code, results[i].ms)
	}
	for _, f := range followers {
		c.m.rejected.WithLabelValues(codeLabel(wire.Code_CODE_DUPLICATE)).Inc()
		f.it.done(wire.Code_CODE_DUPLICATE, f.ms)
	}
}

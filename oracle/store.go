package oracle

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/skl"

	"github.com/hexfield/hexfield/wire"
)

// Store is the oracle's embedded Badger database. Every key it writes is
// built by the functions in schema.go.
type Store struct {
	db        *badger.DB
	opts      badger.Options
	retention time.Duration
	log       *slog.Logger
	// space watches the free space of the data directory (diskspace.go).
	space *diskSpace
	// reportTxn serialises the preparation of report transactions, which
	// read-modify-write the hotspot counters (schema.go).
	reportTxn sync.Mutex
	// txnMaxSize and txnMaxCount are where a report batch is split into
	// several transactions, a little below Badger's ErrTxnTooBig limits.
	txnMaxSize, txnMaxCount int64
	stopWatch               context.CancelFunc
	watchDone               chan struct{}
	// regMu serialises registry and ledger read-modify-writes
	// (registryUpdate): Badger's conflict detection is off.
	regMu sync.Mutex
	// regGen counts registryUpdate calls, so that caches of the registry
	// (regCache) know when to rebuild.
	regGen atomic.Uint64
	// txnHotspots are the hotspot records the running registryUpdate
	// changed (regMu held); once it commits they join changedHotspots,
	// which the map's index (mapIndex) takes to read them again.
	txnHotspots     []string
	changedMu       sync.Mutex
	changedHotspots map[string]struct{}
}

// takeChangedHotspots returns, sorted, the keys of the hotspot records
// committed since the last call, and forgets them.
func (s *Store) takeChangedHotspots() []string {
	s.changedMu.Lock()
	defer s.changedMu.Unlock()
	keys := make([]string, 0, len(s.changedHotspots))
	for k := range s.changedHotspots {
		keys = append(keys, k)
	}
	clear(s.changedHotspots)
	slices.Sort(keys)
	return keys
}

// changed adds keys to the changed hotspot records.
func (s *Store) changed(keys []string) {
	if len(keys) == 0 {
		return
	}
	s.changedMu.Lock()
	defer s.changedMu.Unlock()
	if s.changedHotspots == nil {
		s.changedHotspots = map[string]struct{}{}
	}
	for _, k := range keys {
		s.changedHotspots[k] = struct{}{}
	}
}

// regCache holds a value built from the registry until the registry
// changes (Store.regGen): reads take no lock, one rebuild runs at a time.
type regCache[T any] struct {
	mu  sync.Mutex
	cur atomic.Pointer[regCached[T]]
}

type regCached[T any] struct {
	gen uint64
	v   T
}

// get returns the cached value, building it again with build if s's
// registry changed since it was built. The generation is read before the
// build: a change committed during it makes the next get build again.
func (c *regCache[T]) get(s *Store, build func() (T, error)) (T, error) {
	if cur := c.cur.Load(); cur != nil && cur.gen == s.regGen.Load() {
		return cur.v, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	gen := s.regGen.Load()
	if cur := c.cur.Load(); cur != nil && cur.gen == gen {
		return cur.v, nil
	}
	v, err := build()
	if err != nil {
		return v, err
	}
	c.cur.Store(&regCached[T]{gen: gen, v: v})
	return v, nil
}

// ErrSchema is returned when the store on disk has a schema version this
// build cannot read or migrate.
var ErrSchema = errors.New("unsupported store schema")

// Badger sizing. The free space the store must keep (diskMargin) grows
// with the memtable size, so it follows the size of the file system:
// 1/256 of it rounded down to a power of two, from 4 MiB (a 64 MiB disk
// keeps a margin of about 20 MiB plus its data) to 32 MiB (Badger's cost per
// report is lowest with large memtables: 4 MiB ones cost about 40% more CPU
// per report in compactions). At most two memtables wait for a flush, and
// every value of the oracle but large manifests stays in the LSM tree
// (storeValueThreshold), so the value log hardly grows.
const (
	storeMinMemTable      = 4 << 20
	storeMaxMemTable      = 32 << 20
	storeNumMemtables     = 2
	storeValueLogFileSize = 16 << 20
	storeValueThreshold   = 64 << 10
)

// memTableSize is the memtable size for a file system of total bytes (0:
// unknown).
func memTableSize(total uint64) int64 {
	if total == 0 {
		return storeMaxMemTable
	}
	m := int64(storeMinMemTable)
	for m < storeMaxMemTable && uint64(m)*2*256 <= total {
		m *= 2
	}
	return m
}

// OpenStore opens (or creates) the store in dir. Writes are synced, so a
// store killed with SIGKILL reopens with every committed transaction.
// Reports are kept for retention (0 = forever).
//
// When the file system holding dir has less free space than the store
// needs to open for writing safely (openMargin), the store opens read-only:
// it serves reads, refuses every write, and ReadOnlyReason says why.
// Leaving read-only mode needs a restart once space is freed.
func OpenStore(dir string, retention time.Duration, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	_, total, _ := fsSpace(dir)
	opts := badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithNumVersionsToKeep(1).
		WithLogger(badgerLogger{log}).
		WithMetricsEnabled(false).
		WithBlockCacheSize(32 << 20).
		WithIndexCacheSize(16 << 20).
		WithMemTableSize(memTableSize(total)).
		WithNumMemtables(storeNumMemtables).
		WithValueLogFileSize(storeValueLogFileSize).
		WithValueThreshold(storeValueThreshold).
		WithCompression(options.None).
		WithDetectConflicts(false).
		WithNumCompactors(2)
	space := newDiskSpace(dir, opts, log)
	readOnly := ""
	if free, err := space.statfs(dir); err == nil {
		if need := openMargin(dir, opts); free < need {
			readOnly = fmt.Sprintf("the file system of %s has %s free; opening the store for writing needs %s (Badger flushes and compacts at once); free space and restart",
				dir, fmtBytes(free), fmtBytes(need))
			opts = opts.WithReadOnly(true)
		}
	}
	db, err := badger.Open(opts)
	if err != nil {
		if readOnly != "" {
			return nil, fmt.Errorf("open store %s read-only (%s): %w", dir, readOnly, err)
		}
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	s := &Store{db: db, opts: opts, retention: retention, log: log, space: space}
	s.txnMaxSize = (15 * opts.MemTableSize / 100) * 9 / 10
	s.txnMaxCount = s.txnMaxSize / int64(skl.MaxNodeSize)
	space.margin = s.diskMargin
	if readOnly != "" {
		space.setReadOnly(readOnly)
		log.Error("store opened read-only: disk full", "reason", readOnly)
	}
	if err := s.checkSchema(); err != nil {
		db.Close()
		return nil, err
	}
	if !opts.ReadOnly {
		if err := db.Update(func(txn *badger.Txn) error { _, _, err := ensureRouteTableMeta(txn); return err }); err != nil {
			db.Close()
			return nil, fmt.Errorf("open store %s: %w", dir, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stopWatch, s.watchDone = cancel, make(chan struct{})
	go func() {
		defer close(s.watchDone)
		space.watch(ctx, diskCheckInterval)
	}()
	return s, nil
}

// admitIngest is ingest's check that the store takes reports: an error
// wrapping ErrDiskFull while its disk is nearly full or it is read-only.
func (s *Store) admitIngest() error { return s.space.admitIngest() }

// DiskStatus is the store's free-space state.
func (s *Store) DiskStatus() DiskStatus { return s.space.status() }

// writable is nil unless the store was opened read-only on a full disk.
func (s *Store) writable() error {
	if r := s.ReadOnlyReason(); r != "" {
		return fmt.Errorf("%w: the store is read-only: %s", ErrDiskFull, r)
	}
	return nil
}

// ReadOnlyReason is why the store was opened read-only, or "".
func (s *Store) ReadOnlyReason() string { return s.space.status().Reason }

func (s *Store) checkSchema() error {
	var ver uint32
	var found bool
	err := s.db.View(func(txn *badger.Txn) error {
		v, err := getValue(txn, metaKey(metaSchema))
		if err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if v == nil {
			return nil
		}
		if len(v) != 4 {
			return fmt.Errorf("read schema version: %w", errCorrupt)
		}
		ver, found = binary.BigEndian.Uint32(v), true
		return nil
	})
	if err != nil {
		return err
	}
	if !found {
		if s.opts.ReadOnly {
			return fmt.Errorf("new store in %s cannot be created: %s", s.opts.Dir, s.ReadOnlyReason())
		}
		return s.setSchema(SchemaVersion)
	}
	if ver > SchemaVersion {
		return fmt.Errorf("store schema %d is newer than %d: %w", ver, SchemaVersion, ErrSchema)
	}
	migs := migrations()
	for ver < SchemaVersion {
		m, ok := migs[ver]
		if !ok {
			return fmt.Errorf("store schema %d: %w", ver, ErrSchema)
		}
		if s.opts.ReadOnly {
			return fmt.Errorf("store schema %d needs a migration, which needs free space: %s", ver, s.ReadOnlyReason())
		}
		if err := m(s); err != nil {
			return fmt.Errorf("migrate schema %d: %w", ver, err)
		}
		ver++
		if err := s.setSchema(ver); err != nil {
			return err
		}
		s.log.Info("store schema migrated", "schema", ver)
	}
	return nil
}

func (s *Store) setSchema(v uint32) error {
	err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(metaKey(metaSchema), binary.BigEndian.AppendUint32(nil, v))
	})
	if err != nil {
		return fmt.Errorf("write schema version: %w", err)
	}
	return nil
}

// Close flushes and closes the database.
func (s *Store) Close() error {
	s.stopWatch()
	<-s.watchDone
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// entry returns a Badger entry that expires after the retention period.
func (s *Store) entry(k, v []byte) *badger.Entry {
	e := badger.NewEntry(k, v)
	if s.retention > 0 {
		e = e.WithTTL(s.retention)
	}
	return e
}

// sweep runs value-log garbage collection every interval until ctx ends.
// Expired reports themselves are dropped by Badger's compactions (TTL).
func (s *Store) sweep(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		for s.db.RunValueLogGC(0.5) == nil {
			if ctx.Err() != nil {
				return nil
			}
		}
	}
}

func (s *Store) getMetaU64(name string) (uint64, bool, error) {
	var v uint64
	var ok bool
	err := s.db.View(func(txn *badger.Txn) error {
		b, err := getValue(txn, metaKey(name))
		if err != nil || b == nil {
			return err
		}
		if len(b) != 8 {
			return fmt.Errorf("meta %s: %w", name, errCorrupt)
		}
		v, ok = binary.BigEndian.Uint64(b), true
		return nil
	})
	return v, ok, err
}

func (s *Store) setMetaU64(name string, v uint64) error {
	if err := s.writable(); err != nil {
		return err
	}
	return s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(metaKey(name), u64(nil, v))
	})
}

// getValue returns a copy of k's value, or nil when k is absent.
func getValue(txn *badger.Txn, k []byte) ([]byte, error) {
	item, err := txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v, err := item.ValueCopy(nil)
	if v == nil {
		v = []byte{}
	}
	return v, err
}

// StoredReport is one ingested report as stored.
type StoredReport struct {
	ID         [32]byte
	Kind       wire.Kind
	ReceivedMs int64
	Envelope   []byte
}

// loadReport reads the report with the given id in txn; found is false
// when it is not there (never stored, or an index outlived it by TTL).
func loadReport(txn *badger.Txn, id [32]byte) (r StoredReport, found bool, err error) {
	b, err := getValue(txn, reportKey(id))
	if err != nil || b == nil {
		return StoredReport{}, false, err
	}
	v, err := decodeReport(b)
	if err != nil {
		return StoredReport{}, false, err
	}
	return StoredReport{ID: id, Kind: v.Kind, ReceivedMs: v.ReceivedMs, Envelope: v.Envelope}, true, nil
}

// Report returns the stored report with the given id.
func (s *Store) Report(id [32]byte) (StoredReport, bool, error) {
	var out StoredReport
	var found bool
	err := s.db.View(func(txn *badger.Txn) (err error) {
		out, found, err = loadReport(txn, id)
		return err
	})
	if err != nil {
		return out, false, fmt.Errorf("get report: %w", err)
	}
	return out, found, nil
}

// scanIndex walks the keys under prefix from start (inclusive) until stop
// (exclusive, nil = end of prefix), calling fn with each key. fn returning
// errStop ends the walk without error.
func (s *Store) scanIndex(txn *badger.Txn, prefix, start, stop []byte, reverse bool, fn func(k, v []byte) error) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	opts.PrefetchValues = false
	opts.Reverse = reverse
	it := txn.NewIterator(opts)
	defer it.Close()
	seek := start
	if reverse {
		// Seek to the last key ≤ stop: stop is exclusive, so use stop itself;
		// badger reverse seek lands on the largest key ≤ seek.
		seek = stop
		if seek == nil {
			seek = append(append([]byte(nil), prefix...), 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)
		}
	}
	for it.Seek(seek); it.ValidForPrefix(prefix); it.Next() {
		k := it.Item().Key()
		if !reverse && stop != nil && bytes.Compare(k, stop) >= 0 {
			break
		}
		if reverse {
			if stop != nil && bytes.Compare(k, stop) >= 0 {
				continue
			}
			if start != nil && bytes.Compare(k, start) < 0 {
				break
			}
		}
		var v []byte
		if it.Item().ValueSize() > 0 {
			var err error
			if v, err = it.Item().ValueCopy(nil); err != nil {
				return err
			}
		}
		if err := fn(k, v); err != nil {
			if errors.Is(err, errStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

var errStop = errors.New("stop iteration")

// ScanReports calls fn for every stored report of kind with received_ms in
// [fromMs, toMs), in (received_ms, id) order.
func (s *Store) ScanReports(kind wire.Kind, fromMs, toMs int64, fn func(StoredReport) error) error {
	var zero [32]byte
	err := s.db.View(func(txn *badger.Txn) error {
		return s.scanIndex(txn, timePrefix(kind), timeKey(kind, fromMs, zero), timeKey(kind, toMs, zero), false, func(k, _ []byte) error {
			r, found, err := loadReport(txn, [32]byte(k[10:]))
			if err != nil || !found { // index outlived its report (TTL race): skip
				return err
			}
			return fn(r)
		})
	})
	if err != nil {
		return fmt.Errorf("scan reports: %w", err)
	}
	return nil
}

// WitnessesOf returns the stored witness reports whose payload equals
// payload, in (received_ms, id) order.
func (s *Store) WitnessesOf(payload []byte) ([]StoredReport, error) {
	var out []StoredReport
	err := s.db.View(func(txn *badger.Txn) error {
		p := witnessPayPrefix(payload)
		return s.scanIndex(txn, p, p, nil, false, func(k, _ []byte) error {
			r, found, err := loadReport(txn, [32]byte(k[len(p)+8:]))
			if err != nil || !found {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("witnesses of beacon: %w", err)
	}
	return out, nil
}

// HotspotReports returns up to limit reports of kind signed by signer, newest
// first.
func (s *Store) HotspotReports(signer []byte, kind wire.Kind, limit int) ([]StoredReport, error) {
	var out []StoredReport
	err := s.db.View(func(txn *badger.Txn) error {
		p := byHotspotPrefix(signer, kind)
		return s.scanIndex(txn, p, p, nil, true, func(k, _ []byte) error {
			r, found, err := loadReport(txn, [32]byte(k[len(p)+8:]))
			if err != nil || !found {
				return err
			}
			out = append(out, r)
			if len(out) >= limit {
				return errStop
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("hotspot reports: %w", err)
	}
	return out, nil
}

// CountHotspotReports counts the reports of kind signed by signer with
// received_ms ≥ sinceMs, exactly, from the hotspot counters: whole hours
// and whole minutes from their counters, and only the part of a minute at
// the start of the window from the hotspot index. The counters reach back
// counterTTL; sinceMs further back counts only what they still hold.
func (s *Store) CountHotspotReports(signer []byte, kind wire.Kind, sinceMs int64) (int, error) {
	var n uint64
	sinceMs = max(sinceMs, 0)
	m0 := ceilTo(sinceMs, resMs(resMinute))
	h0 := ceilTo(sinceMs, resMs(resHour))
	err := s.db.View(func(txn *badger.Txn) error {
		var zero [32]byte
		if sinceMs < m0 {
			p := byHotspotPrefix(signer, kind)
			err := s.scanIndex(txn, p, byHotspotKey(signer, kind, sinceMs, zero), byHotspotKey(signer, kind, m0, zero), false,
				func(_, _ []byte) error {
					n++
					return nil
				})
			if err != nil {
				return err
			}
		}
		if m0 < h0 {
			c, err := s.sumCounters(txn, signer, kind, resMinute, m0, h0)
			if err != nil {
				return err
			}
			n += c
		}
		c, err := s.sumCounters(txn, signer, kind, resHour, h0, -1)
		n += c
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("count hotspot reports: %w", err)
	}
	return int(n), nil
}

// ceilTo rounds ms up to a multiple of step.
func ceilTo(ms, step int64) int64 { return (ms + step - 1) / step * step }

// sumCounters adds up signer's counters of kind at res for the buckets covering [fromMs, toMs) (toMs < 0: no end). fromMs and
// toMs are multiples of the bucket length.
func (s *Store) sumCounters(txn *badger.Txn, signer []byte, kind wire.Kind, res byte, fromMs, toMs int64) (uint64, error) {
	var n uint64
	p := counterPrefix(signer, kind, res)
	start := u64(counterPrefix(signer, kind, res), uint64(fromMs/resMs(res)))
	var stop []byte
	if toMs >= 0 {
		stop = u64(counterPrefix(signer, kind, res), uint64(toMs/resMs(res)))
	}
	err := s.scanIndex(txn, p, start, stop, false, func(_, v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("counter value: %w", errCorrupt)
		}
		n += decodeU64(v)
		return nil
	})
	return n, err
}

// counterEntry is a counter's entry with its TTL.
func counterEntry(k []byte, n uint64) *badger.Entry {
	return badger.NewEntry(k, u64(nil, n)).WithTTL(counterTTL)
}

// addCounters adds deltas to the counters in txn; the caller holds
// Store.reportTxn (see schema.go for why that makes it exact).
func addCounters(txn *badger.Txn, deltas map[counterID]uint64) error {
	for id, d := range deltas {
		k := counterKey(id)
		v, err := getValue(txn, k)
		if err != nil {
			return fmt.Errorf("read counter: %w", err)
		}
		var base uint64
		if len(v) == 8 {
			base = decodeU64(v)
		}
		if err := txn.SetEntry(counterEntry(k, base+d)); err != nil {
			return fmt.Errorf("write counter: %w", err)
		}
	}
	return nil
}

// newestReportMs is the largest received_ms of any stored report (0 when
// there is none).
func (s *Store) newestReportMs() (int64, error) {
	var newest int64
	err := s.db.View(func(txn *badger.Txn) error {
		for _, kind := range []wire.Kind{wire.Kind_KIND_BEACON_REPORT, wire.Kind_KIND_WITNESS_REPORT, wire.Kind_KIND_PACKET_REPORT} {
			err := s.scanIndex(txn, timePrefix(kind), nil, nil, true, func(k, _ []byte) error {
				if len(k) >= 10 {
					newest = max(newest, int64(binary.BigEndian.Uint64(k[2:10])))
				}
				return errStop
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return newest, err
}

// putEntropy stores a signed entropy value; entropy is kept forever.
func (s *Store) putEntropy(ts int64, env []byte) error {
	if err := s.writable(); err != nil {
		return err
	}
	return s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(entropyKey(ts), env)
	})
}

// EntropyAt returns the signed entropy envelope issued at ts.
func (s *Store) EntropyAt(ts int64) ([]byte, bool, error) {
	var out []byte
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		out, err = getValue(txn, entropyKey(ts))
		return err
	})
	return out, out != nil, err
}

// LatestEntropy returns the newest stored entropy envelope and its ts.
func (s *Store) LatestEntropy() (int64, []byte, error) {
	var ts int64
	var env []byte
	err := s.db.View(func(txn *badger.Txn) error {
		p := []byte{prefixEntropy}
		return s.scanIndex(txn, p, nil, nil, true, func(k, v []byte) error {
			ts, env = entropyTs(k), v
			return errStop
		})
	})
	return ts, env, err
}

// EntropyRange returns the signed entropy envelopes with ts in [from, to)
// (Unix seconds), oldest first.
func (s *Store) EntropyRange(from, to int64) ([][]byte, error) {
	var out [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		p := []byte{prefixEntropy}
		return s.scanIndex(txn, p, entropyKey(from), entropyKey(to), false, func(_, v []byte) error {
			out = append(out, v)
			return nil
		})
	})
	return out, err
}

// hotspot returns the current registry record of key.
func (s *Store) hotspot(key []byte) (hotspotRecord, bool, error) {
	var rec hotspotRecord
	var found bool
	err := s.db.View(func(txn *badger.Txn) error {
		b, err := getValue(txn, hotspotKey(key))
		if err != nil || b == nil {
			return err
		}
		found = true
		return decodeJSON(b, &rec)
	})
	return rec, found, err
}

// updateHotspotTxn changes the registry record of key at ms, the change's
// effective time, in txn (run it in registryUpdate, with any fee the
// change pays): fn gets the previous record (found=false if none) and
// returns the new one, or an error that vetoes the change. A change dated
// before the record's last one is refused: versions are ordered by their
// signed times on every oracle alike (one at the same millisecond replaces
// the earlier). The signed request that caused it is
// kept in the registry and change logs, and the key in the changed
// hotspots once the update commits.
func (s *Store) updateHotspotTxn(txn *badger.Txn, key []byte, ms int64, kind wire.Kind, request []byte, fn func(prev hotspotRecord, found bool) (hotspotRecord, error)) (hotspotRecord, error) {
	var prev hotspotRecord
	b, err := getValue(txn, hotspotKey(key))
	if err != nil {
		return hotspotRecord{}, err
	}
	if b != nil {
		if err := decodeJSON(b, &prev); err != nil {
			return hotspotRecord{}, err
		}
	}
	if b != nil && ms < prev.ChangedMs {
		return hotspotRecord{}, apiErr(409, "stale_request", "the change is dated %d, before the hotspot's last change (%d)", ms, prev.ChangedMs)
	}
	rec, err := fn(prev, b != nil)
	if err != nil {
		return hotspotRecord{}, err
	}
	rec.ChangedMs = ms
	// A version at the same millisecond replaces the earlier one.
	v := encodeJSON(rec)
	for _, kv := range [][2][]byte{
		{hotspotKey(key), v},
		{hotspotVerKey(key, ms), v},
		{ownerKey(rec.Owner, key), nil},
		{registryLogKey(key, ms, kind), request},
	} {
		if err := txn.Set(kv[0], kv[1]); err != nil {
			return hotspotRecord{}, err
		}
	}
	s.txnHotspots = append(s.txnHotspots, string(key))
	return rec, logChange(txn, ms, kind, request)
}

// registryAt returns every hotspot's registry state as it was just before
// atMs (versions with effective_ms < atMs), sorted by key.
func (s *Store) registryAt(atMs int64) ([]hotspotRecord, error) {
	var out []hotspotRecord
	err := s.db.View(func(txn *badger.Txn) error {
		valid := func(id []byte) bool { return len(id) == keyLen }
		return s.versionsAt(txn, prefixHotspotVer, valid, atMs, func(v []byte) error {
			var rec hotspotRecord
			if err := decodeJSON(v, &rec); err != nil {
				return err
			}
			out = append(out, rec)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("registry snapshot: %w", err)
	}
	return out, nil
}

// versionsAt calls fn, in key order, with the value of each record's last
// version effective before atMs. The versions are the keys under prefix:
// the record's id (which valid accepts) and the effective ms (u64).
func (s *Store) versionsAt(txn *badger.Txn, prefix byte, valid func(id []byte) bool, atMs int64, fn func(v []byte) error) error {
	var cur, last []byte
	flush := func() error {
		if last == nil {
			return nil
		}
		err := fn(last)
		last = nil
		return err
	}
	err := s.scanIndex(txn, []byte{prefix}, nil, nil, false, func(k, v []byte) error {
		id := k[1:max(len(k)-8, 1)]
		if len(k) < 1+8 || !valid(id) {
			return fmt.Errorf("version key %x: %w", k, errCorrupt)
		}
		if !bytes.Equal(id, cur) {
			if err := flush(); err != nil {
				return err
			}
			cur = append(cur[:0], id...)
		}
		if ms := int64(binary.BigEndian.Uint64(k[len(k)-8:])); ms < atMs {
			last = v
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// hotspotsOfPage returns the keys in owner's hotspot index after the key
// after (nil: from the first), in key order, at most limit, and whether
// the index holds more.
func (s *Store) hotspotsOfPage(owner, after []byte, limit int) (keys [][]byte, more bool, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		p := append([]byte{prefixOwner}, owner...)
		start := p
		if after != nil {
			start = append(ownerKey(owner, after), 0) // the first key past after
		}
		return s.scanIndex(txn, p, start, nil, false, func(k, _ []byte) error {
			if len(keys) == limit {
				more = true
				return errStop
			}
			keys = append(keys, append([]byte(nil), k[len(p):]...))
			return nil
		})
	})
	if err != nil {
		return nil, false, fmt.Errorf("hotspots of owner: %w", err)
	}
	return keys, more, nil
}

// epochRecord returns the stored state of epoch n.
func (s *Store) epochRecord(n uint64) (epochRecord, bool, error) {
	var rec epochRecord
	var found bool
	err := s.db.View(func(txn *badger.Txn) error {
		b, err := getValue(txn, epochKey(n))
		if err != nil || b == nil {
			return err
		}
		found = true
		return decodeJSON(b, &rec)
	})
	return rec, found, err
}

// putEpoch writes epoch n's state and, if manifest is non-nil, its manifest
// bytes, in one transaction.
func (s *Store) putEpoch(rec epochRecord, manifest []byte) error {
	n := uint64(2 * len(manifest))
	if err := s.space.reserve(n); err != nil {
		return fmt.Errorf("write epoch %d: %w", rec.Epoch, err)
	}
	defer s.space.release(n)
	return s.db.Update(func(txn *badger.Txn) error {
		if manifest != nil {
			if err := txn.Set(manifestKey(rec.Epoch), manifest); err != nil {
				return err
			}
		}
		return txn.Set(epochKey(rec.Epoch), encodeJSON(rec))
	})
}

// markEpochDistributed sets Distributed on epoch n's stored state, read and
// written in one transaction so that no other field is overwritten (the
// scheduler may be writing the same record: a conflict is an error, and the
// caller tries again later).
func (s *Store) markEpochDistributed(n uint64) error {
	return s.db.Update(func(txn *badger.Txn) error {
		b, err := getValue(txn, epochKey(n))
		if err != nil || b == nil {
			return err
		}
		var rec epochRecord
		if err := decodeJSON(b, &rec); err != nil {
			return err
		}
		rec.Distributed = true
		return txn.Set(epochKey(n), encodeJSON(rec))
	})
}

// putEpochCharged writes epoch rec's state and manifest and debits each
// route's charge in rec.RouteDC from its organization's payer (never
// beyond the balance; rec.RouteDC becomes what was debited), dated
// chargeMs (the epoch's end, so that later epochs' balance snapshots are
// the same on every oracle), in one transaction, so the charge happens
// exactly once with the manifest. A manifest built on parent, the head of
// the settled chain, becomes its new head (the next one's accrual parent).
func (s *Store) putEpochCharged(rec epochRecord, manifest []byte, chargeMs int64, parent uint64) error {
	n := uint64(2 * len(manifest))
	if err := s.space.reserve(n); err != nil {
		return fmt.Errorf("write epoch %d: %w", rec.Epoch, err)
	}
	defer s.space.release(n)
	return s.registryUpdate(func(txn *badger.Txn) error {
		charged, err := chargeRoutes(txn, rec.RouteDC, chargeMs, rec.Epoch)
		if err != nil {
			return err
		}
		if rec.RouteDC != nil {
			rec.RouteDC = charged
		}
		if err := txn.Set(manifestKey(rec.Epoch), manifest); err != nil {
			return err
		}
		// The manifest extends the chain of settled manifests when it builds
		// on its head; one caught up later (an older link) does not move it.
		head, err := getValue(txn, metaKey(metaLastSettled))
		if err != nil {
			return err
		}
		if (head == nil && parent == 0) || (len(head) == 8 && decodeU64(head) == parent) {
			if err := txn.Set(metaKey(metaLastSettled), u64(nil, rec.Epoch)); err != nil {
				return err
			}
		}
		return txn.Set(epochKey(rec.Epoch), encodeJSON(rec))
	})
}

// Manifest returns epoch n's canonical manifest bytes.
func (s *Store) Manifest(n uint64) ([]byte, bool, error) {
	var out []byte
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		out, err = getValue(txn, manifestKey(n))
		return err
	})
	return out, out != nil, err
}

// epochs returns the state of every epoch the scheduler has touched, newest
// first, at most limit.
func (s *Store) epochs(limit int) ([]epochRecord, error) {
	var out []epochRecord
	err := s.db.View(func(txn *badger.Txn) error {
		p := []byte{prefixEpoch}
		return s.scanIndex(txn, p, nil, nil, true, func(_, v []byte) error {
			var r epochRecord
			if err := decodeJSON(v, &r); err != nil {
				return err
			}
			out = append(out, r)
			if len(out) >= limit {
				return errStop
			}
			return nil
		})
	})
	return out, err
}

// badgerLogger sends Badger's log lines to slog: errors and warnings as
// such, the rest at debug level.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error("badger", "msg_text", fmt.Sprintf(f, a...))
}

func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn("badger", "msg_text", fmt.Sprintf(f, a...))
}

func (b badgerLogger) Infof(f string, a ...any) {
	b.l.Debug("badger", "msg_text", fmt.Sprintf(f, a...))
}

func (b badgerLogger) Debugf(f string, a ...any) {
	b.l.Debug("badger", "msg_text", fmt.Sprintf(f, a...))
}

// putEpochDone records epoch rec as done and moves the scheduler's cursor
// to next, in one transaction.
func (s *Store) putEpochDone(rec epochRecord, next uint64) error {
	if err := s.writable(); err != nil {
		return err
	}
	return s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(epochKey(rec.Epoch), encodeJSON(rec)); err != nil {
			return err
		}
		// An epoch finished out of order (disputed, caught up later) does
		// not move the scheduler back.
		b, err := getValue(txn, metaKey(metaEpochNext))
		if err != nil {
			return err
		}
		if len(b) == 8 && binary.BigEndian.Uint64(b) >= next {
			return nil
		}
		return txn.Set(metaKey(metaEpochNext), u64(nil, next))
	})
}

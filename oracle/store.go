package oracle

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/hexfield/hexfield/wire"
)

// Store is the oracle's embedded Badger database. Every key it writes is
// built by the functions in schema.go.
type Store struct {
	db        *badger.DB
	retention time.Duration
	log       *slog.Logger
}

// ErrSchema is returned when the store on disk has a schema version this
// build cannot read or migrate.
var ErrSchema = errors.New("unsupported store schema")

// OpenStore opens (or creates) the store in dir. Writes are synced, so a
// store killed with SIGKILL reopens with every committed transaction.
// Reports are kept for retention (0 = forever).
func OpenStore(dir string, retention time.Duration, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithNumVersionsToKeep(1).
		WithLogger(badgerLogger{log}).
		WithMetricsEnabled(false).
		WithBlockCacheSize(32 << 20).
		WithIndexCacheSize(16 << 20).
		WithMemTableSize(32 << 20).
		WithValueLogFileSize(128 << 20).
		WithCompression(options.None).
		WithDetectConflicts(false).
		WithNumCompactors(2)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	s := &Store{db: db, retention: retention, log: log}
	if err := s.checkSchema(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) checkSchema() error {
	return s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(metaKey(metaSchema))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return txn.Set(metaKey(metaSchema), binary.BigEndian.AppendUint32(nil, SchemaVersion))
		}
		if err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		v, err := item.ValueCopy(nil)
		if err != nil || len(v) != 4 {
			return fmt.Errorf("read schema version: %w", errCorrupt)
		}
		ver := binary.BigEndian.Uint32(v)
		migs := migrations()
		for ver < SchemaVersion {
			m, ok := migs[ver]
			if !ok {
				return fmt.Errorf("store schema %d: %w", ver, ErrSchema)
			}
			if err := m(txn); err != nil {
				return fmt.Errorf("migrate schema %d: %w", ver, err)
			}
			ver++
		}
		if ver > SchemaVersion {
			return fmt.Errorf("store schema %d is newer than %d: %w", ver, SchemaVersion, ErrSchema)
		}
		return txn.Set(metaKey(metaSchema), binary.BigEndian.AppendUint32(nil, ver))
	})
}

// Close flushes and closes the database.
func (s *Store) Close() error {
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
// received_ms ≥ sinceMs.
func (s *Store) CountHotspotReports(signer []byte, kind wire.Kind, sinceMs int64) (int, error) {
	n := 0
	var zero [32]byte
	err := s.db.View(func(txn *badger.Txn) error {
		p := byHotspotPrefix(signer, kind)
		return s.scanIndex(txn, p, byHotspotKey(signer, kind, sinceMs, zero), nil, false, func(_, _ []byte) error {
			n++
			return nil
		})
	})
	return n, err
}

// putEntropy stores a signed entropy value; entropy is kept forever.
func (s *Store) putEntropy(ts int64, env []byte) error {
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

// updateHotspot changes the registry record of key at ms in one
// transaction: fn gets the previous record (found=false if none) and
// returns the new one, or an error that vetoes the change. The signed
// request that caused it is kept in the registry log.
func (s *Store) updateHotspot(key []byte, ms int64, kind wire.Kind, request []byte, fn func(prev hotspotRecord, found bool) (hotspotRecord, error)) (hotspotRecord, error) {
	var rec hotspotRecord
	err := s.db.Update(func(txn *badger.Txn) error {
		var prev hotspotRecord
		b, err := getValue(txn, hotspotKey(key))
		if err != nil {
			return err
		}
		if b != nil {
			if err := decodeJSON(b, &prev); err != nil {
				return err
			}
		}
		if rec, err = fn(prev, b != nil); err != nil {
			return err
		}
		// A version at the same millisecond replaces the earlier one.
		v := encodeJSON(rec)
		for _, kv := range [][2][]byte{
			{hotspotKey(key), v},
			{hotspotVerKey(key, ms), v},
			{ownerKey(rec.Owner, key), nil},
			{registryLogKey(key, ms, kind), request},
		} {
			if err := txn.Set(kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
	return rec, err
}

// registryAt returns every hotspot's registry state as it was just before
// atMs (versions with effective_ms < atMs), sorted by key.
func (s *Store) registryAt(atMs int64) ([]hotspotRecord, error) {
	var out []hotspotRecord
	err := s.db.View(func(txn *badger.Txn) error {
		p := []byte{prefixHotspotVer}
		var cur []byte
		var best []byte
		flush := func() error {
			if best == nil {
				return nil
			}
			var rec hotspotRecord
			if err := decodeJSON(best, &rec); err != nil {
				return err
			}
			out = append(out, rec)
			best = nil
			return nil
		}
		err := s.scanIndex(txn, p, nil, nil, false, func(k, v []byte) error {
			if len(k) != 1+keyLen+8 {
				return errCorrupt
			}
			key := k[1 : 1+keyLen]
			ms := int64(binary.BigEndian.Uint64(k[1+keyLen:]))
			if !bytes.Equal(key, cur) {
				if err := flush(); err != nil {
					return err
				}
				cur = append(cur[:0], key...)
			}
			if ms < atMs {
				best = v
			}
			return nil
		})
		if err != nil {
			return err
		}
		return flush()
	})
	if err != nil {
		return nil, fmt.Errorf("registry snapshot: %w", err)
	}
	return out, nil
}

// hotspotsOf returns the keys of the hotspots owned by owner.
func (s *Store) hotspotsOf(owner []byte) ([][]byte, error) {
	var out [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		p := append([]byte{prefixOwner}, owner...)
		return s.scanIndex(txn, p, p, nil, false, func(k, _ []byte) error {
			out = append(out, append([]byte(nil), k[len(p):]...))
			return nil
		})
	})
	return out, err
}

// putRoute stores a route.
func (s *Store) putRoute(r Route) error {
	return s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(routeKey(r.ID), encodeJSON(r))
	})
}

// deleteRoute removes a route; found reports whether it existed.
func (s *Store) deleteRoute(id string) (bool, error) {
	found := false
	err := s.db.Update(func(txn *badger.Txn) error {
		b, err := getValue(txn, routeKey(id))
		if err != nil || b == nil {
			return err
		}
		found = true
		return txn.Delete(routeKey(id))
	})
	return found, err
}

// routes returns every route sorted by id.
func (s *Store) routes() ([]Route, error) {
	var out []Route
	err := s.db.View(func(txn *badger.Txn) error {
		p := []byte{prefixRoute}
		return s.scanIndex(txn, p, nil, nil, false, func(_, v []byte) error {
			var r Route
			if err := decodeJSON(v, &r); err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
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

// putEpochCharged writes epoch rec's state and manifest and charges each
// route in rec.RouteDC (balances stop at zero), in one transaction, so the
// charge happens exactly once with the manifest.
func (s *Store) putEpochCharged(rec epochRecord, manifest []byte) error {
	return s.db.Update(func(txn *badger.Txn) error {
		for id, dc := range rec.RouteDC {
			b, err := getValue(txn, routeKey(id))
			if err != nil {
				return err
			}
			if b == nil {
				continue // route deleted since
			}
			var r Route
			if err := decodeJSON(b, &r); err != nil {
				return err
			}
			r.DCBalance -= min(r.DCBalance, dc)
			if err := txn.Set(routeKey(id), encodeJSON(r)); err != nil {
				return err
			}
		}
		if err := txn.Set(manifestKey(rec.Epoch), manifest); err != nil {
			return err
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
	return s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(epochKey(rec.Epoch), encodeJSON(rec)); err != nil {
			return err
		}
		return txn.Set(metaKey(metaEpochNext), u64(nil, next))
	})
}

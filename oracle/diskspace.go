package oracle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Free-space watching. Badger writes through memory maps: a page written
// on a full file system is a SIGBUS that kills the process, not an error.
// So the store keeps a margin of free space (diskMargin) that Badger may
// still need after the oracle stops writing reports, and the oracle stops
// before the margin is reached:
//
//   - ingest answers CODE_OVERLOADED (admitIngest, a cheap check) and the
//     group commit refuses a batch that would eat into the margin
//     (reserve, which reads statfs for every batch and counts the batches
//     in flight), answering its reports CODE_OVERLOADED too;
//   - large writes of the epoch scheduler (manifests) are refused the same
//     way and retried later;
//   - reads go on as usual, and the oracle accepts reports again once the
//     free space is back above the margin plus one memtable (hysteresis);
//   - on a file system too full to open the store for writing
//     (openMargin), OpenStore opens it read-only: reads only, every write
//     refused, the reason in the log and in /healthz. Badger cannot switch
//     a database from read-only to read-write in place, so leaving that
//     mode needs a restart; the watcher logs when the space is back. A
//     store killed while its disk was full cannot be opened read-only
//     (Badger must first truncate its memtable log, which is a write):
//     OpenStore then fails and says how much space it needs;
//   - the small writes of the registry, entropy and PoC outcomes go on
//     while reports are refused (the fixed part of the margin is for
//     them), and stop in read-only mode (ErrDiskFull, HTTP 503).
//
// The margin, from the Badger options in OpenStore (M = memtable size, 4
// MiB on a 64 MiB disk, 32 MiB from 8 GiB; two memtables):
//
//	marginFixed (4 MiB)         MANIFEST rewrite, DISCARD (1 MiB mmap), KEYREGISTRY,
//	                            a new value-log file's first page, and the oracle's own
//	                            small writes while reports are refused (entropy,
//	                            registry, PoC outcomes)
//	+ 5/4·M                     one memtable flush: the new L0 table (keys, index and
//	                            bloom filter) exists before its WAL is deleted
//	+ NumMemtables·M            memtables not yet flushed, which become L0 tables and
//	                            so inputs of the next L0 compaction
//	+ size(L0) + size(Lbase)    an L0 → Lbase compaction writes its output before it
//	                            deletes its input, and report ids are random, so every
//	                            L0 table overlaps all of Lbase: the whole of both
//	+ deepest compaction        the second compactor, Ln → Ln+1: one table of Ln plus
//	                            what it overlaps in Ln+1, about (1 + LevelSizeMultiplier)
//	                            tables, at most both levels
//
// The value log holds only values over 64 KiB (manifests), so it grows
// only with them, and they are checked against the margin when written.

// marginFixed is the constant part of diskMargin.
const marginFixed = 4 << 20

// diskCheckInterval is how often the watcher reads the free space when
// nothing else does.
const diskCheckInterval = time.Second

// ErrDiskFull is returned for writes refused because the store's file
// system is (nearly) full.
var ErrDiskFull = errors.New("store disk full")

// diskMargin is the free space the store keeps, computed from its Badger
// options and the current sizes of its LSM levels (see above).
func (s *Store) diskMargin() uint64 {
	m := s.opts.MemTableSize
	margin := marginFixed + m*5/4 + int64(s.opts.NumMemtables)*m
	levels := s.db.Levels()
	var deep int64
	for i, l := range levels {
		switch {
		case l.Level == 0 || l.IsBaseLevel:
			margin += l.Size
		case i+1 < len(levels) && l.Size > 0:
			one := l.TargetFileSize * int64(1+s.opts.LevelSizeMultiplier)
			deep = max(deep, min(one, l.Size+levels[i+1].Size))
		}
	}
	return uint64(margin + deep)
}

// openMargin is the free space a store in dir needs to be opened for
// writing: diskMargin with every table counted as compaction input (the
// levels are not known before opening) and the memtable logs on disk as
// flushes to come.
func openMargin(dir string, opts badger.Options) uint64 {
	m := opts.MemTableSize
	need := marginFixed + m*5/4 + int64(opts.NumMemtables)*m
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".sst") || strings.HasSuffix(n, ".mem") {
			need += int64(allocatedBytes(filepath.Join(dir, n)))
		}
	}
	return uint64(need)
}

// diskSpace is the free-space state of the store's file system.
type diskSpace struct {
	dir    string
	opts   badger.Options // the store's
	log    *slog.Logger
	statfs func(dir string) (uint64, error)
	// margin is the space Badger may still need; set once the store is
	// open.
	margin func() uint64

	mu        sync.Mutex
	inflight  uint64 // bytes of batches reserved and not yet written
	low       bool
	reason    string // read-only: why
	spaceBack bool   // read-only: the space has come back (logged once)
	free      uint64
	need      uint64
	statErr   bool
}

func newDiskSpace(dir string, opts badger.Options, log *slog.Logger) *diskSpace {
	return &diskSpace{dir: dir, opts: opts, log: log, statfs: freeBytes, margin: func() uint64 { return 0 }}
}

func (d *diskSpace) setReadOnly(reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reason = reason
}

// DiskStatus is the store's free-space state, as /healthz shows it.
type DiskStatus struct {
	// State is "ok", "low" (reports refused until space returns) or
	// "read_only" (opened on a full disk; restart once space is back).
	State        string `json:"state"`
	FreeBytes    uint64 `json:"free_bytes"`
	ReserveBytes uint64 `json:"reserve_bytes"`
	Reason       string `json:"reason,omitempty"`
}

func (d *diskSpace) status() DiskStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := DiskStatus{State: "ok", FreeBytes: d.free, ReserveBytes: d.need}
	switch {
	case d.reason != "":
		st.State, st.Reason = "read_only", d.reason
		if d.spaceBack {
			st.Reason += " (space is back: restart to leave read-only mode)"
		}
	case d.low:
		st.State = "low"
		st.Reason = fmt.Sprintf("%s free, %s reserved for the store: reports are refused until space is freed",
			fmtBytes(d.free), fmtBytes(d.need))
	}
	return st
}

// admitIngest is the ingest's cheap check before it verifies a report:
// an error (wrapping ErrDiskFull) while space is low or the store is
// read-only.
func (d *diskSpace) admitIngest() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.reason != "":
		return fmt.Errorf("%w: oracle store is read-only (%s); retry later", ErrDiskFull, d.reason)
	case d.low:
		return fmt.Errorf("%w: oracle store has %s free of the %s it keeps; retry later", ErrDiskFull, fmtBytes(d.free), fmtBytes(d.need))
	}
	return nil
}

// reserve checks that n more bytes can be written and keeps them reserved
// until release; it reads the free space now.
func (d *diskSpace) reserve(n uint64) error {
	free, err := d.statfs(d.dir)
	margin := d.margin()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.reason != "" {
		return fmt.Errorf("%w: store is read-only", ErrDiskFull)
	}
	if err != nil {
		if !d.statErr {
			d.log.Warn("read free disk space", "err", err)
			d.statErr = true
		}
		d.inflight += n
		return nil // cannot tell: do not stop the oracle for it
	}
	d.update(free, margin+d.inflight+n)
	if d.low {
		return fmt.Errorf("%w: %s free, %s reserved", ErrDiskFull, fmtBytes(free), fmtBytes(d.need))
	}
	d.inflight += n
	return nil
}

// release ends a reservation of n bytes (written or abandoned).
func (d *diskSpace) release(n uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.inflight -= min(n, d.inflight)
}

// update sets the state from free space and the space needed; d.mu held.
// Once low, the state clears only with a memtable's worth to spare, so it
// does not flap with every flush.
func (d *diskSpace) update(free, need uint64) {
	d.free, d.need = free, need
	wasLow := d.low
	if d.low {
		d.low = free < need+uint64(d.opts.MemTableSize)
	} else {
		d.low = free < need
	}
	switch {
	case d.low && !wasLow:
		d.log.Warn("store disk nearly full: refusing reports", "free_bytes", free, "reserve_bytes", need, "dir", d.dir)
	case !d.low && wasLow:
		d.log.Info("store disk space is back: accepting reports", "free_bytes", free, "reserve_bytes", need, "dir", d.dir)
	}
}

// watch reads the free space every interval until ctx ends, so that the
// state clears when space is freed even without traffic.
func (d *diskSpace) watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		d.check()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *diskSpace) check() {
	free, err := d.statfs(d.dir)
	if err != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.reason != "" {
		need := openMargin(d.dir, d.opts)
		d.free, d.need = free, need
		if free >= need && !d.spaceBack {
			d.spaceBack = true
			d.log.Warn("store disk space is back: restart oracled to leave read-only mode", "free_bytes", free, "dir", d.dir)
		}
		return
	}
	margin := d.margin
	d.mu.Unlock()
	m := margin()
	d.mu.Lock()
	d.update(free, m+d.inflight)
}

// fmtBytes formats n in MiB for messages.
func fmtBytes(n uint64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

package maps

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// Source says how a cell was measured.
type Source uint8

// Sources (bit flags in a cell).
const (
	SourcePoC    Source = 1 // a valid PoC witness receipt at the beaconer's cell
	SourceMapper Source = 2 // a mapper uplink at the device's reported position
)

// Observation is one measurement of coverage: Hotspot heard a transmitter
// located in Cell.
type Observation struct {
	// Cell is the transmitter's H3 cell, resolution 9 or finer (folded to
	// its res-9 parent).
	Cell uint64
	// Hotspot is who heard it: a hotspot's base58 address, or a mapper
	// network's gateway id; 1–255 bytes.
	Hotspot string
	// Transmitter is the beaconing hotspot of a PoC ("" for a mapper); it
	// is only marked active.
	Transmitter string
	RSSI        int16 // dBm×10
	SNR         int16 // dB×10
	Ms          int64 // Unix ms of the observation
	Source      Source
}

// Window is a time window of the map.
type Window uint8

// Windows.
const (
	Window24h Window = iota
	Window7d
	Window30d
	WindowAll
	numWindows
)

var windowNames = [numWindows]string{"24h", "7d", "30d", "all"}

// windowHours is each window's length in hours (0 = all time).
var windowHours = [numWindows]uint32{24, 7 * 24, 30 * 24, 0}

func (w Window) String() string { return windowNames[w] }

// ParseWindow parses "24h", "7d", "30d" or "all"; "" is all.
func ParseWindow(s string) (Window, bool) {
	if s == "" {
		return WindowAll, true
	}
	for i, n := range windowNames {
		if n == s {
			return Window(i), true
		}
	}
	return 0, false
}

const (
	hourMs = int64(time.Hour / time.Millisecond)
	// maxHeardBy bounds the hotspots kept per res-9 cell; the
	// observations of more hotspots go to one "other hotspots" entry, so
	// the cell's statistics stay exact.
	maxHeardBy = 32
	otherID    = ^uint32(0)
	maxName    = 255
)

// start is the first hour inside window w when the current hour is now:
// the current hour and the 23 (167, 719) before it.
func (w Window) start(now uint32) uint32 {
	h := windowHours[w]
	if h == 0 || now+1 < h {
		return 0
	}
	return now + 1 - h
}

type bucket struct {
	hour uint32 // Unix hours
	stat
}

// heard is one hotspot's observations of one res-9 cell.
type heard struct {
	hs  uint32   // interned hotspot, or otherID
	old stat     // hours older than the 30-day window (window "all" only)
	b   []bucket // hourly buckets of the last 30 days, ascending
}

// windowStat merges h's buckets from hour from on (and old when all).
func (h *heard) windowStat(from uint32, all bool, out *stat) {
	if all {
		out.merge(&h.old)
	}
	i, _ := slices.BinarySearchFunc(h.b, from, func(b bucket, f uint32) int { return int(int64(b.hour) - int64(f)) })
	for j := i; j < len(h.b); j++ {
		out.merge(&h.b[j].stat)
	}
}

// cell9 is a base cell.
type cell9 struct {
	heard []heard
	// seq is the last journal batch folded into the cell (FoldBatch).
	seq uint64
}

// agg is a rolled-up cell of resolution 3–8 in one window.
type agg struct {
	stat
	hs hsSet
}

// point is a cell with its centre, in the viewport index.
type point struct {
	cell     uint64
	lat, lng float32
	c9       *cell9 // the cell itself, at res 9
}

// Store is where the aggregator keeps its state: an ordered key-value
// space of its own (the oracle gives it one Badger key prefix). A nil value
// in Put deletes the key.
type Store interface {
	PutMaps(kvs []KV) error
	ScanMaps(fn func(key, value []byte) error) error
}

// KV is one key and value of a Store batch.
type KV struct{ Key, Value []byte }

// Aggregator holds the coverage cells. All methods are safe for
// concurrent use.
type Aggregator struct {
	mu    sync.RWMutex
	now   func() time.Time
	store Store // nil = memory only
	hour  uint32

	ids    map[string]uint32
	names  []string
	active []int64 // last ms each hotspot heard or sent a beacon

	cells map[uint64]*cell9
	// views[w][r] are the rollups of resolution r (3–8) in window w.
	views [numWindows][BaseRes]map[uint64]*agg
	// idx[r] maps a bucket cell (resolution r−4, at least 0) to the
	// cells of resolution r seen in any window.
	idx [BaseRes + 1]map[uint64][]point
	// hours lists the res-9 cells with a bucket in each hour of the last
	// 30 days (with repeats), for repairing windows as hours leave them.
	hours map[uint32][]uint64

	dirty       map[uint64]struct{} // res-9 cells to persist
	dirtyActive map[uint32]struct{}
	changed     map[uint64]struct{} // res-9 cells changed since the last Publish
	version     uint64
	folded      uint64
}

// NewAggregator returns an empty aggregator on store (nil = memory only)
// and clock now (nil = time.Now). Load reads a store's state back.
func NewAggregator(store Store, now func() time.Time) *Aggregator {
	if now == nil {
		now = time.Now
	}
	a := &Aggregator{
		now: now, store: store, ids: map[string]uint32{}, cells: map[uint64]*cell9{},
		hours: map[uint32][]uint64{}, dirty: map[uint64]struct{}{}, dirtyActive: map[uint32]struct{}{},
		changed: map[uint64]struct{}{}, version: 1,
	}
	a.hour = uint32(now().UnixMilli() / hourMs)
	for w := range numWindows {
		for r := MinRes; r < BaseRes; r++ {
			a.views[w][r] = map[uint64]*agg{}
		}
	}
	for r := MinRes; r <= BaseRes; r++ {
		a.idx[r] = map[uint64][]point{}
	}
	return a
}

func (a *Aggregator) intern(name string) uint32 {
	if id, ok := a.ids[name]; ok {
		return id
	}
	id := uint32(len(a.names))
	a.ids[name] = id
	a.names = append(a.names, name)
	a.active = append(a.active, 0)
	return id
}

func (a *Aggregator) markActive(id uint32, ms int64) {
	if ms > a.active[id] {
		a.active[id] = ms
		a.dirtyActive[id] = struct{}{}
	}
}

func bucketRes(r int) int { return max(0, r-4) }

// indexAdd puts cell c of resolution r into the viewport index. It is
// called once per cell, when the cell first appears (cells of window all
// never disappear), so buckets need no search: they are in arrival order.
func (a *Aggregator) indexAdd(c uint64, r int, c9 *cell9) {
	lat, lng := cellCenter(c)
	b := parentOf(c, bucketRes(r))
	a.idx[r][b] = append(a.idx[r][b], point{c, float32(lat), float32(lng), c9})
}

// Fold adds observations; invalid ones (bad cell, empty or long hotspot,
// unknown source) are skipped and counted in skipped. Observations from
// the future count as now.
func (a *Aggregator) Fold(obs []Observation) (skipped int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	nowMs := a.now().UnixMilli()
	a.advanceLocked(uint32(nowMs / hourMs))
	for _, o := range obs {
		if !a.foldOne(o, nowMs) {
			skipped++
		}
	}
	return skipped
}

// FoldBatch is Fold for batch seq of a durable journal: the oracle
// journals each batch of PoC observations in the transaction that stores
// the PoCs, folds it and then drops it; after a crash it folds the batches
// still journalled again. A cell that already holds batch seq or a later
// one (it was flushed before the crash) skips the batch, so every
// observation counts once. seq must grow from batch to batch.
func (a *Aggregator) FoldBatch(obs []Observation, seq uint64) (skipped int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	nowMs := a.now().UnixMilli()
	a.advanceLocked(uint32(nowMs / hourMs))
	held := map[uint64]bool{}
	for _, o := range obs {
		if validCell(o.Cell, BaseRes) {
			c := parentOf(o.Cell, BaseRes)
			if cl := a.cells[c]; cl != nil && cl.seq >= seq {
				held[c] = true
			}
		}
	}
	for _, o := range obs {
		if !validCell(o.Cell, BaseRes) || held[parentOf(o.Cell, BaseRes)] || !a.foldOne(o, nowMs) {
			skipped++
			continue
		}
		a.cells[parentOf(o.Cell, BaseRes)].seq = seq
	}
	return skipped
}

func (a *Aggregator) foldOne(o Observation, nowMs int64) bool {
	if !validCell(o.Cell, BaseRes) || o.Hotspot == "" || len(o.Hotspot) > maxName || len(o.Transmitter) > maxName ||
		(o.Source != SourcePoC && o.Source != SourceMapper) || o.Ms < 0 {
		return false
	}
	c := parentOf(o.Cell, BaseRes)
	ms := min(o.Ms, nowMs)
	hour := uint32(ms / hourMs)
	id := a.intern(o.Hotspot)
	a.markActive(id, ms)
	if o.Transmitter != "" {
		a.markActive(a.intern(o.Transmitter), ms)
	}
	cl := a.cells[c]
	if cl == nil {
		cl = &cell9{}
		a.cells[c] = cl
		a.indexAdd(c, BaseRes, cl)
	}
	hi := -1
	for i := range cl.heard {
		if cl.heard[i].hs == id {
			hi = i
			break
		}
	}
	if hi < 0 {
		if len(cl.heard) >= maxHeardBy {
			id = otherID
			for i := range cl.heard {
				if cl.heard[i].hs == otherID {
					hi = i
				}
			}
		}
		if hi < 0 {
			cl.heard = append(cl.heard, heard{hs: id})
			hi = len(cl.heard) - 1
		}
	}
	h := &cl.heard[hi]
	if hour < Window30d.start(a.hour) {
		h.old.addObs(o.RSSI, o.SNR, ms, o.Source)
	} else {
		i, found := slices.BinarySearchFunc(h.b, hour, func(b bucket, hr uint32) int { return int(int64(b.hour) - int64(hr)) })
		if !found {
			h.b = slices.Insert(h.b, i, bucket{hour: hour})
			a.hours[hour] = append(a.hours[hour], c)
		}
		h.b[i].addObs(o.RSSI, o.SNR, ms, o.Source)
	}
	var parents [BaseRes]uint64
	for r := MinRes; r < BaseRes; r++ {
		parents[r] = parentOf(c, r)
	}
	for w := range numWindows {
		if hour < w.start(a.hour) {
			continue
		}
		for r := BaseRes - 1; r >= MinRes; r-- {
			p := parents[r]
			g := a.views[w][r][p]
			if g == nil {
				g = &agg{}
				a.views[w][r][p] = g
				if w == WindowAll {
					a.indexAdd(p, r, nil)
				}
			}
			g.addObs(o.RSSI, o.SNR, ms, o.Source)
			if id == otherID {
				g.hs.more = true
			} else {
				g.hs.add(id)
			}
		}
	}
	a.dirty[c] = struct{}{}
	a.changed[c] = struct{}{}
	a.folded++
	return true
}

// cellStat is a res-9 cell's statistics in window w, with its hotspot
// set when hs is non-nil.
func (a *Aggregator) cellStat(cl *cell9, w Window, out *stat, hs *hsSet) {
	from := w.start(a.hour)
	for i := range cl.heard {
		h := &cl.heard[i]
		var s stat
		h.windowStat(from, w == WindowAll, &s)
		if s.empty() {
			continue
		}
		out.merge(&s)
		if hs != nil {
			if h.hs == otherID {
				hs.more = true
			} else {
				hs.add(h.hs)
			}
		}
	}
}

// Advance moves the windows to the clock's current hour, repairing the
// rollups of every cell whose hours left a window. Fold and the readers
// call it too; the server calls it on a ticker.
func (a *Aggregator) Advance() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.advanceLocked(uint32(a.now().UnixMilli() / hourMs))
}

func (a *Aggregator) advanceLocked(now uint32) {
	if now <= a.hour {
		return
	}
	prev := a.hour
	a.hour = now
	var expired []uint32
	for h := range a.hours {
		if h < Window24h.start(now) {
			expired = append(expired, h)
		}
	}
	if len(expired) == 0 {
		return
	}
	slices.Sort(expired)
	for w := Window24h; w <= Window30d; w++ {
		from, to := w.start(prev), w.start(now)
		seen := map[uint64]struct{}{}
		var cells []uint64
		for _, h := range expired {
			if h < from || h >= to {
				continue
			}
			for _, c := range a.hours[h] {
				if _, ok := seen[c]; !ok {
					seen[c] = struct{}{}
					cells = append(cells, c)
				}
			}
		}
		a.repair(w, cells)
	}
	// Hours that left the 30-day window move into each heard's old stat.
	cut := Window30d.start(now)
	for _, h := range expired {
		if h >= cut {
			continue
		}
		for _, c := range a.hours[h] {
			cl := a.cells[c]
			if cl == nil {
				continue
			}
			for i := range cl.heard {
				hd := &cl.heard[i]
				n := 0
				for n < len(hd.b) && hd.b[n].hour < cut {
					hd.old.merge(&hd.b[n].stat)
					n++
				}
				if n > 0 {
					hd.b = slices.Delete(hd.b, 0, n)
					a.dirty[c] = struct{}{}
				}
			}
		}
		delete(a.hours, h)
	}
}

// repair recomputes the rollups of window w above the res-9 cells, level
// by level from their children, after hours left the window.
func (a *Aggregator) repair(w Window, cells []uint64) {
	for _, c := range cells {
		a.changed[c] = struct{}{}
	}
	level := cells
	var kids []uint64
	for r := BaseRes - 1; r >= MinRes && len(level) > 0; r-- {
		seen := map[uint64]struct{}{}
		var parents []uint64
		for _, c := range level {
			p := parentOf(c, r)
			if _, ok := seen[p]; ok {
				continue
			}
			seen[p] = struct{}{}
			parents = append(parents, p)
			g := &agg{}
			kids = childrenOf(kids[:0], p)
			for _, k := range kids {
				if r+1 == BaseRes {
					if cl := a.cells[k]; cl != nil {
						var s stat
						var hs hsSet
						a.cellStat(cl, w, &s, &hs)
						if !s.empty() {
							g.merge(&s)
							g.hs.merge(&hs)
						}
					}
				} else if ch := a.views[w][r+1][k]; ch != nil {
					g.merge(&ch.stat)
					g.hs.merge(&ch.hs)
				}
			}
			if g.empty() {
				delete(a.views[w][r], p)
			} else {
				a.views[w][r][p] = g
			}
		}
		level = parents
	}
}

// rebuild recomputes every rollup from the res-9 cells, level by level
// (res 8 from the cells, res 7 from res 8, …): the reference the
// incremental path is tested against, and what Load runs once.
func (a *Aggregator) rebuild() {
	for r := MinRes; r < BaseRes; r++ {
		a.idx[r] = map[uint64][]point{}
	}
	for w := range numWindows {
		for r := MinRes; r < BaseRes; r++ {
			a.views[w][r] = map[uint64]*agg{}
		}
		into := func(r int, p uint64, s *stat, hs *hsSet) {
			g := a.views[w][r][p]
			if g == nil {
				g = &agg{}
				a.views[w][r][p] = g
				if w == WindowAll {
					a.indexAdd(p, r, nil)
				}
			}
			g.merge(s)
			g.hs.merge(hs)
		}
		for c, cl := range a.cells {
			var s stat
			var hs hsSet
			a.cellStat(cl, w, &s, &hs)
			if !s.empty() {
				into(BaseRes-1, parentOf(c, BaseRes-1), &s, &hs)
			}
		}
		for r := BaseRes - 2; r >= MinRes; r-- {
			for c, g := range a.views[w][r+1] {
				into(r, parentOf(c, r), &g.stat, &g.hs)
			}
		}
	}
}

// Publish bumps the data version when anything changed since the last
// call and returns the version and the res-9 cells that changed (at most
// limit). Tiles and ETags are keyed by the version.
func (a *Aggregator) Publish(limit int) (version uint64, changed []uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.advanceLocked(uint32(a.now().UnixMilli() / hourMs))
	if len(a.changed) == 0 {
		return a.version, nil
	}
	a.version++
	for c := range a.changed {
		if cellRes(c) == BaseRes && len(changed) < limit {
			changed = append(changed, c)
		}
	}
	slices.Sort(changed)
	clear(a.changed)
	return a.version, changed
}

// Version is the current data version.
func (a *Aggregator) Version() uint64 {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.version
}

// Stats are counts for metrics and benchmarks.
type Stats struct {
	Cells, Hotspots int
	Folded          uint64
	Rollups         int
}

// Stats counts cells, hotspots and rollups.
func (a *Aggregator) Stats() Stats {
	a.mu.RLock()
	defer a.mu.RUnlock()
	s := Stats{Cells: len(a.cells), Hotspots: len(a.names), Folded: a.folded}
	for w := range numWindows {
		for r := MinRes; r < BaseRes; r++ {
			s.Rollups += len(a.views[w][r])
		}
	}
	return s
}

// Flush writes the cells changed since the last Flush to the store.
func (a *Aggregator) Flush() error {
	if a.store == nil {
		return nil
	}
	a.mu.Lock()
	kvs := make([]KV, 0, len(a.dirty)+len(a.dirtyActive))
	for c := range a.dirty {
		kvs = append(kvs, KV{Key: cellKey(c), Value: a.encodeCell(a.cells[c])})
	}
	for id := range a.dirtyActive {
		kvs = append(kvs, KV{Key: activeKey(a.names[id]), Value: encodeActive(a.active[id])})
	}
	clear(a.dirty)
	clear(a.dirtyActive)
	a.mu.Unlock()
	if len(kvs) == 0 {
		return nil
	}
	if err := a.store.PutMaps(kvs); err != nil {
		return fmt.Errorf("maps: flush %d cells: %w", len(kvs), err)
	}
	return nil
}

// Load reads the store's cells into an empty aggregator and rebuilds the
// rollups.
func (a *Aggregator) Load() error {
	if a.store == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.hour = uint32(a.now().UnixMilli() / hourMs)
	err := a.store.ScanMaps(func(k, v []byte) error {
		switch {
		case len(k) == 9 && k[0] == keyCell:
			c := decodeU64(k[1:])
			if !validCell(c, BaseRes) || cellRes(c) != BaseRes {
				return fmt.Errorf("maps: stored cell %x: %w", c, errCorrupt)
			}
			cl, err := a.decodeCell(v)
			if err != nil {
				return fmt.Errorf("maps: stored cell %x: %w", c, err)
			}
			a.cells[c] = cl
			a.indexAdd(c, BaseRes, cl)
			for i := range cl.heard {
				for _, b := range cl.heard[i].b {
					a.hours[b.hour] = append(a.hours[b.hour], c)
				}
			}
		case len(k) > 1 && k[0] == keyActive:
			ms, err := decodeActive(v)
			if err != nil {
				return err
			}
			a.markActive(a.intern(string(k[1:])), ms)
		}
		return nil
	})
	if err != nil {
		return err
	}
	clear(a.dirtyActive)
	// Hours that left the 30-day window while the oracle was down.
	cut := Window30d.start(a.hour)
	for h, cs := range a.hours {
		if h >= cut {
			continue
		}
		for _, c := range cs {
			cl := a.cells[c]
			for i := range cl.heard {
				hd := &cl.heard[i]
				n := 0
				for n < len(hd.b) && hd.b[n].hour < cut {
					hd.old.merge(&hd.b[n].stat)
					n++
				}
				if n > 0 {
					hd.b = slices.Delete(hd.b, 0, n)
					a.dirty[c] = struct{}{}
				}
			}
		}
		delete(a.hours, h)
	}
	a.rebuild()
	return nil
}

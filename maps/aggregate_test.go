package maps

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"
)

// memStore is an in-memory Store for the aggregator's tests; the oracle's
// Badger implementation is tested in package oracle.
type memStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newMemStore() *memStore { return &memStore{m: map[string][]byte{}} }

func (s *memStore) PutMaps(kvs []KV) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, kv := range kvs {
		if kv.Value == nil {
			delete(s.m, string(kv.Key))
		} else {
			s.m[string(kv.Key)] = bytes.Clone(kv.Value)
		}
	}
	return nil
}

func (s *memStore) ScanMaps(fn func(k, v []byte) error) error {
	s.mu.Lock()
	keys := make([]string, 0, len(s.m))
	for k := range s.m {
		keys = append(keys, k)
	}
	s.mu.Unlock()
	sort.Strings(keys)
	for _, k := range keys {
		if err := fn([]byte(k), s.m[k]); err != nil {
			return err
		}
	}
	return nil
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// testCells are res-9 cells around Oakland.
func testCells(t testing.TB, n int, seed uint64) []uint64 {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]uint64, n)
	for i := range out {
		c, ok := latLngCell(37.8+rng.Float64()*0.1, -122.3+rng.Float64()*0.1, 12)
		if !ok {
			t.Fatal("latLngCell")
		}
		out[i] = c
	}
	return out
}

func randomObs(cells []uint64, n int, seed uint64, from time.Time, span time.Duration) []Observation {
	rng := rand.New(rand.NewPCG(seed, 2))
	obs := make([]Observation, n)
	for i := range obs {
		obs[i] = Observation{
			Cell: cells[rng.IntN(len(cells))], Hotspot: fmt.Sprintf("hs%02d", rng.IntN(40)),
			RSSI: int16(-1300 + rng.IntN(900)), SNR: int16(-200 + rng.IntN(300)),
			Ms: from.Add(time.Duration(rng.Int64N(int64(span)))).UnixMilli(), Source: Source(1 + rng.IntN(2)),
		}
	}
	slices.SortFunc(obs, func(a, b Observation) int { return int(a.Ms - b.Ms) })
	return obs
}

// snapshot is every rollup and res-9 window stat of an aggregator, by
// value, for comparing two aggregators (hotspot sets by size and overflow,
// since interned ids differ between instances).
type snapKey struct {
	w    Window
	cell uint64
}
type snapVal struct {
	n, hs     int
	rssi, snr int16
	last      int64
	median    int16
	more      bool
	src       Source
	histLen   int
}

func snapshot(a *Aggregator) map[snapKey]snapVal {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := map[snapKey]snapVal{}
	for w := range numWindows {
		for r := MinRes; r < BaseRes; r++ {
			for c, g := range a.views[w][r] {
				m, _ := g.h.median()
				out[snapKey{w, c}] = snapVal{int(g.n), g.hs.count(), g.rssi, g.snr, g.last, m, g.hs.more, g.src, len(g.h)}
			}
		}
		for c, cl := range a.cells {
			var s stat
			var hs hsSet
			a.cellStat(cl, w, &s, &hs)
			if s.empty() {
				continue
			}
			m, _ := s.h.median()
			out[snapKey{w, c}] = snapVal{int(s.n), hs.count(), s.rssi, s.snr, s.last, m, hs.more, s.src, len(s.h)}
		}
	}
	return out
}

func diffSnap(t *testing.T, what string, got, want map[snapKey]snapVal) {
	t.Helper()
	bad := 0
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			if bad < 5 {
				t.Errorf("%s: %s %s: got %+v (present %v), want %+v", what, k.w, CellString(k.cell), g, ok, v)
			}
			bad++
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			if bad < 5 {
				t.Errorf("%s: %s %s: extra %+v", what, k.w, CellString(k.cell), g)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d differences", what, bad)
	}
}

// Folding observations one batch at a time while the clock moves over 40
// days (so hours leave every window) gives the same rollups as rebuilding
// from the res-9 cells, and as a fresh aggregator loaded from the store.
func TestIncrementalEqualsFromScratch(t *testing.T) {
	clk := &clock{t: t0}
	st := newMemStore()
	a := NewAggregator(st, clk.now)
	cells := testCells(t, 300, 1)
	obs := randomObs(cells, 6000, 3, t0, 40*24*time.Hour)
	i := 0
	for step := time.Duration(0); step <= 41*24*time.Hour; step += 7 * time.Hour {
		clk.t = t0.Add(step)
		j := i
		for j < len(obs) && obs[j].Ms <= clk.t.UnixMilli() {
			j++
		}
		if skipped := a.Fold(obs[i:j]); skipped != 0 {
			t.Fatalf("skipped %d", skipped)
		}
		i = j
		a.Advance()
		if step%(5*24*time.Hour) == 0 {
			if err := a.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	inc := snapshot(a)
	for w := range numWindows {
		n := 0
		for k := range inc {
			if k.w == w {
				n++
			}
		}
		t.Logf("window %s: %d cells and rollups", w, n)
		if n == 0 {
			t.Errorf("window %s is empty", w)
		}
	}

	a.mu.Lock()
	a.rebuild()
	a.mu.Unlock()
	diffSnap(t, "rebuild", snapshot(a), inc)

	b := NewAggregator(st, clk.now)
	if err := b.Load(); err != nil {
		t.Fatal(err)
	}
	diffSnap(t, "loaded", snapshot(b), inc)

	// Late and out-of-order observations into all windows agree too.
	late := randomObs(cells, 500, 9, clk.t.Add(-20*24*time.Hour), 20*24*time.Hour)
	rand.New(rand.NewPCG(1, 1)).Shuffle(len(late), func(i, j int) { late[i], late[j] = late[j], late[i] })
	a.Fold(late)
	b.Fold(late)
	got := snapshot(a)
	a.mu.Lock()
	a.rebuild()
	a.mu.Unlock()
	diffSnap(t, "late rebuild", got, snapshot(a))
	diffSnap(t, "late loaded", snapshot(b), got)
}

func TestWindows(t *testing.T) {
	clk := &clock{t: t0}
	a := NewAggregator(nil, clk.now)
	c := testCells(t, 1, 5)[0]
	a.Fold([]Observation{{Cell: c, Hotspot: "a", RSSI: -900, SNR: 50, Ms: t0.UnixMilli(), Source: SourcePoC}})
	count := func(w Window) int {
		v, ok := a.Cell(parentOf(c, BaseRes), w)
		if !ok {
			return 0
		}
		return v.N
	}
	for _, step := range []struct {
		after              time.Duration
		d24, d7, d30, dAll int
	}{
		{0, 1, 1, 1, 1},
		{23 * time.Hour, 1, 1, 1, 1},
		{24 * time.Hour, 0, 1, 1, 1},
		{7 * 24 * time.Hour, 0, 0, 1, 1},
		{30 * 24 * time.Hour, 0, 0, 0, 1},
		{90 * 24 * time.Hour, 0, 0, 0, 1},
	} {
		clk.t = t0.Add(step.after)
		a.Advance()
		got := []int{count(Window24h), count(Window7d), count(Window30d), count(WindowAll)}
		want := []int{step.d24, step.d7, step.d30, step.dAll}
		if !slices.Equal(got, want) {
			t.Errorf("after %s: counts per window %v, want %v", step.after, got, want)
		}
		// The res-3 rollup follows.
		p := parentOf(c, MinRes)
		a.mu.RLock()
		_, in24 := a.views[Window24h][MinRes][p]
		a.mu.RUnlock()
		if in24 != (step.d24 == 1) {
			t.Errorf("after %s: res-3 rollup in 24h = %v", step.after, in24)
		}
	}
}

func TestMedianHistogram(t *testing.T) {
	var s stat
	for _, r := range []int16{-1200, -1000, -900, -800, -700} {
		s.addObs(r, 0, 1, SourcePoC)
	}
	if m, ok := s.h.median(); !ok || m < -910 || m > -890 {
		t.Errorf("median = %d, want −90 dBm ±1", m)
	}
	if s.rssi != -700 || s.n != 5 {
		t.Errorf("best %d n %d", s.rssi, s.n)
	}
	// Bounded: a million observations still take at most histBins entries.
	var big stat
	for i := range 1_000_000 {
		big.addObs(int16(-1500+i%1600), 0, 1, SourcePoC)
	}
	if len(big.h) > histBins {
		t.Errorf("histogram has %d entries", len(big.h))
	}
}

func TestOtherHotspots(t *testing.T) {
	a := NewAggregator(nil, func() time.Time { return t0 })
	c := testCells(t, 1, 7)[0]
	var obs []Observation
	for i := range maxHeardBy + 10 {
		obs = append(obs, Observation{Cell: c, Hotspot: fmt.Sprintf("h%d", i), RSSI: int16(-1000 + i), Ms: t0.UnixMilli(), Source: SourcePoC})
	}
	a.Fold(obs)
	v, _ := a.Cell(parentOf(c, BaseRes), WindowAll)
	if v.N != maxHeardBy+10 || v.RSSI != float64(-1000+maxHeardBy+9)/10 {
		t.Errorf("cell %+v: the overflow hotspots' observations are lost", v)
	}
	others := 0
	for _, h := range v.HeardBy {
		if h.Hotspot == "" {
			others++
			if h.N != 10 {
				t.Errorf("the other hotspots' entry has %d observations, want 10", h.N)
			}
		}
	}
	if len(v.HeardBy) != maxHeardBy+1 || others != 1 || v.Hotspots != maxHeardBy || !v.More {
		t.Errorf("heard by %d entries (%d others), %d hotspots, more %v", len(v.HeardBy), others, v.Hotspots, v.More)
	}
}

func FuzzDecodeCell(f *testing.F) {
	a := NewAggregator(nil, func() time.Time { return t0 })
	c := testCells(f, 1, 8)[0]
	a.Fold(randomObs([]uint64{c}, 50, 1, t0.Add(-40*24*time.Hour), 40*24*time.Hour))
	for _, cl := range a.cells {
		f.Add(a.encodeCell(cl))
	}
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		b2 := NewAggregator(nil, func() time.Time { return t0 })
		cl, err := b2.decodeCell(b)
		if err != nil {
			return
		}
		again, err := b2.decodeCell(b2.encodeCell(cl))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !bytes.Equal(b2.encodeCell(again), b2.encodeCell(cl)) {
			t.Fatal("encode not stable")
		}
	})
}

// The viewport's allocation-free path agrees with the general one.
func TestFastViewMatches(t *testing.T) {
	a := NewAggregator(nil, func() time.Time { return t0.Add(40 * 24 * time.Hour) })
	cells := testCells(t, 100, 11)
	a.Fold(randomObs(cells, 3000, 12, t0, 40*24*time.Hour))
	for c, cl := range a.cells {
		for w := range numWindows {
			var s stat
			var hs hsSet
			a.cellStat(cl, w, &s, &hs)
			want := view(c, &s, &hs, 1, 2)
			got, ok := a.fastView(c, cl, w, 1, 2)
			if ok != !s.empty() || ok && !reflect.DeepEqual(got, want) {
				t.Fatalf("%s %s: fast %+v, want %+v", CellString(c), w, got, want)
			}
		}
	}
}

// TestFoldBatchReplayCountsOnce: batches of a journal are folded, some
// flushed and some not when the oracle "crashes"; a new aggregator loads
// the store and folds every batch still journalled again (also ones whose
// cells were flushed). The result equals folding each batch once.
func TestFoldBatchReplayCountsOnce(t *testing.T) {
	clk := &clock{t: t0.Add(24 * time.Hour)}
	cells := testCells(t, 40, 3)
	var batches [][]Observation
	for k := range 6 {
		batches = append(batches, randomObs(cells, 200, uint64(10+k), t0, 24*time.Hour))
	}
	once := NewAggregator(nil, clk.now)
	for k, b := range batches {
		if skipped := once.FoldBatch(b, uint64(k+1)); skipped != 0 {
			t.Fatalf("batch %d: %d skipped", k+1, skipped)
		}
	}

	st := newMemStore()
	a := NewAggregator(st, clk.now)
	for k, b := range batches[:4] {
		a.FoldBatch(b, uint64(k+1))
		if k < 2 { // batches 3 and 4 are folded in memory only
			if err := a.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The crash: batches 2 to 6 are still journalled (2 was flushed, but
	// the journal entry not yet dropped).
	b := NewAggregator(st, clk.now)
	if err := b.Load(); err != nil {
		t.Fatal(err)
	}
	for k := 1; k < len(batches); k++ {
		b.FoldBatch(batches[k], uint64(k+1))
	}
	diffSnap(t, "replayed", snapshot(b), snapshot(once))

	// A cell stored before journals existed (version 1) takes every batch.
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	for k, v := range st.m {
		if k[0] == keyCell {
			cl, err := b.decodeCell(v)
			if err != nil || cl.seq == 0 {
				t.Fatalf("stored cell: seq %d, %v", cl.seq, err)
			}
			v1 := append([]byte{1}, v[1+len(binary.AppendUvarint(nil, cl.seq)):]...)
			old, err := b.decodeCell(v1)
			if err != nil || old.seq != 0 || len(old.heard) != len(cl.heard) {
				t.Fatalf("version-1 cell: %+v, %v", old, err)
			}
			break
		}
	}
}

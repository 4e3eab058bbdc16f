package maps

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hexfield/hexfield/wire"
)

// logRegistry is a registry that changes: each commit is a version, and
// MapHotspots answers with the hotspots changed since (every one since 0).
type logRegistry struct {
	mu    sync.Mutex
	cur   map[string]Hotspot
	log   [][]Hotspot // log[v-1] holds version v's changes
	fulls int
}

func (r *logRegistry) commit(hs []Hotspot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range hs {
		r.cur[h.Address] = h
	}
	r.log = append(r.log, hs)
}

func (r *logRegistry) MapHotspots(since uint64) ([]Hotspot, uint64, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := uint64(len(r.log)) + 1 // versions start at 1
	if since == 0 {
		r.fulls++
		var out []Hotspot
		for _, h := range r.cur {
			out = append(out, h)
		}
		return out, v, true, nil
	}
	var out []Hotspot
	for _, batch := range r.log[since-1:] {
		out = append(out, batch...)
	}
	return out, v, false, nil
}

func (r *logRegistry) HotspotRewards(string, int) ([]Reward, error) { return nil, nil }

// tableKey is the address of hotspot i of a table test.
func tableKey(i int) string {
	var k wire.PublicKey
	k[0], k[1], k[2], k[3] = byte(i), byte(i>>8), byte(i>>16), 0xa7
	return k.String()
}

// tableWorld is a random registry of hotspots in a few towns.
type tableWorld struct {
	t   *testing.T
	rng *rand.Rand
	n   int // addresses used so far
	cur map[string]Hotspot
}

func (w *tableWorld) cell() uint64 {
	towns := [][2]float64{{37.80, -122.27}, {-33.86, 151.21}, {52.37, 4.89}}
	c := towns[w.rng.IntN(len(towns))]
	cell, ok := latLngCell(c[0]+w.rng.NormFloat64()*0.05, c[1]+w.rng.NormFloat64()*0.05, 12)
	if !ok {
		w.t.Fatal("no cell")
	}
	return cell
}

// batch is a random set of changes: new hotspots, moves, scale-only and
// data-only changes, removals (no location, or a cell that is not valid),
// no-ops, and an address twice (the last counts); now and then most of
// one town leaves at once, which empties chunks.
func (w *tableWorld) batch() []Hotspot {
	var out []Hotspot
	addrs := make([]string, 0, len(w.cur))
	for a := range w.cur {
		addrs = append(addrs, a)
	}
	slices.Sort(addrs)
	if w.rng.IntN(8) == 0 && len(addrs) > 0 {
		for _, a := range addrs {
			if h := w.cur[a]; h.Cell != 0 && cellCenterLat(h.Cell) > 40 && w.rng.IntN(10) > 0 {
				h.Cell = 0
				out = append(out, h)
			}
		}
		return out
	}
	for range 1 + w.rng.IntN(40) {
		if len(addrs) == 0 || w.rng.IntN(3) == 0 {
			out = append(out, Hotspot{Address: tableKey(w.n), Cell: w.cell(), RewardScale: uint32(w.rng.IntN(10001))})
			w.n++
			continue
		}
		h := w.cur[addrs[w.rng.IntN(len(addrs))]]
		switch w.rng.IntN(7) {
		case 0:
			h.Cell = w.cell()
		case 1:
			h.RewardScale = uint32(w.rng.IntN(10001))
		case 2:
			h.DataOnly = !h.DataOnly
		case 3:
			h.Cell = 0
		case 4:
			h.Cell = 0x0fffffffffffffff // not a cell
		case 5: // unchanged
		case 6:
			out = append(out, Hotspot{Address: h.Address, Cell: w.cell()})
			h.RewardScale++
		}
		out = append(out, h)
	}
	return out
}

func cellCenterLat(c uint64) float64 {
	if !validCell(c, 8) {
		return 0
	}
	lat, _ := cellCenter(c)
	return lat
}

func (w *tableWorld) apply(hs []Hotspot) {
	for _, h := range hs {
		w.cur[h.Address] = h
	}
}

// dump is every index of t in order, as values.
func dump(t *hotspotTable) [4][]hotspotInfo {
	var out [4][]hotspotInfo
	for i, x := range []*hotspotIndex{t.byAddr, t.byName, t.byLat, t.byHex} {
		for e := range x.all() {
			out[i] = append(out[i], *e)
		}
	}
	return out
}

// checkIndex checks x's chunks: none empty or over 2·chunkSize, and
// entries strictly in order across them.
func checkIndex(t *testing.T, x *hotspotIndex) {
	t.Helper()
	var prev *hotspotInfo
	for _, c := range x.chunks {
		if len(c) == 0 || len(c) > 2*chunkSize {
			t.Fatalf("chunk of %d entries", len(c))
		}
		for _, e := range c {
			if prev != nil && x.cmp(prev, e) >= 0 {
				t.Fatalf("%s before %s", prev.Address, e.Address)
			}
			prev = e
		}
	}
}

// TestHotspotTableIncrementalEqualsRebuild: random batches of changes
// applied to the table give the table built from scratch from the
// registry's current hotspots, in all four orders, with the entries
// computed directly; the table a batch was applied to stays as it was.
func TestHotspotTableIncrementalEqualsRebuild(t *testing.T) {
	for seed := range uint64(2) {
		w := &tableWorld{t: t, rng: rand.New(rand.NewPCG(seed, 9)), cur: map[string]Hotspot{}}
		first := make([]Hotspot, 1500)
		for i := range first {
			first[i] = Hotspot{Address: tableKey(i), Cell: w.cell(), RewardScale: uint32(w.rng.IntN(10001))}
		}
		w.n = len(first)
		w.apply(first)
		tbl := newHotspotTable().with(first)
		for step := range 60 {
			b := w.batch()
			before := dump(tbl)
			next := tbl.with(b)
			if !reflect.DeepEqual(dump(tbl), before) {
				t.Fatalf("seed %d step %d: applying a batch changed the table it was applied to", seed, step)
			}
			tbl = next
			w.apply(b)
			var all []Hotspot
			for _, h := range w.cur {
				all = append(all, h)
			}
			fresh := newHotspotTable().with(all)
			got := dump(tbl)
			if !reflect.DeepEqual(got, dump(fresh)) {
				t.Fatalf("seed %d step %d: incremental table differs from a rebuild", seed, step)
			}
			// The orders, computed directly.
			var want []*hotspotInfo
			for _, h := range all {
				if e := locate(h, nil); e != nil {
					want = append(want, e)
				}
			}
			for i, x := range []*hotspotIndex{tbl.byAddr, tbl.byName, tbl.byLat, tbl.byHex} {
				checkIndex(t, x)
				slices.SortFunc(want, x.cmp)
				if !slices.EqualFunc(got[i], want, func(a hotspotInfo, b *hotspotInfo) bool { return a == *b }) {
					t.Fatalf("seed %d step %d: index %d is not the located hotspots in order", seed, step, i)
				}
			}
		}
	}
}

// TestHotspotTableFollowsRegistry: a server refreshing from a changing
// registry asks for everything once, then only changes, and answers the
// hotspot endpoints as a server started fresh on the same registry does.
func TestHotspotTableFollowsRegistry(t *testing.T) {
	clk := &clock{t: testNow}
	agg := NewAggregator(nil, clk.now)
	reg := &logRegistry{cur: map[string]Hotspot{}}
	w := &tableWorld{t: t, rng: rand.New(rand.NewPCG(4, 4)), cur: map[string]Hotspot{}}
	srv, err := NewServer(Config{Now: clk.now}, agg, reg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	get := func(s *Server, path string) string {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusOK && rec.Code != http.StatusNotFound {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	for step := range 40 {
		b := w.batch()
		w.apply(b)
		reg.commit(b)
		srv.Refresh()
		fresh, err := NewServer(Config{Now: clk.now}, agg, &logRegistry{cur: reg.cur}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		paths := []string{"/api/v1/hotspots?bbox=-180,-85,180,85"}
		for _, h := range b {
			paths = append(paths, "/api/v1/hotspots/"+h.Address, "/api/v1/search?q="+h.Address)
			if validCell(h.Cell, 8) {
				paths = append(paths, "/api/v1/hex/"+CellString(parentOf(h.Cell, 8)), "/api/v1/hex/"+CellString(parentOf(h.Cell, 6)))
			}
		}
		for _, p := range paths {
			if got, want := get(srv, p), get(fresh, p); got != want {
				t.Fatalf("step %d: %s\n%s\nfrom scratch:\n%s", step, p, got, want)
			}
		}
	}
	if reg.fulls != 1 {
		t.Fatalf("the server asked for every hotspot %d times", reg.fulls)
	}
}

// TestHotspotOnlineFollowsActivity: online and last seen follow the
// aggregator's activity and the clock as they are read, between refreshes
// of the table.
func TestHotspotOnlineFollowsActivity(t *testing.T) {
	clk := &clock{t: testNow}
	agg := NewAggregator(nil, clk.now)
	a, b := tableKey(1), tableKey(2)
	ca, _ := latLngCell(37.80, -122.27, 12)
	cb, _ := latLngCell(37.81, -122.26, 12)
	srv, err := NewServer(Config{Now: clk.now}, agg, fakeRegistry{[]Hotspot{{Address: a, Cell: ca}, {Address: b, Cell: cb}}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	status := func(addr string) (string, int64) {
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/hotspots/"+addr, nil))
		var v struct {
			Status     string `json:"status"`
			LastSeenMs int64  `json:"last_seen_ms"`
		}
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &v) != nil {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		return v.Status, v.LastSeenMs
	}
	if s, _ := status(a); s != "offline" {
		t.Fatalf("never heard: %s", s)
	}
	// b hears a's beacon: both active, no refresh needed.
	agg.Fold([]Observation{{Cell: ca, Hotspot: b, Transmitter: a, RSSI: -900, SNR: 50, Ms: clk.now().UnixMilli(), Source: SourcePoC}})
	for _, addr := range []string{a, b} {
		if s, last := status(addr); s != "online" || last != clk.now().UnixMilli() {
			t.Fatalf("%s after activity: %s, last %d", addr, s, last)
		}
	}
	clk.add(onlineWindow - time.Millisecond)
	if s, _ := status(a); s != "online" {
		t.Fatalf("just inside the window: %s", s)
	}
	clk.add(time.Millisecond)
	if s, last := status(a); s != "offline" || last != testNow.UnixMilli() {
		t.Fatalf("24 h later: %s, last %d", s, last)
	}
}

// TestHotspotIndexSplitsAndJoins: insertions crowded into one part of an
// index split its chunks, removals join them again, and the index stays
// the sorted set of what is in it.
func TestHotspotIndexSplitsAndJoins(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 3))
	x := newHotspotTable().byAddr
	in := map[int]*hotspotInfo{}
	entry := func(i int) *hotspotInfo { return &hotspotInfo{Address: fmt.Sprintf("%07d", i)} }
	check := func(what string) {
		t.Helper()
		checkIndex(t, x)
		keys := slices.Sorted(maps.Keys(in))
		got := slices.Collect(x.all())
		if len(got) != len(keys) {
			t.Fatalf("%s: %d entries, want %d", what, len(got), len(keys))
		}
		for i, k := range keys {
			if got[i] != in[k] {
				t.Fatalf("%s: entry %d is %s, want %s", what, i, got[i].Address, in[k].Address)
			}
		}
	}
	// Spread out, then crowded into [1000, 1100): chunks split.
	var add []*hotspotInfo
	for i := range 4000 {
		in[i*1000] = entry(i * 1000)
		add = append(add, in[i*1000])
	}
	x = x.with(nil, add)
	check("spread")
	spread := len(x.chunks)
	for range 20 {
		add = add[:0]
		for range 200 {
			k := 1_000_000 + rng.IntN(100_000)
			if in[k] == nil {
				in[k] = entry(k)
				add = append(add, in[k])
			}
		}
		x = x.with(nil, add)
		check("crowded")
	}
	if len(x.chunks) <= spread+3 {
		t.Fatalf("%d chunks after crowding, %d before", len(x.chunks), spread)
	}
	// Almost everything leaves, in random batches: chunks join.
	keys := slices.Sorted(maps.Keys(in))
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	for len(keys) > 100 {
		n := min(len(keys)-100, 1+rng.IntN(500))
		var del []*hotspotInfo
		for _, k := range keys[:n] {
			del = append(del, in[k])
			delete(in, k)
		}
		keys = keys[n:]
		x = x.with(del, nil)
		check("leaving")
	}
	if len(x.chunks) > 2 {
		t.Fatalf("%d chunks for %d entries", len(x.chunks), len(in))
	}
}

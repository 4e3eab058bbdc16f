package maps

import (
	"cmp"
	"iter"
	"slices"
	"sort"
	"strings"
	"time"
)

// Hotspot is a located hotspot as the registry knows it.
type Hotspot struct {
	Address string // base58 key
	Cell    uint64 // asserted H3 cell (res 12); 0 = not asserted
	// RewardScale is the HIP-17 hex density scale in 10⁻⁴ units (the
	// verifier's DensityScales).
	RewardScale uint32
	DataOnly    bool
}

// Reward is a hotspot's line in one epoch's manifest.
type Reward struct {
	Epoch    uint64 `json:"epoch"`
	Amount   uint64 `json:"amount"`
	Withheld uint64 `json:"withheld,omitempty"`
}

// Registry is what the map reads from the oracle's registry.
type Registry interface {
	// MapHotspots returns the hotspots that changed after version since,
	// as they are now, and the version of the answer. For since 0, or a
	// version whose changes the registry no longer has, it returns every
	// hotspot with full true: the answer replaces the map's table instead
	// of updating it. A hotspot with Cell 0 is not located (it leaves the
	// map).
	MapHotspots(since uint64) (hs []Hotspot, version uint64, full bool, err error)
	// HotspotRewards is the hotspot's rewards in its last n epochs, newest
	// first.
	HotspotRewards(address string, n int) ([]Reward, error)
}

// hotspotInfo is a hotspot as the map shows it. In a hotspotTable it is
// immutable and Online and LastSeenMs are unset: they follow the
// aggregator's activity and the clock, so they are filled in as it is read
// (Server.live).
type hotspotInfo struct {
	Address     string  `json:"address"`
	Name        string  `json:"name"`
	Lat         float64 `json:"lat"`
	Lng         float64 `json:"lng"`
	Hex         string  `json:"hex"` // res-8 cell
	Online      bool    `json:"online"`
	LastSeenMs  int64   `json:"last_seen_ms,omitempty"`
	RewardScale float64 `json:"reward_scale"`
	DataOnly    bool    `json:"data_only,omitempty"`
	cell        uint64  // as asserted
	cell8       uint64
	scale       uint32 // RewardScale in 10⁻⁴ units
}

// hexInfo is a res-8 hotspot hex: how many hotspots and their mean HIP-17
// scale.
type hexInfo struct {
	Hotspots    int     `json:"hotspots"`
	RewardScale float64 `json:"reward_scale"`
}

// hotspotTable is the located hotspots in four orders. A table is never
// changed: with returns a new one that shares what the change did not
// touch, and readers load the current one without a lock.
type hotspotTable struct {
	byAddr, byName, byLat, byHex *hotspotIndex
}

// newHotspotTable returns an empty table.
func newHotspotTable() *hotspotTable {
	return &hotspotTable{
		byAddr: &hotspotIndex{cmp: func(a, b *hotspotInfo) int { return strings.Compare(a.Address, b.Address) }},
		byName: &hotspotIndex{cmp: func(a, b *hotspotInfo) int { return thenAddress(strings.Compare(a.Name, b.Name), a, b) }},
		byLat:  &hotspotIndex{cmp: func(a, b *hotspotInfo) int { return thenAddress(cmp.Compare(a.Lat, b.Lat), a, b) }},
		byHex:  &hotspotIndex{cmp: func(a, b *hotspotInfo) int { return thenAddress(cmp.Compare(a.cell8, b.cell8), a, b) }},
	}
}

// thenAddress is c, or for entries equal so far (c 0) their address order.
func thenAddress(c int, a, b *hotspotInfo) int {
	if c != 0 {
		return c
	}
	return strings.Compare(a.Address, b.Address)
}

// onlineWindow: a hotspot heard or seen beaconing in the last 24 h is
// online.
const onlineWindow = 24 * time.Hour

// with returns the table with the hotspots hs as they are now (the last
// of an address counts): a located one is added or replaced, one with
// Cell 0 or a cell that is not valid (not located) removed. The cost
// follows len(hs) and the chunks they fall in, not the table's size.
func (t *hotspotTable) with(hs []Hotspot) *hotspotTable {
	last := make(map[string]int, len(hs))
	for i, h := range hs {
		last[h.Address] = i
	}
	var del, add []*hotspotInfo
	for i, h := range hs {
		if last[h.Address] != i {
			continue
		}
		old, had := t.lookup(h.Address)
		nu := locate(h, old)
		switch {
		case had && nu != nil && *old == *nu:
			continue
		case had:
			del = append(del, old)
		}
		if nu != nil {
			add = append(add, nu)
		}
	}
	if len(del) == 0 && len(add) == 0 {
		return t
	}
	return &hotspotTable{
		byAddr: t.byAddr.with(del, add), byName: t.byName.with(del, add),
		byLat: t.byLat.with(del, add), byHex: t.byHex.with(del, add),
	}
}

// locate is h as the map shows it, or nil if it is not located; what h
// shares with old (its entry before, or nil) is taken from it rather than
// computed again.
func locate(h Hotspot, old *hotspotInfo) *hotspotInfo {
	if h.Cell == 0 || !validCell(h.Cell, 8) {
		return nil
	}
	e := &hotspotInfo{Address: h.Address, RewardScale: float64(h.RewardScale) / 1e4, DataOnly: h.DataOnly,
		cell: h.Cell, scale: h.RewardScale}
	switch {
	case old != nil && old.cell == h.Cell:
		e.Name, e.Lat, e.Lng, e.Hex, e.cell8 = old.Name, old.Lat, old.Lng, old.Hex, old.cell8
	case old != nil:
		e.Name = old.Name
		fallthrough
	default:
		if e.Name == "" {
			e.Name = displayName(h.Address)
		}
		e.Lat, e.Lng = cellCenter(h.Cell)
		e.cell8 = parentOf(h.Cell, 8)
		e.Hex = CellString(e.cell8)
	}
	return e
}

// lookup returns the hotspot of address.
func (t *hotspotTable) lookup(address string) (*hotspotInfo, bool) {
	for h := range t.byAddr.while(func(e *hotspotInfo) int { return strings.Compare(e.Address, address) }) {
		return h, true
	}
	return nil, false
}

// named returns the hotspots named name, in address order.
func (t *hotspotTable) named(name string) iter.Seq[*hotspotInfo] {
	return t.byName.while(func(e *hotspotInfo) int { return strings.Compare(e.Name, name) })
}

// inHex returns the hotspots in res-8 cell c8, in address order.
func (t *hotspotTable) inHex(c8 uint64) iter.Seq[*hotspotInfo] {
	return t.byHex.while(func(e *hotspotInfo) int { return cmp.Compare(e.cell8, c8) })
}

// hex returns the count and mean scale of the hotspots in res-8 cell c8.
func (t *hotspotTable) hex(c8 uint64) hexInfo {
	var n int
	var sum uint64
	for h := range t.inHex(c8) {
		n++
		sum += uint64(h.scale)
	}
	if n == 0 {
		return hexInfo{}
	}
	return hexInfo{Hotspots: n, RewardScale: float64(sum) / 1e4 / float64(n)}
}

// inBox returns the hotspots located in b, at most limit, by latitude.
func (t *hotspotTable) inBox(b BBox, limit int) []*hotspotInfo {
	var out []*hotspotInfo
	for h := range t.byLat.from(func(e *hotspotInfo) int { return cmp.Compare(e.Lat, b.S) }) {
		if h.Lat > b.N || len(out) >= limit {
			break
		}
		if h.Lng >= b.W && h.Lng <= b.E {
			out = append(out, h)
		}
	}
	return out
}

// live returns copies of hs with their activity at now from agg: last
// heard or seen beaconing, and online if that was within onlineWindow.
func live(hs []*hotspotInfo, agg *Aggregator, now time.Time) []hotspotInfo {
	out := make([]hotspotInfo, len(hs))
	agg.mu.RLock()
	defer agg.mu.RUnlock()
	for i, h := range hs {
		out[i] = *h
		if id, ok := agg.ids[h.Address]; ok {
			last := agg.active[id]
			out[i].LastSeenMs = last
			out[i].Online = last > 0 && now.Sub(time.UnixMilli(last)) < onlineWindow
		}
	}
	return out
}

// chunkSize is the usual length of a hotspotIndex chunk: chunks hold
// chunkSize/4 to 2·chunkSize entries (fewer only in a small index). A
// change copies the chunk list (n/chunkSize pointers) and the chunks it
// touches.
const chunkSize = 512

// hotspotIndex is the hotspots sorted by cmp (which orders every pair of
// distinct addresses), in chunks. Neither the chunk list nor a chunk is
// ever written once published: with builds new ones.
type hotspotIndex struct {
	cmp    func(a, b *hotspotInfo) int
	chunks [][]*hotspotInfo
}

// from returns the entries from the first one for which probe is ≥ 0
// (probe is < 0 for the entries before the target, in cmp order).
func (x *hotspotIndex) from(probe func(*hotspotInfo) int) iter.Seq[*hotspotInfo] {
	return func(yield func(*hotspotInfo) bool) {
		ci := sort.Search(len(x.chunks), func(i int) bool {
			c := x.chunks[i]
			return probe(c[len(c)-1]) >= 0
		})
		if ci == len(x.chunks) {
			return
		}
		c := x.chunks[ci]
		i := sort.Search(len(c), func(i int) bool { return probe(c[i]) >= 0 })
		for _, c := range x.chunks[ci:] {
			for _, e := range c[i:] {
				if !yield(e) {
					return
				}
			}
			i = 0
		}
	}
}

// while returns the entries for which probe is 0.
func (x *hotspotIndex) while(probe func(*hotspotInfo) int) iter.Seq[*hotspotInfo] {
	return func(yield func(*hotspotInfo) bool) {
		for e := range x.from(probe) {
			if probe(e) != 0 || !yield(e) {
				return
			}
		}
	}
}

// all returns every entry in order.
func (x *hotspotIndex) all() iter.Seq[*hotspotInfo] {
	return x.from(func(*hotspotInfo) int { return 0 })
}

// indexOp is one entry to remove from an index or insert into it.
type indexOp struct {
	e   *hotspotInfo
	add bool
}

// with returns the index without the entries del (each compares equal to
// one in it) and with add. Only the chunks the entries fall in are copied.
func (x *hotspotIndex) with(del, add []*hotspotInfo) *hotspotIndex {
	ops := make([]indexOp, 0, len(del)+len(add))
	for _, e := range del {
		ops = append(ops, indexOp{e, false})
	}
	for _, e := range add {
		ops = append(ops, indexOp{e, true})
	}
	// An entry replaced by one with the same key: the removal first.
	slices.SortFunc(ops, func(a, b indexOp) int {
		if c := x.cmp(a.e, b.e); c != 0 {
			return c
		}
		return cmp.Compare(btoi(a.add), btoi(b.add))
	})
	y := &hotspotIndex{cmp: x.cmp, chunks: make([][]*hotspotInfo, 0, len(x.chunks)+len(add)/chunkSize+1)}
	if len(x.chunks) == 0 {
		y.put(x.merge(nil, ops))
		return y
	}
	for ci := 0; len(ops) > 0; {
		// The chunk ops[0] falls in: the first whose last entry is not
		// before it, or the last; the chunks up to it are kept as they are.
		k := ci + sort.Search(len(x.chunks)-ci, func(j int) bool {
			c := x.chunks[ci+j]
			return x.cmp(c[len(c)-1], ops[0].e) >= 0
		})
		k = min(k, len(x.chunks)-1)
		y.chunks = append(y.chunks, x.chunks[ci:k]...)
		// ops[:n] fall in chunk k: up to its last entry, or all of them in
		// the last chunk.
		n := len(ops)
		if k < len(x.chunks)-1 {
			last := x.chunks[k][len(x.chunks[k])-1]
			n = sort.Search(len(ops), func(i int) bool { return x.cmp(ops[i].e, last) > 0 })
		}
		y.put(x.merge(x.chunks[k], ops[:n]))
		ops, ci = ops[n:], k+1
		if len(ops) == 0 {
			y.chunks = append(y.chunks, x.chunks[ci:]...)
		}
	}
	return y
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// merge returns a new chunk: c with ops applied (both sorted). Each op
// is placed by binary search, and the entries between are copied in bulk.
func (x *hotspotIndex) merge(c []*hotspotInfo, ops []indexOp) []*hotspotInfo {
	out := make([]*hotspotInfo, 0, len(c)+len(ops))
	i := 0
	for _, o := range ops {
		j := i + sort.Search(len(c)-i, func(k int) bool { return x.cmp(c[i+k], o.e) >= 0 })
		out = append(out, c[i:j]...)
		i = j
		switch {
		case o.add:
			out = append(out, o.e)
		case i < len(c) && x.cmp(c[i], o.e) == 0:
			i++ // removed
		}
	}
	return append(out, c[i:]...)
}

// put appends chunk c (new, sorted, after every chunk in y): dropped if
// empty, joined to the chunk before if small, split if long.
func (y *hotspotIndex) put(c []*hotspotInfo) {
	if len(c) == 0 {
		return
	}
	if n := len(y.chunks); n > 0 && len(c) < chunkSize/4 && len(y.chunks[n-1])+len(c) <= 2*chunkSize {
		c = slices.Concat(y.chunks[n-1], c)
		y.chunks = y.chunks[:n-1]
	}
	for len(c) > 2*chunkSize {
		y.chunks = append(y.chunks, c[:chunkSize:chunkSize])
		c = c[chunkSize:]
	}
	y.chunks = append(y.chunks, c)
}

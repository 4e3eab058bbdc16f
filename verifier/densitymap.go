package verifier

import (
	"slices"
)

// DensityMap is the HIP-17 density state (poc-rules §8) of a population
// that changes one hotspot at a time. Its scales are those DensityScales
// gives over the current population, but a change costs the cells whose
// counts it changes, not the whole population, and says which hotspots'
// scales it may have changed. Hotspots are named by ids the caller
// chooses, small and dense (0, 1, 2, …: the map keeps a slice indexed by
// id). A DensityMap is not safe for concurrent use.
type DensityMap struct {
	t densityTable
	// levels[r] are the non-empty cells of resolution r, for t.lo ≤ r ≤ 10.
	levels [11]map[uint64]densityCell
	// members are the ids in each non-empty res-11 cell (its count).
	members map[uint64][]uint32
	// cellOf is each id's res-11 cell; 0 = not in the population.
	cellOf []uint64
}

// densityCell is one cell's counts: hotspots below it (pop, which keeps
// it in the map), and its unclipped and clipped densities.
type densityCell struct {
	pop, unclipped, clipped uint32
}

// NewDensityMap returns the density map of levels over cells, where
// cells[i] is the asserted cell of id i, and the scale of each id
// (DensityScales(levels, cells), computed once for both: ids whose cell
// is not a valid cell of resolution ≥ 11 are outside the population).
func NewDensityMap(levels []DensityLevel, cells []uint64) (*DensityMap, []uint32) {
	d := &DensityMap{t: newDensityTable(levels), members: map[uint64][]uint32{}, cellOf: make([]uint64, len(cells))}
	seeds, l11, seedCell := densitySeeds(cells)
	for _, s := range seeds {
		d.members[s.c11] = append(d.members[s.c11], uint32(s.i))
		d.cellOf[s.i] = s.c11
	}
	chain := d.t.chain(l11)
	for _, l := range chain[1:] {
		m := make(map[uint64]densityCell, len(l.cells))
		for j, c := range l.cells {
			m[c] = densityCell{pop: l.pop[j], unclipped: l.unclipped[j], clipped: l.clipped[j]}
		}
		d.levels[l.res] = m
	}
	return d, chainScales(chain, seeds, seedCell, len(cells))
}

// Scale is id's density scale in 10⁻⁴ units; 0 for an id outside the
// population.
func (d *DensityMap) Scale(id uint32) uint32 {
	if int(id) >= len(d.cellOf) || d.cellOf[id] == 0 {
		return 0
	}
	c11 := d.cellOf[id]
	f := frac{num: 1, den: 1}
	for r := d.t.lo; r <= 10; r++ {
		e := d.levels[r][parentCell(c11, r)]
		f = f.mul(fracOf(e.clipped, e.unclipped))
	}
	return f.round4()
}

// Set moves id to cell (as DensityScales reads a cell: one that is not a
// valid cell of resolution ≥ 11, 0 for instance, takes id out of the
// population) and returns, sorted, the ids in the population whose scale
// may have changed: id itself if it is in the population, and every
// hotspot below a cell whose clipped/unclipped ratio changed.
func (d *DensityMap) Set(id uint32, cell uint64) []uint32 {
	to, _ := densityCell11(cell)
	if int(id) >= len(d.cellOf) {
		d.cellOf = append(d.cellOf, make([]uint64, int(id)+1-len(d.cellOf))...)
	}
	from := d.cellOf[id]
	if from == to {
		if to == 0 {
			return nil
		}
		return []uint32{id}
	}
	var hits []uint64
	if from != 0 {
		m := d.members[from]
		k := slices.Index(m, id)
		m[k] = m[len(m)-1]
		if m = m[:len(m)-1]; len(m) == 0 {
			delete(d.members, from)
		} else {
			d.members[from] = m
		}
		hits = d.shift(from, -1, hits)
	}
	d.cellOf[id] = to
	if to != 0 {
		d.members[to] = append(d.members[to], id)
		hits = d.shift(to, 1, hits)
	}
	return d.below(hits, id)
}

// cellDelta is a change of one cell's clipped count.
type cellDelta struct {
	cell uint64
	dc   int64
}

// shift propagates one hotspot more (delta 1) or fewer (−1) in the res-11
// cell c11 up the levels, and appends to hits the cells whose
// clipped/unclipped ratio changed.
func (d *DensityMap) shift(c11 uint64, delta int32, hits []uint64) []uint64 {
	changes := []cellDelta{{c11, int64(delta)}}
	// Every level: pop changes along c11's ancestors even where no clipped
	// count does.
	for r := 10; r >= d.t.lo; r-- {
		m := d.levels[r]
		lp, clip := d.t.params[r]
		old := map[uint64]densityCell{} // cells touched at this level, as they were
		had := map[uint64]bool{}
		touch := func(c uint64) densityCell {
			e, ok := m[c]
			if _, seen := old[c]; !seen {
				old[c], had[c] = e, ok
			}
			return e
		}
		p := parentCell(c11, r)
		e := touch(p)
		e.pop = uint32(int64(e.pop) + int64(delta))
		m[p] = e
		parents := []uint64{p}
		for _, ch := range changes {
			q := parentCell(ch.cell, r)
			e := touch(q)
			e.unclipped = uint32(int64(e.unclipped) + ch.dc)
			m[q] = e
			if !slices.Contains(parents, q) {
				parents = append(parents, q)
			}
		}
		for _, q := range parents {
			if m[q].pop == 0 {
				delete(m, q)
			}
		}
		// The clipped counts to recompute: the parents, and the neighbours
		// of a parent that started or stopped counting as occupied.
		redo := slices.Clone(parents)
		if clip {
			for _, q := range parents {
				e, ok := m[q]
				if lp.occupies(old[q], had[q]) != lp.occupies(e, ok) {
					for _, n := range gridDisk(q) {
						if !slices.Contains(redo, uint64(n)) {
							redo = append(redo, uint64(n))
						}
					}
				}
			}
		}
		changes = changes[:0:0]
		for _, q := range redo {
			e, ok := m[q]
			if !ok {
				if had[q] && old[q].clipped != 0 {
					changes = append(changes, cellDelta{q, -int64(old[q].clipped)})
				}
				continue
			}
			was := touch(q)
			e.clipped = d.clipped(r, q, e.unclipped)
			m[q] = e
			if e.clipped != was.clipped {
				changes = append(changes, cellDelta{q, int64(e.clipped) - int64(was.clipped)})
			}
			if !had[q] || !sameRatio(old[q], e) {
				hits = append(hits, q)
			}
		}
	}
	return hits
}

// occupies reports whether a cell with counts e (present: ok) counts as
// occupied in its neighbours' grid disks.
func (l DensityLevel) occupies(e densityCell, ok bool) bool { return ok && e.unclipped >= l.Target }

// clipped is the clipped count of cell c of resolution r with unclipped
// count u (chain's rule, over the map).
func (d *DensityMap) clipped(r int, c uint64, u uint32) uint32 {
	lp, clip := d.t.params[r]
	if !clip || u <= lp.Target {
		return u
	}
	occupied := uint32(0)
	for _, q := range gridDisk(c) {
		if e, ok := d.levels[r][uint64(q)]; lp.occupies(e, ok) {
			occupied++
		}
	}
	return min(lp.limit(occupied), u)
}

// sameRatio reports whether a and b have the same clipped/unclipped ratio
// (fracOf's: 0 when unclipped is 0).
func sameRatio(a, b densityCell) bool {
	an, ad := uint64(a.clipped), uint64(a.unclipped)
	bn, bd := uint64(b.clipped), uint64(b.unclipped)
	if ad == 0 {
		an, ad = 0, 1
	}
	if bd == 0 {
		bn, bd = 0, 1
	}
	return an*bd == bn*ad
}

// below returns, sorted, id (if in the population) and the ids below the
// cells hit.
func (d *DensityMap) below(hits []uint64, id uint32) []uint32 {
	var out []uint32
	if d.cellOf[id] != 0 {
		out = append(out, id)
	}
	// Coarse cells first, so that a finer hit inside one already walked is
	// skipped.
	slices.SortFunc(hits, func(a, b uint64) int { return cellRes(a) - cellRes(b) })
	walked := map[uint64]bool{}
	for _, c := range hits {
		r := cellRes(c)
		inside := walked[c]
		for pr := d.t.lo; pr < r && !inside; pr++ {
			inside = walked[parentCell(c, pr)]
		}
		if inside {
			continue
		}
		walked[c] = true
		out = d.walk(c, r, out)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// walk appends the ids below cell c of resolution r (≤ 11).
func (d *DensityMap) walk(c uint64, r int, out []uint32) []uint32 {
	if r == 11 {
		return append(out, d.members[c]...)
	}
	if _, ok := d.levels[r][c]; !ok {
		return out
	}
	for digit := range uint64(7) {
		out = d.walk(childCell(c, r+1, digit), r+1, out)
	}
	return out
}

// childCell is the child of cell c (of resolution r−1) at resolution r
// with digit r set to digit; for a pentagon, digit 1 gives an id that is
// no cell (and so is in no map).
func childCell(c uint64, r int, digit uint64) uint64 {
	shift := uint(3 * (h3MaxRes - r))
	c = (c &^ h3ResMask) | uint64(r)<<h3ResOffset
	return c&^(7<<shift) | digit<<shift
}

package verifier

import (
	"math/big"
	"math/bits"
	"slices"

	"github.com/uber/h3-go/v4"
)

// DensityScales computes the HIP-17 hex density scale (poc-rules §8) of
// each interactive hotspot, given their asserted cells (resolution 11 or
// finer), in 10⁻⁴ units. The result is aligned with cells: scales[i]
// belongs to cells[i]. The order of cells does not change any scale.
// Cells that are not valid H3 cells of resolution ≥ 11 get scale 0 and are
// left out of the population.
func DensityScales(levels []DensityLevel, cells []uint64) []uint32 {
	seeds, l11, seedCell := densitySeeds(cells)
	return chainScales(newDensityTable(levels).chain(l11), seeds, seedCell, len(cells))
}

// chainScales is the scale of each of n cells from the folded levels:
// seeds are the cells in the population, seedCell the index of each one's
// cell in the res-11 level (chain[0]).
func chainScales(chain []*densityLevel, seeds []densitySeed, seedCell []int32, n int) []uint32 {
	scales := make([]uint32, n)
	// Top-down exact products of clipped/unclipped.
	top := chain[len(chain)-1]
	fr := make([]frac, len(top.cells))
	for j := range top.cells {
		fr[j] = fracOf(top.clipped[j], top.unclipped[j])
	}
	for li := len(chain) - 2; li >= 0; li-- {
		l := chain[li]
		next := make([]frac, len(l.cells))
		for j := range l.cells {
			next[j] = fr[l.up[j]].mul(fracOf(l.clipped[j], l.unclipped[j]))
		}
		fr = next
	}
	for k, s := range seeds {
		scales[s.i] = fr[seedCell[k]].round4()
	}
	return scales
}

// densitySeed is a hotspot of the population: its res-11 cell and its
// index in the caller's list.
type densitySeed struct {
	c11 uint64
	i   int32
}

// densityCell11 is the res-11 cell that seeds c into the population, or
// false for a cell that is not a valid H3 cell of resolution ≥ 11.
func densityCell11(c uint64) (uint64, bool) {
	if !h3.Cell(c).IsValid() || cellRes(c) < 11 {
		return 0, false
	}
	return parentCell(c, 11), true
}

// densitySeeds returns the population of cells sorted by res-11 cell (then
// index), the res-11 level (distinct cells with their counts) and, for
// each seed, the index of its cell in that level.
func densitySeeds(cells []uint64) ([]densitySeed, *densityLevel, []int32) {
	seeds := make([]densitySeed, 0, len(cells))
	for i, c := range cells {
		if c11, ok := densityCell11(c); ok {
			seeds = append(seeds, densitySeed{c11, int32(i)})
		}
	}
	slices.SortFunc(seeds, func(a, b densitySeed) int {
		switch {
		case a.c11 < b.c11:
			return -1
		case a.c11 > b.c11:
			return 1
		}
		return int(a.i - b.i)
	})
	l11 := &densityLevel{res: 11}
	seedCell := make([]int32, len(seeds))
	for k, s := range seeds {
		if n := len(l11.cells); n == 0 || l11.cells[n-1] != s.c11 {
			l11.cells = append(l11.cells, s.c11)
			l11.unclipped = append(l11.unclipped, 0)
		}
		l11.unclipped[len(l11.unclipped)-1]++
		seedCell[k] = int32(len(l11.cells) - 1)
	}
	l11.clipped = l11.unclipped
	l11.pop = l11.unclipped
	return seeds, l11, seedCell
}

// densityLevel is one resolution of the density computation: its
// non-empty cells, sorted, with their counts.
type densityLevel struct {
	res       int
	cells     []uint64
	pop       []uint32 // hotspots below each cell
	unclipped []uint32
	clipped   []uint32
	up        []int32 // index of each cell's parent in the next coarser level
}

// densityTable is a density table by resolution (for a resolution listed
// twice, the entry sorted last wins) and lo, the coarsest resolution the
// computation reaches: resolutions lo–10 are folded, those with an entry
// clipped, the others passed through.
type densityTable struct {
	params map[int]DensityLevel
	lo     int
}

func newDensityTable(levels []DensityLevel) densityTable {
	lv := slices.Clone(levels)
	slices.SortFunc(lv, func(a, b DensityLevel) int { return b.Res - a.Res })
	t := densityTable{params: make(map[int]DensityLevel, len(lv)), lo: 11}
	for _, l := range lv {
		t.params[l.Res] = l
		t.lo = min(t.lo, l.Res)
	}
	t.lo = max(t.lo, 0)
	return t
}

// limit is the most a cell of this level keeps when occupied cells of its
// grid disk (itself included) are at or above the target.
func (l DensityLevel) limit(occupied uint32) uint32 {
	mult := uint32(1)
	if occupied+1 > l.N && occupied+1-l.N > 1 {
		mult = occupied + 1 - l.N
	}
	return min(l.Max, l.Target*mult)
}

// gridDisk is p and its neighbours (p alone if h3 refuses).
func gridDisk(p uint64) []h3.Cell {
	disk, err := h3.GridDisk(h3.Cell(p), 1)
	if err != nil {
		return []h3.Cell{h3.Cell(p)}
	}
	return disk
}

// chain folds the res-11 level l11 up to resolution t.lo: the levels from
// l11 (first) to the coarsest (last).
func (t densityTable) chain(l11 *densityLevel) []*densityLevel {
	// Children at resolution r+1 are sorted by index, so their parents at r
	// come out sorted too (the resolution field is above the digits).
	chain := []*densityLevel{l11}
	child := l11
	for r := 10; r >= t.lo; r-- {
		lp, clip := t.params[r]
		cur := &densityLevel{res: r}
		child.up = make([]int32, len(child.cells))
		for j, c := range child.cells {
			p := parentCell(c, r)
			if n := len(cur.cells); n == 0 || cur.cells[n-1] != p {
				cur.cells = append(cur.cells, p)
				cur.unclipped = append(cur.unclipped, 0)
				cur.pop = append(cur.pop, 0)
			}
			cur.unclipped[len(cur.unclipped)-1] += child.clipped[j]
			cur.pop[len(cur.pop)-1] += child.pop[j]
			child.up[j] = int32(len(cur.cells) - 1)
		}
		if !clip {
			cur.clipped = cur.unclipped
		} else {
			cur.clipped = make([]uint32, len(cur.cells))
			for j, p := range cur.cells {
				u := cur.unclipped[j]
				if u <= lp.Target {
					cur.clipped[j] = u // the limit is never below target
					continue
				}
				occupied := uint32(0)
				for _, q := range gridDisk(p) {
					if k, ok := slices.BinarySearch(cur.cells, uint64(q)); ok && cur.unclipped[k] >= lp.Target {
						occupied++
					}
				}
				cur.clipped[j] = min(lp.limit(occupied), u)
			}
		}
		chain = append(chain, cur)
		child = cur
	}
	return chain
}

// frac is an exact non-negative fraction; big is used once the uint64
// numerator or denominator would overflow.
type frac struct {
	num, den uint64
	big      *big.Rat
}

func fracOf(n, d uint32) frac {
	if d == 0 {
		return frac{num: 0, den: 1}
	}
	return frac{num: uint64(n), den: uint64(d)}.reduce()
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func (f frac) reduce() frac {
	if g := gcd(f.num, f.den); g > 1 {
		f.num /= g
		f.den /= g
	}
	return f
}

func (f frac) rat() *big.Rat {
	if f.big != nil {
		return f.big
	}
	return new(big.Rat).SetFrac(new(big.Int).SetUint64(f.num), new(big.Int).SetUint64(f.den))
}

func (f frac) mul(g frac) frac {
	if g.big == nil && g.num == g.den {
		return f
	}
	if f.big == nil && g.big == nil {
		a, b := f.num, g.den
		if x := gcd(a, b); x > 1 {
			a, b = a/x, b/x
		}
		c, d := g.num, f.den
		if x := gcd(c, d); x > 1 {
			c, d = c/x, d/x
		}
		hn, ln := bits.Mul64(a, c)
		hd, ld := bits.Mul64(d, b)
		if hn == 0 && hd == 0 {
			return frac{num: ln, den: ld}
		}
	}
	return frac{big: new(big.Rat).Mul(f.rat(), g.rat())}
}

// round4 returns f × 10⁴ rounded half to even.
func (f frac) round4() uint32 {
	if f.big != nil {
		return uint32(roundRat(f.big, scaleOne))
	}
	hi, lo := bits.Mul64(f.num, scaleOne)
	if hi >= f.den {
		return uint32(roundRat(f.rat(), scaleOne))
	}
	q, r := bits.Div64(hi, lo, f.den)
	// compare 2r with den without overflow
	switch {
	case r > f.den-r, r == f.den-r && q&1 == 1:
		q++
	}
	return uint32(q)
}

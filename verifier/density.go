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
	scales := make([]uint32, len(cells))
	type seed struct {
		c11 uint64
		i   int32
	}
	seeds := make([]seed, 0, len(cells))
	for i, c := range cells {
		if !h3.Cell(c).IsValid() || cellRes(c) < 11 {
			continue
		}
		seeds = append(seeds, seed{parentCell(c, 11), int32(i)})
	}
	if len(seeds) == 0 {
		return scales
	}
	slices.SortFunc(seeds, func(a, b seed) int {
		switch {
		case a.c11 < b.c11:
			return -1
		case a.c11 > b.c11:
			return 1
		}
		return int(a.i - b.i)
	})

	// Level 11: distinct cells with their counts.
	type level struct {
		res       int
		cells     []uint64
		unclipped []uint32
		clipped   []uint32
		up        []int32 // index of each cell's parent in the next coarser level
	}
	l11 := level{res: 11}
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

	// Sort the table by resolution, finest first, keeping only 0–10.
	lv := slices.Clone(levels)
	slices.SortFunc(lv, func(a, b DensityLevel) int { return b.Res - a.Res })
	params := make(map[int]DensityLevel, len(lv))
	for _, l := range lv {
		params[l.Res] = l
	}

	// Children at resolution r+1 are sorted by index, so their parents at r
	// come out sorted too (the resolution field is above the digits).
	chain := []*level{&l11}
	child := &l11
	for r := 10; r >= 0; r-- {
		lp, clip := params[r]
		if !clip && r < minRes(lv) {
			break
		}
		cur := &level{res: r}
		child.up = make([]int32, len(child.cells))
		for j, c := range child.cells {
			p := parentCell(c, r)
			if n := len(cur.cells); n == 0 || cur.cells[n-1] != p {
				cur.cells = append(cur.cells, p)
				cur.unclipped = append(cur.unclipped, 0)
			}
			cur.unclipped[len(cur.unclipped)-1] += child.clipped[j]
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
				disk, err := h3.GridDisk(h3.Cell(p), 1)
				if err != nil {
					disk = []h3.Cell{h3.Cell(p)}
				}
				for _, q := range disk {
					if k, ok := slices.BinarySearch(cur.cells, uint64(q)); ok && cur.unclipped[k] >= lp.Target {
						occupied++
					}
				}
				mult := uint32(1)
				if occupied+1 > lp.N && occupied+1-lp.N > 1 {
					mult = occupied + 1 - lp.N
				}
				limit := min(lp.Max, lp.Target*mult)
				cur.clipped[j] = min(limit, u)
			}
		}
		chain = append(chain, cur)
		child = cur
	}

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
	rounded := make([]uint32, len(fr))
	for j, f := range fr {
		rounded[j] = f.round4()
	}
	for k, s := range seeds {
		scales[s.i] = rounded[seedCell[k]]
	}
	return scales
}

func minRes(lv []DensityLevel) int {
	m := 11
	for _, l := range lv {
		m = min(m, l.Res)
	}
	return m
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

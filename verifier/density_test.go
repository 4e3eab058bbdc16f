package verifier

import (
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/uber/h3-go/v4"
)

// testCell returns a res-12 cell near Zürich.
func testCell(t testing.TB) h3.Cell {
	t.Helper()
	c, err := h3.LatLngToCell(h3.NewLatLng(47.3769, 8.5417), 12)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// children returns n distinct res-r children of p, each as a res-12 cell
// (their centre children).
func children(t testing.TB, p h3.Cell, r, n int) []uint64 {
	t.Helper()
	cs, err := p.Children(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) < n {
		t.Fatalf("%v has %d children at res %d, want %d", p, len(cs), r, n)
	}
	out := make([]uint64, n)
	for i := range n {
		cc, err := cs[i].CenterChild(12)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = uint64(cc)
	}
	return out
}

func parentOf(t testing.TB, c h3.Cell, r int) h3.Cell {
	t.Helper()
	p, err := c.Parent(r)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParentCellMatchesH3(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		lat, lng := rng.Float64()*170-85, rng.Float64()*360-180
		c, err := h3.LatLngToCell(h3.NewLatLng(lat, lng), 12)
		if err != nil {
			t.Fatal(err)
		}
		for r := 0; r <= 12; r++ {
			want := parentOf(t, c, r)
			if got := parentCell(uint64(c), r); got != uint64(want) {
				t.Fatalf("parent(%v, %d) = %x, want %v", c, r, got, want)
			}
		}
	}
}

// The worked examples of poc-rules §8.
func TestDensityExamples(t *testing.T) {
	levels := DefaultParams().Density
	base := testCell(t)

	t.Run("isolated", func(t *testing.T) {
		got := DensityScales(levels, []uint64{uint64(base)})
		if !slices.Equal(got, []uint32{10000}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("two in one res-10 cell", func(t *testing.T) {
		cs := children(t, parentOf(t, base, 10), 11, 2)
		got := DensityScales(levels, cs)
		if !slices.Equal(got, []uint32{5000, 5000}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("two in one res-11 cell", func(t *testing.T) {
		cs := children(t, parentOf(t, base, 11), 12, 2)
		got := DensityScales(levels, cs)
		if !slices.Equal(got, []uint32{5000, 5000}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("three res-9 cells of one res-8 cell", func(t *testing.T) {
		cs := children(t, parentOf(t, base, 8), 9, 3)
		got := DensityScales(levels, cs)
		if !slices.Equal(got, []uint32{3333, 3333, 3333}) {
			t.Fatalf("got %v", got)
		}
	})
	// The spec's "eight in eight res-8 cells of one res-7 cell" cannot be
	// built: an H3 res-7 cell has exactly 7 res-8 children. Seven give
	// the same rule: res-7 limit min(10, 5·1) = 5 → 5/7; an eighth in the
	// res-10 cell of one of them halves that pair → 0.5 × 5/7.
	t.Run("seven res-8 cells of one res-7 cell, plus one", func(t *testing.T) {
		p7 := parentOf(t, base, 7)
		cs := children(t, p7, 8, 7)
		got := DensityScales(levels, cs)
		for _, s := range got {
			if s != 7143 {
				t.Fatalf("seven in seven res-8 cells: got %v, want 0.7143 each", got)
			}
		}
		// a second hotspot in the res-10 cell of the first (another res-11 child)
		p10 := parentOf(t, h3.Cell(cs[0]), 10)
		extra := children(t, p10, 11, 2)
		for _, e := range extra {
			if parentCell(e, 11) != parentCell(cs[0], 11) {
				cs = append(cs, e)
				break
			}
		}
		got = DensityScales(levels, cs)
		want := []uint32{3571, 7143, 7143, 7143, 7143, 7143, 7143, 3571}
		if !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
}

// densityReference is a direct transcription of poc-rules §8 with maps and
// big.Rat, to check the fast implementation against.
func densityReference(levels []DensityLevel, cells []uint64) []uint32 {
	unclipped := map[uint64]uint32{}
	clipped := map[uint64]uint32{}
	prev := map[uint64]bool{}
	for _, c := range cells {
		p := parentCell(c, 11)
		unclipped[p]++
		clipped[p]++
		prev[p] = true
	}
	byRes := map[int]DensityLevel{}
	for _, l := range levels {
		byRes[l.Res] = l
	}
	for r := 10; r >= 4; r-- {
		cur := map[uint64]bool{}
		for c := range prev {
			p := parentCell(c, r)
			unclipped[p] += clipped[c]
			cur[p] = true
		}
		l := byRes[r]
		for p := range cur {
			disk, _ := h3.GridDisk(h3.Cell(p), 1)
			occ := 0
			for _, q := range disk {
				if unclipped[uint64(q)] >= l.Target && cellRes(uint64(q)) == r {
					occ++
				}
			}
			limit := l.Target * uint32(max(1, occ-int(l.N)+1))
			limit = min(limit, l.Max)
			clipped[p] = min(limit, unclipped[p])
		}
		prev = cur
	}
	out := make([]uint32, len(cells))
	for i, c := range cells {
		x := big.NewRat(1, 1)
		for r := 4; r <= 10; r++ {
			p := parentCell(c, r)
			x.Mul(x, big.NewRat(int64(clipped[p]), int64(unclipped[p])))
		}
		out[i] = uint32(roundRat(x, scaleOne))
	}
	return out
}

// randomTown places n hotspots in clusters around a few centres, dense
// enough to clip at every level.
func randomTown(rng *rand.Rand, n int) []uint64 {
	centres := [][2]float64{{47.37, 8.54}, {47.40, 8.60}, {46.95, 7.45}, {40.71, -74.0}}
	out := make([]uint64, n)
	for i := range out {
		c := centres[rng.IntN(len(centres))]
		spread := []float64{0.002, 0.02, 0.2}[rng.IntN(3)]
		lat := c[0] + rng.NormFloat64()*spread
		lng := c[1] + rng.NormFloat64()*spread
		cell, _ := h3.LatLngToCell(h3.NewLatLng(lat, lng), 12)
		out[i] = uint64(cell)
	}
	return out
}

func TestDensityMatchesReference(t *testing.T) {
	levels := DefaultParams().Density
	for seed := range uint64(5) {
		rng := rand.New(rand.NewPCG(seed, 7))
		cells := randomTown(rng, 300+int(seed)*400)
		got := DensityScales(levels, cells)
		want := densityReference(levels, cells)
		if !slices.Equal(got, want) {
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("seed %d: cell %d (%x): got %d, want %d", seed, i, cells[i], got[i], want[i])
				}
			}
		}
		// order does not matter
		perm := rng.Perm(len(cells))
		shuffled := make([]uint64, len(cells))
		for i, j := range perm {
			shuffled[i] = cells[j]
		}
		got2 := DensityScales(levels, shuffled)
		for i, j := range perm {
			if got2[i] != got[j] {
				t.Fatalf("seed %d: shuffled scale differs", seed)
			}
		}
	}
}

func BenchmarkDensity1M(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	cells := randomTown(rng, 1_000_000)
	levels := DefaultParams().Density
	b.ResetTimer()
	for b.Loop() {
		DensityScales(levels, cells)
	}
}

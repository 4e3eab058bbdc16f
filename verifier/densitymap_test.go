package verifier

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/uber/h3-go/v4"
)

func TestChildCellMatchesH3(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		c, err := h3.LatLngToCell(h3.NewLatLng(rng.Float64()*170-85, rng.Float64()*360-180), 12)
		if err != nil {
			t.Fatal(err)
		}
		for r := 0; r < 11; r++ {
			p := parentOf(t, c, r)
			want, err := p.Children(r + 1)
			if err != nil {
				t.Fatal(err)
			}
			var got []h3.Cell
			for digit := range uint64(7) {
				if k := h3.Cell(childCell(uint64(p), r+1, digit)); k.IsValid() {
					got = append(got, k)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("children of %v at res %d: got %v, want %v", p, r+1, got, want)
			}
		}
	}
	// A pentagon (base cell 4) loses its digit-1 child.
	pent := h3.Cell(0x8009fffffffffff)
	if !pent.IsPentagon() {
		t.Fatalf("%v is not a pentagon", pent)
	}
	if k := h3.Cell(childCell(uint64(pent), 1, 1)); k.IsValid() {
		t.Fatalf("pentagon child %v is valid", k)
	}
}

// densityTables are the tables DensityMap is checked with: the default,
// one that clips at every level with this test's few hotspots, one with
// resolutions left out (passed through), duplicated or outside 0–10, one
// with zero limits, and none at all.
func densityTables() map[string][]DensityLevel {
	return map[string][]DensityLevel{
		"default": DefaultParams().Density,
		"tight": {
			{Res: 4, N: 1, Target: 6, Max: 9}, {Res: 5, N: 2, Target: 4, Max: 7}, {Res: 6, N: 1, Target: 3, Max: 5},
			{Res: 7, N: 2, Target: 2, Max: 4}, {Res: 8, N: 1, Target: 1, Max: 2}, {Res: 9, N: 2, Target: 1, Max: 1},
			{Res: 10, N: 1, Target: 1, Max: 1},
		},
		"sparse": {
			{Res: 3, N: 1, Target: 2, Max: 3}, {Res: 6, N: 2, Target: 2, Max: 3}, {Res: 6, N: 1, Target: 1, Max: 2},
			{Res: 9, N: 2, Target: 1, Max: 1}, {Res: 12, N: 1, Target: 1, Max: 1},
		},
		"zero":  {{Res: 7, N: 0, Target: 0, Max: 0}, {Res: 9, N: 2, Target: 1, Max: 1}},
		"empty": nil,
	}
}

// densityWorld is a population under random change, kept both as cells
// (for DensityScales) and as a DensityMap.
type densityWorld struct {
	t      *testing.T
	rng    *rand.Rand
	levels []DensityLevel
	cells  []uint64
	d      *DensityMap
}

// nearby is a cell near a random existing hotspot: in its res-11 cell, or
// a few hundred metres to tens of kilometres away.
func (w *densityWorld) nearby() uint64 {
	base := w.cells[w.rng.IntN(len(w.cells))]
	if base == 0 || !h3.Cell(base).IsValid() {
		base = randomTown(w.rng, 1)[0]
	}
	ll, err := h3.Cell(base).LatLng()
	if err != nil {
		w.t.Fatal(err)
	}
	spread := []float64{0, 0.001, 0.01, 0.1}[w.rng.IntN(4)]
	c, err := h3.LatLngToCell(h3.NewLatLng(ll.Lat+w.rng.NormFloat64()*spread, ll.Lng+w.rng.NormFloat64()*spread), 12)
	if err != nil {
		w.t.Fatal(err)
	}
	return uint64(c)
}

// step makes one random change and checks the map against DensityScales.
func (w *densityWorld) step() {
	before := DensityScales(w.levels, w.cells)
	id := uint32(w.rng.IntN(len(w.cells) + 1)) // sometimes a new id
	var cell uint64
	switch w.rng.IntN(10) {
	case 0:
		cell = 0 // leaves the population (data-only, say)
	case 1:
		cell = 0x8c2a1072b59ffff &^ (0xf << 52) // not a cell
	case 2:
		cell = uint64(parentOf(w.t, h3.Cell(w.nearby()), 9)) // too coarse: outside
	default:
		cell = w.nearby()
	}
	if int(id) == len(w.cells) {
		w.cells = append(w.cells, 0)
	}
	w.cells[id] = cell
	affected := w.d.Set(id, cell)
	if !slices.IsSorted(affected) {
		w.t.Fatalf("affected ids not sorted: %v", affected)
	}
	after := DensityScales(w.levels, w.cells)
	for i, s := range after {
		if got := w.d.Scale(uint32(i)); got != s {
			w.t.Fatalf("id %d (cell %x) after setting id %d to %x: scale %d, DensityScales %d", i, w.cells[i], id, cell, got, s)
		}
		if i < len(before) && before[i] != s && after[i] != 0 {
			if _, ok := slices.BinarySearch(affected, uint32(i)); !ok {
				w.t.Fatalf("setting id %d changed id %d's scale %d → %d, but it is not among the affected %v", id, i, before[i], s, affected)
			}
		}
	}
}

// TestDensityMapMatchesDensityScales: random sequences of moves, arrivals
// and departures, each followed by a comparison of every scale with
// DensityScales over the whole population, of the affected ids with the
// scales that changed, and (now and then) of the counts with a map built
// from scratch.
func TestDensityMapMatchesDensityScales(t *testing.T) {
	for name, levels := range densityTables() {
		t.Run(name, func(t *testing.T) {
			for seed := range uint64(3) {
				rng := rand.New(rand.NewPCG(seed, 11))
				cells := randomTown(rng, 200+int(seed)*150)
				for i := range cells {
					if rng.IntN(20) == 0 {
						cells[i] = 0
					}
				}
				w := &densityWorld{t: t, rng: rng, levels: levels, cells: cells}
				var scales []uint32
				w.d, scales = NewDensityMap(levels, cells)
				if !slices.Equal(scales, DensityScales(levels, cells)) {
					t.Fatalf("seed %d: NewDensityMap's scales differ from DensityScales", seed)
				}
				for i := range 150 {
					w.step()
					if i%25 == 24 {
						fresh, _ := NewDensityMap(levels, w.cells)
						if !reflect.DeepEqual(fresh.levels, w.d.levels) || !slices.Equal(fresh.cellOf, w.d.cellOf) {
							t.Fatalf("seed %d step %d: counts differ from a map built from scratch", seed, i)
						}
					}
				}
			}
		})
	}
}

// TestDensityMapSetReportsFew: a hotspot joining an isolated cell far from
// the others changes only its own scale; one joining a clipped res-10 cell
// changes that cell's hotspots, not the whole population.
func TestDensityMapSetReportsFew(t *testing.T) {
	levels := DefaultParams().Density
	rng := rand.New(rand.NewPCG(5, 6))
	cells := randomTown(rng, 2000)
	d, _ := NewDensityMap(levels, cells)
	// The town is Zürich, Bern and New York: Sydney is far from all.
	c, err := h3.LatLngToCell(h3.NewLatLng(-33.86, 151.21), 12)
	if err != nil {
		t.Fatal(err)
	}
	far := uint64(c)
	id := uint32(len(cells))
	if got := d.Set(id, far); !slices.Equal(got, []uint32{id}) {
		t.Fatalf("isolated arrival affected %v", got)
	}
	if s := d.Scale(id); s != 10000 {
		t.Fatalf("isolated scale %d", s)
	}
	// A second one in the same res-10 cell halves both.
	got := d.Set(id+1, far)
	if !slices.Equal(got, []uint32{id, id + 1}) || d.Scale(id) != 5000 || d.Scale(id+1) != 5000 {
		t.Fatalf("pair: affected %v, scales %d %d", got, d.Scale(id), d.Scale(id+1))
	}
	// Leaving restores the first.
	if got := d.Set(id+1, 0); !slices.Equal(got, []uint32{id}) || d.Scale(id) != 10000 || d.Scale(id+1) != 0 {
		t.Fatalf("departure: affected %v, scales %d %d", got, d.Scale(id), d.Scale(id+1))
	}
}

func BenchmarkDensityMapSet1M(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	cells := randomTown(rng, 1_000_000)
	d, _ := NewDensityMap(DefaultParams().Density, cells)
	moves := randomTown(rng, 1024)
	affected := 0
	i := 0
	for b.Loop() {
		id := uint32(rng.IntN(len(cells)))
		affected += len(d.Set(id, moves[i%len(moves)]))
		i++
	}
	b.ReportMetric(float64(affected)/float64(i), "affected/op")
}

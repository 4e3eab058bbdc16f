package maps

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// BenchmarkHotspotTable1M: the map's hotspot table with 1,000,000
// hotspots in 500 towns. move applies one moved hotspot; rescale one moved
// hotspot and the new scales of the 2,000 hotspots nearest it in latitude
// (a dense res-4 cell whose clipping changed: scattered in address order);
// rebuild builds the whole table, as every refresh did before.
func BenchmarkHotspotTable1M(b *testing.B) {
	const n = 1_000_000
	rng := rand.New(rand.NewPCG(1, 2))
	type town struct{ lat, lng, spread float64 }
	towns := make([]town, 500)
	for i := range towns {
		towns[i] = town{rng.Float64()*110 - 50, rng.Float64()*360 - 180, []float64{0.01, 0.05, 0.2}[rng.IntN(3)]}
	}
	cell := func() uint64 {
		t := towns[rng.IntN(len(towns))]
		c, ok := latLngCell(max(-85, min(85, t.lat+rng.NormFloat64()*t.spread)), t.lng+rng.NormFloat64()*t.spread, 12)
		if !ok {
			b.Fatal("no cell")
		}
		return c
	}
	hs := make([]Hotspot, n)
	for i := range hs {
		hs[i] = Hotspot{Address: tableKey(i), Cell: cell(), RewardScale: uint32(rng.IntN(10001))}
	}
	tbl := newHotspotTable().with(hs)
	byLat := slices.Collect(tbl.byLat.all())

	b.Run("move", func(b *testing.B) {
		t := tbl
		for b.Loop() {
			h := hs[rng.IntN(n)]
			h.Cell = cell()
			t = t.with([]Hotspot{h})
		}
	})
	b.Run("rescale", func(b *testing.B) {
		t := tbl
		batch := make([]Hotspot, 0, 2001)
		for b.Loop() {
			i := rng.IntN(n - 2000)
			batch = batch[:0]
			for _, e := range byLat[i : i+2000] {
				batch = append(batch, Hotspot{Address: e.Address, Cell: e.cell, RewardScale: e.scale ^ 1})
			}
			h := hs[rng.IntN(n)]
			h.Cell = cell()
			t = t.with(append(batch, h))
		}
	})
	b.Run("rebuild", func(b *testing.B) {
		for b.Loop() {
			newHotspotTable().with(hs)
		}
	})
}

package maps

import (
	"errors"
	"math"
	"slices"

	"github.com/uber/h3-go/v4"
)

// CellView is one cell's statistics in a window, as the API returns it.
type CellView struct {
	H3        string  `json:"h3"`
	Res       int     `json:"res"`
	RSSI      float64 `json:"rssi"`        // best, dBm
	MedianDBm float64 `json:"median_rssi"` // ±1 dB
	SNR       float64 `json:"snr"`         // best, dB
	N         int     `json:"n"`           // observations
	LastMs    int64   `json:"last_seen_ms"`
	Hotspots  int     `json:"hotspots"`                // distinct hotspots that heard it (capped at 64)
	More      bool    `json:"hotspots_more,omitempty"` // more than Hotspots
	Mapper    bool    `json:"mapper,omitempty"`        // measured by mapper uplinks
	PoC       bool    `json:"poc,omitempty"`           // measured by PoC receipts
	Lat       float64 `json:"lat"`
	Lng       float64 `json:"lng"`
	HeardBy   []Heard `json:"heard_by,omitempty"`
	cell      uint64
}

// Heard is one hotspot's reception of a cell.
type Heard struct {
	Hotspot string  `json:"hotspot"` // address or gateway id; "" for the other hotspots beyond the cap
	Name    string  `json:"name"`
	RSSI    float64 `json:"rssi"`
	SNR     float64 `json:"snr"`
	N       int     `json:"n"`
	LastMs  int64   `json:"last_seen_ms"`
}

func view(c uint64, s *stat, hs *hsSet, lat, lng float64) CellView {
	src := s.src
	m, _ := s.h.median()
	return CellView{
		H3: CellString(c), Res: cellRes(c), RSSI: float64(s.rssi) / 10, MedianDBm: float64(m) / 10, SNR: float64(s.snr) / 10,
		N: int(s.n), LastMs: s.last, Hotspots: hs.count(), More: hs.more, Mapper: src&SourceMapper != 0, PoC: src&SourcePoC != 0,
		Lat: lat, Lng: lng, cell: c,
	}
}

// acc sums a res-9 cell's buckets in a window without allocating: the
// viewport path, where a query reads thousands of cells.
type acc struct {
	n         uint64
	rssi, snr int16
	last      int64
	src       Source
	hs        int
	more      bool
	h         [histBins]uint32
}

func (x *acc) add(s *stat) {
	if s.n == 0 {
		return
	}
	if x.n == 0 {
		x.rssi, x.snr, x.last = s.rssi, s.snr, s.last
	} else {
		x.rssi, x.snr, x.last = max(x.rssi, s.rssi), max(x.snr, s.snr), max(x.last, s.last)
	}
	x.n += uint64(s.n)
	x.src |= s.src
	for _, e := range s.h {
		x.h[e>>24] += e & histMaxN
	}
}

// fastView is cl's view in window w (no heard_by), ok false when empty.
func (a *Aggregator) fastView(c uint64, cl *cell9, w Window, lat, lng float64) (CellView, bool) {
	var x acc
	from := w.start(a.hour)
	for i := range cl.heard {
		h := &cl.heard[i]
		n0 := x.n
		if w == WindowAll {
			x.add(&h.old)
		}
		j, _ := slices.BinarySearchFunc(h.b, from, func(b bucket, f uint32) int { return int(int64(b.hour) - int64(f)) })
		for ; j < len(h.b); j++ {
			x.add(&h.b[j].stat)
		}
		if x.n > n0 {
			if h.hs == otherID {
				x.more = true
			} else {
				x.hs++
			}
		}
	}
	if x.n == 0 {
		return CellView{}, false
	}
	var med int16
	half, cum := (x.n+1)/2, uint64(0)
	for b, k := range x.h {
		cum += uint64(k)
		if cum >= half {
			med = int16(histLowDdBm + b*histBinDdB + histBinDdB/2)
			break
		}
	}
	return CellView{
		H3: CellString(c), Res: BaseRes, RSSI: float64(x.rssi) / 10, MedianDBm: float64(med) / 10, SNR: float64(x.snr) / 10,
		N: int(min(x.n, 1<<32-1)), LastMs: x.last, Hotspots: x.hs, More: x.more, Mapper: x.src&SourceMapper != 0,
		PoC: x.src&SourcePoC != 0, Lat: lat, Lng: lng, cell: c,
	}, true
}

// Cell is one cell (any resolution 3–9) in window w; for a res-9 cell it
// lists the hotspots that heard it, strongest first.
func (a *Aggregator) Cell(c uint64, w Window) (CellView, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if !validCell(c, 0) || w >= numWindows {
		return CellView{}, false
	}
	r := cellRes(c)
	lat, lng := cellCenter(c)
	switch {
	case r == BaseRes:
		cl := a.cells[c]
		if cl == nil {
			return CellView{}, false
		}
		var s stat
		var hs hsSet
		a.cellStat(cl, w, &s, &hs)
		if s.empty() {
			return CellView{}, false
		}
		v := view(c, &s, &hs, lat, lng)
		from := w.start(a.hour)
		for i := range cl.heard {
			h := &cl.heard[i]
			var hsStat stat
			h.windowStat(from, w == WindowAll, &hsStat)
			if hsStat.empty() {
				continue
			}
			e := Heard{RSSI: float64(hsStat.rssi) / 10, SNR: float64(hsStat.snr) / 10, N: int(hsStat.n), LastMs: hsStat.last}
			if h.hs != otherID {
				e.Hotspot = a.names[h.hs]
				e.Name = displayName(e.Hotspot)
			} else {
				e.Name = "other hotspots"
			}
			v.HeardBy = append(v.HeardBy, e)
		}
		slices.SortStableFunc(v.HeardBy, func(x, y Heard) int {
			switch {
			case x.RSSI > y.RSSI:
				return -1
			case x.RSSI < y.RSSI:
				return 1
			}
			return 0
		})
		return v, true
	case r >= MinRes:
		g := a.views[w][r][c]
		if g == nil {
			return CellView{}, false
		}
		return view(c, &g.stat, &g.hs, lat, lng), true
	}
	return CellView{}, false
}

// BBox is a viewport in degrees: west, south, east, north.
type BBox struct{ W, S, E, N float64 }

// Errors of viewport queries (the API answers 400 or 413).
var (
	ErrBadBBox  = errors.New("bbox must be west,south,east,north with −180 ≤ west < east ≤ 180 and −90 ≤ south < north ≤ 90 (split a box crossing the antimeridian)")
	ErrTooLarge = errors.New("the box holds too many hexes at this resolution: zoom in or choose a coarser res")
)

// maxHexesPerBox is the guard rail of spec §4: bbox area / hex area.
const maxHexesPerBox = 2e6

func (b BBox) valid() bool {
	for _, v := range []float64{b.W, b.S, b.E, b.N} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return b.W >= -180 && b.E <= 180 && b.W < b.E && b.S >= -90 && b.N <= 90 && b.S < b.N
}

// areaKm2 is the box's area on the sphere.
func (b BBox) areaKm2() float64 {
	const r = 6371.0088
	return r * r * (b.E - b.W) * math.Pi / 180 * math.Abs(math.Sin(b.N*math.Pi/180)-math.Sin(b.S*math.Pi/180))
}

func (b BBox) polygon() h3.GeoPolygon {
	// Clamp near the poles, where the polyfill misbehaves.
	s, n := max(b.S, -89.9), min(b.N, 89.9)
	return h3.GeoPolygon{GeoLoop: h3.GeoLoop{
		{Lat: s, Lng: b.W}, {Lat: s, Lng: b.E}, {Lat: n, Lng: b.E}, {Lat: n, Lng: b.W},
	}}
}

var hexAreaKm2 [16]float64
var edgeKm [16]float64

func init() {
	for r := range 16 {
		hexAreaKm2[r], _ = h3.HexagonAreaAvgKm2(r)
		edgeKm[r], _ = h3.HexagonEdgeLengthAvgKm(r)
	}
}

// maxBuckets bounds the bucket cells one query enumerates.
const maxBucketCells = 20000

// Query returns the cells of resolution res (3–9) in window w whose centre
// lies in b (padded by two edge lengths), at most limit of them (ok false
// when more exist). Cost follows the index buckets in view and the
// results, not the area.
func (a *Aggregator) Query(b BBox, res int, w Window, limit int) (cells []CellView, complete bool, err error) {
	if !b.valid() {
		return nil, false, ErrBadBBox
	}
	if res < MinRes || res > BaseRes || w >= numWindows {
		return nil, false, ErrBadBBox
	}
	if b.areaKm2()/hexAreaKm2[res] > maxHexesPerBox {
		return nil, false, ErrTooLarge
	}
	br := bucketRes(res)
	var buckets []uint64
	if br == 0 {
		res0, _ := h3.Res0Cells()
		for _, c := range res0 {
			buckets = append(buckets, uint64(c))
		}
	} else {
		bc, err := h3.PolygonToCellsExperimental(b.polygon(), br, h3.ContainmentOverlapping, maxBucketCells)
		if err != nil {
			return nil, false, ErrTooLarge
		}
		seen := make(map[uint64]struct{}, len(bc)*2)
		for _, c := range bc {
			disk, err := h3.GridDisk(c, 1)
			if err != nil {
				disk = []h3.Cell{c}
			}
			for _, d := range disk {
				if _, ok := seen[uint64(d)]; !ok {
					seen[uint64(d)] = struct{}{}
					buckets = append(buckets, uint64(d))
				}
			}
		}
	}
	padLat := 2 * edgeKm[res] / 111.0
	midLat := math.Min(math.Abs((b.S+b.N)/2), 85)
	padLng := padLat / math.Max(math.Cos(midLat*math.Pi/180), 0.05)
	minLat, maxLat := float32(b.S-padLat), float32(b.N+padLat)
	minLng, maxLng := float32(b.W-padLng), float32(b.E+padLng)

	a.mu.RLock()
	defer a.mu.RUnlock()
	complete = true
	for _, bk := range buckets {
		for _, p := range a.idx[res][bk] {
			if p.lat < minLat || p.lat > maxLat || p.lng < minLng || p.lng > maxLng {
				continue
			}
			var v CellView
			if res == BaseRes {
				var ok bool
				if v, ok = a.fastView(p.cell, p.c9, w, float64(p.lat), float64(p.lng)); !ok {
					continue
				}
			} else {
				g := a.views[w][res][p.cell]
				if g == nil {
					continue
				}
				v = view(p.cell, &g.stat, &g.hs, float64(p.lat), float64(p.lng))
			}
			if len(cells) >= limit {
				return cells, false, nil
			}
			cells = append(cells, v)
		}
	}
	return cells, complete, nil
}

// Covered answers "am I covered?" for a point: the nearest res-9 cell with
// usable coverage (best RSSI > −120 dBm and SNR > −20 dB) within rings
// rings of the point's cell (as Mappers: up to 128), and its distance in
// rings; ok false when none.
func (a *Aggregator) Covered(lat, lng float64, w Window, rings int) (v CellView, dist int, ok bool) {
	c, valid := latLngCell(lat, lng, BaseRes)
	if !valid || w >= numWindows {
		return CellView{}, 0, false
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	for k := 0; k <= rings; k++ {
		var ring []h3.Cell
		if k == 0 {
			ring = []h3.Cell{h3.Cell(c)}
		} else {
			var err error
			if ring, err = h3.GridRing(h3.Cell(c), k); err != nil {
				// Near a pentagon: the disk, filtered to distance k.
				disk, _ := h3.GridDisk(h3.Cell(c), k)
				ring = ring[:0]
				for _, d := range disk {
					if dd, err := h3.GridDistance(h3.Cell(c), d); err == nil && dd == k {
						ring = append(ring, d)
					}
				}
			}
		}
		best := -1
		var bestS stat
		var bestHs hsSet
		for i, rc := range ring {
			cl := a.cells[uint64(rc)]
			if cl == nil {
				continue
			}
			var s stat
			var hs hsSet
			a.cellStat(cl, w, &s, &hs)
			if s.empty() || s.rssi <= -1200 || s.snr <= -200 {
				continue
			}
			if best < 0 || s.rssi > bestS.rssi {
				best, bestS, bestHs = i, s, hs
			}
		}
		if best >= 0 {
			rc := uint64(ring[best])
			lat, lng := cellCenter(rc)
			return view(rc, &bestS, &bestHs, lat, lng), k, true
		}
	}
	return CellView{}, 0, false
}

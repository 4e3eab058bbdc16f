package maps

import (
	"bytes"
	"compress/gzip"
	"container/list"
	"fmt"
	"math"
	"sync"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"
	"github.com/uber/h3-go/v4"
)

// Tiles are Mapbox Vector Tiles v2, extent 4096, buffer 64, with layers:
//
//	coverage       res cells: h3 (string), res, rssi, med, snr, n, last, hs, mapper
//	hotspots       points: id, name, online, last
//	hotspot_hexes  res-8 hexes of hotspots (zoom ≥ 7): h3, hotspots, scale
//
// H3 ids are strings: they exceed 2^53. They are never the feature id.
const (
	tileExtent = 4096
	tileBuffer = 64
	maxTileZ   = 22
	// maxTileCells bounds the cells drawn in one tile.
	maxTileCells = 50000
)

// bboxOfTile is the tile's bounds in degrees.
func bboxOfTile(t maptile.Tile) BBox {
	b := t.Bound()
	return BBox{W: b.Min[0], S: b.Min[1], E: b.Max[0], N: b.Max[1]}
}

// cellRing is c's boundary as a closed ring, unwrapped so that a cell
// across the antimeridian does not span the globe.
func cellRing(c uint64) orb.Ring {
	bd, err := h3.CellToBoundary(h3.Cell(c))
	if err != nil || len(bd) == 0 {
		return nil
	}
	ring := make(orb.Ring, 0, len(bd)+1)
	ref := bd[0].Lng
	for _, p := range bd {
		lng := p.Lng
		if lng-ref > 180 {
			lng -= 360
		} else if ref-lng > 180 {
			lng += 360
		}
		ring = append(ring, orb.Point{lng, p.Lat})
	}
	return append(ring, ring[0])
}

// cellBox is the bounding box of c's boundary (unwrapped: it may pass
// ±180 for a cell on the antimeridian).
func cellBox(c uint64) BBox {
	b := BBox{W: 1e9, S: 1e9, E: -1e9, N: -1e9}
	for _, p := range cellRing(c) {
		b.W, b.E = min(b.W, p[0]), max(b.E, p[0])
		b.S, b.N = min(b.S, p[1]), max(b.N, p[1])
	}
	return b
}

// encodeTile builds the gzipped tile z/x/y of window w.
func (s *Server) encodeTile(w Window, z, x, y uint32) ([]byte, error) {
	t := maptile.New(x, y, maptile.Zoom(z))
	b := bboxOfTile(t)
	res := ResForZoom(float64(z))
	// Pad the box by the buffer so that hexes straddling the edge are in
	// both tiles.
	padX := (b.E - b.W) * tileBuffer / tileExtent
	padY := (b.N - b.S) * tileBuffer / tileExtent
	q := BBox{W: math.Max(-180, b.W-padX), S: math.Max(-90, b.S-padY), E: math.Min(180, b.E+padX), N: math.Min(90, b.N+padY)}
	cells, _, err := s.agg.Query(q, res, w, maxTileCells)
	if err != nil {
		return nil, err
	}
	cov := geojson.NewFeatureCollection()
	for _, c := range cells {
		ring := cellRing(c.cell)
		if ring == nil {
			continue
		}
		f := geojson.NewFeature(orb.Polygon{ring})
		f.Properties = geojson.Properties{
			"h3": c.H3, "res": c.Res, "rssi": c.RSSI, "med": c.MedianDBm, "snr": c.SNR, "n": c.N,
			"last": c.LastMs, "hs": c.Hotspots, "mapper": c.Mapper,
		}
		cov.Append(f)
	}
	layers := mvt.Layers{{Name: "coverage", Features: cov.Features}}
	if tbl := s.hotspots.Load(); tbl != nil {
		hsFC := geojson.NewFeatureCollection()
		for _, h := range s.live(tbl.inBox(q, maxTileCells)) {
			f := geojson.NewFeature(orb.Point{h.Lng, h.Lat})
			f.Properties = geojson.Properties{"id": h.Address, "name": h.Name, "online": h.Online, "last": h.LastSeenMs}
			hsFC.Append(f)
		}
		layers = append(layers, &mvt.Layer{Name: "hotspots", Features: hsFC.Features})
		if z >= 7 {
			hx := geojson.NewFeatureCollection()
			seen := map[uint64]bool{}
			// A res-8 hex reaches ≈ 0.5 km past its hotspot.
			const m = 0.01
			near := tbl.inBox(BBox{W: q.W - m/math.Max(math.Cos(q.N*math.Pi/180), 0.05), S: q.S - m,
				E: q.E + m/math.Max(math.Cos(q.N*math.Pi/180), 0.05), N: q.N + m}, maxTileCells)
			for _, h := range near {
				c := h.cell8
				if seen[c] {
					continue
				}
				seen[c] = true
				info := tbl.hex(c)
				f := geojson.NewFeature(orb.Polygon{cellRing(c)})
				f.Properties = geojson.Properties{"h3": CellString(c), "hotspots": info.Hotspots, "scale": info.RewardScale}
				hx.Append(f)
			}
			layers = append(layers, &mvt.Layer{Name: "hotspot_hexes", Features: hx.Features})
		}
	}
	for _, l := range layers {
		l.Version, l.Extent = 2, tileExtent
	}
	layers.ProjectToTile(t)
	layers.Clip(orb.Bound{Min: orb.Point{-tileBuffer, -tileBuffer}, Max: orb.Point{tileExtent + tileBuffer, tileExtent + tileBuffer}})
	raw, err := mvt.Marshal(layers)
	if err != nil {
		return nil, fmt.Errorf("encode tile %d/%d/%d: %w", z, x, y, err)
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	zw.Write(raw)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tileKey identifies an encoded tile.
type tileKey struct {
	version uint64
	w       Window
	z, x, y uint32
}

// tileLRU is a bounded cache of encoded tiles; entries of older versions
// are dropped when a new version is first seen.
type tileLRU struct {
	mu      sync.Mutex
	max     int
	version uint64
	ll      *list.List
	m       map[tileKey]*list.Element
}

type tileEntry struct {
	k tileKey
	b []byte
}

func newTileLRU(max int) *tileLRU {
	return &tileLRU{max: max, ll: list.New(), m: map[tileKey]*list.Element{}}
}

func (c *tileLRU) get(k tileKey) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*tileEntry).b, true
	}
	return nil, false
}

func (c *tileLRU) put(k tileKey, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k.version > c.version {
		c.version = k.version
		c.ll.Init()
		clear(c.m)
	}
	if k.version < c.version {
		return
	}
	if _, ok := c.m[k]; ok {
		return
	}
	c.m[k] = c.ll.PushFront(&tileEntry{k, b})
	for c.ll.Len() > c.max {
		e := c.ll.Back()
		c.ll.Remove(e)
		delete(c.m, e.Value.(*tileEntry).k)
	}
}

func (c *tileLRU) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// mvtTileAt is the tile of zoom z holding a point.
func mvtTileAt(lat, lng float64, z uint32) maptile.Tile {
	return maptile.At(orb.Point{lng, lat}, maptile.Zoom(z))
}

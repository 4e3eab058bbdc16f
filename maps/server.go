package maps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures the map server. The zero value works.
type Config struct {
	// RefreshInterval is how often the data version is bumped (when
	// anything changed), the state flushed to the store, the hotspot table
	// brought up to date with the registry and live updates pushed.
	// Default 10 s.
	RefreshInterval time.Duration
	// TileCache is the number of encoded tiles kept in memory. Default 4096.
	TileCache int
	// IngestPerMinute is the mapper uplinks accepted per client IP per
	// minute (Mappers uses 60). Default 60.
	IngestPerMinute int
	// MaxCells bounds the cells of one coverage answer. Default 20000.
	MaxCells int
	// Now is the clock; nil = time.Now.
	Now func() time.Time
}

func (c Config) defaults() Config {
	if c.RefreshInterval <= 0 {
		c.RefreshInterval = 10 * time.Second
	}
	if c.TileCache <= 0 {
		c.TileCache = 4096
	}
	if c.IngestPerMinute <= 0 {
		c.IngestPerMinute = 60
	}
	if c.MaxCells <= 0 {
		c.MaxCells = 20000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Server serves the map: the API, tiles, live updates, mapper ingest and
// the embedded page.
type Server struct {
	cfg   Config
	agg   *Aggregator
	reg   Registry
	log   *slog.Logger
	m     *metrics
	tiles *tileLRU
	// hotspots is the current hotspot table, replaced (never changed) by
	// refreshHotspots; hsVersion is the registry version it reflects.
	hotspots  atomic.Pointer[hotspotTable]
	hsVersion uint64
	limiter   *rateLimiter
	events    *broker
	refresh   sync.Mutex
}

// NewServer returns a server over agg (already loaded) and reg (nil = no
// hotspots). log nil discards; metrics go to registerer (nil = none).
func NewServer(cfg Config, agg *Aggregator, reg Registry, log *slog.Logger, registerer prometheus.Registerer) (*Server, error) {
	cfg = cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, agg: agg, reg: reg, log: log, m: m, tiles: newTileLRU(cfg.TileCache),
		limiter: newRateLimiter(cfg.IngestPerMinute, time.Minute, cfg.Now), events: newBroker()}
	s.hotspots.Store(newHotspotTable())
	s.refreshHotspots()
	return s, nil
}

// Fold adds observations (mappers' uplinks) and writes them to the store.
func (s *Server) Fold(obs []Observation) error {
	s.agg.Fold(obs)
	s.m.folded.Add(float64(len(obs)))
	return s.agg.Flush()
}

// FoldBatch adds journal batch seq of verified observations (the oracle
// calls it as PoCs are verified, and again after a crash for the batches
// still journalled: see Aggregator.FoldBatch) and writes them to the
// store. Once it returns nil, the batch may be dropped from the journal.
func (s *Server) FoldBatch(obs []Observation, seq uint64) error {
	skipped := s.agg.FoldBatch(obs, seq)
	s.m.folded.Add(float64(len(obs) - skipped))
	return s.agg.Flush()
}

// Run refreshes every RefreshInterval until ctx ends, then flushes.
func (s *Server) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := s.agg.Flush(); err != nil {
				s.log.Error("maps flush", "err", err)
			}
			s.events.close()
			return nil
		case <-t.C:
			s.Refresh()
		}
	}
}

// Refresh publishes a new data version if anything changed, pushes the
// changed hexes to live clients, flushes and updates the hotspot table.
func (s *Server) Refresh() {
	s.refresh.Lock()
	defer s.refresh.Unlock()
	v, changed := s.agg.Publish(500)
	if len(changed) > 0 {
		ids := make([]string, len(changed))
		for i, c := range changed {
			ids[i] = CellString(c)
		}
		b, _ := json.Marshal(map[string]any{"version": v, "hexes": ids})
		s.events.publish(b)
	}
	if err := s.agg.Flush(); err != nil {
		s.log.Error("maps flush", "err", err)
	}
	s.refreshHotspots()
}

// refreshHotspots applies the registry's hotspot changes since the
// table's version to it (every hotspot when the registry answers full).
// Only Refresh and NewServer call it, so hsVersion needs no lock.
func (s *Server) refreshHotspots() {
	if s.reg == nil {
		return
	}
	hs, v, full, err := s.reg.MapHotspots(s.hsVersion)
	if err != nil {
		s.log.Error("maps hotspots", "err", err)
		return
	}
	t := s.hotspots.Load()
	if full {
		t = newHotspotTable()
	}
	s.hotspots.Store(t.with(hs))
	s.hsVersion = v
}

// live is the hotspots hs with their activity now.
func (s *Server) live(hs []*hotspotInfo) []hotspotInfo { return live(hs, s.agg, s.cfg.Now()) }

// apiError is an error with its HTTP status and a code.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func badRequest(format string, a ...any) error {
	return &apiError{400, "bad_request", fmt.Sprintf(format, a...)}
}

func notFound(format string, a ...any) error {
	return &apiError{404, "not_found", fmt.Sprintf(format, a...)}
}

// Handler serves:
//
//	GET  /, /hex/{h3}, /hotspot/{address}   the page (deep links)
//	GET  /app.js, /style.css, /vendor/…, /basemap/…   its assets (gzip when accepted)
//	GET  /tiles/{window}/{z}/{x}/{y}.pbf    MVT (coverage, hotspots, hotspot_hexes)
//	GET  /api/v1/config                     zoom → resolution table, windows
//	GET  /api/v1/coverage?bbox=w,s,e,n&z=|res=&window=&format=cells|geojson
//	GET  /api/v1/hex/{h3}?window=           one hex with heard_by[] and hotspots_located[]
//	GET  /api/v1/hex/{h3}/links?window=     GeoJSON witness lines to the hearing hotspots' hexes
//	GET  /api/v1/hotspots?bbox=             GeoJSON points
//	GET  /api/v1/hotspots/{address}         a hotspot with its last epochs' rewards
//	GET  /api/v1/search?q=                  centre and zoom for a name, address, H3 index or lat,lng
//	GET  /api/v1/coverage/geo/{latlng}      "am I covered?" for lat,lng
//	GET  /api/v1/events                     Server-Sent Events: changed hexes
//	POST /api/v1/ingest/uplink              Helium Console / ChirpStack v4 uplinks
//
// Errors are JSON {"code", "message"}, 4xx for bad input.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern string, h func(w http.ResponseWriter, r *http.Request) error) {
		mux.Handle(pattern, s.wrap(pattern, h))
	}
	api("GET /tiles/{window}/{z}/{x}/{y}", s.handleTile)
	api("GET /api/v1/config", s.handleConfig)
	api("GET /api/v1/coverage", s.handleCoverage)
	api("GET /api/v1/coverage/geo/{latlng}", s.handleCovered)
	api("GET /api/v1/hex/{h3}", s.handleHex)
	api("GET /api/v1/hex/{h3}/links", s.handleLinks)
	api("GET /api/v1/hotspots", s.handleHotspots)
	api("GET /api/v1/hotspots/{address}", s.handleHotspot)
	api("GET /api/v1/search", s.handleSearch)
	api("POST /api/v1/ingest/uplink", s.handleIngest)
	mux.HandleFunc("GET /api/v1/events", s.handleEvents)
	api("/api/", func(w http.ResponseWriter, r *http.Request) error {
		return notFound("no such endpoint %s %s", r.Method, r.URL.Path)
	})
	page := pageHandler()
	mux.Handle("GET /{$}", page)
	mux.Handle("GET /hex/{h3}", page)
	mux.Handle("GET /hotspot/{address}", page)
	mux.Handle("/", staticHandler())
	return mux
}

func (s *Server) wrap(name string, h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("maps handler panic", "route", name, "panic", fmt.Sprint(p))
				writeJSON(w, 500, map[string]string{"code": "internal", "message": "internal error"})
			}
		}()
		r.Body = http.MaxBytesReader(w, r.Body, maxIngestBody)
		if err := h(w, r); err != nil {
			var ae *apiError
			if errors.As(err, &ae) {
				writeJSON(w, ae.status, map[string]string{"code": ae.code, "message": ae.msg})
				return
			}
			s.log.Error("maps handler", "route", name, "err", err)
			writeJSON(w, 500, map[string]string{"code": "internal", "message": "internal error"})
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func parseWindowParam(r *http.Request) (Window, error) {
	w, ok := ParseWindow(r.URL.Query().Get("window"))
	if !ok {
		return 0, badRequest("window must be 24h, 7d, 30d or all")
	}
	return w, nil
}

// parseBBox parses "west,south,east,north".
func parseBBox(s string) (BBox, error) {
	if s == "" {
		return BBox{}, badRequest("bbox=west,south,east,north is required")
	}
	if len(s) > 200 {
		return BBox{}, badRequest("bbox too long")
	}
	f := strings.Split(s, ",")
	if len(f) != 4 {
		return BBox{}, badRequest("bbox must be west,south,east,north")
	}
	var v [4]float64
	for i, x := range f {
		var err error
		if v[i], err = strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil {
			return BBox{}, badRequest("bbox: %q is not a number", x)
		}
	}
	b := BBox{W: v[0], S: v[1], E: v[2], N: v[3]}
	if !b.valid() {
		return BBox{}, badRequest("%v", ErrBadBBox)
	}
	return b, nil
}

func (s *Server) handleConfig(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, 200, map[string]any{
		"zoom_bands": zoomBands, "min_res": MinRes, "base_res": BaseRes, "windows": windowNames,
		"version": s.agg.Version(),
	})
	return nil
}

func (s *Server) handleTile(w http.ResponseWriter, r *http.Request) error {
	win, ok := ParseWindow(r.PathValue("window"))
	if !ok {
		return badRequest("window must be 24h, 7d, 30d or all")
	}
	ys, found := strings.CutSuffix(r.PathValue("y"), ".pbf")
	if !found {
		return notFound("tiles end in .pbf")
	}
	var zxy [3]uint64
	for i, p := range []string{r.PathValue("z"), r.PathValue("x"), ys} {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return badRequest("tile coordinates must be integers")
		}
		zxy[i] = v
	}
	z, x, y := zxy[0], zxy[1], zxy[2]
	if z > maxTileZ || x >= 1<<z || y >= 1<<z {
		return badRequest("no tile %d/%d/%d", z, x, y)
	}
	v := s.agg.Version()
	etag := fmt.Sprintf(`"%d-%s-%d-%d-%d"`, v, win, z, x, y)
	age := 60
	if z <= 8 {
		age = 300
	}
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", fmt.Sprintf("public, max-age=%d", age))
	h.Set("Vary", "Accept-Encoding")
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, etag) {
		w.WriteHeader(http.StatusNotModified)
		s.m.tiles.WithLabelValues("not_modified").Inc()
		return nil
	}
	k := tileKey{v, win, uint32(z), uint32(x), uint32(y)}
	b, hit := s.tiles.get(k)
	if !hit {
		var err error
		if b, err = s.encodeTile(win, uint32(z), uint32(x), uint32(y)); err != nil {
			if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrBadBBox) {
				return badRequest("%v", err)
			}
			return err
		}
		s.tiles.put(k, b)
		s.m.tiles.WithLabelValues("encoded").Inc()
	} else {
		s.m.tiles.WithLabelValues("cached").Inc()
	}
	h.Set("Content-Type", "application/vnd.mapbox-vector-tile")
	return writeGzipped(w, r, b)
}

func (s *Server) handleCoverage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	b, err := parseBBox(q.Get("bbox"))
	if err != nil {
		return err
	}
	win, err := parseWindowParam(r)
	if err != nil {
		return err
	}
	res := -1
	switch {
	case q.Get("res") != "":
		v, err := strconv.Atoi(q.Get("res"))
		if err != nil || v < MinRes || v > BaseRes {
			return badRequest("res must be %d–%d", MinRes, BaseRes)
		}
		res = v
	case q.Get("z") != "":
		z, err := strconv.ParseFloat(q.Get("z"), 64)
		if err != nil || math.IsNaN(z) || z < 0 || z > 24 {
			return badRequest("z must be a zoom 0–24")
		}
		res = ResForZoom(z)
	default:
		return badRequest("z= or res= is required")
	}
	cells, complete, err := s.agg.Query(b, res, win, s.cfg.MaxCells)
	switch {
	case errors.Is(err, ErrTooLarge):
		return &apiError{413, "too_large", err.Error()}
	case err != nil:
		return badRequest("%v", err)
	}
	w.Header().Set("Cache-Control", "public, max-age=30")
	switch q.Get("format") {
	case "", "cells":
		rows := make([][]any, len(cells))
		for i, c := range cells {
			rows[i] = []any{c.H3, c.RSSI, c.SNR, c.N, c.LastMs, c.Hotspots}
		}
		writeJSON(w, 200, map[string]any{"res": res, "window": win.String(), "complete": complete,
			"columns": []string{"h3", "rssi", "snr", "n", "last_seen_ms", "hotspots"}, "cells": rows})
	case "geojson":
		fc := geojson.NewFeatureCollection()
		for _, c := range cells {
			f := geojson.NewFeature(orb.Polygon{cellRing(c.cell)})
			f.Properties = geojson.Properties{"h3": c.H3, "res": c.Res, "rssi": c.RSSI, "median_rssi": c.MedianDBm,
				"snr": c.SNR, "n": c.N, "last_seen_ms": c.LastMs, "hotspots": c.Hotspots}
			fc.Append(f)
		}
		fc.ExtraMembers = geojson.Properties{"complete": complete, "res": res}
		w.Header().Set("Content-Type", "application/geo+json")
		b, err := fc.MarshalJSON()
		if err != nil {
			return err
		}
		w.Write(b)
	default:
		return badRequest("format must be cells or geojson")
	}
	return nil
}

func parseCellParam(s string) (uint64, error) {
	c, ok := ParseCell(s)
	if !ok {
		return 0, badRequest("%q is not a valid H3 cell", truncate(s))
	}
	return c, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func (s *Server) handleHex(w http.ResponseWriter, r *http.Request) error {
	c, err := parseCellParam(r.PathValue("h3"))
	if err != nil {
		return err
	}
	win, err := parseWindowParam(r)
	if err != nil {
		return err
	}
	v, ok := s.agg.Cell(c, win)
	var in []*hotspotInfo
	var hsHex *hexInfo
	if tbl := s.hotspots.Load(); cellRes(c) <= 8 {
		if cellRes(c) == 8 {
			if hx := tbl.hex(c); hx.Hotspots > 0 {
				hsHex = &hx
			}
			in = slices.Collect(tbl.inHex(c))
		} else {
			// A coarser hex: the hotspots in its bounding box, then exactly.
			for _, h := range tbl.inBox(cellBox(c), 100000) {
				if parentOf(h.cell8, cellRes(c)) == c {
					in = append(in, h)
				}
			}
		}
		in = in[:min(len(in), 100)]
	}
	located := s.live(in)
	if !ok && len(located) == 0 {
		return notFound("no coverage in %s in window %s", CellString(c), win)
	}
	if !ok {
		lat, lng := cellCenter(c)
		v = CellView{H3: CellString(c), Res: cellRes(c), Lat: lat, Lng: lng}
	}
	if v.HeardBy == nil {
		v.HeardBy = []Heard{}
	}
	writeJSON(w, 200, struct {
		CellView
		Window  string        `json:"window"`
		Located []hotspotInfo `json:"hotspots_located"`
		// HotspotHex is a res-8 hex's hotspot count and mean HIP-17 scale.
		HotspotHex *hexInfo `json:"hotspot_hex,omitempty"`
	}{v, win.String(), located, hsHex})
	return nil
}

func (s *Server) handleLinks(w http.ResponseWriter, r *http.Request) error {
	c, err := parseCellParam(r.PathValue("h3"))
	if err != nil {
		return err
	}
	win, err := parseWindowParam(r)
	if err != nil {
		return err
	}
	if cellRes(c) != BaseRes {
		return badRequest("witness links are per res-9 hex")
	}
	v, ok := s.agg.Cell(c, win)
	if !ok {
		return notFound("no coverage in %s in window %s", CellString(c), win)
	}
	fc := geojson.NewFeatureCollection()
	tbl := s.hotspots.Load()
	seen := map[uint64]bool{}
	for _, h := range v.HeardBy {
		hs, ok := tbl.lookup(h.Hotspot)
		if !ok {
			continue
		}
		line := geojson.NewFeature(orb.LineString{{v.Lng, v.Lat}, {hs.Lng, hs.Lat}})
		line.Properties = geojson.Properties{"kind": "link", "hotspot": hs.Address, "name": hs.Name, "rssi": h.RSSI, "snr": h.SNR, "n": h.N}
		fc.Append(line)
		if !seen[hs.cell8] {
			seen[hs.cell8] = true
			hex := geojson.NewFeature(orb.Polygon{cellRing(hs.cell8)})
			hex.Properties = geojson.Properties{"kind": "hotspot_hex", "h3": hs.Hex}
			fc.Append(hex)
		}
	}
	w.Header().Set("Content-Type", "application/geo+json")
	b, err := fc.MarshalJSON()
	if err != nil {
		return err
	}
	w.Write(b)
	return nil
}

func (s *Server) handleHotspots(w http.ResponseWriter, r *http.Request) error {
	b, err := parseBBox(r.URL.Query().Get("bbox"))
	if err != nil {
		return err
	}
	fc := geojson.NewFeatureCollection()
	for _, h := range s.live(s.hotspots.Load().inBox(b, s.cfg.MaxCells)) {
		f := geojson.NewFeature(orb.Point{h.Lng, h.Lat})
		f.Properties = geojson.Properties{"id": h.Address, "name": h.Name, "online": h.Online, "last": h.LastSeenMs,
			"hex": h.Hex, "reward_scale": h.RewardScale}
		fc.Append(f)
	}
	w.Header().Set("Content-Type", "application/geo+json")
	out, err := fc.MarshalJSON()
	if err != nil {
		return err
	}
	w.Write(out)
	return nil
}

func (s *Server) handleHotspot(w http.ResponseWriter, r *http.Request) error {
	addr := r.PathValue("address")
	tbl := s.hotspots.Load()
	e, ok := tbl.lookup(addr)
	if !ok {
		if len(addr) > maxName {
			return badRequest("address too long")
		}
		return notFound("no located hotspot %q", truncate(addr))
	}
	h := s.live([]*hotspotInfo{e})[0]
	rewards := []Reward{}
	if s.reg != nil {
		rs, err := s.reg.HotspotRewards(addr, 10)
		if err != nil {
			return err
		}
		rewards = append(rewards, rs...)
	}
	status := "offline"
	if h.Online {
		status = "online"
	}
	hex := tbl.hex(h.cell8)
	writeJSON(w, 200, struct {
		hotspotInfo
		Status   string   `json:"status"`
		HexCount int      `json:"hex_hotspots"`
		Rewards  []Reward `json:"rewards"`
	}{h, status, hex.Hotspots, rewards})
	return nil
}

// searchResult is where search sends the map.
type searchResult struct {
	Kind    string  `json:"kind"` // hotspot, hex, point
	Lat     float64 `json:"lat"`
	Lng     float64 `json:"lng"`
	Zoom    float64 `json:"zoom"`
	H3      string  `json:"h3,omitempty"`
	Address string  `json:"address,omitempty"`
	Name    string  `json:"name,omitempty"`
}

func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request) error {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if q == "" {
		return badRequest("q is required")
	}
	if len(q) > 200 {
		return badRequest("q too long")
	}
	out := s.search(q)
	if len(out) == 0 {
		return notFound("nothing matches %q", truncate(q))
	}
	writeJSON(w, 200, map[string]any{"results": out})
	return nil
}

func (s *Server) search(q string) []searchResult {
	tbl := s.hotspots.Load()
	hsResult := func(h *hotspotInfo) searchResult {
		return searchResult{Kind: "hotspot", Lat: h.Lat, Lng: h.Lng, Zoom: ZoomForRes(8), H3: h.Hex, Address: h.Address, Name: h.Name}
	}
	if h, ok := tbl.lookup(q); ok {
		return []searchResult{hsResult(h)}
	}
	if name, ok := normalizeName(q); ok {
		var out []searchResult
		for h := range tbl.named(name) {
			out = append(out, hsResult(h))
			if len(out) >= 20 {
				break
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	if c, ok := ParseCell(q); ok {
		lat, lng := cellCenter(c)
		return []searchResult{{Kind: "hex", Lat: lat, Lng: lng, Zoom: ZoomForRes(cellRes(c)), H3: CellString(c)}}
	}
	if lat, lng, ok := parseLatLng(q); ok {
		return []searchResult{{Kind: "point", Lat: lat, Lng: lng, Zoom: ZoomForRes(BaseRes)}}
	}
	// A prefix of a name ("brisk-amber").
	lq := strings.ToLower(strings.ReplaceAll(q, " ", "-"))
	var out []searchResult
	for h := range tbl.byAddr.all() {
		if strings.HasPrefix(h.Name, lq) || strings.HasPrefix(h.Address, q) {
			out = append(out, hsResult(h))
			if len(out) >= 20 {
				break
			}
		}
	}
	return out
}

// parseLatLng parses "lat,lng".
func parseLatLng(s string) (lat, lng float64, ok bool) {
	a, b, found := strings.Cut(s, ",")
	if !found {
		return 0, 0, false
	}
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
	lng, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
	if err1 != nil || err2 != nil || !(lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180) {
		return 0, 0, false
	}
	return lat, lng, true
}

func (s *Server) handleCovered(w http.ResponseWriter, r *http.Request) error {
	lat, lng, ok := parseLatLng(r.PathValue("latlng"))
	if !ok {
		return badRequest("want /api/v1/coverage/geo/{lat},{lng} with −90 ≤ lat ≤ 90, −180 ≤ lng ≤ 180")
	}
	win, err := parseWindowParam(r)
	if err != nil {
		return err
	}
	v, dist, found := s.agg.Covered(lat, lng, win, 128)
	if !found {
		writeJSON(w, 200, map[string]any{"covered": false, "window": win.String()})
		return nil
	}
	v.HeardBy = nil
	writeJSON(w, 200, map[string]any{"covered": true, "window": win.String(), "distance_rings": dist,
		"distance_m": float64(dist) * edgeKm[BaseRes] * 1000 * math.Sqrt(3), "hex": v})
	return nil
}

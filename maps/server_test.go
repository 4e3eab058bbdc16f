package maps

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb/encoding/mvt"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hexfield/hexfield/wire"
)

// fakeRegistry is a fixed registry at version 1 (the oracle's real one is
// tested in package oracle).
type fakeRegistry struct{ hs []Hotspot }

func (f fakeRegistry) MapHotspots(since uint64) ([]Hotspot, uint64, bool, error) {
	if since == 1 {
		return nil, 1, false, nil
	}
	return f.hs, 1, true, nil
}
func (f fakeRegistry) HotspotRewards(addr string, n int) ([]Reward, error) {
	return []Reward{{Epoch: 3, Amount: 1200}, {Epoch: 2, Amount: 900}}, nil
}

var testNow = time.Date(2026, 12, 12, 10, 5, 0, 0, time.UTC)

type testWorld struct {
	srv   *Server
	http  *httptest.Server
	agg   *Aggregator
	hs    []Hotspot
	cells []uint64 // res-9 cells with coverage
	clk   *clock
}

func hotspotKey(i int) wire.PublicKey {
	var k wire.PublicKey
	k[0], k[1] = byte(i), 0x5a
	return k
}

// newTestWorld serves a map of 6 hotspots around Oakland, each beaconing
// and heard by its neighbours, over a real loopback HTTP server.
func newTestWorld(t *testing.T) *testWorld {
	t.Helper()
	clk := &clock{t: testNow}
	w := &testWorld{clk: clk}
	w.agg = NewAggregator(newMemStore(), clk.now)
	for i := range 6 {
		c, _ := latLngCell(37.80+0.01*float64(i), -122.27+0.008*float64(i%3), 12)
		w.hs = append(w.hs, Hotspot{Address: hotspotKey(i).String(), Cell: c, RewardScale: uint32(2000 * (i + 1) % 10001)})
	}
	var obs []Observation
	for i, b := range w.hs {
		for j, h := range w.hs {
			if i == j {
				continue
			}
			for k := range 3 {
				obs = append(obs, Observation{Cell: b.Cell, Hotspot: h.Address, Transmitter: b.Address,
					RSSI: int16(-1150 + 50*j + 10*k), SNR: int16(-50 + 10*j), Ms: testNow.Add(-time.Duration(k*30+i) * time.Hour).UnixMilli(), Source: SourcePoC})
			}
		}
		w.cells = append(w.cells, parentOf(b.Cell, BaseRes))
	}
	w.agg.Fold(obs)
	srv, err := NewServer(Config{Now: clk.now, IngestPerMinute: 1000}, w.agg, fakeRegistry{w.hs}, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	w.srv = srv
	w.http = httptest.NewServer(srv.Handler())
	t.Cleanup(w.http.Close)
	return w
}

func (w *testWorld) get(t *testing.T, path string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", w.http.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := w.http.Client().Transport.RoundTrip(req) // no transparent gunzip
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestResForZoomGolden(t *testing.T) {
	for _, c := range []struct {
		z   float64
		res int
	}{
		{0, 3}, {3.99, 3}, {4, 4}, {5.49, 4}, {5.5, 5}, {6, 5}, {6.99, 5}, {7, 6}, {8.49, 6}, {8.5, 7},
		{9.5, 7}, {9.99, 7}, {10, 8}, {11, 8}, {11.49, 8}, {11.5, 9}, {12, 9}, {22, 9},
	} {
		if got := ResForZoom(c.z); got != c.res {
			t.Errorf("ResForZoom(%v) = %d, want %d", c.z, got, c.res)
		}
	}
	// Integer tile zooms (spec §1's last row).
	for z, res := range []int{3, 3, 3, 3, 4, 4, 5, 6, 6, 7, 8, 8, 9, 9} {
		if got := ResForZoom(float64(z)); got != res {
			t.Errorf("tile zoom %d: res %d, want %d", z, got, res)
		}
	}
	for res, z := range map[int]float64{9: 12, 8: 10.5, 7: 9, 6: 7.5} {
		if got := ZoomForRes(res); got != z || ResForZoom(got) != res {
			t.Errorf("ZoomForRes(%d) = %v", res, got)
		}
	}
}

func tileOf(lat, lng float64, z uint32) (x, y uint32) {
	b := bboxOfTile(mvtTileAt(lat, lng, z))
	_ = b
	tl := mvtTileAt(lat, lng, z)
	return tl.X, tl.Y
}

func TestTiles(t *testing.T) {
	w := newTestWorld(t)
	for _, z := range []uint32{5, 9, 12} {
		x, y := tileOf(37.82, -122.26, z)
		path := fmt.Sprintf("/tiles/all/%d/%d/%d.pbf", z, x, y)
		resp, body := w.get(t, path, "Accept-Encoding", "gzip")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, resp.Header)
		}
		layers, err := mvt.UnmarshalGzipped(body)
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]*mvt.Layer{}
		for _, l := range layers {
			byName[l.Name] = l
			if l.Version != 2 || l.Extent != 4096 {
				t.Errorf("layer %s: version %d extent %d", l.Name, l.Version, l.Extent)
			}
		}
		cov := byName["coverage"]
		if cov == nil || len(cov.Features) == 0 {
			t.Fatalf("z %d: no coverage features", z)
		}
		for _, f := range cov.Features {
			h, ok := f.Properties["h3"].(string)
			c, valid := ParseCell(h)
			if !ok || !valid || cellRes(c) != ResForZoom(float64(z)) || f.ID != nil {
				t.Fatalf("z %d: feature h3 %v (%T), id %v", z, f.Properties["h3"], f.Properties["h3"], f.ID)
			}
		}
		if hs := byName["hotspots"]; hs == nil || len(hs.Features) == 0 || z < 12 && len(hs.Features) != len(w.hs) {
			t.Errorf("z %d: hotspots layer %v", z, hs)
		} else if hs.Features[0].Properties["name"] == "" {
			t.Errorf("hotspot without a name")
		}
		if z >= 7 && byName["hotspot_hexes"] == nil {
			t.Errorf("z %d: no hotspot_hexes layer", z)
		}
		if z == 12 && len(cov.Features) != len(w.cells) {
			t.Errorf("z 12: %d coverage features, want %d", len(cov.Features), len(w.cells))
		}

		etag := resp.Header.Get("ETag")
		if etag == "" || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age") {
			t.Errorf("headers %v", resp.Header)
		}
		resp, _ = w.get(t, path, "If-None-Match", etag)
		if resp.StatusCode != 304 {
			t.Errorf("If-None-Match: %d, want 304", resp.StatusCode)
		}
		// Without gzip the tile is sent plain.
		resp, body = w.get(t, path)
		if resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("gzip without Accept-Encoding")
		}
		if _, err := mvt.Unmarshal(body); err != nil {
			t.Errorf("plain tile: %v", err)
		}
	}
	if w.srv.tiles.len() != 3 {
		t.Errorf("tile LRU holds %d tiles, want 3", w.srv.tiles.len())
	}
	// A new data version changes the ETag and empties the cache.
	x, y := tileOf(37.82, -122.26, 12)
	path := fmt.Sprintf("/tiles/all/12/%d/%d.pbf", x, y)
	r1, _ := w.get(t, path)
	w.agg.Fold([]Observation{{Cell: w.hs[0].Cell, Hotspot: "mapper-gw", RSSI: -700, Ms: testNow.UnixMilli(), Source: SourceMapper}})
	w.srv.Refresh()
	r2, _ := w.get(t, path)
	if r1.Header.Get("ETag") == r2.Header.Get("ETag") {
		t.Errorf("ETag unchanged after a new version")
	}
	for _, bad := range []string{"/tiles/all/30/0/0.pbf", "/tiles/all/3/8/0.pbf", "/tiles/week/3/0/0.pbf", "/tiles/all/a/0/0.pbf"} {
		if resp, body := w.get(t, bad); resp.StatusCode != 400 || !json.Valid(body) {
			t.Errorf("%s: %d %s", bad, resp.StatusCode, body)
		}
	}
}

func TestCoverageAPI(t *testing.T) {
	w := newTestWorld(t)
	bbox := "-122.35,37.75,-122.2,37.9"
	var cells struct {
		Res      int     `json:"res"`
		Complete bool    `json:"complete"`
		Cells    [][]any `json:"cells"`
	}
	resp, body := w.get(t, "/api/v1/coverage?bbox="+bbox+"&z=12")
	if resp.StatusCode != 200 || json.Unmarshal(body, &cells) != nil {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if cells.Res != 9 || len(cells.Cells) != len(w.cells) || !cells.Complete {
		t.Errorf("res %d, %d cells (want %d)", cells.Res, len(cells.Cells), len(w.cells))
	}
	if _, ok := cells.Cells[0][0].(string); !ok {
		t.Errorf("h3 is not a string: %v", cells.Cells[0])
	}
	var fc struct {
		Type     string `json:"type"`
		Features []struct {
			Geometry struct {
				Type string `json:"type"`
			} `json:"geometry"`
			Properties map[string]any `json:"properties"`
		} `json:"features"`
	}
	resp, body = w.get(t, "/api/v1/coverage?bbox="+bbox+"&res=7&format=geojson&window=7d")
	if resp.StatusCode != 200 || json.Unmarshal(body, &fc) != nil || fc.Type != "FeatureCollection" || len(fc.Features) == 0 {
		t.Fatalf("geojson: %d %s", resp.StatusCode, body)
	}
	if fc.Features[0].Geometry.Type != "Polygon" {
		t.Errorf("geometry %s", fc.Features[0].Geometry.Type)
	}
	// Windows: the 24 h window holds fewer samples than all.
	n := func(win string) int {
		_, body := w.get(t, "/api/v1/coverage?bbox="+bbox+"&res=5&window="+win)
		var c struct{ Cells [][]any }
		json.Unmarshal(body, &c)
		total := 0
		for _, r := range c.Cells {
			total += int(r[3].(float64))
		}
		return total
	}
	if a, d := n("all"), n("24h"); !(d > 0 && d < a) {
		t.Errorf("samples 24h %d, all %d", d, a)
	}
	for _, c := range []struct {
		q      string
		status int
	}{
		{"", 400}, {"bbox=1,2,3&z=3", 400}, {"bbox=10,0,0,10&z=3", 400}, {"bbox=0,0,10,10", 400},
		{"bbox=0,0,10,10&z=abc", 400}, {"bbox=0,0,10,10&res=12", 400}, {"bbox=0,0,10,10&z=3&window=1y", 400},
		{"bbox=0,0,10,10&z=3&format=xml", 400}, {"bbox=-180,-80,180,80&res=9", 413}, {"bbox=NaN,0,1,1&z=3", 400},
	} {
		resp, body := w.get(t, "/api/v1/coverage?"+c.q)
		var e struct{ Code, Message string }
		if resp.StatusCode != c.status || json.Unmarshal(body, &e) != nil || e.Code == "" {
			t.Errorf("%q: %d %s, want %d", c.q, resp.StatusCode, body, c.status)
		}
	}
}

func TestHexAndHotspotAPI(t *testing.T) {
	w := newTestWorld(t)
	c := w.cells[0]
	var hx struct {
		CellView
		Located    []hotspotInfo `json:"hotspots_located"`
		HotspotHex *hexInfo      `json:"hotspot_hex"`
	}
	resp, body := w.get(t, "/api/v1/hex/"+CellString(c))
	if resp.StatusCode != 200 || json.Unmarshal(body, &hx) != nil {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if len(hx.HeardBy) != len(w.hs)-1 || hx.N != 3*(len(w.hs)-1) || hx.Hotspots != len(w.hs)-1 {
		t.Errorf("hex %+v", hx.CellView)
	}
	if !slices.IsSortedFunc(hx.HeardBy, func(a, b Heard) int { return int(b.RSSI*10 - a.RSSI*10) }) {
		t.Errorf("heard_by not strongest first: %+v", hx.HeardBy)
	}
	if hx.HeardBy[0].Name != displayName(hx.HeardBy[0].Hotspot) || !strings.Contains(hx.HeardBy[0].Name, "-") {
		t.Errorf("name %q", hx.HeardBy[0].Name)
	}
	// A res-8 hex lists the hotspots located in it.
	resp, body = w.get(t, "/api/v1/hex/"+CellString(parentOf(c, 8)))
	if json.Unmarshal(body, &hx) != nil || len(hx.Located) == 0 || hx.HotspotHex == nil || hx.HotspotHex.Hotspots != len(hx.Located) ||
		hx.HotspotHex.RewardScale <= 0 {
		t.Errorf("res 8: %d %s", resp.StatusCode, body)
	}
	var links struct {
		Features []struct {
			Properties map[string]any `json:"properties"`
		} `json:"features"`
	}
	resp, body = w.get(t, "/api/v1/hex/"+CellString(c)+"/links")
	if resp.StatusCode != 200 || json.Unmarshal(body, &links) != nil {
		t.Fatalf("links %s", body)
	}
	lines, hexes := 0, 0
	for _, f := range links.Features {
		switch f.Properties["kind"] {
		case "link":
			lines++
		case "hotspot_hex":
			hexes++
		}
	}
	if lines != len(w.hs)-1 || hexes == 0 {
		t.Errorf("links: %d lines, %d hexes", lines, hexes)
	}
	var hs struct {
		hotspotInfo
		Status  string   `json:"status"`
		Rewards []Reward `json:"rewards"`
	}
	resp, body = w.get(t, "/api/v1/hotspots/"+w.hs[1].Address)
	if resp.StatusCode != 200 || json.Unmarshal(body, &hs) != nil || hs.Status != "online" || len(hs.Rewards) != 2 || hs.Name != hotspotKey(1).Name() {
		t.Errorf("hotspot: %d %s", resp.StatusCode, body)
	}
	resp, body = w.get(t, "/api/v1/hotspots?bbox=-123,37,-122,38")
	if resp.StatusCode != 200 || strings.Count(string(body), `"Point"`) != len(w.hs) {
		t.Errorf("hotspots: %s", body)
	}
	for path, status := range map[string]int{
		"/api/v1/hex/zzz": 400, "/api/v1/hex/8928308280fffff0": 400, "/api/v1/hex/" + CellString(c) + "?window=x": 400,
		"/api/v1/hex/89283470803ffff": 404, "/api/v1/hotspots/nope": 404, "/api/v1/nothing": 404, "/api/v1/hotspots": 400,
	} {
		if resp, body := w.get(t, path); resp.StatusCode != status || !json.Valid(body) {
			t.Errorf("%s: %d %s, want %d", path, resp.StatusCode, body, status)
		}
	}
}

func TestSearchAndCovered(t *testing.T) {
	w := newTestWorld(t)
	name := hotspotKey(2).Name()
	cell := CellString(w.cells[3])
	for q, want := range map[string]searchResult{
		name: {Kind: "hotspot", Address: w.hs[2].Address, Zoom: 10.5},
		strings.ToUpper(strings.ReplaceAll(name, "-", " ")): {Kind: "hotspot", Address: w.hs[2].Address, Zoom: 10.5},
		w.hs[4].Address:                     {Kind: "hotspot", Address: w.hs[4].Address, Zoom: 10.5},
		cell:                                {Kind: "hex", H3: cell, Zoom: 12},
		CellString(parentOf(w.cells[3], 7)): {Kind: "hex", H3: CellString(parentOf(w.cells[3], 7)), Zoom: 9},
		"37.8, -122.27":                     {Kind: "point", Zoom: 12, Lat: 37.8, Lng: -122.27},
	} {
		resp, body := w.get(t, "/api/v1/search?q="+strings.ReplaceAll(q, " ", "%20"))
		var out struct{ Results []searchResult }
		if resp.StatusCode != 200 || json.Unmarshal(body, &out) != nil || len(out.Results) == 0 {
			t.Errorf("search %q: %d %s", q, resp.StatusCode, body)
			continue
		}
		r := out.Results[0]
		if r.Kind != want.Kind || r.Address != want.Address || (want.Kind == "hex" && r.H3 != want.H3) || r.Zoom != want.Zoom ||
			(want.Kind == "point" && (r.Lat != want.Lat || r.Lng != want.Lng)) {
			t.Errorf("search %q: %+v, want %+v", q, r, want)
		}
	}
	for _, q := range []string{"", "nothing-here-at-all", strings.Repeat("x", 300)} {
		if resp, _ := w.get(t, "/api/v1/search?q="+q); resp.StatusCode/100 != 4 {
			t.Errorf("search %q: %d", q, resp.StatusCode)
		}
	}
	lat, lng := cellCenter(w.cells[0])
	var cov struct {
		Covered bool     `json:"covered"`
		Rings   int      `json:"distance_rings"`
		Hex     CellView `json:"hex"`
	}
	_, body := w.get(t, fmt.Sprintf("/api/v1/coverage/geo/%f,%f", lat, lng))
	if json.Unmarshal(body, &cov) != nil || !cov.Covered || cov.Rings != 0 {
		t.Errorf("covered at a hex: %s", body)
	}
	_, body = w.get(t, fmt.Sprintf("/api/v1/coverage/geo/%f,%f", lat+0.004, lng))
	if json.Unmarshal(body, &cov) != nil || !cov.Covered || cov.Rings == 0 {
		t.Errorf("covered near a hex: %s", body)
	}
	_, body = w.get(t, "/api/v1/coverage/geo/0.5,0.5")
	if json.Unmarshal(body, &cov) != nil || cov.Covered {
		t.Errorf("covered in the ocean: %s", body)
	}
	if resp, _ := w.get(t, "/api/v1/coverage/geo/100,0"); resp.StatusCode != 400 {
		t.Errorf("bad point: %d", resp.StatusCode)
	}
}

// ingestCases: every fixture in testdata/ingest and what it must answer.
var ingestCases = map[string]string{
	"console_ok": "success", "chirpstack_ok": "success", "chirpstack_ignored_join": "ignored",
	"console_decoder_error": RejectDecoder, "chirpstack_decoder_error": RejectDecoder,
	"console_no_fix":      RejectNoFix,
	"console_no_position": RejectNoPosition, "chirpstack_no_position": RejectNoPosition,
	"console_invalid_position": RejectInvalidPos,
	"console_invalid_altitude": RejectAltitude, "chirpstack_invalid_altitude": RejectAltitude,
	"console_invalid_accuracy": RejectAccuracy,
	"console_no_timestamp":     RejectNoTimestamp, "chirpstack_no_timestamp": RejectNoTimestamp,
	"console_invalid_timestamp": RejectTimestamp, "chirpstack_invalid_timestamp": RejectTimestamp,
	"console_invalid_field_dev_eui": RejectField, "console_invalid_field_nul": RejectField, "console_invalid_field_fcnt": RejectField,
	"console_invalid_field_spreading": RejectField, "console_invalid_field_frequency": RejectField,
	"chirpstack_invalid_field_fcnt": RejectField, "chirpstack_invalid_field_dev_eui": RejectField,
	"console_no_hotspot_location": RejectNoHotspotLoc, "chirpstack_no_hotspot_location": RejectNoHotspotLoc,
	"console_no_valid_hotspots_rssi": RejectNoValidHotspot, "console_no_valid_hotspots_snr": RejectNoValidHotspot,
	"console_no_valid_hotspots_name": RejectNoValidHotspot, "chirpstack_no_valid_hotspots_far": RejectNoValidHotspot,
}

func TestIngestFixtures(t *testing.T) {
	w := newTestWorld(t)
	files, _ := filepath.Glob("testdata/ingest/*.json")
	if len(files) != len(ingestCases) {
		t.Errorf("%d fixtures, %d cases", len(files), len(ingestCases))
	}
	reasons := map[string]bool{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		want, ok := ingestCases[name]
		if !ok {
			t.Errorf("fixture %s has no case", name)
			continue
		}
		body, _ := os.ReadFile(f)
		resp, err := http.Post(w.http.URL+"/api/v1/ingest/uplink?event=up", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Status, Reason string
			Uplink         Uplink
			Hotspots       []UplinkHotspot
		}
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		got := out.Status
		if got == "rejected" {
			got = out.Reason
			reasons[got] = true
			if resp.StatusCode != 422 {
				t.Errorf("%s: status %d, want 422", name, resp.StatusCode)
			}
		}
		if got != want {
			t.Errorf("%s: %s (%d), want %s", name, got, resp.StatusCode, want)
		}
		if want == "success" {
			if len(out.Hotspots) != 1 || out.Uplink.H3 == "" {
				t.Errorf("%s: %+v", name, out)
			}
			c, _ := ParseCell(out.Uplink.H3)
			v, ok := w.agg.Cell(c, Window24h)
			if !ok || !v.Mapper || v.HeardBy[0].Hotspot != out.Hotspots[0].ID {
				t.Errorf("%s: cell %+v not lit by the uplink", name, v)
			}
		}
	}
	for _, r := range []string{RejectDecoder, RejectNoFix, RejectNoPosition, RejectInvalidPos, RejectAltitude, RejectAccuracy,
		RejectNoTimestamp, RejectTimestamp, RejectField, RejectNoHotspotLoc, RejectNoValidHotspot} {
		if !reasons[r] {
			t.Errorf("no fixture rejected with %s", r)
		}
	}
	for _, bad := range []string{"", "{", "[]", `{"a":1}`, `{"rxInfo":[]}`, `{"hotspots":{}}`} {
		resp, _ := http.Post(w.http.URL+"/api/v1/ingest/uplink", "application/json", strings.NewReader(bad))
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("body %q: %d, want 400", bad, resp.StatusCode)
		}
	}
}

func TestIngestRateLimit(t *testing.T) {
	clk := &clock{t: testNow}
	srv, err := NewServer(Config{Now: clk.now, IngestPerMinute: 3}, NewAggregator(nil, clk.now), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	body, _ := os.ReadFile("testdata/ingest/console_ok.json")
	post := func() int {
		resp, err := http.Post(hs.URL+"/api/v1/ingest/uplink", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 3 {
		if s := post(); s != 200 {
			t.Fatalf("uplink %d: %d", i, s)
		}
	}
	if s := post(); s != 429 {
		t.Errorf("4th uplink in a minute: %d, want 429", s)
	}
	clk.add(20 * time.Second) // one token back
	if s := post(); s != 200 {
		t.Errorf("after 20 s: %d, want 200", s)
	}
	big := bytes.Repeat([]byte(" "), maxIngestBody+1)
	resp, _ := http.Post(hs.URL+"/api/v1/ingest/uplink", "application/json", bytes.NewReader(big))
	resp.Body.Close()
	if resp.StatusCode != 413 && resp.StatusCode != 429 {
		t.Errorf("huge body: %d", resp.StatusCode)
	}
}

func TestEvents(t *testing.T) {
	w := newTestWorld(t)
	resp, err := http.Get(w.http.URL + "/api/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	rd := bufio.NewReader(resp.Body)
	if _, err := rd.ReadString('\n'); err != nil { // the greeting comment
		t.Fatal(err)
	}
	w.srv.Refresh() // publishes the initial fold
	var data string
	for !strings.HasPrefix(data, "data: ") {
		if data, err = rd.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	var ev struct {
		Version uint64
		Hexes   []string
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(data, "data: ")), &ev); err != nil || len(ev.Hexes) != len(w.cells) || ev.Version < 2 {
		t.Errorf("event %q: %v", data, err)
	}
}

func TestStaticAssets(t *testing.T) {
	w := newTestWorld(t)
	for _, p := range []string{"/", "/hex/" + CellString(w.cells[0]), "/hotspot/" + w.hs[0].Address} {
		resp, body := w.get(t, p)
		if resp.StatusCode != 200 || !strings.Contains(string(body), "<title>hexfield coverage map</title>") {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	resp, body := w.get(t, "/vendor/maplibre-gl.mjs", "Accept-Encoding", "gzip")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" ||
		!strings.Contains(resp.Header.Get("Cache-Control"), "max-age=2592000") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("maplibre: %d %v", resp.StatusCode, resp.Header)
	}
	t.Logf("maplibre-gl.mjs: %d bytes gzipped", len(body))
	resp, _ = w.get(t, "/vendor/maplibre-gl.mjs", "If-None-Match", resp.Header.Get("ETag"))
	if resp.StatusCode != 304 {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}
	if resp, _ := w.get(t, "/nope.js"); resp.StatusCode != 404 {
		t.Errorf("missing asset: %d", resp.StatusCode)
	}
}

// Every embedded file has an up-to-date gzip copy (go generate ./maps).
func TestWebGzipFresh(t *testing.T) {
	for p, a := range loadAssets() {
		if a.gz == nil {
			t.Errorf("%s has no .gz (run go generate ./maps)", p)
			continue
		}
		zr, err := gzip.NewReader(bytes.NewReader(a.gz))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(zr)
		if !bytes.Equal(raw, a.raw) {
			t.Errorf("%s.gz is stale (run go generate ./maps)", p)
		}
	}
}

package maps

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzParseUplink: no body panics the ingest parser, an accepted uplink
// always has a valid res-9 cell and valid hotspots, and decoding is
// deterministic.
func FuzzParseUplink(f *testing.F) {
	files, _ := filepath.Glob("testdata/ingest/*.json")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b, "up")
	}
	f.Add([]byte(`{"hotspots":[],"decoded":{"status":"success","payload":{}}}`), "")
	f.Fuzz(func(t *testing.T, body []byte, event string) {
		u, hs, err := parseUplink(body, event, testNow)
		if err != nil {
			return
		}
		if !validCell(u.cell, BaseRes) || cellRes(u.cell) != BaseRes || len(hs) == 0 {
			t.Fatalf("accepted %+v with %d hotspots", u, len(hs))
		}
		for _, h := range hs {
			if h.RSSI < -141 || h.RSSI > 0 || h.SNR < -40 || h.SNR > 40 || h.ID == "" || len(h.ID) > maxName {
				t.Fatalf("accepted hotspot %+v", h)
			}
		}
		u2, hs2, err := parseUplink(body, event, testNow)
		if err != nil || u2 != u || len(hs2) != len(hs) {
			t.Fatal("not deterministic")
		}
	})
}

// FuzzHandlers sends arbitrary paths and queries to every GET handler that
// parses input: none panics or answers 5xx.
func FuzzHandlers(f *testing.F) {
	w := newFuzzServer(f)
	for _, s := range []string{
		"/api/v1/coverage?bbox=-122.35,37.75,-122.2,37.9&z=12", "/api/v1/coverage?bbox=0,0,1,1&res=3&format=geojson&window=24h",
		"/tiles/all/12/655/1582.pbf", "/tiles/7d/0/0/0.pbf", "/api/v1/hex/8928308280fffff", "/api/v1/hex/8928308280fffff/links?window=30d",
		"/api/v1/search?q=37.8,-122.2", "/api/v1/search?q=brisk-amber-otter", "/api/v1/coverage/geo/37.8,-122.27",
		"/api/v1/hotspots?bbox=-180,-90,180,90", "/api/v1/hotspots/abc", "/hex/8928308280fffff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.Parse(target)
		if err != nil || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "/api/v1/events") {
			return
		}
		req := httptest.NewRequest("GET", "/", nil)
		req.URL, req.RequestURI = u, u.RequestURI()
		rec := httptest.NewRecorder()
		w.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s: %d %s", target, rec.Code, rec.Body.String())
		}
	})
}

func newFuzzServer(tb testing.TB) http.Handler {
	tb.Helper()
	now := func() time.Time { return testNow }
	agg := NewAggregator(nil, now)
	cells := testCells(tb, 50, 1)
	agg.Fold(randomObs(cells, 500, 2, testNow.Add(-40*24*time.Hour), 40*24*time.Hour))
	var hs []Hotspot
	for i := range 5 {
		hs = append(hs, Hotspot{Address: hotspotKey(i).String(), Cell: cells[i]})
	}
	srv, err := NewServer(Config{Now: now}, agg, fakeRegistry{hs}, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return srv.Handler()
}

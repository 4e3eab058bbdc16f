package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/hexfield/hexfield/hotspot"
	"github.com/hexfield/hexfield/wire"
)

// chromiumPath is Debian's Chromium (.ci/run installs it).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skip("no chromium installed (apt-get install -y chromium); the map's browser test is skipped")
	return ""
}

// startOracledBinary copies the oracled binary alone into an empty
// directory (so the page can only come from the embedded files) and runs
// it there with devnet-short intervals. Epochs are 30 s: PoCs verify
// against the registry snapshot at their epoch's start, so hotspots
// onboarded now count from the next epoch on.
func startOracledBinary(t *testing.T) (o *oracleNode, httpAddr string) {
	t.Helper()
	run := t.TempDir()
	raw, err := os.ReadFile(oracledBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(run, "oracled"), raw, 0o755); err != nil {
		t.Fatal(err)
	}
	key, _ := wire.GenerateKey()
	keyFile := filepath.Join(t.TempDir(), "oracle.key")
	if err := wire.WriteKeyFile(keyFile, key); err != nil {
		t.Fatal(err)
	}
	quic, httpAddr := freeUDPPort(t), freeTCPPort(t)
	cmd := exec.Command("./oracled", "run", "--data-dir", filepath.Join(t.TempDir(), "data"), "--key-file", keyFile,
		"--quic-listen", quic, "--http-listen", httpAddr, "--metrics-listen", "127.0.0.1:0", "--beacon-interval", "10s", "--entropy-period", "2s",
		"--entropy-lifetime", "10s", "--verify-interval", "1s", "--epoch-length", "30s", "--epoch-grace", "15s", "--log-level", "warn")
	cmd.Dir = run
	var logs strings.Builder
	var mu sync.Mutex
	cmd.Stderr = writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) })
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			mu.Lock()
			t.Logf("oracled log:\n%s", logs.String())
			mu.Unlock()
		}
	})
	waitFor(t, "oracled's HTTP API", 30*time.Second, func() bool {
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return &oracleNode{t: t, name: "oracled", key: key, quic: quic, http: httpAddr}, httpAddr
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func getJSON(t *testing.T, u string, v any) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
	}
	return resp.StatusCode
}

// browser starts headless Chromium with the spec's flags (plus extra) and
// records every request it makes.
func browser(t *testing.T, extra ...chromedp.ExecAllocatorOption) (context.Context, func() []string) {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.Flag("enable-unsafe-swiftshader", true),
		chromedp.WindowSize(1280, 800), chromedp.Flag("hide-scrollbars", true),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), append(opts, extra...)...)
	var mu sync.Mutex
	var urls []string
	ctx, cancelB := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			urls = append(urls, e.Request.URL)
			mu.Unlock()
		}
	}))
	t.Cleanup(func() { cancelB(); cancelA() })
	// The first Run starts the browser; it lives as long as ctx.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), urls...) }
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(t.ArtifactDir(), name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Error(err)
	}
	t.Logf("screenshot %s", p)
}

// pollJS waits until expr is true in the page.
func pollJS(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(90*time.Second))(ctx, t)
		return err
	})
}

// eval runs expr in the page and decodes its value.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// TestMapInBrowser: a radio/sim network of five hotspots reports to a
// real oracled binary; once PoCs are verified, headless Chromium loads the
// map from that binary and draws hexes and hotspots, a click on a hex opens
// its popup, a search by name flies to the hotspot, the 24 h window
// redraws, no request leaves 127.0.0.1, and without WebGL the page says
// so.
func TestMapInBrowser(t *testing.T) {
	chromiumPath(t)
	o, httpAddr := startOracledBinary(t)
	base := "http://" + httpAddr
	w := newWorld(t, 7)
	offsets := [][2]float64{{0, 0}, {0.008, 0}, {0, 0.012}, {0.008, 0.012}, {0.004, 0.006}}
	for i, d := range offsets {
		s := w.addSite(string(rune('a'+i)), d[0], d[1], o)
		s.startHotspot(t, hotspot.Config{}, o)
	}
	waitRegion(t, w.sites...)
	bbox := "4.85,52.33,4.95,52.42"
	var cov struct{ Cells [][]any }
	start := time.Now()
	deadline := start.Add(5 * time.Minute)
	for {
		getJSON(t, base+"/api/v1/coverage?res=9&bbox="+bbox, &cov)
		if len(cov.Cells) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			var pocs []struct {
				Reason    string
				Witnesses []struct{ Reason string }
			}
			getJSON(t, base+"/v1/pocs?limit=1000", &pocs)
			reasons := map[string]int{}
			for _, p := range pocs {
				reasons["beacon "+p.Reason]++
				for _, w := range p.Witnesses {
					reasons["witness "+w.Reason]++
				}
			}
			t.Fatalf("no verified coverage after %v: %d hexes; PoC outcomes %v", time.Since(start), len(cov.Cells), reasons)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("coverage after %v", time.Since(start).Round(time.Second))
	t.Logf("%d res-9 hexes with coverage", len(cov.Cells))

	ctx, requests := browser(t)
	s0 := w.sites[0]
	view := fmt.Sprintf("%s/?z=13.5&lat=%f&lng=%f", base, s0.lat+0.004, s0.lng+0.006)
	if err := chromedp.Do(ctx, chromedp.Navigate(view), pollJS("window.__mapReady === true && window.__map.areTilesLoaded()")); err != nil {
		t.Fatalf("load the map: %v (page errors %v)", err, eval[[]string](t, ctx, "window.__errors"))
	}
	nHex := eval[int](t, ctx, `__map.queryRenderedFeatures({layers: ['coverage']}).length`)
	nHs := eval[int](t, ctx, `__map.queryRenderedFeatures({layers: ['hotspots']}).length`)
	screenshot(t, ctx, "map")
	if nHex == 0 || nHs == 0 {
		t.Fatalf("drawn: %d hexes, %d hotspots; page errors %v", nHex, nHs, eval[[]string](t, ctx, "window.__errors"))
	}
	t.Logf("drawn: %d hexes, %d hotspots", nHex, nHs)

	// Click a hex away from the hotspots drawn on it, and read its popup.
	type point struct {
		X, Y float64
		H3   string
	}
	pt := eval[*point](t, ctx, `(() => {
		const hs = __map.queryRenderedFeatures({layers: ['hotspots']}).map(f => __map.project(f.geometry.coordinates));
		for (const f of __map.queryRenderedFeatures({layers: ['coverage']})) {
			const ring = f.geometry.coordinates[0].map(c => __map.project(c));
			const n = ring.length - 1;
			const c = ring.slice(0, n).reduce((a, p) => ({x: a.x + p.x / n, y: a.y + p.y / n}), {x: 0, y: 0});
			for (const v of ring) {
				const p = {x: c.x + 0.6 * (v.x - c.x), y: c.y + 0.6 * (v.y - c.y)};
				if (p.x < 380 || p.x > 1220 || p.y < 40 || p.y > 680) continue;
				if (hs.every(h => Math.hypot(h.x - p.x, h.y - p.y) > 15)) return {X: p.x, Y: p.y, H3: f.properties.h3};
			}
		}
		return null;
	})()`)
	if pt == nil || pt.H3 == "" {
		t.Fatal("no clickable hex")
	}
	err := chromedp.Do(ctx,
		chromedp.MouseClickXY(pt.X, pt.Y),
		pollJS(`document.querySelector('.maplibregl-popup .popup') !== null && document.querySelector('.maplibregl-popup .popup').innerText.includes('heard by')`),
	)
	if err != nil {
		t.Fatalf("click hex %s: %v (page errors %v)", pt.H3, err, eval[[]string](t, ctx, "window.__errors"))
	}
	popup := eval[string](t, ctx, `document.querySelector('.maplibregl-popup .popup').innerText`)
	screenshot(t, ctx, "hex-popup")
	if !strings.Contains(popup, "hex "+pt.H3) || !strings.Contains(popup, "dBm") {
		t.Errorf("popup %q is not hex %s's", popup, pt.H3)
	}
	heardByName := false
	for _, s := range w.sites {
		heardByName = heardByName || strings.Contains(popup, s.pub().Name())
	}
	if !heardByName {
		t.Errorf("popup %q names none of the hotspots", popup)
	}
	if loc := eval[string](t, ctx, `location.pathname`); loc != "/hex/"+pt.H3 {
		t.Errorf("deep link %q, want /hex/%s", loc, pt.H3)
	}

	// Search for a hotspot by its name, typed with spaces.
	target := w.sites[3]
	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#q"), strings.ReplaceAll(target.pub().Name(), "-", " ")),
		chromedp.Click(chromedp.CSS("#search button")),
		pollJS(`window.__lastSearch !== undefined && document.querySelector('.maplibregl-popup .hs-name') !== null`),
	)
	if err != nil {
		t.Fatalf("search: %v (page errors %v)", err, eval[[]string](t, ctx, "window.__errors"))
	}
	screenshot(t, ctx, "search")
	if found := eval[string](t, ctx, `document.querySelector('.maplibregl-popup .hs-name').innerText`); found != target.pub().Name() {
		t.Errorf("search opened %q, want %q", found, target.pub().Name())
	}

	// Switch to the 24 h window.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#windows button[data-w="24h"]`)),
		pollJS(`location.search.includes('window=24h') && __map.areTilesLoaded() && __map.queryRenderedFeatures({layers: ['coverage']}).length > 0`),
	)
	if err != nil {
		t.Fatalf("window 24h: %v", err)
	}
	n24 := eval[int](t, ctx, `__map.queryRenderedFeatures({layers: ['coverage']}).length`)
	screenshot(t, ctx, "window-24h")
	// Tiles are fetched by MapLibre's worker, which the page's network
	// events do not show; the page records every URL MapLibre fetches.
	mapURLs := eval[[]string](t, ctx, "window.__requests")
	saw24 := false
	for _, u := range mapURLs {
		saw24 = saw24 || strings.Contains(u, "/tiles/24h/")
	}
	if !saw24 {
		t.Errorf("no 24h tiles requested: %v", mapURLs)
	}
	t.Logf("24h window: %d hexes", n24)

	if errs := eval[[]string](t, ctx, "window.__errors"); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
	for _, u := range append(requests(), mapURLs...) {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "blob" && pu.Scheme != "data" && pu.Scheme != "about" && pu.Host != httpAddr) {
			t.Errorf("request left 127.0.0.1: %s", u)
		}
	}
	t.Logf("%d page and %d map requests, all to %s", len(requests()), len(mapURLs), httpAddr)

	// Without WebGL the page says so.
	ctx2, _ := browser(t, chromedp.Flag("disable-3d-apis", true))
	if err := chromedp.Do(ctx2, chromedp.Navigate(base+"/"), pollJS("window.__noWebGL === true")); err != nil {
		t.Fatalf("no-WebGL page: %v", err)
	}
	screenshot(t, ctx2, "no-webgl")
	if msg := eval[string](t, ctx2, `document.getElementById('nowebgl').innerText`); !strings.Contains(msg, "WebGL is unavailable") {
		t.Errorf("no-WebGL message %q", msg)
	}
}

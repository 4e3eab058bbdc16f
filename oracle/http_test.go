package oracle

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/verifier"
	"github.com/hexfield/hexfield/wire"
)

func TestRegistryOverHTTP(t *testing.T) {
	to := startOracle(t, t.TempDir(), Config{}, Deps{})
	ctx := context.Background()
	c := &Client{BaseURL: to.http}
	hs, owner, thief := testKey(t), testKey(t), testKey(t)
	hsPub := wire.PublicKeyOf(hs)
	now := time.Now()

	req, err := NewOnboardRequest(hs, owner, false, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("onboard needs both signatures", func(t *testing.T) {
		bad := req
		bad.OwnerSignature = wire.Sign(thief, wire.Kind_KIND_ONBOARD, req.Onboard)
		if _, err := c.Onboard(ctx, bad); !IsCode(err, "bad_signature") {
			t.Fatalf("owner signature by another key: %v", err)
		}
		bad = req
		bad.HotspotSignature = wire.Sign(thief, wire.Kind_KIND_ONBOARD, req.Onboard)
		if _, err := c.Onboard(ctx, bad); !IsCode(err, "bad_signature") {
			t.Fatalf("hotspot signature by another key: %v", err)
		}
		// A signature for another kind (domain separation) fails too.
		bad = req
		bad.OwnerSignature = wire.Sign(owner, wire.Kind_KIND_ASSERT_LOCATION, req.Onboard)
		if _, err := c.Onboard(ctx, bad); !IsCode(err, "bad_signature") {
			t.Fatalf("signature of another kind: %v", err)
		}
	})
	t.Run("stale onboard", func(t *testing.T) {
		old, _ := NewOnboardRequest(hs, owner, false, now.Add(-2*time.Hour))
		if _, err := c.Onboard(ctx, old); !IsCode(err, "stale_request") {
			t.Fatalf("err = %v", err)
		}
	})
	info, err := c.Onboard(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if info.Address != hsPub.String() || info.Name != hsPub.Name() || info.Owner != wire.PublicKeyOf(owner).String() || info.Location != nil {
		t.Fatalf("onboarded %+v", info)
	}
	t.Run("another owner cannot take it", func(t *testing.T) {
		r2, _ := NewOnboardRequest(hs, thief, false, now)
		if _, err := c.Onboard(ctx, r2); !IsCode(err, "conflict") {
			t.Fatalf("err = %v", err)
		}
	})

	cell := testCell(t, 0)
	ar, _ := NewAssertRequest(owner, hsPub, cell, 55, 12, 5, time.Now())
	info, err = c.Assert(ctx, hsPub, ar)
	if err != nil {
		t.Fatal(err)
	}
	if info.Region != "EU868" || info.Location == nil || info.Location.Cell != verifier.CellString(cell) || info.Location.GainDdBi != 55 {
		t.Fatalf("asserted %+v (location %+v)", info, info.Location)
	}
	t.Run("nonce must increase", func(t *testing.T) {
		ar, _ := NewAssertRequest(owner, hsPub, cell, 55, 12, 5, time.Now())
		if _, err := c.Assert(ctx, hsPub, ar); !IsCode(err, "stale_nonce") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("only the owner asserts", func(t *testing.T) {
		ar, _ := NewAssertRequest(thief, hsPub, cell, 55, 12, 6, time.Now())
		if _, err := c.Assert(ctx, hsPub, ar); !IsCode(err, "wrong_key") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("outside every region", func(t *testing.T) {
		ocean, err := verifier.LatLngToCell(-40, -120, 12) // South Pacific
		if err != nil {
			t.Fatal(err)
		}
		ar, _ := NewAssertRequest(owner, hsPub, ocean, 55, 12, 7, time.Now())
		_, err = c.Assert(ctx, hsPub, ar)
		var ae *APIError
		if !IsCode(err, "outside_regions") || !asAPIError(err, &ae) || ae.Status != 422 {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("not a res-12 cell", func(t *testing.T) {
		c11, _ := verifier.LatLngToCell(52.37, 4.89, 11)
		ar, _ := NewAssertRequest(owner, hsPub, c11, 55, 12, 8, time.Now())
		if _, err := c.Assert(ctx, hsPub, ar); !IsCode(err, "invalid_cell") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("forged assertion", func(t *testing.T) {
		ar, _ := NewAssertRequest(owner, hsPub, cell, 55, 12, 9, time.Now())
		ar.Envelope[len(ar.Envelope)-1] ^= 1
		if _, err := c.Assert(ctx, hsPub, ar); !IsCode(err, "bad_signature") {
			t.Fatalf("err = %v", err)
		}
	})

	st, err := c.Hotspot(ctx, hsPub)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != "inactive" || st.Region != "EU868" || st.Location.Nonce != 5 {
		t.Fatalf("status %+v", st)
	}

	t.Run("the asserted location reaches the hotspot in its signed config", func(t *testing.T) {
		env, err := to.o.hotspotConfig(hsPub)
		if err != nil {
			t.Fatal(err)
		}
		var cfg wire.Config
		if err := proto.Unmarshal(env.GetBody(), &cfg); err != nil {
			t.Fatalf("config: %v", err)
		}
		// So does the asserted location, which the hotspot (no H3 library)
		// passes to customers' LNS in the rxpk meta.
		lat, lng, _ := verifier.CellLatLng(cell)
		if cfg.H3Cell != cell || cfg.Lat != lat || cfg.Lng != lng || lat == 0 {
			t.Fatalf("config location %x %v %v, want %x %v %v", cfg.H3Cell, cfg.Lat, cfg.Lng, cell, lat, lng)
		}
	})
	if v := testutil.ToFloat64(to.o.m.registryChanges.WithLabelValues("assert", "ok")); v != 1 {
		t.Fatalf("registry_changes_total{assert,ok} = %v", v)
	}
}

func asAPIError(err error, target **APIError) bool {
	ae, ok := err.(*APIError)
	if ok {
		*target = ae
	}
	return ok
}

// TestHTTPBadInput sends malformed requests to every endpoint: each gets a
// 4xx with a JSON {code, message} body, and the server keeps serving.
func TestHTTPBadInput(t *testing.T) {
	to := startOracle(t, t.TempDir(), Config{}, Deps{})
	cases := []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/v1/hotspots/not-base58!", "", 400},
		{"GET", "/v1/hotspots/11111111111111111111111111111111", "", 404},
		{"GET", "/v1/hotspots", "", 400},
		{"GET", "/v1/hotspots?owner=xyz", "", 400},
		{"POST", "/v1/hotspots", "{", 400},
		{"POST", "/v1/hotspots", `{"onboard":"AAAA","unknown":1}`, 400},
		{"POST", "/v1/hotspots", `{"onboard":"!!!"}`, 400},
		{"POST", "/v1/hotspots", `{"onboard":"CgI="}`, 400},
		{"POST", "/v1/hotspots", `{} {}`, 400},
		{"POST", "/v1/hotspots", `{"onboard":"` + strings.Repeat("A", 100000) + `"}`, 413},
		{"POST", "/v1/hotspots/11111111111111111111111111111111/location", `{"envelope":"AAAA"}`, 400},
		{"POST", "/v1/hotspots/11111111111111111111111111111111/location", `[]`, 400},
		{"GET", "/v1/epochs/abc", "", 400},
		{"GET", "/v1/epochs/-1", "", 400},
		{"GET", "/v1/epochs/5", "", 404},
		{"GET", "/v1/epochs?limit=0", "", 400},
		{"GET", "/v1/pocs?limit=abc", "", 400},
		{"GET", "/v1/pocs?from=10&to=5", "", 400},
		{"GET", "/v1/pocs?valid=maybe", "", 400},
		{"GET", "/v1/pocs?reason=nonsense", "", 400},
		{"GET", "/v1/pocs?hotspot=zzz", "", 400},
		{"PUT", "/v1/routes/x", `{"id":"x"}`, 400},
		{"DELETE", "/v1/routes/none", "", 400}, // unsigned: no body to authorise it
		{"GET", "/v1/nothing", "", 404},
		{"GET", "/v1/reports/xyz", "", 400},
		{"GET", "/v1/reports/" + strings.Repeat("ab", 32), "", 404},
		{"PATCH", "/v1/hotspots", "", 404},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest(tc.method, to.http+tc.path, strings.NewReader(tc.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: status %d, want %d (%s)", tc.method, tc.path, resp.StatusCode, tc.status, b)
			continue
		}
		var eb errorBody
		if err := json.Unmarshal(b, &eb); err != nil || eb.Code == "" || eb.Message == "" {
			t.Errorf("%s %s: body %q is not a JSON error", tc.method, tc.path, b)
		}
	}
	if code, body := httpGet(t, to.http+"/healthz"); code != 200 || !bytes.Contains(body, []byte(`"ok"`)) {
		t.Fatalf("healthz after bad input: %d %s", code, body)
	}
	code, body := httpGet(t, to.metrics+"/metrics")
	if code != 200 || !bytes.Contains(body, []byte("hexfield_oracle_http_requests_total")) {
		t.Fatalf("metrics: %d", code)
	}
	if code, body := httpGet(t, to.http+"/v1/entropy"); code != 200 || !bytes.Contains(body, []byte(`"data"`)) {
		t.Fatalf("entropy: %d %s", code, body)
	}
}

// FuzzHTTPAPI feeds arbitrary bodies and paths to the JSON endpoints: the
// answer is never a 5xx and never a panic.
func FuzzHTTPAPI(f *testing.F) {
	dir := f.TempDir()
	o, err := New(Config{DataDir: dir}, Deps{Key: seedKey("fuzz")})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { o.store.Close() })
	h := o.Handler()
	hs, owner := seedKey("fh"), seedKey("fo")
	req, _ := NewOnboardRequest(hs, owner, false, time.Now())
	good, _ := json.Marshal(req)
	ar, _ := NewAssertRequest(owner, wire.PublicKeyOf(hs), 0x8c1969a5a1b11ff, 12, 0, 1, time.Now())
	assert, _ := json.Marshal(ar)
	f.Add(uint8(0), "", good)
	f.Add(uint8(1), wire.PublicKeyOf(hs).String(), assert)
	f.Add(uint8(2), "1", []byte(`{"id":"r","lns_addr":"a:1","max_copies":1,"dev_addrs":[{"start":"00000000","end":"ffffffff"}]}`))
	f.Add(uint8(3), "5?owner=x", []byte{})
	f.Add(uint8(4), "?hotspot=x&from=1&to=2&valid=true", []byte{})
	f.Fuzz(func(t *testing.T, which uint8, arg string, body []byte) {
		var method, path string
		switch which % 5 {
		case 0:
			method, path = "POST", "/v1/hotspots"
		case 1:
			method, path = "POST", "/v1/hotspots/"+arg+"/location"
		case 2:
			method, path = "PUT", "/v1/routes/"+arg
		case 3:
			method, path = "GET", "/v1/epochs/"+arg
		case 4:
			method, path = "GET", "/v1/pocs"+arg
		}
		r, err := http.NewRequest(method, "http://oracle"+path, bytes.NewReader(body))
		if err != nil {
			return // not a URL at all
		}
		r.RemoteAddr = "127.0.0.1:1234"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
		}
	})
}

// TestHotspotsOfPaginates lists an owner's hotspots page by page over
// HTTP: bounded pages, an opaque cursor to the end, every hotspot once, in
// key order; bad limits and cursors are 400s.
func TestHotspotsOfPaginates(t *testing.T) {
	// One owner onboards 25 hotspots at once: above the default burst.
	to := startOracle(t, t.TempDir(), Config{OwnerOnboardBurst: 100}, Deps{})
	owner := testKey(t)
	ownerPub := wire.PublicKeyOf(owner)
	want := map[string]bool{}
	for range 25 {
		hs := testKey(t)
		req, err := NewOnboardRequest(hs, owner, false, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		rec, err := to.o.onboard(req, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		want[hotspotInfo(rec).Address] = true
	}
	// Another owner's hotspot is not listed.
	onboardHotspot(t, to.o, time.Now(), 0)
	base := to.http + "/v1/hotspots?owner=" + ownerPub.String()
	var all []HotspotInfo
	cursor, pages := "", 0
	for {
		u := base + "&limit=10"
		if cursor != "" {
			u += "&cursor=" + cursor
		}
		code, b := httpGet(t, u)
		var p HotspotPage
		if code != 200 || json.Unmarshal(b, &p) != nil {
			t.Fatalf("GET %s: %d %s", u, code, b)
		}
		if len(p.Hotspots) > 10 {
			t.Fatalf("page of %d with limit 10", len(p.Hotspots))
		}
		pages++
		all = append(all, p.Hotspots...)
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	if pages != 3 || len(all) != 25 {
		t.Fatalf("%d hotspots in %d pages, want 25 in 3", len(all), pages)
	}
	for i, h := range all {
		if !want[h.Address] {
			t.Fatalf("unexpected or repeated hotspot %s", h.Address)
		}
		delete(want, h.Address)
		if i > 0 {
			a, _ := wire.ParsePublicKey(all[i-1].Address)
			b, _ := wire.ParsePublicKey(h.Address)
			if string(a[:]) >= string(b[:]) {
				t.Fatalf("hotspots out of key order at %d", i)
			}
		}
	}
	// The default page is bounded too.
	code, b := httpGet(t, base)
	var p HotspotPage
	if code != 200 || json.Unmarshal(b, &p) != nil || len(p.Hotspots) != 25 || p.NextCursor != "" {
		t.Fatalf("default page: %d %s", code, b)
	}
	for _, q := range []string{"&limit=0", "&limit=1001", "&limit=x", "&cursor=!!", "&cursor=AAAA"} {
		if code, b := httpGet(t, base+q); code != 400 {
			t.Errorf("GET ...%s: %d %s, want 400", q, code, b)
		}
	}
	// The client follows the cursors.
	got, err := (&Client{BaseURL: to.http, PageSize: 4}).HotspotsOf(context.Background(), ownerPub)
	if err != nil || len(got) != 25 {
		t.Fatalf("client: %d hotspots, %v", len(got), err)
	}
}

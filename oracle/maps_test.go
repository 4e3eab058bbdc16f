package oracle

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uber/h3-go/v4"
	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/wire"
)

// TestMapFedByVerification: two hotspots witness each other; once the
// second (valid) PoC is verified, the beaconer's res-9 hex is on the map,
// heard by the witness with its RSSI, and it is still there after the
// oracle restarts on the same Badger store.
func TestMapFedByVerification(t *testing.T) {
	var clock atomic.Int64
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock.Store(t0.Add(-2 * time.Hour).UnixMilli())
	now := func() time.Time { return time.UnixMilli(clock.Load()) }
	cfg := Config{DataDir: t.TempDir(), EpochLength: time.Hour, BeaconInterval: time.Hour}
	o, err := New(cfg, Deps{Key: seedKey("maps-oracle"), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, _ := onboardHotspot(t, o, now(), testCell(t, 0))
	b, _ := onboardHotspot(t, o, now(), testCell(t, 1))
	clock.Store(t0.UnixMilli())
	if err := o.entropy.issue(ctx, t0.Unix()); err != nil {
		t.Fatal(err)
	}
	ent, _, err := o.store.EntropyAt(t0.Unix())
	if err != nil {
		t.Fatal(err)
	}
	var e wire.Entropy
	if _, err := wire.Unseal(ent, wire.Kind_KIND_ENTROPY, &e); err != nil {
		t.Fatal(err)
	}
	eu868, err := radio.LookupRegion("EU868")
	if err != nil {
		t.Fatal(err)
	}
	var items []*ingestItem
	seal := func(h ed25519.PrivateKey, kind wire.Kind, ms int64, msg proto.Message, payload []byte) {
		raw, err := wire.Seal(h, kind, msg)
		if err != nil {
			t.Fatal(err)
		}
		pub := wire.PublicKeyOf(h)
		items = append(items, &ingestItem{id: wire.ReportID(raw), kind: kind, receivedMs: ms, signer: pub[:], payload: payload,
			envelope: raw, done: func(wire.Code, int64) {}})
	}
	beacon := func(h, w ed25519.PrivateKey, ms int64, nonce byte, rssi int32) {
		pub, wpub := wire.PublicKeyOf(h), wire.PublicKeyOf(w)
		var n [16]byte
		n[0] = nonce
		bc, err := radio.NewBeacon(eu868, [32]byte(e.GetData()), e.GetTs(), pub, n, 30)
		if err != nil {
			t.Fatal(err)
		}
		seal(h, wire.Kind_KIND_BEACON_REPORT, ms, &wire.BeaconReport{PubKey: pub[:], Entropy: ent, Nonce: n[:],
			Payload: bc.Payload[:], FrequencyHz: uint64(bc.Frequency), Datarate: bc.DataRate.String(), TxPowerDbm: int32(bc.PowerDBm)}, nil)
		seal(w, wire.Kind_KIND_WITNESS_REPORT, ms+300, &wire.WitnessReport{PubKey: wpub[:], Payload: bc.Payload[:],
			FrequencyHz: uint64(bc.Frequency), Datarate: bc.DataRate.String(), RssiDdbm: rssi, SnrDdb: -50}, bc.Payload[:])
	}
	beacon(a, b, t0.UnixMilli()+10_000, 1, -1100) // fails reciprocity: not on the map
	beacon(b, a, t0.UnixMilli()+40_000, 2, -930)  // valid
	if err := newCommitter(o.store, 1, 100, o.m).writeBatch(items, make([]commitResult, len(items))); err != nil {
		t.Fatal(err)
	}
	clock.Store(t0.UnixMilli() + 10*60_000)
	if err := o.verifyClosed(ctx); err != nil {
		t.Fatal(err)
	}
	hexOf := func(cell uint64) string {
		c, err := h3.Cell(cell).Parent(9)
		if err != nil {
			t.Fatal(err)
		}
		return c.String()
	}
	check := func(o *Oracle, when string) {
		t.Helper()
		h := o.Handler()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/hex/"+hexOf(testCell(t, 1)), nil))
		var hx struct {
			RSSI    float64 `json:"rssi"`
			N       int     `json:"n"`
			PoC     bool    `json:"poc"`
			HeardBy []struct {
				Hotspot string `json:"hotspot"`
				Name    string `json:"name"`
			} `json:"heard_by"`
		}
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &hx) != nil {
			t.Fatalf("%s: hex of the valid beacon: %d %s", when, w.Code, w.Body)
		}
		pa := wire.PublicKeyOf(a)
		if hx.RSSI != -93 || hx.N != 1 || !hx.PoC || len(hx.HeardBy) != 1 || hx.HeardBy[0].Hotspot != pa.String() || hx.HeardBy[0].Name != pa.Name() {
			t.Fatalf("%s: hex %+v, want heard once by %s at −93 dBm", when, hx, pa.Name())
		}
		w = httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/hex/"+hexOf(testCell(t, 0)), nil))
		if w.Code != 404 {
			t.Fatalf("%s: the invalid PoC's hex is on the map: %d %s", when, w.Code, w.Body)
		}
		// The page is served at the root beside /v1.
		w = httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		if w.Code != 200 || w.Header().Get("Content-Type") != "text/html; charset=utf-8" {
			t.Fatalf("%s: GET /: %d %v", when, w.Code, w.Header())
		}
	}
	check(o, "after verification")
	if err := o.store.Close(); err != nil {
		t.Fatal(err)
	}
	o2, err := New(cfg, Deps{Key: seedKey("maps-oracle"), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer o2.store.Close()
	check(o2, "after a restart")
}

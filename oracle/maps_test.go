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

	"github.com/hexfield/hexfield/maps"
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

// TestMapJournalSurvivesCrash: verified coverage is journalled with the
// PoCs. A crash after the PoCs are stored and before the map has folded
// them loses nothing from the map; a crash after the fold and flush but
// before the journal entry is dropped counts nothing twice.
func TestMapJournalSurvivesCrash(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }
	cfg := Config{DataDir: t.TempDir(), EpochLength: time.Hour, BeaconInterval: time.Hour}
	open := func() *Oracle {
		o, err := New(cfg, Deps{Key: seedKey("maps-oracle"), Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	heard := wire.PublicKeyOf(seedKey("witness")).String()
	obs := func(i int) []maps.Observation {
		return []maps.Observation{{Cell: testCell(t, i), Hotspot: heard, RSSI: -900, SNR: 50, Ms: now().UnixMilli() - 60_000, Source: maps.SourcePoC}}
	}
	count := func(o *Oracle, i int) int {
		t.Helper()
		c, err := h3.Cell(testCell(t, i)).Parent(9)
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		o.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/hex/"+c.String(), nil))
		if w.Code == 404 {
			return 0
		}
		var hx struct {
			N int `json:"n"`
		}
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &hx) != nil {
			t.Fatalf("hex %d: %d %s", i, w.Code, w.Body)
		}
		return hx.N
	}
	o := open()
	// Crash 1: the PoCs' transaction committed, the map never saw it.
	if _, err := o.store.putPoCs(nil, 0, obs(0)); err != nil {
		t.Fatal(err)
	}
	if n := count(o, 0); n != 0 {
		t.Fatalf("folded before the crash: %d", n)
	}
	o.store.Close()
	o = open()
	if n := count(o, 0); n != 1 {
		t.Fatalf("after a crash before the fold: hex heard %d times, want 1", n)
	}
	// Crash 2: folded and flushed, the journal entry not yet dropped.
	seq, err := o.store.putPoCs(nil, 0, obs(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := o.maps.FoldBatch(obs(1), seq); err != nil {
		t.Fatal(err)
	}
	o.store.Close()
	o = open()
	defer o.store.Close()
	if n0, n1 := count(o, 0), count(o, 1); n0 != 1 || n1 != 1 {
		t.Fatalf("after a crash before the journal was dropped: heard %d and %d times, want 1 and 1", n0, n1)
	}
	left := 0
	if err := o.store.mapsJournal(func(uint64, []maps.Observation) error { left++; return nil }); err != nil || left != 0 {
		t.Fatalf("journal after the restart: %d batches (%v)", left, err)
	}
}

// TestMapHotspotsCachedUntilTheRegistryChanges: the map's hotspot table is
// built once per registry change, not at every refresh.
func TestMapHotspotsCachedUntilTheRegistryChanges(t *testing.T) {
	o, err := New(Config{DataDir: t.TempDir()}, Deps{Key: seedKey("maps-oracle")})
	if err != nil {
		t.Fatal(err)
	}
	defer o.store.Close()
	reg := mapsRegistry{o}
	onboardHotspot(t, o, time.Now(), testCell(t, 0))
	first, err := reg.MapHotspots()
	if err != nil || len(first) != 1 {
		t.Fatalf("%d hotspots, %v", len(first), err)
	}
	again, err := reg.MapHotspots()
	if err != nil || &again[0] != &first[0] {
		t.Fatalf("rebuilt without a registry change (%v)", err)
	}
	onboardHotspot(t, o, time.Now(), testCell(t, 1))
	if hs, err := reg.MapHotspots(); err != nil || len(hs) != 2 {
		t.Fatalf("after an onboarding: %d hotspots, %v", len(hs), err)
	}
}

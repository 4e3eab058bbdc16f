package oracle

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"math/rand/v2"
	"net/http/httptest"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/uber/h3-go/v4"
	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/maps"
	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/verifier"
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

// mapWorld drives random registry changes through an oracle's real
// onboarding and assertion paths, and follows its map hotspots the way
// the map server does: one answer since the last version at a time.
type mapWorld struct {
	t    *testing.T
	rng  *rand.Rand
	o    *Oracle
	now  time.Time
	hs   []mapWorldHotspot
	seen map[string]maps.Hotspot // the follower's table
	ver  uint64
}

type mapWorldHotspot struct {
	key, owner ed25519.PrivateKey
	nonce      uint64
	dataOnly   bool
	cell       uint64
}

// cell is a res-12 cell near Amsterdam: in one of a few res-10 cells, or
// anywhere in a few kilometres, so that density scales interact.
func (w *mapWorld) cell() uint64 {
	d := []float64{0.0003, 0.003, 0.03}[w.rng.IntN(3)]
	c, err := verifier.LatLngToCell(52.37+w.rng.NormFloat64()*d, 4.89+w.rng.NormFloat64()*d, 12)
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

func (w *mapWorld) onboard(h *mapWorldHotspot) {
	w.t.Helper()
	req, err := NewOnboardRequest(h.key, h.owner, h.dataOnly, w.now)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.o.onboard(req, w.now); err != nil {
		w.t.Fatalf("onboard: %v", err)
	}
}

func (w *mapWorld) assert(h *mapWorldHotspot, cell uint64) {
	w.t.Helper()
	h.nonce++
	ar, err := NewAssertRequest(h.owner, wire.PublicKeyOf(h.key), cell, 30, 10, h.nonce, w.now)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.o.assertLocation(ar.Envelope, w.now); err != nil {
		w.t.Fatalf("assert: %v", err)
	}
	h.cell = cell
}

// step makes one random registry change: an onboarding (asserted or not),
// a first assertion, a move (sometimes into another hotspot's cell) or a
// switch between full and data-only.
func (w *mapWorld) step() {
	w.now = w.now.Add(2 * time.Hour) // past every rate limit
	if len(w.hs) == 0 || w.rng.IntN(4) == 0 {
		w.hs = append(w.hs, mapWorldHotspot{key: testKey(w.t), owner: testKey(w.t), dataOnly: w.rng.IntN(5) == 0})
		h := &w.hs[len(w.hs)-1]
		w.onboard(h)
		if w.rng.IntN(3) > 0 {
			w.assert(h, w.cell())
		}
		return
	}
	h := &w.hs[w.rng.IntN(len(w.hs))]
	switch w.rng.IntN(4) {
	case 0:
		h.dataOnly = !h.dataOnly
		w.onboard(h)
	case 1: // into another hotspot's cell (or a fresh one)
		c := w.hs[w.rng.IntN(len(w.hs))].cell
		if c == 0 {
			c = w.cell()
		}
		w.assert(h, c)
	default:
		w.assert(h, w.cell())
	}
}

// follow asks for the changes since the last answer and applies them;
// after the first answer, every one is incremental.
func (w *mapWorld) follow() {
	w.t.Helper()
	hs, v, full, err := mapsRegistry{w.o}.MapHotspots(w.ver)
	if err != nil {
		w.t.Fatal(err)
	}
	if full != (w.ver == 0) {
		w.t.Fatalf("since version %d: full %v", w.ver, full)
	}
	if full {
		clear(w.seen)
	}
	for _, h := range hs {
		w.seen[h.Address] = h
	}
	w.ver = v
}

// fromScratch is the map's hotspots computed directly from the store's
// records: every one, with DensityScales over the asserted full hotspots.
func fromScratch(t *testing.T, o *Oracle) map[string]maps.Hotspot {
	t.Helper()
	var recs []hotspotRecord
	err := o.store.db.View(func(txn *badger.Txn) error {
		return o.store.scanIndex(txn, []byte{prefixHotspot}, nil, nil, false, func(_, v []byte) error {
			var rec hotspotRecord
			recs = append(recs, rec)
			return decodeJSON(v, &recs[len(recs)-1])
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	cells := make([]uint64, len(recs))
	for i, r := range recs {
		if !r.DataOnly {
			cells[i] = r.Cell
		}
	}
	scales := verifier.DensityScales(o.params.Density, cells)
	out := map[string]maps.Hotspot{}
	for i, r := range recs {
		k, err := wire.PublicKeyFromBytes(r.Key)
		if err != nil {
			t.Fatal(err)
		}
		out[k.String()] = maps.Hotspot{Address: k.String(), Cell: r.Cell, RewardScale: scales[i], DataOnly: r.DataOnly}
	}
	return out
}

// TestMapHotspotsFollowTheRegistry: through random sequences of
// onboardings, assertions, moves and data-only switches, the hotspots the
// map follows incrementally (one changed record read again, the scales it
// can change recomputed) are those computed from scratch, under the
// default density table and a tight one that clips at every level; after a
// restart the list is built from the store once, the same.
func TestMapHotspotsFollowTheRegistry(t *testing.T) {
	tight := verifier.DefaultParams()
	tight.Density = []verifier.DensityLevel{
		{Res: 4, N: 1, Target: 6, Max: 9}, {Res: 5, N: 2, Target: 4, Max: 7}, {Res: 6, N: 1, Target: 3, Max: 5},
		{Res: 7, N: 2, Target: 2, Max: 4}, {Res: 8, N: 1, Target: 1, Max: 2}, {Res: 9, N: 2, Target: 1, Max: 1},
		{Res: 10, N: 1, Target: 1, Max: 1},
	}
	for name, params := range map[string]*verifier.Params{"default": nil, "tight": &tight} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			w := &mapWorld{t: t, rng: rand.New(rand.NewPCG(7, uint64(len(name)))), now: time.Now(), seen: map[string]maps.Hotspot{}}
			open := func() *Oracle {
				o, err := New(Config{DataDir: dir}, Deps{Key: seedKey("maps-oracle"), Params: params, Now: func() time.Time { return w.now }})
				if err != nil {
					t.Fatal(err)
				}
				return o
			}
			w.o = open()
			w.follow()
			rescaled := 0
			for i := range 60 {
				w.step()
				if w.rng.IntN(3) == 0 {
					w.step() // two changes in one answer
				}
				before := make(map[string]maps.Hotspot, len(w.seen))
				for a, h := range w.seen {
					before[a] = h
				}
				w.follow()
				want := fromScratch(t, w.o)
				if !reflect.DeepEqual(w.seen, want) {
					t.Fatalf("step %d: followed %v\nfrom scratch %v", i, w.seen, want)
				}
				for a, h := range w.seen {
					if b, ok := before[a]; ok && b.Cell == h.Cell && b.DataOnly == h.DataOnly && b.RewardScale != h.RewardScale {
						rescaled++
					}
				}
			}
			if rescaled == 0 {
				t.Fatal("no change moved another hotspot's scale: the test exercises nothing")
			}
			w.o.store.Close()
			w.o = open()
			defer w.o.store.Close()
			w.ver = 0
			w.follow()
			if want := fromScratch(t, w.o); !reflect.DeepEqual(w.seen, want) {
				t.Fatalf("after a restart: %v\nfrom scratch %v", w.seen, want)
			}
		})
	}
}

// TestMapHotspotsLogTrimmed: a follower whose version the index's log no
// longer covers gets every hotspot again, and one that is current gets
// nothing.
func TestMapHotspotsLogTrimmed(t *testing.T) {
	o, err := New(Config{DataDir: t.TempDir()}, Deps{Key: seedKey("maps-oracle")})
	if err != nil {
		t.Fatal(err)
	}
	defer o.store.Close()
	reg := mapsRegistry{o}
	onboardHotspot(t, o, time.Now(), testCell(t, 0))
	_, v0, _, err := reg.MapHotspots(0)
	if err != nil {
		t.Fatal(err)
	}
	if hs, v, full, err := reg.MapHotspots(v0); err != nil || len(hs) != 0 || v != v0 || full {
		t.Fatalf("without a change: %d hotspots, version %d → %d, full %v, %v", len(hs), v0, v, full, err)
	}
	onboardHotspot(t, o, time.Now(), testCell(t, 1))
	hs, v1, full, err := reg.MapHotspots(v0)
	if err != nil || len(hs) != 1 || full || v1 <= v0 {
		t.Fatalf("after an onboarding: %d hotspots, full %v, %v", len(hs), full, err)
	}
	// Force a trim: more changes than max(mapLogMin, hotspots).
	o.mapIndex.mu.Lock()
	for range mapLogMin {
		o.mapIndex.version++
		o.mapIndex.log = append(o.mapIndex.log, mapChange{o.mapIndex.version, 0})
	}
	o.mapIndex.trimLog()
	o.mapIndex.mu.Unlock()
	if hs, _, full, err := reg.MapHotspots(v0); err != nil || !full || len(hs) != 2 {
		t.Fatalf("since a forgotten version: %d hotspots, full %v, %v", len(hs), full, err)
	}
	if _, _, full, err := reg.MapHotspots(o.mapIndex.logFrom); err != nil || full {
		t.Fatalf("since the oldest version kept: full %v, %v", full, err)
	}
}

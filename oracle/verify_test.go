package oracle

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/verifier"
	"github.com/hexfield/hexfield/wire"
)

// TestVerificationLoop stores two beacons that witness each other and
// checks the loop's outcomes: the first fails reciprocity (a new network),
// the second is valid because the first built the reciprocity history;
// outcomes are queryable by hotspot and validity.
func TestVerificationLoop(t *testing.T) {
	var clock atomic.Int64
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock.Store(t0.Add(-2 * time.Hour).UnixMilli())
	now := func() time.Time { return time.UnixMilli(clock.Load()) }
	cfg := Config{DataDir: t.TempDir(), EpochLength: time.Hour, BeaconInterval: time.Hour}
	o, err := New(cfg, Deps{Key: seedKey("verify-oracle"), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer o.store.Close()
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
	seal := func(h ed25519.PrivateKey, kind wire.Kind, ms int64, msg proto.Message, payload []byte) [32]byte {
		raw, err := wire.Seal(h, kind, msg)
		if err != nil {
			t.Fatal(err)
		}
		pub := wire.PublicKeyOf(h)
		id := wire.ReportID(raw)
		items = append(items, &ingestItem{id: id, kind: kind, receivedMs: ms, signer: pub[:], payload: payload, envelope: raw,
			done: func(wire.Code, int64) {}})
		return id
	}
	beacon := func(h, w ed25519.PrivateKey, ms int64, nonce byte) [32]byte {
		pub, wpub := wire.PublicKeyOf(h), wire.PublicKeyOf(w)
		var n [16]byte
		n[0] = nonce
		bc, err := radio.NewBeacon(eu868, [32]byte(e.GetData()), e.GetTs(), pub, n, 30)
		if err != nil {
			t.Fatal(err)
		}
		id := seal(h, wire.Kind_KIND_BEACON_REPORT, ms, &wire.BeaconReport{PubKey: pub[:], Entropy: ent, Nonce: n[:],
			Payload: bc.Payload[:], FrequencyHz: uint64(bc.Frequency), Datarate: bc.DataRate.String(), TxPowerDbm: int32(bc.PowerDBm)}, nil)
		seal(w, wire.Kind_KIND_WITNESS_REPORT, ms+300, &wire.WitnessReport{PubKey: wpub[:], Payload: bc.Payload[:],
			FrequencyHz: uint64(bc.Frequency), Datarate: bc.DataRate.String(), RssiDdbm: -1100, SnrDdb: -50}, bc.Payload[:])
		return id
	}
	first := beacon(a, b, t0.UnixMilli()+10_000, 1)
	second := beacon(b, a, t0.UnixMilli()+40_000, 2)
	if err := newCommitter(o.store, 1, 100, o.m).writeBatch(items, make([]commitResult, len(items))); err != nil {
		t.Fatal(err)
	}

	// Before the witness window closes nothing is verified.
	clock.Store(t0.UnixMilli() + 60_000)
	if err := o.verifyClosed(ctx); err != nil {
		t.Fatal(err)
	}
	if recs, _ := o.store.pocs(pocFilter{toMs: 1 << 62, limit: 10}); len(recs) != 0 {
		t.Fatalf("verified %d beacons before their window closed", len(recs))
	}
	clock.Store(t0.UnixMilli() + 10*60_000)
	// One beacon per run: the backlog is worked off in two runs.
	o.verifyMax = 1
	for i, wantMore := range []bool{true, false} {
		more, err := o.verifyRun(ctx)
		if err != nil || more != wantMore {
			t.Fatalf("run %d: more %v err %v", i, more, err)
		}
		if recs, _ := o.store.pocs(pocFilter{toMs: 1 << 62, limit: 10}); len(recs) != i+1 {
			t.Fatalf("run %d: %d PoCs stored", i, len(recs))
		}
	}
	recs, err := o.store.pocs(pocFilter{toMs: 1 << 62, limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d PoCs stored, want 2", len(recs))
	}
	byID := map[string]PoCRecord{}
	for _, r := range recs {
		byID[r.Beacon] = r
	}
	p1, p2 := byID[hexID(first)], byID[hexID(second)]
	if p1.Reason != verifier.ReasonGatewayNoValidWitnesses || len(p1.Witnesses) != 1 {
		t.Fatalf("first PoC %+v, want gateway_no_valid_witnesses with one witness", p1)
	}
	if !p2.Valid || len(p2.Witnesses) != 1 || !p2.Witnesses[0].Valid || !p2.Witnesses[0].Selected || p2.Selected != 1 {
		t.Fatalf("second PoC %+v (witnesses %+v), want valid with one selected witness", p2, p2.Witnesses)
	}
	// A second run verifies nothing new (the cursor moved).
	if err := o.verifyClosed(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := o.store.pocs(pocFilter{toMs: 1 << 62, limit: 10}); len(n) != 2 {
		t.Fatalf("%d PoCs after a second run", len(n))
	}

	h := o.Handler()
	get := func(url string, v any) {
		t.Helper()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", url, nil))
		if w.Code != 200 {
			t.Fatalf("GET %s: %d %s", url, w.Code, w.Body)
		}
		if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
			t.Fatal(err)
		}
	}
	var valid []PoCRecord
	get("/v1/pocs?valid=true", &valid)
	if len(valid) != 1 || valid[0].Beacon != hexID(second) {
		t.Fatalf("valid PoCs %+v", valid)
	}
	var ofA []PoCRecord
	get("/v1/pocs?hotspot="+wire.PublicKeyOf(a).String(), &ofA)
	if len(ofA) != 2 {
		t.Fatalf("PoCs of A: %d, want 2 (beaconer of one, witness of the other)", len(ofA))
	}
	var st HotspotStatus
	get("/v1/hotspots/"+wire.PublicKeyOf(a).String(), &st)
	if st.Status != "active" || st.LastBeacon == nil || st.LastBeacon.ID != hexID(first) ||
		st.Witnesses.Valid != 1 || st.Witnesses.BeaconsVerified != 1 || st.Recent["witness_report"] != 1 {
		t.Fatalf("status of A: %+v", st)
	}
}

func hexID(id [32]byte) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 64)
	for i, c := range id {
		b[2*i], b[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(b)
}

package oracle

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/hexfield/hexfield/wire"
)

// changesOracle is an oracle with 1-minute epochs that accepts grants from
// operator.
func changesOracle(t *testing.T, operator wire.PublicKey) *Oracle {
	t.Helper()
	o, err := New(Config{DataDir: t.TempDir(), EpochLength: time.Minute, BeaconInterval: time.Minute, OperatorKeys: []string{operator.String()}}, Deps{Key: testKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.store.Close() })
	return o
}

// TestChangesTakeEffectAtSignedTime: the same signed changes, made just
// before an epoch's start, reach oracle A at once and oracle B 10 seconds
// later, on the other side of the edge. Both hold the same registry,
// routes, balances and change log at the epoch's start, and B's registry
// there has the changes although B received them after it.
func TestChangesTakeEffectAtSignedTime(t *testing.T) {
	opKey := seedKey("operator")
	a, b := changesOracle(t, wire.PublicKeyOf(opKey)), changesOracle(t, wire.PublicKeyOf(opKey))
	edge := a.params.EpochStart(29_000_000)
	signed := time.UnixMilli(edge - 50)

	hs, owner := seedKey("hotspot"), seedKey("owner")
	onb, err := NewOnboardRequest(hs, owner, false, signed)
	if err != nil {
		t.Fatal(err)
	}
	as, err := NewAssertRequest(owner, wire.PublicKeyOf(hs), testCell(t, 1), 30, 5, 1, signed.Add(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	grant, err := NewGrantRequest(opKey, wire.PublicKeyOf(owner), 5000, []byte("changes-test-grant-1"), signed)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		o  *Oracle
		at time.Time
	}{{a, signed.Add(5 * time.Millisecond)}, {b, signed.Add(10 * time.Second)}} {
		if _, err := tc.o.applyGrant(grant.Envelope, tc.at); err != nil {
			t.Fatal(err)
		}
		if _, err := tc.o.onboard(onb, tc.at); err != nil {
			t.Fatal(err)
		}
		if _, err := tc.o.assertLocation(as.Envelope, tc.at); err != nil {
			t.Fatal(err)
		}
	}
	var snaps [2][]hotspotRecord
	var digests [2]changesDigest
	for i, o := range []*Oracle{a, b} {
		if snaps[i], err = o.store.registryAt(edge); err != nil {
			t.Fatal(err)
		}
		if digests[i], err = o.changesDigestAt(edge); err != nil {
			t.Fatal(err)
		}
	}
	if len(snaps[0]) != 1 || snaps[0][0].Cell != testCell(t, 1) {
		t.Fatalf("registry at the edge: %+v", snaps[0])
	}
	if !reflect.DeepEqual(snaps[0], snaps[1]) {
		t.Fatalf("registries at the edge differ:\n%+v\n%+v", snaps[0], snaps[1])
	}
	if digests[0] != digests[1] || digests[0].count != 3 {
		t.Fatalf("change logs at the edge: %+v and %+v, want 3 changes each", digests[0], digests[1])
	}
	ownerPub := wire.PublicKeyOf(owner)
	for _, o := range []*Oracle{a, b} {
		var bal uint64
		if err := o.store.db.View(func(txn *badger.Txn) error {
			var err error
			bal, err = balanceAt(txn, ownerPub[:], edge)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if want := 5000 - a.cfg.OnboardFeeDC - a.cfg.AssertFeeDC; bal != want {
			t.Fatalf("balance at the edge %d, want %d", bal, want)
		}
	}
}

// TestChangeChecks: what a live change and a replayed one must satisfy.
func TestChangeChecks(t *testing.T) {
	opKey := seedKey("operator")
	o := changesOracle(t, wire.PublicKeyOf(opKey))
	now := time.UnixMilli(o.params.EpochStart(29_000_000) + 30_000)
	hs, owner := seedKey("hotspot"), seedKey("owner")

	// Live: at most a quarter epoch (15 s here) from the clock.
	old, _ := NewOnboardRequest(hs, owner, false, now.Add(-16*time.Second))
	if _, err := o.onboard(old, now); !IsCode(err, "stale_request") {
		t.Fatalf("onboarding signed 16 s ago: %v", err)
	}
	future, _ := NewOnboardRequest(hs, owner, false, now.Add(16*time.Second))
	if _, err := o.onboard(future, now); !IsCode(err, "stale_request") {
		t.Fatalf("onboarding signed 16 s ahead: %v", err)
	}
	// A change without a timestamp (an assertion signed before they had
	// one) takes effect at no time.
	undated, _ := NewAssertRequest(owner, wire.PublicKeyOf(hs), testCell(t, 2), 30, 5, 1, time.UnixMilli(0))
	if _, err := o.assertLocationAt(undated.Envelope, now, true); !IsCode(err, "bad_request") {
		t.Fatalf("undated assertion: %v", err)
	}
	// Replayed from a peer the age does not matter; the signatures do.
	if _, err := o.onboardAt(old, now, true); err != nil {
		t.Fatalf("replayed onboarding: %v", err)
	}
	// A change dated before the hotspot's last one is refused.
	early, _ := NewAssertRequest(owner, wire.PublicKeyOf(hs), testCell(t, 2), 30, 5, 1, now.Add(-20*time.Second))
	if _, err := o.assertLocationAt(early.Envelope, now, true); !IsCode(err, "stale_request") {
		t.Fatalf("assertion dated before the onboarding: %v", err)
	}
	// Nothing takes effect before the last settled epoch's start.
	if err := o.store.setMetaU64(metaLastSettled, 29_000_000); err != nil {
		t.Fatal(err)
	}
	grant, _ := NewGrantRequest(opKey, wire.PublicKeyOf(owner), 10, []byte("changes-test-grant-2"), time.UnixMilli(o.params.EpochStart(29_000_000)-1))
	if _, err := o.applyGrantAt(grant.Envelope, now, true); !IsCode(err, "stale_request") {
		t.Fatalf("grant dated in a settled epoch: %v", err)
	}

	// What a peer serves is checked against the request itself.
	ok, _ := NewGrantRequest(opKey, wire.PublicKeyOf(owner), 10, []byte("changes-test-grant-3"), now)
	e, _, err := changeEntryOf(wire.Kind_KIND_DC_GRANT, ok.Envelope)
	if err != nil || e.ID != sha256.Sum256(ok.Envelope) || e.Ms != now.UnixMilli() {
		t.Fatalf("entry %+v, %v", e, err)
	}
	if _, err := checkServed(&wire.StampedReport{Envelope: ok.Envelope, Ms: e.Ms - 1, Kind: wire.Kind_KIND_DC_GRANT}); err == nil {
		t.Fatal("a change listed at another time than it was signed was accepted")
	}
	if _, err := checkServed(&wire.StampedReport{Envelope: ok.Envelope, Ms: e.Ms, Kind: wire.Kind_KIND_ORG_CHANGE}); err == nil {
		t.Fatal("a grant served as an organization change was accepted")
	}
	forged := append([]byte(nil), ok.Envelope...)
	forged[len(forged)-1] ^= 1
	if err := o.applyChange(wire.Kind_KIND_DC_GRANT, forged); !IsCode(err, "bad_signature") {
		t.Fatalf("forged grant: %v", err)
	}
	onb, _ := json.Marshal(old)
	if _, _, err := changeEntryOf(wire.Kind_KIND_ONBOARD, append([]byte(" "), onb...)); err == nil {
		t.Fatal("an onboarding request not in its logged encoding was accepted")
	}
}

// FuzzChangeEntry: any bytes served as a registry change of any kind get
// an entry or an error, never a panic, and an entry names the bytes.
func FuzzChangeEntry(f *testing.F) {
	hs, owner := seedKey("hotspot"), seedKey("owner")
	now := time.UnixMilli(1_800_000_000_000)
	onb, _ := NewOnboardRequest(hs, owner, false, now)
	as, _ := NewAssertRequest(owner, wire.PublicKeyOf(hs), 0x8c1969a5a1b11ff, 30, 5, 1, now)
	g, _ := NewGrantRequest(owner, wire.PublicKeyOf(owner), 1, []byte("fuzz-grant-request-id"), now)
	f.Add(uint8(wire.Kind_KIND_ONBOARD), encodeJSON(onb))
	f.Add(uint8(wire.Kind_KIND_ASSERT_LOCATION), as.Envelope)
	f.Add(uint8(wire.Kind_KIND_DC_GRANT), g.Envelope)
	f.Add(uint8(wire.Kind_KIND_ORG_CHANGE), g.Envelope)
	f.Fuzz(func(t *testing.T, kind uint8, raw []byte) {
		e, _, err := changeEntryOf(wire.Kind(kind), raw)
		if err == nil && (e.ID != sha256.Sum256(raw) || e.Kind != wire.Kind(kind) || e.Ms < 0) {
			t.Fatalf("entry %+v for %d bytes of kind %d", e, len(raw), kind)
		}
	})
}

// TestChargingSnapshotAtEpochStart: an epoch charges routes as their
// organization's last change before the epoch's start left them: a route
// added, changed or deleted, or a payer set, after the start is not seen,
// however soon the epoch is computed.
func TestChargingSnapshotAtEpochStart(t *testing.T) {
	now := time.UnixMilli(29_000_000 * 60_000).Add(-5 * time.Second)
	o := newRegistryOracle(t, Config{EpochLength: time.Minute, BeaconInterval: time.Minute}, &now)
	edge := o.params.EpochStart(29_000_000)
	owner, other := seedKey("org-owner"), seedKey("other-payer")
	org := putTestRoute(t, o, "acme", "r1", owner, 1000)
	creditTest(t, o, wire.PublicKeyOf(other), 500)
	b := org.DevAddrBlocks[0]
	now = time.UnixMilli(edge + 2000)
	changed := putRouteOp("r1", uint32(b.Start), uint32(b.Start)+3)
	changed.PutRoute.MaxCopies = 9
	for _, ch := range []*wire.OrgChange{
		{Org: "acme", Op: changed},
		{Org: "acme", Op: putRouteOp("r2", uint32(b.Start), uint32(b.End))},
		{Org: "acme", Op: &wire.OrgChange_SetPayer{SetPayer: wire.PublicKeyOf(other).Bytes()}},
	} {
		if _, err := change(t, o, owner, ch); err != nil {
			t.Fatal(err)
		}
	}
	routes, balances, err := o.store.chargingSnapshot(edge)
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 1 || routes[0].ID != "r1" || routes[0].MaxCopies != 1 || routes[0].Payer != wire.PublicKeyOf(owner) ||
		len(routes[0].DevAddrs) != 1 || routes[0].DevAddrs[0].End != uint32(b.End) {
		t.Fatalf("routes at the epoch's start: %+v", routes)
	}
	if len(balances) != 1 || balances[0].Wallet != wire.PublicKeyOf(owner) || balances[0].DC != 1000 {
		t.Fatalf("balances at the epoch's start: %+v", balances)
	}
	later, _, err := o.store.chargingSnapshot(edge + 60_000)
	if err != nil {
		t.Fatal(err)
	}
	if len(later) != 2 || later[0].MaxCopies != 9 || later[0].Payer != wire.PublicKeyOf(other) {
		t.Fatalf("routes at the next epoch's start: %+v", later)
	}
}

// TestPeersNeedNamedDevAddrBlocks: with peers, an organization's DevAddr
// blocks must be named, since the first free block depends on the order in
// which an oracle applied other changes.
func TestPeersNeedNamedDevAddrBlocks(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	peer := wire.PublicKeyOf(seedKey("peer-oracle"))
	o := newRegistryOracle(t, Config{Peers: []string{peer.String() + "@127.0.0.1:4434"}}, &now)
	owner := seedKey("org-owner")
	if _, err := change(t, o, owner, &wire.OrgChange{Org: "acme", Op: createOp(owner, wire.PublicKeyOf(owner), nil)}); !IsCode(err, "start_required") {
		t.Fatalf("allocation without a start: %v", err)
	}
	start := uint32(0x02000040)
	res, err := change(t, o, owner, &wire.OrgChange{Org: "acme", Op: createOp(owner, wire.PublicKeyOf(owner), &start)})
	if err != nil || uint32(res.Org.DevAddrBlocks[0].Start) != start {
		t.Fatalf("named allocation: %+v, %v", res.Org.DevAddrBlocks, err)
	}
}

// TestMigrateChangeLog: a version-2 store (no change log, no organization
// versions) is upgraded: the change log is filled from the registry and
// organization audit logs, dated by the requests' signed timestamps, and
// each organization gets a version, so that an epoch after its last change
// charges its routes.
func TestMigrateChangeLog(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	dir := t.TempDir()
	o, err := New(Config{DataDir: dir}, Deps{Key: testKey(t), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	onboardHotspot(t, o, now, 0)
	putTestRoute(t, o, "acme", "r1", seedKey("org-owner"), 100)
	want, err := o.store.changesBefore(math.MaxInt64)
	if err != nil || len(want) != 3 { // the onboarding, the organization's creation and its route
		t.Fatalf("change log: %+v, %v", want, err)
	}
	// Back to version 2: without 0x34 and 0x45.
	err = o.store.db.Update(func(txn *badger.Txn) error {
		for _, p := range []byte{prefixChange, prefixOrgVer} {
			if err := deletePrefix(txn, p); err != nil {
				return err
			}
		}
		return txn.Set(metaKey(metaSchema), binary.BigEndian.AppendUint32(nil, 2))
	})
	if err != nil {
		t.Fatal(err)
	}
	o.store.Close()
	st, err := OpenStore(dir, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.changesBefore(math.MaxInt64)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("change log after the upgrade:\n%+v\nwant\n%+v (%v)", got, want, err)
	}
	routes, _, err := st.chargingSnapshot(now.UnixMilli() + 1)
	if err != nil || len(routes) != 1 || routes[0].ID != "r1" {
		t.Fatalf("charging snapshot after the upgrade: %+v, %v", routes, err)
	}
}

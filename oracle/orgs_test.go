package oracle

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/wire"
)

// creditTest credits wallet directly in the store, as a grant or a
// purchase would.
func creditTest(t testing.TB, o *Oracle, wallet wire.PublicKey, dc uint64) {
	t.Helper()
	err := o.store.registryUpdate(func(txn *badger.Txn) error {
		_, err := creditDC(txn, wallet[:], dc, 1, dcGrant, "test") // dated long before any test epoch: in every balance snapshot
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

var testNonce atomic.Uint64

// change signs and applies ch as key at o's clock.
func change(t testing.TB, o *Oracle, key ed25519.PrivateKey, ch *wire.OrgChange) (OrgChangeResult, error) {
	t.Helper()
	if ch.Nonce == 0 {
		ch.Nonce = testNonce.Add(1)
	}
	req, err := NewOrgChange(key, ch, o.now())
	if err != nil {
		t.Fatal(err)
	}
	return o.applyOrgChange(req.Envelope, o.now())
}

func createOp(owner ed25519.PrivateKey, payer wire.PublicKey, start *uint32) *wire.OrgChange_Create {
	ow := wire.PublicKeyOf(owner)
	c := &wire.OrgCreate{Owner: ow[:], Payer: payer[:]}
	if start != nil {
		c.Devaddr = &wire.DevAddrBlocks{Start: start}
	}
	return &wire.OrgChange_Create{Create: c}
}

func putRouteOp(id string, lo, hi uint32) *wire.OrgChange_PutRoute {
	return &wire.OrgChange_PutRoute{PutRoute: &wire.RouteSpec{
		Id: id, Active: true, MaxCopies: 1,
		Lns:           []*wire.LNSEndpoint{{Region: "default", Addr: "127.0.0.1:1700"}},
		DevaddrRanges: []*wire.DevAddrRange{{Start: lo, End: hi}},
	}}
}

// putTestRoute creates organization org (owned and paid by payer, given
// dc data credits) with route id over its first DevAddr block.
func putTestRoute(t testing.TB, o *Oracle, org, id string, payer ed25519.PrivateKey, dc uint64) Organization {
	t.Helper()
	res, err := change(t, o, payer, &wire.OrgChange{Org: org, Op: createOp(payer, wire.PublicKeyOf(payer), nil)})
	if err != nil {
		t.Fatalf("create %s: %v", org, err)
	}
	b := res.Org.DevAddrBlocks[0]
	if _, err := change(t, o, payer, &wire.OrgChange{Org: org, Op: putRouteOp(id, uint32(b.Start), uint32(b.End))}); err != nil {
		t.Fatalf("route %s: %v", id, err)
	}
	creditTest(t, o, wire.PublicKeyOf(payer), dc)
	return res.Org
}

// newRegistryOracle is an oracle without sockets whose clock the test
// sets.
func newRegistryOracle(t testing.TB, cfg Config, now *time.Time) *Oracle {
	t.Helper()
	cfg.DataDir = t.TempDir()
	o, err := New(cfg, Deps{Key: testKey(t), Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.store.Close() })
	return o
}

func TestNetIDPrefix(t *testing.T) {
	for _, tc := range []struct {
		netID, want string
	}{
		{"000001", "02000000/7"}, // routing.md §2: the devnet's
		{"000000", "00000000/7"},
		{"000013", "26000000/7"}, // The Things Network
		{"200005", "85000000/8"},
		{"600000", "e0000000/15"},
		{"c00053", "fc014c00/22"},
		{"e00001", "fe000080/25"},
	} { // checked against brocaar/lorawan's DevAddr.SetAddrPrefix
		_, p, err := parseNetID(tc.netID)
		if err != nil || p.String() != tc.want {
			t.Errorf("NetID %s: prefix %s, %v; want %s", tc.netID, p, err, tc.want)
		}
	}
	for _, bad := range []string{"", "1", "zzzzzz", "0000001"} {
		if _, _, err := parseNetID(bad); err == nil {
			t.Errorf("NetID %q accepted", bad)
		}
	}
}

func TestOrganizations(t *testing.T) {
	now := time.Now()
	o := newRegistryOracle(t, Config{}, &now)
	owner, delegate, stranger, payer := testKey(t), testKey(t), testKey(t), testKey(t)
	payerPub := wire.PublicKeyOf(payer)

	res, err := change(t, o, owner, &wire.OrgChange{Org: "acme", Op: createOp(owner, payerPub, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Org.DevAddrBlocks; len(got) != 1 || got[0] != (DevAddrRange{0x02000000, 0x02000007}) {
		t.Fatalf("first org's blocks %v", got)
	}
	if !res.Org.Locked || res.Org.PayerDC != 0 || res.Org.Payer != payerPub {
		t.Fatalf("a new organization whose payer has no DC: %+v", res.Org)
	}
	second, err := change(t, o, stranger, &wire.OrgChange{Org: "other", Op: createOp(stranger, wire.PublicKeyOf(stranger), nil)})
	if err != nil || second.Org.DevAddrBlocks[0] != (DevAddrRange{0x02000008, 0x0200000f}) {
		t.Fatalf("second org: %+v, %v", second.Org, err)
	}

	refuse := func(name, code string, key ed25519.PrivateKey, ch *wire.OrgChange) {
		t.Helper()
		if _, err := change(t, o, key, ch); !IsCode(err, code) {
			t.Errorf("%s: err = %v, want %s", name, err, code)
		}
	}
	at := func(a uint32) *uint32 { return &a }
	// DevAddr blocks never overlap, stay inside the prefix and are aligned.
	refuse("overlapping block", "devaddr_taken", owner, &wire.OrgChange{Org: "x1", Op: createOp(owner, payerPub, at(0x02000008))})
	refuse("unaligned block", "bad_request", owner, &wire.OrgChange{Org: "x2", Op: createOp(owner, payerPub, at(0x02000014))})
	refuse("outside the prefix", "outside_prefix", owner, &wire.OrgChange{Org: "x3", Op: createOp(owner, payerPub, at(0x26000000))})
	refuse("last block overflows the prefix", "outside_prefix", owner, &wire.OrgChange{Org: "x4",
		Op: &wire.OrgChange_Create{Create: &wire.OrgCreate{Owner: pubBytes(owner), Devaddr: &wire.DevAddrBlocks{Start: at(0x03fffff8), Count: 2}}}})
	// Creation is signed by the owner it names.
	refuse("create for another owner", "wrong_key", stranger, &wire.OrgChange{Org: "x5", Op: createOp(owner, payerPub, nil)})
	refuse("create an existing org", "conflict", owner, &wire.OrgChange{Org: "acme", Op: createOp(owner, payerPub, nil)})

	// Delegates are the owner's to manage; routes are the owner's and the delegates'.
	refuse("stranger adds a delegate", "wrong_key", stranger, &wire.OrgChange{Org: "acme", Op: &wire.OrgChange_AddDelegate{AddDelegate: pubBytes(stranger)}})
	if _, err := change(t, o, owner, &wire.OrgChange{Org: "acme", Op: &wire.OrgChange_AddDelegate{AddDelegate: pubBytes(delegate)}}); err != nil {
		t.Fatal(err)
	}
	refuse("delegate adds a delegate", "wrong_key", delegate, &wire.OrgChange{Org: "acme", Op: &wire.OrgChange_AddDelegate{AddDelegate: pubBytes(stranger)}})
	refuse("delegate changes the payer", "wrong_key", delegate, &wire.OrgChange{Org: "acme", Op: &wire.OrgChange_SetPayer{SetPayer: pubBytes(delegate)}})
	refuse("stranger puts a route", "wrong_key", stranger, &wire.OrgChange{Org: "acme", Op: putRouteOp("r1", 0x02000000, 0x02000007)})
	refuse("route outside the org's blocks", "devaddr_not_owned", delegate, &wire.OrgChange{Org: "acme", Op: putRouteOp("r1", 0x02000000, 0x02000008)})
	rr, err := change(t, o, delegate, &wire.OrgChange{Org: "acme", Op: putRouteOp("r1", 0x02000000, 0x02000007)})
	if err != nil || rr.Route == nil || rr.Route.Org != "acme" || !rr.Route.Active {
		t.Fatalf("delegate's route: %+v, %v", rr, err)
	}
	refuse("another org takes the route id", "conflict", stranger, &wire.OrgChange{Org: "other", Op: putRouteOp("r1", 0x02000008, 0x0200000f)})
	refuse("another org deletes the route", "not_found", stranger, &wire.OrgChange{Org: "other", Op: &wire.OrgChange_DeleteRoute{DeleteRoute: "r1"}})

	// Nonces strictly increase per organization; timestamps are within registrySkew.
	ch := &wire.OrgChange{Org: "acme", Nonce: testNonce.Add(1), Op: &wire.OrgChange_AddDelegate{AddDelegate: pubBytes(delegate)}}
	req, _ := NewOrgChange(owner, ch, now)
	if _, err := o.applyOrgChange(req.Envelope, now); err != nil {
		t.Fatal(err)
	}
	if _, err := o.applyOrgChange(req.Envelope, now); !IsCode(err, "stale_nonce") {
		t.Errorf("replayed change: %v", err)
	}
	refuse("nonce below the last", "stale_nonce", owner, &wire.OrgChange{Org: "acme", Nonce: 1, Op: &wire.OrgChange_AddDelegate{AddDelegate: pubBytes(delegate)}})
	old, _ := NewOrgChange(owner, &wire.OrgChange{Org: "acme", Nonce: testNonce.Add(1), Op: &wire.OrgChange_RemoveDelegate{RemoveDelegate: pubBytes(delegate)}}, now.Add(-11*time.Minute))
	if _, err := o.applyOrgChange(old.Envelope, now); !IsCode(err, "stale_request") {
		t.Errorf("11-minute-old change: %v", err)
	}
	forged, _ := NewOrgChange(owner, &wire.OrgChange{Org: "acme", Nonce: testNonce.Add(1), Op: &wire.OrgChange_SetPayer{SetPayer: pubBytes(stranger)}}, now)
	forged.Envelope[len(forged.Envelope)-1] ^= 1
	if _, err := o.applyOrgChange(forged.Envelope, now); !IsCode(err, "bad_signature") {
		t.Errorf("forged change: %v", err)
	}
	otherKind := wire.SealBytes(owner, wire.Kind_KIND_ASSERT_LOCATION, mustBody(t, req.Envelope))
	if _, err := o.applyOrgChange(otherKind, now); !IsCode(err, "malformed") {
		t.Errorf("a change signed as another kind: %v", err)
	}

	// Locked follows the payer's balance; hotspots get the route only while unlocked.
	routeActive := func() bool {
		tab, ok, _, err := o.store.buildRouteTable("EU868", 0, true)
		if err != nil || !ok || len(tab.Routes) != 1 {
			t.Fatalf("route table %v %v", tab, err)
		}
		return tab.Routes[0].Active
	}
	if routeActive() {
		t.Error("a locked organization's route is active for hotspots")
	}
	creditTest(t, o, payerPub, 1)
	if org, _, _ := o.store.Org("acme"); org.Locked || org.PayerDC != 1 || !routeActive() {
		t.Errorf("funded organization %+v (route active %v)", org, routeActive())
	}
	err = o.store.putEpochCharged(epochRecord{Epoch: 1, RouteDC: map[string]uint64{"r1": 5}}, []byte("m"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if org, _, _ := o.store.Org("acme"); !org.Locked || org.PayerDC != 0 || routeActive() {
		t.Errorf("charged beyond its balance: %+v", org)
	}
	if rec, _, _ := o.store.epochRecord(1); rec.RouteDC["r1"] != 1 {
		t.Errorf("epoch records a charge of %v, want the 1 DC the payer had", rec.RouteDC)
	}

	// Deleting frees the id; ranges of a deleted route are not reused by others.
	if _, err := change(t, o, owner, &wire.OrgChange{Org: "acme", Op: &wire.OrgChange_DeleteRoute{DeleteRoute: "r1"}}); err != nil {
		t.Fatal(err)
	}
	if rs, _ := o.store.routes(); len(rs) != 0 {
		t.Errorf("routes after delete: %v", rs)
	}
	more, err := change(t, o, owner, &wire.OrgChange{Org: "acme", Op: &wire.OrgChange_AddDevaddrBlocks{AddDevaddrBlocks: &wire.DevAddrBlocks{Count: 2}}})
	if err != nil || more.Org.DevAddrBlocks[1] != (DevAddrRange{0x02000010, 0x0200001f}) {
		t.Fatalf("two more blocks: %+v, %v", more.Org.DevAddrBlocks, err)
	}
	refuse("more than max_devaddr_blocks", "limit", owner, &wire.OrgChange{Org: "acme", Op: &wire.OrgChange_AddDevaddrBlocks{AddDevaddrBlocks: &wire.DevAddrBlocks{Count: 62}}})
}

func pubBytes(k ed25519.PrivateKey) []byte {
	p := wire.PublicKeyOf(k)
	return p[:]
}

func mustBody(t testing.TB, raw []byte) []byte {
	t.Helper()
	env, err := wire.Open(raw, wire.Kind_KIND_UNSPECIFIED)
	if err != nil {
		t.Fatal(err)
	}
	return env.Body
}

// TestOrgsOverHTTP drives the signed API through the client, and checks
// that the old unsigned admin requests (issue 9: any local process
// credited 2^64−1 DC and deleted routes) are gone.
func TestOrgsOverHTTP(t *testing.T) {
	opKey := testKey(t)
	to := startOracle(t, t.TempDir(), Config{OperatorKeys: []string{wire.PublicKeyOf(opKey).String()}}, Deps{})
	ctx := context.Background()
	c := &Client{BaseURL: to.http}
	owner := testKey(t)
	ownerPub := wire.PublicKeyOf(owner)
	now := time.Now()

	free, err := c.FreeDevAddr(ctx, 1)
	if err != nil || free.Start != 0x02000000 || free.Prefix != "02000000/7" || free.NetID != "000001" {
		t.Fatalf("free DevAddr %+v, %v", free, err)
	}
	start := uint32(free.Start)
	req, _ := NewOrgChange(owner, &wire.OrgChange{Org: "acme", Nonce: 1, Op: createOp(owner, ownerPub, &start)}, now)
	if _, err := c.OrgChange(ctx, req); err != nil {
		t.Fatal(err)
	}
	spec := putRouteOp("r1", 0x02000000, 0x02000003)
	spec.PutRoute.SessionKeyFilters = []*wire.SessionKeyFilter{{DevAddr: 0x02000001, NwkSKey: []byte("0123456789abcdef")}}
	req, _ = NewOrgChange(owner, &wire.OrgChange{Org: "acme", Nonce: 2, Op: spec}, now)
	res, err := c.OrgChange(ctx, req)
	if err != nil || res.Route.SessionKeyFilters[0].NwkSKey != "" {
		t.Fatalf("put route: %+v, %v", res.Route, err)
	}
	got, err := c.Route(ctx, "r1")
	if err != nil || len(got.SessionKeyFilters) != 1 || got.SessionKeyFilters[0].DevAddr != 0x02000001 || got.SessionKeyFilters[0].NwkSKey != "" || !got.Locked {
		t.Fatalf("public route %+v, %v", got, err)
	}
	stored, _ := to.o.store.routes()
	if stored[0].SessionKeyFilters[0].NwkSKey != "30313233343536373839616263646566" {
		t.Fatalf("stored filter %+v", stored[0].SessionKeyFilters)
	}

	// The path must agree with the signed change.
	req, _ = NewOrgChange(owner, &wire.OrgChange{Org: "acme", Nonce: 3, Op: putRouteOp("r2", 0x02000004, 0x02000007)}, now)
	body, _ := json.Marshal(req)
	hreq, _ := http.NewRequest(http.MethodPut, to.http+"/v1/routes/r1", strings.NewReader(string(body)))
	if resp, err := http.DefaultClient.Do(hreq); err != nil || resp.StatusCode != 400 {
		t.Fatalf("change for r2 sent to r1: %v %v", resp, err)
	}

	// What an unauthenticated local process used to do: refused.
	for _, r := range []struct{ method, path, body string }{
		{http.MethodPut, "/v1/routes/r1", `{"id":"r1","lns":{"default":"127.0.0.1:1"},"devaddr_ranges":[{"start":"00000000","end":"ffffffff"}]}`},
		{http.MethodDelete, "/v1/routes/r1", ``},
		{http.MethodPost, "/v1/dc/grants", `{"wallet":"` + ownerPub.String() + `","amount":18446744073709551615}`},
	} {
		hreq, _ := http.NewRequest(r.method, to.http+r.path, strings.NewReader(r.body))
		hreq.Host = "evil.example:8090"
		resp, err := http.DefaultClient.Do(hreq)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("unsigned %s %s: status %d", r.method, r.path, resp.StatusCode)
		}
	}
	if rs, _ := c.Routes(ctx); len(rs) != 1 {
		t.Fatalf("routes after the unsigned attempts: %+v", rs)
	}

	// An operator grant unlocks the organization, once per request id.
	g, _ := NewGrantRequest(opKey, ownerPub, 500, []byte("grant-0000000001"), now)
	gr, err := c.Grant(ctx, g)
	if err != nil || !gr.Applied || gr.Wallet.Balance != 500 {
		t.Fatalf("grant: %+v, %v", gr, err)
	}
	if gr, err = c.Grant(ctx, g); err != nil || gr.Applied || gr.Wallet.Balance != 500 {
		t.Fatalf("replayed grant: %+v, %v", gr, err)
	}
	org, err := c.Org(ctx, "acme")
	if err != nil || org.Locked || org.PayerDC != 500 || !slices.Equal(org.Routes, []string{"r1"}) {
		t.Fatalf("org %+v, %v", org, err)
	}
	orgs, err := c.OrgsOf(ctx, ownerPub)
	if err != nil || len(orgs) != 1 || orgs[0].ID != "acme" {
		t.Fatalf("orgs of owner %+v, %v", orgs, err)
	}
	bal, err := c.DCBalance(ctx, ownerPub, 10)
	if err != nil || bal.Balance != 500 || len(bal.Entries) != 1 || bal.Entries[0].Kind != "grant" || bal.Entries[0].Credit != 500 {
		t.Fatalf("balance %+v, %v", bal, err)
	}
	req, _ = NewOrgChange(owner, &wire.OrgChange{Org: "acme", Nonce: 4, Op: &wire.OrgChange_DeleteRoute{DeleteRoute: "r1"}}, now)
	if res, err := c.OrgChange(ctx, req); err != nil || res.Deleted != "r1" {
		t.Fatalf("delete: %+v, %v", res, err)
	}
}

// FuzzOrgChange feeds arbitrary bodies to every signed-change endpoint
// (organizations, routes, grants, onboarding with a maker approval):
// no panic, no 500, and nothing but a validly signed change changes state.
func FuzzOrgChange(f *testing.F) {
	opKey := seedKey("operator")
	now := time.Now()
	owner := seedKey("owner")
	for _, ch := range []*wire.OrgChange{
		{Org: "acme", Nonce: 1, Op: createOp(owner, wire.PublicKeyOf(owner), nil)},
		{Org: "acme", Nonce: 2, Op: putRouteOp("r1", 0x02000000, 0x02000007)},
		{Org: "acme", Nonce: 3, Op: &wire.OrgChange_DeleteRoute{DeleteRoute: "r1"}},
		{Org: "acme", Nonce: 4, Op: &wire.OrgChange_AddDevaddrBlocks{AddDevaddrBlocks: &wire.DevAddrBlocks{Count: 3}}},
	} {
		req, _ := NewOrgChange(owner, ch, now)
		b, _ := json.Marshal(req)
		f.Add(b)
	}
	g, _ := NewGrantRequest(opKey, wire.PublicKeyOf(owner), 10, []byte("0123456789abcdef"), now)
	b, _ := json.Marshal(g)
	f.Add(b)
	hs := seedKey("hotspot")
	ob, _ := NewOnboardRequest(hs, owner, false, now)
	ob.MakerApproval, _ = NewMakerApproval(seedKey("maker"), wire.PublicKeyOf(hs))
	b, _ = json.Marshal(ob)
	f.Add(b)
	f.Add([]byte(`{"envelope":"AAAA"}`))
	f.Add([]byte(`{}`))
	o := newRegistryOracle(f, Config{OperatorKeys: []string{wire.PublicKeyOf(opKey).String()},
		MakerKeys: []string{wire.PublicKeyOf(seedKey("maker")).String()}}, &now)
	h := o.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, ep := range []struct{ method, path string }{
			{http.MethodPost, "/v1/orgs"}, {http.MethodPost, "/v1/orgs/acme"}, {http.MethodPut, "/v1/routes/r1"},
			{http.MethodDelete, "/v1/routes/r1"}, {http.MethodPost, "/v1/dc/grants"}, {http.MethodPost, "/v1/hotspots"},
		} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(ep.method, ep.path, strings.NewReader(string(body))))
			if rec.Code >= 500 && rec.Code != 507 {
				t.Fatalf("%s %s: %d %s", ep.method, ep.path, rec.Code, rec.Body)
			}
		}
	})
}

// FuzzRouteSpec: any decodable spec either is refused or converts to a
// route whose spec converts back to the same route.
func FuzzRouteSpec(f *testing.F) {
	for _, s := range []*wire.RouteSpec{
		putRouteOp("r1", 1, 9).PutRoute,
		{Id: "x", Lns: []*wire.LNSEndpoint{{Region: "EU868", Addr: "lns:1700"}}, EuiPairs: []*wire.EUIPair{{JoinEui: 1}},
			SessionKeyFilters: []*wire.SessionKeyFilter{{DevAddr: 1, NwkSKey: make([]byte, 16)}}},
	} {
		b, _ := proto.Marshal(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s wire.RouteSpec
		if proto.Unmarshal(b, &s) != nil {
			return
		}
		r, err := routeFromSpec("org", &s)
		if err != nil {
			return
		}
		again, err := routeFromSpec("org", r.Spec())
		if err != nil {
			t.Fatalf("spec of %+v refused: %v", r, err)
		}
		a, _ := json.Marshal(r)
		c, _ := json.Marshal(again)
		if string(a) != string(c) {
			t.Fatalf("round trip\n%s\n%s", a, c)
		}
	})
}

// FuzzNetID: parsing never panics and a parsed prefix contains its first
// and last address.
func FuzzNetID(f *testing.F) {
	for _, s := range []string{"000001", "e00001", "c00053", "ffffff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, p, err := parseNetID(s)
		if err != nil {
			return
		}
		if p.Len < 7 || p.Len > 25 || !p.contains(p.first()) || !p.contains(p.last()) || p.first()%devAddrBlock != 0 {
			t.Fatalf("%s: prefix %s", s, p)
		}
	})
}

// TestMigrateUnownedRoutes: a version-1 store's admin-made routes (no
// organization, their own balance) are dropped on upgrade; the rest stays.
func TestMigrateUnownedRoutes(t *testing.T) {
	dir := t.TempDir()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(txn *badger.Txn) error {
		for k, v := range map[string][]byte{
			string(metaKey(metaSchema)):    {0, 0, 0, 1},
			string(routeKey("acme")):       []byte(`{"id":"acme","lns_addr":"127.0.0.1:1700","dc_balance":18446744073709551615}`),
			string(entropyKey(1700000000)): []byte("entropy"),
		} {
			if err := txn.Set([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	st, err := OpenStore(dir, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if rs, err := st.routes(); err != nil || len(rs) != 0 {
		t.Fatalf("routes after the upgrade: %+v, %v", rs, err)
	}
	if _, found, _ := st.EntropyAt(1700000000); !found {
		t.Fatal("the upgrade dropped more than routes")
	}
}

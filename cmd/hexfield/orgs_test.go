package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/oracle/solana"
	"github.com/hexfield/hexfield/oracle/solana/localnet"
	"github.com/hexfield/hexfield/wire"
)

// results decodes the per-oracle output of a change or read.
func results[T any](t *testing.T, out string) []T {
	t.Helper()
	var rs []struct {
		Oracle string `json:"oracle"`
		Result T      `json:"result"`
		Error  string `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	var v []T
	for _, r := range rs {
		if r.Error != "" {
			t.Fatalf("%s: %s", r.Oracle, r.Error)
		}
		v = append(v, r.Result)
	}
	return v
}

// TestCLIOrgs: the org, routes and dc commands send each change to every
// oracle given and read back balances, lock state and charges.
func TestCLIOrgs(t *testing.T) {
	dir := t.TempDir()
	ownerFile, opFile, delFile := filepath.Join(dir, "owner.json"), filepath.Join(dir, "op.json"), filepath.Join(dir, "delegate.json")
	owner := runCLI(t, runKeys, "new", "--out", ownerFile)
	op := runCLI(t, runKeys, "new", "--out", opFile)
	delegate := runCLI(t, runKeys, "new", "--out", delFile)
	cfg := oracle.Config{OperatorKeys: []string{op}, OrgFeeDC: 0}
	a, b := startTestOracleWith(t, cfg), startTestOracleWith(t, cfg)
	both := []string{"--oracle", a, "--oracle", b}
	args := func(xs ...string) []string { return append(append([]string{}, xs...), both...) }

	orgs := results[oracle.OrgChangeResult](t, runCLI(t, runOrg, args("create", "--id", "acme", "--owner-key", ownerFile, "--delegate", delegate, "--blocks", "2")...))
	if len(orgs) != 2 {
		t.Fatalf("created on %d oracles", len(orgs))
	}
	for _, r := range orgs {
		if r.Org.DevAddrBlocks[0] != (oracle.DevAddrRange{Start: 0x02000000, End: 0x0200000f}) || !r.Org.Locked || r.Org.Owner.String() != owner {
			t.Fatalf("org %+v", r.Org)
		}
	}
	// A delegate registers a route on both oracles.
	routes := results[oracle.OrgChangeResult](t, runCLI(t, runRoutes, args("put", "--org", "acme", "--key", delFile, "--id", "sensors",
		"--lns", "EU868=127.0.0.1:1700", "--lns", "127.0.0.1:1701", "--devaddr", "02000000-02000007", "--eui", "70b3d57ed0000001",
		"--filter", "02000001:000102030405060708090a0b0c0d0e0f", "--max-copies", "2")...))
	for _, r := range routes {
		if r.Route.LNS["EU868"] != "127.0.0.1:1700" || r.Route.LNS["default"] != "127.0.0.1:1701" || r.Route.MaxCopies != 2 || r.Route.SessionKeyFilters[0].NwkSKey != "" {
			t.Fatalf("route %+v", r.Route)
		}
	}
	// The operator grants DC to the owner (the payer): unlocked everywhere.
	grants := results[oracle.GrantResult](t, runCLI(t, runDC, args("grant", "--operator-key", opFile, "--wallet", owner, "--amount", "1000")...))
	for _, g := range grants {
		if !g.Applied || g.Wallet.Balance != 1000 {
			t.Fatalf("grant %+v", g)
		}
	}
	for _, o := range results[oracle.Organization](t, runCLI(t, runOrg, args("show", "--id", "acme")...)) {
		if o.Locked || o.PayerDC != 1000 || len(o.Routes) != 1 {
			t.Fatalf("org after the grant %+v", o)
		}
	}
	for _, bal := range results[oracle.DCBalance](t, runCLI(t, runDC, args("balance", "--wallet", owner)...)) {
		if bal.Balance != 1000 || len(bal.Entries) != 1 || bal.Entries[0].Kind != "grant" {
			t.Fatalf("balance %+v", bal)
		}
	}
	// A delegate cannot manage delegates; the refusal is reported per oracle.
	var out bytes.Buffer
	err := runOrg(context.Background(), args("remove-delegate", "--id", "acme", "--owner-key", delFile, "--key", delegate), &out)
	if err == nil || !strings.Contains(out.String(), "wrong_key") {
		t.Fatalf("delegate removing a delegate: %v\n%s", err, out.String())
	}
	runCLI(t, runRoutes, args("delete", "--org", "acme", "--key", ownerFile, "--id", "sensors")...)
	for _, rs := range results[[]oracle.Route](t, runCLI(t, runRoutes, args("list", "--org", "acme")...)) {
		if len(rs) != 0 {
			t.Fatalf("routes after delete %+v", rs)
		}
	}
}

// TestCLIOnboardFees: the owner pays the onboarding fee from its DC, a
// maker's approval is required when the oracle lists makers, and
// --max-fee refuses a fee higher than the owner accepts.
func TestCLIOnboardFees(t *testing.T) {
	dir := t.TempDir()
	file := func(n string) string { return filepath.Join(dir, n+".json") }
	hs := runCLI(t, runKeys, "new", "--out", file("hotspot"))
	owner := runCLI(t, runKeys, "new", "--out", file("owner"))
	op := runCLI(t, runKeys, "new", "--out", file("op"))
	maker := runCLI(t, runKeys, "new", "--out", file("maker"))
	url := startTestOracleWith(t, oracle.Config{OnboardFeeDC: 100, OperatorKeys: []string{op}, MakerKeys: []string{maker}})
	onboard := []string{"--oracle", url, "--hotspot-key", file("hotspot"), "--owner-key", file("owner")}
	try := func(extra ...string) error {
		return runOnboard(context.Background(), append(append([]string{}, onboard...), extra...), &bytes.Buffer{})
	}
	if err := try("--max-fee", "99"); err == nil || !strings.Contains(err.Error(), "more than --max-fee 99") {
		t.Fatalf("fee above --max-fee: %v", err)
	}
	if err := try(); !oracle.IsCode(err, "maker_required") {
		t.Fatalf("without a maker: %v", err)
	}
	if err := try("--maker-key", file("maker")); !oracle.IsCode(err, "insufficient_dc") {
		t.Fatalf("without DC: %v", err)
	}
	runCLI(t, runDC, "grant", "--oracle", url, "--operator-key", file("op"), "--wallet", owner, "--amount", "150")
	var info oracle.HotspotInfo
	if err := json.Unmarshal([]byte(runCLI(t, runOnboard, append(onboard, "--maker-key", file("maker"), "--max-fee", "100")...)), &info); err != nil || info.Address != hs {
		t.Fatalf("onboard: %+v %v", info, err)
	}
	bal := results[oracle.DCBalance](t, runCLI(t, runDC, "balance", "--oracle", url, "--wallet", owner))[0]
	if bal.Balance != 50 || bal.Entries[0].Kind != "onboard_fee" || bal.Entries[0].Debit != 100 || bal.Entries[0].Ref != hs {
		t.Fatalf("balance after onboarding %+v", bal)
	}
}

// TestCLIBuyDC: dc buy pays the treasury on the real localnet and reports
// each oracle's credit of the transaction; two oracles watching the same
// chain credit the same amount, once.
func TestCLIBuyDC(t *testing.T) {
	net := localnet.StartForTest(t)
	ctx := context.Background()
	dir := t.TempDir()
	buyerFile := filepath.Join(dir, "buyer.json")
	buyerS := runCLI(t, runKeys, "new", "--out", buyerFile)
	buyer, _ := wire.ParsePublicKey(buyerS)
	beneficiary := runCLI(t, runKeys, "new", "--out", filepath.Join(dir, "beneficiary.json"))
	var mint, owner wire.PublicKey
	mint[0], owner[0] = 7, 9
	if err := net.SetMint(ctx, mint.String(), owner, 6, 1e9); err != nil {
		t.Fatal(err)
	}
	treasury, _ := solana.AssociatedTokenAddress(owner, mint)
	src, _ := solana.AssociatedTokenAddress(buyer, mint)
	if err := net.SetTokenAccount(ctx, wire.PublicKey(treasury).String(), mint, owner, 0); err != nil {
		t.Fatal(err)
	}
	if err := net.SetTokenAccount(ctx, wire.PublicKey(src).String(), mint, buyer, 500); err != nil {
		t.Fatal(err)
	}
	var sig string
	if err := net.Call(ctx, "requestAirdrop", []any{buyerS, 1_000_000_000}, &sig); err != nil {
		t.Fatal(err)
	}
	cfg := oracle.Config{DCTreasury: wire.PublicKey(treasury).String(), DCPerBaseUnit: 1000, DCPollInterval: 100 * time.Millisecond}
	a := startTestOracleDeps(t, cfg, oracle.Deps{DCChain: solana.NewChain(net.URL())})
	b := startTestOracleDeps(t, cfg, oracle.Deps{DCChain: solana.NewChain(net.URL())})
	out := runCLI(t, runDC, "buy", "--oracle", a, "--oracle", b, "--rpc", net.URL(), "--key", buyerFile,
		"--amount", "200", "--wallet", beneficiary, "--wait", "60s")
	for _, p := range results[oracle.DCPurchase](t, out) {
		if p.Wallet != beneficiary || p.Amount != 200 || p.DC != 200_000 {
			t.Fatalf("purchase %+v", p)
		}
	}
	for _, bal := range results[oracle.DCBalance](t, runCLI(t, runDC, "balance", "--oracle", a, "--oracle", b, "--wallet", beneficiary)) {
		if bal.Balance != 200_000 || bal.Entries[0].Kind != "purchase" {
			t.Fatalf("balance %+v", bal)
		}
	}
}

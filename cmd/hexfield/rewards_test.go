package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hexfield/hexfield/oracle/solana"
	"github.com/hexfield/hexfield/oracle/solana/localnet"
	"github.com/hexfield/hexfield/verifier"
	"github.com/hexfield/hexfield/wire"
)

func rewardsKey(s string) ed25519.PrivateKey {
	h := sha256.Sum256([]byte(s))
	return ed25519.NewKeyFromSeed(h[:])
}

// manifestServer serves epoch 42 of the spec's Merkle vector as an oracle would.
func manifestServer(t *testing.T, tamper bool) (*httptest.Server, *verifier.Manifest) {
	t.Helper()
	m := &verifier.Manifest{Version: 1, Epoch: 42, Emission: 5_000_000, Total: 3_750_042, Unallocated: 1_249_958}
	for i, a := range []uint64{1_500_000, 2_250_000, 42} {
		var o wire.PublicKey
		for j := range o {
			o[j] = byte(i + 1)
		}
		m.Payouts = append(m.Payouts, verifier.Payout{Owner: o, Amount: a})
		m.Hotspots = append(m.Hotspots, verifier.HotspotReward{Hotspot: wire.PublicKeyOf(rewardsKey(string(rune('a' + i)))), Owner: o, Amount: a, Scale: 10_000})
	}
	slices.SortFunc(m.Hotspots, func(a, b verifier.HotspotReward) int { return bytes.Compare(a.Hotspot[:], b.Hotspot[:]) })
	m.Root = verifier.MerkleRoot(42, m.Payouts)
	return serveManifest(t, m, tamper), m
}

// serveManifest serves m as epoch 42 of an oracle's API.
func serveManifest(t *testing.T, m *verifier.Manifest, tamper bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/epochs/42" {
			w.WriteHeader(404)
			w.Write([]byte(`{"code":"not_found","message":"no such epoch"}`))
			return
		}
		resp := map[string]any{"epoch": 42, "manifest_bytes": m.Marshal(), "state": map[string]any{
			"epoch": 42, "step": "done", "closed_at_ms": 1764633600000, "beacons": 12, "witnesses": 40, "packets": 3,
			"hotspots": 3, "root": wire.PublicKey(m.Root).String(), "total": m.Total, "payouts": 3, "distributed": true,
			"route_dc": map[string]uint64{"acme": 7, "beta": 2},
		}}
		if o := r.URL.Query().Get("owner"); o != "" {
			k, _ := wire.ParsePublicKey(o)
			pr, err := m.Proof(k)
			if err != nil {
				w.WriteHeader(404)
				w.Write([]byte(`{"code":"not_found","message":"no payout"}`))
				return
			}
			if tamper {
				pr.Payout.Amount++
			}
			resp["proof"] = pr
		}
		json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A version-3 manifest shows what accrues, and an owner that accrues gets
// its ledger instead of a proof.
func TestRewardsManifestAccrual(t *testing.T) {
	paid, waiting := wire.PublicKey{1}, wire.PublicKey{2}
	m := &verifier.Manifest{Version: 3, Epoch: 42, Parent: 41, MinPayout: 1_000_000, Emission: 5_000_000,
		Earned: 3_000_000, Unallocated: 2_000_000, Total: 2_500_000,
		Hotspots: []verifier.HotspotReward{
			{Hotspot: wire.PublicKeyOf(rewardsKey("h1")), Owner: paid, Amount: 2_000_000},
			{Hotspot: wire.PublicKeyOf(rewardsKey("h2")), Owner: waiting, Amount: 1_000_000},
		},
		Ledger:  []verifier.OwnerLedger{{Owner: paid, Owed: 2_500_000, Paid: 2_500_000}, {Owner: waiting, Owed: 1_700_000}},
		Payouts: []verifier.Payout{{Owner: paid, Amount: 2_500_000}},
	}
	slices.SortFunc(m.Hotspots, func(a, b verifier.HotspotReward) int { return bytes.Compare(a.Hotspot[:], b.Hotspot[:]) })
	m.Root = verifier.MerkleRoot(42, m.Payouts)
	if _, err := verifier.UnmarshalManifest(m.Marshal()); err != nil {
		t.Fatal(err)
	}
	srv := serveManifest(t, m, false)
	ctx := context.Background()
	var out bytes.Buffer
	if err := runRewards(ctx, []string{"manifest", "42", "--oracle", srv.URL}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"earned          3.000000", "accruing        1.700000 owed to 1 of 2 owners", "minimum payout 1.000000", "parent          epoch 41"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("manifest output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	err := runRewards(ctx, []string{"proof", "42", waiting.String(), "--oracle", srv.URL}, &out)
	if err == nil || !strings.Contains(err.Error(), "open-account") || !strings.Contains(out.String(), "1.700000 accruing") {
		t.Fatalf("proof of an accruing owner: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := runRewards(ctx, []string{"proof", "42", paid.String(), "--oracle", srv.URL}, &out); err != nil || !strings.Contains(out.String(), "verified  yes") {
		t.Fatalf("proof of a paid owner: %v\n%s", err, out.String())
	}
}

func TestRewardsManifestAndProof(t *testing.T) {
	srv, m := manifestServer(t, false)
	ctx := context.Background()
	var out bytes.Buffer
	if err := runRewards(ctx, []string{"manifest", "42", "--oracle", srv.URL}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"7t6WSiJHshxQj7LPbWFD1UoqkGmpyfs6kBVrK6tqhDRZ", "3.750042", "1.249958", "payouts         3",
		"state           paid on chain\n", "closed          2025-12-02T00:00:00Z", "inputs          12 beacons, 40 witnesses, 3 packets, 3 hotspots registered",
		"routes charged  acme 7 DC, beta 2 DC"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("manifest output lacks %q:\n%s", want, out.String())
		}
	}
	for _, bad := range []string{"{", "map[", "Epoch:"} {
		if strings.Contains(out.String(), bad) {
			t.Errorf("manifest output shows a Go value (%q):\n%s", bad, out.String())
		}
	}
	// By hotspot: resolved to its owner; by owner directly.
	var hs wire.PublicKey
	for _, h := range m.Hotspots {
		if h.Owner == m.Payouts[1].Owner {
			hs = h.Hotspot
		}
	}
	for _, addr := range []string{hs.String(), m.Payouts[1].Owner.String()} {
		out.Reset()
		if err := runRewards(ctx, []string{"proof", "--oracle", srv.URL, "42", addr}, &out); err != nil {
			t.Fatalf("proof %s: %v\n%s", addr, err, out.String())
		}
		if !strings.Contains(out.String(), "verified  yes") || !strings.Contains(out.String(), "2.250000") {
			t.Fatalf("proof output:\n%s", out.String())
		}
	}
	// A proof that does not match the root is reported.
	bad, _ := manifestServer(t, true)
	out.Reset()
	if err := runRewards(ctx, []string{"proof", "--oracle", bad.URL, "42", m.Payouts[0].Owner.String()}, &out); err == nil {
		t.Fatalf("tampered proof verified:\n%s", out.String())
	}
	if err := runRewards(ctx, []string{"manifest", "7", "--oracle", srv.URL}, &out); err == nil {
		t.Fatal("missing epoch: no error")
	}
}

func TestRewardsBalance(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	net := localnet.StartForTest(t)
	payer, dist, oracleKey := rewardsKey("payer"), rewardsKey("dist"), rewardsKey("oracle")
	for _, k := range []ed25519.PrivateKey{payer, dist} {
		if err := net.Call(ctx, "requestAirdrop", []any{wire.PublicKeyOf(k).String(), 10_000_000_000}, nil); err != nil {
			t.Fatal(err)
		}
	}
	owner := wire.PublicKeyOf(rewardsKey("owner"))
	p := solana.EpochPayout{Epoch: 1, Total: 1_234_567, Payouts: []solana.Payout{{Owner: owner, Amount: 1_234_567}}}
	p.Root = verifier.MerkleRoot(1, []verifier.Payout{{Owner: owner, Amount: 1_234_567}})
	acc, _ := solana.DeriveAccounts(wire.PublicKeyOf(payer), "hexfield", wire.PublicKeyOf(dist), 6)
	d, err := solana.New(solana.Config{RPCURL: net.URL(), JournalDir: t.TempDir(), Payer: payer, Distributor: dist,
		Oracles: [][32]byte{wire.PublicKeyOf(oracleKey)}, Threshold: 1, PollInterval: 10 * time.Millisecond,
		Cosigners: []solana.Cosigner{&solana.LocalCosigner{Priv: oracleKey, Accounts: acc,
			Own: func(context.Context, uint64) (solana.Summary, error) { return p.Summary(), nil }}}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	// The owner has opened its token account: the network never pays owners' rent.
	ownerATA, _ := solana.AssociatedTokenAddress(owner, acc.Mint)
	if err := net.SetTokenAccount(ctx, wire.PublicKey(ownerATA).String(), acc.Mint, owner, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.Distribute(ctx, p); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runRewards(ctx, []string{"balance", owner.String(), "--rpc", net.URL(), "--authority", wire.PublicKeyOf(payer).String()}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "1.234567 (1234567 base units)") {
		t.Fatalf("balance output:\n%s", out.String())
	}
	out.Reset()
	if err := runRewards(ctx, []string{"balance", wire.PublicKeyOf(rewardsKey("nobody")).String(), "--rpc", net.URL(), "--mint", wire.PublicKey(d.Accounts().Mint).String()}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "0.000000 (0 base units)") || !strings.Contains(out.String(), "not opened yet") {
		t.Fatalf("balance output:\n%s", out.String())
	}
	// A wrong authority derives a mint that does not exist: say so, not "0".
	out.Reset()
	err = runRewards(ctx, []string{"balance", owner.String(), "--rpc", net.URL(), "--authority", wire.PublicKeyOf(dist).String()}, &out)
	if err == nil || !strings.Contains(err.Error(), "no reward mint derived from --authority") || strings.Contains(out.String(), "balance") {
		t.Fatalf("wrong authority: %v\n%s", err, out.String())
	}
	if err := runRewards(ctx, []string{"balance", owner.String(), "--rpc", net.URL(), "--mint", wire.PublicKeyOf(rewardsKey("no-such-mint")).String()}, &out); err == nil || !strings.Contains(err.Error(), "no mint") {
		t.Fatalf("wrong mint: %v", err)
	}
}

// An owner opens its reward token account with its own key file: the
// account appears, the owner's wallet pays the rent, and a second run
// sends nothing.
func TestRewardsOpenAccount(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	net := localnet.StartForTest(t)
	payer, owner := rewardsKey("setup-payer"), rewardsKey("open-owner")
	acc, err := solana.DeriveAccounts(wire.PublicKeyOf(payer), "hexfield", wire.PublicKeyOf(rewardsKey("dist")), 6)
	if err != nil {
		t.Fatal(err)
	}
	// The deployment's mint, where setup would have made it.
	if err := net.SetMint(ctx, wire.PublicKey(acc.Mint).String(), acc.Multisig, 6, 0); err != nil {
		t.Fatal(err)
	}
	if err := net.Call(ctx, "requestAirdrop", []any{wire.PublicKeyOf(owner).String(), 1_000_000_000}, nil); err != nil {
		t.Fatal(err)
	}
	keyFile := t.TempDir() + "/owner.json"
	if err := wire.WriteKeyFile(keyFile, owner); err != nil {
		t.Fatal(err)
	}
	ata, _ := solana.AssociatedTokenAddress(wire.PublicKeyOf(owner), acc.Mint)
	var out bytes.Buffer
	args := []string{"open-account", "--owner-key", keyFile, "--rpc", net.URL(), "--authority", wire.PublicKeyOf(payer).String()}
	if err := runRewards(ctx, args, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"token account  " + wire.PublicKey(ata).String(), "rent paid      0.002039280 SOL (2039280 lamports), by the owner", "fee            0.000005000 SOL (5000 lamports)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	funded, err := solana.NewChain(net.URL()).Funded(ctx, acc.Mint, [][32]byte{wire.PublicKeyOf(owner)})
	if err != nil || !funded[0] {
		t.Fatalf("funded %v, %v", funded, err)
	}
	out.Reset()
	if err := runRewards(ctx, []string{"open-account", "--owner-key", keyFile, "--rpc", net.URL(), "--mint", wire.PublicKey(acc.Mint).String()}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "already open: nothing sent, no rent paid") {
		t.Fatalf("second run:\n%s", out.String())
	}
	// balance no longer says the account is missing.
	out.Reset()
	if err := runRewards(ctx, []string{"balance", wire.PublicKeyOf(owner).String(), "--rpc", net.URL(), "--mint", wire.PublicKey(acc.Mint).String()}, &out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "not opened yet") {
		t.Fatalf("balance after opening:\n%s", out.String())
	}
	// A wrong authority names the mint it derived; a missing key file is refused.
	err = runRewards(ctx, []string{"open-account", "--owner-key", keyFile, "--rpc", net.URL(), "--authority", wire.PublicKeyOf(owner).String()}, &out)
	if err == nil || !strings.Contains(err.Error(), "no reward mint derived from --authority") {
		t.Fatalf("wrong authority: %v", err)
	}
	if err := runRewards(ctx, []string{"open-account", "--rpc", net.URL(), "--mint", wire.PublicKey(acc.Mint).String()}, &out); err == nil {
		t.Fatal("no --owner-key: no error")
	}
}

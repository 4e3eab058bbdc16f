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
	return srv, m
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

package oracle

import (
	"context"
	"testing"
	"time"

	"github.com/hexfield/hexfield/oracle/solana"
	"github.com/hexfield/hexfield/oracle/solana/localnet"
	"github.com/hexfield/hexfield/wire"
)

// dcChainFixture is a DC payment mint, a funded buyer and a treasury on a
// real localnet.
type dcChainFixture struct {
	net      *localnet.Server
	chain    *solana.Chain
	treasury wire.PublicKey
	buyer    wire.PublicKey
}

func newDCChainFixture(t *testing.T, buyer wire.PublicKey, tokens uint64) *dcChainFixture {
	t.Helper()
	net := localnet.StartForTest(t)
	ctx := context.Background()
	mint, owner := wire.PublicKeyOf(seedKey("dc-mint")), wire.PublicKeyOf(seedKey("treasury-owner"))
	if err := net.SetMint(ctx, mint.String(), wire.PublicKeyOf(seedKey("mint-authority")), 6, 1e12); err != nil {
		t.Fatal(err)
	}
	tr, err := solana.AssociatedTokenAddress(owner, mint)
	if err != nil {
		t.Fatal(err)
	}
	if err := net.SetTokenAccount(ctx, wire.PublicKey(tr).String(), mint, owner, 0); err != nil {
		t.Fatal(err)
	}
	src, err := solana.AssociatedTokenAddress(buyer, mint)
	if err != nil {
		t.Fatal(err)
	}
	if err := net.SetTokenAccount(ctx, wire.PublicKey(src).String(), mint, buyer, tokens); err != nil {
		t.Fatal(err)
	}
	var sig string
	if err := net.Call(ctx, "requestAirdrop", []any{buyer.String(), 1_000_000_000}, &sig); err != nil {
		t.Fatal(err)
	}
	return &dcChainFixture{net: net, chain: solana.NewChain(net.URL()), treasury: tr, buyer: buyer}
}

// TestDCBoughtOnChain: purchases on the real localnet are credited
// amount × dc_per_base_unit to the memo's wallet, exactly once per
// transaction signature, also after a restart that lost the cursor.
func TestDCBoughtOnChain(t *testing.T) {
	buyerKey, beneficiary := seedKey("buyer"), wire.PublicKeyOf(seedKey("beneficiary"))
	f := newDCChainFixture(t, wire.PublicKeyOf(buyerKey), 1000)
	ctx := context.Background()
	sig1, err := f.chain.BuyDC(ctx, buyerKey, f.treasury, 250, beneficiary)
	if err != nil {
		t.Fatal(err)
	}
	sig2, err := f.chain.BuyDC(ctx, buyerKey, f.treasury, 40, f.buyer)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := Config{DataDir: dir, DCTreasury: f.treasury.String(), DCPerBaseUnit: 3}
	open := func() *Oracle {
		o, err := New(cfg, Deps{Key: seedKey("oracle"), DCChain: f.chain})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	o := open()
	// An organization paid by the beneficiary is locked until the purchase is read.
	payer := seedKey("beneficiary")
	if _, err := change(t, o, payer, &wire.OrgChange{Org: "acme", Op: createOp(payer, beneficiary, nil)}); err != nil {
		t.Fatal(err)
	}
	if org, _, _ := o.store.Org("acme"); !org.Locked {
		t.Fatal("an organization whose payer has no DC is not locked")
	}
	check := func(o *Oracle) {
		t.Helper()
		if b := balanceOf(t, o, beneficiary); b.Balance != 750 || b.Credited != 750 {
			t.Fatalf("beneficiary %+v, want 250 × 3", b)
		}
		if b := balanceOf(t, o, f.buyer); b.Balance != 120 {
			t.Fatalf("buyer %+v, want 40 × 3", b)
		}
	}
	for range 2 {
		if err := o.scanDCPurchases(ctx); err != nil {
			t.Fatal(err)
		}
	}
	check(o)
	if org, _, _ := o.store.Org("acme"); org.Locked || org.PayerDC != 750 {
		t.Fatalf("after the purchase the organization is %+v", org)
	}
	if p, found, err := o.store.DCPurchaseRecord(sig1); err != nil || !found || p.Wallet != beneficiary.String() || p.DC != 750 || p.Amount != 250 {
		t.Fatalf("purchase record %+v %v %v", p, found, err)
	}
	// Restart, with the cursor lost: every signature is looked at again
	// and none is credited twice.
	if err := o.store.setMetaString(metaDCCursor, ""); err != nil {
		t.Fatal(err)
	}
	o.store.Close()
	o = open()
	defer o.store.Close()
	if err := o.scanDCPurchases(ctx); err != nil {
		t.Fatal(err)
	}
	check(o)
	if cur, _ := o.store.metaString(metaDCCursor); cur != sig2 {
		t.Fatalf("cursor %q, want the newest signature %s", cur, sig2)
	}
}

// TestDCPurchaseRules: failed transactions, malformed memos and overflows
// credit nobody but are recorded; no memo credits the sender.
func TestDCPurchaseRules(t *testing.T) {
	now := time.Now()
	o := newRegistryOracle(t, Config{DCPerBaseUnit: 10}, &now)
	sender, named := wire.PublicKeyOf(testKey(t)), wire.PublicKeyOf(testKey(t))
	for _, tc := range []struct {
		tr             solana.DCTransfer
		credited       bool
		reason, wallet string
	}{
		{solana.DCTransfer{Signature: "a", Amount: 5, Sender: sender}, true, "", sender.String()},
		{solana.DCTransfer{Signature: "b", Amount: 5, Sender: sender, HasMemo: true, Memo: named.String()}, true, "", named.String()},
		{solana.DCTransfer{Signature: "c", Amount: 5, Sender: sender, HasMemo: true, Memo: "not-a-key"}, false, "malformed_memo", ""},
		{solana.DCTransfer{Signature: "d", Amount: 5, Sender: sender, Failed: true}, false, "failed", ""},
		{solana.DCTransfer{Signature: "e", Sender: sender}, false, "no_transfer", ""},
		{solana.DCTransfer{Signature: "u", Unreadable: true}, false, "unreadable", ""},
		{solana.DCTransfer{Signature: "f", Amount: 1 << 62, Sender: sender}, false, "overflow", ""},
		{solana.DCTransfer{Signature: "a", Amount: 5, Sender: sender}, false, "", sender.String()}, // the same signature again
	} {
		got, err := o.creditPurchase(tc.tr, now)
		if err != nil || got != tc.credited {
			t.Fatalf("%s: credited %v, %v; want %v", tc.tr.Signature, got, err, tc.credited)
		}
		p, found, _ := o.store.DCPurchaseRecord(tc.tr.Signature)
		if !found || p.Reason != tc.reason || p.Wallet != tc.wallet {
			t.Fatalf("%s: record %+v, want reason %q wallet %q", tc.tr.Signature, p, tc.reason, tc.wallet)
		}
	}
	if b := balanceOf(t, o, sender); b.Balance != 50 {
		t.Fatalf("sender %+v, want one credit of 5 × 10", b)
	}
	if b := balanceOf(t, o, named); b.Balance != 50 {
		t.Fatalf("memo wallet %+v", b)
	}
}

package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/verifier"
	"github.com/hexfield/hexfield/wire"
)

// TestOraclesReconcileRegistryOnLocalnet: 3 oracles (2-of-3), and every
// registry change reaches one oracle only, as when the CLI could reach
// just one: the customer's organization, route and data-credit grant only
// A; hotspot 0 onboards on A, hotspot 1 on B, hotspot 2 onboards and
// asserts its location on C; hotspot 3 onboards everywhere. The packets of
// the next epoch reach A only. At that epoch's agreement every oracle
// holds every change (fetched, checked and applied, or pushed to the
// leader), the three manifests are byte-identical and the epoch is paid
// on chain exactly once.
func TestOraclesReconcileRegistryOnLocalnet(t *testing.T) {
	t.Parallel() // wall-clock epochs, little CPU
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := startCluster(t, ctx, 3, 2, 20*time.Second, make([]time.Duration, 3))
	a, b, cc := c.clients[0], c.clients[1], c.clients[2]
	putTestRoute(t, ctx, time.Now(), c.operator, a)
	hs := make([]ed25519.PrivateKey, 4)
	owners := make([][32]byte, 4)
	cell, err := verifier.LatLngToCell(52.37, 4.89, 12)
	if err != nil {
		t.Fatal(err)
	}
	for i, on := range [][]*oracle.Client{{a}, {b}, {cc}, c.clients} {
		h, _ := wire.GenerateKey()
		owner, _ := wire.GenerateKey()
		at := time.Now()
		req, err := oracle.NewOnboardRequest(h, owner, false, at)
		if err != nil {
			t.Fatal(err)
		}
		for _, cl := range on {
			if _, err := cl.Onboard(ctx, req); err != nil {
				t.Fatal(err)
			}
		}
		if i == 2 {
			ar, err := oracle.NewAssertRequest(owner, wire.PublicKeyOf(h), cell, 30, 10, 1, at.Add(time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cc.Assert(ctx, wire.PublicKeyOf(h), ar); err != nil {
				t.Fatal(err)
			}
		}
		openRewardAccount(t, ctx, c.url, c.cfgs[0], owner)
		hs[i], owners[i] = h, wire.PublicKeyOf(owner)
	}
	// The first epoch whose registry holds every change.
	e := uint64(time.Now().UnixMilli()/c.epochLen.Milliseconds()) + 1
	time.Sleep(time.Until(c.epochStart(e).Add(2 * time.Second)))
	for dev, h := range []ed25519.PrivateKey{hs[0], hs[3]} {
		submitPackets(t, ctx, c.quic[0], c.nodes[0].Oracle().PublicKey(), h, 2*dev, 2)
	}
	ms := c.waitAgreed(e, 0, 1, 2)
	for i := 1; i < 3; i++ {
		if !bytes.Equal(ms[i].ManifestBytes, ms[0].ManifestBytes) {
			t.Fatalf("oracle %c's manifest of epoch %d differs from A's", 'A'+i, e)
		}
	}
	if m := ms[0].Manifest; m.Total == 0 || len(m.Payouts) != 2 {
		t.Fatalf("epoch %d: total %d, payouts %+v, want 2 (hotspots 0 and 3); hotspots %+v", e, m.Total, m.Payouts, m.Hotspots)
	}
	c.checkPaidOnce(owners, ms[0])
	want, err := cc.Hotspot(ctx, wire.PublicKeyOf(hs[2]))
	if err != nil || want.Location == nil {
		t.Fatalf("hotspot 2 on C: %+v, %v", want, err)
	}
	for i, cl := range c.clients {
		for k, h := range hs {
			st, err := cl.Hotspot(ctx, wire.PublicKeyOf(h))
			if err != nil {
				t.Fatalf("oracle %c does not know hotspot %d: %v", 'A'+i, k, err)
			}
			if k == 2 && (st.Location == nil || st.Location.Cell != want.Location.Cell || st.Location.Nonce != 1) {
				t.Fatalf("oracle %c: hotspot 2's location %+v, want %+v", 'A'+i, st.Location, want.Location)
			}
		}
		if _, err := cl.Org(ctx, "acme"); err != nil {
			t.Fatalf("oracle %c does not know the customer's organization: %v", 'A'+i, err)
		}
		r, err := cl.Epoch(ctx, e, wire.PublicKey{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("oracle %c: epoch %d led by %s, %d reports and registry changes reconciled", 'A'+i, e, r.State.Leader, r.State.Reconciled)
	}
}

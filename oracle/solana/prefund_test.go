package solana

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
)

// newStranger is a key with SOL that is not part of the deployment.
func newStranger(t *testing.T, f *fixture) sol.PrivateKey {
	t.Helper()
	stranger := sol.PrivateKey(testKey(t, "stranger"))
	if _, err := rpc.New(f.net.URL()).RequestAirdrop(context.Background(), stranger.PublicKey(), sol.LAMPORTS_PER_SOL, rpc.CommitmentFinalized); err != nil {
		t.Fatal(err)
	}
	return stranger
}

// memberMarkers returns the fixture's oracle keys (the members) and their phase-1 marker
// addresses of epoch.
func memberMarkers(t *testing.T, f *fixture, epoch uint64) (members, markers [][32]byte) {
	t.Helper()
	for _, o := range f.oracles {
		m, err := MarkerAddress(pub(o), epoch)
		if err != nil {
			t.Fatal(err)
		}
		members, markers = append(members, pub(o)), append(markers, m)
	}
	return members, markers
}

// prefund has a stranger send lamports to each address, as anyone can: marker addresses
// are derivable from the oracle (or distributor) key, the epoch and the batch.
func prefund(t *testing.T, f *fixture, d *Distributor, lamports uint64, addrs ...[32]byte) {
	t.Helper()
	ctx := context.Background()
	stranger := newStranger(t, f)
	var ixs []sol.Instruction
	for _, a := range addrs {
		ixs = append(ixs, transferLamports(stranger.PublicKey(), a, lamports))
	}
	for i := 0; i < len(ixs); i += 8 {
		s, err := d.sign(ctx, ixs[i:min(i+8, len(ixs))], stranger.PublicKey(), nil, stranger)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sendRaw(t, f, s.raw); err != nil {
			t.Fatalf("prefund: %v", err)
		}
	}
}

// TestPrefundedMarkersDoNotBlock: a stranger funds every phase-1 marker address of an epoch
// and every batch marker address before the epoch is authorised. With markers made by
// CreateAccountWithSeed that made phase 1 fail forever (AccountAlreadyInUse on an account
// with lamports) and the epoch stalled. Now the epoch is authorised and paid, the funded
// addresses are not taken for markers before, the markers exist after, and a second
// authorisation of the epoch still fails on chain at a marker.
func TestPrefundedMarkersDoNotBlock(t *testing.T) {
	f := newFixture(t, 3, 2)
	ctx := context.Background()
	p := makePayout(12, 80)
	f.openAccounts(t, p)
	d := f.coordinator(t, []int{0, 1}, p)
	members, addrs := memberMarkers(t, f, p.Epoch)
	for k := range p.Batches() {
		m, err := BatchMarkerAddress(pub(f.dist), p.Epoch, k)
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, m)
	}
	const dust = 890_880 // the least a new System account may hold
	prefund(t, f, d, dust, addrs...)
	ch := NewChain(f.net.URL())
	// A funded address is not a marker: the epoch is still authorisable and not authorised.
	if err := ch.CheckAuthorizable(ctx, d.Accounts(), members[0], p.Epoch); err != nil {
		t.Fatalf("funded marker address taken for a marker: %v", err)
	}
	if _, ok, err := ch.Authorization(ctx, members, p.Epoch); err != nil || ok {
		t.Fatalf("authorisation of a funded, unpaid epoch: %v %v", ok, err)
	}
	if cs, err := ch.Cosigned(ctx, members, p.Epoch); err != nil || cs[0] || cs[1] || cs[2] {
		t.Fatalf("co-signers of an unpaid epoch: %v %v", cs, err)
	}
	if err := d.Distribute(ctx, p); err != nil {
		t.Fatalf("distribute with pre-funded markers: %v", err)
	}
	checkPaid(t, f, d, 0, p)
	got, err := d.accountsData(ctx, keys(addrs))
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range got {
		base, want := sol.PublicKey(pub(f.dist)), uint64(markerRent+dust)
		if i < len(f.oracles) {
			base, want = sol.PublicKey(members[i]), markerRent // topped up to the rent only
		}
		if i == 2 {
			// Oracle 2 was not in the quorum: its address is only funded.
			if isMarker(a, base) || a.Lamports != dust {
				t.Fatalf("oracle 2's marker address: %+v", a)
			}
			continue
		}
		if !isMarker(a, base) || a.Lamports != want {
			t.Fatalf("marker %d: marker %v, %d lamports, want %d", i, isMarker(a, base), a.Lamports, want)
		}
	}
	if err := ch.CheckAuthorizable(ctx, d.Accounts(), members[0], p.Epoch); !errors.Is(err, ErrNotAuthorizable) {
		t.Fatalf("after payment: %v, want ErrNotAuthorizable", err)
	}
	if cs, err := ch.Cosigned(ctx, members, p.Epoch); err != nil || !cs[0] || !cs[1] || cs[2] {
		t.Fatalf("co-signers %v (%v), want oracles 0 and 1", cs, err)
	}
	if s, ok, err := ch.Authorization(ctx, members, p.Epoch); err != nil || !ok || s != p.Summary() {
		t.Fatalf("authorisation: %+v %v %v", s, ok, err)
	}
	// A second phase 1 of the epoch by the quorum {1, 2} fails at oracle 1's marker.
	raw, _ := signedPhase1(t, f, d, p.Summary(), []int{1, 2})
	if _, err := sendRaw(t, f, raw); err == nil || !strings.Contains(err.Error(), "custom program error: 0x0") {
		t.Fatalf("second authorisation: %v, want Custom(0) at oracle 1's marker", err)
	}
	checkPaid(t, f, d, 0, p)
}

// TestForgedMemosOnMarkers: after an epoch is authorised and paid, a stranger puts
// transactions with a phase-1 memo of its own (another count, total and root) on the
// markers, more of them than one page of history: each credits the marker a
// lamport, as anyone may. The chain's authorisation is still the real one, and the real
// summary still reads as paid: a memo counts only from a transaction most members signed.
func TestForgedMemosOnMarkers(t *testing.T) {
	f := newFixture(t, 3, 2)
	ctx := context.Background()
	p := makePayout(4, 80)
	f.openAccounts(t, p)
	d := f.coordinator(t, []int{0, 1}, p)
	if err := d.Distribute(ctx, p); err != nil {
		t.Fatal(err)
	}
	members, markers := memberMarkers(t, f, p.Epoch)
	stranger := newStranger(t, f)
	fake := p.Summary()
	fake.Total, fake.Count = 1, 1
	fake.Root = stranger.PublicKey()
	for i := range 12 { // more than the 8 newest entries read before
		var ixs []sol.Instruction
		for _, m := range markers[:2] { // the quorum's; oracle 2's address holds nothing
			ixs = append(ixs, transferLamports(stranger.PublicKey(), m, 1))
		}
		ixs = append(ixs, memoInstruction(Phase1Memo(fake)+fmt.Sprintf("; forged %d", i), stranger.PublicKey()))
		s, err := d.sign(ctx, ixs, stranger.PublicKey(), nil, stranger)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sendRaw(t, f, s.raw); err != nil {
			t.Fatalf("forged memo %d: %v", i, err)
		}
	}
	ch := NewChain(f.net.URL())
	if s, ok, err := ch.Authorization(ctx, members, p.Epoch); err != nil || !ok || s != p.Summary() {
		t.Fatalf("authorisation after forged memos: %+v %v %v, want %+v", s, ok, err, p.Summary())
	}
	for _, s := range []Summary{p.Summary(), fake} {
		paid, err := ch.EpochPaid(ctx, d.Accounts(), members, s)
		if err != nil || paid != (s == p.Summary()) {
			t.Fatalf("EpochPaid(%+v) = %v, %v", s, paid, err)
		}
	}
}

package solana

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
)

// signedPhase1 builds phase 1 for quorum the way the coordinator does (durable nonce and
// lookup table when set up), has the payer and every quorum member sign, and returns the
// wire bytes and the nonce value (blockhash) it carries.
func signedPhase1(t *testing.T, f *fixture, d *Distributor, s Summary, quorum []int) ([]byte, sol.Hash) {
	t.Helper()
	var qk [][32]byte
	for _, i := range quorum {
		qk = append(qk, pub(f.oracles[i]))
	}
	if err := d.fundMarkers(context.Background(), s.Epoch, qk); err != nil {
		t.Fatal(err)
	}
	msg, bh, lv, err := d.phase1Message(context.Background(), s, qk)
	if err != nil {
		t.Fatal(err)
	}
	if lv != nonceLife {
		t.Fatal("phase 1 is not on the durable nonce")
	}
	sigs := map[[32]byte][64]byte{pub(f.payer): [64]byte(ed25519.Sign(f.payer, msg))}
	for _, i := range quorum {
		sigs[pub(f.oracles[i])] = [64]byte(ed25519.Sign(f.oracles[i], msg))
	}
	raw, err := assemble(msg, sigs)
	if err != nil {
		t.Fatal(err)
	}
	return raw, bh
}

func sendRaw(t *testing.T, f *fixture, raw []byte) (sol.Signature, error) {
	t.Helper()
	return rpc.New(f.net.URL()).SendRawTransactionWithOpts(context.Background(), raw, rpc.TransactionOpts{PreflightCommitment: rpc.CommitmentFinalized})
}

// TestPhase1NonceLands: phase 1 on the durable nonce, co-signed by 2 of 3 and by 3 of 5,
// lands even after the blockhash it was built beside has expired several times (as
// signature collection outlasting a blockhash would see), advances the nonce, and reports
// its size and compute units.
func TestPhase1NonceLands(t *testing.T) {
	for _, c := range []struct{ n, m int }{{3, 2}, {5, 3}} {
		t.Run(fmt.Sprintf("%d-of-%d", c.m, c.n), func(t *testing.T) {
			f := newFixture(t, c.n, c.m)
			ctx := context.Background()
			p, p2 := makePayout(11, 30), makePayout(12, 30)
			f.openAccounts(t, p, p2) // owners open their reward accounts (the network never does)
			var all []int
			for i := range c.n {
				all = append(all, i)
			}
			d := f.distributor(t, f.config(all, summaries(p)))
			quorum := all[len(all)-c.m:] // the fee payer is none of them
			raw, nonce := signedPhase1(t, f, d, p.Summary(), quorum)
			for range 3 {
				if err := f.net.ExpireBlockhash(ctx); err != nil {
					t.Fatal(err)
				}
			}
			sig, err := sendRaw(t, f, raw)
			if err != nil {
				t.Fatalf("nonce phase 1 after blockhash expiry: %v", err)
			}
			n, err := NewChain(f.net.URL()).NonceValue(ctx, d.Accounts().Nonce)
			if err != nil {
				t.Fatal(err)
			}
			if sol.Hash(n.Value) == nonce {
				t.Fatal("nonce not advanced by phase 1")
			}
			if got := supply(t, f, d); got != p.Total {
				t.Fatalf("supply %d, want %d", got, p.Total)
			}
			max := uint64(0)
			tx, err := rpc.New(f.net.URL()).GetTransaction(ctx, sig, &rpc.GetTransactionOpts{Encoding: sol.EncodingBase64, MaxSupportedTransactionVersion: &max})
			if err != nil {
				t.Fatal(err)
			}
			var cu uint64
			if tx.Meta != nil && tx.Meta.ComputeUnitsConsumed != nil {
				cu = *tx.Meta.ComputeUnitsConsumed
			}
			t.Logf("%d-of-%d phase 1 on a durable nonce (v0 + table): %d bytes, %d CU", c.m, c.n, len(raw), cu)
			// The phase 1 sent by hand holds the allowance: a coordinator takes epoch 11 over
			// and pays its batches (nothing minted again) before the next epoch is authorised.
			if err := d.Distribute(ctx, p); err != nil {
				t.Fatalf("take over epoch 11: %v", err)
			}
			if got := supply(t, f, d); got != p.Total {
				t.Fatalf("supply %d after the takeover, want %d", got, p.Total)
			}
			// The distributor pays the next epoch on the advanced nonce (its own proposal).
			cfg := f.config(all, summaries(p2))
			cfg.JournalDir = t.TempDir()
			d2 := f.distributor(t, cfg)
			if err := d2.Distribute(ctx, p2); err != nil {
				t.Fatal(err)
			}
			checkPaid(t, f, d2, 0, p, p2)
		})
	}
}

// TestCosignRefusesStaleOrForeignNonce: a co-signer that reads the chain refuses a
// proposal built on a nonce value that has moved on, and one built on another nonce
// account, and signs the current one.
func TestCosignRefusesStaleOrForeignNonce(t *testing.T) {
	f := newFixture(t, 3, 2)
	ctx := context.Background()
	p := makePayout(21, 10)
	d := f.distributor(t, f.config([]int{0, 1, 2}, summaries(p)))
	acc := d.Accounts()
	peer := &LocalCosigner{Priv: f.oracles[1], Accounts: acc, Own: summaries(p), Chain: NewChain(f.net.URL())}
	qk := [][32]byte{pub(f.oracles[0]), pub(f.oracles[1])}
	stale, _, _, err := d.phase1Message(ctx, p.Summary(), qk)
	if err != nil {
		t.Fatal(err)
	}
	n0, err := NewChain(f.net.URL()).NonceValue(ctx, acc.Nonce)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Abandon(ctx, n0.Value); err != nil {
		t.Fatal(err)
	}
	var mm *MismatchError
	if _, err := peer.Cosign(ctx, Proposal{Summary: p.Summary(), Quorum: qk, Message: stale}); !errors.As(err, &mm) || mm.Field != "nonce value" {
		t.Fatalf("stale nonce: %v, want a nonce value mismatch", err)
	}
	// A foreign nonce account: a deployment with another seed has its own.
	fcfg := f.config([]int{0, 1, 2}, summaries(p))
	fcfg.Seed, fcfg.JournalDir = "other", t.TempDir()
	fd := f.distributor(t, fcfg)
	foreign, _, _, err := fd.phase1Message(ctx, p.Summary(), qk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Cosign(ctx, Proposal{Summary: p.Summary(), Quorum: qk, Message: foreign}); !errors.As(err, &mm) || mm.Field != "nonce account" {
		t.Fatalf("foreign nonce: %v, want a nonce account mismatch", err)
	}
	current, _, _, err := d.phase1Message(ctx, p.Summary(), qk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Cosign(ctx, Proposal{Summary: p.Summary(), Quorum: qk, Message: current}); err != nil {
		t.Fatalf("current nonce refused: %v", err)
	}
	// The same summary and quorum with a recent blockhash instead of the nonce: the
	// deployment has a nonce account, so the blockhash form is refused.
	bh, err := rpc.New(f.net.URL()).GetLatestBlockhash(ctx, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := BuildPhase1(acc, pub(f.payer), p.Summary(), qk, bh.Value.Blockhash)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Cosign(ctx, Proposal{Summary: p.Summary(), Quorum: qk, Message: legacy}); !errors.As(err, &mm) || mm.Field != "form" {
		t.Fatalf("blockhash proposal on a nonce deployment: %v, want a form mismatch", err)
	}
	noNonce := acc
	noNonce.Nonce = [32]byte{}
	if err := CheckProposal(ctx, NewChain(f.net.URL()), noNonce, p.Summary(), Proposal{Summary: p.Summary(), Quorum: qk, Message: legacy}); err != nil {
		t.Fatalf("blockhash proposal without a nonce account configured: %v", err)
	}
}

// TestAbandonedProposalCannotLand: a fully co-signed phase 1 whose nonce was advanced
// (the coordinator gave the proposal up) is rejected by the runtime; nothing is minted and
// no marker is created, so the epoch can still be authorised once.
func TestAbandonedProposalCannotLand(t *testing.T) {
	f := newFixture(t, 3, 2)
	ctx := context.Background()
	p := makePayout(31, 20)
	f.openAccounts(t, p)
	d := f.distributor(t, f.config([]int{0, 1, 2}, summaries(p)))
	raw, nonce := signedPhase1(t, f, d, p.Summary(), []int{0, 1})
	if err := d.Abandon(ctx, nonce); err != nil {
		t.Fatal(err)
	}
	if err := d.Abandon(ctx, nonce); err != nil { // repeating is harmless
		t.Fatal(err)
	}
	if _, err := sendRaw(t, f, raw); err == nil || !strings.Contains(err.Error(), "BlockhashNotFound") {
		t.Fatalf("abandoned proposal: %v, want BlockhashNotFound", err)
	}
	// Without preflight it does not land either.
	sig, err := rpc.New(f.net.URL()).SendRawTransactionWithOpts(ctx, raw, rpc.TransactionOpts{SkipPreflight: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := rpc.New(f.net.URL()).GetSignatureStatuses(ctx, true, sig)
	if err != nil {
		t.Fatal(err)
	}
	if st.Value[0] != nil {
		t.Fatalf("abandoned proposal has a status: %+v", st.Value[0])
	}
	if got := supply(t, f, d); got != 0 {
		t.Fatalf("supply %d after an abandoned proposal", got)
	}
	if err := NewChain(f.net.URL()).CheckAuthorizable(ctx, d.Accounts(), pub(f.oracles[0]), p.Epoch); err != nil {
		t.Fatalf("epoch not authorisable after an abandoned proposal: %v", err)
	}
	if err := d.Distribute(ctx, p); err != nil {
		t.Fatal(err)
	}
	checkPaid(t, f, d, 0, p)
}

// TestNonceRetryByAnotherQuorumRejected: after {0,1,4} authorised the epoch on the nonce,
// {2,3,4} co-signing it again on the advanced nonce fails at oracle 4's marker.
func TestNonceRetryByAnotherQuorumRejected(t *testing.T) {
	f := newFixture(t, 5, 3)
	ctx := context.Background()
	p := makePayout(42, 20)
	f.openAccounts(t, p)
	d := f.distributor(t, f.config([]int{0, 1, 4}, summaries(p)))
	if err := d.Distribute(ctx, p); err != nil {
		t.Fatal(err)
	}
	before := supply(t, f, d)
	raw, _ := signedPhase1(t, f, d, p.Summary(), []int{2, 3, 4})
	_, err := sendRaw(t, f, raw)
	if err == nil || !strings.Contains(err.Error(), "custom program error: 0x0") {
		t.Fatalf("retry by another quorum: %v, want Custom(0) at the shared marker", err)
	}
	if got := supply(t, f, d); got != before {
		t.Fatalf("supply %d after the rejected retry, want %d", got, before)
	}
}

// TestChainlessPeerRefusesBothForms: a peer that cannot read the nonce refuses the
// durable-nonce form, and the coordinator does not fall back to a blockhash proposal
// (which peers of a nonce deployment refuse): with one other peer of a 2-of-3 nothing is
// authorised and nothing minted.
func TestChainlessPeerRefusesBothForms(t *testing.T) {
	f := newFixture(t, 3, 2)
	ctx := context.Background()
	p := makePayout(51, 20)
	f.openAccounts(t, p)
	acc, _ := DeriveAccounts(pub(f.payer), "hexfield", pub(f.dist), 6)
	cfg := f.config(nil, nil)
	cfg.Cosigners = []Cosigner{
		&LocalCosigner{Priv: f.oracles[0], Accounts: acc, Own: summaries(p), Chain: NewChain(f.net.URL())},
		chainless{&LocalCosigner{Priv: f.oracles[1], Accounts: acc, Own: summaries(p)}},
	}
	d := f.distributor(t, cfg)
	if err := d.Distribute(ctx, p); !errors.Is(err, ErrNonceUnchecked) {
		t.Fatalf("distribute with a chainless peer: %v, want ErrNonceUnchecked", err)
	}
	if es, err := NewChain(f.net.URL()).Escrow(ctx, acc); err != nil || es.Supply != 0 {
		t.Fatalf("supply %d (%v), want nothing minted", es.Supply, err)
	}
}

// chainless is a peer that checks proposals without any chain (as a remote oracle
// configured without an RPC endpoint would).
type chainless struct{ c *LocalCosigner }

func (c chainless) Key() [32]byte { return c.c.Key() }

func (c chainless) Cosign(ctx context.Context, p Proposal) ([64]byte, error) {
	own, err := c.c.Own(ctx, p.Summary.Epoch)
	if err != nil {
		return [64]byte{}, err
	}
	return Cosign(ctx, nil, c.c.Priv, c.c.Accounts, own, p)
}

// TestPhase1NonceMovedIsProposedAgain: the coordinator journals a co-signed phase 1 and
// crashes before sending it; meanwhile the nonce is advanced (another coordinator gave up
// a proposal on it). After the restart the journaled bytes can never land: the
// coordinator sees the nonce moved with no status for its signature, proposes again on
// the new value (journaled before sending), and the epoch is paid exactly once.
func TestPhase1NonceMovedIsProposedAgain(t *testing.T) {
	f := newFixture(t, 3, 2)
	ctx := context.Background()
	p := makePayout(61, 30)
	f.openAccounts(t, p)
	cfg := f.config([]int{0, 1, 2}, summaries(p))
	d := f.distributor(t, cfg)
	d.crash = func(step string) error {
		if step == "persisted e61/phase1" {
			return errCrash
		}
		return nil
	}
	if err := d.Distribute(ctx, p); !errors.Is(err, errCrash) {
		t.Fatalf("want the injected crash, got %v", err)
	}
	e, err := d.journal.get("e61/phase1")
	if err != nil || e == nil || e.LastValid != nonceLife {
		t.Fatalf("journaled phase 1: %+v %v, want a durable-nonce entry", e, err)
	}
	first := e.Signature
	bh, err := sol.HashFromBase58(e.Blockhash)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Abandon(ctx, bh); err != nil {
		t.Fatal(err)
	}
	restarted := f.distributor(t, cfg)
	if err := restarted.Distribute(ctx, p); err != nil {
		t.Fatal(err)
	}
	checkPaid(t, f, restarted, 0, p)
	e, err = restarted.journal.get("e61/phase1")
	if err != nil {
		t.Fatal(err)
	}
	if e.Signature == first || len(e.Previous) != 1 || e.Previous[0] != first {
		t.Fatalf("phase 1 entry %+v: want a new signature with the first one kept", e)
	}
	if st := restarted.Stats(); st.Resigned != 1 {
		t.Fatalf("stats %+v, want one re-proposal", st)
	}
}

// TestSetupReplacesUnusableTable: a journaled phase-1 lookup table whose recent slot is no
// longer in SlotHashes (Setup interrupted long ago) is refused by preflight; Setup then
// creates another one, and phase 1 uses it.
func TestSetupReplacesUnusableTable(t *testing.T) {
	f := newFixture(t, 3, 2)
	ctx := context.Background()
	p := makePayout(71, 10)
	f.openAccounts(t, p)
	d, err := New(f.config([]int{0, 1}, summaries(p)))
	if err != nil {
		t.Fatal(err)
	}
	_, stale, err := createLookupTable(sol.PublicKey(pub(f.payer)), sol.PublicKey(pub(f.payer)), 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.journal.mark(phase1TableMark, []byte(`{"addr":"`+stale.String()+`","recent_slot":5}`)); err != nil {
		t.Fatal(err)
	}
	if err := d.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	tb, err := d.phase1Table(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tb.Address == [32]byte(stale) || len(tb.Entries) != 5 {
		t.Fatalf("phase-1 table %s with %d entries, want a new one with 5", sol.PublicKey(tb.Address), len(tb.Entries))
	}
	if err := d.Distribute(ctx, p); err != nil {
		t.Fatal(err)
	}
	checkPaid(t, f, d, 0, p)
}

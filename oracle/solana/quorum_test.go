package solana

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
)

// submitPhase1 builds phase 1 for quorum, has every quorum member and the payer sign, and
// sends it with preflight; it returns the send error.
func submitPhase1(t *testing.T, f *fixture, d *Distributor, s Summary, quorum []int) error {
	t.Helper()
	ctx := context.Background()
	c := rpc.New(f.net.URL())
	bh, err := c.GetLatestBlockhash(ctx, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	var qk [][32]byte
	for _, i := range quorum {
		qk = append(qk, pub(f.oracles[i]))
	}
	msg, err := BuildPhase1(d.Accounts(), pub(f.payer), s, qk, bh.Value.Blockhash)
	if err != nil {
		t.Fatal(err)
	}
	sigs := map[[32]byte][64]byte{pub(f.payer): [64]byte(ed25519.Sign(f.payer, msg))}
	for _, i := range quorum {
		sigs[pub(f.oracles[i])] = [64]byte(ed25519.Sign(f.oracles[i], msg))
	}
	raw, err := assemble(msg, sigs)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SendRawTransactionWithOpts(ctx, raw, rpc.TransactionOpts{PreflightCommitment: rpc.CommitmentFinalized})
	return err
}

func supply(t *testing.T, f *fixture, d *Distributor) uint64 {
	t.Helper()
	es, err := NewChain(f.net.URL()).Escrow(context.Background(), d.Accounts())
	if err != nil {
		t.Fatal(err)
	}
	return es.Supply
}

func TestRetryByAnotherMajorityRejected(t *testing.T) {
	f := newFixture(t, 5, 3)
	p := makePayout(42, 60)
	a := f.distributor(t, f.config([]int{0, 1, 4}, summaries(p)))
	f.openAccounts(t, p)
	if err := a.Distribute(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	before := supply(t, f, a)
	// The chain rejects a second authorisation by {2,3,4} at oracle 4's marker.
	err := submitPhase1(t, f, a, p.Summary(), []int{2, 3, 4})
	if err == nil || !strings.Contains(err.Error(), "Custom") {
		t.Fatalf("retry by another majority: %v, want a Custom(0) rejection", err)
	}
	if got := supply(t, f, a); got != before {
		t.Fatalf("supply %d after rejected retry, want %d", got, before)
	}
	// Oracles that check the chain refuse to co-sign the epoch again.
	lc := &LocalCosigner{Priv: f.oracles[2], Accounts: a.Accounts(), Own: summaries(p), Chain: NewChain(f.net.URL())}
	if err := lc.Chain.CheckAuthorizable(context.Background(), a.Accounts(), lc.Key(), p.Epoch); err != nil {
		t.Fatalf("oracle 2 never signed epoch 42: %v", err)
	}
	lc4 := &LocalCosigner{Priv: f.oracles[4], Accounts: a.Accounts(), Own: summaries(p), Chain: NewChain(f.net.URL())}
	if _, err := lc4.Cosign(context.Background(), Proposal{Summary: p.Summary()}); !errors.Is(err, ErrNotAuthorizable) {
		t.Fatalf("oracle 4 co-signs epoch 42 again: %v", err)
	}
	// A second coordinator (own journal) with the same manifest takes the epoch over and
	// finds every batch paid; with another manifest for the epoch it refuses before sending.
	cfg := f.config([]int{2, 3, 4}, summaries(p))
	cfg.JournalDir = t.TempDir()
	b := f.distributor(t, cfg)
	// Setup signed one transaction, b's own phase-1 lookup table (one per journal, created
	// before any epoch; it pays nothing): only what Distribute signs counts below.
	setup := setupTransactions(t, b)
	if err := b.Distribute(context.Background(), p); err != nil {
		t.Fatalf("second coordinator, same manifest: %v", err)
	}
	if n := b.Stats().Transactions - setup; n != 0 {
		t.Fatalf("second coordinator signed %d transactions for a paid epoch", n)
	}
	other := makePayoutOwners(42, 60, "other")
	cfg = f.config([]int{2, 3, 4}, summaries(other))
	cfg.JournalDir = t.TempDir()
	c := f.distributor(t, cfg)
	if err := c.Distribute(context.Background(), other); !errors.Is(err, ErrAuthorizedElsewhere) {
		t.Fatalf("third coordinator, other manifest: %v, want ErrAuthorizedElsewhere", err)
	}
	checkPaid(t, f, a, 0, p)
}

func TestFewerThanMSignaturesRejected(t *testing.T) {
	f := newFixture(t, 5, 3)
	p := makePayout(3, 10)
	d := f.distributor(t, f.config([]int{0, 1, 2}, summaries(p)))
	err := submitPhase1(t, f, d, p.Summary(), []int{0, 1})
	if err == nil || !strings.Contains(err.Error(), "simulation failed") {
		t.Fatalf("2 of 3 signatures: %v, want a preflight rejection", err)
	}
	if got := supply(t, f, d); got != 0 {
		t.Fatalf("supply %d after rejected mint", got)
	}
	// A distributor with only two cosigners cannot even propose.
	cfg := f.config([]int{0, 1}, summaries(p))
	cfg.JournalDir = t.TempDir()
	d2 := f.distributor(t, cfg)
	if err := d2.Distribute(context.Background(), p); err == nil {
		t.Fatal("distribute with 2 cosigners for M=3 succeeded")
	}
}

func TestTamperedManifestRefusedByPeer(t *testing.T) {
	f := newFixture(t, 3, 2)
	p := makePayout(9, 30)
	f.openAccounts(t, p)
	tampered := p
	tampered.Payouts = append([]Payout(nil), p.Payouts...)
	tampered.Payouts[17].Amount += 1_000_000 // the leader's store was altered
	tampered.Total += 1_000_000
	tampered.Root = testRoot(tampered)

	acc, _ := DeriveAccounts(pub(f.payer), "hexfield", pub(f.dist), 6)
	blockhashAcc := acc
	blockhashAcc.Nonce = [32]byte{} // the blockhash form is checked only without a nonce account
	peer := &LocalCosigner{Priv: f.oracles[1], Accounts: blockhashAcc, Own: summaries(p)}
	var quorum [][32]byte
	for _, o := range f.oracles[:2] {
		quorum = append(quorum, pub(o))
	}
	msg, err := BuildPhase1(acc, pub(f.payer), tampered.Summary(), quorum, sol.Hash{1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = peer.Cosign(context.Background(), Proposal{Summary: tampered.Summary(), Quorum: quorum, Message: msg})
	var mm *MismatchError
	if !errors.As(err, &mm) || mm.Field != "total" {
		t.Fatalf("peer cosigned a tampered manifest: %v", err)
	}
	// A correct summary with an altered message (approve more than the total) is refused too.
	honest, err := BuildPhase1(acc, pub(f.payer), p.Summary(), quorum, sol.Hash{1})
	if err != nil {
		t.Fatal(err)
	}
	evil, err := BuildPhase1(acc, pub(f.payer), tampered.Summary(), quorum, sol.Hash{1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = peer.Cosign(context.Background(), Proposal{Summary: p.Summary(), Quorum: quorum, Message: evil})
	if !errors.As(err, &mm) || !strings.HasPrefix(mm.Field, "instruction") {
		t.Fatalf("peer cosigned an altered message: %v", err)
	}
	if _, err := peer.Cosign(context.Background(), Proposal{Summary: p.Summary(), Quorum: quorum, Message: honest}); err != nil {
		t.Fatalf("honest proposal refused: %v", err)
	}

	// End to end: the leader distributes the tampered payout; both peers refuse.
	cfg := f.config(nil, nil)
	cfg.Cosigners = []Cosigner{
		&LocalCosigner{Priv: f.oracles[0], Accounts: acc, Own: summaries(p)},
		&LocalCosigner{Priv: f.oracles[1], Accounts: acc, Own: summaries(p)},
		&LocalCosigner{Priv: f.oracles[2], Accounts: acc, Own: summaries(p)},
	}
	d := f.distributor(t, cfg)
	if err := d.Distribute(context.Background(), tampered); !errors.As(err, &mm) {
		t.Fatalf("tampered distribute: %v", err)
	}
	if got := supply(t, f, d); got != 0 {
		t.Fatalf("supply %d after refused epoch", got)
	}
	// One dishonest peer does not block an honest epoch (2 of 3 agree).
	cfg.Cosigners[1] = &LocalCosigner{Priv: f.oracles[1], Accounts: acc, Own: summaries(tampered)}
	cfg.JournalDir = t.TempDir()
	d = f.distributor(t, cfg)
	if err := d.Distribute(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	checkPaid(t, f, d, 0, p)
}

func TestBlockhashExpiryMidPhase2(t *testing.T) {
	f := newFixture(t, 3, 2)
	p := makePayout(5, 200)
	d := f.distributor(t, f.config([]int{0, 1, 2}, summaries(p)))
	f.openAccounts(t, p)
	ctx := context.Background()
	expired := 0
	d.crash = func(step string) error {
		// Batch 2 was signed and persisted; its blockhash expires before it is sent. Batch 1
		// was sent already: its status must stop any re-signing of it.
		if strings.HasSuffix(step, "/batch-00002") && strings.HasPrefix(step, "persisted") {
			expired++
			return f.net.ExpireBlockhash(ctx)
		}
		return nil
	}
	if err := d.Distribute(ctx, p); err != nil {
		t.Fatal(err)
	}
	if expired == 0 {
		t.Fatal("expiry not injected")
	}
	if st := d.Stats(); st.Resigned < 1 {
		t.Fatalf("stats %+v: nothing re-signed", st)
	}
	checkPaid(t, f, d, 0, p)
}

// TestNextEpochWaitsForPayouts: while an epoch's allowance is not used up, oracles refuse to
// authorise the next one (ApproveChecked would overwrite the allowance).
func TestNextEpochWaitsForPayouts(t *testing.T) {
	f := newFixture(t, 3, 2)
	p := makePayout(10, 60)
	d := f.distributor(t, f.config([]int{0, 1, 2}, summaries(p)))
	p11 := makePayout(11, 5)
	f.openAccounts(t, p, p11)
	d.crash = func(step string) error {
		if step == "sent e10/phase1" {
			return errCrash
		}
		return nil
	}
	if err := d.Distribute(context.Background(), p); !errors.Is(err, errCrash) {
		t.Fatalf("want the injected crash, got %v", err)
	}
	c := NewChain(f.net.URL())
	if err := c.CheckAuthorizable(context.Background(), d.Accounts(), pub(f.oracles[0]), 11); !errors.Is(err, ErrNotAuthorizable) {
		t.Fatalf("epoch 11 authorisable while epoch 10 is unpaid: %v", err)
	}
	// The distributor refuses epoch 11 until epoch 10 is paid, and names epoch 10.
	d = f.distributor(t, f.config([]int{0, 1, 2}, summaries(p, p11)))
	err := d.Distribute(context.Background(), p11)
	if e, ok := UnfinishedEpoch(err); !errors.Is(err, ErrUnfinished) || !ok || e != 10 {
		t.Fatalf("epoch 11 before 10 finished: %v (unfinished epoch %d %v)", err, e, ok)
	}
	if err := d.Distribute(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckAuthorizable(context.Background(), d.Accounts(), pub(f.oracles[0]), 11); err != nil {
		t.Fatalf("epoch 11 after epoch 10 was paid: %v", err)
	}
	if err := d.Distribute(context.Background(), p11); err != nil {
		t.Fatal(err)
	}
	checkPaid(t, f, d, 0, p, p11)
}

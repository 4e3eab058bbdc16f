package oracle

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hexfield/hexfield/oracle/solana"
	"github.com/hexfield/hexfield/oracle/solana/localnet"
	"github.com/hexfield/hexfield/verifier"
	"github.com/hexfield/hexfield/wire"
)

func cosignKey(name string) ed25519.PrivateKey {
	h := sha256.Sum256([]byte(name))
	return ed25519.NewKeyFromSeed(h[:])
}

// startCosignServer runs a peer oracle's co-signing server on a loopback socket and
// returns its "ADDRESS@host:port".
func startCosignServer(t *testing.T, key ed25519.PrivateKey, leaders []wire.PublicKey, acc solana.Accounts, own solana.Summary, payouts ...solana.Payout) string {
	t.Helper()
	return startCosignServerOn(t, nil, key, leaders, acc, own, payouts...)
}

// startCosignServerOn starts a cosign server that checks proposals against chain (nil:
// none, so it refuses durable-nonce proposals).
func startCosignServerOn(t *testing.T, chain *solana.Chain, key ed25519.PrivateKey, leaders []wire.PublicKey, acc solana.Accounts, own solana.Summary, payouts ...solana.Payout) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewCosignServer(CosignServerConfig{Key: key, Leaders: leaders, Accounts: acc, Chain: chain,
		Own: func(_ context.Context, _ wire.PublicKey, epoch uint64) (solana.Summary, error) {
			if epoch != own.Epoch {
				return solana.Summary{}, fmt.Errorf("epoch %d not closed", epoch)
			}
			return own, nil
		},
		Payouts: func(_ context.Context, epoch uint64) ([]solana.Payout, error) {
			if epoch != own.Epoch || payouts == nil {
				return nil, fmt.Errorf("epoch %d not closed", epoch)
			}
			return payouts, nil
		}}, pc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return fmt.Sprintf("%s@%s", wire.PublicKeyOf(key), pc.LocalAddr())
}

func cosignClient(t *testing.T, key ed25519.PrivateKey, addr string) *CosignClient {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCosignClient(key, addr, pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// merkleRoot is the manifest's root (verifier) over a payout list.
func merkleRoot(epoch uint64, ps []solana.Payout) [32]byte {
	vs := make([]verifier.Payout, len(ps))
	for i, p := range ps {
		vs[i] = verifier.Payout{Owner: p.Owner, Amount: p.Amount}
	}
	return verifier.MerkleRoot(epoch, vs)
}

func TestCosignOverQUIC(t *testing.T) {
	leader, peer, stranger := cosignKey("leader"), cosignKey("peer"), cosignKey("stranger")
	acc := solana.Accounts{Mint: [32]byte{1}, Multisig: [32]byte{2}, Escrow: [32]byte{3}, Distributor: [32]byte{4}, Decimals: 6}
	payouts := []solana.Payout{{Owner: [32]byte{1}, Amount: 1_500_000}, {Owner: [32]byte{2}, Amount: 2_250_000}, {Owner: [32]byte{3}, Amount: 42}}
	own := solana.Summary{Epoch: 42, Count: 3, Total: 3_750_042, Root: merkleRoot(42, payouts)}
	addr := startCosignServer(t, peer, []wire.PublicKey{wire.PublicKeyOf(leader)}, acc, own)
	quorum := [][32]byte{wire.PublicKeyOf(leader), wire.PublicKeyOf(peer)}
	propose := func(s solana.Summary) solana.Proposal {
		msg, err := solana.BuildPhase1(acc, wire.PublicKeyOf(leader), s, quorum, [32]byte{9})
		if err != nil {
			t.Fatal(err)
		}
		return solana.Proposal{Summary: s, Quorum: quorum, Message: msg}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c := cosignClient(t, leader, addr)
	if c.Key() != wire.PublicKeyOf(peer) {
		t.Fatal("client key is not the peer's")
	}
	p := propose(own)
	sig, err := c.Cosign(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(peer.Public().(ed25519.PublicKey), p.Message, sig[:]) {
		t.Fatal("bad signature")
	}

	// A tampered manifest (one amount changed) is refused with the first differing field.
	tampered := own
	tampered.Total++
	_, err = c.Cosign(ctx, propose(tampered))
	var mm *solana.MismatchError
	if !errors.As(err, &mm) || mm.Field != "total" || mm.Own != "3750042" {
		t.Fatalf("tampered proposal: %v", err)
	}
	// The same summary with other message bytes is refused too.
	bad := propose(own)
	bad.Message = append([]byte(nil), bad.Message...)
	bad.Message[len(bad.Message)-1] ^= 1
	if _, err := c.Cosign(ctx, bad); !errors.As(err, &mm) {
		t.Fatalf("altered message: %v", err)
	}
	// The server keeps serving after refusals.
	if _, err := c.Cosign(ctx, p); err != nil {
		t.Fatal(err)
	}
	// A key that is not a known oracle is rejected by the TLS handshake.
	sc := cosignClient(t, stranger, addr)
	if _, err := sc.Cosign(ctx, p); err == nil {
		t.Fatal("stranger got a signature")
	}
}

// TestCosignServerNonceDeployment: a peer whose deployment has a durable nonce account
// refuses a blockhash proposal (the form mismatch travels back over QUIC), and one without
// a chain configured (Chain nil, not a typed nil reader) refuses a durable-nonce proposal
// as unchecked.
func TestCosignServerNonceDeployment(t *testing.T) {
	leader, peer := cosignKey("leader"), cosignKey("peer")
	acc := solana.Accounts{Mint: [32]byte{1}, Multisig: [32]byte{2}, Escrow: [32]byte{3}, Distributor: [32]byte{4}, Decimals: 6, Nonce: [32]byte{5}}
	payouts := []solana.Payout{{Owner: [32]byte{1}, Amount: 1_500_000}, {Owner: [32]byte{2}, Amount: 42}}
	own := solana.Summary{Epoch: 43, Count: 2, Total: 1_500_042, Root: merkleRoot(43, payouts)}
	addr := startCosignServer(t, peer, []wire.PublicKey{wire.PublicKeyOf(leader)}, acc, own)
	quorum := [][32]byte{wire.PublicKeyOf(leader), wire.PublicKeyOf(peer)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := cosignClient(t, leader, addr)

	legacy, err := solana.BuildPhase1(acc, wire.PublicKeyOf(leader), own, quorum, [32]byte{9})
	if err != nil {
		t.Fatal(err)
	}
	var mm *solana.MismatchError
	if _, err := c.Cosign(ctx, solana.Proposal{Summary: own, Quorum: quorum, Message: legacy}); !errors.As(err, &mm) || mm.Field != "form" {
		t.Fatalf("blockhash proposal: %v, want a form mismatch", err)
	}
	onNonce, err := solana.BuildPhase1Nonce(acc, wire.PublicKeyOf(leader), own, quorum, [32]byte{7}, solana.LookupTable{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Cosign(ctx, solana.Proposal{Summary: own, Quorum: quorum, Message: onNonce}); err == nil || !strings.Contains(err.Error(), solana.ErrNonceUnchecked.Error()) {
		t.Fatalf("durable-nonce proposal without a chain: %v, want %v", err, solana.ErrNonceUnchecked)
	}
}

// TestCosignDistributeOnChain: a leader collects phase-1 signatures from peer oracles over
// QUIC and pays an epoch on the localnet; a peer whose store disagrees refuses, and the
// leader completes with the other majority.
func TestCosignDistributeOnChain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ln := localnet.StartForTest(t)
	leader, peer1, peer2 := cosignKey("oracle-a"), cosignKey("oracle-b"), cosignKey("oracle-c")
	payer, dist := cosignKey("payer"), cosignKey("distributor")
	for _, k := range []ed25519.PrivateKey{payer, dist} {
		if err := ln.Call(ctx, "requestAirdrop", []any{wire.PublicKeyOf(k).String(), 100_000_000_000}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var p solana.EpochPayout
	p.Epoch = 3
	for i := range 60 {
		o := sha256.Sum256([]byte{byte(i)})
		p.Payouts = append(p.Payouts, solana.Payout{Owner: o, Amount: uint64(1_000 + i)})
	}
	slices.SortFunc(p.Payouts, func(a, b solana.Payout) int { return bytes.Compare(a.Owner[:], b.Owner[:]) })
	for _, q := range p.Payouts {
		p.Total += q.Amount
	}
	p.Root = merkleRoot(p.Epoch, p.Payouts)
	// Peer 1's store lost a witness: one owner is paid 5 less.
	theirs := slices.Clone(p.Payouts)
	theirs[17].Amount -= 5
	wrong := solana.EpochPayout{Epoch: p.Epoch, Payouts: theirs, Total: p.Total - 5, Root: merkleRoot(p.Epoch, theirs)}

	acc, err := solana.DeriveAccounts(wire.PublicKeyOf(payer), "hexfield", wire.PublicKeyOf(dist), 6)
	if err != nil {
		t.Fatal(err)
	}
	// Owners open their own reward accounts (the network creates none); these owners have no
	// keys, so the accounts are written straight into the localnet's state.
	for _, q := range p.Payouts {
		a, err := solana.AssociatedTokenAddress(q.Owner, acc.Mint)
		if err != nil {
			t.Fatal(err)
		}
		if err := ln.SetTokenAccount(ctx, wire.PublicKey(a).String(), acc.Mint, q.Owner, 0); err != nil {
			t.Fatal(err)
		}
	}
	leaders := []wire.PublicKey{wire.PublicKeyOf(leader)}
	// The peers read the chain: the deployment has a nonce account, so proposals are on it.
	chain := solana.NewChain(ln.URL())
	addr1 := startCosignServerOn(t, chain, peer1, leaders, acc, wrong.Summary(), theirs...) // its store disagrees
	addr2 := startCosignServerOn(t, chain, peer2, leaders, acc, p.Summary())
	own := func(context.Context, uint64) (solana.Summary, error) { return p.Summary(), nil }
	var logs bytes.Buffer
	d, err := solana.New(solana.Config{RPCURL: ln.URL(), JournalDir: t.TempDir(), Payer: payer, Distributor: dist,
		Oracles:   [][32]byte{wire.PublicKeyOf(leader), wire.PublicKeyOf(peer1), wire.PublicKeyOf(peer2)},
		Threshold: 2, PollInterval: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Cosigners: []solana.Cosigner{
			&solana.LocalCosigner{Priv: leader, Accounts: acc, Own: own},
			cosignClient(t, leader, addr1),
			cosignClient(t, leader, addr2),
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Distribute(ctx, p); err != nil {
		t.Fatal(err)
	}
	// The leader logged the first differing manifest line of the refusing peer.
	want := fmt.Sprintf("first_difference=\"line 17: ours %s %d, theirs %s %d\"", wire.PublicKey(p.Payouts[17].Owner), p.Payouts[17].Amount, wire.PublicKey(p.Payouts[17].Owner), p.Payouts[17].Amount-5)
	if !strings.Contains(logs.String(), want) {
		t.Fatalf("log lacks %s:\n%s", want, logs.String())
	}
	owners := make([][32]byte, len(p.Payouts))
	for i, q := range p.Payouts {
		owners[i] = q.Owner
	}
	bal, err := solana.NewChain(ln.URL()).TokenBalances(ctx, acc.Mint, owners)
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range p.Payouts {
		if bal[i] != q.Amount {
			t.Fatalf("owner %d: balance %d, want %d", i, bal[i], q.Amount)
		}
	}
}

// FuzzCosignRequest: any bytes on a co-signing stream give a refusal or a signature for the
// exact expected message, never a panic.
func FuzzCosignRequest(f *testing.F) {
	leader, peer := cosignKey("leader"), cosignKey("peer")
	acc := solana.Accounts{Mint: [32]byte{1}, Multisig: [32]byte{2}, Escrow: [32]byte{3}, Distributor: [32]byte{4}, Decimals: 6}
	own := solana.Summary{Epoch: 42, Count: 3, Total: 3_750_042, Root: [32]byte{7}}
	quorum := [][32]byte{wire.PublicKeyOf(leader), wire.PublicKeyOf(peer)}
	msg, err := solana.BuildPhase1(acc, wire.PublicKeyOf(leader), own, quorum, [32]byte{9})
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	req := &wire.CosignRequest{Epoch: 42, Count: 3, Total: 3_750_042, Root: own.Root[:], Quorum: [][]byte{quorum[0][:], quorum[1][:]}, Message: msg}
	if err := writeMessage(&buf, &wire.CosignStream{Msg: &wire.CosignStream_Cosign{Cosign: req}}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	var pbuf bytes.Buffer
	if err := writeMessage(&pbuf, &wire.CosignStream{Msg: &wire.CosignStream_Payouts{Payouts: &wire.PayoutsRequest{Epoch: 42, Offset: 1, Limit: 5000}}}); err != nil {
		f.Fatal(err)
	}
	f.Add(pbuf.Bytes())
	f.Add(buf.Bytes()[:20])
	f.Add([]byte{0, 0, 0, 0})
	lines := []solana.Payout{{Owner: [32]byte{1}, Amount: 1}, {Owner: [32]byte{2}, Amount: 2}}
	s := &CosignServer{cfg: CosignServerConfig{Key: peer, Accounts: acc,
		Own:     func(context.Context, wire.PublicKey, uint64) (solana.Summary, error) { return own, nil },
		Payouts: func(context.Context, uint64) ([]solana.Payout, error) { return lines, nil }}}
	s.cfg.fill()
	s.log = s.cfg.Logger
	f.Fuzz(func(t *testing.T, b []byte) {
		var r wire.CosignStream
		if err := readMessage(bytes.NewReader(b), &r); err != nil {
			return
		}
		if pr := r.GetPayouts(); pr != nil {
			if resp := s.payouts(context.Background(), pr); len(resp.GetPayouts()) > maxPayoutsPage {
				t.Fatalf("page of %d lines", len(resp.GetPayouts()))
			}
			return
		}
		resp := s.answer(context.Background(), wire.PublicKeyOf(leader), r.GetCosign())
		if len(resp.GetSignature()) > 0 && !bytes.Equal(r.GetCosign().GetMessage(), msg) {
			t.Fatalf("signed a different message")
		}
	})
}

// TestFirstDifferencePaged: the leader pages through a peer's 2 500 payout lines and names
// the first one that differs, and reports identical lists as "".
func TestFirstDifferencePaged(t *testing.T) {
	leader, peer := cosignKey("leader"), cosignKey("peer")
	ours := solana.EpochPayout{Epoch: 8}
	for i := range 2500 {
		ours.Payouts = append(ours.Payouts, solana.Payout{Owner: sha256.Sum256([]byte{byte(i), byte(i >> 8)}), Amount: uint64(i + 1)})
	}
	theirs := slices.Clone(ours.Payouts)
	theirs[2100].Amount = 7
	addr := startCosignServer(t, peer, []wire.PublicKey{wire.PublicKeyOf(leader)}, solana.Accounts{}, solana.Summary{Epoch: 8}, theirs...)
	c := cosignClient(t, leader, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := c.FirstDifference(ctx, ours)
	if err != nil || !strings.HasPrefix(d, "line 2100: ") || !strings.HasSuffix(d, " 7") {
		t.Fatalf("first difference %q, %v", d, err)
	}
	same := startCosignServer(t, peer, []wire.PublicKey{wire.PublicKeyOf(leader)}, solana.Accounts{}, solana.Summary{Epoch: 8}, ours.Payouts...)
	if d, err := cosignClient(t, leader, same).FirstDifference(ctx, ours); err != nil || d != "" {
		t.Fatalf("identical lists: %q, %v", d, err)
	}
	short := startCosignServer(t, peer, []wire.PublicKey{wire.PublicKeyOf(leader)}, solana.Accounts{}, solana.Summary{Epoch: 8}, ours.Payouts[:1999]...)
	if d, err := cosignClient(t, leader, short).FirstDifference(ctx, ours); err != nil || !strings.Contains(d, "theirs none (2500 lines vs 1999)") {
		t.Fatalf("shorter list: %q, %v", d, err)
	}
}

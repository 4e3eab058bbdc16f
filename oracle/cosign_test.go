package oracle

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/hexfield/hexfield/oracle/solana"
	"github.com/hexfield/hexfield/wire"
)

func cosignKey(name string) ed25519.PrivateKey {
	h := sha256.Sum256([]byte(name))
	return ed25519.NewKeyFromSeed(h[:])
}

// startCosignServer runs a peer oracle's co-signing server on a loopback socket and
// returns its "ADDRESS@host:port".
func startCosignServer(t *testing.T, key ed25519.PrivateKey, leaders []wire.PublicKey, acc solana.Accounts, own solana.Summary) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewCosignServer(CosignServerConfig{Key: key, Leaders: leaders, Accounts: acc,
		Own: func(_ context.Context, epoch uint64) (solana.Summary, error) {
			if epoch != own.Epoch {
				return solana.Summary{}, fmt.Errorf("epoch %d not closed", epoch)
			}
			return own, nil
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

func TestCosignOverQUIC(t *testing.T) {
	leader, peer, stranger := cosignKey("leader"), cosignKey("peer"), cosignKey("stranger")
	acc := solana.Accounts{Mint: [32]byte{1}, Multisig: [32]byte{2}, Escrow: [32]byte{3}, Distributor: [32]byte{4}, Decimals: 6}
	payouts := []solana.Payout{{Owner: [32]byte{1}, Amount: 1_500_000}, {Owner: [32]byte{2}, Amount: 2_250_000}, {Owner: [32]byte{3}, Amount: 42}}
	own := solana.Summary{Epoch: 42, Count: 3, Total: 3_750_042, Root: solana.MerkleRoot(42, payouts)}
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

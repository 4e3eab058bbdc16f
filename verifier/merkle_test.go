package verifier

import (
	"encoding/hex"
	"testing"

	"github.com/hexfield/hexfield/wire"
)

func fill(b byte) wire.PublicKey {
	var k wire.PublicKey
	for i := range k {
		k[i] = b
	}
	return k
}

// The vector of solana-rewards.md §2.
func TestMerkleVector(t *testing.T) {
	payouts := []Payout{{fill(1), 1_500_000}, {fill(2), 2_250_000}, {fill(3), 42}}
	leaves := []string{
		"c793ff693c1a80ceabac5c2c92dce4cba2101a320b4cf5ac2e44810cf814c0c9",
		"913ef664104b7215583ff6012b6b96f1cd627ecd3661861137d79981158071d5",
		"cd566bf9c3996eabce1ce70dacafd903a00b4e32691df402ad62bfd6ae21f4ba",
	}
	for i, p := range payouts {
		l := PayoutLeaf(42, uint32(i), p)
		if got := hex.EncodeToString(l[:]); got != leaves[i] {
			t.Errorf("leaf %d = %s, want %s", i, got, leaves[i])
		}
	}
	root := MerkleRoot(42, payouts)
	if got := hex.EncodeToString(root[:]); got != "663cf867bf70b3d4741804eff9ad81e1f495f053314be508717420eee9cdf0a0" {
		t.Errorf("root = %s", got)
	}
	if got := wire.PublicKey(root).String(); got != "7t6WSiJHshxQj7LPbWFD1UoqkGmpyfs6kBVrK6tqhDRZ" {
		t.Errorf("root base58 = %s", got)
	}
}

func TestMerkleProofs(t *testing.T) {
	for n := 1; n <= 40; n++ {
		payouts := make([]Payout, n)
		for i := range payouts {
			payouts[i] = Payout{fill(byte(i + 1)), uint64(i*1000 + 7)}
		}
		root := MerkleRoot(9, payouts)
		for i := range payouts {
			p := merkleProof(9, payouts, i)
			if !VerifyProof(root, 9, p) {
				t.Fatalf("n=%d i=%d: proof does not verify", n, i)
			}
			bad := p
			bad.Payout.Amount++
			if VerifyProof(root, 9, bad) {
				t.Fatalf("n=%d i=%d: tampered amount verifies", n, i)
			}
			if VerifyProof(root, 10, p) {
				t.Fatalf("n=%d i=%d: proof verifies for another epoch", n, i)
			}
			if n > 1 {
				bad = p
				bad.Index = (p.Index + 1) % uint32(n)
				if VerifyProof(root, 9, bad) {
					t.Fatalf("n=%d i=%d: proof verifies at another index", n, i)
				}
			}
		}
	}
}

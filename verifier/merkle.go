package verifier

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"

	"github.com/hexfield/hexfield/wire"
)

// Payout is one leaf of an epoch's payout list: an owner wallet and its
// amount in token base units. Payouts are sorted by owner bytes; the
// index of a leaf is its position.
type Payout struct {
	Owner  wire.PublicKey
	Amount uint64
}

// PayoutLeaf is the Merkle leaf of solana-rewards.md §2:
// SHA-256(0x00 ‖ u64_le(epoch) ‖ u32_le(index) ‖ owner[32] ‖ u64_le(amount)).
func PayoutLeaf(epoch uint64, index uint32, p Payout) [32]byte {
	var b [1 + 8 + 4 + 32 + 8]byte
	b[0] = 0x00
	binary.LittleEndian.PutUint64(b[1:], epoch)
	binary.LittleEndian.PutUint32(b[9:], index)
	copy(b[13:], p.Owner[:])
	binary.LittleEndian.PutUint64(b[45:], p.Amount)
	return sha256.Sum256(b[:])
}

func merkleNode(l, r [32]byte) [32]byte {
	var b [65]byte
	b[0] = 0x01
	copy(b[1:], l[:])
	copy(b[33:], r[:])
	return sha256.Sum256(b[:])
}

// MerkleRoot returns the root over the payouts (solana-rewards.md §2):
// neighbours are paired left to right, an odd last node moves up
// unchanged, and the root is the last node left. An empty list has the
// all-zero root.
func MerkleRoot(epoch uint64, payouts []Payout) [32]byte {
	if len(payouts) == 0 {
		return [32]byte{}
	}
	level := make([][32]byte, len(payouts))
	for i, p := range payouts {
		level[i] = PayoutLeaf(epoch, uint32(i), p)
	}
	for len(level) > 1 {
		next := make([][32]byte, 0, (len(level)+1)/2)
		for i := 0; i < len(level); i += 2 {
			if i+1 < len(level) {
				next = append(next, merkleNode(level[i], level[i+1]))
			} else {
				next = append(next, level[i])
			}
		}
		level = next
	}
	return level[0]
}

// Proof shows that a payout is leaf Index of Count leaves under a root.
// Siblings are listed from the leaf upward; levels where the node has no
// sibling (an odd last node) contribute none.
type Proof struct {
	Index    uint32
	Count    uint32
	Payout   Payout
	Siblings [][32]byte
}

// ErrNoPayout is returned by Proof for an owner that is not paid.
var ErrNoPayout = errors.New("owner has no payout in this manifest")

func merkleProof(epoch uint64, payouts []Payout, index int) Proof {
	pr := Proof{Index: uint32(index), Count: uint32(len(payouts)), Payout: payouts[index]}
	level := make([][32]byte, len(payouts))
	for i, p := range payouts {
		level[i] = PayoutLeaf(epoch, uint32(i), p)
	}
	pos := index
	for len(level) > 1 {
		sib := pos ^ 1
		if sib < len(level) {
			pr.Siblings = append(pr.Siblings, level[sib])
		}
		next := make([][32]byte, 0, (len(level)+1)/2)
		for i := 0; i < len(level); i += 2 {
			if i+1 < len(level) {
				next = append(next, merkleNode(level[i], level[i+1]))
			} else {
				next = append(next, level[i])
			}
		}
		level = next
		pos /= 2
	}
	return pr
}

// VerifyProof reports whether p proves its payout under root for the
// epoch.
func VerifyProof(root [32]byte, epoch uint64, p Proof) bool {
	if p.Count == 0 || p.Index >= p.Count {
		return false
	}
	h := PayoutLeaf(epoch, p.Index, p.Payout)
	pos, n := uint64(p.Index), uint64(p.Count)
	used := 0
	for n > 1 {
		sib := pos ^ 1
		if sib < n {
			if used >= len(p.Siblings) {
				return false
			}
			if pos&1 == 0 {
				h = merkleNode(h, p.Siblings[used])
			} else {
				h = merkleNode(p.Siblings[used], h)
			}
			used++
		}
		pos /= 2
		n = (n + 1) / 2
	}
	return used == len(p.Siblings) && h == root
}

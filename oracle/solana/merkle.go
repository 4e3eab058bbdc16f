package solana

import (
	"crypto/sha256"
	"encoding/binary"
)

// Leaf is the Merkle leaf of one payout (spec §2):
// SHA-256(0x00 ‖ u64_le(epoch) ‖ u32_le(index) ‖ owner ‖ u64_le(amount)).
func Leaf(epoch uint64, index uint32, owner [32]byte, amount uint64) [32]byte {
	var b [1 + 8 + 4 + 32 + 8]byte
	binary.LittleEndian.PutUint64(b[1:], epoch)
	binary.LittleEndian.PutUint32(b[9:], index)
	copy(b[13:], owner[:])
	binary.LittleEndian.PutUint64(b[45:], amount)
	return sha256.Sum256(b[:])
}

// MerkleRoot is the root over the payouts in order: neighbours are paired left to right with
// SHA-256(0x01 ‖ left ‖ right) and an odd last node moves up unchanged. Zero for no payouts.
func MerkleRoot(epoch uint64, payouts []Payout) [32]byte {
	if len(payouts) == 0 {
		return [32]byte{}
	}
	level := make([][32]byte, len(payouts))
	for i, p := range payouts {
		level[i] = Leaf(epoch, uint32(i), p.Owner, p.Amount)
	}
	var buf [65]byte
	buf[0] = 1
	for len(level) > 1 {
		next := level[:0]
		for i := 0; i < len(level); i += 2 {
			if i+1 == len(level) {
				next = append(next, level[i])
				continue
			}
			copy(buf[1:], level[i][:])
			copy(buf[33:], level[i+1][:])
			next = append(next, sha256.Sum256(buf[:]))
		}
		level = next
	}
	return level[0]
}

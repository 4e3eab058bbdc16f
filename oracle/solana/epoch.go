package solana

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"

	sol "github.com/gagliardetto/solana-go"
)

// Payout is one owner's reward for an epoch, in the mint's base units.
type Payout struct {
	Owner  [32]byte
	Amount uint64
}

// EpochPayout is what the oracle hands to Distribute: the epoch's payouts sorted by owner
// bytes (index = position; batch k = Payouts[BatchSize·k : BatchSize·(k+1)]), their total and the manifest's
// Merkle root, which the verifier computed over these payouts and the phase-1 memo carries.
type EpochPayout struct {
	Epoch   uint64
	Root    [32]byte
	Total   uint64
	Payouts []Payout
}

// Summary is what oracles compare before co-signing an epoch (spec §2).
type Summary struct {
	Epoch uint64
	Count uint64
	Total uint64
	Root  [32]byte
}

// BatchSize is the number of payouts per phase-2 transaction. The one constant for the
// batch partition, the lookup-table sizing and every tool that names a payout's batch.
//
// A batch is a v0 transaction through one lookup table: SetComputeUnitLimit, the batch's
// marker (a transfer of its rent, AllocateWithSeed and loader-v3 InitializeBuffer, ≈ 240
// bytes with the marker's and the loader's static keys), BatchSize TransferChecked (18
// bytes each) and the memo. 33 fit 1 232 bytes for every epoch and batch number a marker
// seed can hold (1 221 bytes at the 32-byte seed limit; ≈ 1 201 for 10-digit epochs), and
// dropping SetComputeUnitLimit, as sign does for an oversize transaction, leaves 40 bytes
// more (a batch that burns a skipped payout instead is at most 6 bytes larger and fits
// too). TestBatchSize checks it.
//
// The partition is fixed by the manifest: changing BatchSize while an epoch is half paid
// would map its batch markers to other payouts, so it must only change between epochs that
// every coordinator has settled.
const BatchSize = 33

// Summary returns the payout's summary.
func (p EpochPayout) Summary() Summary {
	return Summary{Epoch: p.Epoch, Count: uint64(len(p.Payouts)), Total: p.Total, Root: p.Root}
}

// Batches is the number of phase-2 transactions: ⌈len(Payouts)/BatchSize⌉.
func (p EpochPayout) Batches() int { return (len(p.Payouts) + BatchSize - 1) / BatchSize }

// Batch returns the payouts of batch k.
func (p EpochPayout) Batch(k int) []Payout {
	return p.Payouts[k*BatchSize : min((k+1)*BatchSize, len(p.Payouts))]
}

// Validate checks that payouts are non-zero, strictly sorted by owner and sum to Total. Root
// is the manifest's; this package does not recompute it (the verifier owns the Merkle tree).
func (p EpochPayout) Validate() error {
	var sum uint64
	for i, q := range p.Payouts {
		if q.Amount == 0 {
			return fmt.Errorf("payout %d: zero amount", i)
		}
		if i > 0 && bytes.Compare(p.Payouts[i-1].Owner[:], q.Owner[:]) >= 0 {
			return fmt.Errorf("payout %d: owners not strictly sorted", i)
		}
		var carry uint64
		sum, carry = bits.Add64(sum, q.Amount, 0)
		if carry != 0 {
			return errors.New("payouts: total overflows u64")
		}
	}
	if sum != p.Total {
		return fmt.Errorf("payouts: sum %d != total %d", sum, p.Total)
	}
	return checkMarkerSeeds(p.Epoch, p.Batches())
}

// checkMarkerSeeds checks that the marker seed of every batch fits the 32 bytes of a seed.
func checkMarkerSeeds(epoch uint64, batches int) error {
	if batches > 0 && len(batchMarkerSeed(epoch, batches-1)) > sol.MaxSeedLength {
		return fmt.Errorf("payouts: epoch %d with %d batches: marker seed %q exceeds %d bytes", epoch, batches, batchMarkerSeed(epoch, batches-1), sol.MaxSeedLength)
	}
	return nil
}

// PayoutDiff describes the first payout line where ours and theirs differ ("" when equal):
// "line 17: ours <owner> 1000, theirs <owner> 2000", or a length difference.
func PayoutDiff(ours, theirs []Payout) string {
	for i := range min(len(ours), len(theirs)) {
		if ours[i] != theirs[i] {
			return fmt.Sprintf("line %d: ours %s %d, theirs %s %d", i, sol.PublicKey(ours[i].Owner), ours[i].Amount, sol.PublicKey(theirs[i].Owner), theirs[i].Amount)
		}
	}
	switch {
	case len(ours) > len(theirs):
		return fmt.Sprintf("line %d: ours %s %d, theirs none (%d lines vs %d)", len(theirs), sol.PublicKey(ours[len(theirs)].Owner), ours[len(theirs)].Amount, len(ours), len(theirs))
	case len(theirs) > len(ours):
		return fmt.Sprintf("line %d: ours none, theirs %s %d (%d lines vs %d)", len(ours), sol.PublicKey(theirs[len(ours)].Owner), theirs[len(ours)].Amount, len(ours), len(theirs))
	}
	return ""
}

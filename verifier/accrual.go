package verifier

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/hexfield/hexfield/wire"
)

// Accrual: who is paid this epoch (poc-rules §9, "Payment and accrual";
// solana-rewards.md §4). The network never pays a recipient's rent, so an
// owner is paid only once it has opened its reward token account itself,
// and only when what it is due reaches the minimum payout; until then its
// earnings accrue. Every manifest carries the ledger after its epoch: each
// owner's cumulative amount owed (everything ever earned) and paid. An
// owner is paid exactly what it is owed and has not been paid, so
// nothing is paid twice as long as every manifest builds on the one paid
// before it.

// OwnerLedger is one owner's account after a manifest's epoch: Owed is
// everything it has earned and Paid everything it has been paid, in token
// base units, cumulative over the chain of manifests; Paid ≤ Owed, and
// Owed − Paid is what it is still due.
type OwnerLedger struct {
	Owner wire.PublicKey `json:"owner"`
	Owed  uint64         `json:"owed"`
	Paid  uint64         `json:"paid"`
}

// Due is what the owner is owed and has not been paid.
func (l OwnerLedger) Due() uint64 { return l.Owed - l.Paid }

func cmpOwner(a, b wire.PublicKey) int { return bytes.Compare(a[:], b[:]) }

// checkLedger checks a ledger as a manifest carries it: sorted by owner
// without duplicates, every owner owed something, none paid more than it
// is owed.
func checkLedger(l []OwnerLedger) error {
	for i, e := range l {
		if i > 0 && cmpOwner(l[i-1].Owner, e.Owner) >= 0 {
			return fmt.Errorf("ledger not sorted by owner or owner %s twice", e.Owner)
		}
		if e.Owed == 0 {
			return fmt.Errorf("ledger: owner %s owed nothing", e.Owner)
		}
		if e.Paid > e.Owed {
			return fmt.Errorf("ledger: owner %s paid %d of %d owed", e.Owner, e.Paid, e.Owed)
		}
	}
	return nil
}

// checkFunded checks the funded owners: sorted, without duplicates.
func checkFunded(f [][32]byte) error {
	for i := 1; i < len(f); i++ {
		if bytes.Compare(f[i-1][:], f[i][:]) >= 0 {
			return fmt.Errorf("funded owners not sorted or %s twice", wire.PublicKey(f[i]))
		}
	}
	return nil
}

// payThreshold is the smallest amount paid: the minimum payout, and at
// least one base unit.
func payThreshold(minPayout uint64) uint64 { return max(minPayout, 1) }

// settle applies the payment rule to one epoch. earned is what each owner
// earned in the epoch (sorted by owner, amounts > 0), parent the ledger of
// the manifest this one builds on, funded the owners whose reward token
// account exists. For every owner in earned or parent: owed = parent owed
// + earned; it is paid owed − parent paid when it is funded and that
// reaches max(minPayout, 1), and then paid = owed; otherwise paid stays.
// It returns the ledger after the epoch and the payouts, both sorted by
// owner, and the payouts' total.
func settle(earned []Payout, parent []OwnerLedger, funded [][32]byte, minPayout uint64) ([]OwnerLedger, []Payout, uint64, error) {
	if err := checkLedger(parent); err != nil {
		return nil, nil, 0, fmt.Errorf("parent %w", err)
	}
	if err := checkFunded(funded); err != nil {
		return nil, nil, 0, err
	}
	threshold := payThreshold(minPayout)
	ledger := make([]OwnerLedger, 0, max(len(parent), len(earned)))
	var payouts []Payout
	var total uint64
	i, j, k := 0, 0, 0
	for i < len(earned) || j < len(parent) {
		var e OwnerLedger
		var amount uint64
		switch {
		case j == len(parent) || i < len(earned) && cmpOwner(earned[i].Owner, parent[j].Owner) < 0:
			e = OwnerLedger{Owner: earned[i].Owner}
			amount = earned[i].Amount
			i++
		case i == len(earned) || cmpOwner(earned[i].Owner, parent[j].Owner) > 0:
			e = parent[j]
			j++
		default:
			e = parent[j]
			amount = earned[i].Amount
			i, j = i+1, j+1
		}
		if e.Owed+amount < e.Owed {
			return nil, nil, 0, fmt.Errorf("owner %s: owed %d + earned %d overflows", e.Owner, e.Owed, amount)
		}
		e.Owed += amount
		for k < len(funded) && bytes.Compare(funded[k][:], e.Owner[:]) < 0 {
			k++
		}
		isFunded := k < len(funded) && funded[k] == e.Owner
		if due := e.Due(); isFunded && due >= threshold {
			if total+due < total {
				return nil, nil, 0, fmt.Errorf("payouts overflow at owner %s", e.Owner)
			}
			total += due
			payouts = append(payouts, Payout{Owner: e.Owner, Amount: due})
			e.Paid = e.Owed
		}
		ledger = append(ledger, e)
	}
	return ledger, payouts, total, nil
}

// earnings returns what each owner earned in a manifest's epoch: the sum
// of its hotspot lines, plus the operations share for opsOwner when that
// is not zero; sorted by owner, amounts > 0.
func earnings(lines []HotspotReward, opsOwner wire.PublicKey, ops uint64) ([]Payout, error) {
	out := make([]Payout, 0, len(lines)+1)
	for _, h := range lines {
		if h.Amount > 0 {
			out = append(out, Payout{Owner: h.Owner, Amount: h.Amount})
		}
	}
	if !opsOwner.IsZero() && ops > 0 {
		out = append(out, Payout{Owner: opsOwner, Amount: ops})
	}
	slices.SortStableFunc(out, func(a, b Payout) int { return cmpOwner(a.Owner, b.Owner) })
	n := 0
	for _, p := range out {
		if n > 0 && out[n-1].Owner == p.Owner {
			if out[n-1].Amount+p.Amount < p.Amount {
				return nil, fmt.Errorf("owner %s: earnings overflow", p.Owner)
			}
			out[n-1].Amount += p.Amount
			continue
		}
		out[n] = p
		n++
	}
	return out[:n], nil
}

// ErrLedger is wrapped by VerifyLedger's errors.
var ErrLedger = errors.New("ledger does not follow from its parent")

// VerifyLedger checks that manifest m's ledger and payouts follow from its
// parent's ledger by the payment rule (poc-rules §9): for every owner,
// owed grew by exactly what it earned in m's epoch (its hotspot lines,
// plus the operations share for m.OpsOwner), and either it was paid
// exactly owed − parent paid, at least max(m.MinPayout, 1), and is now
// fully paid, or it was not paid and its paid amount did not change.
// Whether an unpaid owner had a token account is on chain, not in the
// manifest, so it is not checked. parent is nil for a manifest without a
// parent (m.Parent = 0); a parent manifest older than version 3 has no
// ledger, which is right: those versions paid every owner in full.
//
// Auditors run it over the chain of published manifests: if every link
// verifies, no owner was paid more than it earned, whatever the oracles
// did.
func VerifyLedger(parent, m *Manifest) error {
	if m.Version < 3 {
		return fmt.Errorf("%w: manifest version %d has no ledger", ErrLedger, m.Version)
	}
	var prev []OwnerLedger
	switch {
	case parent == nil && m.Parent != 0:
		return fmt.Errorf("%w: manifest names parent epoch %d, none given", ErrLedger, m.Parent)
	case parent != nil && parent.Epoch != m.Parent:
		return fmt.Errorf("%w: manifest names parent epoch %d, given epoch %d", ErrLedger, m.Parent, parent.Epoch)
	case parent != nil:
		prev = parent.Ledger
	}
	earned, err := earnings(m.Hotspots, m.OpsOwner, m.Ops)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrLedger, err)
	}
	// Recompute with every paid owner funded: the payouts must then be
	// exactly the owners the manifest paid, and the ledgers must agree.
	funded := make([][32]byte, len(m.Payouts))
	for i, p := range m.Payouts {
		funded[i] = p.Owner
	}
	want, pay, _, err := settle(earned, prev, funded, m.MinPayout)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrLedger, err)
	}
	if !slices.Equal(pay, m.Payouts) {
		return fmt.Errorf("%w: %s", ErrLedger, firstDiff(pay, m.Payouts, func(p Payout) wire.PublicKey { return p.Owner }))
	}
	if !slices.Equal(want, m.Ledger) {
		return fmt.Errorf("%w: %s", ErrLedger, firstDiff(want, m.Ledger, func(l OwnerLedger) wire.PublicKey { return l.Owner }))
	}
	return nil
}

// firstDiff describes the first entry where two sorted lists differ.
func firstDiff[T comparable](want, got []T, owner func(T) wire.PublicKey) string {
	for i := range min(len(want), len(got)) {
		if want[i] != got[i] {
			return fmt.Sprintf("at owner %s: want %+v, manifest has %+v", owner(want[i]), want[i], got[i])
		}
	}
	if len(want) > len(got) {
		return fmt.Sprintf("manifest lacks owner %s", owner(want[len(got)]))
	}
	return fmt.Sprintf("manifest has extra owner %s", owner(got[len(want)]))
}

// Outstanding is what the manifest's ledger still owes, in total: earned
// but not paid (and not minted) yet.
func (m *Manifest) Outstanding() uint64 {
	var s uint64
	for _, l := range m.Ledger {
		s += l.Due()
	}
	return s
}

// LedgerOf returns owner's entry in the manifest's ledger (zero if none).
func (m *Manifest) LedgerOf(owner wire.PublicKey) OwnerLedger {
	i, ok := slices.BinarySearchFunc(m.Ledger, owner, func(l OwnerLedger, o wire.PublicKey) int { return cmpOwner(l.Owner, o) })
	if !ok {
		return OwnerLedger{Owner: owner}
	}
	return m.Ledger[i]
}

// checkAccrual is the part of a version-3 manifest's consistency check
// that needs no parent: the earned amount matches the lines, the ledger is
// well formed, every owner that earned is in it, and every payout is at
// least the minimum and leaves its owner fully paid.
func (m *Manifest) checkAccrual() error {
	if m.Parent != 0 && m.Parent == m.Epoch {
		return fmt.Errorf("epoch %d is its own parent", m.Epoch)
	}
	if m.Earned > m.Emission || m.Emission-m.Earned != m.Unallocated {
		return fmt.Errorf("earned %d + unallocated %d ≠ emission %d", m.Earned, m.Unallocated, m.Emission)
	}
	earned, err := earnings(m.Hotspots, m.OpsOwner, m.Ops)
	if err != nil {
		return err
	}
	var sum uint64
	for _, e := range earned {
		if sum+e.Amount < sum {
			return fmt.Errorf("earnings overflow")
		}
		sum += e.Amount
	}
	if sum != m.Earned {
		return fmt.Errorf("lines and ops credit %d, earned says %d", sum, m.Earned)
	}
	if err := checkLedger(m.Ledger); err != nil {
		return err
	}
	find := func(o wire.PublicKey) (OwnerLedger, bool) {
		i, ok := slices.BinarySearchFunc(m.Ledger, o, func(l OwnerLedger, o wire.PublicKey) int { return cmpOwner(l.Owner, o) })
		if !ok {
			return OwnerLedger{}, false
		}
		return m.Ledger[i], true
	}
	for _, e := range earned {
		if l, ok := find(e.Owner); !ok || l.Owed < e.Amount {
			return fmt.Errorf("owner %s earned %d but the ledger owes it %d", e.Owner, e.Amount, l.Owed)
		}
	}
	threshold := payThreshold(m.MinPayout)
	for _, p := range m.Payouts {
		l, ok := find(p.Owner)
		switch {
		case !ok:
			return fmt.Errorf("owner %s paid but not in the ledger", p.Owner)
		case l.Paid != l.Owed || p.Amount > l.Owed:
			return fmt.Errorf("owner %s paid %d but left at %d of %d owed", p.Owner, p.Amount, l.Paid, l.Owed)
		case p.Amount < threshold:
			return fmt.Errorf("owner %s paid %d, below the minimum payout %d", p.Owner, p.Amount, m.MinPayout)
		}
	}
	return nil
}

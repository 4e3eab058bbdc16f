package verifier

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/hexfield/hexfield/wire"
)

// ManifestVersion is the version of the canonical manifest encoding.
// History: 1, the first; 2 (2026-12) adds the route charges after the
// hotspot lines; 3 (2026-12) adds accrual (accrual.go): the parent epoch,
// the minimum payout, the operations owner and the amount earned after
// the share totals, and the owners' ledger before the payouts, and pays
// only the owners the ledger says are due. Older manifests still decode
// and re-encode as they were, so stored epochs keep their bytes.
const ManifestVersion = 3

// ReasonCount is how many of a hotspot's beacons or witnesses in the
// epoch were invalid for one reason.
type ReasonCount struct {
	Reason Reason `json:"reason"`
	Count  uint32 `json:"count"`
}

// HotspotReward is a manifest line: one registered hotspot with any
// activity in the epoch (a beacon, a witness, a paid packet) or a flag.
type HotspotReward struct {
	Hotspot wire.PublicKey `json:"hotspot"`
	Owner   wire.PublicKey `json:"owner"`
	// Scale is the HIP-17 density scale at the epoch's start, ×10⁻⁴
	// (Params.DefaultScale when the hotspot was not interactive).
	Scale uint32 `json:"scale"`
	// BeaconUnits and WitnessUnits are the HIP-15 units earned, ×10⁻⁴.
	BeaconUnits  uint64 `json:"beacon_units"`
	WitnessUnits uint64 `json:"witness_units"`
	// BeaconShares and WitnessShares are units × the beaconer's scale,
	// ×10⁻⁸.
	BeaconShares  uint64 `json:"beacon_shares"`
	WitnessShares uint64 `json:"witness_shares"`
	// DC is the data credits of the packets it delivered.
	DC uint64 `json:"dc"`
	// Amounts in token base units.
	DataTransfer uint64 `json:"data_transfer"`
	Beacon       uint64 `json:"beacon"`
	Witness      uint64 `json:"witness"`
	Amount       uint64 `json:"amount"` // DataTransfer + Beacon + Witness
	// Withheld is what the fraud detectors' flags cost the hotspot: its
	// amount computed without them minus Amount.
	Withheld uint64 `json:"withheld"`
	// Flags are the detectors' reasons for the hotspot, ascending.
	Flags []Reason `json:"flags,omitempty"`
	// Beacons and Witnesses count its valid and selected reports;
	// InvalidBeacons and InvalidWitnesses count the others by reason
	// (self-witnesses are dropped and never counted).
	Beacons          uint32        `json:"beacons"`
	Witnesses        uint32        `json:"witnesses"`
	Unselected       uint32        `json:"unselected"`
	InvalidBeacons   []ReasonCount `json:"invalid_beacons,omitempty"`
	InvalidWitnesses []ReasonCount `json:"invalid_witnesses,omitempty"`
}

// Manifest is an epoch's reward manifest: what every oracle computes
// independently and co-signs when the roots agree.
type Manifest struct {
	Version uint32 `json:"version"`
	Epoch   uint64 `json:"epoch"`
	// StartMs and EndMs bound the epoch: [StartMs, EndMs) Unix ms.
	StartMs int64 `json:"start_ms"`
	EndMs   int64 `json:"end_ms"`
	// ParamsHash is Params.Hash of the parameter set used.
	ParamsHash [32]byte `json:"params_hash"`
	// InputDigest is SHA-256 over the sorted report ids, the sorted
	// entropy ids, the registry snapshot, the parameter hash, the
	// emission and the DC price (poc-rules §12f).
	InputDigest [32]byte `json:"input_digest"`
	Emission    uint64   `json:"emission"`
	TokensPerDC Ratio    `json:"tokens_per_dc"`

	// Pools in base units (poc-rules §9).
	Ops              uint64 `json:"ops"`
	DataTransferOwed uint64 `json:"data_transfer_owed"`
	DataTransfer     uint64 `json:"data_transfer"`
	BeaconPool       uint64 `json:"beacon_pool"`
	WitnessPool      uint64 `json:"witness_pool"`
	// Total is the sum of the payouts: what phase 1 mints and phase 2
	// pays. From version 3 it includes amounts earned in earlier epochs
	// and can exceed Emission. Unallocated = Emission − Earned (Emission −
	// Total before version 3) is never minted (pool remainders, the
	// unminted share, an ops share without an ops owner).
	Total       uint64 `json:"total"`
	Unallocated uint64 `json:"unallocated"`

	// Totals of the epoch's shares and DC.
	BeaconShares  uint64 `json:"beacon_shares"`
	WitnessShares uint64 `json:"witness_shares"`
	DC            uint64 `json:"dc"`

	// From version 3 (accrual.go). Parent is the epoch of the manifest
	// whose ledger this one builds on (0: none). MinPayout is the
	// minimum payout in base units (0: none; at least 1 unit is paid).
	// OpsOwner is the wallet credited with Ops (zero: none). Earned is
	// what the epoch credited to owners: the hotspot lines' amounts plus
	// Ops when OpsOwner is set; Earned + Unallocated = Emission.
	Parent    uint64         `json:"parent,omitempty"`
	MinPayout uint64         `json:"min_payout,omitempty"`
	OpsOwner  wire.PublicKey `json:"ops_owner,omitzero"`
	Earned    uint64         `json:"earned,omitempty"`

	Hotspots []HotspotReward `json:"hotspots"` // sorted by hotspot key
	// Charges are the data credits each route's payer is debited for the
	// epoch (charging.go), sorted by route id; they sum to DC.
	Charges []RouteCharge `json:"charges,omitempty"`
	// Ledger is every owner's cumulative owed and paid amounts after
	// this epoch (owners owed more than zero), sorted by owner; from
	// version 3.
	Ledger  []OwnerLedger `json:"ledger,omitempty"`
	Payouts []Payout      `json:"payouts"` // sorted by owner; index = position
	Root    [32]byte      `json:"root"`    // Merkle root over Payouts
}

// Proof returns the Merkle proof of owner's payout.
func (m *Manifest) Proof(owner wire.PublicKey) (Proof, error) {
	i, ok := slices.BinarySearchFunc(m.Payouts, owner, func(p Payout, o wire.PublicKey) int {
		return bytes.Compare(p.Owner[:], o[:])
	})
	if !ok {
		return Proof{}, fmt.Errorf("proof for %s: %w", owner, ErrNoPayout)
	}
	return merkleProof(m.Epoch, m.Payouts, i), nil
}

// Amount returns owner's payout, 0 if none.
func (m *Manifest) Amount(owner wire.PublicKey) uint64 {
	i, ok := slices.BinarySearchFunc(m.Payouts, owner, func(p Payout, o wire.PublicKey) int {
		return bytes.Compare(p.Owner[:], o[:])
	})
	if !ok {
		return 0
	}
	return m.Payouts[i].Amount
}

const manifestMagic = "hexfield-manifest"

// Marshal returns the canonical bytes of the manifest: a magic string, the
// version, then every field in declaration order, integers little-endian,
// lists prefixed with a u32 count. The same inputs in any order give the
// same bytes.
func (m *Manifest) Marshal() []byte {
	b := make([]byte, 0, 256+len(m.Hotspots)*200+len(m.Ledger)*48+len(m.Payouts)*40)
	b = append(b, manifestMagic...)
	u32 := func(v uint32) { b = binary.LittleEndian.AppendUint32(b, v) }
	u64 := func(v uint64) { b = binary.LittleEndian.AppendUint64(b, v) }
	u32(m.Version)
	u64(m.Epoch)
	u64(uint64(m.StartMs))
	u64(uint64(m.EndMs))
	b = append(b, m.ParamsHash[:]...)
	b = append(b, m.InputDigest[:]...)
	u64(m.Emission)
	u64(m.TokensPerDC.Num)
	u64(m.TokensPerDC.Den)
	for _, v := range []uint64{m.Ops, m.DataTransferOwed, m.DataTransfer, m.BeaconPool, m.WitnessPool,
		m.Total, m.Unallocated, m.BeaconShares, m.WitnessShares, m.DC} {
		u64(v)
	}
	if m.Version >= 3 {
		u64(m.Parent)
		u64(m.MinPayout)
		b = append(b, m.OpsOwner[:]...)
		u64(m.Earned)
	}
	u32(uint32(len(m.Hotspots)))
	for i := range m.Hotspots {
		h := &m.Hotspots[i]
		b = append(b, h.Hotspot[:]...)
		b = append(b, h.Owner[:]...)
		u32(h.Scale)
		for _, v := range []uint64{h.BeaconUnits, h.WitnessUnits, h.BeaconShares, h.WitnessShares, h.DC,
			h.DataTransfer, h.Beacon, h.Witness, h.Amount, h.Withheld} {
			u64(v)
		}
		u32(uint32(len(h.Flags)))
		for _, f := range h.Flags {
			b = append(b, byte(f))
		}
		u32(h.Beacons)
		u32(h.Witnesses)
		u32(h.Unselected)
		for _, rc := range [][]ReasonCount{h.InvalidBeacons, h.InvalidWitnesses} {
			u32(uint32(len(rc)))
			for _, c := range rc {
				b = append(b, byte(c.Reason))
				u32(c.Count)
			}
		}
	}
	if m.Version >= 2 {
		u32(uint32(len(m.Charges)))
	}
	for _, c := range m.Charges {
		u32(uint32(len(c.Route)))
		b = append(b, c.Route...)
		b = append(b, c.Payer[:]...)
		u32(c.Copies)
		u64(c.DC)
	}
	if m.Version >= 3 {
		u32(uint32(len(m.Ledger)))
	}
	for _, l := range m.Ledger {
		b = append(b, l.Owner[:]...)
		u64(l.Owed)
		u64(l.Paid)
	}
	u32(uint32(len(m.Payouts)))
	for _, p := range m.Payouts {
		b = append(b, p.Owner[:]...)
		u64(p.Amount)
	}
	b = append(b, m.Root[:]...)
	return b
}

// ErrMalformedManifest is wrapped by UnmarshalManifest's errors.
var ErrMalformedManifest = errors.New("malformed manifest")

type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.err = fmt.Errorf("%w: truncated", ErrMalformedManifest)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

func (r *reader) u8() byte {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) key() (k [32]byte) {
	if v := r.take(32); v != nil {
		copy(k[:], v)
	}
	return k
}

// count reads a list length and checks that at least min bytes per element
// remain, so a forged count cannot make us allocate.
func (r *reader) count(min int) int {
	n := r.u32()
	if r.err == nil && uint64(n)*uint64(min) > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: count %d exceeds the data", ErrMalformedManifest, n)
		return 0
	}
	return int(n)
}

func (r *reader) reason() Reason {
	v := r.u8()
	if r.err == nil && v >= NumReasons {
		r.err = fmt.Errorf("%w: reason %d", ErrMalformedManifest, v)
	}
	return Reason(v)
}

// UnmarshalManifest decodes bytes made by Marshal. It checks the encoding,
// the sort orders, the sums and the Merkle root, so a decoded manifest is
// internally consistent.
func UnmarshalManifest(data []byte) (*Manifest, error) {
	r := &reader{b: data}
	if string(r.take(len(manifestMagic))) != manifestMagic {
		return nil, fmt.Errorf("%w: bad magic", ErrMalformedManifest)
	}
	m := &Manifest{Version: r.u32()}
	if r.err == nil && (m.Version < 1 || m.Version > ManifestVersion) {
		return nil, fmt.Errorf("%w: version %d", ErrMalformedManifest, m.Version)
	}
	m.Epoch = r.u64()
	m.StartMs = int64(r.u64())
	m.EndMs = int64(r.u64())
	m.ParamsHash = r.key()
	m.InputDigest = r.key()
	m.Emission = r.u64()
	m.TokensPerDC.Num = r.u64()
	m.TokensPerDC.Den = r.u64()
	for _, v := range []*uint64{&m.Ops, &m.DataTransferOwed, &m.DataTransfer, &m.BeaconPool, &m.WitnessPool,
		&m.Total, &m.Unallocated, &m.BeaconShares, &m.WitnessShares, &m.DC} {
		*v = r.u64()
	}
	if m.Version >= 3 {
		m.Parent = r.u64()
		m.MinPayout = r.u64()
		m.OpsOwner = r.key()
		m.Earned = r.u64()
	}
	n := r.count(64 + 4 + 80 + 4*6)
	if n > 0 {
		m.Hotspots = make([]HotspotReward, n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		h := &m.Hotspots[i]
		h.Hotspot = r.key()
		h.Owner = r.key()
		h.Scale = r.u32()
		for _, v := range []*uint64{&h.BeaconUnits, &h.WitnessUnits, &h.BeaconShares, &h.WitnessShares, &h.DC,
			&h.DataTransfer, &h.Beacon, &h.Witness, &h.Amount, &h.Withheld} {
			*v = r.u64()
		}
		if nf := r.count(1); nf > 0 {
			h.Flags = make([]Reason, nf)
			for j := range h.Flags {
				h.Flags[j] = r.reason()
			}
		}
		h.Beacons = r.u32()
		h.Witnesses = r.u32()
		h.Unselected = r.u32()
		for _, dst := range []*[]ReasonCount{&h.InvalidBeacons, &h.InvalidWitnesses} {
			if nc := r.count(5); nc > 0 {
				*dst = make([]ReasonCount, nc)
				for j := range *dst {
					(*dst)[j] = ReasonCount{Reason: r.reason(), Count: r.u32()}
				}
			}
		}
	}
	nc := 0
	if m.Version >= 2 {
		nc = r.count(4 + 32 + 4 + 8)
	}
	if nc > 0 {
		m.Charges = make([]RouteCharge, nc)
	}
	for i := 0; i < nc && r.err == nil; i++ {
		c := &m.Charges[i]
		c.Route = string(r.take(r.count(1)))
		c.Payer = r.key()
		c.Copies = r.u32()
		c.DC = r.u64()
	}
	nl := 0
	if m.Version >= 3 {
		nl = r.count(48)
	}
	if nl > 0 {
		m.Ledger = make([]OwnerLedger, nl)
	}
	for i := 0; i < nl && r.err == nil; i++ {
		m.Ledger[i] = OwnerLedger{Owner: r.key(), Owed: r.u64(), Paid: r.u64()}
	}
	np := r.count(40)
	if np > 0 {
		m.Payouts = make([]Payout, np)
	}
	for i := 0; i < np && r.err == nil; i++ {
		m.Payouts[i] = Payout{Owner: r.key(), Amount: r.u64()}
	}
	m.Root = r.key()
	if r.err != nil {
		return nil, fmt.Errorf("unmarshal manifest: %w", r.err)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("unmarshal manifest: %w: %d trailing bytes", ErrMalformedManifest, len(r.b))
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("unmarshal manifest: %w", err)
	}
	return m, nil
}

// check verifies the manifest's internal consistency.
func (m *Manifest) check() error {
	for i := 1; i < len(m.Hotspots); i++ {
		if bytes.Compare(m.Hotspots[i-1].Hotspot[:], m.Hotspots[i].Hotspot[:]) >= 0 {
			return fmt.Errorf("%w: hotspots not sorted", ErrMalformedManifest)
		}
	}
	var dc uint64
	for i, c := range m.Charges {
		if i > 0 && m.Charges[i-1].Route >= c.Route {
			return fmt.Errorf("%w: charges not sorted", ErrMalformedManifest)
		}
		if dc+c.DC < dc {
			return fmt.Errorf("%w: charges overflow", ErrMalformedManifest)
		}
		dc += c.DC
	}
	if m.Version >= 2 && dc != m.DC {
		return fmt.Errorf("%w: charges sum to %d DC, the manifest says %d", ErrMalformedManifest, dc, m.DC)
	}
	var total uint64
	for i, p := range m.Payouts {
		if i > 0 && bytes.Compare(m.Payouts[i-1].Owner[:], p.Owner[:]) >= 0 {
			return fmt.Errorf("%w: payouts not sorted", ErrMalformedManifest)
		}
		if p.Amount == 0 {
			return fmt.Errorf("%w: zero payout", ErrMalformedManifest)
		}
		if total+p.Amount < total {
			return fmt.Errorf("%w: total overflows", ErrMalformedManifest)
		}
		total += p.Amount
	}
	if total != m.Total {
		return fmt.Errorf("%w: payouts sum to %d, total says %d", ErrMalformedManifest, total, m.Total)
	}
	if m.Version < 3 {
		if m.Total > m.Emission || m.Emission-m.Total != m.Unallocated {
			return fmt.Errorf("%w: total %d + unallocated %d ≠ emission %d", ErrMalformedManifest, m.Total, m.Unallocated, m.Emission)
		}
	} else if err := m.checkAccrual(); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedManifest, err)
	}
	if MerkleRoot(m.Epoch, m.Payouts) != m.Root {
		return fmt.Errorf("%w: root does not match the payouts", ErrMalformedManifest)
	}
	return nil
}

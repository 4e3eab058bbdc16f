package verifier

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"math/bits"
	"slices"

	"github.com/hexfield/hexfield/wire"
)

// EpochInput is everything an epoch's rewards depend on. Order within the
// slices does not matter; reports with the same id count once.
type EpochInput struct {
	Epoch  uint64
	Params Params
	// Registry is the registry snapshot at the epoch's start
	// (Params.EpochStart(Epoch)).
	Registry []Hotspot
	// Beacons, Witnesses and Packets are every stored report whose
	// received_ms lies in Params.InputWindow(Epoch). Reports outside the
	// window are ignored.
	Beacons   []Beacon
	Witnesses []Witness
	Packets   []Packet
	// Routes is the customer route snapshot at the epoch's start and
	// Balances the payers' data-credit balances then (charging.go).
	Routes   []Route
	Balances []Balance
	// Emission is the epoch's token emission E in base units.
	Emission uint64
	// TokensPerDC is the price of one data credit in token base units
	// (the $0.00001 peg converted at the epoch's token price).
	TokensPerDC Ratio

	// Accrual (accrual.go; poc-rules §9, "Payment and accrual"). Unlike
	// the report slices, these lists must be sorted, and a duplicate is
	// an error.
	//
	// Parent is the epoch of the manifest this one builds on: the last
	// manifest paid on chain, in the order manifests were paid (not
	// necessarily Epoch − 1: a disputed epoch can be paid after later
	// ones). 0 means none: the network's first version-3 manifest. Ledger
	// is that manifest's Ledger exactly as it was paid (empty when Parent
	// is 0; owners sorted by key bytes, each owed > 0, paid ≤ owed).
	// Exactly once across epochs holds only if each manifest paid builds
	// on the one paid just before it: a manifest computed on a parent
	// that is no longer the last paid must be recomputed before it is
	// paid.
	Parent uint64
	Ledger []OwnerLedger
	// Funded are the owners whose associated token account for the reward
	// mint exists and is an initialized token account (oracle/solana
	// Chain.Funded), sorted by key bytes, without duplicates. Ask the
	// chain about every owner that can be paid: the owners of Registry
	// and of Ledger, and Params.OpsOwner; others listed are ignored.
	// Every oracle must pass the same set (it is hashed into the input
	// digest), so read it once per epoch at finalized commitment and
	// settle it with the other inputs. An owner not listed accrues.
	Funded [][32]byte
	// MinPayout is the smallest payout in token base units: an owner is
	// paid when it is funded and its due (owed − paid) reaches
	// max(MinPayout, 1). 0 means no minimum.
	MinPayout uint64
}

// Flag is a fraud detector's verdict on a hotspot for an epoch.
type Flag struct {
	Hotspot wire.PublicKey
	Reason  Reason
}

// EpochResult is the manifest plus the per-PoC detail behind it.
type EpochResult struct {
	Manifest *Manifest
	// PoCs are the epoch's beacons in (received_ms, id) order, with the
	// detectors' flags applied.
	PoCs []PoC
	// Flags are the detectors' verdicts, sorted by hotspot then reason.
	Flags []Flag
	// Charging counts the epoch's packet copies, charged and free.
	Charging ChargeStats
}

// ErrInput is wrapped by errors about unusable epoch inputs.
var ErrInput = errors.New("invalid epoch input")

// ComputeEpoch computes an epoch's reward manifest (poc-rules §4–12).
func ComputeEpoch(in EpochInput) (*Manifest, error) {
	r, err := evaluateEpoch(in, false)
	if err != nil {
		return nil, err
	}
	return r.Manifest, nil
}

// EvaluateEpoch is ComputeEpoch plus every PoC outcome of the epoch, for
// the oracle's API and for audits. It allocates one PoC per beacon.
func EvaluateEpoch(in EpochInput) (*EpochResult, error) {
	return evaluateEpoch(in, true)
}

// siteAcc accumulates one hotspot's epoch.
type siteAcc struct {
	active                     bool
	beaconUnits, witnessUnits  uint64
	beaconShares, witnessShare uint64
	cfBeacon, cfWitness        uint64 // shares without the detectors' flags
	dc                         uint64
	beacons, witnesses, unsel  uint32
	invB, invW                 [NumReasons]uint32
}

func evaluateEpoch(in EpochInput, detail bool) (*EpochResult, error) {
	p := in.Params
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("compute epoch %d: %w", in.Epoch, err)
	}
	if in.TokensPerDC.Den == 0 {
		return nil, fmt.Errorf("compute epoch %d: %w: tokens per DC has a zero denominator", in.Epoch, ErrInput)
	}
	reg, err := NewRegistry(in.Registry)
	if err != nil {
		return nil, fmt.Errorf("compute epoch %d: %w: %w", in.Epoch, ErrInput, err)
	}
	routes, err := sortedRoutes(in.Routes)
	if err != nil {
		return nil, fmt.Errorf("compute epoch %d: %w: %w", in.Epoch, ErrInput, err)
	}
	if err := checkAccrualInput(in); err != nil {
		return nil, fmt.Errorf("compute epoch %d: %w: %w", in.Epoch, ErrInput, err)
	}
	from, to := p.InputWindow(in.Epoch)
	start, end := p.EpochStart(in.Epoch), p.EpochEnd(in.Epoch)
	beacons := filterWindow(in.Beacons, from, to, func(b *Beacon) int64 { return b.ReceivedMs })
	witnesses := filterWindow(in.Witnesses, from, to, func(w *Witness) int64 { return w.ReceivedMs })

	e := newEngine(p, reg)
	e.load(beacons, witnesses, nil)
	h := e.history()
	e.finalize(h)

	flags := e.detect(h, start, end)
	flagged := make([]Reason, len(reg.sites))
	anyFlag := false
	for _, f := range flags {
		i := reg.index[f.Hotspot]
		if flagged[i] == ReasonNone || f.Reason < flagged[i] {
			flagged[i] = f.Reason
		}
		anyFlag = true
	}

	// Density at the epoch's start over the interactive hotspots, less
	// the ones the detectors flag for this epoch [hx]: fakes caught by a
	// detector no longer dilute the scale of the honest hotspots around
	// their asserted cells. (The detectors do not depend on density.)
	interactive := e.validPoCSites(start-p.Interactivity.Milliseconds(), start)
	scale := make([]uint32, len(reg.sites))
	var cells []uint64
	var cellSite []int32
	for i := range reg.sites {
		scale[i] = p.DefaultScale
		if reg.sites[i].asserted && interactive[i] && flagged[i] == ReasonNone {
			cells = append(cells, reg.sites[i].Cell)
			cellSite = append(cellSite, int32(i))
		}
	}
	for j, s := range DensityScales(p.Density, cells) {
		scale[cellSite[j]] = s
	}

	units := RewardUnits(p)
	acc := make([]siteAcc, len(reg.sites))
	res := &EpochResult{Flags: flags}
	reasonOf := func(br *beaconRec) Reason {
		if br.final == ReasonNone && flagged[br.site] != ReasonNone {
			return flagged[br.site]
		}
		return br.final
	}
	// Witness selection per beacon, in parallel: each beacon writes only
	// its own pairs' marks.
	selected := make([]bool, len(e.pairs))
	var cfSelected []bool
	if anyFlag {
		cfSelected = make([]bool, len(e.pairs))
	}
	nsel := make([]int32, len(e.beacons))
	cfN := make([]int32, len(e.beacons))
	e.parallel(len(e.beacons), func(k int) {
		br := &e.beacons[k]
		if br.ms < start || br.ms >= end {
			return
		}
		breason := reasonOf(br)
		sel := e.selectWitnesses(br, func(i int32) bool {
			pr := &e.pairs[i]
			return breason == ReasonNone && pr.final == ReasonNone && flagged[e.witnesses[pr.w].site] == ReasonNone
		}, nil)
		for _, i := range sel {
			selected[i] = true
		}
		nsel[k] = int32(len(sel))
		if anyFlag {
			cf := e.selectWitnesses(br, func(i int32) bool {
				return br.final == ReasonNone && e.pairs[i].final == ReasonNone
			}, nil)
			for _, i := range cf {
				cfSelected[i] = true
			}
			cfN[k] = int32(len(cf))
		}
	})
	for k := range e.beacons {
		br := &e.beacons[k]
		if br.ms < start || br.ms >= end {
			continue
		}
		breason := reasonOf(br)
		if br.site >= 0 {
			a := &acc[br.site]
			a.active = true
			if breason == ReasonNone {
				a.beacons++
			} else {
				a.invB[breason]++
			}
		}
		w := nsel[k]
		s := uint64(0)
		if br.site >= 0 {
			s = uint64(scale[br.site])
		}
		ub, uw := uint64(units.Beaconer[w]), uint64(units.Witness[w])
		if w > 0 {
			a := &acc[br.site]
			a.beaconUnits += ub
			a.beaconShares += s * ub
		}
		for i := br.lo; i < br.hi; i++ {
			pr := &e.pairs[i]
			ws := e.witnesses[pr.w].site
			if pr.pre == ReasonSelfWitness || ws < 0 {
				continue
			}
			a := &acc[ws]
			a.active = true
			switch {
			case pr.side || breason != ReasonNone:
				// counted on the beaconer's line
			case pr.final != ReasonNone:
				a.invW[pr.final]++
			case flagged[ws] != ReasonNone:
				a.invW[flagged[ws]]++
			case selected[i]:
				a.witnesses++
				a.witnessUnits += uw
				a.witnessShare += s * uw
			default:
				a.unsel++
			}
		}
		if anyFlag && cfN[k] > 0 {
			cw := cfN[k]
			acc[br.site].cfBeacon += s * uint64(units.Beaconer[cw])
			for i := br.lo; i < br.hi; i++ {
				if cfSelected[i] {
					acc[e.witnesses[e.pairs[i].w].site].cfWitness += s * uint64(units.Witness[cw])
				}
			}
		}
		if detail {
			res.PoCs = append(res.PoCs, e.poc(br, func(w int) (uint32, uint32) { return units.Beaconer[w], units.Witness[w] }, flagged))
		}
	}
	for _, k := range e.orphans {
		wr := &e.witnesses[k]
		if ms := wr.w.ReceivedMs; wr.site >= 0 && ms >= start && ms < end {
			acc[wr.site].active = true
			acc[wr.site].invW[ReasonStale]++
		}
	}
	valid := e.validPoC(start-int64(p.Detectors.Window-1)*p.epochMs(), end)
	ch := e.charge(in.Packets, routes, in.Balances, start, end, func(s int32) bool {
		return flagged[s] == ReasonNone && (valid[s] || p.Charging.AllowWithoutPoC)
	})
	for _, c := range ch.copies {
		acc[c.site].dc += c.dc
	}
	res.Charging = ch.stats

	m := &Manifest{
		Version:     ManifestVersion,
		Epoch:       in.Epoch,
		StartMs:     start,
		EndMs:       end,
		ParamsHash:  p.Hash(),
		Emission:    in.Emission,
		TokensPerDC: in.TokensPerDC,
		Parent:      in.Parent,
		MinPayout:   in.MinPayout,
		OpsOwner:    p.OpsOwner,
		Charges:     ch.routes,
	}
	m.InputDigest = inputDigest(in, m.ParamsHash, reg, e, ch.copies, routes)
	if err := e.reward(m, acc, scale, flags, flagged); err != nil {
		return nil, fmt.Errorf("compute epoch %d: %w", in.Epoch, err)
	}
	if err := m.pay(in); err != nil {
		return nil, fmt.Errorf("compute epoch %d: %w", in.Epoch, err)
	}
	res.Manifest = m
	return res, nil
}

// validPoCSites marks the hotspots with a valid proof of coverage received
// in [from, to): a beacon valid by §4–6 with at least one valid witness,
// or a valid witness of such a beacon. [hx] This is the density population
// (poc-rules §8 counts hotspots with a reciprocity beacon, which needs only
// one witness report, valid or not): identities without radios that
// beacon and file junk reports of each other would otherwise enter it and
// dilute the density scale of the honest hotspots around their asserted
// cells.
func (e *engine) validPoCSites(from, to int64) []bool {
	out := make([]bool, len(e.reg.sites))
	for k := range e.beacons {
		br := &e.beacons[k]
		if br.ms < from || br.ms >= to || br.final != ReasonNone {
			continue
		}
		for i := br.lo; i < br.hi; i++ {
			if pr := &e.pairs[i]; pr.final == ReasonNone {
				out[br.site] = true
				out[e.witnesses[pr.w].site] = true
			}
		}
	}
	return out
}

func filterWindow[T any](xs []T, from, to int64, ms func(*T) int64) []T {
	n := 0
	for i := range xs {
		if t := ms(&xs[i]); t >= from && t < to {
			n++
		}
	}
	if n == len(xs) {
		return xs
	}
	out := make([]T, 0, n)
	for i := range xs {
		if t := ms(&xs[i]); t >= from && t < to {
			out = append(out, xs[i])
		}
	}
	return out
}

// DataCredits is the price of one delivered uplink copy of n PHYPayload
// bytes: max(1, ceil(n / bytesPerDC)) (poc-rules §10).
func DataCredits(n, bytesPerDC int) uint64 {
	if n <= 0 {
		return 1
	}
	return uint64(max(1, (n+bytesPerDC-1)/bytesPerDC))
}

// mulDiv returns floor(a × b / c) for b ≤ c (so the result fits).
func mulDiv(a, b, c uint64) uint64 {
	if c == 0 {
		return 0
	}
	hi, lo := bits.Mul64(a, b)
	if hi >= c {
		q := new(big.Int).Mul(new(big.Int).SetUint64(a), new(big.Int).SetUint64(b))
		q.Quo(q, new(big.Int).SetUint64(c))
		return q.Uint64()
	}
	q, _ := bits.Div64(hi, lo, c)
	return q
}

// reward fills the pools and the hotspot lines (poc-rules §9–11).
func (e *engine) reward(m *Manifest, acc []siteAcc, scale []uint32, flags []Flag, flagged []Reason) error {
	p := e.p
	E := m.Emission
	var dcTotal, bTotal, wTotal, cfB, cfW uint64
	for i := range acc {
		a := &acc[i]
		dcTotal += a.dc
		bTotal += a.beaconShares
		wTotal += a.witnessShare
		cfB += a.cfBeacon
		cfW += a.cfWitness
	}
	m.DC, m.BeaconShares, m.WitnessShares = dcTotal, bTotal, wTotal
	m.Ops = mulDiv(E, uint64(p.OpsBP), bpOne)
	owed := new(big.Int).Mul(new(big.Int).SetUint64(dcTotal), new(big.Int).SetUint64(m.TokensPerDC.Num))
	owed.Quo(owed, new(big.Int).SetUint64(m.TokensPerDC.Den))
	dtCap := mulDiv(E, uint64(bpOne-p.OpsBP-p.PoCMinBP), bpOne)
	if owed.IsUint64() {
		m.DataTransferOwed = owed.Uint64()
	} else {
		m.DataTransferOwed = ^uint64(0)
	}
	m.DataTransfer = min(m.DataTransferOwed, dtCap)
	poc := min(mulDiv(E, uint64(p.PoCMaxBP), bpOne), mulDiv(E, uint64(bpOne-p.OpsBP), bpOne)-m.DataTransfer)
	m.BeaconPool = mulDiv(poc, uint64(p.BeaconBP), bpOne)
	m.WitnessPool = mulDiv(poc, uint64(p.WitnessBP), bpOne)

	flagsOf := map[int32][]Reason{}
	for _, f := range flags {
		i := e.reg.index[f.Hotspot]
		flagsOf[i] = append(flagsOf[i], f.Reason)
	}
	for i := range acc {
		a := &acc[i]
		if !a.active && a.dc == 0 && flagged[i] == ReasonNone {
			continue
		}
		s := &e.reg.sites[i]
		line := HotspotReward{
			Hotspot:       s.Key,
			Owner:         s.Owner,
			Scale:         scale[i],
			BeaconUnits:   a.beaconUnits,
			WitnessUnits:  a.witnessUnits,
			BeaconShares:  a.beaconShares,
			WitnessShares: a.witnessShare,
			DC:            a.dc,
			Beacons:       a.beacons,
			Witnesses:     a.witnesses,
			Unselected:    a.unsel,
			Flags:         flagsOf[int32(i)],
		}
		line.DataTransfer = mulDiv(m.DataTransfer, a.dc, dcTotal)
		line.Beacon = mulDiv(m.BeaconPool, a.beaconShares, bTotal)
		line.Witness = mulDiv(m.WitnessPool, a.witnessShare, wTotal)
		line.Amount = line.DataTransfer + line.Beacon + line.Witness
		if flagged[i] != ReasonNone {
			cf := line.DataTransfer + mulDiv(m.BeaconPool, a.cfBeacon, cfB) + mulDiv(m.WitnessPool, a.cfWitness, cfW)
			if cf > line.Amount {
				line.Withheld = cf - line.Amount
			}
		}
		for r := range Reason(NumReasons) {
			if c := a.invB[r]; c > 0 {
				line.InvalidBeacons = append(line.InvalidBeacons, ReasonCount{r, c})
			}
			if c := a.invW[r]; c > 0 {
				line.InvalidWitnesses = append(line.InvalidWitnesses, ReasonCount{r, c})
			}
		}
		m.Hotspots = append(m.Hotspots, line)
	}
	return nil
}

// pay credits the epoch's earnings to the parent ledger and fills the
// ledger, the payouts, the totals and the root (accrual.go).
func (m *Manifest) pay(in EpochInput) error {
	earned, err := earnings(m.Hotspots, m.OpsOwner, m.Ops)
	if err != nil {
		return err
	}
	for _, e := range earned {
		m.Earned += e.Amount
		if m.Earned > m.Emission {
			return fmt.Errorf("earnings exceed the emission %d", m.Emission)
		}
	}
	m.Unallocated = m.Emission - m.Earned
	m.Ledger, m.Payouts, m.Total, err = settle(earned, in.Ledger, in.Funded, in.MinPayout)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInput, err) // the parent ledger cannot take this epoch
	}
	if m.Payouts == nil {
		m.Payouts = []Payout{}
	}
	m.Root = MerkleRoot(m.Epoch, m.Payouts)
	return nil
}

// checkAccrualInput checks the accrual inputs before any work is done.
func checkAccrualInput(in EpochInput) error {
	switch {
	case in.Parent == 0 && len(in.Ledger) > 0:
		return fmt.Errorf("a ledger of %d owners without a parent epoch", len(in.Ledger))
	case in.Parent != 0 && in.Parent == in.Epoch:
		return fmt.Errorf("epoch %d cannot be its own parent", in.Epoch)
	}
	if err := checkLedger(in.Ledger); err != nil {
		return fmt.Errorf("parent %w", err)
	}
	return checkFunded(in.Funded)
}

// inputDigest is SHA-256 over the epoch, the parameter hash, the sorted ids
// of the reports that were evaluated, the sorted entropy ids, the registry
// snapshot, the emission and the DC price.
func inputDigest(in EpochInput, paramsHash [32]byte, reg *Registry, e *engine, packets []chargedCopy, routes []Route) [32]byte {
	h := sha256.New()
	var buf [8]byte
	u64 := func(v uint64) {
		binary.LittleEndian.PutUint64(buf[:], v)
		h.Write(buf[:])
	}
	h.Write([]byte("hexfield-input-v2"))
	u64(in.Epoch)
	h.Write(paramsHash[:])
	ids := make([][32]byte, len(e.beacons))
	for k := range e.beacons {
		ids[k] = e.beacons[k].b.ID
	}
	slices.SortFunc(ids, func(a, b [32]byte) int { return cmpID(&a, &b) })
	u64(uint64(len(ids)))
	for _, id := range ids {
		h.Write(id[:])
	}
	u64(uint64(len(e.idOrder)))
	for _, k := range e.idOrder {
		h.Write(e.witnesses[k].w.ID[:])
	}
	u64(uint64(len(packets)))
	for _, pk := range packets {
		h.Write(pk.id[:])
	}
	ents := make([][32]byte, 0, len(e.entropy))
	for _, r := range e.entropy {
		ents = append(ents, r.id)
	}
	slices.SortFunc(ents, func(a, b [32]byte) int { return cmpID(&a, &b) })
	u64(uint64(len(ents)))
	for _, id := range ents {
		h.Write(id[:])
	}
	u64(uint64(len(reg.sites)))
	for i := range reg.sites {
		s := &reg.sites[i]
		h.Write(s.Key[:])
		h.Write(s.Owner[:])
		u64(s.Cell)
		u64(uint64(int64(s.GainDdBi)))
		u64(uint64(int64(s.ElevationM)))
		if s.DataOnly {
			u64(1)
		} else {
			u64(0)
		}
	}
	u64(in.Emission)
	u64(in.TokensPerDC.Num)
	u64(in.TokensPerDC.Den)
	h.Write(appendChargingDigest(nil, routes, in.Balances))
	u64(in.Parent)
	u64(in.MinPayout)
	u64(uint64(len(in.Ledger)))
	for _, l := range in.Ledger {
		h.Write(l.Owner[:])
		u64(l.Owed)
		u64(l.Paid)
	}
	u64(uint64(len(in.Funded)))
	for _, f := range in.Funded {
		h.Write(f[:])
	}
	var d [32]byte
	h.Sum(d[:0])
	return d
}

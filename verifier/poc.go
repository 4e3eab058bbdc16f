package verifier

import (
	"crypto/sha256"
	"slices"
	"sort"

	"github.com/hexfield/hexfield/wire"
)

// History is what the reciprocity and interval rules need to know about
// other reports: for each hotspot, when it had reciprocity beacons and
// reciprocity witnesses (poc-rules §6), and the first beacon of each
// hotspot in each beacon bucket. Build it with NewHistory; it is read-only
// afterwards.
type History struct {
	reg          *Registry
	first        map[bucketKey]arrival
	recipBeacon  [][]int64 // per registry site, sorted received_ms
	recipWitness [][]int64
}

// NewHistory evaluates stored reports (beacon checks pre–6, witness checks
// pre–13) and records the reciprocity beacons and witnesses and the
// beacon buckets. For VerifyPoC of a beacon received at t, pass at least
// the reports received in [t − Params.Reciprocity − the entropy lifetime,
// t + the entropy lifetime], starting at a beacon-bucket boundary, and the
// same Registry that VerifyPoC gets.
func NewHistory(p Params, reg *Registry, beacons []Beacon, witnesses []Witness) *History {
	e := newEngine(p, reg)
	e.load(beacons, witnesses, nil)
	return e.history()
}

func (e *engine) history() *History {
	h := &History{
		reg:          e.reg,
		first:        map[bucketKey]arrival{},
		recipBeacon:  make([][]int64, len(e.reg.sites)),
		recipWitness: make([][]int64, len(e.reg.sites)),
	}
	for k := range e.beacons {
		br := &e.beacons[k]
		if br.site >= 0 {
			bk := bucketKey{br.key, floorDiv(br.ms, e.p.intervalMs())}
			if f, ok := h.first[bk]; !ok || cmpArrival(br.ms, &br.b.ID, f.ms, &f.id) < 0 {
				h.first[bk] = arrival{br.ms, br.b.ID}
			}
		}
		if br.pre != ReasonNone {
			continue
		}
		if br.nwit > 0 {
			h.recipBeacon[br.site] = append(h.recipBeacon[br.site], br.ms)
		}
		for _, pr := range e.pairs[br.lo:br.hi] {
			if pr.pre == ReasonNone {
				wr := &e.witnesses[pr.w]
				h.recipWitness[wr.site] = append(h.recipWitness[wr.site], wr.w.ReceivedMs)
			}
		}
	}
	for i := range h.recipWitness {
		slices.Sort(h.recipWitness[i])
		slices.Sort(h.recipBeacon[i])
	}
	return h
}

// any reports whether ts (sorted) has a value in [from, to).
func anyIn(ts []int64, from, to int64) bool {
	i := sort.Search(len(ts), func(i int) bool { return ts[i] >= from })
	return i < len(ts) && ts[i] < to
}

func (h *History) siteOf(reg *Registry, s int32) int32 {
	if h == nil || s < 0 {
		return -1
	}
	if h.reg == reg {
		return s
	}
	if i, ok := h.reg.index[reg.sites[s].Key]; ok {
		return i
	}
	return -1
}

func (h *History) hasRecipWitness(reg *Registry, s int32, from, to int64) bool {
	if s = h.siteOf(reg, s); s < 0 {
		return false
	}
	return anyIn(h.recipWitness[s], from, to)
}

func (h *History) hasRecipBeacon(reg *Registry, s int32, from, to int64) bool {
	if s = h.siteOf(reg, s); s < 0 {
		return false
	}
	return anyIn(h.recipBeacon[s], from, to)
}

// finalize applies reciprocity (poc-rules §6) to every loaded beacon and
// witness.
func (e *engine) finalize(h *History) {
	r := e.p.Reciprocity.Milliseconds()
	for k := range e.beacons {
		br := &e.beacons[k]
		br.final = br.pre
		if br.pre == ReasonNone && !h.hasRecipWitness(e.reg, br.site, br.ms-r, br.ms) {
			br.final = ReasonGatewayNoValidWitnesses
		}
		for i := br.lo; i < br.hi; i++ {
			pr := &e.pairs[i]
			pr.final = pr.pre
			switch {
			case pr.pre == ReasonSelfWitness:
			case br.final != ReasonNone:
				pr.final, pr.side = br.final, true
			case pr.pre == ReasonNone:
				wr := &e.witnesses[pr.w]
				if !h.hasRecipBeacon(e.reg, wr.site, wr.w.ReceivedMs-r, wr.w.ReceivedMs) {
					pr.final = ReasonGatewayNoValidBeacons
				}
			}
		}
	}
}

// Side says whose fault an invalid witness is.
type Side uint8

// Sides.
const (
	SideNone     Side = 0 // valid
	SideWitness  Side = 1 // the witness's own report failed
	SideBeaconer Side = 2 // the beacon was invalid, so all its witnesses are
)

// WitnessResult is the outcome of one witness report of a PoC.
type WitnessResult struct {
	ID         [32]byte
	Hotspot    wire.PublicKey
	ReceivedMs int64
	Reason     Reason
	Side       Side
	// Selected: valid and among the (at most MaxWitnesses) selected;
	// only selected witnesses earn.
	Selected bool
	// DistanceM between the asserted cell centres (0 if the checks
	// stopped before computing it).
	DistanceM float64
}

// PoC is the outcome of one beacon and its witness reports.
type PoC struct {
	Beacon     [32]byte // beacon report id
	Beaconer   wire.PublicKey
	ReceivedMs int64
	Reason     Reason
	// Witnesses in (received_ms, id) order; self-witnesses are dropped.
	Witnesses []WitnessResult
	// Selected is the number of selected valid witnesses w;
	// BeaconerUnits and WitnessUnits are the HIP-15 units (×10⁻⁴) of the
	// beaconer and of each selected witness.
	Selected      int
	BeaconerUnits uint32
	WitnessUnits  uint32
}

// VerifyPoC evaluates one beacon and the witness reports that carry its
// payload: beacon checks, witness checks, reciprocity against hist, and
// witness selection. It does not run the fraud detectors, which need a
// whole epoch (ComputeEpoch does). hist should be built by NewHistory
// with the same Params and Registry from the reports around the beacon; a
// nil hist has no reciprocity beacons or witnesses, so the PoC fails
// reciprocity. ws may hold reports of other beacons; they are ignored.
func VerifyPoC(p Params, b Beacon, ws []Witness, reg *Registry, hist *History) PoC {
	e := newEngine(p, reg)
	if hist == nil {
		hist = &History{reg: reg, first: map[bucketKey]arrival{}}
	}
	e.load([]Beacon{b}, ws, hist)
	e.finalize(hist)
	if len(e.beacons) == 0 {
		return PoC{Beacon: b.ID, ReceivedMs: b.ReceivedMs, Reason: ReasonInvalidPacket}
	}
	return e.poc(&e.beacons[0], func(w int) (uint32, uint32) { return unitsFor(p, w) }, nil)
}

// selectWitnesses returns the indices (into e.pairs) of the selected valid
// witnesses of br, in pair order. valid says which pairs count as valid.
func (e *engine) selectWitnesses(br *beaconRec, valid func(i int32) bool, buf []int32) []int32 {
	sel := buf[:0]
	for i := br.lo; i < br.hi; i++ {
		if valid(i) {
			sel = append(sel, i)
		}
	}
	if len(sel) <= e.p.MaxWitnesses {
		return sel
	}
	type keyed struct {
		k [32]byte
		i int32
	}
	ks := make([]keyed, len(sel))
	for j, i := range sel {
		wk := e.witnesses[e.pairs[i].w].key()
		ks[j] = keyed{e.selectionKey(br, &wk), i}
	}
	slices.SortFunc(ks, func(a, b keyed) int { return cmpID(&a.k, &b.k) })
	sel = sel[:0]
	for _, k := range ks[:e.p.MaxWitnesses] {
		sel = append(sel, k.i)
	}
	slices.Sort(sel)
	return sel
}

const selectTag = "hexfield-select-v1"

// SelectionKey is the witness ordering key of poc-rules §7:
// SHA-256("hexfield-select-v1" ‖ entropy.data ‖ payload[51] ‖ witness_pubkey).
func SelectionKey(entropyData [32]byte, payload []byte, witness wire.PublicKey) [32]byte {
	h := sha256.New()
	h.Write([]byte(selectTag))
	h.Write(entropyData[:])
	h.Write(payload)
	h.Write(witness[:])
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (e *engine) selectionKey(br *beaconRec, w *wire.PublicKey) [32]byte {
	return SelectionKey(br.ent.data, br.b.Report.GetPayload(), *w)
}

// poc builds the PoC of a finalized beacon. flagged, if not nil, marks
// sites whose beacons and witnesses the detectors invalidated.
func (e *engine) poc(br *beaconRec, units func(w int) (beaconer, witness uint32), flagged []Reason) PoC {
	out := PoC{Beacon: br.b.ID, Beaconer: br.key, ReceivedMs: br.ms, Reason: br.final}
	if out.Reason == ReasonNone && flagged != nil && br.site >= 0 && flagged[br.site] != ReasonNone {
		out.Reason = flagged[br.site]
	}
	valid := func(i int32) bool {
		pr := &e.pairs[i]
		return out.Reason == ReasonNone && pr.final == ReasonNone &&
			(flagged == nil || flagged[e.witnesses[pr.w].site] == ReasonNone)
	}
	sel := e.selectWitnesses(br, valid, nil)
	for i := br.lo; i < br.hi; i++ {
		pr := &e.pairs[i]
		if pr.pre == ReasonSelfWitness {
			continue
		}
		wr := &e.witnesses[pr.w]
		res := WitnessResult{ID: wr.w.ID, Hotspot: wr.key(), ReceivedMs: wr.w.ReceivedMs, Reason: pr.final, DistanceM: pr.dist}
		switch {
		case pr.side:
			res.Side = SideBeaconer
		case out.Reason != ReasonNone:
			res.Reason, res.Side = out.Reason, SideBeaconer
		case pr.final != ReasonNone:
			res.Side = SideWitness
		case flagged != nil && flagged[wr.site] != ReasonNone:
			res.Reason, res.Side = flagged[wr.site], SideWitness
		}
		_, res.Selected = slices.BinarySearch(sel, i)
		out.Witnesses = append(out.Witnesses, res)
	}
	out.Selected = len(sel)
	if out.Selected > 0 {
		out.BeaconerUnits, out.WitnessUnits = units(out.Selected)
	}
	return out
}

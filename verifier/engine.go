package verifier

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/wire"
)

// entropyRec is a decoded entropy record, cached by its envelope bytes.
type entropyRec struct {
	id         [32]byte // SHA-256 of the envelope bytes
	known      bool     // signature valid and signer in Params.EntropySigners
	wellFormed bool     // version 1 with 32 bytes of data
	ts         int64
	data       [32]byte
}

// beaconRec is one beacon report under evaluation.
type beaconRec struct {
	b     *Beacon
	ms    int64
	key   wire.PublicKey
	site  int32 // -1: unknown key
	ent   *entropyRec
	pre   Reason // beacon checks pre–6
	final Reason // after reciprocity (and detectors in the epoch)
	bc    radio.Beacon
	t1    int64 // earliest received_ms of its witness reports (self excluded)
	nwit  int32 // witness reports other than self-witnesses
	lo    int32 // its pairs are pairs[lo:hi], sorted by (received_ms, id)
	hi    int32
}

// witnessRec is one witness report.
type witnessRec struct {
	w    *Witness
	site int32 // -1: unknown
	ok   bool  // pub_key is 32 bytes
}

// key returns the witness's key (zero unless ok).
func (wr *witnessRec) key() wire.PublicKey {
	k, _ := keyOf(wr.w.Report.GetPubKey())
	return k
}

// pair is one (beacon, witness report) evaluation.
type pair struct {
	w     int32  // index into engine.witnesses
	pre   Reason // witness checks pre–13, or the beacon's pre reason
	final Reason
	side  bool // the reason is on the beaconer's side
	dist  float64
}

// engine evaluates a set of reports against a registry snapshot.
type engine struct {
	p        Params
	reg      *Registry
	denied   map[int32]bool // sites on the deny list
	deny     map[wire.PublicKey]bool
	denyEdge map[Edge]bool
	signers  map[wire.PublicKey]bool
	entropy  map[string]*entropyRec
	drCache  map[string]drParse

	beacons   []beaconRec // sorted by (received_ms, id), ids unique
	witnesses []witnessRec
	idOrder   []int32 // positions in witnesses, in id order
	pairs     []pair
	orphans   []int32 // witness reports matching no beacon
}

type drParse struct {
	dr radio.DataRate
	ok bool
}

func newEngine(p Params, reg *Registry) *engine {
	e := &engine{
		p:        p,
		reg:      reg,
		denied:   map[int32]bool{},
		deny:     map[wire.PublicKey]bool{},
		denyEdge: map[Edge]bool{},
		signers:  map[wire.PublicKey]bool{},
		entropy:  map[string]*entropyRec{},
		drCache:  map[string]drParse{},
	}
	for _, k := range p.Deny.Keys {
		e.deny[k] = true
		if i, ok := reg.index[k]; ok {
			e.denied[i] = true
		}
	}
	for _, ed := range p.Deny.Edges {
		e.denyEdge[ed] = true
	}
	for _, k := range p.EntropySigners {
		e.signers[k] = true
	}
	return e
}

// dataRate parses a data rate; the cache is filled before the parallel
// phases (see load) and only read during them.
func (e *engine) dataRate(s string) (radio.DataRate, bool) {
	if d, ok := e.drCache[s]; ok {
		return d.dr, d.ok
	}
	dr, err := radio.ParseDataRate(s)
	return dr, err == nil
}

func (e *engine) cacheDataRate(s string) {
	if _, ok := e.drCache[s]; ok || len(e.drCache) >= 64 {
		return
	}
	dr, err := radio.ParseDataRate(s)
	e.drCache[s] = drParse{dr, err == nil}
}

func (e *engine) entropyOf(raw []byte) *entropyRec {
	if r, ok := e.entropy[string(raw)]; ok {
		return r
	}
	r := &entropyRec{id: sha256.Sum256(raw)}
	var ent wire.Entropy
	if signer, err := wire.Unseal(raw, wire.Kind_KIND_ENTROPY, &ent); err == nil && e.signers[signer] {
		r.known = true
		r.ts = ent.GetTs()
		if ent.GetVersion() == 1 && len(ent.GetData()) == 32 {
			r.wellFormed = true
			copy(r.data[:], ent.GetData())
		}
	}
	e.entropy[string(raw)] = r
	return r
}

// load indexes beacons and witness reports, runs the beacon checks pre–6
// and the witness checks pre–13. Reports with the same id are one report
// (the earliest received_ms is kept). intervals, if not nil, answers the
// interval rule instead of the loaded beacons.
func (e *engine) load(beacons []Beacon, witnesses []Witness, intervals *History) {
	// Beacons: dedupe by id, order by (received_ms, id).
	order := make([]int32, 0, len(beacons))
	for i := range beacons {
		if beacons[i].Report != nil {
			order = append(order, int32(i))
		}
	}
	slices.SortFunc(order, func(a, b int32) int {
		if c := cmpID(&beacons[a].ID, &beacons[b].ID); c != 0 {
			return c
		}
		return cmpArrival(beacons[a].ReceivedMs, &beacons[a].ID, beacons[b].ReceivedMs, &beacons[b].ID)
	})
	order = slices.CompactFunc(order, func(a, b int32) bool { return beacons[a].ID == beacons[b].ID })
	slices.SortFunc(order, func(a, b int32) int {
		return cmpArrival(beacons[a].ReceivedMs, &beacons[a].ID, beacons[b].ReceivedMs, &beacons[b].ID)
	})
	e.beacons = make([]beaconRec, len(order))
	idx := newPayloadIndex(len(order))
	first := map[bucketKey]arrival{}
	for k, i := range order {
		b := &beacons[i]
		br := &e.beacons[k]
		br.b, br.ms, br.site = b, b.ReceivedMs, -1
		if key, ok := keyOf(b.Report.GetPubKey()); ok {
			br.key = key
			if s, ok := e.reg.index[key]; ok {
				br.site = s
			}
			bk := bucketKey{key, floorDiv(br.ms, e.p.intervalMs())}
			if _, seen := first[bk]; !seen {
				first[bk] = arrival{br.ms, b.ID}
			}
		}
		br.ent = e.entropyOf(b.Report.GetEntropy())
		e.cacheDataRate(b.Report.GetDatarate())
		idx.add(b.Report.GetPayload(), int32(k))
	}
	e.parallel(len(e.beacons), func(k int) {
		br := &e.beacons[k]
		earlier := false
		if br.site >= 0 {
			bk := bucketKey{br.key, floorDiv(br.ms, e.p.intervalMs())}
			var f arrival
			var ok bool
			if intervals != nil {
				f, ok = intervals.first[bk]
			} else {
				f, ok = first[bk]
			}
			earlier = ok && cmpArrival(f.ms, &f.id, br.ms, &br.b.ID) < 0
		}
		br.pre = e.checkBeacon(br, earlier)
	})

	// Witness reports: dedupe by id, then attach to every beacon whose
	// payload they carry.
	byID := sortByID(len(witnesses), func(i int) (*[32]byte, int64, bool) {
		return &witnesses[i].ID, witnesses[i].ReceivedMs, witnesses[i].Report != nil
	})
	// The kept reports are then taken in input order, which is usually
	// storage order (by received_ms), so the reports of one beacon sit
	// together in memory. No result depends on this order: every use
	// sorts by (received_ms, id) or only counts.
	worder := slices.Clone(byID)
	slices.Sort(worder)
	e.idOrder = make([]int32, len(byID))
	for j, i := range byID {
		k, _ := slices.BinarySearch(worder, i)
		e.idOrder[j] = int32(k)
	}
	e.witnesses = make([]witnessRec, len(worder))
	counts := make([]int32, len(e.beacons)+1)
	firstBeacon := make([]int32, len(worder)) // first beacon with the payload, -1 none
	// Lookups in parallel (the maps are only read), counting in order.
	e.parallel(len(worder), func(k int) {
		w := &witnesses[worder[k]]
		wr := &e.witnesses[k]
		wr.w, wr.site = w, -1
		if key, ok := keyOf(w.Report.GetPubKey()); ok {
			wr.ok = true
			if s, ok := e.reg.index[key]; ok {
				wr.site = s
			}
		}
		firstBeacon[k] = idx.first(w.Report.GetPayload())
	})
	for k := range e.witnesses {
		fb := firstBeacon[k]
		if fb < 0 {
			e.orphans = append(e.orphans, int32(k))
			continue
		}
		counts[fb+1]++
		pl := e.witnesses[k].w.Report.GetPayload()
		for b := idx.next(fb, pl); b >= 0; b = idx.next(b, pl) {
			counts[b+1]++
		}
	}
	for k := range e.beacons {
		counts[k+1] += counts[k]
		e.beacons[k].lo, e.beacons[k].hi = counts[k], counts[k]
	}
	e.pairs = make([]pair, counts[len(e.beacons)])
	for k := range e.witnesses {
		pl := e.witnesses[k].w.Report.GetPayload()
		for b := firstBeacon[k]; b >= 0; b = idx.next(b, pl) {
			br := &e.beacons[b]
			e.pairs[br.hi].w = int32(k)
			br.hi++
		}
	}
	e.parallel(len(e.beacons), func(k int) { e.checkWitnesses(&e.beacons[k]) })
}

// parallel runs f(0) … f(n−1) on GOMAXPROCS goroutines in chunks and waits
// for all of them. f must only write state owned by its index, so the
// result does not depend on scheduling.
func (e *engine) parallel(n int, f func(i int)) {
	workers := runtime.GOMAXPROCS(0)
	if n < 256 || workers < 2 {
		for i := range n {
			f(i)
		}
		return
	}
	const chunk = 128
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				lo := int(next.Add(chunk)) - chunk
				if lo >= n {
					return
				}
				for i := lo; i < min(lo+chunk, n); i++ {
					f(i)
				}
			}
		})
	}
	wg.Wait()
}

// payloadIndex finds the beacons carrying a payload: a map from the
// payload's first 8 bytes to the first such beacon, and a chain through
// beacons sharing those bytes; full payloads are compared.
type payloadIndex struct {
	head     map[uint64]int32
	chain    []int32 // next beacon with the same 8-byte prefix, -1 end
	payloads [][]byte
}

func newPayloadIndex(n int) *payloadIndex {
	return &payloadIndex{head: make(map[uint64]int32, n), chain: make([]int32, n), payloads: make([][]byte, n)}
}

func prefix64(p []byte) uint64 { return binary.LittleEndian.Uint64(p) }

func (x *payloadIndex) add(p []byte, k int32) {
	x.chain[k] = -1
	if len(p) != radio.BeaconPayloadSize {
		return
	}
	x.payloads[k] = p
	key := prefix64(p)
	if h, ok := x.head[key]; ok {
		// append at the end so chains stay in beacon order
		for x.chain[h] >= 0 {
			h = x.chain[h]
		}
		x.chain[h] = k
		return
	}
	x.head[key] = k
}

// first returns the first beacon carrying p, -1 if none.
func (x *payloadIndex) first(p []byte) int32 {
	if len(p) != radio.BeaconPayloadSize {
		return -1
	}
	h, ok := x.head[prefix64(p)]
	if !ok {
		return -1
	}
	for ; h >= 0; h = x.chain[h] {
		if bytes.Equal(x.payloads[h], p) {
			return h
		}
	}
	return -1
}

// next returns the beacon after b carrying p, -1 if none.
func (x *payloadIndex) next(b int32, p []byte) int32 {
	for h := x.chain[b]; h >= 0; h = x.chain[h] {
		if bytes.Equal(x.payloads[h], p) {
			return h
		}
	}
	return -1
}

type bucketKey struct {
	key    wire.PublicKey
	bucket int64
}

type arrival struct {
	ms int64
	id [32]byte
}

// sortByID returns the indices of the present reports sorted by id, one per
// id (the earliest received_ms), using a radix pass on the first two bytes
// (ids are SHA-256 values) and a comparison sort within each bucket.
func sortByID(n int, at func(i int) (*[32]byte, int64, bool)) []int32 {
	cmp := func(a, b int32) int {
		ia, ma, _ := at(int(a))
		ib, mb, _ := at(int(b))
		if c := cmpID(ia, ib); c != 0 {
			return c
		}
		switch {
		case ma < mb:
			return -1
		case ma > mb:
			return 1
		}
		return 0
	}
	same := func(a, b int32) bool {
		ia, _, _ := at(int(a))
		ib, _, _ := at(int(b))
		return *ia == *ib
	}
	if n < 1<<12 {
		out := make([]int32, 0, n)
		for i := range n {
			if _, _, ok := at(i); ok {
				out = append(out, int32(i))
			}
		}
		slices.SortFunc(out, cmp)
		return slices.CompactFunc(out, same)
	}
	count := make([]int32, 1<<16+1)
	for i := range n {
		id, _, ok := at(i)
		if ok {
			count[(int(id[0])<<8|int(id[1]))+1]++
		}
	}
	for b := 1; b < len(count); b++ {
		count[b] += count[b-1]
	}
	out := make([]int32, count[len(count)-1])
	next := slices.Clone(count)
	for i := range n {
		id, _, ok := at(i)
		if ok {
			b := int(id[0])<<8 | int(id[1])
			out[next[b]] = int32(i)
			next[b]++
		}
	}
	for b := range 1 << 16 {
		if seg := out[count[b]:count[b+1]]; len(seg) > 1 {
			slices.SortFunc(seg, cmp)
		}
	}
	return slices.CompactFunc(out, same)
}

// checkBeacon runs the beacon checks pre–6 of poc-rules §4 in order.
func (e *engine) checkBeacon(br *beaconRec, earlierInBucket bool) Reason {
	if br.site < 0 {
		return ReasonGatewayNotFound
	}
	s := &e.reg.sites[br.site]
	r := br.b.Report
	switch {
	case !s.asserted:
		return ReasonNotAsserted
	case e.denied[br.site]:
		return ReasonDenied
	case br.ent == nil || !br.ent.known:
		return ReasonStale
	case !e.inEntropyWindow(br.ent, br.ms):
		return ReasonEntropyExpired
	case s.DataOnly:
		return ReasonInvalidCapability
	case earlierInBucket:
		return ReasonIrregularInterval
	case !br.ent.wellFormed || len(r.GetNonce()) != 16 || len(r.GetPayload()) != radio.BeaconPayloadSize:
		return ReasonInvalidPacket
	}
	bc, err := radio.NewBeacon(s.region, br.ent.data, br.ent.ts, br.key, [16]byte(r.GetNonce()), s.GainDdBi)
	if err != nil {
		return ReasonInvalidPacket
	}
	dr, ok := e.dataRate(r.GetDatarate())
	if !bytes.Equal(bc.Payload[:], r.GetPayload()) || uint64(bc.Frequency) != r.GetFrequencyHz() || !ok || dr != bc.DataRate {
		return ReasonInvalidPacket
	}
	br.bc = bc
	if int(r.GetTxPowerDbm()) != bc.PowerDBm {
		return ReasonInvalidTxPower
	}
	return ReasonNone
}

func (e *engine) inEntropyWindow(ent *entropyRec, ms int64) bool {
	lo := ent.ts * 1000
	return ms >= lo && ms <= lo+e.p.EntropyLifetime.Milliseconds()
}

// checkWitnesses sorts a beacon's witness reports by (received_ms, id) and
// runs the witness checks pre–13 of poc-rules §5 on each.
func (e *engine) checkWitnesses(br *beaconRec) {
	ps := e.pairs[br.lo:br.hi]
	slices.SortFunc(ps, func(a, b pair) int {
		wa, wb := e.witnesses[a.w].w, e.witnesses[b.w].w
		return cmpArrival(wa.ReceivedMs, &wa.ID, wb.ReceivedMs, &wb.ID)
	})
	br.t1 = math.MaxInt64
	for i := range ps {
		wr := &e.witnesses[ps[i].w]
		if wr.ok && br.site >= 0 && bytes.Equal(wr.w.Report.GetPubKey(), br.key[:]) {
			continue
		}
		br.nwit++
		br.t1 = min(br.t1, wr.w.ReceivedMs)
	}
	var seen []wire.PublicKey
	for i := range ps {
		pr := &ps[i]
		wr := &e.witnesses[pr.w]
		if br.site >= 0 && wr.ok && bytes.Equal(wr.w.Report.GetPubKey(), br.key[:]) {
			pr.pre, pr.side = ReasonSelfWitness, false
			continue
		}
		if br.pre != ReasonNone {
			pr.pre, pr.side = br.pre, true
			continue
		}
		pr.pre = e.checkWitness(br, wr, pr, &seen)
	}
}

func (e *engine) checkWitness(br *beaconRec, wr *witnessRec, pr *pair, seen *[]wire.PublicKey) Reason {
	if !wr.ok {
		return ReasonGatewayNotFound
	}
	key := wr.key()
	if slices.Contains(*seen, key) {
		return ReasonDuplicate
	}
	*seen = append(*seen, key)
	if wr.site < 0 {
		return ReasonGatewayNotFound
	}
	ws := &e.reg.sites[wr.site]
	bs := &e.reg.sites[br.site]
	w := wr.w.Report
	tw := wr.w.ReceivedMs
	switch {
	case !ws.asserted:
		return ReasonNotAsserted
	case e.denied[wr.site]:
		return ReasonDenied
	case len(e.denyEdge) > 0 && e.denyEdge[Edge{br.key, key}]:
		return ReasonDeniedEdge
	case !e.inEntropyWindow(br.ent, tw):
		return ReasonEntropyExpired
	case e.tooLate(br, tw):
		return ReasonTooLate
	case !bytes.Equal(w.GetPayload(), br.b.Report.GetPayload()):
		return ReasonInvalidPacket
	case ws.DataOnly:
		return ReasonInvalidCapability
	case absDiff(uint64(br.bc.Frequency), w.GetFrequencyHz()) > uint64(e.p.FrequencyTolerance):
		return ReasonInvalidFrequency
	}
	if dr, ok := e.dataRate(w.GetDatarate()); !ok || dr != br.bc.DataRate {
		return ReasonInvalidDatarate
	}
	if ws.regionName != bs.regionName {
		return ReasonInvalidRegion
	}
	d := float64(radio.Distance(bs.lat, bs.lng, ws.lat, ws.lng))
	pr.dist = d
	if !e.farEnough(bs.Cell, ws.Cell, d) {
		return ReasonBelowMinDistance
	}
	if !(d >= 0) || int64(math.Floor(d))/1000 > e.p.MaxDistanceKm {
		return ReasonMaxDistanceExceeded
	}
	maxRSSI := radio.MaxRSSI(br.bc.PowerDBm, bs.GainDdBi, ws.GainDdBi, radio.Meters(d), radio.Hz(w.GetFrequencyHz()))
	if !(float64(signalDdBm(w))/10.0 <= float64(maxRSSI)) {
		return ReasonBadRSSI
	}
	if !e.plausible(w, br.bc.DataRate) {
		return ReasonImplausibleSignal
	}
	return ReasonNone
}

func absDiff(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}

// signalDdBm is rssis when reported, else rssi, in ddBm.
func signalDdBm(w *wire.WitnessReport) int32 {
	if w.RssisDdbm != nil {
		return *w.RssisDdbm
	}
	return w.GetRssiDdbm()
}

// tooLate is the lag rule of poc-rules §5.
func (e *engine) tooLate(br *beaconRec, tw int64) bool {
	if br.ms <= br.t1 {
		return tw-br.ms > e.p.LagBeacon.Milliseconds()
	}
	return tw-br.t1 > e.p.LagWitness.Milliseconds()
}

// farEnough is the minimum-distance rule: the grid distance between the
// resolution-MinDistanceRes parents must be computable and at least
// MinDistanceCells. Beyond 20 km of great-circle distance no two res-≥9
// cells can be fewer than 8 steps apart, but h3 could still fail to
// compute the distance, so it is always computed.
func (e *engine) farEnough(a, b uint64, _ float64) bool {
	r := e.p.MinDistanceRes
	g, ok := gridDistance(parentCell(a, r), parentCell(b, r))
	return ok && g >= e.p.MinDistanceCells
}

// plausible is the signal consistency rule of poc-rules §12c. A high SNR
// is no rejection on its own (revised turn 2): concentrators whose SNR
// does not saturate report 25–40 dB on strong honest links, and a forged
// high SNR still has to agree with the noise floor through N.
func (e *engine) plausible(w *wire.WitnessReport, dr radio.DataRate) bool {
	rssi := float64(w.GetRssiDdbm()) / 10
	snr := float64(w.GetSnrDdb()) / 10
	nth := float64(radio.NoiseFloor(dr.Bandwidth, radio.DB(e.p.NoiseFigureDB)))
	n := rssi - float64(10*math.Log10(1+math.Pow(10, snr/10)))
	snrMin := float64(radio.SNRMin(dr.SF))
	ok := snr >= snrMin-e.p.SNRMarginDB &&
		n >= nth-e.p.FloorBelowDB &&
		n <= nth+e.p.FloorAboveDB
	if ok && w.RssisDdbm != nil {
		rssis := float64(*w.RssisDdbm) / 10
		ok = math.Abs(rssis-(n+snr)) <= e.p.RSSISToleranceDB
	}
	return ok
}

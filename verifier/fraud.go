package verifier

import (
	"bytes"
	"math"
	"slices"
	"sync"

	"github.com/hexfield/hexfield/radio"
)

// The fraud detectors of poc-rules §12e, and the [hx] excess_tx_power
// detector (excess.go). They run at epoch close over the
// witness events of the current and the previous Window−1 epochs, with
// validity from the rules of §4–6 only (never from other detectors), and
// flag hotspots for the current epoch. Everything here iterates in
// (received_ms, id) order of beacons and pair order within a beacon, and
// floating-point products are rounded one by one (explicit float64), so
// every platform computes the same flags.

// event is one witness event inside the detector window.
type event struct {
	b, w   int32   // beaconer and witness sites
	dist   float64 // metres between asserted centres
	gain   float64 // g = signal − P − ⌊G_b/10⌋ − ⌊G_w/10⌋, dB
	strong bool    // antenna_split (i) strong-signal rule holds
	valid  bool    // valid per §4–6 (else invalid only for bad_rssi / implausible_signal)
	beacon int32   // ordinal of the beacon among the window's beacons with events
	sigDdB int32   // signal, ddBm
	gDdB   int32   // gain in ddB: signalDdBm − 10·(P + ⌊G_b/10⌋ + ⌊G_w/10⌋)
}

func floor10(g int32) int64 {
	q := int64(g) / 10
	if int64(g)%10 < 0 {
		q--
	}
	return q
}

// detect returns the flags for the epoch [start, end), sorted by hotspot
// then reason.
func (e *engine) detect(h *History, start, end int64) []Flag {
	d := e.p.Detectors
	if d.Disabled {
		return nil
	}
	from := start - int64(d.Window-1)*e.p.epochMs()
	evs, ranges, cur := e.windowEvents(from, start, end)
	n := len(e.reg.sites)
	flagged := make([][]Reason, n)
	add := func(s int32, r Reason) {
		if !slices.Contains(flagged[s], r) {
			flagged[s] = append(flagged[s], r)
		}
	}
	// The detectors only read the events; they run side by side and
	// their results are merged in a fixed order.
	active := make([]bool, n)
	for i := range active {
		active[i] = anyIn(h.recipBeacon[i], from, end)
	}
	hm := e.hearingModel(evs, active, from, end)
	var di, ic, as, xp, un, ut []int32
	var wg sync.WaitGroup
	wg.Go(func() { di = e.distanceInsensitive(evs, hm.fitCapM) })
	wg.Go(func() { un = e.unheard(hm) })
	wg.Go(func() { ic = e.isolatedCliques(evs, h, from, end, hm.sureM) })
	wg.Go(func() { xp = e.excessTxPower(evs, cur) })
	wg.Go(func() { ut = e.untrusted(hm) })
	as = e.antennaSplit(evs, ranges)
	wg.Wait()
	for _, s := range di {
		add(s, ReasonDistanceInsensitive)
	}
	for _, s := range ic {
		add(s, ReasonIsolatedClique)
	}
	for _, s := range as {
		add(s, ReasonAntennaSplit)
	}
	for _, s := range xp {
		add(s, ReasonExcessTxPower)
	}
	for _, s := range un {
		add(s, ReasonUnheard)
	}
	for _, s := range ut {
		add(s, ReasonUntrusted)
	}
	var out []Flag
	for s, rs := range flagged {
		slices.Sort(rs)
		for _, r := range rs {
			out = append(out, Flag{Hotspot: e.reg.sites[s].Key, Reason: r})
		}
	}
	slices.SortFunc(out, func(a, b Flag) int {
		if c := bytes.Compare(a.Hotspot[:], b.Hotspot[:]); c != 0 {
			return c
		}
		return int(a.Reason) - int(b.Reason)
	})
	return out
}

// windowEvents returns the witness events of the valid beacons received in
// [from, end), in (received_ms, id) order of beacons and pair order within a
// beacon, the event range of each beacon ordinal, and the index of the
// first event of a beacon received at or after start (the current epoch's
// events are evs[cur:]).
func (e *engine) windowEvents(from, start, end int64) (evs []event, ranges [][2]int32, cur int) {
	d := e.p.Detectors
	nev := 0
	for k := range e.beacons {
		if br := &e.beacons[k]; br.ms >= from && br.ms < end && br.final == ReasonNone {
			nev += int(br.hi - br.lo)
		}
	}
	evs = make([]event, 0, nev)
	// events of beacon ordinal o: evs[ranges[o][0]:ranges[o][1]]
	cur = -1
	nearF, nearL := radio.Hz(0), 0.0
	for k := range e.beacons {
		br := &e.beacons[k]
		if br.ms < from || br.ms >= end || br.final != ReasonNone {
			continue
		}
		if cur < 0 && br.ms >= start {
			cur = len(evs) // beacons are in received_ms order
		}
		bs := &e.reg.sites[br.site]
		lo := int32(len(evs))
		for i := br.lo; i < br.hi; i++ {
			pr := &e.pairs[i]
			valid := pr.final == ReasonNone
			if !valid && pr.pre != ReasonBadRSSI && pr.pre != ReasonImplausibleSignal {
				continue
			}
			wr := &e.witnesses[pr.w]
			ws := &e.reg.sites[wr.site]
			sig := signalDdBm(wr.w.Report)
			eirp := int64(br.bc.PowerDBm) + floor10(bs.GainDdBi) + floor10(ws.GainDdBi)
			g := float64(sig)/10 - float64(eirp)
			if f := radio.Hz(wr.w.Report.GetFrequencyHz()); f != nearF {
				nearF, nearL = f, float64(radio.FreeSpaceLoss(radio.Meters(d.SplitNearM), f))
			}
			evs = append(evs, event{
				b: br.site, w: wr.site, dist: pr.dist, gain: g,
				strong: g >= -nearL-d.SplitMarginDB,
				valid:  valid, beacon: int32(len(ranges)), sigDdB: sig,
				gDdB: int32(int64(sig) - 10*eirp),
			})
		}
		if hi := int32(len(evs)); hi > lo {
			ranges = append(ranges, [2]int32{lo, hi})
		}
	}
	if cur < 0 {
		cur = len(evs)
	}
	return evs, ranges, cur
}

// fit accumulates a least-squares fit of g = a + b·log10(d).
type fit struct {
	n                     int
	sx, sy, sxx, sxy, syy float64
	minD, maxD            float64
	partners              [5]int32
	np                    int
}

func (f *fit) add(partner int32, d, g float64) {
	x := math.Log10(d)
	f.n++
	f.sx += x
	f.sy += g
	f.sxx += float64(x * x)
	f.sxy += float64(x * g)
	f.syy += float64(g * g)
	if f.n == 1 || d < f.minD {
		f.minD = d
	}
	if d > f.maxD {
		f.maxD = d
	}
	if f.np < len(f.partners) && !slices.Contains(f.partners[:f.np], partner) {
		f.partners[f.np] = partner
		f.np++
	}
}

// exponent returns the fitted path-loss exponent n̂ = −b/10 and its
// standard error.
func (f *fit) exponent() (nHat, se float64, ok bool) {
	n := float64(f.n)
	sxx := f.sxx - float64(f.sx*f.sx)/n
	sxy := f.sxy - float64(f.sx*f.sy)/n
	syy := f.syy - float64(f.sy*f.sy)/n
	if !(sxx > 0) || f.n < 3 {
		return 0, 0, false
	}
	b := sxy / sxx
	sse := syy - float64(b*sxy)
	if sse < 0 {
		sse = 0
	}
	seB := math.Sqrt(sse / (n - 2) / sxx)
	return -b / 10, seB / 10, true
}

// distanceInsensitive flags hotspots whose measured path gain does not
// fall with distance (poc-rules §12e). Each hotspot has two fits, one of
// its events as beaconer and one as witness ("as beaconer or witness"),
// so an honest role cannot hide a fabricated one; a hotspot is flagged if
// either fit is. A hotspot whose reports are made up also pollutes the
// fits of every partner it claims to have heard, so the flags are peeled:
// the fit with the lowest n̂ + k·SE below the threshold is flagged first,
// that hotspot's events leave its partners' fits, those fits are
// recomputed, and so on until no fit is below the threshold.
//
// [hx] Only partners closer than capM (the hearing model's fit cap, see
// hearing.go) enter the fits.
func (e *engine) distanceInsensitive(evs []event, capM float64) []int32 {
	d := e.p.Detectors
	n := len(e.reg.sites)
	// fit f = 2·site + role (0 beaconer, 1 witness): its events, in order
	start := make([]int32, 2*n+1)
	for i := range evs {
		if ev := &evs[i]; ev.valid && ev.dist > 0 && ev.dist <= capM {
			start[2*ev.b+1]++
			start[2*ev.w+2]++
		}
	}
	for f := range 2 * n {
		start[f+1] += start[f]
	}
	mine := make([]int32, start[2*n])
	next := slices.Clone(start[:2*n])
	for i := range evs {
		if ev := &evs[i]; ev.valid && ev.dist > 0 && ev.dist <= capM {
			mine[next[2*ev.b]] = int32(i)
			next[2*ev.b]++
			mine[next[2*ev.w+1]] = int32(i)
			next[2*ev.w+1]++
		}
	}
	flagged := make([]bool, n)
	partnerOf := func(f int32, ev *event) int32 {
		if f%2 == 0 {
			return ev.w
		}
		return ev.b
	}
	type partnerAcc struct {
		p       int32
		d, sumG float64
		n       int
	}
	var accs []partnerAcc
	at := map[int32]int{}
	score := func(f int32) (float64, bool) {
		// [hx] One point per partner, its mean gain: shadowing is a
		// property of the pair (and correlated between nearby pairs), so
		// the events of one partner are not independent; fitting them one
		// by one understates SE by about √(events per partner) and flags
		// honest hotspots in hilly terrain.
		accs = accs[:0]
		clear(at)
		events := 0
		for _, i := range mine[start[f]:start[f+1]] {
			ev := &evs[i]
			p := partnerOf(f, ev)
			if flagged[p] {
				continue
			}
			events++
			k, ok := at[p]
			if !ok {
				k = len(accs)
				at[p] = k
				accs = append(accs, partnerAcc{p: p, d: ev.dist})
			}
			accs[k].sumG += ev.gain
			accs[k].n++
		}
		var ft fit
		for _, a := range accs {
			ft.add(a.p, a.d, a.sumG/float64(a.n))
		}
		if events < d.MinEvents || ft.np < d.MinPartners || !(ft.maxD >= float64(d.MinDistRatio*ft.minD)) {
			return 0, false
		}
		nHat, se, ok := ft.exponent()
		if !ok {
			return 0, false
		}
		x := nHat + float64(d.ExponentSigma*se)
		return x, x < d.MaxExponent
	}
	scores := make([]float64, 2*n)
	var cand []int32
	for f := range int32(2 * n) {
		if x, bad := score(f); bad {
			scores[f] = x
			cand = append(cand, f)
		}
	}
	var out []int32
	for len(cand) > 0 {
		best := 0
		for i, f := range cand {
			if scores[f] < scores[cand[best]] || (scores[f] == scores[cand[best]] && f < cand[best]) {
				best = i
			}
		}
		s := cand[best] / 2
		flagged[s] = true
		out = append(out, s)
		cand = slices.DeleteFunc(cand, func(c int32) bool { return c/2 == s })
		// refit the partners' fits still suspected
		var refit []int32
		for role := int32(0); role < 2; role++ {
			f := 2*s + role
			for _, i := range mine[start[f]:start[f+1]] {
				p := partnerOf(f, &evs[i])
				for _, pf := range []int32{2 * p, 2*p + 1} {
					if slices.Contains(cand, pf) && !slices.Contains(refit, pf) {
						refit = append(refit, pf)
					}
				}
			}
		}
		for _, pf := range refit {
			if x, bad := score(pf); bad {
				scores[pf] = x
			} else {
				cand = slices.DeleteFunc(cand, func(c int32) bool { return c == pf })
			}
		}
	}
	slices.Sort(out)
	return out
}

func pairKey(a, b int32) uint64 {
	if a > b {
		a, b = b, a
	}
	return uint64(uint32(a))<<32 | uint64(uint32(b))
}

// isolatedCliques flags dense small components of the witness graph that
// active hotspots nearby never connect to (poc-rules §12e).
//
// [hx] Two refinements of §12e keep the detector from being turned against
// honest hotspots. An outsider counts only when the network corroborates
// it: besides a reciprocity beacon it has a valid event in the window.
// Otherwise three fake hotspots asserted next to a small honest town,
// hearing only each other with implausible signals, would get the town
// flagged. And a component is flagged only when its outsiders are at least
// as many as its members: two groups that never hear each other look alike
// to the graph, and the smaller one is the suspect.
//
// [hx] Outsiders count only within the hearing model's sure radius (when
// the model has one and it is shorter than OutsiderRadiusM): farther away,
// honest hotspots need not hear each other, so a village behind a ridge
// a few km from a town is not an isolated clique of that town. And there
// is no size cap when CliqueMax is 0: a ring larger than any fixed cap is
// still a ring.
func (e *engine) isolatedCliques(evs []event, h *History, from, end int64, sureM float64) []int32 {
	d := e.p.Detectors
	radius := d.OutsiderRadiusM
	if sureM > 0 && sureM < radius {
		radius = sureM
	}
	keys := make([]uint64, 0, len(evs))
	corroborated := make([]bool, len(e.reg.sites))
	for i := range evs {
		if evs[i].valid {
			keys = append(keys, pairKey(evs[i].b, evs[i].w))
			corroborated[evs[i].b], corroborated[evs[i].w] = true, true
		}
	}
	slices.Sort(keys)
	var edges []uint64 // sorted, unique
	for i := 0; i < len(keys); {
		j := i + 1
		for j < len(keys) && keys[j] == keys[i] {
			j++
		}
		if j-i >= d.EdgeEvents {
			edges = append(edges, keys[i])
		}
		i = j
	}
	parent := map[int32]int32{}
	var find func(x int32) int32
	find = func(x int32) int32 {
		p, ok := parent[x]
		if !ok {
			parent[x] = x
			return x
		}
		if p == x {
			return x
		}
		r := find(p)
		parent[x] = r
		return r
	}
	for _, k := range edges {
		a, b := find(int32(k>>32)), find(int32(uint32(k)))
		if a != b {
			if a < b {
				parent[b] = a
			} else {
				parent[a] = b
			}
		}
	}
	members := map[int32][]int32{}
	nEdges := map[int32]int{}
	nodes := make([]int32, 0, len(parent))
	for x := range parent {
		nodes = append(nodes, x)
	}
	slices.Sort(nodes)
	for _, x := range nodes {
		r := find(x)
		members[r] = append(members[r], x)
	}
	for _, k := range edges {
		nEdges[find(int32(k>>32))]++
	}
	roots := make([]int32, 0, len(members))
	for r := range members {
		roots = append(roots, r)
	}
	slices.Sort(roots)
	var idx *spatialIndex
	var out []int32
	for _, r := range roots {
		c := members[r]
		sz := len(c)
		if sz < d.CliqueMin || (d.CliqueMax > 0 && sz > d.CliqueMax) {
			continue
		}
		if float64(2*nEdges[r])/float64(sz*(sz-1)) < d.CliqueDensity {
			continue
		}
		if idx == nil {
			idx = e.activeIndex(h, from, end)
		}
		outsiders := map[int32]bool{}
		for _, m := range c {
			s := &e.reg.sites[m]
			for _, o := range idx.within(s.lat, s.lng, radius) {
				if corroborated[o] && !slices.Contains(c, o) {
					outsiders[o] = true
				}
			}
		}
		if len(outsiders) >= max(d.MinOutsiders, sz) {
			out = append(out, c...)
		}
	}
	return out
}

// spatialIndex buckets hotspots on a 0.05° grid.
type spatialIndex struct {
	e     *engine
	cells map[[2]int32][]int32
}

const gridDeg = 0.05

func gridOf(lat, lng float64) [2]int32 {
	return [2]int32{int32(math.Floor(lat / gridDeg)), int32(math.Floor(lng / gridDeg))}
}

// activeIndex indexes the asserted hotspots with a reciprocity beacon in
// [from, end).
func (e *engine) activeIndex(h *History, from, end int64) *spatialIndex {
	idx := &spatialIndex{e: e, cells: map[[2]int32][]int32{}}
	for i := range e.reg.sites {
		s := &e.reg.sites[i]
		if s.asserted && anyIn(h.recipBeacon[i], from, end) {
			g := gridOf(s.lat, s.lng)
			idx.cells[g] = append(idx.cells[g], int32(i))
		}
	}
	return idx
}

// within returns the indexed hotspots within r metres of the point.
func (x *spatialIndex) within(lat, lng, r float64) []int32 {
	dLat := r / 111_000 / gridDeg
	cos := math.Cos(lat * math.Pi / 180)
	dLng := 360 / gridDeg
	if cos > 0.01 {
		dLng = min(dLng, r/(111_000*cos)/gridDeg)
	}
	g := gridOf(lat, lng)
	var out []int32
	for i := g[0] - int32(dLat) - 1; i <= g[0]+int32(dLat)+1; i++ {
		for j := g[1] - int32(dLng) - 1; j <= g[1]+int32(dLng)+1; j++ {
			for _, s := range x.cells[[2]int32{i, j}] {
				o := &x.e.reg.sites[s]
				if float64(radio.Distance(lat, lng, o.lat, o.lng)) <= r {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// antennaSplit flags pairs of distant hotspots that hear each other as if
// a few metres apart (i), or that hear everyone with the same signal (ii)
// (poc-rules §12e).
func (e *engine) antennaSplit(evs []event, ranges [][2]int32) []int32 {
	d := e.p.Detectors
	var out []int32
	// (i) strong links
	type strongCount struct{ lo, hi int } // events with the lower / higher site as beaconer
	strong := map[uint64]*strongCount{}
	for i := range evs {
		ev := &evs[i]
		if !ev.strong || !(ev.dist >= d.SplitMinDistanceM) {
			continue
		}
		k := pairKey(ev.b, ev.w)
		sc := strong[k]
		if sc == nil {
			sc = &strongCount{}
			strong[k] = sc
		}
		if ev.b < ev.w {
			sc.lo++
		} else {
			sc.hi++
		}
	}
	keys := make([]uint64, 0, len(strong))
	for k, sc := range strong {
		if sc.lo >= 1 && sc.hi >= 1 && sc.lo+sc.hi >= d.SplitMinEvents {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		out = append(out, int32(k>>32), int32(uint32(k)))
	}

	// (ii) co-witnessing with a constant signal difference. [hx] The rule
	// looks at per-beaconer means: for each beaconer both u and v heard,
	// the mean of signal_u − signal_v over its beacons, and the sample
	// standard deviation of those means across beaconers. Two antennas on
	// one roof (or one antenna behind a splitter, whatever software noise
	// is added to the reports) see every beaconer through the same path,
	// so the means agree up to averaged fading; hotspots hundreds of
	// metres apart see each beaconer through a different path (shadowing
	// decorrelates, distances differ), so the means scatter by several
	// dB. Per-report differences, the rule of §12e, are beaten by adding
	// 2 dB of noise to the reports. Only pairs asserted at most
	// CoMaxDistanceM apart are compared: sybils want neighbouring hexes,
	// and line-of-sight hilltops tens of km apart hear a town with nearly
	// free-space, nearly constant differences.
	//
	// For each hotspot u, its valid witness events are walked beaconer by
	// beaconer; within a beacon the co-witnesses are sorted by witness so
	// u visits only v > u. The valid events are copied into a compact
	// array (beacon ranges kept) so the walk stays in cache. Per
	// (beaconer, v) the differences are summed as integers (ddB); the
	// means are folded into per-v sums in beaconer order, so the result
	// does not depend on the order of the events.
	type coEv struct{ w, b, sig, ev int32 }
	n := len(e.reg.sites)
	co := make([]coEv, 0, len(evs))
	coRange := make([][2]int32, len(ranges))
	evCo := make([]int32, len(evs)) // event → its index in co, -1 if invalid
	for o, r := range ranges {
		lo := int32(len(co))
		for i := r[0]; i < r[1]; i++ {
			evCo[i] = -1
			if ev := &evs[i]; ev.valid {
				co = append(co, coEv{ev.w, ev.b, ev.sigDdB, i})
			}
		}
		seg := co[lo:]
		slices.SortFunc(seg, func(a, b coEv) int { return int(a.w - b.w) })
		for j := range seg {
			evCo[seg[j].ev] = lo + int32(j)
		}
		coRange[o] = [2]int32{lo, int32(len(co))}
	}
	start := make([]int32, n+1)
	for i := range evs {
		if evs[i].valid {
			start[evs[i].w+1]++
		}
	}
	for s := range n {
		start[s+1] += start[s]
	}
	mine := make([]int32, start[n])
	next := slices.Clone(start[:n])
	for i := range evs {
		if evs[i].valid {
			mine[next[evs[i].w]] = int32(i)
			next[evs[i].w]++
		}
	}
	type coAcc struct {
		// this beaconer's group
		gn        int
		gsum, gsu int64
		// over beaconers: co-witnessed beacons, groups, Σ mean, Σ mean²,
		// and the same of u's own signal
		beacons, groups int
		sm, smm         float64
		su, suu         float64
		far, tested     bool
	}
	acc := make([]coAcc, n)
	var touched, gTouched []int32
	maxSD := 10 * d.CoMaxStdDevDB     // ddB
	minSpread := 10 * d.CoMinSpreadDB // ddB
	for u := range int32(n) {
		evU := mine[start[u]:start[u+1]]
		if len(evU) < d.CoMinBeacons {
			continue
		}
		slices.SortStableFunc(evU, func(a, b int32) int { return int(evs[a].b - evs[b].b) })
		us := &e.reg.sites[u]
		fold := func() {
			for _, v := range gTouched {
				a := &acc[v]
				m := float64(a.gsum) / float64(a.gn)
				mu := float64(a.gsu) / float64(a.gn)
				a.groups++
				a.sm += m
				a.smm += float64(m * m)
				a.su += mu
				a.suu += float64(mu * mu)
				a.gn, a.gsum, a.gsu = 0, 0, 0
			}
			gTouched = gTouched[:0]
		}
		for k, iu := range evU {
			if k > 0 && evs[iu].b != evs[evU[k-1]].b {
				fold()
			}
			pos := evCo[iu]
			eu := &co[pos]
			r := coRange[evs[iu].beacon]
			for iv := pos + 1; iv < r[1]; iv++ {
				ev := &co[iv]
				v := ev.w
				if v <= u {
					continue // a duplicate report of u cannot be valid; kept for safety
				}
				a := &acc[v]
				if !a.tested {
					a.tested = true
					vs := &e.reg.sites[v]
					dist := float64(radio.Distance(us.lat, us.lng, vs.lat, vs.lng))
					a.far = dist >= d.CoMinDistanceM && (d.CoMaxDistanceM == 0 || dist <= d.CoMaxDistanceM)
					touched = append(touched, v)
				}
				if !a.far {
					continue
				}
				if a.gn == 0 {
					gTouched = append(gTouched, v)
				}
				a.beacons++
				a.gn++
				a.gsum += int64(eu.sig) - int64(ev.sig)
				a.gsu += int64(eu.sig)
			}
		}
		fold()
		slices.Sort(touched)
		for _, v := range touched {
			a := &acc[v]
			if a.far && a.beacons >= d.CoMinBeacons && a.groups >= d.CoMinBeaconers && a.groups >= 2 {
				g := float64(a.groups)
				// sample variance of the means: (Σm² − (Σm)²/g) / (g − 1)
				vr := (a.smm - float64(a.sm*a.sm)/g) / (g - 1)
				// and u's own per-beaconer signal must spread: a pair
				// whose signals all sit at one value (a saturated
				// receiver, equidistant beaconers) says nothing
				vu := (a.suu - float64(a.su*a.su)/g) / (g - 1)
				if vr <= float64(maxSD*maxSD) && vu >= float64(minSpread*minSpread) {
					out = append(out, u, v)
				}
			}
			acc[v] = coAcc{}
		}
		touched = touched[:0]
	}
	return out
}

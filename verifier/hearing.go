package verifier

import (
	"math"
	"slices"
)

// The [hx] hearing model: how often, in the detector window, an active
// hotspot hears a valid beacon of another one at a given distance. It is
// measured from the window itself, pooled over the network, and used two
// ways:
//
//   - as a distance cap for distance_insensitive: only partners closer
//     than the distance up to which beacons are heard at least at
//     HearFitRate enter the fits. Beyond it only links with lucky
//     shadowing are heard at all, which flattens the fitted slope of
//     honest hotspots in hilly or sparse country (a truncation bias) and
//     lets far-away fakes with strong reports flatten a victim's fit;
//   - as negative evidence (unheard): active hotspots near a beaconer
//     should hear its beacons at the model's rate. Within the distance up
//     to which beacons are heard at least at HearSureRate, a hotspot whose
//     beacons its neighbours hear at less than UnheardMaxRatio of the
//     expected rate is flagged: fake identities, whose radios (if any) are
//     elsewhere, are rarely heard by honest neighbours, however
//     consistent the reports they forge about each other.
//
// Determinism: counts are integers, distances planar over a local
// projection computed the same way everywhere, bins fixed, sums taken in
// site order.

// The distance bins: bin k holds the pairs in [hearEdge(k), hearEdge(k+1)),
// hearEdge(k) = 500 m · √2^k, from 500 m (closer pairs are mostly below the
// minimum witness distance of §5, so they say nothing about hearing) to
// 8 km. Beyond 8 km no network this model is for hears reliably, and the
// pairs to enumerate grow with the square of the radius.
const nHearBins = 8

func hearEdge(k int) float64 { return 500 * math.Pow(math.Sqrt2, float64(k)) }

// hearEdges are the bin edges, computed once per model.
type hearEdges [nHearBins + 1]float64

func newHearEdges() *hearEdges {
	var e hearEdges
	for k := range e {
		e[k] = hearEdge(k)
	}
	return &e
}

// bin2 returns the bin of a squared distance d2 (m²), -1 outside them;
// sq are the squared edges.
func (e *hearEdges) bin2(sq *hearEdges, d2 float64) int {
	if !(d2 >= sq[0]) || d2 >= sq[nHearBins] {
		return -1
	}
	k := 0
	for d2 >= sq[k+1] {
		k++
	}
	return k
}

func (e *hearEdges) squared() *hearEdges {
	var q hearEdges
	for k, v := range e {
		q[k] = float64(v * v)
	}
	return &q
}

type hearing struct {
	trials, heard [nHearBins]int64
	fitCapM       float64 // distance_insensitive's partner distance cap (0: no fits, +Inf: no cap)
	sureM         float64 // the negative evidence radius (0: none)
	// per site: valid beacons in the window; per site, sorted witness list
	// with the number of valid events of each directed link
	nb    []int32
	links [][]linkCount
	xy    [][2]float64
	act   []bool
	skip  []bool // beaconers heard too little to be trusted as hearers
	edges *hearEdges
	sq    *hearEdges // squared edges
	rates [nHearBins]float64
	grid  *hearGridT
}

type linkCount struct {
	w, n int32
}

// planar returns the local planar position of a site in metres.
func planar(lat, lng float64) [2]float64 {
	const m = 111_195.0
	return [2]float64{float64(float64(lng*m) * math.Cos(lat*math.Pi/180)), float64(lat * m)}
}

// dist2 is the squared planar distance between two sites, as each
// computes it.
func (hm *hearing) dist2(a, b int32) float64 {
	p, q := hm.xy[a], hm.xy[b]
	dx, dy := q[0]-p[0], q[1]-p[1]
	return float64(dx*dx) + float64(dy*dy)
}

// hearingModel measures the window's hearing rates. active marks the
// hotspots that could have heard (a reciprocity beacon in the window).
func (e *engine) hearingModel(evs []event, active []bool, from, end int64) *hearing {
	d := e.p.Detectors
	n := len(e.reg.sites)
	hm := &hearing{nb: make([]int32, n), links: make([][]linkCount, n), xy: make([][2]float64, n), act: active, edges: newHearEdges()}
	hm.sq = hm.edges.squared()
	for k := range e.beacons {
		if br := &e.beacons[k]; br.ms >= from && br.ms < end && br.final == ReasonNone {
			hm.nb[br.site]++
		}
	}
	// valid events per directed link, grouped by beaconer
	start := make([]int32, n+1)
	for i := range evs {
		if evs[i].valid {
			start[evs[i].b+1]++
		}
	}
	for s := range n {
		start[s+1] += start[s]
	}
	ws := make([]int32, start[n])
	next := slices.Clone(start[:n])
	for i := range evs {
		if ev := &evs[i]; ev.valid {
			ws[next[ev.b]] = ev.w
			next[ev.b]++
		}
	}
	for s := range n {
		seg := ws[start[s]:start[s+1]]
		slices.Sort(seg)
		for i := 0; i < len(seg); {
			j := i
			for j < len(seg) && seg[j] == seg[i] {
				j++
			}
			hm.links[s] = append(hm.links[s], linkCount{seg[i], int32(j - i)})
			i = j
		}
	}
	for s := range e.reg.sites {
		hm.xy[s] = planar(e.reg.sites[s].lat, e.reg.sites[s].lng)
	}
	// trials and hits per bin, per beaconer in parallel, summed in order
	grid := e.hearGrid(active, hm.xy)
	hm.grid = grid
	type acc struct{ t, h [nHearBins]int64 }
	per := make([]acc, n)
	e.parallel(n, func(s int) {
		if hm.nb[s] == 0 || !e.reg.sites[s].asserted {
			return
		}
		a := &per[s]
		nb := int64(hm.nb[s])
		grid.each(hm.xy[s], hm.edges[nHearBins], func(w int32, d2 float64) {
			if k := hm.sq.bin2(hm.sq, d2); k >= 0 && int(w) != s {
				a.t[k] += nb
			}
		})
		for _, l := range hm.links[s] {
			if int(l.w) == s || !active[l.w] || !e.reg.sites[l.w].asserted {
				continue
			}
			if k := hm.sq.bin2(hm.sq, hm.dist2(int32(s), l.w)); k >= 0 {
				a.h[k] += int64(min(l.n, hm.nb[s]))
			}
		}
	})
	sum := func(skip []bool) {
		hm.trials, hm.heard = [nHearBins]int64{}, [nHearBins]int64{}
		anySkip := false
		for s := range per {
			if skip != nil && skip[s] {
				anySkip = true
				continue
			}
			for k := range nHearBins {
				hm.trials[k] += per[s].t[k]
				hm.heard[k] += per[s].h[k]
			}
		}
		// nor the left-out hotspots as witnesses: the trusted beaconers'
		// trials and hits towards them are taken back out
		for w := range int32(n) {
			if !anySkip || !skip[w] || !active[w] || !e.reg.sites[w].asserted {
				continue
			}
			grid.each(hm.xy[w], hm.edges[nHearBins], func(s int32, d2 float64) {
				if k := hm.sq.bin2(hm.sq, d2); k >= 0 && s != w && !skip[s] && hm.nb[s] > 0 && e.reg.sites[s].asserted {
					hm.trials[k] -= int64(hm.nb[s])
				}
			})
		}
		for s := range int32(n) {
			if !anySkip || skip[s] || hm.nb[s] == 0 || !e.reg.sites[s].asserted {
				continue
			}
			for _, l := range hm.links[s] {
				if l.w == s || !skip[l.w] || !active[l.w] || !e.reg.sites[l.w].asserted {
					continue
				}
				if k := hm.sq.bin2(hm.sq, hm.dist2(s, l.w)); k >= 0 {
					hm.heard[k] -= int64(min(l.n, hm.nb[s]))
				}
			}
		}
		for k := range nHearBins {
			hm.rates[k] = 0
			if hm.trials[k] > 0 {
				hm.rates[k] = float64(hm.heard[k]) / float64(hm.trials[k])
			}
		}
	}
	sum(nil)
	// Fakes are the very beaconers nobody hears; in a small town a few of
	// them pull a bin's rate down. So the rates are measured again without
	// the beaconers heard at less than HearTrustRatio of what the current
	// rates predict for them, where hearing by a beaconer already left out
	// does not count; three rounds, so a ring whose members hear only each
	// other drops out as a whole. The beaconers left out also do not count
	// as hearers, nor as neighbours expected to hear, in unheard: the
	// reports fakes forge of each other corroborate nothing, and fakes
	// asserted around an honest hotspot do not make it look unheard.
	// the caps: walking the bins outwards, skipping those with too few
	// trials to tell, the distance at which the rate first falls below the
	// level; -1 when no bin has enough trials
	capAt := func(rate float64) float64 {
		c := -1.0
		for k := range nHearBins {
			if hm.trials[k] < int64(d.HearMinTrials) {
				continue
			}
			if float64(hm.heard[k]) < float64(rate*float64(hm.trials[k])) {
				if c < 0 {
					c = hearEdge(k)
				}
				break
			}
			c = hearEdge(k + 1)
		}
		return c
	}
	skip := make([]bool, n)
	for range 3 {
		next := make([]bool, n)
		for s := range per {
			var exp float64
			for k := range nHearBins {
				exp += float64(float64(per[s].t[k]) * hm.rates[k])
			}
			var obs int64
			for _, l := range hm.links[s] {
				if int(l.w) == s || !active[l.w] || !e.reg.sites[l.w].asserted || skip[l.w] {
					continue
				}
				if hm.sq.bin2(hm.sq, hm.dist2(int32(s), l.w)) >= 0 {
					obs += int64(min(l.n, hm.nb[s]))
				}
			}
			next[s] = exp > 0 && float64(obs) < float64(d.HearTrustRatio*exp)
		}
		skip = next
		sum(skip)
	}
	hm.skip = skip
	// too little data to measure: distance_insensitive runs uncapped (as
	// §12e has it), negative evidence does not run
	if hm.fitCapM = capAt(d.HearFitRate); hm.fitCapM < 0 {
		hm.fitCapM = math.Inf(1)
	}
	hm.sureM = max(0, capAt(d.HearSureRate))
	return hm
}

// hearGrid buckets the active asserted hotspots on a planar grid of 4 km
// squares.
type hearGridT struct {
	cells map[[2]int32][]int32
	xy    func(s int32) [2]float64
}

const hearCell = 4000.0

func (e *engine) hearGrid(active []bool, xy [][2]float64) *hearGridT {
	g := &hearGridT{cells: map[[2]int32][]int32{}}
	for i := range e.reg.sites {
		s := &e.reg.sites[i]
		if s.asserted && active[i] {
			c := [2]int32{int32(math.Floor(xy[i][0] / hearCell)), int32(math.Floor(xy[i][1] / hearCell))}
			g.cells[c] = append(g.cells[c], int32(i))
		}
	}
	g.xy = func(s int32) [2]float64 { return xy[s] }
	return g
}

// each calls f with the squared distance for every indexed hotspot within
// r metres of p, in cell and index order.
func (g *hearGridT) each(p [2]float64, r float64, f func(s int32, d2 float64)) {
	r2 := float64(r * r)
	cx, cy := int32(math.Floor(p[0]/hearCell)), int32(math.Floor(p[1]/hearCell))
	k := int32(math.Ceil(r / hearCell))
	for i := cx - k; i <= cx+k; i++ {
		for j := cy - k; j <= cy+k; j++ {
			for _, s := range g.cells[[2]int32{i, j}] {
				q := g.xy(s)
				dx, dy := q[0]-p[0], q[1]-p[1]
				if d2 := float64(dx*dx) + float64(dy*dy); d2 <= r2 {
					f(s, d2)
				}
			}
		}
	}
}

// unheard is the negative-evidence detector (reason unheard): a hotspot
// whose valid beacons in the window the trusted active hotspots within the
// sure radius heard at less than UnheardMaxRatio of the model's
// expectation, with an expectation of at least UnheardMinExpected events.
func (e *engine) unheard(hm *hearing) []int32 {
	d := e.p.Detectors
	if hm.sureM == 0 {
		return nil
	}
	grid := hm.grid
	n := len(e.reg.sites)
	flag := make([]bool, n)
	e.parallel(n, func(s int) {
		if hm.nb[s] == 0 || !e.reg.sites[s].asserted {
			return
		}
		var exp float64
		var obs int64
		nb := float64(hm.nb[s])
		r2 := float64(hm.sureM * hm.sureM)
		grid.each(hm.xy[s], hm.sureM, func(w int32, d2 float64) {
			if k := hm.sq.bin2(hm.sq, d2); k >= 0 && int(w) != s && !hm.skip[w] {
				exp += float64(nb * hm.rates[k])
			}
		})
		for _, l := range hm.links[s] {
			if int(l.w) == s || !hm.act[l.w] || !e.reg.sites[l.w].asserted || hm.skip[l.w] {
				continue
			}
			if d2 := hm.dist2(int32(s), l.w); d2 <= r2 && hm.sq.bin2(hm.sq, d2) >= 0 {
				obs += int64(min(l.n, hm.nb[s]))
			}
		}
		flag[s] = exp >= d.UnheardMinExpected && float64(obs) < float64(d.UnheardMaxRatio*exp)
	})
	var out []int32
	for s, f := range flag {
		if f {
			out = append(out, int32(s))
		}
	}
	return out
}

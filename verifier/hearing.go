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

// bin returns the bin of distance d, -1 outside them.
func (e *hearEdges) bin(d float64) int {
	if !(d >= e[0]) || d >= e[nHearBins] {
		return -1
	}
	k := 0
	for d >= e[k+1] {
		k++
	}
	return k
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

func planarDist(a, b [2]float64) float64 {
	return math.Hypot(a[0]-b[0], a[1]-b[1])
}

// hearingModel measures the window's hearing rates. active marks the
// hotspots that could have heard (a reciprocity beacon in the window).
func (e *engine) hearingModel(evs []event, active []bool, from, end int64) *hearing {
	d := e.p.Detectors
	n := len(e.reg.sites)
	hm := &hearing{nb: make([]int32, n), links: make([][]linkCount, n), xy: make([][2]float64, n), act: active, edges: newHearEdges()}
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
		grid.each(hm.xy[s], hm.edges[nHearBins], func(w int32, dist float64) {
			if int(w) == s {
				return
			}
			k := hm.edges.bin(dist)
			if k < 0 {
				return
			}
			a.t[k] += int64(hm.nb[s])
			a.h[k] += int64(min(hm.count(int32(s), w), hm.nb[s]))
		})
	})
	sum := func(skip []bool) {
		hm.trials, hm.heard = [nHearBins]int64{}, [nHearBins]int64{}
		for s := range per {
			if skip != nil && skip[s] {
				continue
			}
			for k := range nHearBins {
				hm.trials[k] += per[s].t[k]
				hm.heard[k] += per[s].h[k]
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
	// them pull a bin's rate down. So the rates are measured twice: the
	// second time without the beaconers heard at less than HearTrustRatio
	// of what the first rates predict for them. Those also do not count as
	// hearers, nor as neighbours expected to hear, in unheard: the
	// reports fakes forge of each other corroborate nothing, and fakes
	// asserted around an honest hotspot do not make it look unheard.
	skip := make([]bool, n)
	for s := range per {
		var exp float64
		var obs int64
		for k := range nHearBins {
			exp += float64(float64(per[s].t[k]) * hm.rates[k])
			obs += per[s].h[k]
		}
		skip[s] = exp > 0 && float64(obs) < float64(d.HearTrustRatio*exp)
	}
	sum(skip)
	hm.skip = skip
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
	// too little data to measure: distance_insensitive runs uncapped (as
	// §12e has it), negative evidence does not run
	if hm.fitCapM = capAt(d.HearFitRate); hm.fitCapM < 0 {
		hm.fitCapM = math.Inf(1)
	}
	hm.sureM = max(0, capAt(d.HearSureRate))
	return hm
}

// count returns the valid events of the link b→w.
func (hm *hearing) count(b, w int32) int32 {
	ls := hm.links[b]
	i, ok := slices.BinarySearchFunc(ls, w, func(l linkCount, w int32) int { return int(l.w) - int(w) })
	if !ok {
		return 0
	}
	return ls[i].n
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

// each calls f for every indexed hotspot within r metres of p, in cell
// and index order.
func (g *hearGridT) each(p [2]float64, r float64, f func(s int32, d float64)) {
	cx, cy := int32(math.Floor(p[0]/hearCell)), int32(math.Floor(p[1]/hearCell))
	k := int32(math.Ceil(r / hearCell))
	for i := cx - k; i <= cx+k; i++ {
		for j := cy - k; j <= cy+k; j++ {
			for _, s := range g.cells[[2]int32{i, j}] {
				if d := planarDist(p, g.xy(s)); d <= r {
					f(s, d)
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
		grid.each(hm.xy[s], hm.sureM, func(w int32, dist float64) {
			k := hm.edges.bin(dist)
			if int(w) == s || k < 0 || hm.skip[w] {
				return
			}
			exp += float64(float64(hm.nb[s]) * hm.rates[k])
			obs += int64(min(hm.count(int32(s), w), hm.nb[s]))
		})
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

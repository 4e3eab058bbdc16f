package verifier

import (
	"math"
	"slices"
)

// excessTxPower is the [hx] excess_tx_power detector (reason 31, scope H),
// an addition to the detectors of poc-rules §12e.
//
// The weakness: §12b prescribes the transmit power and bad_rssi checks
// witnesses against it, but a hotspot that transmits above the prescribed
// power and reports the prescribed value reaches farther than it should,
// collecting more witnesses (and reward) without any single witness
// looking wrong unless its signal crosses the free-space bound.
//
// The physics: path loss is reciprocal. For two hotspots A and B the
// measured path gain g(A→B) (A beacons, B witnesses; g as in §12e, with
// the prescribed P) and g(B→A) see the same path, the same antennas,
// cables and heights, so they agree up to fading and the receivers' RSSI
// calibration, whatever the antennas really are. Power radiated above
// the prescribed P adds to g on every link where A is the beaconer, so
// g(A→B) − g(B→A) ≈ the excess, on every partner B of A.
//
// The rule, over the detector window's events (valid ones and those
// invalid only for bad_rssi or implausible_signal, as antenna_split (i)
// counts them: an excess is most visible on the links it pushes over the
// free-space bound):
//
//   - for each unordered pair {A, B} with at least TxMinEvents events each
//     way, the pair's asymmetry for A is mean g(A→B) − mean g(B→A) (and its
//     negative for B);
//   - a hotspot with at least TxMinPartners such partners is flagged when
//     the median of its asymmetries exceeds TxMaxAsymmetryDB;
//   - and, so that a hotspot cannot dilute a loud epoch with quiet ones in
//     the window, the same rule with its outbound means taken from the
//     current epoch's events only (at least TxMinEpochEvents per link;
//     the inbound means, which its transmit power does not touch, still
//     from the whole window). Either median above the threshold flags it.
//
// The median makes one hotspot's standing depend on the majority of its
// partners: a loud or miscalibrated partner moves one entry of it, so
// honest neighbours of an attacker are not flagged (a loud partner makes
// their asymmetry negative, never positive). Only excess on the transmit
// side is flagged; a receive-only amplifier or a receiver reading high
// makes the asymmetry negative.
//
// Why the defaults (3 events each way, 1 outbound event in the epoch,
// 5 partners, 6 dB): per-packet fading (σ ≈ 2 dB in the simulator, slow
// shadowing is the same both ways) gives a pair's asymmetry a spread of 2·√(2/3) ≈ 1.6 dB with three
// events each way (2·√(1 + 1/3) ≈ 2.3 dB with a single outbound event in
// the epoch), and the median of five or more pairs is tighter still.
// Requiring three inbound events also drops links heard only on lucky
// fades near the sensitivity limit, whose means are biased upward. The
// larger term in the field is RSSI calibration: poc-rules §12c allows
// ±5 dB per receiver, which moves a hotspot's median by at most 5 dB
// when its partners are calibrated on average. 6 dB sits above that and
// below the 10 dB of a typical amplified or misconfigured concentrator
// (a 27 dBm radio in a 16 dBm EIRP region); with path-loss exponent 3 an
// undetected 6 dB excess extends the range by at most ×1.6, against ×2.2
// for 10 dB.
//
// Determinism: signals are integers (ddB), the per-pair sums are integer
// sums, a mean is one division, and each hotspot's asymmetries are sorted
// before the median is taken.
func (e *engine) excessTxPower(evs []event, cur int) []int32 {
	limit := 10 * e.p.Detectors.TxMaxAsymmetryDB // ddB
	win, epoch := e.txAsymmetries(evs, cur)
	var out []int32
	for s := range win {
		if win[s] > limit || epoch[s] > limit { // NaN (too few partners) is never above
			out = append(out, int32(s))
		}
	}
	return out
}

// txAsymmetries returns each hotspot's median link asymmetry in ddB over
// the window (win) and with its outbound links taken from the current
// epoch's events evs[cur:] only (epoch); NaN when it has too few partners.
func (e *engine) txAsymmetries(evs []event, cur int) (win, epoch []float64) {
	d := e.p.Detectors
	n := len(e.reg.sites)
	// The events grouped by beaconer, then sorted by witness: a directed
	// link b→w is a run of one beaconer's segment.
	type wg struct {
		w, g int32
		now  bool // in the current epoch
	}
	start := make([]int32, n+1)
	for i := range evs {
		start[evs[i].b+1]++
	}
	for s := range n {
		start[s+1] += start[s]
	}
	byB := make([]wg, len(evs))
	next := slices.Clone(start[:n])
	for i := range evs {
		ev := &evs[i]
		byB[next[ev.b]] = wg{ev.w, ev.gDdB, i >= cur}
		next[ev.b]++
	}
	// directed links: per beaconer, sorted by witness, with count and sum
	// over the window and over the current epoch
	type link struct {
		w, n, nNow  int32
		sum, sumNow int64
	}
	lstart := make([]int32, n+1)
	links := make([]link, 0, len(evs)/2+1)
	for b := range n {
		seg := byB[start[b]:start[b+1]]
		slices.SortFunc(seg, func(x, y wg) int { return int(x.w) - int(y.w) })
		for i := 0; i < len(seg); {
			j := i
			l := link{w: seg[i].w}
			for ; j < len(seg) && seg[j].w == seg[i].w; j++ {
				l.n++
				l.sum += int64(seg[j].g)
				if seg[j].now {
					l.nNow++
					l.sumNow += int64(seg[j].g)
				}
			}
			links = append(links, l)
			i = j
		}
		lstart[b+1] = int32(len(links))
	}
	find := func(b, w int32) *link {
		seg := links[lstart[b]:lstart[b+1]]
		i, ok := slices.BinarySearchFunc(seg, w, func(l link, w int32) int { return int(l.w) - int(w) })
		if !ok {
			return nil
		}
		return &seg[i]
	}
	minEv, minNow := int32(d.TxMinEvents), int32(d.TxMinEpochEvents)
	win, epoch = make([]float64, n), make([]float64, n)
	var aw, ae []float64
	for s := range int32(n) {
		win[s], epoch[s] = math.NaN(), math.NaN()
		seg := links[lstart[s]:lstart[s+1]]
		if len(seg) < d.TxMinPartners {
			continue
		}
		aw, ae = aw[:0], ae[:0]
		for i := range seg {
			fwd := &seg[i]
			if fwd.w == s {
				continue
			}
			rev := find(fwd.w, s)
			if rev == nil || rev.n < minEv {
				continue
			}
			mr := float64(rev.sum) / float64(rev.n)
			if fwd.n >= minEv {
				aw = append(aw, float64(fwd.sum)/float64(fwd.n)-mr)
			}
			if fwd.nNow >= minNow {
				ae = append(ae, float64(fwd.sumNow)/float64(fwd.nNow)-mr)
			}
		}
		if len(aw) >= d.TxMinPartners {
			win[s] = median(aw)
		}
		if len(ae) >= d.TxMinPartners {
			epoch[s] = median(ae)
		}
	}
	return win, epoch
}

// median sorts xs and returns its median (the mean of the two middle
// values for an even count).
func median(xs []float64) float64 {
	slices.Sort(xs)
	m := len(xs) / 2
	if len(xs)%2 == 1 {
		return xs[m]
	}
	return (xs[m-1] + xs[m]) / 2
}

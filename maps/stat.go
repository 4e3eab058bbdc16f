package maps

import "slices"

// RSSI and SNR are kept in tenths (dBm×10, dB×10), as the wire reports
// carry them.

// The median RSSI is read from a histogram of 2-dB bins over
// [−142, 0) dBm: 71 bins, stored sparsely as sorted (bin, count) pairs. It
// is exact to ±1 dB, merges exactly across hotspots, hours, windows and
// resolutions (a sum of counts), and is bounded at 71 entries however many
// observations a cell has; a cell heard once costs one entry.
const (
	histLowDdBm = -1420
	histBinDdB  = 20
	histBins    = 71
	histMaxN    = 1<<24 - 1 // a bin's count saturates here
)

// hist is the sparse RSSI histogram: each entry is bin<<24 | count.
type hist []uint32

func histBin(rssi int16) uint32 {
	b := (int(rssi) - histLowDdBm) / histBinDdB
	return uint32(min(max(b, 0), histBins-1))
}

func (h *hist) add(bin, n uint32) {
	i, found := slices.BinarySearchFunc(*h, bin, func(e, b uint32) int { return int(e>>24) - int(b) })
	if found {
		c := min((*h)[i]&histMaxN+n, histMaxN)
		(*h)[i] = bin<<24 | c
		return
	}
	*h = slices.Insert(*h, i, bin<<24|min(n, histMaxN))
}

func (h *hist) merge(o hist) {
	for _, e := range o {
		h.add(e>>24, e&histMaxN)
	}
}

// median is the centre of the bin holding the middle observation, dBm×10;
// ok is false for an empty histogram.
func (h hist) median() (int16, bool) {
	var n uint64
	for _, e := range h {
		n += uint64(e & histMaxN)
	}
	if n == 0 {
		return 0, false
	}
	half := (n + 1) / 2
	var c uint64
	for _, e := range h {
		c += uint64(e & histMaxN)
		if c >= half {
			return int16(histLowDdBm + int(e>>24)*histBinDdB + histBinDdB/2), true
		}
	}
	return 0, false
}

// stat is the summary of a set of observations.
type stat struct {
	n    uint32 // observations (saturating)
	rssi int16  // best RSSI, dBm×10
	snr  int16  // best SNR, dB×10
	last int64  // newest observation, Unix ms
	src  Source // how it was measured (flags)
	h    hist
}

func (s *stat) empty() bool { return s.n == 0 }

func (s *stat) addObs(rssi, snr int16, ms int64, src Source) {
	s.src |= src
	if s.n == 0 {
		s.rssi, s.snr, s.last = rssi, snr, ms
	} else {
		s.rssi, s.snr, s.last = max(s.rssi, rssi), max(s.snr, snr), max(s.last, ms)
	}
	if s.n < ^uint32(0) {
		s.n++
	}
	s.h.add(histBin(rssi), 1)
}

func (s *stat) merge(o *stat) {
	if o.n == 0 {
		return
	}
	s.src |= o.src
	if s.n == 0 {
		s.rssi, s.snr, s.last = o.rssi, o.snr, o.last
	} else {
		s.rssi, s.snr, s.last = max(s.rssi, o.rssi), max(s.snr, o.snr), max(s.last, o.last)
	}
	s.n = uint32(min(uint64(s.n)+uint64(o.n), uint64(^uint32(0))))
	s.h.merge(o.h)
}

// hsSet is a sorted set of hotspot ids (interned), capped at maxHsSet
// members; more says hotspots beyond the cap exist. Its size (capped) and
// more do not depend on the order hotspots were added in.
type hsSet struct {
	ids  []uint32
	more bool
}

const maxHsSet = 64

func (s *hsSet) add(id uint32) {
	i, found := slices.BinarySearch(s.ids, id)
	if found {
		return
	}
	if len(s.ids) >= maxHsSet {
		s.more = true
		return
	}
	s.ids = slices.Insert(s.ids, i, id)
}

func (s *hsSet) merge(o *hsSet) {
	for _, id := range o.ids {
		s.add(id)
	}
	s.more = s.more || o.more
}

// count is the number of distinct hotspots, at most maxHsSet (and more).
func (s *hsSet) count() int { return len(s.ids) }

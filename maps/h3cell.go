package maps

import (
	"math"

	"github.com/uber/h3-go/v4"
)

// H3 index arithmetic in Go (no cgo call): the resolution sits in bits
// 52–55 and each resolution's digit in 3 bits below, 7 meaning unused.

func cellRes(c uint64) int { return int(c>>52) & 0xf }

// parentOf is c's ancestor at resolution r ≤ cellRes(c).
func parentOf(c uint64, r int) uint64 {
	res := cellRes(c)
	c = c&^(0xf<<52) | uint64(r)<<52
	for i := r + 1; i <= res; i++ {
		c |= 7 << (3 * (15 - i))
	}
	return c
}

// childrenOf appends the possible children of p at resolution
// cellRes(p)+1 (digit 1 of a pentagon does not exist; callers look the
// children up and miss it).
func childrenOf(dst []uint64, p uint64) []uint64 {
	r := cellRes(p) + 1
	base := p&^(0xf<<52) | uint64(r)<<52
	shift := 3 * (15 - r)
	for d := uint64(0); d < 7; d++ {
		dst = append(dst, base&^(7<<shift)|d<<shift)
	}
	return dst
}

// validCell reports whether c is a valid H3 cell of resolution ≥ minRes.
func validCell(c uint64, minRes int) bool {
	return h3.Cell(c).IsValid() && cellRes(c) >= minRes
}

func cellCenter(c uint64) (lat, lng float64) {
	ll, err := h3.CellToLatLng(h3.Cell(c))
	if err != nil {
		return math.NaN(), math.NaN()
	}
	return ll.Lat, ll.Lng
}

// CellString is the text form of an H3 index (15 hex digits).
func CellString(c uint64) string { return h3.IndexToString(c) }

// ParseCell parses an H3 index and checks that it is a valid cell.
func ParseCell(s string) (uint64, bool) {
	if len(s) == 0 || len(s) > 16 {
		return 0, false
	}
	var c h3.Cell
	if err := c.UnmarshalText([]byte(s)); err != nil || !c.IsValid() {
		return 0, false
	}
	return uint64(c), true
}

// latLngCell is the res cell of a point, ok false for a bad point.
func latLngCell(lat, lng float64, res int) (uint64, bool) {
	if !(lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180) {
		return 0, false
	}
	c, err := h3.LatLngToCell(h3.NewLatLng(lat, lng), res)
	if err != nil {
		return 0, false
	}
	return uint64(c), true
}

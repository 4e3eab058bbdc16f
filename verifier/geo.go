package verifier

import (
	"fmt"

	"github.com/uber/h3-go/v4"
)

// H3 index layout (h3 v4): bits 52–55 resolution, then 15 digits of 3 bits,
// resolution 1 at bits 42–44 … resolution 15 at bits 0–2; unused digits
// are 7. Parents are computed with these bit operations because the
// density map takes millions of them; tests compare them with h3's.
const (
	h3ResOffset = 52
	h3ResMask   = uint64(0xf) << h3ResOffset
	h3MaxRes    = 15
)

func cellRes(c uint64) int { return int((c & h3ResMask) >> h3ResOffset) }

// parentCell returns the parent of a valid cell c at resolution r ≤ its
// own resolution.
func parentCell(c uint64, r int) uint64 {
	c = (c &^ h3ResMask) | uint64(r)<<h3ResOffset
	// set digits r+1..15 to 7
	unused := uint(3 * (h3MaxRes - r))
	if unused > 0 {
		c |= (uint64(1) << unused) - 1
	}
	return c
}

// ValidCell reports whether c is a valid H3 cell at resolution res.
func ValidCell(c uint64, res int) bool {
	cell := h3.Cell(c)
	return cell.IsValid() && cell.Resolution() == res
}

// CellLatLng returns the centre of the H3 cell in degrees.
func CellLatLng(c uint64) (lat, lng float64, err error) {
	if !h3.Cell(c).IsValid() {
		return 0, 0, fmt.Errorf("cell %x: not a valid h3 cell", c)
	}
	ll, err := h3.CellToLatLng(h3.Cell(c))
	if err != nil {
		return 0, 0, fmt.Errorf("cell %x: %w", c, err)
	}
	return ll.Lat, ll.Lng, nil
}

// CellString returns the usual hex text form of an H3 cell.
func CellString(c uint64) string { return h3.IndexToString(c) }

// ParseCell parses the hex text form of an H3 cell and checks it is valid.
func ParseCell(s string) (uint64, error) {
	c := h3.IndexFromString(s)
	if !h3.Cell(c).IsValid() {
		return 0, fmt.Errorf("parse cell %q: not a valid h3 cell", s)
	}
	return c, nil
}

// LatLngToCell returns the H3 cell at resolution res containing the point.
func LatLngToCell(lat, lng float64, res int) (uint64, error) {
	c, err := h3.LatLngToCell(h3.NewLatLng(lat, lng), res)
	if err != nil {
		return 0, fmt.Errorf("lat/lng to cell: %w", err)
	}
	return uint64(c), nil
}

// gridDistance returns the H3 grid distance between two cells, false if
// h3 cannot compute it.
func gridDistance(a, b uint64) (int, bool) {
	d, err := h3.GridDistance(h3.Cell(a), h3.Cell(b))
	if err != nil {
		return 0, false
	}
	return d, true
}

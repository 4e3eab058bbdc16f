package maps

import "math"

// zoomBands are the lower MapLibre zoom bounds of H3 resolutions 4…9
// (spec §1): below 4 → res 3, [4, 5.5) → 4, …, ≥ 11.5 → 9.
var zoomBands = [...]float64{4, 5.5, 7, 8.5, 10, 11.5}

// Resolutions served: res-9 base cells and their rollups up to res 3.
const (
	MinRes  = 3
	BaseRes = 9
)

// ResForZoom is the H3 resolution drawn at a MapLibre zoom (512-px tiles);
// the web page uses the same table (web/app.js, golden-tested). A vector
// tile of integer zoom z uses ResForZoom(z).
func ResForZoom(z float64) int {
	if math.IsNaN(z) {
		return MinRes
	}
	r := MinRes
	for _, b := range zoomBands {
		if z >= b {
			r++
		}
	}
	return r
}

// ZoomForRes is the zoom search flies to for a result of resolution res:
// inside res's band (res 9 → 12, 8 → 10.5, 7 → 9, 6 → 7.5).
func ZoomForRes(res int) float64 {
	switch {
	case res >= 9:
		return 12
	case res <= MinRes:
		return 3
	}
	return zoomBands[res-MinRes-1] + 0.5
}

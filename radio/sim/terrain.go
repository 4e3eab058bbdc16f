package sim

import (
	"math"

	"github.com/hexfield/hexfield/radio"
)

// Ridge is a straight ridge between two points, HeightM metres above the
// ground the sites stand on (a hill chain between a town and a valley).
// A link whose straight line crosses it loses the knife-edge diffraction
// loss of the part of the ridge above the line of sight.
type Ridge struct {
	Lat1, Lng1, Lat2, Lng2 float64
	HeightM                float64
}

// Valid reports whether the ridge's corners are finite, in range and
// distinct, and its height finite and non-negative.
func (r Ridge) Valid() bool {
	for _, v := range []float64{r.Lat1, r.Lng1, r.Lat2, r.Lng2, r.HeightM} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return math.Abs(r.Lat1) <= 90 && math.Abs(r.Lat2) <= 90 && r.HeightM >= 0 &&
		(r.Lat1 != r.Lat2 || r.Lng1 != r.Lng2)
}

// crossing returns where the segment a→b crosses the ridge, as the
// fraction t ∈ [0, 1] of the way from a to b, and whether it does.
func (r Ridge) crossing(ax, ay, bx, by float64) (float64, bool) {
	cx, cy := localXY(r.Lat1, r.Lng1)
	dx, dy := localXY(r.Lat2, r.Lng2)
	ex, ey := bx-ax, by-ay // link direction
	fx, fy := dx-cx, dy-cy // ridge direction
	den := float64(ex*fy) - float64(ey*fx)
	if den == 0 {
		return 0, false // parallel
	}
	gx, gy := cx-ax, cy-ay
	t := (float64(gx*fy) - float64(gy*fx)) / den // along the link
	s := (float64(gx*ey) - float64(gy*ex)) / den // along the ridge
	if t < 0 || t > 1 || s < 0 || s > 1 {
		return 0, false
	}
	return t, true
}

// KnifeEdgeLoss is the diffraction loss in dB of a single knife edge
// (ITU-R P.526 §4.1): J(v) = 6.9 + 20·log10(√((v − 0.1)² + 1) + v − 0.1)
// for v > −0.78, else 0, with the Fresnel–Kirchhoff parameter
// v = h·√(2(d1 + d2)/(λ·d1·d2)), h the height of the edge above the line
// of sight (negative below it), d1 and d2 the distances to the two ends.
func KnifeEdgeLoss(h, d1, d2 float64, f radio.Hz) radio.DB {
	if !(d1 > 0) || !(d2 > 0) || f == 0 {
		return 0
	}
	lambda := radio.SpeedOfLight / float64(f)
	v := h * math.Sqrt(float64(2*(d1+d2))/float64(float64(lambda*d1)*d2))
	if !(v > -0.78) {
		return 0
	}
	w := v - 0.1
	return radio.DB(6.9 + 20*math.Log10(math.Sqrt(float64(w*w)+1)+w))
}

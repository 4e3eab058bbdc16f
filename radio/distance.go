package radio

import (
	"fmt"
	"math"
)

// EarthRadius is the mean Earth radius used by Distance, in metres (the
// value H3 uses for its great-circle distances).
const EarthRadius Meters = 6_371_007.180918475

// Distance returns the great-circle (haversine) distance between two
// points given in degrees. Latitudes must be in [−90, 90]; longitudes may
// be any finite value. NaN, infinite or out-of-range coordinates give NaN.
func Distance(lat1, lng1, lat2, lng2 float64) Meters {
	if !validLat(lat1) || !validLat(lat2) || !validLng(lng1) || !validLng(lng2) {
		return Meters(math.NaN())
	}
	const rad = math.Pi / 180
	φ1, φ2 := float64(lat1*rad), float64(lat2*rad)
	dφ := float64((lat2 - lat1) * rad)
	dλ := float64(math.Remainder(math.Remainder(lng2, 360)-math.Remainder(lng1, 360), 360) * rad)
	sφ, sλ := math.Sin(dφ/2), math.Sin(dλ/2)
	a := float64(sφ*sφ) + float64(float64(math.Cos(φ1)*math.Cos(φ2))*float64(sλ*sλ))
	a = math.Min(1, math.Max(0, a))
	c := 2 * math.Asin(math.Sqrt(a))
	return Meters(float64(c * float64(EarthRadius)))
}

// CheckPath reports why a distance and frequency cannot be used for a
// path-loss computation, or nil if they can.
func CheckPath(d Meters, f Hz) error {
	switch {
	case !validDistance(d):
		return fmt.Errorf("path distance %v m: not a finite non-negative number", float64(d))
	case d == 0:
		return fmt.Errorf("path distance 0 m: free-space loss is undefined")
	case f == 0:
		return fmt.Errorf("path frequency 0 Hz: free-space loss is undefined")
	}
	return nil
}

func validLat(x float64) bool { return !math.IsNaN(x) && x >= -90 && x <= 90 }

func validLng(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

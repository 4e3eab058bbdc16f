package sim

import (
	"math"
)

// ShadowField is a stationary Gaussian random field with zero mean, unit
// variance and the exponential spatial correlation of Gudmundson's model,
// ρ(Δ) = exp(−|Δ|/D) for points Δ metres apart, D the correlation
// distance. It is deterministic: the same seed, dimension and distance give
// the same field everywhere, and evaluating one point never depends on
// which other points were evaluated.
//
// It is a sum of random Fourier features: F(x) = √(2/M) Σ cos(k_i·x + φ_i)
// with phases φ uniform on [0, 2π) and wave vectors k drawn from the
// field's spectral density. The exponential covariance exp(−|x|/D) is the
// characteristic function of a multivariate Cauchy distribution of scale
// 1/D in any dimension, so k = Z/(D·|u|) with Z standard normal in the
// field's dimension and u a standard normal scalar. With M of a few hundred
// features the values are close to Gaussian and the correlation matches
// the model within a few hundredths (see the tests).
type ShadowField struct {
	dim   int
	k     []float64 // M × dim wave-vector components, rad/m
	phase []float64 // M phases
	norm  float64   // √(2/M)
}

// NewShadowField returns the field of the given seed in dim dimensions
// (coordinates in metres) with correlation distance corrM and features
// Fourier terms (at least 1; 256 is a good compromise). corrM must be
// positive.
func NewShadowField(seed uint64, dim int, corrM float64, features int) *ShadowField {
	features = max(features, 1)
	dim = max(dim, 1)
	f := &ShadowField{
		dim:   dim,
		k:     make([]float64, features*dim),
		phase: make([]float64, features),
		norm:  math.Sqrt(2 / float64(features)),
	}
	t := newNormalTable()
	key := splitmix(seed ^ 0x7368616465) // "shade"
	next := func() uint64 {
		key = splitmix(key)
		return key
	}
	for i := range features {
		// |u| bounded away from 0 so one feature cannot get an absurd
		// wave number; the table's quantiles are at least 1/4097 from 0.
		u := math.Abs(t.draw(next()))
		for j := range dim {
			f.k[i*dim+j] = t.draw(next()) / (corrM * u)
		}
		f.phase[i] = 2 * math.Pi * float64(next()>>11) / (1 << 53)
	}
	return f
}

// At returns the field's value at x (len(x) must equal the dimension; a
// shorter x is padded with zeros, a longer one truncated).
func (f *ShadowField) At(x ...float64) float64 {
	var s float64
	for i := range f.phase {
		arg := f.phase[i]
		for j := range f.dim {
			if j < len(x) {
				arg += float64(f.k[i*f.dim+j] * x[j])
			}
		}
		s += math.Cos(arg)
	}
	return float64(s * f.norm)
}

// localXY projects a point to metres east and north on an equirectangular
// grid (exact enough over the tens of kilometres a world spans; the field
// only needs a smooth, fixed map).
func localXY(lat, lng float64) (x, y float64) {
	const mPerDeg = 111_195.0 // 2π·6 371 km / 360
	return float64(float64(lng*mPerDeg) * math.Cos(lat*math.Pi/180)), float64(lat * mPerDeg)
}

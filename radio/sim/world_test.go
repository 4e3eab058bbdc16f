package sim

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/hexfield/hexfield/radio"
)

// The field's statistics over many points: mean 0, variance 1 and the
// Gudmundson correlation exp(−Δ/D) at a tenth of, at, and at five times
// the correlation distance.
func TestShadowFieldStatistics(t *testing.T) {
	const D = 500.0
	rng := rand.New(rand.NewPCG(1, 2))
	for _, seed := range []uint64{1, 2, 3} {
		f := NewShadowField(seed, 2, D, 256)
		var n, sum, sq float64
		corr := map[float64][3]float64{} // Δ → Σxy, Σx², Σy²
		for range 4000 {
			x, y := rng.Float64()*200_000, rng.Float64()*200_000
			v := f.At(x, y)
			n++
			sum += v
			sq += v * v
			for _, lag := range []float64{D / 10, D, 5 * D} {
				a := rng.Float64() * 2 * math.Pi
				w := f.At(x+lag*math.Cos(a), y+lag*math.Sin(a))
				c := corr[lag]
				corr[lag] = [3]float64{c[0] + v*w, c[1] + v*v, c[2] + w*w}
			}
		}
		mean, variance := sum/n, sq/n-(sum/n)*(sum/n)
		if math.Abs(mean) > 0.1 || math.Abs(variance-1) > 0.15 {
			t.Errorf("seed %d: mean %.3f, variance %.3f; want 0 and 1", seed, mean, variance)
		}
		for lag, c := range corr {
			got := c[0] / math.Sqrt(c[1]*c[2])
			want := math.Exp(-lag / D)
			if math.Abs(got-want) > 0.1 {
				t.Errorf("seed %d: correlation at %.0f m = %.3f, want exp(−Δ/D) = %.3f", seed, lag, got, want)
			}
		}
	}
}

func testWorld(t *testing.T, cfg WorldConfig) *World {
	t.Helper()
	w, err := NewWorld(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// Link shadowing has the configured σ, is symmetric and deterministic,
// and is correlated between links whose ends are close: two receivers on
// neighbouring roofs see nearly the same shadowing from a transmitter,
// two receivers kilometres apart far less.
func TestWorldShadowingStatistics(t *testing.T) {
	w := testWorld(t, WorldConfig{Seed: 7, ShadowingSigma: 8, CorrelationDistance: 500})
	w2 := testWorld(t, WorldConfig{Seed: 7, ShadowingSigma: 8, CorrelationDistance: 500})
	rng := rand.New(rand.NewPCG(3, 4))
	const lat0, lng0 = 47.0, 8.0
	var n, sq, near, far float64
	var nearX, farX, base2 float64
	for range 3000 {
		a := Site{Lat: lat0 + rng.Float64()*0.5, Lng: lng0 + rng.Float64()*0.5, HeightM: 10}
		b := Site{Lat: lat0 + rng.Float64()*0.5, Lng: lng0 + rng.Float64()*0.5, HeightM: 10}
		l := w.Link(a, b, 868e6)
		if r := w.Link(b, a, 868e6); r != l {
			t.Fatalf("Link(a, b) %+v ≠ Link(b, a) %+v", l, r)
		}
		if r := w2.Link(a, b, 868e6); r != l {
			t.Fatalf("same seed, different link: %+v vs %+v", l, r)
		}
		s := float64(l.Shadowing)
		n++
		sq += s * s
		// a receiver 50 m from b, and one 5 km from b
		bNear := Site{Lat: b.Lat + 50/111_195.0, Lng: b.Lng, HeightM: 10}
		bFar := Site{Lat: b.Lat + 5000/111_195.0, Lng: b.Lng, HeightM: 10}
		sn := float64(w.Link(a, bNear, 868e6).Shadowing)
		sf := float64(w.Link(a, bFar, 868e6).Shadowing)
		nearX += s * sn
		farX += s * sf
		base2 += s * s
		near += sn * sn
		far += sf * sf
	}
	sigma := math.Sqrt(sq / n)
	if math.Abs(sigma-8) > 1 {
		t.Errorf("shadowing σ = %.2f dB, want 8", sigma)
	}
	cNear := nearX / math.Sqrt(base2*near)
	cFar := farX / math.Sqrt(base2*far)
	// With SiteShare s = 0.5 the model gives s·(1 + ρ)/2 + (1 − s)·ρ,
	// ρ = exp(−Δ/D): 0.93 at 50 m; at 5 km only the transmitter's
	// surroundings are shared: s/2 = 0.25.
	if cNear < 0.85 {
		t.Errorf("correlation with a receiver 50 m away %.2f, want about 0.93", cNear)
	}
	if cFar > 0.4 || cFar < 0.1 {
		t.Errorf("correlation with a receiver 5 km away %.2f, want about 0.25 (the transmitter's surroundings only)", cFar)
	}
	t.Logf("σ %.2f dB, correlation at 50 m %.2f, at 5 km %.2f", sigma, cNear, cFar)
}

// A 300 m ridge between a town and a valley village costs the links that
// cross it tens of dB; links beside it lose nothing; hilltop sites on
// both sides that clear it see each other in free space.
func TestWorldRidgeAndLineOfSight(t *testing.T) {
	ridge := Ridge{Lat1: 47.0, Lng1: 8.05, Lat2: 47.1, Lng2: 8.05, HeightM: 300}
	w := testWorld(t, WorldConfig{Seed: 1, ShadowingSigma: -1, LOSSigma: -1, Ridges: []Ridge{ridge}})
	town := Site{Lat: 47.05, Lng: 8.0, HeightM: 10}
	valley := Site{Lat: 47.05, Lng: 8.1, HeightM: 10}
	beside := Site{Lat: 47.15, Lng: 8.1, HeightM: 10} // the ridge ends at 47.1
	l := w.Link(town, valley, 868e6)
	if l.Diffraction < 20 {
		t.Errorf("across the ridge: diffraction %.1f dB, want ≥ 20", l.Diffraction)
	}
	if b := w.Link(town, beside, 868e6); b.Diffraction != 0 {
		t.Errorf("beside the ridge: diffraction %.1f dB", b.Diffraction)
	}
	h1 := Site{Lat: 47.05, Lng: 7.6, HeightM: 800, Hilltop: true}
	h2 := Site{Lat: 47.05, Lng: 8.1, HeightM: 800, Hilltop: true} // ≈ 38 km, clears the ridge
	hl := w.Link(h1, h2, 868e6)
	if !hl.LineOfSight || hl.PathLoss != hl.FreeSpace {
		t.Errorf("hilltops 38 km apart: %+v, want line of sight at free space", hl)
	}
	if d := float64(hl.Distance); d < 35_000 || d > 45_000 {
		t.Errorf("hilltop distance %.0f m", d)
	}
	// a hilltop and a valley site: not line of sight
	if l := w.Link(h1, valley, 868e6); l.LineOfSight {
		t.Errorf("hilltop to valley is line of sight: %+v", l)
	}
	// J(0) = 6.0 dB (grazing), J(−1) = 0
	if j := KnifeEdgeLoss(0, 1000, 1000, 868e6); math.Abs(float64(j)-6.03) > 0.05 {
		t.Errorf("J(0) = %.2f dB, want 6.03", j)
	}
	if j := KnifeEdgeLoss(-100, 1000, 1000, 868e6); j != 0 {
		t.Errorf("J(v < −0.78) = %.2f", j)
	}
}

func TestWorldConfigValidate(t *testing.T) {
	for _, c := range []WorldConfig{
		{PathLossExponent: 0.5},
		{CorrelationDistance: -3},
		{SiteShare: 2},
		{Ridges: []Ridge{{Lat1: 1, Lng1: 1, Lat2: 1, Lng2: 1, HeightM: 10}}},
		{Ridges: []Ridge{{Lat1: math.NaN()}}},
		{ShadowingSigma: radio.DB(math.Inf(1))},
	} {
		if _, err := NewWorld(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func BenchmarkWorldLink(b *testing.B) {
	w, _ := NewWorld(WorldConfig{Seed: 1})
	a := Site{Lat: 47, Lng: 8, HeightM: 10}
	c := Site{Lat: 47.01, Lng: 8.02, HeightM: 10}
	for b.Loop() {
		w.Link(a, c, 868e6)
	}
}

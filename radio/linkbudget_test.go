package radio

import (
	"math"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestMaxRSSIVector(t *testing.T) {
	// poc-rules §5: 12 dBm, 81 and 83 ddBi (→ 8 + 8), 508 m, 867 900 024 Hz.
	fspl := FreeSpaceLoss(508, 867_900_024)
	if !near(float64(fspl), 85.3342, 5e-5) {
		t.Fatalf("FSPL = %.6f dB, want 85.3342", fspl)
	}
	got := MaxRSSI(12, 81, 83, 508, 867_900_024)
	if !near(float64(got), -57.3342, 5e-5) {
		t.Fatalf("MaxRSSI = %.6f dBm, want -57.3342", got)
	}
	// Pin the exact bits: every oracle must compute the same value.
	if want := float64(12+8+8) - float64(fspl); float64(got) != want {
		t.Fatalf("MaxRSSI = %v, want exactly %v", got, want)
	}
	// A witness at −570 ddBm fails the bound, −580 passes.
	if !(-570.0/10 > float64(got)) {
		t.Errorf("−57.0 dBm should exceed the bound %v", got)
	}
	if -580.0/10 > float64(got) {
		t.Errorf("−58.0 dBm should be within the bound %v", got)
	}
}

func TestMaxRSSIGainFloor(t *testing.T) {
	// ⌊G/10⌋: 89 → 8, −15 → −2, −10 → −1, 0 → 0.
	base := float64(MaxRSSI(10, 0, 0, 1000, 868_000_000))
	for _, tc := range []struct {
		gb, gw int32
		add    float64
	}{
		{89, 0, 8}, {0, 89, 8}, {-15, 0, -2}, {-10, -10, -2}, {9, -1, -1}, {120, 120, 24},
	} {
		got := float64(MaxRSSI(10, tc.gb, tc.gw, 1000, 868_000_000))
		if got-base != tc.add {
			t.Errorf("gains %d, %d add %v dB, want %v", tc.gb, tc.gw, got-base, tc.add)
		}
	}
}

func TestFreeSpaceLoss(t *testing.T) {
	for _, tc := range []struct {
		d    Meters
		f    Hz
		want float64
	}{
		{30, 868_000_000, 60.76},    // poc-rules §12e
		{30, 915_000_000, 61.22},    // poc-rules §12e
		{1000, 868_000_000, 91.218}, // 20log10(4π·1000·868e6/2.998e8)
	} {
		if got := float64(FreeSpaceLoss(tc.d, tc.f)); !near(got, tc.want, 0.005) {
			t.Errorf("FSPL(%v m, %d Hz) = %.4f, want %.2f", tc.d, tc.f, got, tc.want)
		}
	}
	// 6 dB per doubling of distance or frequency.
	a := float64(FreeSpaceLoss(1000, 868_000_000))
	if d := float64(FreeSpaceLoss(2000, 868_000_000)) - a; !near(d, 20*math.Log10(2), 1e-9) {
		t.Errorf("doubling distance adds %v dB", d)
	}
	if d := float64(FreeSpaceLoss(1000, 1_736_000_000)) - a; !near(d, 20*math.Log10(2), 1e-9) {
		t.Errorf("doubling frequency adds %v dB", d)
	}
}

func TestLogDistanceLoss(t *testing.T) {
	f := Hz(915_000_000)
	// Exponent 2 is free space.
	for _, d := range []Meters{5, 100, 1234.5, 80_000} {
		if got, want := LogDistanceLoss(d, f, 2, 100), FreeSpaceLoss(d, f); !near(float64(got), float64(want), 1e-9) {
			t.Errorf("n=2, d=%v: %v, want FSPL %v", d, got, want)
		}
	}
	// Exponent 3.5: FSPL(d0) + 35 dB per decade beyond d0.
	ref := float64(FreeSpaceLoss(100, f))
	if got := float64(LogDistanceLoss(10_000, f, 3.5, 100)); !near(got, ref+70, 1e-9) {
		t.Errorf("n=3.5 at 100·d0: %v, want %v", got, ref+70)
	}
	// Below d0 it is free space.
	if got, want := LogDistanceLoss(50, f, 3.5, 100), FreeSpaceLoss(50, f); got != want {
		t.Errorf("below d0: %v, want %v", got, want)
	}
	for name, v := range map[string]DB{
		"negative exponent": LogDistanceLoss(1000, f, -1, 100),
		"NaN exponent":      LogDistanceLoss(1000, f, math.NaN(), 100),
		"zero d0":           LogDistanceLoss(1000, f, 3, 0),
		"Inf d0":            LogDistanceLoss(1000, f, 3, Meters(math.Inf(1))),
		"zero distance":     LogDistanceLoss(0, f, 3, 100),
	} {
		if !math.IsNaN(float64(v)) {
			t.Errorf("%s: %v, want NaN", name, v)
		}
	}
}

func TestNoiseFloorSNRSensitivity(t *testing.T) {
	for _, tc := range []struct {
		bw   Hz
		want float64
	}{{125_000, -117.03}, {250_000, -114.02}, {500_000, -111.01}} {
		if got := float64(NoiseFloor(tc.bw, 6)); !near(got, tc.want, 0.005) {
			t.Errorf("NoiseFloor(%d, 6) = %.3f, want %.2f", tc.bw, got, tc.want)
		}
	}
	want := map[int]float64{7: -7.5, 8: -10, 9: -12.5, 10: -15, 11: -17.5, 12: -20}
	for sf, w := range want {
		if got := float64(SNRMin(sf)); got != w {
			t.Errorf("SNRMin(%d) = %v, want %v", sf, got, w)
		}
	}
	for _, sf := range []int{0, 6, 13, -7} {
		if !math.IsNaN(float64(SNRMin(sf))) {
			t.Errorf("SNRMin(%d) should be NaN", sf)
		}
	}
	if got := float64(Sensitivity(DataRate{SF: 12, Bandwidth: 125_000}, 6)); !near(got, -137.03, 0.005) {
		t.Errorf("Sensitivity SF12BW125 = %v, want −137.03", got)
	}
	if got := float64(Sensitivity(DataRate{SF: 7, Bandwidth: 500_000}, 6)); !near(got, -118.51, 0.005) {
		t.Errorf("Sensitivity SF7BW500 = %v, want −118.51", got)
	}
	if !math.IsNaN(float64(Sensitivity(DataRate{}, 6))) || !math.IsNaN(float64(NoiseFloor(0, 6))) ||
		!math.IsNaN(float64(NoiseFloor(125_000, DB(math.Inf(1))))) {
		t.Errorf("invalid data rate / bandwidth / noise figure should give NaN")
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		lat1, lng1, lat2, lng2 float64
		wantKm, tolKm          float64
	}{
		{"same point", 52.37, 4.89, 52.37, 4.89, 0, 0},
		{"Amsterdam–Paris", 52.3676, 4.9041, 48.8566, 2.3522, 430, 5},
		{"SF–NYC", 37.7749, -122.4194, 40.7128, -74.0060, 4130, 15},
		{"across antimeridian", 0, 179.5, 0, -179.5, 111.2, 0.2},
		{"pole to pole", 90, 0, -90, 0, 20015, 5},
		{"antipodes", 0, 0, 0, 180, 20015, 5},
		{"lng 360 wrap", 10, 370, 10, 10, 0, 1e-6},
	} {
		got := float64(Distance(tc.lat1, tc.lng1, tc.lat2, tc.lng2)) / 1000
		if !near(got, tc.wantKm, tc.tolKm) {
			t.Errorf("%s: %.3f km, want %v ± %v", tc.name, got, tc.wantKm, tc.tolKm)
		}
	}
	// One degree of latitude ≈ 111.195 km on the H3 sphere.
	if got := float64(Distance(0, 0, 1, 0)); !near(got, 111_195.052, 0.001) {
		t.Errorf("1° latitude = %v m", got)
	}
}

func TestCheckPath(t *testing.T) {
	if err := CheckPath(508, 867_900_024); err != nil {
		t.Errorf("valid path: %v", err)
	}
	for _, tc := range []struct {
		d Meters
		f Hz
	}{{0, 868_000_000}, {-1, 868_000_000}, {Meters(math.NaN()), 1}, {Meters(math.Inf(1)), 1}, {10, 0}} {
		if err := CheckPath(tc.d, tc.f); err == nil {
			t.Errorf("CheckPath(%v, %v): want error", tc.d, tc.f)
		}
		if !math.IsNaN(float64(FreeSpaceLoss(tc.d, tc.f))) {
			t.Errorf("FreeSpaceLoss(%v, %v) should be NaN", tc.d, tc.f)
		}
		// A NaN bound fails the "signal ≤ bound" test, as documented.
		if m := MaxRSSI(20, 0, 0, tc.d, tc.f); -200.0 <= float64(m) {
			t.Errorf("MaxRSSI(%v, %v) = %v, should fail every signal", tc.d, tc.f, m)
		}
	}
}

// FuzzPathLoss checks that the path-loss functions never panic, give NaN
// exactly when CheckPath rejects the inputs, and are finite otherwise.
func FuzzPathLoss(f *testing.F) {
	f.Add(508.0, uint64(867_900_024), 3.5, 100.0, int32(81), int32(83))
	f.Add(0.0, uint64(915_000_000), 2.0, 1.0, int32(0), int32(0))
	f.Add(math.NaN(), uint64(1), math.Inf(1), math.NaN(), int32(-1), int32(1))
	f.Add(math.Inf(1), uint64(0), math.Inf(-1), -1.0, int32(math.MinInt32), int32(math.MaxInt32))
	f.Add(1e308, uint64(math.MaxUint64), 1e308, 5e-324, int32(120), int32(-120))
	f.Fuzz(func(t *testing.T, d float64, freq uint64, n, d0 float64, gb, gw int32) {
		fs := FreeSpaceLoss(Meters(d), Hz(freq))
		valid := CheckPath(Meters(d), Hz(freq)) == nil
		if valid == math.IsNaN(float64(fs)) {
			t.Fatalf("FreeSpaceLoss(%v, %v) = %v but CheckPath valid = %v", d, freq, fs, valid)
		}
		overflow := math.IsInf(float64(float64(4*math.Pi*d)*float64(freq)), 1)
		if valid && math.IsInf(float64(fs), 0) && !(overflow && math.IsInf(float64(fs), 1)) {
			t.Fatalf("FreeSpaceLoss(%v, %v) = %v", d, freq, fs)
		}
		m := MaxRSSI(20, gb, gw, Meters(d), Hz(freq))
		if math.IsNaN(float64(m)) != !valid {
			t.Fatalf("MaxRSSI NaN = %v, valid = %v", math.IsNaN(float64(m)), valid)
		}
		ld := LogDistanceLoss(Meters(d), Hz(freq), n, Meters(d0))
		okExp := !math.IsNaN(n) && !math.IsInf(n, 0) && n >= 0
		okD0 := !math.IsNaN(d0) && !math.IsInf(d0, 0) && d0 > 0
		if !valid || !okExp || !okD0 {
			if !math.IsNaN(float64(ld)) {
				t.Fatalf("LogDistanceLoss(%v, %v, %v, %v) = %v, want NaN", d, freq, n, d0, ld)
			}
			return
		}
		if math.IsNaN(float64(ld)) {
			t.Fatalf("LogDistanceLoss(%v, %v, %v, %v) = NaN for valid input", d, freq, n, d0)
		}
		if d > d0 && float64(ld) < float64(FreeSpaceLoss(Meters(d0), Hz(freq))) {
			t.Fatalf("LogDistanceLoss below the reference loss")
		}
	})
}

// FuzzDistance checks Distance never panics, is NaN exactly for invalid
// coordinates, and otherwise symmetric and within [0, π·R].
func FuzzDistance(f *testing.F) {
	f.Add(37.7749, -122.4194, 52.3676, 4.9041)
	f.Add(90.0, 0.0, -90.0, 180.0)
	f.Add(math.NaN(), 0.0, 0.0, math.Inf(1))
	f.Add(91.0, 1e308, -1e308, 5e-324)
	f.Fuzz(func(t *testing.T, lat1, lng1, lat2, lng2 float64) {
		d := float64(Distance(lat1, lng1, lat2, lng2))
		valid := validLat(lat1) && validLat(lat2) && validLng(lng1) && validLng(lng2)
		if !valid {
			if !math.IsNaN(d) {
				t.Fatalf("Distance(%v, %v, %v, %v) = %v, want NaN", lat1, lng1, lat2, lng2, d)
			}
			return
		}
		if math.IsNaN(d) || d < 0 || d > math.Pi*float64(EarthRadius)*(1+1e-12) {
			t.Fatalf("Distance(%v, %v, %v, %v) = %v", lat1, lng1, lat2, lng2, d)
		}
		if back := float64(Distance(lat2, lng2, lat1, lng1)); !near(back, d, 1e-6) {
			t.Fatalf("asymmetric: %v vs %v", d, back)
		}
	})
}

func BenchmarkMaxRSSI(b *testing.B) {
	var sink DBm
	for b.Loop() {
		sink += MaxRSSI(12, 81, 83, 508, 867_900_024)
	}
	_ = sink
}

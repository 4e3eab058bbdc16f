package radio

import (
	"math"
	"testing"
)

func TestImpliedNoise(t *testing.T) {
	// poc-rules §12c examples at BW125.
	for _, tc := range []struct {
		rssi DBm
		snr  DB
		want float64
	}{
		{-125, 8, -133.64},
		{-110, -5, -111.19},
		{-50, -15, -50.14},
		{-95, 7.5, -103.21},
	} {
		if got := float64(ImpliedNoise(tc.rssi, tc.snr)); !near(got, tc.want, 0.005) {
			t.Errorf("ImpliedNoise(%v, %v) = %.4f, want %.2f", tc.rssi, tc.snr, got, tc.want)
		}
	}
	// (−95, +7.5, rssis −96): N + snr = −95.71, within 6 dB of rssis.
	if got := float64(ImpliedNoise(-95, 7.5)) + 7.5; !near(got, -95.71, 0.005) {
		t.Errorf("N + snr = %.4f, want −95.71", got)
	}
	for _, bad := range [][2]float64{{math.NaN(), 0}, {0, math.Inf(1)}, {math.Inf(-1), 3}} {
		if !math.IsNaN(float64(ImpliedNoise(DBm(bad[0]), DB(bad[1])))) {
			t.Errorf("ImpliedNoise(%v) should be NaN", bad)
		}
	}
}

func TestChannelRSSI(t *testing.T) {
	if got := float64(ChannelRSSI(-100, -100)); !near(got, -100+10*math.Log10(2), 1e-12) {
		t.Errorf("equal powers: %v", got)
	}
	if got := float64(ChannelRSSI(-40, -117)); !near(got, -40, 1e-6) {
		t.Errorf("strong signal: %v", got)
	}
	if got := float64(ChannelRSSI(-1e300, -117)); got != -117 {
		t.Errorf("no signal: %v", got)
	}
	if !math.IsNaN(float64(ChannelRSSI(DBm(math.NaN()), -117))) {
		t.Errorf("NaN signal should give NaN")
	}
}

// FuzzSignal: ChannelRSSI and ImpliedNoise are inverses (within rounding)
// for any finite signal and noise, and never panic.
func FuzzSignal(f *testing.F) {
	f.Add(-95.0, -117.0)
	f.Add(-130.0, -117.0)
	f.Add(math.NaN(), math.Inf(1))
	f.Add(-1e308, 1e308)
	f.Fuzz(func(t *testing.T, s, n float64) {
		rssi := ChannelRSSI(DBm(s), DBm(n))
		finite := !math.IsNaN(s) && !math.IsInf(s, 0) && !math.IsNaN(n) && !math.IsInf(n, 0)
		if !finite {
			if !math.IsNaN(float64(rssi)) {
				t.Fatalf("ChannelRSSI(%v, %v) = %v, want NaN", s, n, rssi)
			}
			return
		}
		if math.IsNaN(float64(rssi)) || float64(rssi) < math.Max(s, n) {
			t.Fatalf("ChannelRSSI(%v, %v) = %v", s, n, rssi)
		}
		// Round trip only where the SNR is moderate and the numbers are
		// in a physical range; elsewhere one term swamps the other.
		if snr := s - n; math.Abs(snr) < 30 && math.Abs(s) < 1e6 && math.Abs(n) < 1e6 {
			back := float64(ImpliedNoise(rssi, DB(snr)))
			if !near(back, n, 1e-6) {
				t.Fatalf("ImpliedNoise(ChannelRSSI(%v, %v), %v) = %v", s, n, snr, back)
			}
		}
	})
}

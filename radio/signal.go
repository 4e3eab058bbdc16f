package radio

import "math"

// ImpliedNoise returns the noise power implied by a reception's channel
// RSSI and SNR: N = rssi − 10·log10(1 + 10^(snr/10)) (poc-rules §12c).
// The channel RSSI of an SX1302 concentrator is the total in-band power,
// signal plus noise, so this is the inverse of ChannelRSSI. Examples:
// (−110 dBm, −5 dB) → −111.19 dBm; (−95, +7.5) → −103.21. NaN or infinite
// inputs give NaN.
func ImpliedNoise(rssi DBm, snr DB) DBm {
	r, s := float64(rssi), float64(snr)
	if math.IsNaN(r) || math.IsInf(r, 0) || math.IsNaN(s) || math.IsInf(s, 0) {
		return DBm(math.NaN())
	}
	return DBm(r - float64(10*math.Log10(1+math.Pow(10, s/10))))
}

// ChannelRSSI returns the total in-band power of a signal received at
// power signal over noise power noise: 10·log10(10^(S/10) + 10^(N/10)).
// This is what a concentrator reports as "rssi"; "rssis" is the signal
// alone and "lsnr" is S − N. NaN or infinite inputs give NaN.
func ChannelRSSI(signal, noise DBm) DBm {
	s, n := float64(signal), float64(noise)
	if math.IsNaN(s) || math.IsInf(s, 0) || math.IsNaN(n) || math.IsInf(n, 0) {
		return DBm(math.NaN())
	}
	// Factor out the larger term so neither power overflows or underflows.
	hi, lo := math.Max(s, n), math.Min(s, n)
	return DBm(hi + float64(10*math.Log10(1+math.Pow(10, (lo-hi)/10))))
}

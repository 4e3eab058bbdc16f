package radio

import "math"

// SpeedOfLight is the value poc-rules §5 fixes for the free-space bound,
// in m/s. (The exact value, 299 792 458, would move the golden vector.)
const SpeedOfLight = 2.998e8

// Invalid inputs. Every function below is total: it never panics. When an
// input is NaN, infinite or out of its domain (a negative distance, a zero
// frequency or bandwidth, an unknown spreading factor) the result is NaN.
// NaN compares false with everything, so a caller testing validity must
// write the test so that NaN fails it: `!(signal <= maxRSSI)` rather than
// `signal > maxRSSI`. CheckPath reports the reason as an error up front.

// FreeSpaceLoss returns the free-space path loss 20·log10(4π·d·f/c) in dB
// at distance d and frequency f (poc-rules §5, c = 2.998e8 m/s). d must be
// positive and finite; a zero distance has no finite loss and gives NaN, as
// do negative, NaN or infinite distances and a zero frequency. A product
// d·f beyond the float64 range (d > 1e290 m or so) gives +Inf.
func FreeSpaceLoss(d Meters, f Hz) DB {
	if !validDistance(d) || d == 0 || f == 0 {
		return DB(math.NaN())
	}
	// Each product is rounded on its own (no FMA), left to right as the
	// formula reads, so every platform computes the same bits.
	x := float64(float64(4*math.Pi) * float64(d))
	x = float64(x * float64(f))
	return DB(float64(20 * math.Log10(x/SpeedOfLight)))
}

// LogDistanceLoss returns the log-distance path loss: free-space loss up to
// the reference distance d0, then exponent·10 dB per decade beyond it:
// FSPL(d0, f) + 10·n·log10(d/d0). Below d0 it is the free-space loss at d.
// The exponent must be finite and ≥ 0 and d0 positive and finite; otherwise,
// or for an invalid d or f (see FreeSpaceLoss), the result is NaN.
func LogDistanceLoss(d Meters, f Hz, exponent float64, d0 Meters) DB {
	if math.IsNaN(exponent) || math.IsInf(exponent, 0) || exponent < 0 ||
		!validDistance(d0) || d0 == 0 || !validDistance(d) || d == 0 {
		return DB(math.NaN())
	}
	if d <= d0 {
		return FreeSpaceLoss(d, f)
	}
	ref := FreeSpaceLoss(d0, f)
	extra := float64(float64(10*exponent) * math.Log10(float64(d)/float64(d0)))
	return DB(float64(ref) + extra)
}

// NoiseFloor returns the thermal noise floor −174 + 10·log10(bw) + nf in
// dBm (poc-rules §12c: BW125 with NF 6 dB → −117.03 dBm). A zero
// bandwidth or a NaN/infinite noise figure gives NaN.
func NoiseFloor(bw Hz, nf DB) DBm {
	if bw == 0 || math.IsNaN(float64(nf)) || math.IsInf(float64(nf), 0) {
		return DBm(math.NaN())
	}
	return DBm(-174 + float64(10*math.Log10(float64(bw))) + float64(nf))
}

// SNRMin returns the lowest SNR at which a LoRa receiver demodulates
// spreading factor sf (SX127x/SX130x datasheets, poc-rules §12c): SF7
// −7.5 dB down to SF12 −20 dB in 2.5 dB steps. Other sf give NaN.
func SNRMin(sf int) DB {
	if sf < 7 || sf > 12 {
		return DB(math.NaN())
	}
	return DB(-7.5 - float64(2.5*float64(sf-7)))
}

// Sensitivity returns the receiver sensitivity at data rate dr with noise
// figure nf: NoiseFloor(bandwidth, nf) + SNRMin(sf). SF12BW125 with a 6 dB
// noise figure gives −137.03 dBm. An invalid data rate gives NaN.
func Sensitivity(dr DataRate, nf DB) DBm {
	return NoiseFloor(dr.Bandwidth, nf) + DBm(SNRMin(dr.SF))
}

// floorDiv10 is ⌊g/10⌋ for gains in ddBi (rounding toward −∞, so −15 ddBi
// counts as −2 dBi, as the ⌊·⌋ of poc-rules §5 says).
func floorDiv10(g int32) int64 {
	q := int64(g) / 10
	if int64(g)%10 < 0 {
		q--
	}
	return q
}

// MaxRSSI is the free-space upper bound on the signal a witness can
// receive (poc-rules §5): P + ⌊G_b/10⌋ + ⌊G_w/10⌋ − FSPL(d, f), in dBm,
// with P the prescribed transmit power in dBm, the gains in ddBi and f the
// witness-reported frequency. Vector: 12 dBm, 81 and 83 ddBi, 508 m,
// 867 900 024 Hz → −57.3342 dBm. For an invalid distance or frequency the
// bound is NaN (see FreeSpaceLoss): treat a NaN bound as failed.
func MaxRSSI(txPowerDBm int, gainBeaconerDdBi, gainWitnessDdBi int32, d Meters, f Hz) DBm {
	eirp := int64(txPowerDBm) + floorDiv10(gainBeaconerDdBi) + floorDiv10(gainWitnessDdBi)
	return DBm(float64(eirp) - float64(FreeSpaceLoss(d, f)))
}

// validDistance reports whether d is a finite, non-negative distance.
func validDistance(d Meters) bool {
	x := float64(d)
	return !math.IsNaN(x) && !math.IsInf(x, 0) && x >= 0
}

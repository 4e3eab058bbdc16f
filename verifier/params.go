package verifier

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/wire"
)

// DensityLevel is one column of the HIP-17 table (poc-rules §8): at
// resolution Res a cell's hotspot count is clipped to
// min(Max, Target × max(1, occupied − N + 1)).
type DensityLevel struct {
	Res    int    // H3 resolution, 4–10
	N      uint32 // neighbours
	Target uint32 // target density
	Max    uint32 // maximum density
}

// Edge is a beaconer→witness pair on the deny list.
type Edge struct {
	Beaconer wire.PublicKey
	Witness  wire.PublicKey
}

// Denylist is the public deny list of a parameter set (empty by default).
// A listed key's beacons and witnesses are invalid with reason denied; a
// listed edge makes that witness of that beaconer invalid with
// denied_edge. Order does not matter.
type Denylist struct {
	Keys  []wire.PublicKey
	Edges []Edge
}

// Ratio is a non-negative rational number Num/Den (Den > 0).
type Ratio struct {
	Num, Den uint64
}

// DetectorParams are the thresholds of the fraud detectors (poc-rules
// §12e). Distances in metres, signals in dB.
type DetectorParams struct {
	// Disabled turns every detector off (tests, and networks too small
	// for statistics). Default false.
	Disabled bool
	// Window is the number of epochs looked at, the current one included.
	// Default 7.
	Window int

	// distance_insensitive: events needed (30), distinct partners (5),
	// max d / min d (4), and the flag rule n̂ + Sigmas·SE < MaxExponent
	// (2, 1.0).
	MinEvents     int
	MinPartners   int
	MinDistRatio  float64
	MaxExponent   float64
	ExponentSigma float64

	// isolated_clique: events per edge (2), component size (at least 3;
	// at most CliqueMax, 0 = no cap, the default), density (0.6), outsider
	// radius (5000 m, or the hearing model's sure radius if shorter) and
	// outsiders needed (3).
	EdgeEvents      int
	CliqueMin       int
	CliqueMax       int
	CliqueDensity   float64
	OutsiderRadiusM float64
	MinOutsiders    int

	// antenna_split (i): pair distance (600 m), strong events (5), the
	// reference distance (30 m) and margin (10 dB) of the strong-signal
	// rule.
	SplitMinDistanceM float64
	SplitMinEvents    int
	SplitNearM        float64
	SplitMarginDB     float64

	// antenna_split (ii): pair distance (300 m), co-witnessed beacons
	// (10), distinct beaconers (5), and the maximum sample standard
	// deviation across beaconers of the per-beaconer mean of
	// signal_u − signal_v (2.0 dB).
	CoMinDistanceM float64
	CoMaxDistanceM float64 // [hx] pairs asserted farther apart are not compared (5000 m; 0 = no limit)
	CoMinBeacons   int
	CoMinBeaconers int
	CoMaxStdDevDB  float64
	// [hx] … and only when u's own per-beaconer mean signals have a
	// standard deviation of at least CoMinSpreadDB (6 dB).
	CoMinSpreadDB float64

	// excess_tx_power ([hx], see excessTxPower): events needed each way
	// for a pair to count over the window (3), outbound events needed in
	// the current epoch for its per-epoch rule (1), pairs needed per
	// hotspot (5), and the flag rule median asymmetry > TxMaxAsymmetryDB
	// (6 dB: above the ±5 dB RSSI calibration of §12c plus fading, below a
	// 10 dB excess).
	TxMinEvents      int
	TxMinEpochEvents int
	TxMinPartners    int
	TxMaxAsymmetryDB float64

	// The [hx] hearing model (hearing.go): bins with fewer than
	// HearMinTrials (hotspot, beacon) trials say nothing (200);
	// distance_insensitive fits only partners up to the distance where
	// the rate is still ≥ HearFitRate (0.8); unheard looks up to where it
	// is ≥ HearSureRate (0.9) and flags a hotspot whose beacons were heard
	// at less than UnheardMaxRatio (0.1) of an expectation of at least
	// UnheardMinExpected events (10); beaconers heard at less than
	// HearTrustRatio (0.3) of the first estimate are left out of the rates
	// and neither hear nor are expected to hear for unheard.
	HearMinTrials      int
	HearFitRate        float64
	HearSureRate       float64
	HearTrustRatio     float64
	UnheardMaxRatio    float64
	UnheardMinExpected float64

	// The [hx] trust propagation (trust.go, reason untrusted): a hotspot
	// carries trust for at most TrustCutMax hotspots that hang from the
	// trusted network by it alone, and untrusted groups of more than
	// TrustCutMax hotspots are flagged (4). TrustAnchors are public,
	// oracle-known hotspots whose components are trusted besides the
	// largest one (none).
	TrustCutMax  int
	TrustAnchors []wire.PublicKey
}

// Params is an epoch's parameter set: every number of poc-rules §14. Its
// Hash is recorded in the manifest, so oracles that disagree on a
// parameter never co-sign. The zero value is not usable; start from
// DefaultParams.
type Params struct {
	// EpochLength L: epoch id = floor(t / L) (default 24 h; the devnet
	// uses minutes). Must be a whole number of milliseconds and a multiple
	// of BeaconInterval.
	EpochLength time.Duration
	// Grace after an epoch's end before it is computed (default 30 min).
	Grace time.Duration
	// BeaconInterval is the beacon bucket (default 6 h).
	BeaconInterval time.Duration
	// EntropyLifetime: a report is valid within [ts, ts + lifetime]
	// (default 180 s).
	EntropyLifetime time.Duration
	// LagBeacon and LagWitness are the lag rule's limits (4000 / 1500 ms).
	LagBeacon, LagWitness time.Duration
	// Reciprocity window (48 h) and interactivity window (60 h).
	Reciprocity, Interactivity time.Duration

	// FrequencyTolerance between beacon and witness (100 kHz).
	FrequencyTolerance radio.Hz
	// MinDistanceCells at MinDistanceRes: witnesses closer than 8
	// resolution-11 cells are invalid.
	MinDistanceCells, MinDistanceRes int
	// MaxDistanceKm: floor(d/1000) above this is invalid (100).
	MaxDistanceKm int64
	// MaxWitnesses selected per beacon (14).
	MaxWitnesses int

	// HIP-15 units: N (4), decay r = DecayNum/DecayDen (4/5), cap in whole
	// units (2).
	UnitsN              int
	DecayNum, DecayDen  int64
	UnitsCap            int64
	Density             []DensityLevel
	DefaultScale        uint32 // ×10⁻⁴, for a beaconer absent from the density map (2000)
	NoiseFigureDB       float64
	FloorBelowDB        float64 // implied noise may be this far below the thermal floor (8)
	FloorAboveDB        float64 // … or this far above it (30)
	SNRMarginDB         float64 // snr ≥ SNR_min(SF) − margin (3); there is no upper SNR bound (poc-rules §12c, revised)
	RSSISToleranceDB    float64 // |rssis − (N + snr)| ≤ this (6)
	Detectors           DetectorParams
	OpsBP               uint32 // operations share of the emission, basis points (1000)
	PoCMaxBP, PoCMinBP  uint32 // PoC cap and floor (3000, 500)
	BeaconBP, WitnessBP uint32 // beacon : witness split of the PoC pool (2000, 8000)
	BytesPerDC          int    // 24
	// Charging are the rules of which packet copies are charged
	// (charging.go).
	Charging ChargingParams

	// OpsOwner receives the operations share; zero means it is not minted.
	OpsOwner wire.PublicKey
	// EntropySigners are the oracle keys whose entropy records are
	// accepted; a beacon built on any other entropy is stale.
	EntropySigners []wire.PublicKey
	// Deny is the public deny list.
	Deny Denylist
}

// DefaultParams returns the defaults of poc-rules §14 with no entropy
// signers and an empty deny list.
func DefaultParams() Params {
	return Params{
		EpochLength:        24 * time.Hour,
		Grace:              30 * time.Minute,
		BeaconInterval:     6 * time.Hour,
		EntropyLifetime:    180 * time.Second,
		LagBeacon:          4000 * time.Millisecond,
		LagWitness:         1500 * time.Millisecond,
		Reciprocity:        48 * time.Hour,
		Interactivity:      60 * time.Hour,
		FrequencyTolerance: 100_000,
		MinDistanceCells:   8,
		MinDistanceRes:     11,
		MaxDistanceKm:      100,
		MaxWitnesses:       14,
		UnitsN:             4,
		DecayNum:           4,
		DecayDen:           5,
		UnitsCap:           2,
		Density: []DensityLevel{
			{Res: 4, N: 2, Target: 500, Max: 1000},
			{Res: 5, N: 4, Target: 100, Max: 200},
			{Res: 6, N: 4, Target: 25, Max: 50},
			{Res: 7, N: 4, Target: 5, Max: 10},
			{Res: 8, N: 2, Target: 1, Max: 1},
			{Res: 9, N: 2, Target: 1, Max: 1},
			{Res: 10, N: 2, Target: 1, Max: 1},
		},
		DefaultScale:     2000,
		NoiseFigureDB:    6,
		FloorBelowDB:     8,
		FloorAboveDB:     30,
		SNRMarginDB:      3,
		RSSISToleranceDB: 6,
		Detectors: DetectorParams{
			Window:            7,
			MinEvents:         30,
			MinPartners:       5,
			MinDistRatio:      4,
			MaxExponent:       1.0,
			ExponentSigma:     2,
			EdgeEvents:        2,
			CliqueMin:         3,
			CliqueMax:         0,
			CliqueDensity:     0.6,
			OutsiderRadiusM:   5000,
			MinOutsiders:      3,
			SplitMinDistanceM: 600,
			SplitMinEvents:    5,
			SplitNearM:        30,
			SplitMarginDB:     10,
			CoMinDistanceM:    300,
			CoMinBeacons:      10,
			CoMaxDistanceM:    5000,
			CoMinBeaconers:    5,
			CoMaxStdDevDB:     2.0,
			CoMinSpreadDB:     6,
			TxMinEvents:       3,
			TxMinEpochEvents:  1,
			TxMinPartners:     5,
			TxMaxAsymmetryDB:  6,

			HearMinTrials:      200,
			HearFitRate:        0.8,
			HearSureRate:       0.9,
			HearTrustRatio:     0.3,
			UnheardMaxRatio:    0.1,
			UnheardMinExpected: 10,

			TrustCutMax: 4,
		},
		OpsBP:      1000,
		PoCMaxBP:   3000,
		PoCMinBP:   500,
		BeaconBP:   2000,
		WitnessBP:  8000,
		BytesPerDC: 24,
		Charging:   DefaultChargingParams(),
	}
}

// ErrParams is wrapped by every error of Params.Validate.
var ErrParams = errors.New("invalid verifier parameters")

// Validate reports the first inconsistency in p.
func (p Params) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrParams, fmt.Sprintf(format, a...))
	}
	ms := func(d time.Duration) bool { return d > 0 && d%time.Millisecond == 0 }
	switch {
	case !ms(p.EpochLength):
		return bad("epoch length %v must be a positive whole number of ms", p.EpochLength)
	case !ms(p.BeaconInterval) || p.EpochLength%p.BeaconInterval != 0:
		return bad("beacon interval %v must divide the epoch length %v", p.BeaconInterval, p.EpochLength)
	case p.Grace < 0 || p.Grace%time.Millisecond != 0:
		return bad("grace %v", p.Grace)
	case !ms(p.EntropyLifetime) || !ms(p.LagBeacon) || !ms(p.LagWitness):
		return bad("entropy lifetime and lags must be positive whole ms")
	case !ms(p.Reciprocity) || !ms(p.Interactivity):
		return bad("reciprocity and interactivity windows must be positive whole ms")
	case p.MinDistanceRes < 0 || p.MinDistanceRes > 12 || p.MinDistanceCells < 0:
		return bad("min distance %d cells at res %d", p.MinDistanceCells, p.MinDistanceRes)
	case p.MaxDistanceKm <= 0:
		return bad("max distance %d km", p.MaxDistanceKm)
	case p.MaxWitnesses < 1 || p.MaxWitnesses > 1000:
		return bad("max witnesses %d", p.MaxWitnesses)
	case p.UnitsN < 1 || p.DecayNum < 0 || p.DecayDen <= 0 || p.DecayNum > p.DecayDen || p.UnitsCap < 1:
		return bad("HIP-15 parameters N=%d r=%d/%d cap=%d", p.UnitsN, p.DecayNum, p.DecayDen, p.UnitsCap)
	case p.DefaultScale > scaleOne:
		return bad("default scale %d > %d", p.DefaultScale, scaleOne)
	case p.OpsBP+p.PoCMinBP > bpOne || p.PoCMaxBP > bpOne || p.PoCMinBP > p.PoCMaxBP:
		return bad("split ops=%d poc=%d..%d bp", p.OpsBP, p.PoCMinBP, p.PoCMaxBP)
	case p.BeaconBP+p.WitnessBP > bpOne:
		return bad("beacon:witness %d:%d bp", p.BeaconBP, p.WitnessBP)
	case p.BytesPerDC < 1:
		return bad("bytes per DC %d", p.BytesPerDC)
	case p.Detectors.Window < 1:
		return bad("detector window %d", p.Detectors.Window)
	case !p.Detectors.Disabled && (p.Detectors.TxMinEvents < 1 || p.Detectors.TxMinEpochEvents < 1 || p.Detectors.TxMinPartners < 1):
		return bad("excess_tx_power needs ≥ 1 event per link and ≥ 1 partner, got %d, %d and %d",
			p.Detectors.TxMinEvents, p.Detectors.TxMinEpochEvents, p.Detectors.TxMinPartners)
	case !p.Detectors.Disabled && (p.Detectors.HearMinTrials < 1 || !(p.Detectors.HearFitRate > 0 && p.Detectors.HearFitRate <= 1) ||
		!(p.Detectors.HearSureRate > 0 && p.Detectors.HearSureRate <= 1) || !(p.Detectors.UnheardMaxRatio >= 0 && p.Detectors.UnheardMaxRatio <= 1) ||
		!(p.Detectors.HearTrustRatio >= 0 && p.Detectors.HearTrustRatio <= 1) ||
		!(p.Detectors.UnheardMinExpected >= 0) || math.IsInf(p.Detectors.UnheardMinExpected, 0)):
		return bad("hearing model parameters %d, %v, %v, %v, %v", p.Detectors.HearMinTrials, p.Detectors.HearFitRate,
			p.Detectors.HearSureRate, p.Detectors.UnheardMaxRatio, p.Detectors.UnheardMinExpected)
	case !p.Detectors.Disabled && p.Detectors.TrustCutMax < 0:
		return bad("trust cut %d", p.Detectors.TrustCutMax)
	case !p.Detectors.Disabled && (!(p.Detectors.TxMaxAsymmetryDB >= 0) || math.IsInf(p.Detectors.TxMaxAsymmetryDB, 0)):
		return bad("excess_tx_power threshold %v dB", p.Detectors.TxMaxAsymmetryDB)
	}
	prev := 0
	for _, l := range p.Density {
		if l.Res <= prev || l.Res > 15 || l.Target == 0 || l.Max < l.Target {
			return bad("density level %+v", l)
		}
		prev = l.Res
	}
	for _, f := range []float64{p.NoiseFigureDB, p.FloorBelowDB, p.FloorAboveDB, p.SNRMarginDB, p.RSSISToleranceDB} {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return bad("non-finite signal tolerance")
		}
	}
	return p.Charging.validate()
}

const (
	bpOne    = 10_000 // basis points
	scaleOne = 10_000 // density scale and reward units, ×10⁻⁴
)

func (p Params) epochMs() int64    { return p.EpochLength.Milliseconds() }
func (p Params) intervalMs() int64 { return p.BeaconInterval.Milliseconds() }

// EpochStart returns the first millisecond of the epoch (Unix ms).
func (p Params) EpochStart(epoch uint64) int64 { return int64(epoch) * p.epochMs() }

// EpochEnd returns the first millisecond after the epoch.
func (p Params) EpochEnd(epoch uint64) int64 { return int64(epoch+1) * p.epochMs() }

// EpochOf returns the epoch a Unix-ms instant belongs to (0 for instants
// before 1970).
func (p Params) EpochOf(ms int64) uint64 {
	if ms < 0 {
		return 0
	}
	return uint64(ms / p.epochMs())
}

// CloseAt returns the Unix ms at which the epoch's inputs close: its end
// plus the grace period. The oracle computes the epoch at or after it.
func (p Params) CloseAt(epoch uint64) int64 { return p.EpochEnd(epoch) + p.Grace.Milliseconds() }

// InputWindow returns the half-open range [fromMs, toMs) of received_ms of
// the stored beacon, witness and packet reports the oracle must pass to
// ComputeEpoch for the epoch. It starts early enough for the detectors'
// window of Detectors.Window epochs plus the reciprocity window before
// it, and for the interactivity window before the epoch, minus the
// entropy lifetime, rounded down to a beacon bucket so the interval rule
// sees whole buckets; it ends at CloseAt(epoch).
func (p Params) InputWindow(epoch uint64) (fromMs, toMs int64) {
	start := p.EpochStart(epoch)
	back := p.Interactivity.Milliseconds()
	if w := int64(p.Detectors.Window-1)*p.epochMs() + p.Reciprocity.Milliseconds(); w > back {
		back = w
	}
	from := start - back - p.EntropyLifetime.Milliseconds()
	iv := p.intervalMs()
	from = floorDiv(from, iv) * iv
	if from < 0 {
		from = 0
	}
	return from, p.CloseAt(epoch)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// Hash returns SHA-256 of a canonical encoding of every field of p; deny
// lists and signer lists are hashed in sorted order, so their order does
// not matter.
func (p Params) Hash() [32]byte {
	return sha256.Sum256(p.appendCanonical(nil))
}

func (p Params) appendCanonical(b []byte) []byte {
	b = append(b, "hexfield-params-v1"...)
	i64 := func(v int64) { b = binary.LittleEndian.AppendUint64(b, uint64(v)) }
	f64 := func(v float64) { b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v)) }
	for _, d := range []time.Duration{p.EpochLength, p.Grace, p.BeaconInterval, p.EntropyLifetime,
		p.LagBeacon, p.LagWitness, p.Reciprocity, p.Interactivity} {
		i64(int64(d))
	}
	i64(int64(p.FrequencyTolerance))
	i64(int64(p.MinDistanceCells))
	i64(int64(p.MinDistanceRes))
	i64(p.MaxDistanceKm)
	i64(int64(p.MaxWitnesses))
	i64(int64(p.UnitsN))
	i64(p.DecayNum)
	i64(p.DecayDen)
	i64(p.UnitsCap)
	i64(int64(len(p.Density)))
	for _, l := range p.Density {
		i64(int64(l.Res))
		i64(int64(l.N))
		i64(int64(l.Target))
		i64(int64(l.Max))
	}
	i64(int64(p.DefaultScale))
	for _, f := range []float64{p.NoiseFigureDB, p.FloorBelowDB, p.FloorAboveDB, p.SNRMarginDB, p.RSSISToleranceDB} {
		f64(f)
	}
	d := p.Detectors
	if d.Disabled {
		i64(1)
	} else {
		i64(0)
	}
	for _, v := range []int{d.Window, d.MinEvents, d.MinPartners, d.EdgeEvents, d.CliqueMin, d.CliqueMax,
		d.MinOutsiders, d.SplitMinEvents, d.CoMinBeacons, d.CoMinBeaconers, d.TxMinEvents, d.TxMinEpochEvents, d.TxMinPartners,
		d.HearMinTrials, d.TrustCutMax} {
		i64(int64(v))
	}
	for _, f := range []float64{d.MinDistRatio, d.MaxExponent, d.ExponentSigma, d.CliqueDensity, d.OutsiderRadiusM,
		d.SplitMinDistanceM, d.SplitNearM, d.SplitMarginDB, d.CoMinDistanceM, d.CoMaxDistanceM, d.CoMaxStdDevDB, d.CoMinSpreadDB, d.TxMaxAsymmetryDB,
		d.HearFitRate, d.HearSureRate, d.HearTrustRatio, d.UnheardMaxRatio, d.UnheardMinExpected} {
		f64(f)
	}
	for _, v := range []uint32{p.OpsBP, p.PoCMaxBP, p.PoCMinBP, p.BeaconBP, p.WitnessBP} {
		i64(int64(v))
	}
	i64(int64(p.BytesPerDC))
	b = append(b, p.OpsOwner[:]...)
	signers := sortedKeys(p.EntropySigners)
	i64(int64(len(signers)))
	for _, k := range signers {
		b = append(b, k[:]...)
	}
	keys := sortedKeys(p.Deny.Keys)
	i64(int64(len(keys)))
	for _, k := range keys {
		b = append(b, k[:]...)
	}
	edges := sortedEdges(p.Deny.Edges)
	i64(int64(len(edges)))
	for _, e := range edges {
		b = append(b, e.Beaconer[:]...)
		b = append(b, e.Witness[:]...)
	}
	anchors := sortedKeys(d.TrustAnchors)
	i64(int64(len(anchors)))
	for _, k := range anchors {
		b = append(b, k[:]...)
	}
	return p.Charging.appendCanonical(b)
}

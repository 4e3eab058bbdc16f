package hotspot

import (
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/wire"
)

// recentBeacons is how many heard payloads are remembered to skip repeats
// (poc-rules §3 step 7: "recently seen payloads (last 15)").
const recentBeacons = 15

// ownBeacons is how many of our own payloads are remembered: our
// concentrator, or a neighbour relaying, may hand our beacon back to us.
const ownBeacons = 8

// beaconMemory remembers own and recently heard beacon payloads.
type beaconMemory struct {
	mu      sync.Mutex
	own     [ownBeacons][radio.BeaconPayloadSize]byte
	ownN    int
	seen    [recentBeacons][radio.BeaconPayloadSize]byte
	seenN   int
	seenPos int
}

func (b *beaconMemory) addOwn(p [radio.BeaconPayloadSize]byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.own[b.ownN%ownBeacons] = p
	b.ownN++
}

// check classifies a heard payload as "own", "repeat" or "" (new, and now
// remembered).
func (b *beaconMemory) check(p [radio.BeaconPayloadSize]byte) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range min(b.ownN, ownBeacons) {
		if b.own[i] == p {
			return "own"
		}
	}
	for i := range b.seenN {
		if b.seen[i] == p {
			return "repeat"
		}
	}
	b.seen[b.seenPos] = p
	b.seenPos = (b.seenPos + 1) % recentBeacons
	b.seenN = min(b.seenN+1, recentBeacons)
	return ""
}

// witnessBudget caps the witness reports signed per beacon interval.
// Beacon frames carry no signature: anyone with a radio (or access to the
// Semtech port) can send 52-byte proprietary frames by the thousand, and
// each new payload would otherwise cost a signature, an outbox record and
// an oracle submission. Reports past the cap are counted, not signed.
type witnessBudget struct {
	mu     sync.Mutex
	window time.Time // start of the interval counted
	n      int
}

// take reports whether one more witness report may be signed in the
// interval holding now.
func (w *witnessBudget) take(now time.Time, interval time.Duration, max int) bool {
	start := windowStart(now, interval)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !start.Equal(w.window) {
		w.window, w.n = start, 0
	}
	if w.n >= max {
		return false
	}
	w.n++
	return true
}

// maxWitnesses is the configured cap, defaulted.
func (h *Hotspot) maxWitnesses() int {
	if h.cfg.MaxWitnessesPerInterval > 0 {
		return h.cfg.MaxWitnessesPerInterval
	}
	return DefaultMaxWitnessesPerInterval
}

// heardBeacon is what the bridge knows of a received candidate beacon.
type heardBeacon struct {
	Payload   [radio.BeaconPayloadSize]byte
	Freq      radio.Hz
	DataRate  string
	RSSI      float64  // dBm, channel RSSI
	RSSIS     *float64 // dBm, signal RSSI when reported
	SNR       float64  // dB
	Tmst      uint32
	GPSTimeMs *uint64
	Received  time.Time
}

// ddB converts dB or dBm to tenths, rounding half away from zero.
func ddB(v float64) int32 {
	return int32(math.Round(v * 10))
}

// witnessReport builds the unsigned report for a heard beacon.
func witnessReport(pub wire.PublicKey, hb heardBeacon) *wire.WitnessReport {
	r := &wire.WitnessReport{
		PubKey:      pub.Bytes(),
		Payload:     append([]byte(nil), hb.Payload[:]...),
		FrequencyHz: uint64(hb.Freq),
		Datarate:    hb.DataRate,
		RssiDdbm:    ddB(hb.RSSI),
		SnrDdb:      ddB(hb.SNR),
		Tmst:        hb.Tmst,
		TimestampMs: uint64(hb.Received.UnixMilli()),
	}
	if hb.RSSIS != nil {
		v := ddB(*hb.RSSIS)
		r.RssisDdbm = &v
	}
	if hb.GPSTimeMs != nil {
		v := *hb.GPSTimeMs
		r.GpsTimeMs = &v
	}
	return r
}

// handleBeacon is the witness path: skip own beacons and repeats, apply the
// per-interval cap, then sign and queue a witness report. Its log lines are
// rate-limited (a flood of frames must not become a flood of lines); the
// metrics count every frame.
func (h *Hotspot) handleBeacon(hb heardBeacon) {
	if h.Region() == nil {
		h.m.witnesses.WithLabelValues("no_region").Inc()
		return
	}
	switch h.beacons.check(hb.Payload) {
	case "own":
		h.m.witnesses.WithLabelValues("own").Inc()
		return
	case "repeat":
		h.m.witnesses.WithLabelValues("repeat").Inc()
		return
	}
	if max := h.maxWitnesses(); !h.witnessBudget.take(h.now(), h.BeaconInterval(), max) {
		h.m.witnesses.WithLabelValues("capped").Inc()
		h.logs.capped.Log(h.log, slog.LevelWarn, "witness reports capped for this beacon interval: more beacon frames heard than real neighbours send",
			"max_per_interval", max)
		return
	}
	raw, err := wire.Seal(h.key, wire.Kind_KIND_WITNESS_REPORT, witnessReport(h.pub, hb))
	if err != nil {
		h.m.witnesses.WithLabelValues("error").Inc()
		h.logs.writeErr.Log(h.log, slog.LevelError, "seal witness report", "err", err)
		return
	}
	if _, err := h.queue(raw, "witness"); err != nil {
		h.m.witnesses.WithLabelValues("error").Inc()
		h.logs.writeErr.Log(h.log, slog.LevelError, "queue witness report", "err", err)
		return
	}
	h.m.witnesses.WithLabelValues("reported").Inc()
	h.mu.Lock()
	h.witnessesSent++
	h.lastWitness = hb.Received
	h.mu.Unlock()
	h.logs.witness.Log(h.log, slog.LevelInfo, "witnessed beacon", "freq_hz", uint64(hb.Freq), "rssi", hb.RSSI, "snr", hb.SNR)
}

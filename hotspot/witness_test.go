package hotspot

import (
	"testing"
	"time"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/wire"
)

func TestBeaconMemory(t *testing.T) {
	var m beaconMemory
	p := func(i int) (b [radio.BeaconPayloadSize]byte) { b[0], b[1] = byte(i), byte(i>>8); return }
	m.addOwn(p(1000))
	if got := m.check(p(1000)); got != "own" {
		t.Fatalf("own beacon: %q", got)
	}
	for i := range recentBeacons {
		if got := m.check(p(i)); got != "" {
			t.Fatalf("first hearing of %d: %q", i, got)
		}
	}
	for i := range recentBeacons {
		if got := m.check(p(i)); got != "repeat" {
			t.Fatalf("repeat of %d: %q", i, got)
		}
	}
	m.check(p(100)) // pushes out the oldest, 0
	if got := m.check(p(0)); got != "" {
		t.Fatalf("payload 16 beacons ago is remembered: %q", got)
	}
	if got := m.check(p(2)); got != "repeat" {
		t.Fatalf("payload 14 beacons ago forgotten: %q", got)
	}
}

func TestWitnessReportFields(t *testing.T) {
	var pub wire.PublicKey
	pub[0] = 9
	rssis, gps := -96.04, uint64(1_400_000_000_123)
	var payload [radio.BeaconPayloadSize]byte
	payload[50] = 0xee
	r := witnessReport(pub, heardBeacon{Payload: payload, Freq: 904_700_000, DataRate: "SF9BW125", RSSI: -95.05,
		RSSIS: &rssis, SNR: -7.25, Tmst: 123, GPSTimeMs: &gps, Received: time.UnixMilli(1_700_000_000_000)})
	if r.RssiDdbm != -951 || r.GetRssisDdbm() != -960 || r.SnrDdb != -73 || r.FrequencyHz != 904_700_000 ||
		r.Datarate != "SF9BW125" || r.Tmst != 123 || r.GetGpsTimeMs() != gps || r.TimestampMs != 1_700_000_000_000 ||
		len(r.Payload) != 51 || r.Payload[50] != 0xee {
		t.Fatalf("witness report %v", r)
	}
	r = witnessReport(pub, heardBeacon{RSSI: -100})
	if r.RssisDdbm != nil || r.GpsTimeMs != nil {
		t.Fatalf("absent rssis/tmms reported: %v", r)
	}
}

func TestWindowStart(t *testing.T) {
	at := time.Date(2026, 11, 21, 13, 47, 5, 0, time.UTC)
	if got := windowStart(at, 6*time.Hour).UTC(); !got.Equal(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("6 h window of %v starts %v", at, got)
	}
	if got := windowStart(at, 10*time.Second).UTC(); !got.Equal(time.Date(2026, 11, 21, 13, 47, 0, 0, time.UTC)) {
		t.Fatalf("10 s window starts %v", got)
	}
}

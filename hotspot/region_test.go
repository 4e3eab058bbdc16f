package hotspot

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/wire"
)

// A new assertion in another region switches the region at once and warns
// that the concentrator's band no longer fits; an asserted gain of 0 dBi is
// taken as 0, not ignored.
func TestApplyConfigRegionChangeAndGain(t *testing.T) {
	var logs bytes.Buffer
	h, _ := newBeaconerHotspot(t, Config{}, &recordingTx{}, prometheus.NewRegistry())
	h.log = slog.New(slog.NewTextHandler(&logs, nil))
	h.region, h.regionSource = nil, ""
	oracle := wire.PublicKey{1}

	h.applyConfig(oracle, &wire.Config{Asserted: true, Region: "EU868", GainDdbi: 0})
	if r, g, _ := h.beaconParams(); r == nil || r.Name != "EU868" || g != 0 {
		t.Fatalf("after the first config: region %v gain %d, want EU868 and 0", r, g)
	}
	if strings.Contains(logs.String(), "WARN") {
		t.Fatalf("first region warned:\n%s", logs.String())
	}
	h.applyConfig(oracle, &wire.Config{Asserted: true, Region: "US915", GainDdbi: 58})
	if r, g, _ := h.beaconParams(); r == nil || r.Name != "US915" || g != 58 {
		t.Fatalf("after the move: region %v gain %d", r, g)
	}
	for _, want := range []string{"level=WARN", "band no longer fits", "region_was=EU868", "region=US915"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("move not warned (%q):\n%s", want, logs.String())
		}
	}
	logs.Reset()
	h.applyConfig(oracle, &wire.Config{Asserted: false})
	if r, _, _ := h.beaconParams(); r != nil || !strings.Contains(logs.String(), "region unknown now") {
		t.Errorf("unasserted: region %v, logs:\n%s", r, logs.String())
	}

	// An override that disagrees with the asserted location is kept, with a warning.
	logs.Reset()
	eu, _ := radio.LookupRegion("EU868")
	h.region, h.regionSource = eu, "config"
	h.applyConfig(oracle, &wire.Config{Asserted: true, Region: "US915"})
	if r, _, _ := h.beaconParams(); r != eu || !strings.Contains(logs.String(), "override differs") {
		t.Errorf("override: region %v, logs:\n%s", r, logs.String())
	}
}

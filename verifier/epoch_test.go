package verifier

import (
	"sort"
	"testing"
)

// honestTown is a 6×6 grid of hotspots 1.2 km apart in Zürich with three
// days of beacons before the test epoch and four rounds in it.
func honestTown(tb testing.TB, seed uint64) *town {
	tb.Helper()
	t := newTown(tb, seed)
	t.grid("h", 47.3769, 8.5417, 6, 1200, 300)
	t.build()
	start := t.p.EpochStart(testEpoch)
	t.rounds(start-3*dayMs, start+dayMs)
	return t
}

func reasonHistogram(r *EpochResult) map[string]int {
	h := map[string]int{}
	for _, p := range r.PoCs {
		h["beacon "+p.Reason.String()]++
		for _, w := range p.Witnesses {
			h["witness "+w.Reason.String()]++
		}
	}
	return h
}

func TestHonestTown(t *testing.T) {
	tw := honestTown(t, 1)
	res, err := EvaluateEpoch(tw.input(testEpoch))
	if err != nil {
		t.Fatal(err)
	}
	h := reasonHistogram(res)
	var keys []string
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("%-40s %d", k, h[k])
	}
	m := res.Manifest
	t.Logf("flags %v total %d unallocated %d beacon pool %d witness pool %d", res.Flags, m.Total, m.Unallocated, m.BeaconPool, m.WitnessPool)
	if len(res.Flags) != 0 {
		t.Errorf("honest town flagged: %v", res.Flags)
	}
	if h["beacon reason_none"] < len(tw.hs)*4*9/10 {
		t.Errorf("only %d of %d beacons valid", h["beacon reason_none"], len(tw.hs)*4)
	}
}

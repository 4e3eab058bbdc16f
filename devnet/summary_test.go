package devnet

import (
	"strings"
	"testing"
)

// TestSummaryEpochStates checks that the summary says plainly what became
// of each epoch: paid after co-signing, not co-signed (and why), waiting,
// or run without a chain.
func TestSummaryEpochStates(t *testing.T) {
	s := &Summary{Chain: true, Oracles: 3, Threshold: 2, OnChain: 100, Epochs: []EpochSummary{
		{Epoch: 7, Total: 0, Distributed: true, Agree: 3},
		{Epoch: 8, Total: 100, Honest: 100, Distributed: true, Agree: 3},
		{Epoch: 9, Total: 50, Honest: 50, Agree: 1, Error: "fewer than 2 oracles agree: root mismatch"},
		{Epoch: 10, Total: 60, Honest: 60, Agree: 2},
	}}
	var b strings.Builder
	s.WriteText(&b)
	out := b.String()
	for _, want := range []string{
		"epoch 7: 0 to owners (nothing to pay; 3 of 3 oracles computed this manifest)",
		"epoch 8: 100 to owners (co-signed 2-of-3, paid on chain; 3 of 3 oracles computed this manifest)",
		"epoch 9: 50 to owners (NOT PAID: could not be co-signed 2-of-3 (fewer than 2 oracles agree: root mismatch); the leader retries; 1 of 3 oracles computed this manifest)",
		"epoch 10: 60 to owners (awaiting co-signatures; 2 of 3 oracles computed this manifest)",
		"owners hold 100 reward base units (matches the paid manifests)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}

	one := &Summary{Chain: true, Oracles: 1, Threshold: 1, Epochs: []EpochSummary{
		{Epoch: 8, Total: 100, Distributed: true, Agree: 1},
		{Epoch: 9, Total: 50, Error: "send: connection refused"},
	}}
	b.Reset()
	one.WriteText(&b)
	out = b.String()
	for _, want := range []string{"epoch 8: 100 to owners (paid on chain)", "epoch 9: 50 to owners (NOT PAID: send: connection refused; retrying)"} {
		if !strings.Contains(out, want) {
			t.Errorf("single-oracle summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "co-sign") {
		t.Errorf("a single oracle's summary talks of co-signing:\n%s", out)
	}
}

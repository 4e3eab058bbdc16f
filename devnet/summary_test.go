package devnet

import (
	"strings"
	"testing"
)

// TestSummaryEpochStates checks that the summary says plainly what became
// of each epoch: who led it, who co-signed it and how many reports were
// reconciled, paid, not co-signed yet (and why), disputed, waiting, or run
// without a chain; amounts in tokens.
func TestSummaryEpochStates(t *testing.T) {
	s := &Summary{Chain: true, Oracles: 3, Threshold: 2, Decimals: 6, OnChain: 170, Epochs: []EpochSummary{
		{Epoch: 7, Root: "r7", Total: 0, Distributed: true, Agree: 3, Leader: "oracle-1"},
		{Epoch: 8, Root: "r8", Total: 100, Honest: 100, Distributed: true, Agree: 3, Leader: "oracle-2", Reconciled: 12,
			Cosigners: []string{"oracle-0", "oracle-2"}, AuthorizedAfter: 4e9},
		{Epoch: 9, Root: "r9", Total: 50_000_000, Honest: 50_000_000, Agree: 2, Leader: "oracle-0",
			Error: "round 0: 1 of 2 oracles agree"},
		{Epoch: 10, Root: "r10", Total: 60, Honest: 60, Agree: 2, Leader: "oracle-1"},
		{Epoch: 11, Disputed: true, Error: "epoch disputed: epoch 11 not authorised after 3 leader slots"},
		{Epoch: 12},
		{Epoch: 13, Root: "r13", Total: 70, Distributed: true, Agree: 3, Leader: "oracle-2", Cosigners: []string{"oracle-0", "oracle-1"}},
	}}
	var b strings.Builder
	s.WriteText(&b)
	out := b.String()
	for _, want := range []string{
		"epoch 7: 0.000000 tokens to owners (led by oracle-1; nothing to pay; 0 reports reconciled; 3 of 3 oracles hold this manifest)",
		"epoch 8: 0.000100 tokens to owners (led by oracle-2; co-signed by oracle-0 and oracle-2 (2-of-3), paid on chain; authorised 4s after the close; 12 reports reconciled; 3 of 3 oracles hold this manifest): earned by honest 0.000100",
		"epoch 9: 50.000000 tokens to owners (led by oracle-0; NOT PAID yet: round 0: 1 of 2 oracles agree; the next leader takes over; 0 reports reconciled; 2 of 3 oracles hold this manifest)",
		"epoch 10: 0.000060 tokens to owners (led by oracle-1; awaiting co-signatures; 0 reports reconciled; 2 of 3 oracles hold this manifest)",
		"epoch 11: DISPUTED, not agreed within a pass of leader slots (epoch disputed: epoch 11 not authorised after 3 leader slots); later epochs go on",
		"epoch 12: closed, being agreed",
		"epoch 13: 0.000070 tokens to owners (led by oracle-2, then taken over; co-signed by oracle-0 and oracle-1 (2-of-3), paid on chain;",
		"owners hold 0.000170 tokens (matches the paid manifests)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}

	one := &Summary{Chain: true, Oracles: 1, Threshold: 1, Decimals: 6, Epochs: []EpochSummary{
		{Epoch: 8, Root: "r8", Total: 100, Distributed: true, Agree: 1},
		{Epoch: 9, Root: "r9", Total: 50, Error: "send: connection refused"},
	}}
	b.Reset()
	one.WriteText(&b)
	out = b.String()
	for _, want := range []string{"epoch 8: 0.000100 tokens to owners (paid on chain)", "epoch 9: 0.000050 tokens to owners (NOT PAID: send: connection refused; retrying)",
		"owners hold 0.000000 tokens (the paid manifests say 0.000100)"} {
		if !strings.Contains(out, want) {
			t.Errorf("single-oracle summary lacks %q:\n%s", want, out)
		}
	}
	for _, not := range []string{"co-sign", "led by", "reconciled"} {
		if strings.Contains(out, not) {
			t.Errorf("a single oracle's summary talks of %q:\n%s", not, out)
		}
	}
}

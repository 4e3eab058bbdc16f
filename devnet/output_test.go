package devnet

import (
	"strings"
	"testing"
	"time"
)

// TestPrinterPrintsChanges: the first summary prints everything that
// happened and where every epoch stands; a later one prints only the
// activity since, and the lines that changed (an epoch paid, a new one
// closed, DC charged), never an unchanged epoch again; a summary with no
// change prints nothing.
func TestPrinterPrintsChanges(t *testing.T) {
	var b strings.Builder
	p := &printer{w: &b}
	org := OrgSummary{Org: "acme", Delivered: 5, Joins: 1, DCBought: 1000, DCBalance: 1000}
	first := &Summary{Elapsed: 15 * time.Second, Chain: true, Oracles: 1, Threshold: 1, Decimals: 6,
		BeaconsSent: 10, WitnessesReported: 4, ValidPoCs: 3, InvalidBeacons: map[string]int{"gateway_not_found": 2},
		UplinksSent: 6, Orgs: []OrgSummary{org},
		Epochs: []EpochSummary{
			{Epoch: 7, Root: "r7", Distributed: true, Agree: 1},
			{Epoch: 8},
		}}
	p.print(first)
	out := b.String()
	for _, want := range []string{
		"[15s] +10 beacons, +4 witness reports, +3 valid PoCs, invalid beacons (gateway_not_found +2), +6 sensor uplinks, +5 packets delivered to the LNS, +1 joins\n",
		"[15s] epoch 7: 0.000000 tokens to owners (nothing to pay)",
		"[15s] epoch 8: closed, being agreed\n",
		"[15s] customer acme: DC bought on chain 1000, charged 0 for 0 copies, balance 1000\n",
		"[15s] on chain: owners hold 0.000000 tokens (matches the paid manifests)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("first print lacks %q:\n%s", want, out)
		}
	}

	b.Reset()
	second := *first
	second.Elapsed = 30 * time.Second
	second.BeaconsSent, second.ValidPoCs = 14, 5
	second.InvalidBeacons = map[string]int{"gateway_not_found": 2, "gateway_no_valid_witnesses": 1}
	org2 := org
	org2.Delivered, org2.DCCharged, org2.Copies, org2.DCBalance = 8, 3, 3, 997
	second.Orgs = []OrgSummary{org2}
	second.Epochs = []EpochSummary{
		{Epoch: 7, Root: "r7", Distributed: true, Agree: 1},
		{Epoch: 8, Root: "r8", Total: 100, Honest: 100, Distributed: true, Agree: 1},
		{Epoch: 9},
	}
	second.OnChain = 100
	p.print(&second)
	out = b.String()
	want := "[30s] +4 beacons, +2 valid PoCs, invalid beacons (gateway_no_valid_witnesses +1), +3 packets delivered to the LNS\n" +
		"[30s] epoch 8: 0.000100 tokens to owners (paid on chain): earned by honest 0.000100, spoofers 0.000000; withheld by fraud detection: spoofers 0.000000, honest 0.000000\n" +
		"[30s] epoch 9: closed, being agreed\n" +
		"[30s] customer acme: DC bought on chain 1000, charged 3 for 3 copies, balance 997\n" +
		"[30s] on chain: owners hold 0.000100 tokens (matches the paid manifests)\n"
	if out != want {
		t.Errorf("second print:\n%s\nwant:\n%s", out, want)
	}

	b.Reset()
	third := second
	third.Elapsed = 45 * time.Second
	p.print(&third)
	if b.Len() != 0 {
		t.Errorf("nothing changed, yet it printed:\n%s", b.String())
	}
}

// TestPaidEpochs counts epochs with rewards paid on chain, or without a
// chain, manifests with earnings.
func TestPaidEpochs(t *testing.T) {
	s := &Summary{Chain: true, Epochs: []EpochSummary{
		{Epoch: 1, Distributed: true}, // nothing to pay
		{Epoch: 2, Distributed: true, Total: 5},
		{Epoch: 3, Total: 5}, // not paid yet
		{Epoch: 4, Distributed: true, Total: 7},
	}}
	if got := s.PaidEpochs(); got != 2 {
		t.Errorf("paid epochs %d, want 2", got)
	}
	s.Chain = false
	s.Epochs[2].Honest = 5
	if got := s.PaidEpochs(); got != 1 {
		t.Errorf("without a chain, %d epochs with earnings, want 1", got)
	}
}

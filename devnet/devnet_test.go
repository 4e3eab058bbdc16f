package devnet

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer lets the test read the devnet's output while it writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDevnetEndToEnd runs a small devnet with every real part until an epoch
// has been verified, rewarded and (when the local chain can run here) paid
// on chain, and checks what it reports.
func TestDevnetEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a whole network for a few minutes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out syncBuffer
	var last *Summary
	cfg := Config{
		Dir:             t.TempDir(),
		Hotspots:        6,
		Spoofers:        3,
		Sensors:         2,
		BeaconInterval:  5 * time.Second,
		EpochLength:     30 * time.Second,
		EntropyPeriod:   2 * time.Second,
		EntropyLifetime: 10 * time.Second,
		HTTPListen:      "127.0.0.1:0",
		SummaryEvery:    3 * time.Second,
	}
	err := run(ctx, cfg, &out, func(s *Summary) bool {
		last = s
		for _, e := range s.Epochs {
			if e.Total > 0 && (!s.Chain || (e.Distributed && s.OnChain > 0)) {
				return true
			}
		}
		return false
	})
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if last == nil || ctx.Err() != nil {
		t.Fatal("the devnet never paid an epoch")
	}
	if last.BeaconsSent == 0 || last.WitnessesReported == 0 || last.ValidPoCs == 0 || last.ValidWitnesses == 0 {
		t.Errorf("no proof of coverage: %+v", last)
	}
	if last.UplinksSent == 0 || last.UplinksHeard == 0 {
		t.Errorf("sensor uplinks were not heard: sent %d, heard %d", last.UplinksSent, last.UplinksHeard)
	}
	if last.Oracles != 1 || (last.Chain && last.Threshold != 1) {
		t.Errorf("%d oracles, threshold %d: want the default single oracle", last.Oracles, last.Threshold)
	}
	var paid, honest, spoofers uint64
	for _, e := range last.Epochs {
		honest += e.Honest
		spoofers += e.Spoofers
		if e.Distributed {
			paid += e.Total
		}
		// Co-signing needs identical manifests: the leader's and at least
		// one peer's, each computed from its own store.
		if last.Chain && e.Distributed && e.Total > 0 && e.Agree < last.Threshold {
			t.Errorf("epoch %d paid with %d of %d oracles computing its manifest", e.Epoch, e.Agree, last.Oracles)
		}
	}
	if last.Chain && paid > 0 && !strings.Contains(out.String(), "paid on chain") {
		t.Error("the summary does not say the epoch was co-signed and paid")
	}
	if honest == 0 {
		t.Errorf("honest hotspots earned nothing: %+v", last.Epochs)
	}
	if spoofers*20 > honest+spoofers {
		t.Errorf("spoofers earned %d against honest %d: the ring was not caught", spoofers, honest)
	}
	if last.Chain && last.OnChain != paid {
		t.Errorf("on chain %d, paid manifests %d", last.OnChain, paid)
	}
}

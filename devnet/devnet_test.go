package devnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// TestDevnetEndToEnd runs a small devnet with every real part and the
// default 3 oracles co-signing 2-of-3 until two epochs with rewards have
// been verified, agreed, co-signed and (when the local chain can run here)
// paid on chain, and checks what it reports: every epoch up to the last
// paid one is paid exactly once (each owner's balance read back from the
// chain is the sum of its payouts in the paid manifests), led by an
// oracle and co-signed by a quorum, and none is disputed.
func TestDevnetEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a whole network for a few minutes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var out, logs syncBuffer
	var last *Summary
	cfg := Config{
		Dir:             t.TempDir(),
		Out:             t.TempDir(),
		Logs:            &logs,
		Hotspots:        6,
		Spoofers:        3,
		Sensors:         4,
		BeaconInterval:  5 * time.Second,
		EpochLength:     30 * time.Second,
		EntropyPeriod:   2 * time.Second,
		EntropyLifetime: 10 * time.Second,
		HTTPListen:      "127.0.0.1:0",
		SummaryEvery:    3 * time.Second,
	}
	const paidEpochs = 2
	// It runs until what it checks has happened, not for a fixed number of
	// epochs: on a loaded machine the sensors may join, or the first DC
	// charge land, only in a later epoch (TestDevnetStopsAfterEpochs covers
	// --epochs).
	err := run(ctx, cfg, &out, func(s *Summary) bool {
		last = s
		return settled(s, paidEpochs) == nil && customerServed(s) == nil && s.ValidPoCs > 0 && s.UplinksHeard > 0
	})
	t.Log(out.String())
	// The oracles' account of each epoch: warnings, and how it was agreed
	// and paid.
	t.Log(oracleLines(logs.String(), "level=WARN", "level=ERROR", "epoch agreed", "phase 1 landed", "taking over", "caught up"))
	if err != nil {
		t.Fatal(err)
	}
	if last == nil || ctx.Err() != nil {
		t.Fatalf("the devnet did not pay %d epochs exactly once: %v", paidEpochs, settled(last, paidEpochs))
	}
	if err := settled(last, paidEpochs); err != nil {
		t.Error(err)
	}
	if last.BeaconsSent == 0 || last.WitnessesReported == 0 || last.ValidPoCs == 0 || last.ValidWitnesses == 0 {
		t.Errorf("no proof of coverage: %+v", last)
	}
	if last.UplinksSent == 0 || last.UplinksHeard == 0 {
		t.Errorf("sensor uplinks were not heard: sent %d, heard %d", last.UplinksSent, last.UplinksHeard)
	}
	if !strings.Contains(out.String(), "devnet: done. Final summary:") {
		t.Error("no final summary after the paid epochs")
	}
	if last.FirstPayout == 0 || last.Onboarded == 0 {
		t.Errorf("no timings: first payout %v, onboarded %v", last.FirstPayout, last.Onboarded)
	}
	t.Logf("hotspots registered %v after the start, first payout on chain %v after it", last.Onboarded, last.FirstPayout)
	if last.Oracles != 3 || (last.Chain && last.Threshold != 2) {
		t.Errorf("%d oracles, threshold %d: want the default 2-of-3", last.Oracles, last.Threshold)
	}
	var honest, spoofers uint64
	for _, e := range last.Epochs {
		honest += e.Honest
		spoofers += e.Spoofers
		if e.Distributed && e.Total > 0 {
			t.Logf("epoch %d: led by %s, co-signed by %v, %d reports reconciled, authorised %v after the close; phase 1 %s, phase 2 %v",
				e.Epoch, e.Leader, e.Cosigners, e.Reconciled, e.AuthorizedAfter, e.Phase1, e.Phase2)
		}
	}
	if last.Chain && !strings.Contains(out.String(), "(2-of-3), paid on chain") {
		t.Error("the summary does not say who co-signed the epoch and that it was paid")
	}
	if honest == 0 {
		t.Errorf("honest hotspots earned nothing: %+v", last.Epochs)
	}
	if spoofers*20 > honest+spoofers {
		t.Errorf("spoofers earned %d against honest %d: the ring was not caught", spoofers, honest)
	}
	raw, err := os.ReadFile(filepath.Join(cfg.Out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var js Summary
	if err := json.Unmarshal(raw, &js); err != nil {
		t.Fatalf("summary.json: %v", err)
	}
	if len(js.Epochs) == 0 || len(js.Owners) != cfg.Hotspots+cfg.Spoofers {
		t.Errorf("summary.json has %d epochs and %d owners", len(js.Epochs), len(js.Owners))
	}
	// The final summary (written after the stop) adds up for the customer.
	if err := customerServed(&js); err != nil {
		t.Errorf("summary.json: %v: %+v", err, js.Orgs)
	}
}

// settled checks that at least paid epochs with rewards are paid, and that
// every epoch up to the newest of them is paid exactly once: not disputed,
// led and co-signed by a quorum, and each owner's balance on chain is the
// sum of its payouts in the paid manifests. Without a chain, manifests
// with earnings stand for payment (owners without a token account accrue:
// nothing is paid).
func settled(s *Summary, paid int) error {
	if s == nil {
		return errors.New("no summary")
	}
	newest, count := uint64(0), 0
	for _, e := range s.Epochs {
		if (s.Chain && e.Total > 0 && e.Distributed) || (!s.Chain && e.Honest+e.Spoofers > 0) {
			newest, count = e.Epoch, count+1
		}
	}
	if count < paid {
		return fmt.Errorf("%d epochs with rewards paid, want %d", count, paid)
	}
	first := s.Epochs[0].Epoch
	for i, e := range s.Epochs {
		switch {
		case e.Epoch > newest:
			continue
		case e.Epoch != first+uint64(i):
			return fmt.Errorf("epoch %d missing", first+uint64(i))
		case e.Disputed || e.Root == "":
			return fmt.Errorf("epoch %d not agreed: %s", e.Epoch, e.Error)
		case !s.Chain:
			continue
		case !e.Distributed:
			return fmt.Errorf("epoch %d not paid: %s", e.Epoch, e.Error)
		case e.Total > 0 && (len(e.Cosigners) < s.Threshold || e.Phase1 == "" || e.Leader == ""):
			return fmt.Errorf("epoch %d paid, but led by %q, co-signed by %v (phase 1 %q)", e.Epoch, e.Leader, e.Cosigners, e.Phase1)
		case e.Total > 0 && e.Agree < s.Threshold:
			return fmt.Errorf("epoch %d paid with %d oracles holding its manifest", e.Epoch, e.Agree)
		}
	}
	if !s.Chain {
		return nil
	}
	var sum uint64
	for _, o := range s.Owners {
		if o.OnChain != o.Paid {
			return fmt.Errorf("owner of %s holds %d on chain, the paid manifests pay it %d", o.Hotspot, o.OnChain, o.Paid)
		}
		sum += o.Paid
	}
	if sum == 0 || s.OnChain != sum {
		return fmt.Errorf("owners hold %d on chain, the paid manifests pay %d", s.OnChain, sum)
	}
	return nil
}

// TestDevnetStopsAfterEpochs: with Epochs set (--epochs K) the devnet
// stops by itself once K epochs are paid, prints its final summary and
// returns no error. A small one without a chain and with one oracle.
func TestDevnetStopsAfterEpochs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a network")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out syncBuffer
	cfg := Config{Dir: t.TempDir(), Hotspots: 3, Spoofers: -1, Sensors: 1, Oracles: 1, NoChain: true,
		BeaconInterval: 5 * time.Second, EpochLength: 15 * time.Second, EntropyPeriod: 2 * time.Second,
		EntropyLifetime: 10 * time.Second, HTTPListen: "127.0.0.1:0", SummaryEvery: time.Second, Epochs: 1}
	if err := run(ctx, cfg, &out, nil); err != nil {
		t.Fatalf("devnet: %v\n%s", err, out.String())
	}
	if ctx.Err() != nil || !strings.Contains(out.String(), "devnet: 1 epoch paid. Final summary:") {
		t.Errorf("it did not stop by itself after one paid epoch:\n%s", out.String())
	}
}

// TestDevnetInterrupted: a devnet interrupted (Ctrl-C) prints its final
// summary and returns no error. A small one without a chain and with one
// oracle, for speed.
func TestDevnetInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a network")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	cfg := Config{Dir: t.TempDir(), Out: t.TempDir(), Hotspots: 2, Spoofers: -1, Sensors: 2, Oracles: 1, NoChain: true,
		BeaconInterval: 5 * time.Second, EpochLength: 30 * time.Second, EntropyPeriod: 2 * time.Second,
		EntropyLifetime: 10 * time.Second, HTTPListen: "127.0.0.1:0", SummaryEvery: time.Second}
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, &out, nil) }()
	// Interrupt once it has printed what changed at least once.
	for !strings.Contains(out.String(), "] +") {
		select {
		case err := <-done:
			t.Fatalf("stopped by itself: %v\n%s", err, out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("interrupted devnet: %v", err)
	}
	if !strings.Contains(out.String(), "devnet: interrupted. Final summary:") || !strings.Contains(out.String(), "customer devnet-customer:") {
		t.Errorf("no final summary:\n%s", out.String())
	}
	for _, want := range []string{"coverage map and oracle API: http://127.0.0.1:", "hexfield org show --id devnet-customer --oracle http://127.0.0.1:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the start lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := os.Stat(filepath.Join(cfg.Out, "summary.json")); err != nil {
		t.Error(err)
	}
}

// customerServed checks the customer's side: OTAA sensors joined and ABP
// ones sent through the hotspots to the LNS, confirmed uplinks were ACKed
// and downlinks came back; the DC bought on chain were credited, the
// manifests charged the route, and the payer's ledger adds up: bought =
// balance + debited, debited = what the manifests charged.
func customerServed(s *Summary) error {
	if s == nil || len(s.Orgs) != 1 {
		return errors.New("no organization in the summary")
	}
	o := s.Orgs[0]
	switch {
	case o.OTAA == 0 || o.ABP == 0:
		return fmt.Errorf("%d OTAA and %d ABP sensors: want both", o.OTAA, o.ABP)
	case o.Joins == 0 || o.SensorJoins == 0:
		return fmt.Errorf("no join: the LNS accepted %d, sensors completed %d", o.Joins, o.SensorJoins)
	case o.Delivered == 0:
		return fmt.Errorf("no packet reached the LNS (%d sent)", o.Sent)
	case o.Acked == 0:
		return fmt.Errorf("none of %d confirmed uplinks was ACKed", o.Confirmed)
	case o.Downlinks == 0:
		return errors.New("no downlink reached a sensor")
	case o.DCBought == 0 || (s.Chain && o.Purchase == ""):
		return fmt.Errorf("no DC bought (purchase %q)", o.Purchase)
	case o.DCCharged == 0 || o.Copies == 0:
		return fmt.Errorf("the manifests charged %d DC for %d copies", o.DCCharged, o.Copies)
	case o.DCBalance+o.DCDebited != o.DCBought:
		return fmt.Errorf("ledger: balance %d + debited %d != bought %d", o.DCBalance, o.DCDebited, o.DCBought)
	case o.DCDebited != o.DCCharged:
		return fmt.Errorf("ledger debited %d, the manifests charged %d", o.DCDebited, o.DCCharged)
	}
	return nil
}

// oracleLines picks the oracles' log lines that contain any of want.
func oracleLines(logs string, want ...string) string {
	var b strings.Builder
	for line := range strings.Lines(logs) {
		if !strings.Contains(line, "node=oracle-") {
			continue
		}
		for _, w := range want {
			if strings.Contains(line, w) {
				b.WriteString(line)
				break
			}
		}
	}
	return b.String()
}

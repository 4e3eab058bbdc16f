package devnet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/wire"
)

// Summary is what the devnet has done since it started, as the oracle's
// API, the hotspots' metrics and the chain report it.
type Summary struct {
	Elapsed  time.Duration
	Hotspots int
	Spoofers int

	BeaconsSent       uint64 // beacons transmitted (TX_ACK OK) by all hotspots
	WitnessesReported uint64 // witness reports written by all hotspots
	UplinksSent       uint64 // LoRaWAN uplinks sent by the sensors
	UplinksHeard      uint64 // copies of those uplinks the hotspots received

	PoCs             int            // beacons verified by the oracle
	ValidPoCs        int            // of which valid
	InvalidBeacons   map[string]int // invalid beacons by reason
	ValidWitnesses   int
	InvalidWitnesses map[string]int // invalid witnesses by reason

	Epochs    []EpochSummary // closed epochs with a manifest (the leader's), oldest first
	OnChain   uint64         // the owners' reward token balances added up
	Chain     bool           // a chain is running
	Oracles   int            // oracles running
	Threshold int            // co-signatures an epoch needs (with a chain)
	// StampSkew is the largest difference between two oracles' received_ms
	// of the same beacon report (each oracle stamps what it receives). A
	// report that close to an epoch's window edge can land inside the
	// window on one oracle and outside on another: their manifests differ.
	StampSkew time.Duration
}

// EpochSummary is one epoch's manifest, split between honest hotspots and
// spoofers.
type EpochSummary struct {
	Epoch           uint64
	Total           uint64 // paid to owners
	Honest          uint64 // of which to honest hotspots
	Spoofers        uint64 // of which to spoofers
	SpooferWithheld uint64 // what the fraud detectors withheld from spoofers
	HonestWithheld  uint64 // what they withheld from honest hotspots
	Distributed     bool   // paid on chain (co-signed by Threshold oracles)
	// Agree is how many oracles (the leader included) computed a manifest
	// with the leader's root from their own stores.
	Agree int
	// Error is why the leader could not pay the epoch yet (for example
	// fewer than Threshold oracles agreed to co-sign); it retries.
	Error string
}

// tally accumulates what the oracle verified, across summaries.
type tally struct {
	pocs, validPoCs, validWitnesses  int
	invalidBeacons, invalidWitnesses map[string]int
	epochs                           map[uint64]EpochSummary
	skew                             time.Duration // largest StampSkew so far
}

func (n *network) report(ctx context.Context, until func(*Summary) bool, stop context.CancelFunc) error {
	tick := time.NewTicker(n.cfg.SummaryEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		s, err := n.summary(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			fmt.Fprintf(n.out, "devnet: summary: %v\n", err)
			continue
		}
		s.WriteText(n.out)
		if until != nil && until(s) {
			stop()
			return nil
		}
	}
}

func (n *network) summary(ctx context.Context) (*Summary, error) {
	s := &Summary{Elapsed: time.Since(n.start).Round(time.Second), Chain: n.chain != nil,
		Oracles: len(n.oracles), Threshold: n.oracles[0].cfg.Threshold}
	var honestOwners, spooferOwners []wire.PublicKey
	spoofers := map[wire.PublicKey]bool{}
	for _, nd := range n.nodes {
		if nd.spoofer {
			s.Spoofers++
			spoofers[nd.pub()] = true
			spooferOwners = append(spooferOwners, nd.ownerPub())
		} else {
			s.Hotspots++
			honestOwners = append(honestOwners, nd.ownerPub())
		}
		s.BeaconsSent += counter(nd, "hexfield_hotspot_beacons_total", "result", "sent")
		s.WitnessesReported += counter(nd, "hexfield_hotspot_witnesses_total", "result", "reported")
		s.UplinksHeard += counter(nd, "hexfield_hotspot_frames_total", "class", "uplink")
	}
	for _, sn := range n.sensors {
		s.UplinksSent += sn.sent.Load()
	}
	if err := n.tallyPoCs(ctx); err != nil {
		return nil, err
	}
	if err := n.tallyEpochs(ctx, spoofers); err != nil {
		return nil, err
	}
	s.StampSkew = n.stampSkew(ctx)
	n.tally.skew = s.StampSkew
	t := &n.tally
	s.PoCs, s.ValidPoCs, s.ValidWitnesses = t.pocs, t.validPoCs, t.validWitnesses
	s.InvalidBeacons, s.InvalidWitnesses = t.invalidBeacons, t.invalidWitnesses
	for _, e := range t.epochs {
		s.Epochs = append(s.Epochs, e)
	}
	sort.Slice(s.Epochs, func(i, j int) bool { return s.Epochs[i].Epoch < s.Epochs[j].Epoch })
	if n.chain != nil {
		bal, err := n.chain.balances(ctx, append(honestOwners, spooferOwners...))
		if err != nil {
			return nil, fmt.Errorf("balances: %w", err)
		}
		for _, b := range bal {
			s.OnChain += b
		}
	}
	return s, nil
}

// counter reads one labelled counter from a hotspot's metrics.
func counter(nd *node, name, label, value string) uint64 {
	families, err := nd.metrics.Gather()
	if err != nil {
		return 0
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if hasLabel(m, label, value) {
				return uint64(m.GetCounter().GetValue())
			}
		}
	}
	return 0
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// tallyPoCs counts the PoCs the oracle verified since the last summary.
func (n *network) tallyPoCs(ctx context.Context) error {
	t := &n.tally
	if t.invalidBeacons == nil {
		t.invalidBeacons, t.invalidWitnesses = map[string]int{}, map[string]int{}
	}
	var pocs []oracle.PoCRecord
	url := fmt.Sprintf("%s/v1/pocs?from=%d&limit=1000", n.api.BaseURL, n.start.UnixMilli())
	if err := getJSON(ctx, url, &pocs); err != nil {
		return fmt.Errorf("pocs: %w", err)
	}
	for _, p := range pocs {
		if n.seen[p.Beacon] {
			continue
		}
		n.seen[p.Beacon] = true
		t.pocs++
		if p.Valid {
			t.validPoCs++
		} else {
			t.invalidBeacons[p.Reason.String()]++
		}
		for _, w := range p.Witnesses {
			if w.Valid {
				t.validWitnesses++
			} else {
				t.invalidWitnesses[w.Reason.String()]++
			}
		}
	}
	return nil
}

// stampSkew compares the oracles' received_ms of the beacons they
// verified in the last two epochs (at most 500 each; kept light, since
// a busy oracle stamps late).
func (n *network) stampSkew(ctx context.Context) time.Duration {
	if len(n.oracles) < 2 {
		return 0
	}
	lo, hi := map[string]int64{}, map[string]int64{}
	seen := map[string]int{}
	for _, o := range n.oracles {
		var pocs []oracle.PoCRecord
		url := fmt.Sprintf("%s/v1/pocs?from=%d&limit=500", o.api.BaseURL, time.Now().Add(-2*n.cfg.EpochLength).UnixMilli())
		if err := getJSON(ctx, url, &pocs); err != nil {
			continue
		}
		for _, p := range pocs {
			if seen[p.Beacon] == 0 || p.ReceivedMs < lo[p.Beacon] {
				lo[p.Beacon] = p.ReceivedMs
			}
			if seen[p.Beacon] == 0 || p.ReceivedMs > hi[p.Beacon] {
				hi[p.Beacon] = p.ReceivedMs
			}
			seen[p.Beacon]++
		}
	}
	var most int64
	for b, k := range seen {
		if k > 1 {
			most = max(most, hi[b]-lo[b])
		}
	}
	return max(n.tally.skew, time.Duration(most)*time.Millisecond)
}

// epochState is one epoch as an oracle's /v1/epochs lists it.
type epochState struct {
	Epoch       uint64 `json:"epoch"`
	Root        string `json:"root"`
	Distributed bool   `json:"distributed"`
	Error       string `json:"error"`
}

// tallyEpochs reads the manifests of newly closed epochs from the leader,
// whether each was paid, and which oracles computed the same manifest.
func (n *network) tallyEpochs(ctx context.Context, spoofers map[wire.PublicKey]bool) error {
	t := &n.tally
	if t.epochs == nil {
		t.epochs = map[uint64]EpochSummary{}
	}
	var epochs []epochState
	if err := getJSON(ctx, n.api.BaseURL+"/v1/epochs?limit=50", &epochs); err != nil {
		return fmt.Errorf("epochs: %w", err)
	}
	// The other oracles' roots; one that does not answer agrees with
	// nothing this time.
	roots := map[string]int{}
	for _, o := range n.oracles[1:] {
		var theirs []epochState
		if err := getJSON(ctx, o.api.BaseURL+"/v1/epochs?limit=50", &theirs); err != nil {
			continue
		}
		for _, e := range theirs {
			if e.Root != "" {
				roots[fmt.Sprintf("%d/%s", e.Epoch, e.Root)]++
			}
		}
	}
	for _, e := range epochs {
		if e.Root == "" {
			continue // no manifest yet
		}
		es, ok := t.epochs[e.Epoch]
		if !ok {
			resp, err := n.api.Epoch(ctx, e.Epoch, wire.PublicKey{})
			if err != nil || resp.Manifest == nil {
				continue // the manifest may be a moment behind the epoch record
			}
			es = EpochSummary{Epoch: e.Epoch, Total: resp.Manifest.Total}
			for _, line := range resp.Manifest.Hotspots {
				if spoofers[line.Hotspot] {
					es.Spoofers += line.Amount
					es.SpooferWithheld += line.Withheld
				} else {
					es.Honest += line.Amount
					es.HonestWithheld += line.Withheld
				}
			}
		}
		es.Distributed, es.Error = e.Distributed, e.Error
		es.Agree = 1 + roots[fmt.Sprintf("%d/%s", e.Epoch, e.Root)]
		t.epochs[e.Epoch] = es
	}
	return nil
}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// WriteText prints the summary for a person watching the devnet.
func (s *Summary) WriteText(w io.Writer) {
	fmt.Fprintf(w, "\n[%v] %d hotspots + %d spoofers: %d beacons sent, %d witness reports, %d/%d sensor uplinks heard/sent\n",
		s.Elapsed, s.Hotspots, s.Spoofers, s.BeaconsSent, s.WitnessesReported, s.UplinksHeard, s.UplinksSent)
	fmt.Fprintf(w, "  verified PoCs: %d, %d valid; invalid beacons: %s\n", s.PoCs, s.ValidPoCs, reasons(s.InvalidBeacons))
	fmt.Fprintf(w, "  witnesses: %d valid; invalid: %s\n", s.ValidWitnesses, reasons(s.InvalidWitnesses))
	var paid uint64
	for _, e := range s.Epochs {
		var state string
		switch {
		case !s.Chain:
			state = "manifest written, no chain"
		case e.Total == 0 && e.Distributed:
			state = "nothing to pay"
		case e.Distributed && s.Oracles > 1:
			state = fmt.Sprintf("co-signed %d-of-%d, paid on chain", s.Threshold, s.Oracles)
			paid += e.Total
		case e.Distributed:
			state = "paid on chain"
			paid += e.Total
		case e.Error != "" && s.Oracles > 1:
			state = fmt.Sprintf("NOT PAID: could not be co-signed %d-of-%d (%s); the leader retries", s.Threshold, s.Oracles, e.Error)
		case e.Error != "":
			state = fmt.Sprintf("NOT PAID: %s; retrying", e.Error)
		case s.Oracles > 1:
			state = "awaiting co-signatures"
		default:
			state = "being paid"
		}
		if s.Oracles > 1 {
			state += fmt.Sprintf("; %d of %d oracles computed this manifest", e.Agree, s.Oracles)
		}
		fmt.Fprintf(w, "  epoch %d: %d to owners (%s): honest %d, spoofers %d; withheld by fraud detection: spoofers %d, honest %d\n",
			e.Epoch, e.Total, state, e.Honest, e.Spoofers, e.SpooferWithheld, e.HonestWithheld)
	}
	if s.Oracles > 1 {
		fmt.Fprintf(w, "  %d oracles stamped the same beacon up to %v apart\n", s.Oracles, s.StampSkew)
	}
	if s.Chain {
		check := "matches the paid manifests"
		if s.OnChain != paid {
			check = fmt.Sprintf("paid manifests say %d", paid)
		}
		fmt.Fprintf(w, "  on chain: owners hold %d reward base units (%s)\n", s.OnChain, check)
	}
}

func reasons(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

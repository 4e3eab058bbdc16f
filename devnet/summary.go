package devnet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/oracle/solana"
	"github.com/hexfield/hexfield/wire"
)

// Summary is what the devnet has done since it started, as the oracles'
// APIs, the hotspots' metrics and the chain report it. Amounts are in base
// units of the reward token (Decimals of them make one token); the text
// shows tokens.
type Summary struct {
	Elapsed  time.Duration `json:"elapsed_ns"`
	Hotspots int           `json:"hotspots"`
	Spoofers int           `json:"spoofers"`

	BeaconsSent       uint64 `json:"beacons_sent"`       // beacons transmitted (TX_ACK OK) by all hotspots
	WitnessesReported uint64 `json:"witnesses_reported"` // witness reports written by all hotspots
	UplinksSent       uint64 `json:"uplinks_sent"`       // LoRaWAN uplinks sent by the sensors
	UplinksHeard      uint64 `json:"uplinks_heard"`      // copies of those uplinks the hotspots received

	PoCs             int            `json:"pocs"`       // beacons verified by the first oracle
	ValidPoCs        int            `json:"valid_pocs"` // of which valid
	InvalidBeacons   map[string]int `json:"invalid_beacons"`
	ValidWitnesses   int            `json:"valid_witnesses"`
	InvalidWitnesses map[string]int `json:"invalid_witnesses"`

	Epochs    []EpochSummary `json:"epochs"`   // closed epochs, oldest first
	Owners    []OwnerSummary `json:"owners"`   // one per hotspot, in placement order
	Orgs      []OrgSummary   `json:"orgs"`     // the IoT customers
	OnChain   uint64         `json:"on_chain"` // the owners' reward token balances added up
	Chain     bool           `json:"chain"`    // a chain is running
	Oracles   int            `json:"oracles"`  // oracles running
	Threshold int            `json:"threshold"`
	Decimals  int            `json:"decimals"` // of the reward token
	// StampSkew is the largest difference between two oracles' received_ms
	// of the same beacon report (each oracle stamps what it receives). The
	// agreement settles one stamp per report before anyone signs.
	StampSkew time.Duration `json:"stamp_skew_ns"`
	// Onboarded is when every hotspot was registered, and FirstPayout
	// when the first epoch with rewards was paid on chain (the block
	// time of its last payout batch), both from the start.
	Onboarded   time.Duration `json:"onboarded_ns"`
	FirstPayout time.Duration `json:"first_payout_ns,omitempty"`
}

// EpochSummary is one epoch's manifest, split between honest hotspots and
// spoofers, and how the oracles settled and paid it.
type EpochSummary struct {
	Epoch           uint64 `json:"epoch"`
	Root            string `json:"root,omitempty"` // the manifest's Merkle root, base58 as on chain
	Total           uint64 `json:"total"`          // paid to owners (with what earlier epochs owed them)
	Honest          uint64 `json:"honest"`         // earned by honest hotspots
	Spoofers        uint64 `json:"spoofers"`       // earned by spoofers
	SpooferWithheld uint64 `json:"spoofer_withheld"`
	HonestWithheld  uint64 `json:"honest_withheld"`
	Distributed     bool   `json:"distributed"` // paid on chain (co-signed by Threshold oracles)
	// Agree is how many oracles hold a manifest with this root (the
	// input they settled, computed each from its own store).
	Agree int `json:"agree"`
	// Leader is the oracle that led the agreement (its name), and
	// Reconciled the reports it and its peers fetched from or sent to
	// each other to settle the input.
	Leader     string `json:"leader,omitempty"`
	Reconciled int    `json:"reconciled"`
	// Cosigners are the oracles whose signatures authorised phase 1 (the
	// quorum whose markers the transaction created); Phase1 that
	// transaction, Phase2 the payout batches' transactions.
	Cosigners []string `json:"cosigners,omitempty"`
	Phase1    string   `json:"phase1,omitempty"`
	Phase2    []string `json:"phase2,omitempty"`
	// AuthorizedAfter is the time from the epoch's close (its end plus
	// the grace period) to the block time of phase 1 (whole seconds).
	AuthorizedAfter time.Duration `json:"authorized_after_ns,omitempty"`
	// Disputed: the oracles did not agree on the epoch within a pass of
	// leader slots; later epochs go on, and it is tried again after each.
	Disputed bool `json:"disputed,omitempty"`
	// Error is why the epoch is not paid yet; it is retried.
	Error string `json:"error,omitempty"`
	// DC is what the manifest charged customers' routes, RouteDC by
	// route id, and Copies the packet copies it charged.
	DC      uint64            `json:"dc"`
	RouteDC map[string]uint64 `json:"route_dc,omitempty"`
	Copies  uint32            `json:"copies"`

	// PaidAt is the block time of the last payout batch.
	PaidAt time.Time `json:"paid_at,omitzero"`

	payouts     map[wire.PublicKey]uint64 // the manifest's payouts by owner
	payoutN     int                       // lines in the manifest's payouts
	routeCopies map[string]uint32         // the manifest's charged copies by route
}

// OwnerSummary is one hotspot's owner: what the manifests paid it and its
// balance read back from the chain.
type OwnerSummary struct {
	Hotspot string         `json:"hotspot"`
	Owner   wire.PublicKey `json:"owner"`
	Spoofer bool           `json:"spoofer,omitempty"`
	Paid    uint64         `json:"paid"`     // the payouts of the paid manifests added up
	OnChain uint64         `json:"on_chain"` // its reward token balance
}

// OrgSummary is one IoT customer: its organization, what its sensors did,
// what its LNS received (the LNS's own record), and its data credits.
type OrgSummary struct {
	Org   string         `json:"org"`
	Payer wire.PublicKey `json:"payer"`
	Route string         `json:"route"`
	LNS   string         `json:"lns"`
	// DevAddrs are the organization's DevAddr blocks, START-END in hex.
	DevAddrs []string `json:"devaddrs"`
	OTAA     int      `json:"otaa_sensors"`
	ABP      int      `json:"abp_sensors"`
	// Delivered is the data uplinks the LNS accepted (MIC and counter
	// checked, copies from several hotspots counted once), Joins the
	// joins it accepted.
	Delivered uint64 `json:"delivered"`
	Joins     uint64 `json:"joins"`
	// SensorJoins, Sent, Confirmed, Acked and Downlinks are the sensors'
	// side: joins completed, uplinks sent, of which confirmed, confirmed
	// uplinks the LNS acknowledged, and application downlinks received.
	SensorJoins uint64 `json:"sensor_joins"`
	Sent        uint64 `json:"sent"`
	Confirmed   uint64 `json:"confirmed"`
	Acked       uint64 `json:"acked"`
	Downlinks   uint64 `json:"downlinks"`
	// Purchase is the DC purchase's transaction on the local chain (empty
	// without a chain: the DC were granted); DCBought what it credited.
	Purchase string `json:"purchase,omitempty"`
	DCBought uint64 `json:"dc_bought"`
	// DCCharged is what the epochs' manifests charged the route, and
	// Copies the copies charged; DCBalance and DCDebited are the payer's
	// ledger on the first oracle (bought = balance + debited).
	DCCharged uint64 `json:"dc_charged"`
	Copies    uint64 `json:"copies_charged"`
	DCBalance uint64 `json:"dc_balance"`
	DCDebited uint64 `json:"dc_debited"`
}

// tally accumulates what the oracle verified, across summaries.
type tally struct {
	pocs, validPoCs, validWitnesses  int
	invalidBeacons, invalidWitnesses map[string]int
	epochs                           map[uint64]EpochSummary
	skew                             time.Duration // largest StampSkew so far
}

func (n *network) summary(ctx context.Context) (*Summary, error) {
	s := &Summary{Elapsed: time.Since(n.start).Round(time.Second), Chain: n.chain != nil,
		Oracles: len(n.oracles), Threshold: n.oracles[0].cfg.Threshold, Decimals: n.oracles[0].cfg.SolanaDecimals}
	spoofers := map[wire.PublicKey]bool{}
	for _, nd := range n.nodes {
		if nd.spoofer {
			s.Spoofers++
			spoofers[nd.pub()] = true
		} else {
			s.Hotspots++
		}
		s.BeaconsSent += counter(nd, "hexfield_hotspot_beacons_total", "result", "sent")
		s.WitnessesReported += counter(nd, "hexfield_hotspot_witnesses_total", "result", "reported")
		s.UplinksHeard += counter(nd, "hexfield_hotspot_frames_total", "class", "uplink")
	}
	for _, sn := range n.customer.sensors {
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
	s.Onboarded = n.onboarded.Sub(n.start).Round(100 * time.Millisecond)
	for _, e := range s.Epochs {
		if e.Distributed && e.Total > 0 && !e.PaidAt.IsZero() {
			s.FirstPayout = max(e.PaidAt.Sub(n.start), 0).Round(time.Second)
			break
		}
	}
	owners := make([]wire.PublicKey, len(n.nodes))
	for i, nd := range n.nodes {
		owners[i] = nd.ownerPub()
		os := OwnerSummary{Hotspot: nd.name, Owner: owners[i], Spoofer: nd.spoofer}
		for _, e := range s.Epochs {
			if e.Distributed {
				os.Paid += e.payouts[owners[i]]
			}
		}
		s.Owners = append(s.Owners, os)
	}
	org, err := n.orgSummary(ctx, s.Epochs)
	if err != nil {
		return nil, err
	}
	s.Orgs = []OrgSummary{org}
	if n.chain != nil {
		bal, err := n.chain.balances(ctx, owners)
		if err != nil {
			return nil, fmt.Errorf("balances: %w", err)
		}
		for i, b := range bal {
			s.Owners[i].OnChain = b
			s.OnChain += b
		}
	}
	return s, nil
}

// orgSummary reads the customer's LNS, sensors, manifests and ledger.
func (n *network) orgSummary(ctx context.Context, epochs []EpochSummary) (OrgSummary, error) {
	c := n.customer
	st := c.lns.Stats()
	o := OrgSummary{Org: orgID, Payer: wire.PublicKeyOf(c.owner), Route: routeID, LNS: c.lns.Addr().String(),
		Delivered: st.Uplinks, Joins: st.Joins, Purchase: c.purchase, DCBought: c.bought}
	for _, r := range c.devAddrs {
		o.DevAddrs = append(o.DevAddrs, fmt.Sprintf("%08x-%08x", uint32(r.Start), uint32(r.End)))
	}
	for _, ds := range c.sensors {
		if ds.otaa {
			o.OTAA++
		} else {
			o.ABP++
		}
		o.SensorJoins += ds.joins.Load()
		o.Sent += ds.sent.Load()
		o.Confirmed += ds.confirmed.Load()
		o.Acked += ds.acked.Load()
		o.Downlinks += ds.downlinks.Load()
	}
	for _, e := range epochs {
		o.DCCharged += e.RouteDC[routeID]
		o.Copies += uint64(e.routeCopies[routeID])
	}
	bal, err := n.api.DCBalance(ctx, o.Payer, 1)
	if err != nil {
		return o, fmt.Errorf("DC balance: %w", err)
	}
	o.DCBalance, o.DCDebited = bal.Balance, bal.Debited
	return o, nil
}

// writeJSON writes the summary to path (through a temporary file, so a
// reader never sees half of it).
func (s *Summary) writeJSON(path string) error {
	raw, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	return nil
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
	Leader      string `json:"leader"`
	Reconciled  int    `json:"reconciled"`
	Disputed    bool   `json:"disputed"`
}

// tallyEpochs reads every oracle's epochs: the agreed manifests (from an
// oracle that holds one), who led, how many reports were reconciled,
// whether each was paid and, from the chain, who co-signed phase 1.
func (n *network) tallyEpochs(ctx context.Context, spoofers map[wire.PublicKey]bool) error {
	t := &n.tally
	if t.epochs == nil {
		t.epochs = map[uint64]EpochSummary{}
	}
	// Each oracle's records by epoch; one that does not answer says
	// nothing this time (the first must answer).
	states := make([]map[uint64]epochState, len(n.oracles))
	var order []uint64
	for i, o := range n.oracles {
		var list []epochState
		if err := getJSON(ctx, o.api.BaseURL+"/v1/epochs?limit=50", &list); err != nil {
			if i == 0 {
				return fmt.Errorf("epochs: %w", err)
			}
			continue
		}
		states[i] = map[uint64]epochState{}
		for _, e := range list {
			if _, seen := t.epochs[e.Epoch]; !seen && !slices.Contains(order, e.Epoch) {
				order = append(order, e.Epoch)
			}
			states[i][e.Epoch] = e
		}
	}
	for ep := range t.epochs {
		if !slices.Contains(order, ep) {
			order = append(order, ep)
		}
	}
	for _, ep := range order {
		es := t.epochs[ep]
		es.Epoch = ep
		n.epochFromOracles(ctx, &es, states, spoofers)
		if n.chain != nil && es.Total > 0 && (len(es.Cosigners) == 0 || (es.Distributed && len(es.Phase2) == 0)) {
			n.epochFromChain(ctx, &es)
		}
		t.epochs[ep] = es
	}
	return nil
}

// epochFromOracles fills in what the oracles' records say about es.
func (n *network) epochFromOracles(ctx context.Context, es *EpochSummary, states []map[uint64]epochState, spoofers map[wire.PublicKey]bool) {
	root := es.Root
	if root == "" {
		// The manifest the most oracles hold (ties: the first oracle's).
		count := map[string]int{}
		for _, st := range states {
			if e, ok := st[es.Epoch]; ok && e.Root != "" {
				count[e.Root]++
				if count[e.Root] > count[root] {
					root = e.Root
				}
			}
		}
	}
	es.Agree, es.Disputed, es.Error = 0, false, ""
	leaderKey := ""
	for _, st := range states {
		e, ok := st[es.Epoch]
		if !ok {
			continue
		}
		if root != "" && e.Root == root {
			es.Agree++
			es.Distributed = es.Distributed || e.Distributed
			if e.Leader != "" {
				leaderKey = e.Leader
			}
			// The leader counts what every peer fetched from it and sent
			// it; a peer only its own part.
			es.Reconciled = max(es.Reconciled, e.Reconciled)
		}
		if root == "" && e.Disputed {
			es.Disputed = true
		}
		if es.Error == "" && e.Error != "" && !e.Distributed {
			es.Error = e.Error
		}
	}
	if leaderKey != "" {
		es.Leader = n.oracleName(leaderKey)
	}
	if root == "" || es.Root == root && es.payouts != nil {
		return
	}
	// A new manifest: read it from an oracle that holds it.
	for i, st := range states {
		if e, ok := st[es.Epoch]; !ok || e.Root != root {
			continue
		}
		resp, err := n.oracles[i].api.Epoch(ctx, es.Epoch, wire.PublicKey{})
		if err != nil || resp.Manifest == nil {
			continue // the manifest may be a moment behind the epoch record
		}
		m := resp.Manifest
		es.Root, es.Total, es.payoutN = root, m.Total, len(m.Payouts)
		es.Honest, es.Spoofers, es.HonestWithheld, es.SpooferWithheld = 0, 0, 0, 0
		for _, line := range m.Hotspots {
			if spoofers[line.Hotspot] {
				es.Spoofers += line.Amount
				es.SpooferWithheld += line.Withheld
			} else {
				es.Honest += line.Amount
				es.HonestWithheld += line.Withheld
			}
		}
		es.DC, es.Copies, es.RouteDC = m.DC, 0, map[string]uint64{}
		for _, ch := range m.Charges {
			es.RouteDC[ch.Route] += ch.DC
			es.Copies += ch.Copies
		}
		es.routeCopies = map[string]uint32{}
		for _, ch := range m.Charges {
			es.routeCopies[ch.Route] += ch.Copies
		}
		es.payouts = make(map[wire.PublicKey]uint64, len(m.Payouts))
		for _, p := range m.Payouts {
			es.payouts[p.Owner] += p.Amount
		}
		return
	}
}

// closeAt is when epoch's inputs close: its end plus the grace period.
func (n *network) closeAt(epoch uint64) time.Time {
	return time.UnixMilli(int64(epoch+1)*n.cfg.EpochLength.Milliseconds() + n.oracles[0].cfg.EpochGrace.Milliseconds())
}

// oracleName names the oracle with the base58 key k.
func (n *network) oracleName(k string) string {
	for _, o := range n.oracles {
		if wire.PublicKeyOf(o.key).String() == k {
			return o.name
		}
	}
	return k
}

// epochFromChain reads who co-signed es's phase 1 (the oracles whose
// markers it created), its transaction and block time, and the payout
// batches' transactions. A lookup that fails is tried at the next summary.
func (n *network) epochFromChain(ctx context.Context, es *EpochSummary) {
	markers := make([][32]byte, len(n.oracles))
	members := make([][32]byte, len(n.oracles))
	for i, o := range n.oracles {
		members[i] = wire.PublicKeyOf(o.key)
		m, err := solana.MarkerAddress(members[i], es.Epoch)
		if err != nil {
			return
		}
		markers[i] = m
	}
	// Markers, not addresses that hold lamports: the leader funds its quorum's marker
	// addresses before proposing, and anyone may fund any.
	exists, err := n.chain.view.Cosigned(ctx, members, es.Epoch)
	if err != nil {
		return
	}
	var cosigners []string
	var first [32]byte
	for i, ok := range exists {
		if ok {
			if len(cosigners) == 0 {
				first = markers[i]
			}
			cosigners = append(cosigners, n.oracles[i].name)
		}
	}
	if len(cosigners) == 0 {
		return
	}
	sig, at, ok := n.chain.memoTransaction(ctx, first, fmt.Sprintf("hexfield rwd e=%d n=", es.Epoch))
	if !ok {
		return
	}
	es.Cosigners, es.Phase1 = cosigners, sig
	es.AuthorizedAfter = max(at.Sub(n.closeAt(es.Epoch)), 0)
	if !es.Distributed {
		return
	}
	batches := (es.payoutN + solana.BatchSize - 1) / solana.BatchSize
	var phase2 []string
	for k := range batches {
		m, err := solana.BatchMarkerAddress(n.chain.accounts.Distributor, es.Epoch, k)
		if err != nil {
			return
		}
		sig, at, ok := n.chain.memoTransaction(ctx, m, fmt.Sprintf("hexfield rwd e=%d b=", es.Epoch))
		if !ok {
			return
		}
		phase2 = append(phase2, sig)
		if at.After(es.PaidAt) {
			es.PaidAt = at
		}
	}
	es.Phase2 = phase2
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
		if e.Distributed {
			paid += e.Total
		}
		fmt.Fprintf(w, "  %s\n", s.epochLine(e))
	}
	if s.Oracles > 1 {
		fmt.Fprintf(w, "  %d oracles stamped the same beacon up to %v apart (each epoch's input settles one stamp per report)\n", s.Oracles, s.StampSkew)
	}
	for _, o := range s.Orgs {
		fmt.Fprintf(w, "  %s\n", o.line(s.Chain))
	}
	if s.Chain {
		fmt.Fprintf(w, "  %s\n", s.chainLine(paid))
	}
	if s.FirstPayout > 0 {
		fmt.Fprintf(w, "  first payout on chain %v after the start (hotspots registered after %v)\n", s.FirstPayout, s.Onboarded)
	}
}

// chainLine compares the owners' balances on chain with what the paid
// manifests paid them.
func (s *Summary) chainLine(paid uint64) string {
	check := "matches the paid manifests"
	if s.OnChain != paid {
		check = fmt.Sprintf("the paid manifests say %s", tokens(paid, s.Decimals))
	}
	return fmt.Sprintf("on chain: owners hold %s tokens (%s)", tokens(s.OnChain, s.Decimals), check)
}

// dcLine is a customer's data credits and joins: what changes seldom.
func (o OrgSummary) dcLine(chain bool) string {
	how := "granted"
	if chain {
		how = "bought on chain"
	}
	return fmt.Sprintf("customer %s: DC %s %d, charged %d for %d copies, balance %d", o.Org, how, o.DCBought, o.DCCharged, o.Copies, o.DCBalance)
}

// line says what a customer's sensors, LNS and data credits did.
func (o OrgSummary) line(chain bool) string {
	how := "granted"
	if chain {
		how = "bought on chain"
	}
	return fmt.Sprintf("customer %s: %d packets delivered to its LNS (%d joins); %d confirmed uplinks, %d ACKed; %d downlinks received; "+
		"DC %s %d, charged %d for %d copies, balance %d", o.Org, o.Delivered, o.Joins, o.Confirmed, o.Acked, o.Downlinks,
		how, o.DCBought, o.DCCharged, o.Copies, o.DCBalance)
}

// epochLine says what became of an epoch: its amounts, who led and
// co-signed it, how many reports were reconciled, and whether it was paid.
func (s *Summary) epochLine(e EpochSummary) string {
	multi := s.Oracles > 1 && s.Chain
	if e.Root == "" {
		switch {
		case e.Disputed:
			return fmt.Sprintf("epoch %d: DISPUTED, not agreed within a pass of leader slots (%s); later epochs go on, and it is tried again after each",
				e.Epoch, e.Error)
		case e.Error != "":
			return fmt.Sprintf("epoch %d: closed, not agreed yet (%s)", e.Epoch, e.Error)
		default:
			return fmt.Sprintf("epoch %d: closed, being agreed", e.Epoch)
		}
	}
	var parts []string
	switch {
	case multi && e.Leader != "" && len(e.Cosigners) > 0 && !slices.Contains(e.Cosigners, e.Leader):
		// A leader always signs its own phase 1: this one's did not land,
		// and a later leader's did (the oracles record whose input they
		// accepted first).
		parts = append(parts, fmt.Sprintf("led by %s, then taken over", e.Leader))
	case multi && e.Leader != "":
		parts = append(parts, "led by "+e.Leader)
	}
	switch {
	case !s.Chain:
		parts = append(parts, "manifest written, no chain")
	case e.Total == 0 && e.Distributed:
		parts = append(parts, "nothing to pay")
	case e.Distributed && multi && len(e.Cosigners) > 0:
		parts = append(parts, fmt.Sprintf("co-signed by %s (%d-of-%d), paid on chain", strings.Join(e.Cosigners, " and "), s.Threshold, s.Oracles))
	case e.Distributed && multi:
		parts = append(parts, fmt.Sprintf("co-signed %d-of-%d, paid on chain", s.Threshold, s.Oracles))
	case e.Distributed:
		parts = append(parts, "paid on chain")
	case len(e.Cosigners) > 0:
		parts = append(parts, fmt.Sprintf("co-signed by %s (%d-of-%d), being paid", strings.Join(e.Cosigners, " and "), s.Threshold, s.Oracles))
	case e.Error != "" && multi:
		parts = append(parts, fmt.Sprintf("NOT PAID yet: %s; the next leader takes over", e.Error))
	case e.Error != "":
		parts = append(parts, fmt.Sprintf("NOT PAID: %s; retrying", e.Error))
	case multi:
		parts = append(parts, "awaiting co-signatures")
	default:
		parts = append(parts, "being paid")
	}
	if e.AuthorizedAfter > 0 {
		parts = append(parts, fmt.Sprintf("authorised %v after the close", e.AuthorizedAfter))
	}
	if multi {
		parts = append(parts, fmt.Sprintf("%d reports reconciled", e.Reconciled))
	}
	if s.Oracles > 1 {
		parts = append(parts, fmt.Sprintf("%d of %d oracles hold this manifest", e.Agree, s.Oracles))
	}
	return fmt.Sprintf("epoch %d: %s tokens to owners (%s): earned by honest %s, spoofers %s; withheld by fraud detection: spoofers %s, honest %s",
		e.Epoch, tokens(e.Total, s.Decimals), strings.Join(parts, "; "), tokens(e.Honest, s.Decimals), tokens(e.Spoofers, s.Decimals),
		tokens(e.SpooferWithheld, s.Decimals), tokens(e.HonestWithheld, s.Decimals))
}

// tokens formats base units as tokens, as the CLI shows them.
func tokens(v uint64, decimals int) string { return solana.FormatAmount(v, decimals) }

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

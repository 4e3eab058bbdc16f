package devnet

import (
	"context"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hexfield/hexfield/wire"
)

// cliOracleURL is the oracle the hexfield CLI talks to when no --oracle
// is given; the devnet's first oracle listens there by default.
const cliOracleURL = "http://127.0.0.1:8080"

// banner prints, once the devnet runs, what a person needs to look at it:
// the map, the addresses on chain, and hexfield commands that work
// against this devnet as printed.
func (n *network) banner() {
	w, cfg := n.out, n.cfg
	c := n.customer
	otaa := 0
	for _, s := range c.sensors {
		if s.otaa {
			otaa++
		}
	}
	fmt.Fprintf(w, "devnet: %d hotspots (%d spoofing their location) over %.4f,%.4f; customer %q with %d OTAA and %d ABP sensors, LNS at %s\n",
		len(n.nodes), cfg.Spoofers, cfg.Lat, cfg.Lng, orgID, otaa, len(c.sensors)-otaa, c.lns.Addr())
	epochMs := cfg.EpochLength.Milliseconds()
	first := uint64(n.onboarded.UnixMilli()/epochMs + 1)
	fmt.Fprintf(w, "devnet: beacons every %v, epochs of %v; proofs count from epoch %d (starts %s): the registry is snapshotted at each epoch's start\n",
		cfg.BeaconInterval, cfg.EpochLength, first, time.UnixMilli(int64(first)*epochMs).Format("15:04:05"))
	base := n.api.BaseURL
	fmt.Fprintf(w, "devnet: coverage map and oracle API: %s\n", base)
	oracleFlag := ""
	if base != cliOracleURL {
		oracleFlag = " --oracle " + base
	}
	payer := wire.PublicKeyOf(c.owner)
	if n.chain != nil {
		fmt.Fprintf(w, "devnet: chain %s; reward mint %s; DC treasury %s (payment mint %s)\n",
			n.chain.url(), wire.PublicKey(n.chain.accounts.Mint), c.dcSetup.treasury, c.dcSetup.mint)
		fmt.Fprintf(w, "devnet: customer bought %d DC on chain (transaction %s)\n", c.bought, c.purchase)
	} else {
		fmt.Fprintf(w, "devnet: no chain: the customer was granted %d DC\n", c.bought)
	}
	fmt.Fprintln(w, "devnet: try, while it runs:")
	cmds := []string{
		"hexfield hotspot --owner " + n.nodes[0].ownerPub().String() + oracleFlag,
		"hexfield org show --id " + orgID + oracleFlag,
		"hexfield routes list --org " + orgID + oracleFlag,
		"hexfield dc balance --wallet " + payer.String() + oracleFlag,
		"hexfield rewards manifest " + fmt.Sprint(first) + oracleFlag,
	}
	if n.chain != nil {
		cmds = append(cmds, fmt.Sprintf("hexfield rewards balance %s --mint %s --rpc %s",
			n.nodes[0].ownerPub(), wire.PublicKey(n.chain.accounts.Mint), n.chain.url()))
	}
	for _, c := range cmds {
		fmt.Fprintln(w, "  "+c)
	}
	stop := "Ctrl-C stops with a final summary"
	if cfg.Epochs > 0 {
		stop = "stops after " + plural(cfg.Epochs, "paid epoch") + " (or Ctrl-C)"
	}
	fmt.Fprintf(w, "devnet: %s; below, what changed every %v\n", stop, cfg.SummaryEvery)
}

// report reads a summary every SummaryEvery and prints what changed. When
// interrupt ends, until returns true, or Epochs epochs are paid, it prints
// the final summary and stops the network (stop) while returning nil.
func (n *network) report(ctx, interrupt context.Context, until func(*Summary) bool, stop context.CancelFunc) error {
	p := &printer{w: n.out}
	tick := time.NewTicker(n.cfg.SummaryEvery)
	defer tick.Stop()
	final := func(why string) error {
		defer stop()
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		s, err := n.summary(fctx)
		if err != nil {
			fmt.Fprintf(n.out, "devnet: %s; no final summary: %v\n", why, err)
			return nil
		}
		fmt.Fprintf(n.out, "\ndevnet: %s. Final summary:", why)
		s.WriteText(n.out)
		n.writeOut(s)
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil // a node failed: its error stops the devnet
		case <-interrupt.Done():
			return final("interrupted")
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
		p.print(s)
		n.writeOut(s)
		switch {
		case until != nil && until(s):
			return final("done")
		case n.cfg.Epochs > 0 && s.PaidEpochs() >= n.cfg.Epochs:
			return final(plural(s.PaidEpochs(), "epoch") + " paid")
		}
	}
}

// writeOut writes summary.json when Out is set.
func (n *network) writeOut(s *Summary) {
	if n.cfg.Out == "" {
		return
	}
	if err := s.writeJSON(filepath.Join(n.cfg.Out, "summary.json")); err != nil {
		fmt.Fprintf(n.out, "devnet: %v\n", err)
	}
}

// PaidEpochs counts the epochs with rewards that were paid: on chain, or
// without a chain, whose manifests have earnings.
func (s *Summary) PaidEpochs() int {
	k := 0
	for _, e := range s.Epochs {
		if (s.Chain && e.Distributed && e.Total > 0) || (!s.Chain && e.Honest+e.Spoofers > 0) {
			k++
		}
	}
	return k
}

// printer prints what changed since its last line: the activity since
// the previous summary it printed, and each state line (an epoch, the
// customer's data credits, the chain's balances) only when it differs
// from what it printed under the same key.
type printer struct {
	w    io.Writer
	last map[string]string
	prev *Summary
}

func (p *printer) print(s *Summary) {
	if p.last == nil {
		p.last = map[string]string{}
	}
	var lines []string
	if a := activity(p.prev, s); a != "" {
		lines = append(lines, a)
	}
	for _, kv := range s.stateLines() {
		if p.last[kv[0]] != kv[1] {
			p.last[kv[0]] = kv[1]
			lines = append(lines, kv[1])
		}
	}
	p.prev = s
	for _, l := range lines {
		fmt.Fprintf(p.w, "[%v] %s\n", s.Elapsed, l)
	}
}

// stateLines are the lines that say where things stand, each under a
// key: every epoch, the customers' data credits, the stamp skew, the
// balances on chain.
func (s *Summary) stateLines() [][2]string {
	var out [][2]string
	var paid uint64
	for _, e := range s.Epochs {
		if e.Distributed {
			paid += e.Total
		}
		out = append(out, [2]string{fmt.Sprintf("epoch %d", e.Epoch), s.epochLine(e)})
	}
	for _, o := range s.Orgs {
		out = append(out, [2]string{"org " + o.Org, o.dcLine(s.Chain)})
	}
	if s.Chain {
		out = append(out, [2]string{"chain", s.chainLine(paid)})
	}
	if s.FirstPayout > 0 {
		out = append(out, [2]string{"first payout", fmt.Sprintf("first payout on chain %v after the start (hotspots registered after %v)", s.FirstPayout, s.Onboarded)})
	}
	return out
}

// activity says what happened between two summaries (prev nil: since the
// start); empty when nothing did.
func activity(prev, s *Summary) string {
	if prev == nil {
		prev = &Summary{}
	}
	var parts []string
	add := func(n int64, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("+%d %s", n, what))
		}
	}
	add(int64(s.BeaconsSent)-int64(prev.BeaconsSent), "beacons")
	add(int64(s.WitnessesReported)-int64(prev.WitnessesReported), "witness reports")
	add(int64(s.ValidPoCs-prev.ValidPoCs), "valid PoCs")
	if inv := reasonDelta(prev.InvalidBeacons, s.InvalidBeacons); inv != "" {
		parts = append(parts, "invalid beacons "+inv)
	}
	add(int64(s.ValidWitnesses-prev.ValidWitnesses), "valid witnesses")
	if inv := reasonDelta(prev.InvalidWitnesses, s.InvalidWitnesses); inv != "" {
		parts = append(parts, "invalid witnesses "+inv)
	}
	add(int64(s.UplinksSent)-int64(prev.UplinksSent), "sensor uplinks")
	var delivered, joins, acked, down int64
	for _, o := range s.Orgs {
		delivered, joins, acked, down = delivered+int64(o.Delivered), joins+int64(o.Joins), acked+int64(o.Acked), down+int64(o.Downlinks)
	}
	for _, o := range prev.Orgs {
		delivered, joins, acked, down = delivered-int64(o.Delivered), joins-int64(o.Joins), acked-int64(o.Acked), down-int64(o.Downlinks)
	}
	add(delivered, "packets delivered to the LNS")
	add(joins, "joins")
	add(acked, "ACKs")
	add(down, "downlinks")
	return strings.Join(parts, ", ")
}

// reasonDelta lists the reasons whose counts grew, "(reason +k, …)".
func reasonDelta(prev, cur map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(cur)) {
		if d := cur[k] - prev[k]; d > 0 {
			parts = append(parts, fmt.Sprintf("%s +%d", k, d))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// plural is "1 epoch", "2 epochs".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

package oracle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/oracle/solana"
	"github.com/hexfield/hexfield/verifier"
	"github.com/hexfield/hexfield/wire"
)

// Rewarder receives each epoch's payout. oracle/solana's Distributor
// implements it; Distribute must be idempotent and resumable, because after
// a crash the oracle hands the same payout over again.
type Rewarder interface {
	Distribute(ctx context.Context, p solana.EpochPayout) error
}

// EpochStep is where an epoch is in its state machine. Each step is
// persisted before the next begins, so a restarted oracle resumes at the
// first step not yet recorded and never recomputes a written manifest.
type EpochStep uint8

// Epoch steps, in order.
const (
	// StepClosed: the input window is closed; the input digest (sorted
	// report ids, entropy, parameter hash) is recorded.
	StepClosed EpochStep = 1
	// StepComputed: the canonical manifest is written.
	StepComputed EpochStep = 2
	// StepDistributed: the payout was handed to the rewarder (or there is
	// none).
	StepDistributed EpochStep = 3
	// StepDone: the scheduler moved on to the next epoch.
	StepDone EpochStep = 4
)

func (s EpochStep) String() string {
	switch s {
	case 0:
		return "open"
	case StepClosed:
		return "closed"
	case StepComputed:
		return "computed"
	case StepDistributed:
		return "distributed"
	case StepDone:
		return "done"
	}
	return "step_" + strconv.Itoa(int(s))
}

// MarshalText writes the step's name.
func (s EpochStep) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a step name.
func (s *EpochStep) UnmarshalText(b []byte) error {
	for v := EpochStep(0); v <= StepDone; v++ {
		if v.String() == string(b) {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("unknown epoch step %q", b)
}

// epochRecord is the persisted state of one epoch (prefixEpoch).
type epochRecord struct {
	Epoch       uint64    `json:"epoch"`
	Step        EpochStep `json:"step"`
	ClosedAtMs  int64     `json:"closed_at_ms,omitempty"`
	InputDigest string    `json:"input_digest,omitempty"`
	Beacons     int       `json:"beacons"`
	Witnesses   int       `json:"witnesses"`
	Packets     int       `json:"packets"`
	Hotspots    int       `json:"hotspots"`
	Root        string    `json:"root,omitempty"` // base58, as in the phase-1 memo
	Total       uint64    `json:"total"`
	Payouts     int       `json:"payouts"`
	Distributed bool      `json:"distributed"`
	// RouteDC is the data credits each route's balance was charged for
	// the epoch's delivered packets (applied with the manifest, once).
	RouteDC map[string]uint64 `json:"route_dc,omitempty"`
	Error   string            `json:"error,omitempty"`
	// With peers (consensus.go): where the settled input's range starts,
	// who led the agreement, how many reports were fetched from or sent
	// to peers, and whether the epoch is disputed (not agreed within a
	// pass of leader slots; tried again later).
	InputFromMs int64  `json:"input_from_ms,omitempty"`
	Leader      string `json:"leader,omitempty"`
	Reconciled  int    `json:"reconciled,omitempty"`
	Disputed    bool   `json:"disputed,omitempty"`
}

// settle is how long after an epoch's close the scheduler waits, so that
// reports stamped just before the close are committed.
const settle = 2 * time.Second

// errEpochHook is returned when a test hook stops the scheduler.
var errEpochHook = errors.New("epoch hook stopped the scheduler")

// runEpochs closes epochs in order, forever.
func (o *Oracle) runEpochs(ctx context.Context) error {
	next, ok, err := o.store.getMetaU64(metaEpochNext)
	if err != nil {
		return fmt.Errorf("epochs: %w", err)
	}
	if !ok {
		next = o.cfg.FirstEpoch
		if next == 0 {
			next = o.params.EpochOf(o.now().UnixMilli())
		}
		if err := o.store.setMetaU64(metaEpochNext, next); err != nil {
			return fmt.Errorf("epochs: %w", err)
		}
	}
	o.m.epochState.Set(float64(next))
	for {
		closeAt := time.UnixMilli(o.params.CloseAt(next)).Add(settle)
		if wait := closeAt.Sub(o.now()); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			continue // re-read the clock
		}
		if err := o.advanceEpoch(ctx, next); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, errDisputed) {
				// Later epochs go on; this one is tried again after each
				// later epoch closes (retryDisputed).
				if err := o.store.setMetaU64(metaEpochNext, next+1); err != nil {
					return fmt.Errorf("epochs: %w", err)
				}
				next++
				o.m.epochState.Set(float64(next))
				continue
			}
			if errors.Is(err, errEpochHook) {
				return err
			}
			o.log.Error("epoch", "epoch", next, "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(10 * time.Second):
			}
			continue
		}
		next++
		o.m.epochState.Set(float64(next))
		if o.cons != nil {
			o.cons.forget(next - min(next, keepEpochs))
			select {
			case o.retry <- struct{}{}:
			default:
			}
		}
	}
}

// keepEpochs is how many epochs back consensus state stays in memory and
// disputed epochs are tried again.
const keepEpochs = 16

// retryDisputed tries each recent disputed epoch again, for one pass of
// leader slots, whenever a later epoch has closed.
func (o *Oracle) retryDisputed(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-o.retry:
		}
		// Those authorised meanwhile first, without leading.
		if err := o.catchUpAuthorised(ctx, math.MaxUint64); err != nil && ctx.Err() == nil {
			o.log.Warn("disputed epochs: catching up", "err", err)
		}
		recs, err := o.store.epochs(keepEpochs)
		if err != nil {
			o.log.Warn("disputed epochs", "err", err)
			continue
		}
		slices.Reverse(recs) // oldest first: a later one may build on it
		for _, rec := range recs {
			if !rec.Disputed || rec.Step != StepClosed {
				continue
			}
			o.log.Info("trying a disputed epoch again", "epoch", rec.Epoch)
			if err := o.advanceEpoch(ctx, rec.Epoch); err != nil && ctx.Err() == nil && !errors.Is(err, errDisputed) {
				o.log.Warn("disputed epoch", "epoch", rec.Epoch, "err", err)
			}
		}
	}
}

// advanceEpoch runs epoch n's remaining steps.
func (o *Oracle) advanceEpoch(ctx context.Context, n uint64) error {
	rec, _, err := o.store.epochRecord(n)
	if err != nil {
		return err
	}
	rec.Epoch = n
	hook := func(s EpochStep) error {
		if o.epochHook != nil {
			if err := o.epochHook(n, s); err != nil {
				return fmt.Errorf("%w: %w", errEpochHook, err)
			}
		}
		return nil
	}
	for rec.Step < StepDone {
		switch rec.Step {
		case 0:
			if err := o.closeEpoch(&rec); err != nil {
				return err
			}
		case StepClosed:
			if o.cons != nil {
				if err := o.agreeEpoch(ctx, &rec); err != nil {
					return err
				}
				break
			}
			acc, err := o.accrualFor(ctx, n)
			if err != nil {
				return err
			}
			_, to := o.params.InputWindow(n)
			in, err := o.epochInputWith(n, to, nil, acc)
			if err != nil {
				return err
			}
			if d := hex.EncodeToString(inputDigest(in)); d != rec.InputDigest {
				// Retention dropped inputs between the steps, or the store
				// changed under us: record it, but the manifest is computed
				// from what is stored now.
				o.log.Warn("epoch inputs changed since close", "epoch", n, "closed_digest", rec.InputDigest, "digest", d)
				rec.InputDigest = d
			}
			man, err := verifier.ComputeEpoch(in)
			if err != nil {
				return fmt.Errorf("compute epoch %d: %w", n, err)
			}
			raw := man.Marshal()
			pay := payoutOf(man)
			rec.Step = StepComputed
			rec.Root = wire.PublicKey(pay.Root).String() // base58, as on chain (the phase-1 memo) and in the CLI
			rec.Total = pay.Total
			rec.Payouts = len(pay.Payouts)
			rec.RouteDC = routeCharges(man)
			if err := o.store.putEpochCharged(rec, raw, o.params.EpochEnd(n), man.Parent); err != nil {
				return err
			}
			o.log.Info("epoch manifest written", "epoch", n, "root", rec.Root, "total", rec.Total, "payouts", rec.Payouts)
		case StepComputed:
			raw, found, err := o.store.Manifest(n)
			if err != nil {
				return err
			}
			if !found {
				return fmt.Errorf("epoch %d: manifest missing at step computed: %w", n, errCorrupt)
			}
			man, err := verifier.UnmarshalManifest(raw)
			if err != nil {
				return fmt.Errorf("epoch %d: %w", n, err)
			}
			if o.rewarder != nil && o.cons == nil {
				pay := payoutOf(man)
				if len(pay.Payouts) > 0 {
					if err := o.rewarder.Distribute(ctx, pay); err != nil {
						rec.Error = err.Error()
						o.store.putEpoch(rec, nil)
						return fmt.Errorf("distribute epoch %d: %w", n, err)
					}
				}
				rec.Distributed = true
			}
			rec.Step = StepDistributed
			rec.Error = ""
			if err := o.store.putEpoch(rec, nil); err != nil {
				return err
			}
		case StepDistributed:
			rec.Step = StepDone
			if err := o.store.putEpochDone(rec, n+1); err != nil {
				return err
			}
			o.m.epochsClosed.Inc()
		default:
			return fmt.Errorf("epoch %d: unknown step %d: %w", n, rec.Step, errCorrupt)
		}
		if err := hook(rec.Step); err != nil {
			return err
		}
	}
	return nil
}

// routeCharges returns the data credits each route was charged in a
// manifest (verifier's charging rules), by route id.
func routeCharges(m *verifier.Manifest) map[string]uint64 {
	if len(m.Charges) == 0 {
		return nil
	}
	out := make(map[string]uint64, len(m.Charges))
	for _, c := range m.Charges {
		out[c.Route] += c.DC
	}
	return out
}

// EpochSummary returns the summary of epoch n's manifest that oracles
// compare before co-signing (solana.SummaryFunc).
func (o *Oracle) EpochSummary(_ context.Context, n uint64) (solana.Summary, error) {
	raw, found, err := o.store.Manifest(n)
	if err != nil {
		return solana.Summary{}, fmt.Errorf("epoch %d summary: %w", n, err)
	}
	if !found {
		return solana.Summary{}, fmt.Errorf("epoch %d summary: no manifest yet", n)
	}
	man, err := verifier.UnmarshalManifest(raw)
	if err != nil {
		return solana.Summary{}, fmt.Errorf("epoch %d summary: %w", n, err)
	}
	return payoutOf(man).Summary(), nil
}

// EpochPayouts returns epoch n's payout lines, sorted by owner, from its
// manifest (for CosignServerConfig.Payouts).
func (o *Oracle) EpochPayouts(_ context.Context, n uint64) ([]solana.Payout, error) {
	raw, found, err := o.store.Manifest(n)
	if err != nil {
		return nil, fmt.Errorf("epoch %d payouts: %w", n, err)
	}
	if !found {
		return nil, fmt.Errorf("epoch %d payouts: no manifest yet", n)
	}
	man, err := verifier.UnmarshalManifest(raw)
	if err != nil {
		return nil, fmt.Errorf("epoch %d payouts: %w", n, err)
	}
	return payoutOf(man).Payouts, nil
}

// payoutOf converts a manifest's payouts for the rewarder.
func payoutOf(m *verifier.Manifest) solana.EpochPayout {
	p := solana.EpochPayout{Epoch: m.Epoch, Root: m.Root, Total: m.Total}
	for _, q := range m.Payouts {
		p.Payouts = append(p.Payouts, solana.Payout{Owner: q.Owner, Amount: q.Amount})
	}
	return p
}

// epochInput gathers everything ComputeEpoch needs for epoch n from the
// store: the registry snapshot at the epoch's start and every report in
// the parameters' input window.
func (o *Oracle) epochInput(n uint64) (verifier.EpochInput, error) {
	_, to := o.params.InputWindow(n)
	return o.epochInputWith(n, to, nil, accrualInput{})
}

// accrualInput is what an epoch's payments build on (verifier accrual):
// the parent manifest's epoch and the owners with a reward token account,
// sorted.
type accrualInput struct {
	parent uint64
	funded [][32]byte
}

// errNoParent: an epoch's accrual parent manifest is not here (yet).
var errNoParent = errors.New("no manifest here")

// lastSettled is the epoch whose manifest this oracle wrote last: the
// accrual parent of the next manifest.
func (o *Oracle) lastSettled() (uint64, error) {
	n, _, err := o.store.getMetaU64(metaLastSettled)
	return n, err
}

// parentLedger returns manifest parent's ledger (nil for parent 0).
func (o *Oracle) parentLedger(parent uint64) ([]verifier.OwnerLedger, error) {
	if parent == 0 {
		return nil, nil
	}
	raw, found, err := o.store.Manifest(parent)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("accrual parent %d: %w", parent, errNoParent)
	}
	m, err := verifier.UnmarshalManifest(raw)
	if err != nil {
		return nil, fmt.Errorf("accrual parent %d: %w", parent, err)
	}
	return m.Ledger, nil
}

// accrualFor reads epoch n's accrual inputs: the last settled manifest as
// parent, and which owners that can be paid (the registry's at the epoch's
// start, the parent ledger's, the operations wallet) have a reward token
// account now.
func (o *Oracle) accrualFor(ctx context.Context, n uint64) (accrualInput, error) {
	parent, err := o.lastSettled()
	if err != nil {
		return accrualInput{}, err
	}
	ledger, err := o.parentLedger(parent)
	if err != nil {
		return accrualInput{}, err
	}
	regs, err := o.store.registryAt(o.params.EpochStart(n))
	if err != nil {
		return accrualInput{}, err
	}
	set := map[[32]byte]struct{}{}
	for _, r := range regs {
		set[[32]byte(r.Owner)] = struct{}{}
	}
	for _, l := range ledger {
		set[l.Owner] = struct{}{}
	}
	if !o.params.OpsOwner.IsZero() {
		set[o.params.OpsOwner] = struct{}{}
	}
	owners := make([][32]byte, 0, len(set))
	for k := range set {
		owners = append(owners, k)
	}
	slices.SortFunc(owners, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	if o.funded == nil {
		return accrualInput{parent: parent, funded: owners}, nil
	}
	ok, err := o.funded(ctx, owners)
	if err != nil {
		return accrualInput{}, fmt.Errorf("reward token accounts: %w", err)
	}
	var funded [][32]byte
	for i, k := range owners {
		if ok[i] {
			funded = append(funded, k)
		}
	}
	return accrualInput{parent: parent, funded: funded}, nil
}

// epochInputWith gathers epoch n's input from the store up to histTo and,
// from there on, exactly the reports listed in entries with their settled
// stamps (consensus.go), with the accrual inputs acc.
func (o *Oracle) epochInputWith(n uint64, histTo int64, entries []inputEntry, acc accrualInput) (verifier.EpochInput, error) {
	p := o.params
	in := verifier.EpochInput{Epoch: n, Params: p, Emission: o.cfg.Emission, TokensPerDC: verifier.Ratio{Num: o.cfg.TokensPerDC, Den: 1},
		Parent: acc.parent, Funded: acc.funded, MinPayout: o.cfg.MinPayout}
	ledger, err := o.parentLedger(acc.parent)
	if err != nil {
		return in, err
	}
	in.Ledger = ledger
	regs, err := o.store.registryAt(p.EpochStart(n))
	if err != nil {
		return in, err
	}
	for _, r := range regs {
		in.Registry = append(in.Registry, toVerifierHotspot(r))
	}
	if in.Routes, in.Balances, err = o.store.chargingSnapshot(p.EpochStart(n)); err != nil {
		return in, err
	}
	from, _ := p.InputWindow(n)
	add := func(r StoredReport) error {
		switch r.Kind {
		case wire.Kind_KIND_BEACON_REPORT:
			if b, ok := decodeBody(r, new(wire.BeaconReport)); ok {
				in.Beacons = append(in.Beacons, verifier.Beacon{ID: r.ID, ReceivedMs: r.ReceivedMs, Report: b})
			}
		case wire.Kind_KIND_WITNESS_REPORT:
			if w, ok := decodeBody(r, new(wire.WitnessReport)); ok {
				in.Witnesses = append(in.Witnesses, verifier.Witness{ID: r.ID, ReceivedMs: r.ReceivedMs, Report: w})
			}
		case wire.Kind_KIND_PACKET_REPORT:
			if pk, ok := decodeBody(r, new(wire.PacketReport)); ok {
				in.Packets = append(in.Packets, verifier.Packet{ID: r.ID, ReceivedMs: r.ReceivedMs, Report: pk})
			}
		}
		return nil
	}
	for _, k := range reportKinds {
		if err := o.store.ScanReports(k, from, histTo, add); err != nil {
			return in, err
		}
	}
	for _, e := range entries {
		r, found, err := o.store.Report(e.ID)
		if err != nil {
			return in, err
		}
		if !found {
			return in, fmt.Errorf("report %x of the input: %w", e.ID[:8], errNotStored)
		}
		r.ReceivedMs = e.Ms
		if err := add(r); err != nil {
			return in, err
		}
	}
	return in, nil
}

// manifestFrom computes epoch n's manifest from the store's settled history
// before from and the reconciled entries after it, and returns its bytes
// and summary.
func (o *Oracle) manifestFrom(n uint64, from int64, entries []inputEntry, acc accrualInput) ([]byte, solana.Summary, error) {
	in, err := o.epochInputWith(n, from, entries, acc)
	if err != nil {
		return nil, solana.Summary{}, err
	}
	man, err := verifier.ComputeEpoch(in)
	if err != nil {
		return nil, solana.Summary{}, fmt.Errorf("compute epoch %d: %w", n, err)
	}
	return man.Marshal(), payoutOf(man).Summary(), nil
}

// agreeEpoch settles a closed epoch with the peers (consensus.go) and
// writes the agreed manifest and input: the step to StepComputed. A
// disputed epoch is recorded as such and returns errDisputed.
func (o *Oracle) agreeEpoch(ctx context.Context, rec *epochRecord) error {
	a, err := o.cons.agree(ctx, rec.Epoch)
	if err != nil {
		if errors.Is(err, errDisputed) {
			return o.writeUnsettled(rec, func() error {
				rec.Disputed, rec.Error = true, err.Error()
				if perr := o.store.putEpoch(*rec, nil); perr != nil {
					return perr
				}
				o.log.Warn("epoch disputed; later epochs go on", "epoch", rec.Epoch, "err", err)
				return err
			})
		}
		return err
	}
	return o.applyAgreement(rec, a)
}

// writeUnsettled runs write for closed epoch rec unless the epoch was
// settled meanwhile, in which case rec becomes the stored record. Epochs
// are settled by the scheduler, by retryDisputed and by catchUpAuthorised:
// the first to write wins.
func (o *Oracle) writeUnsettled(rec *epochRecord, write func() error) error {
	o.settleMu.Lock()
	defer o.settleMu.Unlock()
	cur, _, err := o.store.epochRecord(rec.Epoch)
	if err != nil {
		return err
	}
	if cur.Step >= StepComputed {
		n := rec.Epoch
		*rec = cur
		rec.Epoch = n
		return nil
	}
	return write()
}

// applyAgreement writes agreement a of a closed epoch: its settled input,
// manifest and charges, the step to StepComputed (unless another writer
// settled it first: writeUnsettled).
func (o *Oracle) applyAgreement(rec *epochRecord, a agreement) error {
	return o.writeUnsettled(rec, func() error { return o.putAgreement(rec, a) })
}

func (o *Oracle) putAgreement(rec *epochRecord, a agreement) error {
	n := rec.Epoch
	if err := o.store.settleInput(n, a.ref.GetFromMs(), a.ref.GetToMs(), a.entries, a.acc.funded); err != nil {
		return err
	}
	man, err := verifier.UnmarshalManifest(a.manifest)
	if err != nil {
		return fmt.Errorf("epoch %d: %w", n, err)
	}
	pay := payoutOf(man)
	rec.Step = StepComputed
	rec.Root = wire.PublicKey(pay.Root).String()
	rec.Total = pay.Total
	rec.Payouts = len(pay.Payouts)
	rec.RouteDC = routeCharges(man)
	rec.InputFromMs = a.ref.GetFromMs()
	rec.Leader = a.leader.String()
	rec.Reconciled = a.fetched + a.pushed
	rec.Disputed, rec.Error = false, ""
	rec.Distributed = a.led
	if err := o.store.putEpochCharged(*rec, a.manifest, o.params.EpochEnd(n), man.Parent); err != nil {
		return err
	}
	o.log.Info("epoch agreed", "epoch", n, "leader", rec.Leader, "root", rec.Root, "total", rec.Total,
		"payouts", rec.Payouts, "reports", len(a.entries), "reconciled", rec.Reconciled)
	return nil
}

// closeEpoch records epoch rec.Epoch closed, with what its input holds.
func (o *Oracle) closeEpoch(rec *epochRecord) error {
	in, err := o.epochInput(rec.Epoch)
	if err != nil {
		return err
	}
	rec.Step = StepClosed
	rec.ClosedAtMs = o.now().UnixMilli()
	rec.InputDigest = hex.EncodeToString(inputDigest(in))
	rec.Beacons, rec.Witnesses, rec.Packets, rec.Hotspots = len(in.Beacons), len(in.Witnesses), len(in.Packets), len(in.Registry)
	return o.store.putEpoch(*rec, nil)
}

// catchUpAuthorised settles, oldest first, every recent epoch before n that
// this oracle closed without settling (it was disputed here, or this
// oracle was down) and that the chain shows authorised, from a peer's
// input. It runs before this oracle leads or answers a leader whose
// accrual parent it lacks, so that it never builds on a stale parent. It
// stops at the first authorised epoch it cannot reproduce: a later one may
// build on it.
func (o *Oracle) catchUpAuthorised(ctx context.Context, n uint64) error {
	select {
	case o.catchUp <- struct{}{}:
		defer func() { <-o.catchUp }()
	case <-ctx.Done():
		return ctx.Err()
	}
	recs, err := o.store.epochs(keepEpochs)
	if err != nil {
		return err
	}
	slices.Reverse(recs)
	// An oracle that first started just past an epoch's end by its clock
	// holds no record of that epoch, which its peers may have settled (it
	// may even have co-signed it) and the next one builds on: record it
	// closed, to be caught up like the others.
	if len(recs) > 0 && recs[0].Epoch > 1 && recs[0].Epoch-1 < n {
		m := recs[0].Epoch - 1
		_, found, err := o.store.epochRecord(m)
		if err != nil {
			return err
		}
		if !found {
			if _, ok, err := o.cons.chain.Authorization(ctx, m); err == nil && ok {
				rec := epochRecord{Epoch: m}
				if err := o.closeEpoch(&rec); err != nil {
					return err
				}
				recs = append([]epochRecord{rec}, recs...)
			}
		}
	}
	for _, rec := range recs {
		if rec.Epoch >= n || rec.Step != StepClosed {
			continue
		}
		a, ok, err := o.cons.settled(ctx, rec.Epoch)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := o.applyAgreement(&rec, a); err != nil {
			return err
		}
		if err := o.advanceEpoch(ctx, rec.Epoch); err != nil { // distributed, done
			return err
		}
	}
	return nil
}

// decodeBody decodes a stored report's body (ingest already verified it).
func decodeBody[T proto.Message](r StoredReport, msg T) (T, bool) {
	var env wire.Envelope
	if proto.Unmarshal(r.Envelope, &env) != nil || proto.Unmarshal(env.GetBody(), msg) != nil {
		return msg, false
	}
	return msg, true
}

func toVerifierHotspot(r hotspotRecord) verifier.Hotspot {
	h := verifier.Hotspot{Cell: r.Cell, GainDdBi: r.GainDdBi, ElevationM: r.ElevationM, Region: r.Region, DataOnly: r.DataOnly}
	copy(h.Key[:], r.Key)
	copy(h.Owner[:], r.Owner)
	return h
}

// inputDigest is SHA-256 over the epoch's sorted report ids, the registry
// snapshot and the parameter hash: what oracles compare before co-signing.
func inputDigest(in verifier.EpochInput) []byte {
	var ids [][32]byte
	for _, b := range in.Beacons {
		ids = append(ids, b.ID)
	}
	for _, w := range in.Witnesses {
		ids = append(ids, w.ID)
	}
	for _, p := range in.Packets {
		ids = append(ids, p.ID)
	}
	sort.Slice(ids, func(i, j int) bool { return bytes.Compare(ids[i][:], ids[j][:]) < 0 })
	h := sha256.New()
	for _, id := range ids {
		h.Write(id[:])
	}
	for _, r := range in.Registry {
		h.Write(encodeJSON(r))
	}
	ph := in.Params.Hash()
	h.Write(ph[:])
	return h.Sum(nil)
}

// EpochResponse is GET /v1/epochs/{n}.
type EpochResponse struct {
	Epoch    uint64             `json:"epoch"`
	State    epochRecord        `json:"state"`
	Manifest *verifier.Manifest `json:"manifest,omitempty"`
	// ManifestBytes is the canonical encoding (base64), which hashes and
	// signatures are over.
	ManifestBytes []byte          `json:"manifest_bytes,omitempty"`
	Proof         *verifier.Proof `json:"proof,omitempty"`
}

func (o *Oracle) handleEpochs(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt64(r, "limit", 50)
	if err != nil {
		return err
	}
	if limit < 1 || limit > 1000 {
		return apiErr(400, "bad_request", "limit must be 1..1000")
	}
	recs, err := o.store.epochs(int(limit))
	if err != nil {
		return err
	}
	if recs == nil {
		recs = []epochRecord{}
	}
	writeJSON(w, 200, recs)
	return nil
}

func (o *Oracle) handleEpoch(w http.ResponseWriter, r *http.Request) error {
	n, err := strconv.ParseUint(r.PathValue("n"), 10, 64)
	if err != nil {
		return apiErr(400, "bad_request", "epoch %q is not a number", r.PathValue("n"))
	}
	rec, found, err := o.store.epochRecord(n)
	if err != nil {
		return err
	}
	if !found {
		return apiErr(404, "not_found", "epoch %d is not closed yet", n)
	}
	resp := EpochResponse{Epoch: n, State: rec}
	raw, found, err := o.store.Manifest(n)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if !found {
		if q.Get("hotspot") != "" || q.Get("owner") != "" {
			return apiErr(404, "not_found", "epoch %d has no manifest yet (step %s)", n, rec.Step)
		}
		writeJSON(w, 200, resp)
		return nil
	}
	man, err := verifier.UnmarshalManifest(raw)
	if err != nil {
		return err
	}
	resp.Manifest, resp.ManifestBytes = man, raw
	var owner wire.PublicKey
	switch {
	case q.Get("owner") != "":
		if owner, err = parseAddress(q.Get("owner"), "owner"); err != nil {
			return err
		}
	case q.Get("hotspot") != "":
		hs, err := parseAddress(q.Get("hotspot"), "hotspot")
		if err != nil {
			return err
		}
		line, ok := manifestLine(man, hs)
		if !ok {
			return apiErr(404, "not_found", "hotspot %s has no line in epoch %d", hs, n)
		}
		owner = line.Owner
	}
	if !owner.IsZero() {
		pr, err := man.Proof(owner)
		if err != nil {
			if errors.Is(err, verifier.ErrNoPayout) {
				return apiErr(404, "not_found", "owner %s has no payout in epoch %d", owner, n)
			}
			return err
		}
		resp.Proof = &pr
	}
	writeJSON(w, 200, resp)
	return nil
}

// rewardsOf returns the hotspot's lines in the newest manifests, at most
// limit epochs back.
func (o *Oracle) rewardsOf(hs wire.PublicKey, limit int) ([]EpochReward, error) {
	recs, err := o.store.epochs(limit)
	if err != nil {
		return nil, err
	}
	out := []EpochReward{}
	for _, rec := range recs {
		if rec.Step < StepComputed {
			continue
		}
		raw, found, err := o.store.Manifest(rec.Epoch)
		if err != nil || !found {
			return out, err
		}
		man, err := verifier.UnmarshalManifest(raw)
		if err != nil {
			return out, err
		}
		if line, ok := manifestLine(man, hs); ok {
			out = append(out, EpochReward{Epoch: rec.Epoch, Amount: line.Amount, Withheld: line.Withheld})
		}
	}
	return out, nil
}

// manifestLine finds a hotspot's line in a manifest.
func manifestLine(m *verifier.Manifest, hs wire.PublicKey) (verifier.HotspotReward, bool) {
	i, ok := sort.Find(len(m.Hotspots), func(i int) int { return bytes.Compare(hs[:], m.Hotspots[i].Hotspot[:]) })
	if !ok {
		return verifier.HotspotReward{}, false
	}
	return m.Hotspots[i], true
}

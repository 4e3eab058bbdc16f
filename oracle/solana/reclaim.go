package solana

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
)

// DefaultHorizon is the default number of epochs behind the newest authorised epoch within
// which an epoch may still be authorised and its markers are kept. Older markers may be
// closed (Reclaim) and older epochs are refused by co-signers (CheckAuthorizable).
const DefaultHorizon = 16

// markersPerReclaim is how many TransferWithSeed fit one transaction (≈ 100 bytes each
// beside two signatures).
const markersPerReclaim = 8

// historyPages bounds the nonce account's history read for the newest authorised epoch
// (pages of 1 000 signatures).
const historyPages = 2

// ErrHistoryUnclear: the chain's recent history does not show which epoch was authorised
// last, so the horizon cannot be applied; co-signers refuse and Reclaim closes nothing.
var ErrHistoryUnclear = errors.New("newest authorised epoch not found in the nonce account's recent history")

// NewestAuthorized returns the newest epoch whose phase 1 landed on the deployment's
// durable nonce: every such transaction writes the nonce account, so its history lists
// them. A candidate is taken from its memo ("hexfield rwd e=<epoch> …") and accepted only
// if the transaction succeeded and carries the signatures of at least M multisig members
// (as read from the multisig account), so nobody else can raise it. ok is false when the
// deployment has no nonce account or its whole history shows no phase 1. When the history
// is too long to read to the last phase 1 (more than 2 000 other transactions since), it
// returns ErrHistoryUnclear rather than a guess.
func (c *Chain) NewestAuthorized(ctx context.Context, a Accounts) (epoch uint64, ok bool, err error) {
	if c == nil {
		return 0, false, errors.New("newest authorised epoch: no chain")
	}
	if a.Nonce == ([32]byte{}) {
		return 0, false, nil
	}
	ms, err := c.rpc.GetAccountInfoWithOpts(ctx, sol.PublicKey(a.Multisig), &rpc.GetAccountInfoOpts{Encoding: sol.EncodingBase64, Commitment: rpc.CommitmentFinalized})
	if errors.Is(err, rpc.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("newest authorised epoch: multisig: %w", err)
	}
	data := ms.Value.Data.GetBinary()
	if len(data) != multisigSize || data[2] != 1 {
		return 0, false, errors.New("newest authorised epoch: multisig account is not an initialized SPL multisig")
	}
	m, n := int(data[0]), int(min(data[1], maxSigners))
	members := map[sol.PublicKey]bool{}
	for i := range n {
		members[sol.PublicKeyFromBytes(data[3+32*i:35+32*i])] = true
	}
	type cand struct {
		epoch uint64
		sig   sol.Signature
	}
	var cands []cand
	var before sol.Signature
	complete := false
	for range historyPages {
		limit := 1000
		sigs, err := c.rpc.GetSignaturesForAddressWithOpts(ctx, sol.PublicKey(a.Nonce), &rpc.GetSignaturesForAddressOpts{Limit: &limit, Before: before, Commitment: rpc.CommitmentFinalized})
		if err != nil {
			return 0, false, fmt.Errorf("newest authorised epoch: %w", err)
		}
		for _, s := range sigs {
			if e, isP1 := phase1MemoEpoch(s.Memo); isP1 && s.Err == nil {
				cands = append(cands, cand{e, s.Signature})
			}
		}
		if len(sigs) < limit {
			complete = true
			break
		}
		before = sigs[len(sigs)-1].Signature
		if len(cands) > 0 {
			break // the newest phase 1 is among the newest transactions read
		}
	}
	slices.SortFunc(cands, func(x, y cand) int {
		switch {
		case x.epoch > y.epoch:
			return -1
		case x.epoch < y.epoch:
			return 1
		}
		return 0
	})
	for i, k := range cands {
		if i == 8 {
			break // bounded work; fall through to ErrHistoryUnclear
		}
		signed, err := memberSignatures(ctx, c.rpc, k.sig, members)
		if err != nil {
			return 0, false, fmt.Errorf("newest authorised epoch: %w", err)
		}
		if signed >= m {
			return k.epoch, true, nil
		}
	}
	if complete && len(cands) == 0 {
		return 0, false, nil
	}
	return 0, false, ErrHistoryUnclear
}

// memberSignatures counts the multisig members among the signers of a transaction that
// landed without error.
func memberSignatures(ctx context.Context, c *rpc.Client, sig sol.Signature, members map[sol.PublicKey]bool) (int, error) {
	v := uint64(0)
	r, err := c.GetTransaction(ctx, sig, &rpc.GetTransactionOpts{Encoding: sol.EncodingBase64, MaxSupportedTransactionVersion: &v, Commitment: rpc.CommitmentFinalized})
	if errors.Is(err, rpc.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("get transaction %s: %w", sig, err)
	}
	if r == nil || r.Transaction == nil || r.Meta == nil || r.Meta.Err != nil {
		return 0, nil
	}
	tx, err := r.Transaction.GetTransaction()
	if err != nil {
		return 0, fmt.Errorf("decode transaction %s: %w", sig, err)
	}
	count := 0
	for i, k := range tx.Message.AccountKeys {
		if i >= int(tx.Message.Header.NumRequiredSignatures) {
			break
		}
		if members[k] {
			count++
		}
	}
	return count, nil
}

// phase1MemoEpoch parses the epoch of a phase-1 memo as getSignaturesForAddress reports it
// ("[len] hexfield rwd e=<epoch> n=…"); phase-2 memos ("… e=<epoch> b=<k>") are not.
func phase1MemoEpoch(memo *string) (uint64, bool) {
	if memo == nil {
		return 0, false
	}
	i := strings.Index(*memo, "hexfield rwd e=")
	if i < 0 {
		return 0, false
	}
	var e, count uint64
	if _, err := fmt.Sscanf((*memo)[i:], "hexfield rwd e=%d n=%d", &e, &count); err != nil {
		return 0, false
	}
	return e, true
}

// reclaimable clips [from, to] to the epochs beyond the horizon (older
// than the newest authorised epoch by more than it); ok is false when none
// is, and at most limit epochs are taken at once.
func (d *Distributor) reclaimable(ctx context.Context, from, to, limit uint64) (uint64, bool, error) {
	newest, ok, err := d.chain().NewestAuthorized(ctx, d.accounts)
	if err != nil {
		return 0, false, fmt.Errorf("reclaim: %w", err)
	}
	if !ok || newest <= d.horizon() {
		return 0, false, nil
	}
	to = min(to, newest-d.horizon()-1)
	if from > to {
		return 0, false, nil
	}
	if to-from >= limit {
		return 0, false, fmt.Errorf("reclaim: range of %d epochs (at most %d at once)", to-from+1, limit)
	}
	return to, true, nil
}

// Reclaimed is what a reclaim returned to its recipient.
type Reclaimed struct {
	// Markers closed and their epochs.
	Markers int
	Epochs  []uint64
	// Tables deactivated (to be closed after the cooldown) and closed.
	Deactivated, Closed int
	// Lamports returned.
	Lamports uint64
}

// horizon is the Distributor's configured horizon.
func (d *Distributor) horizon() uint64 {
	if d.cfg.Horizon == 0 {
		return DefaultHorizon
	}
	return d.cfg.Horizon
}

// Reclaim closes oracle's epoch markers of epochs from..to (inclusive) that are more than
// the horizon (Config.Horizon) behind the newest authorised epoch, returning their rent to
// the payer, which funded them and pays the fees. Each oracle reclaims its own markers:
// a marker is a loader-v3 Buffer whose authority is the oracle, which signs its Close; a
// marker address that was only funded (System, no data) is emptied with System
// TransferWithSeed (base = oracle, which signs). Epochs within the horizon, and every epoch when the
// newest authorised one cannot be established, are left alone: co-signers refuse exactly
// the epochs whose markers may be missing (CheckAuthorizable), so a closed marker never
// allows a second authorisation. Markers already closed are skipped; it is harmless to
// repeat. Call it between epochs, not while Distribute runs.
func (d *Distributor) Reclaim(ctx context.Context, oracle ed25519.PrivateKey, from, to uint64) (Reclaimed, error) {
	d.busy.Lock()
	defer d.busy.Unlock()
	var out Reclaimed
	if len(oracle) != ed25519.PrivateKeySize {
		return out, errors.New("reclaim: no oracle key")
	}
	to, ok, err := d.reclaimable(ctx, from, to, 100_000)
	if err != nil || !ok {
		return out, err
	}
	base := sol.PrivateKey(oracle)
	basePub := base.PublicKey()
	payer := d.payer.PublicKey()
	type marker struct {
		epoch    uint64
		addr     sol.PublicKey
		lamports uint64
		made     bool // a marker (else a funded address without one)
	}
	var found []marker
	for e0 := from; e0 <= to; e0 += 100 {
		var ks []sol.PublicKey
		for e := e0; e <= min(to, e0+99); e++ {
			m, err := MarkerAddress(basePub, e)
			if err != nil {
				return out, err
			}
			ks = append(ks, m)
		}
		got, err := d.accountsData(ctx, ks)
		if err != nil {
			return out, fmt.Errorf("reclaim: %w", err)
		}
		for i, a := range got {
			switch {
			case isMarker(a, basePub):
				found = append(found, marker{e0 + uint64(i), ks[i], a.Lamports, true})
			case a != nil && a.Owner == systemProgram && len(a.Data.GetBinary()) == 0 && a.Lamports > 0:
				// Funded for a phase 1 that did not put this oracle in its quorum (or
				// by anyone): only the base's signature gets it back.
				found = append(found, marker{e0 + uint64(i), ks[i], a.Lamports, false})
			}
		}
		if e0 > to-100 {
			break
		}
	}
	groups := map[string][]marker{}
	var names []string
	for i := 0; i < len(found); i += markersPerReclaim {
		g := found[i:min(i+markersPerReclaim, len(found))]
		ks := make([]sol.PublicKey, len(g))
		for j, m := range g {
			ks[j] = m.addr
		}
		n := "reclaim/markers-" + groupName(ks)
		groups[n] = g
		names = append(names, n)
	}
	if len(names) > 0 {
		if err := d.run(ctx, names, func(n string) ([]sol.Instruction, error) {
			var ixs []sol.Instruction
			for _, m := range groups[n] {
				if m.made {
					ixs = append(ixs, closeBuffer(m.addr, payer, basePub))
				} else {
					ixs = append(ixs, transferWithSeed(m.addr, basePub, payer, m.lamports, markerSeed(m.epoch), loaderV3))
				}
			}
			return ixs, nil
		}, payer, nil, nil, d.payer, base); err != nil {
			return out, fmt.Errorf("reclaim markers: %w", err)
		}
	}
	for _, m := range found {
		out.Markers++
		out.Epochs = append(out.Epochs, m.epoch)
		out.Lamports += m.lamports
	}
	if out.Markers > 0 {
		d.log.Info("markers reclaimed", "oracle", basePub.String(), "markers", out.Markers, "lamports", out.Lamports, "through_epoch", to)
	}
	return out, nil
}

// batchMarkersPerReclaim is how many loader Close instructions (≈ 10 bytes and a 32-byte
// marker key each) fit one transaction signed by the distributor.
const batchMarkersPerReclaim = 24

// maxReclaimPayouts bounds the payout count read from a phase-1 memo when reclaiming batch
// markers (anyone can put a memo in a marker address's history; only real markers are
// closed, but the addresses looked at stay bounded).
const maxReclaimPayouts = 10_000_000

// ReclaimBatchMarkers closes the phase-2 batch markers of epochs from..to (inclusive) that
// are more than the horizon behind the newest authorised epoch, returning their rent to the
// distributor, their authority, which signs and pays the fees. An epoch's batch count comes
// from its phase-1 memo in the history of its phase-1 markers; epochs without one are
// skipped. Closing
// a batch marker never lets the batch be paid again: phase 2 pays a batch without a marker
// only out of its own epoch's unused allowance (else ErrAllowanceGone), and an epoch
// authorised before a newer one has no allowance left (co-signers authorise an epoch only
// once the allowance is used up, CheckAuthorizable), nor is it authorised again. Markers
// already closed are skipped. Call it between epochs, not while Distribute runs.
func (d *Distributor) ReclaimBatchMarkers(ctx context.Context, from, to uint64) (Reclaimed, error) {
	d.busy.Lock()
	defer d.busy.Unlock()
	var out Reclaimed
	to, ok, err := d.reclaimable(ctx, from, to, 10_000)
	if err != nil || !ok {
		return out, err
	}
	dist := d.dist.PublicKey()
	var found []sol.PublicKey
	var lamports uint64
	for e := from; e <= to; e++ {
		// The phase-1 markers may be closed already; their history stays.
		seen, err := phase1Landed(ctx, d.rpc, d.cfg.Oracles, e)
		if err != nil {
			return out, fmt.Errorf("reclaim batch markers: %w", err)
		}
		var count uint64
		for _, p := range seen {
			if s, err := ParsePhase1Memo(p.Memo); err == nil && s.Epoch == e {
				count = max(count, min(s.Count, maxReclaimPayouts))
			}
		}
		var ks []sol.PublicKey
		for k := range int((count + BatchSize - 1) / BatchSize) {
			m, err := BatchMarkerAddress(d.accounts.Distributor, e, k)
			if err != nil {
				return out, err
			}
			ks = append(ks, m)
		}
		got, err := d.accountsData(ctx, ks)
		if err != nil {
			return out, fmt.Errorf("reclaim batch markers: %w", err)
		}
		n := 0
		for i, a := range got {
			if isMarker(a, dist) {
				found = append(found, ks[i])
				lamports += a.Lamports
				n++
			}
		}
		if n > 0 {
			out.Epochs = append(out.Epochs, e)
		}
	}
	groups := map[string][]sol.PublicKey{}
	var names []string
	for i := 0; i < len(found); i += batchMarkersPerReclaim {
		g := found[i:min(i+batchMarkersPerReclaim, len(found))]
		n := "reclaim/batch-markers-" + groupName(g)
		groups[n] = g
		names = append(names, n)
	}
	if len(names) > 0 {
		if err := d.run(ctx, names, func(n string) ([]sol.Instruction, error) {
			var ixs []sol.Instruction
			for _, m := range groups[n] {
				ixs = append(ixs, closeBuffer(m, dist, dist))
			}
			return ixs, nil
		}, dist, nil, nil, d.dist); err != nil {
			return out, fmt.Errorf("reclaim batch markers: %w", err)
		}
	}
	out.Markers, out.Lamports = len(found), lamports
	if out.Markers > 0 {
		d.log.Info("batch markers reclaimed", "markers", out.Markers, "lamports", out.Lamports, "through_epoch", to)
	}
	return out, nil
}

// Journal marks of the lookup-table lifecycle.
const (
	tablesUsedMark    = "tables-used.json"    // table address → newest epoch a batch used it
	tablesRetiredMark = "tables-retired.json" // tables taken out of use, to deactivate and close
)

// noteTablesUsed records that epoch's batches use tables (read by ReclaimTables).
func (d *Distributor) noteTablesUsed(epoch uint64, tables map[int]table) error {
	used := map[string]uint64{}
	if b, ok, err := d.journal.marked(tablesUsedMark); err != nil {
		return err
	} else if ok {
		if err := json.Unmarshal(b, &used); err != nil {
			return fmt.Errorf("journal %s: %w", tablesUsedMark, err)
		}
	}
	changed := false
	for _, t := range tables {
		if k := t.addr.String(); used[k] < epoch {
			used[k], changed = epoch, true
		}
	}
	if !changed {
		return nil
	}
	b, err := json.Marshal(used)
	if err != nil {
		return err
	}
	return d.journal.mark(tablesUsedMark, b)
}

// tableDeactivationSlot reads the deactivation slot of a lookup table account
// (math.MaxUint64 while it is active).
func tableDeactivationSlot(data []byte) (uint64, error) {
	if len(data) < 56 || binary.LittleEndian.Uint32(data[0:4]) != 1 {
		return 0, errors.New("not a lookup table")
	}
	return binary.LittleEndian.Uint64(data[4:12]), nil
}

// ReclaimTables retires the distributor's phase-2 lookup tables that no batch of the last
// Horizon authorised epochs used: it takes them out of use (phase 2 no longer picks them),
// deactivates them, and closes those whose deactivation the runtime has cooled down
// (≈ 513 slots; a close is simulated first and only sent when it would succeed), returning
// their rent to the distributor. Run it again later to close what is still cooling down.
// Tables without a usage record (from before it was kept) are left alone. Call it between
// epochs, not while Distribute runs.
func (d *Distributor) ReclaimTables(ctx context.Context) (Reclaimed, error) {
	d.busy.Lock()
	defer d.busy.Unlock()
	var out Reclaimed
	newest, ok, err := (&Chain{rpc: d.rpc}).NewestAuthorized(ctx, d.accounts)
	if err != nil {
		return out, fmt.Errorf("reclaim tables: %w", err)
	}
	used := map[string]uint64{}
	if b, found, err := d.journal.marked(tablesUsedMark); err != nil {
		return out, err
	} else if found {
		if err := json.Unmarshal(b, &used); err != nil {
			return out, fmt.Errorf("journal %s: %w", tablesUsedMark, err)
		}
	}
	var reg, retired tableRegistry
	for _, m := range []struct {
		name string
		into *tableRegistry
	}{{"tables.json", &reg}, {tablesRetiredMark, &retired}} {
		if b, found, err := d.journal.marked(m.name); err != nil {
			return out, err
		} else if found {
			if err := json.Unmarshal(b, m.into); err != nil {
				return out, fmt.Errorf("journal %s: %w", m.name, err)
			}
		}
	}
	// Retire: out of tables.json first, so no later batch is built on a table that goes.
	if ok && newest > d.horizon() {
		var keep []regTable
		for _, t := range reg.Tables {
			if e, isUsed := used[t.Addr]; isUsed && e < newest-d.horizon() {
				retired.Tables = append(retired.Tables, t)
			} else {
				keep = append(keep, t)
			}
		}
		if len(keep) != len(reg.Tables) {
			if err := d.putRegistry(tablesRetiredMark, retired); err != nil {
				return out, err
			}
			reg.Tables = keep
			if err := d.putRegistry("tables.json", reg); err != nil {
				return out, err
			}
		}
	}
	if len(retired.Tables) == 0 {
		return out, nil
	}
	ks := make([]sol.PublicKey, len(retired.Tables))
	for i, t := range retired.Tables {
		k, err := sol.PublicKeyFromBase58(t.Addr)
		if err != nil {
			return out, fmt.Errorf("journal %s: %w", tablesRetiredMark, err)
		}
		ks[i] = k
	}
	got, err := d.accountsData(ctx, ks)
	if err != nil {
		return out, fmt.Errorf("reclaim tables: %w", err)
	}
	auth := d.dist.PublicKey()
	var left []regTable
	for i, a := range got {
		if a == nil {
			continue // closed
		}
		ds, err := tableDeactivationSlot(a.Data.GetBinary())
		if err != nil {
			return out, fmt.Errorf("lookup table %s: %w", ks[i], err)
		}
		left = append(left, retired.Tables[i])
		if ds == math.MaxUint64 {
			name := "table/" + ks[i].String() + "/deactivate"
			if err := d.run(ctx, []string{name}, func(string) ([]sol.Instruction, error) {
				return []sol.Instruction{deactivateLookupTable(ks[i], auth)}, nil
			}, auth, nil, nil, d.dist); err != nil {
				return out, fmt.Errorf("deactivate lookup table %s: %w", ks[i], err)
			}
			out.Deactivated++
			continue
		}
		closeIx := []sol.Instruction{closeLookupTable(ks[i], auth, auth)}
		if _, err := d.simulateUnits(ctx, closeIx, nil); err != nil {
			continue // still cooling down
		}
		name := "table/" + ks[i].String() + "/close"
		if err := d.run(ctx, []string{name}, func(string) ([]sol.Instruction, error) { return closeIx, nil }, auth, nil, nil, d.dist); err != nil {
			return out, fmt.Errorf("close lookup table %s: %w", ks[i], err)
		}
		out.Closed++
		out.Lamports += a.Lamports
		left = left[:len(left)-1]
	}
	if len(left) != len(retired.Tables) {
		retired.Tables = left
		if err := d.putRegistry(tablesRetiredMark, retired); err != nil {
			return out, err
		}
	}
	if out.Deactivated+out.Closed > 0 {
		d.log.Info("lookup tables reclaimed", "deactivated", out.Deactivated, "closed", out.Closed, "lamports", out.Lamports, "newest_authorised", newest)
	}
	return out, nil
}

func (d *Distributor) putRegistry(name string, r tableRegistry) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return d.journal.mark(name, b)
}

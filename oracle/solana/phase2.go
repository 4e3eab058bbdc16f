package solana

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
)

const (
	extendPerTx     = 28  // addresses per ExtendLookupTable transaction
	tableCapacity   = 256 // addresses per lookup table
	batchesPerTable = tableCapacity / BatchSize
	// tableAttempts bounds re-planning the lookup tables when an extend failed (a table
	// shared with a coordinator that created it at the same slot filled up).
	tableAttempts = 4
)

// batchMarkerSeed is the seed of batch k's marker (spec §4, strict per-batch guard).
func batchMarkerSeed(epoch uint64, k int) string { return fmt.Sprintf("rwd:e%d:b%d", epoch, k) }

// BatchMarkerAddress is the marker of phase-2 batch k of epoch:
// createWithSeed(distributor, "rwd:e<epoch>:b<k>", BPFLoaderUpgradeable), made by the
// batch's own transaction (a transfer of markerRent from the distributor, then
// createMarker), so a batch lands at most once whoever sends it, and a batch whose marker
// address was funded by someone else still lands. Seeds are at most 32 bytes: epoch and
// batch numbers together have at most 25 digits.
func BatchMarkerAddress(distributor [32]byte, epoch uint64, k int) ([32]byte, error) {
	a, err := sol.CreateWithSeed(sol.PublicKey(distributor), batchMarkerSeed(epoch, k), loaderV3)
	if err != nil {
		return [32]byte{}, fmt.Errorf("batch marker address: %w", err)
	}
	return a, nil
}

// ErrAllowanceGone: batches of an authorised epoch have no marker, yet the escrow's
// allowance is used up or belongs to another epoch. Either their markers were closed (rent
// reclaimed) after they were paid, or another epoch was authorised before this one was
// paid in full (ApproveChecked overwrote its allowance). Nothing is sent: paying would
// spend another epoch's allowance. Stop and alert.
var ErrAllowanceGone = errors.New("epoch's allowance is gone but batches have no marker")

// phase2Rounds bounds how often phase 2 checks the token accounts again after a batch
// failed because one was closed between the check and the send.
const phase2Rounds = 3

func batchName(epoch uint64, k int) string { return fmt.Sprintf("%s/batch-%05d", epochDir(epoch), k) }

func batchOf(name string) int {
	k, _ := strconv.Atoi(name[strings.LastIndexByte(name, '-')+1:])
	return k
}

// phase2 pays every batch not yet paid: batches whose marker exists are done (paid by this
// coordinator before a crash, or by another), the rest get lookup tables and are sent as
// journaled TransferChecked batches.
//
// The network never creates token accounts (spec §4). The manifest only pays owners whose
// account existed when it was agreed, but an owner may close its account before phase 2,
// and a transfer to a missing account would fail its whole batch, which holds other
// owners; holding the batch back would keep the epoch's allowance unused and so stall
// every later epoch. The rule: a batch is sent whatever happened to its owners' accounts.
// A payout whose token account is missing when the batch is built is not transferred; its
// amount is burned from the escrow with the distributor's allowance (BurnChecked) in the
// same transaction, and the batch memo names it ("hexfield rwd e=<e> b=<k> skip=<i>,<j>",
// positions in the batch). The batch marker keeps the batch exactly once, so exactly one
// version of it lands whoever builds it, the allowance is used up exactly as if every
// payout was transferred, and the manifest the co-signers agreed on is unchanged. The
// owner forfeits that payout (its ledger counts it paid); the memo is the on-chain record
// from which a later manifest could owe it again. A batch that fails at a transfer (an
// account closed after the check) is built again, with the check repeated, up to
// phase2Rounds times.
func (d *Distributor) phase2(ctx context.Context, p EpochPayout) error {
	mint := sol.PublicKey(d.accounts.Mint)
	atas := make([]sol.PublicKey, len(p.Payouts))
	for i, q := range p.Payouts {
		a, err := ata(sol.PublicKey(q.Owner), mint)
		if err != nil {
			return err
		}
		atas[i] = a
	}
	for round := 1; ; round++ {
		err := d.phase2Round(ctx, p, atas)
		if !errors.Is(err, errRetry) || round == phase2Rounds {
			return err
		}
		d.log.Warn("a batch failed at a transfer (token account closed meanwhile): checking the accounts again", "epoch", p.Epoch, "round", round)
	}
}

// phase2Round sends every open batch once; errRetry when one failed at a transfer.
func (d *Distributor) phase2Round(ctx context.Context, p EpochPayout, atas []sol.PublicKey) error {
	// The allowance first, then the markers: markers only appear, so a batch without a
	// marker after the allowance was seen used up (or held by another epoch) was never paid.
	al, err := d.chain().Allowance(ctx, d.accounts)
	if err != nil {
		return err
	}
	open, err := d.openBatches(ctx, p)
	if err != nil {
		return err
	}
	if len(open) == 0 {
		return nil
	}
	if al.Amount == 0 || (al.Known && al.Epoch != p.Epoch) {
		holder := "no epoch"
		if al.Known {
			holder = fmt.Sprintf("epoch %d", al.Epoch)
		}
		return fmt.Errorf("%w: %d batches of epoch %d have no marker, but the allowance (%d) is held by %s", ErrAllowanceGone, len(open), p.Epoch, al.Amount, holder)
	}
	if !al.Known {
		d.log.Warn("allowance holder unknown: paying the batches without markers", "epoch", p.Epoch, "allowance", al.Amount)
	}
	skips, err := d.missingTokenAccounts(ctx, p, atas, open)
	if err != nil {
		return fmt.Errorf("token accounts: %w", err)
	}
	tables, err := d.prepareTables(ctx, p, atas, open)
	if err != nil {
		return fmt.Errorf("lookup tables: %w", err)
	}
	if err := d.noteTablesUsed(p.Epoch, tables); err != nil {
		return fmt.Errorf("lookup tables: %w", err)
	}
	d.log.Info("lookup tables ready", "epoch", p.Epoch, "batches_open", len(open), "batches_skipping", len(skips))
	names := make([]string, len(open))
	for i, k := range open {
		names[i] = batchName(p.Epoch, k)
	}
	ixs := func(name string) ([]sol.Instruction, error) {
		k := batchOf(name)
		return d.batchInstructions(ctx, p, atas, k, skips[k], tables[k])
	}
	tablesOf := func(name string) map[sol.PublicKey]sol.PublicKeySlice {
		t := tables[batchOf(name)]
		return map[sol.PublicKey]sol.PublicKeySlice{t.addr: t.entries}
	}
	// Journal and send in groups so a crash loses little and memory stays bounded.
	group := d.group
	if group == 0 {
		group = 256
	}
	var retry error
	for i := 0; i < len(names); i += group {
		err := d.run(ctx, names[i:min(i+group, len(names))], ixs, d.dist.PublicKey(), tablesOf, d.classifyBatch, d.dist)
		if errors.Is(err, errRetry) {
			retry = err
			continue
		}
		if err != nil {
			return err
		}
	}
	return retry
}

// openBatches returns the batches not yet paid: not done in this journal and without a
// marker on chain. A batch whose marker exists is recorded as done.
func (d *Distributor) openBatches(ctx context.Context, p EpochPayout) ([]int, error) {
	var open []int
	var entries []*entry
	for k := range p.Batches() {
		e, err := d.journal.get(batchName(p.Epoch, k))
		if err != nil {
			return nil, err
		}
		if e == nil || !e.Done {
			open = append(open, k)
			entries = append(entries, e)
		}
	}
	markers := make([]sol.PublicKey, len(open))
	for i, k := range open {
		m, err := BatchMarkerAddress(d.accounts.Distributor, p.Epoch, k)
		if err != nil {
			return nil, err
		}
		markers[i] = m
	}
	got, err := d.accountsData(ctx, markers)
	if err != nil {
		return nil, fmt.Errorf("batch markers: %w", err)
	}
	var paid []*entry
	rest := open[:0:0]
	for i, a := range got {
		if !isMarker(a, sol.PublicKey(d.accounts.Distributor)) {
			rest = append(rest, open[i])
			continue
		}
		e := entries[i]
		if e == nil {
			e = &entry{Name: batchName(p.Epoch, open[i])}
		}
		e.Done, e.Elsewhere, e.Raw = true, true, nil
		paid = append(paid, e)
	}
	if len(paid) > 0 {
		if err := d.journal.put(paid...); err != nil {
			return nil, err
		}
		d.log.Info("batches already paid on chain", "epoch", p.Epoch, "batches", len(paid))
		d.m.elsewhere.Add(float64(len(paid)))
	}
	return rest, nil
}

// missingTokenAccounts returns, for each of batches that holds payouts whose token account
// is missing, their positions in the batch (ascending).
func (d *Distributor) missingTokenAccounts(ctx context.Context, p EpochPayout, atas []sol.PublicKey, batches []int) (map[int][]int, error) {
	var idx []int
	for _, k := range batches {
		for i := k * BatchSize; i < min((k+1)*BatchSize, len(atas)); i++ {
			idx = append(idx, i)
		}
	}
	ks := make([]sol.PublicKey, len(idx))
	for j, i := range idx {
		ks[j] = atas[i]
	}
	got, err := d.accountsData(ctx, ks)
	if err != nil {
		return nil, err
	}
	skips := map[int][]int{}
	var owners []string
	for j, a := range got {
		// A token account of the mint is owned by the Token program and holds 165 bytes.
		if a != nil && a.Owner == tokenProgram && len(a.Data.GetBinary()) == 165 {
			continue
		}
		k := idx[j] / BatchSize
		skips[k] = append(skips[k], idx[j]-k*BatchSize)
		owners = append(owners, sol.PublicKey(p.Payouts[idx[j]].Owner).String())
	}
	if len(owners) > 0 {
		d.log.Warn("owners without a token account: their payouts are burned, not transferred (batch memo skip=)", "epoch", p.Epoch, "owners", len(owners), "first", owners[0], "batches", len(skips))
	}
	return skips, nil
}

// classifyBatch: a batch that fails at its marker (System Custom(0), AccountAlreadyInUse)
// was paid already, by another coordinator or by an earlier signature of ours; one that
// fails at a transfer with InvalidAccountData lost its token account meanwhile and is
// signed again on a later run (nothing landed; the marker keeps it exactly once).
// Anything else is fatal (for example Custom(1), InsufficientFunds: the allowance is gone).
func (d *Distributor) classifyBatch(e *entry, te *TxError) failure {
	i, code, custom := te.CustomCode()
	if !custom {
		var name string
		var ok bool
		if i, name, ok = te.InstructionError(); !ok || name != "InvalidAccountData" {
			return failFatal
		}
	}
	prog, err := instructionProgram(e.Raw, i)
	if err != nil {
		d.log.Warn("classify batch failure", "tx", e.Name, "err", err)
		return failFatal
	}
	switch {
	case custom && code == 0 && prog == systemProgram:
		return failPaid
	case !custom && prog == tokenProgram:
		return failRetry
	}
	return failFatal
}

// instructionProgram returns the program of instruction i of a signed transaction.
func instructionProgram(raw []byte, i int) (sol.PublicKey, error) {
	tx, err := sol.TransactionFromBytes(raw)
	if err != nil {
		return sol.PublicKey{}, fmt.Errorf("decode transaction: %w", err)
	}
	if i < 0 || i >= len(tx.Message.Instructions) {
		return sol.PublicKey{}, fmt.Errorf("no instruction %d", i)
	}
	idx := int(tx.Message.Instructions[i].ProgramIDIndex)
	if idx >= len(tx.Message.AccountKeys) {
		return sol.PublicKey{}, fmt.Errorf("instruction %d: program index %d out of range", i, idx)
	}
	return tx.Message.AccountKeys[idx], nil
}

// batchBody is batch k's marker creation (with seed), transfers and memo; atas are the
// token accounts of every payout of p; skip lists the positions in the batch not
// transferred but burned (missing token accounts).
func batchBody(a Accounts, p EpochPayout, atas []sol.PublicKey, k int, seed string, skip []int) ([]sol.Instruction, error) {
	return batchInstructionsOf(a, p.Epoch, k, p.Batch(k), atas[k*BatchSize:min((k+1)*BatchSize, len(atas))], seed, skip)
}

// batchMemo is the memo of batch k: "hexfield rwd e=<epoch> b=<k>", and " skip=<i>,<j>"
// naming the positions burned instead of transferred.
func batchMemo(epoch uint64, k int, skip []int) string {
	m := fmt.Sprintf("hexfield rwd e=%d b=%d", epoch, k)
	if len(skip) == 0 {
		return m
	}
	ps := make([]string, len(skip))
	for i, j := range skip {
		ps[i] = strconv.Itoa(j)
	}
	return m + " skip=" + strings.Join(ps, ",")
}

// batchInstructionsOf builds the body of batch k of epoch paying payouts to atas: the
// marker (funded by the distributor, then createMarker), a TransferChecked per payout
// except those at the positions skip, one BurnChecked of the skipped amounts, and the memo.
func batchInstructionsOf(a Accounts, epoch uint64, k int, payouts []Payout, atas []sol.PublicKey, seed string, skip []int) ([]sol.Instruction, error) {
	dist := sol.PublicKey(a.Distributor)
	marker, err := sol.CreateWithSeed(dist, seed, loaderV3)
	if err != nil {
		return nil, fmt.Errorf("batch %d marker: %w", k, err)
	}
	body := append([]sol.Instruction{transferLamports(dist, marker, markerRent)}, createMarker(marker, dist, seed)...)
	var burned uint64
	for i, q := range payouts {
		if slices.Contains(skip, i) {
			burned += q.Amount
			continue
		}
		body = append(body, transferChecked(a.Escrow, a.Mint, atas[i], a.Distributor, q.Amount, a.Decimals))
	}
	if burned > 0 {
		body = append(body, burnChecked(a.Escrow, a.Mint, a.Distributor, burned, a.Decimals))
	}
	return append(body, memoInstruction(batchMemo(epoch, k, skip))), nil
}

// batchInstructions: compute-unit limit (simulated × 1.2), the batch marker, the transfers
// (and the burn of skipped payouts) and the batch memo.
func (d *Distributor) batchInstructions(ctx context.Context, p EpochPayout, atas []sol.PublicKey, k int, skip []int, t table) ([]sol.Instruction, error) {
	body, err := batchBody(d.accounts, p, atas, k, batchMarkerSeed(p.Epoch, k), skip)
	if err != nil {
		return nil, err
	}
	// Batches of the same length cost the same: simulate one of each length per run. The
	// simulation creates a marker no batch uses (System costs the same whatever the seed),
	// so it succeeds even when this batch was paid meanwhile.
	n := [2]int{len(p.Batch(k)), len(skip)}
	units, ok := d.units[n]
	if !ok {
		sim, err := batchBody(d.accounts, p, atas, k, fmt.Sprintf("rwd:e%d:sim", p.Epoch), skip)
		if err != nil {
			return nil, err
		}
		units, err = d.simulateUnits(ctx, append([]sol.Instruction{setComputeUnitLimit(1_400_000)}, sim...), map[sol.PublicKey]sol.PublicKeySlice{t.addr: t.entries})
		if err != nil {
			// A batch paid by another coordinator meanwhile no longer fits the allowance
			// left (InsufficientFunds): its marker tells.
			m, merr := BatchMarkerAddress(d.accounts.Distributor, p.Epoch, k)
			if merr != nil {
				return nil, merr
			}
			if got, gerr := d.accountsData(ctx, []sol.PublicKey{m}); gerr == nil && isMarker(got[0], sol.PublicKey(d.accounts.Distributor)) {
				return nil, fmt.Errorf("batch %d: %w", k, errAlreadyDone)
			}
			return nil, fmt.Errorf("batch %d: %w", k, err)
		}
		if d.units == nil {
			d.units = map[[2]int]uint64{}
		}
		d.units[n] = units
	}
	if d.cu != nil {
		d.cu(units)
	}
	return append([]sol.Instruction{setComputeUnitLimit(uint32(units*12/10 + 1))}, body...), nil
}

func (d *Distributor) simulateUnits(ctx context.Context, ixs []sol.Instruction, tables map[sol.PublicKey]sol.PublicKeySlice) (uint64, error) {
	var r *rpc.SimulateTransactionResponse
	for attempt := 0; ; attempt++ {
		s, err := d.sign(ctx, ixs, d.dist.PublicKey(), tables, d.dist)
		if err != nil {
			return 0, err
		}
		r, err = d.rpc.SimulateRawTransactionWithOpts(ctx, s.raw, &rpc.SimulateTransactionOpts{SigVerify: true, Commitment: rpc.CommitmentFinalized})
		if err != nil {
			return 0, fmt.Errorf("simulate: %w", err)
		}
		// The cached blockhash expired meanwhile: simulate again with a fresh one.
		if r.Value != nil && r.Value.Err == "BlockhashNotFound" && attempt < 3 {
			d.forgetBlockhash()
			continue
		}
		break
	}
	if r.Value == nil || r.Value.Err != nil {
		var e any
		if r.Value != nil {
			e = r.Value.Err
		}
		b, _ := json.Marshal(e)
		return 0, fmt.Errorf("simulate: %s", b)
	}
	if r.Value.UnitsConsumed == nil {
		return 200_000, nil
	}
	return *r.Value.UnitsConsumed, nil
}

// table is a lookup table and its addresses.
type table struct {
	addr    sol.PublicKey
	slot    uint64 // recent slot of its creation
	entries sol.PublicKeySlice
}

// tableRegistry is the journal's list of lookup tables this distributor created.
type tableRegistry struct {
	Tables []regTable `json:"tables"`
}

type regTable struct {
	Addr string `json:"addr"`
	Slot uint64 `json:"recent_slot"`
}

// prepareTables returns, for every batch given, a lookup table holding all its token
// accounts: an existing table that already has them, or a table extended for them.
//
// Tables are listed in this coordinator's journal (tables.json) and reused across epochs.
// Two coordinators that create a table at the same slot get the same address (the PDA of
// the shared distributor key and the slot) and share it, since creating an existing table
// succeeds without effect; both may extend it. That is safe because indexes are read back
// from the chain, and a plan that a concurrent extend broke (the table filled up, an
// address is not in it) is made again from the chain's state.
func (d *Distributor) prepareTables(ctx context.Context, p EpochPayout, atas []sol.PublicKey, batches []int) (map[int]table, error) {
	var err error
	for attempt := range tableAttempts {
		var out map[int]table
		if out, err = d.planTables(ctx, atas, batches); !errors.Is(err, errRetry) {
			return out, err
		}
		d.log.Warn("lookup tables: planning again", "epoch", p.Epoch, "attempt", attempt+1, "err", err)
	}
	return nil, err
}

// classifyTable: a lookup-table transaction that failed in the ALT program (an extend of a
// table that another coordinator filled meanwhile) did nothing; the tables are planned
// again.
func classifyTable(e *entry, te *TxError) failure {
	i, _, custom := te.CustomCode()
	if !custom {
		var ok bool
		if i, _, ok = te.InstructionError(); !ok {
			return failFatal
		}
	}
	if prog, err := instructionProgram(e.Raw, i); err == nil && prog == altProgram {
		return failRetry
	}
	return failFatal
}

func (d *Distributor) planTables(ctx context.Context, atas []sol.PublicKey, batches []int) (map[int]table, error) {
	out := map[int]table{}
	if len(batches) == 0 {
		return out, nil
	}
	var reg tableRegistry
	if b, ok, err := d.journal.marked("tables.json"); err != nil {
		return nil, err
	} else if ok {
		if err := json.Unmarshal(b, &reg); err != nil {
			return nil, fmt.Errorf("journal tables.json: %w", err)
		}
	}
	var known, created []*table
	if len(reg.Tables) > 0 {
		ks := make([]sol.PublicKey, len(reg.Tables))
		for i, s := range reg.Tables {
			k, err := sol.PublicKeyFromBase58(s.Addr)
			if err != nil {
				return nil, fmt.Errorf("journal tables.json: %w", err)
			}
			ks[i] = k
		}
		got, err := d.accountsData(ctx, ks)
		if err != nil {
			return nil, err
		}
		for i, a := range got {
			t := &table{addr: ks[i], slot: reg.Tables[i].Slot}
			if a == nil {
				created = append(created, t) // registered but its creation never seen landed
			} else {
				es, err := lookupTableAddresses(a.Data.GetBinary())
				if err != nil {
					return nil, err
				}
				t.entries = es
			}
			known = append(known, t)
		}
	}
	index := map[sol.PublicKey]*table{}
	for _, t := range known {
		for _, a := range t.entries {
			index[a] = t
		}
	}
	// plan: table → addresses to add (after those already there or planned).
	planned := map[*table][]sol.PublicKey{}
	size := func(t *table) int { return len(t.entries) + len(planned[t]) }
	assign := map[int]*table{}
	newTables := len(created)
	for _, k := range batches {
		ks := atas[k*BatchSize : min((k+1)*BatchSize, len(atas))]
		var in *table
		if t := index[ks[0]]; t != nil {
			in = t
			for _, a := range ks {
				if index[a] != t {
					in = nil
					break
				}
			}
		}
		if in == nil {
			// Use the newest table if it has room, otherwise a new one.
			if n := len(known); n > 0 && size(known[n-1])+len(ks) <= tableCapacity {
				in = known[n-1]
			} else {
				in = &table{}
				known = append(known, in)
				created = append(created, in)
			}
			for _, a := range ks {
				if index[a] != in {
					planned[in] = append(planned[in], a)
					index[a] = in
				}
			}
		}
		assign[k] = in
	}
	auth := d.dist.PublicKey()
	var prevSlot uint64
	for i, t := range created {
		if i >= newTables {
			// A new table is the PDA of (authority, recent slot): one slot per table, and
			// not a slot whose table exists already (another coordinator's).
			slot, err := d.freeTableSlot(ctx, auth, prevSlot)
			if err != nil {
				return nil, err
			}
			prevSlot, t.slot = slot, slot
		}
		ix, addr, err := createLookupTable(auth, auth, t.slot)
		if err != nil {
			return nil, err
		}
		if i >= newTables {
			t.addr = addr
			reg.Tables = append(reg.Tables, regTable{Addr: addr.String(), Slot: t.slot})
			b, err := json.Marshal(reg)
			if err != nil {
				return nil, err
			}
			if err := d.journal.mark("tables.json", b); err != nil {
				return nil, err
			}
		}
		n := "table/" + addr.String() + "/create"
		if err := d.run(ctx, []string{n}, func(string) ([]sol.Instruction, error) { return []sol.Instruction{ix}, nil }, auth, nil, nil, d.dist); err != nil {
			return nil, err
		}
		if err := d.step("table created"); err != nil {
			return nil, err
		}
	}
	ext := map[string][]sol.PublicKey{}
	tableOf := map[string]sol.PublicKey{}
	var names []string
	for _, t := range known {
		add := planned[t]
		for i := 0; i < len(add); i += extendPerTx {
			chunk := add[i:min(i+extendPerTx, len(add))]
			n := fmt.Sprintf("table/%s/extend-%s", t.addr, groupName(chunk))
			ext[n] = chunk
			tableOf[n] = t.addr
			names = append(names, n)
		}
	}
	if len(names) > 0 {
		if err := d.run(ctx, names, func(n string) ([]sol.Instruction, error) {
			return []sol.Instruction{extendLookupTable(tableOf[n], auth, auth, ext[n])}, nil
		}, auth, nil, classifyTable, d.dist); err != nil {
			return nil, err
		}
		if err := d.step("tables extended"); err != nil {
			return nil, err
		}
		var last uint64
		for _, n := range names {
			e, err := d.journal.get(n)
			if err != nil {
				return nil, err
			}
			last = max(last, e.Slot)
		}
		if err := d.waitSlotAfter(ctx, last); err != nil {
			return nil, err
		}
	}
	// Read the tables back: indexes come from the chain, not from the plan.
	used := map[sol.PublicKey]*table{}
	for _, t := range assign {
		used[t.addr] = t
	}
	ks := make([]sol.PublicKey, 0, len(used))
	for k := range used {
		ks = append(ks, k)
	}
	got, err := d.accountsData(ctx, ks)
	if err != nil {
		return nil, err
	}
	for i, a := range got {
		if a == nil {
			return nil, fmt.Errorf("lookup table %s missing", ks[i])
		}
		es, err := lookupTableAddresses(a.Data.GetBinary())
		if err != nil {
			return nil, err
		}
		used[ks[i]].entries = es
	}
	for k, t := range assign {
		in := map[sol.PublicKey]bool{}
		for _, a := range t.entries {
			in[a] = true
		}
		for _, a := range atas[k*BatchSize : min((k+1)*BatchSize, len(atas))] {
			if !in[a] {
				return nil, fmt.Errorf("%w: lookup table %s lacks %s of batch %d", errRetry, t.addr, a, k)
			}
		}
		out[k] = *t
	}
	return out, nil
}

// freeTableSlot returns a slot after prev whose lookup-table address (for authority) has no
// account yet.
func (d *Distributor) freeTableSlot(ctx context.Context, authority sol.PublicKey, prev uint64) (uint64, error) {
	for {
		slot, err := d.rpc.GetSlot(ctx, rpc.CommitmentFinalized)
		if err != nil {
			return 0, fmt.Errorf("get slot: %w", err)
		}
		if slot > prev {
			_, addr, err := createLookupTable(authority, authority, slot)
			if err != nil {
				return 0, err
			}
			got, err := d.accountsData(ctx, []sol.PublicKey{addr})
			if err != nil {
				return 0, err
			}
			if got[0] == nil {
				return slot, nil
			}
			prev = slot
		}
		if err := d.waitSlotAfter(ctx, prev); err != nil {
			return 0, err
		}
	}
}

// waitSlotAfter waits until the slot is past s0 (lookup-table entries become usable one
// slot after the extend).
func (d *Distributor) waitSlotAfter(ctx context.Context, s0 uint64) error {
	for {
		s, err := d.rpc.GetSlot(ctx, rpc.CommitmentProcessed)
		if err == nil && s > s0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d.cfg.PollInterval / 4):
		}
	}
}

// groupName names a set of addresses by a hash of its content.
func groupName(ks []sol.PublicKey) string {
	h := sha256.New()
	for _, k := range ks {
		h.Write(k[:])
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

package solana

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
)

const (
	atasPerTx       = 12  // CreateIdempotent per transaction (≈ 74 bytes each, no lookup table)
	extendPerTx     = 28  // addresses per ExtendLookupTable transaction
	tableCapacity   = 256 // addresses per lookup table
	batchesPerTable = tableCapacity / BatchSize
)

// phase2 pays every batch: token accounts first (idempotent), then lookup tables, then the
// journaled TransferChecked batches.
func (d *Distributor) phase2(ctx context.Context, p EpochPayout) error {
	dir := epochDir(p.Epoch)
	mint := sol.PublicKey(d.accounts.Mint)
	atas := make([]sol.PublicKey, len(p.Payouts))
	for i, q := range p.Payouts {
		a, err := ata(sol.PublicKey(q.Owner), mint)
		if err != nil {
			return err
		}
		atas[i] = a
	}
	// Batches already journaled are resumed as they are; only the rest need accounts.
	var todo []int
	for k := range p.Batches() {
		e, err := d.journal.get(fmt.Sprintf("%s/batch-%05d", dir, k))
		if err != nil {
			return err
		}
		if e == nil {
			todo = append(todo, k)
		}
	}
	if err := d.createTokenAccounts(ctx, p, atas, todo); err != nil {
		return fmt.Errorf("token accounts: %w", err)
	}
	tables, err := d.prepareTables(ctx, p, atas, todo)
	if err != nil {
		return fmt.Errorf("lookup tables: %w", err)
	}
	if err := d.noteTablesUsed(p.Epoch, tables); err != nil {
		return fmt.Errorf("lookup tables: %w", err)
	}
	d.log.Info("token accounts and lookup tables ready", "epoch", p.Epoch, "batches_to_build", len(todo))
	names := make([]string, p.Batches())
	for k := range names {
		names[k] = fmt.Sprintf("%s/batch-%05d", dir, k)
	}
	batchOf := func(name string) int {
		k, _ := strconv.Atoi(name[strings.LastIndexByte(name, '-')+1:])
		return k
	}
	ixs := func(name string) ([]sol.Instruction, error) {
		return d.batchInstructions(ctx, p, atas, batchOf(name), tables[batchOf(name)])
	}
	tablesOf := func(name string) map[sol.PublicKey]sol.PublicKeySlice {
		t := tables[batchOf(name)]
		return map[sol.PublicKey]sol.PublicKeySlice{t.addr: t.entries}
	}
	// Journal and send in groups so a crash loses little and memory stays bounded.
	const group = 256
	for i := 0; i < len(names); i += group {
		if err := d.run(ctx, names[i:min(i+group, len(names))], ixs, d.dist.PublicKey(), tablesOf, d.dist); err != nil {
			return err
		}
	}
	return nil
}

// batchInstructions: compute-unit limit (simulated × 1.2), the transfers, and the batch memo.
func (d *Distributor) batchInstructions(ctx context.Context, p EpochPayout, atas []sol.PublicKey, k int, t table) ([]sol.Instruction, error) {
	a := d.accounts
	body := []sol.Instruction{}
	for i, q := range p.Batch(k) {
		body = append(body, transferChecked(a.Escrow, a.Mint, atas[k*BatchSize+i], a.Distributor, q.Amount, a.Decimals))
	}
	body = append(body, memoInstruction(fmt.Sprintf("hexfield rwd e=%d b=%d", p.Epoch, k)))
	// Batches of the same length cost the same: simulate one of each length per run.
	n := len(p.Batch(k))
	units, ok := d.units[n]
	if !ok {
		var err error
		units, err = d.simulateUnits(ctx, append([]sol.Instruction{setComputeUnitLimit(1_400_000)}, body...), map[sol.PublicKey]sol.PublicKeySlice{t.addr: t.entries})
		if err != nil {
			return nil, fmt.Errorf("batch %d: %w", k, err)
		}
		if d.units == nil {
			d.units = map[int]uint64{}
		}
		d.units[n] = units
	}
	if d.cu != nil {
		d.cu(units)
	}
	return append([]sol.Instruction{setComputeUnitLimit(uint32(units*12/10 + 1))}, body...), nil
}

func (d *Distributor) simulateUnits(ctx context.Context, ixs []sol.Instruction, tables map[sol.PublicKey]sol.PublicKeySlice) (uint64, error) {
	s, err := d.sign(ctx, ixs, d.dist.PublicKey(), tables, d.dist)
	if err != nil {
		return 0, err
	}
	r, err := d.rpc.SimulateRawTransactionWithOpts(ctx, s.raw, &rpc.SimulateTransactionOpts{SigVerify: true, Commitment: rpc.CommitmentFinalized})
	if err != nil {
		return 0, fmt.Errorf("simulate: %w", err)
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

// createTokenAccounts creates the missing owners' token accounts of the given batches with
// CreateIdempotent, paid by the distributor (harmless if repeated).
func (d *Distributor) createTokenAccounts(ctx context.Context, p EpochPayout, atas []sol.PublicKey, batches []int) error {
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
		return err
	}
	var missing []int
	for j, a := range got {
		if a == nil {
			missing = append(missing, idx[j])
		}
	}
	if len(missing) == 0 {
		return nil
	}
	mint, payer := sol.PublicKey(d.accounts.Mint), d.dist.PublicKey()
	groups := map[string][]int{}
	var names []string
	for i := 0; i < len(missing); i += atasPerTx {
		g := missing[i:min(i+atasPerTx, len(missing))]
		ks := make([]sol.PublicKey, len(g))
		for j, x := range g {
			ks[j] = atas[x]
		}
		// Named by its content so a resumed run reuses the journal entry of the same group.
		n := epochDir(p.Epoch) + "/ata-" + groupName(ks)
		groups[n] = g
		names = append(names, n)
	}
	return d.run(ctx, names, func(n string) ([]sol.Instruction, error) {
		var ixs []sol.Instruction
		for _, i := range groups[n] {
			ixs = append(ixs, createATAIdempotent(payer, atas[i], sol.PublicKey(p.Payouts[i].Owner), mint))
		}
		return ixs, nil
	}, payer, nil, d.dist)
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

// prepareTables returns, for every batch to build, a lookup table holding all its token
// accounts: an existing table that already has them, or a table extended for them.
func (d *Distributor) prepareTables(ctx context.Context, p EpochPayout, atas []sol.PublicKey, batches []int) (map[int]table, error) {
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
			// A new table is the PDA of (authority, recent slot): one slot per table.
			slot, err := d.rpc.GetSlot(ctx, rpc.CommitmentFinalized)
			if err != nil {
				return nil, fmt.Errorf("get slot: %w", err)
			}
			if slot <= prevSlot {
				if err := d.waitSlotAfter(ctx, prevSlot); err != nil {
					return nil, err
				}
				if slot, err = d.rpc.GetSlot(ctx, rpc.CommitmentFinalized); err != nil {
					return nil, fmt.Errorf("get slot: %w", err)
				}
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
		if err := d.run(ctx, []string{n}, func(string) ([]sol.Instruction, error) { return []sol.Instruction{ix}, nil }, auth, nil, d.dist); err != nil {
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
		}, auth, nil, d.dist); err != nil {
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
		out[k] = *t
	}
	return out, nil
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

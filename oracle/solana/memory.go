package solana

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	sol "github.com/gagliardetto/solana-go"
)

// Memory is an in-memory rewarder for tests of its callers: it validates each payout and
// credits every owner exactly once per epoch, with the Distributor's epoch rules (a settled
// epoch is a no-op; epochs are paid in any order).
type Memory struct {
	mu       sync.Mutex
	balances map[[32]byte]uint64
	settled  map[uint64]bool
	supply   uint64
}

// NewMemory returns an empty in-memory rewarder.
func NewMemory() *Memory {
	return &Memory{balances: map[[32]byte]uint64{}, settled: map[uint64]bool{}}
}

// Distribute credits the payouts of an epoch once.
func (m *Memory) Distribute(_ context.Context, p EpochPayout) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("distribute: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.settled[p.Epoch] {
		return nil
	}
	for _, q := range p.Payouts {
		m.balances[q.Owner] += q.Amount
	}
	m.supply += p.Total
	m.settled[p.Epoch] = true
	return nil
}

// Balance is the owner's credited total.
func (m *Memory) Balance(owner [32]byte) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.balances[owner]
}

// Supply is the total credited.
func (m *Memory) Supply() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.supply
}

// Plan is what a payout costs on chain, computed without a chain.
type Plan struct {
	Epoch   uint64
	Payouts int
	// Batches is ⌈payouts/BatchSize⌉: the phase-2 transactions; Transactions adds phase 1.
	Batches, Transactions int
	// MaxBatchBytes is the largest batch transaction (≤ 1232).
	MaxBatchBytes int
}

// DryRun plans payouts and logs them without touching a chain: every batch transaction is
// built (with a placeholder blockhash and lookup table) and checked against the size limit.
type DryRun struct {
	Accounts Accounts
	Logger   *slog.Logger
}

// Distribute validates and plans p, and logs the plan.
func (d DryRun) Distribute(_ context.Context, p EpochPayout) error {
	plan, err := PlanPayout(d.Accounts, p)
	if err != nil {
		return err
	}
	if d.Logger != nil {
		d.Logger.Info("dry run: epoch not sent", "epoch", p.Epoch, "payouts", plan.Payouts, "transactions", plan.Transactions, "max_batch_bytes", plan.MaxBatchBytes)
	}
	return nil
}

// PlanPayout validates p and builds its batch transactions offline.
func PlanPayout(a Accounts, p EpochPayout) (Plan, error) {
	if err := p.Validate(); err != nil {
		return Plan{}, fmt.Errorf("plan: %w", err)
	}
	plan := Plan{Epoch: p.Epoch, Payouts: len(p.Payouts), Batches: p.Batches(), Transactions: p.Batches()}
	if p.Total > 0 {
		plan.Transactions++
	}
	mint := sol.PublicKey(a.Mint)
	atas := make([]sol.PublicKey, len(p.Payouts))
	for i, q := range p.Payouts {
		dst, err := ata(sol.PublicKey(q.Owner), mint)
		if err != nil {
			return Plan{}, err
		}
		atas[i] = dst
	}
	for k := range p.Batches() {
		body, err := batchBody(a, p, atas, k, batchMarkerSeed(p.Epoch, k), nil)
		if err != nil {
			return Plan{}, fmt.Errorf("plan batch %d: %w", k, err)
		}
		ixs := append([]sol.Instruction{setComputeUnitLimit(1_400_000)}, body...)
		entries := sol.PublicKeySlice(atas[k*BatchSize : min((k+1)*BatchSize, len(atas))])
		n, err := offlineSize(ixs, a.Distributor, entries)
		if err != nil {
			return Plan{}, fmt.Errorf("plan batch %d: %w", k, err)
		}
		if n > maxTxSize {
			if n, err = offlineSize(ixs[1:], a.Distributor, entries); err != nil {
				return Plan{}, fmt.Errorf("plan batch %d: %w", k, err)
			}
		}
		if n > maxTxSize {
			return Plan{}, fmt.Errorf("plan batch %d: %w: %d bytes", k, errTooLarge, n)
		}
		plan.MaxBatchBytes = max(plan.MaxBatchBytes, n)
	}
	return plan, nil
}

func offlineSize(ixs []sol.Instruction, payer sol.PublicKey, entries sol.PublicKeySlice) (int, error) {
	tx, err := sol.NewTransaction(ixs, sol.Hash{}, sol.TransactionPayer(payer),
		sol.TransactionAddressTables(map[sol.PublicKey]sol.PublicKeySlice{{1}: entries}))
	if err != nil {
		return 0, err
	}
	tx.Signatures = make([]sol.Signature, tx.Message.Header.NumRequiredSignatures)
	raw, err := tx.MarshalBinary()
	if err != nil {
		return 0, err
	}
	return len(raw), nil
}

package solana

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
)

// Chain is a read-only view of a deployment for tools (balances, supply, allowance).
type Chain struct {
	rpc     *rpc.Client
	horizon uint64 // 0: DefaultHorizon
}

// NewChain returns a read-only client for rpcURL; CheckAuthorizable refuses epochs more
// than DefaultHorizon behind the newest authorised one.
func NewChain(rpcURL string) *Chain { return &Chain{rpc: rpc.New(rpcURL)} }

// WithHorizon returns a copy of c whose CheckAuthorizable refuses epochs more than h
// epochs behind the newest authorised one (h ≥ 1). It must not exceed the horizon of any
// Reclaim in the deployment (Config.Horizon).
func (c *Chain) WithHorizon(h uint64) *Chain {
	cp := *c
	cp.horizon = max(h, 1)
	return &cp
}

// TokenBalances returns the token balance of each owner's associated token account for mint
// (0 when the account does not exist).
func (c *Chain) TokenBalances(ctx context.Context, mint [32]byte, owners [][32]byte) ([]uint64, error) {
	ks := make([]sol.PublicKey, len(owners))
	for i, o := range owners {
		a, err := AssociatedTokenAddress(o, mint)
		if err != nil {
			return nil, err
		}
		ks[i] = a
	}
	return c.TokenAccountAmounts(ctx, ks)
}

// TokenAccountAmounts reads the amount (offset 64) of token accounts; missing ones are 0.
func (c *Chain) TokenAccountAmounts(ctx context.Context, accounts []sol.PublicKey) ([]uint64, error) {
	out := make([]uint64, 0, len(accounts))
	for i := 0; i < len(accounts); i += 100 {
		r, err := c.rpc.GetMultipleAccountsWithOpts(ctx, accounts[i:min(i+100, len(accounts))], &rpc.GetMultipleAccountsOpts{Encoding: sol.EncodingBase64, Commitment: rpc.CommitmentFinalized})
		if err != nil {
			return nil, fmt.Errorf("get token accounts: %w", err)
		}
		for _, a := range r.Value {
			if a == nil {
				out = append(out, 0)
				continue
			}
			d := a.Data.GetBinary()
			if len(d) < 72 {
				return nil, fmt.Errorf("not a token account (%d bytes)", len(d))
			}
			out = append(out, binary.LittleEndian.Uint64(d[64:72]))
		}
	}
	return out, nil
}

// EscrowState is the escrow's balance and the distributor's remaining allowance.
type EscrowState struct {
	Amount, DelegatedAmount uint64
	Delegate                [32]byte
	Supply                  uint64
}

// Escrow reads the escrow token account and the mint supply.
func (c *Chain) Escrow(ctx context.Context, a Accounts) (EscrowState, error) {
	r, err := c.rpc.GetMultipleAccountsWithOpts(ctx, []sol.PublicKey{a.Escrow, a.Mint}, &rpc.GetMultipleAccountsOpts{Encoding: sol.EncodingBase64, Commitment: rpc.CommitmentFinalized})
	if err != nil {
		return EscrowState{}, fmt.Errorf("get escrow: %w", err)
	}
	if r.Value[0] == nil || r.Value[1] == nil {
		return EscrowState{}, fmt.Errorf("escrow or mint missing (run setup)")
	}
	d, m := r.Value[0].Data.GetBinary(), r.Value[1].Data.GetBinary()
	if len(d) != 165 || len(m) != mintSize {
		return EscrowState{}, fmt.Errorf("escrow or mint malformed")
	}
	var s EscrowState
	s.Amount = binary.LittleEndian.Uint64(d[64:72])
	if binary.LittleEndian.Uint32(d[72:76]) == 1 {
		copy(s.Delegate[:], d[76:108])
	}
	s.DelegatedAmount = binary.LittleEndian.Uint64(d[121:129])
	s.Supply = binary.LittleEndian.Uint64(m[36:44])
	return s, nil
}

// ErrNotAuthorizable: an oracle must not co-sign this epoch now.
var ErrNotAuthorizable = errors.New("epoch cannot be authorised")

// CheckAuthorizable is what a co-signing oracle checks on chain before signing phase 1 of
// epoch (spec §3): its own marker for the epoch must not exist (never co-sign an epoch
// twice), and the distributor's allowance must be used up (every batch of the epoch
// authorised last paid, whichever epoch that was; Approve would overwrite it).
//
// Markers of old epochs are closed to reclaim their rent (Reclaim), so a missing marker
// alone does not prove an epoch unpaid. The epoch must therefore also be within the
// horizon (WithHorizon, default DefaultHorizon) of the newest epoch the chain shows
// authorised (NewestAuthorized): that reference is the same for every oracle and for
// Reclaim, whatever their clocks, and it only grows, so an epoch whose markers may be gone
// is refused by every co-signer. Where the newest authorised epoch cannot be established
// (ErrHistoryUnclear) the oracle refuses too.
func (c *Chain) CheckAuthorizable(ctx context.Context, a Accounts, oracle [32]byte, epoch uint64) error {
	m, err := MarkerAddress(oracle, epoch)
	if err != nil {
		return err
	}
	r, err := c.rpc.GetMultipleAccountsWithOpts(ctx, []sol.PublicKey{m, a.Escrow}, &rpc.GetMultipleAccountsOpts{Encoding: sol.EncodingBase64, Commitment: rpc.CommitmentFinalized})
	if err != nil {
		return fmt.Errorf("check authorizable: %w", err)
	}
	if isMarker(r.Value[0], oracle) {
		return fmt.Errorf("%w: epoch %d already authorised (marker %s exists)", ErrNotAuthorizable, epoch, sol.PublicKey(m))
	}
	newest, ok, err := c.NewestAuthorized(ctx, a)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotAuthorizable, err)
	}
	h := c.horizon
	if h == 0 {
		h = DefaultHorizon
	}
	if ok && newest > h && epoch < newest-h {
		return fmt.Errorf("%w: epoch %d is more than %d epochs behind the newest authorised epoch %d (its markers may be reclaimed)", ErrNotAuthorizable, epoch, h, newest)
	}
	if r.Value[1] != nil {
		if d := r.Value[1].Data.GetBinary(); len(d) == 165 && binary.LittleEndian.Uint64(d[121:129]) > 0 {
			return fmt.Errorf("%w: another authorised epoch is not fully paid (allowance %d left)", ErrNotAuthorizable, binary.LittleEndian.Uint64(d[121:129]))
		}
	}
	return nil
}

// Exists reports, for each account, whether it exists on chain (commitment
// finalized), so that tools can tell a zero balance from a wrong address.
func (c *Chain) Exists(ctx context.Context, accounts [][32]byte) ([]bool, error) {
	out := make([]bool, 0, len(accounts))
	for i := 0; i < len(accounts); i += 100 {
		ks := make([]sol.PublicKey, 0, 100)
		for _, a := range accounts[i:min(i+100, len(accounts))] {
			ks = append(ks, sol.PublicKey(a))
		}
		r, err := c.rpc.GetMultipleAccountsWithOpts(ctx, ks, &rpc.GetMultipleAccountsOpts{Encoding: sol.EncodingBase64, Commitment: rpc.CommitmentFinalized})
		if err != nil {
			return nil, fmt.Errorf("get accounts: %w", err)
		}
		for _, a := range r.Value {
			out = append(out, a != nil)
		}
	}
	return out, nil
}

// EpochPaid reports whether the epoch whose summary is s was paid on chain,
// whoever paid it: a phase-1 transaction carrying exactly this summary's
// memo (epoch, count, total and Merkle root) landed on one of the members'
// markers, and every batch is paid (the escrow's allowance is used up, or
// it holds another epoch's allowance, which needs that). An oracle whose
// own manifest differs from the one paid gets false. It is how an oracle
// that does not pay (a non-leader) learns that its epoch was paid.
func (c *Chain) EpochPaid(ctx context.Context, a Accounts, members [][32]byte, s Summary) (bool, error) {
	seen, err := phase1Landed(ctx, c.rpc, members, s.Epoch)
	if err != nil {
		return false, fmt.Errorf("epoch %d paid: %w", s.Epoch, err)
	}
	memo := Phase1Memo(s)
	if !slices.ContainsFunc(seen, func(p phase1Seen) bool { return p.Memo == memo }) {
		return false, nil
	}
	al, err := c.Allowance(ctx, a)
	if err != nil {
		return false, fmt.Errorf("epoch %d paid: %w", s.Epoch, err)
	}
	// Another epoch authorised after this one was authorised only once this one's
	// allowance was used up; epochs are paid in any order, so the holder is named by
	// the memos rather than by the next epoch's markers.
	return al.Amount == 0 || (al.Known && al.Epoch != s.Epoch), nil
}

// phase1Seen is a successful transaction on a phase-1 marker whose memo is a phase-1 memo
// of the marker's epoch.
type phase1Seen struct {
	Signature string
	Slot      uint64
	Memo      string
}

// phase1Landed lists the successful phase-1 transactions of epoch found on the members'
// markers (a marker exists only once the transaction that created it succeeded, and that
// transaction carries the epoch's memo). See markerPhase1 for what is believed.
func phase1Landed(ctx context.Context, c *rpc.Client, members [][32]byte, epoch uint64) ([]phase1Seen, error) {
	for _, m := range members {
		marker, err := MarkerAddress(m, epoch)
		if err != nil {
			return nil, err
		}
		out, err := markerPhase1(ctx, c, sol.PublicKey(marker), members, epoch)
		if err != nil || len(out) > 0 {
			return out, err // one phase 1 creates the markers of its whole quorum
		}
	}
	return nil, nil
}

// maxMarkerHistory bounds how much of a marker address's history is read.
const maxMarkerHistory = 1024

// markerPhase1 pages through marker's history, newest first, for the
// phase-1 memos of epoch. Anyone can put a transaction with a memo of their
// own on a marker address (write-lock it, send it dust) and bury the real
// phase 1 under many of them, so the history is read up to
// maxMarkerHistory entries, and a memo counts only from a transaction that
// landed and that more than half of the members signed: every quorum is,
// and one dishonest member is not.
func markerPhase1(ctx context.Context, c *rpc.Client, marker sol.PublicKey, members [][32]byte, epoch uint64) ([]phase1Seen, error) {
	prefix := fmt.Sprintf("hexfield rwd e=%d n=", epoch)
	signers := make(map[sol.PublicKey]bool, len(members))
	for _, m := range members {
		signers[sol.PublicKey(m)] = true
	}
	var out []phase1Seen
	var before sol.Signature
	for read := 0; read < maxMarkerHistory; {
		limit := 256
		opts := &rpc.GetSignaturesForAddressOpts{Limit: &limit, Before: before, Commitment: rpc.CommitmentFinalized}
		sigs, err := c.GetSignaturesForAddressWithOpts(ctx, marker, opts)
		if err != nil {
			return nil, fmt.Errorf("marker history: %w", err)
		}
		for _, sg := range sigs {
			if sg.Err != nil {
				continue
			}
			for _, t := range memoTexts(sg.Memo) {
				if !strings.HasPrefix(t, prefix) {
					continue
				}
				n, err := memberSignatures(ctx, c, sg.Signature, signers)
				if err != nil {
					return nil, err
				}
				if n > len(members)/2 {
					out = append(out, phase1Seen{Signature: sg.Signature.String(), Slot: sg.Slot, Memo: t})
				}
			}
		}
		read += len(sigs)
		if len(out) > 0 || len(sigs) < limit {
			return out, nil
		}
		before = sigs[len(sigs)-1].Signature
	}
	return out, nil
}

// memoTexts splits the memo field of getSignaturesForAddress ("[len] text; [len] text",
// one part per memo instruction) into the texts.
func memoTexts(m *string) []string {
	if m == nil {
		return nil
	}
	var out []string
	rest := *m
	for rest != "" {
		if rest[0] != '[' {
			return append(out, rest)
		}
		end := strings.Index(rest, "] ")
		if end < 0 {
			return append(out, rest)
		}
		n, err := strconv.Atoi(rest[1:end])
		text := rest[end+2:]
		if err != nil || n < 0 || n > len(text) {
			return append(out, text)
		}
		out = append(out, text[:n])
		rest = strings.TrimPrefix(text[n:], "; ")
	}
	return out
}

// Allowance is the distributor's remaining allowance on the escrow and the epoch it
// belongs to.
type Allowance struct {
	// Amount is the delegated amount left (0: no epoch is open).
	Amount uint64
	// Epoch holds the allowance when Known; Known is false when Amount is 0 or no reward
	// memo was found in the escrow's recent history.
	Epoch uint64
	Known bool
}

// allowanceHistory bounds the escrow signatures read to name the epoch holding the
// allowance (pages of 1 000, newest first).
const allowanceHistory = 10

// Allowance reads the escrow's remaining allowance and, when it is not used up, finds the
// epoch it belongs to: the newest successful escrow transaction with a reward memo (phase
// 1 "hexfield rwd e=<e> n=…" or a batch "hexfield rwd e=<e> b=<k>") names it, because
// after an epoch's ApproveChecked only that epoch's batches can spend from the escrow.
func (c *Chain) Allowance(ctx context.Context, a Accounts) (Allowance, error) {
	es, err := c.Escrow(ctx, a)
	if err != nil {
		return Allowance{}, err
	}
	al := Allowance{Amount: es.DelegatedAmount}
	if al.Amount == 0 {
		return al, nil
	}
	limit := 1000
	var before sol.Signature
	for range allowanceHistory {
		opts := &rpc.GetSignaturesForAddressOpts{Limit: &limit, Before: before, Commitment: rpc.CommitmentFinalized}
		sigs, err := c.rpc.GetSignaturesForAddressWithOpts(ctx, sol.PublicKey(a.Escrow), opts)
		if err != nil {
			return Allowance{}, fmt.Errorf("escrow history: %w", err)
		}
		for _, sg := range sigs {
			if sg.Err != nil {
				continue
			}
			for _, t := range memoTexts(sg.Memo) {
				if e, ok := rewardMemoEpoch(t); ok {
					al.Epoch, al.Known = e, true
					return al, nil
				}
			}
		}
		if len(sigs) < limit {
			break
		}
		before = sigs[len(sigs)-1].Signature
	}
	return al, nil
}

// rewardMemoEpoch parses the epoch of a phase-1 or batch memo.
func rewardMemoEpoch(text string) (uint64, bool) {
	rest, ok := strings.CutPrefix(text, "hexfield rwd e=")
	if !ok {
		return 0, false
	}
	num, tail, ok := strings.Cut(rest, " ")
	if !ok || !(strings.HasPrefix(tail, "n=") || strings.HasPrefix(tail, "b=")) {
		return 0, false
	}
	e, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, false
	}
	return e, true
}

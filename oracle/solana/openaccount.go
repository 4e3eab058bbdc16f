package solana

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
)

// Owners open their own reward token accounts (spec §4, revised: the
// network never pays recipients' rent). Funded tells the oracles which
// owners can be paid; OpenAccount is what an owner runs once, paying the
// account's rent from its own wallet.

// SPL Token account layout (165 bytes): mint [0:32], owner [32:64], amount
// [64:72], delegate, state at 108 (0 uninitialized, 1 initialized, 2 frozen).
const (
	tokenAccountSize  = 165
	tokenStateOffset  = 108
	tokenInitialized  = 1
	accountsPerLookup = 100 // getMultipleAccounts takes at most 100 addresses
)

// isTokenAccountOf reports whether a is an initialized, unfrozen SPL Token
// account of owner for mint: an account that a TransferChecked can pay.
// Anyone can send lamports to an owner's ATA address, so existing alone
// proves nothing.
func isTokenAccountOf(a *rpc.Account, owner, mint sol.PublicKey) bool {
	if a == nil || !a.Owner.Equals(tokenProgram) {
		return false
	}
	d := a.Data.GetBinary()
	return len(d) == tokenAccountSize && bytes.Equal(d[0:32], mint[:]) && bytes.Equal(d[32:64], owner[:]) &&
		d[tokenStateOffset] == tokenInitialized
}

// accounts reads accounts at commitment finalized, accountsPerLookup per
// request; a missing account is nil.
func (c *Chain) accounts(ctx context.Context, keys []sol.PublicKey) ([]*rpc.Account, error) {
	out := make([]*rpc.Account, 0, len(keys))
	for i := 0; i < len(keys); i += accountsPerLookup {
		batch := keys[i:min(i+accountsPerLookup, len(keys))]
		r, err := c.rpc.GetMultipleAccountsWithOpts(ctx, batch, &rpc.GetMultipleAccountsOpts{Encoding: sol.EncodingBase64, Commitment: rpc.CommitmentFinalized})
		if err != nil {
			return nil, fmt.Errorf("get accounts: %w", err)
		}
		if len(r.Value) != len(batch) {
			return nil, fmt.Errorf("get accounts: %d answers for %d addresses", len(r.Value), len(batch))
		}
		out = append(out, r.Value...)
	}
	return out, nil
}

// Funded reports, for each owner, whether its associated token account for
// mint exists at commitment finalized as an initialized SPL Token account
// of that owner and mint, so that a payout to it can land. This is the
// verifier's EpochInput.Funded: the oracle lists the owners for which it
// is true. It asks the chain 100 accounts per request.
func (c *Chain) Funded(ctx context.Context, mint [32]byte, owners [][32]byte) ([]bool, error) {
	m := sol.PublicKey(mint)
	keys := make([]sol.PublicKey, len(owners))
	for i, o := range owners {
		a, err := ata(sol.PublicKey(o), m)
		if err != nil {
			return nil, err
		}
		keys[i] = a
	}
	accs, err := c.accounts(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("funded owners: %w", err)
	}
	out := make([]bool, len(owners))
	for i, a := range accs {
		out[i] = isTokenAccountOf(a, sol.PublicKey(owners[i]), m)
	}
	return out, nil
}

// openAccountTx is the owner-paid CreateIdempotent of owner's associated
// token account for mint: the owner is the fee payer, the funder of the
// rent and the only signer, so no key of the network can be charged.
func openAccountTx(owner, mint sol.PublicKey, blockhash sol.Hash) (*sol.Transaction, sol.PublicKey, error) {
	account, err := ata(owner, mint)
	if err != nil {
		return nil, sol.PublicKey{}, err
	}
	tx, err := sol.NewTransaction([]sol.Instruction{createATAIdempotent(owner, account, owner, mint)}, blockhash, sol.TransactionPayer(owner))
	if err != nil {
		return nil, sol.PublicKey{}, fmt.Errorf("open account transaction: %w", err)
	}
	return tx, account, nil
}

// OpenedAccount is what OpenAccount did.
type OpenedAccount struct {
	// Account is the owner's associated token account for the mint.
	Account [32]byte
	// AlreadyOpen: the account existed; nothing was sent or paid.
	AlreadyOpen bool
	// Signature of the transaction (base58), empty when AlreadyOpen.
	Signature string
	// Rent is the lamports the owner moved into the account (its
	// rent-exempt minimum, less any lamports someone had already sent to
	// the address); Fee the rest of what the owner's balance lost.
	Rent, Fee uint64
}

// ErrNotMint is returned by OpenAccount when the mint address holds no
// SPL Token mint.
var ErrNotMint = errors.New("no SPL Token mint at this address")

// OpenAccount opens owner's associated token account for mint, paid by
// owner (rent and fee), and waits until the transaction is finalized. An
// account that is already open is left alone. Opening is idempotent, so
// after any error it is safe to run again.
func (c *Chain) OpenAccount(ctx context.Context, owner ed25519.PrivateKey, mint [32]byte) (OpenedAccount, error) {
	ownerPub, m := sol.PublicKey(pub32(owner)), sol.PublicKey(mint)
	account, err := ata(ownerPub, m)
	if err != nil {
		return OpenedAccount{}, err
	}
	out := OpenedAccount{Account: account}
	accs, err := c.accounts(ctx, []sol.PublicKey{m, account, ownerPub})
	if err != nil {
		return out, fmt.Errorf("open account: %w", err)
	}
	if a := accs[0]; a == nil || !a.Owner.Equals(tokenProgram) || len(a.Data.GetBinary()) != mintSize {
		return out, fmt.Errorf("open account: %s: %w", m, ErrNotMint)
	}
	if isTokenAccountOf(accs[1], ownerPub, m) {
		out.AlreadyOpen = true
		return out, nil
	}
	var before, balance uint64
	if accs[1] != nil {
		before = accs[1].Lamports
	}
	if accs[2] != nil {
		balance = accs[2].Lamports
	}
	rent, err := c.rpc.GetMinimumBalanceForRentExemption(ctx, tokenAccountSize, rpc.CommitmentFinalized)
	if err != nil {
		return out, fmt.Errorf("open account: rent: %w", err)
	}
	bh, err := c.rpc.GetLatestBlockhash(ctx, rpc.CommitmentFinalized)
	if err != nil {
		return out, fmt.Errorf("open account: latest blockhash: %w", err)
	}
	tx, _, err := openAccountTx(ownerPub, m, bh.Value.Blockhash)
	if err != nil {
		return out, err
	}
	if need := rent - min(rent, before) + lamportsPerSignature; balance < need {
		return out, fmt.Errorf("open account: %s has %d lamports; opening needs about %d (rent %d, fee %d): fund the wallet with SOL first",
			ownerPub, balance, need, rent-min(rent, before), lamportsPerSignature)
	}
	priv := sol.PrivateKey(owner)
	if _, err := tx.Sign(func(k sol.PublicKey) *sol.PrivateKey {
		if k.Equals(ownerPub) {
			return &priv
		}
		return nil
	}); err != nil {
		return out, fmt.Errorf("open account: sign: %w", err)
	}
	sig, err := c.rpc.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{PreflightCommitment: rpc.CommitmentFinalized})
	if err != nil {
		return out, fmt.Errorf("open account: send: %w", err)
	}
	out.Signature = sig.String()
	if err := c.waitFinalized(ctx, sig, bh.Value.LastValidBlockHeight); err != nil {
		return out, fmt.Errorf("open account: %w", err)
	}
	after, err := c.accounts(ctx, []sol.PublicKey{account, ownerPub})
	if err != nil {
		return out, fmt.Errorf("open account: %w", err)
	}
	if !isTokenAccountOf(after[0], ownerPub, m) {
		return out, fmt.Errorf("open account: transaction %s landed but %s is not a token account of %s", sig, account, ownerPub)
	}
	out.Rent = after[0].Lamports - min(after[0].Lamports, before)
	var left uint64
	if after[1] != nil {
		left = after[1].Lamports
	}
	if spent := balance - min(balance, left); spent > out.Rent {
		out.Fee = spent - out.Rent
	}
	return out, nil
}

// lamportsPerSignature is the base fee (spec §1).
const lamportsPerSignature = 5_000

// waitFinalized polls the signature's status until it is finalized, it
// failed, or the block height passed lastValid without it landing (then
// nothing happened and the caller may try again).
func (c *Chain) waitFinalized(ctx context.Context, sig sol.Signature, lastValid uint64) error {
	const poll = 400 * time.Millisecond
	for {
		// The height first: if it is already past lastValid and the
		// status is still unknown after it, the transaction can no
		// longer land.
		h, herr := c.rpc.GetBlockHeight(ctx, rpc.CommitmentFinalized)
		st, err := c.rpc.GetSignatureStatuses(ctx, true, sig)
		switch {
		case err != nil || len(st.Value) != 1:
		case st.Value[0] == nil:
			if herr == nil && h > lastValid {
				return fmt.Errorf("transaction %s expired without landing (nothing was paid): run again", sig)
			}
		case st.Value[0].Err != nil:
			return fmt.Errorf("transaction %s failed: %v", sig, st.Value[0].Err)
		case st.Value[0].ConfirmationStatus == rpc.ConfirmationStatusFinalized:
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", sig, ctx.Err())
		case <-time.After(poll):
		}
	}
}

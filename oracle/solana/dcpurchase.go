package solana

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
)

// Data credits bought on chain (routing.md §4): a wallet transfers the DC
// payment token to the network's DC treasury token account, with a memo
// "hexfield-dc:<base58 wallet>" in the same transaction. Oracles list the
// treasury's signatures (getSignaturesForAddress) and read each finalized
// transaction once (getTransaction, base64), so every oracle derives the
// same purchases from the chain. Only top-level SPL Token Transfer and
// TransferChecked instructions into the treasury count; the token program
// itself guarantees they move the treasury's mint.

// DCMemoPrefix starts the memo that names the wallet to credit.
const DCMemoPrefix = "hexfield-dc:"

// memoProgramV1 is the first Memo program, which wallets still use.
var memoProgramV1 = sol.MustPublicKeyFromBase58("Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo")

// DCTransfer is what one transaction touching the treasury paid into it.
type DCTransfer struct {
	Signature string
	Slot      uint64
	// BlockTime is when the chain says the transaction landed (Unix
	// seconds; 0 when the node does not know).
	BlockTime int64
	// Failed: the transaction landed with an error and moved nothing.
	Failed bool
	// Unreadable: the transaction does not decode, or its transfers into
	// the treasury add up to more than a u64; it is recorded, not paid.
	Unreadable bool
	// Amount is the sum, in base units, of the transaction's transfers
	// into the treasury.
	Amount uint64
	// Memo is the text after DCMemoPrefix of the first memo carrying it;
	// HasMemo is false when no memo carries the prefix.
	Memo    string
	HasMemo bool
	// Sender is the authority (owner) of the first transfer into the
	// treasury: the wallet credited when there is no memo.
	Sender [32]byte
}

// TreasurySignatures returns the finalized signatures of transactions
// that touched treasury after the one with signature until ("" = from the
// first), oldest first.
func (c *Chain) TreasurySignatures(ctx context.Context, treasury [32]byte, until string) ([]string, error) {
	var newestFirst []string
	opts := &rpc.GetSignaturesForAddressOpts{Limit: ptr(1000), Commitment: rpc.CommitmentFinalized}
	if until != "" {
		s, err := sol.SignatureFromBase58(until)
		if err != nil {
			return nil, fmt.Errorf("treasury signatures: until: %w", err)
		}
		opts.Until = s
	}
	for {
		page, err := c.rpc.GetSignaturesForAddressWithOpts(ctx, sol.PublicKey(treasury), opts)
		if err != nil {
			return nil, fmt.Errorf("treasury signatures: %w", err)
		}
		for _, s := range page {
			newestFirst = append(newestFirst, s.Signature.String())
		}
		if len(page) < 1000 {
			break
		}
		opts.Before = page[len(page)-1].Signature
	}
	out := make([]string, len(newestFirst))
	for i, s := range newestFirst {
		out[len(out)-1-i] = s
	}
	return out, nil
}

func ptr[T any](v T) *T { return &v }

// TreasuryTransfer reads transaction sig and returns what it paid into
// treasury; found is false while the transaction is not yet available
// finalized.
func (c *Chain) TreasuryTransfer(ctx context.Context, sig string, treasury [32]byte) (DCTransfer, bool, error) {
	s, err := sol.SignatureFromBase58(sig)
	if err != nil {
		return DCTransfer{}, false, fmt.Errorf("treasury transfer %s: %w", sig, err)
	}
	r, err := c.rpc.GetTransaction(ctx, s, &rpc.GetTransactionOpts{
		Encoding: sol.EncodingBase64, Commitment: rpc.CommitmentFinalized, MaxSupportedTransactionVersion: ptr(uint64(0)),
	})
	if errors.Is(err, rpc.ErrNotFound) || (err == nil && r == nil) {
		return DCTransfer{}, false, nil
	}
	if err != nil {
		return DCTransfer{}, false, fmt.Errorf("get transaction %s: %w", sig, err)
	}
	out := DCTransfer{Signature: sig, Slot: r.Slot}
	if r.BlockTime != nil {
		out.BlockTime = int64(*r.BlockTime)
	}
	if r.Meta != nil && r.Meta.Err != nil {
		out.Failed = true
		return out, true, nil
	}
	if r.Transaction == nil {
		return DCTransfer{}, false, fmt.Errorf("get transaction %s: no transaction in the answer", sig)
	}
	// Anyone can send a transaction that touches the treasury: one that
	// cannot be read must not stop the purchases after it.
	tx, err := r.Transaction.GetTransaction()
	if err != nil || parseTreasuryTransfer(&out, tx, sol.PublicKey(treasury)) != nil {
		out = DCTransfer{Signature: sig, Slot: r.Slot, BlockTime: out.BlockTime, Unreadable: true}
	}
	return out, true, nil
}

// parseTreasuryTransfer fills out from tx's top-level instructions.
func parseTreasuryTransfer(out *DCTransfer, tx *sol.Transaction, treasury sol.PublicKey) error {
	keys := tx.Message.AccountKeys
	key := func(i uint16) (sol.PublicKey, bool) {
		if int(i) >= len(keys) {
			return sol.PublicKey{}, false
		}
		return keys[i], true
	}
	first := true
	for _, ix := range tx.Message.Instructions {
		prog, ok := key(ix.ProgramIDIndex)
		if !ok {
			continue // an index into a lookup table: never a program we read
		}
		switch {
		case prog.Equals(memoProgram) || prog.Equals(memoProgramV1):
			text := string(ix.Data)
			if !out.HasMemo && strings.HasPrefix(text, DCMemoPrefix) {
				out.Memo, out.HasMemo = strings.TrimPrefix(text, DCMemoPrefix), true
			}
		case prog.Equals(sol.TokenProgramID):
			var amount uint64
			var dest, authority uint16
			switch {
			case len(ix.Data) == 9 && ix.Data[0] == 3 && len(ix.Accounts) >= 3: // Transfer: source, dest, authority
				amount, dest, authority = binary.LittleEndian.Uint64(ix.Data[1:9]), ix.Accounts[1], ix.Accounts[2]
			case len(ix.Data) == 10 && ix.Data[0] == 12 && len(ix.Accounts) >= 4: // TransferChecked: source, mint, dest, authority
				amount, dest, authority = binary.LittleEndian.Uint64(ix.Data[1:9]), ix.Accounts[2], ix.Accounts[3]
			default:
				continue
			}
			d, ok := key(dest)
			if !ok || !d.Equals(treasury) {
				continue
			}
			if amount > ^uint64(0)-out.Amount {
				return errors.New("transfers into the treasury overflow u64")
			}
			out.Amount += amount
			if a, ok := key(authority); ok && first {
				out.Sender, first = a, false
			}
		}
	}
	return nil
}

// BuyDC transfers amount base units of the treasury's mint from owner's
// associated token account to treasury with the memo naming wallet, and
// waits until the transaction is finalized. It returns the signature.
func (c *Chain) BuyDC(ctx context.Context, owner ed25519.PrivateKey, treasury [32]byte, amount uint64, wallet [32]byte) (string, error) {
	mint, decimals, err := c.tokenAccountMint(ctx, sol.PublicKey(treasury))
	if err != nil {
		return "", fmt.Errorf("buy dc: %w", err)
	}
	ownerPub := sol.PublicKey(pub32(owner))
	source, err := ata(ownerPub, mint)
	if err != nil {
		return "", err
	}
	bh, err := c.rpc.GetLatestBlockhash(ctx, rpc.CommitmentFinalized)
	if err != nil {
		return "", fmt.Errorf("buy dc: latest blockhash: %w", err)
	}
	tx, err := sol.NewTransaction([]sol.Instruction{
		transferChecked(source, mint, sol.PublicKey(treasury), ownerPub, amount, decimals),
		memoInstruction(DCMemoPrefix + sol.PublicKey(wallet).String()),
	}, bh.Value.Blockhash, sol.TransactionPayer(ownerPub))
	if err != nil {
		return "", fmt.Errorf("buy dc: %w", err)
	}
	priv := sol.PrivateKey(owner)
	if _, err := tx.Sign(func(k sol.PublicKey) *sol.PrivateKey {
		if k.Equals(ownerPub) {
			return &priv
		}
		return nil
	}); err != nil {
		return "", fmt.Errorf("buy dc: sign: %w", err)
	}
	sig, err := c.rpc.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{PreflightCommitment: rpc.CommitmentFinalized})
	if err != nil {
		return "", fmt.Errorf("buy dc: send: %w", err)
	}
	for {
		st, err := c.rpc.GetSignatureStatuses(ctx, true, sig)
		if err == nil && len(st.Value) == 1 && st.Value[0] != nil {
			if st.Value[0].Err != nil {
				return sig.String(), fmt.Errorf("buy dc: transaction %s failed: %v", sig, st.Value[0].Err)
			}
			if st.Value[0].ConfirmationStatus == rpc.ConfirmationStatusFinalized {
				return sig.String(), nil
			}
		}
		select {
		case <-ctx.Done():
			return sig.String(), fmt.Errorf("buy dc: waiting for %s: %w", sig, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func pub32(k ed25519.PrivateKey) [32]byte { return [32]byte(k.Public().(ed25519.PublicKey)) }

// tokenAccountMint reads a token account's mint and the mint's decimals.
func (c *Chain) tokenAccountMint(ctx context.Context, account sol.PublicKey) (sol.PublicKey, uint8, error) {
	r, err := c.rpc.GetAccountInfoWithOpts(ctx, account, &rpc.GetAccountInfoOpts{Encoding: sol.EncodingBase64, Commitment: rpc.CommitmentFinalized})
	if err != nil {
		return sol.PublicKey{}, 0, fmt.Errorf("token account %s: %w", account, err)
	}
	if r == nil || r.Value == nil {
		return sol.PublicKey{}, 0, fmt.Errorf("token account %s does not exist", account)
	}
	d := r.Value.Data.GetBinary()
	if !r.Value.Owner.Equals(sol.TokenProgramID) || len(d) != 165 {
		return sol.PublicKey{}, 0, fmt.Errorf("%s is not an SPL token account", account)
	}
	mint := sol.PublicKeyFromBytes(d[:32])
	m, err := c.rpc.GetAccountInfoWithOpts(ctx, mint, &rpc.GetAccountInfoOpts{Encoding: sol.EncodingBase64, Commitment: rpc.CommitmentFinalized})
	if err != nil {
		return sol.PublicKey{}, 0, fmt.Errorf("mint %s: %w", mint, err)
	}
	if m == nil || m.Value == nil {
		return sol.PublicKey{}, 0, fmt.Errorf("mint %s does not exist", mint)
	}
	md := m.Value.Data.GetBinary()
	if len(md) != mintSize {
		return sol.PublicKey{}, 0, fmt.Errorf("%s is not a mint", mint)
	}
	return mint, md[44], nil
}

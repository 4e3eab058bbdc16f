package devnet

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hexfield/hexfield/oracle/solana"
	"github.com/hexfield/hexfield/oracle/solana/localnet"
	"github.com/hexfield/hexfield/wire"
)

// errNoChain means the local chain cannot start here (no Node.js or no npm
// packages); the devnet then runs with manifests only.
var errNoChain = errors.New("local chain unavailable")

// chain is the local Solana chain. The reward deployment on it (mint,
// multisig, escrow) is set up by the leading oracle's node.
type chain struct {
	srv      *localnet.Server
	accounts solana.Accounts // set once the leader has set up the deployment
	view     *solana.Chain
}

func startChain(ctx context.Context, log *slog.Logger) (*chain, error) {
	srv, err := localnet.Start(ctx, localnet.Options{Logger: log})
	if errors.Is(err, localnet.ErrUnavailable) {
		return nil, fmt.Errorf("%w: %v", errNoChain, err)
	}
	if err != nil {
		return nil, fmt.Errorf("devnet: local chain: %w", err)
	}
	return &chain{srv: srv, view: solana.NewChain(srv.URL())}, nil
}

func (c *chain) url() string { return c.srv.URL() }

func (c *chain) close() { c.srv.Close() }

// fund airdrops SOL for fees and rent.
func (c *chain) fund(ctx context.Context, key ed25519.PrivateKey) error {
	var sig string
	if err := c.srv.Call(ctx, "requestAirdrop", []any{wire.PublicKeyOf(key).String(), 1_000_000_000_000}, &sig); err != nil {
		return fmt.Errorf("devnet: airdrop: %w", err)
	}
	return nil
}

// ownerFunds is the SOL airdropped to each simulated owner's wallet: the
// rent of its reward token account (2,039,280 lamports) and fees, with room.
const ownerFunds = 10_000_000

// openAccount opens the owner's reward token account, as its owner would
// with `hexfield rewards open-account`: the network never pays recipients'
// rent, so the owner's wallet (airdropped SOL here) pays it. Until its
// account is open, an owner's rewards accrue and nothing is paid to it.
func (c *chain) openAccount(ctx context.Context, owner ed25519.PrivateKey) (solana.OpenedAccount, error) {
	var sig string
	if err := c.srv.Call(ctx, "requestAirdrop", []any{wire.PublicKeyOf(owner).String(), ownerFunds}, &sig); err != nil {
		return solana.OpenedAccount{}, fmt.Errorf("devnet: airdrop to owner: %w", err)
	}
	opened, err := c.view.OpenAccount(ctx, owner, c.accounts.Mint)
	if err != nil {
		return opened, fmt.Errorf("devnet: owner %s: %w", wire.PublicKeyOf(owner), err)
	}
	return opened, nil
}

// balances returns the owners' reward token balances, in base units.
func (c *chain) balances(ctx context.Context, owners []wire.PublicKey) ([]uint64, error) {
	keys := make([][32]byte, len(owners))
	for i, o := range owners {
		keys[i] = o
	}
	return c.view.TokenBalances(ctx, c.accounts.Mint, keys)
}

// memoTransaction finds the successful transaction on account whose memo
// field contains memo (a reward marker's history holds only its own
// phase's transactions, so a prefix such as "hexfield rwd e=7 n=" names
// one), and its block time.
func (c *chain) memoTransaction(ctx context.Context, account [32]byte, memo string) (string, time.Time, bool) {
	var sigs []struct {
		Signature string          `json:"signature"`
		Err       json.RawMessage `json:"err"`
		Memo      *string         `json:"memo"`
		BlockTime *int64          `json:"blockTime"`
	}
	cfg := map[string]any{"limit": 16, "commitment": "finalized"}
	if err := c.srv.Call(ctx, "getSignaturesForAddress", []any{wire.PublicKey(account).String(), cfg}, &sigs); err != nil {
		return "", time.Time{}, false
	}
	for _, s := range sigs {
		if s.Memo == nil || (len(s.Err) > 0 && string(s.Err) != "null") {
			continue
		}
		if strings.Contains(*s.Memo, memo) {
			var at time.Time
			if s.BlockTime != nil {
				at = time.Unix(*s.BlockTime, 0)
			}
			return s.Signature, at, true
		}
	}
	return "", time.Time{}, false
}

// solanaATA is owner's associated token account of mint.
func solanaATA(owner, mint wire.PublicKey) (wire.PublicKey, error) {
	a, err := solana.AssociatedTokenAddress(owner, mint)
	if err != nil {
		return wire.PublicKey{}, fmt.Errorf("devnet: token account of %s: %w", owner, err)
	}
	return a, nil
}

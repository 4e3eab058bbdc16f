package devnet

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"

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

// balances returns the owners' reward token balances, in base units.
func (c *chain) balances(ctx context.Context, owners []wire.PublicKey) ([]uint64, error) {
	keys := make([][32]byte, len(owners))
	for i, o := range owners {
		keys[i] = o
	}
	return c.view.TokenBalances(ctx, c.accounts.Mint, keys)
}

package devnet

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/oracle/solana"
	"github.com/hexfield/hexfield/oracle/solana/localnet"
	"github.com/hexfield/hexfield/verifier"
	"github.com/hexfield/hexfield/wire"
)

// errNoChain means the local chain cannot start here (no Node.js or no npm
// packages); the devnet then runs with manifests only.
var errNoChain = errors.New("local chain unavailable")

// chain is the local Solana chain and the reward deployment on it.
type chain struct {
	srv      *localnet.Server
	accounts solana.Accounts
	view     *solana.Chain
}

func startChain(ctx context.Context, dir string, log *slog.Logger) (*chain, error) {
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

// blockhash is the oracle's entropy source: the chain's latest blockhash.
func (c *chain) blockhash(ctx context.Context) ([32]byte, error) {
	var res struct {
		Value struct {
			Blockhash string `json:"blockhash"`
		} `json:"value"`
	}
	if err := c.srv.Call(ctx, "getLatestBlockhash", nil, &res); err != nil {
		return [32]byte{}, err
	}
	h, err := wire.ParsePublicKey(res.Value.Blockhash) // any 32-byte base58 value
	return [32]byte(h), err
}

// fund airdrops SOL for fees and rent.
func (c *chain) fund(ctx context.Context, key ed25519.PrivateKey) error {
	var sig string
	return c.srv.Call(ctx, "requestAirdrop", []any{wire.PublicKeyOf(key).String(), 1_000_000_000_000}, &sig)
}

// rewarder sets up the reward mint, multisig and escrow with the oracle as
// its only (1-of-1) member and returns the distributor the oracle pays
// through. The oracle co-signs phase 1 only for the manifest it computed
// itself, which oracleOf gives access to once the oracle exists.
func (c *chain) rewarder(ctx context.Context, oracleKey, distributor ed25519.PrivateKey, journal string,
	oracleOf func() *oracle.Oracle) (*solana.Distributor, error) {
	for _, k := range []ed25519.PrivateKey{oracleKey, distributor} {
		if err := c.fund(ctx, k); err != nil {
			return nil, fmt.Errorf("devnet: airdrop: %w", err)
		}
	}
	payer := [32]byte(wire.PublicKeyOf(oracleKey))
	acc, err := solana.DeriveAccounts(payer, "hexfield", [32]byte(wire.PublicKeyOf(distributor)), 6)
	if err != nil {
		return nil, fmt.Errorf("devnet: reward accounts: %w", err)
	}
	own := func(ctx context.Context, epoch uint64) (solana.Summary, error) {
		o := oracleOf()
		if o == nil {
			return solana.Summary{}, errors.New("oracle not started")
		}
		return ownSummary(o, epoch)
	}
	d, err := solana.New(solana.Config{RPCURL: c.url(), JournalDir: journal, Payer: oracleKey,
		Distributor: distributor, Oracles: [][32]byte{payer}, Threshold: 1,
		Cosigners: []solana.Cosigner{&solana.LocalCosigner{Priv: oracleKey, Accounts: acc, Own: own}}})
	if err != nil {
		return nil, fmt.Errorf("devnet: distributor: %w", err)
	}
	if err := d.Setup(ctx); err != nil {
		return nil, fmt.Errorf("devnet: reward setup: %w", err)
	}
	c.accounts = d.Accounts()
	return d, nil
}

// balances returns the owners' reward token balances, in base units.
func (c *chain) balances(ctx context.Context, owners []wire.PublicKey) ([]uint64, error) {
	keys := make([][32]byte, len(owners))
	for i, o := range owners {
		keys[i] = o
	}
	return c.view.TokenBalances(ctx, c.accounts.Mint, keys)
}

// ownSummary is what this oracle signs for: the summary of the manifest in
// its own store.
func ownSummary(o *oracle.Oracle, epoch uint64) (solana.Summary, error) {
	raw, ok, err := o.Store().Manifest(epoch)
	if err != nil {
		return solana.Summary{}, err
	}
	if !ok {
		return solana.Summary{}, fmt.Errorf("no manifest for epoch %d", epoch)
	}
	m, err := verifier.UnmarshalManifest(raw)
	if err != nil {
		return solana.Summary{}, err
	}
	return solana.Summary{Epoch: m.Epoch, Count: uint64(len(m.Payouts)), Total: m.Total, Root: m.Root}, nil
}

package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/oracle/solana"
	"github.com/hexfield/hexfield/wire"
)

// rpcBlockhash returns a function fetching the latest Solana blockhash
// (commitment processed) over JSON-RPC, for the entropy service.
func rpcBlockhash(url string) func(ctx context.Context) ([32]byte, error) {
	return func(ctx context.Context) ([32]byte, error) {
		body := []byte(`{"jsonrpc":"2.0","id":1,"method":"getLatestBlockhash","params":[{"commitment":"processed"}]}`)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return [32]byte{}, fmt.Errorf("blockhash: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return [32]byte{}, fmt.Errorf("blockhash: %w", err)
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return [32]byte{}, fmt.Errorf("blockhash: %w", err)
		}
		var out struct {
			Result struct {
				Value struct {
					Blockhash string `json:"blockhash"`
				} `json:"value"`
			} `json:"result"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			return [32]byte{}, fmt.Errorf("blockhash: decode: %w", err)
		}
		if out.Error != nil {
			return [32]byte{}, fmt.Errorf("blockhash: rpc: %s", out.Error.Message)
		}
		// A blockhash is 32 bytes in base58, like a public key.
		h, err := wire.ParsePublicKey(out.Result.Value.Blockhash)
		if err != nil {
			return [32]byte{}, fmt.Errorf("blockhash: %w", err)
		}
		return h, nil
	}
}

// newDistributor sets up reward distribution on the leader (or a single
// oracle): the multisig members are cfg.Members (this oracle and its peers,
// sorted by key), the threshold cfg.Threshold. This oracle co-signs first,
// after checking the proposal against own (its summary of the epoch) and
// the chain; then peers are asked in order until the threshold is reached.
func newDistributor(ctx context.Context, cfg oracle.Config, key ed25519.PrivateKey, log *slog.Logger, reg prometheus.Registerer,
	own solana.SummaryFunc, peers []solana.Cosigner) (*solana.Distributor, error) {
	payer, created, err := wire.LoadOrCreateKeyFile(cfg.SolanaPayerKey)
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("created a Solana fee payer key; fund it", "path", cfg.SolanaPayerKey, "address", wire.PublicKeyOf(payer).String())
	}
	dist, created, err := wire.LoadOrCreateKeyFile(cfg.SolanaDistributorKey)
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("created a Solana distributor key; fund it (it pays for token accounts)", "path", cfg.SolanaDistributorKey,
			"address", wire.PublicKeyOf(dist).String())
	}
	// Peers derive the accounts from the configured addresses: they must be
	// these keys.
	for _, c := range []struct {
		name, addr string
		key        ed25519.PrivateKey
	}{{"solana_payer_address", cfg.SolanaPayerAddress, payer}, {"solana_distributor_address", cfg.SolanaDistributorAddress, dist}} {
		if c.addr != "" && c.addr != wire.PublicKeyOf(c.key).String() {
			return nil, fmt.Errorf("%s %s is not the configured key file's address %s", c.name, c.addr, wire.PublicKeyOf(c.key))
		}
	}
	cos := &solana.LocalCosigner{Priv: key, Own: own, Chain: solana.NewChain(cfg.SolanaRPC)}
	d, err := solana.New(solana.Config{
		RPCURL: cfg.SolanaRPC, JournalDir: filepath.Join(cfg.DataDir, "solana-journal"),
		Payer: payer, Distributor: dist, Oracles: cfg.Members(wire.PublicKeyOf(key)), Threshold: cfg.Threshold,
		Cosigners: append([]solana.Cosigner{cos}, peers...), Seed: cfg.SolanaSeed, Decimals: uint8(cfg.SolanaDecimals),
		Logger: log, Registerer: reg,
	})
	if err != nil {
		return nil, fmt.Errorf("solana distributor: %w", err)
	}
	cos.Accounts = d.Accounts()
	if err := d.Setup(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("solana setup: %w", err)
	}
	a := d.Accounts()
	log.Info("reward distribution on Solana", "rpc", cfg.SolanaRPC, "mint", wire.PublicKey(a.Mint).String(),
		"oracles", len(cfg.Peers)+1, "threshold", cfg.Threshold)
	return d, nil
}

// configuredAccounts derives the deployment's accounts from the leader's
// payer and distributor addresses (on an oracle that does not hold them).
func configuredAccounts(cfg oracle.Config) (solana.Accounts, error) {
	payer, err := wire.ParsePublicKey(cfg.SolanaPayerAddress)
	if err != nil {
		return solana.Accounts{}, fmt.Errorf("solana_payer_address: %w", err)
	}
	dist, err := wire.ParsePublicKey(cfg.SolanaDistributorAddress)
	if err != nil {
		return solana.Accounts{}, fmt.Errorf("solana_distributor_address: %w", err)
	}
	return solana.DeriveAccounts(payer, cfg.SolanaSeed, dist, uint8(cfg.SolanaDecimals))
}

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

// newDistributor sets up single-oracle reward distribution: the oracle key
// is the only multisig member (threshold 1) and co-signs with its own
// manifests. summary is filled in once the oracle exists.
func newDistributor(ctx context.Context, cfg oracle.Config, key ed25519.PrivateKey, log *slog.Logger, summary *solana.SummaryFunc) (*solana.Distributor, error) {
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
	cos := &solana.LocalCosigner{Priv: key, Own: func(ctx context.Context, epoch uint64) (solana.Summary, error) {
		if *summary == nil {
			return solana.Summary{}, fmt.Errorf("oracle not started")
		}
		return (*summary)(ctx, epoch)
	}}
	d, err := solana.New(solana.Config{
		RPCURL: cfg.SolanaRPC, JournalDir: filepath.Join(cfg.DataDir, "solana-journal"),
		Payer: payer, Distributor: dist, Oracles: [][32]byte{wire.PublicKeyOf(key)}, Threshold: 1,
		Cosigners: []solana.Cosigner{cos}, Seed: cfg.SolanaSeed, Decimals: uint8(cfg.SolanaDecimals), Logger: log,
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
	log.Info("reward distribution on Solana", "rpc", cfg.SolanaRPC, "mint", wire.PublicKey(a.Mint).String())
	return d, nil
}

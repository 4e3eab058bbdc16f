package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/oracle/solana"
	"github.com/hexfield/hexfield/wire"
)

// runDC reads and grants data credits.
//
//	hexfield dc balance --wallet ADDR [--entries N] [--oracle URL]...
//	hexfield dc grant --operator-key FILE --wallet ADDR --amount DC [--request-id HEX] [--oracle URL]...
//	hexfield dc buy --rpc URL --key FILE --amount BASE_UNITS [--wallet ADDR] [--treasury ADDR]
//	                [--wait 2m] [--oracle URL]...
//
// balance prints each oracle's view of the wallet: balance, totals and the
// newest ledger entries (grants, fees, charges). grant is for networks
// without a chain: the operator signs one grant with one request id and
// every oracle applies it at most once. buy transfers the DC payment token
// from --key's token account to the network's DC treasury (from the first
// oracle unless --treasury) with the memo hexfield-dc:<wallet> (default
// the buyer), then waits until every oracle has read the transaction and
// prints how each credited it.
func runDC(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("dc: usage: hexfield dc balance|buy|grant [flags]")
	}
	sub := args[0]
	fs := flag.NewFlagSet("dc "+sub, flag.ContinueOnError)
	var oracles oracleList
	fs.Var(&oracles, "oracle", "oracle HTTP API base URL, repeatable (default "+defaultOracleURL+")")
	walletS := fs.String("wallet", "", "wallet address (base58)")
	entries := fs.Int("entries", 10, "ledger entries to show")
	opPath := fs.String("operator-key", "", "the network operator's key file")
	amount := fs.Uint64("amount", 0, "data credits to grant; for buy, token base units to pay")
	reqID := fs.String("request-id", "", "grant request id, 32-64 hex digits (default random)")
	rpcURL := fs.String("rpc", "", "Solana JSON-RPC URL (buy)")
	keyPath := fs.String("key", "", "the buyer's Solana CLI keypair file (buy)")
	treasuryS := fs.String("treasury", "", "the DC treasury token account (buy; default: the first oracle's)")
	wait := fs.Duration("wait", 2*time.Minute, "how long to wait for the oracles to credit a purchase (buy)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	name := "dc " + sub
	if sub == "buy" {
		return buyDC(ctx, out, oracles, *rpcURL, *keyPath, *treasuryS, *walletS, *amount, *wait)
	}
	wallet, err := wire.ParsePublicKey(*walletS)
	if err != nil {
		return fmt.Errorf("%s: --wallet: %w", name, err)
	}
	switch sub {
	case "balance":
		return eachOracle(ctx, out, name, oracles, func(c *oracle.Client) (any, error) { return c.DCBalance(ctx, wallet, *entries) })
	case "grant":
		if *opPath == "" || *amount == 0 {
			return errors.New("dc grant: --operator-key and a positive --amount are required")
		}
		op, err := wire.ReadKeyFile(*opPath)
		if err != nil {
			return fmt.Errorf("dc grant: %w", err)
		}
		id := make([]byte, 16)
		if *reqID != "" {
			if id, err = hex.DecodeString(*reqID); err != nil {
				return fmt.Errorf("dc grant: --request-id: %w", err)
			}
		} else if _, err := rand.Read(id); err != nil {
			return fmt.Errorf("dc grant: %w", err)
		}
		req, err := oracle.NewGrantRequest(op, wallet, *amount, id, time.Now())
		if err != nil {
			return fmt.Errorf("dc grant: %w", err)
		}
		return eachOracle(ctx, out, name, oracles, func(c *oracle.Client) (any, error) { return c.Grant(ctx, req) })
	}
	return fmt.Errorf("dc: unknown subcommand %q", sub)
}

func buyDC(ctx context.Context, out io.Writer, oracles oracleList, rpcURL, keyPath, treasuryS, walletS string, amount uint64, wait time.Duration) error {
	if rpcURL == "" || keyPath == "" || amount == 0 {
		return errors.New("dc buy: --rpc, --key and a positive --amount are required")
	}
	key, err := wire.ReadKeyFile(keyPath)
	if err != nil {
		return fmt.Errorf("dc buy: %w", err)
	}
	wallet := wire.PublicKeyOf(key)
	if walletS != "" {
		if wallet, err = wire.ParsePublicKey(walletS); err != nil {
			return fmt.Errorf("dc buy: --wallet: %w", err)
		}
	}
	clients := oracles.clients()
	if treasuryS == "" {
		r, err := clients[0].Registry(ctx)
		if err != nil {
			return fmt.Errorf("dc buy: %w", err)
		}
		if treasuryS = r.DCTreasury; treasuryS == "" {
			return fmt.Errorf("dc buy: %s has no dc_treasury; give --treasury", clients[0].BaseURL)
		}
	}
	treasury, err := wire.ParsePublicKey(treasuryS)
	if err != nil {
		return fmt.Errorf("dc buy: treasury: %w", err)
	}
	sig, err := solana.NewChain(rpcURL).BuyDC(ctx, key, treasury, amount, wallet)
	if err != nil {
		return fmt.Errorf("dc buy: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	return eachOracle(ctx, out, "dc buy", oracles, func(c *oracle.Client) (any, error) {
		for {
			p, err := c.DCPurchase(wctx, sig)
			if err == nil {
				return p, nil
			}
			if !oracle.IsCode(err, "not_found") {
				return nil, err
			}
			select {
			case <-wctx.Done():
				return nil, fmt.Errorf("transaction %s not credited within %s: %w", sig, wait, wctx.Err())
			case <-time.After(time.Second):
			}
		}
	})
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/wire"
)

// oracleList is a repeatable --oracle flag: every change is sent to each
// oracle given, since oracles do not replicate their registries.
type oracleList []string

func (l *oracleList) String() string { return strings.Join(*l, ",") }

func (l *oracleList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// clients returns a client per oracle (the default oracle when none).
func (l oracleList) clients() []*oracle.Client {
	urls := l
	if len(urls) == 0 {
		urls = oracleList{defaultOracleURL}
	}
	out := make([]*oracle.Client, len(urls))
	for i, u := range urls {
		out[i] = &oracle.Client{BaseURL: u}
	}
	return out
}

// perOracle is one oracle's answer to a command.
type perOracle struct {
	Oracle string `json:"oracle"`
	Result any    `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
}

// eachOracle calls f on every oracle, prints every answer and fails when
// any oracle failed.
func eachOracle(ctx context.Context, out io.Writer, name string, l oracleList, f func(c *oracle.Client) (any, error)) error {
	var res []perOracle
	failed := 0
	for _, c := range l.clients() {
		v, err := f(c)
		p := perOracle{Oracle: c.BaseURL, Result: v}
		if err != nil {
			p.Result, p.Error = nil, err.Error()
			failed++
		}
		res = append(res, p)
	}
	if err := printJSON(out, res); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%s: %d of %d oracles refused or failed", name, failed, len(res))
	}
	return nil
}

// nextNonce is a nonce above what every reachable oracle has applied for
// org, and at least the current Unix milliseconds, so a change made now
// is accepted everywhere.
func nextNonce(ctx context.Context, l oracleList, org string) uint64 {
	n := uint64(time.Now().UnixMilli())
	for _, c := range l.clients() {
		if o, err := c.Org(ctx, org); err == nil && o.Nonce >= n {
			n = o.Nonce + 1
		}
	}
	return n
}

// sendChange signs ch with key and sends it to every oracle.
func sendChange(ctx context.Context, out io.Writer, name string, l oracleList, key []byte, ch *wire.OrgChange) error {
	if ch.Nonce == 0 {
		ch.Nonce = nextNonce(ctx, l, ch.Org)
	}
	req, err := oracle.NewOrgChange(key, ch, time.Now())
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return eachOracle(ctx, out, name, l, func(c *oracle.Client) (any, error) { return c.OrgChange(ctx, req) })
}

// runOrg manages organizations of IoT customers.
//
//	hexfield org create --id ID --owner-key FILE [--payer ADDR] [--delegate ADDR]... [--blocks N] [--oracle URL]...
//	hexfield org show --id ID [--oracle URL]...
//	hexfield org list --key ADDR [--oracle URL]...
//	hexfield org add-delegate|remove-delegate --id ID --owner-key FILE --key ADDR [--oracle URL]...
//	hexfield org set-payer --id ID --owner-key FILE --payer ADDR [--oracle URL]...
//	hexfield org add-devaddr --id ID --owner-key FILE [--blocks N] [--oracle URL]...
//
// Changes are signed by the owner's key and sent to every oracle given;
// the output is each oracle's answer: the organization with its DevAddr
// blocks, its payer's DC balance and whether it is locked.
func runOrg(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("org: usage: hexfield org create|show|list|add-delegate|remove-delegate|set-payer|add-devaddr [flags]")
	}
	sub := args[0]
	fs := flag.NewFlagSet("org "+sub, flag.ContinueOnError)
	var oracles oracleList
	fs.Var(&oracles, "oracle", "oracle HTTP API base URL, repeatable (default "+defaultOracleURL+")")
	id := fs.String("id", "", "organization id")
	ownerPath := fs.String("owner-key", "", "the owner's Solana CLI keypair file")
	payer := fs.String("payer", "", "payer wallet address (base58); default the owner")
	keyAddr := fs.String("key", "", "a key's address (base58)")
	blocks := fs.Uint("blocks", 1, "DevAddr blocks of 8 to allocate")
	var delegates []string
	fs.Func("delegate", "delegate address (base58), repeatable", func(s string) error {
		delegates = append(delegates, s)
		return nil
	})
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	name := "org " + sub
	switch sub {
	case "show":
		if *id == "" {
			return errors.New("org show: --id is required")
		}
		return eachOracle(ctx, out, name, oracles, func(c *oracle.Client) (any, error) { return c.Org(ctx, *id) })
	case "list":
		k, err := wire.ParsePublicKey(*keyAddr)
		if err != nil {
			return fmt.Errorf("org list: --key: %w", err)
		}
		return eachOracle(ctx, out, name, oracles, func(c *oracle.Client) (any, error) { return c.OrgsOf(ctx, k) })
	}
	if *id == "" || *ownerPath == "" {
		return fmt.Errorf("%s: --id and --owner-key are required", name)
	}
	owner, err := wire.ReadKeyFile(*ownerPath)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	ch := &wire.OrgChange{Org: *id}
	parseKey := func(flagName, s string) ([]byte, error) {
		k, err := wire.ParsePublicKey(s)
		if err != nil {
			return nil, fmt.Errorf("%s: --%s: %w", name, flagName, err)
		}
		return k[:], nil
	}
	switch sub {
	case "create":
		ownerPub := wire.PublicKeyOf(owner)
		create := &wire.OrgCreate{Owner: ownerPub[:]}
		if *payer != "" {
			if create.Payer, err = parseKey("payer", *payer); err != nil {
				return err
			}
		}
		for _, d := range delegates {
			k, err := parseKey("delegate", d)
			if err != nil {
				return err
			}
			create.Delegates = append(create.Delegates, k)
		}
		if create.Devaddr, err = devAddrBlocks(ctx, oracles, *blocks); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		ch.Nonce = uint64(time.Now().UnixMilli())
		ch.Op = &wire.OrgChange_Create{Create: create}
	case "add-delegate", "remove-delegate":
		k, err := parseKey("key", *keyAddr)
		if err != nil {
			return err
		}
		if sub == "add-delegate" {
			ch.Op = &wire.OrgChange_AddDelegate{AddDelegate: k}
		} else {
			ch.Op = &wire.OrgChange_RemoveDelegate{RemoveDelegate: k}
		}
	case "set-payer":
		k, err := parseKey("payer", *payer)
		if err != nil {
			return err
		}
		ch.Op = &wire.OrgChange_SetPayer{SetPayer: k}
	case "add-devaddr":
		b, err := devAddrBlocks(ctx, oracles, *blocks)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		ch.Op = &wire.OrgChange_AddDevaddrBlocks{AddDevaddrBlocks: b}
	default:
		return fmt.Errorf("org: unknown subcommand %q", sub)
	}
	return sendChange(ctx, out, name, oracles, owner, ch)
}

// devAddrBlocks asks every oracle for the lowest free run of n blocks and
// takes the highest answer, so that the one explicit start sent to all of
// them is free on each (oracles that disagree refuse it, and say so).
func devAddrBlocks(ctx context.Context, l oracleList, n uint) (*wire.DevAddrBlocks, error) {
	if n == 0 || n > 1<<16 {
		return nil, fmt.Errorf("--blocks %d out of range", n)
	}
	var start uint32
	var got bool
	for _, c := range l.clients() {
		f, err := c.FreeDevAddr(ctx, int(n))
		if err != nil {
			return nil, fmt.Errorf("free DevAddr blocks at %s: %w", c.BaseURL, err)
		}
		if !got || uint32(f.Start) > start {
			start, got = uint32(f.Start), true
		}
	}
	return &wire.DevAddrBlocks{Start: &start, Count: uint32(n)}, nil
}

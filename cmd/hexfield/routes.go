package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/wire"
)

// runRoutes registers and lists customer routes of an organization.
//
//	hexfield routes list [--org ID] [--oracle URL]...
//	hexfield routes show --id ID [--oracle URL]...
//	hexfield routes put --org ID --key FILE --id ID --lns [REGION=]HOST:PORT...
//	                    [--devaddr START-END]... [--eui JOINEUI[:DEVEUI]]... [--max-copies N]
//	                    [--inactive] [--filter DEVADDR:NWKSKEY]... [--oracle URL]...
//	hexfield routes delete --org ID --key FILE --id ID [--oracle URL]...
//
// Changes are signed by --key, the organization's owner or a delegate,
// and sent to every oracle given. DevAddrs are 8 hex digits and must lie
// in the organization's blocks; EUIs are 16 hex digits, DevEUI 0 (or
// none) is every device of the JoinEUI. An --lns without a region is the
// default for every region. Without session key filters (--filter) anyone
// who knows the route's DevAddrs can make it pay for forged frames, up to
// the duty-cycle cap; with them only frames whose MIC verifies are charged.
func runRoutes(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("routes: usage: hexfield routes list|show|put|delete [flags]")
	}
	sub := args[0]
	fs := flag.NewFlagSet("routes "+sub, flag.ContinueOnError)
	var oracles oracleList
	fs.Var(&oracles, "oracle", "oracle HTTP API base URL, repeatable (default "+defaultOracleURL+")")
	org := fs.String("org", "", "organization id")
	keyPath := fs.String("key", "", "key file of the organization's owner or a delegate")
	id := fs.String("id", "", "route id")
	maxCopies := fs.Uint("max-copies", 1, "copies of each uplink to buy")
	inactive := fs.Bool("inactive", false, "register the route inactive (nothing is forwarded)")
	r := oracle.Route{LNS: map[string]string{}}
	fs.Func("lns", "[REGION=]HOST:PORT of the LNS's Semtech UDP endpoint, repeatable", func(s string) error {
		region, addr, ok := strings.Cut(s, "=")
		if !ok {
			region, addr = "default", s
		}
		r.LNS[region] = addr
		return nil
	})
	fs.Func("devaddr", "DevAddr range START-END (hex), repeatable", func(s string) error {
		a, b, err := hexRange(s, 32)
		r.DevAddrRanges = append(r.DevAddrRanges, oracle.DevAddrRange{Start: oracle.HexU32(a), End: oracle.HexU32(b)})
		return err
	})
	fs.Func("eui", "JOINEUI[:DEVEUI] (hex), repeatable", func(s string) error {
		j, d, _ := strings.Cut(s, ":")
		je, err := strconv.ParseUint(j, 16, 64)
		if err != nil {
			return fmt.Errorf("JoinEUI %q: %w", j, err)
		}
		var de uint64
		if d != "" {
			if de, err = strconv.ParseUint(d, 16, 64); err != nil {
				return fmt.Errorf("DevEUI %q: %w", d, err)
			}
		}
		r.EUIPairs = append(r.EUIPairs, oracle.EUIPair{JoinEUI: oracle.HexU64(je), DevEUI: oracle.HexU64(de)})
		return nil
	})
	fs.Func("filter", "session key filter DEVADDR:NWKSKEY (hex), repeatable", func(s string) error {
		a, k, ok := strings.Cut(s, ":")
		v, err := strconv.ParseUint(a, 16, 32)
		if !ok || err != nil {
			return fmt.Errorf("filter %q: want DEVADDR:NWKSKEY", s)
		}
		if b, err := hex.DecodeString(k); err != nil || len(b) != 16 {
			return errors.New("filter: the NwkSKey must be 32 hex digits")
		}
		r.SessionKeyFilters = append(r.SessionKeyFilters, oracle.SessionKeyFilter{DevAddr: oracle.HexU32(v), NwkSKey: k})
		return nil
	})
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	name := "routes " + sub
	switch sub {
	case "list":
		return eachOracle(ctx, out, name, oracles, func(c *oracle.Client) (any, error) { return c.OrgRoutes(ctx, *org) })
	case "show":
		if *id == "" {
			return errors.New("routes show: --id is required")
		}
		return eachOracle(ctx, out, name, oracles, func(c *oracle.Client) (any, error) { return c.Route(ctx, *id) })
	case "put", "delete":
	default:
		return fmt.Errorf("routes: unknown subcommand %q", sub)
	}
	if *org == "" || *keyPath == "" || *id == "" {
		return fmt.Errorf("%s: --org, --key and --id are required", name)
	}
	key, err := wire.ReadKeyFile(*keyPath)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	ch := &wire.OrgChange{Org: *org}
	if sub == "delete" {
		ch.Op = &wire.OrgChange_DeleteRoute{DeleteRoute: *id}
	} else {
		r.ID, r.MaxCopies, r.Active = *id, uint32(*maxCopies), !*inactive
		ch.Op = &wire.OrgChange_PutRoute{PutRoute: r.Spec()}
	}
	return sendChange(ctx, out, name, oracles, key, ch)
}

// hexRange parses "START-END" (or a single value) of bits-wide hex numbers.
func hexRange(s string, bits int) (uint64, uint64, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		b = a
	}
	x, err := strconv.ParseUint(a, 16, bits)
	if err != nil {
		return 0, 0, fmt.Errorf("range %q: %w", s, err)
	}
	y, err := strconv.ParseUint(b, 16, bits)
	if err != nil {
		return 0, 0, fmt.Errorf("range %q: %w", s, err)
	}
	return x, y, nil
}

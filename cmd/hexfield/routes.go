package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/hexfield/hexfield/oracle"
)

// runRoutes registers and lists customer routes.
//
//	hexfield routes list [--oracle URL]
//	hexfield routes put --id ID --lns HOST:PORT [--devaddr START-END]... [--joineui START-END]...
//	                    [--net-id N] [--max-copies N] [--dc N] [--oracle URL] [--token T]
//	hexfield routes delete --id ID [--oracle URL] [--token T]
//
// DevAddrs are 8 hex digits, EUIs 16 hex digits.
func runRoutes(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("routes: usage: hexfield routes list|put|delete [flags]")
	}
	fs := flag.NewFlagSet("routes "+args[0], flag.ContinueOnError)
	url := fs.String("oracle", defaultOracleURL, "oracle HTTP API base URL")
	token := fs.String("token", "", "admin token (when the oracle has one)")
	c := func() *oracle.Client { return &oracle.Client{BaseURL: *url, AdminToken: *token} }
	switch args[0] {
	case "list":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		rs, err := c().Routes(ctx)
		if err != nil {
			return fmt.Errorf("routes list: %w", err)
		}
		return printJSON(out, rs)
	case "put":
		id := fs.String("id", "", "route id")
		lns := fs.String("lns", "", "the LNS's Semtech UDP address, host:port")
		netID := fs.Uint("net-id", 0, "LoRaWAN NetID")
		maxCopies := fs.Uint("max-copies", 1, "copies of each uplink to buy")
		dc := fs.Uint64("dc", 0, "prepaid data credits")
		var devaddrs []oracle.DevAddrRange
		var euis []oracle.EUIRange
		fs.Func("devaddr", "DevAddr range START-END (hex), repeatable", func(s string) error {
			a, b, err := hexRange(s, 32)
			devaddrs = append(devaddrs, oracle.DevAddrRange{Start: oracle.HexU32(a), End: oracle.HexU32(b)})
			return err
		})
		fs.Func("joineui", "JoinEUI range START-END (hex), repeatable", func(s string) error {
			a, b, err := hexRange(s, 64)
			euis = append(euis, oracle.EUIRange{Start: oracle.HexU64(a), End: oracle.HexU64(b)})
			return err
		})
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		r := oracle.Route{ID: *id, NetID: uint32(*netID), DevAddrs: devaddrs, JoinEUIs: euis, LNSAddr: *lns,
			MaxCopies: uint32(*maxCopies), DCBalance: *dc}
		got, err := c().PutRoute(ctx, r)
		if err != nil {
			return fmt.Errorf("routes put: %w", err)
		}
		return printJSON(out, got)
	case "delete":
		id := fs.String("id", "", "route id")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if err := c().DeleteRoute(ctx, *id); err != nil {
			return fmt.Errorf("routes delete: %w", err)
		}
		fmt.Fprintln(out, "deleted", *id)
		return nil
	}
	return fmt.Errorf("routes: unknown subcommand %q", args[0])
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

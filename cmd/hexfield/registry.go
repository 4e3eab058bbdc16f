package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/verifier"
	"github.com/hexfield/hexfield/wire"
)

const defaultOracleURL = "http://127.0.0.1:8080" // the devnet's first oracle, and oracled's default

// runOnboard onboards a hotspot: the request is signed by the hotspot key
// and by the owner's Solana wallet keypair. The oracle debits its
// onboarding fee (GET /v1/oracle) from the owner's data credits; --max-fee
// refuses to send the request when the fee is higher.
//
//	hexfield onboard --hotspot-key FILE --owner-key FILE [--data-only]
//	                 [--maker-approval FILE | --maker-key FILE] [--max-fee DC] [--oracle URL]
//	hexfield onboard --request FILE --owner-key FILE [--max-fee DC] [--oracle URL]
//
// With --request, the hotspot signed the request on its own machine
// (hotspotd key onboard-request) and only the owner signs here.
func runOnboard(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("onboard", flag.ContinueOnError)
	url := fs.String("oracle", defaultOracleURL, "oracle HTTP API base URL")
	hsPath := fs.String("hotspot-key", "", "the hotspot's key file")
	ownerPath := fs.String("owner-key", "", "the owner's Solana CLI keypair file")
	dataOnly := fs.Bool("data-only", false, "onboard as data-only (no proof of coverage)")
	reqPath := fs.String("request", "", "a request signed by the hotspot (hotspotd key onboard-request), instead of --hotspot-key")
	approvalPath := fs.String("maker-approval", "", "file with the maker's signed approval of the hotspot key (binary envelope)")
	makerPath := fs.String("maker-key", "", "the maker's key file, to sign the approval here (makers and development)")
	maxFee := fs.Int64("max-fee", -1, "refuse if the oracle's onboarding fee is more DC than this (-1: any fee)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *reqPath != "" {
		return onboardRequest(ctx, *url, *reqPath, *ownerPath, *hsPath != "" || *dataOnly, out)
	}
	if *hsPath == "" || *ownerPath == "" {
		return errors.New("onboard: --hotspot-key and --owner-key are required")
	}
	hs, err := wire.ReadKeyFile(*hsPath)
	if err != nil {
		return fmt.Errorf("onboard: %w", err)
	}
	owner, err := wire.ReadKeyFile(*ownerPath)
	if err != nil {
		return fmt.Errorf("onboard: %w", err)
	}
	req, err := oracle.NewOnboardRequest(hs, owner, *dataOnly, time.Now())
	if err != nil {
		return fmt.Errorf("onboard: %w", err)
	}
	switch {
	case *approvalPath != "" && *makerPath != "":
		return errors.New("onboard: give --maker-approval or --maker-key, not both")
	case *approvalPath != "":
		if req.MakerApproval, err = os.ReadFile(*approvalPath); err != nil {
			return fmt.Errorf("onboard: %w", err)
		}
	case *makerPath != "":
		maker, err := wire.ReadKeyFile(*makerPath)
		if err != nil {
			return fmt.Errorf("onboard: %w", err)
		}
		if req.MakerApproval, err = oracle.NewMakerApproval(maker, wire.PublicKeyOf(hs)); err != nil {
			return fmt.Errorf("onboard: %w", err)
		}
	}
	c := &oracle.Client{BaseURL: *url}
	if err := checkFee(ctx, c, "onboarding", *maxFee, func(r oracle.RegistryInfo) uint64 { return r.OnboardFeeDC }); err != nil {
		return fmt.Errorf("onboard: %w", err)
	}
	info, err := c.Onboard(ctx, req)
	if err != nil {
		return fmt.Errorf("onboard: %w", err)
	}
	return printJSON(out, info)
}

// checkFee refuses when the oracle's fee is above maxFee (≥ 0).
func checkFee(ctx context.Context, c *oracle.Client, what string, maxFee int64, fee func(oracle.RegistryInfo) uint64) error {
	if maxFee < 0 {
		return nil
	}
	r, err := c.Registry(ctx)
	if err != nil {
		return err
	}
	if f := fee(r); f > uint64(maxFee) {
		return fmt.Errorf("%s costs %d DC at %s, more than --max-fee %d", what, f, c.BaseURL, maxFee)
	}
	return nil
}

// runAssert asserts a hotspot's location, signed by its owner, who pays
// the oracle's assertion fee in data credits (see --max-fee).
//
//	hexfield assert --owner-key FILE --hotspot ADDRESS (--cell H3 | --lat LAT --lng LNG)
//	                [--gain DBI] [--elevation M] [--nonce N] [--max-fee DC] [--oracle URL]
func runAssert(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("assert", flag.ContinueOnError)
	url := fs.String("oracle", defaultOracleURL, "oracle HTTP API base URL")
	ownerPath := fs.String("owner-key", "", "the owner's Solana CLI keypair file")
	hsAddr := fs.String("hotspot", "", "the hotspot's address (base58)")
	cellS := fs.String("cell", "", "H3 resolution-12 cell (hex)")
	lat := fs.Float64("lat", 0, "latitude in degrees (instead of --cell)")
	lng := fs.Float64("lng", 0, "longitude in degrees (instead of --cell)")
	gain := radio.Gain(12)
	fs.Var(&gain, "gain", "antenna gain in `dBi`, a decimal such as 5.8 (a whole number of 10 or more needs the unit: 12dBi)")
	elev := fs.Int("elevation", 0, "antenna elevation above ground in metres")
	nonce := fs.Uint64("nonce", 0, "assertion nonce; must increase (default: current Unix ms)")
	maxFee := fs.Int64("max-fee", -1, "refuse if the oracle's assertion fee is more DC than this (-1: any fee)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *ownerPath == "" || *hsAddr == "" {
		return errors.New("assert: --owner-key and --hotspot are required")
	}
	owner, err := wire.ReadKeyFile(*ownerPath)
	if err != nil {
		return fmt.Errorf("assert: %w", err)
	}
	hs, err := wire.ParsePublicKey(*hsAddr)
	if err != nil {
		return fmt.Errorf("assert: %w", err)
	}
	var cell uint64
	where := "" // the location as given, for errors
	latSet, lngSet := false, false
	fs.Visit(func(f *flag.Flag) {
		latSet = latSet || f.Name == "lat"
		lngSet = lngSet || f.Name == "lng"
	})
	switch {
	case *cellS != "" && (latSet || lngSet):
		return errors.New("assert: give either --cell or --lat/--lng")
	case *cellS != "":
		if cell, err = verifier.ParseCell(*cellS); err != nil {
			return fmt.Errorf("assert: %w", err)
		}
	case latSet && lngSet:
		if cell, where, err = locationCell(*lat, *lng); err != nil {
			return fmt.Errorf("assert: %w", err)
		}
	default:
		return errors.New("assert: --cell or both --lat and --lng are required")
	}
	c := &oracle.Client{BaseURL: *url}
	n := *nonce
	if n == 0 {
		// The current Unix ms, but above the last assertion's nonce, so
		// that two assertions within one millisecond (or after a clock
		// step back) are not refused as stale.
		n = uint64(time.Now().UnixMilli())
		if st, err := c.Hotspot(ctx, hs); err == nil && st.Location != nil && st.Location.Nonce >= n {
			n = st.Location.Nonce + 1
		}
	}
	req, err := oracle.NewAssertRequest(owner, hs, cell, int32(gain), int32(*elev), n, time.Now())
	if err != nil {
		return fmt.Errorf("assert: %w", err)
	}
	if err := checkFee(ctx, c, "a location assertion", *maxFee, func(r oracle.RegistryInfo) uint64 { return r.AssertFeeDC }); err != nil {
		return fmt.Errorf("assert: %w", err)
	}
	info, err := c.Assert(ctx, hs, req)
	if err != nil {
		return fmt.Errorf("assert: %s: %w", describeCell(cell, where), err)
	}
	return printJSON(out, info)
}

// runHotspots shows one hotspot's status, or lists every hotspot of an
// owner (following the oracle's page cursors).
//
//	hexfield hotspot (--address ADDRESS | --owner ADDRESS) [--oracle URL]
func runHotspots(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("hotspot", flag.ContinueOnError)
	url := fs.String("oracle", defaultOracleURL, "oracle HTTP API base URL")
	address := fs.String("address", "", "a hotspot's address: show its status")
	ownerS := fs.String("owner", "", "an owner's wallet address: list its hotspots")
	pageSize := fs.Int("page-size", 0, "hotspots per request when listing (0 = the oracle's default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c := &oracle.Client{BaseURL: *url, PageSize: *pageSize}
	switch {
	case (*address == "") == (*ownerS == ""):
		return errors.New("hotspot: give exactly one of --address and --owner")
	case *address != "":
		hs, err := wire.ParsePublicKey(*address)
		if err != nil {
			return fmt.Errorf("hotspot: --address: %w", err)
		}
		st, err := c.Hotspot(ctx, hs)
		if err != nil {
			return fmt.Errorf("hotspot: %w", err)
		}
		return printJSON(out, st)
	default:
		owner, err := wire.ParsePublicKey(*ownerS)
		if err != nil {
			return fmt.Errorf("hotspot: --owner: %w", err)
		}
		list, err := c.HotspotsOf(ctx, owner)
		if err != nil {
			return fmt.Errorf("hotspot: %w", err)
		}
		if list == nil {
			list = []oracle.HotspotInfo{}
		}
		return printJSON(out, list)
	}
}

func printJSON(out io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, string(b))
	return err
}

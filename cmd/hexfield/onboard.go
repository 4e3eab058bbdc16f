package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/hotspot"
	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/wire"
)

// maxRequestFile bounds the request file read (a real one is ~ 500 bytes).
const maxRequestFile = 64 << 10

// onboardRequest completes a request the hotspot signed on its own machine
// (hotspotd key onboard-request) with the owner's signature and submits
// it: the hotspot key never comes here, the wallet never goes to the Pi.
// It checks before signing that the request names this owner and that the
// hotspot's signature verifies.
func onboardRequest(ctx context.Context, url, reqPath, ownerPath string, conflicting bool, out io.Writer) error {
	if conflicting {
		return errors.New("onboard: --request carries the hotspot and the capability; drop --hotspot-key and --data-only")
	}
	if ownerPath == "" {
		return errors.New("onboard: --owner-key is required")
	}
	f, err := os.Open(reqPath)
	if err != nil {
		return fmt.Errorf("onboard: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxRequestFile+1))
	f.Close()
	if err != nil {
		return fmt.Errorf("onboard: %w", err)
	}
	if len(raw) > maxRequestFile {
		return fmt.Errorf("onboard: %s is larger than %d bytes: not an onboarding request", reqPath, maxRequestFile)
	}
	var file hotspot.OnboardRequest
	if err := json.Unmarshal(raw, &file); err != nil {
		return fmt.Errorf("onboard: %s: %w", reqPath, err)
	}
	var body wire.Onboard
	if err := proto.Unmarshal(file.Onboard, &body); err != nil {
		return fmt.Errorf("onboard: %s: the signed body does not decode: %w", reqPath, err)
	}
	hs, err := wire.PublicKeyFromBytes(body.Hotspot)
	if err != nil {
		return fmt.Errorf("onboard: %s: hotspot: %w", reqPath, err)
	}
	named, err := wire.PublicKeyFromBytes(body.Owner)
	if err != nil {
		return fmt.Errorf("onboard: %s: owner: %w", reqPath, err)
	}
	if !wire.Verify(hs, wire.Kind_KIND_ONBOARD, file.Onboard, file.HotspotSignature) {
		return fmt.Errorf("onboard: %s: the hotspot signature does not verify for %s", reqPath, hs)
	}
	owner, err := wire.ReadKeyFile(ownerPath)
	if err != nil {
		return fmt.Errorf("onboard: %w", err)
	}
	if got := wire.PublicKeyOf(owner); got != named {
		return fmt.Errorf("onboard: %s is for owner %s, but --owner-key is %s", reqPath, named, got)
	}
	req := oracle.OnboardRequest{
		Onboard:          file.Onboard,
		HotspotSignature: file.HotspotSignature,
		OwnerSignature:   wire.Sign(owner, wire.Kind_KIND_ONBOARD, file.Onboard),
	}
	info, err := (&oracle.Client{BaseURL: url}).Onboard(ctx, req)
	if err != nil {
		return fmt.Errorf("onboard: %w", err)
	}
	return printJSON(out, info)
}

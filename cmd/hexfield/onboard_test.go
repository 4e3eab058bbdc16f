package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hexfield/hexfield/hotspot"
	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/wire"
)

// The hotspot signs an onboarding request where its key lives and the
// owner completes it elsewhere: neither key file is read on the other side.
func TestOnboardRequestFlow(t *testing.T) {
	url := startTestOracle(t)
	dir := t.TempDir()
	hsKey, _ := wire.GenerateKey()
	owner, _ := wire.GenerateKey()
	other, _ := wire.GenerateKey()
	ownerFile, otherFile := filepath.Join(dir, "owner.json"), filepath.Join(dir, "other.json")
	wire.WriteKeyFile(ownerFile, owner)
	wire.WriteKeyFile(otherFile, other)

	writeReq := func(name string, req hotspot.OnboardRequest) string {
		b, _ := json.Marshal(req)
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	req, err := hotspot.NewOnboardRequest(hsKey, wire.PublicKeyOf(owner), false, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	good := writeReq("req.json", req)

	// The wrong wallet is refused before anything is signed or sent.
	err = runOnboard(context.Background(), []string{"--oracle", url, "--request", good, "--owner-key", otherFile}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "is for owner "+wire.PublicKeyOf(owner).String()) {
		t.Fatalf("wrong owner key: %v", err)
	}
	// A tampered body fails the hotspot's signature.
	bad := req
	bad.Onboard = append([]byte(nil), req.Onboard...)
	bad.Onboard[len(bad.Onboard)-1] ^= 1
	err = runOnboard(context.Background(), []string{"--oracle", url, "--request", writeReq("bad.json", bad), "--owner-key", ownerFile}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "hotspot signature does not verify") {
		t.Fatalf("tampered request: %v", err)
	}
	if err := runOnboard(context.Background(), []string{"--request", good, "--hotspot-key", ownerFile, "--owner-key", ownerFile}, &bytes.Buffer{}); err == nil {
		t.Fatal("--request with --hotspot-key accepted")
	}

	var info oracle.HotspotInfo
	out := runCLI(t, runOnboard, "--oracle", url, "--request", good, "--owner-key", ownerFile)
	if err := json.Unmarshal([]byte(out), &info); err != nil || info.Address != wire.PublicKeyOf(hsKey).String() || info.Owner != wire.PublicKeyOf(owner).String() {
		t.Fatalf("onboard output %q", out)
	}
}

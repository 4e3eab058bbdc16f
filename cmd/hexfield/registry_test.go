package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/wire"
)

// startTestOracle runs an oracle with only its HTTP API on loopback.
func startTestOracle(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	o, err := oracle.New(oracle.Config{DataDir: t.TempDir()}, oracle.Deps{Key: key, HTTPListener: ln})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return "http://" + ln.Addr().String()
}

func runCLI(t *testing.T, f func(context.Context, []string, io.Writer) error, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := f(context.Background(), args, &out); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return strings.TrimSpace(out.String())
}

func TestCLIRegistry(t *testing.T) {
	url := startTestOracle(t)
	dir := t.TempDir()
	hsFile, ownerFile := filepath.Join(dir, "hotspot.json"), filepath.Join(dir, "owner.json")
	hs := runCLI(t, runKeys, "new", "--out", hsFile)
	runCLI(t, runKeys, "new", "--out", ownerFile)
	if got := runCLI(t, runKeys, "show", hsFile); got != hs {
		t.Fatalf("keys show = %q, want %q", got, hs)
	}
	if err := runKeys(context.Background(), []string{"new", "--out", hsFile}, &bytes.Buffer{}); err == nil {
		t.Fatal("keys new overwrote an existing file")
	}

	var info oracle.HotspotInfo
	out := runCLI(t, runOnboard, "--oracle", url, "--hotspot-key", hsFile, "--owner-key", ownerFile)
	if err := json.Unmarshal([]byte(out), &info); err != nil || info.Address != hs {
		t.Fatalf("onboard output %q", out)
	}
	out = runCLI(t, runAssert, "--oracle", url, "--owner-key", ownerFile, "--hotspot", hs, "--lat", "40.7128", "--lng", "-74.0060", "--gain", "40")
	if err := json.Unmarshal([]byte(out), &info); err != nil || info.Region != "US915" || info.Location.GainDdBi != 40 {
		t.Fatalf("assert output %q", out)
	}
	err := runAssert(context.Background(), []string{"--oracle", url, "--owner-key", ownerFile, "--hotspot", hs, "--lat", "0", "--lng", "-150"}, &bytes.Buffer{})
	if !oracle.IsCode(err, "outside_regions") {
		t.Fatalf("assert in the Pacific: %v", err)
	}

	runCLI(t, runRoutes, "put", "--oracle", url, "--id", "acme", "--lns", "127.0.0.1:1700", "--devaddr", "26000000-2600ffff", "--joineui", "0000000000000001", "--dc", "500")
	out = runCLI(t, runRoutes, "list", "--oracle", url)
	var rs []oracle.Route
	if err := json.Unmarshal([]byte(out), &rs); err != nil || len(rs) != 1 || rs[0].DCBalance != 500 || rs[0].JoinEUIs[0].End != 1 {
		t.Fatalf("routes list %q", out)
	}
	runCLI(t, runRoutes, "delete", "--oracle", url, "--id", "acme")
	if out := runCLI(t, runRoutes, "list", "--oracle", url); out != "[]" {
		t.Fatalf("routes after delete: %q", out)
	}
}

// TestCLIHotspotsFollowsCursors lists an owner's hotspots a few per page:
// the CLI must follow the oracle's cursors to the end.
func TestCLIHotspotsFollowsCursors(t *testing.T) {
	url := startTestOracle(t)
	c := &oracle.Client{BaseURL: url}
	owner, _ := wire.GenerateKey()
	want := map[string]bool{}
	for range 7 {
		hs, _ := wire.GenerateKey()
		req, err := oracle.NewOnboardRequest(hs, owner, false, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Onboard(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		want[info.Address] = true
	}
	out := runCLI(t, runHotspots, "--oracle", url, "--owner", wire.PublicKeyOf(owner).String(), "--page-size", "3")
	var list []oracle.HotspotInfo
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("hotspots output %q: %v", out, err)
	}
	got := map[string]bool{}
	for _, h := range list {
		got[h.Address] = true
	}
	if len(list) != 7 || len(got) != 7 {
		t.Fatalf("listed %d hotspots (%d distinct), want 7", len(list), len(got))
	}
	for a := range want {
		if !got[a] {
			t.Errorf("hotspot %s missing from the list", a)
		}
	}
	for a := range want {
		var st oracle.HotspotStatus
		if out := runCLI(t, runHotspots, "--oracle", url, "--address", a); json.Unmarshal([]byte(out), &st) != nil || st.Address != a || st.Status != "not_asserted" {
			t.Fatalf("hotspots --address output %q", out)
		}
		break
	}
}

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
	return startTestOracleWith(t, oracle.Config{})
}

// startTestOracleWith runs an oracle with cfg (DataDir is a temp dir).
func startTestOracleWith(t *testing.T, cfg oracle.Config) string {
	t.Helper()
	return startTestOracleDeps(t, cfg, oracle.Deps{})
}

// startTestOracleDeps runs an oracle with cfg and deps (its key and HTTP
// listener are made here).
func startTestOracleDeps(t *testing.T, cfg oracle.Config, deps oracle.Deps) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	cfg.DataDir = t.TempDir()
	deps.Key, deps.HTTPListener = key, ln
	o, err := oracle.New(cfg, deps)
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
	pk, err := wire.ParsePublicKey(hs)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := runCLI(t, runKeys, "show", "--name", hsFile), hs+"\n"+pk.Name(); got != want {
		t.Fatalf("keys show --name = %q, want %q", got, want)
	}
	if err := runKeys(context.Background(), []string{"new", "--out", hsFile}, &bytes.Buffer{}); err == nil {
		t.Fatal("keys new overwrote an existing file")
	}

	var info oracle.HotspotInfo
	out := runCLI(t, runOnboard, "--oracle", url, "--hotspot-key", hsFile, "--owner-key", ownerFile)
	if err := json.Unmarshal([]byte(out), &info); err != nil || info.Address != hs {
		t.Fatalf("onboard output %q", out)
	}
	out = runCLI(t, runAssert, "--oracle", url, "--owner-key", ownerFile, "--hotspot", hs, "--lat", "40.7128", "--lng", "-74.0060", "--gain", "4")
	if err := json.Unmarshal([]byte(out), &info); err != nil || info.Region != "US915" || info.Location.GainDdBi != 40 {
		t.Fatalf("assert output %q", out)
	}
	err = runAssert(context.Background(), []string{"--oracle", url, "--owner-key", ownerFile, "--hotspot", hs, "--lat", "0", "--lng", "-150"}, &bytes.Buffer{})
	if !oracle.IsCode(err, "outside_regions") {
		t.Fatalf("assert in the Pacific: %v", err)
	}
}

// Locations and gains are checked with messages that name what is wrong:
// the coordinates, the unit.
func TestAssertInputs(t *testing.T) {
	// One hotspot asserted many times in a row: above the re-assertion limit.
	url := startTestOracleWith(t, oracle.Config{HotspotAssertBurst: 100})
	dir := t.TempDir()
	hsFile, ownerFile := filepath.Join(dir, "hotspot.json"), filepath.Join(dir, "owner.json")
	hs := runCLI(t, runKeys, "new", "--out", hsFile)
	runCLI(t, runKeys, "new", "--out", ownerFile)
	runCLI(t, runOnboard, "--oracle", url, "--hotspot-key", hsFile, "--owner-key", ownerFile)
	assert := func(args ...string) (oracle.HotspotInfo, error) {
		var out bytes.Buffer
		err := runAssert(context.Background(), append([]string{"--oracle", url, "--owner-key", ownerFile, "--hotspot", hs}, args...), &out)
		var info oracle.HotspotInfo
		if err == nil {
			json.Unmarshal(out.Bytes(), &info)
		}
		return info, err
	}
	for _, tc := range []struct {
		args []string
		gain int32
	}{
		{[]string{"--lat", "52.37", "--lng", "4.90", "--gain", "6"}, 60},
		{[]string{"--lat", "52.37", "--lng", "4.90", "--gain", "5.8"}, 58},
		{[]string{"--lat", "52.37", "--lng", "4.90", "--gain", "0"}, 0},
		{[]string{"--lat", "52.37", "--lng", "4.90", "--gain", "12dBi"}, 120},
		{[]string{"--lat", "52.37", "--lng", "4.90"}, 12},
	} {
		info, err := assert(tc.args...)
		if err != nil || info.Location == nil || info.Location.GainDdBi != tc.gain || info.Region != "EU868" {
			t.Errorf("%v: %+v, %v; want gain %d ddBi in EU868", tc.args, info.Location, err, tc.gain)
		}
	}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--lat", "52.37", "--lng", "4.90", "--gain", "12"}, "ambiguous"},
		{[]string{"--lat", "52.37", "--lng", "4.90", "--gain", "58"}, "outside -10.0 to 30.0 dBi"},
		{[]string{"--lat", "200", "--lng", "4.90"}, "invalid latitude 200"},
		{[]string{"--lat", "52", "--lng", "-190"}, "invalid longitude -190"},
		{[]string{"--lat", "0", "--lng", "0"}, "location 0, 0 (cell "},
		{[]string{"--lat", "0", "--lng", "-150"}, "location 0, -150"},
		{[]string{"--cell", "8c754e649929dff"}, "location -0.000030, -0.000066 (cell 8c754e649929dff)"},
	} {
		_, err := assert(tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%v: %v; want an error containing %q", tc.args, err, tc.msg)
		}
	}
	if _, err := assert("--lat", "0", "--lng", "0"); !oracle.IsCode(err, "outside_regions") {
		t.Errorf("Null Island: %v; want outside_regions", err)
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

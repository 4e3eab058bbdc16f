package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hexfield/hexfield/hotspot"
	"github.com/hexfield/hexfield/wire"
)

func TestVersionAndUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "hotspotd/") {
		t.Fatalf("version: %q, %v", out.String(), err)
	}
	if err := run(context.Background(), []string{"frobnicate"}, &out, &errOut); err == nil {
		t.Fatal("unknown command accepted")
	}
	if err := run(context.Background(), nil, &out, &errOut); err == nil || !strings.Contains(errOut.String(), "usage") {
		t.Fatal("no command: want usage and an error")
	}
}

// -h and --help print the usage and succeed, for every command.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{
		{"-h"}, {"--help"}, {"help"}, {"run", "-h"}, {"run", "--help"}, {"status", "-h"},
		{"key", "-h"}, {"key", "--help"}, {"key", "info", "-h"}, {"key", "onboard-request", "--help"},
	} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), args, &out, &errOut); err != nil {
			t.Errorf("hotspotd %s: %v", strings.Join(args, " "), err)
		}
		if !strings.Contains(out.String()+errOut.String(), "usage") && !strings.Contains(errOut.String(), "Usage") {
			t.Errorf("hotspotd %s printed no usage:\n%s%s", strings.Join(args, " "), out.String(), errOut.String())
		}
	}
	var errOut bytes.Buffer
	run(context.Background(), []string{"run", "-h"}, &bytes.Buffer{}, &errOut)
	for _, want := range []string{"-antenna-gain", "-oracles", "-config"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("run -h lacks %q:\n%s", want, errOut.String())
		}
	}
}

// key onboard-request signs with the hotspot's key for the owner's wallet;
// the request verifies and names both.
func TestKeyOnboardRequest(t *testing.T) {
	dir := t.TempDir()
	key, _ := wire.GenerateKey()
	owner, _ := wire.GenerateKey()
	if err := wire.WriteKeyFile(filepath.Join(dir, "hotspot.key"), key); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "req.json")
	var errOut bytes.Buffer
	if err := run(context.Background(), []string{"key", "onboard-request", "--data-dir", dir, "--owner", wire.PublicKeyOf(owner).String(), "--out", path}, &bytes.Buffer{}, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "hexfield onboard --request "+path) {
		t.Errorf("no hint for the owner:\n%s", errOut.String())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var req hotspot.OnboardRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		t.Fatal(err)
	}
	if req.Hotspot != wire.PublicKeyOf(key).String() || req.Owner != wire.PublicKeyOf(owner).String() || !wire.Verify(wire.PublicKeyOf(key), wire.Kind_KIND_ONBOARD, req.Onboard, req.HotspotSignature) {
		t.Fatalf("request %s", raw)
	}
	for _, bad := range [][]string{
		{"key", "onboard-request", "--data-dir", dir},
		{"key", "onboard-request", "--data-dir", dir, "--owner", "not-base58!"},
		{"key", "onboard-request", "--data-dir", dir, "--owner", wire.PublicKeyOf(key).String()},
		{"key", "onboard-request", "--data-dir", t.TempDir(), "--owner", wire.PublicKeyOf(owner).String()},
	} {
		if err := run(context.Background(), bad, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestKeyInfo(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"key", "info", "--data-dir", dir}, &out, &errOut); err == nil {
		t.Fatal("key info without a key file succeeded")
	}
	key, _ := wire.GenerateKey()
	if err := wire.WriteKeyFile(filepath.Join(dir, "hotspot.key"), key); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"key", "info", "--data-dir", dir}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	want := wire.PublicKeyOf(key).String() + "\ngateway_eui " + hotspot.GatewayEUI(wire.PublicKeyOf(key)).String() +
		"\nname " + wire.PublicKeyOf(key).Name()
	if got := strings.TrimSpace(out.String()); got != want {
		t.Fatalf("key info printed %q", got)
	}
}

func freePort(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestRunAndStatus starts the daemon in-process from flags and the
// environment, reads it with `hotspotd status`, and stops it.
func TestRunAndStatus(t *testing.T) {
	dir := t.TempDir()
	status := freePort(t, "tcp")
	t.Setenv("HEXFIELD_HOTSPOT_REGION", "EU868")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var errOut bytes.Buffer
	go func() {
		done <- run(ctx, []string{"run", "--data-dir", dir, "--semtech-listen", freePort(t, "udp"),
			"--status-listen", status, "--log-level", "warn"}, &bytes.Buffer{}, &errOut)
	}()
	var out bytes.Buffer
	deadline := time.Now().Add(10 * time.Second)
	for {
		out.Reset()
		err := run(context.Background(), []string{"status", "--status-listen", status}, &out, &bytes.Buffer{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never answered: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	key, err := wire.ReadKeyFile(filepath.Join(dir, "hotspot.key"))
	if err != nil {
		t.Fatalf("key not created on first run: %v", err)
	}
	fi, _ := os.Stat(filepath.Join(dir, "hotspot.key"))
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode().Perm())
	}
	for _, want := range []string{wire.PublicKeyOf(key).String(), "EU868 (from config)", "oracle       none configured", "forwarder    none seen"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, errOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("daemon did not stop")
	}
	if !strings.Contains(errOut.String(), "no oracles configured") {
		t.Errorf("started without oracles and without a warning:\n%s", errOut.String())
	}
}

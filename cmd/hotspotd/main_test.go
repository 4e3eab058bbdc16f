package main

import (
	"bytes"
	"context"
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
	want := wire.PublicKeyOf(key).String() + "\ngateway_eui " + hotspot.GatewayEUI(wire.PublicKeyOf(key)).String()
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
}

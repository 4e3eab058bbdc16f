package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoadConfigLayers checks defaults < file < environment < flags, and
// that no file at all gives a valid config.
func TestLoadConfigLayers(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	cfg, err := loadConfig(nil, io.Discard, none)
	if err != nil {
		t.Fatalf("no file, no flags: %v", err)
	}
	if cfg.QUICListen != "0.0.0.0:4433" || cfg.DataDir != "oracled-data" {
		t.Fatalf("defaults %+v", cfg)
	}
	path := filepath.Join(t.TempDir(), "o.toml")
	os.WriteFile(path, []byte("epoch_length = \"2h\"\nbeacon_interval = \"1h\"\nverify_interval = \"3s\"\nhttp_listen = \"127.0.0.1:1\"\n"), 0o600)
	env := map[string]string{"HEXFIELD_ORACLE_VERIFY_INTERVAL": "4s", "HEXFIELD_ORACLE_HTTP_LISTEN": "127.0.0.1:2"}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err = loadConfig([]string{"--config", path, "--http-listen", "127.0.0.1:3", "--data", "/d"}, io.Discard, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.EpochLength != 2*time.Hour || cfg.VerifyInterval != 4*time.Second || cfg.HTTPListen != "127.0.0.1:3" ||
		cfg.DataDir != "/d" || cfg.KeyFile != filepath.Join("/d", "oracle-key.json") {
		t.Fatalf("layered %+v", cfg)
	}
	env["HEXFIELD_ORACLE_CONFIG"] = path
	cfg, err = loadConfig(nil, io.Discard, getenv)
	if err != nil || cfg.EpochLength != 2*time.Hour {
		t.Fatalf("config from env: %+v %v", cfg, err)
	}
	if _, err := loadConfig([]string{"--epoch-length", "soon"}, io.Discard, none); err == nil {
		t.Fatal("bad duration flag accepted")
	}
	if _, err := loadConfig([]string{"--beacon-interval", "7h"}, io.Discard, none); err == nil {
		t.Fatal("invalid combination accepted")
	}
}

// "oracled run -h" succeeds and describes every flag with its real
// default, not "config key …" and "(default 0)".
func TestRunHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"run", "-h"}, {"run", "--help"}} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), args, &out, &errOut); err != nil {
			t.Errorf("oracled %v: %v", args, err)
		}
		if !strings.Contains(strings.ToLower(out.String()+errOut.String()), "usage") {
			t.Errorf("oracled %v printed no usage", args)
		}
	}
	var errOut bytes.Buffer
	run(context.Background(), []string{"run", "--help"}, &bytes.Buffer{}, &errOut)
	help := errOut.String()
	for _, want := range []string{
		"-quic-listen address\n", "(default 0.0.0.0:4433)", "-epoch-length duration\n", "(default 24h0m0s)",
		"(default 4096)", "(default 1000000000000)", "default <data_dir>/oracle-key.json",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("run --help lacks %q", want)
		}
	}
	for _, bad := range []string{"(default 0s)", "(default oracled-data/oracle-key.json)"} {
		if strings.Contains(help, bad) {
			t.Errorf("run --help shows %q", bad)
		}
	}
	// Every flag has a description beyond its key name.
	for line := range strings.SplitSeq(help, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "config key") {
			t.Errorf("flag without a description: %q", line)
		}
	}
	if strings.Contains(help, "-retention duration\n") && !strings.Contains(help, "(default 720h0m0s)") {
		t.Error("retention default not shown")
	}
}

package hotspot

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const oracleA = "4vJ9JU1bJJE96FWSJKvHsmmFADCg4gpZQff4P3bkLKi@127.0.0.1:7001"

func TestConfigDefaults(t *testing.T) {
	c, err := LoadConfig("", func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		DataDir: DefaultDataDir, KeyFile: "/var/lib/hotspotd/hotspot.key", SemtechListen: "127.0.0.1:1680",
		StatusListen: DefaultStatusListen, AntennaGainDdBi: 12, ConfigRefresh: 5 * time.Minute, OutboxMaxBytes: 64 << 20,
		OutboxSyncInterval: 200 * time.Millisecond, ShutdownTimeout: 10 * time.Second, LogLevel: "info",
		MaxWitnessesPerInterval: DefaultMaxWitnessesPerInterval,
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("defaults\n got %+v\nwant %+v", c, want)
	}
}

func TestConfigLayers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hotspotd.toml")
	os.WriteFile(path, []byte(`
data_dir = "`+dir+`"
semtech_listen = "127.0.0.1:1700"
oracles = ["`+oracleA+`"]
region = "US915"
beacon_interval = "30s"
outbox_max_bytes = 1048576
`), 0o600)
	env := map[string]string{
		"HEXFIELD_HOTSPOT_REGION":           "EU868",
		"HEXFIELD_HOTSPOT_SEMTECH_LISTEN":   "127.0.0.1:1800",
		"HEXFIELD_HOTSPOT_OUTBOX_MAX_BYTES": "2097152",
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	cf := RegisterConfigFlags(fs)
	if err := fs.Parse([]string{"-semtech-listen", "127.0.0.1:1900", "-log-level", "debug"}); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(path, func(k string) string { return env[k] }, cf)
	if err != nil {
		t.Fatal(err)
	}
	if c.SemtechListen != "127.0.0.1:1900" { // flag beats env beats file
		t.Errorf("semtech_listen %q", c.SemtechListen)
	}
	if c.Region != "EU868" || c.OutboxMaxBytes != 2<<20 { // env beats file
		t.Errorf("region %q outbox %d", c.Region, c.OutboxMaxBytes)
	}
	if c.BeaconInterval != 30*time.Second || len(c.Oracles) != 1 || c.LogLevel != "debug" {
		t.Errorf("file values lost: %+v", c)
	}
	if c.KeyFile != filepath.Join(dir, "hotspot.key") {
		t.Errorf("key file %q", c.KeyFile)
	}
}

func TestConfigRejects(t *testing.T) {
	for name, c := range map[string]Config{
		"bad listen":    {SemtechListen: "nope"},
		"bad oracle":    {Oracles: []string{"127.0.0.1:1"}},
		"bad key":       {Oracles: []string{"xyz@127.0.0.1:1"}},
		"bad region":    {Region: "MARS1"},
		"tiny outbox":   {OutboxMaxBytes: 10},
		"short beacons": {BeaconInterval: time.Millisecond},
		"bad log level": {LogLevel: "loud"},
	} {
		c.SetDefaults()
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted %+v", name, c)
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "x.toml")
	os.WriteFile(path, []byte("semtech_lisen = \"127.0.0.1:1\"\n"), 0o600)
	if _, err := LoadConfig(path, func(string) string { return "" }, nil); err == nil || !strings.Contains(err.Error(), "semtech_lisen") {
		t.Errorf("unknown key: %v", err)
	}
	if _, err := LoadConfig("", func(k string) string {
		if k == "HEXFIELD_HOTSPOT_BEACON_INTERVAL" {
			return "soon"
		}
		return ""
	}, nil); err == nil {
		t.Error("bad env duration accepted")
	}
}

// TestSampleConfig keeps configs/hotspotd.toml loadable and complete.
func TestSampleConfig(t *testing.T) {
	path := filepath.Join("..", "configs", "hotspotd.toml")
	if _, err := os.Stat(path); err != nil {
		t.Skip("no sample config")
	}
	var c Config
	if err := LoadConfigFile(path, &c); err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(path)
	for _, f := range configFields(&c) {
		if !strings.Contains(string(text), f.key) {
			t.Errorf("sample config does not mention %s", f.key)
		}
	}
}

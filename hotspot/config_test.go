package hotspot

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hexfield/hexfield/radio"
)

const oracleA = "4vJ9JU1bJJE96FWSJKvHsmmFADCg4gpZQff4P3bkLKi@127.0.0.1:7001"

func TestConfigDefaults(t *testing.T) {
	c, err := LoadConfig("", func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		DataDir: DefaultDataDir, KeyFile: "/var/lib/hotspotd/hotspot.key", SemtechListen: "127.0.0.1:1680",
		StatusListen: DefaultStatusListen, AntennaGain: ptr(radio.Gain(12)), ConfigRefresh: 5 * time.Minute, RoutePoll: 25 * time.Second, OutboxMaxBytes: 64 << 20,
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

func ptr[T any](v T) *T { return &v }

// The antenna gain is given in dBi as a decimal, in the file, the
// environment and flags; 0 is 0 dBi, not the default; ambiguous and
// out-of-range values are refused with the unit in the message, and the
// old key in tenths of a dBi says what to write instead.
func TestConfigAntennaGain(t *testing.T) {
	dir := t.TempDir()
	load := func(file string, env map[string]string, flags ...string) (Config, error) {
		t.Helper()
		path := ""
		if file != "" {
			path = filepath.Join(dir, "g.toml")
			os.WriteFile(path, []byte(file), 0o600)
		}
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		cf := RegisterConfigFlags(fs)
		if err := fs.Parse(flags); err != nil {
			t.Fatal(err)
		}
		return LoadConfig(path, func(k string) string { return env[k] }, cf)
	}
	for _, tc := range []struct {
		name  string
		file  string
		env   map[string]string
		flags []string
		want  radio.Gain
	}{
		{"default", "", nil, nil, 12},
		{"file decimal", "antenna_gain_dbi = 5.8\n", nil, nil, 58},
		{"file whole", "antenna_gain_dbi = 6\n", nil, nil, 60},
		{"file string", "antenna_gain_dbi = \"5.8dBi\"\n", nil, nil, 58},
		{"file zero", "antenna_gain_dbi = 0\n", nil, nil, 0},
		{"file 12.0", "antenna_gain_dbi = 12.0\n", nil, nil, 120},
		{"env", "", map[string]string{"HEXFIELD_HOTSPOT_ANTENNA_GAIN_DBI": "3.5"}, nil, 35},
		{"flag", "antenna_gain_dbi = 5.8\n", nil, []string{"--antenna-gain-dbi", "0"}, 0},
		{"flag decimal", "", nil, []string{"--antenna-gain-dbi=5.8"}, 58},
	} {
		c, err := load(tc.file, tc.env, tc.flags...)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if c.AntennaGain == nil || *c.AntennaGain != tc.want {
			t.Errorf("%s: gain %v, want %v", tc.name, c.AntennaGain, tc.want)
		}
	}
	for _, tc := range []struct {
		name, file string
		env        map[string]string
		flags      []string
		msg        string
	}{
		{"ambiguous file", "antenna_gain_dbi = 12\n", nil, nil, "ambiguous"},
		{"too many decimals", "antenna_gain_dbi = 5.85\n", nil, nil, "at most one decimal"},
		{"too large", "antenna_gain_dbi = 58.0\n", nil, nil, "outside -10.0 to 30.0 dBi"},
		{"old key", "antenna_gain_ddbi = 0\n", nil, nil, "antenna_gain_dbi = 1.2"},
		{"old env", "", map[string]string{"HEXFIELD_HOTSPOT_ANTENNA_GAIN_DDBI": "12"}, nil, "antenna_gain_dbi"},
		{"flag unit", "", nil, []string{"--antenna-gain-dbi", "3dBd"}, "unit must be dBi"},
	} {
		_, err := load(tc.file, tc.env, tc.flags...)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v; want an error containing %q", tc.name, err, tc.msg)
		}
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

package oracle

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaultsValidate(t *testing.T) {
	c := Config{}.Defaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if c.EntropyPeriod != time.Minute || c.EntropyLifetime != 3*time.Minute || c.EpochLength != 24*time.Hour ||
		c.EpochGrace != 30*time.Minute || c.KeyFile != filepath.Join("oracled-data", "oracle-key.json") {
		t.Fatalf("defaults %+v", c)
	}
	bad := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"interval not dividing epoch", func(c *Config) { c.BeaconInterval = 7 * time.Hour }, "must divide"},
		{"short retention", func(c *Config) { c.Retention = time.Hour }, "retention"},
		{"log level", func(c *Config) { c.LogLevel = "loud" }, "log_level"},
		{"negative grace", func(c *Config) { c.EpochGrace = -time.Second }, "epoch_grace"},
		{"fractional epoch", func(c *Config) { c.EpochLength = 1500 * time.Millisecond; c.BeaconInterval = 1500 * time.Millisecond }, "whole seconds"},
	}
	for _, tc := range bad {
		c := Config{}.Defaults()
		tc.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
}

// TestConfigLayers checks file < env < flag for every kind of field.
func TestConfigLayers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "oracled.toml")
	os.WriteFile(path, []byte("data_dir = \"/file\"\nepoch_length = \"1h\"\ncommit_max_batch = 7\nemission = 5\nadmin_token = \"f\"\n"), 0o600)
	var c Config
	if err := LoadConfigFile(path, &c); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HEXFIELD_ORACLE_EPOCH_LENGTH": "2h", "HEXFIELD_ORACLE_ADMIN_TOKEN": "e"}
	if err := c.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.BindFlags(fs)
	if err := fs.Parse([]string{"--admin-token", "flag", "--commit-max-batch=9"}); err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/file" || c.EpochLength != 2*time.Hour || c.AdminToken != "flag" || c.CommitMaxBatch != 9 || c.Emission != 5 {
		t.Fatalf("layered config %+v", c)
	}
	if err := c.ApplyEnv(func(k string) (string, bool) { return "x", k == "HEXFIELD_ORACLE_RETENTION" }); err == nil {
		t.Fatal("bad env duration accepted")
	}
	os.WriteFile(path, []byte("data_dri = \"typo\"\n"), 0o600)
	if err := LoadConfigFile(path, &Config{}); err == nil || !strings.Contains(err.Error(), "data_dri") {
		t.Fatalf("unknown key: %v", err)
	}
}

// TestSampleConfig keeps configs/oracled.toml loadable and valid.
func TestSampleConfig(t *testing.T) {
	var c Config
	if err := LoadConfigFile(filepath.Join("..", "configs", "oracled.toml"), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Defaults().Validate(); err != nil {
		t.Fatal(err)
	}
}

package oracle

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hexfield/hexfield/wire"
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
	os.WriteFile(path, []byte("data_dir = \"/file\"\nepoch_length = \"1h\"\ncommit_max_batch = 7\nemission = 5\nonboard_fee_dc = 4\n"), 0o600)
	var c Config
	if err := LoadConfigFile(path, &c); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HEXFIELD_ORACLE_EPOCH_LENGTH": "2h", "HEXFIELD_ORACLE_ONBOARD_FEE_DC": "7"}
	if err := c.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.BindFlags(fs)
	if err := fs.Parse([]string{"--onboard-fee-dc", "9", "--commit-max-batch=9"}); err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/file" || c.EpochLength != 2*time.Hour || c.OnboardFeeDC != 9 || c.CommitMaxBatch != 9 || c.Emission != 5 {
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

// TestConfigPeers checks the multi-oracle keys: list parsing from flags
// and env, the default threshold, validation and the member order.
func TestConfigPeers(t *testing.T) {
	keys := make([]wire.PublicKey, 4)
	for i := range keys {
		keys[i] = wire.PublicKeyOf(cosignKey(fmt.Sprint("peer", i)))
	}
	p1, p2 := keys[1].String()+"@127.0.0.1:4434", keys[2].String()+"@[::1]:4435"
	var c Config
	if err := c.ApplyEnv(func(k string) (string, bool) { return p1 + " , " + p2, k == "HEXFIELD_ORACLE_PEERS" }); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.BindFlags(fs)
	if err := fs.Parse([]string{"--leader", "--solana-rpc", "http://x"}); err != nil {
		t.Fatal(err)
	}
	c = c.Defaults()
	if !slices.Equal(c.Peers, []string{p1, p2}) || !c.Leader || c.Threshold != 2 || c.CosignListen != "0.0.0.0:4434" {
		t.Fatalf("peers config %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := fs.Lookup("peers").Value.String(); got != p1+","+p2 {
		t.Fatalf("peers flag prints %q", got)
	}
	members := c.Members(keys[0])
	if len(members) != 3 || !slices.IsSortedFunc(members, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) }) ||
		!slices.Contains(members, [32]byte(keys[0])) || !slices.Contains(members, [32]byte(keys[2])) {
		t.Fatalf("members %x", members)
	}
	// Another oracle with the same deployment computes the same members.
	other := Config{Peers: []string{keys[0].String() + "@h:1", p1}}
	if !slices.Equal(other.Members(keys[2]), members) {
		t.Fatal("members depend on which oracle computes them")
	}

	bad := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"threshold half", func(c *Config) { c.Threshold = 1 }, "threshold 1 of 3"},
		{"threshold above n", func(c *Config) { c.Threshold = 4 }, "threshold 4 of 3"},
		{"bad peer", func(c *Config) { c.Peers = append(c.Peers, "nokey@h:1") }, "peers"},
		{"duplicate peer", func(c *Config) { c.Peers = append(c.Peers, p1) }, "twice"},
		{"twelve oracles", func(c *Config) {
			for i := range 9 {
				c.Peers = append(c.Peers, wire.PublicKeyOf(cosignKey(fmt.Sprint("more", i))).String()+"@h:1")
			}
		}, "at most 11"},
		{"follower without addresses", func(c *Config) { c.Leader = false }, "solana_payer_address"},
		{"bad address", func(c *Config) { c.SolanaPayerAddress = "x" }, "solana_payer_address"},
	}
	for _, tc := range bad {
		c := c
		c.Peers = slices.Clone(c.Peers)
		tc.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
	follower := c
	follower.Leader = false
	follower.SolanaPayerAddress, follower.SolanaDistributorAddress = keys[3].String(), keys[2].String()
	if err := follower.Validate(); err != nil {
		t.Fatalf("follower with addresses: %v", err)
	}
}

// TestEntropySignersIncludePeers: an oracle accepts its peers' entropy,
// and every oracle of a deployment has the same parameter hash.
func TestEntropySignersIncludePeers(t *testing.T) {
	ka, kb := cosignKey("oracle a"), cosignKey("oracle b")
	a, b := wire.PublicKeyOf(ka), wire.PublicKeyOf(kb)
	oa, err := New(Config{DataDir: t.TempDir(), Peers: []string{b.String() + "@127.0.0.1:1"}}, Deps{Key: ka})
	if err != nil {
		t.Fatal(err)
	}
	defer oa.store.Close()
	ob, err := New(Config{DataDir: t.TempDir(), Peers: []string{a.String() + "@127.0.0.1:2"}}, Deps{Key: kb})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.store.Close()
	for _, o := range []*Oracle{oa, ob} {
		if len(o.params.EntropySigners) != 2 || !slices.Contains(o.params.EntropySigners, a) || !slices.Contains(o.params.EntropySigners, b) {
			t.Fatalf("entropy signers %v", o.params.EntropySigners)
		}
	}
	if oa.params.Hash() != ob.params.Hash() {
		t.Fatal("parameter hashes differ between the two oracles")
	}
}

// Every config key has a flag description (oracled run -h).
func TestConfigHelp(t *testing.T) {
	var c Config
	keys := map[string]bool{}
	for _, f := range configFields(&c) {
		keys[f.key] = true
		if configHelp[f.key] == "" {
			t.Errorf("config key %s has no description in configHelp", f.key)
		}
	}
	for k := range configHelp {
		if !keys[k] {
			t.Errorf("configHelp describes %s, which is not a config key", k)
		}
	}
}

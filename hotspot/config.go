package hotspot

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/radio/semtech"
	"github.com/hexfield/hexfield/wire"
)

// EnvPrefix starts the name of every environment variable that overrides a
// configuration key: key "semtech_listen" is HEXFIELD_HOTSPOT_SEMTECH_LISTEN.
const EnvPrefix = "HEXFIELD_HOTSPOT_"

// Config is the whole configuration of a hotspot daemon. The zero value
// works once SetDefaults has filled it. Each key can be set in the TOML file
// (its toml tag), by an environment variable (EnvPrefix + upper-case key) and
// by a flag (the key with dashes); later sources win in that order.
type Config struct {
	// DataDir holds the key file (unless KeyFile says otherwise), the
	// outbox and the last route table. Default "/var/lib/hotspotd".
	DataDir string `toml:"data_dir" help:"directory for the key and the outbox"`
	// KeyFile is the hotspot's identity, a Solana CLI keypair file created
	// on first run with mode 0600. Default DataDir/hotspot.key.
	KeyFile string `toml:"key_file" help:"hotspot key file (Solana keypair JSON)"`
	// SemtechListen is the UDP address the packet forwarder sends to.
	// Default "127.0.0.1:1680" (loopback: anyone who can reach it can inject
	// frames).
	SemtechListen string `toml:"semtech_listen" help:"Semtech UDP listen address"`
	// ForwarderEUI pins the packet forwarder (16 hex digits, e.g.
	// "B827EBFFFE123456"): only datagrams with this gateway EUI are
	// served. Default empty: the first forwarder heard is pinned, and any
	// other is dropped with a warning.
	ForwarderEUI string `toml:"forwarder_eui" help:"gateway EUI of the packet forwarder to serve (default: the first one heard)"`
	// MaxWitnessesPerInterval bounds the witness reports signed per beacon
	// interval. Default DefaultMaxWitnessesPerInterval.
	MaxWitnessesPerInterval int `toml:"max_witnesses_per_interval" help:"witness reports signed per beacon interval, at most"`
	// StatusListen is the loopback HTTP address of the status API and the
	// Prometheus metrics. Default "127.0.0.1:4468"; "off" disables it.
	StatusListen string `toml:"status_listen" help:"status API and metrics listen address"`
	// Oracles lists the oracles as "ADDRESS@host:port", the address pinning
	// each oracle's key. Reports go to every one of them.
	Oracles []string `toml:"oracles" help:"oracles, ADDRESS@host:port, comma separated"`
	// Region overrides the region the oracle derives from the asserted
	// location (e.g. "EU868"). Default empty: use the oracle's.
	Region string `toml:"region" help:"region override, e.g. EU868"`
	// AntennaGain is the antenna gain, in dBi as a decimal (5.8; on the
	// wire it travels in tenths of a dBi), used for the beacon power until
	// an oracle's config (the asserted gain) says otherwise. Nil means
	// the default, 1.2 dBi; 0 is a 0 dBi antenna. See radio.ParseGain for
	// what is refused as ambiguous.
	AntennaGain *radio.Gain `toml:"antenna_gain_dbi" help:"antenna gain in dBi, e.g. 5.8, until the oracle's config says (default 1.2)"`
	// BeaconInterval is the beacon bucket length. Default 0: take the
	// oracle's (6 h when it says nothing).
	BeaconInterval time.Duration `toml:"beacon_interval" help:"beacon interval (0 = oracle's, else 6h)"`
	// ConfigRefresh is how often the oracle's config (region, location,
	// gain, beacon cadence) is fetched again once known. Default 5 min.
	ConfigRefresh time.Duration `toml:"config_refresh" help:"how often to refetch the oracle's config"`
	// RoutePoll is how often the oracles are asked whether the route table
	// changed (a little less, at random). A locked organization's traffic
	// stops within it, so it is 1 s to 1 min. Default 25 s.
	RoutePoll time.Duration `toml:"route_poll" help:"how often to ask the oracles for route table changes (1s to 1m)"`
	// OutboxMaxBytes bounds the outbox on disk; past it the oldest reports
	// are dropped and counted. Default 64 MiB.
	OutboxMaxBytes int64 `toml:"outbox_max_bytes" help:"outbox size bound in bytes"`
	// OutboxSyncInterval is how long appended reports may wait for their
	// batched fsync. Default 200 ms.
	OutboxSyncInterval time.Duration `toml:"outbox_sync_interval" help:"outbox fsync batching interval"`
	// ShutdownTimeout bounds the outbox flush on SIGTERM. Default 10 s.
	ShutdownTimeout time.Duration `toml:"shutdown_timeout" help:"how long SIGTERM waits for oracles to ack the outbox"`
	// LogLevel is debug, info, warn or error. Default "info".
	LogLevel string `toml:"log_level" help:"log level: debug, info, warn, error"`
}

// Default values of Config.
const (
	DefaultDataDir            = "/var/lib/hotspotd"
	DefaultSemtechListen      = "127.0.0.1:1680"
	DefaultStatusListen       = "127.0.0.1:4468"
	DefaultAntennaGain        = radio.Gain(12) // 1.2 dBi
	DefaultBeaconInterval     = 6 * time.Hour
	DefaultConfigRefresh      = 5 * time.Minute
	DefaultRoutePoll          = 25 * time.Second
	DefaultOutboxMaxBytes     = 64 << 20
	DefaultOutboxSyncInterval = 200 * time.Millisecond
	DefaultShutdownTimeout    = 10 * time.Second
	// DefaultMaxWitnessesPerInterval: a hotspot hears each neighbour's
	// beacon at most once per interval, and even the densest Helium
	// cities had far fewer than 256 hotspots within radio range of one
	// another; reports beyond it come from fake frames.
	DefaultMaxWitnessesPerInterval = 256
	DefaultLogLevel                = "info"
)

// SetDefaults fills every unset field with its default.
func (c *Config) SetDefaults() {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.KeyFile == "" {
		c.KeyFile = filepath.Join(c.DataDir, "hotspot.key")
	}
	if c.SemtechListen == "" {
		c.SemtechListen = DefaultSemtechListen
	}
	if c.StatusListen == "" {
		c.StatusListen = DefaultStatusListen
	}
	if c.AntennaGain == nil {
		g := DefaultAntennaGain
		c.AntennaGain = &g
	}
	if c.MaxWitnessesPerInterval == 0 {
		c.MaxWitnessesPerInterval = DefaultMaxWitnessesPerInterval
	}
	if c.ConfigRefresh == 0 {
		c.ConfigRefresh = DefaultConfigRefresh
	}
	if c.RoutePoll == 0 {
		c.RoutePoll = DefaultRoutePoll
	}
	if c.OutboxMaxBytes == 0 {
		c.OutboxMaxBytes = DefaultOutboxMaxBytes
	}
	if c.OutboxSyncInterval == 0 {
		c.OutboxSyncInterval = DefaultOutboxSyncInterval
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.LogLevel == "" {
		c.LogLevel = DefaultLogLevel
	}
}

// Validate reports the first problem with a defaulted Config.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.SemtechListen); err != nil {
		return fmt.Errorf("semtech_listen %q: %w", c.SemtechListen, err)
	}
	if c.StatusListen != "off" {
		if _, _, err := net.SplitHostPort(c.StatusListen); err != nil {
			return fmt.Errorf("status_listen %q: %w", c.StatusListen, err)
		}
	}
	for _, o := range c.Oracles {
		if _, _, err := wire.ParseOracleAddr(o); err != nil {
			return fmt.Errorf("oracles: %w", err)
		}
	}
	if len(c.Oracles) > maxOracles {
		return fmt.Errorf("oracles: %d configured, at most %d", len(c.Oracles), maxOracles)
	}
	if c.Region != "" {
		if _, err := radio.LookupRegion(c.Region); err != nil {
			return fmt.Errorf("region: %w", err)
		}
	}
	if g := c.AntennaGain; g != nil && (*g < radio.MinGain || *g > radio.MaxGain) {
		return fmt.Errorf("antenna_gain_dbi %s dBi: outside %s to %s dBi", g, radio.MinGain, radio.MaxGain)
	}
	if c.ForwarderEUI != "" {
		if _, err := semtech.ParseEUI(c.ForwarderEUI); err != nil {
			return fmt.Errorf("forwarder_eui %q: %w", c.ForwarderEUI, err)
		}
	}
	if c.MaxWitnessesPerInterval < 0 {
		return fmt.Errorf("max_witnesses_per_interval %d: must not be negative", c.MaxWitnessesPerInterval)
	}
	if c.OutboxMaxBytes < 64<<10 {
		return fmt.Errorf("outbox_max_bytes %d: at least 65536", c.OutboxMaxBytes)
	}
	if c.BeaconInterval < 0 || c.OutboxSyncInterval < 0 || c.ShutdownTimeout < 0 || c.ConfigRefresh < 0 {
		return errors.New("durations must not be negative")
	}
	if c.RoutePoll < time.Second || c.RoutePoll > time.Minute {
		return fmt.Errorf("route_poll %v: 1s to 1m (a locked organization's traffic must stop within a minute)", c.RoutePoll)
	}
	if c.BeaconInterval != 0 && c.BeaconInterval < time.Second {
		return fmt.Errorf("beacon_interval %v: at least 1s", c.BeaconInterval)
	}
	if _, err := ParseLogLevel(c.LogLevel); err != nil {
		return err
	}
	return nil
}

// LoadConfigFile decodes a TOML file into c, rejecting unknown keys. Fields
// the file does not mention keep their values.
func LoadConfigFile(path string, c *Config) error {
	md, err := toml.DecodeFile(path, c)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		if un[0].String() == "antenna_gain_ddbi" {
			return fmt.Errorf("config %s: %w", path, errGainDdBiKey)
		}
		return fmt.Errorf("config %s: unknown key %q", path, un[0].String())
	}
	return nil
}

// errGainDdBiKey answers the key antenna_gain_ddbi of older configs.
var errGainDdBiKey = errors.New("antenna_gain_ddbi (tenths of a dBi) is now antenna_gain_dbi, in dBi as a decimal: 12 ddBi is antenna_gain_dbi = 1.2")

// configFields lists the settable fields of Config with their keys.
func configFields(c *Config) []configField {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	out := make([]configField, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		key := f.Tag.Get("toml")
		if key == "" {
			continue
		}
		out = append(out, configField{key: key, help: f.Tag.Get("help"), v: v.Field(i)})
	}
	return out
}

type configField struct {
	key  string
	help string
	v    reflect.Value
}

func (f configField) String() string {
	if !f.v.IsValid() {
		return ""
	}
	switch x := f.v.Interface().(type) {
	case *radio.Gain:
		if x == nil {
			return ""
		}
		return x.String()
	case []string:
		return strings.Join(x, ",")
	case time.Duration:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}

func (f configField) Set(s string) error {
	switch f.v.Interface().(type) {
	case *radio.Gain:
		g, err := radio.ParseGain(s)
		if err != nil {
			return err
		}
		f.v.Set(reflect.ValueOf(&g))
	case string:
		f.v.SetString(s)
	case []string:
		var list []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
		f.v.Set(reflect.ValueOf(list))
	case time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		f.v.SetInt(int64(d))
	case int, int64:
		n, err := strconv.ParseInt(s, 0, 64)
		if err != nil {
			return err
		}
		f.v.SetInt(n)
	case bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		f.v.SetBool(b)
	default:
		return fmt.Errorf("unsupported type %s", f.v.Type())
	}
	return nil
}

// ApplyEnv overrides c from environment variables EnvPrefix+KEY, read
// through getenv (os.Getenv in the daemon).
func ApplyEnv(c *Config, getenv func(string) string) error {
	if getenv(EnvPrefix+"ANTENNA_GAIN_DDBI") != "" {
		return fmt.Errorf("%sANTENNA_GAIN_DDBI: %w", EnvPrefix, errGainDdBiKey)
	}
	for _, f := range configFields(c) {
		name := EnvPrefix + strings.ToUpper(f.key)
		if s := getenv(name); s != "" {
			if err := f.Set(s); err != nil {
				return fmt.Errorf("%s=%q: %w", name, s, err)
			}
		}
	}
	return nil
}

// ConfigFlags registers one flag per configuration key on fs (key
// "semtech_listen" → -semtech-listen). After fs.Parse, Apply copies the flags
// that were set on the command line into a Config, so flags override the
// file and the environment.
type ConfigFlags struct {
	vals map[string]*string
	fs   *flag.FlagSet
}

// RegisterConfigFlags adds the configuration flags to fs.
func RegisterConfigFlags(fs *flag.FlagSet) *ConfigFlags {
	cf := &ConfigFlags{vals: map[string]*string{}, fs: fs}
	var c Config
	for _, f := range configFields(&c) {
		name := strings.ReplaceAll(f.key, "_", "-")
		cf.vals[name] = fs.String(name, "", f.help+" (env "+EnvPrefix+strings.ToUpper(f.key)+")")
	}
	return cf
}

// Apply sets on c every configuration flag given on the command line.
func (cf *ConfigFlags) Apply(c *Config) error {
	set := map[string]bool{}
	cf.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	for _, f := range configFields(c) {
		name := strings.ReplaceAll(f.key, "_", "-")
		if !set[name] {
			continue
		}
		if err := f.Set(*cf.vals[name]); err != nil {
			return fmt.Errorf("-%s=%q: %w", name, *cf.vals[name], err)
		}
	}
	return nil
}

// LoadConfig builds the daemon's configuration: defaults, then the file at
// path (if path is not empty), then the environment, then the flags.
func LoadConfig(path string, getenv func(string) string, flags *ConfigFlags) (Config, error) {
	var c Config
	if path != "" {
		if err := LoadConfigFile(path, &c); err != nil {
			return Config{}, err
		}
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	if err := ApplyEnv(&c, getenv); err != nil {
		return Config{}, err
	}
	if flags != nil {
		if err := flags.Apply(&c); err != nil {
			return Config{}, err
		}
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// ParseLogLevel parses debug, info, warn or error.
func ParseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log_level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

package oracle

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/hexfield/hexfield/oracle/solana"
	"github.com/hexfield/hexfield/wire"
)

// Config is the oracle's configuration. The zero value works: Defaults
// fills every unset field. In a TOML file each field is the key in its
// toml tag; every key can also be set with the flag --key-name and the
// environment variable HEXFIELD_ORACLE_KEY_NAME (flag > env > file >
// default).
type Config struct {
	// DataDir holds the Badger store and, by default, the key. Default
	// "oracled-data".
	DataDir string `toml:"data_dir"`
	// KeyFile is the oracle's ed25519 identity (Solana keypair JSON),
	// created on first start. Default "<data_dir>/oracle-key.json".
	KeyFile string `toml:"key_file"`
	// QUICListen is the UDP address for hotspot ingest. Default
	// "0.0.0.0:4433".
	QUICListen string `toml:"quic_listen"`
	// HTTPListen is the TCP address of the HTTP API (metrics are on
	// MetricsListen). Default "0.0.0.0:8080", where the hexfield CLI looks
	// by default.
	HTTPListen string `toml:"http_listen"`
	// LogLevel is debug, info, warn or error. Default "info".
	LogLevel string `toml:"log_level"`

	// Retention is how long reports and PoC outcomes are kept. Default
	// 720h (30 days); it must cover the detector window (7 epochs).
	Retention time.Duration `toml:"retention"`
	// SweepInterval is how often value-log garbage collection runs.
	// Default 10m.
	SweepInterval time.Duration `toml:"sweep_interval"`

	// CommitQueue bounds the reports waiting for group commit; a full
	// queue blocks the streams (backpressure). Default 16384.
	CommitQueue int `toml:"commit_queue"`
	// CommitMaxBatch is the most reports written in one synced
	// transaction. Default 4096.
	CommitMaxBatch int `toml:"commit_max_batch"`
	// StreamWindow bounds the unacknowledged reports on one QUIC stream.
	// Default 1024.
	StreamWindow int `toml:"stream_window"`
	// MaxReportBytes is the largest accepted report envelope; larger ones
	// are answered CODE_OVERSIZE. Default 4096.
	MaxReportBytes int `toml:"max_report_bytes"`
	// MaxStreams is the most concurrent streams per connection. Default 16.
	MaxStreams int `toml:"max_streams"`
	// RateLimit is the most reports per second one hotspot key may submit
	// on average, over all its connections together (bursts up to ten
	// seconds' worth); more are answered CODE_OVERLOADED and not stored.
	// Default 1000.
	RateLimit int `toml:"rate_limit"`

	// EntropyPeriod is how often a new entropy value is issued. Default 60s.
	EntropyPeriod time.Duration `toml:"entropy_period"`
	// EntropyLifetime is how long an entropy value is valid. Default 180s.
	EntropyLifetime time.Duration `toml:"entropy_lifetime"`
	// BeaconInterval is the beacon bucket length sent to hotspots in their
	// config; it must divide EpochLength. Default 6h.
	BeaconInterval time.Duration `toml:"beacon_interval"`
	// VerifyInterval is how often the verification loop looks for beacons
	// whose witness window has closed. Default 10s.
	VerifyInterval time.Duration `toml:"verify_interval"`
	// WitnessWindowSlack is added to the entropy lifetime before a beacon is
	// verified, for reports still in flight. Default 5s.
	WitnessWindowSlack time.Duration `toml:"witness_window_slack"`
	// EpochLength is the reward epoch. Default 24h.
	EpochLength time.Duration `toml:"epoch_length"`
	// EpochGrace is how long after an epoch's end its inputs stay open.
	// Default 30m.
	EpochGrace time.Duration `toml:"epoch_grace"`
	// FirstEpoch is the first epoch the scheduler closes on a fresh store;
	// 0 means the epoch that is current at first start.
	FirstEpoch uint64 `toml:"first_epoch"`
	// Emission is the reward token emission per epoch, in base units.
	// Default 1000000000000.
	Emission uint64 `toml:"emission"`
	// TokensPerDC is the data-credit peg, in token base units per DC
	// (the epoch's parameter set records it). Default 1000.
	TokensPerDC uint64 `toml:"tokens_per_dc"`
	// ChargeWithoutPoC lets hotspots without valid proof of coverage be
	// paid for the customer packets they deliver. Only for private
	// networks whose hotspots are vetted otherwise: in an open network it
	// lets radio-less sybils take customers' copies. Every oracle of a
	// network must agree (it is in the parameter hash). Default false.
	ChargeWithoutPoC bool `toml:"charge_without_poc"`

	// MinPayout is the smallest reward payout in token base units: an
	// owner's rewards accrue until they reach it (and until the owner has
	// opened its reward token account). Every oracle of a network must
	// agree (it is in the manifest). Default 0: no minimum.
	MinPayout uint64 `toml:"min_payout"`

	// SolanaRPC is the Solana JSON-RPC endpoint for entropy blockhashes and
	// reward distribution. Empty (the default) means no chain: entropy uses
	// an all-zero blockhash and epochs end with their manifest.
	SolanaRPC string `toml:"solana_rpc"`
	// SolanaPayerKey pays transaction fees (keypair file, created if
	// missing; fund it). Default "<data_dir>/solana-payer.json".
	SolanaPayerKey string `toml:"solana_payer_key"`
	// SolanaDistributorKey is the hot key that signs reward transfers.
	// Default "<data_dir>/solana-distributor.json".
	SolanaDistributorKey string `toml:"solana_distributor_key"`
	// SolanaSeed prefixes the mint and multisig seeds. Default "hexfield".
	SolanaSeed string `toml:"solana_seed"`
	// SolanaDecimals of the reward mint. Default 6.
	SolanaDecimals int `toml:"solana_decimals"`
	// SolanaPayerAddress is the deployment's fee payer address (base58):
	// the mint and multisig addresses are derived from it, so every oracle
	// of a multi-oracle deployment needs it. Required on oracles with peers
	// and solana_rpc that do not lead; with leader it must match
	// solana_payer_key.
	SolanaPayerAddress string `toml:"solana_payer_address"`
	// SolanaDistributorAddress is the deployment's distributor address
	// (base58), the only key phase 1 approves; like SolanaPayerAddress.
	SolanaDistributorAddress string `toml:"solana_distributor_address"`

	// Peers are the other oracles of an M-of-N deployment, each
	// "ADDRESS@host:port" of its co-signing endpoint (its cosign_listen).
	// Their keys sign entropy this oracle accepts and, with this oracle's
	// key, are the multisig members, sorted by key bytes. Empty (the
	// default) is a single oracle. As a flag or environment variable, a
	// comma-separated list.
	Peers []string `toml:"peers"`
	// CosignListen is the UDP address where this oracle answers its
	// peers' co-signing requests (with peers and solana_rpc). Default
	// "0.0.0.0:4434".
	CosignListen string `toml:"cosign_listen"`
	// Threshold is M, the co-signatures phase 1 needs; M > N/2 where N is
	// the number of oracles (peers + 1). Default N/2 + 1.
	Threshold int `toml:"threshold"`
	// Leader: with peers, this oracle takes its turn leading epochs (the
	// leader of epoch e rotates with e over the sorted oracle keys, and the
	// next takes over when one fails): it holds the deployment's funded
	// payer and distributor keys (the same files on every leading oracle).
	// An oracle without them only co-signs; its turns pass to the next.
	Leader bool `toml:"leader"`
	// LeaderTimeout is how long an epoch's leader has to get phase 1
	// authorised before the next oracle in order takes over. Every oracle
	// of a network must use the same. Default 2 minutes.
	LeaderTimeout time.Duration `toml:"leader_timeout"`
	// ReclaimHorizon is how many epochs behind the newest authorised one
	// an epoch may still be authorised (co-signers refuse older ones).
	// Epoch markers and phase-2 lookup tables older than it are closed by
	// the oracles that pay (leaders), and their rent returns to the
	// deployment's payer and distributor. Every oracle of a network must
	// use the same. Default 16.
	ReclaimHorizon uint64 `toml:"reclaim_horizon"`

	// Registry: the network's DevAddr space, fees, makers, rate limits
	// and operator keys (routing.md §2–§4, issue 9). Fees are in data
	// credits, debited from the owner's wallet in the same transaction as
	// the registry change; 0 is free (private networks).

	// NetID is the network's LoRaWAN NetID, 6 hex digits; organizations'
	// DevAddr blocks are allocated from its DevAddr prefix. Default
	// "000001" (experimental type 0, prefix 02000000/7).
	NetID string `toml:"net_id"`
	// MaxDevAddrBlocks is the most blocks of 8 DevAddrs one organization
	// may hold. Default 64.
	MaxDevAddrBlocks int `toml:"max_devaddr_blocks"`
	// OnboardFeeDC is debited when a hotspot is first onboarded. Default 0.
	OnboardFeeDC uint64 `toml:"onboard_fee_dc"`
	// AssertFeeDC is debited for every accepted location assertion.
	// Default 0.
	AssertFeeDC uint64 `toml:"assert_fee_dc"`
	// OrgFeeDC is debited from the owner when an organization is created.
	// Default 0.
	OrgFeeDC uint64 `toml:"org_fee_dc"`
	// MakerKeys are the base58 keys of hotspot makers. When any is set, a
	// hotspot is onboarded only with a maker's signed approval of its key.
	// Default none (anyone may onboard).
	MakerKeys []string `toml:"maker_keys"`
	// OperatorKeys are the base58 keys that may sign data-credit grants
	// (networks without a chain). Default none.
	OperatorKeys []string `toml:"operator_keys"`
	// OwnerOnboardBurst and OwnerOnboardInterval limit onboarding per
	// owner wallet: a burst of OwnerOnboardBurst, then one per interval.
	// Default 20 and 1m.
	OwnerOnboardBurst    int           `toml:"owner_onboard_burst"`
	OwnerOnboardInterval time.Duration `toml:"owner_onboard_interval"`
	// OwnerAssertBurst and OwnerAssertInterval limit location assertions
	// per owner wallet. Default 20 and 1m.
	OwnerAssertBurst    int           `toml:"owner_assert_burst"`
	OwnerAssertInterval time.Duration `toml:"owner_assert_interval"`
	// HotspotAssertBurst and HotspotAssertInterval limit re-assertions of
	// one hotspot's location. Default 2 and 1h.
	HotspotAssertBurst    int           `toml:"hotspot_assert_burst"`
	HotspotAssertInterval time.Duration `toml:"hotspot_assert_interval"`
	// OwnerOrgBurst and OwnerOrgInterval limit organization creation per
	// owner wallet. Default 5 and 1h.
	OwnerOrgBurst    int           `toml:"owner_org_burst"`
	OwnerOrgInterval time.Duration `toml:"owner_org_interval"`
	// DCTreasury is the network's DC treasury token account (base58):
	// with solana_rpc, every transfer into it is credited to the wallet
	// its memo "hexfield-dc:<wallet>" names (no memo: the sender), once
	// per transaction. Empty (the default): DC are not bought on chain.
	DCTreasury string `toml:"dc_treasury"`
	// DCPerBaseUnit is the DC credited per base unit transferred. Default 1.
	DCPerBaseUnit uint64 `toml:"dc_per_base_unit"`
	// DCPollInterval is how often the treasury is read. Default 10s.
	DCPollInterval time.Duration `toml:"dc_poll_interval"`

	// Transport limits and the metrics listener (ingest; see transportDefaults).

	// MaxConnsPerKey is the most concurrent QUIC connections of one
	// hotspot key. A connection beyond it is refused right after its
	// handshake (the newest is refused; the open ones keep their streams)
	// with application error CODE_OVERLOADED. Default 4.
	MaxConnsPerKey int `toml:"max_conns_per_key"`
	// MaxHandshakes bounds the QUIC handshakes in progress on the ingest
	// port. From half of it on, new clients must first prove their source
	// address (a QUIC Retry); beyond it, attempts are refused. Default 512.
	MaxHandshakes int `toml:"max_handshakes"`
	// MaxHandshakesPerSource bounds the handshakes in progress from one
	// source address (an IPv4 address or an IPv6 /64). Default 64.
	MaxHandshakesPerSource int `toml:"max_handshakes_per_source"`
	// MaxConnsPerSource bounds the connections, handshaking or open, from
	// one source address (many hotspots may share one behind a NAT).
	// Default 1024.
	MaxConnsPerSource int `toml:"max_conns_per_source"`
	// MetricsListen is the TCP address of the Prometheus /metrics
	// endpoint, kept off the public API port; "off" disables it. Default
	// "127.0.0.1:8091" (loopback only).
	MetricsListen string `toml:"metrics_listen"`
}

// transportDefaults fills the transport limits and the metrics listener.
func (c *Config) transportDefaults() {
	for _, f := range []struct {
		p *int
		v int
	}{{&c.MaxConnsPerKey, 4}, {&c.MaxHandshakes, 512}, {&c.MaxHandshakesPerSource, 64}, {&c.MaxConnsPerSource, 1024}} {
		if *f.p == 0 {
			*f.p = f.v
		}
	}
	if c.MetricsListen == "" {
		c.MetricsListen = "127.0.0.1:8091"
	}
}

// validateTransport checks the transport limits.
func (c Config) validateTransport() []error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{{"max_conns_per_key", c.MaxConnsPerKey}, {"max_handshakes", c.MaxHandshakes},
		{"max_handshakes_per_source", c.MaxHandshakesPerSource}, {"max_conns_per_source", c.MaxConnsPerSource}} {
		if f.v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %d", f.name, f.v))
		}
	}
	return errs
}

// Defaults returns c with every unset field filled in.
func (c Config) Defaults() Config {
	setS := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	setD := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	setI := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	setS(&c.DataDir, "oracled-data")
	setS(&c.KeyFile, filepath.Join(c.DataDir, "oracle-key.json"))
	setS(&c.QUICListen, "0.0.0.0:4433")
	setS(&c.HTTPListen, "0.0.0.0:8080")
	setS(&c.LogLevel, "info")
	setD(&c.Retention, 30*24*time.Hour)
	setD(&c.SweepInterval, 10*time.Minute)
	setI(&c.CommitQueue, 16384)
	setI(&c.CommitMaxBatch, 4096)
	setI(&c.StreamWindow, 1024)
	setI(&c.MaxReportBytes, 4096)
	setI(&c.MaxStreams, 16)
	setI(&c.RateLimit, 1000)
	setD(&c.EntropyPeriod, 60*time.Second)
	setD(&c.EntropyLifetime, 180*time.Second)
	setD(&c.BeaconInterval, 6*time.Hour)
	setD(&c.VerifyInterval, 10*time.Second)
	setD(&c.WitnessWindowSlack, 5*time.Second)
	setD(&c.EpochLength, 24*time.Hour)
	setD(&c.EpochGrace, 30*time.Minute)
	setS(&c.SolanaPayerKey, filepath.Join(c.DataDir, "solana-payer.json"))
	setS(&c.SolanaDistributorKey, filepath.Join(c.DataDir, "solana-distributor.json"))
	setS(&c.SolanaSeed, "hexfield")
	setI(&c.SolanaDecimals, 6)
	setS(&c.CosignListen, "0.0.0.0:4434")
	setD(&c.LeaderTimeout, 2*time.Minute)
	if c.ReclaimHorizon == 0 {
		c.ReclaimHorizon = solana.DefaultHorizon
	}
	setI(&c.Threshold, (len(c.Peers)+1)/2+1)
	if c.Emission == 0 {
		c.Emission = 1_000_000_000_000
	}
	if c.TokensPerDC == 0 {
		c.TokensPerDC = 1000
	}
	c.transportDefaults()
	c = c.registryDefaults()
	return c
}

// Validate reports the first invalid setting of a defaulted config.
func (c Config) Validate() error {
	var errs []error
	pos := func(name string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", name, d))
		}
	}
	pos("entropy_period", c.EntropyPeriod)
	pos("entropy_lifetime", c.EntropyLifetime)
	pos("beacon_interval", c.BeaconInterval)
	pos("verify_interval", c.VerifyInterval)
	pos("epoch_length", c.EpochLength)
	pos("retention", c.Retention)
	pos("sweep_interval", c.SweepInterval)
	if c.EpochGrace < 0 {
		errs = append(errs, fmt.Errorf("epoch_grace must not be negative, got %s", c.EpochGrace))
	}
	if c.EpochLength%time.Second != 0 || c.BeaconInterval%time.Second != 0 || c.EntropyPeriod%time.Second != 0 {
		errs = append(errs, errors.New("epoch_length, beacon_interval and entropy_period must be whole seconds"))
	}
	if c.BeaconInterval > 0 && c.EpochLength%c.BeaconInterval != 0 {
		errs = append(errs, fmt.Errorf("beacon_interval %s must divide epoch_length %s", c.BeaconInterval, c.EpochLength))
	}
	if c.Retention > 0 && c.Retention < 7*c.EpochLength+c.EpochGrace {
		errs = append(errs, fmt.Errorf("retention %s must cover 7 epochs plus grace (%s)", c.Retention, 7*c.EpochLength+c.EpochGrace))
	}
	for name, v := range map[string]int{"commit_queue": c.CommitQueue, "commit_max_batch": c.CommitMaxBatch,
		"stream_window": c.StreamWindow, "max_report_bytes": c.MaxReportBytes, "max_streams": c.MaxStreams,
		"rate_limit": c.RateLimit} {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %d", name, v))
		}
	}
	if c.SolanaDecimals < 0 || c.SolanaDecimals > 18 {
		errs = append(errs, fmt.Errorf("solana_decimals %d outside 0..18", c.SolanaDecimals))
	}
	errs = append(errs, c.validatePeers()...)
	errs = append(errs, c.validateTransport()...)
	errs = append(errs, c.validateRegistry()...)
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level %q is not debug, info, warn or error", c.LogLevel))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid config: %w", err)
	}
	return nil
}

// MaxOracles is the most multisig members (SPL multisig limit).
const MaxOracles = 11

func (c Config) validatePeers() []error {
	var errs []error
	seen := map[wire.PublicKey]bool{}
	for _, p := range c.Peers {
		k, _, err := wire.ParseOracleAddr(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("peers: %w", err))
			continue
		}
		if seen[k] {
			errs = append(errs, fmt.Errorf("peers: %s listed twice", k))
		}
		seen[k] = true
	}
	if n := len(c.Peers) + 1; n > MaxOracles {
		errs = append(errs, fmt.Errorf("peers: %d oracles, at most %d", n, MaxOracles))
	} else if c.Threshold <= n/2 || c.Threshold > n {
		errs = append(errs, fmt.Errorf("threshold %d of %d oracles must be more than half and at most all", c.Threshold, n))
	}
	for name, v := range map[string]string{"solana_payer_address": c.SolanaPayerAddress, "solana_distributor_address": c.SolanaDistributorAddress} {
		if v == "" {
			continue
		}
		if _, err := wire.ParsePublicKey(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if len(c.Peers) > 0 && c.SolanaRPC != "" && !c.Leader && (c.SolanaPayerAddress == "" || c.SolanaDistributorAddress == "") {
		errs = append(errs, errors.New("an oracle with peers that is not the leader needs solana_payer_address and solana_distributor_address"))
	}
	return errs
}

// PeerKeys returns the keys of the peers of a valid config, in config
// order.
func (c Config) PeerKeys() []wire.PublicKey {
	out := make([]wire.PublicKey, 0, len(c.Peers))
	for _, p := range c.Peers {
		if k, _, err := wire.ParseOracleAddr(p); err == nil {
			out = append(out, k)
		}
	}
	return out
}

// Members returns the multisig members of a valid config: own and the
// peers' keys, sorted by key bytes, the order every oracle agrees on.
func (c Config) Members(own wire.PublicKey) [][32]byte {
	out := [][32]byte{own}
	for _, k := range c.PeerKeys() {
		if k != own {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	return out
}

// LoadConfigFile reads a TOML file over c. Unknown keys are an error, so a
// typo never silently falls back to a default.
func LoadConfigFile(path string, c *Config) error {
	md, err := toml.DecodeFile(path, c)
	if err != nil {
		return fmt.Errorf("read config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return fmt.Errorf("read config %s: unknown keys %v", path, und)
	}
	return nil
}

// EnvPrefix prefixes the environment variable of every config key.
const EnvPrefix = "HEXFIELD_ORACLE_"

// configFields lists the settable fields of c with their TOML keys.
func configFields(c *Config) []struct {
	key string
	v   reflect.Value
} {
	var out []struct {
		key string
		v   reflect.Value
	}
	rv := reflect.ValueOf(c).Elem()
	rt := rv.Type()
	for i := range rt.NumField() {
		key := rt.Field(i).Tag.Get("toml")
		if key == "" {
			continue
		}
		out = append(out, struct {
			key string
			v   reflect.Value
		}{key, rv.Field(i)})
	}
	return out
}

// ApplyEnv sets every key whose environment variable (EnvPrefix + upper
// case key) is present, looked up through getenv (nil = os.LookupEnv).
func (c *Config) ApplyEnv(getenv func(string) (string, bool)) error {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	for _, f := range configFields(c) {
		name := EnvPrefix + strings.ToUpper(f.key)
		s, ok := getenv(name)
		if !ok {
			continue
		}
		if err := setField(f.v, s); err != nil {
			return fmt.Errorf("env %s: %w", name, err)
		}
	}
	return nil
}

// BindFlags defines one flag per key (--data-dir for data_dir, ...) on fs;
// parsing fs then writes into c. Each flag's usage is its key's
// description, and its default is the value the key takes if the flag is
// not given: c's current value (from file or environment), else the
// default Defaults fills in.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	d := c.Defaults()
	defs := map[string]string{}
	for _, f := range configFields(&d) {
		defs[f.key] = fieldFlag{f.v}.String()
	}
	for _, f := range configFields(c) {
		name := strings.ReplaceAll(f.key, "_", "-")
		help := configHelp[f.key]
		if help == "" {
			help = "config key " + f.key
		}
		fs.Var(fieldFlag{f.v}, name, help+" (config key "+f.key+", env "+EnvPrefix+strings.ToUpper(f.key)+")")
		if fl := fs.Lookup(name); fl != nil {
			fl.DefValue = defs[f.key]
			if derivedDefault[f.key] && (fieldFlag{f.v}).String() == "" {
				fl.DefValue = ""
			}
		}
	}
}

type fieldFlag struct{ v reflect.Value }

func (f fieldFlag) String() string {
	if !f.v.IsValid() {
		return ""
	}
	if d, ok := f.v.Interface().(time.Duration); ok {
		return d.String()
	}
	if l, ok := f.v.Interface().([]string); ok {
		return strings.Join(l, ",")
	}
	return fmt.Sprint(f.v.Interface())
}

func (f fieldFlag) Set(s string) error { return setField(f.v, s) }

// IsBoolFlag lets a bool key be given as a bare --key.
func (f fieldFlag) IsBoolFlag() bool { return f.v.IsValid() && f.v.Kind() == reflect.Bool }

func setField(v reflect.Value, s string) error {
	if v.Type() == reflect.TypeFor[time.Duration]() {
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(n))
	case reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return err
		}
		v.SetUint(n)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported config type %s", v.Type())
		}
		var l []string
		for _, e := range strings.Split(s, ",") {
			if e = strings.TrimSpace(e); e != "" {
				l = append(l, e)
			}
		}
		v.Set(reflect.ValueOf(l))
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		v.SetBool(b)
	default:
		return fmt.Errorf("unsupported config type %s", v.Type())
	}
	return nil
}

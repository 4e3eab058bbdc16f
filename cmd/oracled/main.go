// Command oracled is the hexfield oracle node: QUIC ingest of hotspot
// reports, the Badger store, entropy, the registry, verification, epochs
// and the HTTP API; with solana_rpc, reward payouts on Solana, by this
// oracle alone or, with peers, M-of-N: the leader proposes each epoch's
// phase 1 and every oracle co-signs only a manifest identical to its own
// (see configs/oracled.toml and oracle.NewNode).
//
//	oracled run [--config FILE] [--data DIR] [--key-name value ...]
//	oracled version
//
// Every config key can be set in the TOML file, with the flag --key-name
// or with the environment variable HEXFIELD_ORACLE_KEY_NAME; the defaults
// work with no file at all.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/wire"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "oracled:", err)
		os.Exit(1)
	}
}

const usage = `usage: oracled run [--config FILE] [--data DIR] [flags]
       oracled version

"oracled run -h" lists every flag with its default.`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil // -h: the flag set printed the usage
	}
	return err
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "run":
		return runOracle(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "oracled protocol %d schema %d\n", wire.ProtocolVersion, oracle.SchemaVersion)
		return nil
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	fmt.Fprintln(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// loadConfig layers defaults < file < environment < flags.
func loadConfig(args []string, stderr io.Writer, getenv func(string) (string, bool)) (oracle.Config, error) {
	var cfg oracle.Config
	// Find --config first: the file is read before flags override it.
	path := ""
	for i, a := range args {
		for _, p := range []string{"--config=", "-config="} {
			if v, ok := strings.CutPrefix(a, p); ok {
				path = v
			}
		}
		if (a == "--config" || a == "-config") && i+1 < len(args) {
			path = args[i+1]
		}
	}
	if path == "" {
		if v, ok := getenv(oracle.EnvPrefix + "CONFIG"); ok {
			path = v
		}
	}
	if path != "" {
		if err := oracle.LoadConfigFile(path, &cfg); err != nil {
			return cfg, err
		}
	}
	if err := cfg.ApplyEnv(getenv); err != nil {
		return cfg, err
	}
	fs := flag.NewFlagSet("oracled run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.String("config", path, "TOML config `file` (env "+oracle.EnvPrefix+"CONFIG)")
	cfg.BindFlags(fs)
	fs.Func("data", "data `directory` (same as --data-dir)", func(s string) error {
		cfg.DataDir = s
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg = cfg.Defaults()
	return cfg, cfg.Validate()
}

func runOracle(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(args, stderr, os.LookupEnv)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	key, created, err := wire.LoadOrCreateKeyFile(cfg.KeyFile)
	if err != nil {
		return err
	}
	pub := wire.PublicKeyOf(key)
	if created {
		log.Info("created oracle key", "path", cfg.KeyFile, "key", pub.String())
	}
	pc, err := net.ListenPacket("udp", cfg.QUICListen)
	if err != nil {
		return fmt.Errorf("listen quic: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.HTTPListen)
	if err != nil {
		pc.Close()
		return fmt.Errorf("listen http: %w", err)
	}
	// Until NewNode succeeds, the sockets are ours to close on error.
	open := []io.Closer{pc, ln}
	closeAll := func() {
		for _, c := range open {
			c.Close()
		}
	}
	// Metrics have a listener of their own, loopback by default: they are
	// not part of the public API.
	var metricsLn net.Listener
	if cfg.MetricsListen != "off" {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			closeAll()
			return fmt.Errorf("listen metrics: %w", err)
		}
		open = append(open, metricsLn)
	}
	var cosignPC net.PacketConn
	if len(cfg.Peers) > 0 && cfg.SolanaRPC != "" {
		if cosignPC, err = net.ListenPacket("udp", cfg.CosignListen); err != nil {
			closeAll()
			return fmt.Errorf("listen cosign: %w", err)
		}
		open = append(open, cosignPC)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	deps := oracle.Deps{Key: key, PacketConn: pc, HTTPListener: ln, MetricsListener: metricsLn, Logger: log, Registerer: reg, Gatherer: reg}
	n, err := oracle.NewNode(ctx, cfg, deps, cosignPC)
	if err != nil {
		closeAll()
		return err
	}
	extra := ""
	if metricsLn != nil {
		extra += " metrics=" + metricsLn.Addr().String()
	}
	if cosignPC != nil {
		extra += " cosign=" + cosignPC.LocalAddr().String()
	}
	// Machine-readable start line: tests and scripts wait for it.
	fmt.Fprintf(stdout, "oracled ready key=%s quic=%s http=%s%s\n", pub, pc.LocalAddr(), ln.Addr(), extra)
	log.Info("oracle started", "key", pub.String(), "quic", pc.LocalAddr().String(), "http", ln.Addr().String(),
		"metrics", cfg.MetricsListen, "data", cfg.DataDir)
	return n.Run(ctx)
}

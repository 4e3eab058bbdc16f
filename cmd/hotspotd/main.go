// Command hotspotd is the hotspot daemon for a Raspberry Pi beside a LoRa
// concentrator: it bridges the Semtech packet forwarder, beacons, witnesses
// other hotspots' beacons and delivers signed reports to the oracles through
// a durable outbox. It is pure Go (CGO_ENABLED=0) for linux/arm64 and arm.
//
//	hotspotd run [--config FILE] [flags]   run the daemon
//	hotspotd key info [--config FILE]      print the hotspot's address and gateway EUI
//	hotspotd key onboard-request --owner WALLET [--data-only] [--out FILE] [--config FILE]
//	                                       sign an onboarding request for the owner
//	hotspotd status [--config FILE]        show the running daemon's status
//	hotspotd version                       print the version
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/hexfield/hexfield/hotspot"
	"github.com/hexfield/hexfield/wire"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "hotspotd:", err)
		os.Exit(1)
	}
}

const usage = `usage: hotspotd <command> [flags]

  run [--config FILE] [flags]   run the daemon (creates the key on first run)
  key info [--config FILE]      print the hotspot's address and gateway EUI
  key onboard-request --owner WALLET [--data-only] [--out FILE] [--config FILE]
                                sign an onboarding request (the key stays
                                here; the owner runs "hexfield onboard
                                --request FILE" with the wallet)
  status [--config FILE]        show the running daemon's status
  version                       print the version

Every configuration key can be set in the TOML file, by an environment
variable HEXFIELD_HOTSPOT_<KEY> or by a flag; see "hotspotd run -h".
`

func run(ctx context.Context, args []string, out, errOut io.Writer) error {
	err := dispatch(ctx, args, out, errOut)
	if errors.Is(err, flag.ErrHelp) {
		return nil // -h: the flag set printed the usage
	}
	return err
}

func dispatch(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(errOut, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "run":
		return runDaemon(ctx, args[1:], errOut)
	case "key":
		switch {
		case len(args) >= 2 && args[1] == "info":
			return runKeyInfo(args[2:], out, errOut)
		case len(args) >= 2 && args[1] == "onboard-request":
			return runOnboardRequest(args[2:], out, errOut)
		case len(args) == 2 && isHelp(args[1]):
			fmt.Fprint(out, keyUsage)
			return nil
		}
		fmt.Fprint(errOut, keyUsage)
		return errors.New("key: want info or onboard-request")
	case "status":
		return runStatus(ctx, args[1:], out, errOut)
	case "version", "-version", "--version":
		fmt.Fprintln(out, softwareVersion())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(out, usage)
		return nil
	default:
		fmt.Fprint(errOut, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

const keyUsage = `usage: hotspotd key info [--config FILE]
       hotspotd key onboard-request --owner WALLET [--data-only] [--out FILE] [--config FILE]
`

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

func softwareVersion() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v = "dev-" + s.Value[:12]
			}
		}
	}
	return "hotspotd/" + v
}

// loadConfig parses the flags of a command and layers file, environment and
// flags over the defaults. extra, if not nil, adds the command's own flags.
func loadConfig(name string, args []string, errOut io.Writer, extra func(*flag.FlagSet)) (hotspot.Config, error) {
	fs := flag.NewFlagSet("hotspotd "+name, flag.ContinueOnError)
	fs.SetOutput(errOut)
	if extra != nil {
		extra(fs)
	}
	path := fs.String("config", os.Getenv(hotspot.EnvPrefix+"CONFIG"), "TOML config file (env "+hotspot.EnvPrefix+"CONFIG)")
	cf := hotspot.RegisterConfigFlags(fs)
	if err := fs.Parse(args); err != nil {
		return hotspot.Config{}, err
	}
	if fs.NArg() > 0 {
		return hotspot.Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return hotspot.LoadConfig(*path, os.Getenv, cf)
}

func runKeyInfo(args []string, out, errOut io.Writer) error {
	cfg, err := loadConfig("key info", args, errOut, nil)
	if err != nil {
		return err
	}
	key, err := wire.ReadKeyFile(cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("key info: %w (run the daemon once to create the key)", err)
	}
	pub := wire.PublicKeyOf(key)
	fmt.Fprintln(out, pub)
	fmt.Fprintln(out, "gateway_eui", hotspot.GatewayEUI(pub))
	fmt.Fprintln(out, "name", pub.Name())
	return nil
}

// runOnboardRequest signs an onboarding request with the hotspot's key for
// the owner's wallet and writes it (JSON) to --out or out. The owner
// completes and submits it with "hexfield onboard --request FILE".
func runOnboardRequest(args []string, out, errOut io.Writer) error {
	var ownerS, outPath string
	var dataOnly bool
	cfg, err := loadConfig("key onboard-request", args, errOut, func(fs *flag.FlagSet) {
		fs.StringVar(&ownerS, "owner", "", "the owner's wallet address (base58); required")
		fs.BoolVar(&dataOnly, "data-only", false, "onboard as data-only (no proof of coverage)")
		fs.StringVar(&outPath, "out", "", "file to write the request to (default: standard output)")
	})
	if err != nil {
		return err
	}
	if ownerS == "" {
		return errors.New("key onboard-request: --owner WALLET is required")
	}
	owner, err := wire.ParsePublicKey(ownerS)
	if err != nil {
		return fmt.Errorf("key onboard-request: --owner: %w", err)
	}
	key, err := wire.ReadKeyFile(cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("key onboard-request: %w (run the daemon once to create the key)", err)
	}
	req, err := hotspot.NewOnboardRequest(key, owner, dataOnly, time.Now())
	if err != nil {
		return fmt.Errorf("key onboard-request: %w", err)
	}
	b, err := json.MarshalIndent(req, "", "  ")
	if err != nil {
		return fmt.Errorf("key onboard-request: %w", err)
	}
	b = append(b, '\n')
	if outPath == "" {
		_, err = out.Write(b)
		return err
	}
	if err := os.WriteFile(outPath, b, 0o644); err != nil {
		return fmt.Errorf("key onboard-request: %w", err)
	}
	fmt.Fprintf(errOut, "wrote %s: the owner submits it within an hour with\n  hexfield onboard --request %s --owner-key WALLET.json\n", outPath, outPath)
	return nil
}

func runStatus(ctx context.Context, args []string, out, errOut io.Writer) error {
	cfg, err := loadConfig("status", args, errOut, nil)
	if err != nil {
		return err
	}
	if cfg.StatusListen == "off" {
		return errors.New("status: the status API is off (status_listen)")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := hotspot.FetchStatus(ctx, cfg.StatusListen)
	if err != nil {
		return fmt.Errorf("%w (is hotspotd running?)", err)
	}
	st.WriteText(out)
	return nil
}

func runDaemon(ctx context.Context, args []string, errOut io.Writer) error {
	cfg, err := loadConfig("run", args, errOut, nil)
	if err != nil {
		return err
	}
	level, _ := hotspot.ParseLogLevel(cfg.LogLevel)
	log := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: level}))
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	key, created, err := wire.LoadOrCreateKeyFile(cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("key: %w", err)
	}
	if created {
		log.Info("created hotspot key", "path", cfg.KeyFile, "hotspot_key", wire.PublicKeyOf(key).String())
	}
	if len(cfg.Oracles) == 0 {
		log.Warn("no oracles configured: nothing is beaconed, reported or forwarded until oracles lists at least one (ADDRESS@host:port in the config file, " +
			hotspot.EnvPrefix + "ORACLES or --oracles)")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	udp, err := net.ListenPacket("udp", cfg.SemtechListen)
	if err != nil {
		return fmt.Errorf("semtech listen: %w", err)
	}
	var statusLn net.Listener
	if cfg.StatusListen != "off" {
		if statusLn, err = net.Listen("tcp", cfg.StatusListen); err != nil {
			udp.Close()
			return fmt.Errorf("status listen: %w", err)
		}
	}
	h, err := hotspot.New(cfg, hotspot.Deps{
		Key: key, Semtech: udp, Logger: log, Registerer: reg, Software: softwareVersion(),
	})
	if err != nil {
		udp.Close()
		if statusLn != nil {
			statusLn.Close()
		}
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return h.Run(gctx) })
	if statusLn != nil {
		g.Go(func() error { return h.ServeStatus(gctx, statusLn, reg) })
	}
	err = g.Wait()
	log.Info("hotspotd stopped")
	return err
}

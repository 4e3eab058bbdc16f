// Command hotspotd is the hotspot daemon for a Raspberry Pi beside a LoRa
// concentrator: it bridges the Semtech packet forwarder, beacons, witnesses
// other hotspots' beacons and delivers signed reports to the oracles through
// a durable outbox. It is pure Go (CGO_ENABLED=0) for linux/arm64 and arm.
//
//	hotspotd run [--config FILE] [flags]   run the daemon
//	hotspotd key info [--config FILE]      print the hotspot's address and gateway EUI
//	hotspotd status [--config FILE]        show the running daemon's status
//	hotspotd version                       print the version
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
  status [--config FILE]        show the running daemon's status
  version                       print the version

Every configuration key can be set in the TOML file, by an environment
variable HEXFIELD_HOTSPOT_<KEY> or by a flag; see "hotspotd run -h".
`

func run(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(errOut, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "run":
		return runDaemon(ctx, args[1:], errOut)
	case "key":
		if len(args) < 2 || args[1] != "info" {
			return errors.New("usage: hotspotd key info [--config FILE]")
		}
		return runKeyInfo(args[2:], out)
	case "status":
		return runStatus(ctx, args[1:], out)
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
// flags over the defaults.
func loadConfig(name string, args []string) (hotspot.Config, error) {
	fs := flag.NewFlagSet("hotspotd "+name, flag.ContinueOnError)
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

func runKeyInfo(args []string, out io.Writer) error {
	cfg, err := loadConfig("key info", args)
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
	return nil
}

func runStatus(ctx context.Context, args []string, out io.Writer) error {
	cfg, err := loadConfig("status", args)
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
	cfg, err := loadConfig("run", args)
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

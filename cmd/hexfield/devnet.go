package main

import (
	"context"
	"flag"
	"io"

	"github.com/hexfield/hexfield/devnet"
)

// runDevnet runs the whole network on this machine until interrupted or
// --epochs epochs are paid; both end with a final summary and no error.
func runDevnet(ctx context.Context, args []string, out io.Writer) error {
	var cfg devnet.Config
	fs := flag.NewFlagSet("devnet", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&cfg.Dir, "data", "", "data directory (default: a temporary one, removed at exit)")
	fs.IntVar(&cfg.Hotspots, "hotspots", 12, "honest hotspots")
	fs.IntVar(&cfg.Spoofers, "spoofers", 3, "adversarial hotspots: co-located, asserting spread-out locations (-1 for none)")
	fs.IntVar(&cfg.Sensors, "sensors", 4, "simulated sensors sending LoRaWAN uplinks (-1 for none)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "placement and radio seed")
	fs.Float64Var(&cfg.Lat, "lat", 52.3676, "city centre latitude")
	fs.Float64Var(&cfg.Lng, "lng", 4.9041, "city centre longitude")
	fs.Float64Var(&cfg.Spacing, "spacing", 1500, "metres between neighbouring hotspots")
	fs.DurationVar(&cfg.BeaconInterval, "beacon-interval", 0, "beacon bucket (default 10s)")
	fs.DurationVar(&cfg.EpochLength, "epoch", 0, "epoch length (default 30s)")
	fs.IntVar(&cfg.Oracles, "oracles", 3, "oracles, each with its own store; with more than 1 they lead in turn and a majority co-signs each epoch (M of N)")
	fs.StringVar(&cfg.HTTPListen, "http", "127.0.0.1:8080", "the first oracle's HTTP API address (the others take free ports)")
	fs.StringVar(&cfg.Out, "out", "", "directory to write summary.json to at every summary")
	fs.IntVar(&cfg.Epochs, "epochs", 0, "stop after this many paid epochs, with a final summary (0: run until Ctrl-C)")
	fs.BoolVar(&cfg.NoChain, "no-chain", false, "run without the local Solana chain")
	fs.DurationVar(&cfg.SummaryEvery, "summary", 0, "how often to print what changed (default 10s)")
	fs.BoolVar(&cfg.Verbose, "v", false, "print every node's logs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return devnet.Run(ctx, cfg, out)
}

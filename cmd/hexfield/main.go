// Command hexfield is the operator and developer CLI: the devnet (the whole
// network on one machine), keys, onboarding, location assertion, hotspot
// status, organizations, routes, data credits and reward manifests.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand: it gets the arguments after its name.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, out io.Writer) error
	// usage is the synopsis "hexfield CMD -h" prints for a command with
	// subcommands; empty for a command whose own flag set answers -h.
	usage string
}

func commands() map[string]command {
	return map[string]command{
		"devnet":  {"run the whole network on this machine", runDevnet, ""},
		"keys":    {"create and inspect key files", runKeys, keysUsage},
		"onboard": {"onboard a hotspot: its signed request (or its key) and the owner's wallet", runOnboard, ""},
		"assert":  {"assert a hotspot's location", runAssert, ""},
		"hotspot": {"show a hotspot's status, or list an owner's hotspots", runHotspots, ""},
		"org": {"create and manage organizations of IoT customers", runOrg,
			"hexfield org create|show|list|add-delegate|remove-delegate|set-payer|add-devaddr [flags]\n(hexfield org SUBCOMMAND -h for its flags)"},
		"routes": {"register and list an organization's routes", runRoutes,
			"hexfield routes list [--org ID] [--oracle URL]...\nhexfield routes show --id ID [--oracle URL]...\nhexfield routes put --org ORG --key FILE --id ID --lns [REGION=]HOST:PORT... [--devaddr START-END]...\n                    [--eui JOINEUI[:DEVEUI]]... [--max-copies N] [--filter DEVADDR:NWKSKEY]... [--oracle URL]...\nhexfield routes delete --org ORG --key FILE --id ID [--oracle URL]...\n(hexfield routes SUBCOMMAND -h for every flag)"},
		"dc": {"data-credit balances, purchases on chain and operator grants", runDC,
			"hexfield dc balance|buy|grant [flags]\n(hexfield dc SUBCOMMAND -h for its flags)"},
		"rewards": {"inspect reward manifests, proofs and balances; open an owner's reward account", runRewards, rewardsUsage},
	}
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "hexfield:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(out, cmds)
		fmt.Fprintln(out, "\n\"hexfield COMMAND -h\" shows a command's usage.")
		return nil
	}
	c, ok := cmds[args[0]]
	if !ok {
		usage(os.Stderr, cmds)
		return fmt.Errorf("unknown command %q", args[0])
	}
	// "hexfield CMD -h" for every command, including those that dispatch
	// to subcommands and would take -h for an unknown one; "hexfield CMD
	// SUB -h" reaches SUB's flag set, which prints its flags.
	if len(args) == 2 && isHelp(args[1]) && c.usage != "" {
		fmt.Fprintf(out, "%s: %s\n\nusage:\n", args[0], c.summary)
		for line := range strings.SplitSeq(c.usage, "\n") {
			fmt.Fprintln(out, "  "+line)
		}
		fmt.Fprintf(out, "\nEach subcommand takes -h for its flags.\n")
		return nil
	}
	err := c.run(ctx, args[1:], out)
	if errors.Is(err, flag.ErrHelp) {
		return nil // the flag set printed its usage
	}
	return err
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: hexfield <command> [flags]")
	fmt.Fprintln(w)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, cmds[n].summary)
	}
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/oracle/solana"
	"github.com/hexfield/hexfield/verifier"
	"github.com/hexfield/hexfield/wire"
)

const defaultSolanaRPC = "http://127.0.0.1:8899"

const rewardsUsage = `hexfield rewards manifest N [--all] [--oracle URL]
hexfield rewards proof N ADDRESS [--oracle URL]     (ADDRESS: a hotspot or an owner)
hexfield rewards balance OWNER (--mint MINT | --authority KEY [--seed S]) [--rpc URL]
hexfield rewards open-account --owner-key FILE (--mint MINT | --authority KEY [--seed S]) [--rpc URL]
    (opens the owner's reward token account, paid by the owner: rewards accrue until it exists)`

// runRewards inspects reward manifests, Merkle proofs and on-chain
// balances, and opens an owner's reward token account.
//
//	hexfield rewards manifest N [--oracle URL]
//	hexfield rewards proof N ADDRESS [--oracle URL]     (ADDRESS: a hotspot or an owner)
//	hexfield rewards balance OWNER (--mint MINT | --authority KEY [--seed S]) [--rpc URL]
//	hexfield rewards open-account --owner-key FILE (--mint MINT | --authority KEY [--seed S]) [--rpc URL]
//
// open-account sends the owner-paid CreateIdempotent of the owner's
// associated token account for the reward mint (solana-rewards.md §4: the
// network never pays recipients' rent) and prints the account and the
// rent and fee the owner's wallet paid. Until the account exists the
// owner's rewards accrue in the manifests' ledger; the first epoch after
// it appears pays them.
func runRewards(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("rewards: want manifest, proof, balance or open-account")
	}
	fs := flag.NewFlagSet("rewards "+args[0], flag.ContinueOnError)
	url := fs.String("oracle", defaultOracleURL, "oracle HTTP API base URL")
	rpcURL := fs.String("rpc", defaultSolanaRPC, "Solana JSON-RPC URL")
	mintFlag := fs.String("mint", "", "reward mint address")
	authority := fs.String("authority", "", "setup payer key (base of the mint's seed address), instead of --mint")
	seed := fs.String("seed", "hexfield", "seed prefix of the deployment's addresses")
	all := fs.Bool("all", false, "manifest: list every hotspot line and payout")
	ownerKey := fs.String("owner-key", "", "open-account: the owner's Solana CLI keypair file (pays the rent)")
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	c := &oracle.Client{BaseURL: *url}
	switch args[0] {
	case "manifest":
		if len(pos) != 1 {
			return errors.New("usage: hexfield rewards manifest N")
		}
		n, err := strconv.ParseUint(pos[0], 10, 64)
		if err != nil {
			return fmt.Errorf("rewards manifest: epoch %q: %w", pos[0], err)
		}
		m, resp, err := fetchManifest(ctx, c, n)
		if err != nil {
			return err
		}
		return printManifest(out, m, resp, *all)
	case "proof":
		if len(pos) != 2 {
			return errors.New("usage: hexfield rewards proof N ADDRESS")
		}
		n, err := strconv.ParseUint(pos[0], 10, 64)
		if err != nil {
			return fmt.Errorf("rewards proof: epoch %q: %w", pos[0], err)
		}
		addr, err := wire.ParsePublicKey(pos[1])
		if err != nil {
			return fmt.Errorf("rewards proof: address: %w", err)
		}
		return printProof(ctx, out, c, n, addr)
	case "balance":
		if len(pos) != 1 {
			return errors.New("usage: hexfield rewards balance OWNER (--mint MINT | --authority KEY)")
		}
		owner, err := wire.ParsePublicKey(pos[0])
		if err != nil {
			return fmt.Errorf("rewards balance: owner: %w", err)
		}
		ms := mintSource{flag: *mintFlag, authority: *authority, seed: *seed, rpc: *rpcURL}
		mint, err := ms.mint()
		if err != nil {
			return fmt.Errorf("rewards balance: %w", err)
		}
		ata, err := solana.AssociatedTokenAddress(owner, mint)
		if err != nil {
			return fmt.Errorf("rewards balance: %w", err)
		}
		chain := solana.NewChain(*rpcURL)
		exists, err := chain.Exists(ctx, [][32]byte{mint, ata})
		if err != nil {
			return fmt.Errorf("rewards balance: %w", err)
		}
		if !exists[0] {
			return fmt.Errorf("rewards balance: %w", ms.missing(mint))
		}
		bal, err := chain.TokenBalances(ctx, mint, [][32]byte{owner})
		if err != nil {
			return fmt.Errorf("rewards balance: %w", err)
		}
		account := wire.PublicKey(ata).String()
		if !exists[1] {
			account += " (not opened yet: rewards accrue until the owner runs hexfield rewards open-account)"
		}
		fmt.Fprintf(out, "owner          %s\nmint           %s\ntoken account  %s\nbalance        %s (%d base units)\n",
			owner, mint, account, solana.FormatAmount(bal[0], 6), bal[0])
		return nil
	case "open-account":
		if len(pos) != 0 || *ownerKey == "" {
			return errors.New("usage: hexfield rewards open-account --owner-key FILE (--mint MINT | --authority KEY)")
		}
		key, err := wire.ReadKeyFile(*ownerKey)
		if err != nil {
			return fmt.Errorf("rewards open-account: %w", err)
		}
		ms := mintSource{flag: *mintFlag, authority: *authority, seed: *seed, rpc: *rpcURL}
		mint, err := ms.mint()
		if err != nil {
			return fmt.Errorf("rewards open-account: %w", err)
		}
		opened, err := solana.NewChain(*rpcURL).OpenAccount(ctx, key, mint)
		if errors.Is(err, solana.ErrNotMint) {
			return fmt.Errorf("rewards open-account: %w", ms.missing(mint))
		}
		if err != nil {
			return fmt.Errorf("rewards open-account: %w", err)
		}
		fmt.Fprintf(out, "owner          %s\nmint           %s\ntoken account  %s\n", wire.PublicKeyOf(key), mint, wire.PublicKey(opened.Account))
		if opened.AlreadyOpen {
			fmt.Fprintln(out, "opened         already open: nothing sent, no rent paid")
			return nil
		}
		fmt.Fprintf(out, "opened         transaction %s (finalized)\nrent paid      %s SOL (%d lamports), by the owner\nfee            %s SOL (%d lamports)\n",
			opened.Signature, solana.FormatAmount(opened.Rent, 9), opened.Rent, solana.FormatAmount(opened.Fee, 9), opened.Fee)
		fmt.Fprintln(out, "rewards accrued so far are paid in the next epoch that reaches the minimum payout")
		return nil
	default:
		return fmt.Errorf("rewards: unknown subcommand %q (want manifest, proof, balance or open-account)", args[0])
	}
}

// mintSource is how a rewards command names the reward mint: --mint, or
// --authority (the deployment's setup payer) and --seed, from which the
// mint's address derives.
type mintSource struct {
	flag, authority, seed, rpc string
}

func (s mintSource) mint() (wire.PublicKey, error) {
	switch {
	case s.flag != "":
		m, err := wire.ParsePublicKey(s.flag)
		if err != nil {
			return m, fmt.Errorf("mint: %w", err)
		}
		return m, nil
	case s.authority != "":
		base, err := wire.ParsePublicKey(s.authority)
		if err != nil {
			return wire.PublicKey{}, fmt.Errorf("authority: %w", err)
		}
		acc, err := solana.DeriveAccounts(base, s.seed, [32]byte{}, 6)
		if err != nil {
			return wire.PublicKey{}, err
		}
		return acc.Mint, nil
	}
	return wire.PublicKey{}, errors.New("--mint or --authority is required")
}

// missing says why there is no mint at the address mint() gave.
func (s mintSource) missing(mint wire.PublicKey) error {
	if s.flag != "" {
		return fmt.Errorf("no mint %s on %s: check --mint and --rpc", mint, s.rpc)
	}
	return fmt.Errorf("no reward mint derived from --authority %s with --seed %q on %s (mint would be %s): "+
		"--authority is the deployment's setup payer (the oracles' solana_payer_address), or give --mint", s.authority, s.seed, s.rpc, mint)
}

// parseInterleaved parses flags that may come before or after positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// fetchManifest gets an epoch's manifest from the oracle, decodes its canonical bytes and
// checks that the Merkle root matches the payouts.
func fetchManifest(ctx context.Context, c *oracle.Client, n uint64) (*verifier.Manifest, oracle.EpochResponse, error) {
	resp, err := c.Epoch(ctx, n, wire.PublicKey{})
	if err != nil {
		return nil, resp, fmt.Errorf("epoch %d: %w", n, err)
	}
	if len(resp.ManifestBytes) == 0 {
		return nil, resp, fmt.Errorf("epoch %d has no manifest yet (%s)", n, epochState(resp))
	}
	m, err := verifier.UnmarshalManifest(resp.ManifestBytes)
	if err != nil {
		return nil, resp, fmt.Errorf("epoch %d: %w", n, err)
	}
	if m.Epoch != n {
		return nil, resp, fmt.Errorf("oracle answered epoch %d for %d", m.Epoch, n)
	}
	return m, resp, nil
}

// epochState says in words where the oracle is with an epoch.
func epochState(resp oracle.EpochResponse) string {
	st := resp.State
	var s string
	switch st.Step {
	case oracle.EpochStep(0):
		s = "open: not closed yet"
	case oracle.StepClosed:
		s = "closed, manifest not computed yet"
	case oracle.StepComputed:
		s = "manifest computed, not distributed yet"
	default:
		if st.Distributed {
			s = "paid on chain"
		} else {
			s = "manifest final, not paid by this oracle (no chain, or another oracle pays)"
		}
	}
	if st.Error != "" {
		s += "; last error: " + st.Error
	}
	return s
}

func printManifest(out io.Writer, m *verifier.Manifest, resp oracle.EpochResponse, all bool) error {
	st := resp.State
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "epoch\t%d\n", m.Epoch)
	fmt.Fprintf(tw, "state\t%s\n", epochState(resp))
	if st.ClosedAtMs > 0 {
		fmt.Fprintf(tw, "closed\t%s\n", time.UnixMilli(st.ClosedAtMs).UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(tw, "inputs\t%d beacons, %d witnesses, %d packets, %d hotspots registered\n", st.Beacons, st.Witnesses, st.Packets, st.Hotspots)
	if len(st.RouteDC) > 0 {
		ids := slices.Sorted(maps.Keys(st.RouteDC))
		parts := make([]string, len(ids))
		for i, id := range ids {
			parts[i] = fmt.Sprintf("%s %d DC", id, st.RouteDC[id])
		}
		fmt.Fprintf(tw, "routes charged\t%s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintf(tw, "window\t[%d, %d) ms\n", m.StartMs, m.EndMs)
	fmt.Fprintf(tw, "params hash\t%x\n", m.ParamsHash)
	fmt.Fprintf(tw, "input digest\t%x\n", m.InputDigest)
	fmt.Fprintf(tw, "emission\t%s\n", solana.FormatAmount(m.Emission, 6))
	fmt.Fprintf(tw, "total\t%s\n", solana.FormatAmount(m.Total, 6))
	fmt.Fprintf(tw, "unallocated\t%s\n", solana.FormatAmount(m.Unallocated, 6))
	if m.Version >= 3 {
		parent := "none"
		if m.Parent != 0 {
			parent = fmt.Sprintf("epoch %d (its ledger is this one's starting point)", m.Parent)
		}
		fmt.Fprintf(tw, "earned\t%s (total paid includes what earlier epochs owed)\n", solana.FormatAmount(m.Earned, 6))
		due := 0
		for _, l := range m.Ledger {
			if l.Due() > 0 {
				due++
			}
		}
		fmt.Fprintf(tw, "accruing\t%s owed to %d of %d owners (no token account yet, or below the minimum payout %s)\n",
			solana.FormatAmount(m.Outstanding(), 6), due, len(m.Ledger), solana.FormatAmount(m.MinPayout, 6))
		fmt.Fprintf(tw, "parent\t%s\n", parent)
	}
	fmt.Fprintf(tw, "pools\tbeacon %s, witness %s, data %s, ops %s\n", solana.FormatAmount(m.BeaconPool, 6), solana.FormatAmount(m.WitnessPool, 6), solana.FormatAmount(m.DataTransfer, 6), solana.FormatAmount(m.Ops, 6))
	fmt.Fprintf(tw, "hotspots\t%d\n", len(m.Hotspots))
	fmt.Fprintf(tw, "payouts\t%d (%d transactions of %d)\n", len(m.Payouts), (len(m.Payouts)+solana.BatchSize-1)/solana.BatchSize, solana.BatchSize)
	fmt.Fprintf(tw, "root\t%s (verified against the payouts)\n", wire.PublicKey(m.Root))
	if err := tw.Flush(); err != nil {
		return err
	}
	limit := 20
	if all {
		limit = len(m.Hotspots) + len(m.Payouts)
	}
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOTSPOT\tNAME\tOWNER\tSCALE\tBEACONS\tWITNESSES\tAMOUNT\tWITHHELD\tFLAGS")
	for i, h := range m.Hotspots {
		if i == limit {
			fmt.Fprintf(tw, "… %d more (--all)\n", len(m.Hotspots)-limit)
			break
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.4f\t%d\t%d\t%s\t%s\t%v\n", h.Hotspot, h.Hotspot.Name(), h.Owner, float64(h.Scale)/1e4, h.Beacons, h.Witnesses, solana.FormatAmount(h.Amount, 6), solana.FormatAmount(h.Withheld, 6), h.Flags)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INDEX\tOWNER\tAMOUNT")
	for i, p := range m.Payouts {
		if i == limit {
			fmt.Fprintf(tw, "… %d more (--all)\n", len(m.Payouts)-limit)
			break
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", i, p.Owner, solana.FormatAmount(p.Amount, 6))
	}
	return tw.Flush()
}

// printProof resolves ADDRESS (a hotspot of the manifest, else an owner), asks the oracle for
// the owner's proof and verifies it against the manifest's root.
func printProof(ctx context.Context, out io.Writer, c *oracle.Client, n uint64, addr wire.PublicKey) error {
	m, _, err := fetchManifest(ctx, c, n)
	if err != nil {
		return err
	}
	owner := addr
	for _, h := range m.Hotspots {
		if h.Hotspot == addr {
			owner = h.Owner
			fmt.Fprintf(out, "hotspot   %s %s (amount %s, withheld %s)\n", h.Hotspot, h.Hotspot.Name(), solana.FormatAmount(h.Amount, 6), solana.FormatAmount(h.Withheld, 6))
			break
		}
	}
	if m.Amount(owner) == 0 && m.Version >= 3 {
		l := m.LedgerOf(owner)
		fmt.Fprintf(out, "owner     %s\nepoch     %d\nowed      %s in all, paid %s: %s accruing\n", owner, n,
			solana.FormatAmount(l.Owed, 6), solana.FormatAmount(l.Paid, 6), solana.FormatAmount(l.Due(), 6))
		return fmt.Errorf("proof: %s has no payout in epoch %d (no token account yet, or below the minimum payout %s: hexfield rewards open-account)",
			owner, n, solana.FormatAmount(m.MinPayout, 6))
	}
	resp, err := c.Epoch(ctx, n, owner)
	if err != nil {
		return fmt.Errorf("proof: %w", err)
	}
	if resp.Proof == nil {
		return fmt.Errorf("proof: oracle returned no proof for %s", owner)
	}
	p := *resp.Proof
	fmt.Fprintf(out, "owner     %s\nepoch     %d\nindex     %d of %d (batch %d)\namount    %s\nroot      %s\n",
		p.Payout.Owner, n, p.Index, p.Count, p.Index/solana.BatchSize, solana.FormatAmount(p.Payout.Amount, 6), wire.PublicKey(m.Root))
	for i, s := range p.Siblings {
		fmt.Fprintf(out, "sibling   %2d %x\n", i, s)
	}
	if p.Payout.Owner != owner {
		return fmt.Errorf("proof is for %s, not %s", p.Payout.Owner, owner)
	}
	if !verifier.VerifyProof(m.Root, n, p) {
		fmt.Fprintln(out, "verified  NO")
		return errors.New("proof does not verify against the manifest root")
	}
	fmt.Fprintln(out, "verified  yes")
	return nil
}

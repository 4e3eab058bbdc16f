package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/hexfield/hexfield/wire"
)

const keysUsage = `hexfield keys new --out FILE [--force]
hexfield keys show [--name] FILE`

// runKeys creates and inspects key files (Solana CLI keypair JSON).
//
//	hexfield keys new --out FILE [--force]
//	hexfield keys show [--name] FILE
func runKeys(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("keys: usage: hexfield keys new --out FILE [--force] | hexfield keys show [--name] FILE")
	}
	switch args[0] {
	case "new":
		fs := flag.NewFlagSet("keys new", flag.ContinueOnError)
		path := fs.String("out", "", "key file to write (mode 0600)")
		force := fs.Bool("force", false, "overwrite an existing file")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *path == "" {
			return errors.New("keys new: --out is required")
		}
		if _, err := os.Stat(*path); err == nil && !*force {
			return fmt.Errorf("keys new: %s exists (use --force to overwrite)", *path)
		}
		priv, err := wire.GenerateKey()
		if err != nil {
			return fmt.Errorf("keys new: %w", err)
		}
		if *force {
			os.Remove(*path)
		}
		if err := wire.WriteKeyFile(*path, priv); err != nil {
			return fmt.Errorf("keys new: %w", err)
		}
		fmt.Fprintln(out, wire.PublicKeyOf(priv))
		return nil
	case "show":
		fs := flag.NewFlagSet("keys show", flag.ContinueOnError)
		fs.SetOutput(out)
		fs.Usage = func() {
			fmt.Fprintln(out, "usage: hexfield keys show [--name] FILE\n\nprints the address (base58 public key) of a key file;\nwith --name, its three-word hotspot name on a second line")
		}
		name := fs.Bool("name", false, "also print the key's three-word hotspot name, on a second line")
		if err := fs.Parse(args[1:]); err != nil {
			return err // run answers flag.ErrHelp with exit status 0
		}
		if fs.NArg() != 1 {
			return errors.New("keys show: usage: hexfield keys show [--name] FILE")
		}
		priv, err := wire.ReadKeyFile(fs.Arg(0))
		if err != nil {
			return fmt.Errorf("keys show: %w", err)
		}
		pub := wire.PublicKeyOf(priv)
		fmt.Fprintln(out, pub)
		if *name {
			fmt.Fprintln(out, pub.Name())
		}
		return nil
	}
	return fmt.Errorf("keys: unknown subcommand %q", args[0])
}

package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// Every command and subcommand answers -h and --help with its usage and
// no error (exit status 0), never "flag: help requested" or "unknown
// subcommand".
func TestHelp(t *testing.T) {
	for _, args := range [][]string{
		{"-h"}, {"--help"}, {"help"},
		{"keys", "-h"}, {"keys", "--help"}, {"keys", "new", "-h"}, {"keys", "show", "-h"},
		{"routes", "-h"}, {"routes", "--help"}, {"routes", "list", "-h"}, {"routes", "put", "--help"}, {"routes", "delete", "-h"},
		{"rewards", "-h"}, {"rewards", "--help"}, {"rewards", "manifest", "-h"}, {"rewards", "balance", "--help"},
		{"onboard", "-h"}, {"assert", "--help"}, {"devnet", "-h"},
	} {
		var out bytes.Buffer
		if err := run(context.Background(), args, &out); err != nil {
			t.Errorf("hexfield %s: %v", strings.Join(args, " "), err)
		}
	}
	for _, c := range []struct {
		cmd  string
		want []string
	}{
		{"routes", []string{"routes list", "routes put", "routes delete"}},
		{"keys", []string{"keys new", "keys show"}},
		{"rewards", []string{"rewards manifest", "rewards proof", "rewards balance"}},
	} {
		var out bytes.Buffer
		if err := run(context.Background(), []string{c.cmd, "-h"}, &out); err != nil {
			t.Fatal(err)
		}
		for _, w := range c.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("hexfield %s -h lacks %q:\n%s", c.cmd, w, out.String())
			}
		}
	}
	// Unknown things are still errors.
	if err := run(context.Background(), []string{"routes", "frobnicate"}, &bytes.Buffer{}); err == nil {
		t.Error("routes frobnicate: no error")
	}
	if err := run(context.Background(), []string{"keys", "new", "--frobnicate"}, &bytes.Buffer{}); err == nil {
		t.Error("keys new --frobnicate: no error")
	}
}

package hexfield_test

// The architecture is enforced here rather than remembered: every package
// has exactly one package doc comment, packages import only what
// DESIGN.md allows, and hotspotd stays pure Go.

import (
	"bytes"
	"encoding/json"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/hexfield/hexfield"

type goPackage struct {
	ImportPath string
	Dir        string
	Name       string
	GoFiles    []string
	CgoFiles   []string
	Imports    []string
	Deps       []string
	Standard   bool
}

// listPackages runs `go list -json` with the given extra environment.
func listPackages(t *testing.T, env []string, args ...string) []goPackage {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", args, err, stderr.String())
	}
	var pkgs []goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p goPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestPackageDocComments(t *testing.T) {
	for _, p := range listPackages(t, nil, "./...") {
		if len(p.GoFiles)+len(p.CgoFiles) == 0 {
			continue // a directory of tests only, like this one
		}
		var withDoc []string
		for _, f := range append(p.GoFiles, p.CgoFiles...) {
			file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, f), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatalf("parse %s: %v", f, err)
			}
			if file.Doc != nil && strings.TrimSpace(file.Doc.Text()) != "" {
				withDoc = append(withDoc, f)
			}
		}
		switch len(withDoc) {
		case 0:
			t.Errorf("%s has no package doc comment", p.ImportPath)
		case 1:
		default:
			t.Errorf("%s has package doc comments in several files: %v", p.ImportPath, withDoc)
		}
	}
}

// rule says which of our packages a package may import directly, and which
// packages (ours or external, by prefix) must not be anywhere in its
// dependency graph.
type rule struct {
	ours      []string
	forbidden []string
	// noDirect are packages it must not import itself, though a package it
	// may import can (verifier does no I/O, but wire's TLS needs net).
	noDirect []string
}

var rules = map[string]rule{
	"wire":          {ours: nil, forbidden: []string{"github.com/dgraph-io/", "github.com/uber/h3-go", "github.com/gagliardetto/"}},
	"radio":         {ours: []string{"wire"}, forbidden: []string{"net", "github.com/dgraph-io/", "github.com/uber/h3-go", "github.com/gagliardetto/"}},
	"radio/semtech": {ours: []string{"radio", "wire"}, forbidden: []string{"github.com/dgraph-io/", "github.com/uber/h3-go", "github.com/gagliardetto/"}},
	"radio/sim":     {ours: []string{"radio", "radio/semtech", "wire"}, forbidden: []string{"github.com/dgraph-io/", "github.com/uber/h3-go", "github.com/gagliardetto/"}},
	"hotspot": {ours: []string{"wire", "radio", "radio/semtech"}, forbidden: []string{
		module + "/oracle", module + "/verifier", module + "/maps",
		"github.com/dgraph-io/", "github.com/uber/h3-go", "github.com/gagliardetto/"}},
	"verifier": {ours: []string{"wire", "radio"},
		forbidden: []string{"github.com/dgraph-io/", "github.com/gagliardetto/"},
		noDirect:  []string{"net", "os", "os/exec", "math/rand", "math/rand/v2", "github.com/quic-go/"}},
	"oracle":        {ours: []string{"wire", "verifier", "maps", "oracle/solana", "oracle/solana/localnet"}, forbidden: []string{module + "/hotspot"}},
	"oracle/solana": {ours: nil, forbidden: []string{module + "/hotspot", module + "/verifier"}},
	"maps":          {ours: []string{"wire"}, forbidden: []string{"github.com/dgraph-io/", module + "/hotspot"}},
	"cmd/hotspotd": {ours: []string{"hotspot", "wire", "radio", "radio/semtech"}, forbidden: []string{
		module + "/oracle", module + "/verifier", module + "/maps",
		"github.com/dgraph-io/", "github.com/uber/h3-go", "github.com/gagliardetto/"}},
	"cmd/oracled": {ours: []string{"oracle", "wire", "verifier", "oracle/solana", "oracle/solana/localnet"}, forbidden: []string{module + "/hotspot"}},
}

// matches reports whether path is prefix itself or below it.
func matches(path, prefix string) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

func TestImportRules(t *testing.T) {
	for _, p := range listPackages(t, nil, "-deps=false", "./...") {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		r, ok := rules[rel]
		if !ok {
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			ours := strings.TrimPrefix(imp, module+"/")
			allowed := false
			for _, a := range r.ours {
				if ours == a {
					allowed = true
				}
			}
			if !allowed {
				t.Errorf("%s imports %s; DESIGN.md allows only %v", rel, ours, r.ours)
			}
		}
		for _, imp := range p.Imports {
			for _, f := range r.noDirect {
				if matches(imp, f) {
					t.Errorf("%s imports %s itself, which it must not", rel, imp)
				}
			}
		}
		for _, dep := range append(p.Deps, p.Imports...) {
			for _, f := range r.forbidden {
				if matches(dep, f) {
					t.Errorf("%s depends on %s, which it must not", rel, dep)
				}
			}
		}
	}
}

// TestHotspotdPureGo checks that hotspotd builds without cgo for the
// Raspberry Pi: no package in its graph needs cgo.
func TestHotspotdPureGo(t *testing.T) {
	if _, err := os.Stat("cmd/hotspotd"); err != nil {
		t.Skip("cmd/hotspotd does not exist yet")
	}
	for _, arch := range [][]string{{"GOARCH=arm64"}, {"GOARCH=arm", "GOARM=7"}} {
		env := append([]string{"CGO_ENABLED=0", "GOOS=linux"}, arch...)
		for _, p := range listPackages(t, env, "-deps", "./cmd/hotspotd") {
			if len(p.CgoFiles) > 0 {
				t.Errorf("%v: %s needs cgo", arch, p.ImportPath)
			}
			for _, f := range rules["cmd/hotspotd"].forbidden {
				if matches(p.ImportPath, f) {
					t.Errorf("%v: hotspotd depends on %s", arch, p.ImportPath)
				}
			}
		}
	}
}

// TestVerifierReadsNoClock checks that the verifier takes time as a
// parameter: no wall-clock reads in its code.
func TestVerifierReadsNoClock(t *testing.T) {
	files, err := filepath.Glob("verifier/*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, call := range []string{"time.Now(", "time.Since(", "time.Until(", "time.Sleep(", "time.After("} {
			if bytes.Contains(src, []byte(call)) {
				t.Errorf("%s calls %s: the verifier must take time as a parameter", f, call)
			}
		}
	}
}

package hexfield_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README stays true to the tree: every route of the oracle's HTTP API
// is listed, the hotspot's config path is the systemd unit's, the Node
// version is the one package.json asks for, and every make target .ci/run
// runs is named.
func TestREADMEMatchesTree(t *testing.T) {
	readme := readFile(t, "README.md")

	// Routes, as registered in oracle/*.go: route("METHOD /path").
	files, _ := filepath.Glob("oracle/*.go")
	routeRE := regexp.MustCompile(`route\("([A-Z]+) (/[^"]*)"`)
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		for _, m := range routeRE.FindAllStringSubmatch(readFile(t, f), -1) {
			n++
			if !strings.Contains(readme, "`"+m[1]+" "+m[2]) && !strings.Contains(readme, m[1]+" "+m[2]+"`") {
				t.Errorf("README's API list lacks %s %s (%s)", m[1], m[2], f)
			}
		}
	}
	if n < 10 {
		t.Fatalf("found only %d routes in oracle/*.go: the pattern is stale", n)
	}
	if !strings.Contains(readme, "/v1/hotspots?owner=") {
		t.Error("README does not say how to list an owner's hotspots (/v1/hotspots?owner=)")
	}

	// The unit's config path.
	unit := readFile(t, "configs/hotspotd.service")
	m := regexp.MustCompile(`ExecStart=\S+ run --config (\S+)`).FindStringSubmatch(unit)
	if m == nil {
		t.Fatal("configs/hotspotd.service: no ExecStart with --config")
	}
	if !strings.Contains(readme, "--config "+m[1]) {
		t.Errorf("README does not use the unit's config path %s", m[1])
	}
	if strings.Contains(readme, "/etc/hexfield/") {
		t.Error("README names /etc/hexfield/, which no unit or sample config uses")
	}

	// Node: the README's minimum is package.json's.
	var pkg struct {
		Engines struct {
			Node string `json:"node"`
		} `json:"engines"`
	}
	if err := json.Unmarshal([]byte(readFile(t, "oracle/solana/localnet/package.json")), &pkg); err != nil {
		t.Fatal(err)
	}
	minNode := strings.TrimPrefix(pkg.Engines.Node, ">=")
	if !strings.Contains(readme, "Node.js ≥ "+minNode) {
		t.Errorf("README does not state package.json's Node minimum %s", pkg.Engines.Node)
	}

	// What CI runs: the README's paragraph on .ci/run names every make target it runs.
	i := strings.Index(readme, "`.ci/run`")
	if i < 0 {
		t.Fatal("README does not describe .ci/run")
	}
	para, _, _ := strings.Cut(readme[i:], "\n\n")
	for _, target := range regexp.MustCompile(`(?m)^make (\w+)`).FindAllStringSubmatch(readFile(t, ".ci/run"), -1) {
		if !strings.Contains(para, "`make "+target[1]+"`") {
			t.Errorf("README's description of .ci/run lacks make %s", target[1])
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

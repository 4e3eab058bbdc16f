package verifier

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hexfield/hexfield/wire"
)

// Scenario tests read scripts from testdata/*.txt (datadriven style):
// each block is a command line, optional input lines, "----", and the
// expected output up to a blank line. Run with -rewrite to regenerate the
// expected outputs, then review the diff.
var rewrite = flag.Bool("rewrite", false, "rewrite the expected outputs of testdata/*.txt")

type scenarioBlock struct {
	cmd    string
	input  []string
	output string
	line   int
}

func parseScenario(t *testing.T, path string) (blocks []scenarioBlock, comments map[int][]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	comments = map[int][]string{}
	var cur *scenarioBlock
	inOutput := false
	var out []string
	n := 0
	for sc.Scan() {
		n++
		l := sc.Text()
		switch {
		case cur == nil && (strings.HasPrefix(l, "#") || strings.TrimSpace(l) == ""):
			comments[len(blocks)] = append(comments[len(blocks)], l)
		case cur == nil:
			cur = &scenarioBlock{cmd: l, line: n}
		case !inOutput && l == "----":
			inOutput = true
		case !inOutput:
			cur.input = append(cur.input, l)
		case strings.TrimSpace(l) == "":
			cur.output = strings.Join(out, "\n")
			blocks = append(blocks, *cur)
			cur, inOutput, out = nil, false, nil
		default:
			out = append(out, l)
		}
	}
	if cur != nil {
		cur.output = strings.Join(out, "\n")
		blocks = append(blocks, *cur)
	}
	return blocks, comments
}

func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			blocks, comments := parseScenario(t, path)
			s := &scenario{t: t, tw: newTown(t, 17)}
			var rewritten strings.Builder
			for i, b := range blocks {
				for _, c := range comments[i] {
					rewritten.WriteString(c + "\n")
				}
				got := strings.TrimRight(s.run(b), "\n")
				if got != b.output && !*rewrite {
					t.Errorf("%s:%d: %s\n--- got:\n%s\n--- want:\n%s", path, b.line, b.cmd, got, b.output)
				}
				rewritten.WriteString(b.cmd + "\n")
				for _, in := range b.input {
					rewritten.WriteString(in + "\n")
				}
				rewritten.WriteString("----\n")
				if got != "" {
					rewritten.WriteString(got + "\n")
				}
				rewritten.WriteString("\n")
			}
			for _, c := range comments[len(blocks)] {
				rewritten.WriteString(c + "\n")
			}
			if *rewrite {
				if err := os.WriteFile(path, []byte(strings.TrimRight(rewritten.String(), "\n")+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

type scenario struct {
	t     *testing.T
	tw    *town
	built bool
	last  map[string]*Beacon // last beacon of each hotspot
}

func args(fields []string) map[string]string {
	m := map[string]string{}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		m[k] = v
	}
	return m
}

func (s *scenario) latlng(v string) (float64, float64) {
	a, b, _ := strings.Cut(v, ",")
	lat, err1 := strconv.ParseFloat(a, 64)
	lng, err2 := strconv.ParseFloat(b, 64)
	if err1 != nil || err2 != nil {
		s.t.Fatalf("bad position %q", v)
	}
	return lat, lng
}

func (s *scenario) build() {
	if !s.built {
		s.tw.build()
		s.built = true
	}
}

// at parses an instant in the test epoch: "6h", "6h30m", "1h+2500ms".
func (s *scenario) at(v string) int64 {
	ms := s.tw.p.EpochStart(testEpoch)
	main, extra, _ := strings.Cut(v, "+")
	d, err := parseDuration(main)
	if err != nil {
		s.t.Fatalf("bad time %q", v)
	}
	ms += d
	if extra != "" {
		e, err := parseDuration(extra)
		if err != nil {
			s.t.Fatalf("bad time %q", v)
		}
		ms += e
	}
	return ms
}

func parseDuration(v string) (int64, error) {
	if strings.HasPrefix(v, "-") {
		d, err := parseDuration(v[1:])
		return -d, err
	}
	var total int64
	for v != "" {
		i := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' })
		if i <= 0 {
			return 0, fmt.Errorf("duration %q", v)
		}
		n, _ := strconv.ParseInt(v[:i], 10, 64)
		v = v[i:]
		unit := map[string]int64{"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
		matched := false
		for _, u := range []string{"ms", "s", "m", "h", "d"} {
			if strings.HasPrefix(v, u) {
				total += n * unit[u]
				v = v[len(u):]
				matched = true
				break
			}
		}
		if !matched {
			return 0, fmt.Errorf("duration unit in %q", v)
		}
	}
	return total, nil
}

func (s *scenario) name(k wire.PublicKey) string {
	for _, h := range s.tw.hs {
		if h.key == k {
			return h.name
		}
	}
	return k.String()[:8]
}

func (s *scenario) run(b scenarioBlock) string {
	f := strings.Fields(b.cmd)
	a := args(f[1:])
	tw := s.tw
	var out strings.Builder
	switch f[0] {
	case "hotspot":
		// hotspot <name> <lat>,<lng> [gain=ddBi] [true=lat,lng] [dataonly] [silent] [deaf] [unregistered] [unasserted]
		lat, lng := s.latlng(f[2])
		h := tw.add(f[1], lat, lng)
		if v, ok := a["gain"]; ok {
			g, _ := strconv.Atoi(v)
			h.gain, h.realGain = int32(g), int32(g)
		}
		if v, ok := a["true"]; ok {
			h.tlat, h.tlng = s.latlng(v)
		}
		_, h.dataOnly = a["dataonly"]
		_, h.silent = a["silent"]
		_, h.deaf = a["deaf"]
		_, h.unregistered = a["unregistered"]
		if v, ok := a["extra-power"]; ok {
			h.extraPower, _ = strconv.Atoi(v)
			_, h.reportExtra = a["report-power"]
		}
	case "history":
		// history days=N: every hotspot beacons once per bucket before the epoch
		s.build()
		days, _ := strconv.Atoi(a["days"])
		start := tw.p.EpochStart(testEpoch)
		nb, nw := len(tw.beacons), len(tw.witnesses)
		tw.rounds(start-int64(days)*dayMs, start)
		fmt.Fprintf(&out, "%d beacons, %d witness reports", len(tw.beacons)-nb, len(tw.witnesses)-nw)
	case "beacon":
		// beacon <name> at=<time>: heard over the simulated medium
		s.build()
		ms := s.at(a["at"])
		nw := len(tw.witnesses)
		bc := tw.beacon(tw.by[f[1]], ms)
		if s.last == nil {
			s.last = map[string]*Beacon{}
		}
		s.last[f[1]] = bc
		for _, w := range tw.witnesses[nw:] {
			rssis := float64(*w.Report.RssisDdbm) / 10
			fmt.Fprintf(&out, "heard by %s at %.0f dBm, snr %.1f dB\n", s.name(wire.PublicKey(w.Report.PubKey)), rssis, float64(w.Report.SnrDdb)/10)
		}
	case "witness":
		// witness <name> of=<beaconer> lag=<duration> signal=<dBm> [noise=<dBm>]
		s.build()
		bc := s.last[a["of"]]
		if bc == nil {
			s.t.Fatalf("%s: no beacon of %s yet", b.cmd, a["of"])
		}
		lag, _ := parseDuration(a["lag"])
		sig, _ := strconv.ParseFloat(a["signal"], 64)
		noise := -117.0
		if v, ok := a["noise"]; ok {
			noise, _ = strconv.ParseFloat(v, 64)
		}
		tw.witness(tw.by[f[1]], bc, bc.ReceivedMs+lag, sig, noise)
	case "deny":
		tw.p.Deny.Keys = append(tw.p.Deny.Keys, tw.by[f[1]].key)
	case "packets":
		// packets <name> n=<copies> size=<bytes>
		n, _ := strconv.Atoi(a["n"])
		size, _ := strconv.Atoi(a["size"])
		tw.addPackets(tw.by[f[1]], n, size, false, false)
	case "epoch":
		s.build()
		res, err := EvaluateEpoch(tw.input(testEpoch))
		if err != nil {
			return "error: " + err.Error()
		}
		start := tw.p.EpochStart(testEpoch)
		_, detail := a["detail"]
		for _, p := range res.PoCs {
			if !detail && p.Reason == ReasonNone {
				var bad []string
				for _, w := range p.Witnesses {
					if w.Reason != ReasonNone {
						bad = append(bad, s.name(w.Hotspot)+":"+w.Reason.String())
					}
				}
				if len(bad) == 0 {
					continue
				}
			}
			t := p.ReceivedMs - start
			fmt.Fprintf(&out, "poc %s@%02d:%02d:%02d.%03d %s w=%d:", s.name(p.Beaconer), t/hourMs, t/60_000%60, t/1000%60, t%1000, p.Reason, p.Selected)
			for _, w := range p.Witnesses {
				mark := ""
				if w.Selected {
					mark = "*"
				}
				fmt.Fprintf(&out, " %s:%s%s", s.name(w.Hotspot), w.Reason, mark)
			}
			out.WriteString("\n")
		}
		m := res.Manifest
		lines := slices.Clone(m.Hotspots)
		slices.SortFunc(lines, func(x, y HotspotReward) int { return strings.Compare(s.name(x.Hotspot), s.name(y.Hotspot)) })
		for _, l := range lines {
			fmt.Fprintf(&out, "%s scale=%d.%04d units=%d+%d beacons=%d witnesses=%d unselected=%d dc=%d amount=%d", s.name(l.Hotspot),
				l.Scale/10000, l.Scale%10000, l.BeaconUnits, l.WitnessUnits, l.Beacons, l.Witnesses, l.Unselected, l.DC, l.Amount)
			if l.Withheld > 0 || len(l.Flags) > 0 {
				fmt.Fprintf(&out, " withheld=%d flags=%v", l.Withheld, l.Flags)
			}
			for _, rc := range l.InvalidBeacons {
				fmt.Fprintf(&out, " beacon:%s=%d", rc.Reason, rc.Count)
			}
			for _, rc := range l.InvalidWitnesses {
				fmt.Fprintf(&out, " witness:%s=%d", rc.Reason, rc.Count)
			}
			out.WriteString("\n")
		}
		fmt.Fprintf(&out, "emission=%d ops=%d data=%d beacon-pool=%d witness-pool=%d total=%d unallocated=%d payouts=%d\n",
			m.Emission, m.Ops, m.DataTransfer, m.BeaconPool, m.WitnessPool, m.Total, m.Unallocated, len(m.Payouts))
		fmt.Fprintf(&out, "root=%s", wire.PublicKey(m.Root))
	default:
		s.t.Fatalf("%s: unknown command", b.cmd)
	}
	return out.String()
}

// Package e2e holds the cross-package end-to-end tests: real hotspot
// instances (in-process, or the hotspotd binary when a process must be
// killed) attached to radio/sim virtual concentrators on one simulated RF
// medium, talking QUIC to real oracles, all over loopback.
package e2e

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	h3 "github.com/uber/h3-go/v4"

	"github.com/hexfield/hexfield/hotspot"
	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/radio/sim"
	"github.com/hexfield/hexfield/wire"
)

// binDir holds the binaries the tests build, for as long as they run.
var binDir string

// hotspotdBin is the hotspotd binary built once by TestMain, for the tests
// that run it as a process.
var hotspotdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hexfield-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	hotspotdBin = filepath.Join(dir, "hotspotd")
	build := exec.Command("go", "build", "-o", hotspotdBin, "../cmd/hotspotd")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build hotspotd: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// oracled is built at most once, by the first test that runs it as a
// process.
var (
	oracledOnce sync.Once
	oracledBin  string
	oracledErr  error
)

// oracledBinary returns the oracled binary, building it on first use.
func oracledBinary(t testing.TB) string {
	t.Helper()
	oracledOnce.Do(func() {
		bin := filepath.Join(binDir, "oracled")
		if out, err := exec.Command("go", "build", "-o", bin, "../cmd/oracled").CombinedOutput(); err != nil {
			oracledErr = fmt.Errorf("build oracled: %w\n%s", err, out)
			return
		}
		oracledBin = bin
	})
	if oracledErr != nil {
		t.Fatal(oracledErr)
	}
	return oracledBin
}

func logger(t testing.TB, name string) *slog.Logger {
	t.Helper()
	if os.Getenv("E2E_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", name)
	}
	return slog.New(slog.DiscardHandler)
}

// minWait is the least any waitFor waits: the deadline only bounds a
// failing test (a passing one returns as soon as cond holds), so a caller's
// short estimate must not fail a test on a loaded machine.
const minWait = 2 * time.Minute

// waitFor polls cond until it holds, or fails after timeout (at least
// minWait).
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	timeout = max(timeout, minWait)
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// beaconInterval is the devnet-style short beacon bucket the oracles hand
// to hotspots.
const beaconInterval = 10 * time.Second

// oracleNode is a real oracle on loopback; it can be stopped and started
// again on the same store, key and address.
type oracleNode struct {
	t      testing.TB
	name   string
	key    ed25519.PrivateKey
	dir    string
	quic   string
	http   string
	reg    *prometheus.Registry
	o      *oracle.Oracle
	cancel context.CancelFunc
	done   chan error
	edit   func(*oracle.Config)
}

func startOracle(t testing.TB, name string) *oracleNode {
	t.Helper()
	return startOracleWith(t, name, nil)
}

// startOracleWith starts an oracle whose configuration edit changes.
func startOracleWith(t testing.TB, name string, edit func(*oracle.Config)) *oracleNode {
	t.Helper()
	key, err := wire.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	n := &oracleNode{t: t, name: name, key: key, dir: t.TempDir(), quic: "127.0.0.1:0", http: "127.0.0.1:0", edit: edit}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *oracleNode) start() {
	t := n.t
	t.Helper()
	var pc net.PacketConn
	var err error
	for range 50 { // the old socket may take a moment to be released
		if pc, err = net.ListenPacket("udp", n.quic); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for range 50 {
		if ln, err = net.Listen("tcp", n.http); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	n.quic, n.http = pc.LocalAddr().String(), ln.Addr().String()
	n.reg = prometheus.NewRegistry()
	cfg := oracle.Config{
		DataDir:        n.dir,
		BeaconInterval: beaconInterval,
		EpochLength:    10 * time.Minute,
		EpochGrace:     time.Minute,
		Retention:      30 * 24 * time.Hour,
		EntropyPeriod:  2 * time.Second,
		VerifyInterval: time.Second,
	}
	if n.edit != nil {
		n.edit(&cfg)
	}
	o, err := oracle.New(cfg, oracle.Deps{Key: n.key, PacketConn: pc, HTTPListener: ln, Logger: logger(t, n.name),
		Registerer: n.reg, Gatherer: n.reg})
	if err != nil {
		t.Fatal(err)
	}
	n.o = o
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan error, 1)
	go func() { n.done <- o.Run(ctx) }()
}

func (n *oracleNode) stop() {
	if n.cancel == nil {
		return
	}
	n.cancel()
	if err := <-n.done; err != nil {
		n.t.Errorf("oracle %s: %v", n.name, err)
	}
	n.cancel = nil
}

func (n *oracleNode) dialString() string { return wire.PublicKeyOf(n.key).String() + "@" + n.quic }

func (n *oracleNode) client() *oracle.Client { return &oracle.Client{BaseURL: "http://" + n.http} }

// onboard registers a hotspot key with an owner and asserts its location.
func (n *oracleNode) onboard(t testing.TB, hk ed25519.PrivateKey, lat, lng float64) {
	t.Helper()
	owner := n.onboardOnly(t, hk)
	n.assert(t, owner, hk, lat, lng)
}

// onboardOnly registers a hotspot without a location; it returns the owner.
func (n *oracleNode) onboardOnly(t testing.TB, hk ed25519.PrivateKey) ed25519.PrivateKey {
	t.Helper()
	owner, _ := wire.GenerateKey()
	req, err := oracle.NewOnboardRequest(hk, owner, false, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.client().Onboard(context.Background(), req); err != nil {
		t.Fatalf("onboard: %v", err)
	}
	return owner
}

// assert asserts a hotspot's location, signed by its owner.
func (n *oracleNode) assert(t testing.TB, owner, hk ed25519.PrivateKey, lat, lng float64) {
	t.Helper()
	ctx := context.Background()
	cell, err := h3.LatLngToCell(h3.NewLatLng(lat, lng), 12)
	if err != nil {
		t.Fatal(err)
	}
	areq, err := oracle.NewAssertRequest(owner, wire.PublicKeyOf(hk), uint64(cell), 12, 10, 1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.client().Assert(ctx, wire.PublicKeyOf(hk), areq); err != nil {
		t.Fatalf("assert: %v", err)
	}
}

// reports returns the stored reports of kind signed by hk.
func (n *oracleNode) reports(t testing.TB, hk wire.PublicKey, kind wire.Kind) []oracle.StoredReport {
	t.Helper()
	rs, err := n.o.Store().HotspotReports(hk[:], kind, 1<<20)
	if err != nil {
		t.Fatalf("oracle %s reports: %v", n.name, err)
	}
	return rs
}

// site is one place on the map with a radio and a virtual concentrator.
type site struct {
	name     string
	lat, lng float64
	key      ed25519.PrivateKey
	radio    *sim.Radio
	conc     *sim.Concentrator
	h        *hotspot.Hotspot
	reg      *prometheus.Registry
	cancel   context.CancelFunc
	done     chan error
}

func (s *site) pub() wire.PublicKey { return wire.PublicKeyOf(s.key) }

// world is a medium with sites around Amsterdam (EU868), ~1 km apart.
type world struct {
	t      testing.TB
	medium *sim.Medium
	sites  []*site
}

func newWorld(t testing.TB, seed uint64) *world {
	t.Helper()
	m, err := sim.NewMedium(sim.MediumConfig{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return &world{t: t, medium: m}
}

// addSite places a radio and onboards its key on every oracle.
func (w *world) addSite(name string, dLat, dLng float64, oracles ...*oracleNode) *site {
	t := w.t
	t.Helper()
	key, _ := wire.GenerateKey()
	s := &site{name: name, lat: 52.37 + dLat, lng: 4.89 + dLng, key: key}
	r, err := w.medium.Attach(sim.RadioConfig{Name: name, Lat: s.lat, Lng: s.lng, Elevation: 10, Gain: 1.2})
	if err != nil {
		t.Fatal(err)
	}
	s.radio = r
	for _, o := range oracles {
		o.onboard(t, key, s.lat, s.lng)
	}
	w.sites = append(w.sites, s)
	return s
}

// attach starts a virtual concentrator on s's radio sending to server.
func (s *site) attach(t testing.TB, server net.Addr, cfg sim.ConcentratorConfig) {
	t.Helper()
	up, _ := net.ListenPacket("udp", "127.0.0.1:0")
	down, _ := net.ListenPacket("udp", "127.0.0.1:0")
	if cfg.KeepaliveInterval == 0 {
		cfg.KeepaliveInterval = 200 * time.Millisecond
	}
	if cfg.StatInterval == 0 {
		cfg.StatInterval = -1
	}
	c, err := sim.NewConcentrator(cfg, s.radio, up, down, server, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.conc = c
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// startHotspot runs an in-process hotspot for s with a concentrator.
func (s *site) startHotspot(t testing.TB, cfg hotspot.Config, oracles ...*oracleNode) {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	for _, o := range oracles {
		cfg.Oracles = append(cfg.Oracles, o.dialString())
	}
	if cfg.OutboxSyncInterval == 0 {
		cfg.OutboxSyncInterval = 50 * time.Millisecond
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 5 * time.Second
	}
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.reg = prometheus.NewRegistry()
	h, err := hotspot.New(cfg, hotspot.Deps{Key: s.key, Semtech: udp, Logger: logger(t, s.name), Registerer: s.reg})
	if err != nil {
		t.Fatal(err)
	}
	s.h = h
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan error, 1)
	go func() { s.done <- h.Run(ctx) }()
	t.Cleanup(s.stopHotspot)
	s.attach(t, udp.LocalAddr(), sim.ConcentratorConfig{})
}

func (s *site) stopHotspot() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
	s.cancel = nil
}

// counter reads one series of a hotspot metric.
func counter(t testing.TB, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// spammer transmits distinct candidate beacons (52-byte 0xE0 frames) from a
// radio near the sites, round-robin over the EU868 channels so they never
// collide, and remembers every payload sent.
type spammer struct {
	r    *sim.Radio
	mu   sync.Mutex
	sent map[[radio.BeaconPayloadSize]byte]bool
	n    int
}

func (w *world) newSpammer(name string) *spammer {
	r, err := w.medium.Attach(sim.RadioConfig{Name: name, Lat: 52.375, Lng: 4.895, Elevation: 10})
	if err != nil {
		w.t.Fatal(err)
	}
	return &spammer{r: r, sent: map[[radio.BeaconPayloadSize]byte]bool{}}
}

// run transmits one frame every period until ctx ends.
func (sp *spammer) run(ctx context.Context, period time.Duration) {
	eu, _ := radio.LookupRegion("EU868")
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sp.once(eu.Channels[sp.n%len(eu.Channels)])
	}
}

func (sp *spammer) once(f radio.Hz) {
	var p [radio.BeaconPayloadSize]byte
	sp.mu.Lock()
	sp.n++
	copy(p[:], fmt.Sprintf("spam-%08d-%s", sp.n, runtime.Version()))
	sp.sent[p] = true
	sp.mu.Unlock()
	if _, err := sp.r.Transmit(sim.Transmission{Frequency: f, DataRate: radio.DataRate{SF: 7, Bandwidth: 125_000},
		Power: 14, Payload: radio.BeaconFrame(p)}); err != nil {
		panic(err)
	}
}

func (sp *spammer) count() int {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.n
}

// startLNS runs radio/sim's test LNS on a loopback socket until the test
// ends.
func startLNS(t testing.TB, cfg sim.LNSConfig) *sim.LNS {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lns, err := sim.NewLNS(cfg, conn, logger(t, "lns"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lns.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return lns
}

// newOracledProcess prepares an oracled process, for tests that must kill
// the oracle with SIGKILL: its key file, data directory and fixed
// loopback addresses, so that it starts again (d.start) on the same store,
// key and addresses after d.kill9. extra is TOML added to the config file
// (intervals, chain); it must not repeat the keys set here. The returned
// node has no in-process oracle: it gives the process's key and addresses
// to clients and hotspots. Nothing runs until d.start; then wait with
// waitServing.
func newOracledProcess(t testing.TB, name, extra string) (*oracleNode, *daemon) {
	t.Helper()
	dir := t.TempDir()
	key, _ := wire.GenerateKey()
	keyFile := filepath.Join(dir, "oracle-key.json")
	if err := wire.WriteKeyFile(keyFile, key); err != nil {
		t.Fatal(err)
	}
	n := &oracleNode{t: t, name: name, key: key, dir: filepath.Join(dir, "data"), quic: freeUDPPort(t), http: freeTCPPort(t)}
	conf := fmt.Sprintf("data_dir = %q\nkey_file = %q\nquic_listen = %q\nhttp_listen = %q\nmetrics_listen = \"off\"\nlog_level = \"info\"\n%s",
		n.dir, keyFile, n.quic, n.http, extra)
	confFile := filepath.Join(dir, "oracled.toml")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, exe: []string{oracledBinary(t)}, args: []string{"run", "--config", confFile}, logPath: filepath.Join(dir, "oracled.log")}
	return n, d
}

// waitServing waits until n's HTTP API answers.
func (n *oracleNode) waitServing(t testing.TB) {
	t.Helper()
	waitFor(t, "oracle "+n.name+" serving its API", time.Minute, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := n.client().Registry(ctx)
		return err == nil
	})
}

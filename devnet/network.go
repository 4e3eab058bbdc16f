package devnet

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/hexfield/hexfield/hotspot"
	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/radio/sim"
	"github.com/hexfield/hexfield/verifier"
	"github.com/hexfield/hexfield/wire"
)

// region is the channel plan of the default city. Placement near another
// city must pass a Lat/Lng inside the same plan's area.
const region = "EU868"

// node is one hotspot of the devnet: its keys, where its radio really is,
// where its owner says it is, and the running parts.
type node struct {
	name     string
	key      ed25519.PrivateKey
	owner    ed25519.PrivateKey
	lat, lng float64 // where the radio is
	aLat     float64 // asserted location
	aLng     float64
	gainDdBi int32
	elev     int32
	spoofer  bool
	metrics  *prometheus.Registry
	hotspot  *hotspot.Hotspot
}

func (n *node) pub() wire.PublicKey      { return wire.PublicKeyOf(n.key) }
func (n *node) ownerPub() wire.PublicKey { return wire.PublicKeyOf(n.owner) }

// network is a running devnet.
type network struct {
	cfg      Config
	out      io.Writer
	logs     io.Writer
	dir      string
	start    time.Time
	oracles  []*oracleNode  // the first is the leader
	api      *oracle.Client // the leader's HTTP API
	chain    *chain         // nil without a chain
	medium   *sim.Medium
	nodes    []*node
	customer *customer
	seen     map[string]bool // verified PoCs already counted
	// onboarded is when every hotspot was registered: proofs count from
	// the first epoch that starts after it.
	onboarded time.Time
	tally     tally
}

// Run starts a devnet and prints a summary every cfg.SummaryEvery until ctx
// ends or cfg says to stop. It cleans up everything it started.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	return run(ctx, cfg, out, nil)
}

// run is Run with an optional check of every summary: when until returns
// true the network stops and run returns nil.
func run(ctx context.Context, cfg Config, out io.Writer, until func(*Summary) bool) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	n := &network{cfg: cfg, out: out, logs: io.Discard, start: time.Now(), seen: map[string]bool{}}
	switch {
	case cfg.Logs != nil:
		n.logs = cfg.Logs
	case cfg.Verbose:
		n.logs = out
	}
	if cfg.Out != "" {
		if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
			return fmt.Errorf("devnet: %w", err)
		}
	}
	dir, cleanup, err := dataDir(cfg.Dir)
	if err != nil {
		return err
	}
	defer cleanup()
	n.dir = dir

	// The nodes run until the devnet stops them: when ctx ends (Ctrl-C)
	// the report prints the final summary while they still answer, then
	// stops them. ctx ending during start-up stops them at once.
	interrupt := ctx
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stopStartup := context.AfterFunc(interrupt, cancel)
	g, ctx := errgroup.WithContext(ctx)
	// On an early return, everything started stops before the chain and
	// the data directory go away.
	defer func() {
		cancel()
		g.Wait()
	}()

	if !cfg.NoChain {
		c, err := startChain(ctx, n.logger("chain"))
		switch {
		case errors.Is(err, errNoChain):
			fmt.Fprintf(out, "devnet: no local chain (%v); running with manifests only\n", err)
		case err != nil:
			return err
		default:
			n.chain = c
			defer c.close()
			fmt.Fprintf(out, "devnet: local Solana chain at %s (real SVM via litesvm)\n", c.url())
		}
	}
	n.customer = &customer{grantKey: n.key("operator")}
	if n.chain != nil {
		if n.customer.dcSetup, err = n.setupDC(ctx); err != nil {
			return err
		}
	}
	if err := n.startOracles(ctx, g); err != nil {
		return err
	}
	// Hotspots are registered first: each epoch's registry snapshot is
	// taken at its start, so the sooner they are, the sooner an epoch pays.
	n.place()
	for _, nd := range n.nodes {
		if err := n.onboard(ctx, nd); err != nil {
			return err
		}
	}
	n.onboarded = time.Now()
	if err := n.startCustomer(ctx, g); err != nil {
		return err
	}
	medium, err := sim.NewMedium(sim.MediumConfig{Seed: cfg.Seed})
	if err != nil {
		return fmt.Errorf("devnet: medium: %w", err)
	}
	defer medium.Close()
	n.medium = medium
	for _, nd := range n.nodes {
		if err := n.startHotspot(ctx, g, nd); err != nil {
			return err
		}
	}
	if err := n.startSensors(ctx, g); err != nil {
		return err
	}
	if err := n.openAccounts(ctx); err != nil {
		return err
	}
	n.banner()
	if !stopStartup() {
		return interrupt.Err() // interrupted while starting
	}
	g.Go(func() error { return n.report(ctx, interrupt, until, cancel) })
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// dataDir returns dir, or a fresh temporary directory that cleanup removes.
func dataDir(dir string) (string, func(), error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", nil, fmt.Errorf("devnet: %w", err)
		}
		return dir, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", "hexfield-devnet-")
	if err != nil {
		return "", nil, fmt.Errorf("devnet: %w", err)
	}
	return tmp, func() { os.RemoveAll(tmp) }, nil
}

func (n *network) logger(name string) *slog.Logger {
	return slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelInfo})).With("node", name)
}

// key derives a deterministic key for a name, so a devnet with the same seed
// has the same addresses.
func (n *network) key(name string) ed25519.PrivateKey {
	seed := sha256.Sum256(fmt.Appendf(nil, "hexfield-devnet/%d/%s", n.cfg.Seed, name))
	return ed25519.NewKeyFromSeed(seed[:])
}

// place puts the honest hotspots on a jittered grid around the centre, and
// the spoofers together in one spot while they assert locations spread
// over the city, as a witness ring would.
func (n *network) place() {
	rng := rand.New(rand.NewPCG(n.cfg.Seed, 0x6865786669656c64))
	side := int(math.Ceil(math.Sqrt(float64(n.cfg.Hotspots))))
	for i := range n.cfg.Hotspots {
		row, col := i/side, i%side
		north := (float64(row) - float64(side-1)/2 + (rng.Float64()-0.5)*0.4) * n.cfg.Spacing
		east := (float64(col) - float64(side-1)/2 + (rng.Float64()-0.5)*0.4) * n.cfg.Spacing
		lat, lng := offset(n.cfg.Lat, n.cfg.Lng, north, east)
		name := fmt.Sprintf("hotspot-%02d", i)
		n.nodes = append(n.nodes, &node{name: name, key: n.key(name), owner: n.key("owner-" + name),
			lat: lat, lng: lng, aLat: lat, aLng: lng,
			gainDdBi: int32(30 + 10*rng.IntN(4)), elev: int32(8 + rng.IntN(25))})
	}
	// The ring: radios together in one building 80 km out of town, out of
	// reach of every honest hotspot, each claiming a spot spread over the
	// city, as Helium's witness rings did.
	span := float64(side) * n.cfg.Spacing
	ringLat, ringLng := offset(n.cfg.Lat, n.cfg.Lng, 80_000, 0)
	for i := range n.cfg.Spoofers {
		angle := 2 * math.Pi * float64(i) / float64(max(n.cfg.Spoofers, 1))
		aLat, aLng := offset(n.cfg.Lat, n.cfg.Lng, math.Sin(angle)*span/2.5, math.Cos(angle)*span/2.5)
		lat, lng := offset(ringLat, ringLng, float64(i)*3, 0)
		name := fmt.Sprintf("spoofer-%02d", i)
		n.nodes = append(n.nodes, &node{name: name, key: n.key(name), owner: n.key("owner-" + name),
			lat: lat, lng: lng, aLat: aLat, aLng: aLng, gainDdBi: 40, elev: 20, spoofer: true})
	}
}

// offset moves a point north and east by metres.
func offset(lat, lng, north, east float64) (float64, float64) {
	const earth = 6_371_000.0
	dLat := north / earth * 180 / math.Pi
	dLng := east / (earth * math.Cos(lat*math.Pi/180)) * 180 / math.Pi
	return lat + dLat, lng + dLng
}

// startHotspot starts the real hotspot of an onboarded node and its
// virtual concentrator on the medium.
func (n *network) startHotspot(ctx context.Context, g *errgroup.Group, nd *node) error {
	semtechConn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("devnet: %s: %w", nd.name, err)
	}
	quicConn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		semtechConn.Close()
		return fmt.Errorf("devnet: %s: %w", nd.name, err)
	}
	nd.metrics = prometheus.NewRegistry()
	hs, err := hotspot.New(hotspot.Config{
		DataDir:      filepath.Join(n.dir, nd.name),
		StatusListen: "off",
		Oracles:      n.oracleAddrs(),
		// Route changes reach the hotspots within half a minute.
		ConfigRefresh: 30 * time.Second,
	}, hotspot.Deps{Key: nd.key, Semtech: semtechConn, QUIC: quicConn, Logger: n.logger(nd.name),
		Registerer: nd.metrics, Software: "hotspotd/devnet"})
	if err != nil {
		semtechConn.Close()
		quicConn.Close()
		return fmt.Errorf("devnet: %s: %w", nd.name, err)
	}
	nd.hotspot = hs
	r, err := n.medium.Attach(sim.RadioConfig{Name: nd.name, Lat: nd.lat, Lng: nd.lng,
		Elevation: radio.Meters(nd.elev), Gain: radio.DBi(float64(nd.gainDdBi) / 10)})
	if err != nil {
		return fmt.Errorf("devnet: %s radio: %w", nd.name, err)
	}
	up, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("devnet: %s: %w", nd.name, err)
	}
	down, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		up.Close()
		return fmt.Errorf("devnet: %s: %w", nd.name, err)
	}
	conc, err := sim.NewConcentrator(sim.ConcentratorConfig{Region: region}, r, up, down,
		semtechConn.LocalAddr(), n.logger(nd.name+"/forwarder"), nil)
	if err != nil {
		up.Close()
		down.Close()
		return fmt.Errorf("devnet: %s concentrator: %w", nd.name, err)
	}
	g.Go(func() error { return hs.Run(ctx) })
	g.Go(func() error { return conc.Run(ctx) })
	return nil
}

// onboard registers the hotspot and asserts its location on every oracle:
// oracles do not replicate their registries, so the owner tells each one.
func (n *network) onboard(ctx context.Context, nd *node) error {
	// The assertion is dated after the onboarding it follows: each
	// takes effect at its signed time, in that order.
	at := time.Now()
	req, err := oracle.NewOnboardRequest(nd.key, nd.owner, false, at)
	if err != nil {
		return fmt.Errorf("devnet: onboard %s: %w", nd.name, err)
	}
	cell, err := verifier.LatLngToCell(nd.aLat, nd.aLng, 12)
	if err != nil {
		return fmt.Errorf("devnet: %s location: %w", nd.name, err)
	}
	assert, err := oracle.NewAssertRequest(nd.owner, nd.pub(), cell, nd.gainDdBi, nd.elev, 1, at.Add(time.Millisecond))
	if err != nil {
		return fmt.Errorf("devnet: assert %s: %w", nd.name, err)
	}
	for _, o := range n.oracles {
		if err := waitHealthy(ctx, o.api); err != nil {
			return fmt.Errorf("devnet: %s: %w", o.name, err)
		}
		if _, err := o.api.Onboard(ctx, req); err != nil {
			return fmt.Errorf("devnet: onboard %s on %s: %w", nd.name, o.name, err)
		}
		if _, err := o.api.Assert(ctx, nd.pub(), assert); err != nil {
			return fmt.Errorf("devnet: assert %s on %s: %w", nd.name, o.name, err)
		}
	}
	return nil
}

// openAccounts has every owner open its reward token account, paying the
// rent itself, right after onboarding (a few at a time).
func (n *network) openAccounts(ctx context.Context) error {
	if n.chain == nil {
		return nil
	}
	var g errgroup.Group
	g.SetLimit(4)
	var mu sync.Mutex
	var rent, opened uint64
	for _, nd := range n.nodes {
		g.Go(func() error {
			a, err := n.chain.openAccount(ctx, nd.owner)
			if err != nil {
				return fmt.Errorf("%s: %w", nd.name, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if !a.AlreadyOpen {
				opened++
				rent += a.Rent
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	fmt.Fprintf(n.out, "devnet: %d owners opened their reward token accounts, paying %d lamports of rent from their own wallets "+
		"(the network pays no recipient's rent; an owner without an account accrues its rewards)\n", opened, rent)
	return nil
}

// waitHealthy waits for the oracle's HTTP API to answer.
func waitHealthy(ctx context.Context, c *oracle.Client) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := c.Routes(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("devnet: oracle API did not come up: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

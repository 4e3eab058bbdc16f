package oracle

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/hexfield/hexfield/maps"
	"github.com/hexfield/hexfield/verifier"
	"github.com/hexfield/hexfield/wire"
)

// Deps are what an Oracle is given rather than builds: its identity, its
// sockets and its collaborators. Only Key is required.
type Deps struct {
	// Key is the oracle's ed25519 identity: it signs entropy and configs
	// and is the QUIC server certificate hotspots pin.
	Key ed25519.PrivateKey
	// PacketConn is the UDP socket for QUIC ingest; nil = no ingest. The
	// oracle closes it when Run returns.
	PacketConn net.PacketConn
	// HTTPListener serves the public HTTP API and /healthz; nil = no
	// HTTP. The oracle closes it when Run returns.
	HTTPListener net.Listener
	// MetricsListener serves /metrics (from Gatherer) and nothing else,
	// apart from the public API (bind it to loopback); nil = no metrics
	// endpoint. The oracle closes it when Run returns.
	MetricsListener net.Listener
	// Logger; nil discards.
	Logger *slog.Logger
	// Registerer takes the oracle's metrics; nil = not registered.
	Registerer prometheus.Registerer
	// Gatherer serves /metrics on MetricsListener; nil = 404 there.
	Gatherer prometheus.Gatherer
	// Rewarder receives each epoch's payout; nil = manifests only, no chain.
	Rewarder Rewarder
	// Blockhash returns the latest chain blockhash for entropy; nil = all
	// zero (no chain).
	Blockhash func(ctx context.Context) ([32]byte, error)
	// DCChain reads DC purchases from the chain (with Config.DCTreasury);
	// nil = DC are not bought on chain.
	DCChain DCChain
	// Funded reports which owners have a reward token account (the
	// chain's oracle/solana Chain.Funded); only those are paid, the others
	// accrue. nil = every owner counts as funded (no chain).
	Funded func(ctx context.Context, owners [][32]byte) ([]bool, error)
	// Now is the clock; nil = time.Now.
	Now func() time.Time
	// Params, if non-nil, is the verifier parameter set; the oracle
	// overrides its epoch length, grace, beacon interval, entropy lifetime
	// and entropy signers from Config. nil = verifier.DefaultParams().
	Params *verifier.Params
}

// Log sampling of events anyone on the network can cause: at most
// logSampleBurst lines per event and period (the rest are counted in
// hexfield_oracle_log_lines_suppressed_total).
const (
	logSamplePeriod = 10 * time.Second
	logSampleBurst  = 5
)

// Oracle is one oracle node. Create it with New and start it with Run.
type Oracle struct {
	cfg       Config
	key       ed25519.PrivateKey
	pub       wire.PublicKey
	log       *slog.Logger
	logs      *logSampler // lines of events anyone can cause, sampled
	m         *metrics
	store     *Store
	commit    *committer
	entropy   *entropyService
	params    verifier.Params
	rewarder  Rewarder
	blockhash func(ctx context.Context) ([32]byte, error)
	now       func() time.Time
	pc        net.PacketConn
	ln        net.Listener
	metricsLn net.Listener
	gatherer  prometheus.Gatherer
	// reg holds the registry's parsed settings and rate limits.
	reg     *registryParams
	dcChain DCChain
	// registerer takes the metrics of parts built later (the map).
	registerer prometheus.Registerer
	// maps is the coverage map, fed by verification, served at /.
	maps *maps.Server
	// verifyMax bounds the beacons of one verification run
	// (maxVerifyBatch; tests lower it).
	verifyMax int
	// epochHook, when set by tests, is called after each persisted epoch
	// step; an error stops the scheduler there, as a crash would.
	epochHook func(epoch uint64, step EpochStep) error
	// funded is Deps.Funded.
	funded func(ctx context.Context, owners [][32]byte) ([]bool, error)
	// cons is the M-of-N agreement with peer oracles (consensus.go); nil
	// for a single oracle.
	cons *consensus
	// retry wakes retryDisputed after an epoch closes.
	retry chan struct{}
	// catchUp serialises catchUpAuthorised (a one-slot semaphore that
	// respects contexts); settleMu serialises writing an agreed epoch.
	catchUp  chan struct{}
	settleMu sync.Mutex
	// packetRoutes are the routes ingest checks packet reports against.
	packetRoutes regCache[map[string]Route]
	// tables caches the signed route tables of the current version.
	tables routeTableCache
	// changesCache caches the change log's digest (changes.go).
	changesCache regCache[changesDigest]
	// mapIndex is the map's hotspot list, following the registry (maps.go).
	mapIndex mapIndex
}

// New validates cfg, opens the store in cfg.DataDir and returns an oracle
// ready to Run.
func New(cfg Config, d Deps) (*Oracle, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(d.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("new oracle: a 64-byte ed25519 key is required")
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := &Oracle{
		cfg: cfg, key: d.Key, pub: wire.PublicKeyOf(d.Key), log: log,
		rewarder: d.Rewarder, blockhash: d.Blockhash, now: d.Now,
		pc: d.PacketConn, ln: d.HTTPListener, metricsLn: d.MetricsListener, gatherer: d.Gatherer, registerer: d.Registerer, verifyMax: maxVerifyBatch,
		retry:   make(chan struct{}, 1),
		catchUp: make(chan struct{}, 1),
		dcChain: d.DCChain,
	}
	if o.now == nil {
		o.now = time.Now
	}
	o.params = verifier.DefaultParams()
	if d.Params != nil {
		o.params = *d.Params
	}
	o.params.EpochLength = cfg.EpochLength
	o.params.Grace = cfg.EpochGrace
	o.params.BeaconInterval = cfg.BeaconInterval
	o.params.EntropyLifetime = cfg.EntropyLifetime
	o.params.Charging.AllowWithoutPoC = o.params.Charging.AllowWithoutPoC || cfg.ChargeWithoutPoC
	// Entropy from this oracle and from every peer: a beacon built from
	// any oracle's entropy verifies everywhere, and the parameter hash
	// (over the sorted set) is the same on every oracle.
	o.params.EntropySigners = slices.Clone(o.params.EntropySigners)
	for _, k := range append(cfg.PeerKeys(), o.pub) {
		if !slices.Contains(o.params.EntropySigners, k) {
			o.params.EntropySigners = append(o.params.EntropySigners, k)
		}
	}
	if err := o.params.Validate(); err != nil {
		return nil, fmt.Errorf("new oracle: %w", err)
	}
	if from, to := o.params.InputWindow(1 << 20); time.Duration(to-from)*time.Millisecond > cfg.Retention {
		return nil, fmt.Errorf("new oracle: retention %s is shorter than an epoch's input window %s",
			cfg.Retention, time.Duration(to-from)*time.Millisecond)
	}
	reg, err := newRegistryParams(cfg)
	if err != nil {
		return nil, fmt.Errorf("new oracle: %w", err)
	}
	o.reg = reg
	m, err := newMetrics(d.Registerer)
	if err != nil {
		return nil, err
	}
	o.m = m
	o.logs = newLogSampler(log, logSamplePeriod, logSampleBurst, nil,
		func(event string) { m.logSuppressed.WithLabelValues(event).Inc() })
	st, err := OpenStore(cfg.DataDir, cfg.Retention, log)
	if err != nil {
		return nil, err
	}
	o.store = st
	if err := registerDiskMetrics(d.Registerer, st); err != nil {
		st.Close()
		return nil, err
	}
	if o.maps, err = o.newMaps(); err != nil {
		st.Close()
		return nil, fmt.Errorf("new oracle: coverage map: %w", err)
	}
	o.commit = newCommitter(st, cfg.CommitQueue, cfg.CommitMaxBatch, m)
	o.commit.logs = o.logs
	o.entropy = &entropyService{o: o}
	return o, nil
}

// PublicKey is the oracle's identity, which hotspots pin.
func (o *Oracle) PublicKey() wire.PublicKey { return o.pub }

// Store gives read access to the oracle's store (tests, devnet).
func (o *Oracle) Store() *Store { return o.store }

// Run serves until ctx ends, then shuts every part down, closes the
// sockets and the store, and returns nil; the first failing part's error
// otherwise.
func (o *Oracle) Run(ctx context.Context) error {
	defer o.store.Close()
	g, gctx := errgroup.WithContext(ctx)
	// The committer outlives ingest: it stops only after every producer
	// has returned, so no acknowledged report is ever lost.
	cctx, stopCommit := context.WithCancel(context.Background())
	commitDone := make(chan error, 1)
	go func() { commitDone <- o.commit.Run(cctx) }()

	// A store opened read-only on a full disk serves reads only: the parts
	// that write wait for a restart (diskspace.go).
	if o.store.ReadOnlyReason() == "" {
		g.Go(func() error { return o.entropy.Run(gctx) })
		g.Go(func() error { return o.store.sweep(gctx, o.cfg.SweepInterval) })
		g.Go(func() error { return o.runVerifier(gctx) })
		g.Go(func() error { return o.runEpochs(gctx) })
		if o.cons != nil {
			g.Go(func() error { return o.retryDisputed(gctx) })
		}
		g.Go(func() error { return o.maps.Run(gctx) })
		if o.dcChain != nil && o.reg.hasTreasury {
			g.Go(func() error { return o.watchDC(gctx) })
		}
	}
	if o.pc != nil {
		in := &ingest{o: o}
		g.Go(func() error { return in.serve(gctx, o.pc) })
	}
	if o.ln != nil {
		o.serveHTTP(g, gctx, "http", o.ln, o.Handler())
	}
	if o.metricsLn != nil {
		o.serveHTTP(g, gctx, "metrics", o.metricsLn, o.MetricsHandler())
	}
	err := g.Wait()
	stopCommit()
	<-commitDone
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// serveHTTP serves h on ln in g until ctx ends, then shuts the server
// down (closing ln) within 5 s.
func (o *Oracle) serveHTTP(g *errgroup.Group, ctx context.Context, name string, ln net.Listener, h http.Handler) {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(o.log.Handler(), slog.LevelWarn),
	}
	g.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		return nil
	})
}

// MetricsHandler serves GET /metrics (Prometheus text) from the Gatherer
// in Deps, for the metrics listener only: metrics are not part of the
// public API.
func (o *Oracle) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	if o.gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(o.gatherer, promhttp.HandlerOpts{}))
	}
	return mux
}

// hotspotConfig builds the signed Config a hotspot asks for.
func (o *Oracle) hotspotConfig(hs wire.PublicKey) (*wire.Envelope, error) {
	rec, found, err := o.store.hotspot(hs[:])
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("hotspot %s not onboarded", hs)
	}
	c := &wire.Config{
		Hotspot:         hs[:],
		Region:          rec.Region,
		Asserted:        rec.Cell != 0,
		GainDdbi:        rec.GainDdBi,
		BeaconIntervalS: uint64(o.cfg.BeaconInterval / time.Second),
		DataOnly:        rec.DataOnly,
		IssuedMs:        uint64(o.now().UnixMilli()),
	}
	if rec.Cell != 0 {
		if lat, lng, err := verifier.CellLatLng(rec.Cell); err == nil {
			c.H3Cell, c.Lat, c.Lng = rec.Cell, lat, lng
		}
	}
	raw, err := wire.Seal(o.key, wire.Kind_KIND_CONFIG, c)
	if err != nil {
		return nil, err
	}
	return wire.Open(raw, wire.Kind_KIND_CONFIG)
}

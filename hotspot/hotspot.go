package hotspot

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quic-go/quic-go"
	"golang.org/x/sync/errgroup"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/radio/semtech"
	"github.com/hexfield/hexfield/wire"
)

// Deps are what New is given besides the Config.
type Deps struct {
	// Key is the hotspot's identity. Required.
	Key ed25519.PrivateKey
	// Semtech is the bound UDP socket the packet forwarder talks to.
	// Required; Run closes it.
	Semtech net.PacketConn
	// QUIC is the UDP socket oracle connections use. Nil binds an ephemeral
	// port on all interfaces. Run closes it.
	QUIC net.PacketConn
	// Logger; nil discards.
	Logger *slog.Logger
	// Registerer receives the metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// Software names this build in Hello, e.g. "hotspotd/0.1.0".
	Software string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ListenLNS opens the local UDP socket of one session to a customer's
	// LNS; nil binds an ephemeral port on all interfaces.
	ListenLNS func() (net.PacketConn, error)
}

// Hotspot is one running hotspot daemon.
type Hotspot struct {
	cfg     Config
	key     ed25519.PrivateKey
	pub     wire.PublicKey
	log     *slog.Logger
	m       *metrics
	now     func() time.Time
	outbox  *Outbox
	oracles []*oracleClient
	tr      *quic.Transport
	qconn   net.PacketConn // the transport's socket; closed by Run
	bridge  *bridge
	fwd     *forwarder
	tx      transmitter
	entropy func(ctx context.Context) ([]byte, *wire.Entropy, error) // fetchEntropy, or a test's
	beacons beaconMemory
	// witnessBudget caps the witness reports signed per beacon interval.
	witnessBudget witnessBudget
	logs          hotspotLogs
	wake          chan struct{} // nudges the beaconer when the config changes
	routesWake    chan struct{} // nudges the route poll when the region changes
	started       time.Time

	mu            sync.Mutex
	region        *radio.Region
	regionSource  string // "config", "oracle" or ""
	gain          int32
	interval      time.Duration
	dataOnly      bool
	asserted      bool
	configFrom    string
	configAt      time.Time
	lastBeacon    BeaconStatus
	witnessesSent uint64
	lastWitness   time.Time
}

// New builds a hotspot from a defaulted and validated Config. It opens the
// outbox; sockets are used from Run on.
func New(cfg Config, deps Deps) (*Hotspot, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(deps.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("new hotspot: no key")
	}
	if deps.Semtech == nil {
		return nil, errors.New("new hotspot: no semtech socket")
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	pub := wire.PublicKeyOf(deps.Key)
	log = log.With("hotspot_key", pub.String())
	h := &Hotspot{
		cfg:        cfg,
		key:        deps.Key,
		pub:        pub,
		log:        log,
		m:          newMetrics(deps.Registerer),
		now:        now,
		wake:       make(chan struct{}, 1),
		routesWake: make(chan struct{}, 1),
		gain:       int32(*cfg.AntennaGain),
		started:    now(),
		logs:       newHotspotLogs(now),
	}
	if cfg.Region != "" {
		r, err := radio.LookupRegion(cfg.Region)
		if err != nil {
			return nil, fmt.Errorf("new hotspot: %w", err)
		}
		h.region, h.regionSource = r, "config"
	}
	keys := make([]wire.PublicKey, len(cfg.Oracles))
	addrs := make([]string, len(cfg.Oracles))
	for i, s := range cfg.Oracles {
		k, addr, err := wire.ParseOracleAddr(s)
		if err != nil {
			return nil, fmt.Errorf("new hotspot: %w", err)
		}
		keys[i], addrs[i] = k, addr
	}
	ob, err := OpenOutbox(OutboxConfig{
		Dir:          filepath.Join(cfg.DataDir, "outbox"),
		MaxBytes:     cfg.OutboxMaxBytes,
		SyncInterval: cfg.OutboxSyncInterval,
		Oracles:      keys,
		Now:          now,
	}, log, h.m.outbox)
	if err != nil {
		return nil, fmt.Errorf("new hotspot: %w", err)
	}
	h.outbox = ob
	qconn := deps.QUIC
	if qconn == nil {
		qconn, err = net.ListenUDP("udp", &net.UDPAddr{})
		if err != nil {
			ob.Close()
			return nil, fmt.Errorf("new hotspot: quic socket: %w", err)
		}
	}
	h.tr = &quic.Transport{Conn: qconn}
	h.qconn = qconn
	software := deps.Software
	if software == "" {
		software = "hotspotd"
	}
	for i := range keys {
		h.oracles = append(h.oracles, &oracleClient{
			idx: i, key: keys[i], addr: addrs[i], software: software,
			priv: deps.Key, tr: h.tr, outbox: ob, log: log, m: h.m,
			rejectLog: semtech.LogLimiter{Burst: 5, Interval: time.Minute, Now: now},
		})
	}
	br, err := newBridge(h, deps.Semtech, deps.Registerer)
	if err != nil {
		ob.Close()
		h.tr.Close()
		qconn.Close()
		return nil, fmt.Errorf("new hotspot: %w", err)
	}
	h.bridge = br
	h.tx = br
	h.fwd = newForwarder(h, deps.ListenLNS, deps.Registerer)
	h.entropy = h.fetchEntropy
	return h, nil
}

// PublicKey returns the hotspot's address.
func (h *Hotspot) PublicKey() wire.PublicKey { return h.pub }

// Outbox returns the hotspot's outbox (for status and tests).
func (h *Hotspot) Outbox() *Outbox { return h.outbox }

// Region returns the region the hotspot operates in, nil while unknown.
func (h *Hotspot) Region() *radio.Region {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.region
}

// BeaconInterval returns the beacon bucket length in force.
func (h *Hotspot) BeaconInterval() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.cfg.BeaconInterval > 0:
		return h.cfg.BeaconInterval
	case h.interval > 0:
		return h.interval
	default:
		return DefaultBeaconInterval
	}
}

func (h *Hotspot) beaconParams() (*radio.Region, int32, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.region, h.gain, h.dataOnly
}

// queue appends a signed report to the outbox.
func (h *Hotspot) queue(raw []byte, kind string) (uint64, error) {
	seq, err := h.outbox.Append(raw)
	if err != nil {
		return 0, err
	}
	h.m.reports.WithLabelValues(kind).Inc()
	return seq, nil
}

// applyConfig takes an oracle's signed Config into use.
func (h *Hotspot) applyConfig(from wire.PublicKey, c *wire.Config) {
	h.mu.Lock()
	changed := false
	prev := h.region
	if h.regionSource != "config" {
		var r *radio.Region
		if c.Asserted && c.Region != "" {
			var err error
			if r, err = radio.LookupRegion(c.Region); err != nil {
				h.log.Warn("oracle config names an unknown region", "region", c.Region)
				r = nil
			}
		}
		if r != h.region {
			changed = true
			h.region = r
			h.regionSource = ""
			if r != nil {
				h.regionSource = "oracle"
			}
		}
	}
	h.warnRegion(prev, c)
	if c.Asserted {
		h.gain = c.GainDdbi // 0 is a 0 dBi antenna, not "unset"
	}
	iv := time.Duration(c.BeaconIntervalS) * time.Second
	if iv != h.interval {
		changed = true
		h.interval = iv
	}
	h.dataOnly, h.asserted = c.DataOnly, c.Asserted
	h.configFrom, h.configAt = from.String(), h.now()
	region := h.region
	h.mu.Unlock()
	if h.fwd != nil { // nil in tests that build only the beaconer
		h.fwd.applyConfig(c)
	}
	if changed {
		name := ""
		if region != nil {
			name = region.Name
		}
		h.log.Info("config from oracle", "region", name, "beacon_interval", iv, "asserted", c.Asserted)
		select {
		case h.wake <- struct{}{}:
		default:
		}
		select { // the table's LNS endpoints are per region
		case h.routesWake <- struct{}{}:
		default:
		}
	}
}

// warnRegion warns, with h.mu held, when the region the asserted location
// gives is not the band the concentrator was running in: after a move to
// another region, a move out of every mapped region, or when the region
// override disagrees with the oracle. The concentrator's channel plan
// (global_conf.json) is not something the hotspot can change.
func (h *Hotspot) warnRegion(prev *radio.Region, c *wire.Config) {
	name := func(r *radio.Region) string {
		if r == nil {
			return ""
		}
		return r.Name
	}
	oracleRegion := ""
	if c.Asserted {
		oracleRegion = c.Region
	}
	switch {
	case h.regionSource == "config" && oracleRegion != "" && oracleRegion != h.region.Name:
		h.log.Warn("the region override differs from the region of the asserted location: the oracles expect "+oracleRegion+
			"; set region to "+oracleRegion+" (or empty) and the concentrator to its band",
			"region", h.region.Name, "asserted_region", oracleRegion)
	case prev != nil && h.region != nil && prev != h.region:
		h.log.Warn("region changed after a new location assertion: the concentrator and its packet forwarder are set up for "+
			prev.Name+", whose band no longer fits; reconfigure them for "+h.region.Name+" (global_conf.json channel plan) and restart the forwarder",
			"region_was", prev.Name, "region", h.region.Name)
	case prev != nil && h.region == nil:
		h.log.Warn("region unknown now (location no longer asserted, or outside every region): nothing is forwarded or beaconed",
			"region_was", name(prev))
	}
}

// runConfig fetches the Config (region, location, gain, beacon cadence)
// from the oracles: every second until one answers, then every
// ConfigRefresh. Routes come by the route table poll (routepoll.go).
func (h *Hotspot) runConfig(ctx context.Context) error {
	if len(h.oracles) == 0 {
		return nil
	}
	wait := time.Duration(0)
	for {
		if !h.sleepCtx(ctx, wait) {
			return nil
		}
		wait = time.Second
		for _, c := range h.oracles {
			cfg, err := c.fetchConfig(ctx)
			if err != nil {
				if !errors.Is(err, errNotConnected) {
					h.m.configs.WithLabelValues("error").Inc()
					h.log.Debug("config fetch", "err", err)
				}
				continue
			}
			h.m.configs.WithLabelValues("ok").Inc()
			h.applyConfig(c.key, cfg)
			wait = h.cfg.ConfigRefresh
			break
		}
	}
}

func (h *Hotspot) sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Run runs the hotspot until ctx ends. Then it stops taking frames, gives
// the oracles up to ShutdownTimeout to ack what the outbox holds, syncs the
// outbox and closes every socket.
func (h *Hotspot) Run(ctx context.Context) error {
	base := context.WithoutCancel(ctx)
	sendCtx, stopSend := context.WithCancel(base)
	boxCtx, stopBox := context.WithCancel(base)
	defer stopSend()
	defer stopBox()

	var bg errgroup.Group
	bg.Go(func() error { return h.outbox.Run(boxCtx) })
	for _, c := range h.oracles {
		bg.Go(func() error { return c.Run(sendCtx) })
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return h.bridge.run(gctx) })
	g.Go(func() error { return h.fwd.run(gctx) })
	g.Go(func() error { return h.runBeaconer(gctx) })
	g.Go(func() error { return h.runConfig(gctx) })
	g.Go(func() error { return h.runRoutes(gctx) })
	h.log.Info("hotspot running", "semtech", h.bridge.addr(), "oracles", len(h.oracles))
	err := g.Wait()

	h.flush()
	stopSend()
	stopBox()
	berr := bg.Wait()
	h.tr.Close()
	h.qconn.Close()
	if err == nil {
		err = berr
	}
	return err
}

// flush waits, up to ShutdownTimeout, for the oracles to ack the outbox.
func (h *Hotspot) flush() {
	if err := h.outbox.Sync(); err != nil {
		h.log.Error("outbox sync at shutdown", "err", err)
	}
	if len(h.oracles) == 0 || h.cfg.ShutdownTimeout <= 0 {
		return
	}
	deadline := time.Now().Add(h.cfg.ShutdownTimeout)
	for time.Now().Before(deadline) {
		if h.outbox.Stats().Reports == 0 {
			return
		}
		connected := false
		for _, c := range h.oracles {
			if c.current() != nil {
				connected = true
			}
		}
		if !connected {
			break // nobody to flush to; the outbox keeps the reports
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := h.outbox.Stats().Reports; n > 0 {
		h.log.Info("shutdown: reports kept in the outbox for next start", "reports", n)
	}
}

// hotspotLogs rate-limits the hotspot's log lines that outside input can
// repeat. The zero value lets one line a minute through per kind.
type hotspotLogs struct {
	witness  semtech.LogLimiter // "witnessed beacon"
	capped   semtech.LogLimiter // witness cap reached
	writeErr semtech.LogLimiter // signing or queueing a report failed
}

func newHotspotLogs(now func() time.Time) hotspotLogs {
	lim := func(burst int) semtech.LogLimiter {
		return semtech.LogLimiter{Burst: burst, Interval: time.Minute, Now: now}
	}
	return hotspotLogs{witness: lim(10), capped: lim(1), writeErr: lim(5)}
}

package hotspot

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/radio/semtech"
	"github.com/hexfield/hexfield/wire"
)

// Forwarding limits (routing.md §6).
const (
	// maxLNSSessions bounds the Semtech UDP sessions (one per route and
	// LNS endpoint): a route table naming more gets the first ones.
	maxLNSSessions = 32
	// sessionQueue bounds the copies waiting for one session's senders; a
	// full queue drops (counted) rather than blocking other routes.
	sessionQueue = 256
	// sessionSenders is how many PUSH_DATA one session has awaiting
	// PUSH_ACK at once, so an LNS that never acks still gets copies.
	sessionSenders = 8
	// maxRelays bounds downlinks waiting for the concentrator's TX_ACK.
	maxRelays = 256
	// lnsKeepalive is the PULL_DATA period that keeps the downlink path open.
	lnsKeepalive = 10 * time.Second
	// lnsPushTimeout is how long a copy waits for its PUSH_ACK.
	lnsPushTimeout = time.Second
	// dedupWindow is how long a copy already forwarded on a route is
	// remembered (routing.md §7's 120 s), and dedupEntries bounds the memory.
	dedupWindow  = 120 * time.Second
	dedupEntries = 8192
	// minJoinCopies is the least number of copies of one join-request the
	// hotspot forwards on a route (joins are free).
	minJoinCopies = 3
	// reportQueue bounds delivered copies waiting to be reported; past it
	// the senders wait for the outbox (reports are never dropped here).
	reportQueue = 4096
	// routeTableFile is the persisted route table, in the data directory.
	routeTableFile = "routes.bin"
)

// GatewayEUI is the hotspot's gateway EUI toward customers' LNS: the first
// 8 bytes of SHA-256 of its public key (routing.md §6).
func GatewayEUI(pub wire.PublicKey) semtech.EUI {
	sum := sha256.Sum256(pub[:])
	var e semtech.EUI
	copy(e[:], sum[:8])
	return e
}

// location is what the hotspot knows of its asserted location, from the
// oracle's config.
type location struct {
	asserted bool
	cell     uint64
	lat, lng float64
}

type forwardMetrics struct {
	uplinks   *prometheus.CounterVec
	downlinks *prometheus.CounterVec
	sessions  prometheus.Gauge
	unacked   prometheus.Counter
	tables    *prometheus.CounterVec
	tableAge  prometheus.Gauge
}

func newForwardMetrics(reg prometheus.Registerer) *forwardMetrics {
	f := factory{reg}
	return &forwardMetrics{
		uplinks: f.counterVec("hexfield_hotspot_lns_uplinks_total",
			"Copies of uplinks and joins toward customers' LNS, by result.", "result"),
		downlinks: f.counterVec("hexfield_hotspot_lns_downlinks_total",
			"Downlinks from customers' LNS, by result.", "result"),
		sessions: f.gauge("hexfield_hotspot_lns_sessions",
			"Semtech UDP sessions open to customers' LNS."),
		unacked: f.counter("hexfield_hotspot_lns_push_unacked_total",
			"PUSH_DATA to customers' LNS with no PUSH_ACK in time."),
		tables: f.counterVec("hexfield_hotspot_route_tables_total",
			"Route table answers of oracles, by result: full, incremental, unchanged, older, stale_update, refused (forged, wrongly signed, malformed), error.", "result"),
		tableAge: f.gauge("hexfield_hotspot_route_table_checked_timestamp_seconds",
			"When an oracle last confirmed or updated the route table in force (Unix seconds)."),
	}
}

// forwarder sends matching uplinks to customers' LNS as a gateway of
// theirs, and relays their downlinks to the concentrator with the real
// TX_ACK (routing.md §6).
type forwarder struct {
	h      *Hotspot
	eui    semtech.EUI
	listen func() (net.PacketConn, error)
	path   string
	log    *slog.Logger
	m      *forwardMetrics
	reg    prometheus.Registerer
	relays chan struct{}
	// reports hands delivered copies to the reporter goroutine, so that
	// signing and the outbox (its fsync) never hold up forwarding.
	reports chan copyJob

	table   atomic.Pointer[RouteTable]
	tableMu sync.Mutex // serialises setTable: version check, swap and file
	meta    atomic.Pointer[map[string]string]

	mu       sync.Mutex
	ctx      context.Context // Run's, nil before and after
	wg       sync.WaitGroup
	sessions map[sessionKey]*lnsSession
	saved    []byte // the table bytes last persisted
	loc      location
	// checkedBy and checkedAt: the oracle that last answered a route
	// table request (with a table or unchanged), and when.
	checkedBy wire.PublicKey
	checkedAt time.Time
	dedup     map[dedupKey]dedupEntry
}

type sessionKey struct{ route, lns string }

type dedupKey struct {
	route string
	hash  [32]byte
}

type dedupEntry struct {
	n  uint32
	at time.Time
}

func newForwarder(h *Hotspot, listen func() (net.PacketConn, error), reg prometheus.Registerer) *forwarder {
	if listen == nil {
		listen = func() (net.PacketConn, error) { return net.ListenPacket("udp", ":0") }
	}
	fw := &forwarder{
		h: h, eui: GatewayEUI(h.pub), listen: listen,
		path: filepath.Join(h.cfg.DataDir, routeTableFile),
		log:  h.log, m: newForwardMetrics(reg), reg: reg,
		relays:   make(chan struct{}, maxRelays),
		reports:  make(chan copyJob, reportQueue),
		sessions: map[sessionKey]*lnsSession{},
		dedup:    map[dedupKey]dedupEntry{},
	}
	saved, err := loadRouteTable(fw.path)
	switch {
	case err != nil:
		fw.log.Warn("persisted route table unusable; waiting for an oracle's", "err", err)
	case saved != nil:
		if saved.Table != nil {
			fw.table.Store(saved.Table)
			fw.log.Info("route table loaded", "version", saved.Table.Version, "routes", len(saved.Table.Routes),
				"oracle", saved.Table.Signer.String(), "region", saved.Region)
		}
		fw.loc = saved.Loc
		fw.saved, _ = saved.MarshalBinary()
		fw.restoreRegion(saved.Region)
	}
	fw.updateMeta()
	return fw
}

// restoreRegion takes the persisted region into use until an oracle's
// config says otherwise, unless the local config sets one.
func (fw *forwarder) restoreRegion(name string) {
	if name == "" {
		return
	}
	r, err := radio.LookupRegion(name)
	if err != nil {
		return
	}
	h := fw.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.region == nil && h.regionSource == "" {
		h.region, h.regionSource = r, "persisted"
	}
}

// run owns the sessions: they start on the first matching uplink and end
// with ctx. Then the reports of every copy sent are queued before it
// returns.
func (fw *forwarder) run(ctx context.Context) error {
	fw.mu.Lock()
	fw.ctx = ctx
	fw.mu.Unlock()
	reported := make(chan struct{})
	go func() {
		defer close(reported)
		for j := range fw.reports {
			fw.report(j)
		}
	}()
	defer func() { close(fw.reports); <-reported }()
	<-ctx.Done()
	fw.mu.Lock()
	fw.ctx = nil
	for k, s := range fw.sessions {
		s.cancel()
		delete(fw.sessions, k)
	}
	fw.m.sessions.Set(0)
	fw.mu.Unlock()
	fw.wg.Wait()
	return nil
}

// applyConfig takes an oracle config's location into use (and persists
// it with the region, so that a restart without an oracle has them).
func (fw *forwarder) applyConfig(c *wire.Config) {
	fw.mu.Lock()
	fw.loc = location{asserted: c.Asserted, cell: c.H3Cell, lat: c.Lat, lng: c.Lng}
	fw.mu.Unlock()
	fw.updateMeta()
	fw.tableMu.Lock()
	defer fw.tableMu.Unlock()
	fw.persist(fw.table.Load())
}

// Results of offering an oracle's route table (the tables metric's labels).
const (
	tableFull        = "full"         // a full table taken into use
	tableIncremental = "incremental"  // an update applied
	tableUnchanged   = "unchanged"    // the oracle has nothing newer
	tableOlder       = "older"        // a full table not newer than the one in force
	tableStale       = "stale_update" // an update of another version than the one in force
	tableRefused     = "refused"      // forged, wrongly signed, malformed or over the bounds
	tableError       = "error"        // the request failed (timeout, connection lost, oracle error)
)

// offer takes an oracle's route table, signed by from and checked by
// wire.OpenRouteTable, into use when it is newer than the one in force: a
// full table of a higher version (or of the same table and version for
// another region), or an update of exactly the version in force. A table
// is never replaced by a lower version. It returns the result label.
func (fw *forwarder) offer(from wire.PublicKey, w *wire.RouteTable) string {
	fw.tableMu.Lock()
	defer fw.tableMu.Unlock()
	cur := fw.table.Load()
	var next *RouteTable
	res := tableFull
	switch {
	case w.GetFull():
		if cur != nil && len(cur.TableID) > 0 && w.GetVersion() <= cur.Version &&
			!(bytes.Equal(w.GetTableId(), cur.TableID) && w.GetVersion() == cur.Version && w.GetRegion() != cur.Region) {
			return tableOlder
		}
		next = newRouteTable(w, from)
	case cur == nil || !bytes.Equal(w.GetTableId(), cur.TableID) || w.GetBaseVersion() != cur.Version || w.GetRegion() != cur.Region:
		return tableStale
	default:
		var err error
		if next, err = cur.update(w, from); err != nil {
			fw.log.Warn("route table update refused", "oracle", from.String(), "err", err)
			return tableRefused
		}
		res = tableIncremental
	}
	fw.install(next)
	return res
}

// install puts t in force, with tableMu held: sessions of routes that are
// gone, inactive or moved to another LNS end, and t is persisted.
func (fw *forwarder) install(t *RouteTable) {
	fw.table.Store(t)
	live := map[sessionKey]bool{}
	for _, r := range t.Routes {
		if r.Active {
			live[sessionKey{r.ID, r.LNS}] = true
		}
	}
	fw.mu.Lock()
	for k, s := range fw.sessions {
		if !live[k] {
			s.cancel()
			delete(fw.sessions, k)
		}
	}
	fw.m.sessions.Set(float64(len(fw.sessions)))
	fw.mu.Unlock()
	fw.persist(t)
}

// persist writes the table, region and location when they changed, with
// tableMu held.
func (fw *forwarder) persist(t *RouteTable) {
	fw.mu.Lock()
	st := savedState{Table: t, Loc: fw.loc}
	fw.mu.Unlock()
	if r := fw.h.Region(); r != nil {
		st.Region = r.Name
	}
	b, err := st.MarshalBinary()
	if err != nil {
		fw.log.Error("encode route table", "err", err)
		return
	}
	fw.mu.Lock()
	changed := !bytes.Equal(b, fw.saved)
	if changed {
		fw.saved = b
	}
	fw.mu.Unlock()
	if changed {
		if err := saveRouteTable(fw.path, b); err != nil {
			fw.log.Error("persist route table", "err", err)
		}
	}
}

// checked records that oracle answered a route table request now.
func (fw *forwarder) checked(oracle wire.PublicKey) {
	now := fw.h.now()
	fw.mu.Lock()
	fw.checkedBy, fw.checkedAt = oracle, now
	fw.mu.Unlock()
	fw.m.tableAge.Set(float64(now.Unix()))
}

// updateMeta rebuilds the rxpk "meta" object every copy carries.
func (fw *forwarder) updateMeta() {
	fw.mu.Lock()
	loc := fw.loc
	fw.mu.Unlock()
	m := map[string]string{
		"network":      "hexfield",
		"gateway_id":   fw.h.pub.String(),
		"gateway_name": "hexfield-" + fw.eui.String(),
	}
	if r := fw.h.Region(); r != nil {
		m["regi"] = r.Name
	}
	if loc.asserted && loc.cell != 0 {
		m["gateway_h3index"] = strconv.FormatUint(loc.cell, 16)
		m["gateway_lat"] = strconv.FormatFloat(loc.lat, 'f', 6, 64)
		m["gateway_long"] = strconv.FormatFloat(loc.lng, 'f', 6, 64)
	}
	fw.meta.Store(&m)
}

// copyJob is one copy of a frame for one session.
type copyJob struct {
	rxpk     semtech.RXPK
	frame    Frame
	hash     [32]byte
	route    string
	received time.Time
	dataRate string
}

// handle forwards a classified uplink or join to every active route it
// matches. It runs on the bridge's dispatch goroutine and never blocks.
func (fw *forwarder) handle(u semtech.Uplink, f Frame) {
	t := fw.table.Load()
	var buf [4]*Route
	routes := t.Match(f, buf[:0])
	if len(routes) == 0 {
		fw.m.uplinks.WithLabelValues("no_route").Inc()
		return
	}
	received := u.Received
	if received.IsZero() {
		received = fw.h.now()
	}
	hash := sha256.Sum256(u.RXPK.Data)
	rx := u.RXPK
	if rx.Time.IsZero() {
		rx.Time = received.UTC() // no GPS: the hotspot clock
	}
	rx.Meta = *fw.meta.Load()
	for _, r := range routes {
		limit := uint32(1)
		if f.Class == ClassJoin {
			limit = max(r.MaxCopies, minJoinCopies)
		}
		if !fw.takeCopy(r.ID, hash, limit, received) {
			fw.m.uplinks.WithLabelValues("repeat").Inc()
			continue
		}
		s := fw.session(r)
		if s == nil {
			fw.m.uplinks.WithLabelValues("no_session").Inc()
			continue
		}
		job := copyJob{rxpk: rx, frame: f, hash: hash, route: r.ID, received: received, dataRate: u.DataRate.String()}
		select {
		case s.queue <- job:
		default:
			fw.m.uplinks.WithLabelValues("queue_full").Inc()
		}
	}
}

// takeCopy counts one more copy of a frame on a route and reports whether
// it is within limit in the dedup window.
func (fw *forwarder) takeCopy(route string, hash [32]byte, limit uint32, now time.Time) bool {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	k := dedupKey{route, hash}
	e, ok := fw.dedup[k]
	if ok && now.Sub(e.at) < dedupWindow {
		if e.n >= limit {
			return false
		}
		e.n++
		fw.dedup[k] = e
		return true
	}
	if !ok && len(fw.dedup) >= dedupEntries {
		for k, e := range fw.dedup {
			if now.Sub(e.at) >= dedupWindow {
				delete(fw.dedup, k)
			}
		}
		if len(fw.dedup) >= dedupEntries {
			clear(fw.dedup) // a flood of distinct frames: forget, do not refuse
		}
	}
	fw.dedup[k] = dedupEntry{n: 1, at: now}
	return true
}

// session returns the running session of a route, starting it on first
// use; nil when the forwarder is not running or the bound is reached.
func (fw *forwarder) session(r *Route) *lnsSession {
	k := sessionKey{r.ID, r.LNS}
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if s := fw.sessions[k]; s != nil {
		return s
	}
	if fw.ctx == nil || len(fw.sessions) >= maxLNSSessions {
		return nil
	}
	ctx, cancel := context.WithCancel(fw.ctx)
	s := &lnsSession{fw: fw, key: k, cancel: cancel, queue: make(chan copyJob, sessionQueue)}
	fw.sessions[k] = s
	fw.m.sessions.Set(float64(len(fw.sessions)))
	fw.wg.Go(func() { s.run(ctx) })
	return s
}

// report signs and queues the packet report of one delivered copy.
func (fw *forwarder) report(j copyJob) {
	h := fw.h
	r := &wire.PacketReport{
		PubKey:      h.pub.Bytes(),
		PayloadHash: j.hash[:],
		PayloadSize: uint32(len(j.rxpk.Data)),
		Join:        j.frame.Class == ClassJoin,
		DevAddr:     j.frame.DevAddr,
		JoinEui:     j.frame.JoinEUI,
		DevEui:      j.frame.DevEUI,
		RouteId:     j.route,
		FrequencyHz: uint64(j.rxpk.Freq),
		Datarate:    j.dataRate,
		RssiDdbm:    ddB(float64(j.rxpk.RSSI)),
		SnrDdb:      ddB(float64(j.rxpk.LSNR)),
		Tmst:        j.rxpk.Tmst,
		TimestampMs: uint64(j.received.UnixMilli()),
		Free:        j.frame.Class == ClassJoin,
		Payload:     j.rxpk.Data,
	}
	raw, err := wire.Seal(h.key, wire.Kind_KIND_PACKET_REPORT, r)
	if err == nil {
		_, err = h.queue(raw, "packet")
	}
	if err != nil {
		fw.log.Error("queue packet report", "err", err)
	}
}

// lnsSession is the hotspot as one gateway of one LNS for one route: a
// Semtech UDP client on its own local port for the session's lifetime.
type lnsSession struct {
	fw     *forwarder
	key    sessionKey
	cancel context.CancelFunc
	queue  chan copyJob
	client atomic.Pointer[semtech.Client] // the current one, for status
	local  atomic.Pointer[string]
}

// run resolves the LNS, opens the socket and runs the client and its
// senders until ctx ends, starting over after a failure with a backoff.
func (s *lnsSession) run(ctx context.Context) {
	fw := s.fw
	backoff := time.Second
	for ctx.Err() == nil {
		err := s.serve(ctx)
		if ctx.Err() != nil {
			return
		}
		fw.log.Warn("lns session", "route", s.key.route, "lns", s.key.lns, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (s *lnsSession) serve(ctx context.Context) error {
	fw := s.fw
	addr, err := resolveLNS(ctx, s.key.lns)
	if err != nil {
		return err
	}
	conn, err := fw.listen()
	if err != nil {
		return fmt.Errorf("lns socket: %w", err)
	}
	c, err := semtech.NewClient(semtech.ClientConfig{
		EUI: fw.eui, KeepaliveInterval: lnsKeepalive, PushTimeout: lnsPushTimeout, Handler: s, Now: fw.h.now,
	}, conn, nil, addr, fw.log.With("route", s.key.route, "lns", s.key.lns), fw.reg)
	if err != nil {
		conn.Close()
		return err
	}
	s.client.Store(c)
	local := conn.LocalAddr().String()
	s.local.Store(&local)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range sessionSenders {
		wg.Go(func() { s.send(ctx, c) })
	}
	err = c.Run(ctx) // closes conn
	cancel()
	wg.Wait()
	return err
}

// send pushes queued copies; a copy whose datagram left is reported, with
// or without its PUSH_ACK.
func (s *lnsSession) send(ctx context.Context, c *semtech.Client) {
	fw := s.fw
	for {
		var j copyJob
		select {
		case <-ctx.Done():
			return
		case j = <-s.queue:
		}
		err := c.Push(ctx, []semtech.RXPK{j.rxpk}, nil)
		switch {
		case err == nil:
			fw.m.uplinks.WithLabelValues("forwarded").Inc()
		case errors.Is(err, semtech.ErrNoPushAck):
			fw.m.uplinks.WithLabelValues("forwarded").Inc()
			fw.m.unacked.Inc()
		default:
			fw.m.uplinks.WithLabelValues("not_sent").Inc()
			continue
		}
		fw.reports <- j // the reporter drains until every sender is gone
	}
}

// resolveLNS turns host:port into a UDP address; an IP literal needs no
// lookup.
func resolveLNS(ctx context.Context, hostport string) (net.Addr, error) {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return net.UDPAddrFromAddrPort(ap), nil
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, fmt.Errorf("resolve lns %q: %w", hostport, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("resolve lns %q: %w", hostport, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return nil, fmt.Errorf("resolve lns %q: %w", hostport, err)
	}
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ips[0].Unmap(), uint16(p))), nil
}

// HandleDownlink is never called: the session is a semtech.DownlinkRelayer.
func (s *lnsSession) HandleDownlink(context.Context, semtech.TXPK) semtech.TxStatus {
	return semtech.TxStatusError(semtech.TxFreq)
}

// RelayDownlink checks an LNS's txpk against the region, then hands it to
// the concentrator and relays the concentrator's TX_ACK under the LNS's
// token (routing.md §6). Without an answer from the concentrator nothing
// is relayed.
func (s *lnsSession) RelayDownlink(ctx context.Context, txpk semtech.TXPK, ack func(semtech.TxStatus)) {
	fw := s.fw
	region := fw.h.Region()
	if region == nil {
		fw.m.downlinks.WithLabelValues("no_region").Inc()
		return
	}
	if !inPlan(region, txpk.Freq) {
		fw.m.downlinks.WithLabelValues("tx_freq").Inc()
		ack(semtech.TxStatusError(semtech.TxFreq))
		return
	}
	limit := region.MaxEIRPddBm / 10
	clamped := txpk.Powe > limit
	if clamped {
		txpk.Powe = limit
	}
	select {
	case fw.relays <- struct{}{}:
	default:
		fw.m.downlinks.WithLabelValues("busy").Inc()
		return
	}
	fw.wg.Go(func() {
		defer func() { <-fw.relays }()
		_, res, err := fw.h.tx.transmit(ctx, txpk)
		switch {
		case err != nil:
			fw.m.downlinks.WithLabelValues("no_answer").Inc()
			return
		case !res.Acked:
			fw.m.downlinks.WithLabelValues("unacked").Inc()
			return // a version 1 forwarder: the LNS hears nothing either
		}
		st := res.Status
		if clamped && st.Accepted() && st.Warn == "" {
			st = semtech.TxPowerWarning(limit)
		}
		fw.m.downlinks.WithLabelValues(downlinkLabel(st)).Inc()
		ack(st)
	})
}

// inPlan reports whether f lies in the region's band.
func inPlan(r *radio.Region, f radio.Hz) bool {
	return f >= r.MinFrequency && f <= r.MaxFrequency
}

// downlinkLabel is a bounded metric label of a relayed TX_ACK.
func downlinkLabel(st semtech.TxStatus) string {
	switch {
	case st.Accepted() && st.Warn == semtech.TxPower:
		return "tx_power"
	case st.Accepted():
		return "ok"
	}
	switch st.Error {
	case semtech.TxTooLate, semtech.TxTooEarly, semtech.TxCollisionPacket, semtech.TxCollisionBeacon,
		semtech.TxFreq, semtech.TxPower, semtech.TxGPSUnlocked:
		return string(st.Error)
	}
	return "other"
}

// RoutingStatus is the forwarding part of the status API.
type RoutingStatus struct {
	GatewayEUI   string `json:"gateway_eui"`
	TableVersion uint64 `json:"table_version"`
	// TableFrom is the oracle that signed the table in force.
	TableFrom string `json:"table_from,omitempty"`
	// TableChecked is when an oracle last answered a route table request.
	TableChecked *time.Time         `json:"table_checked,omitempty"`
	Routes       int                `json:"routes"`
	Active       int                `json:"active"`
	Sessions     []LNSSessionStatus `json:"sessions"`
}

// LNSSessionStatus is one Semtech UDP session to a customer's LNS: its
// PUSH_ACK and PULL_ACK counts show an LNS that stopped answering.
type LNSSessionStatus struct {
	Route       string     `json:"route"`
	LNS         string     `json:"lns"`
	Local       string     `json:"local,omitempty"`
	PushSent    uint64     `json:"push_sent"`
	PushAcked   uint64     `json:"push_acked"`
	PullSent    uint64     `json:"pull_sent"`
	PullAcked   uint64     `json:"pull_acked"`
	LastPullAck *time.Time `json:"last_pull_ack,omitempty"`
	Downlinks   uint64     `json:"downlinks"`
}

func (fw *forwarder) status() RoutingStatus {
	st := RoutingStatus{GatewayEUI: fw.eui.String(), Sessions: []LNSSessionStatus{}}
	if t := fw.table.Load(); t != nil {
		st.TableVersion, st.Routes = t.Version, len(t.Routes)
		if t.Signer != (wire.PublicKey{}) {
			st.TableFrom = t.Signer.String()
		}
		for _, r := range t.Routes {
			if r.Active {
				st.Active++
			}
		}
	}
	fw.mu.Lock()
	if !fw.checkedAt.IsZero() {
		at := fw.checkedAt.UTC()
		st.TableChecked = &at
	}
	sessions := make([]*lnsSession, 0, len(fw.sessions))
	for _, s := range fw.sessions {
		sessions = append(sessions, s)
	}
	fw.mu.Unlock()
	slices.SortFunc(sessions, func(a, b *lnsSession) int {
		return cmp.Or(cmp.Compare(a.key.route, b.key.route), cmp.Compare(a.key.lns, b.key.lns))
	})
	for _, s := range sessions {
		ls := LNSSessionStatus{Route: s.key.route, LNS: s.key.lns}
		if l := s.local.Load(); l != nil {
			ls.Local = *l
		}
		if c := s.client.Load(); c != nil {
			cs := c.Stats()
			ls.PushSent, ls.PushAcked, ls.PullSent, ls.PullAcked, ls.Downlinks = cs.PushSent, cs.PushAcked, cs.PullSent, cs.PullAcked, cs.Downlinks
			if !cs.LastPullAck.IsZero() {
				t := cs.LastPullAck.UTC()
				ls.LastPullAck = &t
			}
		}
		st.Sessions = append(st.Sessions, ls)
	}
	return st
}

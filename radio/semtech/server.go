package semtech

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hexfield/hexfield/radio"
)

// Handler receives the uplinks that pass the server's filters. HandleUplink
// runs on the server's single dispatch goroutine, never on the socket read
// loop, so it may block briefly or call Send; while it blocks, further
// uplinks queue (up to ServerConfig.QueueSize) and then are dropped.
type Handler interface {
	HandleUplink(ctx context.Context, u Uplink)
}

// StatHandler is implemented by handlers that also want forwarder status
// objects. It is called on the dispatch goroutine.
type StatHandler interface {
	HandleStat(ctx context.Context, eui EUI, s Stat)
}

// Uplink is one received LoRa packet that passed the filters of spec §8.8:
// CRC OK, LoRa modulation, SF7–12 at 125/250/500 kHz.
type Uplink struct {
	// EUI is the gateway that reported it; untrusted (spec §8.7).
	EUI EUI
	// RXPK is the packet as decoded.
	RXPK RXPK
	// DataRate is RXPK.DatR parsed.
	DataRate radio.DataRate
	// Received is the server's clock when the datagram arrived.
	Received time.Time
}

// ServerConfig configures a Server. The zero value with a Handler works.
type ServerConfig struct {
	// Handler receives uplinks; required.
	Handler Handler
	// TxAckTimeout is how long Send waits for a TX_ACK. Default 5 s.
	TxAckTimeout time.Duration
	// GatewayTimeout is how long after its last PULL_DATA a forwarder is
	// considered gone; Send refuses it afterwards. Default 60 s.
	GatewayTimeout time.Duration
	// QueueSize is how many uplinks and stats wait for the handler before
	// new ones are dropped. Default 1024.
	QueueSize int
	// MaxGateways bounds the forwarders tracked at once (the EUI is
	// untrusted): PULL_DATA from a new EUI beyond it is dropped, and
	// PUSH_DATA from one is served without tracking it. Default 1024.
	MaxGateways int
	// PinForwarder makes the server serve one packet forwarder only, as a
	// hotspot with one concentrator needs: the one whose EUI is
	// ForwarderEUI or, when that is zero, the first whose PUSH_DATA or
	// PULL_DATA arrives. Datagrams naming any other EUI are dropped
	// unanswered (reason "unpinned_forwarder") with a rate-limited warning,
	// so a second "gateway" on the port can neither take the downlinks
	// nor inject uplinks; PUSH_DATA with the pinned EUI from another host
	// than its PULL_DATA is dropped too (reason "wrong_host"). Senders on
	// the forwarder's own host can still claim its EUI: the EUI is not a
	// credential. Default false: any forwarders, up to MaxGateways.
	PinForwarder bool
	// ForwarderEUI is the forwarder to pin when PinForwarder is set; zero
	// pins the first one seen.
	ForwarderEUI EUI
	// AddressHold applies to a pinned forwarder: a PULL_DATA from an
	// address other than its current downlink address is dropped (reason
	// "address_held") while the current address has sent PULL_DATA within
	// AddressHold. Another sender using the pinned EUI thus cannot take the
	// downlinks of a live forwarder; a restarted forwarder (new source
	// port, old one silent) is taken after at most AddressHold. Default
	// 30 s.
	AddressHold time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c *ServerConfig) setDefaults() {
	if c.TxAckTimeout == 0 {
		c.TxAckTimeout = 5 * time.Second
	}
	if c.GatewayTimeout == 0 {
		c.GatewayTimeout = 60 * time.Second
	}
	if c.QueueSize == 0 {
		c.QueueSize = 1024
	}
	if c.MaxGateways == 0 {
		c.MaxGateways = 1024
	}
	if c.AddressHold == 0 {
		c.AddressHold = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate checks the configuration after defaults are filled in.
func (c *ServerConfig) Validate() error {
	switch {
	case c.Handler == nil:
		return errors.New("semtech server: no handler")
	case c.TxAckTimeout < 0:
		return fmt.Errorf("semtech server: negative tx ack timeout %v", c.TxAckTimeout)
	case c.GatewayTimeout < 0:
		return fmt.Errorf("semtech server: negative gateway timeout %v", c.GatewayTimeout)
	case c.QueueSize < 0:
		return fmt.Errorf("semtech server: negative queue size %d", c.QueueSize)
	case c.MaxGateways < 0:
		return fmt.Errorf("semtech server: negative gateway limit %d", c.MaxGateways)
	case c.AddressHold < 0:
		return fmt.Errorf("semtech server: negative address hold %v", c.AddressHold)
	case !c.PinForwarder && c.ForwarderEUI != (EUI{}):
		return errors.New("semtech server: a forwarder EUI without PinForwarder")
	}
	return nil
}

// Errors returned by Send.
var (
	ErrUnknownGateway = errors.New("gateway has not sent PULL_DATA")
	ErrGatewayGone    = errors.New("gateway gone: no recent PULL_DATA")
	ErrTxAckTimeout   = errors.New("no TX_ACK before timeout")
	ErrServerClosed   = errors.New("semtech server closed")
	ErrBusy           = errors.New("too many downlinks in flight")
)

// maxPending bounds downlinks awaiting TX_ACK (tokens are 16 bits).
const maxPending = 4096

// TxResult is the outcome of Send.
type TxResult struct {
	// Status is the TX_ACK content; zero (accepted) when the forwarder
	// speaks version 1 and sends no TX_ACK.
	Status TxStatus
	// Acked is false for version 1 forwarders: the PULL_RESP was sent and
	// is treated as accepted, but nothing confirmed it.
	Acked bool
	// PowerDBm is the power the forwarder used: the TX_POWER warning value
	// when one came, else the requested power.
	PowerDBm int
}

// Accepted reports whether the forwarder scheduled the transmission.
func (r TxResult) Accepted() bool { return r.Status.Accepted() }

// Gateway is what the server knows of one forwarder.
type Gateway struct {
	EUI EUI
	// Version is the protocol version of its last PULL_DATA.
	Version uint8
	// Addr is where downlinks go: the source of its last PULL_DATA (nil
	// until one arrives).
	Addr     net.Addr
	LastPull time.Time
	LastPush time.Time
	// Online is true while LastPull is within the gateway timeout.
	Online bool
}

type gatewayState struct {
	version  uint8
	addr     net.Addr
	lastPull time.Time
	lastPush time.Time
	gone     bool // "gone" already logged
}

type pendingTx struct {
	eui  EUI
	addr string // where the PULL_RESP went: the only source its TX_ACK is taken from
	ch   chan TxStatus
}

type event struct {
	uplink Uplink
	stat   *Stat
}

// Server is the hotspot side of GWMP: packet forwarders send it PUSH_DATA
// and PULL_DATA, and it sends them PULL_RESP. It acknowledges at once,
// validates each rxpk on its own, takes the downlink address only from
// PULL_DATA, and never lets bad input stop it.
type Server struct {
	cfg     ServerConfig
	conn    net.PacketConn
	log     *slog.Logger
	metrics *serverMetrics
	events  chan event
	done    chan struct{}
	running atomic.Bool

	// Rate limits of the log lines that outside input can trigger; the
	// events are counted in metrics.
	connLog, goneLog, moveLog, conflictLog, writeLog *LogLimiter

	mu       sync.Mutex
	gateways map[EUI]*gatewayState
	pending  map[uint16]pendingTx
	pin      EUI  // the pinned forwarder, when pinned
	pinned   bool // PinForwarder is set and pin is known
}

// Log rate limits: lines per interval for each kind of line outside input
// can trigger.
const (
	logBurst    = 5
	logInterval = time.Minute
	// A second forwarder is logged once, then at most every ten minutes
	// with the count of datagrams dropped meanwhile.
	conflictLogInterval = 10 * time.Minute
)

// NewServer returns a server reading conn; Run starts it. The caller binds
// conn (DefaultListenAddr in production, 127.0.0.1:0 in tests); the server
// closes it when Run returns. logger nil discards; reg nil skips metrics
// registration.
func NewServer(cfg ServerConfig, conn net.PacketConn, logger *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if conn == nil {
		return nil, errors.New("semtech server: nil socket")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	lim := func() *LogLimiter { return &LogLimiter{Burst: logBurst, Interval: logInterval, Now: cfg.Now} }
	conflict := &LogLimiter{Burst: 1, Interval: conflictLogInterval, Now: cfg.Now}
	s := &Server{
		cfg:         cfg,
		conn:        conn,
		log:         logger,
		events:      make(chan event, cfg.QueueSize),
		done:        make(chan struct{}),
		gateways:    make(map[EUI]*gatewayState),
		pending:     make(map[uint16]pendingTx),
		connLog:     lim(),
		goneLog:     lim(),
		moveLog:     lim(),
		conflictLog: conflict,
		writeLog:    lim(),
	}
	if cfg.PinForwarder && cfg.ForwarderEUI != (EUI{}) {
		s.pin, s.pinned = cfg.ForwarderEUI, true
	}
	s.metrics = newServerMetrics(reg, s.onlineCount)
	return s, nil
}

// Addr returns the socket's local address.
func (s *Server) Addr() net.Addr { return s.conn.LocalAddr() }

// Run serves until ctx is cancelled (then it returns nil) or the socket
// fails. It closes the socket before returning.
func (s *Server) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("semtech server: already running")
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		close(s.done)
	}()
	wg.Go(func() {
		<-ctx.Done()
		s.conn.Close()
	})
	wg.Go(func() { s.dispatch(ctx) })
	wg.Go(func() { s.watchGateways(ctx) })

	return readDatagrams(ctx, s.conn, func(b []byte, addr net.Addr) { s.handle(ctx, b, addr) })
}

// readDatagrams hands every datagram read from conn to handle (the buffer
// is reused: handle must copy what it keeps) until ctx ends, which is
// expected to close conn. Read timeouts are not errors.
func readDatagrams(ctx context.Context, conn net.PacketConn, handle func([]byte, net.Addr)) error {
	buf := make([]byte, MaxDatagramSize+1)
	for {
		n, addr, err := conn.ReadFrom(buf)
		if n > 0 {
			handle(buf[:n], addr)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("semtech read: %w", err)
		}
	}
}

// handle processes one datagram; it never panics.
func (s *Server) handle(ctx context.Context, b []byte, addr net.Addr) {
	defer func() {
		if r := recover(); r != nil {
			s.drop(dropPanic, fmt.Errorf("panic: %v", r), addr)
		}
	}()
	if addr == nil {
		s.drop(dropNoAddress, errors.New("datagram without source address"), addr)
		return
	}
	h, err := ParseHeader(b)
	if err != nil {
		s.drop(dropReason(err), err, addr)
		return
	}
	s.metrics.datagrams.WithLabelValues(h.Type.String()).Inc()
	switch h.Type {
	case TypePushData:
		s.handlePushData(ctx, h, b, addr)
	case TypePullData:
		s.handlePullData(h, addr)
	case TypeTxAck:
		s.handleTxAck(b, addr)
	default:
		s.drop(dropUnexpected, fmt.Errorf("server got %v", h.Type), addr)
	}
}

func (s *Server) drop(reason string, err error, addr net.Addr) {
	s.metrics.dropped.WithLabelValues(reason).Inc()
	s.log.Debug("semtech datagram dropped", "reason", reason, "err", err, "addr", addrString(addr))
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

func (s *Server) reply(p Packet, addr net.Addr) {
	b, err := p.MarshalBinary()
	if err == nil {
		_, err = s.conn.WriteTo(b, addr)
	}
	if err != nil {
		s.metrics.writeErrors.Inc()
		s.writeLog.Log(s.log, slog.LevelWarn, "semtech reply failed", "type", p.MessageType().String(), "err", err, "addr", addrString(addr))
	}
}

// admit applies the forwarder pin to a PUSH_DATA or PULL_DATA from eui: it
// pins the first forwarder seen when none is configured, and drops (and
// reports) datagrams of any other.
func (s *Server) admit(eui EUI, addr net.Addr) bool {
	if !s.cfg.PinForwarder {
		return true
	}
	s.mu.Lock()
	if !s.pinned {
		s.pin, s.pinned = eui, true
		s.mu.Unlock()
		s.log.Info("semtech forwarder pinned: datagrams of other EUIs will be dropped", "eui", eui.String(), "addr", addr.String())
		return true
	}
	pin := s.pin
	s.mu.Unlock()
	if eui == pin {
		return true
	}
	s.metrics.dropped.WithLabelValues(dropUnpinned).Inc()
	s.conflictLog.Log(s.log, slog.LevelWarn, "semtech datagram from a second packet forwarder dropped: only the pinned forwarder is served",
		"eui", eui.String(), "addr", addr.String(), "pinned_eui", pin.String())
	return false
}

// fromPinnedHost checks a pinned forwarder's PUSH_DATA: a forwarder's up
// and down sockets are on one host, so once its downlink address is known,
// PUSH_DATA with its EUI from another host is someone else's (reason
// "wrong_host"). Addresses without a host part are not checked.
func (s *Server) fromPinnedHost(eui EUI, addr net.Addr) bool {
	if !s.cfg.PinForwarder {
		return true
	}
	s.mu.Lock()
	var down net.Addr
	if gw := s.gateways[eui]; gw != nil {
		down = gw.addr
	}
	s.mu.Unlock()
	if down == nil {
		return true
	}
	want, _, err1 := net.SplitHostPort(down.String())
	got, _, err2 := net.SplitHostPort(addr.String())
	if err1 != nil || err2 != nil || want == got {
		return true
	}
	s.metrics.dropped.WithLabelValues(dropWrongHost).Inc()
	s.conflictLog.Log(s.log, slog.LevelWarn, "semtech PUSH_DATA with the pinned EUI from another host dropped",
		"eui", eui.String(), "addr", addr.String(), "forwarder_addr", down.String())
	return false
}

// Pinned returns the pinned forwarder's EUI, if PinForwarder is set and one
// is known.
func (s *Server) Pinned() (EUI, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pin, s.pinned
}

func (s *Server) handlePushData(ctx context.Context, h Header, b []byte, addr net.Addr) {
	if !s.admit(h.EUI, addr) || !s.fromPinnedHost(h.EUI, addr) {
		return
	}
	// Acknowledge as soon as the header is valid (spec §8.4).
	s.reply(&PushAck{Version: h.Version, Token: h.Token}, addr)
	now := s.cfg.Now()

	var p PushData
	if err := p.UnmarshalBinary(b); err != nil {
		s.drop(dropReason(err), err, addr)
		return
	}
	s.mu.Lock()
	gw := s.gateways[h.EUI]
	if gw == nil && len(s.gateways) < s.cfg.MaxGateways {
		gw = &gatewayState{version: h.Version}
		s.gateways[h.EUI] = gw
	}
	if gw != nil {
		gw.lastPush = now
	}
	s.mu.Unlock()

	for _, err := range p.Skipped {
		s.rxpkDrop(rxpkInvalid, h.EUI, err)
	}
	for i := range p.RXPK {
		r := &p.RXPK[i]
		if r.Stat != 1 {
			s.rxpkDrop(rxpkCRC, h.EUI, fmt.Errorf("stat %d", r.Stat))
			continue
		}
		if r.Modu != "LORA" {
			s.rxpkDrop(rxpkModulation, h.EUI, fmt.Errorf("modu %q", r.Modu))
			continue
		}
		dr, err := r.DatR.DataRate()
		if err != nil {
			s.rxpkDrop(rxpkDataRate, h.EUI, err)
			continue
		}
		s.enqueue(ctx, event{uplink: Uplink{EUI: h.EUI, RXPK: *r, DataRate: dr, Received: now}})
	}
	if p.Stat != nil {
		if _, ok := s.cfg.Handler.(StatHandler); ok {
			s.enqueue(ctx, event{uplink: Uplink{EUI: h.EUI, Received: now}, stat: p.Stat})
		}
	}
}

func (s *Server) rxpkDrop(reason string, eui EUI, err error) {
	s.metrics.rxpkDropped.WithLabelValues(reason).Inc()
	s.log.Debug("semtech rxpk dropped", "reason", reason, "eui", eui.String(), "err", err)
}

func (s *Server) enqueue(ctx context.Context, e event) {
	if ctx.Err() != nil {
		return
	}
	select {
	case s.events <- e:
	default:
		s.rxpkDrop(rxpkQueueFull, e.uplink.EUI, errors.New("handler queue full"))
	}
}

func (s *Server) dispatch(ctx context.Context) {
	statHandler, _ := s.cfg.Handler.(StatHandler)
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-s.events:
			if e.stat != nil {
				statHandler.HandleStat(ctx, e.uplink.EUI, *e.stat)
				continue
			}
			s.metrics.uplinks.Inc()
			s.cfg.Handler.HandleUplink(ctx, e.uplink)
		}
	}
}

func (s *Server) handlePullData(h Header, addr net.Addr) {
	if !s.admit(h.EUI, addr) {
		return
	}
	now := s.cfg.Now()
	s.mu.Lock()
	gw := s.gateways[h.EUI]
	if gw == nil {
		if len(s.gateways) >= s.cfg.MaxGateways {
			s.mu.Unlock()
			s.drop(dropTooManyGateways, fmt.Errorf("PULL_DATA from %v: %d forwarders tracked", h.EUI, s.cfg.MaxGateways), addr)
			return
		}
		gw = &gatewayState{}
		s.gateways[h.EUI] = gw
	}
	first := gw.addr == nil || gw.gone
	moved := gw.addr != nil && gw.addr.String() != addr.String()
	if moved && s.cfg.PinForwarder && !first && now.Sub(gw.lastPull) < s.cfg.AddressHold {
		cur := gw.addr.String()
		s.mu.Unlock()
		s.metrics.dropped.WithLabelValues(dropAddressHeld).Inc()
		s.conflictLog.Log(s.log, slog.LevelWarn, "semtech PULL_DATA with the pinned EUI from a second address dropped: the forwarder is live at its address",
			"eui", h.EUI.String(), "addr", addr.String(), "current_addr", cur)
		return
	}
	gw.version, gw.addr, gw.lastPull, gw.gone = h.Version, addr, now, false
	s.mu.Unlock()
	if first {
		s.connLog.Log(s.log, slog.LevelInfo, "semtech forwarder connected", "eui", h.EUI.String(), "addr", addr.String(), "version", h.Version)
	} else if moved {
		s.metrics.addressChanges.Inc()
		s.moveLog.Log(s.log, slog.LevelInfo, "semtech forwarder downlink address changed", "eui", h.EUI.String(), "addr", addr.String())
	}
	s.reply(&PullAck{Version: h.Version, Token: h.Token}, addr)
}

func (s *Server) handleTxAck(b []byte, addr net.Addr) {
	var a TxAck
	if err := a.UnmarshalBinary(b); err != nil {
		s.drop(dropReason(err), err, addr)
		return
	}
	tok := a.Token.Uint16()
	from := addr.String()
	s.mu.Lock()
	p, ok := s.pending[tok]
	if ok && p.eui == a.EUI && p.addr == from {
		delete(s.pending, tok)
	}
	s.mu.Unlock()
	switch {
	case !ok:
		s.drop(dropUnknownToken, fmt.Errorf("TX_ACK token %04x matches no downlink", tok), addr)
	case p.addr != from:
		// Forwarders send TX_ACK from the socket the PULL_RESP reached;
		// anything else is someone else's guess.
		s.drop(dropTxAckAddress, fmt.Errorf("TX_ACK token %04x from %s, PULL_RESP went to %s", tok, from, p.addr), addr)
	case p.eui != a.EUI:
		s.drop(dropEUIMismatch, fmt.Errorf("TX_ACK token %04x from %v, sent to %v", tok, a.EUI, p.eui), addr)
	default:
		p.ch <- a.Status // buffered, one TX_ACK per token
	}
}

// watchGateways logs forwarders going quiet and forgets long-gone ones.
func (s *Server) watchGateways(ctx context.Context) {
	period := max(s.cfg.GatewayTimeout/4, 100*time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.cfg.Now()
		s.mu.Lock()
		for eui, gw := range s.gateways {
			last := gw.lastPull
			if gw.lastPush.After(last) {
				last = gw.lastPush
			}
			if now.Sub(last) > 10*s.cfg.GatewayTimeout {
				delete(s.gateways, eui)
				continue
			}
			if gw.addr != nil && !gw.gone && now.Sub(gw.lastPull) > s.cfg.GatewayTimeout {
				gw.gone = true
				s.goneLog.Log(s.log, slog.LevelInfo, "semtech forwarder gone", "eui", eui.String(), "last_pull", gw.lastPull)
			}
		}
		s.mu.Unlock()
	}
}

func (s *Server) online(gw *gatewayState, now time.Time) bool {
	return gw.addr != nil && now.Sub(gw.lastPull) <= s.cfg.GatewayTimeout
}

func (s *Server) onlineCount() float64 {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, gw := range s.gateways {
		if s.online(gw, now) {
			n++
		}
	}
	return float64(n)
}

// Gateways lists the known forwarders, sorted by EUI.
func (s *Server) Gateways() []Gateway {
	now := s.cfg.Now()
	s.mu.Lock()
	out := make([]Gateway, 0, len(s.gateways))
	for eui, gw := range s.gateways {
		out = append(out, s.gatewayInfo(eui, gw, now))
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Gateway) int { return bytes.Compare(a.EUI[:], b.EUI[:]) })
	return out
}

// Gateway returns what the server knows of one forwarder.
func (s *Server) Gateway(eui EUI) (Gateway, bool) {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	gw, ok := s.gateways[eui]
	if !ok {
		return Gateway{}, false
	}
	return s.gatewayInfo(eui, gw, now), true
}

func (s *Server) gatewayInfo(eui EUI, gw *gatewayState, now time.Time) Gateway {
	return Gateway{EUI: eui, Version: gw.version, Addr: gw.addr, LastPull: gw.lastPull, LastPush: gw.lastPush, Online: s.online(gw, now)}
}

// Send asks forwarder eui to transmit txpk: a PULL_RESP to the address of
// its latest PULL_DATA, then, for version 2, a wait for the TX_ACK with the
// same token (ServerConfig.TxAckTimeout). A TX_ACK error is not a Go error:
// it is in TxResult.Status. Errors are ErrUnknownGateway, ErrGatewayGone,
// ErrTxAckTimeout (a malformed txpk gets no TX_ACK), ErrServerClosed, an
// encoding error, a socket error or the context's.
func (s *Server) Send(ctx context.Context, eui EUI, txpk TXPK) (TxResult, error) {
	now := s.cfg.Now()
	s.mu.Lock()
	gw := s.gateways[eui]
	if gw == nil || gw.addr == nil {
		s.mu.Unlock()
		return TxResult{}, fmt.Errorf("send to %v: %w", eui, ErrUnknownGateway)
	}
	if !s.online(gw, now) {
		ago := now.Sub(gw.lastPull).Round(time.Second)
		s.mu.Unlock()
		return TxResult{}, fmt.Errorf("send to %v: last PULL_DATA %v ago: %w", eui, ago, ErrGatewayGone)
	}
	version, addr := gw.version, gw.addr
	var tok uint16
	var ch chan TxStatus
	if version == Version2 {
		if len(s.pending) >= maxPending {
			s.mu.Unlock()
			return TxResult{}, fmt.Errorf("send to %v: %d downlinks await TX_ACK: %w", eui, maxPending, ErrBusy)
		}
		tok = s.allocTokenLocked()
		ch = make(chan TxStatus, 1)
		s.pending[tok] = pendingTx{eui: eui, addr: addr.String(), ch: ch}
	}
	s.mu.Unlock()
	release := func() {
		if ch != nil {
			s.mu.Lock()
			if p, ok := s.pending[tok]; ok && p.ch == ch {
				delete(s.pending, tok)
			}
			s.mu.Unlock()
		}
	}

	b, err := (&PullResp{Version: version, Token: TokenFrom(tok), TXPK: txpk}).MarshalBinary()
	if err != nil {
		release()
		return TxResult{}, fmt.Errorf("send to %v: %w", eui, err)
	}
	select {
	case <-s.done:
		release()
		return TxResult{}, fmt.Errorf("send to %v: %w", eui, ErrServerClosed)
	default:
	}
	if _, err := s.conn.WriteTo(b, addr); err != nil {
		release()
		return TxResult{}, fmt.Errorf("send to %v: %w", eui, err)
	}
	if version == Version1 {
		s.metrics.downlinks.WithLabelValues("unacked").Inc()
		return TxResult{PowerDBm: txpk.Powe}, nil
	}

	timer := time.NewTimer(s.cfg.TxAckTimeout)
	defer timer.Stop()
	select {
	case st := <-ch:
		res := TxResult{Status: st, Acked: true, PowerDBm: txpk.Powe}
		if st.Warn == TxPower && st.Value != nil {
			res.PowerDBm = *st.Value
		}
		s.metrics.downlinks.WithLabelValues(txResultLabel(st)).Inc()
		return res, nil
	case <-timer.C:
		release()
		s.metrics.downlinks.WithLabelValues("timeout").Inc()
		return TxResult{}, fmt.Errorf("send to %v: token %04x: %w", eui, tok, ErrTxAckTimeout)
	case <-ctx.Done():
		release()
		return TxResult{}, fmt.Errorf("send to %v: %w", eui, ctx.Err())
	case <-s.done:
		release()
		return TxResult{}, fmt.Errorf("send to %v: %w", eui, ErrServerClosed)
	}
}

// allocTokenLocked returns a token no pending downlink uses, drawn from
// crypto/rand so that whoever can send to the port cannot predict it and
// answer a downlink with a TX_ACK of their own. (At most maxPending of the
// 65,536 tokens are in use, so the loop ends quickly.)
func (s *Server) allocTokenLocked() uint16 {
	var b [2]byte
	for {
		rand.Read(b[:]) // never fails (crypto/rand)
		tok := Token(b).Uint16()
		if _, busy := s.pending[tok]; !busy {
			return tok
		}
	}
}

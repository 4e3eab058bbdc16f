package semtech

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DownlinkHandler is given each transmission request (PULL_RESP txpk) and
// returns the TX_ACK status to report: the zero TxStatus for accepted,
// TxStatusError(TxTooLate) and so on for a refusal, TxPowerWarning(n) when
// sent at another power. It runs on the down socket's read goroutine and
// should return quickly, as a forwarder's JIT queue does: schedule the
// transmission, do not wait for it.
type DownlinkHandler interface {
	HandleDownlink(ctx context.Context, txpk TXPK) TxStatus
}

// DownlinkRelayer is an optional capability of a DownlinkHandler, checked
// by type assertion, for handlers whose answer comes later: a hotspot that
// relays a customer LNS's txpk to its own concentrator and waits for that
// TX_ACK. RelayDownlink runs on the read goroutine and must return quickly;
// it calls ack at most once, from any goroutine, possibly after it has
// returned, and the client then sends the TX_ACK (version 2). Never
// calling ack means no TX_ACK, as for an undecodable txpk. When the
// handler implements it, HandleDownlink is not called.
type DownlinkRelayer interface {
	RelayDownlink(ctx context.Context, txpk TXPK, ack func(TxStatus))
}

// ClientConfig configures a Client (the forwarder side).
type ClientConfig struct {
	// EUI is the gateway identifier sent in every upstream datagram; required.
	EUI EUI
	// Version is the protocol version to speak, 1 or 2. Default 2. A
	// version 1 client sends no TX_ACK.
	Version uint8
	// KeepaliveInterval is the PULL_DATA period. Default 10 s (the
	// global_conf.json value).
	KeepaliveInterval time.Duration
	// PushTimeout is how long Push waits for PUSH_ACK. Default 100 ms
	// (push_timeout_ms).
	PushTimeout time.Duration
	// Handler receives downlinks. Nil answers every PULL_RESP with
	// TX_FREQ, as a receive-only gateway would.
	Handler DownlinkHandler
	// StatInterval is the period of status reports (PUSH_DATA with "stat",
	// counters over the interval as lora_pkt_fwd reports them). 0 sends
	// none; lora_pkt_fwd uses 30 s.
	StatInterval time.Duration
	// Position, when set, is reported as stat lati/long/alti.
	Position *Position
	// Now is the clock for stat times and PULL_ACK times. Default time.Now.
	Now func() time.Time
}

// Position is a gateway's reported location.
type Position struct {
	Lat, Lng float64
	AltM     int
}

func (c *ClientConfig) setDefaults() {
	if c.Version == 0 {
		c.Version = Version2
	}
	if c.KeepaliveInterval == 0 {
		c.KeepaliveInterval = 10 * time.Second
	}
	if c.PushTimeout == 0 {
		c.PushTimeout = 100 * time.Millisecond
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate checks the configuration after defaults are filled in.
func (c *ClientConfig) Validate() error {
	switch {
	case c.EUI == EUI{}:
		return errors.New("semtech client: no gateway EUI")
	case c.Version != Version1 && c.Version != Version2:
		return fmt.Errorf("semtech client: version %d: %w", c.Version, ErrVersion)
	case c.KeepaliveInterval < 0:
		return fmt.Errorf("semtech client: negative keepalive interval %v", c.KeepaliveInterval)
	case c.PushTimeout < 0:
		return fmt.Errorf("semtech client: negative push timeout %v", c.PushTimeout)
	case c.StatInterval < 0:
		return fmt.Errorf("semtech client: negative stat interval %v", c.StatInterval)
	case c.Position != nil && (c.Position.Lat < -90 || c.Position.Lat > 90 || c.Position.Lng < -180 || c.Position.Lng > 180):
		return fmt.Errorf("semtech client: position %+v out of range", *c.Position)
	}
	return nil
}

// ErrNoPushAck is returned by Push when no PUSH_ACK came in time. The
// datagram was sent; the protocol does not retransmit.
var ErrNoPushAck = errors.New("no PUSH_ACK before timeout")

// ClientStats counts a client's exchanges, as lora_pkt_fwd reports them.
type ClientStats struct {
	PushSent, PushAcked uint64
	PullSent, PullAcked uint64
	// Downlinks counts PULL_RESP received with a valid txpk, Transmitted
	// those the handler accepted.
	Downlinks, Transmitted uint64
	// RXPK counts packets pushed, RXPKOK those with a good CRC.
	RXPK, RXPKOK uint64
	// LastPullAck is when the last PULL_ACK arrived (zero if never).
	LastPullAck time.Time
}

// ACKR is the percentage of PUSH_DATA acknowledged (stat "ackr"); 0 before
// the first push.
func (s ClientStats) ACKR() float64 {
	if s.PushSent == 0 {
		return 0
	}
	return 100 * float64(s.PushAcked) / float64(s.PushSent)
}

// Client is the forwarder side of GWMP, used by simulated concentrators and
// by the hotspot to forward to a customer's network server. Like
// lora_pkt_fwd it uses two sockets: PUSH_DATA leaves from up, PULL_DATA and
// TX_ACK from down, so downlinks come back to down.
type Client struct {
	cfg     ClientConfig
	up      net.PacketConn
	down    net.PacketConn
	server  net.Addr
	log     *slog.Logger
	metrics *clientMetrics
	running atomic.Bool

	mu          sync.Mutex
	pushes      map[uint16]chan struct{}
	pullToken   Token
	stats       ClientStats
	lastStat    ClientStats // counters at the previous status report
	rng         *rand.Rand
	lastPullAck time.Time
}

// NewClient returns a client that talks to server from up (PUSH_DATA) and
// down (PULL_DATA, PULL_RESP, TX_ACK). down may be nil or equal to up to use
// one socket for everything. Run must be running for Push to see acks. The
// client closes its sockets when Run returns. logger nil discards; reg nil
// skips metrics registration.
func NewClient(cfg ClientConfig, up, down net.PacketConn, server net.Addr, logger *slog.Logger, reg prometheus.Registerer) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if up == nil || server == nil {
		return nil, errors.New("semtech client: nil socket or server address")
	}
	if down == nil {
		down = up
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Client{
		cfg:     cfg,
		up:      up,
		down:    down,
		server:  server,
		log:     logger,
		metrics: newClientMetrics(reg),
		pushes:  make(map[uint16]chan struct{}),
		rng:     rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}, nil
}

// EUI returns the configured gateway EUI.
func (c *Client) EUI() EUI { return c.cfg.EUI }

// Stats returns the counters so far.
func (c *Client) Stats() ClientStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.LastPullAck = c.lastPullAck
	return s
}

func (c *Client) token() Token {
	return TokenFrom(uint16(c.rng.Uint32()))
}

// Run sends PULL_DATA at once and every KeepaliveInterval, and reads
// acknowledgements and downlinks, until ctx is cancelled (then it returns
// nil) or a socket fails. It closes the sockets before returning.
func (c *Client) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("semtech client: already running")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Go(func() {
		<-ctx.Done()
		c.up.Close()
		if c.down != c.up {
			c.down.Close()
		}
	})
	wg.Go(func() { errs <- c.readLoop(ctx, c.up) })
	if c.down != c.up {
		wg.Go(func() { errs <- c.readLoop(ctx, c.down) })
	}
	wg.Go(func() { errs <- c.keepalive(ctx) })
	if c.cfg.StatInterval > 0 {
		wg.Go(func() { c.reportStats(ctx) })
	}
	var first error
	select {
	case <-ctx.Done():
	case first = <-errs:
	}
	cancel()
	wg.Wait()
	if ctx.Err() != nil && first == nil {
		return nil
	}
	return first
}

func (c *Client) keepalive(ctx context.Context) error {
	t := time.NewTicker(c.cfg.KeepaliveInterval)
	defer t.Stop()
	for {
		if err := c.pull(); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (c *Client) pull() error {
	c.mu.Lock()
	tok := c.token()
	c.pullToken = tok
	c.stats.PullSent++
	c.mu.Unlock()
	b, err := (&PullData{Version: c.cfg.Version, Token: tok, EUI: c.cfg.EUI}).MarshalBinary()
	if err != nil {
		return fmt.Errorf("semtech client pull: %w", err)
	}
	if _, err := c.down.WriteTo(b, c.server); err != nil {
		return fmt.Errorf("semtech client pull: %w", err)
	}
	c.metrics.sent.WithLabelValues(TypePullData.String()).Inc()
	return nil
}

func (c *Client) readLoop(ctx context.Context, conn net.PacketConn) error {
	return readDatagrams(ctx, conn, func(b []byte, addr net.Addr) { c.handle(ctx, conn, b, addr) })
}

func (c *Client) drop(reason string, err error) {
	c.metrics.dropped.WithLabelValues(reason).Inc()
	c.log.Debug("semtech datagram dropped", "reason", reason, "err", err, "eui", c.cfg.EUI.String())
}

func (c *Client) handle(ctx context.Context, conn net.PacketConn, b []byte, addr net.Addr) {
	defer func() {
		if r := recover(); r != nil {
			c.drop(dropPanic, fmt.Errorf("panic: %v", r))
		}
	}()
	h, err := ParseHeader(b)
	if err != nil {
		c.drop(dropReason(err), err)
		return
	}
	switch h.Type {
	case TypePushAck:
		c.mu.Lock()
		ch, ok := c.pushes[h.Token.Uint16()]
		if ok {
			delete(c.pushes, h.Token.Uint16())
			c.stats.PushAcked++
		}
		c.mu.Unlock()
		if !ok {
			c.drop(dropUnknownToken, fmt.Errorf("PUSH_ACK token %04x", h.Token.Uint16()))
			return
		}
		c.metrics.acked.WithLabelValues(TypePushData.String()).Inc()
		close(ch)
	case TypePullAck:
		c.mu.Lock()
		ok := h.Token == c.pullToken
		if ok {
			c.stats.PullAcked++
			c.lastPullAck = c.cfg.Now()
		}
		c.mu.Unlock()
		if !ok {
			c.drop(dropUnknownToken, fmt.Errorf("PULL_ACK token %04x", h.Token.Uint16()))
			return
		}
		c.metrics.acked.WithLabelValues(TypePullData.String()).Inc()
	case TypePullResp:
		c.handlePullResp(ctx, conn, b)
	default:
		c.drop(dropUnexpected, fmt.Errorf("client got %v", h.Type))
	}
}

func (c *Client) handlePullResp(ctx context.Context, conn net.PacketConn, b []byte) {
	var p PullResp
	if err := p.UnmarshalBinary(b); err != nil {
		// The reference forwarder drops a txpk it cannot use and sends no
		// TX_ACK at all.
		c.drop(dropReason(err), err)
		return
	}
	c.mu.Lock()
	c.stats.Downlinks++
	c.mu.Unlock()
	if r, ok := c.cfg.Handler.(DownlinkRelayer); ok {
		var once sync.Once
		tok := p.Token
		r.RelayDownlink(ctx, p.TXPK, func(st TxStatus) {
			once.Do(func() { c.answerDownlink(conn, tok, st) })
		})
		return
	}
	status := TxStatusError(TxFreq)
	if c.cfg.Handler != nil {
		status = c.cfg.Handler.HandleDownlink(ctx, p.TXPK)
	}
	c.answerDownlink(conn, p.Token, status)
}

// answerDownlink counts a downlink's outcome and sends its TX_ACK (version
// 2) from conn under the PULL_RESP's token.
func (c *Client) answerDownlink(conn net.PacketConn, tok Token, status TxStatus) {
	c.metrics.downlinks.WithLabelValues(txResultLabel(status)).Inc()
	if status.Accepted() {
		c.mu.Lock()
		c.stats.Transmitted++
		c.mu.Unlock()
	}
	if c.cfg.Version == Version1 {
		return
	}
	ack, err := (&TxAck{Version: c.cfg.Version, Token: tok, EUI: c.cfg.EUI, Status: status}).MarshalBinary()
	if err == nil {
		_, err = conn.WriteTo(ack, c.server)
	}
	if err != nil {
		c.log.Debug("semtech TX_ACK not sent", "err", err, "eui", c.cfg.EUI.String())
		return
	}
	c.metrics.sent.WithLabelValues(TypeTxAck.String()).Inc()
}

// Push sends one PUSH_DATA with rxpk and/or stat and waits up to
// PushTimeout for its PUSH_ACK. On ErrNoPushAck the datagram was still
// sent.
func (c *Client) Push(ctx context.Context, rxpk []RXPK, stat *Stat) error {
	c.mu.Lock()
	tok := c.token()
	for _, busy := c.pushes[tok.Uint16()]; busy; _, busy = c.pushes[tok.Uint16()] {
		tok = c.token()
	}
	ch := make(chan struct{})
	c.pushes[tok.Uint16()] = ch
	c.stats.PushSent++
	c.stats.RXPK += uint64(len(rxpk))
	for i := range rxpk {
		if rxpk[i].Stat == 1 {
			c.stats.RXPKOK++
		}
	}
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		if cur, ok := c.pushes[tok.Uint16()]; ok && cur == ch {
			delete(c.pushes, tok.Uint16())
		}
		c.mu.Unlock()
	}

	b, err := (&PushData{Version: c.cfg.Version, Token: tok, EUI: c.cfg.EUI, RXPK: rxpk, Stat: stat}).MarshalBinary()
	if err != nil {
		forget()
		c.unsent(rxpk)
		return fmt.Errorf("semtech client push: %w", err)
	}
	if _, err := c.up.WriteTo(b, c.server); err != nil {
		forget()
		c.unsent(rxpk)
		return fmt.Errorf("semtech client push: %w", err)
	}
	c.metrics.sent.WithLabelValues(TypePushData.String()).Inc()
	t := time.NewTimer(c.cfg.PushTimeout)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.C:
		forget()
		return fmt.Errorf("semtech client push token %04x: %w", tok.Uint16(), ErrNoPushAck)
	case <-ctx.Done():
		forget()
		return fmt.Errorf("semtech client push: %w", ctx.Err())
	}
}

func (c *Client) unsent(rxpk []RXPK) {
	c.mu.Lock()
	c.stats.PushSent--
	c.stats.RXPK -= uint64(len(rxpk))
	for i := range rxpk {
		if rxpk[i].Stat == 1 {
			c.stats.RXPKOK--
		}
	}
	c.mu.Unlock()
}

// reportStats pushes a status report every StatInterval.
func (c *Client) reportStats(ctx context.Context) {
	t := time.NewTicker(c.cfg.StatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st := c.intervalStat()
		if err := c.Push(ctx, nil, &st); err != nil && ctx.Err() == nil {
			c.log.Debug("semtech status report", "err", err, "eui", c.cfg.EUI.String())
		}
	}
}

// intervalStat returns the stat object for the interval since the last
// one: packets received and forwarded, ACK ratio of the pushes, downlinks
// received and transmitted.
func (c *Client) intervalStat() Stat {
	c.mu.Lock()
	now, prev := c.stats, c.lastStat
	c.lastStat = now
	c.mu.Unlock()
	st := Stat{
		Time: c.cfg.Now().UTC().Truncate(time.Second),
		RXNb: uint32(now.RXPK - prev.RXPK),
		RXOk: uint32(now.RXPKOK - prev.RXPKOK),
		RXFw: uint32(now.RXPK - prev.RXPK),
		DWNb: uint32(now.Downlinks - prev.Downlinks),
		TXNb: uint32(now.Transmitted - prev.Transmitted),
	}
	if sent := now.PushSent - prev.PushSent; sent > 0 {
		st.ACKR = 100 * float64(now.PushAcked-prev.PushAcked) / float64(sent)
	}
	if p := c.cfg.Position; p != nil {
		lat, lng, alt := p.Lat, p.Lng, p.AltM
		st.Lati, st.Long, st.Alti = &lat, &lng, &alt
	}
	return st
}

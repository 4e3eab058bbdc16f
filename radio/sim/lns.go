package sim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hexfield/hexfield/radio/semtech"
)

// LNSConfig configures an [LNS]. The zero value is an EU868 network with
// NetID 000001 (the devnet's, spec/routing.md §2).
type LNSConfig struct {
	// Region is the channel plan of downlinks: RX1 channel and data rate,
	// RX2 channel and data rate, transmit power. Default "EU868".
	Region string
	// NetID is the network's NetID: joined devices get DevAddrs with its
	// prefix, and join-accepts carry it. Default 000001.
	NetID lorawan.NetID
	// RX1Delay is RECEIVE_DELAY1, a whole number of seconds from 1 to 15.
	// Join-accepts tell devices so; ABP devices must be set to the same.
	// RX2 is one second later. Default 1 s.
	RX1Delay time.Duration
	// DedupDelay is how long copies of one uplink (the same PHYPayload from
	// several gateways) are collected before the LNS answers through the
	// gateway with the best signal. Default 200 ms, ChirpStack's.
	DedupDelay time.Duration
	// MaxInFlight bounds uplinks collecting copies; further new uplinks
	// are refused (RejectQueueFull). Default 4096.
	MaxInFlight int
	// MaxDownlinks bounds downlinks awaiting their TX_ACK; further ones are
	// not sent and recorded with ErrTooManyDownlinks. Default 256.
	MaxDownlinks int
	// MaxRecords bounds each record list (uplinks, joins, rejections,
	// transmissions): a full list forgets its older half. Counts (Stats,
	// Rejected) are kept without bound. Default 10 000.
	MaxRecords int
	// Server configures the gateway-bridge side (TX_ACK timeout, gateway
	// timeout, queue sizes, clock). Its Handler must be nil: the LNS is
	// the handler.
	Server semtech.ServerConfig
}

func (c *LNSConfig) fillDefaults() {
	if c.Region == "" {
		c.Region = "EU868"
	}
	if c.NetID == (lorawan.NetID{}) {
		c.NetID = lorawan.NetID{0, 0, 1}
	}
	if c.RX1Delay == 0 {
		c.RX1Delay = time.Second
	}
	if c.DedupDelay == 0 {
		c.DedupDelay = 200 * time.Millisecond
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 4096
	}
	if c.MaxDownlinks == 0 {
		c.MaxDownlinks = 256
	}
	if c.MaxRecords == 0 {
		c.MaxRecords = 10_000
	}
}

// Validate checks the configuration after defaults are filled in.
func (c *LNSConfig) Validate() error {
	switch {
	case c.RX1Delay < time.Second || c.RX1Delay > 15*time.Second || c.RX1Delay%time.Second != 0:
		return fmt.Errorf("rx1 delay %v: must be whole seconds from 1 to 15", c.RX1Delay)
	case c.DedupDelay < 0 || c.DedupDelay >= c.RX1Delay:
		return fmt.Errorf("dedup delay %v: must be in [0, rx1 delay)", c.DedupDelay)
	case c.MaxInFlight < 1 || c.MaxDownlinks < 1 || c.MaxRecords < 1:
		return errors.New("limits must be positive")
	case c.Server.Handler != nil:
		return errors.New("server handler must be nil: the LNS handles uplinks")
	}
	return nil
}

// OTAADevice is a device that joins over the air with its root key.
type OTAADevice struct {
	DevEUI, JoinEUI lorawan.EUI64
	AppKey          lorawan.AES128Key
	Class           Class
}

// ABPDevice is a device activated by personalisation: its session is
// fixed. The first uplink's 16-bit counter is accepted as it is.
type ABPDevice struct {
	DevEUI           lorawan.EUI64
	DevAddr          lorawan.DevAddr
	NwkSKey, AppSKey lorawan.AES128Key
	Class            Class
}

// Downlink is application data for a device: Class A devices get it in
// the receive windows of their next uplink, Class C devices at once.
type Downlink struct {
	// FPort is 1–223.
	FPort   uint8
	Payload []byte
	// Confirmed asks the device to acknowledge it in its next uplink.
	Confirmed bool
}

// RejectReason says why the LNS refused a frame.
type RejectReason string

// Reasons a frame is refused.
const (
	RejectUndecodable   RejectReason = "undecodable"    // not a LoRaWAN PHYPayload
	RejectNotUplink     RejectReason = "not_uplink"     // downlink, proprietary or rejoin frame
	RejectUnknownDevice RejectReason = "unknown_device" // DevEUI, JoinEUI or DevAddr not registered
	RejectBadMIC        RejectReason = "bad_mic"        // MIC does not verify with the device's key
	RejectReplay        RejectReason = "fcnt_replay"    // frame counter not above the last accepted one
	RejectFCntGap       RejectReason = "fcnt_gap"       // frame counter jumped more than MAX_FCNT_GAP
	RejectDevNonce      RejectReason = "devnonce_reused"
	RejectQueueFull     RejectReason = "queue_full" // too many uplinks in flight
	RejectPanic         RejectReason = "panic"      // a bug; the frame is dropped, the LNS goes on
)

// LNSUplink is a data uplink the LNS accepted.
type LNSUplink struct {
	DevEUI  lorawan.EUI64
	DevAddr lorawan.DevAddr
	// FCnt is the full 32-bit frame counter.
	FCnt uint32
	// FPort is nil for a frame without FRMPayload.
	FPort *uint8
	// Payload is the decrypted FRMPayload.
	Payload   []byte
	Confirmed bool
	// ACK is set when the frame acknowledges a confirmed downlink.
	ACK bool
	// Gateway heard it with the best signal; Copies is how many gateways
	// reported it within the dedup delay.
	Gateway semtech.EUI
	Copies  int
	RXPK    semtech.RXPK
}

// LNSJoin is a join the LNS accepted.
type LNSJoin struct {
	DevEUI, JoinEUI lorawan.EUI64
	DevNonce        lorawan.DevNonce
	DevAddr         lorawan.DevAddr
	Gateway         semtech.EUI
	RXPK            semtech.RXPK
}

// LNSRejection is a frame the LNS refused.
type LNSRejection struct {
	Reason  RejectReason
	Gateway semtech.EUI
	Frame   []byte
	Err     string
}

// Window names when a downlink was meant to go out.
type Window string

// Downlink windows.
const (
	WindowRX1       Window = "RX1"
	WindowRX2       Window = "RX2"
	WindowImmediate Window = "immediate" // Class C
)

// TxAttempt is one PULL_RESP the LNS sent and what came of it.
type TxAttempt struct {
	DevEUI    lorawan.EUI64
	JoinReply bool // a join-accept rather than a data downlink
	Window    Window
	Gateway   semtech.EUI
	TXPK      semtech.TXPK
	// Status is the TX_ACK; Acked is false for a version 1 forwarder.
	// Both are meaningful only when Err is nil.
	Status semtech.TxStatus
	Acked  bool
	// Err is why no TX_ACK came: semtech.ErrTxAckTimeout, an unknown or
	// gone gateway, ErrTooManyDownlinks, a closed server.
	Err error
}

// Errors of the LNS.
var (
	ErrNoSession        = errors.New("device has no session")
	ErrNoGateway        = errors.New("no gateway has heard the device")
	ErrTooManyDownlinks = errors.New("too many downlinks in flight")
	ErrLNSNotRunning    = errors.New("lns not running")
	errUnknownDevice    = errors.New("unknown device")
)

// maxQueued bounds a Class A device's queued downlinks.
const maxQueued = 16

// maxCopies bounds the copies of one uplink kept for gateway selection.
const maxCopies = 16

type lnsSession struct {
	devAddr          lorawan.DevAddr
	nwkSKey, appSKey lorawan.AES128Key
	fcntUp           uint32
	haveUp           bool
	fcntDown         uint32
	confirmedDown    bool // a confirmed downlink awaits the device's ACK
	gateway          semtech.EUI
	haveGateway      bool
}

type lnsDevice struct {
	devEUI, joinEUI lorawan.EUI64
	appKey          lorawan.AES128Key
	otaa            bool
	class           Class
	devNonces       map[lorawan.DevNonce]struct{}
	session         *lnsSession
	queue           []Downlink
}

// uplinkGroup is the copies of one PHYPayload collected for DedupDelay.
type uplinkGroup struct {
	key    [32]byte
	due    time.Time
	copies []semtech.Uplink
}

// LNS is a test LoRaWAN network server (1.0.x) with its gateway bridge:
// the server side of Semtech UDP, answering PUSH_DATA and PULL_DATA and
// sending PULL_RESP, as ChirpStack's gateway bridge does. It joins OTAA
// devices (join-accept in the join RX1 window, RX2 if the gateway refuses
// RX1 for timing), serves ABP devices, checks MICs and frame counters,
// acknowledges confirmed uplinks in RX1 (RX2 as fallback), sends Class C
// downlinks at once, and records every uplink, join, refused frame and
// TX_ACK for tests to read. Bad datagrams and frames are counted and
// dropped; nothing a gateway sends stops it.
type LNS struct {
	cfg    LNSConfig
	srv    *semtech.Server
	plan   *windowPlan
	log    *slog.Logger
	copies chan semtech.Uplink
	sem    chan struct{} // downlinks in flight

	mu         sync.Mutex
	running    bool
	stopped    bool
	ctx        context.Context
	downlinks  sync.WaitGroup
	byEUI      map[lorawan.EUI64]*lnsDevice
	byAddr     map[lorawan.DevAddr]*lnsDevice
	nextAddr   uint32
	joinNonce  lorawan.JoinNonce
	uplinks    []LNSUplink
	joins      []LNSJoin
	rejections []LNSRejection
	attempts   []TxAttempt
	rejected   map[RejectReason]uint64
	counts     LNSStats
}

// LNSStats counts what an LNS did, without the bound of the records.
type LNSStats struct {
	Uplinks, Joins uint64
	// TxResults counts PULL_RESPs by outcome: "OK", a TX_ACK error value of
	// spec §5 (other values count as "other"), "TX_POWER" for the
	// warning, "unacked" for version 1 forwarders, "timeout" without
	// TX_ACK, and "not_sent".
	TxResults map[string]uint64
}

// NewLNS returns an LNS serving gateways on conn (which it closes when Run
// returns). logger nil discards; reg receives the gateway bridge's
// metrics (nil skips them).
func NewLNS(cfg LNSConfig, conn net.PacketConn, logger *slog.Logger, reg prometheus.Registerer) (*LNS, error) {
	cfg.fillDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new lns: %w", err)
	}
	plan, err := newWindowPlan(cfg.Region)
	if err != nil {
		return nil, fmt.Errorf("new lns: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &LNS{
		cfg:      cfg,
		plan:     plan,
		log:      logger,
		copies:   make(chan semtech.Uplink, cfg.MaxInFlight),
		sem:      make(chan struct{}, cfg.MaxDownlinks),
		byEUI:    make(map[lorawan.EUI64]*lnsDevice),
		byAddr:   make(map[lorawan.DevAddr]*lnsDevice),
		rejected: make(map[RejectReason]uint64),
		counts:   LNSStats{TxResults: make(map[string]uint64)},
	}
	scfg := cfg.Server
	scfg.Handler = uplinkSink{l}
	srv, err := semtech.NewServer(scfg, conn, logger, reg)
	if err != nil {
		return nil, fmt.Errorf("new lns: %w", err)
	}
	l.srv = srv
	return l, nil
}

// Addr is the LNS's Semtech UDP address.
func (l *LNS) Addr() net.Addr { return l.srv.Addr() }

// Server is the gateway bridge, for its gateway list.
func (l *LNS) Server() *semtech.Server { return l.srv }

// AddOTAA registers a device that joins over the air.
func (l *LNS) AddOTAA(d OTAADevice) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, dup := l.byEUI[d.DevEUI]; dup {
		return fmt.Errorf("add otaa device %v: already registered", d.DevEUI)
	}
	l.byEUI[d.DevEUI] = &lnsDevice{devEUI: d.DevEUI, joinEUI: d.JoinEUI, appKey: d.AppKey, otaa: true, class: d.Class, devNonces: make(map[lorawan.DevNonce]struct{})}
	return nil
}

// AddABP registers a device with a fixed session.
func (l *LNS) AddABP(d ABPDevice) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, dup := l.byEUI[d.DevEUI]; dup {
		return fmt.Errorf("add abp device %v: already registered", d.DevEUI)
	}
	if _, dup := l.byAddr[d.DevAddr]; dup {
		return fmt.Errorf("add abp device %v: DevAddr %v in use", d.DevEUI, d.DevAddr)
	}
	dev := &lnsDevice{devEUI: d.DevEUI, class: d.Class, session: &lnsSession{devAddr: d.DevAddr, nwkSKey: d.NwkSKey, appSKey: d.AppSKey}}
	l.byEUI[d.DevEUI] = dev
	l.byAddr[d.DevAddr] = dev
	return nil
}

// Run serves gateways until ctx is cancelled (it then returns nil) or the
// socket fails, and waits for the downlinks in flight before returning.
func (l *LNS) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l.mu.Lock()
	if l.running || l.stopped {
		l.mu.Unlock()
		return errors.New("lns: already run")
	}
	l.running, l.ctx = true, ctx
	l.mu.Unlock()

	var wg sync.WaitGroup
	wg.Go(func() { l.collect(ctx) })
	err := l.srv.Run(ctx)
	cancel()
	wg.Wait()
	l.mu.Lock()
	l.running, l.stopped = false, true
	l.mu.Unlock()
	l.downlinks.Wait()
	if err != nil {
		return fmt.Errorf("lns: %w", err)
	}
	return nil
}

// uplinkSink adapts the LNS to semtech.Handler without exporting the
// method: the server's dispatch goroutine hands copies to collect.
type uplinkSink struct{ l *LNS }

func (s uplinkSink) HandleUplink(_ context.Context, u semtech.Uplink) {
	select {
	case s.l.copies <- u:
	default:
		s.l.reject(RejectQueueFull, u.EUI, u.RXPK.Data, errors.New("uplink queue full"))
	}
}

// collect groups copies of each PHYPayload for DedupDelay, then handles
// the uplink once.
func (l *LNS) collect(ctx context.Context) {
	pending := make(map[[32]byte]*uplinkGroup)
	var order []*uplinkGroup // by due time: every group waits the same delay
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		var due <-chan time.Time
		if len(order) > 0 {
			timer.Reset(time.Until(order[0].due))
			due = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case u := <-l.copies:
			key := sha256.Sum256(u.RXPK.Data)
			if g := pending[key]; g != nil {
				if len(g.copies) < maxCopies {
					g.copies = append(g.copies, u)
				}
				continue
			}
			if len(pending) >= l.cfg.MaxInFlight {
				l.reject(RejectQueueFull, u.EUI, u.RXPK.Data, errors.New("too many uplinks in flight"))
				continue
			}
			g := &uplinkGroup{key: key, due: time.Now().Add(l.cfg.DedupDelay), copies: []semtech.Uplink{u}}
			pending[key] = g
			order = append(order, g)
		case <-due:
			now := time.Now()
			for len(order) > 0 && !order[0].due.After(now) {
				g := order[0]
				order[0] = nil
				order = order[1:]
				delete(pending, g.key)
				l.handleGroup(ctx, g)
			}
		}
	}
}

// best is the copy to answer through: strongest signal, then best SNR.
func best(copies []semtech.Uplink) semtech.Uplink {
	b := copies[0]
	sig := func(u semtech.Uplink) float64 {
		if u.RXPK.RSSIS != nil {
			return float64(*u.RXPK.RSSIS)
		}
		return float64(u.RXPK.RSSI)
	}
	for _, u := range copies[1:] {
		if sig(u) > sig(b) || (sig(u) == sig(b) && u.RXPK.LSNR > b.RXPK.LSNR) {
			b = u
		}
	}
	return b
}

// handleGroup handles one uplink; a panic is recorded, never fatal.
func (l *LNS) handleGroup(ctx context.Context, g *uplinkGroup) {
	u := best(g.copies)
	defer func() {
		if r := recover(); r != nil {
			l.reject(RejectPanic, u.EUI, u.RXPK.Data, fmt.Errorf("panic: %v", r))
		}
	}()
	reason, err := l.handleFrame(ctx, u, len(g.copies))
	if reason != "" {
		l.reject(reason, u.EUI, u.RXPK.Data, err)
	}
}

// handleFrame handles the best copy of one uplink and says why it was
// refused, if it was.
func (l *LNS) handleFrame(ctx context.Context, u semtech.Uplink, copies int) (RejectReason, error) {
	var phy lorawan.PHYPayload
	// brocaar/lorawan decodes into subslices and decrypts in place (even
	// past a slice's end): it gets a copy, never the received bytes.
	if err := phy.UnmarshalBinary(bytes.Clone(u.RXPK.Data)); err != nil {
		return RejectUndecodable, err
	}
	if phy.MHDR.Major != lorawan.LoRaWANR1 {
		return RejectUndecodable, fmt.Errorf("major version %d", phy.MHDR.Major)
	}
	switch phy.MHDR.MType {
	case lorawan.JoinRequest:
		return l.join(ctx, u, &phy)
	case lorawan.UnconfirmedDataUp, lorawan.ConfirmedDataUp:
		return l.data(ctx, u, &phy, copies)
	}
	return RejectNotUplink, fmt.Errorf("mtype %v", phy.MHDR.MType)
}

func (l *LNS) join(ctx context.Context, u semtech.Uplink, phy *lorawan.PHYPayload) (RejectReason, error) {
	jr, ok := phy.MACPayload.(*lorawan.JoinRequestPayload)
	if !ok {
		return RejectUndecodable, errors.New("join request without its payload")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	dev := l.byEUI[jr.DevEUI]
	if dev == nil || !dev.otaa || dev.joinEUI != jr.JoinEUI {
		return RejectUnknownDevice, fmt.Errorf("join from DevEUI %v JoinEUI %v: %w", jr.DevEUI, jr.JoinEUI, errUnknownDevice)
	}
	if ok, err := phy.ValidateUplinkJoinMIC(dev.appKey); err != nil || !ok {
		return RejectBadMIC, fmt.Errorf("join request MIC of %v: %v", jr.DevEUI, err)
	}
	if _, used := dev.devNonces[jr.DevNonce]; used {
		return RejectDevNonce, fmt.Errorf("DevNonce %d of %v used before", jr.DevNonce, jr.DevEUI)
	}
	dev.devNonces[jr.DevNonce] = struct{}{}
	l.joinNonce = (l.joinNonce + 1) & 0xffffff
	addr := l.allocAddrLocked()
	nwk, app, err := sessionKeys(dev.appKey, l.joinNonce, l.cfg.NetID, jr.DevNonce)
	if err != nil {
		return RejectPanic, err
	}
	accept := lorawan.PHYPayload{
		MHDR: lorawan.MHDR{MType: lorawan.JoinAccept, Major: lorawan.LoRaWANR1},
		MACPayload: &lorawan.JoinAcceptPayload{
			JoinNonce:  l.joinNonce,
			HomeNetID:  l.cfg.NetID,
			DevAddr:    addr,
			DLSettings: lorawan.DLSettings{RX2DataRate: uint8(l.plan.rx2DRIdx), RX1DROffset: 0},
			RXDelay:    uint8(l.cfg.RX1Delay / time.Second),
		},
	}
	if err := accept.SetDownlinkJoinMIC(lorawan.JoinRequestType, jr.JoinEUI, jr.DevNonce, dev.appKey); err != nil {
		return RejectPanic, err
	}
	if err := accept.EncryptJoinAcceptPayload(dev.appKey); err != nil {
		return RejectPanic, err
	}
	frame, err := accept.MarshalBinary()
	if err != nil {
		return RejectPanic, err
	}
	if dev.session != nil {
		delete(l.byAddr, dev.session.devAddr)
	}
	dev.session = &lnsSession{devAddr: addr, nwkSKey: nwk, appSKey: app, gateway: u.EUI, haveGateway: true}
	dev.queue = nil
	l.byAddr[addr] = dev
	l.counts.Joins++
	l.joins = appendBounded(l.joins, LNSJoin{DevEUI: jr.DevEUI, JoinEUI: jr.JoinEUI, DevNonce: jr.DevNonce, DevAddr: addr, Gateway: u.EUI, RXPK: u.RXPK}, l.cfg.MaxRecords)
	l.log.Info("lns join", "dev_eui", jr.DevEUI.String(), "dev_addr", addr.String())
	d := l.plan.defaults
	l.goClassALocked(dev.devEUI, true, u, frame, d.JoinAcceptDelay1, d.JoinAcceptDelay2)
	return "", nil
}

// allocAddrLocked returns the next free DevAddr under the NetID's prefix.
func (l *LNS) allocAddrLocked() lorawan.DevAddr {
	for {
		l.nextAddr++
		var a lorawan.DevAddr
		binary.BigEndian.PutUint32(a[:], l.nextAddr)
		a.SetAddrPrefix(l.cfg.NetID)
		if _, taken := l.byAddr[a]; !taken {
			return a
		}
	}
}

func (l *LNS) data(ctx context.Context, u semtech.Uplink, phy *lorawan.PHYPayload, copies int) (RejectReason, error) {
	mac, ok := phy.MACPayload.(*lorawan.MACPayload)
	if !ok {
		return RejectUndecodable, errors.New("data frame without MAC payload")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	dev := l.byAddr[mac.FHDR.DevAddr]
	if dev == nil || dev.session == nil {
		return RejectUnknownDevice, fmt.Errorf("DevAddr %v: %w", mac.FHDR.DevAddr, errUnknownDevice)
	}
	s := dev.session
	onAir := uint16(mac.FHDR.FCnt)
	// The MIC covers the full counter: try the value nearest above the
	// last one's high half, then one rollover later. A MIC-valid frame at
	// or below the last counter is a replay.
	cands := []uint32{uint32(onAir)}
	if s.haveUp {
		c := s.fcntUp&0xffff0000 | uint32(onAir)
		cands = []uint32{c, c + 0x10000}
	}
	var fcnt uint32
	found := false
	for _, c := range cands {
		mac.FHDR.FCnt = c
		if ok, err := phy.ValidateUplinkDataMIC(lorawan.LoRaWAN1_0, 0, 0, 0, s.nwkSKey, s.nwkSKey); err == nil && ok {
			fcnt, found = c, true
			break
		}
	}
	if !found {
		return RejectBadMIC, fmt.Errorf("uplink MIC of %v FCnt %d", s.devAddr, onAir)
	}
	if s.haveUp && fcnt <= s.fcntUp {
		return RejectReplay, fmt.Errorf("FCnt %d of %v, last accepted %d", fcnt, s.devAddr, s.fcntUp)
	}
	if s.haveUp && fcnt-s.fcntUp > maxFCntGap {
		return RejectFCntGap, fmt.Errorf("FCnt %d of %v, last accepted %d", fcnt, s.devAddr, s.fcntUp)
	}
	var payload []byte
	if mac.FPort != nil && len(mac.FRMPayload) == 1 {
		dp, ok := mac.FRMPayload[0].(*lorawan.DataPayload)
		if !ok {
			return RejectUndecodable, errors.New("FRMPayload not raw")
		}
		key := s.appSKey
		if *mac.FPort == 0 {
			key = s.nwkSKey
		}
		var err error
		payload, err = lorawan.EncryptFRMPayload(key, true, s.devAddr, fcnt, dp.Bytes)
		if err != nil {
			return RejectUndecodable, err
		}
	}
	s.fcntUp, s.haveUp = fcnt, true
	s.gateway, s.haveGateway = u.EUI, true
	ack := mac.FHDR.FCtrl.ACK && s.confirmedDown
	if ack {
		s.confirmedDown = false
	}
	confirmed := phy.MHDR.MType == lorawan.ConfirmedDataUp
	rec := LNSUplink{DevEUI: dev.devEUI, DevAddr: s.devAddr, FCnt: fcnt, Payload: payload, Confirmed: confirmed, ACK: ack, Gateway: u.EUI, Copies: copies, RXPK: u.RXPK}
	if mac.FPort != nil {
		p := *mac.FPort
		rec.FPort = &p
	}
	l.counts.Uplinks++
	l.uplinks = appendBounded(l.uplinks, rec, l.cfg.MaxRecords)

	if !confirmed && len(dev.queue) == 0 {
		return "", nil
	}
	var next *Downlink
	if len(dev.queue) > 0 {
		next = &dev.queue[0]
		dev.queue = dev.queue[1:]
	}
	frame, err := l.dataDownLocked(dev, confirmed, next, len(dev.queue) > 0)
	if err != nil {
		return RejectPanic, err
	}
	l.goClassALocked(dev.devEUI, false, u, frame, l.cfg.RX1Delay, l.cfg.RX1Delay+time.Second)
	return "", nil
}

// dataDownLocked builds the next data downlink of dev's session: an ACK
// when ack, carrying d when not nil.
func (l *LNS) dataDownLocked(dev *lnsDevice, ack bool, d *Downlink, pending bool) ([]byte, error) {
	s := dev.session
	mtype := lorawan.UnconfirmedDataDown
	if d != nil && d.Confirmed {
		mtype = lorawan.ConfirmedDataDown
	}
	mac := &lorawan.MACPayload{FHDR: lorawan.FHDR{DevAddr: s.devAddr, FCtrl: lorawan.FCtrl{ACK: ack, FPending: pending}, FCnt: s.fcntDown}}
	if d != nil {
		port := d.FPort
		mac.FPort = &port
		mac.FRMPayload = []lorawan.Payload{&lorawan.DataPayload{Bytes: append([]byte(nil), d.Payload...)}}
	}
	phy := lorawan.PHYPayload{MHDR: lorawan.MHDR{MType: mtype, Major: lorawan.LoRaWANR1}, MACPayload: mac}
	if err := phy.EncryptFRMPayload(s.appSKey); err != nil {
		return nil, fmt.Errorf("downlink: %w", err)
	}
	if err := phy.SetDownlinkDataMIC(lorawan.LoRaWAN1_0, 0, s.nwkSKey); err != nil {
		return nil, fmt.Errorf("downlink: %w", err)
	}
	b, err := phy.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("downlink: %w", err)
	}
	s.fcntDown++
	if d != nil && d.Confirmed {
		s.confirmedDown = true
	}
	return b, nil
}

// Enqueue gives a device application data: a Class A device gets it in
// the receive windows after its next uplink, a Class C device at once
// through the gateway that heard it last (the result lands in
// TxAttempts).
func (l *LNS) Enqueue(devEUI lorawan.EUI64, d Downlink) error {
	if d.FPort == 0 || d.FPort > 223 {
		return fmt.Errorf("enqueue for %v: FPort %d: must be 1–223", devEUI, d.FPort)
	}
	if len(d.Payload) > 222 {
		return fmt.Errorf("enqueue for %v: %d bytes: too long", devEUI, len(d.Payload))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	dev := l.byEUI[devEUI]
	switch {
	case dev == nil:
		return fmt.Errorf("enqueue for %v: %w", devEUI, errUnknownDevice)
	case dev.session == nil:
		return fmt.Errorf("enqueue for %v: %w", devEUI, ErrNoSession)
	case dev.class == ClassA:
		if len(dev.queue) >= maxQueued {
			return fmt.Errorf("enqueue for %v: %d downlinks queued", devEUI, maxQueued)
		}
		dev.queue = append(dev.queue, d)
		return nil
	case !dev.session.haveGateway:
		return fmt.Errorf("enqueue for %v: %w", devEUI, ErrNoGateway)
	}
	frame, err := l.dataDownLocked(dev, false, &d, false)
	if err != nil {
		return fmt.Errorf("enqueue for %v: %w", devEUI, err)
	}
	rx2 := l.plan.rx2
	txpk := semtech.TXPK{Imme: true, Freq: rx2.Freq, Powe: l.plan.txPowerFn(rx2.Freq), Modu: "LORA", DatR: semtech.DatRFor(rx2.DR), CodR: "4/5", IPol: true, Data: frame}
	gw := dev.session.gateway
	return l.goLocked(devEUI, false, WindowImmediate, gw, txpk, func(ctx context.Context) {
		l.transmit(ctx, devEUI, false, WindowImmediate, gw, txpk)
	})
}

// goClassALocked sends frame in the RX1 window (d1 after the uplink's
// tmst) and, if the gateway refuses it for timing or a collision, in RX2
// (d2 after).
func (l *LNS) goClassALocked(devEUI lorawan.EUI64, join bool, u semtech.Uplink, frame []byte, d1, d2 time.Duration) {
	w1, err := l.plan.rx1(u.RXPK.Freq, u.DataRate, 0)
	rx1 := semtech.TXPK{Tmst: u.RXPK.Tmst + uint32(d1/time.Microsecond), Freq: w1.Freq, Powe: l.plan.txPowerFn(w1.Freq), Modu: "LORA", DatR: semtech.DatRFor(w1.DR), CodR: "4/5", IPol: true, Data: frame}
	w2 := l.plan.rx2
	rx2 := semtech.TXPK{Tmst: u.RXPK.Tmst + uint32(d2/time.Microsecond), Freq: w2.Freq, Powe: l.plan.txPowerFn(w2.Freq), Modu: "LORA", DatR: semtech.DatRFor(w2.DR), CodR: "4/5", IPol: true, Data: frame}
	_ = l.goLocked(devEUI, join, WindowRX1, u.EUI, rx1, func(ctx context.Context) {
		if err == nil {
			res, sendErr := l.transmit(ctx, devEUI, join, WindowRX1, u.EUI, rx1)
			if sendErr != nil || !res.Status.Error.Retryable() {
				return
			}
		}
		// An uplink data rate without an RX1 mapping goes straight to RX2.
		l.transmit(ctx, devEUI, join, WindowRX2, u.EUI, rx2)
	})
}

// goLocked runs a downlink on its own goroutine, owned by Run, within the
// MaxDownlinks bound; when it cannot, it records why.
func (l *LNS) goLocked(devEUI lorawan.EUI64, join bool, w Window, gw semtech.EUI, txpk semtech.TXPK, f func(context.Context)) error {
	if !l.running {
		l.recordLocked(TxAttempt{DevEUI: devEUI, JoinReply: join, Window: w, Gateway: gw, TXPK: txpk, Err: ErrLNSNotRunning})
		return ErrLNSNotRunning
	}
	select {
	case l.sem <- struct{}{}:
	default:
		l.recordLocked(TxAttempt{DevEUI: devEUI, JoinReply: join, Window: w, Gateway: gw, TXPK: txpk, Err: ErrTooManyDownlinks})
		return ErrTooManyDownlinks
	}
	ctx := l.ctx
	l.downlinks.Go(func() {
		defer func() { <-l.sem }()
		f(ctx)
	})
	return nil
}

// transmit sends one PULL_RESP and records the TX_ACK.
func (l *LNS) transmit(ctx context.Context, devEUI lorawan.EUI64, join bool, w Window, gw semtech.EUI, txpk semtech.TXPK) (semtech.TxResult, error) {
	res, err := l.srv.Send(ctx, gw, txpk)
	a := TxAttempt{DevEUI: devEUI, JoinReply: join, Window: w, Gateway: gw, TXPK: txpk, Status: res.Status, Acked: res.Acked, Err: err}
	l.mu.Lock()
	l.recordLocked(a)
	l.mu.Unlock()
	l.log.Debug("lns downlink", "dev_eui", devEUI.String(), "window", string(w), "status", res.Status.String(), "err", err)
	return res, err
}

func (l *LNS) recordLocked(a TxAttempt) {
	l.attempts = appendBounded(l.attempts, a, l.cfg.MaxRecords)
	l.counts.TxResults[txResult(a)]++
}

// txResult is the bounded label of an attempt's outcome.
func txResult(a TxAttempt) string {
	switch {
	case errors.Is(a.Err, semtech.ErrTxAckTimeout):
		return "timeout"
	case a.Err != nil:
		return "not_sent"
	case !a.Acked:
		return "unacked"
	case a.Status.Accepted() && a.Status.Warn == semtech.TxPower:
		return string(semtech.TxPower)
	case a.Status.Accepted():
		return "OK"
	}
	switch e := a.Status.Error; e {
	case semtech.TxTooLate, semtech.TxTooEarly, semtech.TxCollisionPacket, semtech.TxCollisionBeacon, semtech.TxFreq, semtech.TxPower, semtech.TxGPSUnlocked:
		return string(e)
	}
	return "other"
}

// Stats returns the counters so far.
func (l *LNS) Stats() LNSStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.counts
	s.TxResults = make(map[string]uint64, len(l.counts.TxResults))
	for k, v := range l.counts.TxResults {
		s.TxResults[k] = v
	}
	return s
}

func (l *LNS) reject(reason RejectReason, gw semtech.EUI, frame []byte, err error) {
	r := LNSRejection{Reason: reason, Gateway: gw, Frame: append([]byte(nil), frame...)}
	if err != nil {
		r.Err = err.Error()
	}
	l.mu.Lock()
	l.rejected[reason]++
	l.rejections = appendBounded(l.rejections, r, l.cfg.MaxRecords)
	l.mu.Unlock()
	l.log.Debug("lns frame refused", "reason", string(reason), "eui", gw.String(), "err", err)
}

// appendBounded appends v to a list of at most limit entries: when it is
// full, the older half is forgotten at once, so appending stays O(1)
// amortised.
func appendBounded[T any](s []T, v T, limit int) []T {
	if len(s) >= limit {
		var zero T
		n := copy(s, s[len(s)-limit/2:])
		for i := n; i < len(s); i++ {
			s[i] = zero // let forgotten entries be collected
		}
		s = s[:n]
	}
	return append(s, v)
}

// Uplinks returns the data uplinks accepted so far, oldest first.
func (l *LNS) Uplinks() []LNSUplink {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]LNSUplink(nil), l.uplinks...)
}

// Joins returns the joins accepted so far, oldest first.
func (l *LNS) Joins() []LNSJoin {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]LNSJoin(nil), l.joins...)
}

// Rejections returns the refused frames, oldest first.
func (l *LNS) Rejections() []LNSRejection {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]LNSRejection(nil), l.rejections...)
}

// Rejected returns how many frames were refused for reason.
func (l *LNS) Rejected(reason RejectReason) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rejected[reason]
}

// TxAttempts returns every PULL_RESP sent (or not sent, with Err) and its
// TX_ACK, oldest first.
func (l *LNS) TxAttempts() []TxAttempt {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]TxAttempt(nil), l.attempts...)
}

// TxAcks returns the TX_ACKs received, oldest first: the attempts that
// got one.
func (l *LNS) TxAcks() []TxAttempt {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []TxAttempt
	for _, a := range l.attempts {
		if a.Err == nil && a.Acked {
			out = append(out, a)
		}
	}
	return out
}

// Session is what the LNS knows of a device's session.
type Session struct {
	DevAddr          lorawan.DevAddr
	NwkSKey, AppSKey lorawan.AES128Key
	// FCntUp is the last accepted uplink counter (valid when HaveUp).
	FCntUp uint32
	HaveUp bool
	// FCntDown is the next downlink counter.
	FCntDown uint32
}

// Session returns a device's current session.
func (l *LNS) Session(devEUI lorawan.EUI64) (Session, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	dev := l.byEUI[devEUI]
	if dev == nil || dev.session == nil {
		return Session{}, false
	}
	s := dev.session
	return Session{DevAddr: s.devAddr, NwkSKey: s.nwkSKey, AppSKey: s.appSKey, FCntUp: s.fcntUp, HaveUp: s.haveUp, FCntDown: s.fcntDown}, true
}

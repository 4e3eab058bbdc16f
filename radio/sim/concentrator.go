package sim

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/radio/semtech"
)

// Timing limits of the reference forwarder's JIT queue (sx1302_hal
// jitqueue.c), spec §5.
const (
	txStartDelay   = 1500 * time.Microsecond // TX_START_DELAY
	txMarginDelay  = 1000 * time.Microsecond // TX_MARGIN_DELAY
	txJitDelay     = 40 * time.Millisecond   // TX_JIT_DELAY
	txMaxAdvance   = 4 * 128 * time.Second   // (JIT_NUM_BEACON_IN_QUEUE + 1) × 128 s
	jitQueueLength = 32                      // JIT_QUEUE_MAX
	// txPreDelay is how long before its start a downlink occupies the
	// queue (TX_START_DELAY + TX_JIT_DELAY): frames closer than that
	// after another's end collide.
	txPreDelay = txStartDelay + txJitDelay
)

// gpsEpoch is the origin of tmms; GPS time runs gpsLeap ahead of UTC.
func gpsEpoch() time.Time { return time.Date(1980, 1, 6, 0, 0, 0, 0, time.UTC) }

const gpsLeap = 18 * time.Second

// ConcentratorConfig configures a [Concentrator]. The zero value is an
// EU868 gateway without GPS whose EUI is derived from its radio's name.
type ConcentratorConfig struct {
	// EUI is the gateway EUI in every datagram. Default: 8 bytes of a
	// SHA-256 of the radio's name, so two concentrators sharing one radio
	// (a splitter) need explicit EUIs.
	EUI semtech.EUI
	// Region names the channel plan: it supplies the receive channels and
	// the transmit band unless they are set below. Default "EU868".
	Region string
	// Channels are the receive channels; frames on other frequencies are
	// not demodulated. "chan" in rxpk is the index in this list. Default:
	// the region's channels.
	Channels []radio.Hz
	// TxFreqMin and TxFreqMax are the transmit range of the RF chain
	// (tx_freq_min/max); requests outside it get TX_FREQ. Default: the
	// region's band edges.
	TxFreqMin, TxFreqMax radio.Hz
	// TxPowers is the power table (tx_lut) in conducted dBm. A request
	// uses the highest entry not above it (the lowest entry when all are
	// above) and, when that differs from the request, the TX_ACK carries a
	// TX_POWER warning with the power used. Default: every integer from 0
	// to 30 dBm, an ideal board; real SX1302 boards have e.g. 12–27.
	TxPowers []int
	// AntennaGain is the forwarder's antenna_gain setting, subtracted from
	// the requested powe before the table lookup. Default 0.
	AntennaGain int
	// GPS gives the forwarder a GPS fix: rxpk carry time and tmms, stat
	// carries the radio's position, and tmms downlinks are accepted (else
	// they get GPS_UNLOCKED). Default false.
	GPS bool
	// MinLead is how far ahead of its transmit time a downlink must arrive
	// (TX_START_DELAY + TX_MARGIN_DELAY + TX_JIT_DELAY); less gets
	// TOO_LATE. Default 42.5 ms.
	MinLead time.Duration
	// MaxLead is the furthest ahead a downlink may be scheduled; more gets
	// TOO_EARLY. Default 512 s.
	MaxLead time.Duration
	// QueueSize is the JIT queue length; a full queue answers
	// COLLISION_PACKET. Default 32.
	QueueSize int
	// KeepaliveInterval is the PULL_DATA period. Default 10 s.
	KeepaliveInterval time.Duration
	// StatInterval is the period of stat objects. Default 30 s; negative
	// sends none.
	StatInterval time.Duration
	// PushTimeout is how long to wait for each PUSH_ACK. Default 100 ms.
	PushTimeout time.Duration
	// MaxRxpk is the most rxpk in one PUSH_DATA (NB_PKT_MAX). Default 8.
	MaxRxpk int
	// RxQueue is how many received frames wait for the uplink thread
	// before new ones are dropped. Default 256.
	RxQueue int
	// Version is the protocol version, 1 or 2. Default 2.
	Version uint8
}

func (c *ConcentratorConfig) fillDefaults(radioName string) error {
	if c.EUI == (semtech.EUI{}) {
		h := sha256.Sum256([]byte("hexfield-sim-eui\x00" + radioName))
		copy(c.EUI[:], h[:8])
	}
	if c.Region == "" {
		c.Region = "EU868"
	}
	reg, err := radio.LookupRegion(c.Region)
	if err != nil {
		return err
	}
	if len(c.Channels) == 0 {
		c.Channels = reg.Channels
	}
	if c.TxFreqMin == 0 {
		c.TxFreqMin = reg.MinFrequency
	}
	if c.TxFreqMax == 0 {
		c.TxFreqMax = reg.MaxFrequency
	}
	if len(c.TxPowers) == 0 {
		for p := 0; p <= 30; p++ {
			c.TxPowers = append(c.TxPowers, p)
		}
	}
	c.TxPowers = slices.Clone(c.TxPowers)
	slices.Sort(c.TxPowers)
	if c.MinLead == 0 {
		c.MinLead = txStartDelay + txMarginDelay + txJitDelay
	}
	if c.MaxLead == 0 {
		c.MaxLead = txMaxAdvance
	}
	if c.QueueSize == 0 {
		c.QueueSize = jitQueueLength
	}
	if c.KeepaliveInterval == 0 {
		c.KeepaliveInterval = 10 * time.Second
	}
	if c.StatInterval == 0 {
		c.StatInterval = 30 * time.Second
	}
	if c.PushTimeout == 0 {
		c.PushTimeout = 100 * time.Millisecond
	}
	if c.MaxRxpk == 0 {
		c.MaxRxpk = 8
	}
	if c.RxQueue == 0 {
		c.RxQueue = 256
	}
	if c.Version == 0 {
		c.Version = semtech.Version2
	}
	return nil
}

// Validate checks the configuration after defaults are filled in.
func (c ConcentratorConfig) Validate() error {
	switch {
	case c.TxFreqMin > c.TxFreqMax:
		return fmt.Errorf("tx frequency range %d–%d Hz is empty", c.TxFreqMin, c.TxFreqMax)
	case c.TxPowers[0] < -30 || c.TxPowers[len(c.TxPowers)-1] > 60:
		return fmt.Errorf("tx power table %v: entries must be in [-30, 60] dBm", c.TxPowers)
	case c.MinLead < 0 || c.MaxLead < c.MinLead:
		return fmt.Errorf("lead window %v–%v is empty", c.MinLead, c.MaxLead)
	case c.QueueSize < 1, c.MaxRxpk < 1, c.RxQueue < 1:
		return errors.New("queue sizes must be positive")
	case c.KeepaliveInterval < 0 || c.PushTimeout < 0:
		return errors.New("negative interval or timeout")
	case c.Version != semtech.Version1 && c.Version != semtech.Version2:
		return fmt.Errorf("protocol version %d: must be 1 or 2", c.Version)
	}
	for _, f := range c.Channels {
		if f == 0 {
			return errors.New("receive channel 0 Hz")
		}
	}
	return nil
}

// Faults are misbehaviours tests switch on with SetFaults.
type Faults struct {
	// TxAckError answers every PULL_RESP with this error (e.g.
	// semtech.TxTooLate) and transmits nothing. Empty means behave.
	TxAckError semtech.TxError
	// DropTxAcks sends no TX_ACK at all (the frame is still transmitted),
	// like a lost datagram or a version 1 forwarder.
	DropTxAcks bool
	// DropPushAcks discards PUSH_ACKs on arrival, so every PUSH_DATA times
	// out and ackr falls to 0.
	DropPushAcks bool
	// GarbageEvery sends a garbage datagram to the server after every n-th
	// PUSH_DATA. 0 never does.
	GarbageEvery int
}

// ConcentratorStats counts what a concentrator did, for tests.
type ConcentratorStats struct {
	Received    uint64 // frames demodulated on its channels (rxnb)
	Forwarded   uint64 // rxpk sent upstream (rxfw)
	RxDropped   uint64 // frames lost because the uplink queue was full
	Pushes      uint64 // PUSH_DATA sent
	PushAcked   uint64 // PUSH_DATA acknowledged
	Stats       uint64 // stat objects sent
	Downlinks   uint64 // PULL_RESP with a usable txpk (dwnb)
	Rejected    uint64 // downlinks answered with a TX_ACK error
	NoAck       uint64 // downlinks dropped without TX_ACK (unusable txpk)
	Scheduled   uint64 // downlinks accepted into the JIT queue
	Emitted     uint64 // frames put on the air (txnb)
	Garbage     uint64 // garbage datagrams sent
	LastTxAck   semtech.TxStatus
	LastTxPower int // conducted power of the last accepted downlink, dBm
}

// Concentrator is a virtual LoRa gateway: a radio on the medium plus a
// packet forwarder speaking GWMP to a server, as lora_pkt_fwd does. It
// uses two sockets, up (PUSH_DATA) and down (PULL_DATA, PULL_RESP,
// TX_ACK), which it closes when Run returns.
type Concentrator struct {
	cfg    ConcentratorConfig
	radio  *Radio
	clock  Clock
	log    *slog.Logger
	client *semtech.Client
	up     *faultConn
	down   *faultConn
	server net.Addr
	rxq    chan Reception

	mu          sync.Mutex
	running     bool
	faults      Faults
	suppressAck bool // drop the next TX_ACK: the txpk was unusable
	jit         []*queued
	stats       ConcentratorStats
	period      ConcentratorStats // counters since the last stat object
	rng         *rand.Rand
}

// queued is a downlink in the JIT queue.
type queued struct {
	start, end time.Time
	timer      Timer
}

// NewConcentrator returns a concentrator for r that will talk to server
// from up and down (down nil shares up). logger nil discards; reg
// receives the GWMP client's metrics (nil skips them).
func NewConcentrator(cfg ConcentratorConfig, r *Radio, up, down net.PacketConn, server net.Addr, logger *slog.Logger, reg prometheus.Registerer) (*Concentrator, error) {
	if r == nil {
		return nil, errors.New("new concentrator: nil radio")
	}
	if err := cfg.fillDefaults(r.Name()); err != nil {
		return nil, fmt.Errorf("new concentrator %s: %w", r.Name(), err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new concentrator %s: %w", r.Name(), err)
	}
	if up == nil || server == nil {
		return nil, fmt.Errorf("new concentrator %s: nil socket or server address", r.Name())
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Concentrator{
		cfg:    cfg,
		radio:  r,
		clock:  r.Medium().Clock(),
		log:    logger.With("eui", cfg.EUI.String()),
		server: server,
		rxq:    make(chan Reception, cfg.RxQueue),
		rng:    rand.New(rand.NewPCG(r.nameHash, 0x67617262616765)),
	}
	c.up = &faultConn{PacketConn: up, c: c}
	c.down = c.up
	if down != nil && down != up {
		c.down = &faultConn{PacketConn: down, c: c}
	}
	client, err := semtech.NewClient(semtech.ClientConfig{
		EUI:               cfg.EUI,
		Version:           cfg.Version,
		KeepaliveInterval: cfg.KeepaliveInterval,
		PushTimeout:       cfg.PushTimeout,
		Handler:           downlinkHandler{c},
		// Stat objects come from the concentrator, which knows the radio's
		// counters; the client sends none of its own.
		StatInterval: 0,
		Now:          c.clock.Now,
	}, c.up, c.down, server, logger, reg)
	if err != nil {
		return nil, fmt.Errorf("new concentrator %s: %w", r.Name(), err)
	}
	c.client = client
	return c, nil
}

// EUI returns the gateway EUI.
func (c *Concentrator) EUI() semtech.EUI { return c.cfg.EUI }

// Radio returns the concentrator's radio.
func (c *Concentrator) Radio() *Radio { return c.radio }

// Config returns the configuration with defaults filled in.
func (c *Concentrator) Config() ConcentratorConfig { return c.cfg }

// Stats returns the counters so far.
func (c *Concentrator) Stats() ConcentratorStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// SetFaults switches misbehaviours on or off; it takes effect at once.
func (c *Concentrator) SetFaults(f Faults) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = f
}

// Run listens on the radio, forwards receptions and status upstream,
// keeps the downlink path open and transmits downlinks until ctx is
// cancelled (it then returns nil) or a socket fails. It closes the
// sockets and cancels downlinks not yet on the air before returning.
func (c *Concentrator) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return errors.New("concentrator: already running")
	}
	c.running = true
	c.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopListen := c.radio.Listen(c.receive)
	defer stopListen()
	defer c.cancelQueue()

	errs := make(chan error, 2)
	var wg sync.WaitGroup
	wg.Go(func() { errs <- c.client.Run(ctx) })
	wg.Go(func() { errs <- c.uplinks(ctx) })
	var first error
	select {
	case <-ctx.Done():
	case first = <-errs:
	}
	cancel()
	wg.Wait()
	if first != nil {
		return fmt.Errorf("concentrator %s: %w", c.cfg.EUI, first)
	}
	return nil
}

// receive is the radio listener: frames on the concentrator's channels go
// to the uplink queue, as the SX1302 FIFO does.
func (c *Concentrator) receive(rec Reception) {
	if !slices.Contains(c.cfg.Channels, rec.Frequency) {
		return
	}
	c.mu.Lock()
	c.stats.Received++
	c.period.Received++
	c.mu.Unlock()
	select {
	case c.rxq <- rec:
	default:
		c.mu.Lock()
		c.stats.RxDropped++
		c.mu.Unlock()
	}
}

// uplinks is the forwarder's upstream thread: it sends queued receptions
// (up to MaxRxpk per PUSH_DATA) and a stat object every StatInterval,
// waiting for each PUSH_ACK.
func (c *Concentrator) uplinks(ctx context.Context) error {
	statDue := make(chan struct{}, 1)
	var statTimer Timer
	arm := func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		statTimer = c.clock.AfterFunc(c.cfg.StatInterval, func() {
			select {
			case statDue <- struct{}{}:
			default:
			}
		})
	}
	if c.cfg.StatInterval > 0 {
		arm()
		defer func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if statTimer != nil {
				statTimer.Stop()
			}
		}()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-statDue:
			arm()
			if err := c.push(ctx, nil, c.stat()); err != nil {
				return err
			}
		case rec := <-c.rxq:
			batch := []semtech.RXPK{c.rxpk(rec)}
		drain:
			for len(batch) < c.cfg.MaxRxpk {
				select {
				case rec := <-c.rxq:
					batch = append(batch, c.rxpk(rec))
				default:
					break drain
				}
			}
			if err := c.push(ctx, batch, nil); err != nil {
				return err
			}
		}
	}
}

// push sends one PUSH_DATA and, with the GarbageEvery fault, garbage.
func (c *Concentrator) push(ctx context.Context, rxpk []semtech.RXPK, stat *semtech.Stat) error {
	err := c.client.Push(ctx, rxpk, stat)
	c.mu.Lock()
	c.stats.Pushes++
	c.period.Pushes++
	if err == nil {
		c.stats.PushAcked++
		c.period.PushAcked++
	}
	if errors.Is(err, semtech.ErrNoPushAck) || err == nil {
		c.stats.Forwarded += uint64(len(rxpk))
		c.period.Forwarded += uint64(len(rxpk))
		if stat != nil {
			c.stats.Stats++
		}
	}
	n := c.faults.GarbageEvery
	garbage := n > 0 && c.stats.Pushes%uint64(n) == 0
	c.mu.Unlock()
	if garbage {
		if gerr := c.SendGarbage(nil); gerr != nil && ctx.Err() == nil {
			return gerr
		}
	}
	switch {
	case err == nil, errors.Is(err, semtech.ErrNoPushAck):
		return nil // no retransmission in GWMP: a lost ack only lowers ackr
	case ctx.Err() != nil:
		return nil
	}
	return err
}

// rxpk describes a reception as an SX1302 forwarder reports it: integer
// RSSI and RSSIS, SNR to 0.1 dB.
func (c *Concentrator) rxpk(rec Reception) semtech.RXPK {
	rssis := radio.DBm(math.Round(float64(rec.RSSIS)))
	p := semtech.RXPK{
		Tmst:  rec.Tmst,
		Freq:  rec.Frequency,
		Chan:  slices.Index(c.cfg.Channels, rec.Frequency),
		RFCh:  0,
		Stat:  1,
		Modu:  "LORA",
		DatR:  semtech.DatRFor(rec.DataRate),
		CodR:  "4/5",
		RSSI:  radio.DBm(math.Round(float64(rec.RSSI))),
		RSSIS: &rssis,
		LSNR:  radio.DB(math.Round(float64(rec.SNR)*10) / 10),
		Data:  rec.Payload,
	}
	if c.cfg.GPS {
		p.Time = rec.End.UTC()
		tmms := uint64(rec.End.Add(gpsLeap).Sub(gpsEpoch()) / time.Millisecond)
		p.Tmms = &tmms
	}
	return p
}

// stat is the status object for the period since the last one.
func (c *Concentrator) stat() *semtech.Stat {
	now := c.clock.Now()
	c.mu.Lock()
	p := c.period
	c.period = ConcentratorStats{}
	c.mu.Unlock()
	s := &semtech.Stat{
		Time: now.UTC(),
		RXNb: uint32(p.Received),
		RXOk: uint32(p.Received),
		RXFw: uint32(p.Forwarded),
		DWNb: uint32(p.Downlinks),
		TXNb: uint32(p.Emitted),
	}
	if p.Pushes > 0 {
		s.ACKR = 100 * float64(p.PushAcked) / float64(p.Pushes)
	}
	if c.cfg.GPS {
		lat, lng, elev := c.radio.Position()
		alti := int(math.Round(float64(elev)))
		s.Lati, s.Long, s.Alti = &lat, &lng, &alti
	}
	return s
}

// SendGarbage sends b to the server from the up socket; nil sends the
// next of a fixed cycle of malformed datagrams (random bytes, a truncated
// header, a bad version, a PUSH_DATA with broken JSON, an oversized
// PULL_DATA, an rxpk with a bad data rate).
func (c *Concentrator) SendGarbage(b []byte) error {
	c.mu.Lock()
	if b == nil {
		b = c.garbageLocked()
	}
	c.stats.Garbage++
	c.mu.Unlock()
	if _, err := c.up.WriteTo(b, c.server); err != nil {
		return fmt.Errorf("send garbage: %w", err)
	}
	return nil
}

func (c *Concentrator) garbageLocked() []byte {
	eui := c.cfg.EUI
	hdr := func(v byte, typ semtech.MessageType) []byte {
		b := []byte{v, byte(c.rng.Uint32()), byte(c.rng.Uint32()), byte(typ)}
		return append(b, eui[:]...)
	}
	switch c.stats.Garbage % 6 {
	case 0:
		b := make([]byte, 1+c.rng.IntN(64))
		for i := range b {
			b[i] = byte(c.rng.Uint32())
		}
		return b
	case 1:
		return []byte{2, 0x12}
	case 2:
		return hdr(9, semtech.TypePullData)
	case 3:
		return append(hdr(2, semtech.TypePushData), `{"rxpk":[{"tmst":1,"freq":`...)
	case 4:
		return append(hdr(2, semtech.TypePullData), 0xde, 0xad)
	default:
		return append(hdr(2, semtech.TypePushData), `{"rxpk":[{"tmst":1,"freq":868.1,"stat":1,"modu":"LORA","datr":"SF99BW9","codr":"4/5","rssi":-50,"lsnr":5,"size":1,"data":"AA=="}]}`...)
	}
}

// downlinkHandler adapts the concentrator to semtech.DownlinkHandler
// without exporting the method.
type downlinkHandler struct{ c *Concentrator }

func (h downlinkHandler) HandleDownlink(_ context.Context, p semtech.TXPK) semtech.TxStatus {
	return h.c.downlink(p)
}

// downlink checks a txpk in the order lora_pkt_fwd does (format, RF chain
// and frequency, power table, then the JIT queue's timing and collision
// rules), queues it and returns the TX_ACK status. An immediate frame goes
// into the first free slot from now + 80 ms (sx1302_hal), so it is never
// refused for timing; a timestamped one that overlaps a queued frame gets
// COLLISION_PACKET.
func (c *Concentrator) downlink(p semtech.TXPK) semtech.TxStatus {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.Downlinks++
	c.period.Downlinks++
	reject := func(e semtech.TxError) semtech.TxStatus {
		c.stats.Rejected++
		s := semtech.TxStatusError(e)
		c.stats.LastTxAck = s
		c.log.Debug("downlink rejected", "reason", string(e), "freq_hz", uint64(p.Freq))
		return s
	}
	if c.faults.TxAckError != "" {
		return reject(c.faults.TxAckError)
	}
	// Format errors: the forwarder logs "TX aborted" and sends no TX_ACK.
	dr, err := p.DatR.DataRate()
	if p.Modu != "LORA" || err != nil || !validCodR(p.CodR) || len(p.Data) == 0 || len(p.Data) > semtech.MaxPayloadSize {
		c.stats.NoAck++
		c.suppressAck = true // the client writes the TX_ACK right after we return
		c.log.Debug("downlink dropped without TX_ACK", "modu", p.Modu, "datr", p.DatR.String(), "codr", p.CodR)
		return semtech.TxStatus{}
	}
	if p.RFCh != 0 || p.Freq < c.cfg.TxFreqMin || p.Freq > c.cfg.TxFreqMax {
		return reject(semtech.TxFreq)
	}
	power, warn := c.lookupPower(p.Powe - c.cfg.AntennaGain)

	var start time.Time
	switch {
	case p.Imme:
		// Placed later, in the first free slot.
	case p.Tmms != nil:
		if !c.cfg.GPS {
			return reject(semtech.TxGPSUnlocked)
		}
		if *p.Tmms > uint64(math.MaxInt64/int64(time.Millisecond)) {
			return reject(semtech.TxTooEarly) // centuries ahead
		}
		start = gpsEpoch().Add(time.Duration(*p.Tmms)*time.Millisecond - gpsLeap)
	default:
		// The counter value nearest to now: a tmst up to 2^31 µs (35 min)
		// in the past is TOO_LATE. (sx1302_hal's unsigned arithmetic calls
		// one more than 1 s in the past TOO_EARLY; the server's remedy,
		// the next window, is the same.)
		start = c.radio.CounterTime(p.Tmst, now)
	}
	if !p.Imme {
		switch lead := start.Sub(now); {
		case lead < c.cfg.MinLead:
			return reject(semtech.TxTooLate)
		case lead > c.cfg.MaxLead:
			return reject(semtech.TxTooEarly)
		}
	}
	airtime := radio.Airtime(dr, len(p.Data))

	c.jit = slices.DeleteFunc(c.jit, func(q *queued) bool { return !q.end.After(now) })
	if len(c.jit) >= c.cfg.QueueSize {
		return reject(semtech.TxCollisionPacket)
	}
	if p.Imme {
		start = c.asapLocked(now, airtime)
	} else if c.collidesLocked(start, start.Add(airtime)) {
		return reject(semtech.TxCollisionPacket)
	}
	end := start.Add(airtime)
	tx := Transmission{
		Frequency: p.Freq,
		DataRate:  dr,
		Power:     radio.DBm(power),
		InvertIQ:  p.IPol,
		Payload:   slices.Clone(p.Data),
		At:        start,
	}
	q := &queued{start: start, end: end}
	q.timer = c.clock.AfterFunc(start.Sub(now), func() { c.emit(q, tx) })
	c.jit = append(c.jit, q)
	c.stats.Scheduled++
	c.stats.LastTxPower = power
	status := semtech.TxStatus{}
	if warn {
		status = semtech.TxPowerWarning(power)
	}
	c.stats.LastTxAck = status
	return status
}

// collidesLocked applies the JIT queue's overlap rule: a frame needs
// TX_START_DELAY + TX_JIT_DELAY + TX_MARGIN_DELAY after the end of the
// previous one to be programmed into the radio.
func (c *Concentrator) collidesLocked(start, end time.Time) bool {
	for _, q := range c.jit {
		if !start.Before(q.start) && !start.After(q.end.Add(txPreDelay+txMarginDelay)) {
			return true
		}
		if !q.start.Before(start) && !q.start.After(end.Add(txPreDelay+txMarginDelay)) {
			return true
		}
	}
	return false
}

// asapLocked finds the start of an immediate frame as the JIT queue does:
// now + 2·TX_JIT_DELAY when that slot is free, else right after the
// earliest queued frame that leaves room.
func (c *Concentrator) asapLocked(now time.Time, airtime time.Duration) time.Time {
	start := now.Add(max(2*txJitDelay, c.cfg.MinLead))
	if !c.collidesLocked(start, start.Add(airtime)) {
		return start
	}
	byStart := slices.Clone(c.jit)
	slices.SortFunc(byStart, func(a, b *queued) int { return a.start.Compare(b.start) })
	for _, q := range byStart {
		cand := q.end.Add(txPreDelay + txJitDelay + txMarginDelay)
		if !cand.Before(start) && !c.collidesLocked(cand, cand.Add(airtime)) {
			return cand
		}
	}
	last := byStart[len(byStart)-1]
	return last.end.Add(txPreDelay + txJitDelay + txMarginDelay)
}

// emit puts a queued downlink on the air at its start time.
func (c *Concentrator) emit(q *queued, tx Transmission) {
	c.mu.Lock()
	if !slices.Contains(c.jit, q) {
		c.mu.Unlock()
		return // cancelled
	}
	c.mu.Unlock()
	if _, err := c.radio.Transmit(tx); err != nil {
		c.log.Warn("downlink not transmitted", "err", err, "freq_hz", uint64(tx.Frequency))
		return
	}
	c.mu.Lock()
	c.stats.Emitted++
	c.period.Emitted++
	c.mu.Unlock()
}

// cancelQueue drops downlinks not yet on the air (the forwarder stopped).
func (c *Concentrator) cancelQueue() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, q := range c.jit {
		q.timer.Stop()
	}
	c.jit = nil
}

// lookupPower picks the table entry for a requested conducted power and
// reports whether it differs from the request.
func (c *Concentrator) lookupPower(want int) (int, bool) {
	used := c.cfg.TxPowers[0]
	for _, p := range c.cfg.TxPowers {
		if p <= want {
			used = p
		}
	}
	return used, used != want
}

func validCodR(s string) bool {
	switch s {
	case "4/5", "4/6", "4/7", "4/8", "2/3", "1/2":
		return true
	}
	return false
}

// faultConn is a concentrator socket with the fault knobs applied: it
// drops PUSH_ACKs on the way in and TX_ACKs on the way out when asked.
type faultConn struct {
	net.PacketConn
	c *Concentrator
}

func (f *faultConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := f.PacketConn.ReadFrom(b)
		if err == nil && n == 4 && semtech.MessageType(b[3]) == semtech.TypePushAck {
			f.c.mu.Lock()
			drop := f.c.faults.DropPushAcks
			f.c.mu.Unlock()
			if drop {
				continue
			}
		}
		return n, addr, err
	}
}

func (f *faultConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if len(b) >= 12 && semtech.MessageType(b[3]) == semtech.TypeTxAck {
		f.c.mu.Lock()
		drop := f.c.suppressAck || f.c.faults.DropTxAcks
		f.c.suppressAck = false
		f.c.mu.Unlock()
		if drop {
			return len(b), nil
		}
	}
	return f.PacketConn.WriteTo(b, addr)
}

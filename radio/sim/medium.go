package sim

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/hexfield/hexfield/radio"
)

// MediumConfig configures a [Medium]. The zero value is a suburban medium
// on the real clock.
type MediumConfig struct {
	// Clock is the time source for airtime, delivery and counters.
	// Default RealClock{}.
	Clock Clock
	// Seed selects the shadowing and fading realisation: the same seed,
	// radios and transmissions give the same receptions. Default 0.
	Seed uint64
	// PathLossExponent is n in the log-distance model
	// L(d) = FSPL(d0) + 10·n·log10(d/d0). Free space is 2, suburban 2.7–3.5,
	// dense urban up to 4. Default 3.0.
	PathLossExponent float64
	// ReferenceDistance is d0, the distance up to which loss is free space.
	// Default 1 m.
	ReferenceDistance radio.Meters
	// ShadowingSigma is the standard deviation of the log-normal shadowing
	// term, drawn once per link pair (symmetric) from Seed and the two radio
	// names and clipped to ±3σ. Default 6 dB; a negative value disables it.
	ShadowingSigma radio.DB
	// FadingSigma is the standard deviation of a per-packet, per-receiver
	// fading term (clipped to ±3σ), which gives two receivers of the same
	// frames a realistic, non-constant signal difference. Default 2 dB; a
	// negative value disables it.
	FadingSigma radio.DB
	// CaptureMargin is how much stronger a frame must be than every
	// overlapping frame on the same channel and spreading factor to survive
	// the collision. Default 6 dB.
	CaptureMargin radio.DB
	// MaxTxPower is the highest conducted power a transmission may use. It
	// bounds the link budget, so links that could never close are pruned
	// once instead of being evaluated for every frame. Default 30 dBm.
	MaxTxPower radio.DBm
}

func (c *MediumConfig) fillDefaults() {
	if c.Clock == nil {
		c.Clock = RealClock{}
	}
	if c.PathLossExponent == 0 {
		c.PathLossExponent = 3.0
	}
	if c.ReferenceDistance == 0 {
		c.ReferenceDistance = 1
	}
	if c.ShadowingSigma == 0 {
		c.ShadowingSigma = 6
	}
	if c.ShadowingSigma < 0 {
		c.ShadowingSigma = 0
	}
	if c.FadingSigma == 0 {
		c.FadingSigma = 2
	}
	if c.FadingSigma < 0 {
		c.FadingSigma = 0
	}
	if c.CaptureMargin == 0 {
		c.CaptureMargin = 6
	}
	if c.MaxTxPower == 0 {
		c.MaxTxPower = 30
	}
}

// Validate reports a configuration that cannot describe a medium. It is
// called by NewMedium after defaults are filled in.
func (c MediumConfig) Validate() error {
	finite := func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
	switch {
	case !finite(c.PathLossExponent) || c.PathLossExponent < 1 || c.PathLossExponent > 8:
		return fmt.Errorf("path loss exponent %v: must be in [1, 8]", c.PathLossExponent)
	case !finite(float64(c.ReferenceDistance)) || c.ReferenceDistance <= 0:
		return fmt.Errorf("reference distance %v m: must be positive", c.ReferenceDistance)
	case !finite(float64(c.ShadowingSigma)) || c.ShadowingSigma > 30:
		return fmt.Errorf("shadowing sigma %v dB: must be at most 30", c.ShadowingSigma)
	case !finite(float64(c.FadingSigma)) || c.FadingSigma > 30:
		return fmt.Errorf("fading sigma %v dB: must be at most 30", c.FadingSigma)
	case !finite(float64(c.CaptureMargin)) || c.CaptureMargin < 0:
		return fmt.Errorf("capture margin %v dB: must not be negative", c.CaptureMargin)
	case !finite(float64(c.MaxTxPower)) || c.MaxTxPower > 60:
		return fmt.Errorf("max tx power %v dBm: must be at most 60", c.MaxTxPower)
	}
	return nil
}

// ErrClosed is returned for operations on a closed medium or a detached
// radio.
var ErrClosed = errors.New("medium closed")

// Medium is a shared radio channel. All methods are safe for concurrent use.
type Medium struct {
	cfg   MediumConfig
	clock Clock

	// maxAirtime bounds how long a transmission can overlap a later one.
	maxAirtime time.Duration
	// fadeCap is the largest fading term, 3σ.
	fadeCap float64
	// fading draws the per-packet fading terms.
	fading *normalTable

	mu      sync.Mutex
	closed  bool
	radios  []*Radio // by index; nil once detached
	byName  map[string]*Radio
	version uint64 // bumped when a radio moves; invalidates every link cache
	seq     uint64 // transmissions so far
	active  []*transmission
	pending map[*transmission]Timer
	stats   Stats

	scratch sync.Pool // *[]delivery, reused between completions
}

// Stats counts what the medium did.
type Stats struct {
	Transmissions    uint64 // frames put on the air
	Deliveries       uint64 // receptions handed to listening radios
	Collisions       uint64 // receptions lost to an overlapping frame
	HalfDuplex       uint64 // receptions lost because the receiver was transmitting
	BelowSensitivity uint64 // receivers in the pruned link set that could not demodulate
}

// NewMedium returns an empty medium.
func NewMedium(cfg MediumConfig) (*Medium, error) {
	cfg.fillDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("medium config: %w", err)
	}
	return &Medium{
		cfg:        cfg,
		clock:      cfg.Clock,
		maxAirtime: radio.Airtime(radio.DataRate{SF: 12, Bandwidth: 125_000}, 255) + time.Second,
		fadeCap:    3 * float64(cfg.FadingSigma),
		fading:     newNormalTable(),
		byName:     make(map[string]*Radio),
		pending:    make(map[*transmission]Timer),
	}, nil
}

// Clock returns the medium's time source.
func (m *Medium) Clock() Clock { return m.clock }

// Config returns the medium's configuration with defaults filled in.
func (m *Medium) Config() MediumConfig { return m.cfg }

// Stats returns the counters so far.
func (m *Medium) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

// Close cancels every frame still on the air; nothing is delivered after
// it returns, and Transmit fails with ErrClosed.
func (m *Medium) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	for tx, t := range m.pending {
		t.Stop()
		delete(m.pending, tx)
	}
	m.active = nil
}

// Radio returns the attached radio with that name, or nil.
func (m *Medium) Radio(name string) *Radio {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byName[name]
}

// Radios returns the attached radios in attach order.
func (m *Medium) Radios() []*Radio {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Radio, 0, len(m.byName))
	for _, r := range m.radios {
		if r != nil {
			out = append(out, r)
		}
	}
	return out
}

// transmission is one frame on the air.
type transmission struct {
	seq     uint64
	from    *Radio
	freq    radio.Hz
	dr      radio.DataRate
	power   radio.DBm
	ipol    bool
	payload []byte
	start   time.Time
	end     time.Time
}

func (t *transmission) overlaps(o *transmission) bool {
	return t.start.Before(o.end) && o.start.Before(t.end)
}

// sameChannel reports whether two frames interfere: same spreading factor
// and overlapping occupied bandwidth. Different spreading factors are
// treated as orthogonal.
func (t *transmission) sameChannel(o *transmission) bool {
	if t.dr.SF != o.dr.SF {
		return false
	}
	df := math.Abs(float64(t.freq) - float64(o.freq))
	return df < float64(t.dr.Bandwidth+o.dr.Bandwidth)/2
}

// Transmission is a frame a radio puts on the air.
type Transmission struct {
	Frequency radio.Hz
	DataRate  radio.DataRate
	// Power is the conducted power at the antenna port; the radio's
	// antenna gain is added to it.
	Power radio.DBm
	// InvertIQ is the polarity: false for uplinks and beacons (heard by
	// gateways), true for downlinks (heard by end devices).
	InvertIQ bool
	// Payload is the PHY payload, at most 255 bytes.
	Payload []byte
	// At is when the preamble starts. Zero, or a time already passed,
	// means now.
	At time.Time
}

// Sent describes a frame Transmit put on the air.
type Sent struct {
	Seq        uint64 // medium-wide sequence number, from 1
	Start, End time.Time
	Airtime    time.Duration
}

// Reception is a frame as one receiver heard it. Payload is shared between
// the receivers of a frame and must not be modified.
type Reception struct {
	Receiver string // name of the receiving radio
	From     string // name of the transmitting radio (for tests; a real receiver cannot know it)
	Seq      uint64 // the transmission's sequence number
	Payload  []byte

	Frequency radio.Hz
	DataRate  radio.DataRate
	InvertIQ  bool
	// RSSI is the channel power (signal plus noise), as an SX1302 reports
	// "rssi"; RSSIS is the signal power alone ("rssis").
	RSSI  radio.DBm
	RSSIS radio.DBm
	// SNR is the signal-to-noise ratio ("lsnr").
	SNR radio.DB
	// Start and End are when the frame started and ended at the receiver.
	Start, End time.Time
	// Tmst is the receiver's µs counter at End, as in a Semtech rxpk.
	Tmst uint32
	// Distance is the true 3-D distance between the antennas.
	Distance radio.Meters
}

// Transmit puts a frame on the air from r. Every radio that hears it gets a
// Reception at the end of its airtime.
func (r *Radio) Transmit(t Transmission) (Sent, error) {
	m := r.m
	if t.DataRate.SF < 7 || t.DataRate.SF > 12 {
		return Sent{}, fmt.Errorf("transmit: spreading factor %d: must be 7–12", t.DataRate.SF)
	}
	switch t.DataRate.Bandwidth {
	case 125_000, 250_000, 500_000:
	default:
		return Sent{}, fmt.Errorf("transmit: bandwidth %d Hz: must be 125, 250 or 500 kHz", t.DataRate.Bandwidth)
	}
	if len(t.Payload) == 0 || len(t.Payload) > 255 {
		return Sent{}, fmt.Errorf("transmit: payload of %d bytes: must be 1–255", len(t.Payload))
	}
	if t.Frequency == 0 {
		return Sent{}, errors.New("transmit: no frequency")
	}
	if p := float64(t.Power); math.IsNaN(p) || p > float64(m.cfg.MaxTxPower) || p < -30 {
		return Sent{}, fmt.Errorf("transmit: power %v dBm: must be in [-30, %v]", t.Power, m.cfg.MaxTxPower)
	}
	airtime := radio.Airtime(t.DataRate, len(t.Payload))

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || r.detached {
		return Sent{}, fmt.Errorf("transmit: %w", ErrClosed)
	}
	now := m.clock.Now()
	start := t.At
	if start.Before(now) {
		start = now
	}
	m.seq++
	tx := &transmission{
		seq:     m.seq,
		from:    r,
		freq:    t.Frequency,
		dr:      t.DataRate,
		power:   t.Power,
		ipol:    t.InvertIQ,
		payload: append([]byte(nil), t.Payload...),
		start:   start,
		end:     start.Add(airtime),
	}
	m.active = append(m.active, tx)
	m.stats.Transmissions++
	m.pending[tx] = m.clock.AfterFunc(tx.end.Sub(now), func() { m.complete(tx) })
	return Sent{Seq: tx.seq, Start: tx.start, End: tx.end, Airtime: airtime}, nil
}

// delivery is a reception waiting to be handed to its listeners.
type delivery struct {
	rec       Reception
	listeners []func(Reception) // a snapshot: Listen replaces the slice, never edits it
}

// complete runs when tx leaves the air: it works out who heard it and
// hands them the reception, outside the lock.
func (m *Medium) complete(tx *transmission) {
	buf, _ := m.scratch.Get().(*[]delivery)
	if buf == nil {
		buf = new([]delivery)
	}
	out := m.receptions(tx, (*buf)[:0])
	for i := range out {
		for _, f := range out[i].listeners {
			f(out[i].rec)
		}
	}
	clear(out) // drop references to payloads and listeners
	*buf = out
	m.scratch.Put(buf)
}

// receptions appends to out the deliveries of tx.
func (m *Medium) receptions(tx *transmission, out []delivery) []delivery {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.pending[tx]; !ok || m.closed {
		return out // cancelled by Close
	}
	delete(m.pending, tx)
	defer m.pruneLocked()
	if tx.from.detached {
		return out
	}

	var overlapping []*transmission
	for _, o := range m.active {
		if o != tx && o.overlaps(tx) {
			overlapping = append(overlapping, o)
		}
	}

	ls := m.linksLocked(tx.from, tx.freq)
	for i := range ls.links {
		l := &ls.links[i]
		rx := m.radios[l.rx]
		if rx == nil || len(rx.listeners) == 0 || rx.invertIQ != tx.ipol || !rx.hears(tx.freq) {
			continue
		}
		signal := m.signal(tx, l, rx)
		noise := rx.noise(tx.dr.Bandwidth)
		snr := signal - noise
		if snr < float64(radio.SNRMin(tx.dr.SF)) {
			m.stats.BelowSensitivity++
			continue
		}
		if lost := m.interferedLocked(tx, rx, signal, overlapping); lost {
			continue
		}
		m.stats.Deliveries++
		channel := radio.ChannelRSSI(radio.DBm(signal), radio.DBm(noise))
		out = append(out, delivery{
			rec: Reception{
				Receiver:  rx.name,
				From:      tx.from.name,
				Seq:       tx.seq,
				Payload:   tx.payload,
				Frequency: tx.freq,
				DataRate:  tx.dr,
				InvertIQ:  tx.ipol,
				RSSI:      channel,
				RSSIS:     radio.DBm(signal),
				SNR:       radio.DB(snr),
				Start:     tx.start,
				End:       tx.end,
				Tmst:      rx.Counter(tx.end),
				Distance:  radio.Meters(l.dist),
			},
			listeners: rx.listeners,
		})
	}
	return out
}

// signal is the power of tx at the receiver of link l, in dBm.
func (m *Medium) signal(tx *transmission, l *link, rx *Radio) float64 {
	loss := l.loss
	if m.cfg.FadingSigma > 0 {
		loss += float64(m.cfg.FadingSigma) * m.fading.draw(fadingKey(m.cfg.Seed, tx.seq, rx.nameHash))
	}
	if loss < l.free {
		loss = l.free // never better than free space
	}
	return float64(tx.power) + float64(tx.from.gain) + float64(rx.gain) - loss
}

// interferedLocked reports whether the reception of tx at rx (signal dBm)
// is destroyed by an overlapping frame, counting the loss.
func (m *Medium) interferedLocked(tx *transmission, rx *Radio, signal float64, overlapping []*transmission) bool {
	for _, o := range overlapping {
		if o.from == rx {
			m.stats.HalfDuplex++
			return true
		}
	}
	for _, o := range overlapping {
		if !o.sameChannel(tx) || o.from.detached {
			continue
		}
		ols := m.linksLocked(o.from, o.freq)
		l := ols.find(rx.index)
		if l == nil {
			continue // too far to matter
		}
		if signal-m.signal(o, l, rx) < float64(m.cfg.CaptureMargin) {
			m.stats.Collisions++
			return true
		}
	}
	return false
}

// pruneLocked forgets transmissions that can no longer overlap a frame
// still to be completed.
func (m *Medium) pruneLocked() {
	horizon := m.clock.Now().Add(-m.maxAirtime)
	m.active = slices.DeleteFunc(m.active, func(t *transmission) bool {
		_, pending := m.pending[t]
		return !pending && t.end.Before(horizon)
	})
}

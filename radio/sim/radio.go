package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/hexfield/hexfield/radio"
)

// RadioConfig places a radio on a [Medium].
type RadioConfig struct {
	// Name identifies the radio; it must be unique on the medium and, with
	// the medium's seed, fixes the shadowing of every link of this radio.
	// Required.
	Name string
	// Lat and Lng are the true antenna position in degrees. Required to be
	// valid coordinates; (0, 0) is a valid position.
	Lat, Lng float64
	// Elevation is the antenna height in metres; the distance between two
	// antennas is the 3-D distance. Default 0.
	Elevation radio.Meters
	// Gain is the antenna gain, added on transmit and receive. Default 0 dBi.
	Gain radio.DBi
	// NoiseFigure of the receiver. Default 6 dB.
	NoiseFigure radio.DB
	// NoiseRise is local interference above the thermal floor (urban
	// noise). Default 0 dB.
	NoiseRise radio.DB
	// Channels are the centre frequencies the radio listens on; frames on
	// other frequencies are not received. Nil means every frequency.
	Channels []radio.Hz
	// InvertIQ is the polarity the radio demodulates: false for gateways
	// (uplinks and beacons), true for end devices (downlinks). Default false.
	InvertIQ bool
	// CounterOffset is the value of the radio's µs counter when it is
	// attached. Nil draws one from the medium's seed and the name, so
	// counters of different radios differ as they do on real hardware.
	CounterOffset *uint32
}

// Radio is an antenna and transceiver on a medium. Its methods are safe
// for concurrent use.
type Radio struct {
	m        *Medium
	index    int
	name     string
	nameHash uint64
	boot     time.Time
	offset   uint32

	// The fields below are guarded by m.mu.
	lat, lng  float64
	elev      radio.Meters
	gain      radio.DBi
	nf        radio.DB
	noiseRise radio.DB
	channels  []radio.Hz // sorted; nil = all
	invertIQ  bool
	listeners []func(Reception)  // copy-on-write, see Listen
	ids       []*func(Reception) // registration identities, parallel to listeners
	noiseDBm  [3]float64         // noise power at 125, 250 and 500 kHz, dBm
	detached  bool
	links     map[radio.Hz]*linkSet // as transmitter, per frequency
}

// Attach adds a radio to the medium.
func (m *Medium) Attach(cfg RadioConfig) (*Radio, error) {
	if cfg.Name == "" {
		return nil, errors.New("attach radio: no name")
	}
	if err := validPosition(cfg.Lat, cfg.Lng, cfg.Elevation); err != nil {
		return nil, fmt.Errorf("attach radio %q: %w", cfg.Name, err)
	}
	if g := float64(cfg.Gain); math.IsNaN(g) || math.IsInf(g, 0) || g < -20 || g > 40 {
		return nil, fmt.Errorf("attach radio %q: gain %v dBi: must be in [-20, 40]", cfg.Name, cfg.Gain)
	}
	if cfg.NoiseFigure == 0 {
		cfg.NoiseFigure = 6
	}
	if nf := float64(cfg.NoiseFigure); math.IsNaN(nf) || nf < 0 || nf > 30 {
		return nil, fmt.Errorf("attach radio %q: noise figure %v dB: must be in [0, 30]", cfg.Name, cfg.NoiseFigure)
	}
	if nr := float64(cfg.NoiseRise); math.IsNaN(nr) || nr < 0 || nr > 60 {
		return nil, fmt.Errorf("attach radio %q: noise rise %v dB: must be in [0, 60]", cfg.Name, cfg.NoiseRise)
	}
	h := sha256.Sum256([]byte(cfg.Name))
	r := &Radio{
		m:         m,
		name:      cfg.Name,
		nameHash:  binary.LittleEndian.Uint64(h[:8]),
		lat:       cfg.Lat,
		lng:       cfg.Lng,
		elev:      cfg.Elevation,
		gain:      cfg.Gain,
		nf:        cfg.NoiseFigure,
		noiseRise: cfg.NoiseRise,
		invertIQ:  cfg.InvertIQ,
	}
	for i, bw := range []radio.Hz{125_000, 250_000, 500_000} {
		r.noiseDBm[i] = float64(radio.NoiseFloor(bw, r.nf)) + float64(r.noiseRise)
	}
	if cfg.Channels != nil {
		r.channels = slices.Clone(cfg.Channels)
		slices.Sort(r.channels)
	}
	if cfg.CounterOffset != nil {
		r.offset = *cfg.CounterOffset
	} else {
		r.offset = uint32(splitmix(m.cfg.Seed ^ r.nameHash ^ 0x636f756e746572))
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("attach radio %q: %w", cfg.Name, ErrClosed)
	}
	if _, dup := m.byName[cfg.Name]; dup {
		return nil, fmt.Errorf("attach radio %q: name already in use", cfg.Name)
	}
	r.boot = m.clock.Now()
	r.index = len(m.radios)
	m.radios = append(m.radios, r)
	m.byName[r.name] = r
	return r, nil
}

func validPosition(lat, lng float64, elev radio.Meters) error {
	switch {
	case math.IsNaN(lat) || lat < -90 || lat > 90:
		return fmt.Errorf("latitude %v: must be in [-90, 90]", lat)
	case math.IsNaN(lng) || lng < -180 || lng > 180:
		return fmt.Errorf("longitude %v: must be in [-180, 180]", lng)
	case math.IsNaN(float64(elev)) || elev < -500 || elev > 10_000:
		return fmt.Errorf("elevation %v m: must be in [-500, 10000]", elev)
	}
	return nil
}

// Name returns the radio's name.
func (r *Radio) Name() string { return r.name }

// Medium returns the medium the radio is attached to.
func (r *Radio) Medium() *Medium { return r.m }

// Position returns the true antenna position.
func (r *Radio) Position() (lat, lng float64, elevation radio.Meters) {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	return r.lat, r.lng, r.elev
}

// Gain returns the antenna gain.
func (r *Radio) Gain() radio.DBi {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	return r.gain
}

// Move puts the antenna somewhere else (frames already on the air are
// evaluated at the new position).
func (r *Radio) Move(lat, lng float64, elevation radio.Meters) error {
	if err := validPosition(lat, lng, elevation); err != nil {
		return fmt.Errorf("move radio %q: %w", r.name, err)
	}
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	r.lat, r.lng, r.elev = lat, lng, elevation
	r.m.version++
	return nil
}

// Detach removes the radio from the medium: it no longer hears anything
// and its Transmit fails with ErrClosed.
func (r *Radio) Detach() {
	m := r.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.detached {
		return
	}
	r.detached = true
	r.listeners, r.ids = nil, nil
	r.links = nil
	m.radios[r.index] = nil
	delete(m.byName, r.name)
}

// Listen registers f to be called with every frame the radio receives.
// f is called from the medium's delivery goroutine and must not block; it
// may call Transmit. The returned function stops the calls.
func (r *Radio) Listen(f func(Reception)) (stop func()) {
	l := &f // a unique identity for this registration
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if r.detached {
		return func() {}
	}
	r.ids = append(slices.Clip(r.ids), l)
	r.listeners = append(slices.Clip(r.listeners), f)
	return func() {
		r.m.mu.Lock()
		defer r.m.mu.Unlock()
		i := slices.Index(r.ids, l)
		if i < 0 {
			return
		}
		// Copy on write: deliveries in flight keep the old slices.
		r.ids = slices.Delete(slices.Clone(r.ids), i, i+1)
		r.listeners = slices.Delete(slices.Clone(r.listeners), i, i+1)
	}
}

// Counter returns the radio's free-running µs counter at t: a uint32 that
// wraps every 2^32 µs (about 71.6 minutes), like a concentrator's tmst.
func (r *Radio) Counter(t time.Time) uint32 {
	return r.offset + uint32(t.Sub(r.boot)/time.Microsecond)
}

// CounterTime returns the instant nearest to now (within ±2^31 µs) at which
// the counter reads c.
func (r *Radio) CounterTime(c uint32, now time.Time) time.Time {
	elapsed := int64(now.Sub(r.boot) / time.Microsecond)
	ahead := int64(int32(c - r.Counter(now)))
	return r.boot.Add(time.Duration(elapsed+ahead) * time.Microsecond)
}

// hears reports whether the radio listens on f.
func (r *Radio) hears(f radio.Hz) bool {
	if r.channels == nil {
		return true
	}
	_, ok := slices.BinarySearch(r.channels, f)
	return ok
}

// noise is the receiver's noise power in bandwidth bw, in dBm.
func (r *Radio) noise(bw radio.Hz) float64 {
	switch bw {
	case 125_000:
		return r.noiseDBm[0]
	case 250_000:
		return r.noiseDBm[1]
	case 500_000:
		return r.noiseDBm[2]
	}
	return float64(radio.NoiseFloor(bw, r.nf)) + float64(r.noiseRise)
}

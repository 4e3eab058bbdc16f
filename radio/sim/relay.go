package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/hexfield/hexfield/radio"
)

// RelayConfig configures a [Relay].
type RelayConfig struct {
	// Delay is how long after a frame ends the relay starts sending it
	// again (store and forward). Default 0: at once.
	Delay time.Duration
	// Power is the conducted power of the re-sent frames. Default 14 dBm.
	Power radio.DBm
	// Filter, if set, selects which heard frames are relayed.
	Filter func(Reception) bool
}

// Relay is the fraud of relayed beacons: every frame the in radio hears is
// transmitted again, unchanged, by the out radio somewhere else, so
// receivers near out appear to hear the original transmitter. in and out
// may be the same radio (a repeater).
type Relay struct {
	in, out *Radio
	cfg     RelayConfig
	stop    func()
}

// NewRelay starts relaying from in to out until Stop.
func NewRelay(in, out *Radio, cfg RelayConfig) (*Relay, error) {
	if in == nil || out == nil {
		return nil, errors.New("new relay: nil radio")
	}
	if in.m != out.m {
		return nil, errors.New("new relay: radios on different media")
	}
	if cfg.Delay < 0 {
		return nil, fmt.Errorf("new relay: negative delay %v", cfg.Delay)
	}
	if cfg.Power == 0 {
		cfg.Power = 14
	}
	r := &Relay{in: in, out: out, cfg: cfg}
	r.stop = in.Listen(r.relay)
	return r, nil
}

func (r *Relay) relay(rec Reception) {
	if r.cfg.Filter != nil && !r.cfg.Filter(rec) {
		return
	}
	// Transmit may fail once the medium is closed or out detached; a relay
	// has nobody to report that to.
	_, _ = r.out.Transmit(Transmission{
		Frequency: rec.Frequency,
		DataRate:  rec.DataRate,
		Power:     r.cfg.Power,
		InvertIQ:  rec.InvertIQ,
		Payload:   rec.Payload,
		At:        rec.End.Add(r.cfg.Delay),
	})
}

// Stop ends relaying.
func (r *Relay) Stop() { r.stop() }

package sim

import (
	"errors"
	"fmt"
	"sync"

	"github.com/hexfield/hexfield/radio"
)

// DeviceConfig configures a [Device].
type DeviceConfig struct {
	// Radio places the device. Its InvertIQ is forced to true: an end
	// device hears downlinks. Name is required.
	Radio RadioConfig
	// Region names the channel plan whose channels the device cycles
	// through when Channels is empty. Default "EU868".
	Region string
	// Channels are the uplink frequencies, used in turn. Default: the
	// region's channels.
	Channels []radio.Hz
	// DataRate of uplinks. Default SF7BW125.
	DataRate radio.DataRate
	// Power is the conducted transmit power. Default 14 dBm.
	Power radio.DBm
	// QueueLen is how many heard downlinks Receptions buffers before
	// dropping. Default 64.
	QueueLen int
}

// Device is a simulated sensor: it transmits raw frames (LoRaWAN PHY
// payloads built by the caller) into the medium and collects the
// downlinks it hears.
type Device struct {
	r     *Radio
	cfg   DeviceConfig
	rx    chan Reception
	stop  func()
	mu    sync.Mutex
	next  int
	drops uint64
}

// NewDevice attaches a device's radio to m.
func NewDevice(m *Medium, cfg DeviceConfig) (*Device, error) {
	if cfg.Region == "" {
		cfg.Region = "EU868"
	}
	if len(cfg.Channels) == 0 {
		reg, err := radio.LookupRegion(cfg.Region)
		if err != nil {
			return nil, fmt.Errorf("new device: %w", err)
		}
		cfg.Channels = reg.Channels
	}
	if cfg.DataRate == (radio.DataRate{}) {
		cfg.DataRate = radio.DataRate{SF: 7, Bandwidth: 125_000}
	}
	if cfg.Power == 0 {
		cfg.Power = 14
	}
	if cfg.QueueLen == 0 {
		cfg.QueueLen = 64
	}
	if cfg.QueueLen < 0 {
		return nil, errors.New("new device: negative queue length")
	}
	cfg.Radio.InvertIQ = true
	r, err := m.Attach(cfg.Radio)
	if err != nil {
		return nil, fmt.Errorf("new device: %w", err)
	}
	d := &Device{r: r, cfg: cfg, rx: make(chan Reception, cfg.QueueLen)}
	d.stop = r.Listen(func(rec Reception) {
		select {
		case d.rx <- rec:
		default:
			d.mu.Lock()
			d.drops++
			d.mu.Unlock()
		}
	})
	return d, nil
}

// Radio returns the device's radio.
func (d *Device) Radio() *Radio { return d.r }

// Send transmits payload now on the next channel of the rotation, at the
// configured data rate and power.
func (d *Device) Send(payload []byte) (Sent, error) {
	d.mu.Lock()
	f := d.cfg.Channels[d.next%len(d.cfg.Channels)]
	d.next++
	d.mu.Unlock()
	return d.SendOn(f, d.cfg.DataRate, payload)
}

// SendOn transmits payload now on frequency f at data rate dr.
func (d *Device) SendOn(f radio.Hz, dr radio.DataRate, payload []byte) (Sent, error) {
	s, err := d.r.Transmit(Transmission{Frequency: f, DataRate: dr, Power: d.cfg.Power, Payload: payload})
	if err != nil {
		return Sent{}, fmt.Errorf("device %s: %w", d.r.Name(), err)
	}
	return s, nil
}

// Receptions returns the downlinks the device heard, oldest first.
func (d *Device) Receptions() <-chan Reception { return d.rx }

// Dropped returns how many heard downlinks were dropped because nobody
// drained Receptions.
func (d *Device) Dropped() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.drops
}

// Close detaches the device's radio.
func (d *Device) Close() {
	d.stop()
	d.r.Detach()
}

package radio

import (
	"fmt"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/brocaar/lorawan/band"
)

// Spreading is one entry of a region's spreading list: packets of fewer
// than MaxBytes bytes are sent at spreading factor SF. Helium's region
// parameters use this exclusive bound (e.g. US915 "67 → SF9" matches the
// LoRaWAN limit of 66 PHYPayload bytes at SF9 under a 400 ms dwell time);
// hexfield keeps the numbers and the beacon rule of poc-rules §3 step 5:
// the beacon data rate is the first entry whose MaxBytes ≥ 51.
type Spreading struct {
	MaxBytes int
	SF       int
}

// Region is a regional channel plan as hexfield uses it for beacons. A
// Region returned by LookupRegion or Regions is a fresh copy the caller may
// keep or modify.
type Region struct {
	// Name is the hexfield region name, e.g. "US915", "AS923-1".
	Name string
	// Band is the brocaar/lorawan band holding the LoRaWAN regional
	// parameters of this region.
	Band band.Name
	// Channels are the beacon channels, in the order of the poc-rules §3
	// table: the beacon frequency is Channels[u16_le(payload[0:2]) mod len].
	Channels []Hz
	// Bandwidth of the beacon channels.
	Bandwidth Hz
	// MaxEIRPddBm is the maximum EIRP in tenths of a dBm (36.0 dBm = 360).
	MaxEIRPddBm int
	// MaxConductedDBm caps the prescribed conducted beacon power (poc-rules
	// §3 step 6): what the region's concentrators can emit. 27 dBm for
	// US915 and AU915, where SX1302 boards top out at 27 dBm below the
	// 30 dBm the EIRP would allow a low-gain antenna; 0 means no cap.
	MaxConductedDBm int
	// Spreading is the spreading list, smallest MaxBytes first.
	Spreading []Spreading
	// DwellTime is the regulatory maximum time on air of one transmission
	// (0 = no limit).
	DwellTime time.Duration
	// MinFrequency and MaxFrequency are the edges of the band the region's
	// channels must lie in (centre ± bandwidth/2).
	MinFrequency, MaxFrequency Hz
	// NoBeacon marks a region excluded from proof of coverage (CN470:
	// HIP-137). BeaconDataRate reports false for it.
	NoBeacon bool
}

// BeaconPayloadSize is the size of a beacon payload (poc-rules §3); the
// frame on air is one byte longer (MHDR).
const BeaconPayloadSize = 51

// BeaconDataRate returns the region's beacon data rate: the first entry of
// the spreading list whose MaxBytes ≥ 51, at the channel bandwidth. It
// reports false for regions excluded from proof of coverage (CN470) and for
// a spreading list with no such entry.
func (r *Region) BeaconDataRate() (DataRate, bool) {
	if r == nil || r.NoBeacon {
		return DataRate{}, false
	}
	for _, s := range r.Spreading {
		if s.MaxBytes >= BeaconPayloadSize {
			return DataRate{SF: s.SF, Bandwidth: r.Bandwidth}, true
		}
	}
	return DataRate{}, false
}

// LoRaWANBand returns a fresh brocaar/lorawan band for the region, with the
// region's dwell time applied (repeater compatibility off).
func (r *Region) LoRaWANBand() (band.Band, error) {
	dt := lorawan.DwellTimeNoLimit
	if r.DwellTime > 0 {
		dt = lorawan.DwellTime400ms
	}
	b, err := band.GetConfig(r.Band, false, dt)
	if err != nil {
		return nil, fmt.Errorf("lorawan band %s: %w", r.Band, err)
	}
	return b, nil
}

// HasChannel reports whether f is one of the region's beacon channels.
func (r *Region) HasChannel(f Hz) bool {
	for _, c := range r.Channels {
		if c == f {
			return true
		}
	}
	return false
}

// regionNames lists the regions in a fixed order; the constructors build a
// fresh Region on every call so there is no shared mutable state.
var regionNames = [...]string{
	"US915", "EU868", "AU915", "AS923-1", "AS923-2", "AS923-3", "AS923-4",
	"KR920", "IN865", "EU433", "CN470",
}

func newRegion(name string) *Region {
	switch name {
	case "US915":
		return us915()
	case "EU868":
		return eu868()
	case "AU915":
		return au915()
	case "AS923-1":
		return as923_1()
	case "AS923-2":
		return as923_2()
	case "AS923-3":
		return as923_3()
	case "AS923-4":
		return as923_4()
	case "KR920":
		return kr920()
	case "IN865":
		return in865()
	case "EU433":
		return eu433()
	case "CN470":
		return cn470()
	}
	return nil
}

// LookupRegion returns the region with the given hexfield name ("US915",
// "EU868", "AU915", "AS923-1" … "AS923-4", "KR920", "IN865", "EU433",
// "CN470"). Names are case-sensitive.
func LookupRegion(name string) (*Region, error) {
	r := newRegion(name)
	if r == nil {
		return nil, fmt.Errorf("lookup region %q: %w", name, ErrUnknownRegion)
	}
	return r, nil
}

// Regions returns every region, in a fixed order.
func Regions() []*Region {
	out := make([]*Region, 0, len(regionNames))
	for _, n := range regionNames {
		out = append(out, newRegion(n))
	}
	return out
}

// auSpreading is the spreading list shared by AU915, AS923, EU433, CN470,
// KR920 and IN865 (poc-rules §3: "as AU915").
func auSpreading() []Spreading {
	return []Spreading{{25, 12}, {25, 11}, {25, 10}, {67, 9}, {139, 8}, {256, 7}}
}

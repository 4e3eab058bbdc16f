package sim

import (
	"crypto/aes"
	"fmt"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/brocaar/lorawan/band"

	"github.com/hexfield/hexfield/radio"
)

// This file holds the LoRaWAN 1.0.x pieces that the test LNS and the
// simulated sensors share: session key derivation, frame counter
// reconstruction and the receive window parameters of a region.

// Class is a LoRaWAN device class.
type Class int

// Device classes: A opens two receive windows after each uplink; C listens
// on the RX2 channel whenever it does not transmit.
const (
	ClassA Class = iota
	ClassC
)

func (c Class) String() string {
	if c == ClassC {
		return "C"
	}
	return "A"
}

// maxFCntGap is LoRaWAN 1.0's MAX_FCNT_GAP: a 16-bit counter on air that
// jumps further than this from the last one is refused.
const maxFCntGap = 16384

// sessionKeys derives the LoRaWAN 1.0.x session keys from a join: each key
// is aes128_encrypt(AppKey, type | AppNonce | NetID | DevNonce | pad16),
// type 0x01 for the NwkSKey and 0x02 for the AppSKey, every field in its
// on-air (little-endian) byte order.
func sessionKeys(appKey lorawan.AES128Key, joinNonce lorawan.JoinNonce, netID lorawan.NetID, devNonce lorawan.DevNonce) (nwkSKey, appSKey lorawan.AES128Key, err error) {
	jn, err := joinNonce.MarshalBinary()
	if err != nil {
		return nwkSKey, appSKey, fmt.Errorf("session keys: %w", err)
	}
	nid, err := netID.MarshalBinary()
	if err != nil {
		return nwkSKey, appSKey, fmt.Errorf("session keys: %w", err)
	}
	dn, err := devNonce.MarshalBinary()
	if err != nil {
		return nwkSKey, appSKey, fmt.Errorf("session keys: %w", err)
	}
	block, err := aes.NewCipher(appKey[:])
	if err != nil {
		return nwkSKey, appSKey, fmt.Errorf("session keys: %w", err)
	}
	derive := func(typ byte) (k lorawan.AES128Key) {
		var in [16]byte
		in[0] = typ
		copy(in[1:4], jn)
		copy(in[4:7], nid)
		copy(in[7:9], dn)
		block.Encrypt(k[:], in[:])
		return k
	}
	return derive(0x01), derive(0x02), nil
}

// window is a receive window's channel.
type window struct {
	Freq radio.Hz
	DR   radio.DataRate
}

// windowPlan computes receive windows for one region.
type windowPlan struct {
	band      band.Band
	defaults  band.Defaults
	rx2       window
	rx2DRIdx  int
	txPowerFn func(radio.Hz) int
}

func newWindowPlan(region string) (*windowPlan, error) {
	reg, err := radio.LookupRegion(region)
	if err != nil {
		return nil, err
	}
	b, err := reg.LoRaWANBand()
	if err != nil {
		return nil, err
	}
	d := b.GetDefaults()
	dr, err := loraDataRate(b, d.RX2DataRate)
	if err != nil {
		return nil, fmt.Errorf("rx2 data rate: %w", err)
	}
	p := &windowPlan{band: b, defaults: d, rx2DRIdx: d.RX2DataRate, rx2: window{Freq: radio.Hz(d.RX2Frequency), DR: dr}}
	p.txPowerFn = func(f radio.Hz) int { return b.GetDownlinkTXPower(uint32(f)) }
	return p, nil
}

// loraDataRate is the LoRa data rate of a band's data rate index.
func loraDataRate(b band.Band, idx int) (radio.DataRate, error) {
	d, err := b.GetDataRate(idx)
	if err != nil {
		return radio.DataRate{}, err
	}
	if d.Modulation != band.LoRaModulation {
		return radio.DataRate{}, fmt.Errorf("data rate %d is not LoRa", idx)
	}
	return radio.DataRate{SF: d.SpreadFactor, Bandwidth: radio.Hz(d.Bandwidth * 1000)}, nil
}

// rx1 is the RX1 window answering an uplink on f at dr, with the RX1
// data rate offset of the session.
func (p *windowPlan) rx1(f radio.Hz, dr radio.DataRate, offset int) (window, error) {
	up, err := p.band.GetDataRateIndex(true, band.DataRate{Modulation: band.LoRaModulation, SpreadFactor: dr.SF, Bandwidth: int(dr.Bandwidth / 1000)})
	if err != nil {
		return window{}, fmt.Errorf("rx1: uplink %v: %w", dr, err)
	}
	idx, err := p.band.GetRX1DataRateIndex(up, offset)
	if err != nil {
		return window{}, fmt.Errorf("rx1: %w", err)
	}
	down, err := loraDataRate(p.band, idx)
	if err != nil {
		return window{}, fmt.Errorf("rx1: %w", err)
	}
	freq, err := p.band.GetRX1FrequencyForUplinkFrequency(uint32(f))
	if err != nil {
		return window{}, fmt.Errorf("rx1: %w", err)
	}
	return window{Freq: radio.Hz(freq), DR: down}, nil
}

// preambleTime is how long 8 preamble symbols last at dr: how late after
// a window opens a real receiver still locks on to a downlink.
func preambleTime(dr radio.DataRate) time.Duration {
	if dr.Bandwidth <= 0 || dr.SF < 7 || dr.SF > 12 {
		return 0
	}
	return 8 * time.Duration(1<<dr.SF) * time.Second / time.Duration(dr.Bandwidth)
}

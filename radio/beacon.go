package radio

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// BeaconMHDR is the MAC header of a beacon frame: MType 111, Proprietary.
const BeaconMHDR = 0xE0

// BeaconFrameSize is the size of a beacon on air: MHDR ‖ 51-byte payload.
const BeaconFrameSize = 1 + BeaconPayloadSize

// beaconSeedTag is the domain-separation tag of the beacon seed
// (poc-rules §3: 18 ASCII bytes, no terminator).
const beaconSeedTag = "hexfield-beacon-v1"

// BeaconSeed returns SHA-256("hexfield-beacon-v1" ‖ entropy data ‖
// i64_le(entropy ts) ‖ beaconer public key ‖ nonce) (poc-rules §3 step 2).
func BeaconSeed(entropyData [32]byte, entropyTs int64, beaconer [32]byte, nonce [16]byte) [32]byte {
	var buf [len(beaconSeedTag) + 32 + 8 + 32 + 16]byte
	n := copy(buf[:], beaconSeedTag)
	n += copy(buf[n:], entropyData[:])
	binary.LittleEndian.PutUint64(buf[n:], uint64(entropyTs))
	n += 8
	n += copy(buf[n:], beaconer[:])
	copy(buf[n:], nonce[:])
	return sha256.Sum256(buf[:])
}

// BeaconPayload returns the first 51 bytes of SHA-256(seed ‖ 0x00) ‖
// SHA-256(seed ‖ 0x01) (poc-rules §3 step 3).
func BeaconPayload(seed [32]byte) [BeaconPayloadSize]byte {
	var in [33]byte
	copy(in[:], seed[:])
	h0 := sha256.Sum256(in[:])
	in[32] = 1
	h1 := sha256.Sum256(in[:])
	var p [BeaconPayloadSize]byte
	n := copy(p[:], h0[:])
	copy(p[n:], h1[:])
	return p
}

// BeaconChannel returns the beacon frequency for a payload:
// Channels[u16_le(payload[0:2]) mod len(Channels)] (poc-rules §3 step 4).
// It reports false if the region has no channels.
func BeaconChannel(r *Region, payload [BeaconPayloadSize]byte) (Hz, bool) {
	if r == nil || len(r.Channels) == 0 {
		return 0, false
	}
	i := int(binary.LittleEndian.Uint16(payload[0:2])) % len(r.Channels)
	return r.Channels[i], true
}

// SX1302MaxPowerDBm is the highest conducted power SX1302/SX1303
// concentrator boards emit (their RF power tables end at 27 dBm); it is
// the MaxConductedDBm of US915 and AU915.
const SX1302MaxPowerDBm = 27

// BeaconPower returns the prescribed conducted transmit power in integer
// dBm for a hotspot with antenna gain gainDdBi (tenths of a dBi) in region
// r: min(trunc((max_eirp_ddBm − gain_ddBi) / 10), max_conducted_dbm),
// rounding toward zero, the cap applying only where the region has one
// (poc-rules §3 step 6, §12b). EU868 (161) with 60 ddBi → 10 dBm; US915
// (360) with 60 ddBi → 30, capped to 27. r must not be nil.
func BeaconPower(r *Region, gainDdBi int32) int {
	// Go's integer division truncates toward zero, as the rule says; the
	// operands are widened so no gain value can overflow.
	p := (int64(r.MaxEIRPddBm) - int64(gainDdBi)) / 10
	if r.MaxConductedDBm != 0 && p > int64(r.MaxConductedDBm) {
		p = int64(r.MaxConductedDBm)
	}
	return int(p)
}

// Beacon is a beacon's content and the transmit parameters poc-rules §3
// prescribes for it.
type Beacon struct {
	Payload   [BeaconPayloadSize]byte
	Frequency Hz
	DataRate  DataRate
	PowerDBm  int
}

// NewBeacon builds the beacon of poc-rules §3 for a beaconer in region r:
// payload from the entropy, the beaconer's public key and the nonce;
// frequency from the payload; the region's beacon data rate; the prescribed
// power for the hotspot's antenna gain. It fails with ErrNoBeacon for a
// region without beacon parameters (CN470).
func NewBeacon(r *Region, entropyData [32]byte, entropyTs int64, beaconer [32]byte, nonce [16]byte, gainDdBi int32) (Beacon, error) {
	if r == nil {
		return Beacon{}, fmt.Errorf("new beacon: nil region: %w", ErrNoBeacon)
	}
	dr, ok := r.BeaconDataRate()
	if !ok {
		return Beacon{}, fmt.Errorf("new beacon in %s: %w", r.Name, ErrNoBeacon)
	}
	payload := BeaconPayload(BeaconSeed(entropyData, entropyTs, beaconer, nonce))
	f, ok := BeaconChannel(r, payload)
	if !ok {
		return Beacon{}, fmt.Errorf("new beacon in %s: no channels: %w", r.Name, ErrNoBeacon)
	}
	return Beacon{
		Payload:   payload,
		Frequency: f,
		DataRate:  dr,
		PowerDBm:  BeaconPower(r, gainDdBi),
	}, nil
}

// Frame returns the beacon as sent on air (see BeaconFrame).
func (b Beacon) Frame() []byte { return BeaconFrame(b.Payload) }

// BeaconFrame returns the 52-byte frame on air: MHDR 0xE0 (Proprietary) ‖
// payload (poc-rules §3 step 7).
func BeaconFrame(payload [BeaconPayloadSize]byte) []byte {
	f := make([]byte, BeaconFrameSize)
	f[0] = BeaconMHDR
	copy(f[1:], payload[:])
	return f
}

// ParseBeaconFrame returns the payload of a candidate beacon: any frame of
// exactly 52 bytes whose MHDR is 0xE0. It reports false for anything else.
func ParseBeaconFrame(frame []byte) ([BeaconPayloadSize]byte, bool) {
	var p [BeaconPayloadSize]byte
	if len(frame) != BeaconFrameSize || frame[0] != BeaconMHDR {
		return p, false
	}
	copy(p[:], frame[1:])
	return p, true
}

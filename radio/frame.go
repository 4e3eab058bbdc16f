package radio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/brocaar/lorawan"
)

// FrameType is the kind of LoRaWAN uplink a PHYPayload is, as routing and
// charging see it.
type FrameType uint8

// Uplink frame types. Downlinks, proprietary frames and rejoin requests are
// not uplinks that a customer route carries.
const (
	FrameData FrameType = iota + 1 // unconfirmed or confirmed data up
	FrameJoin                      // join-request
)

// Uplink is what routing and charging read from a LoRaWAN 1.0.x uplink
// PHYPayload: the fields that select a route and identify the uplink.
type Uplink struct {
	Type      FrameType
	Confirmed bool   // FrameData: confirmed data up
	DevAddr   uint32 // FrameData
	FCnt      uint16 // FrameData: the 16 bits on air
	JoinEUI   uint64 // FrameJoin
	DevEUI    uint64 // FrameJoin
}

// ErrNotUplink is wrapped by ParseUplink's errors.
var ErrNotUplink = errors.New("not a LoRaWAN uplink")

// ParseUplink decodes a PHYPayload as a LoRaWAN 1.0.x data uplink or
// join-request. Anything else (a downlink, a join-accept, a proprietary or
// rejoin frame, an unknown major version, a frame too short or too long for
// its type) is an error wrapping ErrNotUplink. The MIC is not checked: that
// needs the session key (DataMICValid).
func ParseUplink(phy []byte) (Uplink, error) {
	if len(phy) == 0 || len(phy) > 255 {
		return Uplink{}, fmt.Errorf("%w: %d bytes", ErrNotUplink, len(phy))
	}
	var p lorawan.PHYPayload
	// From a copy: brocaar/lorawan may keep and modify the bytes it decodes.
	if err := p.UnmarshalBinary(bytes.Clone(phy)); err != nil {
		return Uplink{}, fmt.Errorf("%w: %w", ErrNotUplink, err)
	}
	if p.MHDR.Major != lorawan.LoRaWANR1 {
		return Uplink{}, fmt.Errorf("%w: major version %d", ErrNotUplink, p.MHDR.Major)
	}
	switch p.MHDR.MType {
	case lorawan.JoinRequest:
		if len(phy) != 23 {
			return Uplink{}, fmt.Errorf("%w: join-request of %d bytes", ErrNotUplink, len(phy))
		}
		// JoinEUI and DevEUI are little-endian on air.
		return Uplink{
			Type:    FrameJoin,
			JoinEUI: binary.LittleEndian.Uint64(phy[1:9]),
			DevEUI:  binary.LittleEndian.Uint64(phy[9:17]),
		}, nil
	case lorawan.UnconfirmedDataUp, lorawan.ConfirmedDataUp:
		mac, ok := p.MACPayload.(*lorawan.MACPayload)
		if !ok {
			return Uplink{}, fmt.Errorf("%w: no MAC payload", ErrNotUplink)
		}
		return Uplink{
			Type:      FrameData,
			Confirmed: p.MHDR.MType == lorawan.ConfirmedDataUp,
			DevAddr:   binary.BigEndian.Uint32(mac.FHDR.DevAddr[:]),
			FCnt:      uint16(mac.FHDR.FCnt),
		}, nil
	default:
		return Uplink{}, fmt.Errorf("%w: message type %v", ErrNotUplink, p.MHDR.MType)
	}
}

// DataMICValid reports whether a LoRaWAN 1.0.x data uplink's MIC verifies
// with the session key nwkSKey. Only the low 16 bits of the frame counter
// travel on air; the MIC covers all 32, so the high half is tried from 0 up
// to fcntHighMax (inclusive). A frame that does not parse is not valid.
func DataMICValid(phy []byte, nwkSKey [16]byte, fcntHighMax uint16) bool {
	var p lorawan.PHYPayload
	if err := p.UnmarshalBinary(bytes.Clone(phy)); err != nil {
		return false
	}
	mac, ok := p.MACPayload.(*lorawan.MACPayload)
	if !ok || (p.MHDR.MType != lorawan.UnconfirmedDataUp && p.MHDR.MType != lorawan.ConfirmedDataUp) {
		return false
	}
	low := mac.FHDR.FCnt & 0xffff
	key := lorawan.AES128Key(nwkSKey)
	for high := uint32(0); high <= uint32(fcntHighMax); high++ {
		mac.FHDR.FCnt = high<<16 | low
		if ok, err := p.ValidateUplinkDataMIC(lorawan.LoRaWAN1_0, 0, 0, 0, key, key); err == nil && ok {
			return true
		}
	}
	return false
}

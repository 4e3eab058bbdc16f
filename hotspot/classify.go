package hotspot

import "encoding/binary"

// Class says what the bridge does with a received frame.
type Class uint8

// Frame classes.
const (
	ClassDrop   Class = iota // counted and dropped (Reason says why)
	ClassUplink              // LoRaWAN data uplink: to routing
	ClassJoin                // LoRaWAN join-request: to routing
	ClassBeacon              // candidate proof-of-coverage beacon: to the witness path
)

func (c Class) String() string {
	switch c {
	case ClassUplink:
		return "uplink"
	case ClassJoin:
		return "join"
	case ClassBeacon:
		return "beacon"
	default:
		return "dropped"
	}
}

// Drop reasons, used as metric labels.
const (
	ReasonCRC          = "crc"         // CRC bad or absent
	ReasonModulation   = "modulation"  // FSK, LR-FHSS or an unknown data rate
	ReasonEmpty        = "empty"       // no payload
	ReasonDownlink     = "downlink"    // join-accept or a downlink data frame
	ReasonProprietary  = "proprietary" // proprietary frame that is not a beacon
	ReasonMalformed    = "malformed"   // too short for its message type
	ReasonMajor        = "major"       // unknown LoRaWAN major version
	ReasonRejoin       = "rejoin"      // rejoin-request (not routed yet)
	ReasonNoRegion     = "no_region"   // region unknown: nothing is forwarded
	beaconFrameLength  = 52
	beaconMHDR         = 0xE0
	joinRequestLength  = 23
	minDataFrameLength = 12 // MHDR + DevAddr 4 + FCtrl + FCnt 2 + MIC 4
)

// Frame is the classification of one received PHYPayload.
type Frame struct {
	Class   Class
	Reason  string // for ClassDrop
	DevAddr uint32 // ClassUplink
	JoinEUI uint64 // ClassJoin
	DevEUI  uint64 // ClassJoin
}

// Classify sorts a received PHYPayload (semtech-udp.md §8 items 8–9).
// crcOK is rxpk stat == 1 and lora is a LoRa SF7–SF12 data rate.
func Classify(payload []byte, crcOK, lora bool) Frame {
	switch {
	case !crcOK:
		return Frame{Reason: ReasonCRC}
	case !lora:
		return Frame{Reason: ReasonModulation}
	case len(payload) == 0:
		return Frame{Reason: ReasonEmpty}
	}
	mhdr := payload[0]
	mtype := mhdr >> 5
	if mtype == 7 {
		if mhdr == beaconMHDR && len(payload) == beaconFrameLength {
			return Frame{Class: ClassBeacon}
		}
		return Frame{Reason: ReasonProprietary}
	}
	if mhdr&0x03 != 0 {
		return Frame{Reason: ReasonMajor}
	}
	switch mtype {
	case 0: // join-request
		if len(payload) != joinRequestLength {
			return Frame{Reason: ReasonMalformed}
		}
		return Frame{
			Class:   ClassJoin,
			JoinEUI: binary.LittleEndian.Uint64(payload[1:9]),
			DevEUI:  binary.LittleEndian.Uint64(payload[9:17]),
		}
	case 2, 4: // unconfirmed / confirmed data up
		if len(payload) < minDataFrameLength {
			return Frame{Reason: ReasonMalformed}
		}
		foptsLen := int(payload[5] & 0x0f)
		if len(payload) < minDataFrameLength+foptsLen {
			return Frame{Reason: ReasonMalformed}
		}
		return Frame{Class: ClassUplink, DevAddr: binary.LittleEndian.Uint32(payload[1:5])}
	case 6:
		return Frame{Reason: ReasonRejoin}
	default: // 1 join-accept, 3 and 5 data down
		return Frame{Reason: ReasonDownlink}
	}
}

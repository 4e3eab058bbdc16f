package hotspot

import (
	"bytes"
	"testing"
)

func TestClassify(t *testing.T) {
	beacon := append([]byte{0xE0}, bytes.Repeat([]byte{7}, 51)...)
	uplink := []byte{0x40, 0xda, 0x1b, 0x01, 0x26, 0x00, 0x01, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0xa1, 0xb2, 0xc3, 0xd4}
	confirmed := append([]byte{0x80}, uplink[1:]...)
	join := []byte{0x00, 1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0xaa, 0xbb, 0, 0, 0, 0}
	withFOpts := []byte{0x40, 1, 2, 3, 4, 0x03, 0, 0, 9, 9, 9, 1, 2, 3, 4} // FOptsLen 3, exactly fits
	tests := []struct {
		name    string
		payload []byte
		crc     bool
		lora    bool
		want    Frame
	}{
		{"beacon", beacon, true, true, Frame{Class: ClassBeacon}},
		{"beacon bad crc", beacon, false, true, Frame{Reason: ReasonCRC}},
		{"fsk", beacon, true, false, Frame{Reason: ReasonModulation}},
		{"proprietary 51", beacon[:51], true, true, Frame{Reason: ReasonProprietary}},
		{"proprietary 53", append(beacon, 0), true, true, Frame{Reason: ReasonProprietary}},
		{"proprietary major 1", append([]byte{0xE1}, beacon[1:]...), true, true, Frame{Reason: ReasonProprietary}},
		{"unconfirmed up", uplink, true, true, Frame{Class: ClassUplink, DevAddr: 0x26011bda}},
		{"confirmed up", confirmed, true, true, Frame{Class: ClassUplink, DevAddr: 0x26011bda}},
		{"fopts fit", withFOpts, true, true, Frame{Class: ClassUplink, DevAddr: 0x04030201}},
		{"fopts overflow", withFOpts[:14], true, true, Frame{Reason: ReasonMalformed}},
		{"short uplink", uplink[:11], true, true, Frame{Reason: ReasonMalformed}},
		{"join", join, true, true, Frame{Class: ClassJoin, JoinEUI: 0x0807060504030201, DevEUI: 0x1817161514131211}},
		{"join short", join[:22], true, true, Frame{Reason: ReasonMalformed}},
		{"join accept", append([]byte{0x20}, make([]byte, 16)...), true, true, Frame{Reason: ReasonDownlink}},
		{"data down", append([]byte{0x60}, uplink[1:]...), true, true, Frame{Reason: ReasonDownlink}},
		{"rejoin", append([]byte{0xC0}, make([]byte, 18)...), true, true, Frame{Reason: ReasonRejoin}},
		{"major 1", append([]byte{0x41}, uplink[1:]...), true, true, Frame{Reason: ReasonMajor}},
		{"empty", nil, true, true, Frame{Reason: ReasonEmpty}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify(tc.payload, tc.crc, tc.lora); got != tc.want {
				t.Fatalf("Classify = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzClassify(f *testing.F) {
	f.Add(append([]byte{0xE0}, bytes.Repeat([]byte{7}, 51)...))
	f.Add([]byte{0x40, 0xda, 0x1b, 0x01, 0x26, 0x00, 0x01, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0xa1, 0xb2, 0xc3, 0xd4})
	f.Add(append([]byte{0x00}, make([]byte, 22)...))
	f.Add([]byte{0x40, 1, 2, 3, 4, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr := Classify(b, true, true)
		switch fr.Class {
		case ClassBeacon:
			if len(b) != 52 || b[0] != 0xE0 {
				t.Fatalf("beacon from %x", b)
			}
		case ClassJoin:
			if len(b) != 23 {
				t.Fatalf("join of %d bytes", len(b))
			}
		case ClassUplink:
			if len(b) < 12+int(b[5]&0x0f) {
				t.Fatalf("uplink too short: %x", b)
			}
		case ClassDrop:
			if fr.Reason == "" {
				t.Fatal("drop without reason")
			}
		}
	})
}

package radio

import (
	"encoding/hex"
	"errors"
	"testing"

	"github.com/brocaar/lorawan"
)

// dataUp builds a LoRaWAN 1.0 data uplink with a valid MIC under nwkSKey
// for the 32-bit frame counter fcnt.
func dataUp(t testing.TB, confirmed bool, devAddr [4]byte, fcnt uint32, nwkSKey [16]byte, payload []byte) []byte {
	t.Helper()
	port := uint8(1)
	mt := lorawan.UnconfirmedDataUp
	if confirmed {
		mt = lorawan.ConfirmedDataUp
	}
	p := lorawan.PHYPayload{
		MHDR: lorawan.MHDR{MType: mt, Major: lorawan.LoRaWANR1},
		MACPayload: &lorawan.MACPayload{
			FHDR:       lorawan.FHDR{DevAddr: lorawan.DevAddr(devAddr), FCnt: fcnt},
			FPort:      &port,
			FRMPayload: []lorawan.Payload{&lorawan.DataPayload{Bytes: payload}},
		},
	}
	if err := p.SetUplinkDataMIC(lorawan.LoRaWAN1_0, 0, 0, 0, nwkSKey, nwkSKey); err != nil {
		t.Fatal(err)
	}
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseUplink(t *testing.T) {
	key := [16]byte{1, 2, 3}
	join, _ := hex.DecodeString("00" + "0807060504030201" + "1817161514131211" + "3412" + "a1b2c3d4")
	tests := []struct {
		name string
		phy  []byte
		want Uplink
		err  bool
	}{
		{"unconfirmed data up", dataUp(t, false, [4]byte{0x26, 0x01, 0x1b, 0xda}, 7, key, []byte("hi")),
			Uplink{Type: FrameData, DevAddr: 0x26011bda, FCnt: 7}, false},
		{"confirmed data up, counter past 16 bits", dataUp(t, true, [4]byte{0x02, 0, 0, 9}, 0x10005, key, nil),
			Uplink{Type: FrameData, Confirmed: true, DevAddr: 0x02000009, FCnt: 5}, false},
		{"join-request", join, Uplink{Type: FrameJoin, JoinEUI: 0x0102030405060708, DevEUI: 0x1112131415161718}, false},
		{"empty", nil, Uplink{}, true},
		{"too long", make([]byte, 256), Uplink{}, true},
		{"join-accept", append([]byte{0x20}, make([]byte, 16)...), Uplink{}, true},
		{"unconfirmed data down", append([]byte{0x60}, make([]byte, 11)...), Uplink{}, true},
		{"proprietary", append([]byte{0xe0}, make([]byte, 51)...), Uplink{}, true},
		{"major version 1", append([]byte{0x41}, make([]byte, 11)...), Uplink{}, true},
		{"truncated data up", []byte{0x40, 1, 2, 3}, Uplink{}, true},
		{"join-request one byte short", join[:22], Uplink{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseUplink(tt.phy)
			if tt.err {
				if !errors.Is(err, ErrNotUplink) {
					t.Fatalf("got %+v, %v; want an ErrNotUplink", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestDataMICValid(t *testing.T) {
	key, other := [16]byte{0xaa, 1}, [16]byte{0xbb, 2}
	low := dataUp(t, false, [4]byte{0x02, 0, 0, 1}, 41, key, []byte("payload"))
	high := dataUp(t, false, [4]byte{0x02, 0, 0, 1}, 3<<16|41, key, []byte("payload"))
	switch {
	case !DataMICValid(low, key, 0):
		t.Error("MIC of a frame with a 16-bit counter does not verify")
	case DataMICValid(low, other, 15):
		t.Error("MIC verifies under another key")
	case DataMICValid(high, key, 2):
		t.Error("counter high half 3 verified when only 0–2 were tried")
	case !DataMICValid(high, key, 3):
		t.Error("counter high half 3 not found")
	}
	tampered := append([]byte(nil), low...)
	tampered[len(tampered)-6] ^= 1 // a payload byte
	if DataMICValid(tampered, key, 15) {
		t.Error("a tampered frame verifies")
	}
	if DataMICValid([]byte{0x40, 1}, key, 15) || DataMICValid(append([]byte{0x00}, make([]byte, 22)...), key, 15) {
		t.Error("a short frame or a join-request verifies as a data uplink")
	}
}

func FuzzParseUplink(f *testing.F) {
	key := [16]byte{1}
	f.Add(dataUp(f, false, [4]byte{1, 2, 3, 4}, 1, key, []byte("abc")))
	f.Add(dataUp(f, true, [4]byte{1, 2, 3, 4}, 1, key, nil))
	f.Add(append([]byte{0x00}, make([]byte, 22)...))
	f.Add([]byte{0x40, 1, 2, 3, 4, 0x0f, 0, 0})
	f.Fuzz(func(t *testing.T, phy []byte) {
		u, err := ParseUplink(phy)
		if err != nil {
			if !errors.Is(err, ErrNotUplink) {
				t.Fatalf("error %v does not wrap ErrNotUplink", err)
			}
			return
		}
		if u.Type != FrameData && u.Type != FrameJoin {
			t.Fatalf("parsed type %d", u.Type)
		}
		DataMICValid(phy, key, 1) // must not panic
	})
}

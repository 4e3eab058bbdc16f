package semtech

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hexfield/hexfield/radio"
)

// Golden datagrams of spec §9 (gateway EUI B827EBFFFE123456).
const (
	specEUIHex = "B827EBFFFE123456"

	specPullData = "02 3C 4D 02 B8 27 EB FF FE 12 34 56"
	specPullAck  = "02 3C 4D 04"
	specPushAck  = "02 1A 2B 01"

	specPushDataHeader = "02 1A 2B 00 B8 27 EB FF FE 12 34 56"
	specUplinkJSON     = `{"rxpk":[{"time":"2024-05-01T12:00:00.123456Z","tmst":3512348611,"chan":2,"rfch":0,"freq":868.500000,"stat":1,"modu":"LORA","datr":"SF7BW125","codr":"4/5","rssi":-57,"lsnr":9.5,"size":17,"data":"QNobASYAAQABYWJjZKGyw9Q="}]}`
	specBeaconJSON     = `{"rxpk":[{"tmst":4294000000,"chan":4,"rfch":0,"freq":867.900000,"stat":1,"modu":"LORA","datr":"SF12BW125","codr":"4/5","rssi":-95,"rssis":-96,"lsnr":7.5,"size":52,"data":"4KxdrgV2lgAP5zPIhPIsY3IRUbA+zTTtT3Z8WB9QCo5y0/kP+Z+W2F3ybyl5zw0xJdaTFA=="}]}`

	specStatHeader = "02 7A 01 00 B8 27 EB FF FE 12 34 56"
	specStatJSON   = `{"stat":{"time":"2024-05-01 12:00:00 GMT","lati":52.37000,"long":4.89000,"alti":3,"rxnb":2,"rxok":2,"rxfw":2,"ackr":100.0,"dwnb":1,"txnb":1}}`

	specPullRespHeader = "02 5E 6F 03"
	specPullRespJSON   = `{"txpk":{"imme":true,"freq":867.9,"rfch":0,"powe":10,"modu":"LORA","datr":"SF12BW125","codr":"4/5","ipol":false,"size":52,"data":"4KxdrgV2lgAP5zPIhPIsY3IRUbA+zTTtT3Z8WB9QCo5y0/kP+Z+W2F3ybyl5zw0xJdaTFA=="}}`

	specTxAckOK      = "02 5E 6F 05 B8 27 EB FF FE 12 34 56"
	specTxAckTooLate = `02 5E 6F 05 B8 27 EB FF FE 12 34 56 7B 22 74 78 70 6B 5F 61 63 6B 22 3A
7B 22 65 72 72 6F 72 22 3A 22 54 4F 4F 5F 4C 41 54 45 22 7D 7D`
	specTxAckPower = `02 5E 6F 05 B8 27 EB FF FE 12 34 56 7B 22 74 78 70 6B 5F 61 63 6B 22 3A
7B 22 77 61 72 6E 22 3A 22 54 58 5F 50 4F 57 45 52 22 2C 22 76 61 6C 75
65 22 3A 31 34 7D 7D`

	// The spec's beacon frame: 0xE0 ‖ the poc-rules §3 payload.
	specBeaconFrameHex = "e0ac5dae057696000fe733c884f22c63721151b03ecd34ed4f767c581f500a8e72d3f90ff99f96d85df26f2979cf0d3125d69314"
)

// unhex decodes hex with any whitespace.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// datagram is header hex followed by literal JSON text.
func datagram(t testing.TB, headerHex, jsonText string) []byte {
	t.Helper()
	return append(unhex(t, headerHex), jsonText...)
}

var specEUI = EUI{0xB8, 0x27, 0xEB, 0xFF, 0xFE, 0x12, 0x34, 0x56}

func ptr[T any](v T) *T { return &v }

func specUplinkRXPK() RXPK {
	return RXPK{
		Time: time.Date(2024, 5, 1, 12, 0, 0, 123456000, time.UTC),
		Tmst: 3512348611, Chan: 2, RFCh: 0, Freq: 868_500_000, Stat: 1,
		Modu: "LORA", DatR: DatR{LoRa: "SF7BW125"}, CodR: "4/5", RSSI: -57, LSNR: 9.5,
		Data: []byte{0x40, 0xDA, 0x1B, 0x01, 0x26, 0x00, 0x01, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0xA1, 0xB2, 0xC3, 0xD4},
	}
}

func specBeaconRXPK(t testing.TB) RXPK {
	return RXPK{
		Tmst: 4294000000, Chan: 4, RFCh: 0, Freq: 867_900_000, Stat: 1,
		Modu: "LORA", DatR: DatR{LoRa: "SF12BW125"}, CodR: "4/5", RSSI: -95, RSSIS: ptr(radio.DBm(-96)), LSNR: 7.5,
		Data: unhex(t, specBeaconFrameHex),
	}
}

func specBeaconTXPK(t testing.TB) TXPK {
	return TXPK{
		Imme: true, Freq: 867_900_000, RFCh: 0, Powe: 10, Modu: "LORA", DatR: DatR{LoRa: "SF12BW125"},
		CodR: "4/5", IPol: false, Data: unhex(t, specBeaconFrameHex),
	}
}

// codec is what every message type implements.
type codec interface {
	Packet
	UnmarshalBinary([]byte) error
}

// goldenCase is one datagram and its value, checked both ways.
type goldenCase struct {
	name  string
	bytes []byte
	value codec
	// decodeOnly marks inputs whose re-encoding differs (lenient forms).
	decodeOnly bool
}

// checkGolden decodes bytes into a fresh value of the same type and compares
// it with value, then encodes value and compares it with bytes; Decode must
// agree too.
func checkGolden(t *testing.T, cases []goldenCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := reflect.New(reflect.TypeOf(c.value).Elem()).Interface().(codec)
			if err := got.UnmarshalBinary(c.bytes); err != nil {
				t.Fatalf("UnmarshalBinary(% X): %v", c.bytes, err)
			}
			if !reflect.DeepEqual(got, c.value) {
				t.Errorf("decoded\n%#v\nwant\n%#v", got, c.value)
			}
			viaDecode, err := Decode(c.bytes)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(viaDecode, c.value) {
				t.Errorf("Decode gave %#v", viaDecode)
			}
			if c.decodeOnly {
				return
			}
			enc, err := c.value.MarshalBinary()
			if err != nil {
				t.Fatalf("MarshalBinary: %v", err)
			}
			if !bytes.Equal(enc, c.bytes) {
				t.Errorf("encoded (%d bytes)\n% X\n%q\nwant (%d bytes)\n% X\n%q", len(enc), enc, enc, len(c.bytes), c.bytes, c.bytes)
			}
		})
	}
}

// badCase is an input that must fail with an error wrapping want.
type badCase struct {
	name  string
	bytes []byte
	want  error
}

func checkBad(t *testing.T, newValue func() codec, cases []badCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := newValue().UnmarshalBinary(c.bytes)
			if !errors.Is(err, c.want) {
				t.Errorf("UnmarshalBinary(%q) error = %v, want %v", c.bytes, err, c.want)
			}
		})
	}
}

// stable checks decode → encode → decode → encode gives identical bytes for
// any input that decodes; fuzz targets call it.
func stable(t *testing.T, data []byte, newValue func() codec) {
	t.Helper()
	v1 := newValue()
	if err := v1.UnmarshalBinary(data); err != nil {
		return
	}
	b1, err := v1.MarshalBinary()
	if err != nil {
		// Some decodable inputs cannot be re-encoded (e.g. a PULL_RESP
		// that grows beyond 1000 bytes); they must fail with a typed error.
		if !errors.Is(err, ErrTooLong) {
			t.Fatalf("re-encode of % X: %v", data, err)
		}
		return
	}
	v2 := newValue()
	if err := v2.UnmarshalBinary(b1); err != nil {
		t.Fatalf("decode of re-encoded %q: %v", b1, err)
	}
	b2, err := v2.MarshalBinary()
	if err != nil {
		t.Fatalf("second encode: %v", err)
	}
	if !bytes.Equal(b1, b2) {
		t.Fatalf("unstable:\n%q\n%q", b1, b2)
	}
}

func TestParseHeader(t *testing.T) {
	cases := []struct {
		name string
		hex  string
		want error
	}{
		{"empty", "", ErrTooShort},
		{"three bytes", "02 00 00", ErrTooShort},
		{"version 0", "00 1A 2B 01", ErrVersion},
		{"version 3", "03 1A 2B 01", ErrVersion},
		{"unknown type", "02 1A 2B 06", ErrType},
		{"push data header only", "02 1A 2B 00 B8 27 EB FF FE 12 34 56", ErrLength},
		{"pull data short", "02 3C 4D 02 B8 27 EB FF FE 12 34", ErrLength},
		{"pull data long", "02 3C 4D 02 B8 27 EB FF FE 12 34 56 00", ErrLength},
		{"push ack long", "02 1A 2B 01 00", ErrLength},
		{"pull ack long", "02 1A 2B 04 00", ErrLength},
		{"pull resp header only", "02 1A 2B 03", ErrLength},
		{"tx ack short", "02 1A 2B 05 B8 27 EB FF FE 12 34", ErrLength},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := ParseHeader(unhex(t, c.hex)); !errors.Is(err, c.want) {
				t.Errorf("ParseHeader(%s) = %v, want %v", c.hex, err, c.want)
			}
		})
	}
	h, err := ParseHeader(unhex(t, specTxAckOK))
	if err != nil || h != (Header{Version: 2, Token: Token{0x5E, 0x6F}, Type: TypeTxAck, EUI: specEUI}) {
		t.Errorf("ParseHeader(TX_ACK) = %+v, %v", h, err)
	}
	if _, err := ParseHeader(make([]byte, MaxPullRespSize+1)); !errors.Is(err, ErrVersion) {
		t.Errorf("zeros: %v", err)
	}
	big := append(unhex(t, specPullRespHeader), make([]byte, MaxPullRespSize)...)
	if _, err := ParseHeader(big); !errors.Is(err, ErrTooLong) {
		t.Errorf("oversized PULL_RESP: %v", err)
	}
}

func TestEUI(t *testing.T) {
	e, err := ParseEUI(specEUIHex)
	if err != nil || e != specEUI {
		t.Fatalf("ParseEUI = %v, %v", e, err)
	}
	if e.String() != "b827ebfffe123456" {
		t.Errorf("String = %s", e)
	}
	for _, s := range []string{"b8-27-eb-ff-fe-12-34-56", "B8:27:EB:FF:FE:12:34:56"} {
		if e2, err := ParseEUI(s); err != nil || e2 != e {
			t.Errorf("ParseEUI(%q) = %v, %v", s, e2, err)
		}
	}
	for _, s := range []string{"", "b827ebfffe1234", "b827ebfffe12345g", "b827ebfffe12345600"} {
		if _, err := ParseEUI(s); err == nil {
			t.Errorf("ParseEUI(%q): want error", s)
		}
	}
	var back EUI
	text, _ := e.MarshalText()
	if err := back.UnmarshalText(text); err != nil || back != e {
		t.Errorf("text round trip: %v %v", back, err)
	}
}

func TestToken(t *testing.T) {
	tok := Token{0x3C, 0x4D}
	if tok.Uint16() != 0x3C4D || TokenFrom(0x3C4D) != tok {
		t.Errorf("token %v ↔ %#x", tok, tok.Uint16())
	}
}

func TestDecodeDispatch(t *testing.T) {
	for _, c := range []struct {
		hex  string
		want MessageType
	}{
		{specPullData, TypePullData}, {specPullAck, TypePullAck}, {specPushAck, TypePushAck},
		{specTxAckOK, TypeTxAck},
	} {
		p, err := Decode(unhex(t, c.hex))
		if err != nil || p.MessageType() != c.want {
			t.Errorf("Decode(%s) = %v, %v; want %v", c.hex, p, err, c.want)
		}
	}
	if _, err := Decode(unhex(t, "02 00 00 07")); !errors.Is(err, ErrType) {
		t.Errorf("Decode(type 7) = %v", err)
	}
}

func TestWrongType(t *testing.T) {
	var p PullData
	if err := p.UnmarshalBinary(unhex(t, specPushAck)); !errors.Is(err, ErrWrongType) {
		t.Errorf("PULL_DATA from PUSH_ACK bytes: %v", err)
	}
}

func TestMessageTypeString(t *testing.T) {
	want := []string{"PUSH_DATA", "PUSH_ACK", "PULL_DATA", "PULL_RESP", "PULL_ACK", "TX_ACK", "type 0x06"}
	for i, w := range want {
		if got := MessageType(i).String(); got != w {
			t.Errorf("MessageType(%d) = %q, want %q", i, got, w)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{specPullData, specPullAck, specPushAck, specTxAckOK, specTxAckTooLate, specTxAckPower} {
		f.Add(unhex(f, s))
	}
	f.Add(datagram(f, specPushDataHeader, specUplinkJSON))
	f.Add(datagram(f, specPullRespHeader, specPullRespJSON))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Decode(data)
		if err != nil {
			return
		}
		h, err := ParseHeader(data)
		if err != nil || h.Type != p.MessageType() {
			t.Fatalf("Decode gave %v but ParseHeader %v, %v", p.MessageType(), h.Type, err)
		}
	})
}

package semtech

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hexfield/hexfield/radio"
)

// TestRXPKLenient covers the lenient forms of spec §8.2 and the SX1302 and
// JSON v2 fields.
func TestRXPKLenient(t *testing.T) {
	cases := []struct {
		name string
		json string
		want RXPK
	}{
		{
			name: "unpadded base64, float rssi, integer lsnr, unknown fields, freq rounding",
			json: `{"tmst":7,"freq":867.9,"stat":1,"modu":"LORA","datr":"SF7BW125","codr":"4/5","rssi":-57.5,"lsnr":9,"size":2,"data":"QNo","brand_new":{"x":[1,2]}}`,
			want: RXPK{Tmst: 7, Freq: 867_900_000, Stat: 1, Modu: "LORA", DatR: DatR{LoRa: "SF7BW125"}, CodR: "4/5", RSSI: -57.5, LSNR: 9, Data: []byte{0x40, 0xDA}},
		},
		{
			name: "FSK numeric datr",
			json: `{"tmst":7,"freq":868.8,"stat":1,"modu":"FSK","datr":50000,"rssi":-70,"size":1,"data":"QA=="}`,
			want: RXPK{Tmst: 7, Freq: 868_800_000, Stat: 1, Modu: "FSK", DatR: DatR{FSK: 50000}, RSSI: -70, Data: []byte{0x40}},
		},
		{
			name: "bad time dropped, ChirpStack-losing stat time form accepted elsewhere",
			json: `{"time":"yesterday","tmst":1,"freq":868.1,"stat":-1,"modu":"LORA","datr":"SF12BW125","codr":"4/5","rssi":-120,"lsnr":-17.5,"size":0,"data":""}`,
			want: RXPK{Tmst: 1, Freq: 868_100_000, Stat: -1, Modu: "LORA", DatR: DatR{LoRa: "SF12BW125"}, CodR: "4/5", RSSI: -120, LSNR: -17.5, Data: []byte{}},
		},
		{
			name: "time without fraction, numeric time dropped",
			json: `{"time":"2011-01-01T06:04:25Z","tmst":1,"freq":868.1,"modu":"LORA","datr":"SF7BW125","data":""}`,
			want: RXPK{Time: time.Date(2011, 1, 1, 6, 4, 25, 0, time.UTC), Tmst: 1, Freq: 868_100_000, Modu: "LORA", DatR: DatR{LoRa: "SF7BW125"}, Data: []byte{}},
		},
		{
			name: "SX1302 fields",
			json: `{"jver":1,"tmst":3,"time":"2024-05-01T12:00:00.5Z","tmms":1398600018500,"ftime":123456789,"chan":0,"rfch":1,"freq":904.300000,"mid":8,"stat":1,"modu":"LORA","datr":"SF10BW125","codr":"4/5","rssis":-108,"rssi":-101,"lsnr":-3.2,"foff":-1234,"size":1,"data":"QA=="}`,
			want: RXPK{
				JVer: ptr(1), Time: time.Date(2024, 5, 1, 12, 0, 0, 500_000_000, time.UTC), Tmms: ptr(uint64(1398600018500)), Tmst: 3,
				FTime: ptr(int64(123456789)), RFCh: 1, Freq: 904_300_000, Mid: ptr(8), Stat: 1, Modu: "LORA",
				DatR: DatR{LoRa: "SF10BW125"}, CodR: "4/5", RSSI: -101, RSSIS: ptr(radio.DBm(-108)), LSNR: -3.2, FOff: ptr(-1234), Data: []byte{0x40},
			},
		},
		{
			name: "JSON v2 rsig: best rssis antenna",
			json: `{"jver":2,"tmst":9,"freq":868.3,"stat":1,"modu":"LORA","datr":"SF8BW125","codr":"4/5","size":1,"data":"QA==","brd":1,"aesk":0,"delayed":false,` +
				`"rsig":[{"ant":0,"chan":3,"rssic":-90,"rssis":-95,"lsnr":2.5,"etime":"AAAA","foff":-10,"ftstat":0,"ftver":1,"ftdelta":2},{"ant":1,"chan":3,"rssic":-85,"rssis":-88,"lsnr":6.25}]}`,
			want: RXPK{
				JVer: ptr(2), Tmst: 9, Freq: 868_300_000, Stat: 1, Modu: "LORA", DatR: DatR{LoRa: "SF8BW125"}, CodR: "4/5",
				RSSI: -85, RSSIS: ptr(radio.DBm(-88)), LSNR: 6.25, Data: []byte{0x40}, Brd: ptr(1), Aesk: ptr(0), Delayed: ptr(false),
				RSig: []RSig{
					{Ant: 0, Chan: 3, RSSIC: -90, RSSIS: ptr(radio.DBm(-95)), LSNR: 2.5, ETime: "AAAA", FOff: ptr(-10), FTStat: ptr(0), FTVer: ptr(1), FTDelta: ptr(2)},
					{Ant: 1, Chan: 3, RSSIC: -85, RSSIS: ptr(radio.DBm(-88)), LSNR: 6.25},
				},
			},
		},
		{
			name: "numbers in strings and floats for integers",
			json: `{"tmst":"42","chan":2.0,"freq":"868.1","stat":1.0,"modu":"LORA","datr":"SF7BW125","codr":"4/5","rssi":"-60","size":1,"data":"QA=="}`,
			want: RXPK{Tmst: 42, Chan: 2, Freq: 868_100_000, Stat: 1, Modu: "LORA", DatR: DatR{LoRa: "SF7BW125"}, CodR: "4/5", RSSI: -60, Data: []byte{0x40}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got RXPK
			if err := got.UnmarshalJSON([]byte(c.json)); err != nil {
				t.Fatal(err)
			}
			if !equalRXPK(got, c.want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, c.want)
			}
			// Encoding and decoding again gives the same value.
			enc, err := got.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			var again RXPK
			if err := again.UnmarshalJSON(enc); err != nil || !equalRXPK(again, got) {
				t.Errorf("round trip through %s: %+v, %v", enc, again, err)
			}
		})
	}
}

func equalRXPK(a, b RXPK) bool {
	pa, pb := PushData{RXPK: []RXPK{a}}, PushData{RXPK: []RXPK{b}}
	ea, err1 := pa.MarshalBinary()
	eb, err2 := pb.MarshalBinary()
	return err1 == nil && err2 == nil && string(ea) == string(eb) && a.Time.Equal(b.Time) && len(a.Data) == len(b.Data)
}

func TestFrequencyRounding(t *testing.T) {
	// 867.9 × 1e6 is 867 899 999.99… in binary floating point; truncation
	// would lose a hertz.
	for _, c := range []struct {
		mhz  string
		want radio.Hz
	}{{"867.9", 867_900_000}, {"867.900000", 867_900_000}, {"904.7", 904_700_000}, {"867.1", 867_100_000}, {"923.2", 923_200_000}, {"868.0999999", 868_100_000}} {
		var r RXPK
		if err := r.UnmarshalJSON([]byte(`{"freq":` + c.mhz + `,"modu":"LORA","datr":"SF7BW125","data":""}`)); err != nil || r.Freq != c.want {
			t.Errorf("freq %s → %d, %v; want %d", c.mhz, r.Freq, err, c.want)
		}
	}
}

func FuzzRXPK(f *testing.F) {
	f.Add([]byte(specUplinkJSON[9 : len(specUplinkJSON)-2]))
	f.Add([]byte(specBeaconJSON[9 : len(specBeaconJSON)-2]))
	f.Add([]byte(`{"jver":1,"tmst":3,"time":"2024-05-01T12:00:00.5Z","tmms":1398600018500,"ftime":123456789,"chan":0,"rfch":1,"freq":904.300000,"mid":8,"stat":1,"modu":"LORA","datr":"SF10BW125","codr":"4/5","rssis":-108,"rssi":-101,"lsnr":-3.2,"foff":-1234,"size":1,"data":"QA=="}`))
	f.Add([]byte(`{"tmst":1,"freq":868.1,"modu":"LORA","datr":"SF7BW125","data":"QA==","meta":{"network":"hexfield","gateway_id":"11x","n":3,"o":{"a":"b"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var r RXPK
		if err := r.UnmarshalJSON(data); err != nil {
			return
		}
		b1, err := r.MarshalJSON()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		var r2 RXPK
		if err := r2.UnmarshalJSON(b1); err != nil {
			t.Fatalf("decode %s: %v", b1, err)
		}
		b2, err := r2.MarshalJSON()
		if err != nil || string(b1) != string(b2) {
			t.Fatalf("unstable: %s vs %s (%v)", b1, b2, err)
		}
	})
}

// TestRXPKEncodesWholeDB: RSSI values go out as integers ("%.0f" in
// lora_pkt_fwd); ChirpStack decodes rssi into an int16 and would drop the
// datagram on a fraction.
func TestRXPKEncodesWholeDB(t *testing.T) {
	r := specUplinkRXPK()
	r.Time = time.Time{}
	r.RSSI, r.RSSIS, r.LSNR = -57.5, ptr(radio.DBm(-0.4)), -3.25
	r.RSig = []RSig{{Ant: 1, RSSIC: -90.6, RSSIS: ptr(radio.DBm(-95.2)), LSNR: 2.5}}
	b, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"rssi":-58,`, `"rssis":0,`, `"lsnr":-3.25,`, `"rssic":-91,`, `"rssis":-95,`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
}

// TestRXPKMeta: the "meta" object a hotspot adds for the LNS (routing §6)
// decodes leniently and bounded, and encodes in key order.
func TestRXPKMeta(t *testing.T) {
	long := strings.Repeat("x", MaxMetaLen+1)
	var many strings.Builder
	for i := range MaxMeta + 5 {
		fmt.Fprintf(&many, `,"k%02d":"v"`, i)
	}
	in := `{"freq":868.1,"modu":"LORA","datr":"SF7BW125","data":"QA==","meta":{"network":"hexfield","gateway_h3index":"8c1969a2a2b5dff","n":7,"obj":{"a":"b"},"long":"` + long + `","esc\"aped":"li\nne"` + many.String() + `}}`
	var r RXPK
	if err := r.UnmarshalJSON([]byte(in)); err != nil {
		t.Fatal(err)
	}
	if len(r.Meta) != MaxMeta || r.Meta["network"] != "hexfield" || r.Meta["gateway_h3index"] != "8c1969a2a2b5dff" || r.Meta[`esc"aped`] != "li\nne" {
		t.Fatalf("meta %v", r.Meta)
	}
	for _, k := range []string{"n", "obj", "long"} {
		if _, ok := r.Meta[k]; ok {
			t.Errorf("meta kept %q", k)
		}
	}
	out := RXPK{Freq: 868_100_000, Modu: "LORA", DatR: DatRFor(radio.DataRate{SF: 7, Bandwidth: 125_000}), Data: []byte{0x40},
		Meta: map[string]string{"regi": "EU868", "network": "hexfield", "gateway_id": "11x"}}
	b, err := out.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if want := `"meta":{"gateway_id":"11x","network":"hexfield","regi":"EU868"}}`; !strings.HasSuffix(string(b), want) {
		t.Errorf("%s does not end with %s", b, want)
	}
	var back RXPK
	if err := back.UnmarshalJSON(b); err != nil || len(back.Meta) != 3 || back.Meta["regi"] != "EU868" {
		t.Errorf("round trip: %v %v", back.Meta, err)
	}
	var none RXPK
	if err := none.UnmarshalJSON([]byte(`{"freq":868.1,"modu":"LORA","datr":"SF7BW125","data":"QA==","meta":"junk"}`)); err != nil || none.Meta != nil {
		t.Errorf("meta not an object: %v %v", none.Meta, err)
	}
}

package semtech

import (
	"strings"
	"testing"
)

func TestPullRespGolden(t *testing.T) {
	spec := datagram(t, specPullRespHeader, specPullRespJSON)
	if len(spec) != 209 {
		t.Errorf("spec PULL_RESP is %d bytes, spec says 209", len(spec))
	}
	tok := Token{0x5E, 0x6F}
	downlink := TXPK{Tmst: 3513348611, Freq: 869_525_000, RFCh: 0, Powe: 27, Modu: "LORA", DatR: DatR{LoRa: "SF9BW125"}, CodR: "4/5", IPol: true, Prea: 8, Data: []byte{0x60, 0xDA, 0x1B, 0x01, 0x26}}
	gps := TXPK{Tmms: ptr(uint64(1398600019500)), Freq: 923_300_000, RFCh: 0, Powe: 20, Modu: "LORA", DatR: DatR{LoRa: "SF12BW500"}, CodR: "4/5", IPol: true, Data: []byte{}, NCRC: true}
	fsk := TXPK{Imme: true, Freq: 868_800_000, RFCh: 0, Powe: 14, Modu: "FSK", DatR: DatR{FSK: 50000}, FDev: 25000, Prea: 5, Data: []byte{1, 2, 3}, NHdr: true}
	checkGolden(t, []goldenCase{
		{name: "spec beacon", bytes: spec, value: &PullResp{Version: 2, Token: tok, TXPK: specBeaconTXPK(t)}},
		{name: "class A downlink", value: &PullResp{Version: 2, Token: tok, TXPK: downlink}, bytes: datagram(t, specPullRespHeader,
			`{"txpk":{"tmst":3513348611,"freq":869.525,"rfch":0,"powe":27,"modu":"LORA","datr":"SF9BW125","codr":"4/5","ipol":true,"prea":8,"size":5,"data":"YNobASY="}}`)},
		{name: "gps time", value: &PullResp{Version: 2, Token: tok, TXPK: gps}, bytes: datagram(t, specPullRespHeader,
			`{"txpk":{"tmms":1398600019500,"freq":923.3,"rfch":0,"powe":20,"modu":"LORA","datr":"SF12BW500","codr":"4/5","ipol":true,"size":0,"data":"","ncrc":true}}`)},
		{name: "fsk", value: &PullResp{Version: 1, TXPK: fsk}, bytes: datagram(t, "01 00 00 03",
			`{"txpk":{"imme":true,"freq":868.8,"rfch":0,"powe":14,"modu":"FSK","datr":50000,"fdev":25000,"ipol":false,"prea":5,"size":3,"data":"AQID","nhdr":true}}`)},
		{name: "lenient: unpadded data, extra fields, float power, NUL", value: &PullResp{Version: 2, Token: tok, TXPK: downlink}, decodeOnly: true, bytes: datagram(t, specPullRespHeader,
			`{"txpk":{"tmst":3513348611,"freq":869.525,"rfch":0,"powe":27.0,"brd":0,"ant":0,"modu":"LORA","datr":"SF9BW125","codr":"4/5","ipol":true,"prea":8,"size":9,"data":"YNobASY"}}`+"\x00")},
	})
}

func TestPullRespBad(t *testing.T) {
	h := specPullRespHeader
	without := func(field string) []byte {
		// Drop one field from the spec's downlink txpk.
		fields := map[string]string{
			"tmst": `"tmst":1`, "freq": `"freq":869.525`, "rfch": `"rfch":0`, "modu": `"modu":"LORA"`,
			"datr": `"datr":"SF9BW125"`, "codr": `"codr":"4/5"`, "size": `"size":1`, "data": `"data":"QA=="`,
		}
		var parts []string
		for _, k := range []string{"tmst", "freq", "rfch", "modu", "datr", "codr", "size", "data"} {
			if k != field {
				parts = append(parts, fields[k])
			}
		}
		return datagram(t, h, `{"txpk":{`+strings.Join(parts, ",")+`}}`)
	}
	cases := []badCase{
		{"not json", datagram(t, h, "{"), ErrJSON},
		{"no txpk", datagram(t, h, `{"rxpk":[]}`), ErrInvalidJSON},
		{"txpk null", datagram(t, h, `{"txpk":null}`), ErrInvalidJSON},
		{"fsk without fdev", datagram(t, h, `{"txpk":{"imme":true,"freq":868.8,"rfch":0,"modu":"FSK","datr":50000,"size":1,"data":"QA=="}}`), ErrInvalidJSON},
		{"bad base64", datagram(t, h, `{"txpk":{"imme":true,"freq":868.8,"rfch":0,"modu":"LORA","datr":"SF7BW125","codr":"4/5","size":1,"data":"*"}}`), ErrInvalidJSON},
		{"freq zero", datagram(t, h, `{"txpk":{"imme":true,"freq":0,"rfch":0,"modu":"LORA","datr":"SF7BW125","codr":"4/5","size":1,"data":"QA=="}}`), ErrInvalidJSON},
		{"power out of range", datagram(t, h, `{"txpk":{"imme":true,"freq":868.1,"rfch":0,"powe":1000,"modu":"LORA","datr":"SF7BW125","codr":"4/5","size":1,"data":"QA=="}}`), ErrInvalidJSON},
		{"too long", datagram(t, h, `{"txpk":{`+strings.Repeat(" ", 1000)+`}}`), ErrTooLong},
	}
	for _, f := range []string{"tmst", "freq", "rfch", "modu", "datr", "codr", "size", "data"} {
		cases = append(cases, badCase{"missing " + f, without(f), ErrInvalidJSON})
	}
	checkBad(t, func() codec { return new(PullResp) }, cases)
	// A complete txpk decodes (the helper itself is sound).
	var ok PullResp
	if err := ok.UnmarshalBinary(without("")); err != nil {
		t.Errorf("complete txpk: %v", err)
	}
	for _, p := range []*PullResp{
		{TXPK: TXPK{Modu: "LORA", DatR: DatR{LoRa: "SF7BW125"}, CodR: "4/5"}},       // no freq
		{TXPK: TXPK{Freq: 868_100_000, Modu: "LORA", DatR: DatR{LoRa: "SF7BW125"}}}, // no codr
		{TXPK: TXPK{Freq: 868_100_000, Modu: "LORA", CodR: "4/5"}},                  // no datr
		{TXPK: TXPK{Freq: 868_100_000, Modu: "LORA", DatR: DatR{LoRa: "SF7BW125"}, CodR: "4/5", Data: make([]byte, 256)}},
	} {
		if _, err := p.MarshalBinary(); err == nil {
			t.Errorf("MarshalBinary(%+v): want error", p.TXPK)
		}
	}
}

func FuzzPullResp(f *testing.F) {
	f.Add(datagram(f, specPullRespHeader, specPullRespJSON))
	f.Add(datagram(f, specPullRespHeader, `{"txpk":{"tmst":3513348611,"freq":869.525,"rfch":0,"powe":27,"modu":"LORA","datr":"SF9BW125","codr":"4/5","ipol":true,"prea":8,"size":5,"data":"YNobASY="}}`))
	f.Add(datagram(f, "01 00 00 03", `{"txpk":{"imme":true,"freq":868.8,"rfch":0,"powe":14,"modu":"FSK","datr":50000,"fdev":25000,"ipol":false,"prea":5,"size":3,"data":"AQID","nhdr":true}}`))
	f.Add(datagram(f, specPullRespHeader, `{"txpk":{"tmms":1398600019500,"freq":923.3,"rfch":0,"powe":20,"modu":"LORA","datr":"SF12BW500","codr":"4/5","ipol":true,"size":0,"data":"","ncrc":true}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		stable(t, data, func() codec { return new(PullResp) })
	})
}

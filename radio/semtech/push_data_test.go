package semtech

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPushDataGolden(t *testing.T) {
	uplink := datagram(t, specPushDataHeader, specUplinkJSON)
	beacon := datagram(t, specPushDataHeader, specBeaconJSON)
	status := datagram(t, specStatHeader, specStatJSON)
	for _, c := range []struct {
		name string
		b    []byte
		n    int
	}{{"uplink", uplink, 235}, {"beacon", beacon, 259}, {"stat", status, 153}} {
		if len(c.b) != c.n {
			t.Errorf("%s: %d bytes, spec says %d", c.name, len(c.b), c.n)
		}
	}
	tok := Token{0x1A, 0x2B}
	checkGolden(t, []goldenCase{
		{name: "uplink", bytes: uplink, value: &PushData{Version: 2, Token: tok, EUI: specEUI, RXPK: []RXPK{specUplinkRXPK()}}},
		{name: "beacon", bytes: beacon, value: &PushData{Version: 2, Token: tok, EUI: specEUI, RXPK: []RXPK{specBeaconRXPK(t)}}},
		{name: "stat", bytes: status, value: &PushData{Version: 2, Token: Token{0x7A, 0x01}, EUI: specEUI, Stat: &Stat{
			Time: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC), Lati: ptr(52.37), Long: ptr(4.89), Alti: ptr(3),
			RXNb: 2, RXOk: 2, RXFw: 2, ACKR: 100, DWNb: 1, TXNb: 1,
		}}},
		{name: "version 1", bytes: datagram(t, "01 1A 2B 00 B8 27 EB FF FE 12 34 56", specUplinkJSON),
			value: &PushData{Version: 1, Token: tok, EUI: specEUI, RXPK: []RXPK{specUplinkRXPK()}}},
		{name: "trailing NUL", bytes: append(datagram(t, specPushDataHeader, specUplinkJSON), 0),
			value: &PushData{Version: 2, Token: tok, EUI: specEUI, RXPK: []RXPK{specUplinkRXPK()}}, decodeOnly: true},
		{name: "empty object", bytes: datagram(t, specPushDataHeader, `{}`),
			value: &PushData{Version: 2, Token: tok, EUI: specEUI}},
	})
	// The beacon payload is the poc-rules §3 vector behind 0xE0.
	if got := specBeaconRXPK(t).Data; len(got) != 52 || got[0] != 0xE0 {
		t.Errorf("beacon frame: % X", got)
	}
}

func TestPushDataBad(t *testing.T) {
	h := specPushDataHeader
	checkBad(t, func() codec { return new(PushData) }, []badCase{
		{"not JSON", datagram(t, h, "not json"), ErrJSON},
		{"only NUL", datagram(t, h, "\x00"), ErrJSON},
		{"rxpk not array", datagram(t, h, `{"rxpk":{}}`), ErrJSON},
		{"truncated", datagram(t, h, specUplinkJSON[:100]), ErrJSON},
		{"array", datagram(t, h, `[]`), ErrJSON},
		{"wrong type", unhex(t, specTxAckOK+" 00"), ErrWrongType},
		{"version 3", datagram(t, "03 1A 2B 00 B8 27 EB FF FE 12 34 56", specUplinkJSON), ErrVersion},
	})
}

// TestPushDataSkipsBadRXPK checks each rxpk is decoded on its own: bad ones
// are reported in Skipped and the good ones kept (spec §8.4).
func TestPushDataSkipsBadRXPK(t *testing.T) {
	good := `{"tmst":1,"freq":868.1,"stat":1,"modu":"LORA","datr":"SF9BW125","codr":"4/5","rssi":-80,"lsnr":5,"size":1,"data":"QA=="}`
	bad := []string{
		`{"tmst":1,"freq":868.1,"modu":"LORA","datr":"SF9BW125","data":"!!!"}`,   // bad Base64
		`{"tmst":1,"freq":868.1,"modu":"LORA","datr":true,"data":"QA=="}`,        // datr neither string nor number
		`{"tmst":1,"modu":"LORA","datr":"SF9BW125","data":"QA=="}`,               // no freq
		`{"tmst":1,"freq":-1,"modu":"LORA","datr":"SF9BW125","data":"QA=="}`,     // negative freq
		`{"tmst":-5,"freq":868.1,"modu":"LORA","datr":"SF9BW125","data":"QA=="}`, // tmst not uint32
		`{"tmst":1,"freq":868.1,"modu":"LORA","datr":"SF9BW125"}`,                // no data
		`{"tmst":1,"freq":868.1,"modu":"LORA","datr":"SF9BW125","data":"` + strings.Repeat("A", 400) + `"}`,
		`{"tmst":1,"freq":"x","modu":"LORA","datr":"SF9BW125","data":"QA=="}`,
		`null`,
		`7`,
	}
	body := `{"rxpk":[` + good + "," + strings.Join(bad, ",") + "," + good + `],"stat":{"lati":"north"}}`
	var p PushData
	if err := p.UnmarshalBinary(datagram(t, specPushDataHeader, body)); err != nil {
		t.Fatal(err)
	}
	if len(p.RXPK) != 2 || p.RXPK[0].Freq != 868_100_000 || p.RXPK[1].Data[0] != 0x40 {
		t.Errorf("kept %d rxpk: %+v", len(p.RXPK), p.RXPK)
	}
	if len(p.Skipped) != len(bad)+1 || p.Stat != nil {
		t.Errorf("skipped %d (want %d): %v", len(p.Skipped), len(bad)+1, p.Skipped)
	}
	for _, err := range p.Skipped {
		if !errors.Is(err, ErrJSON) && !errors.Is(err, ErrInvalidJSON) {
			t.Errorf("skip error %v wraps neither ErrJSON nor ErrInvalidJSON", err)
		}
	}
}

func TestPushDataMarshalErrors(t *testing.T) {
	for _, p := range []*PushData{
		{Version: 3},
		{RXPK: []RXPK{{Modu: "LORA", DatR: DatR{LoRa: "SF7BW125"}}}},      // no freq
		{RXPK: []RXPK{{Freq: 868_100_000, DatR: DatR{LoRa: "SF7BW125"}}}}, // no modu
		{RXPK: []RXPK{{Freq: 868_100_000, Modu: "LORA", Data: make([]byte, 256), DatR: DatR{LoRa: "SF7BW125"}}}},
	} {
		if _, err := p.MarshalBinary(); err == nil {
			t.Errorf("MarshalBinary(%+v): want error", p)
		}
	}
}

func FuzzPushData(f *testing.F) {
	f.Add(datagram(f, specPushDataHeader, specUplinkJSON))
	f.Add(datagram(f, specPushDataHeader, specBeaconJSON))
	f.Add(datagram(f, specStatHeader, specStatJSON))
	f.Add(datagram(f, specPushDataHeader, `{"rxpk":[{"jver":2,"tmst":9,"freq":868.3,"stat":1,"modu":"LORA","datr":"SF8BW125","codr":"4/5","size":1,"data":"QA==","rsig":[{"ant":0,"chan":3,"rssic":-90,"rssis":-95,"lsnr":2.5,"etime":"AAAA"}]},{"tmst":7,"freq":868.8,"modu":"FSK","datr":50000,"data":"QA"}]}`+"\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		stable(t, data, func() codec { return new(PushData) })
		// Whatever decodes was valid JSON.
		var p PushData
		if p.UnmarshalBinary(data) == nil && !json.Valid(trimJSON(data[12:])) {
			t.Fatalf("accepted invalid JSON %q", data[12:])
		}
	})
}

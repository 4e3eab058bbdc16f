package semtech

import "testing"

// TestTXPKJSON checks txpk encoding writes only the fields of spec §4, in
// a fixed order, and the timing field the request uses.
func TestTXPKJSON(t *testing.T) {
	// Class A RX1 after an uplink at tmst 4 294 000 000: the counter wraps
	// (spec §7), uint32 arithmetic gives 32 704.
	uplinkTmst := uint32(4294000000)
	rx1 := uplinkTmst + 1_000_000
	cases := []struct {
		name string
		tx   TXPK
		want string
	}{
		{"spec beacon", specBeaconTXPK(t), specPullRespJSON[8 : len(specPullRespJSON)-1]},
		{"tmst", TXPK{Tmst: rx1, Freq: 868_100_000, Powe: 14, Modu: "LORA", DatR: DatR{LoRa: "SF7BW125"}, CodR: "4/5", IPol: true, Data: []byte{1}},
			`{"tmst":32704,"freq":868.1,"rfch":0,"powe":14,"modu":"LORA","datr":"SF7BW125","codr":"4/5","ipol":true,"size":1,"data":"AQ=="}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := c.tx.MarshalJSON()
			if err != nil || string(b) != c.want {
				t.Errorf("got  %s (%v)\nwant %s", b, err, c.want)
			}
		})
	}
}

func FuzzTXPK(f *testing.F) {
	f.Add([]byte(specPullRespJSON[8 : len(specPullRespJSON)-1]))
	f.Add([]byte(`{"tmst":3513348611,"freq":869.525,"rfch":0,"powe":27,"modu":"LORA","datr":"SF9BW125","codr":"4/5","ipol":true,"prea":8,"size":5,"data":"YNobASY="}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var x TXPK
		if err := x.UnmarshalJSON(data); err != nil {
			return
		}
		b1, err := x.MarshalJSON()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		var y TXPK
		if err := y.UnmarshalJSON(b1); err != nil {
			t.Fatalf("decode %s: %v", b1, err)
		}
		b2, err := y.MarshalJSON()
		if err != nil || string(b1) != string(b2) {
			t.Fatalf("unstable: %s vs %s (%v)", b1, b2, err)
		}
	})
}

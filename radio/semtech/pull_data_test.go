package semtech

import "testing"

func TestPullDataGolden(t *testing.T) {
	checkGolden(t, []goldenCase{
		{name: "spec", bytes: unhex(t, specPullData), value: &PullData{Version: 2, Token: Token{0x3C, 0x4D}, EUI: specEUI}},
		{name: "version 1", bytes: unhex(t, "01 3C 4D 02 B8 27 EB FF FE 12 34 56"), value: &PullData{Version: 1, Token: Token{0x3C, 0x4D}, EUI: specEUI}},
	})
	checkBad(t, func() codec { return new(PullData) }, []badCase{
		{"11 bytes", unhex(t, "02 3C 4D 02 B8 27 EB FF FE 12 34"), ErrLength},
		{"13 bytes", unhex(t, specPullData+" 00"), ErrLength},
		{"version 0", unhex(t, "00 3C 4D 02 B8 27 EB FF FE 12 34 56"), ErrVersion},
		{"tx ack", unhex(t, specTxAckOK), ErrWrongType},
	})
	if _, err := (&PullData{Version: 7}).MarshalBinary(); err == nil {
		t.Error("version 7 marshalled")
	}
}

func FuzzPullData(f *testing.F) {
	f.Add(unhex(f, specPullData))
	f.Add(unhex(f, "01 3C 4D 02 B8 27 EB FF FE 12 34 56"))
	f.Fuzz(func(t *testing.T, data []byte) {
		stable(t, data, func() codec { return new(PullData) })
	})
}

package semtech

import "testing"

func TestPullAckGolden(t *testing.T) {
	checkGolden(t, []goldenCase{
		{name: "spec", bytes: unhex(t, specPullAck), value: &PullAck{Version: 2, Token: Token{0x3C, 0x4D}}},
		{name: "version 1", bytes: unhex(t, "01 3C 4D 04"), value: &PullAck{Version: 1, Token: Token{0x3C, 0x4D}}},
	})
	checkBad(t, func() codec { return new(PullAck) }, []badCase{
		{"short", unhex(t, "02 3C"), ErrTooShort},
		{"long", unhex(t, "02 3C 4D 04 00 00"), ErrLength},
		{"push ack", unhex(t, specPushAck), ErrWrongType},
	})
	// Version 0 marshals as the current version 2.
	b, err := (&PullAck{Token: Token{0x3C, 0x4D}}).MarshalBinary()
	if err != nil || string(b) != string(unhex(t, specPullAck)) {
		t.Errorf("zero version: % X, %v", b, err)
	}
}

func FuzzPullAck(f *testing.F) {
	f.Add(unhex(f, specPullAck))
	f.Fuzz(func(t *testing.T, data []byte) {
		stable(t, data, func() codec { return new(PullAck) })
	})
}

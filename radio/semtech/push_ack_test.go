package semtech

import "testing"

func TestPushAckGolden(t *testing.T) {
	checkGolden(t, []goldenCase{
		{name: "spec", bytes: unhex(t, specPushAck), value: &PushAck{Version: 2, Token: Token{0x1A, 0x2B}}},
		{name: "version 1", bytes: unhex(t, "01 1A 2B 01"), value: &PushAck{Version: 1, Token: Token{0x1A, 0x2B}}},
	})
	checkBad(t, func() codec { return new(PushAck) }, []badCase{
		{"short", unhex(t, "02 1A 2B"), ErrTooShort},
		{"long", unhex(t, "02 1A 2B 01 00"), ErrLength},
		{"pull ack", unhex(t, specPullAck), ErrWrongType},
		{"version 9", unhex(t, "09 1A 2B 01"), ErrVersion},
	})
}

func FuzzPushAck(f *testing.F) {
	f.Add(unhex(f, specPushAck))
	f.Fuzz(func(t *testing.T, data []byte) {
		stable(t, data, func() codec { return new(PushAck) })
	})
}

package semtech

import "testing"

func TestTxAckGolden(t *testing.T) {
	tok := Token{0x5E, 0x6F}
	tooLate := unhex(t, specTxAckTooLate)
	power := unhex(t, specTxAckPower)
	if len(tooLate) != 45 || len(power) != 55 {
		t.Errorf("spec TX_ACK lengths %d, %d; want 45, 55", len(tooLate), len(power))
	}
	checkGolden(t, []goldenCase{
		{name: "accepted", bytes: unhex(t, specTxAckOK), value: &TxAck{Version: 2, Token: tok, EUI: specEUI}},
		{name: "too late", bytes: tooLate, value: &TxAck{Version: 2, Token: tok, EUI: specEUI, Status: TxStatusError(TxTooLate)}},
		{name: "tx power warning", bytes: power, value: &TxAck{Version: 2, Token: tok, EUI: specEUI, Status: TxPowerWarning(14)}},
		{name: "none", bytes: datagram(t, specTxAckOK, `{"txpk_ack":{"error":"NONE"}}`), value: &TxAck{Version: 2, Token: tok, EUI: specEUI, Status: TxStatusError(TxNone)}},
		{name: "unknown value kept", bytes: datagram(t, specTxAckOK, `{"txpk_ack":{"error":"TX_SUNSPOTS"}}`), value: &TxAck{Version: 2, Token: tok, EUI: specEUI, Status: TxStatusError("TX_SUNSPOTS")}},
		{name: "lone NUL", bytes: unhex(t, specTxAckOK+" 00"), value: &TxAck{Version: 2, Token: tok, EUI: specEUI}, decodeOnly: true},
		{name: "JSON and NUL", bytes: append(datagram(t, specTxAckOK, `{"txpk_ack":{"error":"TOO_LATE"}}`), 0), value: &TxAck{Version: 2, Token: tok, EUI: specEUI, Status: TxStatusError(TxTooLate)}, decodeOnly: true},
		{name: "no txpk_ack", bytes: datagram(t, specTxAckOK, `{"other":1}`), value: &TxAck{Version: 2, Token: tok, EUI: specEUI}, decodeOnly: true},
		{name: "float value", bytes: datagram(t, specTxAckOK, `{"txpk_ack":{"warn":"TX_POWER","value":14.0}}`), value: &TxAck{Version: 2, Token: tok, EUI: specEUI, Status: TxPowerWarning(14)}, decodeOnly: true},
	})
	checkBad(t, func() codec { return new(TxAck) }, []badCase{
		{"11 bytes", unhex(t, "02 5E 6F 05 B8 27 EB FF FE 12 34"), ErrLength},
		{"garbage JSON", datagram(t, specTxAckOK, `{"txpk_ack":`), ErrJSON},
		{"value not a number", datagram(t, specTxAckOK, `{"txpk_ack":{"warn":"TX_POWER","value":"x"}}`), ErrInvalidJSON},
		{"pull data", unhex(t, specPullData), ErrWrongType},
	})
}

func TestTxStatus(t *testing.T) {
	cases := []struct {
		s         TxStatus
		accepted  bool
		retryable bool
		str       string
	}{
		{TxStatus{}, true, false, "OK"},
		{TxStatusError(TxNone), true, false, "OK"},
		{TxStatusError(TxTooLate), false, true, "TOO_LATE"},
		{TxStatusError(TxTooEarly), false, true, "TOO_EARLY"},
		{TxStatusError(TxCollisionPacket), false, true, "COLLISION_PACKET"},
		{TxStatusError(TxCollisionBeacon), false, true, "COLLISION_BEACON"},
		{TxStatusError(TxFreq), false, false, "TX_FREQ"},
		{TxStatusError(TxPower), false, false, "TX_POWER"},
		{TxStatusError(TxGPSUnlocked), false, false, "GPS_UNLOCKED"},
		{TxPowerWarning(14), true, false, "warn TX_POWER=14"},
	}
	for _, c := range cases {
		if c.s.Accepted() != c.accepted || c.s.Error.Retryable() != c.retryable || c.s.String() != c.str {
			t.Errorf("%+v: accepted %v retryable %v %q", c.s, c.s.Accepted(), c.s.Error.Retryable(), c.s.String())
		}
	}
}

func FuzzTxAck(f *testing.F) {
	f.Add(unhex(f, specTxAckOK))
	f.Add(unhex(f, specTxAckTooLate))
	f.Add(unhex(f, specTxAckPower))
	f.Add(unhex(f, specTxAckOK+" 00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		stable(t, data, func() codec { return new(TxAck) })
	})
}

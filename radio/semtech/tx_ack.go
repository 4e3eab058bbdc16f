package semtech

import (
	"fmt"
	"math"
)

// TxError is a TX_ACK error or warning value (spec §5). Values other than
// the constants are kept as received.
type TxError string

// TX_ACK values of the reference forwarders.
const (
	TxNone            TxError = "NONE"             // accepted
	TxTooLate         TxError = "TOO_LATE"         // too late to schedule: try the next window
	TxTooEarly        TxError = "TOO_EARLY"        // too far ahead: try the next window
	TxCollisionPacket TxError = "COLLISION_PACKET" // slot taken or JIT queue full: next window
	TxCollisionBeacon TxError = "COLLISION_BEACON" // Class B beacon slot: next window
	TxFreq            TxError = "TX_FREQ"          // frequency not supported: fail
	TxPower           TxError = "TX_POWER"         // power not supported (warning since v1.5)
	TxGPSUnlocked     TxError = "GPS_UNLOCKED"     // tmms requested without GPS: fail
)

// Retryable reports whether the next receive window may succeed
// (TOO_LATE, TOO_EARLY, COLLISION_PACKET, COLLISION_BEACON).
func (e TxError) Retryable() bool {
	switch e {
	case TxTooLate, TxTooEarly, TxCollisionPacket, TxCollisionBeacon:
		return true
	}
	return false
}

// TxStatus is the JSON part of a TX_ACK: {"txpk_ack":{"error":…}} or
// {"txpk_ack":{"warn":…,"value":n}}. The zero value means accepted and is
// sent as a TX_ACK without JSON.
type TxStatus struct {
	Error TxError
	Warn  TxError
	// Value comes with a warning; for TX_POWER it is the power used in dBm.
	Value *int
}

// TxStatusError returns the status of a rejected transmission.
func TxStatusError(e TxError) TxStatus { return TxStatus{Error: e} }

// TxPowerWarning returns the v1.5+ status of a transmission sent at a
// different power than requested.
func TxPowerWarning(usedDBm int) TxStatus { return TxStatus{Warn: TxPower, Value: &usedDBm} }

// Accepted reports whether the forwarder scheduled the transmission: no
// error, or "NONE". Warnings (TX_POWER since v1.5) do not reject; a
// TX_POWER *error* (v1.4 and earlier) meant the packet was refused.
func (s TxStatus) Accepted() bool { return s.Error == "" || s.Error == TxNone }

// IsZero reports whether the status has no JSON.
func (s TxStatus) IsZero() bool { return s.Error == "" && s.Warn == "" && s.Value == nil }

// String returns "OK", the error, or "warn <value>=<n>".
func (s TxStatus) String() string {
	switch {
	case !s.Accepted():
		return string(s.Error)
	case s.Warn != "" && s.Value != nil:
		return fmt.Sprintf("warn %s=%d", s.Warn, *s.Value)
	case s.Warn != "":
		return "warn " + string(s.Warn)
	}
	return "OK"
}

// TxAck reports the fate of a PULL_RESP (0x05, version 2 only): header with
// the PULL_RESP token, EUI, and optional JSON.
type TxAck struct {
	// Version is 1 or 2; 0 marshals as 2.
	Version uint8
	Token   Token
	EUI     EUI
	Status  TxStatus
}

// MessageType returns TypeTxAck.
func (*TxAck) MessageType() MessageType { return TypeTxAck }

// MarshalBinary implements encoding.BinaryMarshaler. A zero Status gives the
// 12-byte form.
func (p *TxAck) MarshalBinary() ([]byte, error) {
	b, err := appendHeader(make([]byte, 0, 64), p.Version, p.Token, TypeTxAck)
	if err != nil {
		return nil, err
	}
	b = append(b, p.EUI[:]...)
	if p.Status.IsZero() {
		return b, nil
	}
	w := jsonWriter{b: b}
	w.open()
	w.key("txpk_ack")
	w.open()
	if p.Status.Error != "" {
		w.str("error", string(p.Status.Error))
	}
	if p.Status.Warn != "" {
		w.str("warn", string(p.Status.Warn))
	}
	if p.Status.Value != nil {
		w.int("value", int64(*p.Status.Value))
	}
	w.close()
	w.close()
	return w.b, w.err
}

// UnmarshalBinary decodes a TX_ACK. An empty payload, a lone NUL, or JSON
// without "txpk_ack" mean accepted.
func (p *TxAck) UnmarshalBinary(b []byte) error {
	h, err := parseHeaderOf(b, TypeTxAck)
	if err != nil {
		return err
	}
	out := TxAck{Version: h.Version, Token: h.Token, EUI: h.EUI}
	if body := trimJSON(b[12:]); len(body) > 0 {
		var errStr, warnStr jstr
		var value num
		err := eachField(body, func(k, v []byte) error {
			if string(k) != "txpk_ack" || isNull(v) {
				return nil
			}
			if v[0] != '{' {
				return fmt.Errorf("txpk_ack is not an object: %w", ErrInvalidJSON)
			}
			errStr, warnStr, value = jstr{}, jstr{}, num{}
			return eachField(v, func(k, v []byte) error {
				switch string(k) {
				case "error":
					errStr.UnmarshalJSON(v)
				case "warn":
					warnStr.UnmarshalJSON(v)
				case "value":
					value.UnmarshalJSON(v)
				}
				return nil
			})
		})
		if err != nil {
			return fmt.Errorf("parse TX_ACK: %w", err)
		}
		e, err := errStr.get("error")
		if err != nil {
			return fmt.Errorf("parse TX_ACK: %w", err)
		}
		w, err := warnStr.get("warn")
		if err != nil {
			return fmt.Errorf("parse TX_ACK: %w", err)
		}
		out.Status.Error, out.Status.Warn = TxError(e), TxError(w)
		if out.Status.Value, err = optInt[int](value, "value", math.MinInt32, math.MaxInt32); err != nil {
			return fmt.Errorf("parse TX_ACK: %w", err)
		}
	}
	*p = out
	return nil
}

package semtech

import (
	"fmt"
)

// PullResp asks the forwarder to transmit (0x03): header (no EUI), then
// {"txpk":{…}}; at most MaxPullRespSize bytes. Version 1 forwarders ignore
// the token (send zeros); version 2 forwarders echo it in TX_ACK.
type PullResp struct {
	// Version is 1 or 2; 0 marshals as 2.
	Version uint8
	Token   Token
	TXPK    TXPK
}

// MessageType returns TypePullResp.
func (*PullResp) MessageType() MessageType { return TypePullResp }

// MarshalBinary implements encoding.BinaryMarshaler.
func (p *PullResp) MarshalBinary() ([]byte, error) {
	b, err := appendHeader(make([]byte, 0, 512), p.Version, p.Token, TypePullResp)
	if err != nil {
		return nil, err
	}
	w := jsonWriter{b: b}
	w.open()
	w.key("txpk")
	p.TXPK.appendJSON(&w)
	w.close()
	if w.err != nil {
		return nil, fmt.Errorf("marshal PULL_RESP: %w", w.err)
	}
	if len(w.b) > MaxPullRespSize {
		return nil, fmt.Errorf("marshal PULL_RESP: %d bytes, limit %d: %w", len(w.b), MaxPullRespSize, ErrTooLong)
	}
	return w.b, nil
}

// UnmarshalBinary decodes a PULL_RESP; a txpk the reference forwarder would
// drop (missing fields) is an error.
func (p *PullResp) UnmarshalBinary(b []byte) error {
	h, err := parseHeaderOf(b, TypePullResp)
	if err != nil {
		return err
	}
	body := trimJSON(b[4:])
	var w txpkWire
	found := false
	err = eachField(body, func(k, v []byte) error {
		if string(k) != "txpk" || isNull(v) {
			return nil
		}
		if v[0] != '{' {
			return fmt.Errorf("txpk is not an object: %w", ErrInvalidJSON)
		}
		found = true
		w = txpkWire{}
		return w.decode(v)
	})
	if err != nil {
		return fmt.Errorf("parse PULL_RESP: %w", err)
	}
	if !found {
		return fmt.Errorf("parse PULL_RESP: no txpk object: %w", ErrInvalidJSON)
	}
	out := PullResp{Version: h.Version, Token: h.Token}
	if err := out.TXPK.fromWire(&w); err != nil {
		return fmt.Errorf("parse PULL_RESP: txpk: %w", err)
	}
	*p = out
	return nil
}

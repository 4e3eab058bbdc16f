package semtech

import (
	"encoding/json"
	"fmt"
)

// PushData carries received packets and/or the forwarder status upstream
// (0x00): header, EUI, then {"rxpk":[…],"stat":{…}}.
type PushData struct {
	// Version is 1 or 2; 0 marshals as 2.
	Version uint8
	Token   Token
	EUI     EUI
	RXPK    []RXPK
	Stat    *Stat
	// Skipped has one error per rxpk (or stat) that failed to decode; those
	// are left out of RXPK and Stat while the others proceed (spec §8.4).
	// Marshalling ignores it.
	Skipped []error
}

// MessageType returns TypePushData.
func (*PushData) MessageType() MessageType { return TypePushData }

// MarshalBinary implements encoding.BinaryMarshaler.
func (p *PushData) MarshalBinary() ([]byte, error) {
	b, err := appendHeader(make([]byte, 0, 64+256*len(p.RXPK)), p.Version, p.Token, TypePushData)
	if err != nil {
		return nil, err
	}
	w := jsonWriter{b: append(b, p.EUI[:]...)}
	w.open()
	if len(p.RXPK) > 0 {
		w.key("rxpk")
		w.b = append(w.b, '[')
		for i := range p.RXPK {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			p.RXPK[i].appendJSON(&w)
		}
		w.b = append(w.b, ']')
	}
	if p.Stat != nil {
		w.key("stat")
		p.Stat.appendJSON(&w)
	}
	w.close()
	if w.err != nil {
		return nil, fmt.Errorf("marshal PUSH_DATA: %w", w.err)
	}
	if len(w.b) > MaxDatagramSize {
		return nil, fmt.Errorf("marshal PUSH_DATA: %d bytes: %w", len(w.b), ErrTooLong)
	}
	return w.b, nil
}

// UnmarshalBinary decodes a PUSH_DATA. It fails only on the header or on
// JSON that is not an object with an rxpk array; a bad rxpk or stat is
// recorded in Skipped.
func (p *PushData) UnmarshalBinary(b []byte) error {
	h, err := parseHeaderOf(b, TypePushData)
	if err != nil {
		return err
	}
	body := trimJSON(b[12:])
	if len(body) == 0 {
		return fmt.Errorf("parse PUSH_DATA: empty JSON: %w", ErrJSON)
	}
	out := PushData{Version: h.Version, Token: h.Token, EUI: h.EUI}
	// Fast path: one encoding/json pass with lenient fields that never
	// fail, then per-rxpk validation.
	var w struct {
		RXPK []rxpkWire `json:"rxpk"`
		Stat *statWire  `json:"stat"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		// Some element is not an object (or the JSON is broken): decode
		// element by element to keep the good ones.
		return p.unmarshalSlow(out, body)
	}
	if len(w.RXPK) > 0 {
		out.RXPK = make([]RXPK, 0, len(w.RXPK))
	}
	for i := range w.RXPK {
		var r RXPK
		if err := r.fromWire(&w.RXPK[i]); err != nil {
			out.Skipped = append(out.Skipped, fmt.Errorf("rxpk[%d]: %w", i, err))
			continue
		}
		out.RXPK = append(out.RXPK, r)
	}
	if w.Stat != nil {
		var st Stat
		if err := st.fromWire(w.Stat); err != nil {
			out.Skipped = append(out.Skipped, err)
		} else {
			out.Stat = &st
		}
	}
	*p = out
	return nil
}

// rxpkSlot decodes one rxpk and keeps its error instead of failing the
// whole array.
type rxpkSlot struct {
	r   RXPK
	err error
}

func (s *rxpkSlot) UnmarshalJSON(b []byte) error {
	s.err = s.r.UnmarshalJSON(b)
	return nil
}

type statSlot struct {
	s   Stat
	set bool
	err error
}

func (s *statSlot) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	s.set = true
	s.err = s.s.UnmarshalJSON(b)
	return nil
}

func (p *PushData) unmarshalSlow(out PushData, body []byte) error {
	var w struct {
		RXPK []rxpkSlot `json:"rxpk"`
		Stat statSlot   `json:"stat"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return fmt.Errorf("parse PUSH_DATA: %w: %w", ErrJSON, err)
	}
	if len(w.RXPK) > 0 {
		out.RXPK = make([]RXPK, 0, len(w.RXPK))
	}
	for i := range w.RXPK {
		if w.RXPK[i].err != nil {
			out.Skipped = append(out.Skipped, fmt.Errorf("rxpk[%d]: %w", i, w.RXPK[i].err))
			continue
		}
		out.RXPK = append(out.RXPK, w.RXPK[i].r)
	}
	if w.Stat.set {
		if w.Stat.err != nil {
			out.Skipped = append(out.Skipped, w.Stat.err)
		} else {
			st := w.Stat.s
			out.Stat = &st
		}
	}
	*p = out
	return nil
}

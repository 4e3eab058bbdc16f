package semtech

import (
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
	var stat *statWire
	sc := scanner{b: body}
	err = sc.object(func(k []byte) error {
		switch string(k) {
		case "rxpk":
			out.RXPK, out.Skipped = out.RXPK[:0], out.Skipped[:0]
			switch sc.peek() {
			case '[':
			case 'n':
				_, err := sc.value()
				return err
			default:
				if _, err := sc.value(); err != nil {
					return err
				}
				return fmt.Errorf("rxpk is not an array: %w", ErrJSON)
			}
			return sc.array(func(i int) error {
				if sc.peek() != '{' {
					if _, err := sc.value(); err != nil {
						return err
					}
					out.Skipped = append(out.Skipped, fmt.Errorf("rxpk[%d]: not an object: %w", i, ErrInvalidJSON))
					return nil
				}
				var w rxpkWire
				if err := w.decodeFrom(&sc); err != nil {
					return err
				}
				var r RXPK
				if err := r.fromWire(&w); err != nil {
					out.Skipped = append(out.Skipped, fmt.Errorf("rxpk[%d]: %w", i, err))
					return nil
				}
				out.RXPK = append(out.RXPK, r)
				return nil
			})
		case "stat":
			stat = nil
			switch sc.peek() {
			case '{':
				stat = new(statWire)
				return stat.decodeFrom(&sc)
			default:
				v, err := sc.value()
				if err == nil && !isNull(v) {
					stat = &statWire{bad: fmt.Errorf("not an object: %w", ErrInvalidJSON)}
				}
				return err
			}
		}
		_, err := sc.value()
		return err
	})
	if err == nil {
		err = sc.end()
	}
	if err != nil {
		return fmt.Errorf("parse PUSH_DATA: %w", wrapJSON(err))
	}
	if stat != nil {
		var st Stat
		if stat.bad != nil {
			out.Skipped = append(out.Skipped, fmt.Errorf("stat: %w", stat.bad))
		} else if err := st.fromWire(stat); err != nil {
			out.Skipped = append(out.Skipped, err)
		} else {
			out.Stat = &st
		}
	}
	if len(out.RXPK) == 0 {
		out.RXPK = nil
	}
	if len(out.Skipped) == 0 {
		out.Skipped = nil
	}
	*p = out
	return nil
}

package semtech

import (
	"fmt"
	"math"
	"time"
)

// Stat is the forwarder status object of a PUSH_DATA (spec §3.2). Optional
// fields are pointers: nil means absent.
type Stat struct {
	// Time is the forwarder's UTC system time; zero when absent or unparsable.
	Time time.Time
	// Lati and Long are degrees; Alti is metres. Absent without GPS.
	Lati *float64
	Long *float64
	Alti *int
	// RXNb, RXOk and RXFw count packets received, with a valid CRC, and forwarded.
	RXNb uint32
	RXOk uint32
	RXFw uint32
	// ACKR is the percentage of upstream datagrams acknowledged.
	ACKR float64
	// DWNb counts downlink datagrams received, TXNb packets emitted.
	DWNb uint32
	TXNb uint32
	// Temp is the concentrator temperature in °C (v1.6).
	Temp *float64
}

type statWire struct {
	Time lenientTime
	Lati num
	Long num
	Alti num
	RXNb num
	RXOk num
	RXFw num
	ACKR num
	DWNb num
	TXNb num
	Temp num
	bad  error // the stat value was not an object
}

// timeLayoutStat is the "expanded" form of PROTOCOL.TXT.
const timeLayoutStat = "2006-01-02 15:04:05 GMT"

// UnmarshalJSON decodes a stat object leniently: a bad time is dropped.
func (s *Stat) UnmarshalJSON(b []byte) error {
	var w statWire
	if err := w.decode(b); err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	return s.fromWire(&w)
}

func (w *statWire) decode(b []byte) error {
	s := scanner{b: b}
	if err := w.decodeFrom(&s); err != nil {
		return err
	}
	return s.end()
}

func (w *statWire) decodeFrom(s *scanner) error {
	return s.object(func(k []byte) error {
		v, err := s.value()
		if err != nil {
			return err
		}
		switch string(k) {
		case "time":
			w.Time.UnmarshalJSON(v)
		case "lati":
			w.Lati.UnmarshalJSON(v)
		case "long":
			w.Long.UnmarshalJSON(v)
		case "alti":
			w.Alti.UnmarshalJSON(v)
		case "rxnb":
			w.RXNb.UnmarshalJSON(v)
		case "rxok":
			w.RXOk.UnmarshalJSON(v)
		case "rxfw":
			w.RXFw.UnmarshalJSON(v)
		case "ackr":
			w.ACKR.UnmarshalJSON(v)
		case "dwnb":
			w.DWNb.UnmarshalJSON(v)
		case "txnb":
			w.TXNb.UnmarshalJSON(v)
		case "temp":
			w.Temp.UnmarshalJSON(v)
		}
		return nil
	})
}

func (s *Stat) fromWire(w *statWire) error {
	out := Stat{Time: w.Time.t}
	var err error
	if out.ACKR, err = w.ACKR.float("ackr"); err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	if out.Lati, err = optFloat[float64](w.Lati, "lati"); err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	if out.Lati != nil && (*out.Lati < -90 || *out.Lati > 90) {
		return fmt.Errorf("stat: lati %v out of range: %w", *out.Lati, ErrInvalidJSON)
	}
	if out.Long, err = optFloat[float64](w.Long, "long"); err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	if out.Long != nil && (*out.Long < -180 || *out.Long > 180) {
		return fmt.Errorf("stat: long %v out of range: %w", *out.Long, ErrInvalidJSON)
	}
	if out.Temp, err = optFloat[float64](w.Temp, "temp"); err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	if out.Alti, err = optInt[int](w.Alti, "alti", math.MinInt32, math.MaxInt32); err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	for _, f := range []struct {
		n    num
		name string
		dst  *uint32
	}{
		{w.RXNb, "rxnb", &out.RXNb}, {w.RXOk, "rxok", &out.RXOk}, {w.RXFw, "rxfw", &out.RXFw},
		{w.DWNb, "dwnb", &out.DWNb}, {w.TXNb, "txnb", &out.TXNb},
	} {
		if f.n.set {
			v, err := f.n.int(f.name, 0, math.MaxUint32)
			if err != nil {
				return fmt.Errorf("stat: %w", err)
			}
			*f.dst = uint32(v)
		}
	}
	*s = out
	return nil
}

// MarshalJSON writes the stat object in the reference forwarder's order and
// number formats (lati/long "%.5f", ackr "%.1f", time "expanded").
func (s Stat) MarshalJSON() ([]byte, error) {
	var w jsonWriter
	s.appendJSON(&w)
	return w.b, w.err
}

func (s *Stat) appendJSON(w *jsonWriter) {
	w.open()
	if !s.Time.IsZero() {
		w.key("time")
		w.b = append(w.b, '"')
		w.b = s.Time.UTC().AppendFormat(w.b, timeLayoutStat)
		w.b = append(w.b, '"')
	}
	if s.Lati != nil {
		w.float("lati", *s.Lati, 5)
	}
	if s.Long != nil {
		w.float("long", *s.Long, 5)
	}
	if s.Alti != nil {
		w.int("alti", int64(*s.Alti))
	}
	w.uint("rxnb", uint64(s.RXNb))
	w.uint("rxok", uint64(s.RXOk))
	w.uint("rxfw", uint64(s.RXFw))
	w.float("ackr", s.ACKR, 1)
	w.uint("dwnb", uint64(s.DWNb))
	w.uint("txnb", uint64(s.TXNb))
	if s.Temp != nil {
		w.float("temp", *s.Temp, 1)
	}
	w.close()
}

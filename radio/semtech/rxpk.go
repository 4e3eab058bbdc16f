package semtech

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/hexfield/hexfield/radio"
)

// RXPK is one received packet in a PUSH_DATA (spec §3.1), including the
// SX1302 fields (rssis, ftime, foff, mid, tmms) and the "JSON v2" per-antenna
// signal array. Optional fields are pointers: nil means absent.
type RXPK struct {
	// Time is the UTC receive time from GPS; zero when absent or unparsable.
	Time time.Time
	// Tmms is the GPS time of reception in ms since 1980-01-06.
	Tmms *uint64
	// Tmst is the concentrator µs counter at the end of reception; it wraps.
	Tmst uint32
	// FTime is the fine timestamp in ns since the last PPS (SX1302).
	FTime *int64
	// Freq is the centre frequency, rounded to integer hertz.
	Freq radio.Hz
	Chan int
	RFCh int
	// Mid is the modem id (SX1302).
	Mid *int
	// Stat is the CRC status: 1 OK, -1 bad CRC, 0 no CRC.
	Stat int
	// Modu is "LORA" or "FSK".
	Modu string
	DatR DatR
	// CodR is the LoRa coding rate, e.g. "4/5"; empty for FSK.
	CodR string
	// RSSI is the channel RSSI (on SX1302 the total in-band power). Encoding
	// rounds RSSI values to whole dB, as lora_pkt_fwd does.
	RSSI radio.DBm
	// RSSIS is the signal RSSI (SX1302); prefer it when set, see SignalRSSI.
	RSSIS *radio.DBm
	LSNR  radio.DB
	// FOff is the frequency offset in Hz.
	FOff *int
	// Data is the PHY payload; its length is written as "size".
	Data []byte

	// JSON v2 fields. When RSig is not empty, decoding copies RSSI, RSSIS
	// and LSNR from the antenna with the best rssis.
	JVer    *int
	Brd     *int
	Aesk    *int
	Delayed *bool
	RSig    []RSig

	// Meta is the "meta" object (string → string) that a gateway adds for
	// its network server, e.g. network, gateway_id, regi, gateway_h3index
	// (spec/routing.md §6); ChirpStack passes it to applications. Decoding
	// keeps up to MaxMeta members whose key and value are strings of at
	// most MaxMetaLen bytes and ignores the rest; encoding writes keys in
	// sorted order.
	Meta map[string]string
}

// Bounds of the rxpk "meta" object kept by decoding.
const (
	MaxMeta    = 32
	MaxMetaLen = 256
)

// RSig is one antenna's signal in a JSON v2 rxpk.
type RSig struct {
	Ant     int
	Chan    int
	RSSIC   radio.DBm
	RSSIS   *radio.DBm
	LSNR    radio.DB
	ETime   string // encrypted fine timestamp, Base64, kept as is
	FOff    *int
	FTStat  *int
	FTVer   *int
	FTDelta *int
}

// SignalRSSI returns RSSIS when present, else RSSI (spec §8.8).
func (r *RXPK) SignalRSSI() radio.DBm {
	if r.RSSIS != nil {
		return *r.RSSIS
	}
	return r.RSSI
}

// rxpkWire is the lenient decoding form of RXPK; see the field types in
// json.go.
type rxpkWire struct {
	Time    lenientTime
	Tmms    num
	Tmst    num
	FTime   num
	Freq    num
	Chan    num
	RFCh    num
	Mid     num
	Stat    num
	Modu    jstr
	DatR    datrField
	CodR    jstr
	RSSI    num
	RSSIS   num
	LSNR    num
	FOff    num
	Data    b64
	JVer    num
	Brd     num
	Aesk    num
	Delayed jbool
	RSig    rsigList
	Meta    map[string]string
}

// decodeMeta consumes the meta value into w.Meta: string members within
// the bounds are kept, anything else is skipped.
func (w *rxpkWire) decodeMeta(s *scanner) error {
	if s.peek() != '{' {
		_, err := s.value()
		return err
	}
	return s.object(func(k []byte) error {
		v, err := s.value()
		if err != nil {
			return err
		}
		val, ok := unquote(v)
		if !ok || len(k) > MaxMetaLen || len(val) > MaxMetaLen {
			return nil
		}
		if _, dup := w.Meta[string(k)]; !dup && len(w.Meta) >= MaxMeta {
			return nil
		}
		if w.Meta == nil {
			w.Meta = make(map[string]string)
		}
		w.Meta[string(k)] = val
		return nil
	})
}

type rsigWire struct {
	Ant     num
	Chan    num
	RSSIC   num
	RSSIS   num
	LSNR    num
	ETime   jstr
	FOff    num
	FTStat  num
	FTVer   num
	FTDelta num
}

// rsigList is a lenient rsig array: anything but an array of objects is
// recorded as an error of its rxpk.
type rsigList struct {
	l   []rsigWire
	err error
}

// decodeFrom consumes the rsig value: anything but an array of objects is
// recorded in r.err.
func (r *rsigList) decodeFrom(s *scanner) error {
	*r = rsigList{}
	switch s.peek() {
	case '[':
	default:
		v, err := s.value()
		if err == nil && !isNull(v) {
			r.err = fmt.Errorf("rsig: not an array: %w", ErrInvalidJSON)
		}
		return err
	}
	return s.array(func(i int) error {
		if s.peek() != '{' {
			_, err := s.value()
			if r.err == nil {
				r.err = fmt.Errorf("rsig[%d]: not an object: %w", i, ErrInvalidJSON)
			}
			return err
		}
		var w rsigWire
		if err := w.decodeFrom(s); err != nil {
			return err
		}
		r.l = append(r.l, w)
		return nil
	})
}

func (w *rsigWire) decodeFrom(s *scanner) error {
	return s.object(func(k []byte) error {
		v, err := s.value()
		if err != nil {
			return err
		}
		switch string(k) {
		case "ant":
			w.Ant.UnmarshalJSON(v)
		case "chan":
			w.Chan.UnmarshalJSON(v)
		case "rssic":
			w.RSSIC.UnmarshalJSON(v)
		case "rssis":
			w.RSSIS.UnmarshalJSON(v)
		case "lsnr":
			w.LSNR.UnmarshalJSON(v)
		case "etime":
			w.ETime.UnmarshalJSON(v)
		case "foff":
			w.FOff.UnmarshalJSON(v)
		case "ftstat":
			w.FTStat.UnmarshalJSON(v)
		case "ftver":
			w.FTVer.UnmarshalJSON(v)
		case "ftdelta":
			w.FTDelta.UnmarshalJSON(v)
		}
		return nil
	})
}

// decode reads one rxpk object that is the whole of b.
func (w *rxpkWire) decode(b []byte) error {
	s := scanner{b: b}
	if err := w.decodeFrom(&s); err != nil {
		return err
	}
	return s.end()
}

// decodeFrom consumes one rxpk object; it fails only on malformed JSON or
// a value that is not an object.
func (w *rxpkWire) decodeFrom(s *scanner) error {
	return s.object(func(k []byte) error {
		switch string(k) {
		case "rsig":
			return w.RSig.decodeFrom(s)
		case "meta":
			w.Meta = nil // the last "meta" wins, as for other fields
			return w.decodeMeta(s)
		}
		v, err := s.value()
		if err != nil {
			return err
		}
		switch string(k) {
		case "time":
			w.Time.UnmarshalJSON(v)
		case "tmms":
			w.Tmms.UnmarshalJSON(v)
		case "tmst":
			w.Tmst.UnmarshalJSON(v)
		case "ftime":
			w.FTime.UnmarshalJSON(v)
		case "freq":
			w.Freq.UnmarshalJSON(v)
		case "chan":
			w.Chan.UnmarshalJSON(v)
		case "rfch":
			w.RFCh.UnmarshalJSON(v)
		case "mid":
			w.Mid.UnmarshalJSON(v)
		case "stat":
			w.Stat.UnmarshalJSON(v)
		case "modu":
			w.Modu.UnmarshalJSON(v)
		case "datr":
			w.DatR.UnmarshalJSON(v)
		case "codr":
			w.CodR.UnmarshalJSON(v)
		case "rssi":
			w.RSSI.UnmarshalJSON(v)
		case "rssis":
			w.RSSIS.UnmarshalJSON(v)
		case "lsnr":
			w.LSNR.UnmarshalJSON(v)
		case "foff":
			w.FOff.UnmarshalJSON(v)
		case "data":
			w.Data.UnmarshalJSON(v)
		case "jver":
			w.JVer.UnmarshalJSON(v)
		case "brd":
			w.Brd.UnmarshalJSON(v)
		case "aesk":
			w.Aesk.UnmarshalJSON(v)
		case "delayed":
			w.Delayed.UnmarshalJSON(v)
		}
		return nil
	})
}

const maxSafeInt = 1 << 53

// UnmarshalJSON decodes one rxpk object. Unknown fields are ignored; freq,
// modu, datr and data are required; a bad time is dropped.
func (r *RXPK) UnmarshalJSON(b []byte) error {
	var w rxpkWire
	if err := w.decode(b); err != nil {
		return fmt.Errorf("rxpk: %w", err)
	}
	if err := r.fromWire(&w); err != nil {
		return fmt.Errorf("rxpk: %w", err)
	}
	return nil
}

func (r *RXPK) fromWire(w *rxpkWire) (err error) {
	out := RXPK{Time: w.Time.t, Meta: w.Meta}
	if out.Freq, err = w.Freq.hz("freq"); err != nil {
		return err
	}
	if out.Modu, err = w.Modu.get("modu"); err != nil {
		return err
	}
	if out.Modu == "" {
		return fmt.Errorf("modu missing: %w", ErrInvalidJSON)
	}
	if out.DatR, err = w.DatR.get(); err != nil {
		return err
	}
	if out.CodR, err = w.CodR.get("codr"); err != nil {
		return err
	}
	if !w.Data.set {
		return fmt.Errorf("data missing: %w", ErrInvalidJSON)
	}
	if w.Data.err != nil {
		return w.Data.err
	}
	out.Data = w.Data.b
	if err := setInt(w.Chan, "chan", 0, math.MaxUint16, &out.Chan); err != nil {
		return err
	}
	if err := setInt(w.RFCh, "rfch", 0, math.MaxUint8, &out.RFCh); err != nil {
		return err
	}
	if err := setInt(w.Stat, "stat", math.MinInt8, math.MaxInt8, &out.Stat); err != nil {
		return err
	}
	if w.Tmst.set {
		v, err := w.Tmst.int("tmst", 0, math.MaxUint32)
		if err != nil {
			return err
		}
		out.Tmst = uint32(v)
	}
	if out.Tmms, err = optInt[uint64](w.Tmms, "tmms", 0, maxSafeInt); err != nil {
		return err
	}
	if out.FTime, err = optInt[int64](w.FTime, "ftime", -maxSafeInt, maxSafeInt); err != nil {
		return err
	}
	if out.Mid, err = optInt[int](w.Mid, "mid", 0, math.MaxUint8); err != nil {
		return err
	}
	if out.FOff, err = optInt[int](w.FOff, "foff", math.MinInt32, math.MaxInt32); err != nil {
		return err
	}
	if out.JVer, err = optInt[int](w.JVer, "jver", 0, math.MaxInt32); err != nil {
		return err
	}
	if out.Brd, err = optInt[int](w.Brd, "brd", 0, math.MaxInt32); err != nil {
		return err
	}
	if out.Aesk, err = optInt[int](w.Aesk, "aesk", 0, math.MaxInt32); err != nil {
		return err
	}
	if w.Delayed.set {
		v, err := w.Delayed.get("delayed")
		if err != nil {
			return err
		}
		out.Delayed = &v
	}
	rssi, err := w.RSSI.float("rssi")
	if err != nil {
		return err
	}
	out.RSSI = radio.DBm(rssi)
	if out.RSSIS, err = optFloat[radio.DBm](w.RSSIS, "rssis"); err != nil {
		return err
	}
	lsnr, err := w.LSNR.float("lsnr")
	if err != nil {
		return err
	}
	out.LSNR = radio.DB(lsnr)
	if w.RSig.err != nil {
		return w.RSig.err
	}
	if len(w.RSig.l) > 0 {
		out.RSig = make([]RSig, len(w.RSig.l))
		best := -1
		for i := range w.RSig.l {
			s, err := w.RSig.l[i].toRSig()
			if err != nil {
				return fmt.Errorf("rsig[%d]: %w", i, err)
			}
			out.RSig[i] = s
			if best < 0 || s.strength() > out.RSig[best].strength() {
				best = i
			}
		}
		b := out.RSig[best]
		out.RSSI, out.LSNR = b.RSSIC, b.LSNR
		if b.RSSIS != nil {
			v := *b.RSSIS
			out.RSSIS = &v
		}
	}
	*r = out
	return nil
}

func (s *RSig) strength() radio.DBm {
	if s.RSSIS != nil {
		return *s.RSSIS
	}
	return s.RSSIC
}

func (w *rsigWire) toRSig() (s RSig, err error) {
	rssic, err := w.RSSIC.float("rssic")
	if err != nil {
		return s, err
	}
	lsnr, err := w.LSNR.float("lsnr")
	if err != nil {
		return s, err
	}
	s.RSSIC, s.LSNR = radio.DBm(rssic), radio.DB(lsnr)
	if s.ETime, err = w.ETime.get("etime"); err != nil {
		return s, err
	}
	if err := setInt(w.Ant, "ant", 0, math.MaxUint8, &s.Ant); err != nil {
		return s, err
	}
	if err := setInt(w.Chan, "chan", 0, math.MaxUint16, &s.Chan); err != nil {
		return s, err
	}
	if s.RSSIS, err = optFloat[radio.DBm](w.RSSIS, "rssis"); err != nil {
		return s, err
	}
	if s.FOff, err = optInt[int](w.FOff, "foff", math.MinInt32, math.MaxInt32); err != nil {
		return s, err
	}
	if s.FTStat, err = optInt[int](w.FTStat, "ftstat", math.MinInt32, math.MaxInt32); err != nil {
		return s, err
	}
	if s.FTVer, err = optInt[int](w.FTVer, "ftver", math.MinInt32, math.MaxInt32); err != nil {
		return s, err
	}
	if s.FTDelta, err = optInt[int](w.FTDelta, "ftdelta", math.MinInt32, math.MaxInt32); err != nil {
		return s, err
	}
	return s, nil
}

// MarshalJSON writes the rxpk object in the reference forwarder's field
// order, with freq as "%.6f" MHz.
func (r RXPK) MarshalJSON() ([]byte, error) {
	w := jsonWriter{b: make([]byte, 0, 256)}
	r.appendJSON(&w)
	return w.b, w.err
}

// timeLayoutRXPK is the compact ISO 8601 form with µs (spec §3.1).
const timeLayoutRXPK = "2006-01-02T15:04:05.000000Z"

func (r *RXPK) validate() error {
	switch {
	case r.Freq == 0 || r.Freq > maxFreqMHz*1_000_000:
		return fmt.Errorf("rxpk: freq %d Hz out of range: %w", r.Freq, ErrInvalidJSON)
	case r.Modu == "":
		return fmt.Errorf("rxpk: modu missing: %w", ErrInvalidJSON)
	case r.DatR.IsZero():
		return fmt.Errorf("rxpk: datr missing: %w", ErrInvalidJSON)
	case len(r.Data) > MaxPayloadSize:
		return fmt.Errorf("rxpk: %d payload bytes, limit %d: %w", len(r.Data), MaxPayloadSize, ErrInvalidJSON)
	}
	return nil
}

func (r *RXPK) appendJSON(w *jsonWriter) {
	if err := r.validate(); err != nil {
		if w.err == nil {
			w.err = err
		}
		return
	}
	w.open()
	if r.JVer != nil {
		w.int("jver", int64(*r.JVer))
	}
	if !r.Time.IsZero() {
		w.key("time")
		w.b = append(w.b, '"')
		w.b = r.Time.UTC().AppendFormat(w.b, timeLayoutRXPK)
		w.b = append(w.b, '"')
	}
	if r.Tmms != nil {
		w.uint("tmms", *r.Tmms)
	}
	w.uint("tmst", uint64(r.Tmst))
	if r.FTime != nil {
		w.int("ftime", *r.FTime)
	}
	w.int("chan", int64(r.Chan))
	w.int("rfch", int64(r.RFCh))
	w.mhz("freq", r.Freq, 6)
	if r.Mid != nil {
		w.int("mid", int64(*r.Mid))
	}
	w.int("stat", int64(r.Stat))
	w.str("modu", r.Modu)
	w.key("datr")
	w.datr(r.DatR)
	if r.CodR != "" {
		w.str("codr", r.CodR)
	}
	w.dB("rssi", float64(r.RSSI))
	if r.RSSIS != nil {
		w.dB("rssis", float64(*r.RSSIS))
	}
	if r.Modu != "FSK" {
		w.float("lsnr", float64(r.LSNR), -1)
	}
	if r.FOff != nil {
		w.int("foff", int64(*r.FOff))
	}
	w.int("size", int64(len(r.Data)))
	w.data("data", r.Data)
	if r.Brd != nil {
		w.int("brd", int64(*r.Brd))
	}
	if r.Aesk != nil {
		w.int("aesk", int64(*r.Aesk))
	}
	if r.Delayed != nil {
		w.bool("delayed", *r.Delayed)
	}
	if len(r.RSig) > 0 {
		w.key("rsig")
		w.b = append(w.b, '[')
		for i := range r.RSig {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			r.RSig[i].appendJSON(w)
		}
		w.b = append(w.b, ']')
	}
	if len(r.Meta) > 0 {
		w.key("meta")
		w.open()
		for _, k := range slices.Sorted(maps.Keys(r.Meta)) {
			if !w.first {
				w.b = append(w.b, ',')
			}
			w.first = false
			w.quote(k)
			w.b = append(w.b, ':')
			w.quote(r.Meta[k])
		}
		w.close()
	}
	w.close()
}

func (s *RSig) appendJSON(w *jsonWriter) {
	w.open()
	w.int("ant", int64(s.Ant))
	w.int("chan", int64(s.Chan))
	w.dB("rssic", float64(s.RSSIC))
	if s.RSSIS != nil {
		w.dB("rssis", float64(*s.RSSIS))
	}
	w.float("lsnr", float64(s.LSNR), -1)
	if s.ETime != "" {
		w.str("etime", s.ETime)
	}
	for _, f := range []struct {
		k string
		v *int
	}{{"foff", s.FOff}, {"ftstat", s.FTStat}, {"ftver", s.FTVer}, {"ftdelta", s.FTDelta}} {
		if f.v != nil {
			w.int(f.k, int64(*f.v))
		}
	}
	w.close()
}

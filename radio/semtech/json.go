package semtech

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/hexfield/hexfield/radio"
)

// This file holds the lenient JSON readers and the order-preserving JSON
// writer shared by rxpk.go, stat.go, txpk.go and tx_ack.go.

// trimJSON strips surrounding whitespace and one trailing NUL (spec §2).
func trimJSON(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if n := len(b); n > 0 && b[n-1] == 0 {
		b = bytes.TrimSpace(b[:n-1])
	}
	return b
}

// num is a JSON number that may be absent, null, an integer, a float, or
// (leniently) a number inside a string.
type num struct {
	v   float64
	set bool
}

func (n *num) UnmarshalJSON(b []byte) error {
	if len(b) == 4 && string(b) == "null" {
		return nil
	}
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b = b[1 : len(b)-1]
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("not a finite number: %.40q", b)
	}
	n.v, n.set = f, true
	return nil
}

// int rounds n and checks it lies in [lo, hi].
func (n num) int(field string, lo, hi int64) (int64, error) {
	r := math.Round(n.v)
	if r < float64(lo) || r > float64(hi) {
		return 0, fmt.Errorf("%s %v out of range [%d, %d]: %w", field, n.v, lo, hi, ErrInvalidJSON)
	}
	return int64(r), nil
}

// optInt is n.int for an optional field: nil when absent.
func optInt[T ~int | ~int64 | ~uint64 | ~uint32](n num, field string, lo, hi int64) (*T, error) {
	if !n.set {
		return nil, nil
	}
	v, err := n.int(field, lo, hi)
	if err != nil {
		return nil, err
	}
	t := T(v)
	return &t, nil
}

// maxFreqMHz bounds accepted frequencies (10 GHz); LoRa lives below 2.5 GHz.
const maxFreqMHz = 10_000

// hz converts a MHz float to integer hertz with rounding (spec §7).
func (n num) hz(field string) (radio.Hz, error) {
	if !n.set {
		return 0, fmt.Errorf("%s missing: %w", field, ErrInvalidJSON)
	}
	if n.v <= 0 || n.v > maxFreqMHz {
		return 0, fmt.Errorf("%s %v MHz out of range: %w", field, n.v, ErrInvalidJSON)
	}
	return radio.Hz(math.Round(n.v * 1e6)), nil
}

// lenientTime is a time field: absent, unparsable or not a string all leave
// it zero, so a bad time drops the field and never the datagram (spec §8.2).
type lenientTime struct{ t time.Time }

// timeLayouts are tried in order. The zone-less ones are read as UTC.
var timeLayouts = [...]string{
	time.RFC3339Nano,          // 2013-03-31T16:21:17.528002Z, 2011-01-01T06:04:25Z
	"2006-01-02 15:04:05 MST", // 2014-01-12 08:59:28 GMT (PROTOCOL.TXT "expanded")
	"2006-01-02 15:04:05.999999999 MST",
	"2006-01-02T15:04:05.999999999", // compact without zone
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05Z07:00",
	time.RFC1123,
	time.RFC1123Z,
}

func (lt *lenientTime) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return nil
	}
	lt.t = parseTime(s)
	return nil
}

func parseTime(s string) time.Time {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Year() < 1 || t.Year() > 9999 {
				return time.Time{}
			}
			return t.UTC()
		}
	}
	return time.Time{}
}

// DatR is a data rate as it appears on the wire: a string for LoRa
// ("SF7BW125") and LR-FHSS ("M0CW137"), a number of bits/s for FSK.
type DatR struct {
	// LoRa is the textual form; empty when the rate was a number.
	LoRa string
	// FSK is the bit rate when the rate was a number.
	FSK uint32
}

// DataRate parses the LoRa form with radio.ParseDataRate (SF7–12,
// BW125/250/500); FSK and LR-FHSS rates return an error.
func (d DatR) DataRate() (radio.DataRate, error) {
	if d.LoRa == "" {
		return radio.DataRate{}, fmt.Errorf("data rate: FSK %d bit/s is not LoRa", d.FSK)
	}
	return radio.ParseDataRate(d.LoRa)
}

// DatRFor returns the wire form of a LoRa data rate.
func DatRFor(dr radio.DataRate) DatR { return DatR{LoRa: dr.String()} }

// String returns the LoRa text or the FSK rate in decimal.
func (d DatR) String() string {
	if d.LoRa != "" {
		return d.LoRa
	}
	return strconv.FormatUint(uint64(d.FSK), 10)
}

// IsZero reports whether no rate is set.
func (d DatR) IsZero() bool { return d.LoRa == "" && d.FSK == 0 }

// MarshalJSON implements json.Marshaler.
func (d DatR) MarshalJSON() ([]byte, error) {
	var e jsonWriter
	e.datr(d)
	return e.b, e.err
}

// UnmarshalJSON implements json.Unmarshaler: a string or a number.
func (d *DatR) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("datr: %w", err)
		}
		if s == "" {
			return fmt.Errorf("datr empty: %w", ErrInvalidJSON)
		}
		*d = DatR{LoRa: s}
	case string(b) == "null":
	default:
		var n num
		if err := n.UnmarshalJSON(b); err != nil {
			return fmt.Errorf("datr: %w", err)
		}
		v, err := n.int("datr", 1, math.MaxUint32)
		if err != nil {
			return err
		}
		*d = DatR{FSK: uint32(v)}
	}
	return nil
}

// decodeData decodes padded or unpadded standard Base64 of at most
// MaxPayloadSize bytes.
func decodeData(s string) ([]byte, error) {
	if len(s) > base64.StdEncoding.EncodedLen(MaxPayloadSize) {
		return nil, fmt.Errorf("data: %d Base64 characters, limit %d bytes: %w", len(s), MaxPayloadSize, ErrInvalidJSON)
	}
	enc := base64.StdEncoding
	if len(s)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	out := make([]byte, enc.DecodedLen(len(s)))
	n, err := enc.Decode(out, []byte(s))
	if err != nil {
		return nil, fmt.Errorf("data: %w: %w", ErrInvalidJSON, err)
	}
	return out[:n], nil
}

// jsonWriter appends JSON with a fixed field order, the number formats the
// reference forwarder uses where they matter, and the first error kept.
type jsonWriter struct {
	b     []byte
	err   error
	first bool // next field is the first of its object
}

func (w *jsonWriter) open() {
	w.b = append(w.b, '{')
	w.first = true
}

func (w *jsonWriter) close() {
	w.b = append(w.b, '}')
	w.first = false
}

func (w *jsonWriter) key(k string) {
	if !w.first {
		w.b = append(w.b, ',')
	}
	w.first = false
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

func (w *jsonWriter) str(k, v string) {
	w.key(k)
	w.quote(v)
}

func (w *jsonWriter) quote(v string) {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			q, err := json.Marshal(v)
			if err != nil && w.err == nil {
				w.err = err
			}
			w.b = append(w.b, q...)
			return
		}
	}
	w.b = append(w.b, '"')
	w.b = append(w.b, v...)
	w.b = append(w.b, '"')
}

func (w *jsonWriter) int(k string, v int64) {
	w.key(k)
	w.b = strconv.AppendInt(w.b, v, 10)
}

func (w *jsonWriter) uint(k string, v uint64) {
	w.key(k)
	w.b = strconv.AppendUint(w.b, v, 10)
}

func (w *jsonWriter) bool(k string, v bool) {
	w.key(k)
	w.b = strconv.AppendBool(w.b, v)
}

// float writes v with prec decimals, or the shortest form when prec < 0.
func (w *jsonWriter) float(k string, v float64, prec int) {
	w.key(k)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		if w.err == nil {
			w.err = fmt.Errorf("%s: %v is not representable in JSON: %w", k, v, ErrInvalidJSON)
		}
		w.b = append(w.b, '0')
		return
	}
	w.b = strconv.AppendFloat(w.b, v, 'f', prec, 64)
}

func (w *jsonWriter) mhz(k string, f radio.Hz, prec int) {
	w.float(k, float64(f)/1e6, prec)
}

func (w *jsonWriter) datr(d DatR) {
	if d.LoRa != "" {
		w.quote(d.LoRa)
		return
	}
	w.b = strconv.AppendUint(w.b, uint64(d.FSK), 10)
}

func (w *jsonWriter) data(k string, p []byte) {
	w.key(k)
	w.b = append(w.b, '"')
	w.b = base64.StdEncoding.AppendEncode(w.b, p)
	w.b = append(w.b, '"')
}

// wrapJSON makes sure a decoding error wraps ErrJSON or ErrInvalidJSON.
func wrapJSON(err error) error {
	if errors.Is(err, ErrJSON) || errors.Is(err, ErrInvalidJSON) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrJSON, err)
}

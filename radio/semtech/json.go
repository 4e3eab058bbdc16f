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

// The lenient field types below are given each value's raw JSON by the
// scanner in jsonscan.go and never fail: they record what they found, and
// the conversion to the public type (fromWire) reports a bad field with its
// name. One bad rxpk therefore cannot abort the others, and the same types
// give the same answers whichever object they sit in.

// num is a JSON number that may be absent, null, an integer, a float, or
// (leniently) a number inside a string.
type num struct {
	v        float64
	set, bad bool
}

func (n *num) UnmarshalJSON(b []byte) error {
	*n = num{}
	if isNull(b) {
		return nil
	}
	n.set = true
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b = b[1 : len(b)-1]
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		n.bad = true
		return nil
	}
	n.v = f
	return nil
}

func isNull(b []byte) bool { return len(b) == 4 && string(b) == "null" }

// float returns the value, or an error naming field if it was not a number.
func (n num) float(field string) (float64, error) {
	if n.bad {
		return 0, fmt.Errorf("%s: not a finite number: %w", field, ErrInvalidJSON)
	}
	return n.v, nil
}

// int rounds n and checks it lies in [lo, hi].
func (n num) int(field string, lo, hi int64) (int64, error) {
	if n.bad {
		return 0, fmt.Errorf("%s: not a finite number: %w", field, ErrInvalidJSON)
	}
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

// setInt stores n.int in *dst when n is present.
func setInt(n num, field string, lo, hi int64, dst *int) error {
	if !n.set {
		return nil
	}
	v, err := n.int(field, lo, hi)
	*dst = int(v)
	return err
}

// optFloat is n.float for an optional field: nil when absent.
func optFloat[T ~float64](n num, field string) (*T, error) {
	if !n.set {
		return nil, nil
	}
	v, err := n.float(field)
	if err != nil {
		return nil, err
	}
	t := T(v)
	return &t, nil
}

// plainString returns the contents of a JSON string literal without
// escapes or non-ASCII bytes, which need no unquoting.
func plainString(b []byte) ([]byte, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return nil, false
	}
	inner := b[1 : len(b)-1]
	for _, c := range inner {
		if c == '\\' || c == '"' || c < 0x20 || c >= utf8.RuneSelf {
			return nil, false
		}
	}
	return inner, true
}

// unquote decodes a JSON string literal.
func unquote(b []byte) (string, bool) {
	if inner, ok := plainString(b); ok {
		return intern(inner), true
	}
	if len(b) == 0 || b[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return "", false
	}
	return s, true
}

// intern returns the common short field values without allocating.
func intern(b []byte) string {
	switch string(b) {
	case "LORA":
		return "LORA"
	case "FSK":
		return "FSK"
	case "4/5":
		return "4/5"
	case "4/6":
		return "4/6"
	case "4/7":
		return "4/7"
	case "4/8":
		return "4/8"
	case "SF7BW125":
		return "SF7BW125"
	case "SF8BW125":
		return "SF8BW125"
	case "SF9BW125":
		return "SF9BW125"
	case "SF10BW125":
		return "SF10BW125"
	case "SF11BW125":
		return "SF11BW125"
	case "SF12BW125":
		return "SF12BW125"
	case "SF7BW500":
		return "SF7BW500"
	case "SF8BW500":
		return "SF8BW500"
	case "SF9BW500":
		return "SF9BW500"
	case "SF10BW500":
		return "SF10BW500"
	case "SF11BW500":
		return "SF11BW500"
	case "SF12BW500":
		return "SF12BW500"
	}
	return string(b)
}

// jstr is a lenient JSON string.
type jstr struct {
	s        string
	set, bad bool
}

func (j *jstr) UnmarshalJSON(b []byte) error {
	*j = jstr{}
	if isNull(b) {
		return nil
	}
	j.set = true
	j.s, j.bad = unquote(b)
	j.bad = !j.bad
	return nil
}

func (j jstr) get(field string) (string, error) {
	if j.bad {
		return "", fmt.Errorf("%s: not a string: %w", field, ErrInvalidJSON)
	}
	return j.s, nil
}

// jbool is a lenient JSON boolean.
type jbool struct {
	v, set, bad bool
}

func (j *jbool) UnmarshalJSON(b []byte) error {
	*j = jbool{}
	switch string(b) {
	case "null":
	case "true":
		j.v, j.set = true, true
	case "false":
		j.set = true
	default:
		j.set, j.bad = true, true
	}
	return nil
}

func (j jbool) get(field string) (bool, error) {
	if j.bad {
		return false, fmt.Errorf("%s: not a boolean: %w", field, ErrInvalidJSON)
	}
	return j.v, nil
}

// b64 is a Base64 payload decoded as it is read.
type b64 struct {
	b   []byte
	set bool
	err error
}

func (x *b64) UnmarshalJSON(b []byte) error {
	*x = b64{}
	if isNull(b) {
		return nil
	}
	x.set = true
	if inner, ok := plainString(b); ok {
		x.b, x.err = decodeData(inner)
		return nil
	}
	s, ok := unquote(b)
	if !ok {
		x.err = fmt.Errorf("data: not a string: %w", ErrInvalidJSON)
		return nil
	}
	x.b, x.err = decodeData([]byte(s))
	return nil
}

// datrField is a lenient DatR.
type datrField struct {
	d   DatR
	set bool
	err error
}

func (x *datrField) UnmarshalJSON(b []byte) error {
	*x = datrField{}
	if isNull(b) {
		return nil
	}
	x.set = true
	x.err = x.d.UnmarshalJSON(b)
	return nil
}

func (x datrField) get() (DatR, error) {
	if x.err != nil {
		return DatR{}, x.err
	}
	if !x.set || x.d.IsZero() {
		return DatR{}, fmt.Errorf("datr missing: %w", ErrInvalidJSON)
	}
	return x.d, nil
}

// maxFreqMHz bounds accepted frequencies (10 GHz); LoRa lives below 2.5 GHz.
const maxFreqMHz = 10_000

// hz converts a MHz float to integer hertz with rounding (spec §7).
func (n num) hz(field string) (radio.Hz, error) {
	if !n.set {
		return 0, fmt.Errorf("%s missing: %w", field, ErrInvalidJSON)
	}
	if n.bad {
		return 0, fmt.Errorf("%s: not a finite number: %w", field, ErrInvalidJSON)
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
	lt.t = time.Time{}
	if s, ok := unquote(b); ok {
		lt.t = parseTime(s)
	}
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
	case isNull(b):
	case len(b) > 0 && b[0] == '"':
		s, ok := unquote(b)
		if !ok {
			return fmt.Errorf("datr: bad string: %w", ErrInvalidJSON)
		}
		if s == "" {
			return fmt.Errorf("datr empty: %w", ErrInvalidJSON)
		}
		*d = DatR{LoRa: s}
	default:
		var n num
		n.UnmarshalJSON(b)
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
func decodeData(s []byte) ([]byte, error) {
	if len(s) > base64.StdEncoding.EncodedLen(MaxPayloadSize) {
		return nil, fmt.Errorf("data: %d Base64 characters, limit %d bytes: %w", len(s), MaxPayloadSize, ErrInvalidJSON)
	}
	enc := base64.StdEncoding
	if len(s)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	out := make([]byte, enc.DecodedLen(len(s)))
	n, err := enc.Decode(out, s)
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

// dB writes v rounded to a whole number, as lora_pkt_fwd writes RSSI
// ("%.0f"); strict receivers (ChirpStack decodes rssi into an int16) reject
// fractions.
func (w *jsonWriter) dB(k string, v float64) {
	r := math.Round(v)
	if r == 0 {
		r = 0 // no "-0"
	}
	w.float(k, r, 0)
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

package radio

import (
	"fmt"
	"strconv"
	"strings"
)

// Gain is an antenna gain in tenths of a dBi (ddBi), the unit on the wire
// (AssertLocation.gain_ddbi, Config.gain_ddbi). People give it in dBi, as
// a decimal: ParseGain("5.8") is 58.
type Gain int32

// The antenna gains hexfield accepts: −10 to 30 dBi (the oracle's limits).
const (
	MinGain Gain = -100
	MaxGain Gain = 300
)

// DBi returns the gain in dBi.
func (g Gain) DBi() DBi { return DBi(g) / 10 }

// String formats the gain in dBi with one decimal, e.g. "5.8".
func (g Gain) String() string {
	neg := ""
	v := int64(g)
	if v < 0 {
		neg, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%d", neg, v/10, v%10)
}

// MarshalText writes String.
func (g Gain) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

// UnmarshalText parses with ParseGain.
func (g *Gain) UnmarshalText(b []byte) error {
	v, err := ParseGain(string(b))
	if err != nil {
		return err
	}
	*g = v
	return nil
}

// Set parses with ParseGain (flag.Value).
func (g *Gain) Set(s string) error { return g.UnmarshalText([]byte(s)) }

// ParseGain parses an antenna gain in dBi: a decimal with at most one
// digit after the point ("5.8", "6", "-1.5", "2.15" is refused), optionally
// followed by the unit "dBi" ("5.8dBi", "12 dBi"), between −10 and 30 dBi.
//
// A whole number of 10 or more without the unit is refused as ambiguous:
// gains used to be given in tenths of a dBi, where "12" meant 1.2 dBi, and
// hotspot antennas are rarely above 10 dBi. Write "1.2" for 1.2 dBi or
// "12dBi" (or "12.0") for 12 dBi. Other units (ddBi, dBd, dB, dBm) are
// refused with what to write instead.
func ParseGain(s string) (Gain, error) {
	in := s
	s = strings.TrimSpace(s)
	num, unit := s, ""
	if i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' && r != '-' && r != '+' }); i >= 0 {
		num, unit = strings.TrimSpace(s[:i]), strings.TrimSpace(s[i:])
	}
	if num == "" {
		return 0, fmt.Errorf("antenna gain %q: want a number of dBi, e.g. 5.8", in)
	}
	whole, frac, dot := strings.Cut(num, ".")
	digits := strings.TrimLeft(whole, "+-")
	if len(whole)-len(digits) > 1 || digits == "" && frac == "" || !allDigits(digits) || !allDigits(frac) || dot && frac == "" {
		return 0, fmt.Errorf("antenna gain %q: want a number of dBi, e.g. 5.8", in)
	}
	switch strings.ToLower(unit) {
	case "", "dbi":
	case "ddbi":
		return 0, fmt.Errorf("antenna gain %q: give it in dBi, not tenths of a dBi (%s ddBi is %s dBi)", in, num, tenthsToDBi(num))
	default:
		return 0, fmt.Errorf("antenna gain %q: the unit must be dBi (a dBd gain is 2.15 dBi more), e.g. 5.8 or 5.8dBi", in)
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > 1 {
		return 0, fmt.Errorf("antenna gain %q: at most one decimal (tenths of a dBi), e.g. 5.8 dBi", in)
	}
	if len(digits) > 4 {
		return 0, fmt.Errorf("antenna gain %q dBi is outside %s to %s dBi", in, MinGain, MaxGain)
	}
	n, _ := strconv.Atoi(digits) // at most 4 digits
	v := n * 10
	if frac != "" {
		v += int(frac[0] - '0')
	}
	if strings.HasPrefix(whole, "-") {
		v = -v
	}
	g := Gain(v)
	if g < MinGain || g > MaxGain {
		hint := ""
		if !dot {
			hint = fmt.Sprintf("; if that is in tenths of a dBi, write %s (dBi)", tenthsToDBi(num))
		}
		return 0, fmt.Errorf("antenna gain %s dBi is outside %s to %s dBi%s", num, MinGain, MaxGain, hint)
	}
	if !dot && unit == "" && n >= 10 {
		return 0, fmt.Errorf("antenna gain %q is ambiguous: for %s dBi write %sdBi (or %s.0); if it is in tenths of a dBi, write %s (dBi)", in, num, num, num, tenthsToDBi(num))
	}
	return g, nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// tenthsToDBi rewrites a whole number of tenths of a dBi in dBi, for hints.
func tenthsToDBi(num string) string {
	n, err := strconv.Atoi(strings.Split(num, ".")[0])
	if err != nil {
		return "?"
	}
	return Gain(n).String()
}

package radio

import (
	"strings"
	"testing"
)

func TestParseGain(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Gain
	}{
		{"6", 60}, {"5.8", 58}, {"0", 0}, {"0.0", 0}, {"1.2", 12}, {"-1.5", -15}, {"+3", 30},
		{"9", 90}, {"12dBi", 120}, {"12 dBi", 120}, {"5.8 DBI", 58}, {"12.0", 120}, {"5.800000", 58},
		{" 4.5 ", 45}, {".5", 5}, {"30dBi", 300}, {"-10.0", -100}, {"30.0", 300},
	} {
		got, err := ParseGain(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseGain(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, msg string }{
		{"12", "ambiguous"}, {"40", "write 4.0 (dBi)"}, {"58", "outside -10.0 to 30.0 dBi; if that is in tenths of a dBi, write 5.8"}, {"-12", "outside"},
		{"5.85", "at most one decimal"}, {"31dBi", "outside -10.0 to 30.0 dBi"}, {"30.1", "outside"},
		{"58ddBi", "58 ddBi is 5.8 dBi"}, {"3dBd", "unit must be dBi"}, {"5dBm", "unit must be dBi"},
		{"", "want a number"}, {"abc", "want a number"}, {"5.", "want a number"}, {"-", "want a number"},
		{"1-2", "want a number"}, {"5.8.1", "want a number"}, {"NaN", "want a number"}, {"1e3", "unit"},
		{"99999999999999999999", "outside"}, {"--5", "want a number"},
	} {
		_, err := ParseGain(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParseGain(%q) = %v; want an error containing %q", tc.in, err, tc.msg)
		}
	}
	if s := Gain(-15).String(); s != "-1.5" {
		t.Errorf("String = %q", s)
	}
	if d := Gain(58).DBi(); d != 5.8 {
		t.Errorf("DBi = %v", d)
	}
}

func FuzzParseGain(f *testing.F) {
	for _, s := range []string{"6", "5.8", "-1.5", "12dBi", "12.0", "58ddBi", "5.85", " 4.5 dBi", "30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ParseGain(s)
		if err != nil {
			return
		}
		if g < MinGain || g > MaxGain {
			t.Fatalf("ParseGain(%q) = %d out of range", s, g)
		}
		back, err := ParseGain(g.String())
		if err != nil || back != g {
			t.Fatalf("ParseGain(%q) = %d; its String %q parses to %d, %v", s, g, g.String(), back, err)
		}
	})
}

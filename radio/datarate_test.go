package radio

import "testing"

func TestParseDataRate(t *testing.T) {
	good := map[string]DataRate{
		"SF7BW125":  {SF: 7, Bandwidth: 125_000},
		"SF9BW125":  {SF: 9, Bandwidth: 125_000},
		"SF12BW500": {SF: 12, Bandwidth: 500_000},
		"SF8BW250":  {SF: 8, Bandwidth: 250_000},
	}
	for s, want := range good {
		got, err := ParseDataRate(s)
		if err != nil || got != want {
			t.Errorf("ParseDataRate(%q) = %v, %v; want %v", s, got, err, want)
		}
		if got.String() != s {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), s)
		}
	}
	for _, s := range []string{"", "SF", "SF6BW125", "SF13BW125", "SF7BW124", "SF7", "M0CW137", "sf7bw125", "SF7BW125x"} {
		if _, err := ParseDataRate(s); err == nil {
			t.Errorf("ParseDataRate(%q): want error", s)
		}
	}
}

func FuzzParseDataRate(f *testing.F) {
	for _, s := range []string{"SF7BW125", "SF12BW500", "SF9BW250", "M0CW137"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDataRate(s)
		if err != nil {
			return
		}
		again, err := ParseDataRate(d.String())
		if err != nil || again != d {
			t.Fatalf("round trip %q → %v → %v, %v", s, d, again, err)
		}
	})
}

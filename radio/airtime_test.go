package radio

import (
	"testing"
	"time"
)

func TestAirtime(t *testing.T) {
	for _, tc := range []struct {
		dr   string
		size int
		want time.Duration
	}{
		// The 52-byte beacon (poc-rules §3: 329 ms and 2 466 ms).
		{"SF9BW125", 52, 328_704 * time.Microsecond},
		{"SF12BW125", 52, 2_465_792 * time.Microsecond},
		// Worked from the formula (CR 4/5, 8-symbol preamble,
		// explicit header, CRC on), as the Semtech LoRa calculator gives.
		{"SF7BW125", 13, 46_336 * time.Microsecond},
		{"SF7BW125", 0, 25_856 * time.Microsecond},
		{"SF10BW125", 24, 370_688 * time.Microsecond},
		{"SF11BW125", 52, 1_314_816 * time.Microsecond},
		{"SF8BW500", 52, 46_208 * time.Microsecond},
		{"SF12BW250", 52, 1_232_896 * time.Microsecond}, // LDRO on: 16.384 ms symbols
		{"SF7BW125", 255, 399_616 * time.Microsecond},
	} {
		dr, err := ParseDataRate(tc.dr)
		if err != nil {
			t.Fatal(err)
		}
		if got := Airtime(dr, tc.size); got != tc.want {
			t.Errorf("Airtime(%s, %d) = %v, want %v", tc.dr, tc.size, got, tc.want)
		}
	}
	// Rounded to the millisecond as in poc-rules §3.
	if got := Airtime(DataRate{SF: 9, Bandwidth: 125_000}, BeaconFrameSize).Round(time.Millisecond); got != 329*time.Millisecond {
		t.Errorf("SF9 beacon = %v, want 329ms", got)
	}
	if got := Airtime(DataRate{SF: 12, Bandwidth: 125_000}, BeaconFrameSize).Round(time.Millisecond); got != 2466*time.Millisecond {
		t.Errorf("SF12 beacon = %v, want 2.466s", got)
	}
	for _, dr := range []DataRate{{}, {SF: 13, Bandwidth: 125_000}, {SF: 5, Bandwidth: 125_000}, {SF: 7}} {
		if got := Airtime(dr, 10); got != 0 {
			t.Errorf("Airtime(%+v) = %v, want 0", dr, got)
		}
	}
	if got := Airtime(DataRate{SF: 7, Bandwidth: 125_000}, -1); got != 0 {
		t.Errorf("negative size: %v", got)
	}
}

// Airtime grows with payload size and spreading factor.
func TestAirtimeMonotonic(t *testing.T) {
	for _, bw := range []Hz{125_000, 250_000, 500_000} {
		for sf := 7; sf <= 12; sf++ {
			prev := time.Duration(0)
			for n := 0; n <= 255; n++ {
				a := Airtime(DataRate{SF: sf, Bandwidth: bw}, n)
				if a < prev {
					t.Fatalf("SF%d BW%d: %d bytes %v < %v", sf, bw, n, a, prev)
				}
				if sf > 7 && a <= Airtime(DataRate{SF: sf - 1, Bandwidth: bw}, n) {
					t.Fatalf("SF%d not slower than SF%d at %d bytes", sf, sf-1, n)
				}
				prev = a
			}
		}
	}
}

func BenchmarkAirtime(b *testing.B) {
	dr := DataRate{SF: 9, Bandwidth: 125_000}
	var sink time.Duration
	for b.Loop() {
		sink += Airtime(dr, BeaconFrameSize)
	}
	_ = sink
}

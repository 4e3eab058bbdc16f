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

// FuzzAirtime: never panics; 0 exactly for invalid input; otherwise at
// least the preamble and never more than a 255-byte SF12BW125 frame for
// sizes up to 255.
func FuzzAirtime(f *testing.F) {
	f.Add(9, uint64(125_000), 52)
	f.Add(12, uint64(125_000), 52)
	f.Add(7, uint64(500_000), 0)
	f.Add(13, uint64(0), -1)
	f.Add(6, uint64(1), 1<<30)
	f.Fuzz(func(t *testing.T, sf int, bw uint64, size int) {
		dr := DataRate{SF: sf, Bandwidth: Hz(bw)}
		a := Airtime(dr, size)
		valid := sf >= 6 && sf <= 12 && bw > 0 && bw <= 1_000_000_000 && size >= 0 && size <= MaxAirtimePayload
		if !valid {
			if a != 0 {
				t.Fatalf("Airtime(%+v, %d) = %v, want 0", dr, size, a)
			}
			return
		}
		if a <= 0 {
			t.Fatalf("Airtime(%+v, %d) = %v", dr, size, a)
		}
		preamble := time.Duration(float64(12.25) * float64(uint64(1)<<sf) / float64(bw) * 1e9)
		if a < preamble {
			t.Fatalf("Airtime(%+v, %d) = %v shorter than the preamble %v", dr, size, a, preamble)
		}
	})
}

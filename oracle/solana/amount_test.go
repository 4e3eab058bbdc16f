package solana

import "testing"

func TestFormatAmount(t *testing.T) {
	for _, tc := range []struct {
		v    uint64
		d    int
		want string
	}{{0, 6, "0.000000"}, {1, 6, "0.000001"}, {1_500_000, 6, "1.500000"}, {123_456_789, 6, "123.456789"}, {42, 0, "42"}, {5, 2, "0.05"}} {
		if got := FormatAmount(tc.v, tc.d); got != tc.want {
			t.Errorf("FormatAmount(%d, %d) = %q, want %q", tc.v, tc.d, got, tc.want)
		}
	}
}

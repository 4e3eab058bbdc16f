package verifier

import (
	"slices"
	"testing"
)

// The HIP-15 table of poc-rules §8, in 10⁻⁴ units.
func TestRewardUnitsGolden(t *testing.T) {
	beaconer := []uint32{0, 2500, 5000, 7500, 10000, 12000, 13600, 14880, 15904, 16723, 17379, 17903, 18322, 18658, 18926}
	witness := []uint32{0, 10000, 10000, 10000, 10000, 7600, 6067, 5017, 4262, 3697, 3262, 2918, 2640, 2411, 2220}
	got := RewardUnits(DefaultParams())
	if !slices.Equal(got.Beaconer, beaconer) {
		t.Errorf("beaconer units\n got %v\nwant %v", got.Beaconer, beaconer)
	}
	if !slices.Equal(got.Witness, witness) {
		t.Errorf("witness units\n got %v\nwant %v", got.Witness, witness)
	}
	// Total = 1.25·w up to 4 and 5 from 4 on (±rounding).
	for w := 1; w <= 14; w++ {
		total := int(got.Beaconer[w]) + w*int(got.Witness[w])
		want := 50000
		if w <= 4 {
			want = 12500 * w
		}
		if d := total - want; d < -w || d > w {
			t.Errorf("w=%d: total %d, want %d", w, total, want)
		}
	}
}

// The share example of §8: w = 6, beaconer scale 0.5000.
func TestSharesExample(t *testing.T) {
	u := RewardUnits(DefaultParams())
	if got := uint64(5000) * uint64(u.Beaconer[6]); got != 68_000_000 {
		t.Errorf("beaconer share %d, want 68000000", got)
	}
	if got := uint64(5000) * uint64(u.Witness[6]); got != 30_335_000 {
		t.Errorf("witness share %d, want 30335000", got)
	}
}

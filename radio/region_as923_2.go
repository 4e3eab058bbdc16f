package radio

import (
	"time"

	"github.com/brocaar/lorawan/band"
)

// as923_2 is AS923-2 (Vietnam, Indonesia; −1.8 MHz offset).
// Eight 200 kHz-spaced channels starting at the two mandatory AS923
// channels, 16 dBm EIRP, 400 ms dwell time. Beacons go out at SF9BW125.
func as923_2() *Region {
	return &Region{
		Name: "AS923-2",
		Band: band.AS923_2,
		Channels: []Hz{
			921_400_000, 921_600_000, 921_800_000, 922_000_000,
			922_200_000, 922_400_000, 922_600_000, 922_800_000,
		},
		Bandwidth:    125_000,
		MaxEIRPddBm:  160,
		Spreading:    auSpreading(),
		DwellTime:    400 * time.Millisecond,
		MinFrequency: 915_000_000,
		MaxFrequency: 928_000_000,
	}
}

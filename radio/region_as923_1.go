package radio

import (
	"time"

	"github.com/brocaar/lorawan/band"
)

// as923_1 is AS923-1 (Japan, Singapore, Taiwan, Hong Kong, Thailand, Malaysia, …; 0 MHz offset).
// Eight 200 kHz-spaced channels starting at the two mandatory AS923
// channels, 16 dBm EIRP, 400 ms dwell time. Beacons go out at SF9BW125.
func as923_1() *Region {
	return &Region{
		Name: "AS923-1",
		Band: band.AS923,
		Channels: []Hz{
			923_200_000, 923_400_000, 923_600_000, 923_800_000,
			924_000_000, 924_200_000, 924_400_000, 924_600_000,
		},
		Bandwidth:    125_000,
		MaxEIRPddBm:  160,
		Spreading:    auSpreading(),
		DwellTime:    400 * time.Millisecond,
		MinFrequency: 915_000_000,
		MaxFrequency: 928_000_000,
	}
}

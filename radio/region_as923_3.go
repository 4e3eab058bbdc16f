package radio

import (
	"time"

	"github.com/brocaar/lorawan/band"
)

// as923_3 is AS923-3 (the Philippines, Cuba; −6.6 MHz offset).
// Eight 200 kHz-spaced channels starting at the two mandatory AS923
// channels, 16 dBm EIRP, 400 ms dwell time. Beacons go out at SF9BW125.
func as923_3() *Region {
	return &Region{
		Name: "AS923-3",
		Band: band.AS923_3,
		Channels: []Hz{
			916_600_000, 916_800_000, 917_000_000, 917_200_000,
			917_400_000, 917_600_000, 917_800_000, 918_000_000,
		},
		Bandwidth:    125_000,
		MaxEIRPddBm:  160,
		Spreading:    auSpreading(),
		DwellTime:    400 * time.Millisecond,
		MinFrequency: 915_000_000,
		MaxFrequency: 928_000_000,
	}
}

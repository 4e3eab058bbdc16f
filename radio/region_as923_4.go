package radio

import (
	"time"

	"github.com/brocaar/lorawan/band"
)

// as923_4 is AS923-4 (Israel; −5.9 MHz offset).
// Eight 200 kHz-spaced channels starting at the two mandatory AS923
// channels, 16 dBm EIRP, 400 ms dwell time. Beacons go out at SF9BW125.
func as923_4() *Region {
	return &Region{
		Name: "AS923-4",
		Band: band.AS923_4,
		Channels: []Hz{
			917_300_000, 917_500_000, 917_700_000, 917_900_000,
			918_100_000, 918_300_000, 918_500_000, 918_700_000,
		},
		Bandwidth:    125_000,
		MaxEIRPddBm:  160,
		Spreading:    auSpreading(),
		DwellTime:    400 * time.Millisecond,
		MinFrequency: 915_000_000,
		MaxFrequency: 928_000_000,
	}
}

package radio

import (
	"time"

	"github.com/brocaar/lorawan/band"
)

// au915 is AU915 (Australia, New Zealand and the AU915 countries of South
// America): sub-band 2, uplink channels 8–15 (916.8–918.2 MHz), 30 dBm
// EIRP, 400 ms dwell time. Beacons go out at SF9BW125.
func au915() *Region {
	return &Region{
		Name: "AU915",
		Band: band.AU915,
		Channels: []Hz{
			916_800_000, 917_000_000, 917_200_000, 917_400_000,
			917_600_000, 917_800_000, 918_000_000, 918_200_000,
		},
		Bandwidth:       125_000,
		MaxConductedDBm: SX1302MaxPowerDBm,
		MaxEIRPddBm:     300,
		Spreading:       auSpreading(),
		DwellTime:       400 * time.Millisecond,
		MinFrequency:    915_000_000,
		MaxFrequency:    928_000_000,
	}
}

package radio

import (
	"time"

	"github.com/brocaar/lorawan/band"
)

// us915 is US915 (United States, Canada, Mexico): sub-band 2, the eight
// 125 kHz uplink channels 8–15 of the LoRaWAN plan, 36 dBm EIRP (FCC
// 30 dBm conducted + 6 dBi), 400 ms dwell time. Beacons go out at SF9BW125.
func us915() *Region {
	return &Region{
		Name: "US915",
		Band: band.US915,
		Channels: []Hz{
			903_900_000, 904_100_000, 904_300_000, 904_500_000,
			904_700_000, 904_900_000, 905_100_000, 905_300_000,
		},
		Bandwidth:       125_000,
		MaxConductedDBm: SX1302MaxPowerDBm,
		MaxEIRPddBm:     360,
		Spreading:       []Spreading{{25, 10}, {67, 9}, {139, 8}, {256, 7}},
		DwellTime:       400 * time.Millisecond,
		MinFrequency:    902_000_000,
		MaxFrequency:    928_000_000,
	}
}

package radio

import "github.com/brocaar/lorawan/band"

// cn470 is CN470 (China): 486.3–487.7 MHz, 19.1 dBm EIRP. It has no beacon
// data rate: HIP-137 found more than 86.9 % of CN470 proof of coverage to be
// gaming, so the region is excluded from proof of coverage (NoBeacon) and
// NewBeacon fails for it. Packets (data transfer) still work.
func cn470() *Region {
	return &Region{
		Name: "CN470",
		Band: band.CN470,
		Channels: []Hz{
			486_300_000, 486_500_000, 486_700_000, 486_900_000,
			487_100_000, 487_300_000, 487_500_000, 487_700_000,
		},
		Bandwidth:    125_000,
		MaxEIRPddBm:  191,
		Spreading:    auSpreading(),
		MinFrequency: 470_000_000,
		MaxFrequency: 510_000_000,
		NoBeacon:     true,
	}
}

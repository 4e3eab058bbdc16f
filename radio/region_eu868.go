package radio

import "github.com/brocaar/lorawan/band"

// eu868 is EU868 (Europe and the many countries that adopted the ETSI
// 863–870 MHz plan): the three mandatory LoRaWAN channels 868.1/868.3/868.5
// plus the five common extra channels 867.1–867.9, in ascending order,
// 16.1 dBm EIRP (Helium's figure for the 25 mW ERP limit). No dwell-time
// limit, so beacons go out at SF12BW125.
func eu868() *Region {
	return &Region{
		Name: "EU868",
		Band: band.EU868,
		Channels: []Hz{
			867_100_000, 867_300_000, 867_500_000, 867_700_000,
			867_900_000, 868_100_000, 868_300_000, 868_500_000,
		},
		Bandwidth:    125_000,
		MaxEIRPddBm:  161,
		Spreading:    []Spreading{{65, 12}, {129, 9}, {238, 8}},
		MinFrequency: 863_000_000,
		MaxFrequency: 870_000_000,
	}
}

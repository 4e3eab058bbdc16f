package radio

import "github.com/brocaar/lorawan/band"

// eu433 is EU433 (the 433.05–434.79 MHz ISM band): the three mandatory
// channels, 12.1 dBm EIRP. Beacons go out at SF9BW125. EU433 is a
// secondary plan: the region map never assigns it, an operator chooses it.
func eu433() *Region {
	return &Region{
		Name:         "EU433",
		Band:         band.EU433,
		Channels:     []Hz{433_175_000, 433_375_000, 433_575_000},
		Bandwidth:    125_000,
		MaxEIRPddBm:  121,
		Spreading:    auSpreading(),
		MinFrequency: 433_050_000,
		MaxFrequency: 434_790_000,
	}
}

package radio

import "github.com/brocaar/lorawan/band"

// in865 is IN865 (India). It is not in the poc-rules §3 table; the
// channels and EIRP come from the LoRaWAN regional parameters as encoded in
// brocaar/lorawan/band: the three mandatory channels 865.0625, 865.4025 and
// 865.985 MHz and the 30 dBm default maximum EIRP (the same as Helium's
// IN865 parameters). The spreading list is AU915's, so beacons go out at
// SF9BW125. No dwell-time limit.
func in865() *Region {
	return &Region{
		Name:         "IN865",
		Band:         band.IN865,
		Channels:     []Hz{865_062_500, 865_402_500, 865_985_000},
		Bandwidth:    125_000,
		MaxEIRPddBm:  300,
		Spreading:    auSpreading(),
		MinFrequency: 865_000_000,
		MaxFrequency: 867_000_000,
	}
}

package radio

import "github.com/brocaar/lorawan/band"

// kr920 is KR920 (South Korea). It is not in the poc-rules §3 table; the
// channels and EIRP come from the LoRaWAN regional parameters as encoded in
// brocaar/lorawan/band: the three mandatory channels 922.1/922.3/922.5 MHz
// (every KR920 device and gateway listens there; Helium also used the
// optional 922.7–923.3 MHz channels, which a gateway need not enable) and
// the 14 dBm default maximum EIRP. The spreading list is AU915's, as Helium
// used for KR920; band allows larger payloads at SF10–SF12 (59-byte
// MACPayload) but none of those reaches 51 bytes in the list, so beacons go
// out at SF9BW125 (band: 123-byte MACPayload). No dwell-time limit.
func kr920() *Region {
	return &Region{
		Name:         "KR920",
		Band:         band.KR920,
		Channels:     []Hz{922_100_000, 922_300_000, 922_500_000},
		Bandwidth:    125_000,
		MaxEIRPddBm:  140,
		Spreading:    auSpreading(),
		MinFrequency: 920_900_000,
		MaxFrequency: 923_300_000,
	}
}

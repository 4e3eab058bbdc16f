package wire

import "testing"

var configVectors = []golden{
	{"full", &Config{Hotspot: vecHotspot, Region: "EU868", Asserted: true, GainDdbi: 23, BeaconIntervalS: 300,
		IssuedMs: 1763700000000},
		"0a2003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8" + "12054555383638" + "1801" + "2017" + "28ac02" +
			"40808ad9a5aa33"},
	{"data-only, unasserted", &Config{Hotspot: vecHotspot, GainDdbi: -10, DataOnly: true},
		"0a2003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8" + "20f6ffffffffffffffff01" + "3001"},
	{"devaddr range", &DevAddrRange{Start: 0x26000000, End: 0x26ffffff}, "08808080b00210ffffffb702"},
	{"eui range", &EUIRange{Start: 1, End: 0xffffffffffffffff}, "080110ffffffffffffffffff01"},
}

func TestConfigGolden(t *testing.T) { testGolden(t, configVectors) }

package wire

import "testing"

var registryVectors = []golden{
	{"onboard full", &Onboard{Hotspot: vecHotspot, Owner: vecOwner, Capability: Capability_CAPABILITY_FULL, TimestampMs: 1763700000000},
		"0a2003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8" +
			"122006ddf6e1d765a193d9cbe146ceeb79ac1cb485ed5f5b37913a8cf5857eff00a9" + "20808ad9a5aa33"},
	{"onboard data-only", &Onboard{Hotspot: vecHotspot, Owner: vecOwner, Capability: Capability_CAPABILITY_DATA_ONLY, TimestampMs: 1},
		"0a2003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8" +
			"122006ddf6e1d765a193d9cbe146ceeb79ac1cb485ed5f5b37913a8cf5857eff00a9" + "1801" + "2001"},
	{"assert location", &AssertLocation{Hotspot: vecHotspot, Owner: vecOwner, H3Cell: 0x8c1fb46622dd9ff, GainDdbi: 23, ElevationM: 12, Nonce: 1},
		"0a2003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8" +
			"122006ddf6e1d765a193d9cbe146ceeb79ac1cb485ed5f5b37913a8cf5857eff00a9" + "18ffb3b791e6e8fee008" + "2017" + "280c" + "3001"},
	{"assert location, negative elevation", &AssertLocation{ElevationM: -5, Nonce: 0xffffffffffffffff},
		"28fbffffffffffffffff01" + "30ffffffffffffffffff01"},
}

func TestRegistryGolden(t *testing.T) { testGolden(t, registryVectors) }

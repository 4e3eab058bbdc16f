package wire

import "testing"

var configVectors = []golden{
	{"full", &Config{Hotspot: vecHotspot, Region: "EU868", Asserted: true, GainDdbi: 23, BeaconIntervalS: 300,
		Routes: []*Route{{Id: "acme-eu", NetId: 0x13,
			DevAddrs: []*DevAddrRange{{Start: 0x26000000, End: 0x27ffffff}},
			JoinEuis: []*EUIRange{{Start: 0x70b3d57ed0000000, End: 0x70b3d57ed000ffff}},
			LnsAddr:  "lns.acme.example:1700", MaxCopies: 3, Active: true}},
		IssuedMs: 1763700000000},
		"0a2003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8" + "12054555383638" + "1801" + "2017" + "28ac02" +
			"3a4a" + "0a0761636d652d6575" + "1013" + "1a0c08808080b00210ffffffbf02" + "22140880808080edaff5d97010ffff8380edaff5d970" +
			"2a156c6e732e61636d652e6578616d706c653a31373030" + "3003" + "3801" + "40808ad9a5aa33"},
	{"data-only, unasserted", &Config{Hotspot: vecHotspot, GainDdbi: -10, DataOnly: true},
		"0a2003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8" + "20f6ffffffffffffffff01" + "3001"},
	{"inactive route", &Route{Id: "r2", DevAddrs: []*DevAddrRange{{Start: 1, End: 1}, {Start: 0, End: 0xffffffff}}, MaxCopies: 1},
		"0a027232" + "1a0408011001" + "1a0610ffffffff0f" + "3001"},
	{"devaddr range", &DevAddrRange{Start: 0x26000000, End: 0x26ffffff}, "08808080b00210ffffffb702"},
	{"eui range", &EUIRange{Start: 1, End: 0xffffffffffffffff}, "080110ffffffffffffffffff01"},
}

func TestConfigGolden(t *testing.T) { testGolden(t, configVectors) }

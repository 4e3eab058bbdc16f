package wire

import (
	"bytes"
	"testing"
)

var cosignVectors = []golden{
	{"request", &CosignRequest{Epoch: 42, Count: 3, Total: 3_750_042,
		Root:    hexBytes("663cf867bf70b3d4741804eff9ad81e1f495f053314be508717420eee9cdf0a0"),
		Quorum:  [][]byte{bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)},
		Message: []byte{1, 0, 2}},
		"082a" + "1003" + "189af1e401" + "2220663cf867bf70b3d4741804eff9ad81e1f495f053314be508717420eee9cdf0a0" +
			"2a200101010101010101010101010101010101010101010101010101010101010101" +
			"2a200202020202020202020202020202020202020202020202020202020202020202" + "3203010002"},
	{"agreed", &CosignResponse{Signature: bytes.Repeat([]byte{0x5c}, 64)},
		"0a40" + "5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c" +
			"5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c"},
	{"refused", &CosignResponse{Refused: "summary differs", Field: "total", Proposed: "3750042", Own: "3750041"},
		"120f73756d6d61727920646966666572731a05746f74616c2207333735303034322a0733373530303431"},
}

func TestCosignGolden(t *testing.T) { testGolden(t, cosignVectors) }

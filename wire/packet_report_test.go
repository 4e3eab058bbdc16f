package wire

import (
	"bytes"
	"testing"
)

var packetReportVectors = []golden{
	{"data uplink", &PacketReport{PubKey: vecHotspot, PayloadHash: bytes.Repeat([]byte{0x5a}, 32), PayloadSize: 23,
		DevAddr: 0x260b1234, RouteId: "acme-eu", FrequencyHz: 868_100_000, Datarate: "SF7BW125", RssiDdbm: -875,
		SnrDdb: 92, Tmst: 1000000, TimestampMs: 1763700000789},
		"0a2003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8" +
			"12205a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a" + "1817" + "28b4a4acb002" +
			"420761636d652d6575" + "48a0cff89d03" + "52085346374257313235" + "58d50d" + "60b801" + "68c0843d" + "709590d9a5aa33"},
	{"free join", &PacketReport{PubKey: vecHotspot, PayloadHash: bytes.Repeat([]byte{0x5b}, 32), PayloadSize: 23, Join: true,
		JoinEui: 0x70b3d57ed0000001, DevEui: 0x0004a30b001c0530, RouteId: "acme-eu", Free: true},
		"0a2003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8" +
			"12205b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b" + "1817" + "2001" +
			"3081808080edaff5d970" + "38b08af080b0e1a802" + "420761636d652d6575" + "7801"},
}

func TestPacketReportGolden(t *testing.T) { testGolden(t, packetReportVectors) }

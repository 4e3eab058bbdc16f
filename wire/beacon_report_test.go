package wire

import (
	"bytes"
	"testing"
)

var beaconReportVectors = []golden{
	{"full", &BeaconReport{PubKey: vecHotspot, Entropy: bytes.Repeat([]byte{0xee}, 8),
		Nonce: []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, Payload: bytes.Repeat([]byte{0x51}, 51),
		FrequencyHz: 867_900_000, Datarate: "SF9BW125", TxPowerDbm: 14, Tmst: 3512348611, TimestampMs: 1763700000123},
		"0a2003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8" + "1208eeeeeeeeeeeeeeee" +
			"1a10000102030405060708090a0b0c0d0e0f" +
			"2233515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151" +
			"28e0b4ec9d03" + "32085346394257313235" + "380e" + "40c3dfe88a0d" + "48fb8ad9a5aa33"},
	// int32 (not sint32): a negative power takes ten bytes.
	{"negative power", &BeaconReport{TxPowerDbm: -3}, "38fdffffffffffffffff01"},
}

func TestBeaconReportGolden(t *testing.T) { testGolden(t, beaconReportVectors) }

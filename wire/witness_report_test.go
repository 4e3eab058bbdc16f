package wire

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"
)

var witnessReportVectors = []golden{
	{"full", &WitnessReport{PubKey: vecHotspot, Payload: bytes.Repeat([]byte{0x51}, 51), FrequencyHz: 867_900_000,
		Datarate: "SF9BW125", RssiDdbm: -1053, RssisDdbm: proto.Int32(-1071), SnrDdb: 55, Tmst: 3512348611,
		GpsTimeMs: proto.Uint64(1447459200123), TimestampMs: 1763700000456},
		"0a2003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8" +
			"1233515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151" +
			"18e0b4ec9d03" + "22085346394257313235" + "28b910" + "30dd10" + "386e" + "40c3dfe88a0d" + "48fbb8aa9a902a" + "50c88dd9a5aa33"},
	// Optional fields set to zero are present; plain zero fields are not.
	{"optional zeros present", &WitnessReport{RssisDdbm: proto.Int32(0), SnrDdb: -1, GpsTimeMs: proto.Uint64(0)}, "300038014800"},
	{"empty", &WitnessReport{}, ""},
}

func TestWitnessReportGolden(t *testing.T) { testGolden(t, witnessReportVectors) }

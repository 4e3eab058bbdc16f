package wire

import (
	"bytes"
	"testing"
)

var entropyVectors = []golden{
	{"v1", &Entropy{Version: 1, Ts: 1763700000, Data: bytes.Repeat([]byte{0x11}, 32)},
		"0801" + "10a0daffc806" + "1a201111111111111111111111111111111111111111111111111111111111111111"},
	{"negative ts", &Entropy{Version: 1, Ts: -1}, "080110ffffffffffffffffff01"},
}

func TestEntropyGolden(t *testing.T) { testGolden(t, entropyVectors) }

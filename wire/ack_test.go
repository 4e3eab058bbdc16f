package wire

import (
	"bytes"
	"testing"
)

var ackVectors = []golden{
	{"duplicate", &Ack{Id: bytes.Repeat([]byte{0xab}, 32), Code: Code_CODE_DUPLICATE, Message: "already stored", ReceivedMs: 1763700000123},
		"0a20abababababababababababababababababababababababababababababababab10011a0e616c72656164792073746f72656420fb8ad9a5aa33"},
	{"overloaded", &Ack{Code: Code_CODE_OVERLOADED, Message: "try again"}, "10081a0974727920616761696e"},
	{"ok empty", &Ack{}, ""},
}

func TestAckGolden(t *testing.T) { testGolden(t, ackVectors) }

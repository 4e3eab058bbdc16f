package wire

import "testing"

var helloVectors = []golden{
	{"hotspot", &Hello{ProtocolVersion: 1, PubKey: vecHotspot, Role: Role_ROLE_HOTSPOT, Software: "hotspotd/0.1.0"},
		"0801" + "122003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8" + "1801" + "220e686f7473706f74642f302e312e30"},
	{"oracle", &Hello{ProtocolVersion: 1, Role: Role_ROLE_ORACLE, Software: "oracled/0.1.0"},
		"0801" + "1802" + "220d6f7261636c65642f302e312e30"},
}

func TestHelloGolden(t *testing.T) { testGolden(t, helloVectors) }

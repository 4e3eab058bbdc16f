package wire

import (
	"bytes"
	"encoding/hex"
	"testing"

	"google.golang.org/protobuf/proto"
)

// A golden vector: a message and its deterministic encoding. The hex was
// produced independently of Go, with protoc --encode from text format.
type golden struct {
	name string
	msg  proto.Message
	hex  string
}

// Keys used in vectors: the public key of seed 00 01 … 1f, and the SPL
// token program's address standing in for an owner wallet.
var (
	vecHotspot = hexBytes("03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8")
	vecOwner   = hexBytes("06ddf6e1d765a193d9cbe146ceeb79ac1cb485ed5f5b37913a8cf5857eff00a9")
)

// testGolden checks each vector both ways: encode to the expected hex,
// decode back to the expected value, and re-encode to the same bytes.
func testGolden(t *testing.T, vectors []golden) {
	t.Helper()
	for _, v := range vectors {
		name := string(v.msg.ProtoReflect().Descriptor().Name()) + "/" + v.name
		t.Run(name, func(t *testing.T) {
			want := mustHex(t, v.hex)
			got, err := proto.MarshalOptions{Deterministic: true}.Marshal(v.msg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("encode = %s\n          want %s", hex.EncodeToString(got), v.hex)
			}
			back := v.msg.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(want, back); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !proto.Equal(back, v.msg) {
				t.Errorf("decode = %v\n  want %v", back, v.msg)
			}
			again, err := proto.MarshalOptions{Deterministic: true}.Marshal(back)
			if err != nil || !bytes.Equal(again, want) {
				t.Errorf("re-encode = %x, %v", again, err)
			}
		})
	}
}

// allGolden is every message vector, for fuzz seeds.
func allGolden() []golden {
	var all []golden
	for _, vs := range [][]golden{ackVectors, beaconReportVectors, witnessReportVectors, packetReportVectors,
		entropyVectors, configVectors, helloVectors, registryVectors, envelopeVectors, frameMessageVectors, cosignVectors,
		orgChangeVectors, dcGrantVectors, makerApprovalVectors, routeTableVectors} {
		all = append(all, vs...)
	}
	for _, fv := range frameVectors {
		all = append(all, golden{fv.name, fv.frame, fv.hex[8:]})
	}
	return all
}

// fuzzTypes is every message type on the wire.
func fuzzTypes() []proto.Message {
	return []proto.Message{
		&Ack{}, &BeaconReport{}, &WitnessReport{}, &PacketReport{}, &Entropy{}, &Config{},
		&DevAddrRange{}, &EUIRange{}, &Hello{}, &Onboard{}, &AssertLocation{}, &Envelope{}, &Frame{},
		&Submit{}, &EntropyRequest{}, &ConfigRequest{}, &CosignRequest{}, &CosignResponse{},
		&OrgChange{}, &OrgCreate{}, &DevAddrBlocks{}, &RouteSpec{}, &LNSEndpoint{}, &EUIPair{}, &SessionKeyFilter{},
		&DCGrant{}, &MakerApproval{}, &RouteTableRequest{}, &RouteTable{}, &TableRoute{}, &EUIPairRange{},
		&RouteTableChunk{}, &RouteTableUnchanged{},
	}
}

// FuzzMessages decodes arbitrary bytes as each message type: no panic, and
// decode → encode → decode is stable.
func FuzzMessages(f *testing.F) {
	types := fuzzTypes()
	for _, v := range allGolden() {
		for i, m := range types {
			if m.ProtoReflect().Descriptor() == v.msg.ProtoReflect().Descriptor() {
				f.Add(uint8(i), mustHex(f, v.hex))
			}
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		m := types[int(which)%len(types)].ProtoReflect().New().Interface()
		if err := proto.Unmarshal(data, m); err != nil {
			return
		}
		enc, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			t.Fatalf("re-encode %T: %v", m, err)
		}
		back := m.ProtoReflect().New().Interface()
		if err := proto.Unmarshal(enc, back); err != nil {
			t.Fatalf("decode of re-encoded %T %x: %v", m, enc, err)
		}
		if !proto.Equal(back, m) {
			t.Fatalf("%T changed in a round trip: %v → %v", m, m, back)
		}
		enc2, err := proto.MarshalOptions{Deterministic: true}.Marshal(back)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("%T encoding is unstable: %x vs %x", m, enc, enc2)
		}
	})
}

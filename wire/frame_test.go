package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"google.golang.org/protobuf/proto"
)

// Golden frames: 4-byte big-endian length, then the Frame encoding
// (checked with protoc --encode=hexfield.wire.v1.Frame).
var frameVectors = []struct {
	name  string
	frame *Frame
	hex   string
}{
	{
		"hello",
		&Frame{Msg: &Frame_Hello{Hello: &Hello{ProtocolVersion: 1, Role: Role_ROLE_HOTSPOT, Software: "hotspotd/0.1.0"}}},
		"00000016" + "0a14" + "0801" + "1801" + "220e686f7473706f74642f302e312e30",
	},
	{
		"submit",
		&Frame{Msg: &Frame_Submit{Submit: &Submit{Envelope: []byte{0xaa, 0xbb, 0xcc}, HoldMs: 300}}},
		"0000000a" + "1208" + "0a03aabbcc" + "10ac02",
	},
	{
		"ack duplicate",
		&Frame{Msg: &Frame_Ack{Ack: &Ack{Id: []byte{1, 2}, Code: Code_CODE_DUPLICATE, ReceivedMs: 1}}},
		"0000000a" + "1a08" + "0a020102" + "1001" + "2001",
	},
	{
		"entropy request (empty message)",
		&Frame{Msg: &Frame_EntropyRequest{EntropyRequest: &EntropyRequest{}}},
		"00000002" + "2200",
	},
	{
		"config request",
		&Frame{Msg: &Frame_ConfigRequest{ConfigRequest: &ConfigRequest{}}},
		"00000002" + "3200",
	},
	{
		"entropy envelope",
		&Frame{Msg: &Frame_Entropy{Entropy: &Envelope{Kind: Kind_KIND_ENTROPY, Signer: []byte{1}, Body: []byte{2}, Signature: []byte{3}}}},
		"0000000d" + "2a0b" + "0804" + "120101" + "1a0102" + "220103",
	},
	{
		"config envelope",
		&Frame{Msg: &Frame_Config{Config: &Envelope{Kind: Kind_KIND_CONFIG}}},
		"00000004" + "3a02" + "0805",
	},
	{
		"route table request",
		&Frame{Msg: &Frame_RouteTableRequest{RouteTableRequest: &RouteTableRequest{Version: 7}}},
		"00000004" + "4202" + "1007",
	},
	{
		"route table chunk",
		&Frame{Msg: &Frame_RouteTableChunk{RouteTableChunk: &RouteTableChunk{Size: 1, Data: []byte{5}}}},
		"00000007" + "4a05" + "0801" + "120105",
	},
	{
		"route table unchanged",
		&Frame{Msg: &Frame_RouteTableUnchanged{RouteTableUnchanged: &RouteTableUnchanged{Version: 1}}},
		"00000004" + "5202" + "1001",
	},
}

func TestFrameGolden(t *testing.T) {
	for _, tc := range frameVectors {
		t.Run(tc.name, func(t *testing.T) {
			want := mustHex(t, tc.hex)
			got, err := AppendFrame(nil, tc.frame)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("AppendFrame = %x, want %x", got, want)
			}
			var buf bytes.Buffer
			if err := WriteFrame(&buf, tc.frame); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("WriteFrame = %x, want %x", buf.Bytes(), want)
			}
			f, err := ReadFrame(bytes.NewReader(want))
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(f, tc.frame) {
				t.Errorf("ReadFrame = %v, want %v", f, tc.frame)
			}
		})
	}
}

// allFrames is every golden frame back to back.
func allFrames(t testing.TB) []byte {
	var b []byte
	for _, tc := range frameVectors {
		b = append(b, mustHex(t, tc.hex)...)
	}
	return b
}

func TestFrameReaderSequence(t *testing.T) {
	stream := allFrames(t)
	readers := map[string]io.Reader{
		"whole":    bytes.NewReader(stream),
		"one byte": iotest.OneByteReader(bytes.NewReader(stream)),
		"half":     iotest.HalfReader(bytes.NewReader(stream)),
	}
	for name, r := range readers {
		t.Run(name, func(t *testing.T) {
			fr := NewFrameReader(r)
			var f Frame
			for _, tc := range frameVectors {
				if err := fr.ReadInto(&f); err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				if !proto.Equal(&f, tc.frame) {
					t.Fatalf("%s: got %v", tc.name, &f)
				}
			}
			if _, err := fr.Read(); err != io.EOF {
				t.Fatalf("at end: err = %v, want io.EOF", err)
			}
		})
	}
}

func TestFrameWriter(t *testing.T) {
	var buf bytes.Buffer
	fw := NewFrameWriter(&buf)
	for _, tc := range frameVectors {
		if err := fw.Write(tc.frame); err != nil {
			t.Fatal(err)
		}
	}
	if buf.Len() != 0 {
		t.Errorf("wrote %d bytes before Flush", buf.Len())
	}
	if fw.Buffered() != len(allFrames(t)) {
		t.Errorf("Buffered = %d", fw.Buffered())
	}
	if err := fw.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), allFrames(t)) {
		t.Errorf("stream = %x", buf.Bytes())
	}
	// Frames bigger than the buffer go straight through, in order.
	buf.Reset()
	big := &Frame{Msg: &Frame_Submit{Submit: &Submit{Envelope: bytes.Repeat([]byte{1}, 40000)}}}
	for range 3 {
		if err := fw.Write(big); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.Flush(); err != nil {
		t.Fatal(err)
	}
	fr := NewFrameReader(&buf)
	for i := range 3 {
		f, err := fr.Read()
		if err != nil || !proto.Equal(f, big) {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
}

func TestFrameErrors(t *testing.T) {
	hello := mustHex(t, frameVectors[0].hex)
	header := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	cases := []struct {
		name string
		in   []byte
		err  error
	}{
		{"empty stream", nil, io.EOF},
		{"truncated length", []byte{0, 0}, ErrMalformedFrame},
		{"truncated body", hello[:len(hello)-3], ErrMalformedFrame},
		{"header only", hello[:4], ErrMalformedFrame},
		{"too large by one", header(MaxFrameSize + 1), ErrFrameTooLarge},
		{"max u32", header(0xffffffff), ErrFrameTooLarge},
		{"empty frame", header(0), ErrMalformedFrame},
		{"garbled", append(header(3), 0xff, 0xff, 0xff), ErrMalformedFrame},
		{"unknown field only", append(header(2), 0x40, 0x01), ErrMalformedFrame},
		{"hello with bad utf-8", append(header(6), 0x0a, 0x04, 0x22, 0x02, 0xff, 0xfe), ErrMalformedFrame},
		{"length beyond the hello", append(header(4), 0x0a, 0x10, 0x08, 0x01), ErrMalformedFrame},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ReadFrame(bytes.NewReader(tc.in))
			if !errors.Is(err, tc.err) {
				t.Errorf("ReadFrame = %v, %v; want %v", f, err, tc.err)
			}
			f, err = NewFrameReader(bytes.NewReader(tc.in)).Read()
			if !errors.Is(err, tc.err) {
				t.Errorf("FrameReader.Read = %v, %v; want %v", f, err, tc.err)
			}
		})
	}
}

func TestFrameReaderRecovers(t *testing.T) {
	hello := mustHex(t, frameVectors[0].hex)
	garbled := []byte{0, 0, 0, 3, 0xff, 0xff, 0xff}
	stream := bytes.Join([][]byte{hello, garbled, hello}, nil)
	fr := NewFrameReader(bytes.NewReader(stream))
	if _, err := fr.Read(); err != nil {
		t.Fatal(err)
	}
	if _, err := fr.Read(); !errors.Is(err, ErrMalformedFrame) {
		t.Fatalf("garbled: %v", err)
	}
	// A complete but undecodable frame leaves the stream in step.
	if _, err := fr.Read(); err != nil {
		t.Fatalf("after garbled: %v", err)
	}

	// An oversize length is sticky: the stream cannot be resynchronised.
	stream = append(binary.BigEndian.AppendUint32(nil, MaxFrameSize+1), hello...)
	fr = NewFrameReader(bytes.NewReader(stream))
	for range 2 {
		if _, err := fr.Read(); !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("oversize: %v", err)
		}
	}
}

func TestWriteFrameErrors(t *testing.T) {
	if err := WriteFrame(io.Discard, &Frame{}); !errors.Is(err, ErrMalformedFrame) {
		t.Errorf("empty frame: %v", err)
	}
	big := &Frame{Msg: &Frame_Submit{Submit: &Submit{Envelope: make([]byte, MaxFrameSize)}}}
	if err := WriteFrame(io.Discard, big); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("oversize: %v", err)
	}
	fw := NewFrameWriter(io.Discard)
	if err := fw.Write(big); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("FrameWriter oversize: %v", err)
	}
	if fw.Buffered() != 0 {
		t.Errorf("oversize frame left %d bytes buffered", fw.Buffered())
	}
	// The largest allowed frame round-trips.
	maxEnv := make([]byte, MaxFrameSize-2-3-3) // frame tag+len(3), submit tag+len(3)
	f := &Frame{Msg: &Frame_Submit{Submit: &Submit{Envelope: maxEnv}}}
	b, err := AppendFrame(nil, f)
	if err != nil {
		t.Fatalf("max frame: %v", err)
	}
	if len(b) != frameHeaderSize+MaxFrameSize {
		t.Fatalf("max frame is %d bytes, want %d", len(b), frameHeaderSize+MaxFrameSize)
	}
	if back, err := ReadFrame(bytes.NewReader(b)); err != nil || !proto.Equal(back, f) {
		t.Errorf("max frame round trip: %v", err)
	}
	err = WriteFrame(errWriter{}, frameVectors[0].frame)
	if err == nil {
		t.Error("write error not returned")
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func FuzzReadFrame(f *testing.F) {
	for _, tc := range frameVectors {
		f.Add(mustHex(f, tc.hex))
	}
	f.Add(allFrames(f))
	_, raw := sealedReport(f)
	sub, _ := AppendFrame(nil, &Frame{Msg: &Frame_Submit{Submit: &Submit{Envelope: raw, HoldMs: 5}}})
	f.Add(sub)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := NewFrameReader(bytes.NewReader(data))
		for range 64 {
			fm, err := fr.Read()
			if err == io.EOF {
				return
			}
			if err != nil {
				if !errors.Is(err, ErrMalformedFrame) && !errors.Is(err, ErrFrameTooLarge) {
					t.Fatalf("unclassified error: %v", err)
				}
				if errors.Is(err, ErrFrameTooLarge) || bytes.Contains([]byte(err.Error()), []byte("truncated")) {
					return
				}
				continue
			}
			// decode → encode → decode is stable.
			b, err := AppendFrame(nil, fm)
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			back, err := ReadFrame(bytes.NewReader(b))
			if err != nil || !proto.Equal(back, fm) {
				t.Fatalf("round trip of %v: %v", fm, err)
			}
			b2, _ := AppendFrame(nil, back)
			if !bytes.Equal(b, b2) {
				t.Fatalf("unstable encoding %x vs %x", b, b2)
			}
		}
	})
}

// benchSubmitFrame is a typical frame on an ingest stream: a signed
// witness report inside a Submit.
func benchSubmitFrame(b *testing.B) *Frame {
	priv := seqSeedKey()
	pk := PublicKeyOf(priv)
	raw, err := Seal(priv, Kind_KIND_WITNESS_REPORT, &WitnessReport{PubKey: pk[:], Payload: bytes.Repeat([]byte{9}, 51),
		FrequencyHz: 867_900_000, Datarate: "SF9BW125", RssiDdbm: -1050, SnrDdb: 55, Tmst: 1, TimestampMs: 1_700_000_000_000})
	if err != nil {
		b.Fatal(err)
	}
	return &Frame{Msg: &Frame_Submit{Submit: &Submit{Envelope: raw, HoldMs: 12}}}
}

func BenchmarkFrames(b *testing.B) {
	f := benchSubmitFrame(b)
	one, _ := AppendFrame(nil, f)
	const batch = 1000
	stream := bytes.Repeat(one, batch)
	b.Run("FrameReader.ReadInto", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(one)))
		r := bytes.NewReader(stream)
		fr := NewFrameReader(r)
		var got Frame
		for i := 0; b.Loop(); i++ {
			if i%batch == 0 {
				r.Reset(stream)
				fr = NewFrameReader(r)
			}
			if err := fr.ReadInto(&got); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	})
	b.Run("ReadFrame", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(one)))
		r := bytes.NewReader(stream)
		for i := 0; b.Loop(); i++ {
			if i%batch == 0 {
				r.Reset(stream)
			}
			if _, err := ReadFrame(r); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	})
	b.Run("FrameWriter.Write", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(one)))
		fw := NewFrameWriter(io.Discard)
		for b.Loop() {
			if err := fw.Write(f); err != nil {
				b.Fatal(err)
			}
		}
		if err := fw.Flush(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	})
}

var frameMessageVectors = []golden{
	{"submit", &Submit{Envelope: []byte{1, 2}, HoldMs: 1500}, "0a020102" + "10dc0b"},
	{"entropy request", &EntropyRequest{}, ""},
	{"config request", &ConfigRequest{}, ""},
}

func TestFrameMessagesGolden(t *testing.T) { testGolden(t, frameMessageVectors) }

package oracle

import (
	"bytes"
	"testing"

	"github.com/hexfield/hexfield/wire"
)

func TestReportValueGolden(t *testing.T) {
	v := reportValue{Kind: wire.Kind_KIND_WITNESS_REPORT, ReceivedMs: 0x0102030405, Envelope: []byte{0xaa, 0xbb}}
	want := []byte{2, 0, 0, 0, 1, 2, 3, 4, 5, 0xaa, 0xbb}
	if got := encodeReport(v); !bytes.Equal(got, want) {
		t.Fatalf("encode = %x, want %x", got, want)
	}
	got, err := decodeReport(want)
	if err != nil || got.Kind != v.Kind || got.ReceivedMs != v.ReceivedMs || !bytes.Equal(got.Envelope, v.Envelope) {
		t.Fatalf("decode = %+v, %v", got, err)
	}
	if _, err := decodeReport([]byte{1, 2}); err == nil {
		t.Fatal("short value decoded")
	}
	var id [32]byte
	id[0] = 9
	if k := timeKey(wire.Kind_KIND_BEACON_REPORT, 258, id); !bytes.Equal(k[:10], []byte{prefixTime, 1, 0, 0, 0, 0, 0, 0, 1, 2}) || len(k) != 42 {
		t.Fatalf("time key %x", k)
	}
}

// FuzzReportValue: decoding never panics and decode → encode → decode is
// stable.
func FuzzReportValue(f *testing.F) {
	f.Add(encodeReport(reportValue{Kind: wire.Kind_KIND_BEACON_REPORT, ReceivedMs: 1700000000000, Envelope: []byte("env")}))
	f.Add([]byte{})
	f.Add(make([]byte, 9))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeReport(b)
		if err != nil {
			return
		}
		again, err := decodeReport(encodeReport(v))
		if err != nil || again.Kind != v.Kind || again.ReceivedMs != v.ReceivedMs || !bytes.Equal(again.Envelope, v.Envelope) {
			t.Fatalf("round trip %+v → %+v (%v)", v, again, err)
		}
	})
}

// FuzzHexRanges: route range bounds parse without panics and print back to
// the same value.
func FuzzHexRanges(f *testing.F) {
	f.Add("26000000", "0000000000000001")
	f.Add("zz", "")
	f.Fuzz(func(t *testing.T, a, b string) {
		var x HexU32
		if x.UnmarshalText([]byte(a)) == nil {
			txt, _ := x.MarshalText()
			var y HexU32
			if err := y.UnmarshalText(txt); err != nil || y != x {
				t.Fatalf("%q → %s → %v", a, txt, err)
			}
		}
		var u HexU64
		if u.UnmarshalText([]byte(b)) == nil {
			txt, _ := u.MarshalText()
			var v HexU64
			if err := v.UnmarshalText(txt); err != nil || v != u {
				t.Fatalf("%q → %s → %v", b, txt, err)
			}
		}
	})
}

func TestCounterKeyGolden(t *testing.T) {
	var signer [32]byte
	signer[0], signer[31] = 0xAB, 0xCD
	ids := reportCounters(signer[:], wire.Kind_KIND_WITNESS_REPORT, 7_260_123) // 2 h 1 min 0.123 s
	if ids[0].res != resMinute || ids[0].bucket != 121 || ids[1].res != resHour || ids[1].bucket != 2 {
		t.Fatalf("counters of a report at 7260123 ms: %+v", ids)
	}
	want := append(append([]byte{prefixCounter}, signer[:]...), 2, resMinute, 0, 0, 0, 0, 0, 0, 0, 121)
	if k := counterKey(ids[0]); !bytes.Equal(k, want) {
		t.Fatalf("counter key %x, want %x", k, want)
	}
	if p := counterPrefix(signer[:], wire.Kind_KIND_WITNESS_REPORT, resMinute); !bytes.HasPrefix(want, p) || len(p) != 1+32+2 {
		t.Fatalf("counter prefix %x", p)
	}
}

// FuzzDecodeCursor: a hotspot-page cursor from anyone never panics the
// decoder, and a decoded cursor encodes back to one that decodes the same.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor(make([]byte, 32)))
	f.Add(encodeCursor(bytes.Repeat([]byte{0xff}, 32)))
	f.Add("")
	f.Add("!!")
	f.Fuzz(func(t *testing.T, c string) {
		k, err := decodeCursor(c)
		if err != nil {
			return
		}
		again, err := decodeCursor(encodeCursor(k))
		if err != nil || !bytes.Equal(again, k) || len(k) != 32 {
			t.Fatalf("cursor %q: %x → %x (%v)", c, k, again, err)
		}
	})
}

package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

var vecTableID = hexBytes("0102030405060708090a0b0c0d0e0f10")

// vecFullTable is a full table: one active route with a DevAddr block and
// a JoinEUI whose DevEUI is the wildcard, and one inactive route.
func vecFullTable() *RouteTable {
	return &RouteTable{TableId: vecTableID, Version: 42, Full: true, IssuedMs: 1764633600000, Region: "EU868",
		Routes: []*TableRoute{
			{Id: "acme", Lns: "lns.acme.example:1700", MaxCopies: 2, Active: true,
				DevaddrRanges: []*DevAddrRange{{Start: 0x02000000, End: 0x02000007}},
				EuiPairs: []*EUIPairRange{{JoinEui: &EUIRange{Start: 0x70b3d57ed0000001, End: 0x70b3d57ed0000001},
					DevEui: &EUIRange{Start: 0, End: 0xffffffffffffffff}}}},
			{Id: "off"},
		}}
}

func vecUpdate() *RouteTable {
	return &RouteTable{TableId: vecTableID, Version: 43, BaseVersion: 42, IssuedMs: 1764633625000, Region: "EU868",
		Routes: []*TableRoute{{Id: "off", Lns: "10.0.0.1:1700", MaxCopies: 1, Active: true,
			EuiPairs: []*EUIPairRange{{JoinEui: &EUIRange{Start: 1, End: 1}, DevEui: &EUIRange{Start: 5, End: 5}}}}},
		Removed: []string{"acme"}}
}

// Checked with protoc --encode=hexfield.wire.v1.<Message> from text format.
var routeTableVectors = []golden{
	{"full", vecFullTable(),
		"0a100102030405060708090a0b0c0d0e0f10" + "102a" + "1801" + "2880c0efe2ad3332" + "0545553836383a" +
			"520a0461636d6512156c6e732e61636d652e6578616d706c653a313730301a0a0880808010108780801022230a140881808080edaff5d9701081808080edaff5d970120b10ffffffffffffffffff0128023001" +
			"3a050a036f6666"},
	{"update", vecUpdate(),
		"0a100102030405060708090a0b0c0d0e0f10" + "102b" + "202a" + "28a883f1e2ad3332" + "0545553836383a" +
			"260a036f6666120d31302e302e302e313a31373030220c0a04080110011204080510052801300142" + "0461636d65"},
	{"request", &RouteTableRequest{TableId: []byte{1, 2}, Version: 7, Region: "US915"}, "0a0201021007" + "1a055553393135"},
	{"chunk", &RouteTableChunk{Size: 3, Data: []byte{0xaa, 0xbb, 0xcc}}, "0803" + "1203aabbcc"},
	{"unchanged", &RouteTableUnchanged{TableId: []byte{1}, Version: 9}, "0a0101" + "1009"},
}

func TestRouteTableGolden(t *testing.T) { testGolden(t, routeTableVectors) }

func TestCheckRouteTable(t *testing.T) {
	if err := CheckRouteTable(vecFullTable()); err != nil {
		t.Fatalf("full: %v", err)
	}
	if err := CheckRouteTable(vecUpdate()); err != nil {
		t.Fatalf("update: %v", err)
	}
	many := func(n int) []*TableRoute {
		var rs []*TableRoute
		for i := range n {
			rs = append(rs, &TableRoute{Id: strings.Repeat("r", 1+i%60) + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))})
		}
		return rs
	}
	bigRoute := &TableRoute{Id: "big"}
	for range MaxTableRouteRanges + 1 {
		bigRoute.DevaddrRanges = append(bigRoute.DevaddrRanges, &DevAddrRange{Start: 1, End: 2})
	}
	for _, tc := range []struct {
		name string
		edit func(*RouteTable)
	}{
		{"no table id", func(t *RouteTable) { t.TableId = nil }},
		{"short table id", func(t *RouteTable) { t.TableId = []byte{1} }},
		{"long region", func(t *RouteTable) { t.Region = strings.Repeat("X", 17) }},
		{"full with base", func(t *RouteTable) { t.BaseVersion = 1 }},
		{"full with removed", func(t *RouteTable) { t.Removed = []string{"x"} }},
		{"update not forward", func(t *RouteTable) { t.Full, t.BaseVersion = false, 42 }},
		{"duplicate id", func(t *RouteTable) { t.Routes[1].Id = "acme" }},
		{"empty id", func(t *RouteTable) { t.Routes[1].Id = "" }},
		{"long id", func(t *RouteTable) { t.Routes[1].Id = strings.Repeat("a", MaxRouteIDLen+1) }},
		{"active without lns", func(t *RouteTable) { t.Routes[0].Lns = "" }},
		{"active with bad lns", func(t *RouteTable) { t.Routes[0].Lns = "lns.acme.example" }},
		{"port 0", func(t *RouteTable) { t.Routes[0].Lns = "lns:0" }},
		{"reversed devaddr", func(t *RouteTable) { t.Routes[0].DevaddrRanges[0].Start = 0x02000008 }},
		{"reversed dev eui", func(t *RouteTable) { t.Routes[0].EuiPairs[0].DevEui = &EUIRange{Start: 2, End: 1} }},
		{"pair without join eui", func(t *RouteTable) { t.Routes[0].EuiPairs[0].JoinEui = nil }},
		{"too many routes", func(t *RouteTable) { t.Routes = many(MaxTableRoutes + 1) }},
		{"too many ranges in a route", func(t *RouteTable) { t.Routes = append(t.Routes, bigRoute) }},
		{"too many ranges in the table", func(t *RouteTable) {
			t.Routes = many(MaxTableRanges/MaxTableRouteRanges + 1)
			for _, r := range t.Routes {
				r.DevaddrRanges = bigRoute.DevaddrRanges[:MaxTableRouteRanges]
			}
		}},
	} {
		tab := vecFullTable()
		tc.edit(tab)
		if err := CheckRouteTable(tab); !errors.Is(err, ErrBadRouteTable) {
			t.Errorf("%s: %v, want ErrBadRouteTable", tc.name, err)
		}
	}
	up := vecUpdate()
	up.Removed = []string{"off"}
	if err := CheckRouteTable(up); !errors.Is(err, ErrBadRouteTable) {
		t.Errorf("a route both changed and removed: %v", err)
	}
}

// TestRouteTableSealChunks: a sealed table crosses in chunks no frame
// over MaxFrameSize carries, and opens again; a table signed by someone
// else opens with that signer, a tampered or wrongly tagged one does not.
func TestRouteTableSealChunks(t *testing.T) {
	key, _ := GenerateKey()
	tab := vecFullTable()
	for i := range 2000 { // more than two chunks
		tab.Routes[0].EuiPairs = append(tab.Routes[0].EuiPairs,
			&EUIPairRange{JoinEui: &EUIRange{Start: uint64(i), End: uint64(i)}, DevEui: &EUIRange{Start: 1 << 60, End: 1<<60 + uint64(i)}})
	}
	for i := range 500 {
		tab.Routes = append(tab.Routes, &TableRoute{Id: "route-" + strings.Repeat("x", 40) + string(rune('a'+i%26)) + string(rune('a'+i/26%26))})
	}
	raw, err := SealRouteTable(key, tab)
	if err != nil {
		t.Fatal(err)
	}
	frames := RouteTableFrames(raw)
	if len(frames) < 2 {
		t.Fatalf("%d bytes in %d chunks", len(raw), len(frames))
	}
	var a RouteTableAssembler
	for i, f := range frames {
		b, err := AppendFrame(nil, f)
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		back, err := DecodeFrame(b[4:])
		if err != nil {
			t.Fatal(err)
		}
		done, err := a.Add(back.GetRouteTableChunk())
		if err != nil || done != (i == len(frames)-1) {
			t.Fatalf("chunk %d: done %v, %v", i, done, err)
		}
	}
	got, signer, err := OpenRouteTable(a.Envelope())
	if err != nil || signer != PublicKeyOf(key) || !proto.Equal(got, tab) {
		t.Fatalf("open: signer %s, %v", signer, err)
	}
	// Tampered body: the signature fails.
	bad := bytes.Clone(raw)
	bad[len(bad)-100] ^= 1
	if _, _, err := OpenRouteTable(bad); err == nil {
		t.Error("tampered table opened")
	}
	// The same body signed as a Config is not a route table.
	body, _ := MarshalRouteTable(tab)
	if _, _, err := OpenRouteTable(SealBytes(key, Kind_KIND_CONFIG, body)); !errors.Is(err, ErrWrongKind) {
		t.Errorf("config-signed table: %v", err)
	}
	// A table over the bounds is neither sealed nor opened.
	over := vecFullTable()
	over.Region = strings.Repeat("Z", 40)
	if _, err := SealRouteTable(key, over); !errors.Is(err, ErrBadRouteTable) {
		t.Errorf("seal of a bad table: %v", err)
	}
	ob, _ := MarshalRouteTable(over)
	if _, _, err := OpenRouteTable(SealBytes(key, Kind_KIND_ROUTE_TABLE, ob)); !errors.Is(err, ErrBadRouteTable) {
		t.Errorf("open of a bad table: %v", err)
	}
}

func TestRouteTableAssemblerRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		chunks []*RouteTableChunk
	}{
		{"zero size", []*RouteTableChunk{{Size: 0, Data: []byte{1}}}},
		{"oversize", []*RouteTableChunk{{Size: MaxRouteTableSize + 1, Data: []byte{1}}}},
		{"no data", []*RouteTableChunk{{Size: 4}}},
		{"size changes", []*RouteTableChunk{{Size: 4, Data: []byte{1}}, {Size: 5, Data: []byte{1}}}},
		{"overrun", []*RouteTableChunk{{Size: 2, Data: []byte{1}}, {Size: 2, Data: []byte{1, 2}}}},
		{"big chunk", []*RouteTableChunk{{Size: MaxRouteTableSize, Data: make([]byte, RouteTableChunkSize+1)}}},
	} {
		var a RouteTableAssembler
		var err error
		for _, c := range tc.chunks {
			if _, err = a.Add(c); err != nil {
				break
			}
		}
		if !errors.Is(err, ErrBadRouteTable) || a.Envelope() != nil && err == nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// FuzzRouteTable feeds arbitrary chunks to the assembler and arbitrary
// bodies to the checks: no panic; a body that passes CheckRouteTable
// encodes, decodes and passes again.
func FuzzRouteTable(f *testing.F) {
	key, _ := GenerateKey()
	for _, tab := range []*RouteTable{vecFullTable(), vecUpdate()} {
		body, _ := MarshalRouteTable(tab)
		f.Add(body, uint16(60))
		raw, _ := SealRouteTable(key, tab)
		f.Add(raw, uint16(7))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		var tab RouteTable
		if proto.Unmarshal(data, &tab) == nil && CheckRouteTable(&tab) == nil {
			enc, err := MarshalRouteTable(&tab)
			if err != nil {
				t.Fatal(err)
			}
			var back RouteTable
			if err := proto.Unmarshal(enc, &back); err != nil || CheckRouteTable(&back) != nil || !proto.Equal(&back, &tab) {
				t.Fatalf("checked table changed in a round trip: %v", err)
			}
		}
		var a RouteTableAssembler
		n := int(split)%64 + 1
		for off := 0; off < len(data); off += n {
			done, err := a.Add(&RouteTableChunk{Size: uint32(len(data)), Data: data[off:min(off+n, len(data))]})
			if err != nil {
				return
			}
			if done {
				if !bytes.Equal(a.Envelope(), data) {
					t.Fatal("assembled bytes differ")
				}
				OpenRouteTable(a.Envelope()) // must not panic
			}
		}
	})
}

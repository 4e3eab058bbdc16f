package hotspot

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/hexfield/hexfield/wire"
)

func testRoutes() []*wire.Route {
	return []*wire.Route{
		{Id: "acme", LnsAddr: "127.0.0.1:1700", MaxCopies: 2, Active: true,
			DevAddrs: []*wire.DevAddrRange{{Start: 0x00000000, End: 0x000000ff}, {Start: 0x48000000, End: 0x480000ff}},
			JoinEuis: []*wire.EUIRange{{Start: 0x70b3d57ed0000000, End: 0x70b3d57ed00000ff}}},
		{Id: "other", LnsAddr: "lns.example.com:1700", MaxCopies: 1, Active: true,
			DevAddrs: []*wire.DevAddrRange{{Start: 0x48000080, End: 0x4800008f}}},
		{Id: "locked", LnsAddr: "127.0.0.1:1701", Active: false,
			DevAddrs: []*wire.DevAddrRange{{Start: 0, End: 0xffffffff}}},
	}
}

func matchIDs(t *RouteTable, f Frame) []string {
	var ids []string
	for _, r := range t.Match(f, nil) {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestRouteTableMatch(t *testing.T) {
	tab, skipped := NewRouteTable(7, testRoutes())
	if skipped != 0 || len(tab.Routes) != 3 {
		t.Fatalf("table %+v, skipped %d", tab, skipped)
	}
	cases := []struct {
		name string
		f    Frame
		want []string
	}{
		{"first range", Frame{Class: ClassUplink, DevAddr: 0x10}, []string{"acme"}},
		{"range end inclusive", Frame{Class: ClassUplink, DevAddr: 0xff}, []string{"acme"}},
		{"two routes", Frame{Class: ClassUplink, DevAddr: 0x48000085}, []string{"acme", "other"}},
		{"owned by nobody active", Frame{Class: ClassUplink, DevAddr: 0x26000001}, nil},
		{"join by JoinEUI", Frame{Class: ClassJoin, JoinEUI: 0x70b3d57ed0000001, DevEUI: 5}, []string{"acme"}},
		{"join EUI not routed", Frame{Class: ClassJoin, JoinEUI: 0x70b3d57ed0000100}, nil},
		{"a join's DevEUI is not a DevAddr", Frame{Class: ClassJoin, JoinEUI: 1, DevAddr: 0x10}, nil},
		{"beacon", Frame{Class: ClassBeacon}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := matchIDs(tab, c.f)
			if len(got) != len(c.want) {
				t.Fatalf("matched %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("matched %v, want %v", got, c.want)
				}
			}
		})
	}
	if got := (*RouteTable)(nil).Match(Frame{Class: ClassUplink}, nil); len(got) != 0 {
		t.Fatal("nil table matched")
	}
}

func TestRouteTableSkipsInvalidRoutes(t *testing.T) {
	bad := []*wire.Route{
		nil,
		{Id: "", LnsAddr: "127.0.0.1:1700"},
		{Id: "noport", LnsAddr: "127.0.0.1"},
		{Id: "port0", LnsAddr: "127.0.0.1:0"},
		{Id: "nohost", LnsAddr: ":1700"},
		{Id: "reversed", LnsAddr: "127.0.0.1:1700", DevAddrs: []*wire.DevAddrRange{{Start: 5, End: 4}}},
		{Id: "reversed-eui", LnsAddr: "127.0.0.1:1700", JoinEuis: []*wire.EUIRange{{Start: 5, End: 4}}},
		{Id: "ok", LnsAddr: "[::1]:1700", Active: true},
		{Id: "ok", LnsAddr: "127.0.0.1:1701", Active: true}, // duplicate id
	}
	many := &wire.Route{Id: "many", LnsAddr: "127.0.0.1:1700"}
	for range maxRouteRanges + 1 {
		many.DevAddrs = append(many.DevAddrs, &wire.DevAddrRange{Start: 1, End: 2})
	}
	bad = append(bad, many)
	tab, skipped := NewRouteTable(1, bad)
	if len(tab.Routes) != 1 || tab.Routes[0].LNS != "[::1]:1700" || skipped != len(bad)-1 {
		t.Fatalf("kept %+v, skipped %d", tab.Routes, skipped)
	}
}

func TestRouteTablePersisted(t *testing.T) {
	tab, _ := NewRouteTable(42, testRoutes())
	b, err := savedState{Table: tab, Region: "EU868", Loc: location{asserted: true, cell: 0x8c1fb46622dd5ff, lat: 52.1, lng: 5.2}}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "sub", routeTableFile)
	if got, err := loadRouteTable(path); got != nil || err != nil {
		t.Fatalf("missing file: %v, %v", got, err)
	}
	if err := saveRouteTable(path, b); err != nil {
		t.Fatal(err)
	}
	got, err := loadRouteTable(path)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := got.MarshalBinary()
	if got.Table.Version != 42 || len(got.Table.Routes) != 3 || got.Region != "EU868" || got.Loc.cell != 0x8c1fb46622dd5ff ||
		got.Loc.lat != 52.1 || !bytes.Equal(b, b2) {
		t.Fatalf("loaded %+v", got)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
	// A torn or altered file is refused, not half-used.
	for _, mut := range [][]byte{b[:len(b)-1], append([]byte("XXXX"), b[4:]...), flip(b, len(b)-3), b[:6]} {
		var st savedState
		if err := st.UnmarshalBinary(mut); err == nil {
			t.Errorf("decoded a damaged table %x", mut)
		}
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x40
	return c
}

// FuzzRouteTable: decoding the persisted route table never panics, and decode → encode → decode is
// stable. Each input is tried as a whole file and as a protobuf body under
// a valid header, so the fuzzer reaches past the checksum.
func FuzzRouteTable(f *testing.F) {
	tab, _ := NewRouteTable(42, testRoutes())
	b, _ := savedState{Table: tab, Region: "US915", Loc: location{asserted: true, cell: 1, lat: -3, lng: 7}}.MarshalBinary()
	f.Add(b)
	empty, _ := savedState{}.MarshalBinary()
	f.Add(empty)
	f.Add([]byte("HXRT\x01\x00\x00\x00\x00"))
	f.Add(b[len(routeTableMagic)+4:])
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, b)
		framed := append(bytes.Clone(routeTableMagic), binary.BigEndian.AppendUint32(nil, crc32.Checksum(b, castagnoli))...)
		roundTrip(t, append(framed, b...))
	})
}

func roundTrip(t *testing.T, b []byte) {
	var a savedState
	if err := a.UnmarshalBinary(b); err != nil {
		return
	}
	{
		enc, err := a.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var c savedState
		if err := c.UnmarshalBinary(enc); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		enc2, _ := c.MarshalBinary()
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("unstable: %x vs %x", enc, enc2)
		}
	}
}

package hotspot

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/wire"
)

const anyEUI = ^uint64(0)

func pair(j0, j1, d0, d1 uint64) *wire.EUIPairRange {
	return &wire.EUIPairRange{JoinEui: &wire.EUIRange{Start: j0, End: j1}, DevEui: &wire.EUIRange{Start: d0, End: d1}}
}

// testWireTable: acme takes two DevAddr blocks, every device of JoinEUIs
// 70b3d57ed0000000–0f (the DevEUI wildcard) and DevEUI 5 alone of JoinEUI
// 70b3d57ed0000100; locked is an inactive route over every DevAddr.
func testWireTable(v uint64) *wire.RouteTable {
	return &wire.RouteTable{TableId: []byte("0123456789abcdef"), Version: v, Full: true, Region: "EU868", Routes: []*wire.TableRoute{
		{Id: "other", Lns: "lns.example.com:1700", MaxCopies: 1, Active: true,
			DevaddrRanges: []*wire.DevAddrRange{{Start: 0x48000080, End: 0x4800008f}}},
		{Id: "acme", Lns: "127.0.0.1:1700", MaxCopies: 2, Active: true,
			DevaddrRanges: []*wire.DevAddrRange{{Start: 0x00000000, End: 0x000000ff}, {Start: 0x48000000, End: 0x480000ff}},
			EuiPairs:      []*wire.EUIPairRange{pair(0x70b3d57ed0000000, 0x70b3d57ed000000f, 0, anyEUI), pair(0x70b3d57ed0000100, 0x70b3d57ed0000100, 5, 5)}},
		{Id: "locked", DevaddrRanges: []*wire.DevAddrRange{{Start: 0, End: 0xffffffff}}},
	}}
}

func testTable(t testing.TB, v uint64) *RouteTable {
	t.Helper()
	w := testWireTable(v)
	if err := wire.CheckRouteTable(w); err != nil {
		t.Fatal(err)
	}
	return newRouteTable(w, wire.PublicKey{9})
}

func matchIDs(t *RouteTable, f Frame) []string {
	var ids []string
	for _, r := range t.Match(f, nil) {
		ids = append(ids, r.ID)
	}
	return ids
}

// TestRouteTableMatch: data uplinks match on DevAddr, joins on (JoinEUI,
// DevEUI): the wildcard takes every device of a JoinEUI, a specific
// DevEUI only itself; inactive routes match nothing.
func TestRouteTableMatch(t *testing.T) {
	tab := testTable(t, 7)
	if len(tab.Routes) != 3 || tab.Routes[0].ID != "acme" || tab.Routes[2].ID != "other" {
		t.Fatalf("table %+v (want sorted by id)", tab)
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
		{"join, wildcard DevEUI", Frame{Class: ClassJoin, JoinEUI: 0x70b3d57ed0000001, DevEUI: 0x0080e11500000005}, []string{"acme"}},
		{"join, wildcard, JoinEUI range end", Frame{Class: ClassJoin, JoinEUI: 0x70b3d57ed000000f, DevEUI: 1}, []string{"acme"}},
		{"join, specific DevEUI", Frame{Class: ClassJoin, JoinEUI: 0x70b3d57ed0000100, DevEUI: 5}, []string{"acme"}},
		{"join, another DevEUI of that JoinEUI", Frame{Class: ClassJoin, JoinEUI: 0x70b3d57ed0000100, DevEUI: 6}, nil},
		{"join EUI not routed", Frame{Class: ClassJoin, JoinEUI: 0x70b3d57ed0000010}, nil},
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

// TestRouteTableUpdate: an update replaces, adds and removes routes of
// exactly the version it names, and refuses to apply to any other.
func TestRouteTableUpdate(t *testing.T) {
	tab := testTable(t, 7)
	up := &wire.RouteTable{TableId: tab.TableID, Version: 9, BaseVersion: 7, Region: "EU868",
		Routes:  []*wire.TableRoute{{Id: "acme"}, {Id: "new", Lns: "10.0.0.1:1700", Active: true, DevaddrRanges: []*wire.DevAddrRange{{Start: 0x26000000, End: 0x26000007}}}},
		Removed: []string{"other", "never-had"}}
	if err := wire.CheckRouteTable(up); err != nil {
		t.Fatal(err)
	}
	n, err := tab.update(up, wire.PublicKey{2})
	if err != nil {
		t.Fatal(err)
	}
	if n.Version != 9 || n.Signer != (wire.PublicKey{2}) || len(n.Routes) != 3 || n.Routes[0].ID != "acme" || n.Routes[0].Active ||
		n.Routes[2].ID != "new" || !slices.Equal(matchIDs(n, Frame{Class: ClassUplink, DevAddr: 0x26000003}), []string{"new"}) {
		t.Fatalf("updated %+v", n)
	}
	if len(tab.Routes) != 3 || !tab.Routes[0].Active {
		t.Fatal("the update changed the table it was applied to")
	}
	for name, edit := range map[string]func(*wire.RouteTable){
		"another base":   func(u *wire.RouteTable) { u.BaseVersion = 6 },
		"another table":  func(u *wire.RouteTable) { u.TableId = []byte("fedcba9876543210") },
		"another region": func(u *wire.RouteTable) { u.Region = "US915" },
		"a full table":   func(u *wire.RouteTable) { u.Full, u.BaseVersion, u.Removed = true, 0, nil },
	} {
		u := proto.Clone(up).(*wire.RouteTable)
		edit(u)
		if _, err := tab.update(u, wire.PublicKey{2}); !errors.Is(err, errRouteTable) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// An update that grows the table past the bounds is refused.
	big := &wire.RouteTable{TableId: tab.TableID, Version: 8, BaseVersion: 7, Region: "EU868"}
	for i := range wire.MaxTableRoutes - 2 {
		big.Routes = append(big.Routes, &wire.TableRoute{Id: fmt.Sprintf("r%04d", i)})
	}
	if _, err := tab.update(big, wire.PublicKey{2}); !errors.Is(err, errRouteTable) {
		t.Errorf("an update past MaxTableRoutes: %v", err)
	}
}

func TestRouteTablePersisted(t *testing.T) {
	tab := testTable(t, 42)
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
		got.Loc.lat != 52.1 || got.Table.Signer != (wire.PublicKey{9}) || !bytes.Equal(got.Table.TableID, tab.TableID) ||
		!slices.Equal(matchIDs(got.Table, Frame{Class: ClassJoin, JoinEUI: 0x70b3d57ed0000100, DevEUI: 5}), []string{"acme"}) ||
		!bytes.Equal(b, b2) {
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

// TestRouteTablePersistedV1: a file of an older hotspotd (routes inside a
// Config) gives its region and location; its routes wait for an oracle.
func TestRouteTablePersistedV1(t *testing.T) {
	// HXRT\x01, CRC-32C, Config{region "EU868", asserted, h3_cell, routes [{id "r"}]}.
	body, _ := hex.DecodeString("120545553836381801" + "3a030a0172" + "48ffabb791e6e8fee008")
	b := append([]byte("HXRT\x01"), binary.BigEndian.AppendUint32(nil, crc32.Checksum(body, castagnoli))...)
	var st savedState
	if err := st.UnmarshalBinary(append(b, body...)); err != nil {
		t.Fatal(err)
	}
	if st.Table != nil || st.Region != "EU868" || !st.Loc.asserted || st.Loc.cell != 0x8c1fb46622dd5ff {
		t.Fatalf("v1 state %+v", st)
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
	tab := testTable(f, 42)
	b, _ := savedState{Table: tab, Region: "US915", Loc: location{asserted: true, cell: 1, lat: -3, lng: 7}}.MarshalBinary()
	f.Add(b)
	empty, _ := savedState{}.MarshalBinary()
	f.Add(empty)
	f.Add([]byte("HXRT\x01\x00\x00\x00\x00"))
	f.Add([]byte("HXRT\x02\x00\x00\x00\x00"))
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

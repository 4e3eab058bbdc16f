package hotspot

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/wire"
)

// maxRouteTableFile bounds the persisted state: the table (wire's bound on
// a signed one) and the region and location.
const maxRouteTableFile = wire.MaxRouteTableSize + 4<<10

// Route is one customer route as the hotspot forwards on it (routing.md
// §5): where matching frames go and which frames match.
type Route struct {
	ID string
	// LNS is the host:port of the customer's Semtech UDP endpoint for the
	// hotspot's region.
	LNS       string
	DevAddrs  []DevAddrRange
	EUIPairs  []EUIPair
	MaxCopies uint32
	// Active is false while the route is inactive or its organization is
	// locked (its payer has no data credits): nothing is forwarded on it.
	Active bool
}

// DevAddrRange is an inclusive range of DevAddrs.
type DevAddrRange struct{ Start, End uint32 }

// EUIRange is an inclusive range of EUI-64s.
type EUIRange struct{ Start, End uint64 }

// EUIPair matches join requests whose JoinEUI is in Join and DevEUI in
// Dev; the registry's wildcard DevEUI arrives as the whole range.
type EUIPair struct{ Join, Dev EUIRange }

// RouteTable is the set of routes in force, immutable once built: an
// oracle's signed route table (wire.RouteTable), full or with its updates
// applied.
type RouteTable struct {
	// TableID and Version name the table: versions of one TableID are one
	// oracle store's history; across oracles the higher version is the
	// newer. A table persisted by an older hotspotd has neither.
	TableID []byte
	Version uint64
	// Region is the region the oracle chose the LNS endpoints for.
	Region string
	// Signer is the oracle that signed the version in force.
	Signer   wire.PublicKey
	IssuedMs uint64
	// Routes are sorted by ID, IDs unique.
	Routes []Route
}

// errRouteTable marks a route table that cannot be used.
var errRouteTable = errors.New("bad route table")

// newRouteTable builds the table of a full wire table that passed
// wire.CheckRouteTable.
func newRouteTable(w *wire.RouteTable, signer wire.PublicKey) *RouteTable {
	t := &RouteTable{TableID: bytes.Clone(w.GetTableId()), Version: w.GetVersion(), Region: w.GetRegion(),
		Signer: signer, IssuedMs: w.GetIssuedMs()}
	for _, r := range w.GetRoutes() {
		t.Routes = append(t.Routes, routeFromWire(r))
	}
	slices.SortFunc(t.Routes, func(a, b Route) int { return cmp.Compare(a.ID, b.ID) })
	return t
}

// update returns t with u, an update of t's version (checked by
// wire.CheckRouteTable), applied: its routes replace or join t's, its
// removed ids leave. The result must stay within wire's bounds.
func (t *RouteTable) update(u *wire.RouteTable, signer wire.PublicKey) (*RouteTable, error) {
	if !bytes.Equal(u.GetTableId(), t.TableID) || u.GetBaseVersion() != t.Version || u.GetRegion() != t.Region || u.GetFull() {
		return nil, fmt.Errorf("%w: an update of %x v%d for %q, the table is %x v%d for %q", errRouteTable,
			u.GetTableId(), u.GetBaseVersion(), u.GetRegion(), t.TableID, t.Version, t.Region)
	}
	drop := map[string]bool{}
	for _, id := range u.GetRemoved() {
		drop[id] = true
	}
	for _, r := range u.GetRoutes() {
		drop[r.GetId()] = true
	}
	n := &RouteTable{TableID: t.TableID, Version: u.GetVersion(), Region: t.Region, Signer: signer, IssuedMs: u.GetIssuedMs()}
	for _, r := range t.Routes {
		if !drop[r.ID] {
			n.Routes = append(n.Routes, r)
		}
	}
	for _, r := range u.GetRoutes() {
		n.Routes = append(n.Routes, routeFromWire(r))
	}
	slices.SortFunc(n.Routes, func(a, b Route) int { return cmp.Compare(a.ID, b.ID) })
	ranges := 0
	for _, r := range n.Routes {
		ranges += len(r.DevAddrs) + len(r.EUIPairs)
	}
	if len(n.Routes) > wire.MaxTableRoutes || ranges > wire.MaxTableRanges {
		return nil, fmt.Errorf("%w: the update makes %d routes with %d ranges", errRouteTable, len(n.Routes), ranges)
	}
	return n, nil
}

func routeFromWire(w *wire.TableRoute) Route {
	r := Route{ID: w.GetId(), LNS: w.GetLns(), MaxCopies: w.GetMaxCopies(), Active: w.GetActive()}
	for _, d := range w.GetDevaddrRanges() {
		r.DevAddrs = append(r.DevAddrs, DevAddrRange{d.GetStart(), d.GetEnd()})
	}
	for _, p := range w.GetEuiPairs() {
		r.EUIPairs = append(r.EUIPairs, EUIPair{
			Join: EUIRange{p.GetJoinEui().GetStart(), p.GetJoinEui().GetEnd()},
			Dev:  EUIRange{p.GetDevEui().GetStart(), p.GetDevEui().GetEnd()},
		})
	}
	return r
}

// toWire is t as a full wire table (how it is persisted).
func (t *RouteTable) toWire() *wire.RouteTable {
	w := &wire.RouteTable{TableId: t.TableID, Version: t.Version, Full: true, IssuedMs: t.IssuedMs, Region: t.Region}
	for i := range t.Routes {
		r := &t.Routes[i]
		tr := &wire.TableRoute{Id: r.ID, Lns: r.LNS, MaxCopies: r.MaxCopies, Active: r.Active}
		for _, d := range r.DevAddrs {
			tr.DevaddrRanges = append(tr.DevaddrRanges, &wire.DevAddrRange{Start: d.Start, End: d.End})
		}
		for _, p := range r.EUIPairs {
			tr.EuiPairs = append(tr.EuiPairs, &wire.EUIPairRange{
				JoinEui: &wire.EUIRange{Start: p.Join.Start, End: p.Join.End},
				DevEui:  &wire.EUIRange{Start: p.Dev.Start, End: p.Dev.End},
			})
		}
		w.Routes = append(w.Routes, tr)
	}
	return w
}

// matches reports whether a classified frame belongs to the route: a data
// uplink by its DevAddr, a join-request by its (JoinEUI, DevEUI) pair.
func (r *Route) matches(f Frame) bool {
	switch f.Class {
	case ClassUplink:
		for _, d := range r.DevAddrs {
			if f.DevAddr >= d.Start && f.DevAddr <= d.End {
				return true
			}
		}
	case ClassJoin:
		for _, p := range r.EUIPairs {
			if f.JoinEUI >= p.Join.Start && f.JoinEUI <= p.Join.End && f.DevEUI >= p.Dev.Start && f.DevEUI <= p.Dev.End {
				return true
			}
		}
	}
	return false
}

// Match appends to dst the active routes the frame belongs to.
func (t *RouteTable) Match(f Frame, dst []*Route) []*Route {
	if t == nil {
		return dst
	}
	for i := range t.Routes {
		if r := &t.Routes[i]; r.Active && r.matches(f) {
			dst = append(dst, r)
		}
	}
	return dst
}

// savedState is what the data directory keeps across restarts: the route
// table in force, and the region and location the oracle last gave, so
// that a hotspot restarted while no oracle is reachable forwards at once.
type savedState struct {
	Table  *RouteTable
	Region string
	Loc    location
}

// The persisted form (version 2): magic, a CRC-32C of the rest, then
//
//	u32 n ‖ n bytes of a deterministic protobuf Config holding the region
//	and the location ‖ signer[32] ‖ a deterministic protobuf RouteTable
//	(full) holding the table in force (absent while there is none)
//
// Version 1 files (the routes inside the Config, before the route table)
// are read for their region and location only.
var (
	routeTableMagic   = []byte("HXRT\x02")
	routeTableMagicV1 = []byte("HXRT\x01")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MarshalBinary encodes the state for the data directory.
func (s savedState) MarshalBinary() ([]byte, error) {
	c := &wire.Config{Region: s.Region, Asserted: s.Loc.asserted, H3Cell: s.Loc.cell, Lat: s.Loc.lat, Lng: s.Loc.lng}
	cb, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode route table: %w", err)
	}
	body := binary.BigEndian.AppendUint32(nil, uint32(len(cb)))
	body = append(body, cb...)
	if t := s.Table; t != nil {
		tb, err := wire.MarshalRouteTable(t.toWire())
		if err != nil {
			return nil, err
		}
		body = append(body, t.Signer[:]...)
		body = append(body, tb...)
	}
	b := make([]byte, 0, len(routeTableMagic)+4+len(body))
	b = append(b, routeTableMagic...)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(body, castagnoli))
	return append(b, body...), nil
}

// UnmarshalBinary decodes a persisted state. A wrong magic, a bad
// checksum, bad protobuf, a table that fails wire.CheckRouteTable or an
// oversized file is an error; a region name longer than any region's is
// dropped.
func (s *savedState) UnmarshalBinary(b []byte) error {
	if len(b) > maxRouteTableFile {
		return fmt.Errorf("%w: %d bytes", errRouteTable, len(b))
	}
	v1 := bytes.HasPrefix(b, routeTableMagicV1)
	if !bytes.HasPrefix(b, routeTableMagic) && !v1 || len(b) < len(routeTableMagic)+4 {
		return fmt.Errorf("%w: no header", errRouteTable)
	}
	b = b[len(routeTableMagic):]
	sum, body := binary.BigEndian.Uint32(b), b[4:]
	if crc32.Checksum(body, castagnoli) != sum {
		return fmt.Errorf("%w: checksum", errRouteTable)
	}
	cb, rest := body, []byte(nil)
	if !v1 {
		if len(body) < 4 || uint64(binary.BigEndian.Uint32(body)) > uint64(len(body)-4) {
			return fmt.Errorf("%w: truncated", errRouteTable)
		}
		n := binary.BigEndian.Uint32(body)
		cb, rest = body[4:4+n], body[4+n:]
	}
	var c wire.Config
	if err := proto.Unmarshal(cb, &c); err != nil {
		return fmt.Errorf("%w: %w", errRouteTable, err)
	}
	*s = savedState{Loc: location{asserted: c.Asserted, cell: c.H3Cell, lat: c.Lat, lng: c.Lng}}
	if len(c.Region) <= maxRegionName {
		s.Region = c.Region
	}
	if len(rest) == 0 {
		return nil
	}
	if len(rest) < wire.PublicKeySize {
		return fmt.Errorf("%w: truncated signer", errRouteTable)
	}
	signer, _ := wire.PublicKeyFromBytes(rest[:wire.PublicKeySize])
	var w wire.RouteTable
	if err := proto.Unmarshal(rest[wire.PublicKeySize:], &w); err != nil {
		return fmt.Errorf("%w: %w", errRouteTable, err)
	}
	if err := wire.CheckRouteTable(&w); err != nil || !w.Full {
		return fmt.Errorf("%w: %v", errRouteTable, err)
	}
	s.Table = newRouteTable(&w, signer)
	return nil
}

// maxRegionName bounds a persisted region name ("AS923-1").
const maxRegionName = 16

// loadRouteTable reads the persisted state; a missing file is (nil, nil).
func loadRouteTable(path string) (*savedState, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load route table: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRouteTableFile+1))
	if err != nil {
		return nil, fmt.Errorf("load route table: %w", err)
	}
	var s savedState
	if err := s.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("load route table %s: %w", path, err)
	}
	return &s, nil
}

// saveRouteTable writes b atomically: a temporary file in the same
// directory, fsynced, renamed over path, then the directory fsynced, so a
// crash leaves the old table or the new one, never a torn file.
func saveRouteTable(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save route table: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".routes-*")
	if err != nil {
		return fmt.Errorf("save route table: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("save route table: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save route table: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save route table: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save route table: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("save route table: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("save route table: %w", err)
	}
	return nil
}

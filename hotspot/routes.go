package hotspot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/wire"
)

// Bounds of a route table: the routes come from an oracle, but nothing
// that crosses a network or sits on disk is trusted to be small.
const (
	maxRoutes         = 1024
	maxRouteRanges    = 256  // DevAddr plus JoinEUI ranges of one route
	maxTableRanges    = 8192 // over all routes
	maxRouteIDLen     = 128
	maxLNSAddrLen     = 255
	maxRouteTableFile = 4 << 20
)

// Route is one customer route as the hotspot forwards on it (routing.md
// §5): where matching frames go and which frames match.
type Route struct {
	ID string
	// LNS is the host:port of the customer's Semtech UDP endpoint.
	LNS       string
	DevAddrs  []DevAddrRange
	JoinEUIs  []EUIRange
	MaxCopies uint32
	// Active is false while the route has no data credits or its
	// organization is locked: nothing is forwarded on it.
	Active bool
}

// DevAddrRange is an inclusive range of DevAddrs.
type DevAddrRange struct{ Start, End uint32 }

// EUIRange is an inclusive range of EUI-64s.
type EUIRange struct{ Start, End uint64 }

// RouteTable is the set of routes in force, immutable once built. Today it
// is built from the routes of the oracle's signed Config, versioned by the
// Config's issue time; the signed, versioned route table of routing.md §5
// builds the same type (NewRouteTable from its routes and version), so
// matching, persistence and forwarding do not change when it comes.
type RouteTable struct {
	// Version orders tables: a table older than the one in force is not
	// taken into use.
	Version uint64
	// Routes are the valid routes, in the order received, IDs unique.
	Routes []Route
}

// errRouteTable marks a persisted route table that cannot be used.
var errRouteTable = errors.New("bad route table")

// NewRouteTable validates routes and builds a table. Invalid routes (no
// id, a duplicate id, an LNS address that is not host:port, an empty or
// reversed range, more than the bounds allow) are left out; skipped says
// how many.
func NewRouteTable(version uint64, routes []*wire.Route) (t *RouteTable, skipped int) {
	t = &RouteTable{Version: version}
	seen := make(map[string]bool, len(routes))
	ranges := 0
	for _, w := range routes {
		r, ok := routeFromWire(w)
		if !ok || seen[r.ID] || len(t.Routes) >= maxRoutes || ranges+len(r.DevAddrs)+len(r.JoinEUIs) > maxTableRanges {
			skipped++
			continue
		}
		seen[r.ID] = true
		ranges += len(r.DevAddrs) + len(r.JoinEUIs)
		t.Routes = append(t.Routes, r)
	}
	return t, skipped
}

func routeFromWire(w *wire.Route) (Route, bool) {
	if w == nil || w.Id == "" || len(w.Id) > maxRouteIDLen || !validLNSAddr(w.LnsAddr) ||
		len(w.DevAddrs)+len(w.JoinEuis) > maxRouteRanges {
		return Route{}, false
	}
	r := Route{ID: w.Id, LNS: w.LnsAddr, MaxCopies: w.MaxCopies, Active: w.Active}
	for _, d := range w.DevAddrs {
		if d == nil || d.Start > d.End {
			return Route{}, false
		}
		r.DevAddrs = append(r.DevAddrs, DevAddrRange{d.Start, d.End})
	}
	for _, e := range w.JoinEuis {
		if e == nil || e.Start > e.End {
			return Route{}, false
		}
		r.JoinEUIs = append(r.JoinEUIs, EUIRange{e.Start, e.End})
	}
	return r, true
}

// validLNSAddr accepts host:port with a host and a port 1–65535.
func validLNSAddr(s string) bool {
	if s == "" || len(s) > maxLNSAddrLen {
		return false
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return false
	}
	p, err := strconv.ParseUint(port, 10, 16)
	return err == nil && p > 0
}

func (r *Route) toWire() *wire.Route {
	w := &wire.Route{Id: r.ID, LnsAddr: r.LNS, MaxCopies: r.MaxCopies, Active: r.Active}
	for _, d := range r.DevAddrs {
		w.DevAddrs = append(w.DevAddrs, &wire.DevAddrRange{Start: d.Start, End: d.End})
	}
	for _, e := range r.JoinEUIs {
		w.JoinEuis = append(w.JoinEuis, &wire.EUIRange{Start: e.Start, End: e.End})
	}
	return w
}

// matches reports whether a classified frame belongs to the route: a data
// uplink by its DevAddr, a join-request by its JoinEUI.
func (r *Route) matches(f Frame) bool {
	switch f.Class {
	case ClassUplink:
		for _, d := range r.DevAddrs {
			if f.DevAddr >= d.Start && f.DevAddr <= d.End {
				return true
			}
		}
	case ClassJoin:
		for _, e := range r.JoinEUIs {
			if f.JoinEUI >= e.Start && f.JoinEUI <= e.End {
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
// table, and the region and location the oracle last gave, so that a
// hotspot restarted while no oracle is reachable forwards at once.
type savedState struct {
	Table  *RouteTable
	Region string
	Loc    location
}

// The persisted form: magic, a CRC-32C of the rest, then a deterministic
// protobuf Config holding the version (issued_ms), the routes, the region
// and the location.
var routeTableMagic = []byte("HXRT\x01")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MarshalBinary encodes the state for the data directory.
func (s savedState) MarshalBinary() ([]byte, error) {
	c := &wire.Config{Region: s.Region, Asserted: s.Loc.asserted, H3Cell: s.Loc.cell, Lat: s.Loc.lat, Lng: s.Loc.lng}
	if t := s.Table; t != nil {
		c.IssuedMs = t.Version
		for i := range t.Routes {
			c.Routes = append(c.Routes, t.Routes[i].toWire())
		}
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode route table: %w", err)
	}
	b := make([]byte, 0, len(routeTableMagic)+4+len(body))
	b = append(b, routeTableMagic...)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(body, castagnoli))
	return append(b, body...), nil
}

// UnmarshalBinary decodes a persisted state. A wrong magic, a bad
// checksum, bad protobuf or an oversized file is an error; invalid routes
// inside are left out as NewRouteTable does, and a region name longer
// than any region's is dropped.
func (s *savedState) UnmarshalBinary(b []byte) error {
	if len(b) > maxRouteTableFile {
		return fmt.Errorf("%w: %d bytes", errRouteTable, len(b))
	}
	if !bytes.HasPrefix(b, routeTableMagic) || len(b) < len(routeTableMagic)+4 {
		return fmt.Errorf("%w: no header", errRouteTable)
	}
	b = b[len(routeTableMagic):]
	sum, body := binary.BigEndian.Uint32(b), b[4:]
	if crc32.Checksum(body, castagnoli) != sum {
		return fmt.Errorf("%w: checksum", errRouteTable)
	}
	var c wire.Config
	if err := proto.Unmarshal(body, &c); err != nil {
		return fmt.Errorf("%w: %w", errRouteTable, err)
	}
	t, _ := NewRouteTable(c.IssuedMs, c.Routes)
	*s = savedState{Table: t, Loc: location{asserted: c.Asserted, cell: c.H3Cell, lat: c.Lat, lng: c.Lng}}
	if len(c.Region) <= maxRegionName {
		s.Region = c.Region
	}
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

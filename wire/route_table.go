package wire

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"strconv"

	"google.golang.org/protobuf/proto"
)

// Route tables (routing.md §5).
//
// A hotspot asks for its region's route table on a stream of its own:
//
//	RouteTableRequest{table_id, version, region of the table it holds}
//	  → RouteTableUnchanged{table_id, version}    nothing newer here
//	  → RouteTableChunk{size, data} …             a signed RouteTable envelope, in pieces
//	  → Ack{code}                                  an error (unknown hotspot, overloaded, …)
//
// The envelope (KIND_ROUTE_TABLE, signed by the oracle) is at most
// MaxRouteTableSize bytes and travels in chunks of at most
// RouteTableChunkSize bytes, so a big table never needs a frame over
// MaxFrameSize; the oracle closes the stream after the last chunk.
//
// Its body is a RouteTable: full (every route) or an update of
// base_version of the same table_id (the routes that changed or appeared,
// and the ids of those removed). A table_id names one oracle store's
// history of versions: versions of one table_id are comparable and updates
// apply only within it. Versions of different oracles are counts of the
// registry changes each applied, so a hotspot with several oracles uses
// the highest version any of them signed, and never goes back to a lower
// one.

// Bounds of a route table, checked by CheckRouteTable on both sides: the
// oracle never sends more, the hotspot refuses more.
const (
	// MaxRouteTableSize bounds an encoded RouteTable envelope.
	MaxRouteTableSize = 1 << 20
	// RouteTableChunkSize is the most data one RouteTableChunk carries.
	RouteTableChunkSize = 60 << 10
	// MaxTableRoutes bounds the routes of a table (and of an update's
	// routes plus removed ids).
	MaxTableRoutes = 1024
	// MaxTableRouteRanges bounds one route's DevAddr ranges plus EUI pairs.
	MaxTableRouteRanges = 2048
	// MaxTableRanges bounds DevAddr ranges plus EUI pairs over a table.
	MaxTableRanges = 32768
	// MaxRouteIDLen bounds a route id, in bytes.
	MaxRouteIDLen = 64
	// TableIDSize is the size of a table_id.
	TableIDSize   = 16
	maxLNSAddrLen = 255
	maxRegionLen  = 16
)

// ErrBadRouteTable is returned (wrapped) for a route table that breaks
// the rules above.
var ErrBadRouteTable = errors.New("bad route table")

// CheckRouteTable checks a decoded route table: a 16-byte table_id, the
// bounds, no duplicate or empty route id, ranges not reversed, an active
// route with an LNS address host:port, and full tables without
// base_version or removed ids, updates with base_version < version.
func CheckRouteTable(t *RouteTable) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrBadRouteTable, fmt.Sprintf(format, a...))
	}
	if len(t.GetTableId()) != TableIDSize {
		return bad("table_id is %d bytes, want %d", len(t.GetTableId()), TableIDSize)
	}
	if len(t.GetRegion()) > maxRegionLen {
		return bad("region name of %d bytes", len(t.GetRegion()))
	}
	if t.GetFull() {
		if t.GetBaseVersion() != 0 || len(t.GetRemoved()) != 0 {
			return bad("a full table has a base version or removed routes")
		}
	} else if t.GetBaseVersion() >= t.GetVersion() {
		return bad("update from version %d to %d", t.GetBaseVersion(), t.GetVersion())
	}
	if n := len(t.GetRoutes()) + len(t.GetRemoved()); n > MaxTableRoutes {
		return bad("%d routes, at most %d", n, MaxTableRoutes)
	}
	seen := make(map[string]bool, len(t.GetRoutes())+len(t.GetRemoved()))
	ranges := 0
	for _, r := range t.GetRoutes() {
		if err := checkTableRoute(r); err != nil {
			return bad("%v", err)
		}
		if seen[r.GetId()] {
			return bad("route %q listed twice", r.GetId())
		}
		seen[r.GetId()] = true
		ranges += len(r.GetDevaddrRanges()) + len(r.GetEuiPairs())
	}
	if ranges > MaxTableRanges {
		return bad("%d ranges, at most %d", ranges, MaxTableRanges)
	}
	for _, id := range t.GetRemoved() {
		if id == "" || len(id) > MaxRouteIDLen || seen[id] {
			return bad("removed route id %q is empty, too long or listed twice", id)
		}
		seen[id] = true
	}
	return nil
}

func checkTableRoute(r *TableRoute) error {
	if r.GetId() == "" || len(r.GetId()) > MaxRouteIDLen {
		return fmt.Errorf("route id of %d bytes", len(r.GetId()))
	}
	if n := len(r.GetDevaddrRanges()) + len(r.GetEuiPairs()); n > MaxTableRouteRanges {
		return fmt.Errorf("route %s has %d ranges, at most %d", r.GetId(), n, MaxTableRouteRanges)
	}
	if r.GetActive() && !validHostPort(r.GetLns()) {
		return fmt.Errorf("route %s: LNS %q is not host:port", r.GetId(), r.GetLns())
	}
	if len(r.GetLns()) > maxLNSAddrLen {
		return fmt.Errorf("route %s: LNS address of %d bytes", r.GetId(), len(r.GetLns()))
	}
	for _, d := range r.GetDevaddrRanges() {
		if d.GetStart() > d.GetEnd() {
			return fmt.Errorf("route %s: DevAddr range %08x-%08x reversed", r.GetId(), d.GetStart(), d.GetEnd())
		}
	}
	for _, p := range r.GetEuiPairs() {
		j, d := p.GetJoinEui(), p.GetDevEui()
		if j == nil || d == nil || j.GetStart() > j.GetEnd() || d.GetStart() > d.GetEnd() {
			return fmt.Errorf("route %s: an EUI pair lacks a range or has a reversed one", r.GetId())
		}
	}
	return nil
}

// validHostPort accepts host:port with a host and a port 1–65535.
func validHostPort(s string) bool {
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

// SealRouteTable checks t, signs it and returns the envelope; a table
// over the bounds is an error.
func SealRouteTable(priv ed25519.PrivateKey, t *RouteTable) ([]byte, error) {
	if err := CheckRouteTable(t); err != nil {
		return nil, fmt.Errorf("seal route table: %w", err)
	}
	raw, err := Seal(priv, Kind_KIND_ROUTE_TABLE, t)
	if err != nil {
		return nil, err
	}
	if len(raw) > MaxRouteTableSize {
		return nil, fmt.Errorf("seal route table: %w: %d bytes, at most %d", ErrBadRouteTable, len(raw), MaxRouteTableSize)
	}
	return raw, nil
}

// OpenRouteTable opens raw, a RouteTable envelope, checks it and returns
// the table and its signer. The caller checks the signer is an oracle it
// pins.
func OpenRouteTable(raw []byte) (*RouteTable, PublicKey, error) {
	if len(raw) > MaxRouteTableSize {
		return nil, PublicKey{}, fmt.Errorf("open route table: %w: %d bytes", ErrBadRouteTable, len(raw))
	}
	var t RouteTable
	signer, err := Unseal(raw, Kind_KIND_ROUTE_TABLE, &t)
	if err != nil {
		return nil, PublicKey{}, err
	}
	if err := CheckRouteTable(&t); err != nil {
		return nil, PublicKey{}, fmt.Errorf("open route table from %s: %w", signer, err)
	}
	return &t, signer, nil
}

// RouteTableFrames splits a sealed route table envelope into the chunk
// frames that carry it.
func RouteTableFrames(raw []byte) []*Frame {
	var out []*Frame
	for off := 0; off < len(raw); off += RouteTableChunkSize {
		end := min(off+RouteTableChunkSize, len(raw))
		out = append(out, &Frame{Msg: &Frame_RouteTableChunk{RouteTableChunk: &RouteTableChunk{
			Size: uint32(len(raw)), Data: raw[off:end],
		}}})
	}
	return out
}

// RouteTableAssembler joins the chunks of one route table envelope. The
// zero value is ready; it is not safe for concurrent use.
type RouteTableAssembler struct {
	buf  []byte
	size int
}

// Add appends one chunk and reports whether the envelope is complete. A
// chunk with no data, a size over MaxRouteTableSize or other than the
// first chunk's, or data beyond the size is an error.
func (a *RouteTableAssembler) Add(c *RouteTableChunk) (bool, error) {
	size := int(c.GetSize())
	switch {
	case size == 0 || size > MaxRouteTableSize:
		return false, fmt.Errorf("route table chunk: %w: size %d", ErrBadRouteTable, size)
	case a.size != 0 && size != a.size:
		return false, fmt.Errorf("route table chunk: %w: size %d after %d", ErrBadRouteTable, size, a.size)
	case len(c.GetData()) == 0 || len(c.GetData()) > RouteTableChunkSize:
		return false, fmt.Errorf("route table chunk: %w: %d data bytes", ErrBadRouteTable, len(c.GetData()))
	case len(a.buf)+len(c.GetData()) > size:
		return false, fmt.Errorf("route table chunk: %w: more than %d bytes", ErrBadRouteTable, size)
	}
	if a.size == 0 {
		a.size = size
		a.buf = make([]byte, 0, size)
	}
	a.buf = append(a.buf, c.GetData()...)
	return len(a.buf) == a.size, nil
}

// Envelope returns the assembled envelope once Add reported it complete.
func (a *RouteTableAssembler) Envelope() []byte {
	if a.size == 0 || len(a.buf) != a.size {
		return nil
	}
	return a.buf
}

// MarshalRouteTable encodes t deterministically (for storing it).
func MarshalRouteTable(t *RouteTable) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("encode route table: %w", err)
	}
	return b, nil
}

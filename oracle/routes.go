package oracle

import (
	"fmt"
	"net"
	"regexp"
	"strconv"

	"github.com/hexfield/hexfield/wire"
)

// Route is a customer's registration: uplinks whose DevAddr or JoinEUI
// falls in its ranges are forwarded to its LNS (Semtech UDP) while it has
// data credits. It is the HTTP and storage form of wire.Route.
type Route struct {
	ID        string         `json:"id"`
	NetID     uint32         `json:"net_id"`
	DevAddrs  []DevAddrRange `json:"dev_addrs,omitempty"`
	JoinEUIs  []EUIRange     `json:"join_euis,omitempty"`
	LNSAddr   string         `json:"lns_addr"`
	MaxCopies uint32         `json:"max_copies"`
	// DCBalance is the route's prepaid data credits; a route with none is
	// inactive and hotspots forward nothing for it.
	DCBalance uint64 `json:"dc_balance"`
}

// DevAddrRange is an inclusive DevAddr range, as 8 hex digits in JSON.
type DevAddrRange struct {
	Start HexU32 `json:"start"`
	End   HexU32 `json:"end"`
}

// EUIRange is an inclusive EUI-64 range, as 16 hex digits in JSON.
type EUIRange struct {
	Start HexU64 `json:"start"`
	End   HexU64 `json:"end"`
}

// HexU32 is a uint32 written as 8 hex digits.
type HexU32 uint32

// MarshalText implements encoding.TextMarshaler.
func (h HexU32) MarshalText() ([]byte, error) { return fmt.Appendf(nil, "%08x", uint32(h)), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *HexU32) UnmarshalText(b []byte) error {
	v, err := strconv.ParseUint(string(b), 16, 32)
	if err != nil {
		return fmt.Errorf("hex u32 %q: %w", b, err)
	}
	*h = HexU32(v)
	return nil
}

// HexU64 is a uint64 written as 16 hex digits.
type HexU64 uint64

// MarshalText implements encoding.TextMarshaler.
func (h HexU64) MarshalText() ([]byte, error) { return fmt.Appendf(nil, "%016x", uint64(h)), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *HexU64) UnmarshalText(b []byte) error {
	v, err := strconv.ParseUint(string(b), 16, 64)
	if err != nil {
		return fmt.Errorf("hex u64 %q: %w", b, err)
	}
	*h = HexU64(v)
	return nil
}

var routeIDPattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$`)

// validate reports what is wrong with r as an *APIError.
func (r Route) validate() error {
	if !routeIDPattern.MatchString(r.ID) {
		return apiErr(400, "bad_request", "route id %q must be 1-64 of [a-zA-Z0-9._-], starting alphanumeric", r.ID)
	}
	if len(r.DevAddrs) == 0 && len(r.JoinEUIs) == 0 {
		return apiErr(400, "bad_request", "route %s needs at least one dev_addrs or join_euis range", r.ID)
	}
	for _, d := range r.DevAddrs {
		if d.Start > d.End {
			return apiErr(400, "bad_request", "dev_addr range %08x-%08x is reversed", d.Start, d.End)
		}
	}
	for _, e := range r.JoinEUIs {
		if e.Start > e.End {
			return apiErr(400, "bad_request", "join_eui range %016x-%016x is reversed", e.Start, e.End)
		}
	}
	host, port, err := net.SplitHostPort(r.LNSAddr)
	if err != nil || host == "" || port == "" {
		return apiErr(400, "bad_request", "lns_addr %q must be host:port", r.LNSAddr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return apiErr(400, "bad_request", "lns_addr port %q", port)
	}
	if r.MaxCopies == 0 {
		return apiErr(400, "bad_request", "max_copies must be at least 1")
	}
	return nil
}

// wire converts r to the message sent to hotspots.
func (r Route) wire() *wire.Route {
	w := &wire.Route{Id: r.ID, NetId: r.NetID, LnsAddr: r.LNSAddr, MaxCopies: r.MaxCopies, Active: r.DCBalance > 0}
	for _, d := range r.DevAddrs {
		w.DevAddrs = append(w.DevAddrs, &wire.DevAddrRange{Start: uint32(d.Start), End: uint32(d.End)})
	}
	for _, e := range r.JoinEUIs {
		w.JoinEuis = append(w.JoinEuis, &wire.EUIRange{Start: uint64(e.Start), End: uint64(e.End)})
	}
	return w
}

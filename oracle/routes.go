package oracle

import (
	"encoding/hex"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"

	"github.com/hexfield/hexfield/wire"
)

// Route is a customer's route (routing.md §2): uplinks whose DevAddr falls
// in its ranges, and join requests matching its EUI pairs, go to its LNS
// (Semtech UDP) for the hotspot's region, while it is active and its
// organization is not locked. It is the HTTP and storage form of
// wire.RouteSpec; hotspots get wire.TableRoute in the route table.
type Route struct {
	ID  string `json:"id"`
	Org string `json:"org"`
	// LNS maps a region (e.g. "EU868") or "default" (every other region)
	// to the LNS's Semtech UDP endpoint host:port.
	LNS           map[string]string `json:"lns"`
	DevAddrRanges []DevAddrRange    `json:"devaddr_ranges,omitempty"`
	EUIPairs      []EUIPair         `json:"eui_pairs,omitempty"`
	MaxCopies     uint32            `json:"max_copies"`
	Active        bool              `json:"active"`
	// SessionKeyFilters stay with the oracle: the public API shows only
	// their DevAddrs, never the keys, and hotspots never get them.
	SessionKeyFilters []SessionKeyFilter `json:"session_key_filters,omitempty"`
	// Locked is computed on every read, never stored: the organization's
	// payer cannot pay for one more copy, so nothing is forwarded.
	Locked bool `json:"locked"`
}

// DevAddrRange is an inclusive DevAddr range, as 8 hex digits in JSON.
type DevAddrRange struct {
	Start HexU32 `json:"start"`
	End   HexU32 `json:"end"`
}

// EUIPair matches join requests: DevEUI 0 is a wildcard for every device
// of the JoinEUI. EUIs are 16 hex digits, big-endian, in JSON.
type EUIPair struct {
	JoinEUI HexU64 `json:"join_eui"`
	DevEUI  HexU64 `json:"dev_eui"`
}

// SessionKeyFilter lets only copies whose MIC verifies with NwkSKey be
// charged for DevAddr. NwkSKey is 32 hex digits; empty in public views.
type SessionKeyFilter struct {
	DevAddr HexU32 `json:"devaddr"`
	NwkSKey string `json:"nwk_s_key,omitempty"`
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

// idPattern is the form of organization and route ids.
var idPattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$`)

// regionPattern is the form of a region name in a route's LNS map.
var regionPattern = regexp.MustCompile(`^[A-Z][A-Z0-9_]{1,15}$`)

// defaultRegion in a route's LNS map stands for every region not listed.
const defaultRegion = "default"

// Bounds on one route, so that a route table stays small.
const (
	maxRouteLNS       = 16
	maxRouteRanges    = 64
	maxRouteEUIPairs  = 1024
	maxRouteFilters   = 1024
	maxRouteMaxCopies = 64
	maxOrgRoutes      = 64
	maxOrgDelegates   = 16
)

// routeFromSpec converts a signed route spec of org to a Route and checks
// everything about it that does not need the store.
func routeFromSpec(org string, s *wire.RouteSpec) (Route, error) {
	r := Route{ID: s.GetId(), Org: org, LNS: map[string]string{}, MaxCopies: max(s.GetMaxCopies(), 1), Active: s.GetActive()}
	if !idPattern.MatchString(r.ID) {
		return Route{}, apiErr(400, "bad_request", "route id %q must be 1-64 of [a-zA-Z0-9._-], starting alphanumeric", r.ID)
	}
	if n := len(s.GetLns()); n == 0 || n > maxRouteLNS {
		return Route{}, apiErr(400, "bad_request", "route %s needs 1 to %d LNS endpoints, got %d", r.ID, maxRouteLNS, n)
	}
	for _, e := range s.GetLns() {
		if e.GetRegion() != defaultRegion && !regionPattern.MatchString(e.GetRegion()) {
			return Route{}, apiErr(400, "bad_request", "LNS region %q is neither a region name nor %q", e.GetRegion(), defaultRegion)
		}
		if _, dup := r.LNS[e.GetRegion()]; dup {
			return Route{}, apiErr(400, "bad_request", "LNS region %s listed twice", e.GetRegion())
		}
		if err := checkHostPort(e.GetAddr()); err != nil {
			return Route{}, err
		}
		r.LNS[e.GetRegion()] = e.GetAddr()
	}
	if len(s.GetDevaddrRanges()) == 0 && len(s.GetEuiPairs()) == 0 {
		return Route{}, apiErr(400, "bad_request", "route %s needs at least one DevAddr range or EUI pair", r.ID)
	}
	if len(s.GetDevaddrRanges()) > maxRouteRanges || len(s.GetEuiPairs()) > maxRouteEUIPairs || len(s.GetSessionKeyFilters()) > maxRouteFilters {
		return Route{}, apiErr(400, "bad_request", "route %s: at most %d DevAddr ranges, %d EUI pairs and %d session key filters",
			r.ID, maxRouteRanges, maxRouteEUIPairs, maxRouteFilters)
	}
	if r.MaxCopies > maxRouteMaxCopies {
		return Route{}, apiErr(400, "bad_request", "max_copies %d is more than %d", r.MaxCopies, maxRouteMaxCopies)
	}
	for _, d := range s.GetDevaddrRanges() {
		if d.GetStart() > d.GetEnd() {
			return Route{}, apiErr(400, "bad_request", "DevAddr range %08x-%08x is reversed", d.GetStart(), d.GetEnd())
		}
		r.DevAddrRanges = append(r.DevAddrRanges, DevAddrRange{HexU32(d.GetStart()), HexU32(d.GetEnd())})
	}
	seen := map[EUIPair]bool{}
	for _, p := range s.GetEuiPairs() {
		e := EUIPair{HexU64(p.GetJoinEui()), HexU64(p.GetDevEui())}
		if !seen[e] {
			seen[e] = true
			r.EUIPairs = append(r.EUIPairs, e)
		}
	}
	for _, f := range s.GetSessionKeyFilters() {
		if len(f.GetNwkSKey()) != 16 {
			return Route{}, apiErr(400, "bad_request", "a session key filter's NwkSKey must be 16 bytes")
		}
		if !r.coversDevAddr(f.GetDevAddr()) {
			return Route{}, apiErr(400, "bad_request", "session key filter DevAddr %08x is outside the route's ranges", f.GetDevAddr())
		}
		r.SessionKeyFilters = append(r.SessionKeyFilters, SessionKeyFilter{DevAddr: HexU32(f.GetDevAddr()), NwkSKey: hex.EncodeToString(f.GetNwkSKey())})
	}
	return r, nil
}

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || len(addr) > 255 {
		return apiErr(400, "bad_request", "LNS address %q must be host:port", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return apiErr(400, "bad_request", "LNS address %q: bad port", addr)
	}
	return nil
}

func (r Route) coversDevAddr(a uint32) bool {
	return slices.ContainsFunc(r.DevAddrRanges, func(d DevAddrRange) bool { return uint32(d.Start) <= a && a <= uint32(d.End) })
}

// coversJoin reports whether one of r's EUI pairs matches a join-request
// (DevEUI 0 in a pair is the wildcard for every device of its JoinEUI).
func (r Route) coversJoin(joinEUI, devEUI uint64) bool {
	return slices.ContainsFunc(r.EUIPairs, func(p EUIPair) bool {
		return uint64(p.JoinEUI) == joinEUI && (p.DevEUI == 0 || uint64(p.DevEUI) == devEUI)
	})
}

// Spec converts r to the signed form a change carries (the CLI builds
// routes this way). Session key filters with a malformed key are dropped.
func (r Route) Spec() *wire.RouteSpec {
	s := &wire.RouteSpec{Id: r.ID, MaxCopies: r.MaxCopies, Active: r.Active}
	regions := make([]string, 0, len(r.LNS))
	for k := range r.LNS {
		regions = append(regions, k)
	}
	slices.Sort(regions)
	for _, k := range regions {
		s.Lns = append(s.Lns, &wire.LNSEndpoint{Region: k, Addr: r.LNS[k]})
	}
	for _, d := range r.DevAddrRanges {
		s.DevaddrRanges = append(s.DevaddrRanges, &wire.DevAddrRange{Start: uint32(d.Start), End: uint32(d.End)})
	}
	for _, p := range r.EUIPairs {
		s.EuiPairs = append(s.EuiPairs, &wire.EUIPair{JoinEui: uint64(p.JoinEUI), DevEui: uint64(p.DevEUI)})
	}
	for _, f := range r.SessionKeyFilters {
		if key, err := hex.DecodeString(f.NwkSKey); err == nil && len(key) == 16 {
			s.SessionKeyFilters = append(s.SessionKeyFilters, &wire.SessionKeyFilter{DevAddr: uint32(f.DevAddr), NwkSKey: key})
		}
	}
	return s
}

// public is r as anyone may read it: session keys removed.
func (r Route) public() Route {
	out := r
	out.SessionKeyFilters = nil
	for _, f := range r.SessionKeyFilters {
		out.SessionKeyFilters = append(out.SessionKeyFilters, SessionKeyFilter{DevAddr: f.DevAddr})
	}
	return out
}

// tableRoute converts r to what a hotspot in region gets (routing.md §5):
// the LNS for its region (or the default one), the DevAddr ranges and the
// EUI pairs as ranges, active only while the route is active, its
// organization is not locked and it has an LNS for the region. An
// inactive route carries only its id: nothing is forwarded on it. Session
// key filters are never sent.
func (r Route) tableRoute(region string, locked bool) *wire.TableRoute {
	lns, ok := r.LNS[region]
	if !ok {
		lns, ok = r.LNS[defaultRegion]
	}
	tr := &wire.TableRoute{Id: r.ID}
	if !r.Active || locked || !ok {
		return tr
	}
	tr.Lns, tr.MaxCopies, tr.Active = lns, r.MaxCopies, true
	for _, d := range r.DevAddrRanges {
		tr.DevaddrRanges = append(tr.DevaddrRanges, &wire.DevAddrRange{Start: uint32(d.Start), End: uint32(d.End)})
	}
	tr.EuiPairs = euiPairRanges(r.EUIPairs)
	return tr
}

// euiPairRanges turns EUI pairs into the fewest pair ranges, sorted: a
// JoinEUI with the wildcard DevEUI 0 matches every DevEUI (and swallows
// its other pairs), consecutive wildcard JoinEUIs share one range, and
// consecutive DevEUIs of one JoinEUI share one range.
func euiPairRanges(pairs []EUIPair) []*wire.EUIPairRange {
	devs := map[uint64][]uint64{}
	wild := map[uint64]bool{}
	for _, p := range pairs {
		j := uint64(p.JoinEUI)
		if p.DevEUI == 0 {
			wild[j] = true
		} else {
			devs[j] = append(devs[j], uint64(p.DevEUI))
		}
	}
	joins := make([]uint64, 0, len(devs)+len(wild))
	for j := range wild {
		joins = append(joins, j)
	}
	for j := range devs {
		if !wild[j] {
			joins = append(joins, j)
		}
	}
	slices.Sort(joins)
	const all = ^uint64(0)
	var out []*wire.EUIPairRange
	for _, j := range joins {
		if wild[j] {
			if n := len(out); n > 0 {
				last := out[n-1]
				if last.DevEui.Start == 0 && last.DevEui.End == all && last.JoinEui.End != all && last.JoinEui.End+1 == j {
					last.JoinEui.End = j
					continue
				}
			}
			out = append(out, &wire.EUIPairRange{JoinEui: &wire.EUIRange{Start: j, End: j}, DevEui: &wire.EUIRange{Start: 0, End: all}})
			continue
		}
		ds := devs[j]
		slices.Sort(ds)
		ds = slices.Compact(ds)
		for i := 0; i < len(ds); {
			k := i
			for k+1 < len(ds) && ds[k+1] == ds[k]+1 {
				k++
			}
			out = append(out, &wire.EUIPairRange{JoinEui: &wire.EUIRange{Start: j, End: j}, DevEui: &wire.EUIRange{Start: ds[i], End: ds[k]}})
			i = k + 1
		}
	}
	return out
}

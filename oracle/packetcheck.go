package oracle

import (
	"fmt"

	"github.com/hexfield/hexfield/verifier"
	"github.com/hexfield/hexfield/wire"
)

// Packet reports are checked at ingest (routing.md §7) with the rules the
// epoch's charging applies first and that need nothing but the report and
// the registry: the frame is carried, hashes to the reported hash, is a
// LoRaWAN uplink of the reported size, and the named route exists and
// holds it (its DevAddr for data, its EUI pair for a join). A report that
// fails could never be charged or earn anything, so it is not stored.
// Whether the route is active, its organization unlocked, the copy within
// max_copies or the duty cycle is for charging to decide over the epoch.

// routesByID reads s's routes into a map by id.
func routesByID(s *Store) (map[string]Route, error) {
	rs, err := s.routes()
	if err != nil {
		return nil, err
	}
	m := make(map[string]Route, len(rs))
	for _, r := range rs {
		m[r.ID] = r
	}
	return m, nil
}

// errPacketRejected marks a packet report that fails the ingest checks.
type errPacketRejected struct{ reason string }

func (e errPacketRejected) Error() string { return e.reason }

// checkPacketReport applies the ingest checks to r. It returns an
// errPacketRejected for a report that is never stored, and other errors
// when the registry could not be read.
func (o *Oracle) checkPacketReport(r *wire.PacketReport) error {
	u, err := verifier.PacketUplink(r)
	if err != nil {
		return errPacketRejected{err.Error()}
	}
	if n := len(r.GetPayload()); int(r.GetPayloadSize()) != n {
		return errPacketRejected{fmt.Sprintf("payload_size %d, but the payload has %d bytes", r.GetPayloadSize(), n)}
	}
	routes, err := o.packetRoutes.get(o.store, func() (map[string]Route, error) { return routesByID(o.store) })
	if err != nil {
		return err
	}
	rt, ok := routes[r.GetRouteId()]
	if !ok {
		return errPacketRejected{fmt.Sprintf("no route %q", r.GetRouteId())}
	}
	switch u.Type {
	case verifier.FrameJoin:
		if !rt.coversJoin(u.JoinEUI, u.DevEUI) {
			return errPacketRejected{fmt.Sprintf("route %s has no EUI pair for JoinEUI %016x, DevEUI %016x", rt.ID, u.JoinEUI, u.DevEUI)}
		}
	default:
		if !rt.coversDevAddr(u.DevAddr) {
			return errPacketRejected{fmt.Sprintf("route %s does not hold DevAddr %08x", rt.ID, u.DevAddr)}
		}
	}
	return nil
}

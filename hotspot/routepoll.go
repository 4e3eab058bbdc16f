package hotspot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/hexfield/hexfield/wire"
)

// The route table poll (routing.md §5). At start, and every RoutePoll
// after (a little less, at random, so that hotspots restarted together do
// not poll together), the hotspot asks every connected oracle for its
// region's route table, naming the table it holds; the oracle of the table
// in force goes first. Each answer is unchanged, an update of the version
// in force, or a full table, signed by that oracle; a table of a version
// lower than the one in force is never taken (forwarder.offer). Until one
// oracle answers, it asks every second. With no oracle reachable, the
// persisted table stays in force: customers' traffic does not stop.
//
// A locked organization's routes turn inactive in the oracle's table in
// the transaction that locks it, so its traffic stops within RoutePoll (25
// s by default) plus one request.

// errTableRequestRefused: the oracle answered a route table request with
// an error code.
var errTableRequestRefused = errors.New("oracle refused the route table request")

// runRoutes polls the oracles for the route table until ctx ends.
func (h *Hotspot) runRoutes(ctx context.Context) error {
	if len(h.oracles) == 0 {
		return nil
	}
	wait := time.Duration(0)
	for {
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-h.routesWake:
				t.Stop()
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		wait = time.Second
		if h.pollRoutes(ctx) {
			p := h.cfg.RoutePoll
			wait = p - time.Duration(rand.Int64N(int64(p/10)+1))
		}
	}
}

// pollRoutes asks each connected oracle once, the table's own oracle
// first, and reports whether any answered.
func (h *Hotspot) pollRoutes(ctx context.Context) bool {
	order := make([]*oracleClient, 0, len(h.oracles))
	var src wire.PublicKey
	if t := h.fwd.table.Load(); t != nil {
		src = t.Signer
	}
	for _, c := range h.oracles {
		if c.key == src {
			order = append(order, c)
		}
	}
	for _, c := range h.oracles {
		if c.key != src {
			order = append(order, c)
		}
	}
	answered := false
	for _, c := range order {
		if ctx.Err() != nil {
			return answered
		}
		req := &wire.RouteTableRequest{}
		if t := h.fwd.table.Load(); t != nil {
			req.TableId, req.Version, req.Region = t.TableID, t.Version, t.Region
		}
		w, err := c.fetchRouteTable(ctx, req)
		res := tableUnchanged
		switch {
		case errors.Is(err, errNotConnected):
			continue
		case errors.Is(err, errRouteTable), errors.Is(err, wire.ErrBadRouteTable), errors.Is(err, wire.ErrBadSignature),
			errors.Is(err, wire.ErrWrongKind), errors.Is(err, wire.ErrMalformedEnvelope), errors.Is(err, wire.ErrSignerMismatch):
			res = tableRefused
			h.log.Warn("oracle route table refused", "oracle", c.key.String(), "err", err)
		case errors.Is(err, errTableRequestRefused):
			// An oracle that cannot serve tables now (or an older one
			// without them): asked again at the next poll.
			res = tableError
			answered = true
			h.log.Debug("route table fetch", "oracle", c.key.String(), "err", err)
		case err != nil:
			res = tableError
			h.log.Debug("route table fetch", "oracle", c.key.String(), "err", err)
		case w != nil:
			res = h.fwd.offer(c.key, w)
			if res == tableFull || res == tableIncremental {
				t := h.fwd.table.Load()
				h.log.Info("route table", "result", res, "version", t.Version, "routes", len(t.Routes), "oracle", c.key.String())
			}
		}
		h.fwd.m.tables.WithLabelValues(res).Inc()
		if res != tableError && res != tableRefused {
			answered = true
			h.fwd.checked(c.key)
		}
	}
	return answered
}

// fetchRouteTable sends req on a stream of its own and returns the table
// the oracle signed, or nil when it has nothing newer. A table not signed
// by this oracle's pinned key, or that breaks wire's rules, is an error
// wrapping errRouteTable or one of wire's.
func (c *oracleClient) fetchRouteTable(ctx context.Context, req *wire.RouteTableRequest) (*wire.RouteTable, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	str, err := c.openRequest(ctx, &wire.Frame{Msg: &wire.Frame_RouteTableRequest{RouteTableRequest: req}})
	if err != nil {
		return nil, fmt.Errorf("route table from %s: %w", c.key, err)
	}
	defer str.CancelRead(0)
	fr := wire.NewFrameReader(str)
	var a wire.RouteTableAssembler
	for {
		f, err := fr.Read()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("route table from %s: the stream ended inside the table", c.key)
		}
		if err != nil {
			return nil, fmt.Errorf("route table from %s: %w", c.key, err)
		}
		switch m := f.Msg.(type) {
		case *wire.Frame_RouteTableUnchanged:
			return nil, nil
		case *wire.Frame_Ack:
			return nil, fmt.Errorf("route table from %s: %w: %s: %s", c.key, errTableRequestRefused, m.Ack.Code, m.Ack.Message)
		case *wire.Frame_RouteTableChunk:
			done, err := a.Add(m.RouteTableChunk)
			if err != nil {
				return nil, fmt.Errorf("route table from %s: %w", c.key, err)
			}
			if !done {
				continue
			}
			t, signer, err := wire.OpenRouteTable(a.Envelope())
			if err != nil {
				return nil, fmt.Errorf("route table from %s: %w", c.key, err)
			}
			if signer != c.key {
				return nil, fmt.Errorf("route table from %s: %w: signed by %s", c.key, errRouteTable, signer)
			}
			return t, nil
		default:
			return nil, fmt.Errorf("route table from %s: unexpected %T", c.key, m)
		}
	}
}

package oracle

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/wire"
)

// The route table hotspots receive (routing.md §5, wire/route_table.go).
//
// Versioning. The store holds one table lineage: a random table_id made
// when the store is, and a version counter, both in meta route_table. The
// counter goes up by one in the very transaction of every change a hotspot
// must see: a route put or deleted, an organization's payer changed, and a
// payer's balance crossing what one copy costs (minLockedDC; that locks or
// unlocks every organization it pays). So the version is monotonic, is a
// function of the store alone, and two oracles that applied the same
// registry changes have the same count. Each version's change (route ids,
// payer wallets) is kept under 0x44 for the last routeHistoryLen versions.
//
// Answers. A hotspot names the table it holds (table_id, version, region).
// Holding this store's current version for its region: unchanged. Holding
// an older one of this lineage within the history: an update with the
// routes the versions since touched (their state now) and the ids of those
// gone. Anything else — no table, another lineage (another oracle, or this
// one before its store was rebuilt) or another region — gets the full
// table, unless its version is at least ours, which is unchanged: a hotspot
// never goes back to a lower version. Signed tables are cached per
// version, region and base, so a poll costs no signature.

// routeHistoryLen is how many versions' changes are kept for updates; a
// hotspot further behind gets the full table.
const routeHistoryLen = 1024

// routeTableCacheEntries bounds the signed answers cached for the current
// version (per region and base version).
const routeTableCacheEntries = 256

// routeChange is what one version changed (prefixRouteHist).
type routeChange struct {
	Routes []string         `json:"routes,omitempty"`
	Payers []wire.PublicKey `json:"payers,omitempty"`
}

// loadRouteTableMeta returns the table id (nil before one exists) and the
// version.
func loadRouteTableMeta(txn *badger.Txn) ([]byte, uint64, error) {
	b, err := getValue(txn, metaKey(metaRouteTable))
	if err != nil || b == nil {
		return nil, 0, err
	}
	if len(b) != wire.TableIDSize+8 {
		return nil, 0, fmt.Errorf("route table meta of %d bytes: %w", len(b), errCorrupt)
	}
	return b[:wire.TableIDSize], binary.BigEndian.Uint64(b[wire.TableIDSize:]), nil
}

func setRouteTableMeta(txn *badger.Txn, id []byte, version uint64) error {
	return txn.Set(metaKey(metaRouteTable), u64(bytes.Clone(id), version))
}

// ensureRouteTableMeta makes the table id of a store that has none.
func ensureRouteTableMeta(txn *badger.Txn) ([]byte, uint64, error) {
	id, v, err := loadRouteTableMeta(txn)
	if err != nil || id != nil {
		return id, v, err
	}
	id = make([]byte, wire.TableIDSize)
	if _, err := rand.Read(id); err != nil {
		return nil, 0, fmt.Errorf("route table id: %w", err)
	}
	return id, 0, setRouteTableMeta(txn, id, 0)
}

// bumpRouteTable records in txn (a registryUpdate) that ch changed: the
// version goes up by one, and the history keeps ch under it.
func bumpRouteTable(txn *badger.Txn, ch routeChange) error {
	id, v, err := ensureRouteTableMeta(txn)
	if err != nil {
		return err
	}
	v++
	if err := setRouteTableMeta(txn, id, v); err != nil {
		return err
	}
	if err := txn.Set(routeHistKey(v), encodeJSON(ch)); err != nil {
		return err
	}
	if v > routeHistoryLen {
		return txn.Delete(routeHistKey(v - routeHistoryLen))
	}
	return nil
}

// lockFlipped bumps the route table when a payer's balance went from
// before to after across what one copy costs: every organization it pays
// is locked or unlocked by it.
func lockFlipped(txn *badger.Txn, payer []byte, before, after uint64) error {
	if (before < minLockedDC) == (after < minLockedDC) {
		return nil
	}
	k, err := wire.PublicKeyFromBytes(payer)
	if err != nil {
		return nil // not a wallet key: no organization can name it as payer
	}
	return bumpRouteTable(txn, routeChange{Payers: []wire.PublicKey{k}})
}

// lockCache answers whether organizations are locked, in one transaction.
type lockCache struct {
	txn    *badger.Txn
	locked map[string]bool
}

func (c *lockCache) isLocked(org string) (bool, error) {
	if l, ok := c.locked[org]; ok {
		return l, nil
	}
	l := true // an organization gone: nothing is forwarded for it
	o, found, err := loadOrg(c.txn, org)
	if err != nil {
		return false, err
	}
	if found {
		a, err := loadDCAccount(c.txn, o.Payer[:])
		if err != nil {
			return false, err
		}
		l = a.Balance < minLockedDC
	}
	c.locked[org] = l
	return l, nil
}

// buildRouteTable builds, in one transaction, region's full table (full)
// or its update from version base. ok is false for an update the history
// does not cover or that breaks wire's bounds: the caller sends the full
// one. truncated says a full table was cut to wire's
// bounds (its last routes by id left out).
func (s *Store) buildRouteTable(region string, base uint64, full bool) (t *wire.RouteTable, ok, truncated bool, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		id, v, err := loadRouteTableMeta(txn)
		if err != nil {
			return err
		}
		if id == nil {
			return fmt.Errorf("route table: the store has no table id (read-only store?)")
		}
		t = &wire.RouteTable{TableId: bytes.Clone(id), Version: v, Full: full, Region: region}
		locks := &lockCache{txn: txn, locked: map[string]bool{}}
		if full {
			truncated, err = fullRoutes(txn, t, locks)
			ok = err == nil
			return err
		}
		t.BaseVersion = base
		ok, err = updateRoutes(txn, t, locks)
		return err
	})
	return t, ok, truncated, err
}

// fullRoutes fills t with every route, in id order, within wire's bounds.
func fullRoutes(txn *badger.Txn, t *wire.RouteTable, locks *lockCache) (truncated bool, err error) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixRoute}, PrefetchValues: true})
	defer it.Close()
	ranges := 0
	for it.Rewind(); it.Valid(); it.Next() {
		var r Route
		if err := it.Item().Value(func(v []byte) error { return decodeJSON(v, &r) }); err != nil {
			return false, err
		}
		l, err := locks.isLocked(r.Org)
		if err != nil {
			return false, err
		}
		tr := r.tableRoute(t.Region, l)
		n := len(tr.DevaddrRanges) + len(tr.EuiPairs)
		if len(t.Routes) >= wire.MaxTableRoutes || ranges+n > wire.MaxTableRanges || n > wire.MaxTableRouteRanges {
			truncated = true
			continue
		}
		ranges += n
		t.Routes = append(t.Routes, tr)
	}
	for len(t.Routes) > 0 && proto.Size(t) > wire.MaxRouteTableSize-256 { // room for the envelope
		t.Routes = t.Routes[:len(t.Routes)-1]
		truncated = true
	}
	return truncated, nil
}

// updateRoutes fills t, an update from t.BaseVersion, with what the
// versions since changed.
func updateRoutes(txn *badger.Txn, t *wire.RouteTable, locks *lockCache) (bool, error) {
	if t.BaseVersion >= t.Version || t.Version-t.BaseVersion > routeHistoryLen {
		return false, nil
	}
	ids := map[string]bool{}
	payers := map[wire.PublicKey]bool{}
	for v := t.BaseVersion + 1; v <= t.Version; v++ {
		b, err := getValue(txn, routeHistKey(v))
		if err != nil {
			return false, err
		}
		if b == nil {
			return false, nil // trimmed: the full table
		}
		var ch routeChange
		if err := decodeJSON(b, &ch); err != nil {
			return false, err
		}
		for _, id := range ch.Routes {
			ids[id] = true
		}
		for _, p := range ch.Payers {
			payers[p] = true
		}
	}
	if len(payers) > 0 {
		if err := routesOfPayers(txn, payers, ids); err != nil {
			return false, err
		}
	}
	sorted := make([]string, 0, len(ids))
	for id := range ids {
		sorted = append(sorted, id)
	}
	slices.Sort(sorted)
	ranges := 0
	for _, id := range sorted {
		r, found, err := loadRoute(txn, id)
		if err != nil {
			return false, err
		}
		if !found {
			t.Removed = append(t.Removed, id)
			continue
		}
		l, err := locks.isLocked(r.Org)
		if err != nil {
			return false, err
		}
		tr := r.tableRoute(t.Region, l)
		ranges += len(tr.DevaddrRanges) + len(tr.EuiPairs)
		t.Routes = append(t.Routes, tr)
	}
	if wire.CheckRouteTable(t) != nil || ranges > wire.MaxTableRanges || proto.Size(t) > wire.MaxRouteTableSize-256 {
		return false, nil
	}
	return true, nil
}

// routesOfPayers adds to ids the routes of every organization a payer in
// payers pays.
func routesOfPayers(txn *badger.Txn, payers map[wire.PublicKey]bool, ids map[string]bool) error {
	orgs := map[string]bool{}
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixOrg}, PrefetchValues: true})
	for it.Rewind(); it.Valid(); it.Next() {
		var o orgRecord
		if err := it.Item().Value(func(v []byte) error { return decodeJSON(v, &o) }); err != nil {
			it.Close()
			return err
		}
		if payers[o.Payer] {
			orgs[o.ID] = true
		}
	}
	it.Close()
	if len(orgs) == 0 {
		return nil
	}
	it = txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixRoute}, PrefetchValues: true})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		var r Route
		if err := it.Item().Value(func(v []byte) error { return decodeJSON(v, &r) }); err != nil {
			return err
		}
		if orgs[r.Org] {
			ids[r.ID] = true
		}
	}
	return nil
}

// routeTableVersion returns the store's table id and version.
func (s *Store) routeTableVersion() (id []byte, v uint64, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		var err error
		id, v, err = loadRouteTableMeta(txn)
		id = bytes.Clone(id)
		return err
	})
	return id, v, err
}

// routeTableCache holds the signed answers of the current version, as
// the chunk frames that carry them. The zero value is ready.
type routeTableCache struct {
	mu      sync.Mutex
	version uint64
	answers map[routeTableKey][]*wire.Frame
}

type routeTableKey struct {
	region string
	base   uint64
	full   bool
}

func (c *routeTableCache) get(v uint64, k routeTableKey) []*wire.Frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.version != v {
		return nil
	}
	return c.answers[k]
}

func (c *routeTableCache) put(v uint64, k routeTableKey, frames []*wire.Frame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.version != v || c.answers == nil || len(c.answers) >= routeTableCacheEntries {
		if v < c.version {
			return // built from an older snapshot than what is cached
		}
		c.version, c.answers = v, map[routeTableKey][]*wire.Frame{}
	}
	c.answers[k] = frames
}

// routeTableAnswer answers hotspot hs's RouteTableRequest with the frames
// to send and the answer's metric label.
func (o *Oracle) routeTableAnswer(hs wire.PublicKey, req *wire.RouteTableRequest) ([]*wire.Frame, string, error) {
	rec, found, err := o.store.hotspot(hs[:])
	if err != nil {
		return nil, "", err
	}
	if !found {
		return nil, "", fmt.Errorf("hotspot %s not onboarded", hs)
	}
	region := rec.Region
	id, v, err := o.store.routeTableVersion()
	if err != nil {
		return nil, "", err
	}
	if id == nil {
		return nil, "", fmt.Errorf("route table: the store has no table id (read-only store?)")
	}
	unchanged := []*wire.Frame{{Msg: &wire.Frame_RouteTableUnchanged{RouteTableUnchanged: &wire.RouteTableUnchanged{TableId: id, Version: v}}}}
	ours := bytes.Equal(req.GetTableId(), id)
	switch {
	case ours && req.GetRegion() == region && req.GetVersion() >= v:
		return unchanged, "unchanged", nil
	case !ours && len(req.GetTableId()) > 0 && req.GetVersion() >= v:
		return unchanged, "unchanged", nil // another oracle's table, as new as ours
	case ours && req.GetRegion() == region:
		frames, ok, err := o.signedRouteTable(v, routeTableKey{region: region, base: req.GetVersion()})
		if err != nil || ok {
			return frames, "incremental", err
		}
	}
	frames, _, err := o.signedRouteTable(v, routeTableKey{region: region, full: true})
	return frames, "full", err
}

// signedRouteTable returns the cached answer k of version v, or builds,
// signs and caches it. ok is false for an update that cannot be made.
func (o *Oracle) signedRouteTable(v uint64, k routeTableKey) ([]*wire.Frame, bool, error) {
	if f := o.tables.get(v, k); f != nil {
		return f, true, nil
	}
	t, ok, truncated, err := o.store.buildRouteTable(k.region, k.base, k.full)
	if err != nil || !ok {
		return nil, false, err
	}
	if truncated {
		o.m.routeTables.WithLabelValues("truncated").Inc()
		o.logs.Log(slog.LevelError, "route_table_truncated", "route table over wire's bounds: its last routes are left out",
			"routes", len(t.Routes), "max_routes", wire.MaxTableRoutes)
	}
	t.IssuedMs = uint64(max(o.now().UnixMilli(), 0))
	raw, err := wire.SealRouteTable(o.key, t)
	if err != nil {
		return nil, false, err
	}
	frames := wire.RouteTableFrames(raw)
	o.tables.put(t.Version, k, frames)
	return frames, true, nil
}

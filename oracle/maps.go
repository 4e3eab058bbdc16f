package oracle

import (
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/hexfield/hexfield/maps"
	"github.com/hexfield/hexfield/verifier"
	"github.com/hexfield/hexfield/wire"
)

// The coverage map (package maps) is fed here: every valid witness of a
// verified PoC is an observation of the beaconer's cell, heard by the
// witness with its reported RSSI and SNR. maps keeps its state under
// prefixMaps through mapsStore and reads the registry through mapsRegistry.

// newMaps loads the map's state from the store and builds its server.
func (o *Oracle) newMaps() (*maps.Server, error) {
	agg := maps.NewAggregator(mapsStore{o.store}, o.now)
	if err := agg.Load(); err != nil {
		return nil, err
	}
	// Verified coverage journalled but not folded (or not flushed)
	// before a crash: FoldBatch counts each observation once.
	var last uint64
	err := o.store.mapsJournal(func(seq uint64, cov []maps.Observation) error {
		agg.FoldBatch(cov, seq)
		last = seq
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("map journal: %w", err)
	}
	if last > 0 {
		if err := agg.Flush(); err != nil {
			return nil, err
		}
		if err := o.store.dropMapsJournal(last); err != nil {
			return nil, fmt.Errorf("map journal: %w", err)
		}
		o.log.Info("coverage map: journalled batches folded after a restart", "through", last)
	}
	return maps.NewServer(maps.Config{Now: o.now}, agg, mapsRegistry{o}, o.log.With("part", "maps"), o.registerer)
}

// coverageOf turns a verified PoC into map observations: one per valid
// witness, at the beaconer's asserted cell.
func coverageOf(p verifier.PoC, ws []verifier.Witness, reg *verifier.Registry) []maps.Observation {
	if p.Reason != verifier.ReasonNone {
		return nil
	}
	b, ok := reg.Lookup(p.Beaconer)
	if !ok || b.Cell == 0 {
		return nil
	}
	byID := make(map[[32]byte]*wire.WitnessReport, len(ws))
	for _, w := range ws {
		byID[w.ID] = w.Report
	}
	var out []maps.Observation
	for _, w := range p.Witnesses {
		r := byID[w.ID]
		if w.Reason != verifier.ReasonNone || r == nil {
			continue
		}
		out = append(out, maps.Observation{
			Cell: b.Cell, Hotspot: w.Hotspot.String(), Transmitter: p.Beaconer.String(),
			RSSI: clampI16(r.GetRssiDdbm()), SNR: clampI16(r.GetSnrDdb()), Ms: w.ReceivedMs, Source: maps.SourcePoC,
		})
	}
	return out
}

func clampI16(v int32) int16 { return int16(min(max(v, -1<<15), 1<<15-1)) }

// mapsStore is maps.Store on the oracle's Badger store, under prefixMaps.
type mapsStore struct{ s *Store }

func (m mapsStore) PutMaps(kvs []maps.KV) error {
	wb := m.s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, kv := range kvs {
		var err error
		if kv.Value == nil {
			err = wb.Delete(mapsKey(kv.Key))
		} else {
			err = wb.SetEntry(badger.NewEntry(mapsKey(kv.Key), kv.Value))
		}
		if err != nil {
			return err
		}
	}
	return wb.Flush()
}

func (m mapsStore) ScanMaps(fn func(k, v []byte) error) error {
	return m.s.db.View(func(txn *badger.Txn) error {
		return m.s.scanIndex(txn, []byte{prefixMaps}, nil, nil, false, func(k, v []byte) error {
			return fn(k[1:], v)
		})
	})
}

// mapsRegistry is maps.Registry on the oracle's registry and manifests.
type mapsRegistry struct{ o *Oracle }

// MapHotspots answers from o.mapIndex, which follows the registry's
// changes: at a million hotspots, scanning them all and recomputing every
// density scale is too much to redo for each onboarding or assertion.
func (r mapsRegistry) MapHotspots(since uint64) ([]maps.Hotspot, uint64, bool, error) {
	return r.o.mapIndex.since(r.o.store, r.o.params.Density, since)
}

func (r mapsRegistry) HotspotRewards(address string, n int) ([]maps.Reward, error) {
	k, err := wire.ParsePublicKey(address)
	if err != nil {
		return nil, nil
	}
	rs, err := r.o.rewardsOf(k, n)
	if err != nil {
		return nil, err
	}
	out := make([]maps.Reward, len(rs))
	for i, x := range rs {
		out[i] = maps.Reward{Epoch: x.Epoch, Amount: x.Amount, Withheld: x.Withheld}
	}
	return out, nil
}

// mapIndex is the map's hotspot list, kept up to date from the registry:
// built from the store once, then, for each hotspot a committed registry
// change touched (Store.takeChangedHotspots), its record is read again
// and the HIP-17 scales recomputed of the hotspots whose scale that can
// change (verifier.DensityMap). Each round of changes is a version; log
// says which hotspots each version changed.
type mapIndex struct {
	mu      sync.Mutex
	built   bool
	ids     map[string]uint32 // registry key → id
	hs      []maps.Hotspot    // by id; Address "" for a key that is no public key
	density *verifier.DensityMap
	version uint64
	// log lists the ids each version changed, oldest first; since a
	// version before logFrom, the changes are no longer all in it.
	log     []mapChange
	logFrom uint64
}

// mapChange is one hotspot (id) changed in version.
type mapChange struct {
	version uint64
	id      uint32
}

// mapLogMin is the shortest log kept: at most max(mapLogMin, hotspots)
// changes are remembered.
const mapLogMin = 4096

// since brings the index up to date and returns the hotspots changed after
// version v with the current version, or, for v 0 or a version the log no
// longer covers, every hotspot and full true.
func (x *mapIndex) since(s *Store, levels []verifier.DensityLevel, v uint64) ([]maps.Hotspot, uint64, bool, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	var err error
	if !x.built {
		err = x.build(s, levels)
	} else {
		err = x.update(s)
	}
	if err != nil {
		return nil, 0, false, err
	}
	if v == 0 || v < x.logFrom || v > x.version {
		out := make([]maps.Hotspot, 0, len(x.hs))
		for _, h := range x.hs {
			if h.Address != "" {
				out = append(out, h)
			}
		}
		return out, x.version, true, nil
	}
	i := sort.Search(len(x.log), func(i int) bool { return x.log[i].version > v })
	ids := make([]uint32, 0, len(x.log)-i)
	for _, c := range x.log[i:] {
		ids = append(ids, c.id)
	}
	slices.Sort(ids)
	var out []maps.Hotspot
	for _, id := range slices.Compact(ids) {
		if x.hs[id].Address != "" {
			out = append(out, x.hs[id])
		}
	}
	return out, x.version, false, nil
}

// densityCell is the cell h counts in the density population with: its
// asserted cell if it takes part in proof of coverage, else 0 (none).
func densityCell(h maps.Hotspot) uint64 {
	if h.DataOnly {
		return 0
	}
	return h.Cell
}

// build reads every hotspot record and computes every scale: at start, and
// the version after, so that callers of an earlier index get everything.
func (x *mapIndex) build(s *Store, levels []verifier.DensityLevel) error {
	// Changes committed from here on are read again by the next update.
	s.takeChangedHotspots()
	ids := map[string]uint32{}
	var hs []maps.Hotspot
	err := s.db.View(func(txn *badger.Txn) error {
		return s.scanIndex(txn, []byte{prefixHotspot}, nil, nil, false, func(k, v []byte) error {
			var rec hotspotRecord
			if err := decodeJSON(v, &rec); err != nil {
				return err
			}
			ids[string(k[1:])] = uint32(len(hs))
			hs = append(hs, mapHotspot(k[1:], rec))
			return nil
		})
	})
	if err != nil {
		return err
	}
	cells := make([]uint64, len(hs))
	for i, h := range hs {
		cells[i] = densityCell(h)
	}
	density, scales := verifier.NewDensityMap(levels, cells)
	for i := range hs {
		hs[i].RewardScale = scales[i]
	}
	x.built, x.ids, x.hs, x.density = true, ids, hs, density
	x.version++
	x.log, x.logFrom = nil, x.version
	return nil
}

// mapHotspot is the map's view of the record of key, before its scale.
func mapHotspot(key []byte, rec hotspotRecord) maps.Hotspot {
	h := maps.Hotspot{Cell: rec.Cell, DataOnly: rec.DataOnly}
	if k, err := wire.PublicKeyFromBytes(key); err == nil {
		h.Address = k.String()
	}
	return h
}

// update reads the records of the hotspots changed since the last update
// and recomputes the scales those changes can move.
func (x *mapIndex) update(s *Store) error {
	keys := s.takeChangedHotspots()
	if len(keys) == 0 {
		return nil
	}
	type read struct {
		rec   hotspotRecord
		found bool
	}
	recs := make([]read, len(keys))
	err := s.db.View(func(txn *badger.Txn) error {
		for i, k := range keys {
			b, err := getValue(txn, hotspotKey([]byte(k)))
			if err != nil {
				return err
			}
			if b == nil {
				continue
			}
			recs[i].found = true
			if err := decodeJSON(b, &recs[i].rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// The keys are read again next time.
		s.changed(keys)
		return err
	}
	var changed, rescale []uint32
	for i, k := range keys {
		id, ok := x.ids[k]
		if !ok && !recs[i].found {
			continue
		}
		if !ok {
			id = uint32(len(x.hs))
			x.ids[k] = id
			x.hs = append(x.hs, maps.Hotspot{})
		}
		h := mapHotspot([]byte(k), recs[i].rec) // a record gone: no location
		h.RewardScale = x.hs[id].RewardScale
		rescale = append(rescale, x.density.Set(id, densityCell(h))...)
		if densityCell(h) == 0 {
			h.RewardScale = 0
		}
		if h != x.hs[id] {
			x.hs[id] = h
			changed = append(changed, id)
		}
	}
	for _, id := range rescale {
		if sc := x.density.Scale(id); sc != x.hs[id].RewardScale {
			x.hs[id].RewardScale = sc
			changed = append(changed, id)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	x.version++
	for _, id := range changed {
		x.log = append(x.log, mapChange{x.version, id})
	}
	x.trimLog()
	return nil
}

// trimLog forgets the oldest versions' changes, whole versions at a time,
// once the log holds more than max(mapLogMin, hotspots) changes.
func (x *mapIndex) trimLog() {
	if len(x.log) <= max(mapLogMin, len(x.hs)) {
		return
	}
	cut := len(x.log) / 2
	v := x.log[cut-1].version
	for cut < len(x.log) && x.log[cut].version == v {
		cut++
	}
	x.log = slices.Clone(x.log[cut:])
	x.logFrom = v
}

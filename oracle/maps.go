package oracle

import (
	"fmt"

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

// MapHotspots is cached until the registry changes (o.mapHotspots): the
// map asks every refresh interval, and at a million hotspots the scan and
// the density scales are too much to redo each time for nothing.
func (r mapsRegistry) MapHotspots() ([]maps.Hotspot, error) {
	return r.o.mapHotspots.get(r.o.store, r.build)
}

func (r mapsRegistry) build() ([]maps.Hotspot, error) {
	var recs []hotspotRecord
	err := r.o.store.db.View(func(txn *badger.Txn) error {
		return r.o.store.scanIndex(txn, []byte{prefixHotspot}, nil, nil, false, func(k, v []byte) error {
			var rec hotspotRecord
			if err := decodeJSON(v, &rec); err != nil {
				return err
			}
			recs = append(recs, rec)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	// HIP-17 scales over the interactive, asserted hotspots.
	var cells []uint64
	var idx []int
	for i, rec := range recs {
		if rec.Cell != 0 && !rec.DataOnly {
			cells = append(cells, rec.Cell)
			idx = append(idx, i)
		}
	}
	scales := verifier.DensityScales(r.o.params.Density, cells)
	scale := make(map[int]uint32, len(idx))
	for j, i := range idx {
		scale[i] = scales[j]
	}
	out := make([]maps.Hotspot, 0, len(recs))
	for i, rec := range recs {
		k, err := wire.PublicKeyFromBytes(rec.Key)
		if err != nil {
			continue
		}
		out = append(out, maps.Hotspot{Address: k.String(), Cell: rec.Cell, RewardScale: scale[i], DataOnly: rec.DataOnly})
	}
	return out, nil
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

package verifier

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/wire"
)

// site is a registry entry with what the checks need precomputed.
type site struct {
	Hotspot
	asserted   bool // a valid res-12 cell that maps to a region
	lat, lng   float64
	region     *radio.Region
	regionName string
}

// Registry is the registry snapshot at an epoch's start, indexed for the
// checks. Build it with NewRegistry; it is read-only afterwards and safe
// for concurrent use.
type Registry struct {
	sites []site // sorted by key
	index map[wire.PublicKey]int32
}

// NewRegistry indexes a registry snapshot. Order does not matter; a key
// listed twice is an error. Hotspots whose cell is 0, not a valid
// resolution-12 cell, or outside every region count as not asserted.
func NewRegistry(hs []Hotspot) (*Registry, error) {
	r := &Registry{sites: make([]site, len(hs)), index: make(map[wire.PublicKey]int32, len(hs))}
	for i, h := range hs {
		r.sites[i] = site{Hotspot: h}
	}
	slices.SortFunc(r.sites, func(a, b site) int { return bytes.Compare(a.Key[:], b.Key[:]) })
	for i := range r.sites {
		s := &r.sites[i]
		if i > 0 && r.sites[i-1].Key == s.Key {
			return nil, fmt.Errorf("new registry: hotspot %s listed twice", s.Key)
		}
		r.index[s.Key] = int32(i)
		if s.Cell == 0 || !ValidCell(s.Cell, 12) {
			continue
		}
		lat, lng, err := CellLatLng(s.Cell)
		if err != nil {
			continue
		}
		name, ok := radio.RegionAt(lat, lng)
		if !ok {
			continue
		}
		reg, err := radio.LookupRegion(name)
		if err != nil {
			continue
		}
		s.asserted, s.lat, s.lng, s.region, s.regionName = true, lat, lng, reg, name
	}
	return r, nil
}

// Len returns the number of hotspots.
func (r *Registry) Len() int { return len(r.sites) }

// Lookup returns the hotspot with the given key.
func (r *Registry) Lookup(key wire.PublicKey) (Hotspot, bool) {
	i, ok := r.index[key]
	if !ok {
		return Hotspot{}, false
	}
	return r.sites[i].Hotspot, true
}

func (r *Registry) find(key []byte) int32 {
	k, ok := keyOf(key)
	if !ok {
		return -1
	}
	i, ok := r.index[k]
	if !ok {
		return -1
	}
	return i
}

// RegionOf returns the region of an asserted H3 cell: its centre looked up
// in the region map that ships with the project (radio.RegionAt).
func RegionOf(cell uint64) (string, error) {
	lat, lng, err := CellLatLng(cell)
	if err != nil {
		return "", fmt.Errorf("region of cell: %w", err)
	}
	name, ok := radio.RegionAt(lat, lng)
	if !ok {
		return "", fmt.Errorf("region of cell %s: no region at %.5f,%.5f", CellString(cell), lat, lng)
	}
	return name, nil
}

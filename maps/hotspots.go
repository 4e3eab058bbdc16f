package maps

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// Hotspot is a located hotspot as the registry knows it.
type Hotspot struct {
	Address string // base58 key
	Cell    uint64 // asserted H3 cell (res 12); 0 = not asserted
	// RewardScale is the HIP-17 hex density scale in 10⁻⁴ units (the
	// verifier's DensityScales).
	RewardScale uint32
	DataOnly    bool
}

// Reward is a hotspot's line in one epoch's manifest.
type Reward struct {
	Epoch    uint64 `json:"epoch"`
	Amount   uint64 `json:"amount"`
	Withheld uint64 `json:"withheld,omitempty"`
}

// Registry is what the map reads from the oracle's registry.
type Registry interface {
	// MapHotspots lists the onboarded hotspots with their scales.
	MapHotspots() ([]Hotspot, error)
	// HotspotRewards is the hotspot's rewards in its last n epochs, newest
	// first.
	HotspotRewards(address string, n int) ([]Reward, error)
}

// hotspotInfo is a hotspot as the map shows it.
type hotspotInfo struct {
	Address     string  `json:"address"`
	Name        string  `json:"name"`
	Lat         float64 `json:"lat"`
	Lng         float64 `json:"lng"`
	Hex         string  `json:"hex"` // res-8 cell
	Online      bool    `json:"online"`
	LastSeenMs  int64   `json:"last_seen_ms,omitempty"`
	RewardScale float64 `json:"reward_scale"`
	DataOnly    bool    `json:"data_only,omitempty"`
	cell8       uint64
}

// hexInfo is a res-8 hotspot hex: how many hotspots and their mean HIP-17
// scale.
type hexInfo struct {
	Hotspots    int     `json:"hotspots"`
	RewardScale float64 `json:"reward_scale"`
}

// hotspotTable is the located hotspots, rebuilt from the registry on each
// refresh and read without locks in between.
type hotspotTable struct {
	list    []hotspotInfo // sorted by address
	byLat   []int         // indexes into list, by latitude
	byHex   map[uint64][]int
	byName  map[string][]int
	byAddr  map[string]int
	hexes   map[uint64]hexInfo
	builtAt time.Time
}

// onlineWindow: a hotspot heard or seen beaconing in the last 24 h is
// online.
const onlineWindow = 24 * time.Hour

func buildHotspots(hs []Hotspot, agg *Aggregator, now time.Time) *hotspotTable {
	t := &hotspotTable{byName: map[string][]int{}, byAddr: map[string]int{}, hexes: map[uint64]hexInfo{},
		byHex: map[uint64][]int{}, builtAt: now}
	sum := map[uint64]float64{}
	for _, h := range hs {
		if h.Cell == 0 || !validCell(h.Cell, 8) {
			continue
		}
		lat, lng := cellCenter(h.Cell)
		c8 := parentOf(h.Cell, 8)
		last := agg.lastActive(h.Address)
		t.list = append(t.list, hotspotInfo{
			Address: h.Address, Name: displayName(h.Address), Lat: lat, Lng: lng, Hex: CellString(c8),
			Online: last > 0 && now.Sub(time.UnixMilli(last)) < onlineWindow, LastSeenMs: last,
			RewardScale: float64(h.RewardScale) / 1e4, DataOnly: h.DataOnly, cell8: c8,
		})
		hx := t.hexes[c8]
		hx.Hotspots++
		t.hexes[c8] = hx
		sum[c8] += float64(h.RewardScale) / 1e4
	}
	for c, hx := range t.hexes {
		hx.RewardScale = sum[c] / float64(hx.Hotspots)
		t.hexes[c] = hx
	}
	slices.SortFunc(t.list, func(a, b hotspotInfo) int { return strings.Compare(a.Address, b.Address) })
	for i, h := range t.list {
		t.byAddr[h.Address] = i
		t.byName[h.Name] = append(t.byName[h.Name], i)
		t.byHex[h.cell8] = append(t.byHex[h.cell8], i)
		t.byLat = append(t.byLat, i)
	}
	slices.SortFunc(t.byLat, func(a, b int) int {
		switch la, lb := t.list[a].Lat, t.list[b].Lat; {
		case la < lb:
			return -1
		case la > lb:
			return 1
		}
		return a - b
	})
	return t
}

func (a *Aggregator) lastActive(name string) int64 {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if id, ok := a.ids[name]; ok {
		return a.active[id]
	}
	return 0
}

// inBox returns the hotspots located in b, at most limit.
func (t *hotspotTable) inBox(b BBox, limit int) []hotspotInfo {
	var out []hotspotInfo
	i, _ := slices.BinarySearchFunc(t.byLat, b.S, func(j int, s float64) int {
		if t.list[j].Lat < s {
			return -1
		}
		return 1
	})
	for ; i < len(t.byLat) && len(out) < limit; i++ {
		h := t.list[t.byLat[i]]
		if h.Lat > b.N {
			break
		}
		if h.Lng >= b.W && h.Lng <= b.E {
			out = append(out, h)
		}
	}
	return out
}

// hotspotCache holds the current table.
type hotspotCache struct {
	mu sync.RWMutex
	t  *hotspotTable
}

func (c *hotspotCache) get() *hotspotTable {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.t
}

func (c *hotspotCache) set(t *hotspotTable) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

package oracle

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/hexfield/hexfield/verifier"
	"github.com/hexfield/hexfield/wire"
)

// benchTowns returns n res-12 cells in 500 towns around the world, each
// spread over a few hundred metres to tens of kilometres, dense enough
// for the HIP-17 limits to clip at every level.
func benchTowns(b *testing.B, rng *rand.Rand, n int) []uint64 {
	b.Helper()
	type town struct{ lat, lng, spread float64 }
	towns := make([]town, 500)
	for i := range towns {
		towns[i] = town{rng.Float64()*110 - 50, rng.Float64()*360 - 180, []float64{0.01, 0.05, 0.2}[rng.IntN(3)]}
	}
	out := make([]uint64, n)
	for i := range out {
		t := towns[rng.IntN(len(towns))]
		c, err := verifier.LatLngToCell(max(-85, min(85, t.lat+rng.NormFloat64()*t.spread)), t.lng+rng.NormFloat64()*t.spread, 12)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = c
	}
	return out
}

// BenchmarkMapRegistryChange1M: one location assertion reflected in the
// map (the oracle's hotspot index and the map server's table) with
// 1,000,000 hotspots. ns/op is the incremental path (the changed record
// read again, the scales it can move recomputed, the table's delta
// applied); full-ns/change is what every change cost before: every record
// scanned, every scale computed and the table built again (the restart
// path, run after each of a few changes); full/incremental is the ratio,
// both measured in this run. The registry write itself (one synced Badger
// transaction, the same either way) is not counted.
func BenchmarkMapRegistryChange1M(b *testing.B) {
	const n = 1_000_000
	o, err := New(Config{DataDir: b.TempDir()}, Deps{Key: seedKey("maps-bench")})
	if err != nil {
		b.Fatal(err)
	}
	defer o.store.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	cells := benchTowns(b, rng, n)
	keys := make([][]byte, n)
	owner := sha256.Sum256([]byte("owner"))
	wb := o.store.db.NewWriteBatch()
	for i := range keys {
		k := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
		keys[i] = k[:]
		rec := hotspotRecord{Key: k[:], Owner: owner[:], DataOnly: i%20 == 0, Cell: cells[i], GainDdBi: 30, Nonce: 1}
		if err := wb.Set(hotspotKey(k[:]), encodeJSON(rec)); err != nil {
			b.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		b.Fatal(err)
	}
	// The records were written behind the index's back: build it (and the
	// map's table) from the store, as at a restart.
	rebuild := func() {
		o.mapIndex.mu.Lock()
		o.mapIndex.built = false
		o.mapIndex.mu.Unlock()
		o.maps.Refresh()
	}
	rebuild()
	moves := benchTowns(b, rng, 4096)
	nonce := uint64(1)
	move := func() {
		i := rng.IntN(n)
		nonce++
		err := o.store.registryUpdate(func(txn *badger.Txn) error {
			_, err := o.store.updateHotspotTxn(txn, keys[i], time.Now().UnixMilli(), wire.Kind_KIND_ASSERT_LOCATION, nil, func(prev hotspotRecord, _ bool) (hotspotRecord, error) {
				prev.Cell, prev.Nonce = moves[int(nonce)%len(moves)], nonce
				return prev, nil
			})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	h := o.maps.Handler()
	check := func() {
		k, _ := wire.PublicKeyFromBytes(keys[1])
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/hotspots/"+k.String(), nil))
		if w.Code != http.StatusOK {
			b.Fatalf("hotspot 1 on the map: %d %s", w.Code, w.Body)
		}
	}
	check()

	var full time.Duration
	const fulls = 3
	for range fulls {
		move()
		start := time.Now()
		rebuild()
		full += time.Since(start)
	}
	var inc time.Duration
	changes := 0
	for b.Loop() {
		b.StopTimer()
		move()
		b.StartTimer()
		start := time.Now()
		o.maps.Refresh()
		inc += time.Since(start)
		changes++
	}
	check()
	b.ReportMetric(float64(full.Nanoseconds())/fulls, "full-ns/change")
	b.ReportMetric(float64(full.Nanoseconds())/fulls/(float64(inc.Nanoseconds())/float64(changes)), "full/incremental")
}

package oracle

import (
	"crypto/sha256"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hexfield/hexfield/wire"
)

// BenchmarkHotspotStatus measures GET /v1/hotspots/{address} for a hotspot
// with 269,000 reports in the last 24 hours (the size at which the issue
// measured 88–124 ms per request).
func BenchmarkHotspotStatus(b *testing.B) {
	const reports = 269_000
	cfg := Config{DataDir: b.TempDir()}
	o, err := New(cfg, Deps{Key: testKey(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { o.store.Close() })
	now := time.Now()
	hs, _ := onboardHotspot(b, o, now, testCell(b, 1))
	pub := wire.PublicKeyOf(hs)
	env := packetReport(b, hs, 1)
	m, _ := newMetrics(nil)
	c := newCommitter(o.store, 1, 4096, m)
	kinds := []wire.Kind{wire.Kind_KIND_BEACON_REPORT, wire.Kind_KIND_WITNESS_REPORT, wire.Kind_KIND_PACKET_REPORT}
	start := now.Add(-23 * time.Hour).UnixMilli()
	var batch []*ingestItem
	for i := range reports {
		// The store does not look inside envelopes: one envelope under
		// distinct ids seeds quickly.
		id := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
		batch = append(batch, &ingestItem{id: id, kind: kinds[i%3], receivedMs: start + int64(i)*300, signer: pub[:], envelope: env})
		if len(batch) == 4096 || i == reports-1 {
			if err := c.writeBatch(batch, make([]commitResult, len(batch))); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	h := o.Handler()
	req := httptest.NewRequest("GET", "/v1/hotspots/"+pub.String(), nil)
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

package oracle

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hexfield/hexfield/wire"
)

func TestStoreSchemaVersion(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A store written by a newer build is refused, not misread.
	if err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(metaKey(metaSchema), binary.BigEndian.AppendUint32(nil, SchemaVersion+1))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := OpenStore(dir, 0, nil); !errors.Is(err, ErrSchema) {
		t.Fatalf("open newer schema: %v, want ErrSchema", err)
	}
}

func TestStoreReportsRoundTrip(t *testing.T) {
	s, err := OpenStore(t.TempDir(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hs := testKey(t)
	m, _ := newMetrics(nil)
	c := newCommitter(s, 4, 100, m)
	var items []*ingestItem
	for i := range 5 {
		raw := packetReport(t, hs, uint64(i))
		pub := wire.PublicKeyOf(hs)
		items = append(items, &ingestItem{id: wire.ReportID(raw), kind: wire.Kind_KIND_PACKET_REPORT, receivedMs: int64(1000 + i),
			signer: pub[:], envelope: raw, done: func(wire.Code, int64) {}})
	}
	items = append(items, items[2]) // a duplicate inside one batch
	res := make([]commitResult, len(items))
	if err := c.writeBatch(items, res); err != nil {
		t.Fatal(err)
	}
	if res[5].code != wire.Code_CODE_DUPLICATE || res[5].ms != 1002 || res[0].code != wire.Code_CODE_OK {
		t.Fatalf("results %+v", res)
	}
	var got []int64
	if err := s.ScanReports(wire.Kind_KIND_PACKET_REPORT, 1001, 1004, func(r StoredReport) error {
		got = append(got, r.ReceivedMs)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != 1001 || got[2] != 1003 {
		t.Fatalf("scan [1001,1004) = %v", got)
	}
	pub := wire.PublicKeyOf(hs)
	last, err := s.HotspotReports(pub[:], wire.Kind_KIND_PACKET_REPORT, 2)
	if err != nil || len(last) != 2 || last[0].ReceivedMs != 1004 || last[1].ReceivedMs != 1003 {
		t.Fatalf("newest reports %+v err %v", last, err)
	}
	if n, _ := s.CountHotspotReports(pub[:], wire.Kind_KIND_PACKET_REPORT, 1002); n != 3 {
		t.Fatalf("count since 1002 = %d", n)
	}
}

// TestStoreRetention checks reports expire after the retention period
// while entropy and the registry stay.
func TestStoreRetention(t *testing.T) {
	s, err := OpenStore(t.TempDir(), time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hs := testKey(t)
	raw := packetReport(t, hs, 1)
	pub := wire.PublicKeyOf(hs)
	m, _ := newMetrics(nil)
	it := &ingestItem{id: wire.ReportID(raw), kind: wire.Kind_KIND_PACKET_REPORT, receivedMs: 5, signer: pub[:], envelope: raw}
	if err := newCommitter(s, 1, 1, m).writeBatch([]*ingestItem{it}, make([]commitResult, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.putEntropy(7, []byte("entropy")); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := s.Report(it.id); !found {
		t.Fatal("report missing right after commit")
	}
	time.Sleep(2100 * time.Millisecond) // Badger TTLs have one-second resolution
	if _, found, _ := s.Report(it.id); found {
		t.Fatal("report still present after its retention")
	}
	n := 0
	s.ScanReports(wire.Kind_KIND_PACKET_REPORT, 0, 1<<62, func(StoredReport) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d expired reports scanned", n)
	}
	if _, found, _ := s.EntropyAt(7); !found {
		t.Fatal("entropy expired with the reports")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.sweep(ctx, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
}

// TestCommitBackpressure checks a full queue blocks producers instead of
// growing, and that every report is answered only after its batch is
// written.
func TestCommitBackpressure(t *testing.T) {
	s, err := OpenStore(t.TempDir(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m, _ := newMetrics(nil)
	c := newCommitter(s, 2, 8, m)
	hs := testKey(t)
	pub := wire.PublicKeyOf(hs)
	var mu sync.Mutex
	codes := map[[32]byte]wire.Code{}
	mk := func(i int) *ingestItem {
		raw := packetReport(t, hs, uint64(i))
		it := &ingestItem{id: wire.ReportID(raw), kind: wire.Kind_KIND_PACKET_REPORT, receivedMs: int64(i), signer: pub[:], envelope: raw}
		it.done = func(code wire.Code, _ int64) {
			if _, found, _ := s.Report(it.id); code == wire.Code_CODE_OK && !found {
				t.Errorf("report %d acked before it was stored", i)
			}
			mu.Lock()
			codes[it.id] = code
			mu.Unlock()
		}
		return it
	}
	ctx := context.Background()
	// The committer is not running: two fit, the third blocks.
	if !c.submit(ctx, mk(0)) || !c.submit(ctx, mk(1)) {
		t.Fatal("queue refused while not full")
	}
	blocked, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if c.submit(blocked, mk(2)) {
		t.Fatal("a full queue accepted a third report")
	}
	if testutil.ToFloat64(m.commitQueueFull) != 1 {
		t.Fatal("backpressure not counted")
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	for i := 3; i < 50; i++ {
		if !c.submit(ctx, mk(i)) {
			t.Fatal("submit failed while running")
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(codes)
		mu.Unlock()
		if n == 49 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 49 reports answered", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The same report twice in a row, possibly while the first is still
	// in flight: one is stored, the other answered DUPLICATE with the
	// first's receive time, both only after the store has it.
	for i := 100; i < 120; i++ {
		a, b := mk(i), mk(i)
		var gotB wire.Code
		var msB int64
		ch := make(chan struct{})
		b.done = func(code wire.Code, ms int64) {
			if _, found, _ := s.Report(b.id); !found {
				t.Errorf("duplicate %d answered before the original was stored", i)
			}
			gotB, msB = code, ms
			close(ch)
		}
		c.submit(ctx, a)
		c.submit(ctx, b)
		<-ch
		if gotB != wire.Code_CODE_DUPLICATE || msB != int64(i) {
			t.Fatalf("duplicate %d: %v at %d", i, gotB, msB)
		}
	}
	stop()
	<-done
	for id, code := range codes {
		if code != wire.Code_CODE_OK {
			t.Fatalf("report %x: %v", id[:4], code)
		}
	}
}

// TestRegistrySnapshot checks the registry as of an instant uses only
// versions effective before it.
func TestRegistrySnapshot(t *testing.T) {
	o, err := New(Config{DataDir: t.TempDir()}, Deps{Key: testKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer o.store.Close()
	t0 := time.Now()
	hs, owner := onboardHotspot(t, o, t0, 0)
	ar, _ := NewAssertRequest(owner, wire.PublicKeyOf(hs), testCell(t, 3), 20, 0, 1, t0.Add(time.Minute))
	if _, err := o.assertLocation(ar.Envelope, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   time.Time
		n    int
		cell uint64
	}{
		{t0, 0, 0},
		{t0.Add(time.Second), 1, 0},
		{t0.Add(2 * time.Minute), 1, testCell(t, 3)},
	} {
		snap, err := o.store.registryAt(tc.at.UnixMilli())
		if err != nil {
			t.Fatal(err)
		}
		if len(snap) != tc.n || (tc.n == 1 && snap[0].Cell != tc.cell) {
			t.Fatalf("snapshot at %v: %+v", tc.at.Sub(t0), snap)
		}
	}
}

// indexCount counts signer's reports of kind with received_ms ≥ since by
// walking the hotspot index, as GET /v1/hotspots/{address} used to.
func indexCount(t *testing.T, s *Store, signer []byte, kind wire.Kind, since int64) int {
	t.Helper()
	rs, err := s.HotspotReports(signer, kind, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rs {
		if r.ReceivedMs >= since {
			n++
		}
	}
	return n
}

// counterTotal sums every hour counter of signer and kind, all lanes.
func counterTotal(t *testing.T, s *Store, signer []byte, kind wire.Kind) int {
	t.Helper()
	var n uint64
	err := s.db.View(func(txn *badger.Txn) (err error) {
		n, err = s.sumCounters(txn, signer, kind, resHour, 0, -1)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

// TestHotspotCountersExact writes reports through the pipelined group
// commit (several transactions in flight, no conflict detection) and the
// synchronous path (split into several transactions), with duplicates,
// and checks that the counters equal the index for every window start.
func TestHotspotCountersExact(t *testing.T) {
	s, err := OpenStore(t.TempDir(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m, _ := newMetrics(nil)
	c := newCommitter(s, 4096, 16, m)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	kinds := []wire.Kind{wire.Kind_KIND_BEACON_REPORT, wire.Kind_KIND_WITNESS_REPORT, wire.Kind_KIND_PACKET_REPORT}
	const base = int64(1_800_000_000_000) // an arbitrary UTC time
	var keys []ed25519.PrivateKey
	for range 3 {
		keys = append(keys, testKey(t))
	}
	item := func(h, i int) *ingestItem {
		hs := keys[h]
		raw := packetReport(t, hs, uint64(i))
		pub := wire.PublicKeyOf(hs)
		// Spread over three hours, crossing minute and hour edges.
		ms := base + int64(i)*7919%(3*3600*1000)
		return &ingestItem{id: wire.ReportID(raw), kind: kinds[i%3], receivedMs: ms, signer: pub[:], envelope: raw}
	}
	var wg sync.WaitGroup
	for h := range keys {
		wg.Go(func() {
			var answered sync.WaitGroup
			for i := range 1500 {
				for range 1 + i%7/6 { // every seventh report twice: a duplicate
					it := item(h, i)
					answered.Add(1)
					it.done = func(code wire.Code, _ int64) {
						if code != wire.Code_CODE_OK && code != wire.Code_CODE_DUPLICATE {
							t.Errorf("report answered %v", code)
						}
						answered.Done()
					}
					c.submit(ctx, it)
				}
			}
			answered.Wait()
		})
	}
	wg.Wait()
	// The synchronous path, in one batch too big for one transaction.
	var batch []*ingestItem
	for i := 1500; i < 5500; i++ {
		batch = append(batch, item(0, i))
	}
	if err := c.writeBatch(batch, make([]commitResult, len(batch))); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	for _, hs := range keys {
		pub := wire.PublicKeyOf(hs)
		for _, kind := range kinds {
			if got, want := counterTotal(t, s, pub[:], kind), indexCount(t, s, pub[:], kind, 0); got != want {
				t.Errorf("%v counters %d, index %d", kind, got, want)
			}
			for _, since := range []int64{0, base, base + 1, base + 59_999, base + 60_000, base + 61_234, base + 3_599_999, base + 3_600_000, base + 5_000_321, base + 3*3600*1000} {
				got, err := s.CountHotspotReports(pub[:], kind, since)
				if err != nil {
					t.Fatal(err)
				}
				if want := indexCount(t, s, pub[:], kind, since); got != want {
					t.Errorf("%v since %d: counted %d, index has %d", kind, since, got, want)
				}
			}
		}
	}
}

// TestSchemaMigrationBackfillsCounters opens a schema-1 store (reports,
// no counters) and checks that the migration builds exact counters.
func TestSchemaMigrationBackfillsCounters(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := newMetrics(nil)
	hs := testKey(t)
	pub := wire.PublicKeyOf(hs)
	const base = int64(1_800_000_000_000)
	var batch []*ingestItem
	for i := range 3000 {
		raw := packetReport(t, hs, uint64(i))
		batch = append(batch, &ingestItem{id: wire.ReportID(raw), kind: wire.Kind_KIND_PACKET_REPORT,
			receivedMs: base + int64(i)*3001, signer: pub[:], envelope: raw})
	}
	if err := newCommitter(s, 1, 1, m).writeBatch(batch, make([]commitResult, len(batch))); err != nil {
		t.Fatal(err)
	}
	// Make it a schema-1 store: no counters.
	if err := s.db.DropPrefix([]byte{prefixCounter}); err != nil {
		t.Fatal(err)
	}
	if err := s.setSchema(1); err != nil {
		t.Fatal(err)
	}
	if n := counterTotal(t, s, pub[:], wire.Kind_KIND_PACKET_REPORT); n != 0 {
		t.Fatalf("%d counted after dropping the counters", n)
	}
	s.Close()
	if s, err = OpenStore(dir, 0, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, since := range []int64{0, base + 1_234_567, base + 7_200_000} {
		got, err := s.CountHotspotReports(pub[:], wire.Kind_KIND_PACKET_REPORT, since)
		if err != nil {
			t.Fatal(err)
		}
		if want := indexCount(t, s, pub[:], wire.Kind_KIND_PACKET_REPORT, since); got != want || want == 0 {
			t.Errorf("since %d: counted %d after migration, index has %d", since, got, want)
		}
	}
}

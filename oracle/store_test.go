package oracle

import (
	"context"
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
	ar, _ := NewAssertRequest(owner, wire.PublicKeyOf(hs), testCell(t, 3), 20, 0, 1)
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

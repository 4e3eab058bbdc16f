package hotspot

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hexfield/hexfield/wire"
)

func testOracleKeys(n int) []wire.PublicKey {
	keys := make([]wire.PublicKey, n)
	for i := range keys {
		keys[i][0] = byte(i + 1)
		keys[i][31] = 0x42
	}
	return keys
}

func openTestOutbox(t testing.TB, dir string, cfg OutboxConfig) (*Outbox, *outboxMetrics) {
	t.Helper()
	cfg.Dir = dir
	m := newOutboxMetrics(prometheus.NewRegistry())
	o, err := OpenOutbox(cfg, nil, m)
	if err != nil {
		t.Fatalf("open outbox: %v", err)
	}
	return o, m
}

func report(i int) []byte {
	return []byte(fmt.Sprintf("report-%06d-%s", i, strings.Repeat("x", i%50)))
}

func TestOutboxAppendSendAck(t *testing.T) {
	dir := t.TempDir()
	keys := testOracleKeys(2)
	o, m := openTestOutbox(t, dir, OutboxConfig{Oracles: keys})
	for i := range 10 {
		if _, err := o.Append(report(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Not durable yet: nothing handed out.
	if items, _ := o.Next(0, 0, 100); len(items) != 0 {
		t.Fatalf("before sync: %d items handed out", len(items))
	}
	if err := o.Sync(); err != nil {
		t.Fatal(err)
	}
	items, err := o.Next(0, 0, 100)
	if err != nil || len(items) != 10 {
		t.Fatalf("Next = %d items, %v", len(items), err)
	}
	for i, it := range items {
		if !bytes.Equal(it.Report, report(i)) || it.Seq != uint64(i+1) {
			t.Fatalf("item %d = seq %d %q", i, it.Seq, it.Report)
		}
	}
	// Paging with after.
	if page, _ := o.Next(0, 4, 3); len(page) != 3 || page[0].Seq != 5 {
		t.Fatalf("page after 4 = %+v", page)
	}
	for _, it := range items {
		if o.Ack(it.Seq, 0) {
			t.Fatalf("seq %d done after one of two oracles", it.Seq)
		}
	}
	if left, _ := o.Next(0, 0, 100); len(left) != 0 {
		t.Fatalf("oracle 0 still has %d items", len(left))
	}
	if left, _ := o.Next(1, 0, 100); len(left) != 10 {
		t.Fatalf("oracle 1 has %d items, want 10", len(left))
	}
	for _, it := range items[:7] {
		if !o.Ack(it.Seq, 1) {
			t.Fatalf("seq %d not done after both oracles", it.Seq)
		}
	}
	if st := o.Stats(); st.Reports != 3 {
		t.Fatalf("stats %+v, want 3 reports", st)
	}
	if got := testutil.ToFloat64(m.completed); got != 7 {
		t.Fatalf("completed = %v", got)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart: the 3 reports oracle 1 has not acked survive, for oracle 1 only.
	o2, _ := openTestOutbox(t, dir, OutboxConfig{Oracles: keys})
	defer o2.Close()
	if left, _ := o2.Next(0, 0, 100); len(left) != 0 {
		t.Fatalf("after restart oracle 0 has %d items", len(left))
	}
	left, _ := o2.Next(1, 0, 100)
	if len(left) != 3 || left[0].Seq != 8 || !bytes.Equal(left[2].Report, report(9)) {
		t.Fatalf("after restart oracle 1 has %+v", left)
	}
	// New appends continue the sequence.
	seq, err := o2.Append([]byte("after restart"))
	if err != nil || seq != 11 {
		t.Fatalf("append after restart: seq %d, %v", seq, err)
	}
}

func TestOutboxSegmentsRemovedWhenAcked(t *testing.T) {
	dir := t.TempDir()
	keys := testOracleKeys(1)
	o, _ := openTestOutbox(t, dir, OutboxConfig{Oracles: keys, MaxBytes: 1 << 20, SegmentBytes: 4 << 10})
	defer o.Close()
	for i := range 500 {
		if _, err := o.Append(report(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Sync(); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	if len(segs) < 5 {
		t.Fatalf("%d segments for 500 reports of 4 KiB segments", len(segs))
	}
	items, _ := o.Next(0, 0, 1000)
	for _, it := range items {
		o.Ack(it.Seq, 0)
	}
	segs, _ = filepath.Glob(filepath.Join(dir, "seg-*"))
	if len(segs) != 2 { // the current segment's .log and .ack
		t.Fatalf("after acking everything %d files remain: %v", len(segs), segs)
	}
	if st := o.Stats(); st.Reports != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestOutboxBoundDropsOldest(t *testing.T) {
	dir := t.TempDir()
	keys := testOracleKeys(1)
	const max = 64 << 10
	o, m := openTestOutbox(t, dir, OutboxConfig{Oracles: keys, MaxBytes: max, SegmentBytes: 4 << 10})
	defer o.Close()
	payload := bytes.Repeat([]byte{0xab}, 200)
	const n = 2000 // ~450 KB, seven times the bound
	for range n {
		if _, err := o.Append(payload); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Sync(); err != nil {
		t.Fatal(err)
	}
	dropped := int(testutil.ToFloat64(m.dropped))
	st := o.Stats()
	if dropped == 0 || dropped+st.Reports != n {
		t.Fatalf("dropped %d + kept %d != %d appended", dropped, st.Reports, n)
	}
	var onDisk int64
	files, _ := filepath.Glob(filepath.Join(dir, "seg-*"))
	for _, f := range files {
		fi, _ := os.Stat(f)
		onDisk += fi.Size()
	}
	if onDisk > max || st.DiskBytes != onDisk {
		t.Fatalf("on disk %d bytes (stats %d), bound %d", onDisk, st.DiskBytes, max)
	}
	items, _ := o.Next(0, 0, n)
	if len(items) != st.Reports || items[len(items)-1].Seq != n {
		t.Fatalf("kept %d items ending at %d; want the newest %d", len(items), items[len(items)-1].Seq, st.Reports)
	}
	if items[0].Seq != uint64(dropped+1) {
		t.Fatalf("oldest kept seq %d, want %d (oldest dropped first)", items[0].Seq, dropped+1)
	}
	// Drops survive a restart.
	o.Close()
	o2, _ := openTestOutbox(t, dir, OutboxConfig{Oracles: keys, MaxBytes: max, SegmentBytes: 4 << 10})
	defer o2.Close()
	if st2 := o2.Stats(); st2.Reports != st.Reports {
		t.Fatalf("after restart %d reports, want %d", st2.Reports, st.Reports)
	}
}

func TestOutboxTornTail(t *testing.T) {
	dir := t.TempDir()
	keys := testOracleKeys(1)
	o, _ := openTestOutbox(t, dir, OutboxConfig{Oracles: keys})
	for i := range 5 {
		o.Append(report(i))
	}
	o.Sync()
	o.Ack(1, 0)
	o.Close()
	// A power cut mid-write leaves half a record behind, in both files.
	for _, ext := range []string{"log", "ack"} {
		f, err := os.OpenFile(segName(dir, 1, ext), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte{60, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7})
		f.Close()
	}
	o2, _ := openTestOutbox(t, dir, OutboxConfig{Oracles: keys})
	items, _ := o2.Next(0, 0, 100)
	if len(items) != 4 || items[0].Seq != 2 {
		t.Fatalf("after torn tail: %+v", items)
	}
	if _, err := o2.Append([]byte("next")); err != nil {
		t.Fatal(err)
	}
	o2.Close()
	o3, _ := openTestOutbox(t, dir, OutboxConfig{Oracles: keys})
	defer o3.Close()
	items, _ = o3.Next(0, 0, 100)
	if len(items) != 5 || string(items[4].Report) != "next" || items[4].Seq != 6 {
		t.Fatalf("append after truncation: %+v", items)
	}
}

func TestOutboxOracleSetChange(t *testing.T) {
	dir := t.TempDir()
	keys := testOracleKeys(2)
	o, _ := openTestOutbox(t, dir, OutboxConfig{Oracles: keys})
	o.Append(report(1))
	o.Append(report(2))
	o.Sync()
	o.Ack(1, 0)
	o.Close()
	// Oracle 1 is removed from the config: report 1 is complete.
	o2, _ := openTestOutbox(t, dir, OutboxConfig{Oracles: keys[:1]})
	defer o2.Close()
	items, _ := o2.Next(0, 0, 10)
	if st := o2.Stats(); st.Reports != 1 || len(items) != 1 || items[0].Seq != 2 {
		t.Fatalf("after dropping an oracle: %+v, %+v", st, items)
	}
}

func TestOutboxRunSyncsAndCloses(t *testing.T) {
	dir := t.TempDir()
	o, m := openTestOutbox(t, dir, OutboxConfig{Oracles: testOracleKeys(1), SyncInterval: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	ch := o.Changed()
	o.Append([]byte("a"))
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("append never became durable")
	}
	if items, _ := o.Next(0, 0, 10); len(items) != 1 {
		t.Fatalf("items %+v", items)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := o.Append([]byte("b")); err == nil {
		t.Fatal("append after close succeeded")
	}
	if testutil.ToFloat64(m.syncs) < 1 {
		t.Fatal("no sync counted")
	}
}

func BenchmarkOutboxAppendAck(b *testing.B) {
	dir := b.TempDir()
	o, _ := openTestOutbox(b, dir, OutboxConfig{Oracles: testOracleKeys(1)})
	defer o.Close()
	payload := bytes.Repeat([]byte{1}, 250)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		seq, err := o.Append(payload)
		if err != nil {
			b.Fatal(err)
		}
		if i%64 == 63 {
			o.Sync()
		}
		o.Ack(seq, 0)
	}
}

// FuzzOutboxOpen feeds arbitrary segment and ack files to the loader: it
// must never panic, and what it loads must load identically again.
func FuzzOutboxOpen(f *testing.F) {
	dir := f.TempDir()
	keys := testOracleKeys(2)
	o, err := OpenOutbox(OutboxConfig{Dir: dir, Oracles: keys}, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	for i := range 4 {
		o.Append(report(i))
	}
	o.Sync()
	o.Ack(1, 0)
	o.Ack(2, 1)
	o.Close()
	seg, _ := os.ReadFile(segName(dir, 1, "log"))
	ack, _ := os.ReadFile(segName(dir, 1, "ack"))
	f.Add(seg, ack)
	f.Add(seg[:len(seg)-3], ack[:len(ack)-5])
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, seg, ack []byte) {
		dir := t.TempDir()
		os.WriteFile(segName(dir, 1, "log"), seg, 0o600)
		os.WriteFile(segName(dir, 1, "ack"), ack, 0o600)
		o, err := OpenOutbox(OutboxConfig{Dir: dir, Oracles: keys}, nil, nil)
		if err != nil {
			return
		}
		a, _ := o.Next(0, 0, 1<<20)
		b, _ := o.Next(1, 0, 1<<20)
		o.Close()
		o2, err := OpenOutbox(OutboxConfig{Dir: dir, Oracles: keys}, nil, nil)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer o2.Close()
		a2, _ := o2.Next(0, 0, 1<<20)
		b2, _ := o2.Next(1, 0, 1<<20)
		if len(a) != len(a2) || len(b) != len(b2) {
			t.Fatalf("reload differs: %d/%d vs %d/%d", len(a), len(b), len(a2), len(b2))
		}
	})
}

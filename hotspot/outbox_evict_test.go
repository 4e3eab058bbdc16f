package hotspot

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hexfield/hexfield/wire"
)

// signedReports makes distinct signed reports of each kind, as the hotspot
// writes them, and remembers which is which.
type signedReports struct {
	t    *testing.T
	key  ed25519.PrivateKey
	pub  wire.PublicKey
	kind map[[32]byte]string
	idx  map[[32]byte]int
	n    int
}

func newSignedReports(t *testing.T) *signedReports {
	key, _ := wire.GenerateKey()
	return &signedReports{t: t, key: key, pub: wire.PublicKeyOf(key), kind: map[[32]byte]string{}, idx: map[[32]byte]int{}}
}

func (r *signedReports) make(kind string) []byte {
	r.t.Helper()
	r.n++
	var raw []byte
	var err error
	payload := bytes.Repeat([]byte{byte(r.n)}, 51)
	switch kind {
	case "witness":
		raw, err = wire.Seal(r.key, wire.Kind_KIND_WITNESS_REPORT, &wire.WitnessReport{PubKey: r.pub.Bytes(), Payload: payload, Tmst: uint32(r.n), Datarate: "SF12BW125"})
	case "beacon":
		raw, err = wire.Seal(r.key, wire.Kind_KIND_BEACON_REPORT, &wire.BeaconReport{PubKey: r.pub.Bytes(), Payload: payload, TimestampMs: uint64(r.n), Datarate: "SF12BW125"})
	case "packet":
		raw, err = wire.Seal(r.key, wire.Kind_KIND_PACKET_REPORT, &wire.PacketReport{Tmst: uint32(r.n), Datarate: "SF7BW125"})
	}
	if err != nil {
		r.t.Fatal(err)
	}
	id := wire.ReportID(raw)
	r.kind[id], r.idx[id] = kind, r.n
	return raw
}

// kept returns, by kind, the indexes (creation order) of the reports the
// outbox still holds for oracle 0.
func (r *signedReports) kept(o *Outbox) map[string][]int {
	r.t.Helper()
	items, err := o.Next(0, 0, 1<<30)
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[string][]int{}
	for _, it := range items {
		id := wire.ReportID(it.Report)
		out[r.kind[id]] = append(out[r.kind[id]], r.idx[id])
	}
	return out
}

func TestReportClass(t *testing.T) {
	r := newSignedReports(t)
	for kind, want := range map[string]reportClass{"witness": classWitness, "beacon": classBeacon, "packet": classPacket} {
		if got := classOf(r.make(kind)); got != want {
			t.Errorf("%s report: class %d, want %d", kind, got, want)
		}
	}
	for _, b := range [][]byte{nil, {0x08}, []byte("report-000001"), {0x08, 0x7f}} {
		if got := classOf(b); got != classWitness {
			t.Errorf("%q: class %d, want the lowest", b, got)
		}
	}
}

// TestOutboxEvictionOrder floods a bounded outbox with witness reports
// while it holds the hotspot's own beacon reports and some packet reports:
// only witness reports are dropped, oldest first; every beacon and packet
// report survives, also across a restart, and the bound holds on disk.
func TestOutboxEvictionOrder(t *testing.T) {
	dir := t.TempDir()
	keys := testOracleKeys(1)
	const max = 64 << 10
	cfg := OutboxConfig{Oracles: keys, MaxBytes: max, SegmentBytes: 4 << 10}
	o, m := openTestOutbox(t, dir, cfg)
	r := newSignedReports(t)
	var beacons, packets, witnesses []int
	for i := range 6000 {
		kind := "witness"
		switch {
		case i%500 == 0:
			kind = "beacon"
		case i%300 == 7:
			kind = "packet"
		}
		raw := r.make(kind)
		switch kind {
		case "beacon":
			beacons = append(beacons, r.n)
		case "packet":
			packets = append(packets, r.n)
		default:
			witnesses = append(witnesses, r.n)
		}
		if _, err := o.Append(raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Sync(); err != nil {
		t.Fatal(err)
	}
	check := func(o *Outbox, when string) {
		t.Helper()
		k := r.kept(o)
		if len(k["beacon"]) != len(beacons) || len(k["packet"]) != len(packets) {
			t.Fatalf("%s: kept %d of %d beacon and %d of %d packet reports", when, len(k["beacon"]), len(beacons), len(k["packet"]), len(packets))
		}
		kw := k["witness"]
		if len(kw) == 0 || len(kw) == len(witnesses) {
			t.Fatalf("%s: kept %d of %d witnesses; the bound should have dropped some", when, len(kw), len(witnesses))
		}
		// The witnesses kept are the newest: a suffix of those appended.
		want := witnesses[len(witnesses)-len(kw):]
		seen := map[int]bool{}
		for _, i := range kw {
			seen[i] = true
		}
		for _, i := range want {
			if !seen[i] {
				t.Fatalf("%s: witness %d dropped while older ones were kept", when, i)
			}
		}
	}
	check(o, "after the flood")
	if got := int(testutil.ToFloat64(m.dropped)); got+len(r.kept(o)["witness"]) != len(witnesses) {
		t.Fatalf("dropped %d, kept %d, of %d witnesses", got, len(r.kept(o)["witness"]), len(witnesses))
	}
	if testutil.ToFloat64(m.carried) == 0 {
		t.Fatal("nothing carried forward")
	}
	var onDisk int64
	files, _ := filepath.Glob(filepath.Join(dir, "seg-*"))
	for _, f := range files {
		fi, _ := os.Stat(f)
		onDisk += fi.Size()
	}
	if onDisk > max {
		t.Fatalf("%d bytes on disk, bound %d", onDisk, max)
	}
	o.Close()
	o2, _ := openTestOutbox(t, dir, cfg)
	defer o2.Close()
	check(o2, "after a restart")
}

// TestOutboxEvictionReserve: when beacon reports alone fill more than half
// the bound, the oldest segment's beacon reports go too, but only after
// every witness report written before them.
func TestOutboxEvictionReserve(t *testing.T) {
	const max = 64 << 10
	o, m := openTestOutbox(t, t.TempDir(), OutboxConfig{Oracles: testOracleKeys(1), MaxBytes: max, SegmentBytes: 4 << 10})
	defer o.Close()
	r := newSignedReports(t)
	var beacons []int
	for i := range 3000 {
		kind := "witness"
		if i%2 == 0 {
			kind = "beacon"
		}
		raw := r.make(kind)
		if kind == "beacon" {
			beacons = append(beacons, r.n)
		}
		if _, err := o.Append(raw); err != nil {
			t.Fatal(err)
		}
	}
	o.Sync()
	k := r.kept(o)
	if len(k["beacon"]) == len(beacons) || len(k["beacon"]) == 0 {
		t.Fatalf("kept %d of %d beacons: want some dropped, some kept", len(k["beacon"]), len(beacons))
	}
	keptB := map[int]bool{}
	for _, b := range k["beacon"] {
		keptB[b] = true
	}
	newestDropped := 0
	for _, b := range beacons {
		if !keptB[b] {
			newestDropped = b
		}
	}
	// When a beacon report was dropped, every witness report written
	// before that moment had been dropped first.
	for _, w := range k["witness"] {
		if w < newestDropped {
			t.Fatalf("witness %d kept though beacon report %d, newer, was dropped", w, newestDropped)
		}
	}
	if st := o.Stats(); st.DiskBytes > max+8<<10 || testutil.ToFloat64(m.dropped) == 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestOutboxHeld: a held report is durable at once (in the file and
// fsynced), is not sent until released, holds back what comes after it,
// and a cancelled one never reaches a sender, not even after a restart;
// one held when the process dies is sent after the restart.
func TestOutboxHeld(t *testing.T) {
	dir := t.TempDir()
	keys := testOracleKeys(1)
	cfg := OutboxConfig{Oracles: keys}
	o, _ := openTestOutbox(t, dir, cfg)
	r := newSignedReports(t)
	w1 := r.make("witness")
	o.Append(w1)
	b1 := r.make("beacon")
	h1, err := o.AppendHeld(b1)
	if err != nil {
		t.Fatal(err)
	}
	if o.durableSeq < h1.e.seq {
		t.Fatalf("held report seq %d not durable (durable up to %d)", h1.e.seq, o.durableSeq)
	}
	w2 := r.make("witness")
	o.Append(w2)
	o.Sync()
	changed := o.Changed()
	if items, _ := o.Next(0, 0, 10); len(items) != 1 || !bytes.Equal(items[0].Report, w1) {
		t.Fatalf("while held: %d items", len(items))
	}
	o.Release(h1)
	select {
	case <-changed:
	default:
		t.Fatal("release did not wake the senders")
	}
	if items, _ := o.Next(0, 0, 10); len(items) != 3 || !bytes.Equal(items[1].Report, b1) {
		t.Fatalf("after release: %d items", len(items))
	}

	b2 := r.make("beacon")
	h2, _ := o.AppendHeld(b2)
	if err := o.Cancel(h2); err != nil {
		t.Fatal(err)
	}
	b3 := r.make("beacon")
	if _, err := o.AppendHeld(b3); err != nil { // never released: the process "dies"
		t.Fatal(err)
	}
	if items, _ := o.Next(0, 0, 10); len(items) != 3 {
		t.Fatalf("cancelled or held report handed out: %d items", len(items))
	}
	// Power loss: only what is on disk counts. Copy the files as they are.
	crash := copyOutboxDir(t, dir)
	o.Close()
	o2, _ := openTestOutbox(t, crash, cfg)
	defer o2.Close()
	items, _ := o2.Next(0, 0, 10)
	var got [][]byte
	for _, it := range items {
		got = append(got, it.Report)
	}
	if len(got) != 4 || !bytes.Equal(got[1], b1) || !bytes.Equal(got[3], b3) {
		t.Fatalf("after restart %d reports (want w1, b1, w2, b3; b2 cancelled)", len(got))
	}
}

package hotspot

import (
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/radio/semtech"
	"github.com/hexfield/hexfield/wire"
)

// lineCounter is a slog.Handler counting records by message.
type lineCounter struct {
	mu   sync.Mutex
	msgs map[string]int
}

func (c *lineCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *lineCounter) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *lineCounter) WithGroup(string) slog.Handler            { return c }
func (c *lineCounter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	c.msgs[r.Message]++
	c.mu.Unlock()
	return nil
}

func (c *lineCounter) snapshot() (map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out, n := map[string]int{}, 0
	for k, v := range c.msgs {
		out[k] = v
		n += v
	}
	return out, n
}

// stepClock is a clock tests move by hand.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// floodResult is what a flood of fake beacon frames did.
type floodResult struct {
	signed       float64 // witness reports signed
	ownKept      int     // own beacon reports still in the outbox
	ownBefore    int
	witnessKept  int
	dropped      float64
	lines        int
	witnessLines int
	reported     float64 // witnesses_total{result=reported}
	capped       float64 // witnesses_total{result=capped}
}

// fakeBeaconFlood runs a hotspot with no reachable oracle (so its bounded
// outbox fills, as when the uplink is down), puts ownBeacons of its own
// signed beacon reports in its outbox, then has its packet forwarder
// deliver n fake 52-byte beacon frames, each with a new payload, over real
// loopback UDP. perInterval frames arrive in each beacon interval (the
// test's clock moves on an interval after each group).
func fakeBeaconFlood(t *testing.T, n, perInterval, ownBeacons int) floodResult {
	t.Helper()
	const interval = time.Hour
	clock := &stepClock{now: time.Date(2026, 12, 1, 0, 0, 1, 0, time.UTC)}
	lines := &lineCounter{msgs: map[string]int{}}
	key, _ := wire.GenerateKey()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	qc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h, err := New(Config{Region: "EU868", BeaconInterval: interval, DataDir: t.TempDir(), OutboxMaxBytes: 1 << 20,
		OutboxSyncInterval: 5 * time.Millisecond, ShutdownTimeout: time.Millisecond},
		Deps{Key: key, Semtech: udp, QUIC: qc, Logger: slog.New(lines), Registerer: reg, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	pub := wire.PublicKeyOf(key)
	for i := range ownBeacons {
		raw, err := wire.Seal(key, wire.Kind_KIND_BEACON_REPORT, &wire.BeaconReport{PubKey: pub.Bytes(),
			Payload: make([]byte, 51), TimestampMs: uint64(i + 1), Datarate: "SF12BW125", TxPowerDbm: 14})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.queue(raw, "beacon"); err != nil {
			t.Fatal(err)
		}
	}
	fwd := startForwarder(t, udp.LocalAddr(), semtech.EUI{0xb8, 0x27, 0xeb, 0xff, 0xfe, 0x12, 0x34, 0x56}, &fakeRadio{})

	const perDatagram = 100
	sent := 0
	for sent < n {
		batch := min(perDatagram, n-sent, perInterval-sent%perInterval)
		rx := make([]semtech.RXPK, batch)
		for i := range rx {
			var p [radio.BeaconPayloadSize]byte
			binary.LittleEndian.PutUint64(p[:], uint64(sent+i+1))
			rx[i] = beaconRXPK(p)
		}
		if err := fwd.Push(ctx, rx, nil); err != nil {
			t.Fatal(err)
		}
		sent += batch
		// Paced, so that the server's queue never overflows: the test
		// measures the hotspot, not UDP buffers.
		// Every frame's witness path finished (signed and queued, or
		// capped) before the clock moves or the outbox is read.
		waitFor(t, "frames handled", 30*time.Second, func() bool {
			return counter(t, reg, "hexfield_hotspot_witnesses_total", "result", "reported")+
				counter(t, reg, "hexfield_hotspot_witnesses_total", "result", "capped") == float64(sent)
		})
		if sent%perInterval == 0 {
			clock.Add(interval)
		}
	}
	if err := h.Outbox().Sync(); err != nil {
		t.Fatal(err)
	}
	items, err := h.Outbox().Next(0, 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	var r floodResult
	r.ownBefore = ownBeacons
	for _, it := range items {
		env, err := wire.Open(it.Report, wire.Kind_KIND_UNSPECIFIED)
		if err != nil {
			t.Fatal(err)
		}
		switch env.Kind {
		case wire.Kind_KIND_BEACON_REPORT:
			r.ownKept++
		case wire.Kind_KIND_WITNESS_REPORT:
			r.witnessKept++
		}
	}
	r.signed = counter(t, reg, "hexfield_hotspot_reports_total", "kind", "witness")
	r.dropped = counter(t, reg, "hexfield_hotspot_outbox_dropped_total")
	r.reported = counter(t, reg, "hexfield_hotspot_witnesses_total", "result", "reported")
	r.capped = counter(t, reg, "hexfield_hotspot_witnesses_total", "result", "capped")
	msgs, total := lines.snapshot()
	r.lines, r.witnessLines = total, msgs["witnessed beacon"]
	if rej := counter(t, reg, "hexfield_semtech_rxpk_dropped_total", "reason", "queue_full"); rej != 0 {
		t.Fatalf("%v frames lost in the server queue", rej)
	}
	t.Logf("%d fake beacon frames, %d per interval: %v witness reports signed, %d kept; own beacon reports kept %d of %d; %v reports dropped; %d log lines (%d \"witnessed beacon\")",
		n, perInterval, r.signed, r.witnessKept, r.ownKept, r.ownBefore, r.dropped, r.lines, r.witnessLines)
	return r
}

// TestFakeBeaconFloodOneInterval is the flood of issue 9: 12,000 fake
// beacon frames in one beacon interval. At most the cap is signed, the
// hotspot's own beacon reports all survive, and the log stays short while
// the metrics count every frame.
func TestFakeBeaconFloodOneInterval(t *testing.T) {
	const n, own = 12000, 20
	r := fakeBeaconFlood(t, n, n, own)
	if r.signed != DefaultMaxWitnessesPerInterval {
		t.Errorf("%v witness reports signed, want the cap %d", r.signed, DefaultMaxWitnessesPerInterval)
	}
	if r.ownKept != own {
		t.Errorf("own beacon reports kept: %d of %d", r.ownKept, own)
	}
	if r.reported != DefaultMaxWitnessesPerInterval || r.capped != n-DefaultMaxWitnessesPerInterval {
		t.Errorf("witnesses_total: reported %v, capped %v; want %d and %d", r.reported, r.capped,
			DefaultMaxWitnessesPerInterval, n-DefaultMaxWitnessesPerInterval)
	}
	if r.lines > 30 || r.witnessLines > 10 {
		t.Errorf("%d log lines (%d per witness) for %d frames", r.lines, r.witnessLines, n)
	}
}

// TestFakeBeaconFloodManyIntervals spreads the 12,000 frames over intervals
// under the cap, so that every one is signed and the 1 MiB outbox
// overflows: witness reports are evicted, never the hotspot's own beacon
// reports.
func TestFakeBeaconFloodManyIntervals(t *testing.T) {
	const n, own = 12000, 20
	r := fakeBeaconFlood(t, n, 200, own)
	if r.signed != n {
		t.Errorf("%v witness reports signed, want all %d (under the cap in each interval)", r.signed, n)
	}
	if r.dropped == 0 {
		t.Errorf("nothing dropped: the outbox did not overflow")
	}
	if r.ownKept != own {
		t.Errorf("own beacon reports kept: %d of %d", r.ownKept, own)
	}
}

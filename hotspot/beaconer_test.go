package hotspot

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/radio/semtech"
	"github.com/hexfield/hexfield/wire"
)

// recordingTx accepts every transmission and records when it happened.
type recordingTx struct {
	mu    sync.Mutex
	times []time.Time
}

func (r *recordingTx) transmit(ctx context.Context, txpk semtech.TXPK) (semtech.EUI, semtech.TxResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.times = append(r.times, time.Now())
	return semtech.EUI{1}, semtech.TxResult{Acked: true, PowerDBm: txpk.Powe}, nil
}

// TestBeaconerSixHourWindows runs the beaconer for three virtual days with
// the default 6 h interval: exactly one beacon in every bucket (00–06, …,
// 18–24 UTC), at instants that differ from bucket to bucket.
// newBeaconerHotspot is a Hotspot with only what the beaconer needs: an
// EU868 region, an outbox in a temp dir, entropy signed on the spot and the
// given transmitter. It runs on the clock of the caller (virtual time
// inside a synctest bubble).
func newBeaconerHotspot(t *testing.T, cfg Config, tx transmitter, reg *prometheus.Registry) (*Hotspot, *Outbox) {
	t.Helper()
	oracleKey, _ := wire.GenerateKey()
	key, _ := wire.GenerateKey()
	eu, _ := radio.LookupRegion("EU868")
	m := newMetrics(reg)
	ob, err := OpenOutbox(OutboxConfig{Dir: t.TempDir()}, nil, m.outbox)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	h := &Hotspot{
		cfg: cfg, key: key, pub: wire.PublicKeyOf(key), log: testLogger(t), m: m, now: time.Now,
		outbox: ob, tx: tx, wake: make(chan struct{}, 1), region: eu, gain: 12,
	}
	h.entropy = func(ctx context.Context) ([]byte, *wire.Entropy, error) {
		e := &wire.Entropy{Version: 1, Ts: time.Now().Unix(), Data: make([]byte, 32)}
		raw, err := wire.Seal(oracleKey, wire.Kind_KIND_ENTROPY, e)
		return raw, e, err
	}
	return h, ob
}

// tooLateFirstTx answers the first transmission of every beacon window
// TOO_LATE and the retries OK, recording when each was made.
type tooLateFirstTx struct {
	interval time.Duration
	mu       sync.Mutex
	times    []time.Time
}

func (r *tooLateFirstTx) transmit(ctx context.Context, txpk semtech.TXPK) (semtech.EUI, semtech.TxResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	first := len(r.times) == 0 || !windowStart(r.times[len(r.times)-1], r.interval).Equal(windowStart(now, r.interval))
	r.times = append(r.times, now)
	if first {
		return semtech.EUI{1}, semtech.TxResult{Acked: true, Status: semtech.TxStatusError(semtech.TxTooLate)}, nil
	}
	return semtech.EUI{1}, semtech.TxResult{Acked: true, PowerDBm: txpk.Powe}, nil
}

// TestBeaconerRetriesTooLate answers the first beacon of each 10 s window
// TOO_LATE: in every one of 200 virtual windows the beaconer retries within
// the window, and exactly one beacon report comes of it, from the second
// attempt. The beacon's instant in its window is random, so the windows
// cover early and late first attempts alike.
func TestBeaconerRetriesTooLate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval, windows = 10 * time.Second, 200
		tx := &tooLateFirstTx{interval: interval}
		reg := prometheus.NewRegistry()
		h, ob := newBeaconerHotspot(t, Config{BeaconInterval: interval}, tx, reg)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		start := time.Now() // 2000-01-01 00:00 UTC: a window start
		go func() { done <- h.runBeaconer(ctx) }()
		time.Sleep(windows * interval)
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		perWindow := map[time.Time]int{}
		for _, at := range tx.times {
			if at.Before(start) || !at.Before(start.Add(windows*interval)) {
				t.Fatalf("transmission at %v outside the run", at)
			}
			perWindow[windowStart(at, interval)]++
		}
		if len(perWindow) != windows {
			t.Fatalf("transmissions in %d of %d windows", len(perWindow), windows)
		}
		for w, n := range perWindow {
			if n != 2 {
				t.Fatalf("window %v: %d transmissions, want 2 (TOO_LATE, then OK)", w.Sub(start), n)
			}
		}
		if got := counter(t, reg, "hexfield_hotspot_beacon_tx_errors_total", "error", "TOO_LATE"); got != windows {
			t.Fatalf("TOO_LATE counted %v times, want %d", got, windows)
		}
		if st := ob.Stats(); st.Reports != windows {
			t.Fatalf("%d beacon reports, want one per window (%d)", st.Reports, windows)
		}
		if lb := h.lastBeacon; lb.Result != "sent" || lb.Attempt != 2 {
			t.Fatalf("last beacon %+v", lb)
		}
	})
}

func TestBeaconerSixHourWindows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tx := &recordingTx{}
		h, ob := newBeaconerHotspot(t, Config{}, tx, prometheus.NewRegistry())
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- h.runBeaconer(ctx) }()
		time.Sleep(72 * time.Hour)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		first := windowStart(start, DefaultBeaconInterval)
		counts := map[time.Time]int{}
		offsets := map[time.Duration]bool{}
		for _, at := range tx.times {
			w := windowStart(at, DefaultBeaconInterval)
			counts[w]++
			offsets[at.Sub(w)] = true
		}
		windows := int(start.Add(72*time.Hour).Sub(first) / DefaultBeaconInterval)
		if len(tx.times) < windows-1 || len(tx.times) > windows+1 {
			t.Fatalf("%d beacons in %d windows", len(tx.times), windows)
		}
		for w, n := range counts {
			if n != 1 {
				t.Fatalf("window %v: %d beacons", w.UTC(), n)
			}
		}
		if len(offsets) < len(tx.times)-1 {
			t.Fatalf("beacon instants not random within their windows: %v", offsets)
		}
		if st := ob.Stats(); st.Reports != len(tx.times) {
			t.Fatalf("%d beacon reports for %d beacons", st.Reports, len(tx.times))
		}
	})
}

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
func TestBeaconerSixHourWindows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		oracleKey, _ := wire.GenerateKey()
		key, _ := wire.GenerateKey()
		eu, _ := radio.LookupRegion("EU868")
		m := newMetrics(prometheus.NewRegistry())
		ob, err := OpenOutbox(OutboxConfig{Dir: t.TempDir()}, nil, m.outbox)
		if err != nil {
			t.Fatal(err)
		}
		defer ob.Close()
		tx := &recordingTx{}
		h := &Hotspot{
			cfg: Config{}, key: key, pub: wire.PublicKeyOf(key), log: testLogger(t), m: m, now: time.Now,
			outbox: ob, tx: tx, wake: make(chan struct{}, 1), region: eu, gain: 12,
		}
		h.entropy = func(ctx context.Context) ([]byte, *wire.Entropy, error) {
			e := &wire.Entropy{Version: 1, Ts: time.Now().Unix(), Data: make([]byte, 32)}
			raw, err := wire.Seal(oracleKey, wire.Kind_KIND_ENTROPY, e)
			return raw, e, err
		}
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

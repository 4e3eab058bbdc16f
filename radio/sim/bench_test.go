package sim

import (
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkDeliveries measures the medium's delivery rate with 1,000 radios
// in a 20 km square: each op is one SF9 frame from one radio, delivered to
// every radio that hears it (a few hundred). "cached" reuses the
// transmitters' precomputed link budgets (the steady state of a devnet);
// "uncached" moves a radio before every frame so the link set is rebuilt,
// the same-run baseline for what the cache saves.
func BenchmarkDeliveries(b *testing.B) {
	for _, bc := range []struct {
		name       string
		invalidate bool
	}{{"cached", false}, {"uncached", true}} {
		b.Run(bc.name, func(b *testing.B) {
			clk := NewManualClock(t0)
			m, err := NewMedium(MediumConfig{Clock: clk, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			radios, _ := layout(b, m, 1000, 1, false)
			var delivered atomic.Uint64
			for _, r := range radios {
				r.Listen(func(Reception) { delivered.Add(1) })
			}
			const senders = 16
			payload := make([]byte, 52)
			// Warm the link caches of the senders.
			for i := range senders {
				if _, err := radios[i].Transmit(Transmission{Frequency: f8671, DataRate: sf9, Power: 20, Payload: payload}); err != nil {
					b.Fatal(err)
				}
				clk.Advance(time.Second)
			}
			delivered.Store(0)
			lat, lng, elev := radios[senders].Position()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if bc.invalidate {
					if err := radios[senders].Move(lat, lng, elev); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := radios[i%senders].Transmit(Transmission{Frequency: f8671, DataRate: sf9, Power: 20, Payload: payload}); err != nil {
					b.Fatal(err)
				}
				clk.Advance(time.Second)
			}
			b.StopTimer()
			d := float64(delivered.Load())
			b.ReportMetric(d/b.Elapsed().Seconds(), "deliveries/s")
			b.ReportMetric(d/float64(b.N), "deliveries/op")
		})
	}
}

package oracle

import (
	"flag"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hexfield/hexfield/wire"
)

// BenchmarkKeyFlood measures what one hotspot key can get stored when it
// floods the oracle over 1 and over 8 real QUIC connections on loopback
// (rate_limit -flood-rate/s, default 1000 as in the oracle's config, with
// bursts of ten seconds' worth; max_conns_per_key raised to 8 so that all
// eight connections are admitted and only the shared budget is measured).
// On a loaded machine lower -flood-rate until the budget, not the CPU, is
// what binds. Each connection pipelines pre-signed reports
// as fast as the oracle acks them, resending only the ones answered
// OVERLOADED. It reports stored reports/s over the whole flood and over its
// last two seconds (after the burst is spent). It runs once per b.N, for
// about 4 s: use -benchtime=1x.
func BenchmarkKeyFlood(b *testing.B) {
	for _, conns := range []int{1, 8} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			for range b.N {
				total, late := keyFlood(b, conns, 4*time.Second, 2*time.Second)
				b.ReportMetric(total, "stored/s")
				b.ReportMetric(late, "stored/s_after_burst")
			}
		})
	}
}

var floodRateFlag = flag.Int("flood-rate", 1000, "rate_limit of BenchmarkKeyFlood")

// keyFlood floods one key over conns connections for d and returns the
// stored reports per second over d and over its last tail.
func keyFlood(b *testing.B, conns int, d, tail time.Duration) (total, late float64) {
	b.Helper()
	b.StopTimer()
	floodRate := *floodRateFlag
	to := startOracle(b, b.TempDir(), Config{CommitQueue: 1 << 16, StreamWindow: 4096, RateLimit: floodRate, MaxConnsPerKey: 8}, Deps{})
	packetRoute(b, to.o)
	hs, _ := onboardHotspot(b, to.o, time.Now(), 0)
	// Pre-signed reports per connection: more than one key's budget over
	// d (a burst of 10·floodRate plus floodRate/s).
	per := 10*floodRate + 2*int(d.Seconds())*floodRate
	type report struct {
		frame []byte
		state atomic.Int32 // 0 to send, 1 in flight, 2 stored
	}
	type floodConn struct {
		hc      *hotspotConn
		reports []*report
		byID    map[[32]byte]*report
	}
	fcs := make([]*floodConn, conns)
	var wg sync.WaitGroup
	for i := range fcs {
		fc := &floodConn{hc: dialOracle(b, to.quic, hs, to.o.PublicKey()), reports: make([]*report, per), byID: map[[32]byte]*report{}}
		fcs[i] = fc
		var mu sync.Mutex
		for w := range 2 { // sign on both cores
			wg.Go(func() {
				for j := w; j < per; j += 2 {
					env := packetReport(b, hs, uint64(i*per+j))
					f, err := wire.AppendFrame(nil, submitFrame(env))
					if err != nil {
						b.Error(err)
						return
					}
					r := &report{frame: f}
					mu.Lock()
					fc.reports[j] = r
					fc.byID[wire.ReportID(env)] = r
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	var stored atomic.Int64
	stop := make(chan struct{})
	b.StartTimer()
	start := time.Now()
	for _, fc := range fcs {
		inflight := make(chan struct{}, 2048) // bounds the pipeline
		wg.Go(func() {
			for {
				for _, r := range fc.reports {
					if !r.state.CompareAndSwap(0, 1) {
						continue
					}
					select {
					case inflight <- struct{}{}:
					case <-stop:
						return
					}
					if _, err := fc.hc.str.Write(r.frame); err != nil {
						return
					}
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		})
		wg.Go(func() {
			var f wire.Frame
			for {
				if err := fc.hc.fr.ReadInto(&f); err != nil {
					return
				}
				<-inflight
				var id [32]byte
				copy(id[:], f.GetAck().GetId())
				r := fc.byID[id]
				if r == nil {
					continue
				}
				switch f.GetAck().GetCode() {
				case wire.Code_CODE_OK:
					r.state.Store(2)
					stored.Add(1)
				case wire.Code_CODE_DUPLICATE:
					r.state.Store(2)
				default:
					r.state.Store(0)
				}
			}
		})
	}
	time.Sleep(d - tail)
	atTail := stored.Load()
	time.Sleep(tail)
	end := stored.Load()
	elapsed := time.Since(start)
	b.StopTimer()
	close(stop)
	for _, fc := range fcs {
		fc.hc.close()
	}
	wg.Wait()
	to.stop(b)
	return float64(end) / elapsed.Seconds(), float64(end-atTail) / tail.Seconds()
}

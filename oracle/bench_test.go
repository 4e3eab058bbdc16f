package oracle

import (
	"crypto/ed25519"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hexfield/hexfield/wire"
)

// verifyCeiling measures raw ed25519 verifications per second of env's
// signature on all cores for about d: the upper bound for ingest, which
// must verify every report.
func verifyCeiling(tb testing.TB, priv ed25519.PrivateKey, d time.Duration) float64 {
	tb.Helper()
	body := []byte("hexfield ingest ceiling probe: a body the size of a typical report ......................................................................")
	sig := wire.Sign(priv, wire.Kind_KIND_PACKET_REPORT, body)
	pub := wire.PublicKeyOf(priv)
	var total atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := int64(0)
			for time.Since(start) < d {
				for range 64 {
					if !wire.Verify(pub, wire.Kind_KIND_PACKET_REPORT, body, sig) {
						panic("verify failed")
					}
				}
				n += 64
			}
			total.Add(n)
		}()
	}
	wg.Wait()
	return float64(total.Load()) / time.Since(start).Seconds()
}

// loadConn is one hotspot connection with its pre-signed reports.
type loadConn struct {
	hc   *hotspotConn
	envs [][]byte
}

// setupLoad starts an oracle and connects conns onboarded hotspots, each
// with perConn pre-signed reports.
func setupLoad(b *testing.B, conns, perConn int) (*testOracle, []*loadConn) {
	b.Helper()
	to := startOracle(b, b.TempDir(), Config{CommitQueue: 1 << 16, StreamWindow: 4096}, Deps{})
	now := time.Now()
	lcs := make([]*loadConn, conns)
	var wg sync.WaitGroup
	for i := range lcs {
		hs, _ := onboardHotspot(b, to.o, now, 0)
		lcs[i] = &loadConn{hc: dialOracle(b, to.quic, hs, to.o.PublicKey()), envs: make([][]byte, perConn)}
		wg.Add(1)
		go func(lc *loadConn, hs ed25519.PrivateKey) {
			defer wg.Done()
			for j := range lc.envs {
				lc.envs[j] = packetReport(b, hs, uint64(j))
			}
		}(lcs[i], hs)
	}
	wg.Wait()
	return to, lcs
}

// runLoad sends every connection's reports, pipelined, and waits for all
// acks. With interval > 0 each connection paces its reports interval
// apart. It returns the elapsed time and every ack latency.
func runLoad(b *testing.B, lcs []*loadConn, interval time.Duration) (time.Duration, []time.Duration) {
	b.Helper()
	var mu sync.Mutex
	var lats []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	for _, lc := range lcs {
		sent := make(chan time.Time, len(lc.envs))
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j, env := range lc.envs {
				if interval > 0 {
					at := start.Add(time.Duration(j) * interval)
					if d := time.Until(at); d > 0 {
						lc.hc.fw.Flush()
						time.Sleep(d)
					}
				}
				sent <- time.Now()
				if err := lc.hc.fw.Write(submitFrame(env)); err != nil {
					b.Error(err)
					return
				}
				if interval > 0 || lc.hc.fw.Buffered() > 8<<10 {
					lc.hc.fw.Flush()
				}
			}
			lc.hc.fw.Flush()
		}()
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, len(lc.envs))
			var f wire.Frame
			for range lc.envs {
				if err := lc.hc.fr.ReadInto(&f); err != nil {
					b.Error(err)
					return
				}
				t0 := <-sent
				if c := f.GetAck().GetCode(); c != wire.Code_CODE_OK {
					b.Errorf("ack code %v", c)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return time.Since(start), lats
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

const benchConns = 64

// BenchmarkIngest measures signed reports per second over QUIC with
// durable (group-committed, synced) acks from many concurrent hotspot
// connections, and in the same run the raw ed25519 verification ceiling
// on the same cores. Run with e.g. -benchtime=200000x.
func BenchmarkIngest(b *testing.B) {
	per := max(1, b.N/benchConns)
	to, lcs := setupLoad(b, benchConns, per)
	// The machine may be shared: take the ceiling just before and just
	// after the ingest run and use their mean.
	before := verifyCeiling(b, testKey(b), time.Second)
	b.ResetTimer()
	elapsed, _ := runLoad(b, lcs, 0)
	b.StopTimer()
	after := verifyCeiling(b, testKey(b), time.Second)
	ceiling := (before + after) / 2
	rate := float64(per*benchConns) / elapsed.Seconds()
	b.ReportMetric(rate, "reports/s")
	b.ReportMetric(ceiling, "verify_ceiling/s")
	b.ReportMetric(rate/ceiling, "ratio")
	to.stop(b)
}

// BenchmarkIngestLatency first measures the saturated throughput, then
// offers half of it, paced evenly over the connections, and reports the
// ack latency percentiles. Run with e.g. -benchtime=100000x.
func BenchmarkIngestLatency(b *testing.B) {
	per := max(1, b.N/benchConns)
	// Saturated run on its own oracle.
	_, lcs := setupLoad(b, benchConns, per)
	elapsed, _ := runLoad(b, lcs, 0)
	full := float64(per*benchConns) / elapsed.Seconds()
	half := full / 2
	to, lcs := setupLoad(b, benchConns, per)
	interval := time.Duration(float64(time.Second) * benchConns / half)
	b.ResetTimer()
	elapsed, lats := runLoad(b, lcs, interval)
	b.StopTimer()
	b.ReportMetric(full, "saturated_reports/s")
	b.ReportMetric(float64(per*benchConns)/elapsed.Seconds(), "offered_reports/s")
	b.ReportMetric(float64(percentile(lats, 0.50).Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(percentile(lats, 0.99).Microseconds())/1000, "p99_ms")
	reportCommitStats(b, to)
	to.stop(b)
}

// reportCommitStats adds the mean group-commit batch size and time.
func reportCommitStats(b *testing.B, to *testOracle) {
	mfs, err := to.reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			if h == nil || h.GetSampleCount() == 0 {
				continue
			}
			mean := h.GetSampleSum() / float64(h.GetSampleCount())
			switch mf.GetName() {
			case "hexfield_oracle_commit_batch_reports":
				b.ReportMetric(mean, "reports/commit")
			case "hexfield_oracle_commit_seconds":
				b.ReportMetric(mean*1000, "ms/commit")
			}
		}
	}
}

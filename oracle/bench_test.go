package oracle

import (
	"bufio"
	"crypto/ed25519"
	"encoding/binary"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hexfield/hexfield/wire"
)

// verifyCeiling measures raw ed25519 verifications per second on all
// cores for about d: the upper bound for ingest, which must verify every
// report. It also returns the CPU time per verification.
func verifyCeiling(tb testing.TB, priv ed25519.PrivateKey, d time.Duration) (perSec float64, cpuPer time.Duration) {
	tb.Helper()
	body := []byte("hexfield ingest ceiling probe: a body the size of a typical report ......................................................................")
	sig := wire.Sign(priv, wire.Kind_KIND_PACKET_REPORT, body)
	pub := wire.PublicKeyOf(priv)
	var total atomic.Int64
	var wg sync.WaitGroup
	cpu0 := processCPU()
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
	n := total.Load()
	return float64(n) / time.Since(start).Seconds(), (processCPU() - cpu0) / time.Duration(n)
}

// loadConn is one hotspot connection with its pre-signed reports, each
// already framed as a Submit, so the load generator spends its CPU on
// sending rather than encoding.
type loadConn struct {
	hc   *hotspotConn
	envs [][]byte // length-prefixed Submit frames
}

// setupLoad starts an oracle and connects conns onboarded hotspots, each
// with perConn pre-signed reports.
func setupLoad(b *testing.B, conns, perConn int) (*testOracle, []*loadConn) {
	b.Helper()
	to := startOracle(b, b.TempDir(), Config{CommitQueue: 1 << 16, StreamWindow: 4096}, Deps{})
	packetRoute(b, to.o)
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
				f, err := wire.AppendFrame(nil, submitFrame(packetReport(b, hs, uint64(j))))
				if err != nil {
					b.Error(err)
					return
				}
				lc.envs[j] = f
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
			w := bufio.NewWriterSize(lc.hc.str, 16<<10)
			for j, frame := range lc.envs {
				if interval > 0 {
					at := start.Add(time.Duration(j) * interval)
					if d := time.Until(at); d > 0 {
						w.Flush()
						time.Sleep(d)
					}
				}
				sent <- time.Now()
				if _, err := w.Write(frame); err != nil {
					b.Error(err)
					return
				}
				if interval > 0 {
					w.Flush()
				}
			}
			w.Flush()
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
	before, vcpu1 := verifyCeiling(b, testKey(b), time.Second)
	cpu0 := processCPU()
	b.ResetTimer()
	elapsed, _ := runLoad(b, lcs, 0)
	b.StopTimer()
	cpu := processCPU() - cpu0
	after, vcpu2 := verifyCeiling(b, testKey(b), time.Second)
	ceiling := (before + after) / 2
	n := float64(per * benchConns)
	rate := n / elapsed.Seconds()
	b.ReportMetric(rate, "reports/s")
	b.ReportMetric(ceiling, "verify_ceiling/s")
	b.ReportMetric(rate/ceiling, "ratio")
	// The same comparison in CPU time, which other load on a shared
	// machine does not distort: verification CPU per report over the whole
	// process's CPU per report (oracle and load generator together).
	vcpu := (vcpu1 + vcpu2) / 2
	b.ReportMetric(float64(cpu.Microseconds())/n, "cpu_us/report")
	b.ReportMetric(float64(vcpu.Nanoseconds())/1000, "verify_cpu_us")
	b.ReportMetric(float64(vcpu.Nanoseconds())/(float64(cpu.Nanoseconds())/n), "cpu_ratio")
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

// BenchmarkGroupCommit measures the store's cost per report: batches of
// 4096 reports written in one synced transaction each.
func BenchmarkGroupCommit(b *testing.B) {
	s, err := OpenStore(b.TempDir(), time.Hour, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	m, _ := newMetrics(nil)
	c := newCommitter(s, 1, 4096, m)
	hs := testKey(b)
	pub := wire.PublicKeyOf(hs)
	env := packetReport(b, hs, 0)
	items := make([]*ingestItem, 0, 4096)
	res := make([]commitResult, 4096)
	cpu0 := processCPU()
	b.ResetTimer()
	for i := 0; i < b.N; {
		items = items[:0]
		for j := 0; j < 4096 && i < b.N; j, i = j+1, i+1 {
			var id [32]byte
			binary.BigEndian.PutUint64(id[:], uint64(i))
			items = append(items, &ingestItem{id: id, kind: wire.Kind_KIND_PACKET_REPORT, receivedMs: int64(i), signer: pub[:], envelope: env})
		}
		if err := c.writeBatch(items, res[:len(items)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu_us/report")
}

// processCPU is the CPU time this process used so far (user + system), a
// measure that other load on a shared machine does not inflate.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

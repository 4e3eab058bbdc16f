package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/hexfield/hexfield/wire"
)

// TestOracledMetricsListener: the binary serves /metrics on its own
// listener (metrics= on the ready line) and not on the public API.
func TestOracledMetricsListener(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	p := startOracled(t, buildOracled(t), t.TempDir())
	t.Cleanup(func() { p.kill9(t) })
	if p.metrics == "" {
		t.Fatal("no metrics= on the ready line")
	}
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var sb strings.Builder
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			sb.WriteString(sc.Text() + "\n")
		}
		return resp.StatusCode, sb.String()
	}
	if code, _ := get(p.http + "/metrics"); code != http.StatusNotFound {
		t.Fatalf("public API /metrics: %d, want 404", code)
	}
	code, body := get(p.metrics + "/metrics")
	if code != 200 || !strings.Contains(body, "hexfield_oracle_handshakes ") || !strings.Contains(body, "process_resident_memory_bytes") {
		t.Fatalf("metrics listener: %d %.300s", code, body)
	}
}

// BenchmarkUnknownHandshakes runs the oracled binary and floods it with b.N
// QUIC handshakes, each with a fresh, never onboarded key, 32 at a time
// from one loopback socket; the client keeps every connection it gets open
// until the end. It reports oracled's resident memory (from /proc) before
// the flood, its peak (VmHWM) and after. Use e.g. -benchtime=6000x.
func BenchmarkUnknownHandshakes(b *testing.B) {
	p := startOracled(b, buildOracled(b), b.TempDir())
	defer p.kill9(b)
	pid := p.cmd.Process.Pid
	rss0, _ := procMem(b, pid)
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	tr := &quic.Transport{Conn: udp}
	defer udp.Close()
	defer tr.Close()
	ua, err := net.ResolveUDPAddr("udp", p.quic)
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	var conns []*quic.Conn
	var dialed, failed atomic.Int64
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	b.ResetTimer()
	for range b.N {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, key, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				b.Error(err)
				return
			}
			tlsConf, err := wire.ClientTLSConfig(key, p.key)
			if err != nil {
				b.Error(err)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			conn, err := tr.Dial(ctx, ua, tlsConf, wire.QUICConfig())
			if err != nil {
				failed.Add(1)
				return
			}
			dialed.Add(1)
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		})
	}
	wg.Wait()
	b.StopTimer()
	rss1, peak := procMem(b, pid)
	for _, c := range conns {
		c.CloseWithError(0, "")
	}
	b.ReportMetric(float64(rss0)/(1<<20), "rss_before_MB")
	b.ReportMetric(float64(peak)/(1<<20), "rss_peak_MB")
	b.ReportMetric(float64(rss1)/(1<<20), "rss_after_MB")
	b.ReportMetric(float64(dialed.Load()), "client_handshakes_done")
	b.ReportMetric(float64(failed.Load()), "client_dials_failed")
}

// procMem returns VmRSS and VmHWM (peak) of pid in bytes.
func procMem(tb testing.TB, pid int) (rss, peak int64) {
	tb.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			peak = n << 10
		}
	}
	return rss, peak
}

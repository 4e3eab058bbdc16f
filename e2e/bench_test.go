package e2e

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/radio/sim"
	"github.com/hexfield/hexfield/wire"
)

// procCPU returns the user+system CPU time of pid.
func procCPU(t testing.TB, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 (1-based) in clock ticks of 1/100 s.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// procMem returns VmRSS and VmHWM (peak) of pid in bytes.
func procMem(t testing.TB, pid int) (rss, peak int64) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
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

func scrape(t testing.TB, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

func familyCount(mfs map[string]*dto.MetricFamily, name string) float64 {
	var sum float64
	if mf := mfs[name]; mf != nil {
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// labelCount is the counter name's value where label is value.
func labelCount(mfs map[string]*dto.MetricFamily, name, label, value string) float64 {
	var sum float64
	if mf := mfs[name]; mf != nil {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// histogramQuantile returns the upper bound of the bucket holding quantile
// q of a histogram (a conservative estimate).
func histogramQuantile(mf *dto.MetricFamily, q float64) float64 {
	if mf == nil || len(mf.GetMetric()) == 0 {
		return math.NaN()
	}
	h := mf.GetMetric()[0].GetHistogram()
	total := float64(h.GetSampleCount())
	bs := h.GetBucket()
	sort.Slice(bs, func(i, j int) bool { return bs[i].GetUpperBound() < bs[j].GetUpperBound() })
	for _, b := range bs {
		if float64(b.GetCumulativeCount()) >= q*total {
			return b.GetUpperBound()
		}
	}
	return math.Inf(1)
}

// BenchmarkHotspotd200Uplinks drives a hotspotd process with a radio/sim
// concentrator receiving 200 LoRaWAN uplinks per second (64 sensors, one
// per US915 uplink channel, so frames never collide) and reports the
// daemon's resident memory (now and peak), CPU time per packet and the p99
// of the time it adds between a datagram's arrival and the frame being
// classified and dispatched (histogram bucket bound). One iteration is one
// uplink; run it with -benchtime 2000x (10 s) or more.
func BenchmarkHotspotd200Uplinks(b *testing.B) {
	b.Run("no-routes", func(b *testing.B) { benchHotspotd(b, 0) })
	b.Run("3-routes", func(b *testing.B) { benchHotspotd(b, 3) })
}

// benchHotspotd is BenchmarkHotspotd200Uplinks with routes customer routes:
// with routes > 0 the daemon is onboarded at a real oracle (in this
// process), which has organizations with one route each to its own test
// LNS; the devices are spread over the routes' DevAddrs, so every uplink
// is forwarded to one LNS and reported to the oracle.
func benchHotspotd(b *testing.B, routes int) {
	dataDir := b.TempDir()
	args := []string{"--region", "US915", "--log-level", "warn"}
	if routes > 0 {
		operator, _ := wire.GenerateKey()
		o := startOracleWith(b, "oracle", func(c *oracle.Config) { c.OperatorKeys = []string{wire.PublicKeyOf(operator).String()} })
		key, _ := wire.GenerateKey()
		if err := wire.WriteKeyFile(filepath.Join(dataDir, "hotspot.key"), key); err != nil {
			b.Fatal(err)
		}
		o.onboard(b, key, 40.0, -100.0)
		benchCustomers(b, o, operator, routes)
		args = append(args, "--oracles", o.dialString())
	}
	d := newDaemon(b, dataDir, args...)
	d.start()
	waitFor(b, "hotspotd status", 10*time.Second, func() bool { _, err := d.statusNow(); return err == nil })
	if routes > 0 {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			st, err := d.statusNow()
			if err == nil && st.Routing.Active == routes {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("hotspotd has not the %d routes: %+v %v\n%s", routes, st, err, d.log())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	m, err := sim.NewMedium(sim.MediumConfig{Seed: 7, ShadowingSigma: -1, FadingSigma: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	var channels []radio.Hz
	for i := range 64 {
		channels = append(channels, radio.Hz(902_300_000+200_000*i))
	}
	gw, err := m.Attach(sim.RadioConfig{Name: "gw", Lat: 40.0, Lng: -100.0, Elevation: 10})
	if err != nil {
		b.Fatal(err)
	}
	up, _ := net.ListenPacket("udp", "127.0.0.1:0")
	down, _ := net.ListenPacket("udp", "127.0.0.1:0")
	server, _ := net.ResolveUDPAddr("udp", d.semtech)
	conc, err := sim.NewConcentrator(sim.ConcentratorConfig{Region: "US915", Channels: channels,
		KeepaliveInterval: time.Second, StatInterval: -1, RxQueue: 4096}, gw, up, down, server, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	concDone := make(chan struct{})
	go func() { defer close(concDone); conc.Run(ctx) }()
	defer func() { cancel(); <-concDone }()
	var devs []*sim.Device
	for i, f := range channels {
		dev, err := sim.NewDevice(m, sim.DeviceConfig{
			Radio:    sim.RadioConfig{Name: fmt.Sprintf("dev%02d", i), Lat: 40.0 + 0.002*float64(i%8), Lng: -100.0 + 0.002*float64(i/8)},
			Region:   "US915",
			Channels: []radio.Hz{f},
			DataRate: radio.DataRate{SF: 7, Bandwidth: 125_000},
		})
		if err != nil {
			b.Fatal(err)
		}
		devs = append(devs, dev)
	}
	// Uplink k is a LoRaWAN unconfirmed data uplink of 20 bytes from device
	// i = k mod 64 with frame counter k, so that no two are copies of one
	// uplink; the device's DevAddr is in the block of route i mod routes
	// (02000000, 02000008, …).
	send := func(k int) {
		i := k % len(devs)
		addr, fcnt := uint32(0x02000000), uint16(k)
		if routes > 0 {
			addr += uint32(8*(i%routes) + i/routes%8)
		}
		devs[i].Send([]byte{0x40, byte(addr), byte(addr >> 8), byte(addr >> 16), byte(addr >> 24), 0x00, byte(fcnt), byte(fcnt >> 8), 0x01, 1, 2, 3, 4, 5, 6, 7, 0xa1, 0xb2, 0xc3, 0xd4})
	}
	// Warm up, then measure.
	for k := range 200 {
		send(k)
		time.Sleep(5 * time.Millisecond)
	}
	waitFor(b, "warm-up frames", 10*time.Second, func() bool {
		return familyCount(scrape(b, d.status), "hexfield_hotspot_frames_total") >= 180 // a loaded machine loses some
	})
	pid := d.cmd.Process.Pid
	before := familyCount(scrape(b, d.status), "hexfield_hotspot_frames_total")
	cpu0 := procCPU(b, pid)
	const period = 5 * time.Millisecond // 200 uplinks/s, on a schedule that catches up
	start := time.Now()
	n := 0
	b.ResetTimer()
	for b.Loop() {
		time.Sleep(time.Until(start.Add(time.Duration(n) * period)))
		send(200 + n)
		n++
	}
	b.StopTimer()
	elapsed := time.Since(start)
	var handled float64
	// Wait for the frames in flight; what is not handled by then is lost
	// (handled/sent says how much).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		handled = familyCount(scrape(b, d.status), "hexfield_hotspot_frames_total") - before
		if handled >= float64(n)*0.98 || time.Now().After(deadline) {
			break
		}
	}
	cpu := procCPU(b, pid) - cpu0
	rss, peak := procMem(b, pid)
	mfs := scrape(b, d.status)
	p99 := histogramQuantile(mfs["hexfield_hotspot_frame_handle_seconds"], 0.99)
	p50 := histogramQuantile(mfs["hexfield_hotspot_frame_handle_seconds"], 0.50)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "uplinks/s")
	b.ReportMetric(handled/float64(n), "handled/sent")
	b.ReportMetric(float64(rss)/(1<<20), "RSS-MB")
	b.ReportMetric(float64(peak)/(1<<20), "peakRSS-MB")
	b.ReportMetric(float64(cpu.Microseconds())/handled, "CPU-µs/packet")
	b.ReportMetric(p99*1e3, "p99-handle-ms")
	b.ReportMetric(p50*1e3, "p50-handle-ms")
	if routes > 0 {
		// Uplinks forwarded to the customers' LNSs, over all sent.
		fwd := labelCount(scrape(b, d.status), "hexfield_hotspot_lns_uplinks_total", "result", "forwarded")
		b.ReportMetric(fwd/float64(n+200), "forwarded/sent")
	}
	if err := d.terminate(b); err != nil {
		b.Fatalf("hotspotd exit: %v", err)
	}
}

// benchCustomers registers n organizations at o, each with a DevAddr block
// (02000000 + 8k), data credits granted by operator and a route to a test
// LNS of its own.
func benchCustomers(b *testing.B, o *oracleNode, operator ed25519.PrivateKey, n int) {
	b.Helper()
	for k := range n {
		l := startLNS(b, sim.LNSConfig{Region: "US915"})
		owner, _ := wire.GenerateKey()
		org := fmt.Sprintf("bench-%d", k)
		registerCustomer(b, []*oracleNode{o}, customer{org: org, route: org, start: uint32(0x02000000 + 8*k), maxCopies: 1,
			owner: owner, operator: operator, dc: 1_000_000_000, lns: l.Addr().String()})
	}
}

// BenchmarkHotspotdBinarySize cross-builds the stripped Raspberry Pi
// binaries (CGO_ENABLED=0) and reports their sizes.
func BenchmarkHotspotdBinarySize(b *testing.B) {
	dir := b.TempDir()
	sizes := map[string]float64{}
	for _, target := range []struct{ name, arch, arm string }{{"arm64", "arm64", ""}, {"armv7", "arm", "7"}} {
		out := filepath.Join(dir, "hotspotd-"+target.name)
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "../cmd/hotspotd")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+target.arch, "GOARM="+target.arm)
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("build %s: %v\n%s", target.name, err, msg)
		}
		fi, err := os.Stat(out)
		if err != nil {
			b.Fatal(err)
		}
		sizes[target.name+"-MiB"] = float64(fi.Size()) / (1 << 20)
	}
	for b.Loop() {
	}
	for unit, v := range sizes {
		b.ReportMetric(v, unit)
	}
}

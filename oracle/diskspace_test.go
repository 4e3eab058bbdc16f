package oracle

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/hexfield/hexfield/wire"
)

// mountTmpfs mounts a tmpfs of size (e.g. "64m") on a new directory for
// the test and unmounts it afterwards. It skips the test when it cannot:
// mounting needs root.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs (mount -t tmpfs); run the oracle tests as root for the disk-full tests")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs on %s: %v: %s", dir, err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// writeBallast writes a file of n bytes (n < 0: until the file system is
// full) and returns how many bytes it wrote.
func writeBallast(t *testing.T, path string, n int64) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = byte(i*7 + 1)
	}
	var written int64
	for n < 0 || written < n {
		k, err := f.Write(buf[:min(int64(len(buf)), max(n-written, int64(len(buf))))])
		written += int64(k)
		if err != nil {
			if n < 0 {
				return written // full
			}
			t.Fatalf("write ballast: %v", err)
		}
	}
	return written
}

// ingestLoad submits reports over QUIC as fast as the oracle answers them
// and records what it answered.
type ingestLoad struct {
	mu         sync.Mutex
	acked      map[[32]byte]bool
	overloaded int
	lastMsg    string
}

// run pipelines reports of hs on hc until ctx ends, then reads the
// answers still due and returns.
func (l *ingestLoad) run(ctx context.Context, hc *hotspotConn, hs ed25519.PrivateKey, seq0 uint64) error {
	window := make(chan [32]byte, 256)
	readErr := make(chan error, 1)
	go func() {
		var f wire.Frame
		for id := range window {
			hc.str.SetReadDeadline(time.Now().Add(60 * time.Second))
			if err := hc.fr.ReadInto(&f); err != nil {
				readErr <- err
				for range window {
				}
				return
			}
			a := f.GetAck()
			if string(a.GetId()) != string(id[:]) {
				readErr <- fmt.Errorf("ack %v is not for the report sent", a)
				for range window {
				}
				return
			}
			l.mu.Lock()
			switch a.GetCode() {
			case wire.Code_CODE_OK, wire.Code_CODE_DUPLICATE:
				l.acked[id] = true
			case wire.Code_CODE_OVERLOADED:
				l.overloaded++
				if a.GetMessage() != "" {
					l.lastMsg = a.GetMessage()
				}
			default:
				l.mu.Unlock()
				readErr <- fmt.Errorf("ack %v", a)
				for range window {
				}
				return
			}
			l.mu.Unlock()
		}
		readErr <- nil
	}()
	var err error
	for seq := seq0; ctx.Err() == nil; seq++ {
		var raw []byte
		if raw, err = sealPacketReport(hs, seq); err != nil {
			break
		}
		select {
		case window <- wire.ReportID(raw):
		case err = <-readErr:
			return err
		}
		if err = hc.fw.Write(submitFrame(raw)); err != nil {
			break
		}
		if len(window) < 8 || seq%32 == 0 {
			if err = hc.fw.Flush(); err != nil {
				break
			}
		}
	}
	hc.fw.Flush()
	close(window)
	if rerr := <-readErr; err == nil {
		err = rerr
	}
	return err
}

func (l *ingestLoad) counts() (acked, overloaded int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked), l.overloaded
}

// fillUntilOverloaded runs one loader per hotspot until the oracle has
// answered want reports CODE_OVERLOADED, and returns the load.
func fillUntilOverloaded(t *testing.T, to *testOracle, hotspots []ed25519.PrivateKey, l *ingestLoad, seq0 uint64, want int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(hotspots))
	for i, hs := range hotspots {
		hc, err := dialOracleErr(to.quic, hs, to.o.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		defer hc.close()
		wg.Go(func() { errs <- l.run(ctx, hc, hs, seq0+uint64(i)<<32) })
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if _, n := l.counts(); n >= want {
			break
		}
		select {
		case err := <-to.done:
			t.Fatalf("oracle stopped while filling its disk: %v", err)
		case err := <-errs:
			t.Fatalf("loader: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			a, n := l.counts()
			t.Fatalf("after 5 minutes: %d acked, %d overloaded", a, n)
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("loader: %v", err)
		}
	}
}

type healthBody struct {
	Status string      `json:"status"`
	Disk   *DiskStatus `json:"disk"`
}

func getHealth(t *testing.T, to *testOracle) healthBody {
	t.Helper()
	code, b := httpGet(t, to.http+"/healthz")
	var h healthBody
	if code != 200 || json.Unmarshal(b, &h) != nil {
		t.Fatalf("healthz %d %s", code, b)
	}
	return h
}

// TestDiskFullRefusesReports fills a 64 MiB tmpfs with real QUIC ingest:
// the oracle must answer CODE_OVERLOADED before the disk is full (it
// crashed with SIGBUS inside Badger's mmaps), stay up, serve every acked
// report, accept again once space is freed, and keep everything it acked.
func TestDiskFullRefusesReports(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a 64 MiB tmpfs")
	}
	mnt := mountTmpfs(t, "64m")
	// Ballast to free later, as an operator would delete old logs.
	ballast := filepath.Join(mnt, "ballast")
	writeBallast(t, ballast, 12<<20)
	data := filepath.Join(mnt, "data")
	cfg := Config{RateLimit: 1 << 20, CommitQueue: 4096, CommitMaxBatch: 512}
	to := startOracle(t, data, cfg, Deps{})
	packetRoute(t, to.o)
	var hotspots []ed25519.PrivateKey
	for range 4 {
		hs, _ := onboardHotspot(t, to.o, time.Now(), 0)
		hotspots = append(hotspots, hs)
	}
	l := &ingestLoad{acked: map[[32]byte]bool{}}
	fillUntilOverloaded(t, to, hotspots, l, 0, 2000)
	acked, over := l.counts()
	free, _ := freeBytes(mnt)
	t.Logf("64 MiB tmpfs (12 MiB of it ballast): %d reports acked, then %d answered CODE_OVERLOADED (%q) with %.1f MiB free",
		acked, over, l.lastMsg, float64(free)/(1<<20))
	if !strings.Contains(l.lastMsg, "retry later") {
		t.Errorf("OVERLOADED message %q does not say what to do", l.lastMsg)
	}
	h := getHealth(t, to)
	if h.Status != "degraded" || h.Disk == nil || h.Disk.State != "low" || h.Disk.Reason == "" {
		t.Errorf("healthz while the disk is low: %+v", h)
	}
	if _, b := httpGet(t, to.metrics+"/metrics"); !strings.Contains(string(b), "hexfield_oracle_disk_state 1") {
		t.Errorf("metrics while the disk is low do not say so")
	}
	// Reads go on: every acked report is there, also over HTTP.
	missing := 0
	var one [32]byte
	for id := range l.acked {
		if _, found, err := to.o.store.Report(id); err != nil || !found {
			missing++
		}
		one = id
	}
	if missing > 0 {
		t.Fatalf("%d of %d acked reports missing", missing, acked)
	}
	if code, b := httpGet(t, to.http+"/v1/reports/"+hex.EncodeToString(one[:])); code != 200 {
		t.Fatalf("GET report while the disk is low: %d %s", code, b)
	}
	pub := wire.PublicKeyOf(hotspots[0])
	if code, b := httpGet(t, to.http+"/v1/hotspots/"+pub.String()); code != 200 {
		t.Fatalf("GET hotspot while the disk is low: %d %s", code, b)
	}

	// Space comes back: reports are accepted again, without a restart.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	hc := dialOracle(t, to.quic, hotspots[0], to.o.PublicKey())
	deadline := time.Now().Add(time.Minute)
	for seq := uint64(1 << 40); ; seq++ {
		raw := packetReport(t, hotspots[0], seq)
		a := hc.submit(t, raw)
		if a.GetCode() == wire.Code_CODE_OK {
			l.acked[wire.ReportID(raw)] = true
			break
		}
		if a.GetCode() != wire.Code_CODE_OVERLOADED || time.Now().After(deadline) {
			t.Fatalf("after freeing space: %v", a)
		}
		time.Sleep(50 * time.Millisecond) // polling the oracle's state; not a timing assertion
	}
	for seq := uint64(1 << 41); seq < 1<<41+200; seq++ {
		raw := packetReport(t, hotspots[0], seq)
		if a := hc.submit(t, raw); a.GetCode() != wire.Code_CODE_OK {
			t.Fatalf("after freeing space: %v", a)
		}
		l.acked[wire.ReportID(raw)] = true
	}
	if h := getHealth(t, to); h.Status != "ok" {
		t.Errorf("healthz after freeing space: %+v", h)
	}

	// A clean stop (a memtable flush) and a reopen keep every acked report.
	if err := to.stop(t); err != nil {
		t.Fatalf("oracle run: %v", err)
	}
	st, err := OpenStore(data, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for id := range l.acked {
		if _, found, err := st.Report(id); err != nil || !found {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("after reopening: %d of %d acked reports missing", missing, len(l.acked))
	}
}

// TestStartOnFullDisk starts the oracle on a full file system: it must
// come up read-only, say why, serve reads, refuse reports, and say when the
// space is back (leaving read-only mode takes a restart).
func TestStartOnFullDisk(t *testing.T) {
	mnt := mountTmpfs(t, "32m")
	data := filepath.Join(mnt, "data")
	to := startOracle(t, data, Config{}, Deps{})
	packetRoute(t, to.o)
	hs, _ := onboardHotspot(t, to.o, time.Now(), 0)
	hc := dialOracle(t, to.quic, hs, to.o.PublicKey())
	var ids [][32]byte
	for seq := range uint64(50) {
		raw := packetReport(t, hs, seq)
		if a := hc.submit(t, raw); a.GetCode() != wire.Code_CODE_OK {
			t.Fatalf("submit: %v", a)
		}
		ids = append(ids, wire.ReportID(raw))
	}
	hc.close()
	if err := to.stop(t); err != nil {
		t.Fatal(err)
	}
	ballast := filepath.Join(mnt, "ballast")
	writeBallast(t, ballast, -1)

	to = startOracle(t, data, Config{}, Deps{Key: to.o.key})
	h := getHealth(t, to)
	if h.Status != "degraded" || h.Disk == nil || h.Disk.State != "read_only" || !strings.Contains(h.Disk.Reason, "free") {
		t.Fatalf("healthz on a full disk: %+v", h)
	}
	t.Logf("read-only start: %s", h.Disk.Reason)
	if _, b := httpGet(t, to.metrics+"/metrics"); !strings.Contains(string(b), "hexfield_oracle_disk_state 2") {
		t.Errorf("metrics of a read-only store do not say so")
	}
	for _, id := range ids {
		if code, b := httpGet(t, to.http+"/v1/reports/"+hex.EncodeToString(id[:])); code != 200 {
			t.Fatalf("GET report read-only: %d %s", code, b)
		}
	}
	hc = dialOracle(t, to.quic, hs, to.o.PublicKey())
	if a := hc.submit(t, packetReport(t, hs, 1000)); a.GetCode() != wire.Code_CODE_OVERLOADED || !strings.Contains(a.GetMessage(), "read-only") {
		t.Fatalf("submit read-only: %v", a)
	}
	if _, err := to.o.onboard(mustOnboardRequest(t), time.Now()); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("onboarding on a read-only store: %v", err)
	}
	body, _ := json.Marshal(mustOnboardRequest(t))
	resp, err := http.Post(to.http+"/v1/hotspots", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("POST /v1/hotspots on a read-only store: %d, want 503", resp.StatusCode)
	}

	// Space back: the oracle says a restart leaves read-only mode.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(getHealth(t, to).Disk.Reason, "space is back") {
		if time.Now().After(deadline) {
			t.Fatalf("healthz after freeing space: %+v", getHealth(t, to))
		}
		time.Sleep(50 * time.Millisecond) // polling the watcher's state; not a timing assertion
	}
	hc.close()
	if err := to.stop(t); err != nil {
		t.Fatal(err)
	}
	to = startOracle(t, data, Config{}, Deps{Key: to.o.key})
	if h := getHealth(t, to); h.Status != "ok" || h.Disk != nil {
		t.Fatalf("healthz after restart: %+v", h)
	}
	hc = dialOracle(t, to.quic, hs, to.o.PublicKey())
	if a := hc.submit(t, packetReport(t, hs, 1001)); a.GetCode() != wire.Code_CODE_OK {
		t.Fatalf("submit after restart: %v", a)
	}
}

func mustOnboardRequest(t *testing.T) OnboardRequest {
	t.Helper()
	req, err := NewOnboardRequest(testKey(t), testKey(t), false, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestMemTableSizeFollowsDisk(t *testing.T) {
	for _, c := range []struct {
		total uint64
		want  int64
	}{{0, 32 << 20}, {64 << 20, 4 << 20}, {2 << 30, 8 << 20}, {4 << 30, 16 << 20}, {8 << 30, 32 << 20}, {1 << 40, 32 << 20}} {
		if got := memTableSize(c.total); got != c.want {
			t.Errorf("memTableSize(%d) = %d, want %d", c.total, got, c.want)
		}
	}
}

// TestDiskSpaceStates drives the free-space state with a fake statfs (a
// real full disk is TestDiskFullRefusesReports): batches in flight count
// against the free space, the state clears only a memtable above the
// margin, and read-only refuses everything.
func TestDiskSpaceStates(t *testing.T) {
	const mib = 1 << 20
	var free uint64 = 100 * mib
	d := newDiskSpace(t.TempDir(), badgerOpts4MiB(), slog.New(slog.DiscardHandler))
	d.statfs = func(string) (uint64, error) { return free, nil } // a fake: the numbers are the test
	d.margin = func() uint64 { return 50 * mib }
	if err := d.reserve(30 * mib); err != nil {
		t.Fatalf("reserve with room: %v", err)
	}
	// 100 free − 30 in flight: 25 more would eat into the 50 kept.
	if err := d.reserve(25 * mib); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("reserve past the margin: %v", err)
	}
	if err := d.admitIngest(); !errors.Is(err, ErrDiskFull) || d.status().State != "low" {
		t.Fatalf("ingest while low: %v, %+v", err, d.status())
	}
	d.release(30 * mib)
	free = 52 * mib // above the margin but not by a memtable: still low
	d.check()
	if d.admitIngest() == nil {
		t.Fatal("state cleared without a memtable to spare")
	}
	free = 60 * mib
	d.check()
	if err := d.admitIngest(); err != nil || d.status().State != "ok" {
		t.Fatalf("after space returned: %v, %+v", err, d.status())
	}
	d.setReadOnly("full at start")
	if err := d.reserve(1); !errors.Is(err, ErrDiskFull) || d.admitIngest() == nil || d.status().State != "read_only" {
		t.Fatalf("read-only: %v, %+v", err, d.status())
	}
}

func badgerOpts4MiB() badger.Options {
	return badger.DefaultOptions("").WithMemTableSize(4 << 20).WithNumMemtables(storeNumMemtables)
}

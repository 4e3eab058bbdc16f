package e2e

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hexfield/hexfield/hotspot"
	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/radio/sim"
	"github.com/hexfield/hexfield/wire"
)

// piTarget is one Raspberry Pi architecture hotspotd is cross-built for.
type piTarget struct {
	name    string   // as in the log: arm64, armv7
	env     []string // GOOS, GOARCH, GOARM
	machine elf.Machine
	qemu    string // Debian qemu-user-static emulator
}

var piTargets = []piTarget{
	{"arm64", []string{"GOOS=linux", "GOARCH=arm64"}, elf.EM_AARCH64, "qemu-aarch64-static"},
	{"armv7", []string{"GOOS=linux", "GOARCH=arm", "GOARM=7"}, elf.EM_ARM, "qemu-arm-static"},
}

// TestPiBinariesUnderQEMU cross-builds hotspotd (CGO_ENABLED=0) for
// linux/arm64 and linux/arm (GOARM=7), the binaries a Raspberry Pi runs,
// and runs each under Debian's qemu-user-static, beside two native
// in-process hotspots, all on one radio/sim medium: each emulated daemon
// gets its frames from a simulated concentrator over Semtech UDP and
// talks QUIC to a real in-process oracle over loopback. It passes when
// each emulated hotspot's beacon is a valid PoC with valid witnesses and
// it is itself a valid witness of another hotspot's beacon, both verified
// by the oracle, and when each daemon exits cleanly on SIGTERM. It logs the
// build times and the emulator processes' RSS.
func TestPiBinariesUnderQEMU(t *testing.T) {
	emu := map[string]string{}
	for _, pt := range piTargets {
		p, err := exec.LookPath(pt.qemu)
		if err != nil {
			t.Skipf("%s not found: install Debian's qemu-user-static (apt-get install -y qemu-user-static) to run the Pi binaries under emulation", pt.qemu)
		}
		emu[pt.name] = p
	}

	// Cross-build both while the oracle and the native hotspots start.
	bins := map[string]string{}
	builds := make(chan error, len(piTargets))
	dir := t.TempDir()
	var mu sync.Mutex
	for _, pt := range piTargets {
		bin := filepath.Join(dir, "hotspotd-"+pt.name)
		bins[pt.name] = bin
		go func() {
			start := time.Now()
			cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "../cmd/hotspotd")
			cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0"), pt.env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				builds <- fmt.Errorf("cross-build hotspotd for %s: %v\n%s", pt.name, err, out)
				return
			}
			if err := checkELF(bin, pt.machine); err != nil {
				builds <- err
				return
			}
			fi, err := os.Stat(bin)
			if err == nil {
				mu.Lock()
				t.Logf("%s: cross-built hotspotd (%.1f MiB) in %v", pt.name, float64(fi.Size())/(1<<20), time.Since(start).Round(100*time.Millisecond))
				mu.Unlock()
			}
			builds <- err
		}()
	}

	o := startOracleWith(t, "oracle", func(c *oracle.Config) {
		// Short epochs: PoCs verify against the registry at their epoch's
		// start, so the hotspots onboarded now count from the next one.
		c.EpochLength = 20 * time.Second
		c.EpochGrace = 10 * time.Second
		c.EntropyLifetime = 10 * time.Second
	})
	w := newWorld(t, 14)
	for i, d := range [][2]float64{{0, 0}, {0.01, 0}} {
		s := w.addSite(fmt.Sprintf("native-%c", 'a'+i), d[0], d[1], o)
		s.startHotspot(t, hotspot.Config{}, o)
	}
	for range piTargets {
		if err := <-builds; err != nil {
			t.Fatal(err)
		}
	}

	type emulated struct {
		pt piTarget
		s  *site
		d  *daemon
	}
	var emus []emulated
	for i, pt := range piTargets {
		s := w.addSite("qemu-"+pt.name, 0.01*float64(i), 0.015, o)
		dataDir := t.TempDir()
		if err := wire.WriteKeyFile(filepath.Join(dataDir, "hotspot.key"), s.key); err != nil {
			t.Fatal(err)
		}
		d := newDaemon(t, dataDir, "--oracles", o.dialString())
		d.exe = []string{emu[pt.name], bins[pt.name]}
		d.start()
		server, err := net.ResolveUDPAddr("udp", d.semtech)
		if err != nil {
			t.Fatal(err)
		}
		s.attach(t, server, sim.ConcentratorConfig{})
		emus = append(emus, emulated{pt, s, d})
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s hotspotd log (tail):\n%s", pt.name, d.log())
			}
		})
	}
	waitRegion(t, w.sites[:2]...)
	for _, e := range emus {
		e.d.waitReady(t)
	}
	ready := time.Now()

	var pocs []oracle.PoCRecord
	fetch := func() {
		resp, err := http.Get("http://" + o.http + "/v1/pocs?limit=1000")
		if err != nil {
			t.Fatalf("GET /v1/pocs: %v", err)
		}
		defer resp.Body.Close()
		pocs = nil
		if err := json.NewDecoder(resp.Body).Decode(&pocs); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /v1/pocs: %d %v", resp.StatusCode, err)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			reasons := map[string]int{}
			for _, p := range pocs {
				reasons[fmt.Sprintf("beacon of %s: %s", p.Beaconer.Name(), p.Reason)]++
				for _, w := range p.Witnesses {
					reasons[fmt.Sprintf("witness %s: %s", w.Hotspot.Name(), w.Reason)]++
				}
			}
			t.Logf("PoC outcomes at the oracle: %v", reasons)
		}
	})
	// beaconed: a valid PoC of hs's beacon with a valid witness;
	// witnessed: hs is a valid witness of another hotspot's valid PoC.
	proven := func(hs wire.PublicKey) (beaconed, witnessed int) {
		for _, p := range pocs {
			if !p.Valid {
				continue
			}
			for _, w := range p.Witnesses {
				if w.Valid && p.Beaconer == hs {
					beaconed++
					break
				}
			}
			for _, w := range p.Witnesses {
				if w.Valid && w.Hotspot == hs && p.Beaconer != hs {
					witnessed++
				}
			}
		}
		return beaconed, witnessed
	}
	waitFor(t, "valid PoCs beaconed and witnessed by both emulated hotspots", 3*time.Minute, func() bool {
		fetch()
		for _, e := range emus {
			if b, w := proven(e.s.pub()); b == 0 || w == 0 {
				return false
			}
		}
		return true
	})
	t.Logf("valid PoCs of both emulated hotspots %v after they were connected", time.Since(ready).Round(time.Second))

	for _, e := range emus {
		b, wi := proven(e.s.pub())
		st, err := e.d.statusNow()
		if err != nil {
			t.Fatal(err)
		}
		hwm, rss := procMemory(t, e.d.cmd.Process.Pid)
		t.Logf("%s under %s: %d valid PoCs beaconed, %d valid witness reports, %d witnesses sent; RSS %s (peak %s)",
			e.pt.name, e.pt.qemu, b, wi, st.WitnessesSent, rss, hwm)
	}
	for _, e := range emus {
		if err := e.d.terminate(t); err != nil {
			t.Fatalf("%s hotspotd exit after SIGTERM: %v\n%s", e.pt.name, err, e.d.log())
		}
	}
}

// checkELF checks that bin is a statically linked Linux executable for
// machine, so the test cannot pass by running a native binary.
func checkELF(bin string, machine elf.Machine) error {
	f, err := elf.Open(bin)
	if err != nil {
		return fmt.Errorf("%s: %w", bin, err)
	}
	defer f.Close()
	if f.Machine != machine {
		return fmt.Errorf("%s: built for %v, want %v", bin, f.Machine, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s: dynamically linked (has an interpreter); want CGO_ENABLED=0", bin)
		}
	}
	return nil
}

// procMemory reads the peak and current resident set size of a process
// from /proc/PID/status (VmHWM, VmRSS), as the kernel prints them.
func procMemory(t testing.TB, pid int) (hwm, rss string) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the emulator's memory: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k {
		case "VmHWM":
			hwm = strings.TrimSpace(v)
		case "VmRSS":
			rss = strings.TrimSpace(v)
		}
	}
	if hwm == "" || rss == "" {
		t.Fatalf("/proc/%d/status has no VmHWM/VmRSS", pid)
	}
	return hwm, rss
}

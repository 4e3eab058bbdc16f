package e2e

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hexfield/hexfield/hotspot"
	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/radio/sim"
	"github.com/hexfield/hexfield/wire"
)

// daemon is a hotspotd process (or an oracled one: newOracledProcess).
type daemon struct {
	t       testing.TB
	exe     []string // the command before args: hotspotdBin, or an emulator and a cross-built binary
	args    []string
	cmd     *exec.Cmd
	status  string // hotspotd's status listener
	semtech string // hotspotd's Semtech UDP listener
	dataDir string // hotspotd's
	logPath string
	exited  chan error
}

func freeUDPPort(t testing.TB) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

func freeTCPPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func newDaemon(t testing.TB, dataDir string, extra ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, exe: []string{hotspotdBin}, semtech: freeUDPPort(t), status: freeTCPPort(t), dataDir: dataDir,
		logPath: filepath.Join(dataDir, "hotspotd.log")}
	d.args = append([]string{"run",
		"--data-dir", dataDir,
		"--semtech-listen", d.semtech,
		"--status-listen", d.status,
		"--log-level", "debug",
	}, extra...)
	return d
}

// startHotspotd runs hotspotd as a process with s's key, talking to
// oracles, on a virtual concentrator of s's radio, and waits until it is
// connected with a region. extra are further flags.
func (s *site) startHotspotd(t testing.TB, oracles []*oracleNode, extra ...string) *daemon {
	t.Helper()
	dataDir := t.TempDir()
	if err := wire.WriteKeyFile(filepath.Join(dataDir, "hotspot.key"), s.key); err != nil {
		t.Fatal(err)
	}
	dials := make([]string, len(oracles))
	for i, o := range oracles {
		dials[i] = o.dialString()
	}
	d := newDaemon(t, dataDir, append([]string{"--oracles", strings.Join(dials, ",")}, extra...)...)
	d.start()
	server, err := net.ResolveUDPAddr("udp", d.semtech)
	if err != nil {
		t.Fatal(err)
	}
	s.attach(t, server, sim.ConcentratorConfig{})
	d.waitReady(t)
	return d
}

func (d *daemon) start() {
	t := d.t
	t.Helper()
	logf, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command(d.exe[0], append(d.exe[1:len(d.exe):len(d.exe)], d.args...)...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	d.exited = make(chan error, 1)
	go func() { d.exited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Kill()
			<-d.exited
		}
	})
}

func (d *daemon) statusNow() (*hotspot.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return hotspot.FetchStatus(ctx, d.status)
}

func (d *daemon) waitReady(t testing.TB) {
	t.Helper()
	waitFor(t, "hotspotd connected with a region", 30*time.Second, func() bool {
		st, err := d.statusNow()
		return err == nil && st.Region == "EU868" && len(st.Oracles) > 0 && st.Oracles[0].Connected
	})
}

func (d *daemon) kill9(t testing.TB) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-d.exited
}

func (d *daemon) terminate(t testing.TB) error {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.exited:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("hotspotd did not exit within 30 s of SIGTERM")
		return nil
	}
}

func (d *daemon) log() string {
	b, _ := os.ReadFile(d.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// TestKill9MidBatch runs hotspotd as a process while a neighbour floods it
// with candidate beacons (50 witness reports a second), kills it with
// SIGKILL in the middle of batches three times and restarts it. Every
// report the outbox held unacknowledged at the kill reaches the oracle, no
// heard beacon is reported twice (nothing acked comes back as a new
// report), and the daemon ends with an empty outbox after SIGTERM.
func TestKill9MidBatch(t *testing.T) {
	o := startOracle(t, "oracle")
	w := newWorld(t, 5)
	s := w.addSite("a", 0, 0, o)
	d := s.startHotspotd(t, []*oracleNode{o}, "--beacon-interval", "24h", "--outbox-sync-interval", "500ms")
	dataDir := d.dataDir

	sp := w.newSpammer("spammer")
	ctx, stopSpam := context.WithCancel(context.Background())
	spamDone := make(chan struct{})
	go func() { defer close(spamDone); sp.run(ctx, 20*time.Millisecond) }()
	oracleKey := wire.PublicKeyOf(o.key)

	var unacked [][32]byte // every report the outbox held unacked at a kill
	stored := func() int { return len(o.reports(t, s.pub(), wire.Kind_KIND_WITNESS_REPORT)) }
	for round := range 3 {
		before := stored()
		waitFor(t, "reports flowing", 20*time.Second, func() bool { return stored() >= before+40 })
		// Kill while a batch is in the outbox (written, maybe not yet
		// fsynced, not yet acked).
		waitFor(t, "a batch in the outbox", 10*time.Second, func() bool {
			st, err := d.statusNow()
			return err == nil && st.Outbox.Reports >= 5
		})
		d.kill9(t)
		ob, err := hotspot.OpenOutbox(hotspot.OutboxConfig{Dir: filepath.Join(dataDir, "outbox"), Oracles: []wire.PublicKey{oracleKey}}, nil, nil)
		if err != nil {
			t.Fatalf("open the killed daemon's outbox: %v", err)
		}
		items, err := ob.Next(0, 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		ob.Close()
		for _, it := range items {
			unacked = append(unacked, wire.ReportID(it.Report))
		}
		t.Logf("kill %d: %d reports stored at the oracle, %d unacked in the outbox", round+1, stored(), len(items))
		d.start()
		d.waitReady(t)
	}
	time.Sleep(500 * time.Millisecond)
	stopSpam()
	<-spamDone
	waitFor(t, "outbox drained", 30*time.Second, func() bool {
		st, err := d.statusNow()
		return err == nil && st.Outbox.Reports == 0
	})
	if err := d.terminate(t); err != nil {
		t.Fatalf("hotspotd exit after SIGTERM: %v\n%s", err, d.log())
	}
	if len(unacked) == 0 {
		t.Fatal("no kill landed mid-batch: the outbox held nothing unacked")
	}
	for _, id := range unacked {
		if _, ok, err := o.o.Store().Report(id); err != nil || !ok {
			t.Fatalf("report %x, unacked at a kill, never reached the oracle (%v)", id[:6], err)
		}
	}
	payloads := map[string]bool{}
	for _, r := range o.reports(t, s.pub(), wire.Kind_KIND_WITNESS_REPORT) {
		var wr wire.WitnessReport
		if _, err := wire.Unseal(r.Envelope, wire.Kind_KIND_WITNESS_REPORT, &wr); err != nil {
			t.Fatal(err)
		}
		var p [radio.BeaconPayloadSize]byte
		copy(p[:], wr.Payload)
		if !sp.sent[p] {
			t.Fatalf("witness report for a payload nobody sent: %q", wr.Payload)
		}
		if payloads[string(wr.Payload)] {
			t.Fatalf("beacon %q reported twice", wr.Payload)
		}
		payloads[string(wr.Payload)] = true
	}
	dups := counter(t, o.reg, "hexfield_oracle_reports_rejected_total", "code", "duplicate")
	t.Logf("%d beacons sent, %d witnessed and stored once each; %d reports unacked at the kills all arrived; %v resent and acked as duplicates",
		sp.count(), len(payloads), len(unacked), dups)
}

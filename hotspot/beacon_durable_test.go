package hotspot

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hexfield/hexfield/radio/semtech"
	"github.com/hexfield/hexfield/wire"
)

// powerCutTx checks, at the moment the beacon is handed to the forwarder,
// that its report is already on disk: fsynced (the outbox's durable mark
// covers it) and found by an outbox opened on a copy of the files as they
// are then, which is what a power cut at that instant would leave. It then
// answers with result.
type powerCutTx struct {
	t      *testing.T
	ob     *Outbox
	dir    string
	result semtech.TxResult

	mu      sync.Mutex
	calls   int
	durable int // transmissions whose report was durable when transmit was called
}

func (p *powerCutTx) transmit(ctx context.Context, txpk semtech.TXPK) (semtech.EUI, semtech.TxResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	payload := txpk.Data[1:]
	// fsynced: the entry holding the report is at or below the durable mark.
	p.ob.mu.Lock()
	synced := false
	for _, e := range p.ob.entries {
		if e.done {
			continue
		}
		buf := make([]byte, e.size)
		e.seg.data.ReadAt(buf, e.off)
		var b wire.BeaconReport
		if _, err := wire.Unseal(buf, wire.Kind_KIND_BEACON_REPORT, &b); err == nil && bytes.Equal(b.Payload, payload) {
			synced = e.seq <= p.ob.durableSeq
		}
	}
	p.ob.mu.Unlock()
	// On disk: what a power cut now would leave, reopened.
	crash := copyOutboxDir(p.t, p.dir)
	found := false
	if o, err := OpenOutbox(OutboxConfig{Dir: crash}, nil, nil); err == nil {
		items, _ := o.Next(0, 0, 1<<20)
		for _, it := range items {
			var b wire.BeaconReport
			if _, err := wire.Unseal(it.Report, wire.Kind_KIND_BEACON_REPORT, &b); err == nil && bytes.Equal(b.Payload, payload) {
				found = true
			}
		}
		o.Close()
	}
	if synced && found {
		p.durable++
	}
	res := p.result
	if res.PowerDBm == 0 {
		res.PowerDBm = txpk.Powe
	}
	return semtech.EUI{1}, res, nil
}

// copyOutboxDir copies an outbox's files, as they are, to a new directory.
func copyOutboxDir(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(dir, "seg-*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Error(err)
		}
		os.WriteFile(filepath.Join(out, filepath.Base(f)), b, 0o600)
	}
	return out
}

// beaconReports returns the beacon reports in the outbox's directory as a
// restart would find them (reading a copy: opening an outbox changes its
// directory).
func beaconReports(t *testing.T, dir string) []*wire.BeaconReport {
	t.Helper()
	o, err := OpenOutbox(OutboxConfig{Dir: copyOutboxDir(t, dir)}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	items, _ := o.Next(0, 0, 1<<20)
	var out []*wire.BeaconReport
	for _, it := range items {
		var b wire.BeaconReport
		if _, err := wire.Unseal(it.Report, wire.Kind_KIND_BEACON_REPORT, &b); err == nil {
			out = append(out, &b)
		}
	}
	return out
}

// TestBeaconReportDurableBeforeTransmit: when the beacon is handed to the
// forwarder its report is already fsynced, with the batched fsync set to a
// full minute so that only the beacon path's own fsync can explain it. The
// TX_ACK then decides what the oracles get: the report as is; for a
// TX_POWER warning, one report with the power used and the first one
// cancelled; for a refusal, nothing. A restart finds the same.
func TestBeaconReportDurableBeforeTransmit(t *testing.T) {
	cases := []struct {
		name   string
		result semtech.TxResult
		power  int32 // of the one report left; 0: none left
	}{
		{"accepted", semtech.TxResult{Acked: true}, 14},
		{"tx power warning", semtech.TxResult{Acked: true, Status: semtech.TxPowerWarning(11), PowerDBm: 11}, 11},
		{"refused", semtech.TxResult{Acked: true, Status: semtech.TxStatusError(semtech.TxFreq)}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newBeaconerHotspot(t, Config{}, nil, prometheus.NewRegistry())
			dir := t.TempDir()
			ob, err := OpenOutbox(OutboxConfig{Dir: dir, SyncInterval: time.Minute, Oracles: testOracleKeys(1)}, nil, h.m.outbox)
			if err != nil {
				t.Fatal(err)
			}
			defer ob.Close()
			h.outbox = ob
			// Reports already waiting for their batched fsync.
			for i := range 3 {
				raw, _ := wire.Seal(h.key, wire.Kind_KIND_WITNESS_REPORT, &wire.WitnessReport{PubKey: h.pub.Bytes(), Tmst: uint32(i)})
				ob.Append(raw)
			}
			tx := &powerCutTx{t: t, ob: ob, dir: dir, result: tc.result}
			h.tx = tx
			h.beaconOnce(context.Background(), 1, time.Now().Add(time.Hour))
			if tx.calls != 1 || tx.durable != 1 {
				t.Fatalf("%d transmissions, %d with the report durable at that moment", tx.calls, tx.durable)
			}
			ob.Sync()
			items, _ := ob.Next(0, 0, 100)
			var sent []*wire.BeaconReport
			for _, it := range items {
				var b wire.BeaconReport
				if _, err := wire.Unseal(it.Report, wire.Kind_KIND_BEACON_REPORT, &b); err == nil {
					sent = append(sent, &b)
				}
			}
			onDisk := beaconReports(t, dir)
			for what, got := range map[string][]*wire.BeaconReport{"to the oracles": sent, "after a restart": onDisk} {
				if tc.power == 0 {
					if len(got) != 0 {
						t.Errorf("%s: %d beacon reports for a beacon never on air", what, len(got))
					}
					continue
				}
				if len(got) != 1 || got[0].TxPowerDbm != tc.power {
					t.Errorf("%s: %d beacon reports %v, want one at %d dBm", what, len(got), got, tc.power)
				}
			}
		})
	}
}

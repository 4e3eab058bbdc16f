package hotspot

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/radio/semtech"
	"github.com/hexfield/hexfield/wire"
)

// rig is a real Hotspot on loopback sockets with a test oracle and a
// semtech Client playing the packet forwarder.
type rig struct {
	h      *Hotspot
	reg    *prometheus.Registry
	o      *testOracle
	fwd    *semtech.Client
	radio  *fakeRadio
	addr   net.Addr
	cancel context.CancelFunc
	done   chan error
}

// fakeRadio answers PULL_RESPs with scripted TX_ACK statuses.
type fakeRadio struct {
	mu     sync.Mutex
	script []semtech.TxStatus // consumed in order; empty = accepted
	always *semtech.TxStatus
	txs    []semtech.TXPK
}

func (f *fakeRadio) HandleDownlink(ctx context.Context, txpk semtech.TXPK) semtech.TxStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.txs = append(f.txs, txpk)
	if f.always != nil {
		return *f.always
	}
	if len(f.script) > 0 {
		s := f.script[0]
		f.script = f.script[1:]
		return s
	}
	return semtech.TxStatus{}
}

func (f *fakeRadio) sent() []semtech.TXPK {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]semtech.TXPK(nil), f.txs...)
}

func startRig(t *testing.T, cfg Config, fr *fakeRadio) *rig {
	t.Helper()
	o := startTestOracle(t)
	cfg.DataDir = t.TempDir()
	cfg.Oracles = []string{o.dialString()}
	cfg.OutboxSyncInterval = 5 * time.Millisecond
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 2 * time.Second
	}
	key, _ := wire.GenerateKey()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	qc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h, err := New(cfg, Deps{Key: key, Semtech: udp, QUIC: qc, Logger: testLogger(t), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{h: h, reg: reg, o: o, radio: fr, addr: udp.LocalAddr(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-r.done; err != nil {
			t.Errorf("hotspot Run: %v", err)
		}
	})
	if fr != nil {
		r.fwd = startForwarder(t, r.addr, semtech.EUI{0xb8, 0x27, 0xeb, 0xff, 0xfe, 0x12, 0x34, 0x56}, fr)
	}
	return r
}

// startForwarder plays the packet forwarder. Its PUSH_ACK wait is long, so
// that a loaded machine does not fail a Push the hotspot did receive.
func startForwarder(t *testing.T, server net.Addr, eui semtech.EUI, h semtech.DownlinkHandler) *semtech.Client {
	t.Helper()
	return startForwarderEvery(t, server, eui, h, 100*time.Millisecond)
}

// reports returns the test oracle's stored reports of one kind, decoded.
func (o *testOracle) witnesses(t *testing.T) []*wire.WitnessReport {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []*wire.WitnessReport
	for _, raw := range o.reports {
		var w wire.WitnessReport
		if _, err := wire.Unseal(raw, wire.Kind_KIND_WITNESS_REPORT, &w); err == nil {
			out = append(out, &w)
		}
	}
	return out
}

func (o *testOracle) beacons(t *testing.T) []*wire.BeaconReport {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []*wire.BeaconReport
	for _, raw := range o.reports {
		var b wire.BeaconReport
		if _, err := wire.Unseal(raw, wire.Kind_KIND_BEACON_REPORT, &b); err == nil {
			out = append(out, &b)
		}
	}
	return out
}

func beaconRXPK(payload [radio.BeaconPayloadSize]byte) semtech.RXPK {
	rssis := radio.DBm(-96)
	tmms := uint64(1_400_000_000_123)
	return semtech.RXPK{
		Tmst: 4294000000, Tmms: &tmms, Freq: 867_900_000, Chan: 4, Stat: 1, Modu: "LORA",
		DatR: semtech.DatRFor(radio.DataRate{SF: 12, Bandwidth: 125_000}), CodR: "4/5",
		RSSI: -95, RSSIS: &rssis, LSNR: 7.5, Data: radio.BeaconFrame(payload),
	}
}

func dataRXPK(data []byte) semtech.RXPK {
	return semtech.RXPK{
		Tmst: 1, Freq: 868_100_000, Stat: 1, Modu: "LORA",
		DatR: semtech.DatRFor(radio.DataRate{SF: 7, Bandwidth: 125_000}), CodR: "4/5",
		RSSI: -57, LSNR: 9.5, Data: data,
	}
}

func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func TestWitnessPath(t *testing.T) {
	r := startRig(t, Config{Region: "EU868", BeaconInterval: time.Hour}, &fakeRadio{})
	ctx := context.Background()
	var other [radio.BeaconPayloadSize]byte
	copy(other[:], bytes.Repeat([]byte{0x5a}, 51))
	// A beacon, the same beacon again (another antenna / repeat), a data
	// uplink, a join request and a join-accept (dropped).
	uplink := []byte{0x40, 0xda, 0x1b, 0x01, 0x26, 0x00, 0x01, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0xa1, 0xb2, 0xc3, 0xd4}
	join := append([]byte{0x00}, bytes.Repeat([]byte{1}, 22)...)
	accept := append([]byte{0x20}, bytes.Repeat([]byte{2}, 16)...)
	if err := r.fwd.Push(ctx, []semtech.RXPK{beaconRXPK(other), dataRXPK(uplink), dataRXPK(join), dataRXPK(accept)}, nil); err != nil {
		t.Fatal(err)
	}
	r.fwd.Push(ctx, []semtech.RXPK{beaconRXPK(other)}, nil)
	waitFor(t, "witness report at the oracle", 10*time.Second, func() bool { return len(r.o.witnesses(t)) == 1 })
	w := r.o.witnesses(t)[0]
	if !bytes.Equal(w.Payload, other[:]) || w.FrequencyHz != 867_900_000 || w.Datarate != "SF12BW125" ||
		w.RssiDdbm != -950 || w.GetRssisDdbm() != -960 || w.SnrDdb != 75 || w.Tmst != 4294000000 ||
		w.GetGpsTimeMs() != 1_400_000_000_123 || !bytes.Equal(w.PubKey, r.h.pub.Bytes()) {
		t.Fatalf("witness report %v", w)
	}
	waitFor(t, "counters", 5*time.Second, func() bool {
		return counter(t, r.reg, "hexfield_hotspot_witnesses_total", "result", "repeat") == 1
	})
	for class, want := range map[string]float64{"beacon": 2, "uplink": 1, "join": 1, "dropped": 1} {
		if got := counter(t, r.reg, "hexfield_hotspot_frames_total", "class", class); got != want {
			t.Errorf("frames{class=%s} = %v, want %v", class, got, want)
		}
	}
	if got := counter(t, r.reg, "hexfield_hotspot_dropped_frames_total", "reason", ReasonDownlink); got != 1 {
		t.Errorf("dropped{downlink} = %v", got)
	}

	// Garbage on the Semtech port does not stop the daemon.
	junk, _ := net.Dial("udp", r.addr.String())
	for _, b := range [][]byte{{}, {2}, {2, 0, 0, 0}, {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9}, append([]byte{2, 1, 2, 0, 1, 2, 3, 4, 5, 6, 7, 8}, []byte(`{"rxpk":[{"data":"!!"}]`)...)} {
		junk.Write(b)
	}
	junk.Close()
	var next [radio.BeaconPayloadSize]byte
	next[0] = 1
	r.fwd.Push(ctx, []semtech.RXPK{beaconRXPK(next)}, nil)
	waitFor(t, "second witness after garbage", 10*time.Second, func() bool { return len(r.o.witnesses(t)) == 2 })

	st := r.h.Status()
	if st.WitnessesSent != 2 || st.Region != "EU868" || len(st.Forwarders) != 1 || !st.Forwarders[0].Alive {
		t.Fatalf("status %+v", st)
	}
}

func TestNoRegionNothingForwarded(t *testing.T) {
	r := startRig(t, Config{BeaconInterval: time.Hour}, &fakeRadio{})
	// The oracle says: not asserted, so no region.
	waitFor(t, "config applied", 10*time.Second, func() bool { return r.h.Status().ConfigFrom != "" })
	var other [radio.BeaconPayloadSize]byte
	other[3] = 3
	r.fwd.Push(context.Background(), []semtech.RXPK{beaconRXPK(other)}, nil)
	waitFor(t, "dropped for no region", 5*time.Second, func() bool {
		return counter(t, r.reg, "hexfield_hotspot_dropped_frames_total", "reason", ReasonNoRegion) == 1
	})
	if n := r.o.count(); n != 0 {
		t.Fatalf("%d reports sent without a region", n)
	}
	// Once the oracle says where the hotspot is, beacons are witnessed.
	r.o.mu.Lock()
	r.o.config = &wire.Config{Region: "EU868", Asserted: true, GainDdbi: 12}
	r.o.mu.Unlock()
	r.h.applyConfig(r.o.pub, mustConfig(t, r))
	other[3] = 4
	r.fwd.Push(context.Background(), []semtech.RXPK{beaconRXPK(other)}, nil)
	waitFor(t, "witness after region known", 10*time.Second, func() bool { return len(r.o.witnesses(t)) == 1 })
}

func mustConfig(t *testing.T, r *rig) *wire.Config {
	t.Helper()
	c, err := r.h.oracles[0].fetchConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkBeacon regenerates the beacon from the report as the verifier does.
func checkBeacon(t *testing.T, b *wire.BeaconReport, pub wire.PublicKey, power int) {
	t.Helper()
	var ent wire.Entropy
	if _, err := wire.Unseal(b.Entropy, wire.Kind_KIND_ENTROPY, &ent); err != nil {
		t.Fatalf("beacon report entropy: %v", err)
	}
	var data [32]byte
	copy(data[:], ent.Data)
	var nonce [16]byte
	copy(nonce[:], b.Nonce)
	region, _ := radio.LookupRegion("EU868")
	want, err := radio.NewBeacon(region, data, ent.Ts, pub, nonce, 12)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Payload, want.Payload[:]) || b.FrequencyHz != uint64(want.Frequency) ||
		b.Datarate != want.DataRate.String() || int(b.TxPowerDbm) != power {
		t.Fatalf("beacon report %v, regenerated %+v (power %d)", b, want, power)
	}
}

func TestBeaconerSendsBeacon(t *testing.T) {
	fr := &fakeRadio{}
	r := startRig(t, Config{Region: "EU868", BeaconInterval: 3 * time.Second}, fr)
	waitFor(t, "beacon report", 15*time.Second, func() bool { return len(r.o.beacons(t)) >= 1 })
	b := r.o.beacons(t)[0]
	checkBeacon(t, b, r.h.pub, 14) // (161 − 12) / 10
	txs := fr.sent()
	tx := txs[0]
	if !tx.Imme || tx.IPol || tx.CodR != "4/5" || tx.Modu != "LORA" || tx.Powe != 14 ||
		uint64(tx.Freq) != b.FrequencyHz || tx.DatR.String() != "SF12BW125" || !bytes.Equal(tx.Data[1:], b.Payload) || tx.Data[0] != 0xE0 {
		t.Fatalf("txpk %+v", tx)
	}
	// Our own beacon coming back through the concentrator is not witnessed.
	var own [radio.BeaconPayloadSize]byte
	copy(own[:], b.Payload)
	r.fwd.Push(context.Background(), []semtech.RXPK{beaconRXPK(own)}, nil)
	waitFor(t, "own beacon ignored", 5*time.Second, func() bool {
		return counter(t, r.reg, "hexfield_hotspot_witnesses_total", "result", "own") == 1
	})
	// One beacon per window: a second comes only in a later window.
	if st := r.h.Status(); st.LastBeacon == nil || st.LastBeacon.Result != "sent" || st.LastBeacon.PowerDBm != 14 {
		t.Fatalf("status last beacon %+v", st.LastBeacon)
	}
}

func TestBeaconerTxFreqNoReport(t *testing.T) {
	st := semtech.TxStatusError(semtech.TxFreq)
	fr := &fakeRadio{always: &st}
	r := startRig(t, Config{Region: "EU868", BeaconInterval: 6 * time.Second}, fr)
	waitFor(t, "TX_FREQ counted", 15*time.Second, func() bool {
		return counter(t, r.reg, "hexfield_hotspot_beacon_tx_errors_total", "error", "TX_FREQ") >= 2
	})
	if n := len(r.o.beacons(t)); n != 0 {
		t.Fatalf("%d beacon reports for beacons the forwarder refused", n)
	}
	if lb := r.h.Status().LastBeacon; lb == nil || lb.Result != "tx_error" || !strings.Contains(lb.Error, "TX_FREQ") {
		t.Fatalf("last beacon %+v", lb)
	}
}

func TestBeaconerReportsPowerUsed(t *testing.T) {
	fr := &fakeRadio{script: []semtech.TxStatus{semtech.TxPowerWarning(12)}}
	r := startRig(t, Config{Region: "EU868", BeaconInterval: 3 * time.Second}, fr)
	waitFor(t, "beacon report", 15*time.Second, func() bool { return len(r.o.beacons(t)) >= 1 })
	checkBeacon(t, r.o.beacons(t)[0], r.h.pub, 12)
}

func TestStatusAPI(t *testing.T) {
	r := startRig(t, Config{Region: "EU868", BeaconInterval: time.Hour}, &fakeRadio{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.h.ServeStatus(ctx, ln, r.reg) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "oracle connected", 10*time.Second, func() bool { return r.h.Status().Oracles[0].Connected })
	waitFor(t, "forwarder seen", 10*time.Second, func() bool { return len(r.h.Status().Forwarders) == 1 })
	lat, lng := 52.37, 4.89
	if err := r.fwd.Push(context.Background(), nil, &semtech.Stat{Lati: &lat, Long: &lng, RXNb: 5, RXOk: 4, RXFw: 4, ACKR: 100}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "forwarder stat", 5*time.Second, func() bool { return r.h.Status().Forwarders[0].Stat != nil })
	st, err := FetchStatus(context.Background(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if st.Address != r.h.pub.String() || st.Region != "EU868" || !st.Oracles[0].Connected || len(st.Forwarders) != 1 {
		t.Fatalf("status %+v", st)
	}
	var buf bytes.Buffer
	st.WriteText(&buf)
	for _, want := range []string{r.h.pub.String(), r.h.pub.Name(), "EU868", "connected since", "B827EBFFFE123456 alive", "received 5 (CRC ok 4, forwarded 4)", "GPS 52.37000,4.89000", "outbox"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("status text lacks %q:\n%s", want, buf.String())
		}
	}
	mf, err := testutil.GatherAndCount(r.reg, "hexfield_hotspot_oracle_connected")
	if err != nil || mf != 1 {
		t.Fatalf("oracle_connected series %d, %v", mf, err)
	}
}

func TestShutdownFlushesOutbox(t *testing.T) {
	r := startRig(t, Config{Region: "EU868", BeaconInterval: time.Hour}, &fakeRadio{})
	waitFor(t, "oracle connected", 10*time.Second, func() bool { return r.h.Status().Oracles[0].Connected })
	for i := range 200 {
		raw, _ := wire.Seal(r.h.key, wire.Kind_KIND_WITNESS_REPORT, &wire.WitnessReport{PubKey: r.h.pub.Bytes(), Tmst: uint32(i)})
		r.h.queue(raw, "witness")
	}
	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatal(err)
	}
	r.done <- nil // for the cleanup
	if n := r.o.count(); n != 200 {
		t.Fatalf("after graceful shutdown the oracle has %d of 200", n)
	}
}

package hotspot

import (
	"context"
	"encoding/binary"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/radio/semtech"
)

// latencies collects durations and reports their p50 and p99.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return
	}
	slices.Sort(l.d)
	q := func(p float64) float64 { return float64(l.d[int(p*float64(len(l.d)-1))].Microseconds()) }
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
}

// benchLNS is a Semtech UDP server playing the customer's LNS: it notes
// when each uplink (numbered in its payload) arrives.
type benchLNS struct {
	mu   sync.Mutex
	sent map[uint32]time.Time
	lat  *latencies
}

func (l *benchLNS) HandleUplink(_ context.Context, u semtech.Uplink) {
	if len(u.RXPK.Data) < 13 {
		return
	}
	n := binary.LittleEndian.Uint32(u.RXPK.Data[9:13])
	l.mu.Lock()
	at, ok := l.sent[n]
	delete(l.sent, n)
	l.mu.Unlock()
	if ok {
		l.lat.add(u.Received.Sub(at))
	}
}

// benchRadio is the concentrator's downlink side: it accepts every txpk
// and notes when it arrived.
type benchRadio struct {
	got chan time.Time
}

func (r *benchRadio) HandleDownlink(context.Context, semtech.TXPK) semtech.TxStatus {
	r.got <- time.Now()
	return semtech.TxStatus{}
}

type forwardBench struct {
	h    *Hotspot
	lns  *semtech.Server
	bl   *benchLNS
	fwd  *semtech.Client
	rad  *benchRadio
	addr uint32
}

// startForwardBench runs, over loopback UDP, a concentrator (semtech
// client) → a real hotspot with one route → an LNS (semtech server).
func startForwardBench(b *testing.B) *forwardBench {
	udp := func(a string) (net.PacketConn, error) { return net.ListenPacket("udp", a) }
	lc, _ := udp("127.0.0.1:0")
	bl := &benchLNS{sent: map[uint32]time.Time{}, lat: &latencies{}}
	lns, err := semtech.NewServer(semtech.ServerConfig{Handler: bl, QueueSize: 4096}, lc, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	runOwned(b, "lns", lns.Run)
	h, _ := fwHotspot(b, udp, Config{Region: "EU868", OutboxSyncInterval: DefaultOutboxSyncInterval})
	fwSetup(b, h, fwRoute("acme", lns.Addr()))
	rad := &benchRadio{got: make(chan time.Time, 1)}
	up, _ := udp("127.0.0.1:0")
	down, _ := udp("127.0.0.1:0")
	c, err := semtech.NewClient(semtech.ClientConfig{EUI: semtech.EUI{1, 2, 3, 4, 5, 6, 7, 8}, KeepaliveInterval: time.Second, Handler: rad},
		up, down, h.bridge.srv.Addr(), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	runOwned(b, "concentrator", c.Run)
	waitFor(b, "concentrator online", 10*time.Second, func() bool {
		g, ok := h.bridge.srv.Gateway(c.EUI())
		return ok && g.Online
	})
	return &forwardBench{h: h, lns: lns, bl: bl, fwd: c, rad: rad, addr: 0x02000001}
}

// uplink pushes data uplink n from the concentrator, noting when.
func (fb *forwardBench) uplink(b *testing.B, n uint32) {
	frame := []byte{0x40, 0, 0, 0, 0, 0x00, byte(n), byte(n >> 8), 0x01, 0, 0, 0, 0, 0xa1, 0xb2, 0xc3, 0xd4}
	binary.LittleEndian.PutUint32(frame[1:5], fb.addr)
	binary.LittleEndian.PutUint32(frame[9:13], n)
	rx := dataRXPK(frame)
	rx.Tmst = n
	fb.bl.mu.Lock()
	fb.bl.sent[n] = time.Now()
	fb.bl.mu.Unlock()
	if err := fb.fwd.Push(context.Background(), []semtech.RXPK{rx}, nil); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkForwardUplinkLatency sends data uplinks at 200 per second from
// a concentrator through a running hotspot to an LNS, all over loopback
// UDP, and reports the p50 and p99 of concentrator send → LNS receive
// (two UDP hops plus the hotspot's classify, match and forward).
func BenchmarkForwardUplinkLatency(b *testing.B) {
	fb := startForwardBench(b)
	tick := time.NewTicker(5 * time.Millisecond) // 200 uplinks/s
	defer tick.Stop()
	n := uint32(0)
	for b.Loop() {
		<-tick.C
		n++
		fb.uplink(b, n)
	}
	b.StopTimer()
	waitFor(b, "uplinks at the LNS", 10*time.Second, func() bool {
		fb.bl.lat.mu.Lock()
		defer fb.bl.lat.mu.Unlock()
		return len(fb.bl.lat.d) == int(n)
	})
	fb.bl.lat.report(b)
}

// BenchmarkForwardDownlinkLatency sends PULL_RESPs from the LNS to the
// hotspot's gateway session and reports the p50 and p99 of LNS send →
// concentrator receive (the hotspot's region check and its own PULL_RESP
// to the concentrator); each waits for the relayed TX_ACK.
func BenchmarkForwardDownlinkLatency(b *testing.B) {
	fb := startForwardBench(b)
	fb.uplink(b, 1) // opens the session
	eui := GatewayEUI(fb.h.PublicKey())
	waitFor(b, "session at the LNS", 10*time.Second, func() bool {
		g, ok := fb.lns.Gateway(eui)
		return ok && g.Online
	})
	txpk := semtech.TXPK{Imme: true, Freq: 869_525_000, Powe: 14, Modu: "LORA",
		DatR: semtech.DatRFor(radio.DataRate{SF: 9, Bandwidth: 125_000}), CodR: "4/5", IPol: true, Data: []byte{0x60, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}}
	lat := &latencies{}
	for b.Loop() {
		start := time.Now()
		res, err := fb.lns.Send(context.Background(), eui, txpk)
		if err != nil || !res.Accepted() {
			b.Fatalf("Send = %+v, %v", res, err)
		}
		lat.add((<-fb.rad.got).Sub(start))
	}
	lat.report(b)
}

// BenchmarkDirectUplinkLatency is the baseline of
// BenchmarkForwardUplinkLatency: the same uplinks at the same rate from
// the concentrator straight to the LNS, one UDP hop, no hotspot. The
// hotspot's added latency is the difference.
func BenchmarkDirectUplinkLatency(b *testing.B) {
	lc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	bl := &benchLNS{sent: map[uint32]time.Time{}, lat: &latencies{}}
	lns, err := semtech.NewServer(semtech.ServerConfig{Handler: bl, QueueSize: 4096}, lc, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	runOwned(b, "lns", lns.Run)
	up, _ := net.ListenPacket("udp", "127.0.0.1:0")
	c, err := semtech.NewClient(semtech.ClientConfig{EUI: semtech.EUI{1, 2, 3, 4, 5, 6, 7, 8}}, up, nil, lns.Addr(), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	runOwned(b, "concentrator", c.Run)
	fb := &forwardBench{bl: bl, fwd: c, addr: 0x02000001}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	n := uint32(0)
	for b.Loop() {
		<-tick.C
		n++
		fb.uplink(b, n)
	}
	b.StopTimer()
	waitFor(b, "uplinks at the LNS", 10*time.Second, func() bool {
		bl.lat.mu.Lock()
		defer bl.lat.mu.Unlock()
		return len(bl.lat.d) == int(n)
	})
	bl.lat.report(b)
}

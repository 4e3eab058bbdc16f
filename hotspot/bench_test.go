package hotspot

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hexfield/hexfield/radio/semtech"
	"github.com/hexfield/hexfield/wire"
)

// BenchmarkBridgeUplinks pushes data uplinks from a semtech Client (the
// forwarder side) into a running Hotspot over loopback UDP, one PUSH_DATA
// per uplink, each waiting for its PUSH_ACK: the cost of the daemon's
// receive → ack → classify path per packet, and its round trip.
func BenchmarkBridgeUplinks(b *testing.B) {
	udp, _ := net.ListenPacket("udp", "127.0.0.1:0")
	key, _ := wire.GenerateKey()
	reg := prometheus.NewRegistry()
	h, err := New(Config{DataDir: b.TempDir(), Region: "EU868", BeaconInterval: 24 * time.Hour},
		Deps{Key: key, Semtech: udp, Registerer: reg})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	defer func() { cancel(); <-done }()
	up, _ := net.ListenPacket("udp", "127.0.0.1:0")
	down, _ := net.ListenPacket("udp", "127.0.0.1:0")
	c, err := semtech.NewClient(semtech.ClientConfig{EUI: semtech.EUI{1, 2, 3, 4, 5, 6, 7, 8}, PushTimeout: time.Second},
		up, down, udp.LocalAddr(), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	cdone := make(chan struct{})
	go func() { defer close(cdone); c.Run(cctx) }()
	defer func() { ccancel(); <-cdone }()
	rx := []semtech.RXPK{dataRXPK([]byte{0x40, 0xda, 0x1b, 0x01, 0x26, 0x00, 0x01, 0x00, 0x01, 1, 2, 3, 4, 0xa1, 0xb2, 0xc3, 0xd4})}
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Push(ctx, rx, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	waitFor(b, "frames counted", 5*time.Second, func() bool {
		return h.m.frames.WithLabelValues("uplink") != nil && counterValue(h.m.frames.WithLabelValues("uplink")) >= float64(b.N)
	})
}

package semtech

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestServerMetricsText compares scraped metrics after a known exchange.
func TestServerMetricsText(t *testing.T) {
	s := startServer(t, ServerConfig{})
	f := newRawForwarder(t, s.Addr())
	f.send([]byte{2, 0})
	badCRC := strings.Replace(specUplinkJSON, `"stat":1`, `"stat":-1`, 1)
	f.send(datagram(t, specPushDataHeader, `{"rxpk":[`+specUplinkJSON[9:len(specUplinkJSON)-2]+`,`+badCRC[9:len(badCRC)-2]+`]}`))
	f.expect(time.Second, unhex(t, specPushAck))
	s.rec.next(t)
	waitMetric(t, s.reg, "hexfield_semtech_rxpk_dropped_total", rxpkCRC, 1)
	want := `
# HELP hexfield_semtech_dropped_total GWMP datagrams dropped by the server, by reason.
# TYPE hexfield_semtech_dropped_total counter
hexfield_semtech_dropped_total{reason="too_short"} 1
# HELP hexfield_semtech_rxpk_dropped_total Received packets (rxpk) not delivered to hexfield, by reason.
# TYPE hexfield_semtech_rxpk_dropped_total counter
hexfield_semtech_rxpk_dropped_total{reason="crc"} 1
# HELP hexfield_semtech_uplinks_total Received LoRa packets delivered to the uplink handler.
# TYPE hexfield_semtech_uplinks_total counter
hexfield_semtech_uplinks_total 1
# HELP hexfield_semtech_datagrams_total GWMP datagrams received by the server with a valid header, by message type.
# TYPE hexfield_semtech_datagrams_total counter
hexfield_semtech_datagrams_total{type="PUSH_DATA"} 1
`
	if err := testutil.GatherAndCompare(s.reg, strings.NewReader(want),
		"hexfield_semtech_dropped_total", "hexfield_semtech_rxpk_dropped_total", "hexfield_semtech_uplinks_total", "hexfield_semtech_datagrams_total"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(s.reg); err != nil || len(problems) > 0 {
		t.Errorf("metric lint: %v %v", problems, err)
	}
}

// discardConn is a net.PacketConn that drops writes; the fuzz target below
// calls the server's datagram handler directly with it.
type discardConn struct{ net.PacketConn }

func (discardConn) WriteTo(b []byte, _ net.Addr) (int, error) { return len(b), nil }
func (discardConn) LocalAddr() net.Addr                       { return &net.UDPAddr{} }

// FuzzServerHandle feeds arbitrary datagrams to the server's handler: it
// must never panic (the handler's recover is a last resort that this
// target requires to stay unused) and never deliver an unfiltered uplink.
func FuzzServerHandle(f *testing.F) {
	for _, s := range []string{specPullData, specTxAckOK, specTxAckPower, specPushAck} {
		f.Add(unhex(f, s))
	}
	f.Add(datagram(f, specPushDataHeader, specUplinkJSON))
	f.Add(datagram(f, specPushDataHeader, specBeaconJSON))
	f.Add(datagram(f, specStatHeader, specStatJSON))
	f.Fuzz(func(t *testing.T, data []byte) {
		reg := prometheus.NewRegistry()
		rec := newRecorder()
		// Pinned to the spec's EUI when the datagram's last byte is odd,
		// so both the open and the pinned paths are explored.
		cfg := ServerConfig{Handler: rec}
		if len(data) > 0 && data[len(data)-1]&1 == 1 {
			cfg.PinForwarder, cfg.ForwarderEUI = true, specEUI
		}
		s, err := NewServer(cfg, discardConn{}, nil, reg)
		if err != nil {
			t.Fatal(err)
		}
		addr := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1700}
		s.handle(context.Background(), data, addr)
		if n := metric(t, reg, "hexfield_semtech_dropped_total", dropPanic); n != 0 {
			t.Fatalf("handler panicked on % X", data)
		}
		for len(s.events) > 0 {
			e := <-s.events
			if e.stat != nil {
				continue
			}
			if r := e.uplink.RXPK; r.Stat != 1 || r.Modu != "LORA" || e.uplink.DataRate.SF < 7 || e.uplink.DataRate.SF > 12 {
				t.Fatalf("unfiltered uplink %+v", r)
			}
		}
	})
}

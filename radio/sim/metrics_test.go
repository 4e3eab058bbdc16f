package sim

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hexfield/hexfield/radio/semtech"
)

func TestMediumMetrics(t *testing.T) {
	m, clk := exactMedium(t)
	reg := prometheus.NewPedanticRegistry()
	if err := m.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	tx, _ := attach(t, m, "tx", 0, 0)
	attach(t, m, "near", 0, 500)
	attach(t, m, "far", 0, 8000)
	send(t, tx, Transmission{Frequency: f8671, DataRate: sf7, Power: 14, Payload: []byte{1}})
	clk.Advance(time.Second)
	want := `
# HELP hexfield_sim_deliveries_total Receptions the simulated medium handed to listening radios.
# TYPE hexfield_sim_deliveries_total counter
hexfield_sim_deliveries_total 1
# HELP hexfield_sim_receptions_lost_total Receptions lost on the simulated medium, by reason.
# TYPE hexfield_sim_receptions_lost_total counter
hexfield_sim_receptions_lost_total{reason="below_sensitivity"} 1
hexfield_sim_receptions_lost_total{reason="collision"} 0
hexfield_sim_receptions_lost_total{reason="half_duplex"} 0
# HELP hexfield_sim_transmissions_total Frames put on the simulated medium.
# TYPE hexfield_sim_transmissions_total counter
hexfield_sim_transmissions_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if err := m.RegisterMetrics(reg); err == nil {
		t.Error("registering twice succeeded")
	}
}

func TestConcentratorMetrics(t *testing.T) {
	m, _ := exactMedium(t)
	reg := prometheus.NewPedanticRegistry()
	for _, name := range []string{"a", "b"} {
		r, _ := attach(t, m, name, 0, 0)
		conn, err := udp("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		c, err := NewConcentrator(ConcentratorConfig{}, r, conn, nil, conn.LocalAddr(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.RegisterMetrics(reg); err != nil {
			t.Fatal(err)
		}
	}
	n, err := testutil.GatherAndCount(reg, "hexfield_sim_concentrator_frames_total", "hexfield_sim_concentrator_downlinks_total")
	if err != nil || n != 2*(4+3) {
		t.Errorf("%d series (%v), want 14", n, err)
	}
}

func TestLNSMetrics(t *testing.T) {
	l := fuzzLNS(t)
	reg := prometheus.NewPedanticRegistry()
	if err := l.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	frames := validFrames(t)
	for _, f := range [][]byte{frames[0], frames[1], frames[1], {0x40}} {
		l.handleGroup(context.Background(), &uplinkGroup{copies: []semtech.Uplink{fuzzUplink(f)}})
	}
	want := `
# HELP hexfield_sim_lns_downlinks_total Downlinks the test LNS sent, by TX_ACK result.
# TYPE hexfield_sim_lns_downlinks_total counter
hexfield_sim_lns_downlinks_total{result="not_sent"} 1
# HELP hexfield_sim_lns_frames_refused_total Frames the test LNS refused, by reason.
# TYPE hexfield_sim_lns_frames_refused_total counter
hexfield_sim_lns_frames_refused_total{reason="bad_mic"} 0
hexfield_sim_lns_frames_refused_total{reason="devnonce_reused"} 0
hexfield_sim_lns_frames_refused_total{reason="fcnt_gap"} 0
hexfield_sim_lns_frames_refused_total{reason="fcnt_replay"} 1
hexfield_sim_lns_frames_refused_total{reason="not_uplink"} 0
hexfield_sim_lns_frames_refused_total{reason="panic"} 0
hexfield_sim_lns_frames_refused_total{reason="queue_full"} 0
hexfield_sim_lns_frames_refused_total{reason="undecodable"} 1
hexfield_sim_lns_frames_refused_total{reason="unknown_device"} 0
# HELP hexfield_sim_lns_joins_total Joins the test LNS accepted.
# TYPE hexfield_sim_lns_joins_total counter
hexfield_sim_lns_joins_total 1
# HELP hexfield_sim_lns_uplinks_total Data uplinks the test LNS accepted.
# TYPE hexfield_sim_lns_uplinks_total counter
hexfield_sim_lns_uplinks_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

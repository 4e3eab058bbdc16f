package sim

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are read from Stats at scrape time, so registering costs nothing
// on the delivery path.

// RegisterMetrics registers the medium's counters on reg:
// hexfield_sim_transmissions_total, hexfield_sim_deliveries_total and
// hexfield_sim_receptions_lost_total{reason} with reasons "collision",
// "half_duplex" and "below_sensitivity".
func (m *Medium) RegisterMetrics(reg prometheus.Registerer) error {
	col := mediumCollector{
		m: m,
		transmissions: prometheus.NewDesc("hexfield_sim_transmissions_total",
			"Frames put on the simulated medium.", nil, nil),
		deliveries: prometheus.NewDesc("hexfield_sim_deliveries_total",
			"Receptions the simulated medium handed to listening radios.", nil, nil),
		lost: prometheus.NewDesc("hexfield_sim_receptions_lost_total",
			"Receptions lost on the simulated medium, by reason.", []string{"reason"}, nil),
	}
	if err := reg.Register(col); err != nil {
		return fmt.Errorf("register medium metrics: %w", err)
	}
	return nil
}

type mediumCollector struct {
	m                               *Medium
	transmissions, deliveries, lost *prometheus.Desc
}

func (c mediumCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.transmissions
	ch <- c.deliveries
	ch <- c.lost
}

func (c mediumCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.Stats()
	ch <- prometheus.MustNewConstMetric(c.transmissions, prometheus.CounterValue, float64(s.Transmissions))
	ch <- prometheus.MustNewConstMetric(c.deliveries, prometheus.CounterValue, float64(s.Deliveries))
	ch <- prometheus.MustNewConstMetric(c.lost, prometheus.CounterValue, float64(s.Collisions), "collision")
	ch <- prometheus.MustNewConstMetric(c.lost, prometheus.CounterValue, float64(s.HalfDuplex), "half_duplex")
	ch <- prometheus.MustNewConstMetric(c.lost, prometheus.CounterValue, float64(s.BelowSensitivity), "below_sensitivity")
}

// RegisterMetrics registers the concentrator's counters on reg, labelled
// with its EUI: hexfield_sim_concentrator_frames_total{eui,event} with
// events "received", "forwarded", "dropped" and "emitted", and
// hexfield_sim_concentrator_downlinks_total{eui,result} with results
// "scheduled", "rejected" and "no_ack". Several concentrators may share
// one registry.
func (c *Concentrator) RegisterMetrics(reg prometheus.Registerer) error {
	labels := prometheus.Labels{"eui": c.cfg.EUI.String()}
	col := concentratorCollector{
		c: c,
		frames: prometheus.NewDesc("hexfield_sim_concentrator_frames_total",
			"Frames a simulated concentrator handled, by event.", []string{"event"}, labels),
		downlinks: prometheus.NewDesc("hexfield_sim_concentrator_downlinks_total",
			"PULL_RESP requests a simulated concentrator answered, by result.", []string{"result"}, labels),
	}
	if err := reg.Register(col); err != nil {
		return fmt.Errorf("register concentrator %s metrics: %w", c.cfg.EUI, err)
	}
	return nil
}

type concentratorCollector struct {
	c                 *Concentrator
	frames, downlinks *prometheus.Desc
}

func (c concentratorCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.frames
	ch <- c.downlinks
}

func (c concentratorCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.c.Stats()
	for _, v := range []struct {
		n     uint64
		label string
	}{{s.Received, "received"}, {s.Forwarded, "forwarded"}, {s.RxDropped, "dropped"}, {s.Emitted, "emitted"}} {
		ch <- prometheus.MustNewConstMetric(c.frames, prometheus.CounterValue, float64(v.n), v.label)
	}
	for _, v := range []struct {
		n     uint64
		label string
	}{{s.Scheduled, "scheduled"}, {s.Rejected, "rejected"}, {s.NoAck, "no_ack"}} {
		ch <- prometheus.MustNewConstMetric(c.downlinks, prometheus.CounterValue, float64(v.n), v.label)
	}
}

// RegisterMetrics registers the LNS's counters on reg:
// hexfield_sim_lns_uplinks_total, hexfield_sim_lns_joins_total,
// hexfield_sim_lns_frames_refused_total{reason} (the RejectReason values)
// and hexfield_sim_lns_downlinks_total{result} (see LNSStats.TxResults).
// The gateway bridge's own metrics go to the registry given to NewLNS.
func (l *LNS) RegisterMetrics(reg prometheus.Registerer) error {
	col := lnsCollector{
		l: l,
		uplinks: prometheus.NewDesc("hexfield_sim_lns_uplinks_total",
			"Data uplinks the test LNS accepted.", nil, nil),
		joins: prometheus.NewDesc("hexfield_sim_lns_joins_total",
			"Joins the test LNS accepted.", nil, nil),
		refused: prometheus.NewDesc("hexfield_sim_lns_frames_refused_total",
			"Frames the test LNS refused, by reason.", []string{"reason"}, nil),
		downlinks: prometheus.NewDesc("hexfield_sim_lns_downlinks_total",
			"Downlinks the test LNS sent, by TX_ACK result.", []string{"result"}, nil),
	}
	if err := reg.Register(col); err != nil {
		return fmt.Errorf("register lns metrics: %w", err)
	}
	return nil
}

type lnsCollector struct {
	l                                  *LNS
	uplinks, joins, refused, downlinks *prometheus.Desc
}

func (c lnsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.uplinks
	ch <- c.joins
	ch <- c.refused
	ch <- c.downlinks
}

func (c lnsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.l.Stats()
	ch <- prometheus.MustNewConstMetric(c.uplinks, prometheus.CounterValue, float64(s.Uplinks))
	ch <- prometheus.MustNewConstMetric(c.joins, prometheus.CounterValue, float64(s.Joins))
	for _, r := range []RejectReason{RejectUndecodable, RejectNotUplink, RejectUnknownDevice, RejectBadMIC, RejectReplay, RejectFCntGap, RejectDevNonce, RejectQueueFull, RejectPanic} {
		ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(c.l.Rejected(r)), string(r))
	}
	for result, n := range s.TxResults {
		ch <- prometheus.MustNewConstMetric(c.downlinks, prometheus.CounterValue, float64(n), result)
	}
}

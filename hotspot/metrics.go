package hotspot

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the hotspot's Prometheus metrics, registered on the
// Registerer given to New (nil registers nowhere).
type metrics struct {
	frames       *prometheus.CounterVec // by class
	dropped      *prometheus.CounterVec // by reason
	handle       prometheus.Histogram
	beacons      *prometheus.CounterVec // by result
	beaconTxErrs *prometheus.CounterVec // by TX_ACK error value
	witnesses    *prometheus.CounterVec // by result
	reports      *prometheus.CounterVec // by kind
	oracleUp     *prometheus.GaugeVec   // by oracle
	submits      *prometheus.CounterVec // by oracle, code
	dials        *prometheus.CounterVec // by oracle, result
	entropy      *prometheus.CounterVec // by result
	configs      *prometheus.CounterVec // by result
	outbox       *outboxMetrics
}

type outboxMetrics struct {
	appended  prometheus.Counter
	completed prometheus.Counter
	dropped   prometheus.Counter
	syncs     prometheus.Counter
	carried   prometheus.Counter
	writeErrs prometheus.Counter
	reports   prometheus.Gauge
	bytes     prometheus.Gauge
	hold      prometheus.Histogram
}

func newOutboxMetrics(reg prometheus.Registerer) *outboxMetrics {
	f := factory{reg}
	return &outboxMetrics{
		appended: f.counter("hexfield_hotspot_outbox_appended_total", "Signed reports written to the outbox."),
		completed: f.counter("hexfield_hotspot_outbox_completed_total",
			"Reports removed from the outbox after every oracle acked them."),
		dropped: f.counter("hexfield_hotspot_outbox_dropped_total",
			"Reports dropped because the outbox reached its size bound: witness reports first, oldest first."),
		syncs: f.counter("hexfield_hotspot_outbox_syncs_total", "Batched fsyncs of the outbox."),
		carried: f.counter("hexfield_hotspot_outbox_carried_total",
			"Beacon and packet reports copied forward out of the oldest segment when the size bound retired it."),
		writeErrs: f.counter("hexfield_hotspot_outbox_write_errors_total", "Ack records the outbox failed to write."),
		reports:   f.gauge("hexfield_hotspot_outbox_reports", "Reports waiting for at least one oracle's ack."),
		bytes:     f.gauge("hexfield_hotspot_outbox_bytes", "Bytes of outbox files on disk."),
		hold: f.histogram("hexfield_hotspot_outbox_hold_seconds",
			"Time from writing a report to the last oracle's ack.",
			prometheus.ExponentialBuckets(0.01, 4, 12)),
	}
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := factory{reg}
	return &metrics{
		frames: f.counterVec("hexfield_hotspot_frames_total",
			"Frames received from the concentrator, by class (uplink, join, beacon, dropped).", "class"),
		dropped: f.counterVec("hexfield_hotspot_dropped_frames_total",
			"Received frames dropped, by reason.", "reason"),
		handle: f.histogram("hexfield_hotspot_frame_handle_seconds",
			"Time from receiving a datagram to having classified and dispatched its frame.",
			prometheus.ExponentialBuckets(1e-6, 2, 20)),
		beacons: f.counterVec("hexfield_hotspot_beacons_total",
			"Own beacon attempts, by result (sent, tx_error, no_entropy, no_region, no_forwarder, error).", "result"),
		beaconTxErrs: f.counterVec("hexfield_hotspot_beacon_tx_errors_total",
			"TX_ACK errors for own beacons, by value (TOO_LATE, TX_FREQ, TIMEOUT, ...).", "error"),
		witnesses: f.counterVec("hexfield_hotspot_witnesses_total",
			"Heard beacons, by result (reported, own, repeat, capped: past the per-interval cap, no_region, error).", "result"),
		reports: f.counterVec("hexfield_hotspot_reports_total",
			"Signed reports written to the outbox, by kind.", "kind"),
		oracleUp: f.gaugeVec("hexfield_hotspot_oracle_connected",
			"1 while the QUIC connection to the oracle is up.", "oracle"),
		submits: f.counterVec("hexfield_hotspot_oracle_acks_total",
			"Acks received from oracles for submitted reports, by oracle and code.", "oracle", "code"),
		dials: f.counterVec("hexfield_hotspot_oracle_dials_total",
			"Connection attempts to oracles, by oracle and result.", "oracle", "result"),
		entropy: f.counterVec("hexfield_hotspot_entropy_fetches_total",
			"Entropy fetches from oracles, by result.", "result"),
		configs: f.counterVec("hexfield_hotspot_config_fetches_total",
			"Config fetches from oracles, by result.", "result"),
		outbox: newOutboxMetrics(reg),
	}
}

// factory creates metrics and registers them when reg is not nil.
type factory struct{ reg prometheus.Registerer }

func (f factory) register(c prometheus.Collector) {
	if f.reg != nil {
		f.reg.MustRegister(c)
	}
}

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	f.register(c)
	return c
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	c := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	f.register(c)
	return c
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	c := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	f.register(c)
	return c
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.register(c)
	return c
}

func (f factory) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	c := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	f.register(c)
	return c
}

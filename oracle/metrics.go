package oracle

import (
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hexfield/hexfield/wire"
)

// metrics are the oracle's Prometheus metrics, registered on the
// Registerer given to New.
type metrics struct {
	stored          *prometheus.CounterVec
	rejected        *prometheus.CounterVec
	commitBatch     prometheus.Histogram
	commitSeconds   prometheus.Histogram
	commitErrors    prometheus.Counter
	commitQueueFull prometheus.Counter
	holdSeconds     prometheus.Histogram
	connections     prometheus.Gauge
	connsTotal      *prometheus.CounterVec
	handshakes      prometheus.Gauge
	keyConns        prometheus.Gauge
	writeErrors     *prometheus.CounterVec
	logSuppressed   *prometheus.CounterVec
	entropyIssued   prometheus.Counter
	blockhashErrors prometheus.Counter
	pocs            *prometheus.CounterVec
	witnesses       *prometheus.CounterVec
	epochState      prometheus.Gauge
	epochsClosed    prometheus.Counter
	httpRequests    *prometheus.CounterVec
	registryChanges *prometheus.CounterVec
	routeTables     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "hexfield", "oracle"
	m := &metrics{
		stored: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "reports_stored_total", Help: "Reports stored durably, by kind."}, []string{"kind"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "reports_rejected_total", Help: "Reports not stored, by ack code (duplicate, bad_signature, unknown_hotspot, ...)."}, []string{"code"}),
		commitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "commit_batch_reports", Help: "Reports per group-commit transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14)}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "commit_seconds", Help: "Time to write and sync one group-commit batch.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14)}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "commit_errors_total", Help: "Group-commit batches that failed to store."}),
		commitQueueFull: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "commit_queue_full_total", Help: "Times ingest waited because the commit queue was full (backpressure)."}),
		holdSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "report_hold_seconds", Help: "How long reports waited in hotspot outboxes before submission (hold_ms).",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10)}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "connections", Help: "Open QUIC connections."}),
		connsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "connections_total", Help: "QUIC connection attempts, by outcome: ok; refused in the TLS handshake " +
				"(unknown_hotspot, registry_error); refused before it (handshake_limit, source_handshake_limit, source_conn_limit); " +
				"refused after it (key_conn_limit, handshake_error)."}, []string{"result"}),
		handshakes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "handshakes", Help: "QUIC handshakes in progress on the ingest port."}),
		keyConns: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "hotspot_keys_connected", Help: "Hotspot keys with at least one open connection."}),
		writeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "write_errors_total", Help: "Failed writes, by target (ack: answers to a hotspot stream that could not be written; the stream is given up)."}, []string{"target"}),
		logSuppressed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "log_lines_suppressed_total", Help: "Log lines of repetitive events left out by sampling, by event."}, []string{"event"}),
		entropyIssued: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "entropy_issued_total", Help: "Entropy values issued."}),
		blockhashErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "blockhash_errors_total", Help: "Failures to fetch the chain blockhash for entropy (previous value reused)."}),
		pocs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "pocs_verified_total", Help: "Beacons verified, by reason (reason_none = valid)."}, []string{"reason"}),
		witnesses: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "witnesses_verified_total", Help: "Witnesses verified, by reason (reason_none = valid)."}, []string{"reason"}),
		epochState: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "epoch_next", Help: "The next epoch the scheduler will close."}),
		epochsClosed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "epochs_closed_total", Help: "Epochs whose manifest was written and handed to the rewarder."}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "http_requests_total", Help: "HTTP API requests, by route and status code."}, []string{"route", "code"}),
		registryChanges: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "registry_changes_total", Help: "Registry requests, by operation and result."}, []string{"op", "result"}),
		routeTables: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "route_tables_total", Help: "Route table requests of hotspots, by answer (full, incremental, unchanged, error); truncated counts full tables cut to wire's bounds."}, []string{"answer"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.stored, m.rejected, m.commitBatch, m.commitSeconds, m.commitErrors,
		m.commitQueueFull, m.holdSeconds, m.connections, m.connsTotal, m.handshakes, m.keyConns, m.writeErrors, m.logSuppressed, m.entropyIssued, m.blockhashErrors, m.pocs,
		m.witnesses, m.epochState, m.epochsClosed, m.httpRequests, m.registryChanges, m.routeTables} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

// kindLabel is the metric label of a report kind: "beacon_report", ...
func kindLabel(k wire.Kind) string {
	return strings.ToLower(strings.TrimPrefix(k.String(), "KIND_"))
}

// codeLabel is the metric label of an ack code: "duplicate", ...
func codeLabel(c wire.Code) string {
	return strings.ToLower(strings.TrimPrefix(c.String(), "CODE_"))
}

// registerDiskMetrics registers gauges of the store's free-space state
// (diskspace.go) on reg; nil reg registers nothing.
func registerDiskMetrics(reg prometheus.Registerer, s *Store) error {
	if reg == nil {
		return nil
	}
	const ns, sub = "hexfield", "oracle"
	states := map[string]float64{"ok": 0, "low": 1, "read_only": 2}
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "disk_free_bytes",
			Help: "Free space on the store's file system, as last read."}, func() float64 { return float64(s.DiskStatus().FreeBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "disk_reserve_bytes",
			Help: "Free space the store keeps for Badger's flushes and compactions; reports are refused below it."},
			func() float64 { return float64(s.DiskStatus().ReserveBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "disk_state",
			Help: "Store disk state: 0 ok, 1 low (reports refused), 2 read-only (opened on a full disk)."},
			func() float64 { return states[s.DiskStatus().State] }),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register disk metrics: %w", err)
		}
	}
	return nil
}

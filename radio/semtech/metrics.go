package semtech

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Drop reasons for whole datagrams (label "reason" of
// hexfield_semtech_dropped_total).
const (
	dropTooShort        = "too_short"
	dropVersion         = "version"
	dropUnknownType     = "unknown_type"
	dropLength          = "length"
	dropTooLong         = "too_long"
	dropJSON            = "json"
	dropUnexpected      = "unexpected_type"
	dropUnknownToken    = "unknown_token"
	dropEUIMismatch     = "eui_mismatch"
	dropPanic           = "panic"
	dropMalformed       = "malformed"
	dropNoAddress       = "no_address"
	dropTooManyGateways = "too_many_gateways"
	dropUnpinned        = "unpinned_forwarder" // another EUI than the pinned forwarder's
	dropAddressHeld     = "address_held"       // pinned EUI from a second address while the first is live
	dropTxAckAddress    = "tx_ack_address"     // TX_ACK from another address than the PULL_RESP went to
	dropWrongHost       = "wrong_host"         // pinned EUI's PUSH_DATA from another host than its PULL_DATA
)

// Reasons an rxpk does not reach the handler (label "reason" of
// hexfield_semtech_rxpk_dropped_total).
const (
	rxpkInvalid    = "invalid"    // failed to decode (bad datr, Base64, freq…)
	rxpkCRC        = "crc"        // stat != 1
	rxpkModulation = "modulation" // FSK or anything not LoRa
	rxpkDataRate   = "datarate"   // not SF7–12 with BW125/250/500 (e.g. LR-FHSS)
	rxpkQueueFull  = "queue_full" // handler too slow
)

// dropReason maps a decode error to its metric label.
func dropReason(err error) string {
	switch {
	case errors.Is(err, ErrTooShort):
		return dropTooShort
	case errors.Is(err, ErrVersion):
		return dropVersion
	case errors.Is(err, ErrType):
		return dropUnknownType
	case errors.Is(err, ErrLength):
		return dropLength
	case errors.Is(err, ErrTooLong):
		return dropTooLong
	case errors.Is(err, ErrWrongType):
		return dropUnexpected
	case errors.Is(err, ErrJSON), errors.Is(err, ErrInvalidJSON):
		return dropJSON
	}
	return dropMalformed
}

// register registers c, or returns the collector already registered under
// the same description so that several servers or clients can share one
// registry. A nil registerer registers nothing.
func register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing
			}
		}
	}
	return c
}

type serverMetrics struct {
	datagrams   *prometheus.CounterVec
	dropped     *prometheus.CounterVec
	rxpkDropped *prometheus.CounterVec
	uplinks     prometheus.Counter
	downlinks   *prometheus.CounterVec
	// addressChanges counts a forwarder's downlink address moving.
	addressChanges prometheus.Counter
	// writeErrors counts answers (PUSH_ACK, PULL_ACK) the socket refused.
	writeErrors prometheus.Counter
}

func newServerMetrics(reg prometheus.Registerer, online func() float64) *serverMetrics {
	m := &serverMetrics{
		datagrams: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hexfield_semtech_datagrams_total",
			Help: "GWMP datagrams received by the server with a valid header, by message type.",
		}, []string{"type"})),
		dropped: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hexfield_semtech_dropped_total",
			Help: "GWMP datagrams dropped by the server, by reason.",
		}, []string{"reason"})),
		rxpkDropped: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hexfield_semtech_rxpk_dropped_total",
			Help: "Received packets (rxpk) not delivered to hexfield, by reason.",
		}, []string{"reason"})),
		uplinks: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hexfield_semtech_uplinks_total",
			Help: "Received LoRa packets delivered to the uplink handler.",
		})),
		downlinks: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hexfield_semtech_downlinks_total",
			Help: "Downlinks sent with PULL_RESP, by result (ok, a TX_ACK error value in lower case, timeout, unacked for version 1).",
		}, []string{"result"})),
		addressChanges: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hexfield_semtech_forwarder_address_changes_total",
			Help: "Times a forwarder's downlink address (the source of its PULL_DATA) changed.",
		})),
		writeErrors: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hexfield_semtech_write_errors_total",
			Help: "Answers to forwarders (PUSH_ACK, PULL_ACK) the socket failed to send.",
		})),
	}
	register(reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hexfield_semtech_gateways_online",
		Help: "Forwarders that sent PULL_DATA within the gateway timeout.",
	}, online))
	return m
}

type clientMetrics struct {
	sent      *prometheus.CounterVec
	acked     *prometheus.CounterVec
	downlinks *prometheus.CounterVec
	dropped   *prometheus.CounterVec
}

func newClientMetrics(reg prometheus.Registerer) *clientMetrics {
	return &clientMetrics{
		sent: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hexfield_semtech_client_sent_total",
			Help: "GWMP datagrams sent by forwarder clients, by message type.",
		}, []string{"type"})),
		acked: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hexfield_semtech_client_acked_total",
			Help: "PUSH_DATA and PULL_DATA acknowledged by the server, by message type.",
		}, []string{"type"})),
		downlinks: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hexfield_semtech_client_downlinks_total",
			Help: "PULL_RESP handled by forwarder clients, by TX_ACK result.",
		}, []string{"result"})),
		dropped: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hexfield_semtech_client_dropped_total",
			Help: "Datagrams dropped by forwarder clients, by reason.",
		}, []string{"reason"})),
	}
}

// txResultLabel bounds the label values of downlink results.
func txResultLabel(s TxStatus) string {
	if s.Accepted() {
		return "ok"
	}
	switch s.Error {
	case TxTooLate, TxTooEarly, TxCollisionPacket, TxCollisionBeacon, TxFreq, TxPower, TxGPSUnlocked:
		return lower(string(s.Error))
	}
	return "other"
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

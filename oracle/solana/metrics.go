package solana

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of a Distributor, registered on the Registerer of its Config.
type metrics struct {
	signed, sent, resigned prometheus.Counter
	payouts, settled       prometheus.Counter
	refusals               prometheus.Counter
	takeovers, elsewhere   prometheus.Counter
	lastSettled            prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		signed: prometheus.NewCounter(prometheus.CounterOpts{Name: "hexfield_solana_transactions_signed_total",
			Help: "Transactions signed and journaled (phase 1 counts once per assembled quorum)."}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{Name: "hexfield_solana_transactions_sent_total",
			Help: "sendTransaction calls, resends of identical bytes included."}),
		resigned: prometheus.NewCounter(prometheus.CounterOpts{Name: "hexfield_solana_transactions_resigned_total",
			Help: "Transactions signed again after their blockhash provably expired."}),
		payouts: prometheus.NewCounter(prometheus.CounterOpts{Name: "hexfield_solana_payouts_total",
			Help: "Owner payouts of settled epochs."}),
		settled: prometheus.NewCounter(prometheus.CounterOpts{Name: "hexfield_solana_epochs_settled_total",
			Help: "Epochs whose phase 1 and every phase-2 batch landed."}),
		refusals: prometheus.NewCounter(prometheus.CounterOpts{Name: "hexfield_solana_cosign_refusals_total",
			Help: "Phase-1 proposals refused by a co-signing oracle."}),
		takeovers: prometheus.NewCounter(prometheus.CounterOpts{Name: "hexfield_solana_takeovers_total",
			Help: "Epochs whose phase 1 another coordinator landed with the same manifest, taken over here."}),
		elsewhere: prometheus.NewCounter(prometheus.CounterOpts{Name: "hexfield_solana_batches_paid_elsewhere_total",
			Help: "Phase-2 batches found paid on chain (their marker exists) instead of paid by this coordinator."}),
		lastSettled: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hexfield_solana_last_settled_epoch",
			Help: "The epoch this coordinator settled last (epochs settle in any order)."}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.signed, m.sent, m.resigned, m.payouts, m.settled, m.refusals, m.takeovers, m.elsewhere, m.lastSettled} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				continue // a restarted Distributor on the same registry
			}
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

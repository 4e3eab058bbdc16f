package maps

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	folded prometheus.Counter
	tiles  *prometheus.CounterVec
	ingest *prometheus.CounterVec
}

// newMetrics registers the map's metrics on reg (nil = unregistered).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		folded: prometheus.NewCounter(prometheus.CounterOpts{Name: "hexfield_maps_observations_folded_total",
			Help: "Observations folded into the coverage map."}),
		tiles: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hexfield_maps_tiles_total",
			Help: "Vector tile requests by result (encoded, cached, not_modified)."}, []string{"result"}),
		ingest: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hexfield_maps_ingest_uplinks_total",
			Help: "Mapper uplinks by result (accepted, ignored, or the reject reason)."}, []string{"result"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.folded, m.tiles, m.ingest} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

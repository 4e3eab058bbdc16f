package hotspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Status is what `hotspotd status` shows, served as JSON at /status.
type Status struct {
	Address       string            `json:"address"`
	Name          string            `json:"name"` // the address's three-word name (wire.PublicKey.Name)
	Software      string            `json:"software,omitempty"`
	Uptime        string            `json:"uptime"`
	Semtech       string            `json:"semtech"` // the Semtech UDP address listened on
	Region        string            `json:"region,omitempty"`
	RegionSource  string            `json:"region_source,omitempty"`
	Asserted      bool              `json:"asserted"`
	DataOnly      bool              `json:"data_only"`
	GainDdBi      int32             `json:"gain_ddbi"`
	BeaconEvery   string            `json:"beacon_interval"`
	ConfigFrom    string            `json:"config_from,omitempty"`
	ConfigAt      *time.Time        `json:"config_at,omitempty"`
	Oracles       []OracleStatus    `json:"oracles"`
	LastBeacon    *BeaconStatus     `json:"last_beacon,omitempty"`
	WitnessesSent uint64            `json:"witnesses_sent"`
	LastWitness   *time.Time        `json:"last_witness,omitempty"`
	Outbox        OutboxStats       `json:"outbox"`
	Forwarders    []ForwarderStatus `json:"forwarders"`
	Routing       RoutingStatus     `json:"routing"`
}

// ForwarderStatus is one packet forwarder seen on the Semtech socket.
type ForwarderStatus struct {
	EUI      string         `json:"eui"`
	LastPull time.Time      `json:"last_pull"`
	Alive    bool           `json:"alive"`
	Stat     *ForwarderStat `json:"stat,omitempty"`
}

// ForwarderStat is the forwarder's last status object (stat_interval).
type ForwarderStat struct {
	Time time.Time `json:"time"` // when it arrived
	Lat  *float64  `json:"lat,omitempty"`
	Lng  *float64  `json:"lng,omitempty"`
	RxNb uint32    `json:"rxnb"`
	RxOK uint32    `json:"rxok"`
	RxFw uint32    `json:"rxfw"`
	TxNb uint32    `json:"txnb"`
	ACKR float64   `json:"ackr"`
}

// Status returns a snapshot of the hotspot.
func (h *Hotspot) Status() Status {
	h.mu.Lock()
	st := Status{
		Address:       h.pub.String(),
		Name:          h.pub.Name(),
		Uptime:        h.now().Sub(h.started).Round(time.Second).String(),
		Semtech:       h.bridge.addr(),
		RegionSource:  h.regionSource,
		Asserted:      h.asserted,
		DataOnly:      h.dataOnly,
		GainDdBi:      h.gain,
		ConfigFrom:    h.configFrom,
		WitnessesSent: h.witnessesSent,
	}
	if h.region != nil {
		st.Region = h.region.Name
	}
	if !h.configAt.IsZero() {
		t := h.configAt.UTC()
		st.ConfigAt = &t
	}
	if !h.lastBeacon.Time.IsZero() {
		b := h.lastBeacon
		st.LastBeacon = &b
	}
	if !h.lastWitness.IsZero() {
		t := h.lastWitness.UTC()
		st.LastWitness = &t
	}
	h.mu.Unlock()
	st.BeaconEvery = h.BeaconInterval().String()
	st.Oracles = make([]OracleStatus, 0, len(h.oracles))
	for _, c := range h.oracles {
		st.Oracles = append(st.Oracles, c.status())
	}
	st.Outbox = h.outbox.Stats()
	st.Forwarders = h.bridge.forwarders()
	st.Routing = h.fwd.status()
	return st
}

// StatusHandler serves /status (JSON), /metrics (Prometheus, from g) and
// /healthz.
func (h *Hotspot) StatusHandler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(h.Status())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	if g != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	}
	return mux
}

// ServeStatus serves StatusHandler on ln until ctx ends, then closes it.
func (h *Hotspot) ServeStatus(ctx context.Context, ln net.Listener, g prometheus.Gatherer) error {
	srv := &http.Server{Handler: h.StatusHandler(g), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-errc
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("status server: %w", err)
	}
}

// FetchStatus reads the status API at addr (host:port).
func FetchStatus(ctx context.Context, addr string) (*Status, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/status", nil)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status: %s", resp.Status)
	}
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	return &st, nil
}

// WriteText writes the status for a person.
func (st *Status) WriteText(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("hotspot      %s (%s)\n", st.Address, st.Name)
	p("uptime       %s\n", st.Uptime)
	region := st.Region
	if region == "" {
		region = "unknown (nothing is forwarded or beaconed)"
	} else if st.RegionSource != "" {
		region += " (from " + st.RegionSource + ")"
	}
	p("region       %s\n", region)
	p("asserted     %v   data-only %v   gain %.1f dBi   beacon every %s\n",
		st.Asserted, st.DataOnly, float64(st.GainDdBi)/10, st.BeaconEvery)
	for _, o := range st.Oracles {
		state := "disconnected"
		if o.Connected {
			state = "connected since " + o.Since
		}
		p("oracle       %s@%s %s, %d acks", o.Address, o.Addr, state, o.Acked)
		if o.LastError != "" {
			p(" (last error: %s)", o.LastError)
		}
		p("\n")
	}
	if len(st.Oracles) == 0 {
		p("oracle       none configured\n")
	}
	if b := st.LastBeacon; b != nil {
		p("last beacon  %s %s", b.Time.Format(time.RFC3339), b.Result)
		if b.Result == "sent" {
			p(" %.1f MHz %s %d dBm", float64(b.FreqHz)/1e6, b.DataRate, b.PowerDBm)
		}
		if b.Error != "" {
			p(" (%s)", b.Error)
		}
		p("\n")
	} else {
		p("last beacon  none yet\n")
	}
	p("witnesses    %d sent", st.WitnessesSent)
	if st.LastWitness != nil {
		p(", last %s", st.LastWitness.Format(time.RFC3339))
	}
	p("\n")
	p("outbox       %d reports, %d bytes on disk", st.Outbox.Reports, st.Outbox.DiskBytes)
	if st.Outbox.OldestMs > 0 {
		p(", oldest %s", time.UnixMilli(st.Outbox.OldestMs).UTC().Format(time.RFC3339))
	}
	p("\n")
	if len(st.Forwarders) == 0 {
		p("forwarder    none seen\n")
	}
	for _, f := range st.Forwarders {
		state := "gone"
		if f.Alive {
			state = "alive"
		}
		p("forwarder    %s %s, last PULL_DATA %s\n", strings.ToUpper(f.EUI), state, f.LastPull.Format(time.RFC3339))
		if st := f.Stat; st != nil {
			p("             received %d (CRC ok %d, forwarded %d), sent %d, ack rate %.0f%%", st.RxNb, st.RxOK, st.RxFw, st.TxNb, st.ACKR)
			if st.Lat != nil && st.Lng != nil {
				p(", GPS %.5f,%.5f", *st.Lat, *st.Lng)
			}
			p("\n")
		}
	}
	r := st.Routing
	p("routing      gateway EUI %s, route table v%d, %d routes (%d active)", strings.ToUpper(r.GatewayEUI), r.TableVersion, r.Routes, r.Active)
	if r.TableFrom != "" {
		p(", signed by %s", r.TableFrom)
	}
	if r.TableChecked != nil {
		p(", checked %s", r.TableChecked.Format(time.RFC3339))
	}
	p("\n")
	for _, l := range r.Sessions {
		p("lns          %s → %s from %s: push %d/%d acked, pull %d/%d acked", l.Route, l.LNS, l.Local, l.PushAcked, l.PushSent, l.PullAcked, l.PullSent)
		if l.LastPullAck != nil {
			p(", last PULL_ACK %s", l.LastPullAck.Format(time.RFC3339))
		}
		p(", %d downlinks\n", l.Downlinks)
	}
}

package hotspot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/radio/semtech"
)

// bridge runs the Semtech UDP server toward the concentrator and sorts
// every frame the server lets through (CRC OK, LoRa SF7–12).
type bridge struct {
	h   *Hotspot
	srv *semtech.Server

	mu    sync.Mutex
	stats map[semtech.EUI]forwarderStat // last stat object per forwarder
}

type forwarderStat struct {
	at   time.Time
	stat semtech.Stat
}

func newBridge(h *Hotspot, conn net.PacketConn, reg prometheus.Registerer) (*bridge, error) {
	b := &bridge{h: h, stats: map[semtech.EUI]forwarderStat{}}
	// A hotspot has one concentrator: pin its forwarder (configured, or
	// the first heard), so that a second "gateway" on the port can
	// neither take the beacon transmissions nor answer them.
	scfg := semtech.ServerConfig{Handler: b, Now: h.now, PinForwarder: true}
	if h.cfg.ForwarderEUI != "" {
		eui, err := semtech.ParseEUI(h.cfg.ForwarderEUI)
		if err != nil {
			return nil, fmt.Errorf("bridge: forwarder_eui: %w", err)
		}
		scfg.ForwarderEUI = eui
	}
	srv, err := semtech.NewServer(scfg, conn, h.log, reg)
	if err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	b.srv = srv
	return b, nil
}

func (b *bridge) run(ctx context.Context) error { return b.srv.Run(ctx) }

func (b *bridge) addr() string { return b.srv.Addr().String() }

// HandleUplink classifies one received frame: LoRaWAN uplinks and joins go
// to routing (counted here), candidate beacons to the witness path, the rest
// is counted and dropped. Nothing goes anywhere while the region is unknown.
func (b *bridge) HandleUplink(ctx context.Context, u semtech.Uplink) {
	h := b.h
	defer func() {
		if !u.Received.IsZero() {
			h.m.handle.Observe(h.now().Sub(u.Received).Seconds())
		}
	}()
	f := Classify(u.RXPK.Data, u.RXPK.Stat == 1, u.RXPK.Modu == "LORA")
	if f.Class == ClassDrop {
		h.m.frames.WithLabelValues(ClassDrop.String()).Inc()
		h.m.dropped.WithLabelValues(f.Reason).Inc()
		return
	}
	if h.Region() == nil {
		h.m.frames.WithLabelValues(ClassDrop.String()).Inc()
		h.m.dropped.WithLabelValues(ReasonNoRegion).Inc()
		return
	}
	h.m.frames.WithLabelValues(f.Class.String()).Inc()
	if f.Class != ClassBeacon {
		h.fwd.handle(u, f)
		return
	}
	payload, ok := radio.ParseBeaconFrame(u.RXPK.Data)
	if !ok {
		return
	}
	hb := heardBeacon{
		Payload:   payload,
		Freq:      u.RXPK.Freq,
		DataRate:  u.DataRate.String(),
		RSSI:      float64(u.RXPK.RSSI),
		SNR:       float64(u.RXPK.LSNR),
		Tmst:      u.RXPK.Tmst,
		GPSTimeMs: u.RXPK.Tmms,
		Received:  u.Received,
	}
	if u.RXPK.RSSIS != nil {
		v := float64(*u.RXPK.RSSIS)
		hb.RSSIS = &v
	}
	if hb.Received.IsZero() {
		hb.Received = h.now()
	}
	h.handleBeacon(hb)
}

// errNoForwarder is returned when no packet forwarder is online.
var errNoForwarder = errors.New("no packet forwarder online")

// transmit sends txpk through the pinned forwarder.
func (b *bridge) transmit(ctx context.Context, txpk semtech.TXPK) (semtech.EUI, semtech.TxResult, error) {
	eui, ok := b.srv.Pinned()
	if !ok {
		return semtech.EUI{}, semtech.TxResult{}, errNoForwarder
	}
	if g, ok := b.srv.Gateway(eui); !ok || !g.Online {
		return eui, semtech.TxResult{}, errNoForwarder
	}
	res, err := b.srv.Send(ctx, eui, txpk)
	return eui, res, err
}

// HandleStat keeps each forwarder's last status object for the status API.
func (b *bridge) HandleStat(ctx context.Context, eui semtech.EUI, st semtech.Stat) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.stats) >= maxForwarderStats {
		if _, ok := b.stats[eui]; !ok {
			return // the EUI is untrusted: do not let junk grow the map
		}
	}
	b.stats[eui] = forwarderStat{at: b.h.now(), stat: st}
}

const maxForwarderStats = 16

func (b *bridge) forwarders() []ForwarderStatus {
	gws := b.srv.Gateways()
	out := make([]ForwarderStatus, 0, len(gws))
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, g := range gws {
		fs := ForwarderStatus{EUI: g.EUI.String(), LastPull: g.LastPull.UTC(), Alive: g.Online}
		if st, ok := b.stats[g.EUI]; ok {
			fs.Stat = &ForwarderStat{Time: st.at.UTC(), Lat: st.stat.Lati, Lng: st.stat.Long, RxNb: st.stat.RXNb,
				RxOK: st.stat.RXOk, RxFw: st.stat.RXFw, TxNb: st.stat.TXNb, ACKR: st.stat.ACKR}
		}
		out = append(out, fs)
	}
	return out
}

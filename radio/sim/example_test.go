package sim_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"time"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/radio/semtech"
	"github.com/hexfield/hexfield/radio/sim"
)

// A sensor's frame reaches the gateways in range after its airtime, with
// a signal that falls with distance.
func ExampleMedium() {
	clock := sim.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	m, err := sim.NewMedium(sim.MediumConfig{Clock: clock, ShadowingSigma: -1, FadingSigma: -1})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	for _, gw := range []struct {
		name string
		lat  float64
	}{{"near", 52.3790}, {"far", 52.3970}, {"too-far", 52.4600}} {
		r, err := m.Attach(sim.RadioConfig{Name: gw.name, Lat: gw.lat, Lng: 4.9, Gain: 3})
		if err != nil {
			log.Fatal(err)
		}
		r.Listen(func(rec sim.Reception) {
			fmt.Printf("%s heard %q at %.0f m: rssis %.1f dBm, snr %.1f dB, after %v\n",
				rec.Receiver, rec.Payload, float64(rec.Distance), float64(rec.RSSIS), float64(rec.SNR), rec.End.Sub(rec.Start))
		})
	}
	dev, err := sim.NewDevice(m, sim.DeviceConfig{
		Radio:    sim.RadioConfig{Name: "sensor", Lat: 52.3700, Lng: 4.9},
		DataRate: radio.DataRate{SF: 7, Bandwidth: 125_000},
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := dev.Send([]byte("hello")); err != nil {
		log.Fatal(err)
	}
	clock.Advance(time.Second)
	// Output:
	// near heard "hello" at 1001 m: rssis -104.2 dBm, snr 12.8 dB, after 30.976ms
	// far heard "hello" at 3002 m: rssis -118.5 dBm, snr -1.5 dB, after 30.976ms
}

// A virtual gateway speaks GWMP to a server, here a semtech.Server as the
// hotspot's bridge runs it, over real loopback UDP.
func ExampleConcentrator() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m, err := sim.NewMedium(sim.MediumConfig{Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	bridge, _ := net.ListenPacket("udp", "127.0.0.1:0")
	srv, err := semtech.NewServer(semtech.ServerConfig{Handler: printUplinks{}}, bridge, nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	go srv.Run(ctx)

	r, err := m.Attach(sim.RadioConfig{Name: "hotspot-1", Lat: 52.37, Lng: 4.89, Elevation: 12, Gain: 3})
	if err != nil {
		log.Fatal(err)
	}
	up, _ := net.ListenPacket("udp", "127.0.0.1:0")
	down, _ := net.ListenPacket("udp", "127.0.0.1:0")
	gw, err := sim.NewConcentrator(sim.ConcentratorConfig{Region: "EU868"}, r, up, down, srv.Addr(), nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	go gw.Run(ctx)
	// Frames any radio transmits now reach srv's handler as rxpk from
	// gw.EUI(); srv.Send(ctx, gw.EUI(), txpk) puts frames on the air.
}

type printUplinks struct{}

func (printUplinks) HandleUplink(_ context.Context, u semtech.Uplink) {
	fmt.Println(u.EUI, u.RXPK.Freq, u.DataRate)
}

package devnet

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/brocaar/lorawan"
	"golang.org/x/sync/errgroup"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/radio/sim"
)

// sensor is a simulated end device with an ABP session that sends real,
// encrypted and MIC-signed LoRaWAN data uplinks.
type sensor struct {
	dev     *sim.Device
	devAddr lorawan.DevAddr
	nwkSKey lorawan.AES128Key
	appSKey lorawan.AES128Key
	fCnt    uint32
	sent    atomic.Uint64
}

// uplinkEvery is how often each sensor reports.
const uplinkEvery = 10 * time.Second

func (n *network) startSensors(ctx context.Context, g *errgroup.Group) error {
	rng := rand.New(rand.NewPCG(n.cfg.Seed, 0x73656e736f72))
	for i := range n.cfg.Sensors {
		angle := rng.Float64() * 2 * math.Pi
		dist := rng.Float64() * n.cfg.Spacing * 1.5
		lat, lng := offset(n.cfg.Lat, n.cfg.Lng, math.Sin(angle)*dist, math.Cos(angle)*dist)
		dev, err := sim.NewDevice(n.medium, sim.DeviceConfig{
			Radio:    sim.RadioConfig{Name: fmt.Sprintf("sensor-%02d", i), Lat: lat, Lng: lng, Elevation: 2},
			Region:   region,
			DataRate: radio.DataRate{SF: 9, Bandwidth: 125_000},
		})
		if err != nil {
			return fmt.Errorf("devnet: sensor %d: %w", i, err)
		}
		s := &sensor{dev: dev}
		binary.BigEndian.PutUint32(s.devAddr[:], 0x26000000|uint32(rng.IntN(1<<24)))
		for j := range s.nwkSKey {
			s.nwkSKey[j], s.appSKey[j] = byte(rng.IntN(256)), byte(rng.IntN(256))
		}
		n.sensors = append(n.sensors, s)
		g.Go(func() error {
			defer dev.Close()
			// Spread the sensors over the interval.
			next := time.NewTimer(time.Duration(rng.Int64N(int64(uplinkEvery))))
			defer next.Stop()
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-next.C:
				}
				if err := s.send(); err != nil {
					return err
				}
				next.Reset(uplinkEvery)
			}
		})
	}
	return nil
}

// send transmits one unconfirmed data uplink: a temperature reading on
// FPort 1.
func (s *sensor) send() error {
	port := uint8(1)
	reading := make([]byte, 2)
	binary.BigEndian.PutUint16(reading, uint16(200+s.fCnt%50))
	phy := lorawan.PHYPayload{
		MHDR: lorawan.MHDR{MType: lorawan.UnconfirmedDataUp, Major: lorawan.LoRaWANR1},
		MACPayload: &lorawan.MACPayload{
			FHDR:       lorawan.FHDR{DevAddr: s.devAddr, FCnt: s.fCnt},
			FPort:      &port,
			FRMPayload: []lorawan.Payload{&lorawan.DataPayload{Bytes: reading}},
		},
	}
	if err := phy.EncryptFRMPayload(s.appSKey); err != nil {
		return fmt.Errorf("devnet: sensor frame: %w", err)
	}
	if err := phy.SetUplinkDataMIC(lorawan.LoRaWAN1_0, 0, 0, 0, s.nwkSKey, s.nwkSKey); err != nil {
		return fmt.Errorf("devnet: sensor MIC: %w", err)
	}
	frame, err := phy.MarshalBinary()
	if err != nil {
		return fmt.Errorf("devnet: sensor frame: %w", err)
	}
	if _, err := s.dev.Send(frame); err != nil {
		return fmt.Errorf("devnet: sensor send: %w", err)
	}
	s.fCnt++
	s.sent.Add(1)
	return nil
}

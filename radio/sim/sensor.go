package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/brocaar/lorawan/band"

	"github.com/hexfield/hexfield/radio"
)

// SensorConfig configures a [Sensor]: an OTAA device (DevEUI, JoinEUI,
// AppKey) or, with ABP set, a device with a fixed session.
type SensorConfig struct {
	// Device places the sensor's radio and sets its uplink channels, data
	// rate and power. Device.Region is also the sensor's channel plan for
	// receive windows.
	Device DeviceConfig
	// DevEUI and JoinEUI identify the device in join requests.
	DevEUI, JoinEUI lorawan.EUI64
	// AppKey is the OTAA root key.
	AppKey lorawan.AES128Key
	// DevNonce is the first join request's DevNonce; each join uses the
	// next value, as LoRaWAN 1.0.4 requires. Default 0.
	DevNonce lorawan.DevNonce
	// ABP selects activation by personalisation with DevAddr, NwkSKey and
	// AppSKey; no join is needed.
	ABP              bool
	DevAddr          lorawan.DevAddr
	NwkSKey, AppSKey lorawan.AES128Key
	// FCntUp is the ABP session's next uplink counter. Default 0.
	FCntUp uint32
	// Class is A (two windows after each uplink) or C (also listening on
	// the RX2 channel at all other times). Default A.
	Class Class
	// RX1Delay is RECEIVE_DELAY1 of an ABP session (OTAA sessions take the
	// join-accept's). Default 1 s.
	RX1Delay time.Duration
	// RXWindow is how far from a window's opening a downlink's preamble
	// may start and still be received. Default: 8 symbols at the window's
	// data rate, as a receiver's preamble timeout; loopback tests on the
	// real clock widen it because timers fire late under load.
	RXWindow time.Duration
}

// Sensor is a simulated LoRaWAN 1.0.x end device on a [Medium]: it joins
// (OTAA) or starts with a fixed session (ABP), sends confirmed and
// unconfirmed uplinks built with brocaar/lorawan (FRMPayload encrypted,
// MIC, frame counter), and receives downlinks in its RX1 and RX2 windows
// or, in Class C, on the RX2 channel at any time, checking their MICs and
// counters and decrypting them. Its methods must not be called
// concurrently.
type Sensor struct {
	dev   *Device
	cfg   SensorConfig
	plan  *windowPlan
	clock Clock

	devNonce lorawan.DevNonce
	joined   bool
	devAddr  lorawan.DevAddr
	nwkSKey  lorawan.AES128Key
	appSKey  lorawan.AES128Key
	fcntUp   uint32
	fcntDown uint32
	haveDown bool
	ackNext  bool // a confirmed downlink came: ACK it in the next uplink
	rx1Delay time.Duration
	rx1Off   int
	rx2      window
	classC   []SensorDownlink // Class C downlinks heard outside Receive
	refused  uint64
}

// SensorDownlink is a downlink a sensor accepted.
type SensorDownlink struct {
	Window Window // RX1, RX2, or immediate for Class C
	FCnt   uint32
	// FPort is nil for a frame without FRMPayload (a bare ACK).
	FPort     *uint8
	Payload   []byte
	ACK       bool // acknowledges the confirmed uplink
	Confirmed bool
	FPending  bool
	Reception Reception
}

// UplinkResult is what one uplink did.
type UplinkResult struct {
	FCnt  uint32
	Frame []byte // the PHYPayload sent
	Sent  Sent
	// Downlink is what came in RX1 or RX2; nil when nothing did.
	Downlink *SensorDownlink
}

// JoinResult is a completed join.
type JoinResult struct {
	DevNonce  lorawan.DevNonce
	DevAddr   lorawan.DevAddr
	Window    Window
	Frame     []byte // the join request sent
	Sent      Sent
	Reception Reception
}

// Sensor errors.
var (
	ErrNoJoinAccept = errors.New("no join-accept in RX1 or RX2")
	ErrNotJoined    = errors.New("sensor has not joined")
)

// maxClassCBacklog bounds Class C downlinks waiting for Receive.
const maxClassCBacklog = 64

// NewSensor attaches a sensor's radio to m.
func NewSensor(m *Medium, cfg SensorConfig) (*Sensor, error) {
	if cfg.RX1Delay == 0 {
		cfg.RX1Delay = time.Second
	}
	if cfg.RX1Delay < time.Second || cfg.RX1Delay > 15*time.Second {
		return nil, fmt.Errorf("new sensor: rx1 delay %v: must be 1–15 s", cfg.RX1Delay)
	}
	if cfg.RXWindow < 0 {
		return nil, fmt.Errorf("new sensor: negative rx window %v", cfg.RXWindow)
	}
	region := cfg.Device.Region
	if region == "" {
		region = "EU868"
	}
	plan, err := newWindowPlan(region)
	if err != nil {
		return nil, fmt.Errorf("new sensor: %w", err)
	}
	dev, err := NewDevice(m, cfg.Device)
	if err != nil {
		return nil, fmt.Errorf("new sensor: %w", err)
	}
	s := &Sensor{dev: dev, cfg: cfg, plan: plan, clock: m.Clock(), devNonce: cfg.DevNonce, rx1Delay: time.Second, rx2: plan.rx2}
	if cfg.ABP {
		s.joined = true
		s.devAddr, s.nwkSKey, s.appSKey, s.fcntUp = cfg.DevAddr, cfg.NwkSKey, cfg.AppSKey, cfg.FCntUp
		s.rx1Delay = cfg.RX1Delay
	}
	return s, nil
}

// Device returns the sensor's radio device, to send raw frames.
func (s *Sensor) Device() *Device { return s.dev }

// DevAddr returns the session's DevAddr (zero before a join).
func (s *Sensor) DevAddr() lorawan.DevAddr { return s.devAddr }

// SessionKeys returns the session's NwkSKey and AppSKey.
func (s *Sensor) SessionKeys() (nwkSKey, appSKey lorawan.AES128Key) { return s.nwkSKey, s.appSKey }

// FCntUp returns the next uplink frame counter.
func (s *Sensor) FCntUp() uint32 { return s.fcntUp }

// Refused counts downlinks heard in a window that failed the checks
// (other DevAddr, bad MIC, old counter, undecodable).
func (s *Sensor) Refused() uint64 { return s.refused }

// Close detaches the sensor's radio.
func (s *Sensor) Close() { s.dev.Close() }

// Join sends a join request with the next DevNonce and waits for the
// join-accept in the join RX1 window (5 s after the uplink ends) and then
// RX2 (6 s). On success the session starts with counters at 0.
func (s *Sensor) Join(ctx context.Context) (JoinResult, error) {
	if s.cfg.ABP {
		return JoinResult{}, errors.New("join: ABP sensor")
	}
	nonce := s.devNonce
	s.devNonce++
	phy := lorawan.PHYPayload{
		MHDR:       lorawan.MHDR{MType: lorawan.JoinRequest, Major: lorawan.LoRaWANR1},
		MACPayload: &lorawan.JoinRequestPayload{JoinEUI: s.cfg.JoinEUI, DevEUI: s.cfg.DevEUI, DevNonce: nonce},
	}
	if err := phy.SetUplinkJoinMIC(s.cfg.AppKey); err != nil {
		return JoinResult{}, fmt.Errorf("join: %w", err)
	}
	frame, err := phy.MarshalBinary()
	if err != nil {
		return JoinResult{}, fmt.Errorf("join: %w", err)
	}
	s.drain()
	sent, err := s.dev.Send(frame)
	if err != nil {
		return JoinResult{}, fmt.Errorf("join: %w", err)
	}
	w1, err := s.plan.rx1(s.lastFreq(), s.cfg.dataRate(), 0)
	if err != nil {
		return JoinResult{}, fmt.Errorf("join: %w", err)
	}
	d := s.plan.defaults
	windows := []rxWindow{
		{name: WindowRX1, open: sent.End.Add(d.JoinAcceptDelay1), w: w1},
		{name: WindowRX2, open: sent.End.Add(d.JoinAcceptDelay2), w: s.plan.rx2},
	}
	var res JoinResult
	err = s.listen(ctx, windows, func(name Window, rec Reception) bool {
		ja, ok := s.decodeJoinAccept(rec.Payload, nonce)
		if !ok {
			return false
		}
		nwk, app, err := sessionKeys(s.cfg.AppKey, ja.JoinNonce, ja.HomeNetID, nonce)
		if err != nil {
			return false
		}
		rx2dr, err := loraDataRate(s.plan.band, int(ja.DLSettings.RX2DataRate))
		if err != nil {
			return false
		}
		s.joined = true
		s.devAddr, s.nwkSKey, s.appSKey = ja.DevAddr, nwk, app
		s.fcntUp, s.fcntDown, s.haveDown, s.ackNext = 0, 0, false, false
		s.rx1Delay = time.Duration(max(1, ja.RXDelay)) * time.Second
		s.rx1Off = int(ja.DLSettings.RX1DROffset)
		s.rx2 = window{Freq: s.plan.rx2.Freq, DR: rx2dr}
		s.classC = nil
		res = JoinResult{DevNonce: nonce, DevAddr: ja.DevAddr, Window: name, Frame: frame, Sent: sent, Reception: rec}
		return true
	})
	if err != nil {
		return JoinResult{}, fmt.Errorf("join: %w", err)
	}
	if !s.joined || res.Frame == nil {
		return JoinResult{Frame: frame, Sent: sent}, fmt.Errorf("join of %v: %w", s.cfg.DevEUI, ErrNoJoinAccept)
	}
	return res, nil
}

func (s *Sensor) decodeJoinAccept(b []byte, nonce lorawan.DevNonce) (*lorawan.JoinAcceptPayload, bool) {
	var phy lorawan.PHYPayload
	// A copy: brocaar/lorawan decrypts in place, and b is shared by every
	// radio that heard the frame.
	if err := phy.UnmarshalBinary(bytes.Clone(b)); err != nil || phy.MHDR.MType != lorawan.JoinAccept {
		return nil, false
	}
	if err := phy.DecryptJoinAcceptPayload(s.cfg.AppKey); err != nil {
		return nil, false
	}
	ok, err := phy.ValidateDownlinkJoinMIC(lorawan.JoinRequestType, s.cfg.JoinEUI, nonce, s.cfg.AppKey)
	if err != nil || !ok {
		return nil, false
	}
	ja, ok := phy.MACPayload.(*lorawan.JoinAcceptPayload)
	return ja, ok
}

func (c SensorConfig) dataRate() radio.DataRate {
	if c.Device.DataRate == (radio.DataRate{}) {
		return radio.DataRate{SF: 7, Bandwidth: 125_000}
	}
	return c.Device.DataRate
}

// lastFreq is the frequency of the device's latest uplink.
func (s *Sensor) lastFreq() radio.Hz {
	d := s.dev
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg.Channels[(d.next-1+len(d.cfg.Channels))%len(d.cfg.Channels)]
}

// Uplink sends one data frame on port fport (1–223) with payload,
// confirmed or not, and waits for a downlink in RX1, then RX2. The frame
// carries the ACK bit when the previous downlink was confirmed. It
// returns when a downlink is accepted or the RX2 window has passed.
func (s *Sensor) Uplink(ctx context.Context, fport uint8, payload []byte, confirmed bool) (UplinkResult, error) {
	if !s.joined {
		return UplinkResult{}, fmt.Errorf("uplink: %w", ErrNotJoined)
	}
	if fport == 0 || fport > 223 {
		return UplinkResult{}, fmt.Errorf("uplink: FPort %d: must be 1–223", fport)
	}
	fcnt := s.fcntUp
	frame, err := s.buildUplink(fport, payload, confirmed)
	if err != nil {
		return UplinkResult{}, fmt.Errorf("uplink: %w", err)
	}
	s.fcntUp++
	s.ackNext = false
	s.drain()
	sent, err := s.dev.Send(frame)
	if err != nil {
		return UplinkResult{}, fmt.Errorf("uplink: %w", err)
	}
	res := UplinkResult{FCnt: fcnt, Frame: frame, Sent: sent}
	w1, err := s.plan.rx1(s.lastFreq(), s.cfg.dataRate(), s.rx1Off)
	if err != nil {
		return res, fmt.Errorf("uplink: %w", err)
	}
	windows := []rxWindow{
		{name: WindowRX1, open: sent.End.Add(s.rx1Delay), w: w1},
		{name: WindowRX2, open: sent.End.Add(s.rx1Delay + time.Second), w: s.rx2},
	}
	err = s.listen(ctx, windows, func(name Window, rec Reception) bool {
		d, ok := s.decodeDown(rec, name)
		if ok {
			res.Downlink = &d
		}
		return ok
	})
	if err != nil {
		return res, fmt.Errorf("uplink: %w", err)
	}
	return res, nil
}

func (s *Sensor) buildUplink(fport uint8, payload []byte, confirmed bool) ([]byte, error) {
	mtype := lorawan.UnconfirmedDataUp
	if confirmed {
		mtype = lorawan.ConfirmedDataUp
	}
	port := fport
	phy := lorawan.PHYPayload{
		MHDR: lorawan.MHDR{MType: mtype, Major: lorawan.LoRaWANR1},
		MACPayload: &lorawan.MACPayload{
			FHDR:       lorawan.FHDR{DevAddr: s.devAddr, FCtrl: lorawan.FCtrl{ACK: s.ackNext}, FCnt: s.fcntUp},
			FPort:      &port,
			FRMPayload: []lorawan.Payload{&lorawan.DataPayload{Bytes: append([]byte(nil), payload...)}},
		},
	}
	if err := phy.EncryptFRMPayload(s.appSKey); err != nil {
		return nil, err
	}
	if err := phy.SetUplinkDataMIC(lorawan.LoRaWAN1_0, 0, 0, 0, s.nwkSKey, s.nwkSKey); err != nil {
		return nil, err
	}
	return phy.MarshalBinary()
}

// Receive waits for the next Class C downlink on the RX2 channel.
func (s *Sensor) Receive(ctx context.Context) (SensorDownlink, error) {
	if s.cfg.Class != ClassC {
		return SensorDownlink{}, errors.New("receive: not a Class C sensor")
	}
	if !s.joined {
		return SensorDownlink{}, fmt.Errorf("receive: %w", ErrNotJoined)
	}
	for {
		if len(s.classC) > 0 {
			d := s.classC[0]
			s.classC = s.classC[1:]
			return d, nil
		}
		select {
		case <-ctx.Done():
			return SensorDownlink{}, fmt.Errorf("receive: %w", ctx.Err())
		case rec := <-s.dev.Receptions():
			s.continuous(rec)
		}
	}
}

// continuous handles a frame heard outside the Class A windows: a Class C
// device keeps it when it is on the RX2 channel and valid.
func (s *Sensor) continuous(rec Reception) {
	if s.cfg.Class != ClassC || !s.joined || rec.Frequency != s.rx2.Freq || rec.DataRate != s.rx2.DR || !rec.InvertIQ {
		return
	}
	if d, ok := s.decodeDown(rec, WindowImmediate); ok && len(s.classC) < maxClassCBacklog {
		s.classC = append(s.classC, d)
	}
}

// drain handles what the radio heard since the last call, before an
// uplink: a Class A device was not listening, a Class C one was.
func (s *Sensor) drain() {
	for {
		select {
		case rec := <-s.dev.Receptions():
			s.continuous(rec)
		default:
			return
		}
	}
}

type rxWindow struct {
	name Window
	open time.Time
	w    window
}

// listen receives in the windows, in order, until accept takes a frame or
// the last window has passed. A frame counts for a window when it is on
// the window's channel and data rate, with inverted IQ, and its preamble
// starts within RXWindow of the opening.
func (s *Sensor) listen(ctx context.Context, windows []rxWindow, accept func(Window, Reception) bool) error {
	last := windows[len(windows)-1]
	// The last frame that can still count starts at the end of the last
	// window and lasts as long as the longest frame at its data rate.
	end := last.open.Add(s.tolerance(last.w.DR) + radio.Airtime(last.w.DR, s.maxFrame(last.w.DR)))
	passed := make(chan struct{})
	t := s.clock.AfterFunc(max(0, end.Sub(s.clock.Now())), func() { close(passed) })
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-passed:
			// Frames already delivered may still be queued.
			for {
				select {
				case rec := <-s.dev.Receptions():
					if s.inWindow(windows, rec, accept) {
						return nil
					}
				default:
					return nil
				}
			}
		case rec := <-s.dev.Receptions():
			if s.inWindow(windows, rec, accept) {
				return nil
			}
		}
	}
}

func (s *Sensor) inWindow(windows []rxWindow, rec Reception, accept func(Window, Reception) bool) bool {
	for _, w := range windows {
		d := rec.Start.Sub(w.open)
		if d < 0 {
			d = -d
		}
		if rec.InvertIQ && rec.Frequency == w.w.Freq && rec.DataRate == w.w.DR && d <= s.tolerance(w.w.DR) {
			if accept(w.name, rec) {
				return true
			}
			s.refused++
			return false
		}
	}
	s.continuous(rec)
	return false
}

func (s *Sensor) tolerance(dr radio.DataRate) time.Duration {
	if s.cfg.RXWindow > 0 {
		return s.cfg.RXWindow
	}
	return preambleTime(dr)
}

// maxFrame is the longest PHYPayload a downlink may have at dr: the
// region's maximum MACPayload plus MHDR and MIC.
func (s *Sensor) maxFrame(dr radio.DataRate) int {
	idx, err := s.plan.band.GetDataRateIndex(false, band.DataRate{Modulation: band.LoRaModulation, SpreadFactor: dr.SF, Bandwidth: int(dr.Bandwidth / 1000)})
	if err != nil {
		return 255
	}
	m, err := s.plan.band.GetMaxPayloadSizeForDataRateIndex(band.LoRaWAN_1_0_4, band.RegParamRevRP002_1_0_3, idx)
	if err != nil || m.M <= 0 {
		return 255
	}
	return min(255, m.M+5)
}

// decodeDown checks and decrypts a data downlink for the session.
func (s *Sensor) decodeDown(rec Reception, name Window) (SensorDownlink, bool) {
	var phy lorawan.PHYPayload
	// A copy: brocaar/lorawan decrypts in place, and the payload is shared
	// by every radio that heard the frame.
	if err := phy.UnmarshalBinary(bytes.Clone(rec.Payload)); err != nil {
		return SensorDownlink{}, false
	}
	if phy.MHDR.MType != lorawan.UnconfirmedDataDown && phy.MHDR.MType != lorawan.ConfirmedDataDown {
		return SensorDownlink{}, false
	}
	mac, ok := phy.MACPayload.(*lorawan.MACPayload)
	if !ok || mac.FHDR.DevAddr != s.devAddr {
		return SensorDownlink{}, false
	}
	onAir := uint16(mac.FHDR.FCnt)
	cands := []uint32{uint32(onAir)}
	if s.haveDown {
		c := s.fcntDown&0xffff0000 | uint32(onAir)
		cands = []uint32{c, c + 0x10000}
	}
	var fcnt uint32
	found := false
	for _, c := range cands {
		mac.FHDR.FCnt = c
		if ok, err := phy.ValidateDownlinkDataMIC(lorawan.LoRaWAN1_0, 0, s.nwkSKey); err == nil && ok {
			fcnt, found = c, true
			break
		}
	}
	if !found || (s.haveDown && (fcnt <= s.fcntDown || fcnt-s.fcntDown > maxFCntGap)) {
		return SensorDownlink{}, false
	}
	d := SensorDownlink{Window: name, FCnt: fcnt, ACK: mac.FHDR.FCtrl.ACK, Confirmed: phy.MHDR.MType == lorawan.ConfirmedDataDown, FPending: mac.FHDR.FCtrl.FPending, Reception: rec}
	if mac.FPort != nil {
		p := *mac.FPort
		d.FPort = &p
		if len(mac.FRMPayload) == 1 {
			dp, ok := mac.FRMPayload[0].(*lorawan.DataPayload)
			if !ok {
				return SensorDownlink{}, false
			}
			key := s.appSKey
			if p == 0 {
				key = s.nwkSKey
			}
			pt, err := lorawan.EncryptFRMPayload(key, false, s.devAddr, fcnt, dp.Bytes)
			if err != nil {
				return SensorDownlink{}, false
			}
			d.Payload = pt
		}
	}
	s.fcntDown, s.haveDown = fcnt, true
	if d.Confirmed {
		s.ackNext = true
	}
	return d, true
}

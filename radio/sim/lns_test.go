package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/brocaar/lorawan"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/radio/semtech"
)

var (
	testJoinEUI = lorawan.EUI64{0x70, 0xb3, 0xd5, 0x7e, 0xd0, 0, 0, 1}
	testAppKey  = lorawan.AES128Key{0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c}
)

func devEUI(n byte) lorawan.EUI64 { return lorawan.EUI64{0x00, 0x80, 0xe1, 0x15, 0, 0, 0, n} }

// lnsRig is the test LNS with one concentrator forwarding to it directly,
// as a gateway of that LNS would.
type lnsRig struct {
	m   *Medium
	lns *LNS
	gw  *Concentrator
}

func newLNSRig(t *testing.T, listen listenFunc, seed uint64, lcfg LNSConfig, ccfg ConcentratorConfig) *lnsRig {
	t.Helper()
	m := realMedium(t, MediumConfig{Seed: seed})
	conn, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLNS(lcfg, conn, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runUntilCleanup(t, l.Run)
	gw := startConcentrator(t, listen, m, l.Addr(), "gw", 0, 0, ccfg)
	waitOnline(t, l.Server(), gw.EUI())
	return &lnsRig{m: m, lns: l, gw: gw}
}

// otaa registers an OTAA device and returns its sensor, 700 m from the
// gateway.
func (r *lnsRig) otaa(t *testing.T, n byte, class Class, edit func(*SensorConfig)) *Sensor {
	t.Helper()
	if err := r.lns.AddOTAA(OTAADevice{DevEUI: devEUI(n), JoinEUI: testJoinEUI, AppKey: testAppKey, Class: class}); err != nil {
		t.Fatal(err)
	}
	cfg := SensorConfig{DevEUI: devEUI(n), JoinEUI: testJoinEUI, AppKey: testAppKey, Class: class}
	if edit != nil {
		edit(&cfg)
	}
	return newSensor(t, r.m, fmt.Sprintf("sensor-%d", n), cfg)
}

func newSensor(t *testing.T, m *Medium, name string, cfg SensorConfig) *Sensor {
	t.Helper()
	lat, lng := at(-700, 0)
	cfg.Device.Radio = RadioConfig{Name: name, Lat: lat, Lng: lng}
	s, err := NewSensor(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func join(t *testing.T, s *Sensor) JoinResult {
	t.Helper()
	res, err := s.Join(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func uplink(t *testing.T, s *Sensor, payload string, confirmed bool) UplinkResult {
	t.Helper()
	res, err := s.Uplink(context.Background(), 10, []byte(payload), confirmed)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// startsAt checks that a downlink's preamble started exactly when its
// window opened (virtual time: no scheduling slack).
func startsAt(t *testing.T, what string, rec Reception, open time.Time) {
	t.Helper()
	if !rec.Start.Equal(open) {
		t.Errorf("%s started %v after its window opened", what, rec.Start.Sub(open))
	}
}

func statuses(as []TxAttempt) string {
	var b bytes.Buffer
	for _, a := range as {
		fmt.Fprintf(&b, "%s:%s", a.Window, a.Status)
		if a.Err != nil {
			fmt.Fprintf(&b, "(%v)", a.Err)
		}
		b.WriteByte(' ')
	}
	return b.String()
}

// TestLNSJoinAndConfirmedUplinks joins an OTAA sensor through a simulated
// gateway and the test LNS, then sends confirmed uplinks, each ACKed in
// RX1, and delivers a queued and a confirmed application downlink. All in
// virtual time, so the windows are checked to the microsecond.
func TestLNSJoinAndConfirmedUplinks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := NewPacketNetwork()
		r := newLNSRig(t, pn.ListenPacket, 11, LNSConfig{}, ConcentratorConfig{})
		s := r.otaa(t, 1, ClassA, nil)

		j := join(t, s)
		if j.Window != WindowRX1 {
			t.Errorf("join-accept in %s, want RX1", j.Window)
		}
		startsAt(t, "join-accept", j.Reception, j.Sent.End.Add(5*time.Second))
		joins := r.lns.Joins()
		if len(joins) != 1 || joins[0].DevAddr != s.DevAddr() || joins[0].DevNonce != j.DevNonce {
			t.Fatalf("LNS joins %+v, sensor DevAddr %v", joins, s.DevAddr())
		}
		if !s.DevAddr().IsNetID(lorawan.NetID{0, 0, 1}) {
			t.Errorf("DevAddr %v is not under NetID 000001", s.DevAddr())
		}
		sess, ok := r.lns.Session(devEUI(1))
		nwk, app := s.SessionKeys()
		if !ok || sess.NwkSKey != nwk || sess.AppSKey != app || nwk == app {
			t.Fatalf("session keys differ: LNS %v/%v, sensor %v/%v", sess.NwkSKey, sess.AppSKey, nwk, app)
		}

		var frames [][]byte
		for i := range 3 {
			res := uplink(t, s, fmt.Sprintf("reading %d", i), true)
			frames = append(frames, res.Frame)
			d := res.Downlink
			if d == nil || !d.ACK || d.Window != WindowRX1 || d.FPort != nil {
				t.Fatalf("uplink %d: downlink %+v, want a bare ACK in RX1", i, d)
			}
			startsAt(t, fmt.Sprintf("ACK %d", i), d.Reception, res.Sent.End.Add(time.Second))
			if res.FCnt != uint32(i) || d.FCnt != uint32(i) {
				t.Errorf("uplink %d: FCnt up %d down %d", i, res.FCnt, d.FCnt)
			}
		}
		ups := r.lns.Uplinks()
		if len(ups) != 3 {
			t.Fatalf("LNS accepted %d uplinks", len(ups))
		}
		for i, u := range ups {
			// The record keeps the frame as received: decryption works on a
			// copy (brocaar/lorawan decrypts in place).
			if !bytes.Equal(u.RXPK.Data, frames[i]) {
				t.Errorf("LNS uplink %d: recorded frame %x, sent %x", i, u.RXPK.Data, frames[i])
			}
			if string(u.Payload) != fmt.Sprintf("reading %d", i) || u.FCnt != uint32(i) || !u.Confirmed || u.FPort == nil || *u.FPort != 10 || u.Gateway != r.gw.EUI() {
				t.Errorf("LNS uplink %d: %+v", i, u)
			}
		}

		// A queued downlink goes out after the next (unconfirmed) uplink; a
		// confirmed one is acknowledged by the uplink after it.
		if err := r.lns.Enqueue(devEUI(1), Downlink{FPort: 5, Payload: []byte("set interval 60")}); err != nil {
			t.Fatal(err)
		}
		if err := r.lns.Enqueue(devEUI(1), Downlink{FPort: 6, Payload: []byte("reboot"), Confirmed: true}); err != nil {
			t.Fatal(err)
		}
		res := uplink(t, s, "plain", false)
		if d := res.Downlink; d == nil || d.ACK || d.FPort == nil || *d.FPort != 5 || string(d.Payload) != "set interval 60" || !d.FPending {
			t.Fatalf("queued downlink: %+v", d)
		}
		res = uplink(t, s, "plain", false)
		if d := res.Downlink; d == nil || !d.Confirmed || string(d.Payload) != "reboot" || d.FPending {
			t.Fatalf("confirmed downlink: %+v", d)
		}
		if res := uplink(t, s, "ack", false); res.Downlink != nil {
			t.Errorf("unexpected downlink %+v", res.Downlink)
		}
		ups = r.lns.Uplinks()
		if last := ups[len(ups)-1]; !last.ACK {
			t.Errorf("the uplink after a confirmed downlink does not acknowledge it: %+v", last)
		}
		acks := r.lns.TxAcks()
		if len(acks) != 6 || !acks[0].JoinReply {
			t.Fatalf("TX_ACKs: %s", statuses(acks))
		}
		for _, a := range acks {
			if !a.Status.Accepted() || a.Window != WindowRX1 || !a.TXPK.IPol {
				t.Errorf("TX_ACKs: %s", statuses(acks))
				break
			}
		}
		if rej := r.lns.Rejections(); len(rej) != 0 {
			t.Errorf("rejections: %+v", rej)
		}
	})
}

// TestLNSRX2Fallback uses gateways that need more lead time than RX1
// leaves: the LNS gets TOO_LATE for RX1, records it, and the downlink
// reaches the sensor in RX2.
func TestLNSRX2Fallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := NewPacketNetwork()
		// 1.5 s of lead: data RX1 (1 s) is too late, RX2 (2 s) is not.
		r := newLNSRig(t, pn.ListenPacket, 12, LNSConfig{}, ConcentratorConfig{MinLead: 1500 * time.Millisecond})
		s := r.otaa(t, 1, ClassA, nil)
		j := join(t, s)
		if j.Window != WindowRX1 {
			t.Errorf("join-accept in %s, want RX1 (5 s is lead enough)", j.Window)
		}
		res := uplink(t, s, "hello", true)
		if d := res.Downlink; d == nil || !d.ACK || d.Window != WindowRX2 {
			t.Fatalf("downlink %+v, want an ACK in RX2", d)
		} else {
			startsAt(t, "ACK in RX2", d.Reception, res.Sent.End.Add(2*time.Second))
			if d.Reception.Frequency != 869_525_000 || d.Reception.DataRate != sf12 {
				t.Errorf("RX2 on %v %v, want EU868's 869.525 MHz SF12", d.Reception.Frequency, d.Reception.DataRate)
			}
		}
		acks := r.lns.TxAcks()
		if got := statuses(acks); got != "RX1:OK RX1:TOO_LATE RX2:OK " {
			t.Errorf("TX_ACKs %q", got)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		pn := NewPacketNetwork()
		// 5.5 s of lead: the join-accept goes in the join RX2 window, and
		// data downlinks cannot go at all.
		r := newLNSRig(t, pn.ListenPacket, 13, LNSConfig{}, ConcentratorConfig{MinLead: 5500 * time.Millisecond})
		s := r.otaa(t, 1, ClassA, nil)
		j := join(t, s)
		if j.Window != WindowRX2 {
			t.Errorf("join-accept in %s, want RX2", j.Window)
		}
		startsAt(t, "join-accept in RX2", j.Reception, j.Sent.End.Add(6*time.Second))
		if res := uplink(t, s, "hello", true); res.Downlink != nil {
			t.Errorf("downlink %+v, want none", res.Downlink)
		}
		if got := statuses(r.lns.TxAcks()); got != "RX1:TOO_LATE RX2:OK RX1:TOO_LATE RX2:TOO_LATE " {
			t.Errorf("TX_ACKs %q", got)
		}
		if len(r.lns.Uplinks()) != 1 {
			t.Error("the confirmed uplink was not accepted")
		}
	})
}

// TestLNSClassC sends Class C downlinks minutes after the device's last
// uplink: the gateway's keepalives hold the path open, the frame goes out
// at once on RX2, and a gateway that cannot transmit there answers
// TX_FREQ, which the LNS records.
func TestLNSClassC(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := NewPacketNetwork()
		r := newLNSRig(t, pn.ListenPacket, 14, LNSConfig{}, ConcentratorConfig{})
		s := r.otaa(t, 1, ClassC, nil)
		join(t, s)
		uplink(t, s, "up", false)
		time.Sleep(3 * time.Minute)
		if err := r.lns.Enqueue(devEUI(1), Downlink{FPort: 3, Payload: []byte("open valve")}); err != nil {
			t.Fatal(err)
		}
		sent := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		d, err := s.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d.Window != WindowImmediate || string(d.Payload) != "open valve" || d.FPort == nil || *d.FPort != 3 {
			t.Errorf("Class C downlink %+v", d)
		}
		// Immediate frames leave the JIT queue 80 ms after arriving.
		if lag := d.Reception.Start.Sub(sent); lag != 80*time.Millisecond {
			t.Errorf("Class C downlink started %v after it was queued", lag)
		}
		acks := r.lns.TxAcks()
		if got := statuses(acks); got != "RX1:OK immediate:OK " || !acks[1].TXPK.Imme {
			t.Errorf("TX_ACKs %q", got)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		pn := NewPacketNetwork()
		// This board's RF chain stops below the RX2 channel.
		r := newLNSRig(t, pn.ListenPacket, 15, LNSConfig{}, ConcentratorConfig{TxFreqMax: 869_000_000})
		s := r.otaa(t, 1, ClassC, nil)
		join(t, s)
		uplink(t, s, "up", false)
		time.Sleep(2 * time.Minute)
		if err := r.lns.Enqueue(devEUI(1), Downlink{FPort: 3, Payload: []byte("open valve")}); err != nil {
			t.Fatal(err)
		}
		eventually(t, func() bool { return len(r.lns.TxAcks()) == 2 }, func() string { return statuses(r.lns.TxAttempts()) })
		if got := statuses(r.lns.TxAcks()); got != "RX1:OK immediate:TX_FREQ " {
			t.Errorf("TX_ACKs %q", got)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if d, err := s.Receive(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("sensor heard %+v, %v", d, err)
		}
	})
}

// TestLNSRejectsForgeries covers frames the LNS must refuse: bad MICs
// (a corrupted frame, a device with the wrong key, a join with the wrong
// AppKey), replayed and stale frame counters, a counter jump beyond
// MAX_FCNT_GAP, a reused DevNonce, unknown devices. Honest traffic flows
// on afterwards.
func TestLNSRejectsForgeries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := NewPacketNetwork()
		r := newLNSRig(t, pn.ListenPacket, 16, LNSConfig{}, ConcentratorConfig{})
		abp := ABPDevice{DevEUI: devEUI(2), DevAddr: lorawan.DevAddr{0x02, 0, 0, 0x42}, NwkSKey: lorawan.AES128Key{1, 2, 3}, AppSKey: lorawan.AES128Key{4, 5, 6}}
		if err := r.lns.AddABP(abp); err != nil {
			t.Fatal(err)
		}
		abpCfg := SensorConfig{ABP: true, DevEUI: abp.DevEUI, DevAddr: abp.DevAddr, NwkSKey: abp.NwkSKey, AppSKey: abp.AppSKey, FCntUp: 7}
		s := newSensor(t, r.m, "abp", abpCfg)
		first := uplink(t, s, "one", false)
		second := uplink(t, s, "two", true)
		if second.Downlink == nil || !second.Downlink.ACK {
			t.Fatalf("ABP confirmed uplink got %+v", second.Downlink)
		}

		send := func(frame []byte) {
			t.Helper()
			if _, err := s.Device().Send(frame); err != nil {
				t.Fatal(err)
			}
			time.Sleep(3 * time.Second) // past the dedup delay and both windows
		}
		wantRejected := func(reason RejectReason, n uint64) {
			t.Helper()
			synctest.Wait()
			if got := r.lns.Rejected(reason); got != n {
				t.Errorf("%s: %d frames refused, want %d; rejections %+v", reason, got, n, r.lns.Rejections())
			}
		}
		// Replays: the last frame again, and an older one.
		send(second.Frame)
		send(first.Frame)
		wantRejected(RejectReplay, 2)
		// A corrupted MIC on the next frame.
		forged, err := s.buildUplink(10, []byte("forged"), false)
		if err != nil {
			t.Fatal(err)
		}
		forged[len(forged)-1] ^= 0xff
		send(forged)
		wantRejected(RejectBadMIC, 1)
		// The same device with a wrong NwkSKey.
		wrong := abpCfg
		wrong.NwkSKey = lorawan.AES128Key{9}
		wrong.FCntUp = 100
		uplink(t, newSensor(t, r.m, "wrong-key", wrong), "x", false)
		wantRejected(RejectBadMIC, 2)
		// A counter that jumps past MAX_FCNT_GAP.
		jump := abpCfg
		jump.FCntUp = 9 + maxFCntGap + 10
		uplink(t, newSensor(t, r.m, "jump", jump), "x", false)
		wantRejected(RejectFCntGap, 1)
		// A DevAddr nobody registered.
		stranger := abpCfg
		stranger.DevAddr = lorawan.DevAddr{0x02, 0, 0, 0x99}
		uplink(t, newSensor(t, r.m, "stranger", stranger), "x", false)
		wantRejected(RejectUnknownDevice, 1)

		// Joins: the wrong AppKey, an unknown DevEUI, a reused DevNonce.
		otaa := r.otaa(t, 3, ClassA, func(c *SensorConfig) { c.AppKey = lorawan.AES128Key{0xee} })
		if _, err := otaa.Join(context.Background()); !errors.Is(err, ErrNoJoinAccept) {
			t.Errorf("join with the wrong AppKey: %v", err)
		}
		wantRejected(RejectBadMIC, 3)
		unknown := newSensor(t, r.m, "unknown", SensorConfig{DevEUI: devEUI(99), JoinEUI: testJoinEUI, AppKey: testAppKey})
		if _, err := unknown.Join(context.Background()); !errors.Is(err, ErrNoJoinAccept) {
			t.Errorf("join of an unknown device: %v", err)
		}
		wantRejected(RejectUnknownDevice, 2)
		good := r.otaa(t, 4, ClassA, func(c *SensorConfig) { c.DevNonce = 40 })
		join(t, good)
		again := newSensor(t, r.m, "same-nonce", SensorConfig{DevEUI: devEUI(4), JoinEUI: testJoinEUI, AppKey: testAppKey, DevNonce: 40})
		if _, err := again.Join(context.Background()); !errors.Is(err, ErrNoJoinAccept) {
			t.Errorf("join with a reused DevNonce: %v", err)
		}
		wantRejected(RejectDevNonce, 1)

		// Honest traffic still flows, on both sessions.
		if res := uplink(t, good, "fine", true); res.Downlink == nil || !res.Downlink.ACK {
			t.Errorf("OTAA uplink after the forgeries: %+v", res.Downlink)
		}
		if res := uplink(t, s, "four", true); res.Downlink == nil || !res.Downlink.ACK {
			t.Errorf("ABP uplink after the forgeries: %+v", res.Downlink)
		}
		var got []string
		for _, u := range r.lns.Uplinks() {
			got = append(got, string(u.Payload))
		}
		if fmt.Sprint(got) != "[one two fine four]" {
			t.Errorf("accepted payloads %v", got)
		}
	})
}

// TestLNSSurvivesGarbage points a garbage-spewing concentrator and a
// hostile sender at the LNS: bad datagrams and bad frames inside good
// datagrams are dropped, and a join and confirmed uplinks still work.
func TestLNSSurvivesGarbage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := NewPacketNetwork()
		r := newLNSRig(t, pn.ListenPacket, 17, LNSConfig{}, ConcentratorConfig{})
		r.gw.SetFaults(Faults{GarbageEvery: 1})
		evil, err := pn.ListenPacket("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer evil.Close()
		for _, b := range garbageDatagrams() {
			if _, err := evil.WriteTo(b, r.lns.Addr()); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		s := r.otaa(t, 1, ClassA, nil)
		join(t, s)
		for i := range 3 {
			if res := uplink(t, s, "ok", true); res.Downlink == nil || !res.Downlink.ACK {
				t.Fatalf("uplink %d after garbage: %+v", i, res.Downlink)
			}
		}
		for _, b := range garbageDatagrams() {
			if _, err := evil.WriteTo(b, r.lns.Addr()); err != nil {
				t.Fatal(err)
			}
		}
		if res := uplink(t, s, "ok", true); res.Downlink == nil || !res.Downlink.ACK {
			t.Fatalf("uplink after more garbage: %+v", res.Downlink)
		}
		if r.gw.Stats().Garbage == 0 {
			t.Error("the concentrator sent no garbage")
		}
		if n := r.lns.Rejected(RejectUndecodable) + r.lns.Rejected(RejectNotUplink); n == 0 {
			t.Errorf("no bad frame was refused: %+v", r.lns.Rejections())
		}
		if n := r.lns.Rejected(RejectPanic); n != 0 {
			t.Errorf("%d frames panicked: %+v", n, r.lns.Rejections())
		}
	})
}

// pushData wraps frames in a PUSH_DATA from eui.
func pushData(eui semtech.EUI, frames ...[]byte) []byte {
	p := semtech.PushData{Version: 2, Token: semtech.Token{1, 2}, EUI: eui}
	for _, f := range frames {
		p.RXPK = append(p.RXPK, semtech.RXPK{Tmst: 1000, Freq: 868_100_000, Stat: 1, Modu: "LORA", DatR: semtech.DatRFor(sf7), CodR: "4/5", RSSI: -80, Data: f})
	}
	b, err := p.MarshalBinary()
	if err != nil {
		panic(err)
	}
	return b
}

// garbageDatagrams are datagrams a hostile or broken gateway might send.
func garbageDatagrams() [][]byte {
	eui := semtech.EUI{0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1}
	hdr := []byte{2, 9, 9, 0}
	return [][]byte{
		{},
		{0xff},
		{2, 1, 2},
		{3, 1, 2, 0},
		append(append([]byte{}, hdr...), eui[:]...),
		append(append(append([]byte{}, hdr...), eui[:]...), `{"rxpk":[{"data":"%%%"}]}`...),
		append(append(append([]byte{}, hdr...), eui[:]...), `{"rxpk":[`...),
		{2, 1, 2, 5, 0, 0, 0, 0, 0, 0, 0, 0},                                  // TX_ACK for no downlink
		append([]byte{2, 1, 2, 3}, `{"txpk":{"imme":true}}`...),               // PULL_RESP sent to a server
		{2, 1, 2, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0xff},                            // PULL_DATA too long
		pushData(eui, []byte{0x40}),                                           // too short for LoRaWAN
		pushData(eui, []byte{0x40, 1, 2, 3, 4, 0x0f, 0, 0}),                   // FOpts longer than the frame
		pushData(eui, []byte{0x20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}),    // a join-accept, upstream
		pushData(eui, []byte{0xe0, 1, 2, 3, 4, 5}),                            // proprietary
		pushData(eui, []byte{0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}),    // truncated join request
		pushData(eui, bytes.Repeat([]byte{0x80}, 255)),                        // confirmed up of junk
		pushData(eui, []byte{0x41, 1, 2, 3, 4, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7}), // major version 1
	}
}

// TestLNSOverLoopbackUDP runs the same exchange over real UDP sockets on
// the real clock: the concentrator's Semtech client talks to the LNS as a
// gateway forwarding to it would.
func TestLNSOverLoopbackUDP(t *testing.T) {
	r := newLNSRig(t, udp, 18, LNSConfig{}, ConcentratorConfig{})
	// The real clock's timers fire late on a loaded machine; a wide
	// window keeps the test about behaviour, not scheduling.
	s := r.otaa(t, 1, ClassA, func(c *SensorConfig) { c.RXWindow = 400 * time.Millisecond })
	j := join(t, s)
	if j.Window != WindowRX1 && j.Window != WindowRX2 {
		t.Fatalf("join-accept window %q", j.Window)
	}
	for i := range 2 {
		res := uplink(t, s, fmt.Sprintf("udp %d", i), true)
		if res.Downlink == nil || !res.Downlink.ACK {
			t.Fatalf("uplink %d: downlink %+v; TX attempts %s", i, res.Downlink, statuses(r.lns.TxAttempts()))
		}
	}
	ups := r.lns.Uplinks()
	if len(ups) != 2 || string(ups[1].Payload) != "udp 1" {
		t.Fatalf("LNS uplinks %+v", ups)
	}
	for _, a := range r.lns.TxAcks() {
		if !a.Status.Accepted() && a.Status.Error != semtech.TxTooLate {
			t.Errorf("TX_ACK %s", statuses([]TxAttempt{a}))
		}
	}
}

// TestLNSConfig covers the configuration checks.
func TestLNSConfig(t *testing.T) {
	pn := NewPacketNetwork()
	for _, tc := range []struct {
		name string
		cfg  LNSConfig
	}{
		{"rx1 delay not whole seconds", LNSConfig{RX1Delay: 1500 * time.Millisecond}},
		{"rx1 delay too long", LNSConfig{RX1Delay: 16 * time.Second}},
		{"dedup beyond rx1", LNSConfig{DedupDelay: 2 * time.Second}},
		{"unknown region", LNSConfig{Region: "XX"}},
		{"handler given", LNSConfig{Server: semtech.ServerConfig{Handler: &lns{}}}},
	} {
		conn, err := pn.ListenPacket("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := NewLNS(tc.cfg, conn, nil, nil); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
		conn.Close()
	}
}

// TestLNSDeduplicatesCopies has two gateways hear every uplink: the LNS
// takes it once, with both copies counted, and answers through the gateway
// that heard it best.
func TestLNSDeduplicatesCopies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := NewPacketNetwork()
		r := newLNSRig(t, pn.ListenPacket, 19, LNSConfig{}, ConcentratorConfig{})
		far := startConcentrator(t, pn.ListenPacket, r.m, r.lns.Addr(), "far", -2500, 400, ConcentratorConfig{})
		waitOnline(t, r.lns.Server(), far.EUI())
		var near, distant recorder
		r.gw.Radio().Listen(near.add)
		far.Radio().Listen(distant.add)
		s := r.otaa(t, 1, ClassA, nil)
		join(t, s)
		res := uplink(t, s, "twice heard", true)
		if res.Downlink == nil || !res.Downlink.ACK {
			t.Fatalf("downlink %+v", res.Downlink)
		}
		ups := r.lns.Uplinks()
		if len(ups) != 1 || ups[0].Copies != 2 {
			t.Fatalf("LNS uplinks %+v, want one with 2 copies", ups)
		}
		a, b := near.all(), distant.all()
		if len(a) != 2 || len(b) != 2 {
			t.Fatalf("gateways heard %d and %d frames, want the join and the uplink each", len(a), len(b))
		}
		want := r.gw.EUI()
		if b[1].RSSIS > a[1].RSSIS {
			want = far.EUI()
		}
		acks := r.lns.TxAcks()
		if ups[0].Gateway != want || acks[len(acks)-1].Gateway != want {
			t.Errorf("answered through %v (uplink best %v), want %v", acks[len(acks)-1].Gateway, ups[0].Gateway, want)
		}
		if n := len(r.lns.Rejections()); n != 0 {
			t.Errorf("%d rejections: a second copy is not a replay", n)
		}
	})
}

// TestLNSFrameCounterRollover sends ABP uplinks across the 16-bit
// boundary of the counter on air: the LNS reconstructs 0xffff → 0x10000
// from the MIC, and the sensor does the same for downlinks.
func TestLNSFrameCounterRollover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := NewPacketNetwork()
		r := newLNSRig(t, pn.ListenPacket, 20, LNSConfig{}, ConcentratorConfig{})
		abp := ABPDevice{DevEUI: devEUI(5), DevAddr: lorawan.DevAddr{0x02, 0, 0, 0x05}, NwkSKey: lorawan.AES128Key{7}, AppSKey: lorawan.AES128Key{8}}
		if err := r.lns.AddABP(abp); err != nil {
			t.Fatal(err)
		}
		s := newSensor(t, r.m, "abp", SensorConfig{ABP: true, DevEUI: abp.DevEUI, DevAddr: abp.DevAddr, NwkSKey: abp.NwkSKey, AppSKey: abp.AppSKey, FCntUp: 0xfffe})
		// Start the downlink counter just below the boundary too.
		r.lns.mu.Lock()
		r.lns.byEUI[abp.DevEUI].session.fcntDown = 0xffff
		r.lns.mu.Unlock()
		s.fcntDown, s.haveDown = 0xfffe, true
		var got []uint32
		for range 3 {
			res := uplink(t, s, "tick", true)
			if res.Downlink == nil || !res.Downlink.ACK {
				t.Fatalf("uplink FCnt %#x: downlink %+v", res.FCnt, res.Downlink)
			}
			got = append(got, res.Downlink.FCnt)
		}
		var ups []uint32
		for _, u := range r.lns.Uplinks() {
			ups = append(ups, u.FCnt)
		}
		if fmt.Sprintf("%#x", ups) != "[0xfffe 0xffff 0x10000]" || fmt.Sprintf("%#x", got) != "[0xffff 0x10000 0x10001]" {
			t.Errorf("uplink counters %#x, downlink counters %#x", ups, got)
		}
	})
}

// TestSensorRefusesBadDownlinks feeds a sensor downlinks for another
// DevAddr, with a bad MIC, and replayed: it takes none of them, then takes
// the genuine next one.
func TestSensorRefusesBadDownlinks(t *testing.T) {
	l := fuzzLNS(t)
	m := realMedium(t, MediumConfig{Seed: 21})
	s := newSensor(t, m, "abp", SensorConfig{ABP: true, DevEUI: fuzzABP.DevEUI, DevAddr: fuzzABP.DevAddr, NwkSKey: fuzzABP.NwkSKey, AppSKey: fuzzABP.AppSKey})
	l.mu.Lock()
	dev := l.byEUI[fuzzABP.DevEUI]
	frame := func(payload string) []byte {
		b, err := l.dataDownLocked(dev, false, &Downlink{FPort: 2, Payload: []byte(payload)}, false)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first, second := frame("first"), frame("second")
	l.mu.Unlock()
	rec := func(b []byte) Reception { return Reception{Payload: b, InvertIQ: true} }

	if d, ok := s.decodeDown(rec(first), WindowRX1); !ok || string(d.Payload) != "first" || d.FCnt != 0 {
		t.Fatalf("genuine downlink: %+v %v", d, ok)
	}
	if _, ok := s.decodeDown(rec(first), WindowRX1); ok {
		t.Error("replayed downlink accepted")
	}
	bad := append([]byte(nil), second...)
	bad[len(bad)-1] ^= 1
	if _, ok := s.decodeDown(rec(bad), WindowRX1); ok {
		t.Error("downlink with a bad MIC accepted")
	}
	other := append([]byte(nil), second...)
	other[1] ^= 1 // DevAddr
	if _, ok := s.decodeDown(rec(other), WindowRX1); ok {
		t.Error("downlink for another DevAddr accepted")
	}
	if _, ok := s.decodeDown(rec([]byte{0x60, 1, 2}), WindowRX1); ok {
		t.Error("undecodable downlink accepted")
	}
	if d, ok := s.decodeDown(rec(second), WindowRX2); !ok || string(d.Payload) != "second" || d.FCnt != 1 || d.Window != WindowRX2 {
		t.Fatalf("next genuine downlink: %+v %v", d, ok)
	}
}

// TestLNSUS915 runs a join and a confirmed uplink in US915, where RX1 is
// on another channel and data rate than the uplink (500 kHz downlink
// channels) and RX2 is 923.3 MHz SF12BW500.
func TestLNSUS915(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := NewPacketNetwork()
		r := newLNSRig(t, pn.ListenPacket, 22, LNSConfig{Region: "US915"}, ConcentratorConfig{Region: "US915"})
		s := r.otaa(t, 1, ClassA, func(c *SensorConfig) { c.Device.Region = "US915" })
		j := join(t, s)
		if j.Window != WindowRX1 || j.Reception.DataRate.Bandwidth != 500_000 {
			t.Fatalf("join-accept in %s at %v", j.Window, j.Reception.DataRate)
		}
		res := uplink(t, s, "howdy", true)
		d := res.Downlink
		if d == nil || !d.ACK || d.Window != WindowRX1 {
			t.Fatalf("downlink %+v", d)
		}
		up := r.lns.Uplinks()[0].RXPK
		t.Logf("uplink %v %v → RX1 %v %v", up.Freq, up.DatR, d.Reception.Frequency, d.Reception.DataRate)
		if d.Reception.Frequency < 923_300_000 || d.Reception.Frequency > 927_500_000 || d.Reception.DataRate != (radio.DataRate{SF: 7, Bandwidth: 500_000}) {
			t.Errorf("RX1 on %v %v, want a 923.3–927.5 MHz channel at SF7BW500", d.Reception.Frequency, d.Reception.DataRate)
		}
	})
}

// TestLNSVersion1Gateway: a protocol v1 forwarder sends no TX_ACK; the LNS
// records its downlinks as sent but unacknowledged, and they still reach
// the sensor.
func TestLNSVersion1Gateway(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := NewPacketNetwork()
		r := newLNSRig(t, pn.ListenPacket, 23, LNSConfig{}, ConcentratorConfig{Version: semtech.Version1})
		s := r.otaa(t, 1, ClassA, nil)
		join(t, s)
		if res := uplink(t, s, "v1", true); res.Downlink == nil || !res.Downlink.ACK {
			t.Fatalf("downlink %+v", res.Downlink)
		}
		if n := len(r.lns.TxAcks()); n != 0 {
			t.Errorf("%d TX_ACKs from a v1 forwarder", n)
		}
		as := r.lns.TxAttempts()
		if len(as) != 2 || as[0].Acked || as[1].Acked || as[0].Err != nil || r.lns.Stats().TxResults["unacked"] != 2 {
			t.Errorf("attempts %s, stats %v", statuses(as), r.lns.Stats().TxResults)
		}
	})
}

func TestAppendBounded(t *testing.T) {
	var s []int
	for i := range 25 {
		s = appendBounded(s, i, 10)
		if len(s) > 10 || s[len(s)-1] != i {
			t.Fatalf("after %d: %v", i, s)
		}
	}
	if fmt.Sprint(s) != "[15 16 17 18 19 20 21 22 23 24]" {
		t.Errorf("kept %v, want the newest, oldest first", s)
	}
}

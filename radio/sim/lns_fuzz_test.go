package sim

import (
	"context"
	"testing"
	"time"

	"github.com/brocaar/lorawan"

	"github.com/hexfield/hexfield/radio/semtech"
)

var fuzzABP = ABPDevice{DevEUI: devEUI(2), DevAddr: lorawan.DevAddr{0x02, 0, 0, 0x42}, NwkSKey: lorawan.AES128Key{1, 2, 3}, AppSKey: lorawan.AES128Key{4, 5, 6}}

// fuzzLNS is an LNS that is not running, with one OTAA and one ABP device:
// handleFrame works on it, and downlinks are recorded as not sent.
func fuzzLNS(t testing.TB) *LNS {
	t.Helper()
	conn, err := NewPacketNetwork().ListenPacket("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// Small queues: one LNS is built per fuzz input.
	l, err := NewLNS(LNSConfig{MaxInFlight: 8, Server: semtech.ServerConfig{QueueSize: 8}}, conn, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.AddOTAA(OTAADevice{DevEUI: devEUI(1), JoinEUI: testJoinEUI, AppKey: testAppKey}); err != nil {
		t.Fatal(err)
	}
	if err := l.AddABP(fuzzABP); err != nil {
		t.Fatal(err)
	}
	return l
}

// validFrames are a join request of the OTAA device and uplinks of the
// ABP device, built by a sensor.
func validFrames(t testing.TB) [][]byte {
	t.Helper()
	s := &Sensor{cfg: SensorConfig{DevEUI: devEUI(1), JoinEUI: testJoinEUI, AppKey: testAppKey}}
	jr := lorawan.PHYPayload{
		MHDR:       lorawan.MHDR{MType: lorawan.JoinRequest, Major: lorawan.LoRaWANR1},
		MACPayload: &lorawan.JoinRequestPayload{JoinEUI: testJoinEUI, DevEUI: devEUI(1), DevNonce: 7},
	}
	if err := jr.SetUplinkJoinMIC(testAppKey); err != nil {
		t.Fatal(err)
	}
	join, err := jr.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	out := [][]byte{join}
	s.joined, s.devAddr, s.nwkSKey, s.appSKey = true, fuzzABP.DevAddr, fuzzABP.NwkSKey, fuzzABP.AppSKey
	for i, confirmed := range []bool{false, true} {
		s.fcntUp = uint32(i)
		b, err := s.buildUplink(10, []byte("reading"), confirmed)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func fuzzUplink(frame []byte) semtech.Uplink {
	return semtech.Uplink{
		EUI:      semtech.EUI{1},
		RXPK:     semtech.RXPK{Tmst: 123456, Freq: 868_100_000, Stat: 1, Modu: "LORA", DatR: semtech.DatRFor(sf7), CodR: "4/5", RSSI: -70, Data: frame},
		DataRate: sf7,
	}
}

// FuzzLNSFrame feeds arbitrary PHYPayloads to the LNS's frame handling: it
// must never panic, and a frame it accepts it must refuse the second time
// (a replayed join or uplink is never accepted twice).
func FuzzLNSFrame(f *testing.F) {
	for _, b := range validFrames(f) {
		f.Add(b)
	}
	for _, b := range [][]byte{{}, {0x40}, {0x40, 1, 2, 3, 4, 0x0f, 0, 0}, {0x20, 1, 2, 3, 4, 5}, {0xe0, 1, 2, 3, 4, 5}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		l := fuzzLNS(t)
		ctx := context.Background()
		reason, _ := l.handleFrame(ctx, fuzzUplink(frame), 1)
		if reason != "" {
			return
		}
		if again, _ := l.handleFrame(ctx, fuzzUplink(frame), 1); again == "" {
			t.Fatalf("frame %x accepted twice", frame)
		}
	})
}

// FuzzLNSDatagram sends arbitrary datagrams to a running LNS: after each,
// the LNS still answers a PULL_DATA, and no frame handling panicked.
func FuzzLNSDatagram(f *testing.F) {
	eui := semtech.EUI{0xb8, 0x27, 0xeb, 0xff, 0xfe, 0x12, 0x34, 0x56}
	for _, b := range garbageDatagrams() {
		f.Add(b)
	}
	f.Add(pushData(eui, validFrames(f)...))
	f.Add([]byte{2, 0x3c, 0x4d, 2, 0xb8, 0x27, 0xeb, 0xff, 0xfe, 0x12, 0x34, 0x56})
	f.Add([]byte{2, 0x5e, 0x6f, 5, 0xb8, 0x27, 0xeb, 0xff, 0xfe, 0x12, 0x34, 0x56})

	pn := NewPacketNetwork()
	conn, err := pn.ListenPacket("127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	l, err := NewLNS(LNSConfig{DedupDelay: time.Millisecond}, conn, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	if err := l.AddOTAA(OTAADevice{DevEUI: devEUI(1), JoinEUI: testJoinEUI, AppKey: testAppKey}); err != nil {
		f.Fatal(err)
	}
	if err := l.AddABP(fuzzABP); err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	f.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			f.Errorf("lns run: %v", err)
		}
	})
	gw, err := pn.ListenPacket("127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { gw.Close() })
	var tok uint16
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := gw.WriteTo(b, l.Addr()); err != nil {
			t.Fatal(err)
		}
		tok++
		pull := []byte{2, byte(tok >> 8), byte(tok), 2, 0xb8, 0x27, 0xeb, 0xff, 0xfe, 0x12, 0x34, 0x56}
		if _, err := gw.WriteTo(pull, l.Addr()); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, semtech.MaxDatagramSize)
		if err := gw.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		for {
			n, _, err := gw.ReadFrom(buf)
			if err != nil {
				t.Fatalf("no PULL_ACK after %x: %v", b, err)
			}
			if n == 4 && buf[3] == byte(semtech.TypePullAck) && buf[1] == byte(tok>>8) && buf[2] == byte(tok) {
				break // PUSH_ACKs and PULL_RESPs of earlier inputs are skipped
			}
		}
		select {
		case err := <-done:
			t.Fatalf("lns stopped: %v", err)
		default:
		}
		if n := l.Rejected(RejectPanic); n != 0 {
			t.Fatalf("%d frames panicked: %+v", n, l.Rejections())
		}
	})
}

// BenchmarkLNSDataUplink measures the LNS's handling of one data uplink:
// decode, MIC check, counter check, decryption and the record.
func BenchmarkLNSDataUplink(b *testing.B) {
	l := fuzzLNS(b)
	s := &Sensor{joined: true, devAddr: fuzzABP.DevAddr, nwkSKey: fuzzABP.NwkSKey, appSKey: fuzzABP.AppSKey}
	frames := make([][]byte, b.N)
	for i := range frames {
		s.fcntUp = uint32(i)
		f, err := s.buildUplink(10, []byte("twenty-byte reading!"), false)
		if err != nil {
			b.Fatal(err)
		}
		frames[i] = f
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		if reason, err := l.handleFrame(ctx, fuzzUplink(frames[i]), 1); reason != "" {
			b.Fatalf("frame %d refused: %s %v", i, reason, err)
		}
	}
}

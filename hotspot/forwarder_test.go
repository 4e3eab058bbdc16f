package hotspot

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/hexfield/hexfield/radio/semtech"
)

// TestSecondForwarderGetsNoBeacons plays the attack of issue 9 over real
// loopback UDP: the hotspot's own forwarder connects first; then a second
// "gateway" with another EUI pulls every 10 ms and accepts every downlink,
// and a spoofer, even one that knows each PULL_RESP token, answers every
// beacon with an accepted TX_ACK from its own socket. The real forwarder
// refuses the beacon (TX_FREQ). No beacon may go to the second gateway and
// no beacon report may be signed, since no beacon was ever on air.
func TestSecondForwarderGetsNoBeacons(t *testing.T) {
	r := startRig(t, Config{Region: "EU868", BeaconInterval: 2 * time.Second}, nil)
	server, err := net.ResolveUDPAddr("udp", r.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	realEUI := semtech.EUI{0xb8, 0x27, 0xeb, 0xff, 0xfe, 0x12, 0x34, 0x56}
	real := listenLoopback(t)
	spoof := listenLoopback(t)
	pull, _ := (&semtech.PullData{Version: 2, Token: semtech.Token{1, 2}, EUI: realEUI}).MarshalBinary()
	if _, err := real.WriteTo(pull, server); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "forwarder pinned", 5*time.Second, func() bool {
		eui, ok := r.h.bridge.srv.Pinned()
		return ok && eui == realEUI
	})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	pullResps := make(chan semtech.Token, 16)
	go func() { // the real forwarder: keepalive, and reads PULL_RESPs
		defer close(done)
		buf := make([]byte, semtech.MaxDatagramSize)
		next := time.Now()
		for ctx.Err() == nil {
			if time.Now().After(next) {
				real.WriteTo(pull, server)
				next = time.Now().Add(100 * time.Millisecond)
			}
			real.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			n, _, err := real.ReadFrom(buf)
			if err != nil {
				continue
			}
			var pr semtech.PullResp
			if pr.UnmarshalBinary(buf[:n]) == nil {
				pullResps <- pr.Token
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })

	rogueRadio := &fakeRadio{}
	startForwarderEvery(t, r.addr, semtech.EUI{0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1}, rogueRadio, 10*time.Millisecond)

	const attempts = 2
	for i := range attempts {
		var tok semtech.Token
		select {
		case tok = <-pullResps:
		case <-time.After(20 * time.Second):
			t.Fatalf("attempt %d: no beacon reached the pinned forwarder", i)
		}
		before := counter(t, r.reg, "hexfield_semtech_dropped_total", "reason", "tx_ack_address")
		fake, _ := (&semtech.TxAck{Version: 2, Token: tok, EUI: realEUI}).MarshalBinary()
		spoof.WriteTo(fake, server)
		waitFor(t, "spoofed TX_ACK dropped", 5*time.Second, func() bool {
			return counter(t, r.reg, "hexfield_semtech_dropped_total", "reason", "tx_ack_address") > before
		})
		refuse, _ := (&semtech.TxAck{Version: 2, Token: tok, EUI: realEUI, Status: semtech.TxStatusError(semtech.TxFreq)}).MarshalBinary()
		real.WriteTo(refuse, server)
		waitFor(t, "TX_FREQ counted", 5*time.Second, func() bool {
			return counter(t, r.reg, "hexfield_hotspot_beacon_tx_errors_total", "error", "TX_FREQ") >= float64(i+1)
		})
	}
	if n := len(rogueRadio.sent()); n != 0 {
		t.Fatalf("the second gateway got %d beacons", n)
	}
	if got := counter(t, r.reg, "hexfield_semtech_dropped_total", "reason", "unpinned_forwarder"); got < 10 {
		t.Fatalf("second gateway's datagrams dropped: %v", got)
	}
	if n := counter(t, r.reg, "hexfield_hotspot_reports_total", "kind", "beacon"); n != 0 {
		t.Fatalf("%v beacon reports signed for beacons never on air", n)
	}
	if st := r.h.Status(); len(st.Forwarders) != 1 || st.Forwarders[0].EUI != realEUI.String() {
		t.Fatalf("forwarders %+v", st.Forwarders)
	}
}

func listenLoopback(t *testing.T) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// startForwarderEvery is startForwarder with another keepalive interval.
func startForwarderEvery(t *testing.T, server net.Addr, eui semtech.EUI, h semtech.DownlinkHandler, every time.Duration) *semtech.Client {
	t.Helper()
	up, _ := net.ListenPacket("udp", "127.0.0.1:0")
	down, _ := net.ListenPacket("udp", "127.0.0.1:0")
	// A long PUSH_ACK wait: a loaded machine must not fail a Push that
	// the hotspot received.
	c, err := semtech.NewClient(semtech.ClientConfig{EUI: eui, KeepaliveInterval: every, Handler: h,
		PushTimeout: 10 * time.Second}, up, down, server, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

// TestConfiguredForwarderEUI: with forwarder_eui set, that forwarder is
// served even when another one speaks first; a malformed EUI is refused
// before any socket is used.
func TestConfiguredForwarderEUI(t *testing.T) {
	bad := Config{ForwarderEUI: "B827EBFFFE1234"}
	bad.SetDefaults()
	if err := bad.Validate(); err == nil {
		t.Fatal("15-digit forwarder_eui accepted")
	}
	r := startRig(t, Config{Region: "EU868", BeaconInterval: time.Hour, ForwarderEUI: "B8:27:EB:FF:FE:12:34:56"}, nil)
	startForwarderEvery(t, r.addr, semtech.EUI{0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1}, &fakeRadio{}, 10*time.Millisecond)
	waitFor(t, "first forwarder dropped", 5*time.Second, func() bool {
		return counter(t, r.reg, "hexfield_semtech_dropped_total", "reason", "unpinned_forwarder") >= 3
	})
	startForwarder(t, r.addr, semtech.EUI{0xb8, 0x27, 0xeb, 0xff, 0xfe, 0x12, 0x34, 0x56}, &fakeRadio{})
	waitFor(t, "configured forwarder served", 5*time.Second, func() bool {
		st := r.h.Status()
		return len(st.Forwarders) == 1 && st.Forwarders[0].EUI == "b827ebfffe123456" && st.Forwarders[0].Alive
	})
}

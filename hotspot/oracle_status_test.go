package hotspot

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quic-go/quic-go"

	"github.com/hexfield/hexfield/wire"
)

// An error from before the current connection (the oracle refused the
// hotspot as not onboarded, then it was onboarded and reconnected) is not
// shown as the oracle's last error while connected.
func TestOracleStatusClearsOldError(t *testing.T) {
	o := startTestOracle(t)
	m := newMetrics(prometheus.NewRegistry())
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	tr := &quic.Transport{Conn: pc}
	defer tr.Close()
	key, _ := wire.GenerateKey()
	c := &oracleClient{key: o.pub, addr: o.addr, priv: key, tr: tr, m: m, log: testLogger(t)}
	c.setConn(nil, errNotOnboarded)
	if st := c.status(); st.Connected || !strings.Contains(st.LastError, "onboard") {
		t.Fatalf("refused: %+v", st)
	}
	conn, err := c.dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseWithError(0, "")
	c.setConn(conn, nil)
	if st := c.status(); !st.Connected || st.LastError != "" {
		t.Fatalf("connected, status %+v; want no last error", st)
	}
	// An UNKNOWN_HOTSPOT ack while connected shows; the next OK ack clears it.
	ob, err := OpenOutbox(OutboxConfig{Dir: t.TempDir()}, nil, m.outbox)
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	c.outbox = ob
	s := &submitter{c: c, inflight: map[[32]byte]uint64{}, inSeq: map[uint64]bool{}, freed: make(chan struct{}, 2)}
	s.inflight[[32]byte{1}], s.inflight[[32]byte{2}] = 1, 2
	s.handleAck(&wire.Ack{Id: bytesOf(1), Code: wire.Code_CODE_UNKNOWN_HOTSPOT})
	if st := c.status(); !strings.Contains(st.LastError, "not onboarded") {
		t.Fatalf("unknown-hotspot ack not shown: %+v", st)
	}
	s.handleAck(&wire.Ack{Id: bytesOf(2), Code: wire.Code_CODE_OK})
	if st := c.status(); st.LastError != "" {
		t.Fatalf("after an OK ack: %+v", st)
	}
}

func bytesOf(b byte) []byte {
	id := make([]byte, 32)
	id[0] = b
	return id
}

// A UDP port that does not answer QUIC fails the dial within the handshake
// timeout, with an error naming the oracle's address and the handshake,
// not a bare "context deadline exceeded".
func TestOracleDialSilentPort(t *testing.T) {
	silent, err := net.ListenPacket("udp", "127.0.0.1:0") // reads nothing, answers nothing
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	tr := &quic.Transport{Conn: pc}
	defer tr.Close()
	key, _ := wire.GenerateKey()
	okey, _ := wire.GenerateKey()
	c := &oracleClient{key: wire.PublicKeyOf(okey), addr: silent.LocalAddr().String(), priv: key, tr: tr,
		m: newMetrics(prometheus.NewRegistry()), log: testLogger(t), handshake: 300 * time.Millisecond} // the test's timeout, not the daemon's
	_, err = c.dial(context.Background())
	if err == nil {
		t.Fatal("dial to a silent port succeeded")
	}
	for _, want := range []string{silent.LocalAddr().String(), "did not answer the QUIC handshake", wire.PublicKeyOf(okey).String()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("dial error %q lacks %q", err, want)
		}
	}
	if handshakeTimeout >= 10*time.Second {
		t.Errorf("handshake timeout %v: an unreachable oracle should be reported sooner than 10 s", handshakeTimeout)
	}
}

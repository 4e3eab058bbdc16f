package hotspot

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/hexfield/hexfield/wire"
)

// TestOracleClientKeyRefused: an oracle that refuses the hotspot's key in
// the TLS handshake (it is not onboarded there) shows up in the client's
// status as "not onboarded", not as an unreachable oracle.
func TestOracleClientKeyRefused(t *testing.T) {
	key, err := wire.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsConf, err := wire.ServerTLSConfig(key, func(wire.PublicKey) error { return errors.New("not onboarded") })
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: pc}
	ln, err := tr.Listen(tlsConf, wire.QUICConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		ln.Close()
		tr.Close()
		pc.Close()
	})
	go func() {
		for {
			if _, err := ln.Accept(ctx); err != nil {
				return
			}
		}
	}()
	o := &testOracle{t: t, key: key, pub: wire.PublicKeyOf(key), addr: pc.LocalAddr().String()}
	r := startClient(t, t.TempDir(), o)
	waitFor(t, "the refusal in the status", 20*time.Second, func() bool {
		return strings.Contains(r.c.status().LastError, errNotOnboarded.Error())
	})
}

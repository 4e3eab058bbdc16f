package wire

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"google.golang.org/protobuf/proto"
)

// testServer is a QUIC server on loopback that answers each Hello frame
// with an Ack whose message is the client's key as it authenticated.
type testServer struct {
	addr net.Addr
	key  PublicKey

	mu       sync.Mutex
	asked    []PublicKey // keys verifyPeer was called with
	accepted []PublicKey // keys of connections that completed
}

func (s *testServer) askedKeys() []PublicKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]PublicKey(nil), s.asked...)
}

// startServer listens on 127.0.0.1:0 and serves until the test ends.
// reject, if not nil, is the verifyPeer decision.
func startServer(t *testing.T, reject func(PublicKey) error) *testServer {
	t.Helper()
	priv, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{key: PublicKeyOf(priv)}
	conf, err := ServerTLSConfig(priv, func(k PublicKey) error {
		s.mu.Lock()
		s.asked = append(s.asked, k)
		s.mu.Unlock()
		if reject != nil {
			return reject(k)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: udp}
	ln, err := tr.Listen(conf, QUICConfig())
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		ln.Close()
		tr.Close()
		udp.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			conn, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			wg.Go(func() { s.serve(ctx, t, conn) })
		}
	})
	return s
}

func (s *testServer) serve(ctx context.Context, t *testing.T, conn *quic.Conn) {
	defer conn.CloseWithError(0, "")
	key, err := PeerKey(conn.ConnectionState().TLS)
	if err != nil {
		t.Errorf("server: PeerKey: %v", err)
		return
	}
	if p := conn.ConnectionState().TLS.NegotiatedProtocol; p != ALPN {
		t.Errorf("server: ALPN %q", p)
	}
	s.mu.Lock()
	s.accepted = append(s.accepted, key)
	s.mu.Unlock()
	str, err := conn.AcceptStream(ctx)
	if err != nil {
		return
	}
	fr := NewFrameReader(str)
	fw := NewFrameWriter(str)
	for {
		f, err := fr.Read()
		if err != nil {
			return
		}
		if f.GetHello() == nil {
			continue
		}
		if err := fw.Write(&Frame{Msg: &Frame_Ack{Ack: &Ack{Message: key.String()}}}); err != nil {
			return
		}
		if err := fw.Flush(); err != nil {
			return
		}
	}
}

// exchange dials the server and sends one Hello, returning the server's
// answer (the client key it saw) and the server key the client saw.
func exchange(t *testing.T, addr net.Addr, conf *tls.Config) (seen string, server PublicKey, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: udp}
	defer udp.Close()
	defer tr.Close()
	conn, err := tr.Dial(ctx, addr, conf, QUICConfig())
	if err != nil {
		return "", PublicKey{}, err
	}
	defer conn.CloseWithError(0, "")
	server, err = PeerKey(conn.ConnectionState().TLS)
	if err != nil {
		return "", PublicKey{}, err
	}
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return "", server, err
	}
	if err := WriteFrame(str, &Frame{Msg: &Frame_Hello{Hello: &Hello{ProtocolVersion: ProtocolVersion}}}); err != nil {
		return "", server, err
	}
	f, err := ReadFrame(str)
	if err != nil {
		return "", server, err
	}
	return f.GetAck().GetMessage(), server, nil
}

func TestQUICMutualAuth(t *testing.T) {
	srv := startServer(t, nil)
	client, _ := GenerateKey()
	conf, err := ClientTLSConfig(client, srv.key)
	if err != nil {
		t.Fatal(err)
	}
	seen, server, err := exchange(t, srv.addr, conf)
	if err != nil {
		t.Fatal(err)
	}
	if server != srv.key {
		t.Errorf("client saw server key %s, want %s", server, srv.key)
	}
	if seen != PublicKeyOf(client).String() {
		t.Errorf("server saw client key %s, want %s", seen, PublicKeyOf(client))
	}
	if asked := srv.askedKeys(); len(asked) != 1 || asked[0] != PublicKeyOf(client) {
		t.Errorf("verifyPeer was called with %v", asked)
	}
	// A second connection works too (no resumption shortcut).
	if seen, _, err := exchange(t, srv.addr, conf); err != nil || seen != PublicKeyOf(client).String() {
		t.Errorf("second connection: %q, %v", seen, err)
	}
	if n := len(srv.askedKeys()); n != 2 {
		t.Errorf("verifyPeer called %d times for 2 connections", n)
	}
}

func TestQUICWrongPinnedKey(t *testing.T) {
	srv := startServer(t, nil)
	client, _ := GenerateKey()
	impostor, _ := GenerateKey()
	conf, err := ClientTLSConfig(client, PublicKeyOf(impostor))
	if err != nil {
		t.Fatal(err)
	}
	mustRefuse(t, srv.addr, conf, "peer key rejected")
}

func TestQUICClientWithoutCertificate(t *testing.T) {
	srv := startServer(t, nil)
	client, _ := GenerateKey()
	conf, err := ClientTLSConfig(client, srv.key)
	if err != nil {
		t.Fatal(err)
	}
	conf.Certificates = nil
	mustRefuse(t, srv.addr, conf, "certificate required")
	if asked := srv.askedKeys(); len(asked) != 0 {
		t.Errorf("verifyPeer was called with %v", asked)
	}
}

func TestQUICClientWithECDSACertificate(t *testing.T) {
	srv := startServer(t, nil)
	client, _ := GenerateKey()
	conf, err := ClientTLSConfig(client, srv.key)
	if err != nil {
		t.Fatal(err)
	}
	conf.Certificates = []tls.Certificate{ecdsaCert(t)}
	mustRefuse(t, srv.addr, conf, "bad certificate")
	if asked := srv.askedKeys(); len(asked) != 0 {
		t.Errorf("verifyPeer was called with %v", asked)
	}
}

func TestQUICVerifyPeerRejects(t *testing.T) {
	banned, _ := GenerateKey()
	srv := startServer(t, func(k PublicKey) error {
		if k == PublicKeyOf(banned) {
			return errors.New("not onboarded")
		}
		return nil
	})
	conf, err := ClientTLSConfig(banned, srv.key)
	if err != nil {
		t.Fatal(err)
	}
	mustRefuse(t, srv.addr, conf, "bad certificate")
	// The server keeps serving other clients.
	good, _ := GenerateKey()
	conf, err = ClientTLSConfig(good, srv.key)
	if err != nil {
		t.Fatal(err)
	}
	if seen, _, err := exchange(t, srv.addr, conf); err != nil || seen != PublicKeyOf(good).String() {
		t.Fatalf("accepted client after a rejection: %q, %v", seen, err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, k := range srv.accepted {
		if k == PublicKeyOf(banned) {
			t.Error("server accepted a connection from the rejected key")
		}
	}
}

func ecdsaCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ecdsa"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestCertificate(t *testing.T) {
	priv := seqSeedKey()
	a, err := Certificate(priv)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Certificate(priv)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Certificate[0], b.Certificate[0]) {
		t.Error("certificate is not deterministic")
	}
	k, err := certKey([]*x509.Certificate{a.Leaf})
	if err != nil || k != PublicKeyOf(priv) {
		t.Errorf("certKey = %s, %v", k, err)
	}
	if a.Leaf.Subject.CommonName != PublicKeyOf(priv).String() {
		t.Errorf("CN = %s", a.Leaf.Subject.CommonName)
	}
	if _, err := Certificate(priv[:10]); err == nil {
		t.Error("short key accepted")
	}

	ec := ecdsaCert(t)
	ecLeaf, _ := x509.ParseCertificate(ec.Certificate[0])
	other, _ := Certificate(ed25519Key(t))
	cases := []struct {
		name  string
		certs []*x509.Certificate
	}{
		{"none", nil},
		{"two", []*x509.Certificate{a.Leaf, other.Leaf}},
		{"ecdsa", []*x509.Certificate{ecLeaf}},
		{"bad self-signature", []*x509.Certificate{withSignature(a.Leaf, other.Leaf.Signature)}},
	}
	for _, tc := range cases {
		if _, err := certKey(tc.certs); !errors.Is(err, ErrPeerKey) {
			t.Errorf("%s: err = %v, want ErrPeerKey", tc.name, err)
		}
	}
	if _, err := PeerKey(tls.ConnectionState{}); !errors.Is(err, ErrPeerKey) {
		t.Errorf("empty state: %v", err)
	}
}

func ed25519Key(t *testing.T) []byte {
	t.Helper()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func withSignature(c *x509.Certificate, sig []byte) *x509.Certificate {
	cc := *c
	cc.Signature = sig
	return &cc
}

func TestQUICConfig(t *testing.T) {
	c := QUICConfig()
	if c.KeepAlivePeriod <= 0 || c.KeepAlivePeriod >= c.MaxIdleTimeout/2 {
		t.Errorf("keep-alive %v must be well inside the idle timeout %v", c.KeepAlivePeriod, c.MaxIdleTimeout)
	}
	if c.KeepAlivePeriod > 25*time.Second {
		t.Errorf("keep-alive %v is longer than common NAT timeouts", c.KeepAlivePeriod)
	}
	if c.MaxStreamReceiveWindow < 4*MaxFrameSize {
		t.Errorf("stream window %d holds fewer than 4 maximum frames", c.MaxStreamReceiveWindow)
	}
	if QUICConfig() == c {
		t.Error("QUICConfig returns a shared value")
	}
}

// mustRefuse checks that a connection with conf fails, for the reason want
// (a TLS alert or our error text, as carried in the QUIC CRYPTO_ERROR).
func mustRefuse(t *testing.T, addr net.Addr, conf *tls.Config, want string) {
	t.Helper()
	seen, _, err := exchange(t, addr, conf)
	if err == nil {
		t.Fatalf("connection was served (server saw %s), want refusal", seen)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("refused with %q, want %q", err, want)
	}
}

// BenchmarkQUICStream measures submit frames per second over one QUIC
// stream on loopback: a FrameWriter on the client (flushing every 64
// frames), a FrameReader on the server, which answers with one Ack per 64
// frames so the client cannot run ahead of the server.
func BenchmarkQUICStream(b *testing.B) {
	serverKey, _ := GenerateKey()
	clientKey, _ := GenerateKey()
	sconf, err := ServerTLSConfig(serverKey, nil)
	if err != nil {
		b.Fatal(err)
	}
	cconf, err := ClientTLSConfig(clientKey, PublicKeyOf(serverKey))
	if err != nil {
		b.Fatal(err)
	}
	ln, err := quic.ListenAddr("127.0.0.1:0", sconf, QUICConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	const batch = 64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		conn, err := ln.Accept(ctx)
		if err != nil {
			done <- err
			return
		}
		defer conn.CloseWithError(0, "")
		str, err := conn.AcceptStream(ctx)
		if err != nil {
			done <- err
			return
		}
		fr, fw := NewFrameReader(str), NewFrameWriter(str)
		var f Frame
		ack := &Frame{Msg: &Frame_Ack{Ack: &Ack{}}}
		for n := 1; ; n++ {
			if err := fr.ReadInto(&f); err != nil {
				done <- nil
				return
			}
			if n%batch == 0 {
				if err := fw.Write(ack); err != nil {
					done <- err
					return
				}
				if err := fw.Flush(); err != nil {
					done <- err
					return
				}
			}
		}
	}()
	conn, err := quic.DialAddr(ctx, ln.Addr().String(), cconf, QUICConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.CloseWithError(0, "")
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		b.Fatal(err)
	}
	fw, fr := NewFrameWriter(str), NewFrameReader(str)
	f := benchSubmitFrame(b)
	b.ReportAllocs()
	b.SetBytes(int64(proto.Size(f) + frameHeaderSize))
	n := 0
	for b.Loop() {
		if err := fw.Write(f); err != nil {
			b.Fatal(err)
		}
		n++
		if n%batch == 0 {
			if err := fw.Flush(); err != nil {
				b.Fatal(err)
			}
			if _, err := fr.Read(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	b.StopTimer()
	str.Close()
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		b.Fatal(err)
	}
}

// TestKeyRefused: a client tells a server's refusal of its key apart from
// its own refusal of the server and from other failures.
func TestKeyRefused(t *testing.T) {
	banned, _ := GenerateKey()
	srv := startServer(t, func(k PublicKey) error {
		if k == PublicKeyOf(banned) {
			return errors.New("not onboarded")
		}
		return nil
	})
	conf, err := ClientTLSConfig(banned, srv.key)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := exchange(t, srv.addr, conf); !KeyRefused(err) {
		t.Fatalf("refused key: %v, KeyRefused false", err)
	}
	// The client refusing the server (wrong pinned key) is not the server
	// refusing the client.
	good, _ := GenerateKey()
	other, _ := GenerateKey()
	conf, err = ClientTLSConfig(good, PublicKeyOf(other))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := exchange(t, srv.addr, conf); err == nil || KeyRefused(err) {
		t.Fatalf("wrong pinned key: %v, want an error that is not KeyRefused", err)
	}
	if KeyRefused(nil) || KeyRefused(errors.New("bad certificate")) {
		t.Fatal("KeyRefused without a QUIC transport error")
	}
}

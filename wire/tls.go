package wire

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/quic-go/quic-go"
)

// Transport security.
//
// Hotspots and oracles talk QUIC (TLS 1.3) and authenticate each other by
// their ed25519 identity keys alone: there is no certificate authority. Each
// side presents a self-signed X.509 certificate for its identity key
// (Certificate); the handshake's CertificateVerify proves it holds the key.
// A client pins the oracle's key (ClientTLSConfig); a server requires a
// client certificate and hands the client's key to a callback that decides
// whether to accept it (ServerTLSConfig). The ALPN protocol is ALPN.

// ALPN is the application protocol negotiated on hexfield QUIC connections.
const ALPN = "hexfield/1"

// ErrPeerKey is returned (wrapped) when the peer's certificate does not
// carry an acceptable ed25519 key.
var ErrPeerKey = errors.New("peer key rejected")

// Certificate returns a self-signed X.509 certificate for priv. It is
// deterministic: the serial number comes from the key, and the validity is
// fixed (1970 to 9999, since peers check keys, not dates, and a Raspberry Pi
// without a real-time clock may boot in 1970).
func Certificate(priv ed25519.PrivateKey) (tls.Certificate, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return tls.Certificate{}, fmt.Errorf("certificate: private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	pub := PublicKeyOf(priv)
	h := sha256.Sum256(pub[:])
	h[0] &= 0x7f // positive serial, at most 20 bytes
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(h[:16]),
		Subject:               pkix.Name{CommonName: pub.String()},
		NotBefore:             time.Unix(0, 0).UTC(),
		NotAfter:              time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf}, nil
}

// certKey checks a peer's certificate chain (exactly one self-signed
// certificate with an ed25519 key) and returns its key.
func certKey(certs []*x509.Certificate) (PublicKey, error) {
	if len(certs) != 1 {
		return PublicKey{}, fmt.Errorf("%w: %d certificates, want 1", ErrPeerKey, len(certs))
	}
	c := certs[0]
	pub, ok := c.PublicKey.(ed25519.PublicKey)
	if !ok {
		return PublicKey{}, fmt.Errorf("%w: %T key, want ed25519", ErrPeerKey, c.PublicKey)
	}
	if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
		return PublicKey{}, fmt.Errorf("%w: certificate is not self-signed: %w", ErrPeerKey, err)
	}
	return PublicKey(pub), nil
}

// PeerKey returns the identity key of the other side of a connection
// made with ServerTLSConfig or ClientTLSConfig (for a quic.Conn:
// PeerKey(conn.ConnectionState().TLS)).
func PeerKey(cs tls.ConnectionState) (PublicKey, error) {
	return certKey(cs.PeerCertificates)
}

// ServerTLSConfig returns the TLS configuration of a server with identity
// priv. Clients must present a certificate for an ed25519 key; verifyPeer
// is called with that key during every handshake and its error, if any,
// fails the handshake. A nil verifyPeer accepts any key (the server may
// still check PeerKey afterwards).
func ServerTLSConfig(priv ed25519.PrivateKey, verifyPeer func(PublicKey) error) (*tls.Config, error) {
	cert, err := Certificate(priv)
	if err != nil {
		return nil, fmt.Errorf("server tls config: %w", err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAnyClientCert,
		MinVersion:   tls.VersionTLS13,
		NextProtos:   []string{ALPN},
		// Every connection does a full handshake, so each one proves
		// afresh that the client holds its key.
		SessionTicketsDisabled: true,
		// VerifyConnection runs on every handshake, resumed or not.
		VerifyConnection: func(cs tls.ConnectionState) error {
			key, err := PeerKey(cs)
			if err != nil {
				return err
			}
			if verifyPeer != nil {
				if err := verifyPeer(key); err != nil {
					return fmt.Errorf("%w: client %s: %w", ErrPeerKey, key, err)
				}
			}
			return nil
		},
	}, nil
}

// KeyRefused reports whether err (from a dial or a connection) says the
// server refused this client's key in the TLS handshake: the QUIC
// CONNECTION_CLOSE from the peer carries the TLS alert bad_certificate,
// which a ServerTLSConfig server sends when verifyPeer rejects the key (for
// an oracle: the hotspot is not onboarded).
func KeyRefused(err error) bool {
	var te *quic.TransportError
	return errors.As(err, &te) && te.Remote && te.ErrorCode == quic.TransportErrorCode(0x100+uint64(alertBadCertificate))
}

// alertBadCertificate is the TLS alert crypto/tls sends when a
// VerifyConnection callback fails (RFC 8446 §6.2).
const alertBadCertificate = 42

// ClientTLSConfig returns the TLS configuration of a client with identity
// priv that connects to the server whose identity key is server. The
// handshake fails unless the server proves it holds that key.
func ClientTLSConfig(priv ed25519.PrivateKey, server PublicKey) (*tls.Config, error) {
	cert, err := Certificate(priv)
	if err != nil {
		return nil, fmt.Errorf("client tls config: %w", err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS13,
		NextProtos:   []string{ALPN},
		ServerName:   "hexfield",
		// There is no CA: the chain check is replaced by the key pin in
		// VerifyConnection, which runs on every handshake.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			key, err := PeerKey(cs)
			if err != nil {
				return err
			}
			if key != server {
				return fmt.Errorf("%w: server is %s, want %s", ErrPeerKey, key, server)
			}
			return nil
		},
	}, nil
}

// QUICConfig returns the QUIC settings both sides use: keep-alives well
// inside common NAT timeouts, an idle timeout that survives a few lost
// keep-alives, a handshake timeout for slow cellular links, and flow-control
// windows large enough for a busy stream of reports but small enough that
// an oracle holding thousands of connections bounds its buffering.
func QUICConfig() *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:           10 * time.Second,
		MaxIdleTimeout:                 60 * time.Second,
		KeepAlivePeriod:                15 * time.Second,
		InitialStreamReceiveWindow:     256 << 10,
		MaxStreamReceiveWindow:         2 << 20,
		InitialConnectionReceiveWindow: 512 << 10,
		MaxConnectionReceiveWindow:     4 << 20,
		MaxIncomingStreams:             100,
		// The protocol uses bidirectional streams only.
		MaxIncomingUniStreams: -1,
	}
}

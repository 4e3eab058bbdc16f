package wire

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Signed envelopes.
//
// A signature is plain ed25519 (RFC 8032, no context or prehash, so any
// ed25519 signer, such as a Solana keypair, can produce it) over
//
//	DomainTag(kind) ‖ body
//
// where body is the encoded message exactly as carried in Envelope.body and
// DomainTag(kind) is the ASCII text "hexfield-v1/<kind>" followed by one zero
// byte. The zero byte makes the tags prefix-free, so the signed bytes always
// split into one tag and one body. The tags are:
//
//	KIND_BEACON_REPORT    "hexfield-v1/beacon_report\x00"
//	KIND_WITNESS_REPORT   "hexfield-v1/witness_report\x00"
//	KIND_PACKET_REPORT    "hexfield-v1/packet_report\x00"
//	KIND_ENTROPY          "hexfield-v1/entropy\x00"
//	KIND_CONFIG           "hexfield-v1/config\x00"
//	KIND_HELLO            "hexfield-v1/hello\x00"
//	KIND_ONBOARD          "hexfield-v1/onboard\x00"
//	KIND_ASSERT_LOCATION  "hexfield-v1/assert_location\x00"
//	KIND_ORG_CHANGE       "hexfield-v1/org_change\x00"
//	KIND_DC_GRANT         "hexfield-v1/dc_grant\x00"
//	KIND_MAKER_APPROVAL   "hexfield-v1/maker_approval\x00"
//	KIND_ROUTE_TABLE      "hexfield-v1/route_table\x00"
//
// They are fixed text, not derived from the enum names, so renaming an enum
// value never changes what was signed. KIND_UNSPECIFIED and unknown kinds
// have no tag and can be neither signed nor verified.
//
// An encoded Envelope must be canonical: fields 1 to 4 in order, each at
// most once, minimal varints, kind non-zero, signer 32 bytes, signature 64
// bytes, and nothing else. This is exactly what Seal (and deterministic
// protobuf marshaling) produces. Because ed25519 signatures in Go are not
// malleable either, one signed report has exactly one encoding, so its
// ReportID cannot be changed by anyone who does not hold the signer's key.

// domainTag returns kind k's tag; see the comment above.
func domainTag(k Kind) (string, bool) {
	switch k {
	case Kind_KIND_BEACON_REPORT:
		return "hexfield-v1/beacon_report\x00", true
	case Kind_KIND_WITNESS_REPORT:
		return "hexfield-v1/witness_report\x00", true
	case Kind_KIND_PACKET_REPORT:
		return "hexfield-v1/packet_report\x00", true
	case Kind_KIND_ENTROPY:
		return "hexfield-v1/entropy\x00", true
	case Kind_KIND_CONFIG:
		return "hexfield-v1/config\x00", true
	case Kind_KIND_HELLO:
		return "hexfield-v1/hello\x00", true
	case Kind_KIND_ONBOARD:
		return "hexfield-v1/onboard\x00", true
	case Kind_KIND_ASSERT_LOCATION:
		return "hexfield-v1/assert_location\x00", true
	case Kind_KIND_ORG_CHANGE:
		return "hexfield-v1/org_change\x00", true
	case Kind_KIND_DC_GRANT:
		return "hexfield-v1/dc_grant\x00", true
	case Kind_KIND_MAKER_APPROVAL:
		return "hexfield-v1/maker_approval\x00", true
	case Kind_KIND_ROUTE_TABLE:
		return "hexfield-v1/route_table\x00", true
	}
	return "", false
}

// Errors returned (wrapped) by Open and Unseal. CodeOf maps them to the Ack
// codes an oracle answers with.
var (
	// ErrMalformedEnvelope: the bytes are not a canonical Envelope.
	ErrMalformedEnvelope = errors.New("malformed envelope")
	// ErrWrongKind: the envelope is of another kind than expected, or of
	// a kind this version does not know.
	ErrWrongKind = errors.New("wrong envelope kind")
	// ErrBadSignature: the signature does not verify.
	ErrBadSignature = errors.New("bad signature")
	// ErrSignerMismatch: the body names another key than the signer.
	ErrSignerMismatch = errors.New("body key is not the signer")
)

// SignatureSize is the length of an ed25519 signature.
const SignatureSize = ed25519.SignatureSize

// DomainTag returns the domain-separation tag signed before the body of an
// envelope of kind k, or nil for KIND_UNSPECIFIED and unknown kinds.
func DomainTag(k Kind) []byte {
	t, ok := domainTag(k)
	if !ok {
		return nil
	}
	return []byte(t)
}

// signedMessage returns tag ‖ body, using buf when it is large enough.
func signedMessage(buf []byte, tag string, body []byte) []byte {
	return append(append(buf[:0], tag...), body...)
}

// Sign signs body as a message of kind k. It panics if k has no domain tag
// or priv is not an ed25519 private key: both are programming errors.
func Sign(priv ed25519.PrivateKey, k Kind, body []byte) []byte {
	tag, ok := domainTag(k)
	if !ok {
		panic(fmt.Sprintf("wire: sign: kind %v has no domain tag", k))
	}
	var buf [512]byte
	return ed25519.Sign(priv, signedMessage(buf[:], tag, body))
}

// Verify reports whether sig is pub's signature of body as a message of
// kind k. It is false for kinds without a domain tag.
func Verify(pub PublicKey, k Kind, body, sig []byte) bool {
	tag, ok := domainTag(k)
	if !ok || len(sig) != SignatureSize {
		return false
	}
	var buf [512]byte
	return ed25519.Verify(pub[:], signedMessage(buf[:], tag, body), sig)
}

// Seal encodes msg deterministically, signs it as kind k and returns the
// encoded Envelope.
func Seal(priv ed25519.PrivateKey, k Kind, msg proto.Message) (raw []byte, err error) {
	if _, ok := domainTag(k); !ok {
		return nil, fmt.Errorf("seal: %w: %v has no domain tag", ErrWrongKind, k)
	}
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("seal: private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return SealBytes(priv, k, body), nil
}

// SealBytes signs body, an already encoded message, as kind k and returns
// the encoded Envelope. It panics if k has no domain tag.
func SealBytes(priv ed25519.PrivateKey, k Kind, body []byte) []byte {
	sig := Sign(priv, k, body)
	return appendEnvelope(make([]byte, 0, envelopeSize(k, len(body))), k, PublicKeyOf(priv), body, sig)
}

// envelopeSize is the canonical encoded size of an envelope.
func envelopeSize(k Kind, bodyLen int) int {
	n := 1 + protowire.SizeVarint(uint64(k)) + 2 + PublicKeySize + 2 + SignatureSize
	if bodyLen > 0 {
		n += 1 + protowire.SizeBytes(bodyLen)
	}
	return n
}

// appendEnvelope appends the canonical encoding of an envelope, the same
// bytes deterministic protobuf marshaling produces.
func appendEnvelope(b []byte, k Kind, signer PublicKey, body, sig []byte) []byte {
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(k))
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, signer[:])
	if len(body) > 0 {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendBytes(b, body)
	}
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	return protowire.AppendBytes(b, sig)
}

// parseEnvelope splits a canonical envelope into its fields, which alias raw.
func parseEnvelope(raw []byte) (k Kind, signer, body, sig []byte, err error) {
	b := raw
	// field 1: kind, a minimal non-zero varint that fits an enum (int32).
	if len(b) < 2 || b[0] != 0x08 {
		return 0, nil, nil, nil, fmt.Errorf("%w: does not start with the kind", ErrMalformedEnvelope)
	}
	v, n := protowire.ConsumeVarint(b[1:])
	if n < 0 {
		return 0, nil, nil, nil, fmt.Errorf("%w: kind: %w", ErrMalformedEnvelope, protowire.ParseError(n))
	}
	if v == 0 || v > 0x7fffffff || n != protowire.SizeVarint(v) {
		return 0, nil, nil, nil, fmt.Errorf("%w: kind is not a canonical non-zero varint", ErrMalformedEnvelope)
	}
	k = Kind(v)
	b = b[1+n:]
	// field 2: signer, 32 bytes.
	if len(b) < 2+PublicKeySize || b[0] != 0x12 || b[1] != PublicKeySize {
		return 0, nil, nil, nil, fmt.Errorf("%w: want a 32-byte signer after the kind", ErrMalformedEnvelope)
	}
	signer = b[2 : 2+PublicKeySize]
	b = b[2+PublicKeySize:]
	// field 3: body, optional (absent when empty).
	if len(b) > 0 && b[0] == 0x1a {
		l, n := protowire.ConsumeVarint(b[1:])
		if n < 0 {
			return 0, nil, nil, nil, fmt.Errorf("%w: body length: %w", ErrMalformedEnvelope, protowire.ParseError(n))
		}
		if l == 0 || n != protowire.SizeVarint(l) {
			return 0, nil, nil, nil, fmt.Errorf("%w: body length is not canonical", ErrMalformedEnvelope)
		}
		if l > uint64(len(b)-1-n) {
			return 0, nil, nil, nil, fmt.Errorf("%w: body truncated: %d bytes declared, %d left", ErrMalformedEnvelope, l, len(b)-1-n)
		}
		body = b[1+n : 1+n+int(l)]
		b = b[1+n+int(l):]
	}
	// field 4: signature, 64 bytes, and nothing after it.
	if len(b) < 2 || b[0] != 0x22 || b[1] != SignatureSize {
		return 0, nil, nil, nil, fmt.Errorf("%w: want a 64-byte signature after the body", ErrMalformedEnvelope)
	}
	if len(b) != 2+SignatureSize {
		if len(b) < 2+SignatureSize {
			return 0, nil, nil, nil, fmt.Errorf("%w: signature truncated", ErrMalformedEnvelope)
		}
		return 0, nil, nil, nil, fmt.Errorf("%w: %d bytes after the signature", ErrMalformedEnvelope, len(b)-2-SignatureSize)
	}
	return k, signer, body, b[2:], nil
}

// Open checks raw, an encoded Envelope, and returns it decoded. It checks
// that the encoding is canonical, that the kind is want (any kind with a
// domain tag when want is KIND_UNSPECIFIED; the caller must then dispatch on
// the returned Kind), and that the signature verifies over the body bytes as
// received. The returned Envelope owns its memory; raw may be reused.
func Open(raw []byte, want Kind) (*Envelope, error) {
	k, signer, body, sig, err := parseEnvelope(raw)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	if want != Kind_KIND_UNSPECIFIED && k != want {
		return nil, fmt.Errorf("open: %w: got %v, want %v", ErrWrongKind, k, want)
	}
	if _, ok := domainTag(k); !ok {
		return nil, fmt.Errorf("open: %w: unknown kind %d", ErrWrongKind, int32(k))
	}
	if !Verify(PublicKey(signer), k, body, sig) {
		return nil, fmt.Errorf("open %v from %s: %w", k, PublicKey(signer), ErrBadSignature)
	}
	// One copy, so the Envelope does not alias the caller's buffer.
	own := bytes.Clone(raw)
	env := &Envelope{Kind: k}
	o := offsetIn(raw, signer)
	env.Signer = own[o : o+PublicKeySize : o+PublicKeySize]
	if len(body) > 0 {
		o := offsetIn(raw, body)
		env.Body = own[o : o+len(body) : o+len(body)]
	}
	o = offsetIn(raw, sig)
	env.Signature = own[o : o+SignatureSize : o+SignatureSize]
	return env, nil
}

// offsetIn returns where sub, a subslice of b, starts in b.
func offsetIn(b, sub []byte) int {
	return cap(b) - cap(sub)
}

// SignerKey returns the envelope's signer as a PublicKey (zero if the
// signer field is not 32 bytes).
func (e *Envelope) SignerKey() PublicKey {
	k, err := PublicKeyFromBytes(e.GetSigner())
	if err != nil {
		return PublicKey{}
	}
	return k
}

// keyedBody is implemented by messages that name the key that must sign
// them (reports and Hello).
type keyedBody interface {
	GetPubKey() []byte
}

// Unseal opens raw as a kind-want envelope (see Open) and decodes its body
// into msg. When msg carries a pub_key field (reports, Hello), it must equal
// the signer, or ErrSignerMismatch is returned. It returns the signer.
func Unseal(raw []byte, want Kind, msg proto.Message) (PublicKey, error) {
	if want == Kind_KIND_UNSPECIFIED {
		return PublicKey{}, fmt.Errorf("unseal: %w: a kind is required", ErrWrongKind)
	}
	env, err := Open(raw, want)
	if err != nil {
		return PublicKey{}, err
	}
	if err := proto.Unmarshal(env.Body, msg); err != nil {
		return PublicKey{}, fmt.Errorf("unseal %v: %w: body: %w", want, ErrMalformedEnvelope, err)
	}
	signer := env.SignerKey()
	if kb, ok := msg.(keyedBody); ok && !bytes.Equal(kb.GetPubKey(), signer[:]) {
		return PublicKey{}, fmt.Errorf("unseal %v from %s: %w", want, signer, ErrSignerMismatch)
	}
	return signer, nil
}

// ReportID identifies a signed report: the SHA-256 of its encoded envelope.
// Envelopes are canonical (see Open), so the id cannot be changed without
// the signer's key.
func ReportID(raw []byte) [32]byte {
	return sha256.Sum256(raw)
}

// CodeOf maps an error from this package to the Ack code an oracle answers
// with: CODE_OK for nil, CODE_INTERNAL for errors it does not know.
func CodeOf(err error) Code {
	switch {
	case err == nil:
		return Code_CODE_OK
	case errors.Is(err, ErrBadSignature):
		return Code_CODE_BAD_SIGNATURE
	case errors.Is(err, ErrSignerMismatch):
		return Code_CODE_WRONG_KEY
	case errors.Is(err, ErrWrongKind):
		return Code_CODE_UNSUPPORTED
	case errors.Is(err, ErrFrameTooLarge):
		return Code_CODE_OVERSIZE
	case errors.Is(err, ErrMalformedEnvelope), errors.Is(err, ErrMalformedFrame), errors.Is(err, ErrBadKey):
		return Code_CODE_MALFORMED
	default:
		return Code_CODE_INTERNAL
	}
}

package semtech

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Protocol versions. Version 2 added TX_ACK; version 1 forwarders never send
// it and ignore the PULL_RESP token.
const (
	Version1 uint8 = 1
	Version2 uint8 = 2
)

// DefaultListenAddr is where the hotspot's GWMP server listens unless
// configured otherwise: loopback only, because the protocol has no
// authentication (spec §8.7).
const DefaultListenAddr = "127.0.0.1:1680"

// Size limits from the spec (§2, §7).
const (
	// MaxDatagramSize is the largest UDP payload; the read buffer size.
	MaxDatagramSize = 65507
	// MaxPullRespSize is the forwarder's downstream receive buffer.
	MaxPullRespSize = 1000
	// MaxPayloadSize is the largest LoRa PHY payload.
	MaxPayloadSize = 255
)

// MessageType is byte 3 of a datagram.
type MessageType uint8

// The six GWMP message types.
const (
	TypePushData MessageType = 0x00
	TypePushAck  MessageType = 0x01
	TypePullData MessageType = 0x02
	TypePullResp MessageType = 0x03
	TypePullAck  MessageType = 0x04
	TypeTxAck    MessageType = 0x05
)

// String returns the protocol name, e.g. "PUSH_DATA".
func (t MessageType) String() string {
	switch t {
	case TypePushData:
		return "PUSH_DATA"
	case TypePushAck:
		return "PUSH_ACK"
	case TypePullData:
		return "PULL_DATA"
	case TypePullResp:
		return "PULL_RESP"
	case TypePullAck:
		return "PULL_ACK"
	case TypeTxAck:
		return "TX_ACK"
	}
	return fmt.Sprintf("type 0x%02x", uint8(t))
}

// Errors returned by the decoders, matched with errors.Is. Every decode error
// wraps exactly one of them.
var (
	ErrTooShort    = errors.New("datagram too short")
	ErrVersion     = errors.New("unsupported protocol version")
	ErrType        = errors.New("unknown message type")
	ErrLength      = errors.New("wrong length for message type")
	ErrTooLong     = errors.New("datagram too long")
	ErrWrongType   = errors.New("unexpected message type")
	ErrJSON        = errors.New("malformed JSON")
	ErrInvalidJSON = errors.New("invalid field")
)

// EUI is a gateway identifier, most significant byte first on the wire and in
// its text form (the same order as lorawan.EUI64).
type EUI [8]byte

// String returns 16 lowercase hex digits.
func (e EUI) String() string { return hex.EncodeToString(e[:]) }

// MarshalText implements encoding.TextMarshaler.
func (e EUI) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; see ParseEUI.
func (e *EUI) UnmarshalText(b []byte) error {
	v, err := ParseEUI(string(b))
	if err != nil {
		return err
	}
	*e = v
	return nil
}

// ParseEUI parses 16 hex digits (either case), optionally separated by '-' or ':'.
func ParseEUI(s string) (EUI, error) {
	var e EUI
	clean := strings.NewReplacer("-", "", ":", "").Replace(s)
	if len(clean) != 16 {
		return e, fmt.Errorf("parse eui %q: want 16 hex digits", s)
	}
	if _, err := hex.Decode(e[:], []byte(clean)); err != nil {
		return e, fmt.Errorf("parse eui %q: %w", s, err)
	}
	return e, nil
}

// Token is the two random bytes that tie an answer to its request. It is
// opaque; Uint16 gives the one integer form used in this package.
type Token [2]byte

// Uint16 returns uint16(t[0])<<8 | uint16(t[1]) (bytes 1 and 2 of the datagram).
func (t Token) Uint16() uint16 { return uint16(t[0])<<8 | uint16(t[1]) }

// TokenFrom is the inverse of Token.Uint16.
func TokenFrom(v uint16) Token { return Token{byte(v >> 8), byte(v)} }

// Header is the fixed part common to all datagrams. EUI is set only for the
// types that carry one (PUSH_DATA, PULL_DATA, TX_ACK).
type Header struct {
	Version uint8
	Token   Token
	Type    MessageType
	EUI     EUI
}

// ParseHeader checks the version, type and the length rule of the type (spec
// §2 and §8.3) without looking at any JSON. Servers call it first and answer
// before decoding the rest.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < 4 {
		return h, fmt.Errorf("parse header: %d bytes: %w", len(b), ErrTooShort)
	}
	h.Version, h.Token, h.Type = b[0], Token{b[1], b[2]}, MessageType(b[3])
	if h.Version != Version1 && h.Version != Version2 {
		return h, fmt.Errorf("parse header: version %d: %w", h.Version, ErrVersion)
	}
	if len(b) > MaxDatagramSize {
		return h, fmt.Errorf("parse %v: %d bytes: %w", h.Type, len(b), ErrTooLong)
	}
	switch h.Type {
	case TypePushData:
		if len(b) < 13 {
			return h, fmt.Errorf("parse %v: %d bytes, want at least 13: %w", h.Type, len(b), ErrLength)
		}
	case TypePushAck, TypePullAck:
		if len(b) != 4 {
			return h, fmt.Errorf("parse %v: %d bytes, want 4: %w", h.Type, len(b), ErrLength)
		}
	case TypePullData:
		if len(b) != 12 {
			return h, fmt.Errorf("parse %v: %d bytes, want 12: %w", h.Type, len(b), ErrLength)
		}
	case TypePullResp:
		if len(b) < 5 {
			return h, fmt.Errorf("parse %v: %d bytes, want at least 5: %w", h.Type, len(b), ErrLength)
		}
		if len(b) > MaxPullRespSize {
			return h, fmt.Errorf("parse %v: %d bytes, limit %d: %w", h.Type, len(b), MaxPullRespSize, ErrTooLong)
		}
	case TypeTxAck:
		if len(b) < 12 {
			return h, fmt.Errorf("parse %v: %d bytes, want at least 12: %w", h.Type, len(b), ErrLength)
		}
	default:
		return h, fmt.Errorf("parse header: %v: %w", h.Type, ErrType)
	}
	if h.Type == TypePushData || h.Type == TypePullData || h.Type == TypeTxAck {
		copy(h.EUI[:], b[4:12])
	}
	return h, nil
}

// parseHeaderOf is ParseHeader plus a check that the type is want.
func parseHeaderOf(b []byte, want MessageType) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	if h.Type != want {
		return h, fmt.Errorf("parse %v: got %v: %w", want, h.Type, ErrWrongType)
	}
	return h, nil
}

// appendHeader writes the 4-byte header; version 0 means Version2.
func appendHeader(b []byte, version uint8, tok Token, t MessageType) ([]byte, error) {
	if version == 0 {
		version = Version2
	}
	if version != Version1 && version != Version2 {
		return b, fmt.Errorf("marshal %v: version %d: %w", t, version, ErrVersion)
	}
	return append(b, version, tok[0], tok[1], byte(t)), nil
}

// Packet is any of the six messages.
type Packet interface {
	MessageType() MessageType
	MarshalBinary() ([]byte, error)
}

// Decode decodes any datagram into *PushData, *PushAck, *PullData,
// *PullResp, *PullAck or *TxAck.
func Decode(b []byte) (Packet, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	var p interface {
		Packet
		UnmarshalBinary([]byte) error
	}
	switch h.Type {
	case TypePushData:
		p = new(PushData)
	case TypePushAck:
		p = new(PushAck)
	case TypePullData:
		p = new(PullData)
	case TypePullResp:
		p = new(PullResp)
	case TypePullAck:
		p = new(PullAck)
	case TypeTxAck:
		p = new(TxAck)
	}
	if err := p.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return p, nil
}

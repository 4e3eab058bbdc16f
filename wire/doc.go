// Package wire is the hotspot↔oracle protocol, in one place: the protobuf
// messages (generated code, one .proto and one .pb.go per message), signed
// envelopes with domain separation, QUIC stream framing, identity keys
// (ed25519, base58 addresses, Solana CLI keypair files) and self-signed TLS
// certificates for mutual authentication with pinned keys.
//
// Both sides import wire; neither owns it. It imports only the standard
// library, protobuf and quic-go.
//
// # Identity
//
// A node's identity is an ed25519 key. Its address (PublicKey) is the base58
// text of the 32-byte public key, so a hotspot's address is also a valid
// Solana public key. Key files are Solana CLI keypairs (solana-keygen): a
// JSON array of 64 integers, seed then public key, mode 0600 (identity.go).
//
// # Signed envelopes
//
// Every report, entropy value and config travels as an Envelope{kind,
// signer, body, signature}: body is the encoded message, and signature is
// plain ed25519 over DomainTag(kind) ‖ body, where the tag is
// "hexfield-v1/<kind>" and a zero byte, e.g. "hexfield-v1/beacon_report\x00".
// The body is verified exactly as received and never re-encoded; the
// envelope itself must be in canonical form, so a report's id (ReportID,
// SHA-256 of the envelope bytes) cannot be changed by anyone but its signer
// (envelope.go).
//
// # Streams
//
// Hotspots and oracles talk QUIC with ALPN "hexfield/1", mutually
// authenticated by self-signed certificates for their identity keys, the
// client pinning the oracle's key (tls.go). Oracles are written
// "ADDRESS@host:port". Each bidirectional stream carries frames:
//
//	u32 big-endian length n (at most MaxFrameSize = 65536) ‖ n bytes of Frame
//
// A hotspot opens with a Hello, then sends Submit frames (an envelope plus
// its outbox hold time) and requests; the oracle answers each with an Ack,
// or with a signed Entropy or Config (frame.go, frame.proto). A
// RouteTableRequest is answered with RouteTableUnchanged or with a signed
// RouteTable, full or incremental, in RouteTableChunk frames
// (route_table.go).
package wire

//go:generate make -C .. proto

// ProtocolVersion is the version of the hexfield wire protocol, sent in
// every Hello. Bump it on any incompatible change and note it here.
//
// History:
//   - 1 (2026-11-21): first version: beacon, witness and packet reports,
//     entropy, config, hello, ack, onboarding and location assertion.
//     Added since without a bump (new kinds, nothing existing changed):
//     organization changes, data-credit grants and maker approvals
//     (2026-12-01), carried over the oracle's HTTP API; the signed,
//     versioned route table (RouteTableRequest and its answers,
//     KIND_ROUTE_TABLE, 2026-12-02), which replaces Config's routes
//     (field 7, now reserved: an older hotspot gets a Config without
//     routes and forwards with the table it has).
const ProtocolVersion = 1

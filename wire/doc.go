// Package wire is the hotspot↔oracle protocol, in one place: the protobuf
// messages (generated code, one .proto and one .pb.go per message), signed
// envelopes with domain separation, QUIC stream framing, identity keys
// (ed25519, base58 addresses, Solana CLI keypair files) and self-signed TLS
// certificates for mutual authentication with pinned keys.
//
// Both sides import wire; neither owns it. It imports only the standard
// library, protobuf and quic-go.
package wire

//go:generate make -C .. proto

// ProtocolVersion is the version of the hexfield wire protocol, sent in
// every Hello. Bump it on any incompatible change and note it here.
//
// History:
//   - 1 (2026-11-21): first version: beacon, witness and packet reports,
//     entropy, config, hello, ack, onboarding and location assertion.
const ProtocolVersion = 1

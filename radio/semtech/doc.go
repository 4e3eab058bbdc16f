// Package semtech implements the Semtech UDP packet forwarder protocol (the
// Gateway Messaging Protocol, GWMP) spoken by lora_pkt_fwd, as described in
// ../shared/spec/semtech-udp.md (PROTOCOL.TXT v1.4 and sx1302_hal PROTOCOL.md
// v1.6).
//
// Every datagram starts with a 4-byte header:
//
//	[0]    protocol version, 1 or 2 (answers carry the version received)
//	[1..2] token, opaque random bytes echoed by the answer
//	[3]    message type
//
// followed, depending on the type, by the gateway EUI (8 bytes, most
// significant byte first) and a JSON object running to the end of the
// datagram:
//
//	0x00 PUSH_DATA  fwd → server  header, EUI, {"rxpk":[…],"stat":{…}}   ≥ 13 bytes
//	0x01 PUSH_ACK   server → fwd  header                                 = 4 bytes
//	0x02 PULL_DATA  fwd → server  header, EUI                            = 12 bytes
//	0x03 PULL_RESP  server → fwd  header, {"txpk":{…}}                   5…1000 bytes
//	0x04 PULL_ACK   server → fwd  header                                 = 4 bytes
//	0x05 TX_ACK     fwd → server  header, EUI, optional {"txpk_ack":{…}} ≥ 12 bytes (v2 only)
//
// The codec (one file per message, plus rxpk.go, stat.go and txpk.go for the
// JSON objects) never touches a socket. Decoding is lenient in the ways real
// forwarders require: unknown fields are ignored, datr may be a string or a
// number, Base64 may be padded or not, numbers may be integers or floats,
// time fields are parsed with several layouts and dropped (not the datagram)
// when none fits, and one trailing NUL is stripped. Frequencies are stored as
// integer hertz, rounded from the MHz floats on the wire. Decoding walks the
// JSON with a small validating scanner (jsonscan.go) instead of reflection;
// encoding writes the reference forwarder's field order and number formats,
// so the spec's example datagrams are reproduced byte for byte.
//
// server.go is the hotspot side (the forwarder connects to it) and client.go
// the forwarder side (simulated concentrators, and the hotspot forwarding to a
// customer's network server). Both are given open net.PacketConn sockets.
//
// The protocol has no authentication, so the server can be pinned to one
// forwarder (ServerConfig.PinForwarder, which the hotspot uses): datagrams of
// other EUIs are dropped, a live forwarder's downlink address is not given
// up to a second sender using its EUI, its PUSH_DATA is taken only from the
// host its PULL_DATA comes from, TX_ACKs count only from the address
// the PULL_RESP went to, and downlink tokens come from crypto/rand. Log lines
// that outside input can trigger go through a LogLimiter and are counted in
// metrics.
//
// The package imports only radio of hexfield; it must not import hotspot or
// oracle.
package semtech

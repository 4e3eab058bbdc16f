// Package hotspot is the hotspot daemon's machinery: the packet bridge on
// the Semtech UDP server (classifying every received frame), the beaconer,
// the witness reporter, the route table (polled from the oracles, signed
// and versioned, persisted: routepoll.go, routes.go) and the forwarder that sends
// customers' uplinks to their LNS as a gateway of theirs and relays their
// downlinks with the concentrator's real TX_ACK, the durable outbox that holds every signed report
// until every configured oracle has acknowledged it, the QUIC oracle client
// and the local status API.
//
// The daemon runs on a Raspberry Pi next to a LoRa concentrator, so the
// package stays pure Go: it imports only wire, radio and radio/semtech of
// ours (plus the standard library, protobuf, quic-go, prometheus,
// BurntSushi/toml and x/sync), and never oracle, verifier, maps, Badger,
// h3-go or solana-go.
//
// A Hotspot is built with New from a Config and given its open sockets; Run
// runs every part under one errgroup until the context ends, then flushes
// the outbox.
package hotspot

// Package oracle is the oracle node: QUIC ingest of signed hotspot reports
// with durable group-committed acknowledgements, the Badger store (every
// key prefix in schema.go), the entropy service, the hotspot and route
// registry, the verification loop that runs the verifier once a beacon's
// witness window has closed, the crash-safe epoch scheduler that writes
// reward manifests and hands payouts to the rewarder, and the HTTP API.
//
// Create an oracle with New(cfg, Deps{...}) — sockets, key, logger,
// metrics registry, clock and rewarder are passed in — and start it with
// Run(ctx). The pipeline stages stay separate: ingest only authenticates,
// stamps received_ms and persists; verification and rewarding read the
// store.
//
// It imports wire, verifier, maps, oracle/solana, Badger and quic-go; it
// never imports hotspot or h3 directly (geometry goes through verifier).
package oracle

// Package oracle is the oracle node: QUIC ingest of signed hotspot reports
// with durable group-committed acknowledgements, the Badger store (every
// key prefix in schema.go), the entropy service, the registry (hotspots
// with their fees and rate limits, organizations and their routes, changed
// only by signed requests; data-credit ledgers per wallet; the signed,
// versioned route table hotspots poll, routetable.go), the
// verification loop that runs the verifier once a beacon's
// witness window has closed, the crash-safe epoch scheduler that writes
// reward manifests and hands payouts to the rewarder, the M-of-N agreement
// with peer oracles (consensus.go: input reconciliation, rotating leaders
// with failover, disputed epochs; its safety argument is there), and the
// HTTP API.
//
// Starting an oracle in-process (tests, the devnet): bind the sockets,
// then
//
//	o, err := oracle.New(oracle.Config{DataDir: dir, EpochLength: 2 * time.Minute,
//		BeaconInterval: time.Minute, EpochGrace: 10 * time.Second},
//		oracle.Deps{Key: key, PacketConn: udp, HTTPListener: tcp, Logger: log,
//			Registerer: reg, Gatherer: reg, Rewarder: distributor})
//	go o.Run(ctx) // returns when ctx ends, after closing the sockets and the store
//
// Hotspots reach it at o.PublicKey().String()+"@"+udp.LocalAddr().String()
// and are onboarded through the HTTP API, e.g. with Client:
//
//	c := &oracle.Client{BaseURL: "http://" + tcp.Addr().String()}
//	req, _ := oracle.NewOnboardRequest(hotspotKey, ownerKey, false, time.Now())
//	c.Onboard(ctx, req)
//	areq, _ := oracle.NewAssertRequest(ownerKey, hotspotPub, cell, gainDdBi, elevationM, nonce, time.Now())
//	c.Assert(ctx, hotspotPub, areq)
//
// The pipeline stages stay separate: ingest only authenticates, stamps
// received_ms and persists; verification and rewarding read the store.
// The QUIC conversation is described in ingest.go, the HTTP endpoints at
// Handler.
//
// It imports wire, verifier, maps, oracle/solana, Badger and quic-go; it
// never imports hotspot or h3 directly (geometry goes through verifier).
package oracle

// Package devnet runs the whole hexfield network on one machine: a local
// Solana chain (the real SVM through oracle/solana/localnet), three oracles
// co-signing 2-of-3 (each with its own Badger store, every one leading in
// turn with the deployment's shared payer and distributor keys), hotspots
// placed over a city on a simulated RF medium (each a real hotspot instance
// talking Semtech UDP over loopback to a radio/sim virtual concentrator),
// owners who open their own reward token accounts, an IoT customer (an
// organization that buys its data credits on the chain, with a route to
// radio/sim's test LNS) whose OTAA and ABP sensors' uplinks reach the LNS
// through the hotspots and are charged in the manifests, and adversarial
// hotspots whose withheld rewards the summary shows.
//
// Intervals are shortened (beacons every 10 s, an epoch every 30 s) so
// that the first on-chain payout comes about a minute after the start. It
// prints what changed every few seconds, and a final summary when
// interrupted or after Config.Epochs paid epochs. The summary says per epoch
// who led it, who co-signed phase 1 (the quorum whose markers the phase-1
// transaction created), how many reports the oracles reconciled, and
// whether it was paid or is disputed. `hexfield devnet` is its command
// line; the tests start a smaller network through the same code.
package devnet

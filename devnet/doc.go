// Package devnet runs the whole hexfield network on one machine: a local
// Solana chain (the real SVM through oracle/solana/localnet), an oracle with
// its Badger store, hotspots placed over a city on a simulated RF medium
// (each a real hotspot instance talking Semtech UDP over loopback to a
// radio/sim virtual concentrator), sensors sending LoRaWAN uplinks, and
// adversarial hotspots whose withheld rewards the summary shows.
//
// Intervals are shortened (beacons every few seconds, an epoch every couple
// of minutes) so that beacons, witnesses, verified proofs, reward manifests
// and on-chain payouts appear within minutes. `hexfield devnet` is its
// command line; the tests start a smaller network through the same code.
package devnet

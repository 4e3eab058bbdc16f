// Package verifier decides who really provides LoRaWAN coverage and what
// they earn. It implements the proof-of-coverage rules of
// spec/poc-rules.md: beacon and witness checks with Helium's reason codes,
// HIP-106 reciprocity, deterministic witness selection, HIP-15 reward
// units, HIP-17 hex density scaling, the epoch split between data
// transfer and proof of coverage, in-band fraud detectors, and the reward
// manifest with its Merkle root (spec/solana-rewards.md §2).
//
// The package is pure and deterministic: it does no I/O, never reads the
// clock (time is a parameter: received_ms of stored reports and the epoch
// number), never iterates a map without sorting, and keeps money in
// integers. Given the same stored reports, registry snapshot and
// parameters, every oracle computes byte-identical manifests, whatever the
// order of its inputs.
//
// What the oracle passes:
//
//   - Params for the epoch (DefaultParams with its entropy signer keys and
//     public deny list filled in); its Hash goes into the manifest.
//   - The registry snapshot at the epoch's start (Params.EpochStart), one
//     Hotspot per onboarded key.
//   - Every stored beacon, witness and packet report whose received_ms lies
//     in Params.InputWindow(epoch), decoded, with its report id
//     (wire.ReportID of the signed envelope bytes) and received_ms. The
//     window reaches back far enough for reciprocity (48 h), interactivity
//     (60 h) and the fraud detectors (the current and 6 previous epochs),
//     and forward by the grace period so late witnesses are in.
//
// It imports only wire, radio and h3-go; the oracle uses RegionOf,
// CellLatLng and ValidCell instead of importing h3 itself.
package verifier

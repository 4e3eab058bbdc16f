// Package verifier decides who really provides LoRaWAN coverage and what
// they earn. It implements the proof-of-coverage rules of
// spec/poc-rules.md: beacon and witness checks with Helium's reason codes,
// HIP-106 reciprocity, deterministic witness selection, HIP-15 reward
// units, HIP-17 hex density scaling, the epoch split between data
// transfer and proof of coverage, in-band fraud detectors, the reward
// manifest with its Merkle root (spec/solana-rewards.md §2), and accrual:
// who is paid this epoch and who accrues (accrual.go).
//
// The package is pure and deterministic: it does no I/O, never reads the
// clock (time is a parameter: received_ms of stored reports and the epoch
// number), never iterates a map without sorting, and keeps money in
// integers. Given the same stored reports, registry snapshot and
// parameters, every oracle computes byte-identical manifests, whatever the
// order of its inputs.
//
// What the oracle passes to ComputeEpoch (EpochInput), at or after
// Params.CloseAt(epoch):
//
//   - Params for the epoch: DefaultParams with EntropySigners (every oracle
//     key whose signed entropy records hotspots may use), the public deny
//     list (Deny) and, if the operations share is paid, OpsOwner. Its Hash
//     goes into the manifest, so all oracles must use the same set.
//   - The registry snapshot at the epoch's start (Params.EpochStart), one
//     Hotspot per onboarded key, GainDdBi defaulted to 12 when unasserted.
//   - Every stored beacon, witness and packet report whose received_ms lies
//     in [from, to) = Params.InputWindow(epoch), decoded, with its report
//     id (wire.ReportID of the signed envelope bytes) and received_ms. The
//     window reaches back far enough for reciprocity (48 h), interactivity
//     (60 h) and the fraud detectors (the current and 6 previous epochs:
//     about 8.5 days with the defaults), and forward by the grace period so
//     late witnesses are in. Order does not matter; a report given twice
//     counts once.
//   - The emission E and the DC price (TokensPerDC) in token base units.
//   - For payment (spec/solana-rewards.md §4: the network never pays a
//     recipient's rent): Parent and Ledger, the epoch and the Ledger of
//     the last manifest paid on chain (0 and empty for the first version-3
//     manifest: older manifests paid everyone in full); Funded, the owners
//     whose reward token account exists (oracle/solana Chain.Funded over
//     the registry's owners, the ledger's owners and Params.OpsOwner),
//     sorted by key bytes; and MinPayout, the minimum payout in base units
//     (the oracle's configuration, 0 for none). Unlike the reports these
//     lists must be sorted and free of duplicates, or ComputeEpoch fails
//     with ErrInput. An owner is paid owed − paid when it is funded and
//     that reaches max(MinPayout, 1); the others accrue. Manifest.Payouts
//     and Total are what the chain pays; Manifest.Ledger is the next
//     epoch's Ledger. Pay a manifest only while its parent is still the
//     last one paid (recompute it otherwise): that is what makes each
//     amount paid exactly once, and VerifyLedger checks it link by link.
//     The Merkle root covers only the epoch's payouts; the ledger of
//     owners who accrue is not in it. Oracles that compare InputDigest as
//     well (it covers the parent ledger, Funded and MinPayout) know their
//     ledgers are identical too, not only their payouts.
//
// For per-beacon status between epochs, NewHistory over the reports around
// a beacon plus VerifyPoC give the same beacon and witness outcomes as the
// epoch computation, without the fraud detectors.
//
// It imports only wire, radio and h3-go; the oracle uses RegionOf,
// CellLatLng and ValidCell instead of importing h3 itself.
package verifier

// Package solana settles hexfield reward epochs on Solana with existing programs only
// (System, SPL Token, Associated Token Account, Memo, ComputeBudget, Address Lookup Table),
// as described in shared/spec/solana-rewards.md.
//
// Setup creates, idempotently, a reward mint whose mint authority is an SPL Token multisig
// of the oracle keys (M of N, no freeze authority) and the escrow (the multisig's associated
// token account); per payout, the distributor creates address lookup tables holding the
// owners' token accounts. Phase 1 of an epoch is one transaction co-signed by M oracles:
// seeded marker accounts (so a second authorisation of the same epoch fails as a whole),
// MintToChecked of the epoch total to the escrow, ApproveChecked of exactly that total to
// the distributor key, and a memo with the manifest's Merkle root. Phase 2 pays the owners
// with TransferChecked, BatchSize per v0 transaction through a lookup table, signed by the
// distributor alone; each batch also creates its own marker createWithSeed(distributor,
// "rwd:e<epoch>:b<k>", loader v3), so it lands at most once whoever sends it. The network
// never pays owners' rent: an owner without a token account is not paid until it opens one.
//
// Markers. A marker is the account createWithSeed(base, seed, BPFLoaderUpgradeable) (base:
// the oracle for phase 1, the distributor for a batch) turned into a 37-byte loader-v3
// Buffer whose authority is base: System AllocateWithSeed (base signs), then InitializeBuffer.
// Its address is public, so anyone can send it lamports beforehand; AllocateWithSeed, unlike
// CreateAccountWithSeed, succeeds on such a funded System account, and fails with
// AccountAlreadyInUse (Custom(0)) once the marker exists, so pre-funding cannot keep an
// epoch or a batch from landing, and a marker is still made once. Every reader tells a
// marker by its owner and data (isMarker), never by existence alone. Phase 1 does not fund
// its markers (a transfer per marker would not fit 3-of-5 in 1 232 bytes, and an amount read
// from a balance anyone can change would make leader and co-signers build different
// messages): the coordinator tops the quorum's marker addresses up to the rent in a
// transaction of its own first (fundMarkers). A batch funds its marker itself. Only base can
// close a marker (loader Close), which Reclaim (phase 1, each oracle its own) and
// ReclaimBatchMarkers (the distributor) do for their rent.
//
// An owner that closes its token account after the manifest was agreed does not hold up its
// batch or later epochs: the batch is sent without its transfer, its amount is burned from
// the escrow with the distributor's allowance (BurnChecked), and the batch memo names the
// positions skipped ("hexfield rwd e=<e> b=<k> skip=<i>,<j>"). Which version of a batch
// lands is decided once by its marker; the allowance is used up as if everyone was paid, so
// the next epoch can be authorised; the manifest the co-signers signed is unchanged. The
// owner forfeits that payout (the memo is the record a later manifest could credit back).
//
// Any coordinator holding the deployment's payer and distributor keys can settle an epoch,
// each with its own journal. One whose journal never sent an epoch's phase 1 takes the epoch
// over when the chain shows that phase 1 landed with exactly its manifest's memo, and pays
// the batches whose markers do not exist yet; two coordinators paying the same epoch, one
// after the other or at once, pay every owner once. Epochs may be paid in any order; the
// one rule is that no epoch is authorised while another's allowance is unused, since
// ApproveChecked overwrites it (Distribute then returns an *UnfinishedError naming it).
//
// Phase 1 is built on the deployment's durable nonce account (AdvanceNonceAccount first, the
// nonce value as blockhash; a v0 message loading the non-signer accounts from a
// per-coordinator lookup table, so 3-of-5 fits), so collecting signatures may outlast a
// blockhash; co-signers check the nonce on chain (CheckProposal) and, when their deployment
// has a nonce account, refuse blockhash proposals; a coordinator that gives a proposal up
// advances the nonce (Abandon) so it can never land. Markers and unused phase-2 lookup
// tables more than a horizon of epochs behind the newest authorised epoch are closed for
// their rent (Reclaim, ReclaimBatchMarkers, ReclaimTables); co-signers refuse such epochs
// (CheckAuthorizable), so exactly-once holds.
//
// Every transaction is sent exactly once: its signed bytes, blockhash and
// lastValidBlockHeight are persisted (fsync) in a journal directory before the first send, a
// resend uses the same bytes, a new signature is made only after the old blockhash provably
// expired, and a restart reconciles the journal with the chain's signature statuses.
//
// This is the only hexfield package that imports github.com/gagliardetto/solana-go; its
// exported API uses plain byte arrays and ed25519 keys so callers do not need solana-go. It
// must not import verifier or hotspot.
package solana

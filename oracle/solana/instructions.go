package solana

import (
	"encoding/binary"
	"errors"
	"fmt"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
)

// Program ids (spec §1).
var (
	systemProgram        = sol.SystemProgramID
	tokenProgram         = sol.TokenProgramID
	ataProgram           = sol.SPLAssociatedTokenAccountProgramID
	memoProgram          = sol.MustPublicKeyFromBase58("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")
	altProgram           = sol.MustPublicKeyFromBase58("AddressLookupTab1e1111111111111111111111111")
	computeBudgetProgram = sol.MustPublicKeyFromBase58("ComputeBudget111111111111111111111111111111")
	recentBlockhashes    = sol.SysVarRecentBlockHashesPubkey
	rentSysvar           = sol.SysVarRentPubkey
	loaderV3             = sol.BPFLoaderUpgradeableProgramID
)

// Account sizes and rent-exempt minimums (spec §1).
const (
	mintSize     = 82
	multisigSize = 355
	// markerSize is a marker's data: a loader-v3 Buffer header (state tag u32 = 1, then
	// Option<Pubkey> authority: 1 + 32 bytes) and nothing else.
	markerSize = 37
	// markerRent is the rent-exempt minimum of markerSize bytes: (128 + 37) × 6 960.
	markerRent = 1_148_400
	nonceSize  = 80
	maxTxSize  = 1232
	maxSigners = 11
)

func meta(k sol.PublicKey, writable, signer bool) *sol.AccountMeta {
	return &sol.AccountMeta{PublicKey: k, IsWritable: writable, IsSigner: signer}
}

func u64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }
func u32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }

// memoInstruction carries text as raw bytes (pitfall 1: the solana-go builder adds a length
// prefix).
func memoInstruction(text string, signers ...sol.PublicKey) sol.Instruction {
	metas := make([]*sol.AccountMeta, len(signers))
	for i, s := range signers {
		metas[i] = meta(s, false, true)
	}
	return sol.NewInstruction(memoProgram, metas, []byte(text))
}

// initializeMultisig2 is [19, m] with the members read-only and not signing (pitfall 2).
func initializeMultisig2(multisig sol.PublicKey, members []sol.PublicKey, m uint8) sol.Instruction {
	metas := []*sol.AccountMeta{meta(multisig, true, false)}
	for _, k := range members {
		metas = append(metas, meta(k, false, false))
	}
	return sol.NewInstruction(tokenProgram, metas, []byte{19, m})
}

// initializeMint2 is [20, decimals, authority, 0]: no freeze authority (pitfall 4).
func initializeMint2(mint, authority sol.PublicKey, decimals uint8) sol.Instruction {
	data := append([]byte{20, decimals}, authority[:]...)
	data = append(data, 0)
	return sol.NewInstruction(tokenProgram, []*sol.AccountMeta{meta(mint, true, false)}, data)
}

// createATAIdempotent is the ATA program's CreateIdempotent, data [1] (pitfall 3).
func createATAIdempotent(funder, ata, wallet, mint sol.PublicKey) sol.Instruction {
	return sol.NewInstruction(ataProgram, []*sol.AccountMeta{
		meta(funder, true, true), meta(ata, true, false), meta(wallet, false, false), meta(mint, false, false),
		meta(systemProgram, false, false), meta(tokenProgram, false, false),
	}, []byte{1})
}

func multisigMetas(metas []*sol.AccountMeta, authority sol.PublicKey, signers []sol.PublicKey) []*sol.AccountMeta {
	if len(signers) == 0 {
		return append(metas, meta(authority, false, true))
	}
	metas = append(metas, meta(authority, false, false))
	for _, s := range signers {
		metas = append(metas, meta(s, false, true))
	}
	return metas
}

// mintToChecked is [14, amount, decimals]; with a multisig authority the members sign.
func mintToChecked(mint, dest, authority sol.PublicKey, signers []sol.PublicKey, amount uint64, decimals uint8) sol.Instruction {
	data := append(u64([]byte{14}, amount), decimals)
	return sol.NewInstruction(tokenProgram, multisigMetas([]*sol.AccountMeta{meta(mint, true, false), meta(dest, true, false)}, authority, signers), data)
}

// approveChecked is [13, amount, decimals]: delegate may move amount out of source.
func approveChecked(source, mint, delegate, owner sol.PublicKey, signers []sol.PublicKey, amount uint64, decimals uint8) sol.Instruction {
	data := append(u64([]byte{13}, amount), decimals)
	return sol.NewInstruction(tokenProgram, multisigMetas([]*sol.AccountMeta{
		meta(source, true, false), meta(mint, false, false), meta(delegate, false, false),
	}, owner, signers), data)
}

// transferChecked is [12, amount, decimals], signed by the delegate.
func transferChecked(source, mint, dest, authority sol.PublicKey, amount uint64, decimals uint8) sol.Instruction {
	data := append(u64([]byte{12}, amount), decimals)
	return sol.NewInstruction(tokenProgram, []*sol.AccountMeta{
		meta(source, true, false), meta(mint, false, false), meta(dest, true, false), meta(authority, false, true),
	}, data)
}

// setComputeUnitLimit is ComputeBudget [2, units u32].
func setComputeUnitLimit(units uint32) sol.Instruction {
	return sol.NewInstruction(computeBudgetProgram, nil, u32([]byte{2}, units))
}

// createAccountWithSeed is System instruction 3: base, seed, lamports, space, owner.
func createAccountWithSeed(funder, created, base sol.PublicKey, seed string, lamports, space uint64, owner sol.PublicKey) sol.Instruction {
	data := u32(nil, 3)
	data = append(data, base[:]...)
	data = u64(data, uint64(len(seed)))
	data = append(data, seed...)
	data = u64(data, lamports)
	data = u64(data, space)
	data = append(data, owner[:]...)
	metas := []*sol.AccountMeta{meta(funder, true, true), meta(created, true, false)}
	if base != funder {
		metas = append(metas, meta(base, false, true))
	}
	return sol.NewInstruction(systemProgram, metas, data)
}

// createLookupTable is ALT instruction 0 (recent_slot, bump); the table is the PDA of
// (authority, recent_slot).
func createLookupTable(authority, payer sol.PublicKey, recentSlot uint64) (sol.Instruction, sol.PublicKey, error) {
	table, bump, err := sol.FindProgramAddress([][]byte{authority[:], u64(nil, recentSlot)}, altProgram)
	if err != nil {
		return nil, sol.PublicKey{}, fmt.Errorf("lookup table address: %w", err)
	}
	data := append(u64(u32(nil, 0), recentSlot), bump)
	return sol.NewInstruction(altProgram, []*sol.AccountMeta{
		meta(table, true, false), meta(authority, false, true), meta(payer, true, true), meta(systemProgram, false, false),
	}, data), table, nil
}

// extendLookupTable is ALT instruction 2 with a Vec<Pubkey> (u64 length).
func extendLookupTable(table, authority, payer sol.PublicKey, addrs []sol.PublicKey) sol.Instruction {
	data := u64(u32(nil, 2), uint64(len(addrs)))
	for _, a := range addrs {
		data = append(data, a[:]...)
	}
	return sol.NewInstruction(altProgram, []*sol.AccountMeta{
		meta(table, true, false), meta(authority, false, true), meta(payer, true, true), meta(systemProgram, false, false),
	}, data)
}

// lookupTableAddresses decodes the addresses stored in an ALT account (56-byte header).
func lookupTableAddresses(data []byte) ([]sol.PublicKey, error) {
	if len(data) < 56 || (len(data)-56)%32 != 0 {
		return nil, fmt.Errorf("lookup table: bad size %d", len(data))
	}
	out := make([]sol.PublicKey, 0, (len(data)-56)/32)
	for off := 56; off < len(data); off += 32 {
		out = append(out, sol.PublicKeyFromBytes(data[off:off+32]))
	}
	return out, nil
}

// markerSeed is the seed of an epoch's marker accounts (spec §3).
func markerSeed(epoch uint64) string { return fmt.Sprintf("rwd:e%d", epoch) }

// MarkerAddress is the phase-1 marker of oracle for epoch: createWithSeed(oracle,
// "rwd:e<epoch>", BPFLoaderUpgradeable). See createMarker for what a marker is.
func MarkerAddress(oracle [32]byte, epoch uint64) ([32]byte, error) {
	k, err := sol.CreateWithSeed(sol.PublicKeyFromBytes(oracle[:]), markerSeed(epoch), loaderV3)
	if err != nil {
		return [32]byte{}, fmt.Errorf("marker address: %w", err)
	}
	return k, nil
}

// createMarker makes the account marker = createWithSeed(base, seed, loader v3) a marker:
// System AllocateWithSeed (markerSize bytes, owner the loader; base signs) and loader-v3
// InitializeBuffer with authority base. It does not fund the marker: the caller transfers
// markerRent to it first, in the same transaction or before (phase 1 funds its markers in
// a transaction of its own, fundMarkers, to stay within 1 232 bytes).
//
// Why not CreateAccountWithSeed: anyone may send lamports to a future marker's address (it
// is derivable), and CreateAccountWithSeed fails on an account that holds lamports, so the
// epoch or batch could never be authorised or paid. AllocateWithSeed succeeds on a
// System-owned account without data, funded or not, and fails with AccountAlreadyInUse
// (System Custom(0), as CreateAccountWithSeed did) once the marker exists, so a marker is
// still created at most once. A marker is told from a merely funded address by its owner
// and data (isMarker), never by its existence. It is a loader-v3 Buffer so that its rent
// can be reclaimed: only its authority (base) can close it (closeBuffer); a System account
// with data could never give its lamports back.
func createMarker(marker, base sol.PublicKey, seed string) []sol.Instruction {
	return []sol.Instruction{
		allocateWithSeed(marker, base, seed, markerSize, loaderV3),
		initializeBuffer(marker, base),
	}
}

// isMarker reports whether a (as read from the chain, nil when missing) is a marker made by
// createMarker with authority base: owned by loader v3, a Buffer whose authority is base.
// A System account holding lamports at a marker's address is not one.
func isMarker(a *rpc.Account, base sol.PublicKey) bool {
	if a == nil || a.Owner != loaderV3 {
		return false
	}
	d := a.Data.GetBinary()
	return len(d) == markerSize && binary.LittleEndian.Uint32(d[0:4]) == 1 && d[4] == 1 && sol.PublicKeyFromBytes(d[5:37]) == base
}

// transferLamports is System instruction 2: lamports from from (signs) to to.
func transferLamports(from, to sol.PublicKey, lamports uint64) sol.Instruction {
	return sol.NewInstruction(systemProgram, []*sol.AccountMeta{meta(from, true, true), meta(to, true, false)},
		u64(u32(nil, systemTransfer), lamports))
}

// allocateWithSeed is System instruction 9: gives account = createWithSeed(base, seed,
// owner) space bytes and assigns it to owner; base signs. It fails with AccountAlreadyInUse
// unless the account is System-owned without data.
func allocateWithSeed(account, base sol.PublicKey, seed string, space uint64, owner sol.PublicKey) sol.Instruction {
	data := u32(nil, systemAllocateSeed)
	data = append(data, base[:]...)
	data = u64(data, uint64(len(seed)))
	data = append(data, seed...)
	data = u64(data, space)
	data = append(data, owner[:]...)
	return sol.NewInstruction(systemProgram, []*sol.AccountMeta{meta(account, true, false), meta(base, false, true)}, data)
}

// initializeBuffer is loader-v3 instruction 0 (InitializeBuffer): accounts [buffer (w),
// authority]. The buffer must be owned by the loader and uninitialized.
func initializeBuffer(buffer, authority sol.PublicKey) sol.Instruction {
	return sol.NewInstruction(loaderV3, []*sol.AccountMeta{meta(buffer, true, false), meta(authority, false, false)}, u32(nil, 0))
}

// closeBuffer is loader-v3 instruction 5 (Close) on a Buffer: accounts [buffer (w),
// recipient (w), authority (s)]; the buffer's lamports go to recipient and it is gone.
func closeBuffer(buffer, recipient, authority sol.PublicKey) sol.Instruction {
	return sol.NewInstruction(loaderV3, []*sol.AccountMeta{
		meta(buffer, true, false), meta(recipient, true, false), meta(authority, false, true),
	}, u32(nil, 5))
}

// burnChecked is Token [15, amount, decimals]: burns amount from account, signed by its
// owner or delegate (a delegate's allowance shrinks by amount).
func burnChecked(account, mint, authority sol.PublicKey, amount uint64, decimals uint8) sol.Instruction {
	data := append(u64([]byte{15}, amount), decimals)
	return sol.NewInstruction(tokenProgram, []*sol.AccountMeta{
		meta(account, true, false), meta(mint, true, false), meta(authority, false, true),
	}, data)
}

func ata(wallet, mint sol.PublicKey) (sol.PublicKey, error) {
	k, _, err := sol.FindAssociatedTokenAddress(wallet, mint)
	if err != nil {
		return sol.PublicKey{}, fmt.Errorf("associated token address: %w", err)
	}
	return k, nil
}

// AssociatedTokenAddress is the owner's associated token account for mint.
func AssociatedTokenAddress(owner, mint [32]byte) ([32]byte, error) {
	return ata(sol.PublicKeyFromBytes(owner[:]), sol.PublicKeyFromBytes(mint[:]))
}

// System instructions on durable nonce accounts. The runtime reads the RecentBlockhashes
// sysvar from the account list (it must be present, read-only) and requires the nonce
// authority's signature for an advance.
const (
	systemTransfer        = 2
	systemAdvanceNonce    = 4
	systemInitializeNonce = 6
	systemAllocateSeed    = 9
	systemTransferSeed    = 11
)

// advanceNonce is System instruction 4: accounts [nonce (w), RecentBlockhashes, authority (s)].
// As the first instruction of a transaction it makes the transaction a durable-nonce one.
func advanceNonce(nonce, authority sol.PublicKey) sol.Instruction {
	return sol.NewInstruction(systemProgram, []*sol.AccountMeta{
		meta(nonce, true, false), meta(recentBlockhashes, false, false), meta(authority, false, true),
	}, u32(nil, systemAdvanceNonce))
}

// initializeNonce is System instruction 6 (authority): accounts [nonce (w),
// RecentBlockhashes, Rent].
func initializeNonce(nonce, authority sol.PublicKey) sol.Instruction {
	return sol.NewInstruction(systemProgram, []*sol.AccountMeta{
		meta(nonce, true, false), meta(recentBlockhashes, false, false), meta(rentSysvar, false, false),
	}, append(u32(nil, systemInitializeNonce), authority[:]...))
}

// isAdvanceNonce reports whether a compiled instruction of msg is System AdvanceNonceAccount.
func isAdvanceNonce(msg *sol.Message, ix sol.CompiledInstruction) bool {
	return int(ix.ProgramIDIndex) < len(msg.AccountKeys) && msg.AccountKeys[ix.ProgramIDIndex] == systemProgram &&
		len(ix.Data) == 4 && binary.LittleEndian.Uint32(ix.Data) == systemAdvanceNonce
}

// transferWithSeed is System instruction 11: lamports from an account created with seed
// (from = createWithSeed(base, seed, owner)) to to, signed by base. Emptying a 0-byte
// System account closes it.
func transferWithSeed(from, base, to sol.PublicKey, lamports uint64, seed string, owner sol.PublicKey) sol.Instruction {
	data := u64(u32(nil, systemTransferSeed), lamports)
	data = u64(data, uint64(len(seed)))
	data = append(data, seed...)
	data = append(data, owner[:]...)
	return sol.NewInstruction(systemProgram, []*sol.AccountMeta{
		meta(from, true, false), meta(base, false, true), meta(to, true, false),
	}, data)
}

// nonceState is the decoded content of a System nonce account (80 bytes: version u32,
// state u32, authority, durable nonce, lamports per signature u64).
type nonceState struct {
	authority, value sol.PublicKey
}

func parseNonce(data []byte) (nonceState, error) {
	if len(data) != nonceSize {
		return nonceState{}, fmt.Errorf("nonce account: %d bytes, want %d", len(data), nonceSize)
	}
	if v := binary.LittleEndian.Uint32(data[0:4]); v != 1 {
		return nonceState{}, fmt.Errorf("nonce account: version %d, want 1 (current)", v)
	}
	if st := binary.LittleEndian.Uint32(data[4:8]); st != 1 {
		return nonceState{}, errors.New("nonce account is not initialized")
	}
	return nonceState{authority: sol.PublicKeyFromBytes(data[8:40]), value: sol.PublicKeyFromBytes(data[40:72])}, nil
}

// deactivateLookupTable is ALT instruction 3: accounts [table (w), authority (s)].
func deactivateLookupTable(table, authority sol.PublicKey) sol.Instruction {
	return sol.NewInstruction(altProgram, []*sol.AccountMeta{meta(table, true, false), meta(authority, false, true)}, u32(nil, 3))
}

// closeLookupTable is ALT instruction 4: accounts [table (w), authority (s), recipient (w)].
// The runtime allows it once the deactivation slot has left SlotHashes (≈ 513 slots).
func closeLookupTable(table, authority, recipient sol.PublicKey) sol.Instruction {
	return sol.NewInstruction(altProgram, []*sol.AccountMeta{
		meta(table, true, false), meta(authority, false, true), meta(recipient, true, false),
	}, u32(nil, 4))
}

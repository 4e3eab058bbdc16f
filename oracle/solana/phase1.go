package solana

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"

	bin "github.com/gagliardetto/binary"
	sol "github.com/gagliardetto/solana-go"
)

// Accounts are the on-chain accounts of a deployment; every oracle configures the same.
type Accounts struct {
	Mint        [32]byte
	Multisig    [32]byte
	Escrow      [32]byte
	Distributor [32]byte
	Decimals    uint8
	// Nonce is the deployment's durable nonce account (NonceAddress); zero where the
	// deployment has none, and then only blockhash proposals can be checked.
	Nonce [32]byte
}

// Proposal is what the leader sends its peers: the epoch summary, the co-signing quorum (in
// multisig member order) and the phase-1 message bytes to sign.
type Proposal struct {
	Summary Summary
	Quorum  [][32]byte
	Message []byte
}

// MismatchError reports the first field where a proposal differs from an oracle's own view.
type MismatchError struct {
	Field         string
	Proposed, Own string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("phase 1 mismatch at %s: proposed %s, own %s", e.Field, e.Proposed, e.Own)
}

// Phase1Memo is the memo text of phase 1 (spec §3).
func Phase1Memo(s Summary) string {
	return fmt.Sprintf("hexfield rwd e=%d n=%d total=%d root=%s", s.Epoch, s.Count, s.Total, sol.PublicKeyFromBytes(s.Root[:]))
}

func keys(ks [][32]byte) []sol.PublicKey {
	out := make([]sol.PublicKey, len(ks))
	for i, k := range ks {
		out[i] = k
	}
	return out
}

// phase1Body is the part of phase 1 after its prefix (nonce advance, compute-unit limit):
// the markers of summary s co-signed by quorum (createMarker; the coordinator funded them
// beforehand, fundMarkers), MintToChecked, ApproveChecked and the memo. The message does
// not depend on the markers' balances, which anyone can change.
func phase1Body(acc Accounts, s Summary, quorum [][32]byte) ([]sol.Instruction, error) {
	if len(quorum) == 0 || len(quorum) > maxSigners {
		return nil, fmt.Errorf("phase 1: quorum of %d (want 1..%d)", len(quorum), maxSigners)
	}
	var ixs []sol.Instruction
	for _, o := range quorum {
		m, err := MarkerAddress(o, s.Epoch)
		if err != nil {
			return nil, err
		}
		ixs = append(ixs, createMarker(sol.PublicKey(m), sol.PublicKey(o), markerSeed(s.Epoch))...)
	}
	signers := keys(quorum)
	mint, ms, escrow := sol.PublicKey(acc.Mint), sol.PublicKey(acc.Multisig), sol.PublicKey(acc.Escrow)
	ixs = append(ixs,
		mintToChecked(mint, escrow, ms, signers, s.Total, acc.Decimals),
		approveChecked(escrow, mint, acc.Distributor, ms, signers, s.Total, acc.Decimals),
		memoInstruction(Phase1Memo(s)),
	)
	return ixs, nil
}

// phase1Units is the compute-unit limit of phase 1 (measured: 1 714 CU for 3-of-5 legacy,
// a few hundred more with the nonce advance).
const phase1Units = 60_000

// buildPhase1 compiles phase 1 with prefix instructions (which stay first) followed by the
// compute-unit limit and the body. If that is too large, it drops the limit (40 bytes; the
// default limit is ample) before giving up.
func buildPhase1(prefix, body []sol.Instruction, payer, blockhash sol.PublicKey, table LookupTable) ([]byte, error) {
	with := append(append(slices.Clone(prefix), setComputeUnitLimit(phase1Units)), body...)
	msg, err := phase1Message(with, payer, blockhash, table)
	if errors.Is(err, errTooLarge) {
		// Without SetComputeUnitLimit (40 bytes) the default limit applies; large epoch
		// numbers and a fee payer outside the quorum need the room.
		msg, err = phase1Message(append(slices.Clone(prefix), body...), payer, blockhash, table)
	}
	return msg, err
}

// BuildPhase1 returns the phase-1 message bytes (legacy, with a recent blockhash) that the
// quorum signs. It lives about a minute; BuildPhase1Nonce makes one that does not expire.
func BuildPhase1(acc Accounts, payer [32]byte, s Summary, quorum [][32]byte, blockhash [32]byte) ([]byte, error) {
	body, err := phase1Body(acc, s, quorum)
	if err != nil {
		return nil, err
	}
	return buildPhase1(nil, body, payer, blockhash, LookupTable{})
}

// LookupTable is an address lookup table and the addresses it holds (as on chain).
type LookupTable struct {
	Address [32]byte
	Entries [][32]byte
}

// BuildPhase1Nonce returns the durable-nonce form of phase 1: AdvanceNonceAccount(acc.Nonce,
// authority payer) as the first instruction and the nonce account's current value nonce as
// the recent blockhash, so signatures may be collected for as long as the nonce is not
// advanced. With table.Address set it is a v0 message that loads the table's addresses
// (the non-signer accounts: mint, escrow, multisig, distributor, RecentBlockhashes sysvar);
// signers, invoked programs and the nonce account (the runtime needs it static) stay static
// keys. Otherwise it is a legacy message, which fits up to 2-of-3 only.
func BuildPhase1Nonce(acc Accounts, payer [32]byte, s Summary, quorum [][32]byte, nonce [32]byte, table LookupTable) ([]byte, error) {
	if acc.Nonce == ([32]byte{}) {
		return nil, errors.New("phase 1: the deployment has no nonce account")
	}
	if slices.Contains(table.Entries, acc.Nonce) {
		return nil, fmt.Errorf("phase 1: lookup table %s holds the nonce account, which must be a static key", sol.PublicKey(table.Address))
	}
	body, err := phase1Body(acc, s, quorum)
	if err != nil {
		return nil, err
	}
	return buildPhase1([]sol.Instruction{advanceNonce(acc.Nonce, payer)}, body, payer, nonce, table)
}

var errTooLarge = errors.New("transaction too large")

func phase1Message(ixs []sol.Instruction, payer, blockhash sol.PublicKey, table LookupTable) ([]byte, error) {
	opts := []sol.TransactionOption{sol.TransactionPayer(payer)}
	if table.Address != ([32]byte{}) {
		opts = append(opts, sol.TransactionAddressTables(map[sol.PublicKey]sol.PublicKeySlice{table.Address: keys(table.Entries)}))
	}
	tx, err := sol.NewTransaction(ixs, sol.Hash(blockhash), opts...)
	if err != nil {
		return nil, fmt.Errorf("phase 1: %w", err)
	}
	msg, err := tx.Message.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("phase 1: %w", err)
	}
	if n := 1 + 64*int(tx.Message.Header.NumRequiredSignatures) + len(msg); n > maxTxSize {
		return nil, fmt.Errorf("phase 1: %w: %d bytes exceeds %d (quorum too large)", errTooLarge, n, maxTxSize)
	}
	return msg, nil
}

func decodeMessage(b []byte) (*sol.Message, error) {
	var m sol.Message
	if err := m.UnmarshalWithDecoder(bin.NewBinDecoder(b)); err != nil {
		return nil, fmt.Errorf("decode message: %w", err)
	}
	return &m, nil
}

// Phase1Reader reads from the chain what a co-signer checks in a durable-nonce proposal:
// the nonce account's current value and authority, and a lookup table's addresses.
// *Chain implements it.
type Phase1Reader interface {
	NonceValue(ctx context.Context, nonce [32]byte) (Nonce, error)
	LookupTable(ctx context.Context, table [32]byte) ([][32]byte, error)
}

// ErrNonceUnchecked: a durable-nonce proposal was given to a check without a chain to read
// the nonce from; it is refused, since a stale or foreign nonce could not be told apart.
var ErrNonceUnchecked = errors.New("durable-nonce proposal needs the chain to check its nonce")

// CheckProposal recomputes the phase-1 message from the oracle's own summary and compares it
// with the proposal. The fee payer is taken from the proposed message; the accounts (mint,
// multisig, escrow, distributor, nonce account) are the oracle's own configuration. It
// returns a *MismatchError naming the first differing field.
//
// Two forms exist. A blockhash proposal (legacy message) is accepted only when acc has no
// nonce account (acc.Nonce zero); it is rebuilt with the proposed blockhash, and the
// runtime bounds its life to about a minute. A deployment with a nonce account accepts
// durable-nonce proposals only (a blockhash one is refused with a *MismatchError at field
// "form"). A durable-nonce
// proposal (first instruction AdvanceNonceAccount) never expires by itself, so it is
// checked against the chain through r: its nonce account must be acc.Nonce, whose
// authority is the fee payer, its recent blockhash must be the nonce's current value (a
// stale value is refused, so a superseded proposal is never signed), and the lookup table
// it loads accounts from is read from the chain and the message rebuilt with exactly those
// addresses. r may be nil; durable-nonce proposals are then refused with ErrNonceUnchecked.
func CheckProposal(ctx context.Context, r Phase1Reader, acc Accounts, own Summary, p Proposal) error {
	mm := func(f string, a, b any) error {
		return &MismatchError{Field: f, Proposed: fmt.Sprint(a), Own: fmt.Sprint(b)}
	}
	switch {
	case p.Summary.Epoch != own.Epoch:
		return mm("epoch", p.Summary.Epoch, own.Epoch)
	case p.Summary.Count != own.Count:
		return mm("count", p.Summary.Count, own.Count)
	case p.Summary.Total != own.Total:
		return mm("total", p.Summary.Total, own.Total)
	case p.Summary.Root != own.Root:
		return mm("root", sol.PublicKey(p.Summary.Root), sol.PublicKey(own.Root))
	}
	msg, err := decodeMessage(p.Message)
	if err != nil {
		return err
	}
	if len(msg.AccountKeys) == 0 || len(msg.Instructions) == 0 {
		return errors.New("proposal: message without accounts or instructions")
	}
	payer := msg.AccountKeys[0]
	var want []byte
	switch {
	case isAdvanceNonce(msg, msg.Instructions[0]):
		want, err = expectNonceForm(ctx, r, acc, own, p.Quorum, msg)
	case acc.Nonce != [32]byte{}:
		// The deployment has a durable nonce: only proposals on it are signed, so that
		// every signature given can be cancelled (Abandon) and none outlives a superseded
		// proposal by a blockhash's life.
		return &MismatchError{Field: "form", Proposed: "recent blockhash", Own: "durable nonce " + sol.PublicKey(acc.Nonce).String()}
	default:
		want, err = BuildPhase1(acc, payer, own, p.Quorum, msg.RecentBlockhash)
	}
	if err != nil {
		return err
	}
	if bytes.Equal(want, p.Message) {
		return nil
	}
	wm, err := decodeMessage(want)
	if err != nil {
		return err
	}
	return firstDifference(msg, wm)
}

// expectNonceForm checks the nonce of a durable-nonce proposal against the chain and
// returns the message the oracle expects.
func expectNonceForm(ctx context.Context, r Phase1Reader, acc Accounts, own Summary, quorum [][32]byte, msg *sol.Message) ([]byte, error) {
	mm := func(f string, a, b any) error {
		return &MismatchError{Field: f, Proposed: fmt.Sprint(a), Own: fmt.Sprint(b)}
	}
	if r == nil {
		return nil, ErrNonceUnchecked
	}
	if acc.Nonce == ([32]byte{}) {
		return nil, fmt.Errorf("%w: no nonce account configured", ErrNonceUnchecked)
	}
	payer := msg.AccountKeys[0]
	var table LookupTable
	switch n := len(msg.AddressTableLookups); n {
	case 0:
	case 1:
		table.Address = msg.AddressTableLookups[0].AccountKey
		es, err := r.LookupTable(ctx, table.Address)
		if err != nil {
			return nil, fmt.Errorf("proposal lookup table: %w", err)
		}
		table.Entries = es
		if err := msg.SetAddressTables(map[sol.PublicKey]sol.PublicKeySlice{table.Address: keys(es)}); err != nil {
			return nil, fmt.Errorf("proposal lookup table: %w", err)
		}
	default:
		return nil, mm("lookup tables", n, "at most 1")
	}
	ix := msg.Instructions[0]
	if len(ix.Accounts) != 3 {
		return nil, mm("nonce advance accounts", len(ix.Accounts), 3)
	}
	na, err := msg.Account(ix.Accounts[0])
	if err != nil {
		return nil, fmt.Errorf("proposal nonce account: %w", err)
	}
	if na != sol.PublicKey(acc.Nonce) {
		return nil, mm("nonce account", na, sol.PublicKey(acc.Nonce))
	}
	n, err := r.NonceValue(ctx, acc.Nonce)
	if err != nil {
		return nil, fmt.Errorf("proposal nonce: %w", err)
	}
	if n.Authority != payer {
		return nil, mm("nonce authority", payer, sol.PublicKey(n.Authority))
	}
	if n.Value != msg.RecentBlockhash {
		return nil, mm("nonce value", msg.RecentBlockhash, sol.PublicKey(n.Value))
	}
	return BuildPhase1Nonce(acc, payer, own, quorum, n.Value, table)
}

// firstDifference names the first differing part of two messages.
func firstDifference(got, want *sol.Message) error {
	mm := func(f string, a, b any) error {
		return &MismatchError{Field: f, Proposed: fmt.Sprint(a), Own: fmt.Sprint(b)}
	}
	if got.IsVersioned() != want.IsVersioned() {
		return mm("message version", got.GetVersion(), want.GetVersion())
	}
	if got.Header != want.Header {
		return mm("message header", got.Header, want.Header)
	}
	if a, b := fmt.Sprint(got.AddressTableLookups), fmt.Sprint(want.AddressTableLookups); a != b {
		return mm("lookup tables", a, b)
	}
	for i := range max(len(got.AccountKeys), len(want.AccountKeys)) {
		var a, b any = "none", "none"
		if i < len(got.AccountKeys) {
			a = got.AccountKeys[i]
		}
		if i < len(want.AccountKeys) {
			b = want.AccountKeys[i]
		}
		if a != b {
			return mm(fmt.Sprintf("account %d", i), a, b)
		}
	}
	for i := range max(len(got.Instructions), len(want.Instructions)) {
		if i >= len(got.Instructions) || i >= len(want.Instructions) {
			return mm("instruction count", len(got.Instructions), len(want.Instructions))
		}
		g, w := got.Instructions[i], want.Instructions[i]
		if g.ProgramIDIndex != w.ProgramIDIndex || fmt.Sprint(g.Accounts) != fmt.Sprint(w.Accounts) {
			return mm(fmt.Sprintf("instruction %d accounts", i), g.Accounts, w.Accounts)
		}
		if !bytes.Equal(g.Data, w.Data) {
			return mm(fmt.Sprintf("instruction %d data", i), fmt.Sprintf("%x", []byte(g.Data)), fmt.Sprintf("%x", []byte(w.Data)))
		}
	}
	return mm("message", "other bytes", "other bytes")
}

// Cosign checks the proposal against the oracle's own summary (CheckProposal, reading a
// durable nonce through r, which may be nil) and, only if identical, signs the message with
// the oracle key. The key must be in the proposal's quorum.
func Cosign(ctx context.Context, r Phase1Reader, priv ed25519.PrivateKey, acc Accounts, own Summary, p Proposal) ([64]byte, error) {
	var sig [64]byte
	pub := [32]byte(priv.Public().(ed25519.PublicKey))
	in := false
	for _, q := range p.Quorum {
		in = in || q == pub
	}
	if !in {
		return sig, fmt.Errorf("cosign: %s is not in the proposed quorum", sol.PublicKey(pub))
	}
	if err := CheckProposal(ctx, r, acc, own, p); err != nil {
		return sig, fmt.Errorf("cosign: %w", err)
	}
	copy(sig[:], ed25519.Sign(priv, p.Message))
	return sig, nil
}

// assemble builds wire bytes from message bytes and signatures keyed by signer.
func assemble(message []byte, sigs map[[32]byte][64]byte) ([]byte, error) {
	msg, err := decodeMessage(message)
	if err != nil {
		return nil, err
	}
	n := int(msg.Header.NumRequiredSignatures)
	out := appendShortvec(nil, n)
	for i := range n {
		s, ok := sigs[msg.AccountKeys[i]]
		if !ok {
			return nil, fmt.Errorf("assemble: missing signature of %s", msg.AccountKeys[i])
		}
		if !ed25519.Verify(msg.AccountKeys[i][:], message, s[:]) {
			return nil, fmt.Errorf("assemble: bad signature of %s", msg.AccountKeys[i])
		}
		out = append(out, s[:]...)
	}
	return append(out, message...), nil
}

func appendShortvec(b []byte, n int) []byte {
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

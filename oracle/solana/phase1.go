package solana

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"

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

// Phase1Instructions are the instructions of phase 1 for summary s co-signed by quorum.
func phase1Instructions(acc Accounts, payer sol.PublicKey, s Summary, quorum [][32]byte) ([]sol.Instruction, error) {
	if len(quorum) == 0 || len(quorum) > maxSigners {
		return nil, fmt.Errorf("phase 1: quorum of %d (want 1..%d)", len(quorum), maxSigners)
	}
	ixs := []sol.Instruction{setComputeUnitLimit(60_000)}
	for _, o := range quorum {
		m, err := MarkerAddress(o, s.Epoch)
		if err != nil {
			return nil, err
		}
		ixs = append(ixs, createAccountWithSeed(payer, m, o, markerSeed(s.Epoch), markerRent, 0, systemProgram))
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

// BuildPhase1 returns the phase-1 message bytes (legacy) that the quorum signs.
func BuildPhase1(acc Accounts, payer [32]byte, s Summary, quorum [][32]byte, blockhash [32]byte) ([]byte, error) {
	ixs, err := phase1Instructions(acc, payer, s, quorum)
	if err != nil {
		return nil, err
	}
	msg, err := phase1Message(ixs, payer, blockhash)
	if errors.Is(err, errTooLarge) {
		// Without SetComputeUnitLimit (40 bytes) the default limit applies; large epoch
		// numbers and a fee payer outside the quorum need the room.
		msg, err = phase1Message(ixs[1:], payer, blockhash)
	}
	return msg, err
}

var errTooLarge = errors.New("transaction too large")

func phase1Message(ixs []sol.Instruction, payer, blockhash [32]byte) ([]byte, error) {
	tx, err := sol.NewTransaction(ixs, blockhash, sol.TransactionPayer(payer))
	if err != nil {
		return nil, fmt.Errorf("phase 1: %w", err)
	}
	msg, err := tx.Message.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("phase 1: %w", err)
	}
	if n := 1 + 64*int(tx.Message.Header.NumRequiredSignatures) + len(msg); n > maxTxSize {
		return nil, fmt.Errorf("phase 1: %w: %d bytes exceeds %d (quorum too large for a legacy transaction)", errTooLarge, n, maxTxSize)
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

// CheckProposal recomputes the phase-1 message from the oracle's own summary and compares it
// with the proposal. The fee payer and blockhash are taken from the proposed message; the
// accounts (mint, multisig, escrow, distributor) are the oracle's own configuration. It
// returns a *MismatchError naming the first differing field.
func CheckProposal(acc Accounts, own Summary, p Proposal) error {
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
	if len(msg.AccountKeys) == 0 {
		return errors.New("proposal: message without accounts")
	}
	want, err := BuildPhase1(acc, msg.AccountKeys[0], own, p.Quorum, msg.RecentBlockhash)
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

// firstDifference names the first differing part of two messages.
func firstDifference(got, want *sol.Message) error {
	mm := func(f string, a, b any) error {
		return &MismatchError{Field: f, Proposed: fmt.Sprint(a), Own: fmt.Sprint(b)}
	}
	if got.Header != want.Header {
		return mm("message header", got.Header, want.Header)
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

// Cosign checks the proposal against the oracle's own summary and, only if identical, signs
// the message with the oracle key. The key must be in the proposal's quorum.
func Cosign(priv ed25519.PrivateKey, acc Accounts, own Summary, p Proposal) ([64]byte, error) {
	var sig [64]byte
	pub := [32]byte(priv.Public().(ed25519.PublicKey))
	in := false
	for _, q := range p.Quorum {
		in = in || q == pub
	}
	if !in {
		return sig, fmt.Errorf("cosign: %s is not in the proposed quorum", sol.PublicKey(pub))
	}
	if err := CheckProposal(acc, own, p); err != nil {
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

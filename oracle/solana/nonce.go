package solana

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
)

// Nonce is the state of a durable nonce account: the key that may advance it and the value
// a transaction must carry as its recent blockhash to use it.
type Nonce struct {
	Authority, Value [32]byte
}

// NonceAddress is the deployment's durable nonce account: created with seed "<seed>:nonce"
// from base (the payer, which is also its authority), owned by the System program.
func NonceAddress(base [32]byte, seed string) ([32]byte, error) {
	k, err := sol.CreateWithSeed(sol.PublicKey(base), seed+":nonce", systemProgram)
	if err != nil {
		return [32]byte{}, fmt.Errorf("nonce address: %w", err)
	}
	return k, nil
}

// nonceLife is the lastValidBlockHeight journaled for a durable-nonce transaction: it never
// expires by block height, only when the nonce value moves on (settleNonce).
const nonceLife = math.MaxUint64

// errNoNonce: the nonce account does not exist.
var errNoNonce = errors.New("no nonce account")

// NonceValue reads the nonce account at addr (commitment finalized). A nil *Chain returns
// ErrNonceUnchecked, so a co-signer configured without a chain refuses nonce proposals.
func (c *Chain) NonceValue(ctx context.Context, addr [32]byte) (Nonce, error) {
	if c == nil {
		return Nonce{}, ErrNonceUnchecked
	}
	return nonceValue(ctx, c.rpc, addr)
}

func nonceValue(ctx context.Context, r *rpc.Client, addr [32]byte) (Nonce, error) {
	a, err := r.GetAccountInfoWithOpts(ctx, sol.PublicKey(addr), &rpc.GetAccountInfoOpts{Encoding: sol.EncodingBase64, Commitment: rpc.CommitmentFinalized})
	if errors.Is(err, rpc.ErrNotFound) {
		return Nonce{}, fmt.Errorf("%w: %s", errNoNonce, sol.PublicKey(addr))
	}
	if err != nil {
		return Nonce{}, fmt.Errorf("get nonce account: %w", err)
	}
	if a.Value.Owner != systemProgram {
		return Nonce{}, fmt.Errorf("nonce account %s is owned by %s", sol.PublicKey(addr), a.Value.Owner)
	}
	st, err := parseNonce(a.Value.Data.GetBinary())
	if err != nil {
		return Nonce{}, err
	}
	return Nonce{Authority: st.authority, Value: st.value}, nil
}

// LookupTable reads the addresses of the lookup table at addr (commitment finalized).
func (c *Chain) LookupTable(ctx context.Context, addr [32]byte) ([][32]byte, error) {
	if c == nil {
		return nil, ErrNonceUnchecked
	}
	a, err := c.rpc.GetAccountInfoWithOpts(ctx, sol.PublicKey(addr), &rpc.GetAccountInfoOpts{Encoding: sol.EncodingBase64, Commitment: rpc.CommitmentFinalized})
	if err != nil {
		return nil, fmt.Errorf("get lookup table %s: %w", sol.PublicKey(addr), err)
	}
	if a.Value.Owner != altProgram {
		return nil, fmt.Errorf("lookup table %s is owned by %s", sol.PublicKey(addr), a.Value.Owner)
	}
	es, err := lookupTableAddresses(a.Value.Data.GetBinary())
	if err != nil {
		return nil, err
	}
	out := make([][32]byte, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out, nil
}

// phase1TableMark is the journal mark holding this coordinator's phase-1 lookup table.
const phase1TableMark = "phase1-table.json"

// phase1TableAddresses are the non-signer accounts phase 1 loads from its lookup table. The
// nonce account is not among them: the runtime recognises a durable-nonce transaction only
// when the nonce account is a static key (litesvm, like Agave since SIMD-0242, rejects one
// loaded from a table with BlockhashNotFound).
func (d *Distributor) phase1TableAddresses() []sol.PublicKey {
	a := d.accounts
	return []sol.PublicKey{a.Mint, a.Escrow, a.Multisig, a.Distributor, recentBlockhashes}
}

// setupNonce creates the deployment's nonce account (authority = payer) if it is missing
// and checks it if it exists, then this coordinator's phase-1 lookup table. A table is
// per journal: co-signers check any table's addresses on chain, so coordinators need not
// share one, and none has to be found by address.
func (d *Distributor) setupNonce(ctx context.Context) error {
	payer := d.payer.PublicKey()
	nonce := sol.PublicKey(d.accounts.Nonce)
	got, err := d.accountsData(ctx, []sol.PublicKey{nonce})
	if err != nil {
		return err
	}
	if got[0] == nil {
		r, err := d.rpc.GetMinimumBalanceForRentExemption(ctx, nonceSize, rpc.CommitmentFinalized)
		if err != nil {
			return fmt.Errorf("rent: %w", err)
		}
		ixs := []sol.Instruction{
			createAccountWithSeed(payer, nonce, payer, d.cfg.Seed+":nonce", r, nonceSize, systemProgram),
			initializeNonce(nonce, payer),
		}
		if err := d.run(ctx, []string{"setup/nonce"}, func(string) ([]sol.Instruction, error) { return ixs, nil }, payer, nil, nil, d.payer); err != nil {
			return err
		}
	} else {
		if got[0].Owner != systemProgram {
			return fmt.Errorf("nonce account %s is owned by %s", nonce, got[0].Owner)
		}
		st, err := parseNonce(got[0].Data.GetBinary())
		if err != nil {
			return err
		}
		if st.authority != payer {
			return fmt.Errorf("nonce account authority is %s, not the payer %s", st.authority, payer)
		}
	}
	return d.setupPhase1Table(ctx)
}

// setupPhase1Table creates (once per journal) a lookup table holding phase1TableAddresses,
// authority the payer. It is created and extended in one transaction; the table address
// is journaled before it is sent.
func (d *Distributor) setupPhase1Table(ctx context.Context) error {
	payer := d.payer.PublicKey()
	var reg regTable
	b, ok, err := d.journal.marked(phase1TableMark)
	if err != nil {
		return err
	}
	if ok {
		if err := json.Unmarshal(b, &reg); err != nil {
			return fmt.Errorf("journal %s: %w", phase1TableMark, err)
		}
	}
	want := d.phase1TableAddresses()
	var name string
	for attempt := 0; ; attempt++ {
		if !ok || attempt > 0 {
			// A new table: the PDA of (payer, a recent slot), journaled before it is sent.
			slot, err := d.rpc.GetSlot(ctx, rpc.CommitmentFinalized)
			if err != nil {
				return fmt.Errorf("get slot: %w", err)
			}
			_, addr, err := createLookupTable(payer, payer, slot)
			if err != nil {
				return err
			}
			reg = regTable{Addr: addr.String(), Slot: slot}
			b, err := json.Marshal(reg)
			if err != nil {
				return err
			}
			if err := d.journal.mark(phase1TableMark, b); err != nil {
				return err
			}
		}
		create, addr, err := createLookupTable(payer, payer, reg.Slot)
		if err != nil {
			return err
		}
		name = "setup/phase1-table/" + addr.String()
		err = d.run(ctx, []string{name}, func(string) ([]sol.Instruction, error) {
			return []sol.Instruction{create, extendLookupTable(addr, payer, payer, want)}, nil
		}, payer, nil, nil, d.payer)
		var te *TxError
		if errors.As(err, &te) && !te.Landed && attempt == 0 {
			// Refused by preflight (e.g. its recent slot is no longer in SlotHashes after a
			// long pause): it can never land; create another table.
			d.log.Warn("phase-1 lookup table refused; creating another", "table", addr.String(), "err", err)
			continue
		}
		if err != nil {
			return fmt.Errorf("phase-1 lookup table: %w", err)
		}
		break
	}
	t, err := d.phase1Table(ctx)
	if err != nil {
		return err
	}
	for _, w := range want {
		if !slices.Contains(t.Entries, [32]byte(w)) {
			return fmt.Errorf("phase-1 lookup table %s lacks %s", sol.PublicKey(t.Address), w)
		}
	}
	// Entries become usable in the slot after the extend.
	e, err := d.journal.get(name)
	if err != nil || e == nil {
		return err
	}
	return d.waitSlotAfter(ctx, e.Slot)
}

// phase1Table returns this coordinator's phase-1 lookup table as on chain, or a zero table
// when there is none (phase 1 is then a legacy message).
func (d *Distributor) phase1Table(ctx context.Context) (LookupTable, error) {
	b, ok, err := d.journal.marked(phase1TableMark)
	if err != nil || !ok {
		return LookupTable{}, err
	}
	var reg regTable
	if err := json.Unmarshal(b, &reg); err != nil {
		return LookupTable{}, fmt.Errorf("journal %s: %w", phase1TableMark, err)
	}
	addr, err := sol.PublicKeyFromBase58(reg.Addr)
	if err != nil {
		return LookupTable{}, fmt.Errorf("journal %s: %w", phase1TableMark, err)
	}
	es, err := (&Chain{rpc: d.rpc}).LookupTable(ctx, addr)
	if err != nil {
		return LookupTable{}, err
	}
	return LookupTable{Address: addr, Entries: es}, nil
}

// phase1Message builds the phase-1 message for quorum: the durable-nonce form (v0 with the
// phase-1 lookup table) when the deployment's nonce account exists, else the blockhash
// form (which co-signers configured with a nonce account refuse, CheckProposal: a peer
// that cannot check the nonce form is a refusing peer, not a reason to fall back). It
// returns the message, its recent blockhash and its lastValidBlockHeight (nonceLife for the
// nonce form).
func (d *Distributor) phase1Message(ctx context.Context, s Summary, quorum [][32]byte) ([]byte, sol.Hash, uint64, error) {
	payer := d.payer.PublicKey()
	n, err := nonceValue(ctx, d.rpc, d.accounts.Nonce)
	if errors.Is(err, errNoNonce) {
		// No nonce account (Setup not run): a blockhash proposal.
		bh, lv, err := d.blockhash(ctx)
		if err != nil {
			return nil, sol.Hash{}, 0, err
		}
		msg, err := BuildPhase1(d.accounts, payer, s, quorum, bh)
		return msg, bh, lv, err
	}
	if err != nil {
		return nil, sol.Hash{}, 0, err
	}
	if n.Authority != payer {
		return nil, sol.Hash{}, 0, fmt.Errorf("nonce account authority is %s, not the payer %s", sol.PublicKey(n.Authority), payer)
	}
	t, err := d.phase1Table(ctx)
	if err != nil {
		return nil, sol.Hash{}, 0, err
	}
	msg, err := BuildPhase1Nonce(d.accounts, payer, s, quorum, n.Value, t)
	return msg, n.Value, nonceLife, err
}

// errNonceMoved: the nonce a pending transaction was built on has moved on and the
// transaction has no status: it can never land.
var errNonceMoved = errors.New("nonce advanced without this transaction")

// settleNonce settles a phase-1 entry. A blockhash entry is settled as any other. A
// durable-nonce entry cannot expire by block height; it is dead once the nonce value
// differs from its blockhash while none of its signatures has a status (the value read
// first). Then it is proposed again through rebuild, and the new bytes are journaled
// before they are sent, like a re-sign after blockhash expiry.
func (d *Distributor) settleNonce(ctx context.Context, e *entry, rebuild rebuildFunc) error {
	for {
		if e.LastValid != nonceLife {
			return d.settle(ctx, []*entry{e}, rebuild, nil)
		}
		wctx, cancel := context.WithCancelCause(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			d.watchNonce(wctx, cancel, e)
		}()
		err := d.settle(wctx, []*entry{e}, rebuild, nil)
		cancel(nil)
		<-done
		if err == nil || !errors.Is(context.Cause(wctx), errNonceMoved) || ctx.Err() != nil {
			return err
		}
		d.log.Info("phase 1 nonce moved on before it landed; proposing again", "tx", e.Name, "signature", e.Signature)
		s, err := rebuild(ctx, e.Name)
		if err != nil {
			return fmt.Errorf("propose %s again: %w", e.Name, err)
		}
		e.Previous = append(e.Previous, e.Signature)
		e.Raw, e.Signature, e.Blockhash, e.LastValid = s.raw, s.signature.String(), s.blockhash.String(), s.lastValid
		if err := d.journal.put(e); err != nil {
			return err
		}
		d.signed(1)
		d.metrics.resigned.Add(1)
		d.m.resigned.Inc()
		if err := d.step("resigned " + e.Name); err != nil {
			return err
		}
	}
}

// watchNonce cancels ctx with errNonceMoved once e's nonce has provably moved on without e.
func (d *Distributor) watchNonce(ctx context.Context, cancel context.CancelCauseFunc, e *entry) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(d.cfg.PollInterval):
		}
		dead, err := d.nonceDead(ctx, e)
		if err != nil {
			d.log.Warn("watch phase-1 nonce", "tx", e.Name, "err", err)
			continue
		}
		if dead {
			cancel(errNonceMoved)
			return
		}
	}
}

// nonceDead reports whether the durable-nonce transaction e can no longer land: the nonce
// value differs from e's blockhash (read first) and none of e's signatures has a status.
func (d *Distributor) nonceDead(ctx context.Context, e *entry) (bool, error) {
	n, err := nonceValue(ctx, d.rpc, d.accounts.Nonce)
	if err != nil {
		return false, err
	}
	if sol.Hash(n.Value).String() == e.Blockhash {
		return false, nil
	}
	var sigs []sol.Signature
	for _, s := range append([]string{e.Signature}, e.Previous...) {
		sig, err := sol.SignatureFromBase58(s)
		if err != nil {
			return false, fmt.Errorf("journal %s: %w", e.Name, err)
		}
		sigs = append(sigs, sig)
	}
	res, err := d.rpc.GetSignatureStatuses(ctx, true, sigs...)
	if err != nil {
		return false, fmt.Errorf("get signature statuses: %w", err)
	}
	for _, st := range res.Value {
		if st != nil {
			return false, nil
		}
	}
	return true, nil
}

// Abandon advances the deployment's nonce if it still holds value, so that no message built
// on value (a phase-1 proposal a coordinator gives up, with whatever signatures it
// collected) can ever land. The advance is itself a durable-nonce transaction signed by the
// payer (the nonce authority), so it needs no recent blockhash. Abandon returns once the
// chain shows another value, whoever advanced it; it is harmless to repeat.
func (d *Distributor) Abandon(ctx context.Context, value [32]byte) error {
	payer := d.payer.PublicKey()
	var raw []byte
	for {
		n, err := nonceValue(ctx, d.rpc, d.accounts.Nonce)
		if err != nil {
			return fmt.Errorf("abandon: %w", err)
		}
		if n.Value != value {
			if raw != nil {
				d.log.Info("phase-1 proposal abandoned: nonce advanced", "nonce", sol.Hash(value).String())
			}
			return nil
		}
		if raw == nil {
			tx, err := sol.NewTransaction([]sol.Instruction{advanceNonce(d.accounts.Nonce, payer)}, sol.Hash(value), sol.TransactionPayer(payer))
			if err != nil {
				return fmt.Errorf("abandon: %w", err)
			}
			if _, err := tx.Sign(d.keyGetter(d.payer)); err != nil {
				return fmt.Errorf("abandon: sign: %w", err)
			}
			if raw, err = tx.MarshalBinary(); err != nil {
				return fmt.Errorf("abandon: %w", err)
			}
		}
		// The same bytes until the value moves; a send error is learned from the nonce.
		if err := d.send(ctx, &entry{Name: "abandon", Raw: raw}, true); err != nil {
			return fmt.Errorf("abandon: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("abandon: %w", ctx.Err())
		case <-time.After(d.cfg.PollInterval):
		}
	}
}

// withNonceReader gives every *LocalCosigner that has no Chain the reader r for durable
// nonces (in place, so that fields the caller sets later, such as Accounts, still apply).
func withNonceReader(cs []Cosigner, r Phase1Reader) []Cosigner {
	for _, c := range cs {
		if lc, ok := c.(*LocalCosigner); ok && lc.Chain == nil && lc.nonces == nil {
			lc.nonces = r
		}
	}
	return cs
}

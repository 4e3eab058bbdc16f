package oracle

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/wire"
)

// Data credits belong to wallets (routing.md §4). Each wallet has one
// account (its balance and totals) and a ledger of every credit and debit;
// a debit never takes a balance below zero. Every change to an account goes
// through registryUpdate, so read-modify-writes never interleave, and is
// made in the same transaction as what it pays for (a registry change, an
// epoch's charges) or is paid by (a grant), so neither can happen without
// the other.

// dcAccount is a wallet's data credits (prefixDCAccount).
type dcAccount struct {
	Balance  uint64 `json:"balance"`
	Credited uint64 `json:"credited"` // everything ever credited
	Debited  uint64 `json:"debited"`  // everything ever debited
	Entries  uint64 `json:"entries"`  // ledger entries so far: the next entry's seq
}

// Ledger entry kinds.
const (
	dcGrant      = "grant"
	dcPurchase   = "purchase"
	dcOnboardFee = "onboard_fee"
	dcAssertFee  = "assert_fee"
	dcOrgFee     = "org_fee"
	dcCharge     = "charge"
)

// DCEntry is one credit or debit of a wallet (prefixDCEntry), as stored
// and as GET /v1/dc/{wallet} shows it.
type DCEntry struct {
	Seq    uint64 `json:"seq"`
	Ms     int64  `json:"ms"`
	Kind   string `json:"kind"`
	Credit uint64 `json:"credit,omitempty"`
	Debit  uint64 `json:"debit,omitempty"`
	// Balance is the wallet's balance after this entry.
	Balance uint64 `json:"balance"`
	// Ref says what the entry was for: the grant's request id (hex), the
	// hotspot, the route and epoch.
	Ref string `json:"ref,omitempty"`
}

var (
	// errInsufficientDC: the wallet cannot pay the debit; nothing changed.
	errInsufficientDC = errors.New("insufficient data credits")
	// errDCOverflow: the credit would overflow the balance.
	errDCOverflow = errors.New("data-credit balance would overflow")
)

// registryUpdate runs fn in one read-write transaction, serialised with
// every other registry and ledger change.
func (s *Store) registryUpdate(fn func(txn *badger.Txn) error) error {
	if err := s.writable(); err != nil {
		return err
	}
	s.regMu.Lock()
	defer s.regMu.Unlock()
	s.txnHotspots = s.txnHotspots[:0]
	err := s.db.Update(fn)
	if err == nil {
		s.changed(s.txnHotspots)
	}
	s.regGen.Add(1) // after the commit (or a failed one): caches rebuild
	return err
}

func loadDCAccount(txn *badger.Txn, wallet []byte) (dcAccount, error) {
	var a dcAccount
	b, err := getValue(txn, dcAccountKey(wallet))
	if err != nil || b == nil {
		return a, err
	}
	return a, decodeJSON(b, &a)
}

// postDC appends e to wallet's ledger and stores the account a it leads to.
// A balance that crosses what one copy costs locks or unlocks the
// organizations the wallet pays, which bumps the route table.
func postDC(txn *badger.Txn, wallet []byte, a dcAccount, e DCEntry) (DCEntry, error) {
	if err := lockFlipped(txn, wallet, a.Balance-e.Credit+e.Debit, a.Balance); err != nil {
		return DCEntry{}, err
	}
	e.Seq, e.Balance = a.Entries, a.Balance
	a.Entries++
	if err := txn.Set(dcEntryKey(wallet, e.Seq), encodeJSON(e)); err != nil {
		return DCEntry{}, err
	}
	if err := txn.Set(dcAccountKey(wallet), encodeJSON(a)); err != nil {
		return DCEntry{}, err
	}
	return e, nil
}

// creditDC adds amount to wallet's balance in txn.
func creditDC(txn *badger.Txn, wallet []byte, amount uint64, ms int64, kind, ref string) (DCEntry, error) {
	a, err := loadDCAccount(txn, wallet)
	if err != nil {
		return DCEntry{}, err
	}
	if amount > math.MaxUint64-a.Balance || amount > math.MaxUint64-a.Credited {
		return DCEntry{}, fmt.Errorf("credit %d DC: %w", amount, errDCOverflow)
	}
	a.Balance += amount
	a.Credited += amount
	return postDC(txn, wallet, a, DCEntry{Ms: ms, Kind: kind, Credit: amount, Ref: ref})
}

// debitDC takes amount from wallet's balance in txn, or fails with
// errInsufficientDC and changes nothing. A zero amount is no entry.
func debitDC(txn *badger.Txn, wallet []byte, amount uint64, ms int64, kind, ref string) (DCEntry, error) {
	if amount == 0 {
		return DCEntry{Kind: kind}, nil
	}
	a, err := loadDCAccount(txn, wallet)
	if err != nil {
		return DCEntry{}, err
	}
	if a.Balance < amount {
		return DCEntry{}, fmt.Errorf("debit %d DC from a balance of %d: %w", amount, a.Balance, errInsufficientDC)
	}
	a.Balance -= amount
	a.Debited += amount
	return postDC(txn, wallet, a, DCEntry{Ms: ms, Kind: kind, Debit: amount, Ref: ref})
}

// chargeDC debits as much of amount as wallet's balance allows and returns
// what was debited: charges for traffic never exceed the balance.
func chargeDC(txn *badger.Txn, wallet []byte, amount uint64, ms int64, ref string) (uint64, error) {
	a, err := loadDCAccount(txn, wallet)
	if err != nil {
		return 0, err
	}
	amount = min(amount, a.Balance)
	if amount == 0 {
		return 0, nil
	}
	_, err = debitDC(txn, wallet, amount, ms, dcCharge, ref)
	return amount, err
}

// feeErr turns a failed fee debit into the API's answer.
func feeErr(err error, what string, fee uint64, wallet wire.PublicKey) error {
	if errors.Is(err, errInsufficientDC) {
		return apiErr(402, "insufficient_dc", "%s costs %d DC and wallet %s cannot pay it: %v", what, fee, wallet, err)
	}
	return err
}

// DCAccount returns wallet's balance and totals (zero for a wallet never
// credited).
func (s *Store) DCAccount(wallet wire.PublicKey) (DCBalance, error) {
	var a dcAccount
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		a, err = loadDCAccount(txn, wallet[:])
		return err
	})
	return DCBalance{Wallet: wallet.String(), Balance: a.Balance, Credited: a.Credited, Debited: a.Debited}, err
}

// dcEntries returns wallet's ledger entries with seq < before, newest
// first, at most limit.
func (s *Store) dcEntries(wallet wire.PublicKey, before uint64, limit int) ([]DCEntry, error) {
	out := []DCEntry{}
	err := s.db.View(func(txn *badger.Txn) error {
		p := dcEntryPrefix(wallet[:])
		return s.scanIndex(txn, p, nil, dcEntryKey(wallet[:], before), true, func(_, v []byte) error {
			var e DCEntry
			if err := decodeJSON(v, &e); err != nil {
				return err
			}
			out = append(out, e)
			if len(out) >= limit {
				return errStop
			}
			return nil
		})
	})
	return out, err
}

// DCBalance is a wallet's data credits, as GET /v1/dc/{wallet} shows them.
type DCBalance struct {
	Wallet   string `json:"wallet"`
	Balance  uint64 `json:"balance"`
	Credited uint64 `json:"credited"`
	Debited  uint64 `json:"debited"`
	// Entries are the newest ledger entries, newest first.
	Entries []DCEntry `json:"entries,omitempty"`
}

// GrantRequest is the body of POST /v1/dc/grants: an encoded Envelope
// (KIND_DC_GRANT) of a wire.DCGrant signed by an operator key.
type GrantRequest struct {
	Envelope []byte `json:"envelope"`
}

// GrantResult answers a grant: whether this request applied it (false
// when its request id was applied before) and the wallet's balance.
type GrantResult struct {
	Applied bool      `json:"applied"`
	Entry   DCEntry   `json:"entry"`
	Wallet  DCBalance `json:"wallet"`
}

// NewGrantRequest builds a data-credit grant signed by an operator key.
func NewGrantRequest(operator []byte, wallet wire.PublicKey, amount uint64, requestID []byte, now time.Time) (GrantRequest, error) {
	raw, err := wire.Seal(operator, wire.Kind_KIND_DC_GRANT, &wire.DCGrant{
		Wallet: wallet[:], Amount: amount, RequestId: requestID, TimestampMs: uint64(now.UnixMilli()),
	})
	if err != nil {
		return GrantRequest{}, fmt.Errorf("seal grant: %w", err)
	}
	return GrantRequest{Envelope: raw}, nil
}

// openSigned opens raw as an envelope of kind k and decodes its body into
// msg, answering failures as API errors.
func openSigned(raw []byte, k wire.Kind, msg proto.Message) (wire.PublicKey, error) {
	env, err := wire.Open(raw, k)
	if err != nil {
		if wire.CodeOf(err) == wire.Code_CODE_BAD_SIGNATURE {
			return wire.PublicKey{}, apiErr(401, "bad_signature", "%v", err)
		}
		return wire.PublicKey{}, apiErr(400, "malformed", "%v", err)
	}
	if err := proto.Unmarshal(env.Body, msg); err != nil {
		return wire.PublicKey{}, apiErr(400, "malformed", "body does not decode: %v", err)
	}
	return env.SignerKey(), nil
}

// applyGrant applies an operator-signed grant received at now, once per
// request id.
func (o *Oracle) applyGrant(raw []byte, now time.Time) (GrantResult, error) {
	return o.applyGrantAt(raw, now, false)
}

// applyGrantAt applies an operator-signed grant, live or replayed from
// another oracle (changes.go); it takes effect at its timestamp.
func (o *Oracle) applyGrantAt(raw []byte, now time.Time, replay bool) (GrantResult, error) {
	var g wire.DCGrant
	signer, err := openSigned(raw, wire.Kind_KIND_DC_GRANT, &g)
	if err != nil {
		return GrantResult{}, err
	}
	if !o.reg.operator(signer) {
		return GrantResult{}, apiErr(403, "wrong_key", "%s is not an operator key of this network", signer)
	}
	wallet, err := wire.PublicKeyFromBytes(g.Wallet)
	if err != nil {
		return GrantResult{}, apiErr(400, "malformed", "wallet: %v", err)
	}
	if n := len(g.RequestId); n < 16 || n > 32 {
		return GrantResult{}, apiErr(400, "bad_request", "request_id must be 16 to 32 bytes, got %d", n)
	}
	if g.Amount == 0 {
		return GrantResult{}, apiErr(400, "bad_request", "a grant needs a positive amount")
	}
	ms, err := o.changeMs(g.TimestampMs, now, replay)
	if err != nil {
		return GrantResult{}, err
	}
	res := GrantResult{}
	err = o.store.registryUpdate(func(txn *badger.Txn) error {
		prev, err := getValue(txn, dcGrantKey(g.RequestId))
		if err != nil {
			return err
		}
		if prev != nil {
			return decodeJSON(prev, &res.Entry) // applied before: nothing changes
		}
		e, err := creditDC(txn, wallet[:], g.Amount, ms, dcGrant, fmt.Sprintf("%x", g.RequestId))
		if err != nil {
			return err
		}
		if err := logChange(txn, ms, wire.Kind_KIND_DC_GRANT, raw); err != nil {
			return err
		}
		res.Applied, res.Entry = true, e
		return txn.Set(dcGrantKey(g.RequestId), encodeJSON(e))
	})
	o.m.registryChanges.WithLabelValues("dc_grant", resultLabel(err)).Inc()
	if errors.Is(err, errDCOverflow) {
		return GrantResult{}, apiErr(422, "overflow", "%v", err)
	}
	if err != nil {
		return GrantResult{}, err
	}
	if res.Wallet, err = o.store.DCAccount(wallet); err != nil {
		return GrantResult{}, err
	}
	if res.Applied {
		o.log.Info("dc granted", "wallet", wallet.String(), "amount", g.Amount, "operator", signer.String())
	}
	return res, nil
}

package oracle

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/hexfield/hexfield/oracle/solana"
	"github.com/hexfield/hexfield/wire"
)

// DC bought on chain (routing.md §4). The watcher lists the DC treasury's
// finalized signatures, reads each transaction once, oldest first, and
// credits amount × dc_per_base_unit to the memo's wallet (the sender's
// when there is no DC memo) exactly once per transaction signature: the
// purchase record and the credit are one transaction, keyed by the
// signature, so a restart or a second look at the same signature never
// credits twice. Failed transactions and malformed memos are recorded and
// credit nobody. Every oracle watching the same chain derives the same
// balances.

// DCChain is what the watcher reads from the chain; *solana.Chain is one.
type DCChain interface {
	TreasurySignatures(ctx context.Context, treasury [32]byte, until string) ([]string, error)
	TreasuryTransfer(ctx context.Context, sig string, treasury [32]byte) (solana.DCTransfer, bool, error)
}

// DCPurchase is the record of one transaction to the treasury
// (prefixDCPurchase), as GET /v1/dc/purchases/{signature} shows it.
type DCPurchase struct {
	Signature string `json:"signature"`
	Slot      uint64 `json:"slot"`
	// Wallet is the credited wallet; empty when nobody was credited.
	Wallet string `json:"wallet,omitempty"`
	Amount uint64 `json:"amount"` // base units into the treasury
	DC     uint64 `json:"dc"`     // credited
	// Reason says why nobody was credited: failed, unreadable,
	// malformed_memo, no_transfer, overflow.
	Reason string `json:"reason,omitempty"`
	Ms     int64  `json:"ms"`
}

// watchDC polls the treasury every interval until ctx ends.
func (o *Oracle) watchDC(ctx context.Context) error {
	t := time.NewTicker(o.cfg.DCPollInterval)
	defer t.Stop()
	for {
		if err := o.scanDCPurchases(ctx); err != nil && ctx.Err() == nil {
			o.log.Warn("dc purchases: scan", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// scanDCPurchases records and credits every treasury transaction not yet
// recorded, oldest first; it stops at the first one not yet readable.
func (o *Oracle) scanDCPurchases(ctx context.Context) error {
	cursor, err := o.store.metaString(metaDCCursor)
	if err != nil {
		return err
	}
	sigs, err := o.dcChain.TreasurySignatures(ctx, o.reg.treasury, cursor)
	if err != nil {
		return err
	}
	for _, sig := range sigs {
		done, err := o.store.dcPurchaseKnown(sig)
		if err != nil {
			return err
		}
		if !done {
			tr, found, err := o.dcChain.TreasuryTransfer(ctx, sig, o.reg.treasury)
			if err != nil {
				return err
			}
			if !found {
				return nil // not finalized here yet: next scan
			}
			if _, err := o.creditPurchase(tr, o.now()); err != nil {
				return err
			}
		}
		if err := o.store.setMetaString(metaDCCursor, sig); err != nil {
			return err
		}
	}
	return nil
}

// creditPurchase records tr and credits its wallet, once per signature;
// credited is false when tr was recorded before. The credit is dated by
// the chain's block time, the same on every oracle whenever each read it
// (now when the node gives none).
func (o *Oracle) creditPurchase(tr solana.DCTransfer, now time.Time) (credited bool, err error) {
	ms := now.UnixMilli()
	if tr.BlockTime > 0 && tr.BlockTime < math.MaxInt64/1000 {
		ms = tr.BlockTime * 1000
	}
	p := DCPurchase{Signature: tr.Signature, Slot: tr.Slot, Amount: tr.Amount, Ms: ms}
	var wallet wire.PublicKey
	switch {
	case tr.Failed:
		p.Reason = "failed"
	case tr.Unreadable:
		p.Reason = "unreadable"
	case tr.Amount == 0:
		p.Reason = "no_transfer"
	case tr.HasMemo:
		k, err := wire.ParsePublicKey(tr.Memo)
		if err != nil {
			p.Reason = "malformed_memo"
		}
		wallet = k
	default:
		wallet = tr.Sender
	}
	if p.Reason == "" {
		if o.cfg.DCPerBaseUnit != 0 && tr.Amount > math.MaxUint64/o.cfg.DCPerBaseUnit {
			p.Reason = "overflow"
		} else {
			p.DC, p.Wallet = tr.Amount*o.cfg.DCPerBaseUnit, wallet.String()
		}
	}
	err = o.store.registryUpdate(func(txn *badger.Txn) error {
		prev, err := getValue(txn, dcPurchaseKey(tr.Signature))
		if err != nil || prev != nil {
			return err
		}
		if p.DC > 0 {
			if _, err := creditDC(txn, wallet[:], p.DC, p.Ms, dcPurchase, tr.Signature); err != nil {
				p.Reason, p.DC, p.Wallet = "overflow", 0, ""
			} else {
				credited = true
			}
		}
		return txn.Set(dcPurchaseKey(tr.Signature), encodeJSON(p))
	})
	if err != nil {
		return false, fmt.Errorf("record dc purchase %s: %w", tr.Signature, err)
	}
	if credited {
		o.m.registryChanges.WithLabelValues("dc_purchase", "ok").Inc()
		o.log.Info("dc purchased", "wallet", p.Wallet, "dc", p.DC, "signature", tr.Signature)
	} else if p.Reason != "" {
		o.m.registryChanges.WithLabelValues("dc_purchase", p.Reason).Inc()
	}
	return credited, nil
}

func (s *Store) dcPurchaseKnown(sig string) (bool, error) {
	var found bool
	err := s.db.View(func(txn *badger.Txn) error {
		b, err := getValue(txn, dcPurchaseKey(sig))
		found = b != nil
		return err
	})
	return found, err
}

// DCPurchaseRecord returns the record of transaction sig.
func (s *Store) DCPurchaseRecord(sig string) (DCPurchase, bool, error) {
	var p DCPurchase
	var found bool
	err := s.db.View(func(txn *badger.Txn) error {
		b, err := getValue(txn, dcPurchaseKey(sig))
		if err != nil || b == nil {
			return err
		}
		found = true
		return decodeJSON(b, &p)
	})
	return p, found, err
}

func (s *Store) metaString(name string) (string, error) {
	var v string
	err := s.db.View(func(txn *badger.Txn) error {
		b, err := getValue(txn, metaKey(name))
		v = string(b)
		return err
	})
	return v, err
}

func (s *Store) setMetaString(name, v string) error {
	return s.db.Update(func(txn *badger.Txn) error { return txn.Set(metaKey(name), []byte(v)) })
}

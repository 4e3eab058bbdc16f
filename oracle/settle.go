package oracle

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/wire"
)

// inputEntry is one report of an epoch's reconciled input: its id, kind
// and settled receive stamp (consensus.go).
type inputEntry struct {
	ID   [32]byte
	Kind wire.Kind
	Ms   int64
}

func cmpEntry(a, b inputEntry) int { return bytes.Compare(a.ID[:], b.ID[:]) }

// inputRoot commits to entries sorted by id: SHA-256 over id ‖ kind u8 ‖
// stamp i64 big-endian of each.
func inputRoot(entries []inputEntry) [32]byte {
	h := sha256.New()
	var b [41]byte
	for _, e := range entries {
		copy(b[:32], e.ID[:])
		b[32] = byte(e.Kind)
		binary.BigEndian.PutUint64(b[33:], uint64(e.Ms))
		h.Write(b[:])
	}
	return [32]byte(h.Sum(nil))
}

// reportKinds are the kinds that make up an epoch's input.
var reportKinds = []wire.Kind{wire.Kind_KIND_BEACON_REPORT, wire.Kind_KIND_WITNESS_REPORT, wire.Kind_KIND_PACKET_REPORT}

// candidates lists the reports stored with a stamp in [from, to), sorted
// by id: what this oracle holds for that part of an input. Reports a
// settled input left out are not listed (their time index is gone).
func (s *Store) candidates(from, to int64) ([]inputEntry, error) {
	var out []inputEntry
	var zero [32]byte
	err := s.db.View(func(txn *badger.Txn) error {
		for _, k := range reportKinds {
			err := s.scanIndex(txn, timePrefix(k), timeKey(k, from, zero), timeKey(k, to, zero), false, func(key, _ []byte) error {
				out = append(out, inputEntry{ID: [32]byte(key[10:]), Kind: k, Ms: int64(binary.BigEndian.Uint64(key[2:10]))})
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("input candidates: %w", err)
	}
	slices.SortFunc(out, cmpEntry)
	return out, nil
}

// agreedInput returns the input settled for epoch n: its reports sorted
// by id and the owners it counted as funded, sorted (nil when none was).
// Funded owners are stored under the same prefix with kind 0.
func (s *Store) agreedInput(n uint64) ([]inputEntry, [][32]byte, error) {
	var out []inputEntry
	var funded [][32]byte
	err := s.db.View(func(txn *badger.Txn) error {
		return s.scanIndex(txn, agreedPrefix(n), nil, nil, false, func(k, v []byte) error {
			if len(v) != 9 {
				return fmt.Errorf("agreed entry: %w", errCorrupt)
			}
			if v[0] == 0 {
				funded = append(funded, [32]byte(k[9:]))
				return nil
			}
			out = append(out, inputEntry{ID: [32]byte(k[9:]), Kind: wire.Kind(v[0]), Ms: int64(binary.BigEndian.Uint64(v[1:]))})
			return nil
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("agreed input %d: %w", n, err)
	}
	return out, funded, nil
}

// settleInput records entries (and the funded owners) as the settled
// input of epoch n over [from, to): every listed report's stored stamp becomes its settled stamp (its
// indexes move with it), and every report stored with a stamp in [from,
// to) that the input leaves out is excluded (its time index is removed, so
// no later input or scan sees it; the report itself stays, so a resend is
// still a duplicate). Every listed report must be stored. It is
// idempotent, and written in as many transactions as it needs: a crash
// part-way is repaired by running it again.
func (s *Store) settleInput(n uint64, from, to int64, entries []inputEntry, funded [][32]byte) error {
	held, err := s.candidates(from, to)
	if err != nil {
		return err
	}
	in := make(map[[32]byte]struct{}, len(entries))
	for _, e := range entries {
		in[e.ID] = struct{}{}
	}
	s.reportTxn.Lock()
	defer s.reportTxn.Unlock()
	w := &splitTxn{db: s.db, txn: s.db.NewTransaction(true)}
	defer func() { w.txn.Discard() }()
	for _, e := range entries {
		v := append([]byte{byte(e.Kind)}, u64(nil, uint64(e.Ms))...)
		if err := w.set(s.entry(agreedKey(n, e.ID), v)); err != nil {
			return fmt.Errorf("settle input %d: %w", n, err)
		}
		if err := s.restamp(w, e); err != nil {
			return fmt.Errorf("settle input %d: %w", n, err)
		}
	}
	for _, k := range funded {
		if err := w.set(s.entry(agreedKey(n, k), make([]byte, 9))); err != nil {
			return fmt.Errorf("settle input %d: %w", n, err)
		}
	}
	for _, h := range held {
		if _, ok := in[h.ID]; ok {
			continue
		}
		if err := w.set(s.entry(excludedKey(h.ID), u64(nil, n))); err != nil {
			return fmt.Errorf("settle input %d: %w", n, err)
		}
		if err := w.del(timeKey(h.Kind, h.Ms, h.ID)); err != nil {
			return fmt.Errorf("settle input %d: %w", n, err)
		}
	}
	if err := w.txn.Commit(); err != nil {
		return fmt.Errorf("settle input %d: %w", n, err)
	}
	return nil
}

func (w *splitTxn) del(k []byte) error {
	err := w.txn.Delete(k)
	if errors.Is(err, badger.ErrTxnTooBig) {
		if err := w.txn.Commit(); err != nil {
			return err
		}
		w.txn = w.db.NewTransaction(true)
		err = w.txn.Delete(k)
	}
	return err
}

// adoptEarlier gives a stored report the earlier stamp e.Ms when its own
// stamp is later and not before unsettledFrom (so never a settled one).
func (s *Store) adoptEarlier(e inputEntry, unsettledFrom int64) error {
	s.reportTxn.Lock()
	defer s.reportTxn.Unlock()
	w := &splitTxn{db: s.db, txn: s.db.NewTransaction(true)}
	defer func() { w.txn.Discard() }()
	b, err := getValue(w.txn, reportKey(e.ID))
	if err != nil || b == nil {
		return err
	}
	v, err := decodeReport(b)
	if err != nil {
		return err
	}
	if v.ReceivedMs <= e.Ms || v.ReceivedMs < unsettledFrom || e.Ms < unsettledFrom {
		return nil
	}
	if err := s.restamp(w, e); err != nil {
		return err
	}
	return w.txn.Commit()
}

// restamp moves a stored report to stamp e.Ms, with its indexes.
func (s *Store) restamp(w *splitTxn, e inputEntry) error {
	b, err := getValue(w.txn, reportKey(e.ID))
	if err != nil {
		return err
	}
	if b == nil {
		return fmt.Errorf("report %x of the input is not stored", e.ID[:8])
	}
	v, err := decodeReport(b)
	if err != nil {
		return err
	}
	if v.ReceivedMs == e.Ms && v.Kind == e.Kind {
		return nil
	}
	signer, payload, err := reportIndexFields(v)
	if err != nil {
		return err
	}
	old := v.ReceivedMs
	v.ReceivedMs = e.Ms
	dels := [][]byte{timeKey(v.Kind, old, e.ID), byHotspotKey(signer, v.Kind, old, e.ID)}
	sets := []*badger.Entry{s.entry(reportKey(e.ID), encodeReport(v)), s.entry(timeKey(v.Kind, e.Ms, e.ID), nil),
		s.entry(byHotspotKey(signer, v.Kind, e.Ms, e.ID), nil)}
	if payload != nil {
		dels = append(dels, witnessPayKey(payload, old, e.ID))
		sets = append(sets, s.entry(witnessPayKey(payload, e.Ms, e.ID), nil))
	}
	for _, k := range dels {
		if err := w.del(k); err != nil {
			return err
		}
	}
	for _, x := range sets {
		if err := w.set(x); err != nil {
			return err
		}
	}
	return nil
}

// reportIndexFields returns what a stored report's indexes are keyed by:
// its signer and, for witnesses, the beacon payload heard.
func reportIndexFields(v reportValue) (signer, payload []byte, err error) {
	var env wire.Envelope
	if err := proto.Unmarshal(v.Envelope, &env); err != nil {
		return nil, nil, fmt.Errorf("stored envelope: %w", errCorrupt)
	}
	k := env.SignerKey()
	signer = k[:]
	if v.Kind == wire.Kind_KIND_WITNESS_REPORT {
		var wr wire.WitnessReport
		if err := proto.Unmarshal(env.GetBody(), &wr); err != nil {
			return nil, nil, fmt.Errorf("stored witness: %w", errCorrupt)
		}
		if len(wr.GetPayload()) == payloadLen {
			payload = wr.GetPayload()
		}
	}
	return signer, payload, nil
}

var errNotStored = errors.New("report not stored")

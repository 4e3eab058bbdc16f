package oracle

// Registry changes (onboardings, location assertions, organization changes
// and data-credit grants) are signed requests, and each takes effect at
// the time its signer stamped into it, not when an oracle received it: two
// oracles that applied the same changes hold the same registry, ledgers
// and routes at every epoch's start, whenever each received them. A live
// request must be stamped within registrySkew of the oracle's clock, which
// is less than an epoch, so every change effective before an epoch's start
// has arrived before any oracle computes that epoch (an epoch's input is
// read a whole epoch after its start).
//
// Every applied change is kept in the change log (0x34), keyed by its
// effective time and id (SHA-256 of the request). A proposal commits to
// the log's entries effective before the epoch's start
// (InputRef.changes_root); a peer whose log differs lists the proposer's,
// fetches the changes it lacks and applies each as if received live (every
// signature, owner, nonce and fee checked; only the clock and the rate
// limits are not), and pushes the proposer the changes the proposer lacks
// (consensus.go). So a change sent to one oracle only reaches every oracle
// by the next epoch's agreement, and the CLI need not reach them all.
//
// No change takes effect before the start of the last epoch an oracle has
// settled: that epoch's registry is agreed and the list a later catch-up
// fetches for it must not grow.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/wire"
)

// requestMaxSkew bounds how far a signed registry request's timestamp may
// be from the oracle's clock (routing.md §3); registrySkew lowers it to a
// quarter of the epoch.
const requestMaxSkew = 10 * time.Minute

// registrySkew is how far a live change's timestamp may be from the clock.
func (o *Oracle) registrySkew() time.Duration {
	return min(requestMaxSkew, o.params.EpochLength/4)
}

// changeMs checks a change's signed timestamp and returns it as the
// change's effective time (Unix ms). Live, it must be within registrySkew
// of now; replayed from another oracle, not later than that after now.
// Either way it must not be before the last settled epoch's start.
func (o *Oracle) changeMs(tsMs uint64, now time.Time, replay bool) (int64, error) {
	if tsMs == 0 {
		return 0, apiErr(400, "bad_request", "the change carries no timestamp")
	}
	ms := int64(min(tsMs, math.MaxInt64))
	ts, skew := time.UnixMilli(ms), o.registrySkew()
	if d := now.Sub(ts); d < -skew || (!replay && d > skew) {
		return 0, apiErr(400, "stale_request", "timestamp %s is more than %s from the oracle's clock", ts.UTC().Format(time.RFC3339Nano), skew)
	}
	settled, err := o.lastSettled()
	if err != nil {
		return 0, err
	}
	if floor := o.params.EpochStart(settled); settled > 0 && ms < floor {
		return 0, apiErr(409, "stale_request", "timestamp %s is before epoch %d, whose registry is settled", ts.UTC().Format(time.RFC3339Nano), settled)
	}
	return ms, nil
}

// changeEntry is one entry of the change log.
type changeEntry struct {
	Ms   int64
	ID   [32]byte
	Kind wire.Kind
}

// changeRefLen is the length of a change's reference on the wire: ms ‖ id.
const changeRefLen = 8 + idLen

// ref is how peers name the entry: ms u64 ‖ id.
func (e changeEntry) ref() []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(e.Ms)), e.ID[:]...)
}

func cmpChange(a, b changeEntry) int {
	if c := bytes.Compare(a.ref(), b.ref()); c != 0 {
		return c
	}
	return int(a.Kind) - int(b.Kind)
}

// changesRoot commits to the entries, in log order.
func changesRoot(es []changeEntry) [32]byte {
	h := sha256.New()
	for _, e := range es {
		h.Write(e.ref())
		h.Write([]byte{byte(e.Kind)})
	}
	return [32]byte(h.Sum(nil))
}

func changeOfKey(k []byte) (changeEntry, error) {
	if len(k) != changeKeyLen {
		return changeEntry{}, errCorrupt
	}
	return changeEntry{Ms: int64(binary.BigEndian.Uint64(k[1:9])), ID: [32]byte(k[9 : 9+idLen]), Kind: wire.Kind(k[changeKeyLen-1])}, nil
}

// logChange records an applied change in txn.
func logChange(txn *badger.Txn, ms int64, kind wire.Kind, raw []byte) error {
	return txn.Set(changeKey(ms, sha256.Sum256(raw), kind), raw)
}

// changesBefore lists the change log's entries effective before ms, in
// log order (keys only: the requests stay on disk).
func (s *Store) changesBefore(ms int64) ([]changeEntry, error) {
	out, _, err := s.changesPage(ms, nil, math.MaxInt)
	return out, err
}

// changesPage lists at most limit entries effective before ms that follow
// the reference after (ms ‖ id; empty: from the start), and whether more
// follow.
func (s *Store) changesPage(ms int64, after []byte, limit int) ([]changeEntry, bool, error) {
	var out []changeEntry
	more := false
	stop := u64([]byte{prefixChange}, uint64(max(ms, 0)))
	// Every key of the entry after names sorts before this seek key.
	seek := append(append([]byte{prefixChange}, after...), 0xFF)
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixChange}})
		defer it.Close()
		if len(after) == 0 {
			it.Rewind()
		} else {
			it.Seek(seek)
		}
		for ; it.Valid(); it.Next() {
			k := it.Item().Key()
			if bytes.Compare(k, stop) >= 0 {
				break
			}
			if len(out) == limit {
				more = true
				break
			}
			e, err := changeOfKey(k)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("change log: %w", err)
	}
	return out, more, nil
}

// changeRequest returns the signed request logged under ref (ms ‖ id) and
// its kind.
func (s *Store) changeRequest(ref []byte) (wire.Kind, []byte, bool, error) {
	var kind wire.Kind
	var raw []byte
	if len(ref) != changeRefLen {
		return 0, nil, false, errors.New("change reference of the wrong length")
	}
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: append([]byte{prefixChange}, ref...), PrefetchValues: true})
		defer it.Close()
		it.Rewind()
		if !it.Valid() {
			return nil
		}
		e, err := changeOfKey(it.Item().Key())
		if err != nil {
			return err
		}
		kind = e.Kind
		raw, err = it.Item().ValueCopy(nil)
		return err
	})
	return kind, raw, raw != nil, err
}

// changesDigest is the count and root of the change log's entries before
// ms, cached until the registry changes.
type changesDigest struct {
	before int64
	count  uint64
	root   [32]byte
}

func (o *Oracle) changesDigestAt(ms int64) (changesDigest, error) {
	if d, err := o.changesCache.get(o.store, func() (changesDigest, error) { return o.digestChanges(ms) }); err != nil || d.before == ms {
		return d, err
	}
	return o.digestChanges(ms) // another epoch's: not cached
}

func (o *Oracle) digestChanges(ms int64) (changesDigest, error) {
	es, err := o.store.changesBefore(ms)
	if err != nil {
		return changesDigest{}, err
	}
	return changesDigest{before: ms, count: uint64(len(es)), root: changesRoot(es)}, nil
}

// maxChangeSize bounds a change request another oracle serves or pushes.
const maxChangeSize = 64 << 10

// changeEntryOf is the log entry a change request would be logged as,
// read from its signed content (the signatures are checked when it is
// applied), and the request's nonce (0 for kinds without one).
func changeEntryOf(kind wire.Kind, raw []byte) (changeEntry, uint64, error) {
	e, nonce, err := readChange(kind, raw)
	if err != nil {
		return changeEntry{}, 0, fmt.Errorf("%v request: %w", kind, err)
	}
	return e, nonce, nil
}

func readChange(kind wire.Kind, raw []byte) (changeEntry, uint64, error) {
	if len(raw) > maxChangeSize {
		return changeEntry{}, 0, fmt.Errorf("%d bytes", len(raw))
	}
	var ts, nonce uint64
	switch kind {
	case wire.Kind_KIND_ONBOARD:
		var req OnboardRequest
		if err := json.Unmarshal(raw, &req); err != nil {
			return changeEntry{}, 0, err
		}
		if !bytes.Equal(encodeJSON(req), raw) {
			return changeEntry{}, 0, errors.New("not in its logged encoding")
		}
		var ob wire.Onboard
		if err := proto.Unmarshal(req.Onboard, &ob); err != nil {
			return changeEntry{}, 0, err
		}
		ts = ob.GetTimestampMs()
	case wire.Kind_KIND_ASSERT_LOCATION, wire.Kind_KIND_ORG_CHANGE, wire.Kind_KIND_DC_GRANT:
		env, err := wire.Open(raw, kind)
		if err != nil {
			return changeEntry{}, 0, err
		}
		var msg interface {
			proto.Message
			GetTimestampMs() uint64
			GetNonce() uint64
		}
		switch kind {
		case wire.Kind_KIND_ASSERT_LOCATION:
			msg = new(wire.AssertLocation)
		case wire.Kind_KIND_ORG_CHANGE:
			msg = new(wire.OrgChange)
		default:
			msg = grantNonce{new(wire.DCGrant)}
		}
		if err := proto.Unmarshal(env.Body, msg); err != nil {
			return changeEntry{}, 0, err
		}
		ts, nonce = msg.GetTimestampMs(), msg.GetNonce()
	default:
		return changeEntry{}, 0, errors.New("not a registry change")
	}
	return changeEntry{Ms: int64(min(ts, math.MaxInt64)), ID: sha256.Sum256(raw), Kind: kind}, nonce, nil
}

// grantNonce gives grants, which have none, a zero nonce.
type grantNonce struct{ *wire.DCGrant }

func (grantNonce) GetNonce() uint64 { return 0 }

// applyRank orders the kinds of changes that share a millisecond when they
// are replayed: credits first, a hotspot's onboarding before its
// assertion, then organizations' changes (in nonce order).
func applyRank(k wire.Kind) int {
	switch k {
	case wire.Kind_KIND_DC_GRANT:
		return 0
	case wire.Kind_KIND_ONBOARD:
		return 1
	case wire.Kind_KIND_ASSERT_LOCATION:
		return 2
	default:
		return 3
	}
}

// applyChange applies a change another oracle served or pushed, with every
// check of a live request but the clock's and the rate limits.
func (o *Oracle) applyChange(kind wire.Kind, raw []byte) error {
	now := o.now()
	var err error
	switch kind {
	case wire.Kind_KIND_ONBOARD:
		var req OnboardRequest
		if err = json.Unmarshal(raw, &req); err == nil {
			_, err = o.onboardAt(req, now, true)
		}
	case wire.Kind_KIND_ASSERT_LOCATION:
		_, err = o.assertLocationAt(raw, now, true)
	case wire.Kind_KIND_ORG_CHANGE:
		_, err = o.applyOrgChangeAt(raw, now, true)
	case wire.Kind_KIND_DC_GRANT:
		_, err = o.applyGrantAt(raw, now, true)
	default:
		err = fmt.Errorf("%v is not a registry change", kind)
	}
	return err
}

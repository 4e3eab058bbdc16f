package oracle

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/hexfield/hexfield/maps"
	"github.com/hexfield/hexfield/verifier"
	"github.com/hexfield/hexfield/wire"
)

// PoCRecord is a verified beacon with its witnesses, as stored
// (prefixPoC) and served by /v1/pocs.
type PoCRecord struct {
	Beacon        string          `json:"beacon"` // report id, hex
	Beaconer      wire.PublicKey  `json:"beaconer"`
	ReceivedMs    int64           `json:"received_ms"`
	Epoch         uint64          `json:"epoch"`
	Valid         bool            `json:"valid"`
	Reason        verifier.Reason `json:"reason"`
	Selected      int             `json:"selected"`
	BeaconerUnits uint32          `json:"beaconer_units"`
	WitnessUnits  uint32          `json:"witness_units"`
	Witnesses     []WitnessRecord `json:"witnesses"`
	VerifiedMs    int64           `json:"verified_ms"`
}

// WitnessRecord is one witness outcome of a PoC.
type WitnessRecord struct {
	ID         string          `json:"id"`
	Hotspot    wire.PublicKey  `json:"hotspot"`
	ReceivedMs int64           `json:"received_ms"`
	Valid      bool            `json:"valid"`
	Reason     verifier.Reason `json:"reason"`
	Side       string          `json:"side,omitempty"` // "witness" or "beaconer" for invalid ones
	Selected   bool            `json:"selected"`
	DistanceM  float64         `json:"distance_m"`
}

func pocRecord(p verifier.PoC, epoch uint64, now int64) PoCRecord {
	r := PoCRecord{
		Beacon: hex.EncodeToString(p.Beacon[:]), Beaconer: p.Beaconer, ReceivedMs: p.ReceivedMs, Epoch: epoch,
		Valid: p.Reason == verifier.ReasonNone, Reason: p.Reason, Selected: p.Selected,
		BeaconerUnits: p.BeaconerUnits, WitnessUnits: p.WitnessUnits, Witnesses: []WitnessRecord{}, VerifiedMs: now,
	}
	for _, w := range p.Witnesses {
		wr := WitnessRecord{ID: hex.EncodeToString(w.ID[:]), Hotspot: w.Hotspot, ReceivedMs: w.ReceivedMs,
			Valid: w.Reason == verifier.ReasonNone, Reason: w.Reason, Selected: w.Selected, DistanceM: w.DistanceM}
		switch w.Side {
		case verifier.SideWitness:
			wr.Side = "witness"
		case verifier.SideBeaconer:
			wr.Side = "beaconer"
		}
		r.Witnesses = append(r.Witnesses, wr)
	}
	return r
}

// maxVerifyBatch bounds the beacons verified in one run of the loop
// (Oracle.verifyMax).
const maxVerifyBatch = 20000

// runVerifier verifies beacons whose witness window has closed, every
// VerifyInterval, until ctx ends.
func (o *Oracle) runVerifier(ctx context.Context) error {
	t := time.NewTicker(o.cfg.VerifyInterval)
	defer t.Stop()
	for {
		more, err := o.verifyRun(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			o.log.Error("verify beacons", "err", err)
		}
		if more && err == nil {
			continue // a backlog: go on at once
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// verifyClosed verifies every beacon received in [cursor, now − entropy
// lifetime − slack), stores the outcomes and moves the cursor, all in one
// transaction per run, so a crash repeats at most one run (outcomes are
// keyed by beacon, so repeating is harmless).
func (o *Oracle) verifyClosed(ctx context.Context) error {
	_, err := o.verifyRun(ctx)
	return err
}

// verifyRun is one run of verifyClosed; more reports whether it stopped at
// maxVerifyBatch with closed beacons left.
func (o *Oracle) verifyRun(ctx context.Context) (more bool, err error) {
	p := o.params
	cursor, _, err := o.store.getMetaU64(metaVerifyCursor)
	if err != nil {
		return false, err
	}
	upto := o.now().Add(-o.cfg.EntropyLifetime - o.cfg.WitnessWindowSlack).UnixMilli()
	if upto <= int64(cursor) {
		return false, nil
	}
	// At most verifyMax beacons per run (plus any sharing the last one's
	// millisecond), so a backlog is worked off in bounded steps.
	var beacons []verifier.Beacon
	n := 0
	err = o.store.ScanReports(wire.Kind_KIND_BEACON_REPORT, int64(cursor), upto, func(r StoredReport) error {
		if n >= o.verifyMax && r.ReceivedMs > beacons[len(beacons)-1].ReceivedMs {
			upto, more = r.ReceivedMs, true
			return errStop
		}
		n++
		if b, ok := decodeBody(r, new(wire.BeaconReport)); ok {
			beacons = append(beacons, verifier.Beacon{ID: r.ID, ReceivedMs: r.ReceivedMs, Report: b})
		} else {
			n-- // undecodable (never stored by ingest); not counted
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	var records []PoCRecord
	var coverage []maps.Observation
	// Beacons of one epoch share a registry snapshot and a history.
	for len(beacons) > 0 {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		ep := p.EpochOf(beacons[0].ReceivedMs)
		n := 0
		for n < len(beacons) && p.EpochOf(beacons[n].ReceivedMs) == ep {
			n++
		}
		recs, cov, err := o.verifyBatch(ep, beacons[:n])
		if err != nil {
			return false, err
		}
		records = append(records, recs...)
		coverage = append(coverage, cov...)
		beacons = beacons[n:]
	}
	seq, err := o.store.putPoCs(records, uint64(upto), coverage)
	if err != nil {
		return false, fmt.Errorf("store pocs: %w", err)
	}
	if seq > 0 {
		// The map is not consensus: verification goes on if this fails,
		// and the batch stays journalled for the next start.
		if err := o.maps.FoldBatch(coverage, seq); err != nil {
			o.log.Error("coverage map", "err", err)
		} else if err := o.store.dropMapsJournal(seq); err != nil {
			o.log.Error("coverage map journal", "err", err)
		}
	}
	for _, r := range records {
		o.m.pocs.WithLabelValues(r.Reason.String()).Inc()
		for _, w := range r.Witnesses {
			o.m.witnesses.WithLabelValues(w.Reason.String()).Inc()
		}
	}
	return more, nil
}

// verifyBatch verifies beacons of one epoch, sorted by received_ms.
// It also returns the map observations of the valid witnesses.
func (o *Oracle) verifyBatch(epoch uint64, beacons []verifier.Beacon) ([]PoCRecord, []maps.Observation, error) {
	p := o.params
	snap, err := o.store.registryAt(p.EpochStart(epoch))
	if err != nil {
		return nil, nil, err
	}
	hs := make([]verifier.Hotspot, len(snap))
	for i, r := range snap {
		hs[i] = toVerifierHotspot(r)
	}
	reg, err := verifier.NewRegistry(hs)
	if err != nil {
		return nil, nil, err
	}
	// The history covers reciprocity before the first beacon and the
	// witness window after the last (verifier.NewHistory).
	life := p.EntropyLifetime.Milliseconds()
	iv := p.BeaconInterval.Milliseconds()
	from := beacons[0].ReceivedMs - p.Reciprocity.Milliseconds() - life
	from = max(0, from-((from%iv)+iv)%iv)
	to := beacons[len(beacons)-1].ReceivedMs + life + o.cfg.WitnessWindowSlack.Milliseconds() + 1
	var hb []verifier.Beacon
	var hw []verifier.Witness
	err = o.store.ScanReports(wire.Kind_KIND_BEACON_REPORT, from, to, func(r StoredReport) error {
		if b, ok := decodeBody(r, new(wire.BeaconReport)); ok {
			hb = append(hb, verifier.Beacon{ID: r.ID, ReceivedMs: r.ReceivedMs, Report: b})
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	err = o.store.ScanReports(wire.Kind_KIND_WITNESS_REPORT, from, to, func(r StoredReport) error {
		if w, ok := decodeBody(r, new(wire.WitnessReport)); ok {
			hw = append(hw, verifier.Witness{ID: r.ID, ReceivedMs: r.ReceivedMs, Report: w})
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	hist := verifier.NewHistory(p, reg, hb, hw)
	now := o.now().UnixMilli()
	out := make([]PoCRecord, 0, len(beacons))
	var cov []maps.Observation
	for _, b := range beacons {
		stored, err := o.store.WitnessesOf(b.Report.GetPayload())
		if err != nil {
			return nil, nil, err
		}
		ws := make([]verifier.Witness, 0, len(stored))
		for _, r := range stored {
			if w, ok := decodeBody(r, new(wire.WitnessReport)); ok {
				ws = append(ws, verifier.Witness{ID: r.ID, ReceivedMs: r.ReceivedMs, Report: w})
			}
		}
		poc := verifier.VerifyPoC(p, b, ws, reg, hist)
		out = append(out, pocRecord(poc, epoch, now))
		cov = append(cov, coverageOf(poc, ws, reg)...)
	}
	return out, cov, nil
}

// putPoCs stores PoC outcomes with their per-hotspot index and moves the
// verification cursor, in one transaction; with them, the batch's map
// observations cov go to the map journal, whose batch number it returns
// (0 when cov is empty). The transaction is split only where Badger
// refuses one so big, and the cursor and journal go in the last part: a
// crash replays the whole batch.
func (s *Store) putPoCs(recs []PoCRecord, cursor uint64, cov []maps.Observation) (uint64, error) {
	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	set := func(e *badger.Entry) error {
		err := txn.SetEntry(e)
		if err == badger.ErrTxnTooBig {
			if err := txn.Commit(); err != nil {
				return err
			}
			txn = s.db.NewTransaction(true)
			err = txn.SetEntry(e)
		}
		return err
	}
	for _, r := range recs {
		var id [32]byte
		if _, err := hex.Decode(id[:], []byte(r.Beacon)); err != nil {
			return 0, err
		}
		if err := set(s.entry(pocKey(r.ReceivedMs, id), encodeJSON(r))); err != nil {
			return 0, err
		}
		if err := set(s.entry(pocByHotspotKey(r.Beaconer[:], r.ReceivedMs, id), []byte{roleBeaconer})); err != nil {
			return 0, err
		}
		for _, w := range r.Witnesses {
			if err := set(s.entry(pocByHotspotKey(w.Hotspot[:], r.ReceivedMs, id), []byte{roleWitness})); err != nil {
				return 0, err
			}
		}
	}
	var seq uint64
	if len(cov) > 0 {
		b, err := getValue(txn, metaKey(metaMapsSeq))
		if err != nil {
			return 0, err
		}
		if len(b) == 8 {
			seq = binary.BigEndian.Uint64(b)
		}
		seq++
		if err := set(badger.NewEntry(mapsJournalKey(seq), encodeJSON(cov))); err != nil {
			return 0, err
		}
		if err := set(badger.NewEntry(metaKey(metaMapsSeq), u64(nil, seq))); err != nil {
			return 0, err
		}
	}
	if err := set(badger.NewEntry(metaKey(metaVerifyCursor), u64(nil, cursor))); err != nil {
		return 0, err
	}
	return seq, txn.Commit()
}

// mapsJournal calls fn for every journalled map batch, oldest first.
func (s *Store) mapsJournal(fn func(seq uint64, cov []maps.Observation) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		return s.scanIndex(txn, []byte{prefixMapsJournal}, nil, nil, false, func(k, v []byte) error {
			if len(k) != 9 {
				return errCorrupt
			}
			var cov []maps.Observation
			if err := decodeJSON(v, &cov); err != nil {
				return err
			}
			return fn(binary.BigEndian.Uint64(k[1:]), cov)
		})
	})
}

// dropMapsJournal deletes the journalled map batches up to seq (folded
// into the map and flushed).
func (s *Store) dropMapsJournal(seq uint64) error {
	return s.db.Update(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixMapsJournal}})
		defer it.Close()
		var keys [][]byte
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().KeyCopy(nil)
			if len(k) != 9 || binary.BigEndian.Uint64(k[1:]) > seq {
				break
			}
			keys = append(keys, k)
		}
		for _, k := range keys {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// pocFilter selects PoCs for /v1/pocs.
type pocFilter struct {
	hotspot *wire.PublicKey
	fromMs  int64
	toMs    int64
	valid   *bool
	reason  *verifier.Reason
	limit   int
}

func (f pocFilter) match(r PoCRecord) bool {
	if f.valid != nil && r.Valid != *f.valid {
		return false
	}
	if f.reason != nil {
		hit := r.Reason == *f.reason
		for _, w := range r.Witnesses {
			hit = hit || w.Reason == *f.reason
		}
		if !hit {
			return false
		}
	}
	return true
}

// pocs returns the newest PoCs matching f.
func (s *Store) pocs(f pocFilter) ([]PoCRecord, error) {
	var out []PoCRecord
	var zero [32]byte
	err := s.db.View(func(txn *badger.Txn) error {
		var prefix, start, stop []byte
		if f.hotspot != nil {
			prefix = append([]byte{prefixPoCByHs}, f.hotspot[:]...)
			start = pocByHotspotKey(f.hotspot[:], f.fromMs, zero)
			stop = pocByHotspotKey(f.hotspot[:], f.toMs, zero)
		} else {
			prefix = []byte{prefixPoC}
			start, stop = pocKey(f.fromMs, zero), pocKey(f.toMs, zero)
		}
		return s.scanIndex(txn, prefix, start, stop, true, func(k, v []byte) error {
			if f.hotspot != nil {
				var id [32]byte
				copy(id[:], k[len(k)-32:])
				ms := int64(decodeU64(k[len(k)-40 : len(k)-32]))
				var err error
				if v, err = getValue(txn, pocKey(ms, id)); err != nil || v == nil {
					return err
				}
			}
			var r PoCRecord
			if err := decodeJSON(v, &r); err != nil {
				return err
			}
			if f.match(r) {
				out = append(out, r)
			}
			if len(out) >= f.limit {
				return errStop
			}
			return nil
		})
	})
	return out, err
}

func (o *Oracle) handlePoCs(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := pocFilter{limit: 100, toMs: 1 << 62}
	if s := q.Get("hotspot"); s != "" {
		hs, err := parseAddress(s, "hotspot")
		if err != nil {
			return err
		}
		f.hotspot = &hs
	}
	var err error
	if f.fromMs, err = queryInt64(r, "from", 0); err != nil {
		return err
	}
	if f.toMs, err = queryInt64(r, "to", 1<<62); err != nil {
		return err
	}
	if f.fromMs < 0 || f.toMs < f.fromMs {
		return apiErr(400, "bad_request", "need 0 <= from <= to (Unix ms)")
	}
	lim, err := queryInt64(r, "limit", 100)
	if err != nil {
		return err
	}
	if lim < 1 || lim > 1000 {
		return apiErr(400, "bad_request", "limit must be 1..1000")
	}
	f.limit = int(lim)
	switch q.Get("valid") {
	case "":
	case "true", "false":
		v := q.Get("valid") == "true"
		f.valid = &v
	default:
		return apiErr(400, "bad_request", "valid must be true or false")
	}
	if s := q.Get("reason"); s != "" {
		rs, err := verifier.ParseReason(s)
		if err != nil {
			return apiErr(400, "bad_request", "unknown reason %q", s)
		}
		f.reason = &rs
	}
	recs, err := o.store.pocs(f)
	if err != nil {
		return err
	}
	if recs == nil {
		recs = []PoCRecord{}
	}
	writeJSON(w, 200, recs)
	return nil
}

// witnessStats summarises a hotspot's verified PoCs since sinceMs.
func (o *Oracle) witnessStats(hs wire.PublicKey, sinceMs int64) (WitnessStats, error) {
	st := WitnessStats{Reasons: map[string]int{}}
	recs, err := o.store.pocs(pocFilter{hotspot: &hs, fromMs: sinceMs, toMs: 1 << 62, limit: 100000})
	if err != nil {
		return st, err
	}
	for _, r := range recs {
		if r.Beaconer == hs {
			st.BeaconsVerified++
			for _, w := range r.Witnesses {
				if w.Valid {
					st.ValidWitnessed++
				}
			}
			continue
		}
		for _, w := range r.Witnesses {
			if w.Hotspot != hs {
				continue
			}
			if w.Valid {
				st.Valid++
			} else {
				st.Invalid++
				st.Reasons[w.Reason.String()]++
			}
		}
	}
	return st, nil
}

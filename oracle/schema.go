package oracle

// This file is the oracle's whole storage schema: every Badger key prefix,
// the layout of its key, the encoding of its value, the schema version and
// the migrations between versions. Nothing else in the package builds keys
// or decodes stored values by hand.
//
// All integers in keys are big-endian so that Badger's byte order is the
// numeric order. Times are Unix milliseconds (received_ms) or seconds
// (entropy ts), stored as uint64.
//
//	prefix  key layout (after the prefix byte)            value
//	0x01    meta name (ASCII)                             see meta* names below
//	0x10    report id[32]                                 reportValue: kind u8 ‖ received_ms u64 ‖ envelope
//	0x11    kind u8 ‖ received_ms u64 ‖ id[32]            empty                       (time index)
//	0x12    payload[51] ‖ received_ms u64 ‖ id[32]        empty                       (witnesses of a beacon payload)
//	0x13    signer[32] ‖ kind u8 ‖ received_ms u64 ‖ id   empty                       (reports of one hotspot)
//	0x14    signer[32] ‖ kind u8 ‖ res u8 ‖ bucket u64   count u64                   (reports of one hotspot per minute/hour)
//	0x20    ts u64 (Unix seconds)                         signed Entropy envelope bytes (kept forever)
//	0x30    hotspot key[32]                               JSON hotspotRecord (current registry state)
//	0x31    hotspot key[32] ‖ effective_ms u64            JSON hotspotRecord (every version, for snapshots)
//	0x32    owner[32] ‖ hotspot key[32]                   empty                       (hotspots of an owner)
//	0x33    hotspot key[32] ‖ ms u64 ‖ kind u8            signed request bytes        (registry audit log)
//	0x34    effective_ms u64 ‖ id[32] ‖ kind u8           signed request bytes        (change log: every applied registry change, changes.go)
//	0x40    route id (UTF-8)                              JSON Route (of one organization)
//	0x41    org id (UTF-8)                                JSON orgRecord
//	0x42    DevAddr block start u32                       org id          (allocated blocks of 8 DevAddrs)
//	0x43    org id ‖ 0x00 ‖ nonce u64                     signed OrgChange envelope (organization audit log)
//	0x44    route table version u64                       JSON routeChange (what the version changed: route ids, payer wallets; the last routeHistoryLen kept)
//	0x45    org id ‖ 0x00 ‖ effective_ms u64              JSON orgVersion (the organization and its routes after each change, for charging snapshots)
//	0x50    beacon received_ms u64 ‖ beacon id[32]        JSON pocRecord (verification outcome)
//	0x51    hotspot[32] ‖ received_ms u64 ‖ beacon id[32] role u8 (1 beaconer, 2 witness)
//	0x60    epoch u64                                     JSON epochRecord (state machine)
//	0x61    epoch u64                                     canonical manifest bytes
//	0x62    epoch u64 ‖ id[32]                            kind u8 ‖ stamp u64        (the input settled for an epoch, consensus.go; kind 0: id is an owner counted as funded)
//	0x63    id[32]                                        epoch u64                  (reports a settled input left out)
//	0x70    wallet[32]                                    JSON dcAccount  (a wallet's data credits)
//	0x71    wallet[32] ‖ seq u64                          JSON dcEntry    (every credit and debit of a wallet)
//	0x72    grant request id (16–32 bytes)                JSON dcEntry    (operator grants applied, once each)
//	0x73    transaction signature (base58)                JSON DCPurchase (treasury transactions read, once each)
//	0x80    maps key (package maps' layout, maps/codec.go) the coverage map's cells and hotspot activity
//	0x81    batch seq u64                                 JSON []maps.Observation (map journal: verified coverage not yet folded into 0x80)
//
// The meta value route_table is table_id[16] ‖ version u64: the route table
// hotspots get (routetable.go) is bumped in the transaction of every route
// change, payer change and lock change (a payer's balance crossing what one
// copy costs), and 0x44 holds what each recent version changed.
//
// Reports and their indexes (0x10–0x13), settled inputs (0x62–0x63) and PoC outcomes (0x50–0x51) carry a
// Badger TTL equal to the retention setting; Badger's compaction drops them
// and the sweeper runs value-log GC. Entropy, registry, organizations,
// routes, data-credit ledgers and epochs are kept forever.
//
// Hotspot counters (0x14) count the reports of each hotspot and kind per
// UTC minute (res 1, bucket = received_ms / 60 000) and per hour (res 2,
// bucket = received_ms / 3 600 000). They are written in the transaction
// that writes the reports they count, so they are exact after any crash.
// Report transactions add to them by read-modify-write without conflict
// detection, which is safe because they are prepared one at a time
// (Store.reportTxn) and Badger starts a transaction only once every
// earlier commit is applied or failed (its read timestamp waits for them),
// so each sees every earlier batch's counts. Counters carry a TTL of
// counterTTL, long enough for the 24-hour figures of
// GET /v1/hotspots/{address}.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/hexfield/hexfield/wire"
)

// SchemaVersion is the version of the layout above. Bump it on any
// incompatible change and add a migration from the previous version.
//
// History:
//   - 1 (2026-11-21): first layout.
//   - 2 (2026-12-01): per-hotspot report counters (0x14), backfilled from
//     the hotspot index (0x13); organizations (0x41–0x43) and data-credit
//     ledgers per wallet (0x70–0x73): routes belong to an organization and
//     no longer hold a balance, so version-1 routes (admin-made, owned by
//     nobody) are dropped.
//   - 3 (2026-12-02): the route table's meta route_table and its history
//     0x44 (added first without a bump: a store without them starts the
//     route table at version 0). Registry changes take effect at their signed
//     timestamp (hotspot versions 0x31 and ledger entries written since are
//     dated so), and every applied change is kept in the change log (0x34)
//     that oracles reconcile; backfilled from the registry and
//     organization audit logs (0x33, 0x43), dated by the request's signed
//     timestamp where it has one; organizations and their routes are
//     versioned (0x45) for the charging snapshot of an epoch's start,
//     backfilled with one version per organization at its last change.
const SchemaVersion = 3

const (
	prefixMeta        byte = 0x01
	prefixReport      byte = 0x10
	prefixTime        byte = 0x11
	prefixWitnessPay  byte = 0x12
	prefixByHotspot   byte = 0x13
	prefixCounter     byte = 0x14
	prefixEntropy     byte = 0x20
	prefixHotspot     byte = 0x30
	prefixHotspotVer  byte = 0x31
	prefixOwner       byte = 0x32
	prefixRegistryLog byte = 0x33
	prefixChange      byte = 0x34
	prefixRoute       byte = 0x40
	prefixOrg         byte = 0x41
	prefixDevAddr     byte = 0x42
	prefixOrgLog      byte = 0x43
	prefixRouteHist   byte = 0x44
	prefixOrgVer      byte = 0x45
	prefixPoC         byte = 0x50
	prefixPoCByHs     byte = 0x51
	prefixEpoch       byte = 0x60
	prefixManifest    byte = 0x61
	prefixAgreed      byte = 0x62
	prefixExcluded    byte = 0x63
	prefixDCAccount   byte = 0x70
	prefixDCEntry     byte = 0x71
	prefixDCGrant     byte = 0x72
	prefixDCPurchase  byte = 0x73
	prefixMaps        byte = 0x80
	prefixMapsJournal byte = 0x81
)

// Meta names (prefixMeta).
const (
	metaSchema       = "schema"        // u32 schema version
	metaVerifyCursor = "verify_cursor" // u64: beacons with received_ms < cursor are verified
	metaEpochNext    = "epoch_next"    // u64: the next epoch the scheduler will close
	metaDCCursor     = "dc_cursor"     // base58 signature: treasury transactions up to it are read
	metaLastSettled  = "last_settled"  // u64: the epoch whose manifest was written last (the next one's accrual parent)
	metaReclaimedTo  = "reclaimed_to"  // u64: the last epoch whose markers' rent was reclaimed (reclaim.go)
	metaMapsSeq      = "maps_seq"      // u64: the last map journal batch written (prefixMapsJournal)
	metaRouteTable   = "route_table"   // table_id[16] ‖ version u64: the hotspots' route table (routetable.go)
)

// migrations()[v] upgrades a store at version v to v+1. A step may write
// in several transactions (a backfill does not fit in one), so each step
// is idempotent: the version is moved on only after the step completed,
// and a step interrupted by a crash runs again from the start.
func migrations() map[uint32]func(s *Store) error {
	return map[uint32]func(s *Store) error{
		1: func(s *Store) error {
			if err := s.db.Update(dropUnownedRoutes); err != nil {
				return err
			}
			return backfillCounters(s)
		},
		2: backfillChanges,
	}
}

// dropUnownedRoutes (1 → 2) deletes version-1 routes: they were made with
// the admin token, belong to no organization and carry their own balance,
// none of which version 2 can express.
func dropUnownedRoutes(txn *badger.Txn) error { return deletePrefix(txn, prefixRoute) }

// deletePrefix deletes every key under prefix in txn.
func deletePrefix(txn *badger.Txn, prefix byte) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefix}})
	var keys [][]byte
	for it.Rewind(); it.Valid(); it.Next() {
		keys = append(keys, it.Item().KeyCopy(nil))
	}
	it.Close()
	for _, k := range keys {
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

const (
	idLen      = 32
	keyLen     = 32
	payloadLen = 51
)

func metaKey(name string) []byte {
	return append([]byte{prefixMeta}, name...)
}

func u64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func reportKey(id [32]byte) []byte {
	return append([]byte{prefixReport}, id[:]...)
}

func timeKey(kind wire.Kind, ms int64, id [32]byte) []byte {
	k := make([]byte, 0, 1+1+8+idLen)
	k = append(k, prefixTime, byte(kind))
	k = u64(k, uint64(ms))
	return append(k, id[:]...)
}

func timePrefix(kind wire.Kind) []byte { return []byte{prefixTime, byte(kind)} }

func witnessPayKey(payload []byte, ms int64, id [32]byte) []byte {
	k := make([]byte, 0, 1+payloadLen+8+idLen)
	k = append(k, prefixWitnessPay)
	k = append(k, payload...)
	k = u64(k, uint64(ms))
	return append(k, id[:]...)
}

func witnessPayPrefix(payload []byte) []byte {
	return append([]byte{prefixWitnessPay}, payload...)
}

func byHotspotKey(signer []byte, kind wire.Kind, ms int64, id [32]byte) []byte {
	k := make([]byte, 0, 1+keyLen+1+8+idLen)
	k = append(k, prefixByHotspot)
	k = append(k, signer...)
	k = append(k, byte(kind))
	k = u64(k, uint64(ms))
	return append(k, id[:]...)
}

func byHotspotPrefix(signer []byte, kind wire.Kind) []byte {
	k := append([]byte{prefixByHotspot}, signer...)
	return append(k, byte(kind))
}

// Counter resolutions (the res byte of prefixCounter keys).
const (
	resMinute byte = 1
	resHour   byte = 2
)

// resMs is the bucket length of a counter resolution.
func resMs(res byte) int64 {
	if res == resHour {
		return 3_600_000
	}
	return 60_000
}

// counterTTL is how long counters are kept: the newest figure shown is the
// last 24 hours, and a day more keeps the minute buckets at that window's
// start for as long as they are read.
const counterTTL = 48 * time.Hour

// counterID names one counter bucket, without its lane.
type counterID struct {
	signer [keyLen]byte
	kind   wire.Kind
	res    byte
	bucket uint64
}

func counterKey(c counterID) []byte {
	k := make([]byte, 0, 1+keyLen+1+1+8)
	k = append(k, prefixCounter)
	k = append(k, c.signer[:]...)
	k = append(k, byte(c.kind), c.res)
	return u64(k, c.bucket)
}

// counterPrefix is the prefix of signer's counters of kind at res.
func counterPrefix(signer []byte, kind wire.Kind, res byte) []byte {
	k := append([]byte{prefixCounter}, signer...)
	return append(k, byte(kind), res)
}

// reportCounters are the counters one report of kind by signer at ms adds
// one to.
func reportCounters(signer []byte, kind wire.Kind, ms int64) [2]counterID {
	var out [2]counterID
	for i, res := range []byte{resMinute, resHour} {
		out[i] = counterID{signer: [keyLen]byte(signer), kind: kind, res: res, bucket: uint64(max(ms, 0) / resMs(res))}
	}
	return out
}

// backfillCounters (schema 1 → 2) builds the hotspot counters from the
// hotspot index, for the reports received in the counterTTL before the
// newest one (older buckets would expire at once). It sets each bucket's
// count, so running it again gives the same counters.
func backfillCounters(s *Store) error {
	newest, err := s.newestReportMs()
	if err != nil {
		return err
	}
	cutoff := newest - counterTTL.Milliseconds()
	w := &splitTxn{db: s.db, txn: s.db.NewTransaction(true)}
	defer func() { w.txn.Discard() }()
	counts := map[counterID]uint64{}
	var group []byte // signer ‖ kind of the counts
	flush := func() error {
		for id, n := range counts {
			if err := w.set(counterEntry(counterKey(id), n)); err != nil {
				return err
			}
		}
		clear(counts)
		return nil
	}
	err = s.db.View(func(txn *badger.Txn) error {
		p := []byte{prefixByHotspot}
		return s.scanIndex(txn, p, p, nil, false, func(k, _ []byte) error {
			if len(k) != 1+keyLen+1+8+idLen {
				return fmt.Errorf("hotspot index key: %w", errCorrupt)
			}
			if !bytes.Equal(group, k[:1+keyLen+1]) {
				if err := flush(); err != nil {
					return err
				}
				group = append(group[:0], k[:1+keyLen+1]...)
			}
			ms := int64(binary.BigEndian.Uint64(k[1+keyLen+1:]))
			if ms < cutoff {
				return nil
			}
			for _, id := range reportCounters(k[1:1+keyLen], wire.Kind(k[1+keyLen]), ms) {
				counts[id]++
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("backfill counters: %w", err)
	}
	if err := flush(); err != nil {
		return fmt.Errorf("backfill counters: %w", err)
	}
	if err := w.txn.Commit(); err != nil {
		return fmt.Errorf("backfill counters: %w", err)
	}
	return nil
}

// backfillChanges (2 → 3) fills the change log from the registry and
// organization audit logs. A request with a signed timestamp is dated by
// it; a location assertion of version 2 had none and keeps the time it was
// applied. Grants kept no request and are not in the log.
func backfillChanges(s *Store) error {
	w := &splitTxn{db: s.db, txn: s.db.NewTransaction(true)}
	defer func() { w.txn.Discard() }()
	add := func(ms int64, kind wire.Kind, raw []byte) error {
		if e, _, err := changeEntryOf(kind, raw); err == nil && e.Ms > 0 {
			ms = e.Ms
		}
		return w.set(badger.NewEntry(changeKey(ms, sha256.Sum256(raw), kind), append([]byte(nil), raw...)))
	}
	err := s.db.View(func(txn *badger.Txn) error {
		err := s.scanIndex(txn, []byte{prefixRegistryLog}, nil, nil, false, func(k, v []byte) error {
			if len(k) != 1+keyLen+8+1 {
				return fmt.Errorf("registry log key: %w", errCorrupt)
			}
			return add(int64(binary.BigEndian.Uint64(k[1+keyLen:])), wire.Kind(k[len(k)-1]), v)
		})
		if err != nil {
			return err
		}
		return s.scanIndex(txn, []byte{prefixOrgLog}, nil, nil, false, func(_, v []byte) error {
			return add(0, wire.Kind_KIND_ORG_CHANGE, v)
		})
	})
	if err == nil {
		err = w.txn.Commit()
	}
	if err != nil {
		return fmt.Errorf("backfill change log: %w", err)
	}
	return s.db.Update(func(txn *badger.Txn) error {
		var orgs []orgRecord
		err := s.scanIndex(txn, []byte{prefixOrg}, nil, nil, false, func(_, v []byte) error {
			var org orgRecord
			if err := decodeJSON(v, &org); err != nil {
				return err
			}
			orgs = append(orgs, org)
			return nil
		})
		if err != nil {
			return err
		}
		for _, org := range orgs {
			if err := putOrgVersion(txn, org, org.UpdatedMs); err != nil {
				return fmt.Errorf("backfill organization versions: %w", err)
			}
		}
		return nil
	})
}

// splitTxn writes entries in as many transactions as they need; for
// offline, idempotent writes such as a migration only.
type splitTxn struct {
	db  *badger.DB
	txn *badger.Txn
}

func (w *splitTxn) set(e *badger.Entry) error {
	err := w.txn.SetEntry(e)
	if errors.Is(err, badger.ErrTxnTooBig) {
		if err := w.txn.Commit(); err != nil {
			return err
		}
		w.txn = w.db.NewTransaction(true)
		err = w.txn.SetEntry(e)
	}
	return err
}

// reportValue is the stored form of an ingested report.
type reportValue struct {
	Kind       wire.Kind
	ReceivedMs int64
	Envelope   []byte // the encoded Envelope exactly as received
}

func encodeReport(r reportValue) []byte {
	b := make([]byte, 0, 9+len(r.Envelope))
	b = append(b, byte(r.Kind))
	b = u64(b, uint64(r.ReceivedMs))
	return append(b, r.Envelope...)
}

var errCorrupt = errors.New("corrupt stored value")

func decodeReport(b []byte) (reportValue, error) {
	if len(b) < 9 {
		return reportValue{}, fmt.Errorf("decode report: %w", errCorrupt)
	}
	return reportValue{
		Kind:       wire.Kind(b[0]),
		ReceivedMs: int64(binary.BigEndian.Uint64(b[1:9])),
		Envelope:   append([]byte(nil), b[9:]...),
	}, nil
}

func entropyKey(ts int64) []byte { return u64([]byte{prefixEntropy}, uint64(ts)) }

func entropyTs(k []byte) int64 { return int64(binary.BigEndian.Uint64(k[1:])) }

func hotspotKey(key []byte) []byte { return append([]byte{prefixHotspot}, key...) }

func hotspotVerKey(key []byte, ms int64) []byte {
	return u64(append([]byte{prefixHotspotVer}, key...), uint64(ms))
}

func ownerKey(owner, key []byte) []byte {
	k := append([]byte{prefixOwner}, owner...)
	return append(k, key...)
}

func changeKey(ms int64, id [32]byte, kind wire.Kind) []byte {
	k := u64([]byte{prefixChange}, uint64(ms))
	return append(append(k, id[:]...), byte(kind))
}

// changeKeyLen is the length of a change log key.
const changeKeyLen = 1 + 8 + idLen + 1

func registryLogKey(key []byte, ms int64, kind wire.Kind) []byte {
	k := u64(append([]byte{prefixRegistryLog}, key...), uint64(ms))
	return append(k, byte(kind))
}

// hotspotRecord is the registry's state for one hotspot.
type hotspotRecord struct {
	Key         []byte `json:"key"`
	Owner       []byte `json:"owner"`
	DataOnly    bool   `json:"data_only"`
	OnboardedMs int64  `json:"onboarded_ms"`
	Cell        uint64 `json:"cell,omitempty"` // H3 res-12; 0 = not asserted
	GainDdBi    int32  `json:"gain_ddbi"`
	ElevationM  int32  `json:"elevation_m"`
	Region      string `json:"region,omitempty"`
	Nonce       uint64 `json:"nonce"` // last accepted assertion nonce
	AssertedMs  int64  `json:"asserted_ms,omitempty"`
	// OnboardTsMs is the timestamp of the last applied onboarding
	// request; a request not newer than it is refused as a replay.
	OnboardTsMs int64 `json:"onboard_ts_ms,omitempty"`
	// ChangedMs is the effective time of the record's last change.
	ChangedMs int64 `json:"changed_ms,omitempty"`
}

func encodeJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own plain structs are encoded here; they always marshal.
		panic(fmt.Sprintf("oracle: encode %T: %v", v, err))
	}
	return b
}

func decodeJSON(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %T: %w: %w", v, errCorrupt, err)
	}
	return nil
}

func routeKey(id string) []byte { return append([]byte{prefixRoute}, id...) }

func orgKey(id string) []byte { return append([]byte{prefixOrg}, id...) }

func routeHistKey(version uint64) []byte { return u64([]byte{prefixRouteHist}, version) }

func devAddrBlockKey(start uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{prefixDevAddr}, start)
}

func orgVerKey(id string, ms int64) []byte {
	return u64(append(append([]byte{prefixOrgVer}, id...), 0), uint64(ms))
}

func orgLogKey(id string, nonce uint64) []byte {
	return u64(append(append([]byte{prefixOrgLog}, id...), 0), nonce)
}

func dcAccountKey(wallet []byte) []byte { return append([]byte{prefixDCAccount}, wallet...) }

func dcEntryKey(wallet []byte, seq uint64) []byte {
	return u64(append([]byte{prefixDCEntry}, wallet...), seq)
}

func dcEntryPrefix(wallet []byte) []byte { return append([]byte{prefixDCEntry}, wallet...) }

func dcGrantKey(requestID []byte) []byte { return append([]byte{prefixDCGrant}, requestID...) }

func dcPurchaseKey(sig string) []byte { return append([]byte{prefixDCPurchase}, sig...) }

func pocKey(ms int64, beacon [32]byte) []byte {
	return append(u64([]byte{prefixPoC}, uint64(ms)), beacon[:]...)
}

func pocByHotspotKey(hs []byte, ms int64, beacon [32]byte) []byte {
	k := u64(append([]byte{prefixPoCByHs}, hs...), uint64(ms))
	return append(k, beacon[:]...)
}

// PoC roles stored in prefixPoCByHs values.
const (
	roleBeaconer byte = 1
	roleWitness  byte = 2
)

func epochKey(n uint64) []byte    { return u64([]byte{prefixEpoch}, n) }
func manifestKey(n uint64) []byte { return u64([]byte{prefixManifest}, n) }

func agreedKey(n uint64, id [32]byte) []byte { return append(u64([]byte{prefixAgreed}, n), id[:]...) }
func agreedPrefix(n uint64) []byte           { return u64([]byte{prefixAgreed}, n) }
func excludedKey(id [32]byte) []byte         { return append([]byte{prefixExcluded}, id[:]...) }

func decodeU64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// mapsJournalKey is map journal batch seq.
func mapsJournalKey(seq uint64) []byte { return u64([]byte{prefixMapsJournal}, seq) }

// mapsKey is a key of package maps' own key space, under prefixMaps.
func mapsKey(k []byte) []byte { return append([]byte{prefixMaps}, k...) }

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
//	0x20    ts u64 (Unix seconds)                         signed Entropy envelope bytes (kept forever)
//	0x30    hotspot key[32]                               JSON hotspotRecord (current registry state)
//	0x31    hotspot key[32] ‖ effective_ms u64            JSON hotspotRecord (every version, for snapshots)
//	0x32    owner[32] ‖ hotspot key[32]                   empty                       (hotspots of an owner)
//	0x33    hotspot key[32] ‖ ms u64 ‖ kind u8            signed request bytes        (registry audit log)
//	0x40    route id (UTF-8)                              JSON Route
//	0x50    beacon received_ms u64 ‖ beacon id[32]        JSON pocRecord (verification outcome)
//	0x51    hotspot[32] ‖ received_ms u64 ‖ beacon id[32] role u8 (1 beaconer, 2 witness)
//	0x60    epoch u64                                     JSON epochRecord (state machine)
//	0x61    epoch u64                                     canonical manifest bytes
//	0x70    maps key (package maps' layout, maps/codec.go) the coverage map's cells and hotspot activity
//
// Reports and their indexes (0x10–0x13) and PoC outcomes (0x50–0x51) carry a
// Badger TTL equal to the retention setting; Badger's compaction drops them
// and the sweeper runs value-log GC. Entropy, registry, routes and epochs
// are kept forever.

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/hexfield/hexfield/wire"
)

// SchemaVersion is the version of the layout above. Bump it on any
// incompatible change and add a migration from the previous version.
//
// History:
//   - 1 (2026-11-21): first layout.
const SchemaVersion = 1

const (
	prefixMeta        byte = 0x01
	prefixReport      byte = 0x10
	prefixTime        byte = 0x11
	prefixWitnessPay  byte = 0x12
	prefixByHotspot   byte = 0x13
	prefixEntropy     byte = 0x20
	prefixHotspot     byte = 0x30
	prefixHotspotVer  byte = 0x31
	prefixOwner       byte = 0x32
	prefixRegistryLog byte = 0x33
	prefixRoute       byte = 0x40
	prefixPoC         byte = 0x50
	prefixPoCByHs     byte = 0x51
	prefixEpoch       byte = 0x60
	prefixManifest    byte = 0x61
	prefixMaps        byte = 0x70
)

// Meta names (prefixMeta).
const (
	metaSchema       = "schema"        // u32 schema version
	metaVerifyCursor = "verify_cursor" // u64: beacons with received_ms < cursor are verified
	metaEpochNext    = "epoch_next"    // u64: the next epoch the scheduler will close
)

// migration upgrades a store at version v to v+1 inside one transaction,
// through txn; migrations()[v] is the step from v. There are none yet:
// version 1 is the first layout.
func migrations() map[uint32]func(txn *badger.Txn) error {
	return map[uint32]func(txn *badger.Txn) error{}
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

func decodeU64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// mapsKey is a key of package maps' own key space, under prefixMaps.
func mapsKey(k []byte) []byte { return append([]byte{prefixMaps}, k...) }

package verifier

import (
	"bytes"
	"slices"

	"github.com/hexfield/hexfield/wire"
)

// Hotspot is one entry of the registry snapshot at the epoch's start.
type Hotspot struct {
	Key   wire.PublicKey // hotspot identity
	Owner wire.PublicKey // owner wallet, paid in the manifest
	// Cell is the asserted H3 resolution-12 cell; 0 = not asserted.
	Cell uint64
	// GainDdBi is the asserted antenna gain in dBi×10; the oracle fills in
	// the default 12 when the owner asserted none.
	GainDdBi   int32
	ElevationM int32
	// Region is informational: the verifier always derives the region
	// from Cell (poc-rules §2) and ignores this field.
	Region   string
	DataOnly bool
}

// Beacon is a stored beacon report: its id (wire.ReportID of the signed
// envelope bytes), the ingesting oracle's received_ms and the decoded
// report.
type Beacon struct {
	ID         [32]byte
	ReceivedMs int64
	Report     *wire.BeaconReport
}

// Witness is a stored witness report.
type Witness struct {
	ID         [32]byte
	ReceivedMs int64
	Report     *wire.WitnessReport
}

// Packet is a stored packet (data transfer) report.
type Packet struct {
	ID         [32]byte
	ReceivedMs int64
	Report     *wire.PacketReport
}

func sortedKeys(ks []wire.PublicKey) []wire.PublicKey {
	out := slices.Clone(ks)
	slices.SortFunc(out, func(a, b wire.PublicKey) int { return bytes.Compare(a[:], b[:]) })
	return slices.Compact(out)
}

func sortedEdges(es []Edge) []Edge {
	out := slices.Clone(es)
	slices.SortFunc(out, func(a, b Edge) int {
		if c := bytes.Compare(a.Beaconer[:], b.Beaconer[:]); c != 0 {
			return c
		}
		return bytes.Compare(a.Witness[:], b.Witness[:])
	})
	return slices.Compact(out)
}

func cmpID(a, b *[32]byte) int { return bytes.Compare(a[:], b[:]) }

// cmpArrival orders reports by (received_ms, id), the order every tie
// break of poc-rules uses.
func cmpArrival(ams int64, aid *[32]byte, bms int64, bid *[32]byte) int {
	switch {
	case ams < bms:
		return -1
	case ams > bms:
		return 1
	}
	return cmpID(aid, bid)
}

func keyOf(b []byte) (wire.PublicKey, bool) {
	if len(b) != wire.PublicKeySize {
		return wire.PublicKey{}, false
	}
	return wire.PublicKey(b), true
}

package verifier

import "fmt"

// Reason is why a beacon, a witness or a hotspot was judged invalid for an
// epoch. Numbers 0–24 are Helium's invalid_reason values (helium/proto
// poc_lora.proto); 25–30 are hexfield's (poc-rules §13).
type Reason uint8

// Reasons, numbered per poc-rules §13. Scope: B beacon, W witness,
// H hotspot for the epoch.
const (
	ReasonNone                    Reason = 0  // valid (B W)
	ReasonBadSignature            Reason = 1  // reserved: ingest rejects the report
	ReasonNotAsserted             Reason = 2  // no asserted location, or it maps to no region (B W)
	ReasonEntropyExpired          Reason = 3  // received_ms outside [ts, ts+180 s] (B W)
	ReasonBadEntropy              Reason = 4  // reserved
	ReasonInvalidCapability       Reason = 5  // data-only hotspot (B W)
	ReasonInvalidPubkey           Reason = 6  // reserved: ingest rejects the report
	ReasonIrregularInterval       Reason = 7  // second beacon in one bucket (B)
	ReasonGatewayNotFound         Reason = 8  // not in the registry snapshot (B W)
	ReasonDenied                  Reason = 9  // on the public deny list (B W)
	ReasonInvalidPacket           Reason = 10 // regenerated beacon differs (B W)
	ReasonBadRSSI                 Reason = 11 // above the free-space bound (W)
	ReasonInvalidRegion           Reason = 12 // regions of the two locations differ (W)
	ReasonMaxDistanceExceeded     Reason = 13 // farther than 100 km (W)
	ReasonInvalidFrequency        Reason = 14 // more than 100 kHz off (W)
	ReasonSelfWitness             Reason = 15 // the beaconer witnessing itself; dropped (W)
	ReasonStale                   Reason = 16 // not evaluable at epoch close (B W)
	ReasonScalingFactorNotFound   Reason = 17 // reserved
	ReasonUnknownError            Reason = 18 // reserved
	ReasonBelowMinDistance        Reason = 19 // closer than 8 res-11 cells (W)
	ReasonDuplicate               Reason = 20 // not the hotspot's first report for the beacon (W)
	ReasonDeniedEdge              Reason = 21 // beaconer→witness edge on the deny list (W)
	ReasonTooLate                 Reason = 22 // lag rule (W)
	ReasonGatewayNoValidBeacons   Reason = 23 // reciprocity, witness side (W)
	ReasonGatewayNoValidWitnesses Reason = 24 // reciprocity, beacon side (B)
	ReasonInvalidTxPower          Reason = 25 // reported power ≠ prescribed power (B)
	ReasonImplausibleSignal       Reason = 26 // RSSI/SNR inconsistent with the noise floor (W)
	ReasonInvalidDatarate         Reason = 27 // witness data rate ≠ beacon data rate (W)
	ReasonDistanceInsensitive     Reason = 28 // detector §12e (H)
	ReasonIsolatedClique          Reason = 29 // detector §12e (H)
	ReasonAntennaSplit            Reason = 30 // detector §12e (H)
	ReasonExcessTxPower           Reason = 31 // [hx] detector: transmits above the prescribed power (H)
	ReasonUnheard                 Reason = 32 // [hx] detector: its beacons are not heard by the active hotspots around it (H)
	ReasonUntrusted               Reason = 33 // [hx] detector: no trust reaches it from the rest of the network (H)
)

// NumReasons is one more than the largest Reason.
const NumReasons = 34

var reasonNames = [NumReasons]string{
	"reason_none", "bad_signature", "not_asserted", "entropy_expired", "bad_entropy",
	"invalid_capability", "invalid_pubkey", "irregular_interval", "gateway_not_found",
	"denied", "invalid_packet", "bad_rssi", "invalid_region", "max_distance_exceeded",
	"invalid_frequency", "self_witness", "stale", "scaling_factor_not_found",
	"unknown_error", "below_min_distance", "duplicate", "denied_edge", "too_late",
	"gateway_no_valid_beacons", "gateway_no_valid_witnesses", "invalid_tx_power",
	"implausible_signal", "invalid_datarate", "distance_insensitive", "isolated_clique",
	"antenna_split", "excess_tx_power", "unheard", "untrusted",
}

// String returns the snake_case name of r as in poc-rules §13.
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason_%d", uint8(r))
}

// MarshalText returns the snake_case name, so JSON shows names.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText parses a snake_case name.
func (r *Reason) UnmarshalText(b []byte) error {
	v, err := ParseReason(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// ParseReason parses a snake_case reason name.
func ParseReason(s string) (Reason, error) {
	for i, n := range reasonNames {
		if n == s {
			return Reason(i), nil
		}
	}
	return 0, fmt.Errorf("parse reason %q: unknown", s)
}

// Valid reports whether r is reason_none.
func (r Reason) Valid() bool { return r == ReasonNone }

// IsHotspotFlag reports whether r is one of the fraud detectors' reasons,
// which apply to a hotspot for a whole epoch.
func (r Reason) IsHotspotFlag() bool {
	switch r {
	case ReasonDistanceInsensitive, ReasonIsolatedClique, ReasonAntennaSplit, ReasonExcessTxPower, ReasonUnheard, ReasonUntrusted:
		return true
	}
	return false
}

package wire

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
)

// OnboardBody returns the canonical encoding of the Onboard message that
// both the hotspot key and the owner key sign (Sign with KIND_ONBOARD).
// The hotspot signs it where its key lives (hotspotd key onboard-request)
// and the owner elsewhere with the wallet (hexfield onboard), so neither
// key leaves its machine.
func OnboardBody(hotspot, owner PublicKey, dataOnly bool, now time.Time) ([]byte, error) {
	capability := Capability_CAPABILITY_FULL
	if dataOnly {
		capability = Capability_CAPABILITY_DATA_ONLY
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(&Onboard{
		Hotspot: hotspot[:], Owner: owner[:], Capability: capability, TimestampMs: uint64(now.UnixMilli()),
	})
	if err != nil {
		return nil, fmt.Errorf("encode onboard: %w", err)
	}
	return body, nil
}

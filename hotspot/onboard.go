package hotspot

import (
	"crypto/ed25519"
	"errors"
	"time"

	"github.com/hexfield/hexfield/wire"
)

// OnboardRequest is an onboarding request signed by the hotspot alone, as
// `hotspotd key onboard-request` writes it (JSON, byte fields base64). The
// owner completes it with the wallet's signature elsewhere (`hexfield
// onboard --request FILE`) and submits it: the fields are those of the
// oracle's POST /v1/hotspots body, so the hotspot key never leaves the Pi
// and the wallet never comes to it. The oracle accepts it up to an hour
// after it was made.
type OnboardRequest struct {
	// Hotspot and Owner are the addresses the signed body names, for the
	// person reading the file; the body is what counts.
	Hotspot          string `json:"hotspot"`
	Owner            string `json:"owner"`
	DataOnly         bool   `json:"data_only"`
	Created          string `json:"created"`
	Onboard          []byte `json:"onboard"`
	HotspotSignature []byte `json:"hotspot_signature"`
}

// NewOnboardRequest signs an onboarding request of the hotspot key for the
// wallet owner, made at now.
func NewOnboardRequest(key ed25519.PrivateKey, owner wire.PublicKey, dataOnly bool, now time.Time) (OnboardRequest, error) {
	hs := wire.PublicKeyOf(key)
	if owner == hs {
		return OnboardRequest{}, errors.New("onboard request: the owner is the hotspot's own key; give the owner's wallet address")
	}
	if owner.IsZero() {
		return OnboardRequest{}, errors.New("onboard request: no owner wallet address")
	}
	body, err := wire.OnboardBody(hs, owner, dataOnly, now)
	if err != nil {
		return OnboardRequest{}, err
	}
	return OnboardRequest{
		Hotspot: hs.String(), Owner: owner.String(), DataOnly: dataOnly,
		Created: now.UTC().Format(time.RFC3339), Onboard: body,
		HotspotSignature: wire.Sign(key, wire.Kind_KIND_ONBOARD, body),
	}, nil
}

package oracle

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/verifier"
	"github.com/hexfield/hexfield/wire"
)

// APIError is a client error with a stable machine-readable code; the HTTP
// API answers it as {"code": ..., "message": ...} with Status.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

func apiErr(status int, code, format string, a ...any) *APIError {
	return &APIError{Status: status, Code: code, Message: fmt.Sprintf(format, a...)}
}

// OnboardRequest is the body of POST /v1/hotspots: an encoded wire.Onboard
// signed (wire.Sign with KIND_ONBOARD) by both the hotspot key and the owner
// wallet key. JSON encodes the byte fields as base64.
type OnboardRequest struct {
	Onboard          []byte `json:"onboard"`
	HotspotSignature []byte `json:"hotspot_signature"`
	OwnerSignature   []byte `json:"owner_signature"`
}

// NewOnboardRequest builds an onboarding request signed by both keys; the
// CLI and the devnet use it.
func NewOnboardRequest(hotspot, owner ed25519.PrivateKey, dataOnly bool, now time.Time) (OnboardRequest, error) {
	body, err := wire.OnboardBody(wire.PublicKeyOf(hotspot), wire.PublicKeyOf(owner), dataOnly, now)
	if err != nil {
		return OnboardRequest{}, err
	}
	return OnboardRequest{
		Onboard:          body,
		HotspotSignature: wire.Sign(hotspot, wire.Kind_KIND_ONBOARD, body),
		OwnerSignature:   wire.Sign(owner, wire.Kind_KIND_ONBOARD, body),
	}, nil
}

// NewAssertRequest builds a location assertion signed by the owner.
func NewAssertRequest(owner ed25519.PrivateKey, hotspot wire.PublicKey, cell uint64, gainDdBi, elevationM int32, nonce uint64) (AssertRequest, error) {
	ok := wire.PublicKeyOf(owner)
	raw, err := wire.Seal(owner, wire.Kind_KIND_ASSERT_LOCATION, &wire.AssertLocation{
		Hotspot: hotspot[:], Owner: ok[:], H3Cell: cell, GainDdbi: gainDdBi, ElevationM: elevationM, Nonce: nonce,
	})
	if err != nil {
		return AssertRequest{}, fmt.Errorf("seal assertion: %w", err)
	}
	return AssertRequest{Envelope: raw}, nil
}

// AssertRequest is the body of POST /v1/hotspots/{address}/location: an
// encoded Envelope (KIND_ASSERT_LOCATION) of a wire.AssertLocation signed by
// the hotspot's owner.
type AssertRequest struct {
	Envelope []byte `json:"envelope"`
}

// onboardMaxSkew bounds how far an onboarding timestamp may be from the
// oracle's clock, so old signed requests cannot be replayed much later.
const onboardMaxSkew = time.Hour

// Limits on asserted antenna data.
const (
	minGainDdBi      = -100
	maxGainDdBi      = 300
	minElevationM    = -500
	maxElevationM    = 10000
	defaultGainDdBi  = 12
	assertResolution = 12
)

// onboard applies a signed onboarding request at now.
func (o *Oracle) onboard(req OnboardRequest, now time.Time) (hotspotRecord, error) {
	var ob wire.Onboard
	if err := proto.Unmarshal(req.Onboard, &ob); err != nil {
		return hotspotRecord{}, apiErr(400, "malformed", "onboard body does not decode: %v", err)
	}
	hs, err := wire.PublicKeyFromBytes(ob.Hotspot)
	if err != nil {
		return hotspotRecord{}, apiErr(400, "malformed", "hotspot key: %v", err)
	}
	owner, err := wire.PublicKeyFromBytes(ob.Owner)
	if err != nil {
		return hotspotRecord{}, apiErr(400, "malformed", "owner key: %v", err)
	}
	if hs == owner {
		return hotspotRecord{}, apiErr(400, "bad_request", "hotspot and owner keys must differ")
	}
	if !wire.Verify(hs, wire.Kind_KIND_ONBOARD, req.Onboard, req.HotspotSignature) {
		return hotspotRecord{}, apiErr(401, "bad_signature", "hotspot signature does not verify for %s", hs)
	}
	if !wire.Verify(owner, wire.Kind_KIND_ONBOARD, req.Onboard, req.OwnerSignature) {
		return hotspotRecord{}, apiErr(401, "bad_signature", "owner signature does not verify for %s", owner)
	}
	ts := time.UnixMilli(int64(ob.TimestampMs))
	if d := now.Sub(ts); d > onboardMaxSkew || d < -onboardMaxSkew {
		return hotspotRecord{}, apiErr(400, "stale_request", "onboard timestamp %s is more than %s from the oracle's clock", ts.UTC().Format(time.RFC3339), onboardMaxSkew)
	}
	switch ob.Capability {
	case wire.Capability_CAPABILITY_FULL, wire.Capability_CAPABILITY_DATA_ONLY:
	default:
		return hotspotRecord{}, apiErr(400, "bad_request", "unknown capability %d", ob.Capability)
	}
	raw := encodeJSON(req)
	rec, err := o.store.updateHotspot(hs[:], now.UnixMilli(), wire.Kind_KIND_ONBOARD, raw, func(prev hotspotRecord, found bool) (hotspotRecord, error) {
		if !found {
			return hotspotRecord{
				Key: hs[:], Owner: owner[:], DataOnly: ob.Capability == wire.Capability_CAPABILITY_DATA_ONLY,
				OnboardedMs: now.UnixMilli(), GainDdBi: defaultGainDdBi,
			}, nil
		}
		if string(prev.Owner) != string(owner[:]) {
			return prev, apiErr(409, "conflict", "hotspot %s is already onboarded by another owner", hs)
		}
		// The same owner again: keep the location, update the capability.
		prev.DataOnly = ob.Capability == wire.Capability_CAPABILITY_DATA_ONLY
		return prev, nil
	})
	o.m.registryChanges.WithLabelValues("onboard", resultLabel(err)).Inc()
	if err != nil {
		return hotspotRecord{}, err
	}
	o.log.Info("hotspot onboarded", "hotspot_key", hs.String(), "owner", owner.String(), "data_only", rec.DataOnly)
	return rec, nil
}

// assertLocation applies a signed location assertion at now.
func (o *Oracle) assertLocation(raw []byte, now time.Time) (hotspotRecord, error) {
	var al wire.AssertLocation
	env, err := wire.Open(raw, wire.Kind_KIND_ASSERT_LOCATION)
	if err != nil {
		switch wire.CodeOf(err) {
		case wire.Code_CODE_BAD_SIGNATURE:
			return hotspotRecord{}, apiErr(401, "bad_signature", "%v", err)
		default:
			return hotspotRecord{}, apiErr(400, "malformed", "%v", err)
		}
	}
	if err := proto.Unmarshal(env.Body, &al); err != nil {
		return hotspotRecord{}, apiErr(400, "malformed", "assertion body does not decode: %v", err)
	}
	hs, err := wire.PublicKeyFromBytes(al.Hotspot)
	if err != nil {
		return hotspotRecord{}, apiErr(400, "malformed", "hotspot key: %v", err)
	}
	signer := env.SignerKey()
	if string(al.Owner) != string(signer[:]) {
		return hotspotRecord{}, apiErr(403, "wrong_key", "the assertion must be signed by its owner field")
	}
	if !verifier.ValidCell(al.H3Cell, assertResolution) {
		return hotspotRecord{}, apiErr(400, "invalid_cell", "h3 cell %x is not a valid resolution-%d cell", al.H3Cell, assertResolution)
	}
	if al.GainDdbi < minGainDdBi || al.GainDdbi > maxGainDdBi {
		return hotspotRecord{}, apiErr(400, "bad_request", "gain %d ddBi outside [%d, %d]", al.GainDdbi, minGainDdBi, maxGainDdBi)
	}
	if al.ElevationM < minElevationM || al.ElevationM > maxElevationM {
		return hotspotRecord{}, apiErr(400, "bad_request", "elevation %d m outside [%d, %d]", al.ElevationM, minElevationM, maxElevationM)
	}
	region, err := verifier.RegionOf(al.H3Cell)
	if err != nil || region == "" {
		lat, lng, _ := verifier.CellLatLng(al.H3Cell)
		return hotspotRecord{}, apiErr(422, "outside_regions", "location %.6f, %.6f (cell %s) is outside every supported region area", lat, lng, verifier.CellString(al.H3Cell))
	}
	rec, err := o.store.updateHotspot(hs[:], now.UnixMilli(), wire.Kind_KIND_ASSERT_LOCATION, raw, func(prev hotspotRecord, found bool) (hotspotRecord, error) {
		if !found {
			return prev, apiErr(404, "not_found", "hotspot %s is not onboarded", hs)
		}
		if string(prev.Owner) != string(signer[:]) {
			return prev, apiErr(403, "wrong_key", "%s does not own hotspot %s", signer, hs)
		}
		if al.Nonce <= prev.Nonce {
			return prev, apiErr(409, "stale_nonce", "nonce %d must be greater than %d", al.Nonce, prev.Nonce)
		}
		prev.Cell, prev.GainDdBi, prev.ElevationM = al.H3Cell, al.GainDdbi, al.ElevationM
		prev.Region, prev.Nonce, prev.AssertedMs = region, al.Nonce, now.UnixMilli()
		return prev, nil
	})
	o.m.registryChanges.WithLabelValues("assert", resultLabel(err)).Inc()
	if err != nil {
		return hotspotRecord{}, err
	}
	o.log.Info("location asserted", "hotspot_key", hs.String(), "hex", fmt.Sprintf("%x", al.H3Cell), "region", region)
	return rec, nil
}

func resultLabel(err error) string {
	if err == nil {
		return "ok"
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return "internal"
}

package oracle

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
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
	// MakerApproval is an encoded Envelope (KIND_MAKER_APPROVAL) of a
	// wire.MakerApproval of the hotspot key, signed by its maker; required
	// when the oracle lists maker keys.
	MakerApproval []byte `json:"maker_approval,omitempty"`
}

// NewMakerApproval is a maker's signed approval of a hotspot key, for
// OnboardRequest.MakerApproval.
func NewMakerApproval(maker ed25519.PrivateKey, hotspot wire.PublicKey) ([]byte, error) {
	raw, err := wire.Seal(maker, wire.Kind_KIND_MAKER_APPROVAL, &wire.MakerApproval{Hotspot: hotspot[:]})
	if err != nil {
		return nil, fmt.Errorf("seal maker approval: %w", err)
	}
	return raw, nil
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

// NewAssertRequest builds a location assertion signed by the owner at now,
// when it takes effect.
func NewAssertRequest(owner ed25519.PrivateKey, hotspot wire.PublicKey, cell uint64, gainDdBi, elevationM int32, nonce uint64, now time.Time) (AssertRequest, error) {
	ok := wire.PublicKeyOf(owner)
	raw, err := wire.Seal(owner, wire.Kind_KIND_ASSERT_LOCATION, &wire.AssertLocation{
		Hotspot: hotspot[:], Owner: ok[:], H3Cell: cell, GainDdbi: gainDdBi, ElevationM: elevationM, Nonce: nonce,
		TimestampMs: uint64(max(now.UnixMilli(), 0)),
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

// Limits on asserted antenna data.
const (
	minGainDdBi      = -100
	maxGainDdBi      = 300
	minElevationM    = -500
	maxElevationM    = 10000
	defaultGainDdBi  = 12
	assertResolution = 12
)

// onboard applies a signed onboarding request received at now.
func (o *Oracle) onboard(req OnboardRequest, now time.Time) (hotspotRecord, error) {
	return o.onboardAt(req, now, false)
}

// onboardAt applies a signed onboarding request, live or replayed from
// another oracle (changes.go); it takes effect at its timestamp.
func (o *Oracle) onboardAt(req OnboardRequest, now time.Time, replay bool) (hotspotRecord, error) {
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
	tsMs, err := o.changeMs(ob.TimestampMs, now, replay)
	if err != nil {
		return hotspotRecord{}, err
	}
	switch ob.Capability {
	case wire.Capability_CAPABILITY_FULL, wire.Capability_CAPABILITY_DATA_ONLY:
	default:
		return hotspotRecord{}, apiErr(400, "bad_request", "unknown capability %d", ob.Capability)
	}
	if err := o.reg.checkMaker(req.MakerApproval, hs); err != nil {
		return hotspotRecord{}, err
	}
	raw := encodeJSON(req)
	var rec hotspotRecord
	// The rate limit is checked and counted inside the serialised update,
	// so concurrent requests of one owner cannot all pass it.
	err = o.store.registryUpdate(func(txn *badger.Txn) error {
		if ok, wait := o.reg.onboardLimit.allow(owner.String(), now); !ok && !replay {
			return rateLimited("onboarding", owner, wait)
		}
		first := false
		var err error
		rec, err = o.store.updateHotspotTxn(txn, hs[:], tsMs, wire.Kind_KIND_ONBOARD, raw, func(prev hotspotRecord, found bool) (hotspotRecord, error) {
			if !found {
				first = true
				return hotspotRecord{
					Key: hs[:], Owner: owner[:], DataOnly: ob.Capability == wire.Capability_CAPABILITY_DATA_ONLY,
					OnboardedMs: tsMs, GainDdBi: defaultGainDdBi, OnboardTsMs: tsMs,
				}, nil
			}
			if string(prev.Owner) != string(owner[:]) {
				return prev, apiErr(409, "conflict", "hotspot %s is already onboarded by another owner", hs)
			}
			// A request not newer than the last one applied is a replay: it
			// must not undo a later change (issue 9).
			if tsMs <= prev.OnboardTsMs {
				return prev, apiErr(409, "stale_request", "onboard timestamp %d is not newer than the last applied one (%d)", tsMs, prev.OnboardTsMs)
			}
			// The same owner again: keep the location, update the capability.
			prev.DataOnly = ob.Capability == wire.Capability_CAPABILITY_DATA_ONLY
			prev.OnboardTsMs = tsMs
			return prev, nil
		})
		if err != nil {
			return err
		}
		if first {
			_, err = debitDC(txn, owner[:], o.cfg.OnboardFeeDC, tsMs, dcOnboardFee, hs.String())
			if err != nil {
				return feeErr(err, "onboarding", o.cfg.OnboardFeeDC, owner)
			}
		}
		if !replay {
			o.reg.onboardLimit.take(owner.String(), now)
		}
		return nil
	})
	o.m.registryChanges.WithLabelValues("onboard", resultLabel(err)).Inc()
	if err != nil {
		return hotspotRecord{}, err
	}
	o.log.Info("hotspot onboarded", "hotspot_key", hs.String(), "owner", owner.String(), "data_only", rec.DataOnly)
	return rec, nil
}

// rateLimited is the answer to a request over its key's rate limit.
func rateLimited(what string, key wire.PublicKey, wait time.Duration) error {
	return apiErr(429, "rate_limited", "%s for %s is rate-limited: retry in %s", what, key, wait.Round(time.Second))
}

// assertLocation applies a signed location assertion received at now.
func (o *Oracle) assertLocation(raw []byte, now time.Time) (hotspotRecord, error) {
	return o.assertLocationAt(raw, now, false)
}

// assertLocationAt applies a signed location assertion, live or replayed
// from another oracle (changes.go); it takes effect at its timestamp.
func (o *Oracle) assertLocationAt(raw []byte, now time.Time, replay bool) (hotspotRecord, error) {
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
	ms, err := o.changeMs(al.TimestampMs, now, replay)
	if err != nil {
		return hotspotRecord{}, err
	}
	var rec hotspotRecord
	err = o.store.registryUpdate(func(txn *badger.Txn) error {
		if !replay {
			if ok, wait := o.reg.assertOwnerLimit.allow(signer.String(), now); !ok {
				return rateLimited("location assertion", signer, wait)
			}
			if ok, wait := o.reg.assertHotspotLimit.allow(hs.String(), now); !ok {
				return rateLimited("location assertion", hs, wait)
			}
		}
		var err error
		rec, err = o.store.updateHotspotTxn(txn, hs[:], ms, wire.Kind_KIND_ASSERT_LOCATION, raw, func(prev hotspotRecord, found bool) (hotspotRecord, error) {
			return applyAssertion(prev, found, hs, signer, &al, region, ms)
		})
		if err != nil {
			return err
		}
		if _, err = debitDC(txn, signer[:], o.cfg.AssertFeeDC, ms, dcAssertFee, hs.String()); err != nil {
			return feeErr(err, "a location assertion", o.cfg.AssertFeeDC, signer)
		}
		if !replay {
			o.reg.assertOwnerLimit.take(signer.String(), now)
			o.reg.assertHotspotLimit.take(hs.String(), now)
		}
		return nil
	})
	o.m.registryChanges.WithLabelValues("assert", resultLabel(err)).Inc()
	if err != nil {
		return hotspotRecord{}, err
	}
	o.log.Info("location asserted", "hotspot_key", hs.String(), "hex", fmt.Sprintf("%x", al.H3Cell), "region", region)
	return rec, nil
}

// applyAssertion is the registry change of an accepted assertion.
func applyAssertion(prev hotspotRecord, found bool, hs, signer wire.PublicKey, al *wire.AssertLocation, region string, ms int64) (hotspotRecord, error) {
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
	prev.Region, prev.Nonce, prev.AssertedMs = region, al.Nonce, ms
	return prev, nil
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

// registryParams is the registry's part of the config, parsed once: the
// network's DevAddr space, maker and operator keys, and the rate limits,
// whose state lives here (in memory: a restart forgives, fees do not).
type registryParams struct {
	netID              uint32
	prefix             devAddrPrefix
	makers             map[wire.PublicKey]bool
	operators          map[wire.PublicKey]bool
	onboardLimit       *limiter
	assertOwnerLimit   *limiter
	assertHotspotLimit *limiter
	orgLimit           *limiter
	// treasury is the DC treasury token account; hasTreasury false: none.
	treasury    [32]byte
	hasTreasury bool
}

// newRegistryParams parses the registry settings of a valid config.
func newRegistryParams(c Config) (*registryParams, error) {
	netID, prefix, err := parseNetID(c.NetID)
	if err != nil {
		return nil, err
	}
	keys := func(name string, l []string) (map[wire.PublicKey]bool, error) {
		m := map[wire.PublicKey]bool{}
		for _, s := range l {
			k, err := wire.ParsePublicKey(s)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not a base58 public key", name, s)
			}
			m[k] = true
		}
		return m, nil
	}
	makers, err := keys("maker_keys", c.MakerKeys)
	if err != nil {
		return nil, err
	}
	operators, err := keys("operator_keys", c.OperatorKeys)
	if err != nil {
		return nil, err
	}
	var treasury wire.PublicKey
	if c.DCTreasury != "" {
		if treasury, err = wire.ParsePublicKey(c.DCTreasury); err != nil {
			return nil, fmt.Errorf("dc_treasury: %q is not a base58 address", c.DCTreasury)
		}
	}
	return &registryParams{
		netID: netID, prefix: prefix, makers: makers, operators: operators,
		treasury: treasury, hasTreasury: c.DCTreasury != "",
		onboardLimit:       newLimiter(c.OwnerOnboardBurst, c.OwnerOnboardInterval),
		assertOwnerLimit:   newLimiter(c.OwnerAssertBurst, c.OwnerAssertInterval),
		assertHotspotLimit: newLimiter(c.HotspotAssertBurst, c.HotspotAssertInterval),
		orgLimit:           newLimiter(c.OwnerOrgBurst, c.OwnerOrgInterval),
	}, nil
}

func (r *registryParams) operator(k wire.PublicKey) bool { return r.operators[k] }

// checkMaker checks a maker's approval of hotspot hs when makers are
// configured; without makers any approval is ignored.
func (r *registryParams) checkMaker(approval []byte, hs wire.PublicKey) error {
	if len(r.makers) == 0 {
		return nil
	}
	if len(approval) == 0 {
		return apiErr(403, "maker_required", "this network onboards only hotspots approved by a maker; maker_approval is missing")
	}
	var ma wire.MakerApproval
	maker, err := openSigned(approval, wire.Kind_KIND_MAKER_APPROVAL, &ma)
	if err != nil {
		return err
	}
	if !r.makers[maker] {
		return apiErr(403, "wrong_key", "%s is not a maker key of this network", maker)
	}
	if string(ma.Hotspot) != string(hs[:]) {
		return apiErr(403, "wrong_key", "the maker approval is for another hotspot than %s", hs)
	}
	return nil
}

// registryDefaults fills the registry settings of c.
func (c Config) registryDefaults() Config {
	if c.NetID == "" {
		c.NetID = "000001"
	}
	for _, f := range []struct {
		burst *int
		every *time.Duration
		b     int
		e     time.Duration
	}{
		{&c.OwnerOnboardBurst, &c.OwnerOnboardInterval, 20, time.Minute},
		{&c.OwnerAssertBurst, &c.OwnerAssertInterval, 20, time.Minute},
		{&c.HotspotAssertBurst, &c.HotspotAssertInterval, 2, time.Hour},
		{&c.OwnerOrgBurst, &c.OwnerOrgInterval, 5, time.Hour},
	} {
		if *f.burst == 0 {
			*f.burst = f.b
		}
		if *f.every == 0 {
			*f.every = f.e
		}
	}
	if c.MaxDevAddrBlocks == 0 {
		c.MaxDevAddrBlocks = 64
	}
	if c.DCPerBaseUnit == 0 {
		c.DCPerBaseUnit = 1
	}
	if c.DCPollInterval == 0 {
		c.DCPollInterval = 10 * time.Second
	}
	return c
}

// validateRegistry checks the registry settings of a defaulted config.
func (c Config) validateRegistry() []error {
	var errs []error
	if _, err := newRegistryParams(c); err != nil {
		errs = append(errs, err)
	}
	for name, v := range map[string]int{"owner_onboard_burst": c.OwnerOnboardBurst, "owner_assert_burst": c.OwnerAssertBurst,
		"hotspot_assert_burst": c.HotspotAssertBurst, "owner_org_burst": c.OwnerOrgBurst, "max_devaddr_blocks": c.MaxDevAddrBlocks} {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %d", name, v))
		}
	}
	for name, d := range map[string]time.Duration{"owner_onboard_interval": c.OwnerOnboardInterval, "owner_assert_interval": c.OwnerAssertInterval,
		"hotspot_assert_interval": c.HotspotAssertInterval, "owner_org_interval": c.OwnerOrgInterval, "dc_poll_interval": c.DCPollInterval} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", name, d))
		}
	}
	return errs
}

// RegistryInfo is the registry part of GET /v1/oracle: what onboarding,
// assertions and organizations cost here, and the network's DevAddr space.
type RegistryInfo struct {
	NetID          string `json:"net_id"`
	DevAddrPrefix  string `json:"devaddr_prefix"`
	OnboardFeeDC   uint64 `json:"onboard_fee_dc"`
	AssertFeeDC    uint64 `json:"assert_fee_dc"`
	OrgFeeDC       uint64 `json:"org_fee_dc"`
	MakersRequired bool   `json:"makers_required"`
	// DCTreasury is the token account DC are bought at (empty: none).
	DCTreasury    string `json:"dc_treasury,omitempty"`
	DCPerBaseUnit uint64 `json:"dc_per_base_unit"`
}

func (o *Oracle) registryInfo() RegistryInfo {
	return RegistryInfo{
		NetID: fmt.Sprintf("%06x", o.reg.netID), DevAddrPrefix: o.reg.prefix.String(),
		OnboardFeeDC: o.cfg.OnboardFeeDC, AssertFeeDC: o.cfg.AssertFeeDC, OrgFeeDC: o.cfg.OrgFeeDC,
		MakersRequired: len(o.reg.makers) > 0, DCTreasury: o.cfg.DCTreasury, DCPerBaseUnit: o.cfg.DCPerBaseUnit,
	}
}

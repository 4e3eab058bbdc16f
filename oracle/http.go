package oracle

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/verifier"
	"github.com/hexfield/hexfield/wire"
)

// maxRequestBody bounds every HTTP request body.
const maxRequestBody = 64 << 10

// Handler returns the oracle's HTTP API:
//
//	GET    /healthz                         liveness and the oracle's state
//	GET    /v1/oracle                       the oracle's key and settings hotspots need
//	GET    /v1/entropy                      the current signed entropy
//	POST   /v1/hotspots                     onboard (OnboardRequest; the owner pays onboard_fee_dc)
//	GET    /v1/hotspots?owner=ADDR[&limit=N&cursor=C]  hotspots of an owner, a page at a time (HotspotPage)
//	GET    /v1/hotspots/{address}           status, location, region, last beacon, witness stats, rewards
//	POST   /v1/hotspots/{address}/location  assert a location (AssertRequest; the owner pays assert_fee_dc)
//	GET    /v1/routes[?org=ID]              every route (session keys never shown)
//	PUT    /v1/routes/{id}                  create or replace a route (signed OrgChange put_route)
//	GET    /v1/routes/{id}                  one route
//	DELETE /v1/routes/{id}                  remove a route (signed OrgChange delete_route)
//	POST   /v1/orgs                         create an organization (signed OrgChange create)
//	GET    /v1/orgs?key=ADDR                organizations a key owns, pays for or is a delegate of
//	GET    /v1/orgs/{id}                    an organization, its routes, payer balance and lock
//	POST   /v1/orgs/{id}                    change an organization (signed OrgChange)
//	GET    /v1/devaddr/free?count=N         the lowest N free DevAddr blocks of 8
//	GET    /v1/dc/{wallet}[?limit=&before=] a wallet's data credits and ledger, newest first
//	POST   /v1/dc/grants                    credit data credits (operator-signed DCGrant)
//	GET    /v1/dc/purchases/{signature}     how a treasury transaction was credited (404: not read yet)
//	GET    /v1/epochs                       recent epochs and their state
//	GET    /v1/epochs/{n}[?hotspot=|owner=] the manifest, with a Merkle proof for one owner
//	GET    /v1/pocs?hotspot=&from=&to=&valid=&reason=&limit=  verified PoCs, newest first
//	GET    /v1/reports/{id}                 a stored report (hex id): kind, received_ms, signer, envelope
//	       /, /tiles/…, /api/v1/…           the coverage map (maps.Server.Handler)
//
// Errors are JSON {"code": "...", "message": "..."} with a 4xx status for
// bad requests. Metrics are not here: see MetricsHandler.
func (o *Oracle) Handler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern string, h func(w http.ResponseWriter, r *http.Request) error) {
		name := pattern[strings.IndexByte(pattern, ' ')+1:]
		mux.Handle(pattern, o.wrap(name, h))
	}
	route("GET /healthz", o.handleHealth)
	route("GET /v1/oracle", o.handleOracleInfo)
	route("GET /v1/entropy", o.handleEntropy)
	route("POST /v1/hotspots", o.handleOnboard)
	route("GET /v1/hotspots", o.handleHotspotsOf)
	route("GET /v1/hotspots/{address}", o.handleHotspot)
	route("POST /v1/hotspots/{address}/location", o.handleAssert)
	route("GET /v1/routes", o.handleRoutes)
	route("GET /v1/routes/{id}", o.handleRoute)
	route("PUT /v1/routes/{id}", o.handleOrgChange(wantPutRoute))
	route("DELETE /v1/routes/{id}", o.handleOrgChange(wantDeleteRoute))
	route("POST /v1/orgs", o.handleOrgChange(wantCreate))
	route("GET /v1/orgs", o.handleOrgsOf)
	route("GET /v1/orgs/{id}", o.handleOrg)
	route("POST /v1/orgs/{id}", o.handleOrgChange(wantOrg))
	route("GET /v1/devaddr/free", o.handleFreeDevAddr)
	route("GET /v1/dc/{wallet}", o.handleDCBalance)
	route("POST /v1/dc/grants", o.handleGrant)
	route("GET /v1/dc/purchases/{signature}", o.handleDCPurchase)
	route("GET /v1/epochs", o.handleEpochs)
	route("GET /v1/epochs/{n}", o.handleEpoch)
	route("GET /v1/pocs", o.handlePoCs)
	route("GET /v1/reports/{id}", o.handleReport)
	mux.Handle("/v1/", o.wrap("other", func(w http.ResponseWriter, r *http.Request) error {
		return apiErr(404, "not_found", "no such endpoint %s %s", r.Method, r.URL.Path)
	}))
	// Everything else is the coverage map: its page, tiles and /api/v1.
	mux.Handle("/", o.maps.Handler())
	return mux
}

// wrap turns handler errors into JSON error responses, counts requests and
// turns a panic into a 500 without taking the server down.
func (o *Oracle) wrap(name string, h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: 200}
		defer func() {
			if p := recover(); p != nil {
				o.log.Error("http handler panic", "route", name, "panic", fmt.Sprint(p))
				if !sw.wrote {
					writeJSON(sw, 500, errorBody{Code: "internal", Message: "internal error"})
				}
			}
			o.m.httpRequests.WithLabelValues(name, strconv.Itoa(sw.status)).Inc()
		}()
		r.Body = http.MaxBytesReader(sw, r.Body, maxRequestBody)
		if err := h(sw, r); err != nil {
			var ae *APIError
			if errors.As(err, &ae) {
				writeJSON(sw, ae.Status, errorBody{Code: ae.Code, Message: ae.Message})
				return
			}
			if errors.Is(err, ErrDiskFull) { // diskspace.go
				writeJSON(sw, 503, errorBody{Code: "disk_full", Message: err.Error()})
				return
			}
			o.log.Error("http handler", "route", name, "err", err)
			writeJSON(sw, 500, errorBody{Code: "internal", Message: "internal error"})
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusWriter) WriteHeader(code int) {
	s.status, s.wrote = code, true
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// readJSON decodes the request body into v, rejecting unknown fields,
// trailing data and oversized bodies with a 4xx APIError.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apiErr(413, "too_large", "request body exceeds %d bytes", mbe.Limit)
		}
		return apiErr(400, "malformed", "request body: %v", err)
	}
	if dec.More() {
		return apiErr(400, "malformed", "request body: trailing data after the JSON value")
	}
	return nil
}

func parseAddress(s, what string) (wire.PublicKey, error) {
	k, err := wire.ParsePublicKey(s)
	if err != nil {
		return k, apiErr(400, "bad_address", "%s %q is not a base58 public key", what, s)
	}
	return k, nil
}

func (o *Oracle) handleHealth(w http.ResponseWriter, r *http.Request) error {
	next, _, err := o.store.getMetaU64(metaEpochNext)
	if err != nil {
		return err
	}
	body := map[string]any{"status": "ok", "oracle": o.pub.String(), "epoch_next": next}
	// A full disk: reads are served, reports refused (diskspace.go).
	if ds := o.store.DiskStatus(); ds.State != "ok" {
		body["status"], body["disk"] = "degraded", ds
	}
	if env := o.entropy.current(); env != nil {
		var e wire.Entropy
		if proto.Unmarshal(env.GetBody(), &e) == nil {
			body["entropy_ts"] = e.GetTs()
		}
	}
	writeJSON(w, 200, body)
	return nil
}

func (o *Oracle) handleOracleInfo(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, 200, map[string]any{
		"key":               o.pub.String(),
		"protocol_version":  wire.ProtocolVersion,
		"epoch_length_s":    int64(o.cfg.EpochLength / time.Second),
		"epoch_grace_s":     int64(o.cfg.EpochGrace / time.Second),
		"beacon_interval_s": int64(o.cfg.BeaconInterval / time.Second),
		"entropy_period_s":  int64(o.cfg.EntropyPeriod / time.Second),
		"params_hash":       hex.EncodeToString(hashSlice(o.params.Hash())),
		"registry":          o.registryInfo(),
	})
	return nil
}

func hashSlice(h [32]byte) []byte { return h[:] }

// entropyJSON is the HTTP form of a signed entropy value.
type entropyJSON struct {
	Ts       int64  `json:"ts"`
	Data     string `json:"data"`
	Signer   string `json:"signer"`
	Envelope []byte `json:"envelope"`
}

func (o *Oracle) handleEntropy(w http.ResponseWriter, r *http.Request) error {
	env := o.entropy.current()
	if env == nil {
		return apiErr(503, "unavailable", "no entropy issued yet")
	}
	var e wire.Entropy
	if err := proto.Unmarshal(env.GetBody(), &e); err != nil {
		return err
	}
	raw, err := proto.Marshal(env)
	if err != nil {
		return err
	}
	writeJSON(w, 200, entropyJSON{Ts: e.GetTs(), Data: hex.EncodeToString(e.GetData()), Signer: o.pub.String(), Envelope: raw})
	return nil
}

// HotspotInfo is the HTTP form of a hotspot's registry record.
type HotspotInfo struct {
	Address     string    `json:"address"`
	Name        string    `json:"name"` // the address's three-word name (wire.PublicKey.Name)
	Owner       string    `json:"owner"`
	DataOnly    bool      `json:"data_only"`
	OnboardedMs int64     `json:"onboarded_ms"`
	Location    *Location `json:"location,omitempty"`
	Region      string    `json:"region,omitempty"`
}

// Location is an asserted location.
type Location struct {
	Cell       string  `json:"cell"`
	Lat        float64 `json:"lat"`
	Lng        float64 `json:"lng"`
	GainDdBi   int32   `json:"gain_ddbi"`
	ElevationM int32   `json:"elevation_m"`
	Nonce      uint64  `json:"nonce"`
	AssertedMs int64   `json:"asserted_ms"`
}

func hotspotInfo(rec hotspotRecord) HotspotInfo {
	hs, _ := wire.PublicKeyFromBytes(rec.Key)
	owner, _ := wire.PublicKeyFromBytes(rec.Owner)
	info := HotspotInfo{Address: hs.String(), Name: hs.Name(), Owner: owner.String(), DataOnly: rec.DataOnly, OnboardedMs: rec.OnboardedMs, Region: rec.Region}
	if rec.Cell != 0 {
		lat, lng, _ := verifier.CellLatLng(rec.Cell)
		info.Location = &Location{Cell: verifier.CellString(rec.Cell), Lat: lat, Lng: lng, GainDdBi: rec.GainDdBi,
			ElevationM: rec.ElevationM, Nonce: rec.Nonce, AssertedMs: rec.AssertedMs}
	}
	return info
}

func (o *Oracle) handleOnboard(w http.ResponseWriter, r *http.Request) error {
	var req OnboardRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	rec, err := o.onboard(req, o.now())
	if err != nil {
		return err
	}
	writeJSON(w, 200, hotspotInfo(rec))
	return nil
}

func (o *Oracle) handleAssert(w http.ResponseWriter, r *http.Request) error {
	hs, err := parseAddress(r.PathValue("address"), "hotspot address")
	if err != nil {
		return err
	}
	var req AssertRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	var env wire.Envelope
	var al wire.AssertLocation
	if proto.Unmarshal(req.Envelope, &env) != nil || proto.Unmarshal(env.GetBody(), &al) != nil {
		return apiErr(400, "malformed", "envelope does not decode")
	}
	if string(al.GetHotspot()) != string(hs[:]) {
		return apiErr(400, "bad_request", "the assertion is for another hotspot than %s", hs)
	}
	rec, err := o.assertLocation(req.Envelope, o.now())
	if err != nil {
		return err
	}
	writeJSON(w, 200, hotspotInfo(rec))
	return nil
}

// Page sizes of GET /v1/hotspots?owner=: limit defaults to
// HotspotsPageDefault and may be at most HotspotsPageMax.
const (
	HotspotsPageDefault = 100
	HotspotsPageMax     = 1000
)

// HotspotPage is GET /v1/hotspots?owner=: one page of an owner's hotspots,
// in the order of their key bytes. A page may hold fewer than limit
// hotspots even when more follow; the list ends when NextCursor is empty.
type HotspotPage struct {
	Hotspots []HotspotInfo `json:"hotspots"`
	// NextCursor, passed as ?cursor=, gets the next page; empty on the
	// last one. It is opaque to clients.
	NextCursor string `json:"next_cursor,omitempty"`
}

// The cursor is the last hotspot key of the page, base64url: the next page
// starts after it, so hotspots onboarded meanwhile are not skipped.
func encodeCursor(key []byte) string { return base64.RawURLEncoding.EncodeToString(key) }

func decodeCursor(c string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) != keyLen {
		return nil, apiErr(400, "bad_cursor", "cursor %q is not one this oracle returned", c)
	}
	return b, nil
}

func (o *Oracle) handleHotspotsOf(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	ownerS := q.Get("owner")
	if ownerS == "" {
		return apiErr(400, "bad_request", "the owner query parameter is required")
	}
	owner, err := parseAddress(ownerS, "owner")
	if err != nil {
		return err
	}
	limit, err := queryInt64(r, "limit", HotspotsPageDefault)
	if err != nil {
		return err
	}
	if limit < 1 || limit > HotspotsPageMax {
		return apiErr(400, "bad_request", "limit must be 1 to %d, got %d", HotspotsPageMax, limit)
	}
	var after []byte
	if c := q.Get("cursor"); c != "" {
		if after, err = decodeCursor(c); err != nil {
			return err
		}
	}
	keys, more, err := o.store.hotspotsOfPage(owner[:], after, int(limit))
	if err != nil {
		return err
	}
	page := HotspotPage{Hotspots: []HotspotInfo{}}
	for _, k := range keys {
		rec, found, err := o.store.hotspot(k)
		if err != nil {
			return err
		}
		// The index keeps an entry for every owner a hotspot had.
		if found && string(rec.Owner) == string(owner[:]) {
			page.Hotspots = append(page.Hotspots, hotspotInfo(rec))
		}
	}
	if more {
		page.NextCursor = encodeCursor(keys[len(keys)-1])
	}
	writeJSON(w, 200, page)
	return nil
}

// HotspotStatus is GET /v1/hotspots/{address}.
type HotspotStatus struct {
	HotspotInfo
	// Status is "active" (a report in the last day), "inactive" or
	// "not_asserted".
	Status     string         `json:"status"`
	LastBeacon *ReportRef     `json:"last_beacon,omitempty"`
	LastReport *ReportRef     `json:"last_report,omitempty"`
	Witnesses  WitnessStats   `json:"witness_stats"`
	Rewards    []EpochReward  `json:"rewards"`
	Recent     map[string]int `json:"reports_24h"`
}

// ReportRef points at a stored report.
type ReportRef struct {
	ID         string `json:"id"`
	ReceivedMs int64  `json:"received_ms"`
}

// WitnessStats counts a hotspot's verified witnesses over the last 24 h.
type WitnessStats struct {
	Valid   int            `json:"valid"`
	Invalid int            `json:"invalid"`
	Reasons map[string]int `json:"reasons,omitempty"`
	// Heard counts beacons of this hotspot with their valid witnesses.
	BeaconsVerified int `json:"beacons_verified"`
	ValidWitnessed  int `json:"witnessed_by_valid"`
}

// EpochReward is a hotspot's line in one epoch's manifest.
type EpochReward struct {
	Epoch    uint64 `json:"epoch"`
	Amount   uint64 `json:"amount"`
	Withheld uint64 `json:"withheld,omitempty"`
}

func (o *Oracle) handleHotspot(w http.ResponseWriter, r *http.Request) error {
	hs, err := parseAddress(r.PathValue("address"), "hotspot address")
	if err != nil {
		return err
	}
	rec, found, err := o.store.hotspot(hs[:])
	if err != nil {
		return err
	}
	if !found {
		return apiErr(404, "not_found", "hotspot %s is not onboarded", hs)
	}
	st := HotspotStatus{HotspotInfo: hotspotInfo(rec), Recent: map[string]int{}, Rewards: []EpochReward{}}
	now := o.now().UnixMilli()
	day := now - 24*3600*1000
	active := false
	for _, k := range []wire.Kind{wire.Kind_KIND_BEACON_REPORT, wire.Kind_KIND_WITNESS_REPORT, wire.Kind_KIND_PACKET_REPORT} {
		n, err := o.store.CountHotspotReports(hs[:], k, day)
		if err != nil {
			return err
		}
		st.Recent[kindLabel(k)] = n
		active = active || n > 0
		last, err := o.store.HotspotReports(hs[:], k, 1)
		if err != nil {
			return err
		}
		if len(last) == 1 {
			ref := &ReportRef{ID: hex.EncodeToString(last[0].ID[:]), ReceivedMs: last[0].ReceivedMs}
			if k == wire.Kind_KIND_BEACON_REPORT {
				st.LastBeacon = ref
			}
			if st.LastReport == nil || ref.ReceivedMs > st.LastReport.ReceivedMs {
				st.LastReport = ref
			}
		}
	}
	switch {
	case rec.Cell == 0:
		st.Status = "not_asserted"
	case active:
		st.Status = "active"
	default:
		st.Status = "inactive"
	}
	if st.Witnesses, err = o.witnessStats(hs, day); err != nil {
		return err
	}
	if st.Rewards, err = o.rewardsOf(hs, 10); err != nil {
		return err
	}
	writeJSON(w, 200, st)
	return nil
}

func (o *Oracle) handleRoutes(w http.ResponseWriter, r *http.Request) error {
	rs, err := o.store.routes()
	if err != nil {
		return err
	}
	out := []Route{}
	org := r.URL.Query().Get("org")
	for _, rt := range rs {
		if org == "" || rt.Org == org {
			out = append(out, rt.public())
		}
	}
	writeJSON(w, 200, out)
	return nil
}

func (o *Oracle) handleRoute(w http.ResponseWriter, r *http.Request) error {
	rs, err := o.store.routes()
	if err != nil {
		return err
	}
	for _, rt := range rs {
		if rt.ID == r.PathValue("id") {
			writeJSON(w, 200, rt.public())
			return nil
		}
	}
	return apiErr(404, "not_found", "no route %q", r.PathValue("id"))
}

// handleOrgChange applies a signed organization change. want, when not
// nil, checks that the change is what the path says.
func (o *Oracle) handleOrgChange(want func(r *http.Request, ch *wire.OrgChange) error) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req OrgChangeRequest
		if err := readJSON(r, &req); err != nil {
			return err
		}
		var env wire.Envelope
		var ch wire.OrgChange
		if proto.Unmarshal(req.Envelope, &env) != nil || proto.Unmarshal(env.GetBody(), &ch) != nil {
			return apiErr(400, "malformed", "envelope does not decode")
		}
		if err := want(r, &ch); err != nil {
			return err
		}
		res, err := o.applyOrgChange(req.Envelope, o.now())
		if err != nil {
			return err
		}
		writeJSON(w, 200, res)
		return nil
	}
}

func wantCreate(_ *http.Request, ch *wire.OrgChange) error {
	if ch.GetCreate() == nil {
		return apiErr(400, "bad_request", "POST /v1/orgs takes a create change; other changes go to POST /v1/orgs/{id}")
	}
	return nil
}

func wantOrg(r *http.Request, ch *wire.OrgChange) error {
	if ch.GetOrg() != r.PathValue("id") {
		return apiErr(400, "bad_request", "the change is for organization %q, not %q", ch.GetOrg(), r.PathValue("id"))
	}
	if ch.GetCreate() != nil {
		return apiErr(400, "bad_request", "organizations are created with POST /v1/orgs")
	}
	return nil
}

func wantPutRoute(r *http.Request, ch *wire.OrgChange) error {
	if ch.GetPutRoute() == nil || ch.GetPutRoute().GetId() != r.PathValue("id") {
		return apiErr(400, "bad_request", "PUT /v1/routes/%s takes a put_route change of that route", r.PathValue("id"))
	}
	return nil
}

func wantDeleteRoute(r *http.Request, ch *wire.OrgChange) error {
	if _, ok := ch.GetOp().(*wire.OrgChange_DeleteRoute); !ok || ch.GetDeleteRoute() != r.PathValue("id") {
		return apiErr(400, "bad_request", "DELETE /v1/routes/%s takes a delete_route change of that route", r.PathValue("id"))
	}
	return nil
}

func (o *Oracle) handleOrg(w http.ResponseWriter, r *http.Request) error {
	org, found, err := o.store.Org(r.PathValue("id"))
	if err != nil {
		return err
	}
	if !found {
		return apiErr(404, "not_found", "no organization %q", r.PathValue("id"))
	}
	writeJSON(w, 200, org)
	return nil
}

// maxOrgsListed bounds GET /v1/orgs.
const maxOrgsListed = 100

func (o *Oracle) handleOrgsOf(w http.ResponseWriter, r *http.Request) error {
	s := r.URL.Query().Get("key")
	if s == "" {
		return apiErr(400, "bad_request", "the key query parameter (an owner, payer or delegate) is required")
	}
	k, err := parseAddress(s, "key")
	if err != nil {
		return err
	}
	orgs, err := o.store.orgsOf(k, maxOrgsListed)
	if err != nil {
		return err
	}
	writeJSON(w, 200, orgs)
	return nil
}

// FreeDevAddr is GET /v1/devaddr/free: the network's DevAddr prefix and
// the lowest free run of the asked number of blocks.
type FreeDevAddr struct {
	NetID  string `json:"net_id"`
	Prefix string `json:"prefix"`
	Start  HexU32 `json:"start"`
	Count  uint64 `json:"count"`
}

func (o *Oracle) handleFreeDevAddr(w http.ResponseWriter, r *http.Request) error {
	n, err := queryInt64(r, "count", 1)
	if err != nil {
		return err
	}
	if n < 1 || n > int64(o.cfg.MaxDevAddrBlocks) {
		return apiErr(400, "bad_request", "count must be 1 to %d", o.cfg.MaxDevAddrBlocks)
	}
	start, ok, err := o.store.freeDevAddr(o.reg.prefix, uint64(n))
	if err != nil {
		return err
	}
	if !ok {
		return apiErr(507, "devaddr_exhausted", "no %d free DevAddr blocks left in %s", n, o.reg.prefix)
	}
	writeJSON(w, 200, FreeDevAddr{NetID: fmt.Sprintf("%06x", o.reg.netID), Prefix: o.reg.prefix.String(), Start: HexU32(start), Count: uint64(n)})
	return nil
}

// maxDCEntries bounds the ledger entries of GET /v1/dc/{wallet}.
const maxDCEntries = 200

func (o *Oracle) handleDCBalance(w http.ResponseWriter, r *http.Request) error {
	wallet, err := parseAddress(r.PathValue("wallet"), "wallet")
	if err != nil {
		return err
	}
	limit, err := queryInt64(r, "limit", 20)
	if err != nil {
		return err
	}
	before, err := queryInt64(r, "before", -1)
	if err != nil {
		return err
	}
	limit = max(0, min(limit, maxDCEntries))
	b, err := o.store.DCAccount(wallet)
	if err != nil {
		return err
	}
	if limit > 0 {
		upTo := uint64(math.MaxUint64)
		if before >= 0 {
			upTo = uint64(before)
		}
		if b.Entries, err = o.store.dcEntries(wallet, upTo, int(limit)); err != nil {
			return err
		}
	}
	writeJSON(w, 200, b)
	return nil
}

func (o *Oracle) handleDCPurchase(w http.ResponseWriter, r *http.Request) error {
	sig := r.PathValue("signature")
	if len(sig) > 100 {
		return apiErr(400, "bad_request", "not a transaction signature")
	}
	p, found, err := o.store.DCPurchaseRecord(sig)
	if err != nil {
		return err
	}
	if !found {
		return apiErr(404, "not_found", "transaction %q has not been read from the DC treasury (yet)", sig)
	}
	writeJSON(w, 200, p)
	return nil
}

func (o *Oracle) handleGrant(w http.ResponseWriter, r *http.Request) error {
	var req GrantRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	res, err := o.applyGrant(req.Envelope, o.now())
	if err != nil {
		return err
	}
	writeJSON(w, 200, res)
	return nil
}

// queryInt64 parses an optional integer query parameter.
func queryInt64(r *http.Request, name string, def int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, apiErr(400, "bad_request", "%s must be an integer, got %q", name, s)
	}
	return v, nil
}

// ReportInfo is GET /v1/reports/{id}.
type ReportInfo struct {
	ID         string         `json:"id"`
	Kind       string         `json:"kind"`
	ReceivedMs int64          `json:"received_ms"`
	Signer     wire.PublicKey `json:"signer"`
	Envelope   []byte         `json:"envelope"`
}

func (o *Oracle) handleReport(w http.ResponseWriter, r *http.Request) error {
	b, err := hex.DecodeString(r.PathValue("id"))
	if err != nil || len(b) != 32 {
		return apiErr(400, "bad_request", "report id must be 64 hex digits")
	}
	id := [32]byte(b)
	rep, found, err := o.store.Report(id)
	if err != nil {
		return err
	}
	if !found {
		return apiErr(404, "not_found", "no report %x (never stored, or older than the retention)", id)
	}
	var env wire.Envelope
	if err := proto.Unmarshal(rep.Envelope, &env); err != nil {
		return err
	}
	writeJSON(w, 200, ReportInfo{ID: hex.EncodeToString(id[:]), Kind: kindLabel(rep.Kind), ReceivedMs: rep.ReceivedMs,
		Signer: env.SignerKey(), Envelope: rep.Envelope})
	return nil
}

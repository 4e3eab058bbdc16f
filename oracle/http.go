package oracle

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/verifier"
	"github.com/hexfield/hexfield/wire"
)

// maxRequestBody bounds every HTTP request body.
const maxRequestBody = 64 << 10

// Handler returns the oracle's HTTP API:
//
//	GET    /healthz                         liveness and the oracle's state
//	GET    /metrics                         Prometheus metrics
//	GET    /v1/oracle                       the oracle's key and settings hotspots need
//	GET    /v1/entropy                      the current signed entropy
//	POST   /v1/hotspots                     onboard (OnboardRequest)
//	GET    /v1/hotspots?owner=ADDR          hotspots of an owner
//	GET    /v1/hotspots/{address}           status, location, region, last beacon, witness stats, rewards
//	POST   /v1/hotspots/{address}/location  assert a location (AssertRequest)
//	GET    /v1/routes                       every route
//	PUT    /v1/routes/{id}                  create or replace a route (admin)
//	GET    /v1/routes/{id}                  one route
//	DELETE /v1/routes/{id}                  remove a route (admin)
//	GET    /v1/epochs                       recent epochs and their state
//	GET    /v1/epochs/{n}[?hotspot=|owner=] the manifest, with a Merkle proof for one owner
//	GET    /v1/pocs?hotspot=&from=&to=&valid=&reason=&limit=  verified PoCs, newest first
//	GET    /v1/reports/{id}                 a stored report (hex id): kind, received_ms, signer, envelope
//	       /, /tiles/…, /api/v1/…           the coverage map (maps.Server.Handler)
//
// Errors are JSON {"code": "...", "message": "..."} with a 4xx status for
// bad requests.
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
	route("PUT /v1/routes/{id}", o.handlePutRoute)
	route("DELETE /v1/routes/{id}", o.handleDeleteRoute)
	route("GET /v1/epochs", o.handleEpochs)
	route("GET /v1/epochs/{n}", o.handleEpoch)
	route("GET /v1/pocs", o.handlePoCs)
	route("GET /v1/reports/{id}", o.handleReport)
	if o.gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(o.gatherer, promhttp.HandlerOpts{}))
	}
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
	info := HotspotInfo{Address: hs.String(), Owner: owner.String(), DataOnly: rec.DataOnly, OnboardedMs: rec.OnboardedMs, Region: rec.Region}
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

func (o *Oracle) handleHotspotsOf(w http.ResponseWriter, r *http.Request) error {
	ownerS := r.URL.Query().Get("owner")
	if ownerS == "" {
		return apiErr(400, "bad_request", "the owner query parameter is required")
	}
	owner, err := parseAddress(ownerS, "owner")
	if err != nil {
		return err
	}
	keys, err := o.store.hotspotsOf(owner[:])
	if err != nil {
		return err
	}
	out := []HotspotInfo{}
	for _, k := range keys {
		rec, found, err := o.store.hotspot(k)
		if err != nil {
			return err
		}
		if found && string(rec.Owner) == string(owner[:]) {
			out = append(out, hotspotInfo(rec))
		}
	}
	writeJSON(w, 200, out)
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
	if rs == nil {
		rs = []Route{}
	}
	writeJSON(w, 200, rs)
	return nil
}

func (o *Oracle) handleRoute(w http.ResponseWriter, r *http.Request) error {
	rs, err := o.store.routes()
	if err != nil {
		return err
	}
	for _, rt := range rs {
		if rt.ID == r.PathValue("id") {
			writeJSON(w, 200, rt)
			return nil
		}
	}
	return apiErr(404, "not_found", "no route %q", r.PathValue("id"))
}

// authorizeAdmin checks the admin token, or a loopback client when no
// token is configured.
func (o *Oracle) authorizeAdmin(r *http.Request) error {
	if o.cfg.AdminToken == "" {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err == nil && ip != nil && ip.IsLoopback() {
			return nil
		}
		return apiErr(403, "forbidden", "route changes are accepted only from loopback when no admin_token is set")
	}
	if r.Header.Get("Authorization") != "Bearer "+o.cfg.AdminToken {
		return apiErr(401, "unauthorized", "a valid admin bearer token is required")
	}
	return nil
}

func (o *Oracle) handlePutRoute(w http.ResponseWriter, r *http.Request) error {
	if err := o.authorizeAdmin(r); err != nil {
		return err
	}
	var rt Route
	if err := readJSON(r, &rt); err != nil {
		return err
	}
	if rt.ID == "" {
		rt.ID = r.PathValue("id")
	}
	if rt.ID != r.PathValue("id") {
		return apiErr(400, "bad_request", "route id %q does not match the path", rt.ID)
	}
	if err := rt.validate(); err != nil {
		return err
	}
	if err := o.store.putRoute(rt); err != nil {
		return err
	}
	o.m.registryChanges.WithLabelValues("route_put", "ok").Inc()
	writeJSON(w, 200, rt)
	return nil
}

func (o *Oracle) handleDeleteRoute(w http.ResponseWriter, r *http.Request) error {
	if err := o.authorizeAdmin(r); err != nil {
		return err
	}
	found, err := o.store.deleteRoute(r.PathValue("id"))
	if err != nil {
		return err
	}
	if !found {
		return apiErr(404, "not_found", "no route %q", r.PathValue("id"))
	}
	o.m.registryChanges.WithLabelValues("route_delete", "ok").Inc()
	writeJSON(w, 200, map[string]string{"deleted": r.PathValue("id")})
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

package maps

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Mapper ingest (spec §5): POST /api/v1/ingest/uplink takes a Helium
// Console uplink (a body with a "hotspots" array) or a ChirpStack v4
// uplink event (a body with "rxInfo" and "txInfo"; ?event=up), validates it
// as Helium Mappers does and folds each valid hotspot's reception into the
// device position's res-9 cell. Rejections answer 422 with a reason.

// maxIngestBody bounds a request body (an uplink with many gateways is a
// few kB).
const maxIngestBody = 256 << 10

// Reject reasons.
const (
	RejectDecoder        = "decoder_error"
	RejectNoFix          = "no_fix"
	RejectNoPosition     = "no_position"
	RejectInvalidPos     = "invalid_position"
	RejectAltitude       = "invalid_altitude"
	RejectAccuracy       = "invalid_accuracy"
	RejectNoTimestamp    = "no_timestamp"
	RejectTimestamp      = "invalid_timestamp"
	RejectField          = "invalid_field"
	RejectNoHotspotLoc   = "no_hotspot_location"
	RejectNoValidHotspot = "no_valid_hotspots"
)

// Rejection is a validation failure with its reason.
type Rejection struct {
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

func (r *Rejection) Error() string { return r.Reason + ": " + r.Detail }

func reject(reason, format string, a ...any) *Rejection {
	return &Rejection{Reason: reason, Detail: fmt.Sprintf(format, a...)}
}

// errIgnored marks a ChirpStack event that is not an uplink.
var errIgnored = errors.New("not an uplink event")

// Uplink is an accepted mapper uplink.
type Uplink struct {
	ID          string  `json:"id"`
	DevEUI      string  `json:"dev_eui"`
	AppEUI      string  `json:"app_eui"`
	FCnt        int64   `json:"fcnt"`
	TimeMs      int64   `json:"time_ms"`
	Lat         float64 `json:"lat"`
	Lng         float64 `json:"lng"`
	AltitudeM   float64 `json:"altitude"`
	AccuracyM   float64 `json:"accuracy"`
	H3          string  `json:"h3"`
	FreqMHz     float64 `json:"frequency"`
	Spreading   string  `json:"spreading"`
	cell        uint64
	HotspotsRaw int `json:"hotspots_received"`
}

// UplinkHotspot is one valid reception of an accepted uplink.
type UplinkHotspot struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	Lat        float64 `json:"lat"`
	Lng        float64 `json:"lng"`
	RSSI       float64 `json:"rssi"`
	SNR        float64 `json:"snr"`
	DistanceKm float64 `json:"distance_km"`
}

// field access on decoded JSON (numbers kept as json.Number).
type obj map[string]any

func (o obj) get(path ...string) (any, bool) {
	var cur any = map[string]any(o)
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, cur != nil
}

func (o obj) num(path ...string) (float64, bool) {
	v, ok := o.get(path...)
	if !ok {
		return 0, false
	}
	return toNum(v)
}

func toNum(v any) (float64, bool) {
	var f float64
	var err error
	switch x := v.(type) {
	case json.Number:
		f, err = x.Float64()
	case string:
		f, err = strconv.ParseFloat(strings.TrimSpace(x), 64)
	default:
		return 0, false
	}
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// text is a field that must be non-blank text of at most 255 bytes
// without NUL.
func text(v any, ok bool) (string, bool) {
	s, isStr := v.(string)
	if !ok || !isStr || strings.TrimSpace(s) == "" || len(s) > maxName || strings.IndexByte(s, 0) >= 0 {
		return "", false
	}
	return s, true
}

var earliest = time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)

// parseTime reads Unix ms (a number) or RFC 3339 text.
func parseTime(v any, ok bool) (time.Time, bool) {
	if !ok {
		return time.Time{}, false
	}
	if s, isStr := v.(string); isStr {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t, true
		}
	}
	if f, isNum := toNum(v); isNum && f >= 0 && f < 1e15 {
		return time.UnixMilli(int64(f)), true
	}
	return time.Time{}, false
}

// rawHotspot is a reception before validation.
type rawHotspot struct {
	id, name       any
	lat, lng       any
	rssi, snr      any
	hasID, hasName bool
}

// parseUplink decodes and validates one body at time now.
func parseUplink(body []byte, event string, now time.Time) (Uplink, []UplinkHotspot, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var o obj
	if err := dec.Decode(&o); err != nil || dec.More() {
		return Uplink{}, nil, badRequest("the body is not one JSON object")
	}
	_, isConsole := o.get("hotspots")
	_, hasRx := o.get("rxInfo")
	_, hasTx := o.get("txInfo")
	var u Uplink
	var pos obj
	var raws []rawHotspot
	var tv any
	var tok bool
	var freq any
	var fok bool
	var badText bool // id, dev_eui or app_eui is not valid text
	switch {
	case isConsole:
		hs, _ := o.get("hotspots")
		list, isList := hs.([]any)
		if !isList {
			return u, nil, badRequest("hotspots must be an array")
		}
		if st, _ := o.get("decoded", "status"); st != "success" {
			return u, nil, reject(RejectDecoder, "decoded.status is %v, not success", st)
		}
		p, ok := o.get("decoded", "payload")
		pm, isMap := p.(map[string]any)
		if !ok || !isMap {
			return u, nil, reject(RejectDecoder, "decoded.payload is missing")
		}
		pos = obj(pm)
		var idOK, devOK, appOK bool
		u.ID, idOK = text(o.get("id"))
		u.DevEUI, devOK = text(o.get("dev_eui"))
		u.AppEUI, appOK = text(o.get("app_eui"))
		if !idOK || !devOK || !appOK {
			badText = true // reported after the position checks, in the documented order
		}
		fc, fcOK := o.num("fcnt")
		if !fcOK || fc != math.Trunc(fc) || fc < 0 || fc > math.MaxInt32 {
			u.FCnt = -1
		} else {
			u.FCnt = int64(fc)
		}
		tv, tok = o.get("reported_at")
		for _, h := range list {
			hm, isMap := h.(map[string]any)
			if !isMap {
				continue
			}
			ho := obj(hm)
			r := rawHotspot{}
			r.id, r.hasID = ho.get("id")
			r.name, r.hasName = ho.get("name")
			r.lat, _ = ho.get("lat")
			r.lng, _ = ho.get("long")
			r.rssi, _ = ho.get("rssi")
			r.snr, _ = ho.get("snr")
			raws = append(raws, r)
			if freq == nil {
				freq, fok = ho.get("frequency")
				if sp, ok := text(ho.get("spreading")); ok {
					u.Spreading = sp
				} else {
					u.Spreading = "\x00"
				}
			}
		}
	case hasRx && hasTx:
		if event != "" && event != "up" {
			return u, nil, errIgnored
		}
		p, ok := o.get("object")
		pm, isMap := p.(map[string]any)
		if !ok || !isMap {
			return u, nil, reject(RejectDecoder, "object (the decoded payload) is missing")
		}
		pos = obj(pm)
		dev, devOK := text(o.get("deviceInfo", "devEui"))
		u.ID, u.DevEUI, u.AppEUI = dev, dev, "0000000000000000"
		badText = !devOK
		u.FCnt = 0
		if v, ok := o.get("fCnt"); ok {
			fc, isNum := toNum(v)
			if !isNum || fc != math.Trunc(fc) || fc < 0 || fc > math.MaxInt32 {
				u.FCnt = -1
			} else {
				u.FCnt = int64(fc)
			}
		}
		tv, tok = o.get("time")
		hz, hzOK := o.num("txInfo", "frequency")
		freq, fok = json.Number(strconv.FormatFloat(hz/1e6, 'f', -1, 64)), hzOK
		sf, sfOK := o.num("txInfo", "modulation", "lora", "spreadingFactor")
		bw, bwOK := o.num("txInfo", "modulation", "lora", "bandwidth")
		if sfOK && bwOK {
			u.Spreading = fmt.Sprintf("SF%dBW%d", int(sf), int(bw/1000))
		} else {
			u.Spreading = "\x00"
		}
		rx, _ := o.get("rxInfo")
		list, isList := rx.([]any)
		if !isList {
			return u, nil, badRequest("rxInfo must be an array")
		}
		for _, g := range list {
			gm, isMap := g.(map[string]any)
			if !isMap {
				continue
			}
			gi := obj(gm)
			if !tok {
				for _, k := range []string{"gwTime", "nsTime", "time"} {
					if tv, tok = gi.get(k); tok {
						break
					}
				}
			}
			r := rawHotspot{}
			r.id, r.hasID = gi.get("metadata", "gateway_id")
			if !r.hasID {
				r.id, r.hasID = gi.get("gatewayId")
			}
			r.name, r.hasName = gi.get("metadata", "gateway_name")
			if !r.hasName {
				r.name, r.hasName = r.id, r.hasID
			}
			r.lat, _ = gi.get("metadata", "gateway_lat")
			r.lng, _ = gi.get("metadata", "gateway_long")
			r.rssi, _ = gi.get("rssi")
			if r.snr, _ = gi.get("snr"); r.snr == nil {
				r.snr = json.Number("0")
			}
			raws = append(raws, r)
		}
	case hasRx || hasTx:
		return u, nil, badRequest("a ChirpStack uplink event has both rxInfo and txInfo")
	default:
		if _, ok := o.get("deviceInfo"); ok {
			return u, nil, errIgnored // another ChirpStack event
		}
		return u, nil, badRequest("not a Console uplink (hotspots) nor a ChirpStack uplink event (rxInfo, txInfo)")
	}

	// The device's position, in the documented order of checks.
	if f, _ := pos.get("fixFailed"); f == true {
		return u, nil, reject(RejectNoFix, "the device reports fixFailed")
	}
	lat, latOK := pos.num("latitude")
	lng, lngOK := pos.num("longitude")
	if !latOK || !lngOK || lat == 0 || lng == 0 {
		return u, nil, reject(RejectNoPosition, "latitude and longitude must be non-zero numbers")
	}
	if lat < -90 || lat > 90 || lng < -180 || lng > 180 {
		return u, nil, reject(RejectInvalidPos, "latitude %v, longitude %v out of range", lat, lng)
	}
	alt, altOK := pos.num("altitude")
	if !altOK || alt < -500 {
		return u, nil, reject(RejectAltitude, "altitude must be a number ≥ −500 m")
	}
	acc, accOK := pos.num("accuracy")
	if !accOK || acc < 0 {
		return u, nil, reject(RejectAccuracy, "accuracy must be a number ≥ 0")
	}
	t, ok := parseTime(tv, tok)
	if !ok {
		return u, nil, reject(RejectNoTimestamp, "no readable time (Unix ms or RFC 3339)")
	}
	if t.Before(earliest) || t.After(now.Add(24*time.Hour)) {
		return u, nil, reject(RejectTimestamp, "time %s is before 2015 or more than a day ahead", t.UTC().Format(time.RFC3339))
	}
	if badText {
		return u, nil, reject(RejectField, "id, dev_eui and app_eui must be non-blank text ≤ 255 bytes without NUL")
	}
	if u.FCnt < 0 {
		return u, nil, reject(RejectField, "fcnt must be an integer 0…2³¹−1")
	}
	if u.Spreading == "\x00" || u.Spreading == "" && len(raws) > 0 {
		return u, nil, reject(RejectField, "spreading must be non-blank text ≤ 255 bytes without NUL")
	}
	f, fIsNum := toNum(freq)
	if !fok || !fIsNum {
		if len(raws) > 0 {
			return u, nil, reject(RejectField, "frequency must be numeric")
		}
	}
	u.FreqMHz = f
	u.Lat, u.Lng, u.AltitudeM, u.AccuracyM, u.TimeMs = lat, lng, alt, acc, t.UnixMilli()
	u.cell, _ = latLngCell(lat, lng, BaseRes)
	u.H3 = CellString(u.cell)
	u.HotspotsRaw = len(raws)

	var valid []UplinkHotspot
	located := 0
	for _, r := range raws {
		hlat, ok1 := toNum(r.lat)
		hlng, ok2 := toNum(r.lng)
		if !ok1 || !ok2 || hlat == 0 || hlng == 0 {
			continue // no location
		}
		located++
		if hlat < -90 || hlat > 90 || hlng < -180 || hlng > 180 {
			continue
		}
		d := distanceKm(lat, lng, hlat, hlng)
		rssi, ok3 := toNum(r.rssi)
		snr, ok4 := toNum(r.snr)
		id, ok5 := text(r.id, r.hasID)
		name, ok6 := text(r.name, r.hasName)
		if d > 500 || !ok3 || rssi < -141 || rssi > 0 || !ok4 || snr < -40 || snr > 40 || !ok5 || !ok6 {
			continue
		}
		valid = append(valid, UplinkHotspot{ID: id, Name: name, Lat: hlat, Lng: hlng, RSSI: rssi, SNR: snr, DistanceKm: math.Round(d*1000) / 1000})
	}
	if located == 0 {
		return u, nil, reject(RejectNoHotspotLoc, "no hotspot has a location")
	}
	if len(valid) == 0 {
		return u, nil, reject(RejectNoValidHotspot, "no hotspot passed validation (location within 500 km, RSSI −141…0 dBm, SNR −40…40 dB, id and name)")
	}
	return u, valid, nil
}

func distanceKm(lat1, lng1, lat2, lng2 float64) float64 {
	const r = 6371.0088
	p1, p2 := lat1*math.Pi/180, lat2*math.Pi/180
	dp, dl := p2-p1, (lng2-lng1)*math.Pi/180
	a := math.Sin(dp/2)*math.Sin(dp/2) + math.Cos(p1)*math.Cos(p2)*math.Sin(dl/2)*math.Sin(dl/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}

func (s *Server) handleIngest(w http.ResponseWriter, r *http.Request) error {
	if !s.limiter.allow(clientIP(r)) {
		s.m.ingest.WithLabelValues("rate_limited").Inc()
		w.Header().Set("Retry-After", "1")
		return &apiError{429, "rate_limited", fmt.Sprintf("at most %d uplinks per minute per client", s.cfg.IngestPerMinute)}
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r.Body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &apiError{413, "too_large", fmt.Sprintf("body exceeds %d bytes", mbe.Limit)}
		}
		return badRequest("read body: %v", err)
	}
	u, hs, err := parseUplink(buf.Bytes(), r.URL.Query().Get("event"), s.cfg.Now())
	var rej *Rejection
	switch {
	case errors.Is(err, errIgnored):
		s.m.ingest.WithLabelValues("ignored").Inc()
		writeJSON(w, 200, map[string]string{"status": "ignored"})
		return nil
	case errors.As(err, &rej):
		s.m.ingest.WithLabelValues(rej.Reason).Inc()
		writeJSON(w, 422, map[string]string{"status": "rejected", "reason": rej.Reason, "detail": rej.Detail})
		return nil
	case err != nil:
		s.m.ingest.WithLabelValues("malformed").Inc()
		return err
	}
	obs := make([]Observation, len(hs))
	for i, h := range hs {
		obs[i] = Observation{Cell: u.cell, Hotspot: h.ID, RSSI: int16(math.Round(h.RSSI * 10)), SNR: int16(math.Round(h.SNR * 10)),
			Ms: u.TimeMs, Source: SourceMapper}
	}
	if err := s.Fold(obs); err != nil {
		return err
	}
	s.m.ingest.WithLabelValues("accepted").Inc()
	writeJSON(w, 200, map[string]any{"status": "success", "uplink": u, "hotspots": hs})
	return nil
}

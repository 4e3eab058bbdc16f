package verifier

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/wire"
)

// Charging (routing.md §7): which delivered uplink copies a customer pays
// for, and so which hotspots earn data-transfer rewards. Nothing a hotspot
// claims about a copy is trusted: the PHYPayload travels in the packet
// report, and the frame type, DevAddr and frame counter are read from it.
//
// The rules, in order, over the epoch's input window:
//  1. A copy counts only if its payload is 1–255 bytes, hashes to the
//     reported hash, parses as a LoRaWAN 1.0.x uplink, names a route of
//     the snapshot that is active and whose DevAddr ranges hold the
//     frame's DevAddr, and comes from a registered hotspot. Joins are free.
//  2. Copies of one uplink are those on one route with the same (DevAddr,
//     FCnt): a frame with another payload but the same counter is the same
//     uplink, and a later copy of it (after CopyWindow from its first copy,
//     or in a later epoch) is a replay and free. An uplink first seen
//     before the epoch was charged then, never again.
//  3. Free, earning nothing: copies that fail the route's session key
//     filters for the DevAddr, and copies from hotspots the detectors
//     flagged this epoch or that had no valid proof of coverage in the
//     detector window (a ring of sybils must not win copies). A hotspot's
//     repeat of its own copy counts once.
//  4. The remaining copies are ordered by SHA-256(payload hash ‖ hotspot
//     key); the first MaxCopies are charged.
//  5. One DevAddr is charged for at most DutyCycleBP of the epoch's
//     airtime: a device cannot send more, so more is forged. Uplinks are
//     taken in (first copy's received_ms, DevAddr, FCnt, route) order; an
//     uplink that would exceed its DevAddr's budget is free.
//  6. No copy is charged beyond its payer's balance.

// ChargingParams are the charging rules' parameters.
type ChargingParams struct {
	// CopyWindow is how long after an uplink's first copy further copies
	// are copies rather than replays (120 s, Helium's routing cache).
	CopyWindow time.Duration
	// DutyCycleBP is the share of the epoch, in basis points, that one
	// DevAddr can be charged airtime for (100 = 1 %, the EU868 limit of
	// the uplink sub-bands; for regions without a duty cycle it is
	// hexfield's fair-use bound).
	DutyCycleBP uint32
	// FCntHighMax is the highest upper half of a 32-bit frame counter that
	// session key filters try, since only the low 16 bits travel on air
	// (15: devices up to about a million uplinks).
	FCntHighMax uint16
	// AllowWithoutPoC lets hotspots without valid proof of coverage win
	// copies (flagged ones still never do). Only for private networks
	// whose hotspots are vetted some other way (makers, no public
	// onboarding): in an open network it lets sybils without radios take
	// customers' copies. Default false.
	AllowWithoutPoC bool
}

// DefaultChargingParams returns the defaults above.
func DefaultChargingParams() ChargingParams {
	return ChargingParams{CopyWindow: 120 * time.Second, DutyCycleBP: 100, FCntHighMax: 15}
}

func (c ChargingParams) validate() error {
	switch {
	case c.CopyWindow <= 0 || c.CopyWindow%time.Millisecond != 0:
		return fmt.Errorf("%w: charging copy window %v", ErrParams, c.CopyWindow)
	case c.DutyCycleBP == 0 || c.DutyCycleBP > bpOne:
		return fmt.Errorf("%w: charging duty cycle %d bp", ErrParams, c.DutyCycleBP)
	}
	return nil
}

func (c ChargingParams) appendCanonical(b []byte) []byte {
	b = append(b, "charging-v1"...)
	b = binary.LittleEndian.AppendUint64(b, uint64(c.CopyWindow))
	b = binary.LittleEndian.AppendUint64(b, uint64(c.DutyCycleBP))
	b = binary.LittleEndian.AppendUint64(b, uint64(c.FCntHighMax))
	if c.AllowWithoutPoC {
		return append(b, 1)
	}
	return append(b, 0)
}

// Route is a customer route as charging sees it in the registry snapshot
// at the epoch's start.
type Route struct {
	ID string
	// Payer is the wallet whose data credits pay for the route's traffic.
	Payer wire.PublicKey
	// DevAddrs are inclusive DevAddr ranges; data uplinks match on these.
	DevAddrs []DevAddrRange
	// MaxCopies is how many copies of one uplink are charged (0 means 1).
	MaxCopies uint32
	// Active is false while the route is disabled or its organization is
	// locked: nothing is charged for it.
	Active bool
	// SessionKeys are the route's session key filters (oracles only).
	SessionKeys []SessionKey
}

// DevAddrRange is an inclusive range of DevAddrs.
type DevAddrRange struct {
	Start, End uint32
}

// SessionKey is a session key filter: for copies of uplinks from DevAddr,
// only those whose MIC verifies with one of the route's NwkSKeys for that
// DevAddr are charged.
type SessionKey struct {
	DevAddr uint32
	NwkSKey [16]byte
}

// Balance is a wallet's data-credit balance.
type Balance struct {
	Wallet wire.PublicKey
	DC     uint64
}

// RouteCharge is what one route was charged in an epoch: a manifest line,
// so that every co-signing oracle debits the same amounts.
type RouteCharge struct {
	Route  string         `json:"route"`
	Payer  wire.PublicKey `json:"payer"`
	Copies uint32         `json:"copies"`
	DC     uint64         `json:"dc"`
}

// Free-copy reasons, for the charging statistics.
const (
	FreeInvalid   = "invalid"    // no payload, wrong hash, or not a LoRaWAN uplink
	FreeJoin      = "join"       // join-requests are free
	FreeForwarded = "forwarded"  // the hotspot says it forwarded the copy free
	FreeNoRoute   = "no_route"   // unknown or inactive route, or DevAddr outside it
	FreeUnknown   = "unknown"    // the hotspot is not registered
	FreeReplay    = "replay"     // a copy of an uplink outside its copy window
	FreeMIC       = "mic"        // fails the route's session key filters
	FreeNoPoC     = "no_poc"     // flagged, or no valid PoC in the detector window
	FreeRepeat    = "repeat"     // the hotspot's second copy of the same uplink
	FreeCopies    = "max_copies" // beyond the route's max_copies
	FreeDutyCycle = "duty_cycle" // beyond the DevAddr's duty-cycle budget
	FreeBalance   = "balance"    // beyond the payer's balance
)

// ChargeStats counts an epoch's copies: how many were charged and, for the
// others, why they were free. Only copies received inside the epoch count.
type ChargeStats struct {
	Charged uint32            `json:"charged"`
	Free    map[string]uint32 `json:"free,omitempty"`
}

// chargedCopy is one charged packet report: its hotspot earns its DC.
type chargedCopy struct {
	id   [32]byte
	site int32
	dc   uint64
}

// uplinkKey identifies one uplink on one route.
type uplinkKey struct {
	route   int32
	devAddr uint32
	fcnt    uint16
}

func cmpUplinkKey(a, b uplinkKey) int {
	return cmp.Or(cmp.Compare(a.devAddr, b.devAddr), cmp.Compare(a.fcnt, b.fcnt), cmp.Compare(a.route, b.route))
}

// candidate is a packet report that passed rule 1.
type candidate struct {
	id    [32]byte
	ms    int64
	site  int32
	key   uplinkKey
	phy   []byte
	order [32]byte // SHA-256(payload hash ‖ hotspot key)
	dr    string
}

// charging is the outcome of the charging rules for an epoch.
type charging struct {
	copies []chargedCopy // sorted by id
	routes []RouteCharge // sorted by route id
	stats  ChargeStats
}

// Uplink is a packet report's frame as PacketUplink reads it (radio's, so
// that the oracle needs no radio import of its own).
type Uplink = radio.Uplink

// FrameJoin is the frame type of a join-request.
const FrameJoin = radio.FrameJoin

// PacketUplink applies the checks of rule 1 that need nothing but the
// report: the payload is carried, 1–255 bytes, hashes to the reported
// hash, and parses as a LoRaWAN 1.0.x uplink, which it returns. The oracle
// applies them at ingest too, so that such reports are never stored. The
// report's other claims (size, DevAddr, join) are ignored: the frame says.
func PacketUplink(r *wire.PacketReport) (radio.Uplink, error) {
	phy := r.GetPayload()
	if len(phy) == 0 || len(phy) > 255 {
		return radio.Uplink{}, fmt.Errorf("payload of %d bytes, want 1 to 255", len(phy))
	}
	if sum := sha256.Sum256(phy); !bytes.Equal(sum[:], r.GetPayloadHash()) {
		return radio.Uplink{}, errors.New("payload_hash is not the payload's SHA-256")
	}
	return radio.ParseUplink(phy)
}

// sortedRoutes checks and sorts the route snapshot by id.
func sortedRoutes(rs []Route) ([]Route, error) {
	out := slices.Clone(rs)
	slices.SortFunc(out, func(a, b Route) int { return cmp.Compare(a.ID, b.ID) })
	for i := range out {
		if out[i].ID == "" {
			return nil, errors.New("a route without an id")
		}
		if i > 0 && out[i-1].ID == out[i].ID {
			return nil, fmt.Errorf("route %q listed twice", out[i].ID)
		}
	}
	return out, nil
}

func (r *Route) holds(devAddr uint32) bool {
	for _, d := range r.DevAddrs {
		if d.Start <= devAddr && devAddr <= d.End {
			return true
		}
	}
	return false
}

// micOK applies the route's session key filters to a data uplink.
func (r *Route) micOK(devAddr uint32, phy []byte, highMax uint16) bool {
	filtered := false
	for _, k := range r.SessionKeys {
		if k.DevAddr != devAddr {
			continue
		}
		filtered = true
		if radio.DataMICValid(phy, k.NwkSKey, highMax) {
			return true
		}
	}
	return !filtered
}

// charge applies the charging rules to the packets of the input window.
// eligible reports whether a registry site may win copies (rule 3).
func (e *engine) charge(packets []Packet, routes []Route, balances []Balance, start, end int64, eligible func(site int32) bool) charging {
	p := e.p.Charging
	out := charging{stats: ChargeStats{Free: map[string]uint32{}}}
	inEpoch := func(ms int64) bool { return ms >= start && ms < end }
	free := func(ms int64, reason string) {
		if inEpoch(ms) {
			out.stats.Free[reason]++
		}
	}

	// Rule 1, with identical reports (same id) once.
	order := make([]int32, 0, len(packets))
	for i := range packets {
		if packets[i].Report != nil {
			order = append(order, int32(i))
		}
	}
	slices.SortFunc(order, func(a, b int32) int {
		return cmpArrival(packets[a].ReceivedMs, &packets[a].ID, packets[b].ReceivedMs, &packets[b].ID)
	})
	order = slices.CompactFunc(order, func(a, b int32) bool { return packets[a].ID == packets[b].ID })
	var cands []candidate
	for _, i := range order {
		pk := &packets[i]
		r := pk.Report
		phy := r.GetPayload()
		u, err := PacketUplink(r)
		if err != nil {
			free(pk.ReceivedMs, FreeInvalid)
			continue
		}
		sum := [32]byte(r.GetPayloadHash())
		if u.Type == radio.FrameJoin {
			free(pk.ReceivedMs, FreeJoin)
			continue
		}
		if r.GetFree() {
			free(pk.ReceivedMs, FreeForwarded)
			continue
		}
		ri, found := slices.BinarySearchFunc(routes, r.GetRouteId(), func(rt Route, id string) int { return cmp.Compare(rt.ID, id) })
		if !found || !routes[ri].Active || !routes[ri].holds(u.DevAddr) {
			free(pk.ReceivedMs, FreeNoRoute)
			continue
		}
		site := e.reg.find(r.GetPubKey())
		if site < 0 {
			free(pk.ReceivedMs, FreeUnknown)
			continue
		}
		c := candidate{id: pk.ID, ms: pk.ReceivedMs, site: site, key: uplinkKey{int32(ri), u.DevAddr, u.FCnt}, phy: phy, dr: r.GetDatarate()}
		h := sha256.New()
		h.Write(sum[:])
		h.Write(e.reg.sites[site].Key[:])
		h.Sum(c.order[:0])
		cands = append(cands, c)
	}

	// Rule 2: the first copy of each uplink (cands are in arrival order)
	// fixes its window.
	first := map[uplinkKey]int64{}
	for i := range cands {
		if _, ok := first[cands[i].key]; !ok {
			first[cands[i].key] = cands[i].ms
		}
	}
	window := p.CopyWindow.Milliseconds()
	kept := cands[:0]
	for _, c := range cands {
		f := first[c.key]
		switch {
		case !inEpoch(f):
			free(c.ms, FreeReplay) // charged in the epoch it was first seen
		case c.ms >= f+window:
			free(c.ms, FreeReplay)
		case !routes[c.key.route].micOK(c.key.devAddr, c.phy, p.FCntHighMax):
			free(c.ms, FreeMIC)
		case !eligible(c.site):
			free(c.ms, FreeNoPoC)
		default:
			kept = append(kept, c)
		}
	}

	// Rules 3–6, uplink by uplink in (first copy, key) order; within an
	// uplink by the order hash.
	slices.SortFunc(kept, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(first[a.key], first[b.key]), cmpUplinkKey(a.key, b.key), bytes.Compare(a.order[:], b.order[:]), cmpID(&a.id, &b.id))
	})
	balance := map[wire.PublicKey]uint64{}
	for _, b := range balances {
		balance[b.Wallet] += b.DC
	}
	budget := int64(e.p.EpochLength) / bpOne * int64(p.DutyCycleBP)
	used := map[uint32]int64{}
	type onAir struct {
		devAddr uint32
		fcnt    uint16
	}
	counted := map[onAir]bool{} // an uplink on two routes is on air once
	perRoute := make([]RouteCharge, len(routes))
	for lo := 0; lo < len(kept); {
		hi := lo + 1
		for hi < len(kept) && kept[hi].key == kept[lo].key {
			hi++
		}
		group := kept[lo:hi]
		lo = hi
		rt := &routes[group[0].key.route]
		// A hotspot's repeat of its own copy counts once: keep its
		// first in the order.
		var sel []candidate
		var sites []int32
		for _, c := range group {
			if slices.Contains(sites, c.site) {
				free(c.ms, FreeRepeat)
				continue
			}
			sites = append(sites, c.site)
			if uint32(len(sel)) >= max(rt.MaxCopies, 1) {
				free(c.ms, FreeCopies)
				continue
			}
			sel = append(sel, c)
		}
		// Airtime: the longest any selected copy's data rate implies,
		// which never lets a copy's claim enlarge the budget.
		var air int64
		for _, c := range sel {
			dr, err := radio.ParseDataRate(c.dr)
			if err != nil || dr.SF < 7 || dr.SF > 12 {
				dr = radio.DataRate{SF: 7, Bandwidth: 125_000}
			}
			air = max(air, int64(radio.Airtime(dr, len(c.phy))))
		}
		oa := onAir{group[0].key.devAddr, group[0].key.fcnt}
		if !counted[oa] {
			if used[oa.devAddr]+air > budget {
				for _, c := range sel {
					free(c.ms, FreeDutyCycle)
				}
				continue
			}
			used[oa.devAddr] += air
			counted[oa] = true
		}
		for _, c := range sel {
			dc := DataCredits(len(c.phy), e.p.BytesPerDC)
			if balance[rt.Payer] < dc {
				free(c.ms, FreeBalance)
				continue
			}
			balance[rt.Payer] -= dc
			out.copies = append(out.copies, chargedCopy{id: c.id, site: c.site, dc: dc})
			rc := &perRoute[group[0].key.route]
			rc.Copies++
			rc.DC += dc
			out.stats.Charged++
		}
	}
	for i, rc := range perRoute {
		if rc.Copies > 0 {
			rc.Route, rc.Payer = routes[i].ID, routes[i].Payer
			out.routes = append(out.routes, rc)
		}
	}
	slices.SortFunc(out.copies, func(a, b chargedCopy) int { return cmpID(&a.id, &b.id) })
	if len(out.stats.Free) == 0 {
		out.stats.Free = nil
	}
	return out
}

// validPoC marks the registry sites with a valid proof of coverage in
// [from, end): a valid beacon with a valid witness, as beaconer or as that
// witness.
func (e *engine) validPoC(from, end int64) []bool {
	ok := make([]bool, len(e.reg.sites))
	for k := range e.beacons {
		br := &e.beacons[k]
		if br.ms < from || br.ms >= end || br.final != ReasonNone || br.site < 0 {
			continue
		}
		for _, pr := range e.pairs[br.lo:br.hi] {
			if pr.final != ReasonNone || pr.side {
				continue
			}
			if ws := e.witnesses[pr.w].site; ws >= 0 {
				ok[ws] = true
				ok[br.site] = true
			}
		}
	}
	return ok
}

// appendChargingDigest adds the route snapshot and the balances to the
// epoch's input digest.
func appendChargingDigest(b []byte, routes []Route, balances []Balance) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(len(routes)))
	for _, r := range routes {
		b = binary.LittleEndian.AppendUint64(b, uint64(len(r.ID)))
		b = append(b, r.ID...)
		b = append(b, r.Payer[:]...)
		b = binary.LittleEndian.AppendUint64(b, uint64(r.MaxCopies))
		if r.Active {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		b = binary.LittleEndian.AppendUint64(b, uint64(len(r.DevAddrs)))
		for _, d := range r.DevAddrs {
			b = binary.LittleEndian.AppendUint64(b, uint64(d.Start)<<32|uint64(d.End))
		}
		keys := slices.Clone(r.SessionKeys)
		slices.SortFunc(keys, func(a, b SessionKey) int {
			return cmp.Or(cmp.Compare(a.DevAddr, b.DevAddr), bytes.Compare(a.NwkSKey[:], b.NwkSKey[:]))
		})
		b = binary.LittleEndian.AppendUint64(b, uint64(len(keys)))
		for _, k := range keys {
			b = binary.LittleEndian.AppendUint64(b, uint64(k.DevAddr))
			b = append(b, k.NwkSKey[:]...)
		}
	}
	bs := slices.Clone(balances)
	slices.SortFunc(bs, func(a, b Balance) int { return bytes.Compare(a.Wallet[:], b.Wallet[:]) })
	b = binary.LittleEndian.AppendUint64(b, uint64(len(bs)))
	for _, x := range bs {
		b = append(b, x.Wallet[:]...)
		b = binary.LittleEndian.AppendUint64(b, x.DC)
	}
	return b
}

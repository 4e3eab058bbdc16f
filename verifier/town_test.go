package verifier

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/radio/sim"
	"github.com/hexfield/hexfield/wire"
)

// The test town: hotspots with asserted and true positions on a radio/sim
// medium, beacons built with radio.NewBeacon, witness reports whose
// signals come from the medium's log-distance model with seeded shadowing
// plus per-packet fading, entropy signed by a test oracle.

const (
	testEpoch = 20_000 // 2024-10-04
	dayMs     = 24 * 3600 * 1000
	hourMs    = 3600 * 1000
)

type tHotspot struct {
	name         string
	priv         ed25519.PrivateKey
	key          wire.PublicKey
	owner        wire.PublicKey
	lat, lng     float64 // asserted
	tlat, tlng   float64 // true
	cell         uint64
	gain         int32 // asserted, ddBi
	realGain     int32 // true, ddBi
	dataOnly     bool
	extraPower   int  // dB transmitted above the prescribed power
	reportExtra  bool // report the power actually used
	deaf         bool // hears nothing on its own
	silent       bool // does not beacon
	region       *radio.Region
	radio        *sim.Radio
	noiseRiseDB  float64
	unregistered bool
	// For a town in a sim.World (gaming_test.go):
	noRadio    bool    // an identity without hardware: transmits and hears nothing
	hilltop    bool    // a site with a clear view
	heightM    float64 // antenna height above the ridges' ground (default 10)
	rxOffsetDB float64 // receiver calibration error: every reported power is off by this
	snrCapDB   float64 // the concentrator's SNR saturates here (0: it does not)
	backhaulMs int64   // extra latency of its reports
}

type town struct {
	tb        testing.TB
	p         Params
	oracle    ed25519.PrivateKey
	hs        []*tHotspot
	by        map[string]*tHotspot
	beacons   []Beacon
	witnesses []Witness
	packets   []Packet
	ents      map[int64][]byte
	medium    *sim.Medium
	rng       *rand.Rand
	seq       uint64
	// fake, if set, lets a hotspot invent witness reports: called for
	// every beacon with each hotspot that did not hear it.
	fake func(t *town, b *Beacon, from, h *tHotspot) (sigDdBm int32, ok bool)
	// relay, if set, replaces the signal h reports for a beacon it heard.
	relay func(t *town, b *Beacon, from, h *tHotspot, sig float64) float64
	// world, if set, replaces the medium's propagation for every link
	// (sim.World: correlated shadowing, ridges, line of sight); links are
	// cached by the two true sites.
	world *sim.World
	links map[[2]sim.Site]sim.WorldLink
	// entropyStep, if set, rounds entropy timestamps down to a multiple
	// of it (seconds), as the oracle's 60 s entropy service does.
	entropyStep int64
	// forge, if set, is asked for every (beacon, other hotspot) pair after
	// the physics: heard and sig are what h's radio got; it returns the
	// signal h reports and whether it reports at all.
	forge func(t *town, b *Beacon, from, h *tHotspot, heard bool, sig float64) (float64, bool)
	// extra, if set, adds reports after the regular rounds of run.
	extra func(t *town)
}

func seedKey(name string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte("hexfield-test-key:" + name))
	return ed25519.NewKeyFromSeed(s[:])
}

func newTown(tb testing.TB, seed uint64) *town {
	tb.Helper()
	return newTownExp(tb, seed, 3.0)
}

// newTownExp is newTown with another path-loss exponent.
func newTownExp(tb testing.TB, seed uint64, exponent float64) *town {
	tb.Helper()
	m, err := sim.NewMedium(sim.MediumConfig{
		Clock:            sim.NewManualClock(time.Unix(0, 0)),
		Seed:             seed,
		PathLossExponent: exponent,
		ShadowingSigma:   6,
		FadingSigma:      -1,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(m.Close)
	t := &town{
		tb:     tb,
		p:      DefaultParams(),
		oracle: seedKey("oracle"),
		by:     map[string]*tHotspot{},
		ents:   map[int64][]byte{},
		medium: m,
		rng:    rand.New(rand.NewPCG(seed, 99)),
	}
	t.p.EntropySigners = []wire.PublicKey{wire.PublicKeyOf(t.oracle)}
	return t
}

// add places a hotspot asserted at (lat, lng) and truly there too.
func (t *town) add(name string, lat, lng float64) *tHotspot {
	t.tb.Helper()
	priv := seedKey(name)
	h := &tHotspot{
		name: name, priv: priv, key: wire.PublicKeyOf(priv),
		owner: wire.PublicKeyOf(seedKey("owner:" + name)),
		lat:   lat, lng: lng, tlat: lat, tlng: lng, gain: 12, realGain: 12,
	}
	t.hs = append(t.hs, h)
	t.by[name] = h
	return h
}

// build attaches the radios and computes cells; call after the last add
// or change of positions and gains.
func (t *town) build() {
	t.tb.Helper()
	for _, h := range t.hs {
		c, err := LatLngToCell(h.lat, h.lng, 12)
		if err != nil {
			t.tb.Fatal(err)
		}
		h.cell = c
		clat, clng, _ := CellLatLng(c)
		name, ok := radio.RegionAt(clat, clng)
		if ok {
			h.region, _ = radio.LookupRegion(name)
		}
		if h.radio != nil {
			h.radio.Detach()
		}
		r, err := t.medium.Attach(sim.RadioConfig{
			Name: h.name, Lat: h.tlat, Lng: h.tlng, Elevation: 10,
			Gain: radio.DBi(float64(h.realGain) / 10), NoiseRise: radio.DB(h.noiseRiseDB),
		})
		if err != nil {
			t.tb.Fatal(err)
		}
		h.radio = r
	}
}

func (t *town) registry() []Hotspot {
	var out []Hotspot
	for _, h := range t.hs {
		if h.unregistered {
			continue
		}
		out = append(out, Hotspot{Key: h.key, Owner: h.owner, Cell: h.cell, GainDdBi: h.gain, DataOnly: h.dataOnly})
	}
	return out
}

func (t *town) entropy(ts int64) []byte {
	if raw, ok := t.ents[ts]; ok {
		return raw
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(ts))
	data := sha256.Sum256(append([]byte("test-entropy"), b[:]...))
	raw, err := wire.Seal(t.oracle, wire.Kind_KIND_ENTROPY, &wire.Entropy{Version: 1, Ts: ts, Data: data[:]})
	if err != nil {
		t.tb.Fatal(err)
	}
	t.ents[ts] = raw
	return raw
}

func (t *town) id(m proto.Message, ms int64) [32]byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.tb.Fatal(err)
	}
	t.seq++
	var x [16]byte
	binary.LittleEndian.PutUint64(x[:], uint64(ms))
	binary.LittleEndian.PutUint64(x[8:], t.seq)
	return sha256.Sum256(append(b, x[:]...))
}

// makeBeacon builds h's beacon report for instant ms (not stored).
func (t *town) makeBeacon(h *tHotspot, ms int64) Beacon {
	t.tb.Helper()
	ts := ms/1000 - 30
	if t.entropyStep > 0 {
		ts -= ts % t.entropyStep
	}
	raw := t.entropy(ts)
	var ent wire.Entropy
	if _, err := wire.Unseal(raw, wire.Kind_KIND_ENTROPY, &ent); err != nil {
		t.tb.Fatal(err)
	}
	nonceSum := sha256.Sum256(fmt.Appendf(nil, "nonce:%s:%d", h.name, ms))
	var nonce [16]byte
	copy(nonce[:], nonceSum[:])
	reg := h.region
	if reg == nil {
		reg, _ = radio.LookupRegion("EU868")
	}
	bc, err := radio.NewBeacon(reg, [32]byte(ent.Data), ts, h.key, nonce, h.gain)
	if err != nil {
		t.tb.Fatal(err)
	}
	power := bc.PowerDBm
	if h.reportExtra {
		power += h.extraPower
	}
	rep := &wire.BeaconReport{
		PubKey: h.key[:], Entropy: raw, Nonce: nonce[:], Payload: bc.Payload[:],
		FrequencyHz: uint64(bc.Frequency), Datarate: bc.DataRate.String(), TxPowerDbm: int32(power),
	}
	return Beacon{ID: t.id(rep, ms), ReceivedMs: ms, Report: rep}
}

// beacon stores h's beacon at ms and the witness reports of every hotspot
// that hears it on the medium (and of fakers).
func (t *town) beacon(h *tHotspot, ms int64) *Beacon {
	t.tb.Helper()
	b := t.makeBeacon(h, ms)
	t.beacons = append(t.beacons, b)
	t.hear(&b, h, ms)
	return &t.beacons[len(t.beacons)-1]
}

func (t *town) hear(b *Beacon, from *tHotspot, ms int64) {
	f := radio.Hz(b.Report.FrequencyHz)
	dr, _ := radio.ParseDataRate(b.Report.Datarate)
	power := int(b.Report.TxPowerDbm)
	if !from.reportExtra {
		power += from.extraPower
	}
	lag := int64(250)
	for _, h := range t.hs {
		if h == from {
			continue
		}
		var sig float64
		heard := false
		noise := float64(radio.NoiseFloor(dr.Bandwidth, 6)) + h.noiseRiseDB
		if t.world != nil && !h.deaf && !h.noRadio && !from.noRadio {
			lb := t.worldLink(from, h, f)
			sig = float64(lb.Signal(radio.DBm(power), radio.DBi(float64(from.realGain)/10), radio.DBi(float64(h.realGain)/10)))
			sig += 2 * hashNormal(linkKey(from.name, h.name, ms))
			heard = sig-noise >= float64(radio.SNRMin(dr.SF))
		} else if t.world == nil && !h.deaf {
			lb := t.medium.Link(from.radio, h.radio, f, radio.DBm(power))
			// per-packet fading from a hash of the link and the instant, so
			// adding hotspots never changes the draws of the others
			sig = float64(lb.Signal) + 2*hashNormal(linkKey(from.name, h.name, ms))
			heard = sig-noise >= float64(radio.SNRMin(dr.SF))
			if heard && t.relay != nil {
				sig = t.relay(t, b, from, h, sig)
				heard = !math.IsNaN(sig) // NaN: the relay drops the report
			}
		}
		if !heard && t.fake != nil {
			s, ok := t.fake(t, b, from, h)
			if ok {
				sig, heard = float64(s)/10, true
			}
		}
		if t.forge != nil {
			sig, heard = t.forge(t, b, from, h, heard, sig)
		}
		if !heard {
			continue
		}
		lag += 37
		// a miscalibrated receiver reports signal and noise off by the
		// same amount; its SNR is right
		t.witness(h, b, ms+lag+h.backhaulMs, sig+h.rxOffsetDB, noise+h.rxOffsetDB)
	}
}

// worldLink is the world's link between two hotspots' true sites.
func (t *town) worldLink(a, b *tHotspot, f radio.Hz) sim.WorldLink {
	sa, sb := a.site(), b.site()
	k := [2]sim.Site{sa, sb}
	if l, ok := t.links[k]; ok {
		return l
	}
	if t.links == nil {
		t.links = map[[2]sim.Site]sim.WorldLink{}
	}
	l := t.world.Link(sa, sb, f)
	t.links[k] = l
	t.links[[2]sim.Site{sb, sa}] = l
	return l
}

func (h *tHotspot) site() sim.Site {
	hm := h.heightM
	if hm == 0 {
		hm = 10
	}
	return sim.Site{Lat: h.tlat, Lng: h.tlng, HeightM: hm, Hilltop: h.hilltop}
}

func linkKey(a, b string, ms int64) uint64 {
	s := sha256.Sum256(fmt.Appendf(nil, "%s|%s|%d", a, b, ms))
	return binary.LittleEndian.Uint64(s[:8])
}

// witness stores h's report of b at ms with the given signal and noise
// (dBm), as an SX1302 reports them: rssi = channel power, rssis = signal,
// snr = signal − noise.
func (t *town) witness(h *tHotspot, b *Beacon, ms int64, sig, noise float64) *Witness {
	snr := sig - noise
	if h.snrCapDB > 0 {
		snr = min(snr, h.snrCapDB)
	}
	channel := 10 * math.Log10(math.Pow(10, sig/10)+math.Pow(10, noise/10))
	rssis := int32(math.Round(sig)) * 10
	rep := &wire.WitnessReport{
		PubKey: h.key[:], Payload: b.Report.Payload, FrequencyHz: b.Report.FrequencyHz,
		Datarate: b.Report.Datarate, RssiDdbm: int32(math.Round(channel)) * 10, RssisDdbm: &rssis,
		SnrDdb: int32(math.Round(snr * 10)),
	}
	t.witnesses = append(t.witnesses, Witness{ID: t.id(rep, ms), ReceivedMs: ms, Report: rep})
	return &t.witnesses[len(t.witnesses)-1]
}

// rounds makes every (non-silent) hotspot beacon once per bucket for the
// buckets starting in [fromMs, toMs).
func (t *town) rounds(fromMs, toMs int64) {
	iv := t.p.BeaconInterval.Milliseconds()
	for b := fromMs; b < toMs; b += iv {
		for i, h := range t.hs {
			if h.silent {
				continue
			}
			t.beacon(h, b+10*60*1000+int64(i)*17_000)
		}
	}
}

// townPayer pays for route r1 of every town.
var townPayer = fill(0xdc)

func (t *town) input(epoch uint64) EpochInput {
	in := EpochInput{
		Epoch: epoch, Params: t.p, Registry: t.registry(),
		Beacons: t.beacons, Witnesses: t.witnesses, Packets: t.packets,
		Routes:   []Route{{ID: "r1", Payer: townPayer, DevAddrs: []DevAddrRange{{0, 0xffffffff}}, MaxCopies: 1, Active: true}},
		Balances: []Balance{{Wallet: townPayer, DC: 1 << 40}},
		Emission: 1_000_000_000, TokensPerDC: Ratio{Num: 1, Den: 1},
	}
	fundAll(&in)
	return in
}

// fundAll lists every owner of the registry, and the operations owner, as
// funded: with no parent and no minimum, every owner is then paid what it
// earned, as before accrual.
func fundAll(in *EpochInput) {
	in.Funded = in.Funded[:0:0]
	for _, h := range in.Registry {
		in.Funded = append(in.Funded, h.Owner)
	}
	if !in.Params.OpsOwner.IsZero() {
		in.Funded = append(in.Funded, in.Params.OpsOwner)
	}
	in.Funded = sortedFunded(in.Funded)
}

// sortedFunded sorts keys and drops duplicates, as EpochInput.Funded wants.
func sortedFunded(keys [][32]byte) [][32]byte {
	slices.SortFunc(keys, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	return slices.Compact(keys)
}

// lineOf returns the manifest line of a hotspot.
func lineOf(m *Manifest, h *tHotspot) *HotspotReward {
	for i := range m.Hotspots {
		if m.Hotspots[i].Hotspot == h.key {
			return &m.Hotspots[i]
		}
	}
	return nil
}

// grid places n×n hotspots spaced step metres apart around (lat, lng).
func (t *town) grid(prefix string, lat, lng float64, n int, step float64, jitter float64) []*tHotspot {
	var out []*tHotspot
	dLat := step / 111_000
	dLng := step / (111_000 * math.Cos(lat*math.Pi/180))
	for i := range n {
		for j := range n {
			jl := (t.rng.Float64() - 0.5) * jitter / 111_000
			jg := (t.rng.Float64() - 0.5) * jitter / (111_000 * math.Cos(lat*math.Pi/180))
			h := t.add(fmt.Sprintf("%s%02d", prefix, i*n+j),
				lat+(float64(i)-float64(n-1)/2)*dLat+jl, lng+(float64(j)-float64(n-1)/2)*dLng+jg)
			out = append(out, h)
		}
	}
	return out
}

// offset returns a point d metres from (lat, lng) at bearing deg.
func offset(lat, lng, d, deg float64) (float64, float64) {
	r := deg * math.Pi / 180
	return lat + d*math.Cos(r)/111_000, lng + d*math.Sin(r)/(111_000*math.Cos(lat*math.Pi/180))
}

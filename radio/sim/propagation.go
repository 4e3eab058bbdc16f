package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"sort"

	"github.com/hexfield/hexfield/radio"
)

// link is the precomputed budget from one transmitter to one receiver at
// one frequency.
type link struct {
	rx   int     // receiver index
	dist float64 // 3-D distance, m
	loss float64 // log-distance loss plus shadowing, dB
	free float64 // free-space loss, the floor for loss plus fading, dB
}

// linkSet is every link of a transmitter at one frequency that can close
// at the medium's maximum power, sorted by receiver index. It covers the
// radios attached before index upto; radios attached later are added on
// the next lookup, so attaching costs O(new radios), not a rebuild.
type linkSet struct {
	version uint64
	upto    int
	links   []link
}

func (s *linkSet) find(rx int) *link {
	i := sort.Search(len(s.links), func(i int) bool { return s.links[i].rx >= rx })
	if i < len(s.links) && s.links[i].rx == rx {
		return &s.links[i]
	}
	return nil
}

// linksLocked returns tx's links at f. A radio moved since they were
// computed forces a rebuild; radios attached since are appended; links to
// detached radios stay and are skipped by the callers.
func (m *Medium) linksLocked(tx *Radio, f radio.Hz) *linkSet {
	ls := tx.links[f]
	if ls != nil && ls.version == m.version && ls.upto == len(m.radios) {
		return ls
	}
	if ls == nil || ls.version != m.version {
		if tx.links == nil || len(tx.links) > 64 {
			tx.links = make(map[radio.Hz]*linkSet)
		}
		ls = &linkSet{version: m.version}
		tx.links[f] = ls
	}
	// The most a frame can deliver: maximum power, both gains, fading at
	// its most favourable. A receiver needs at least its SF12 BW125
	// sensitivity, the lowest of all data rates.
	reach := float64(m.cfg.MaxTxPower) + float64(tx.gain) + m.fadeCap
	sf12 := radio.SNRMin(12)
	for _, rx := range m.radios[ls.upto:] {
		if rx == nil || rx == tx {
			continue
		}
		d := distance3D(tx, rx)
		sensitivity := rx.noise(125_000) + float64(sf12)
		// Cheap cut first: even the most favourable shadowing (+3σ) and
		// fading cannot close the link, so skip the shadowing hash.
		if d > 1 {
			mean := float64(radio.LogDistanceLoss(radio.Meters(d), f, m.cfg.PathLossExponent, m.cfg.ReferenceDistance))
			if reach+float64(rx.gain)-(mean-3*float64(m.cfg.ShadowingSigma)-m.fadeCap) < sensitivity {
				continue
			}
		}
		loss, free := m.pathLoss(tx, rx, d, f)
		best := math.Max(free, loss-m.fadeCap)
		if reach+float64(rx.gain)-best < sensitivity {
			continue
		}
		ls.links = append(ls.links, link{rx: rx.index, dist: d, loss: loss, free: free})
	}
	ls.upto = len(m.radios)
	return ls
}

// pathLoss is the deterministic loss between two radios at distance d:
// log-distance plus the pair's shadowing, and the free-space loss.
func (m *Medium) pathLoss(a, b *Radio, d float64, f radio.Hz) (loss, free float64) {
	if d < 1 {
		d = 1 // the near field is not modelled; this also keeps log10 finite
	}
	free = float64(radio.FreeSpaceLoss(radio.Meters(d), f))
	loss = float64(radio.LogDistanceLoss(radio.Meters(d), f, m.cfg.PathLossExponent, m.cfg.ReferenceDistance))
	if m.cfg.ShadowingSigma > 0 {
		loss += float64(m.cfg.ShadowingSigma) * shadowing(m.cfg.Seed, a.name, b.name)
	}
	return loss, free
}

// LinkBudget is the deterministic part of the path between two radios.
type LinkBudget struct {
	Distance  radio.Meters // 3-D distance between the antennas
	FreeSpace radio.DB     // free-space loss
	PathLoss  radio.DB     // log-distance loss plus shadowing, never below FreeSpace
	Shadowing radio.DB     // the pair's shadowing term, included in PathLoss
	// Signal is the mean received power (no fading) for the given conducted
	// power, with both antenna gains.
	Signal radio.DBm
}

// Link returns the link budget from a to b at frequency f for a frame sent
// with conducted power p. Reception draws a fading term around Signal.
func (m *Medium) Link(a, b *Radio, f radio.Hz, p radio.DBm) LinkBudget {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := distance3D(a, b)
	loss, free := m.pathLoss(a, b, d, f)
	var sh float64
	if m.cfg.ShadowingSigma > 0 {
		sh = float64(m.cfg.ShadowingSigma) * shadowing(m.cfg.Seed, a.name, b.name)
	}
	eff := math.Max(loss, free)
	return LinkBudget{
		Distance:  radio.Meters(d),
		FreeSpace: radio.DB(free),
		PathLoss:  radio.DB(eff),
		Shadowing: radio.DB(sh),
		Signal:    radio.DBm(float64(p) + float64(a.gain) + float64(b.gain) - eff),
	}
}

// distance3D is the great-circle distance combined with the height
// difference. Callers hold m.mu.
func distance3D(a, b *Radio) float64 {
	g := float64(radio.Distance(a.lat, a.lng, b.lat, b.lng))
	h := float64(a.elev - b.elev)
	return math.Hypot(g, h)
}

// shadowing is the standard-normal shadowing draw of the unordered pair
// {a, b}, clipped to ±3. It depends only on the seed and the two names.
func shadowing(seed uint64, a, b string) float64 {
	if b < a {
		a, b = b, a
	}
	h := sha256.New()
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], seed)
	h.Write([]byte("hexfield-sim-shadowing-v1"))
	h.Write(buf[:])
	binary.LittleEndian.PutUint64(buf[:], uint64(len(a)))
	h.Write(buf[:])
	h.Write([]byte(a))
	h.Write([]byte(b))
	var sum [32]byte
	h.Sum(sum[:0])
	return normal(binary.LittleEndian.Uint64(sum[:8]))
}

// fadingKey mixes the seed, the transmission and the receiver into the key
// of a per-packet fading draw.
func fadingKey(seed, seq, rx uint64) uint64 {
	return splitmix(seed ^ splitmix(seq^0x66616465) ^ rx)
}

// normal turns a 64-bit key into a standard-normal value (Box–Muller over
// two 32-bit uniforms), clipped to ±3 so the link budget has a hard bound.
func normal(key uint64) float64 {
	x := splitmix(key)
	u1 := (float64(x>>32) + 1) / (1 << 32) // (0, 1]
	u2 := float64(uint32(x)) / (1 << 32)   // [0, 1)
	z := math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
	return math.Max(-3, math.Min(3, z))
}

// normalTableBits sizes the inverse-CDF table of per-packet fading draws.
const normalTableBits = 12

// normalTable holds the standard-normal quantiles at the midpoints of
// 2^normalTableBits equal probability bins, clipped to ±3, so a fading
// draw is a table lookup with linear interpolation instead of a log, a
// square root and a cosine.
type normalTable [1<<normalTableBits + 1]float64

func newNormalTable() *normalTable {
	var t normalTable
	const n = 1 << normalTableBits
	for i := range t {
		u := (float64(i) + 0.5) / (n + 1)
		t[i] = math.Max(-3, math.Min(3, math.Sqrt2*math.Erfinv(2*u-1)))
	}
	return &t
}

// draw maps a 64-bit key to a standard-normal value clipped to ±3.
func (t *normalTable) draw(key uint64) float64 {
	x := splitmix(key)
	i := x >> (64 - normalTableBits)
	frac := float64(x<<normalTableBits>>11) / (1 << 53)
	return t[i] + (t[i+1]-t[i])*frac
}

// splitmix is the SplitMix64 finaliser: a fast, well-mixed bijection.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

package sim

import (
	"fmt"
	"math"

	"github.com/hexfield/hexfield/radio"
)

// WorldConfig configures a [World]. The zero value is a suburban world
// with correlated shadowing and no terrain.
type WorldConfig struct {
	// Seed selects the realisation of the shadowing fields. Default 0.
	Seed uint64
	// PathLossExponent n of the log-distance loss FSPL(d0) + 10·n·log10(d/d0)
	// for links that are not line of sight. Default 3.0 (suburban); 3.5 is
	// dense urban.
	PathLossExponent float64
	// ReferenceDistance d0. Default 1 m.
	ReferenceDistance radio.Meters
	// ShadowingSigma is the standard deviation of the shadowing of a link
	// that is not line of sight. Default 8 dB; hilly terrain 10–12 dB. A
	// negative value disables shadowing.
	ShadowingSigma radio.DB
	// CorrelationDistance is the Gudmundson decorrelation distance D: the
	// shadowing of two links whose ends are Δ metres apart correlates as
	// exp(−Δ/D). Tens of metres in dense cities to a few km in open
	// country. Default 500 m.
	CorrelationDistance radio.Meters
	// SiteShare is the part of the shadowing variance that belongs to the
	// surroundings of each end (clutter, a roof, a wall), shared by every
	// link of a site; the rest belongs to the path between them. Both parts
	// are spatially correlated. Default 0.5; a negative value means 0.
	SiteShare float64
	// LOSSigma is the shadowing of line-of-sight links (between two
	// hilltop sites that clear every ridge), which are otherwise free
	// space. Default 2 dB; negative disables it.
	LOSSigma radio.DB
	// Ridges obstruct the links that cross them.
	Ridges []Ridge
	// Features is the number of Fourier terms of each shadowing field.
	// Default 256.
	Features int
}

func (c *WorldConfig) fillDefaults() {
	if c.PathLossExponent == 0 {
		c.PathLossExponent = 3
	}
	if c.ReferenceDistance == 0 {
		c.ReferenceDistance = 1
	}
	switch {
	case c.ShadowingSigma == 0:
		c.ShadowingSigma = 8
	case c.ShadowingSigma < 0:
		c.ShadowingSigma = 0
	}
	if c.CorrelationDistance == 0 {
		c.CorrelationDistance = 500
	}
	switch {
	case c.SiteShare == 0:
		c.SiteShare = 0.5
	case c.SiteShare < 0:
		c.SiteShare = 0
	}
	switch {
	case c.LOSSigma == 0:
		c.LOSSigma = 2
	case c.LOSSigma < 0:
		c.LOSSigma = 0
	}
	if c.Features == 0 {
		c.Features = 256
	}
}

// Validate reports a configuration that cannot describe a world. NewWorld
// calls it after filling in defaults.
func (c WorldConfig) Validate() error {
	finite := func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
	switch {
	case !finite(c.PathLossExponent) || c.PathLossExponent < 1 || c.PathLossExponent > 8:
		return fmt.Errorf("path loss exponent %v: must be in [1, 8]", c.PathLossExponent)
	case !finite(float64(c.ReferenceDistance)) || c.ReferenceDistance <= 0:
		return fmt.Errorf("reference distance %v m: must be positive", c.ReferenceDistance)
	case !finite(float64(c.ShadowingSigma)) || c.ShadowingSigma > 30 || !finite(float64(c.LOSSigma)) || c.LOSSigma > 30:
		return fmt.Errorf("shadowing sigma %v / %v dB: must be at most 30", c.ShadowingSigma, c.LOSSigma)
	case !finite(float64(c.CorrelationDistance)) || c.CorrelationDistance < 1 || c.CorrelationDistance > 100_000:
		return fmt.Errorf("correlation distance %v m: must be in [1 m, 100 km]", c.CorrelationDistance)
	case !finite(c.SiteShare) || c.SiteShare > 1:
		return fmt.Errorf("site share %v: must be in [0, 1]", c.SiteShare)
	case c.Features < 1 || c.Features > 1<<14:
		return fmt.Errorf("features %d: must be in [1, 16384]", c.Features)
	}
	for i, r := range c.Ridges {
		if !r.Valid() {
			return fmt.Errorf("ridge %d %+v: invalid", i, r)
		}
	}
	return nil
}

// A World is a deterministic radio environment: log-distance loss with
// spatially correlated (Gudmundson) shadowing, ridges that obstruct the
// links crossing them, and line-of-sight links between hilltop sites.
// Real shadowing is correlated: two hotspots on neighbouring roofs see
// nearly the same shadowing towards a third, and the links of one site
// share its surroundings. A World is read-only after NewWorld and safe
// for concurrent use; Loss is a pure function of the configuration and
// the two sites, symmetric in them.
type World struct {
	cfg  WorldConfig
	site *ShadowField // 2-D: the surroundings of one end
	path *ShadowField // 4-D over (a, b): the path between two ends
}

// NewWorld returns the world of cfg.
func NewWorld(cfg WorldConfig) (*World, error) {
	cfg.fillDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new world: %w", err)
	}
	d := float64(cfg.CorrelationDistance)
	return &World{
		cfg:  cfg,
		site: NewShadowField(cfg.Seed, 2, d, cfg.Features),
		path: NewShadowField(splitmix(cfg.Seed^0x70617468), 4, d, cfg.Features),
	}, nil
}

// Config returns the world's configuration with defaults filled in.
func (w *World) Config() WorldConfig { return w.cfg }

// Site is an antenna in a World.
type Site struct {
	Lat, Lng float64
	// HeightM is the antenna's height above the ground the ridges stand
	// on (for the ridge clearance).
	HeightM float64
	// Hilltop marks a site with a clear view: a link between two hilltop
	// sites that clears every ridge is line of sight (free space plus
	// LOSSigma shadowing).
	Hilltop bool
}

// WorldLink is the deterministic path between two sites.
type WorldLink struct {
	Distance  radio.Meters
	FreeSpace radio.DB
	// PathLoss is the total loss: log-distance (or free space on a line of
	// sight link) plus shadowing plus diffraction, never below FreeSpace.
	PathLoss radio.DB
	// Shadowing is the link's correlated shadowing term, in PathLoss.
	Shadowing radio.DB
	// Diffraction is the knife-edge loss of the ridges crossed.
	Diffraction radio.DB
	// LineOfSight: both ends are hilltops and every ridge is cleared.
	LineOfSight bool
}

// Signal returns the mean received power of a frame sent with conducted
// power p between antennas of gains ga and gb over the link.
func (l WorldLink) Signal(p radio.DBm, ga, gb radio.DBi) radio.DBm {
	return radio.DBm(float64(p) + float64(ga) + float64(gb) - float64(l.PathLoss))
}

// Link returns the path between a and b at frequency f; Link(a, b) and
// Link(b, a) are equal.
func (w *World) Link(a, b Site, f radio.Hz) WorldLink {
	// Evaluate in a canonical order so the result is symmetric bit for bit.
	if b.Lat < a.Lat || (b.Lat == a.Lat && b.Lng < a.Lng) {
		a, b = b, a
	}
	ax, ay := localXY(a.Lat, a.Lng)
	bx, by := localXY(b.Lat, b.Lng)
	ground := float64(radio.Distance(a.Lat, a.Lng, b.Lat, b.Lng))
	d := math.Max(1, math.Hypot(ground, b.HeightM-a.HeightM))
	free := float64(radio.FreeSpaceLoss(radio.Meters(d), f))

	var diff float64
	for _, r := range w.cfg.Ridges {
		t, ok := r.crossing(ax, ay, bx, by)
		if !ok {
			continue
		}
		los := a.HeightM + float64(t*(b.HeightM-a.HeightM))
		d1, d2 := float64(t*d), float64((1-t)*d)
		diff += float64(KnifeEdgeLoss(r.HeightM-los, d1, d2, f))
	}
	los := a.Hilltop && b.Hilltop && diff < 1

	// Shadowing: √s·(F(a) + F(b))/√(2 + 2ρ_F) + √(1−s)·(P(a,b) + P(b,a))/√(2 + 2ρ_P),
	// each part of unit variance: ρ_F = exp(−|a−b|/D) is the correlation
	// of F at the two ends, ρ_P = exp(−√2·|a−b|/D) that of P at (a, b)
	// and (b, a).
	s := w.cfg.SiteShare
	sep := math.Hypot(bx-ax, by-ay) / float64(w.cfg.CorrelationDistance)
	rhoF, rhoP := math.Exp(-sep), math.Exp(-math.Sqrt2*sep)
	z := float64(math.Sqrt(s)*(w.site.At(ax, ay)+w.site.At(bx, by))/math.Sqrt(2+2*rhoF)) +
		float64(math.Sqrt(1-s)*(w.path.At(ax, ay, bx, by)+w.path.At(bx, by, ax, ay))/math.Sqrt(2+2*rhoP))
	var loss, sh float64
	if los {
		sh = float64(float64(w.cfg.LOSSigma) * z)
		loss = free + sh
	} else {
		sh = float64(float64(w.cfg.ShadowingSigma) * z)
		loss = float64(radio.LogDistanceLoss(radio.Meters(d), f, w.cfg.PathLossExponent, w.cfg.ReferenceDistance)) + sh + diff
	}
	return WorldLink{
		Distance:    radio.Meters(d),
		FreeSpace:   radio.DB(free),
		PathLoss:    radio.DB(math.Max(loss, free)),
		Shadowing:   radio.DB(sh),
		Diffraction: radio.DB(diff),
		LineOfSight: los,
	}
}

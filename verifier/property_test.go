package verifier

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// Property: adding far-away attackers (more than 100 km from the town and
// from each other) never lowers an honest hotspot's reward. The attackers
// beacon, make up witness reports of the town's beacons and of each other's
// with random signals, witness themselves and report twice.
func TestFarAwayAttackerNeverHurtsHonest(t *testing.T) {
	base := honestTown(t, 31)
	baseRes := base.evaluate(t)
	for seed := range uint64(3) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			tw := newTown(t, 31)
			tw.grid("h", 47.3769, 8.5417, 6, 1200, 300)
			var att []*tHotspot
			for i := range 2 + rng.IntN(4) {
				d := 150_000 + float64(i)*160_000 + rng.Float64()*20_000
				lat, lng := offset(47.3769, 8.5417, d, rng.Float64()*360)
				a := tw.add(fmt.Sprintf("zz-attacker%d", i), lat, lng)
				a.deaf = true
				att = append(att, a)
			}
			isAtt := func(h *tHotspot) bool {
				for _, a := range att {
					if a == h {
						return true
					}
				}
				return false
			}
			tw.fake = func(t *town, b *Beacon, from, h *tHotspot) (int32, bool) {
				if !isAtt(h) || rng.IntN(3) == 0 {
					return 0, false
				}
				return int32(-1350 + rng.IntN(600)), true
			}
			tw.build()
			start := tw.p.EpochStart(testEpoch)
			tw.rounds(start-3*dayMs, start+dayMs)
			// self-witnesses and duplicates
			for _, a := range att {
				for i := range tw.beacons {
					b := &tw.beacons[i]
					if string(b.Report.PubKey) == string(a.key[:]) && b.ReceivedMs >= start {
						tw.witness(a, b, b.ReceivedMs+500, -90, -117)
						tw.witness(a, b, b.ReceivedMs+700, -91, -117)
					}
				}
			}
			res := tw.evaluate(t)
			for _, h := range base.hs {
				before := lineOf(baseRes.Manifest, h)
				after := lineOf(res.Manifest, tw.by[h.name])
				if after.Amount < before.Amount {
					t.Errorf("%s: reward %d → %d with attackers", h.name, before.Amount, after.Amount)
				}
			}
			for _, a := range att {
				if l := lineOf(res.Manifest, a); l != nil && l.Amount > 0 {
					t.Errorf("far attacker %s earned %d", a.name, l.Amount)
				}
			}
		})
	}
}

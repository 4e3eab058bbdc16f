package verifier

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/hexfield/hexfield/wire"
)

// trustGraph builds an engine of n registered hotspots and a hearing model
// whose links are the given directed valid-event counts, for the graph
// rules of untrusted alone (the gaming suite runs them in a radio world).
type trustGraph struct {
	n     int
	links map[[2]int32]int32
}

func newTrustGraph(n int) *trustGraph {
	return &trustGraph{n: n, links: map[[2]int32]int32{}}
}

// tie adds a link heard both ways, two events each way.
func (g *trustGraph) tie(u, v int32) { g.links[[2]int32{u, v}] += 2; g.links[[2]int32{v, u}] += 2 }

// oneWay adds events of u's beacons heard by v only.
func (g *trustGraph) oneWay(u, v int32) { g.links[[2]int32{u, v}] += 3 }

// clique ties every pair of the sites.
func (g *trustGraph) clique(sites ...int32) {
	for i, u := range sites {
		for _, v := range sites[i+1:] {
			g.tie(u, v)
		}
	}
}

func trustKey(i int) wire.PublicKey {
	var k wire.PublicKey
	binary.BigEndian.PutUint32(k[:], uint32(i)+1) // key order = site order
	return k
}

func (g *trustGraph) flags(t *testing.T, anchors ...int) []int32 {
	t.Helper()
	hs := make([]Hotspot, g.n)
	for i := range hs {
		hs[i] = Hotspot{Key: trustKey(i)}
	}
	reg, err := NewRegistry(hs)
	if err != nil {
		t.Fatal(err)
	}
	p := DefaultParams()
	for _, a := range anchors {
		p.Detectors.TrustAnchors = append(p.Detectors.TrustAnchors, trustKey(a))
	}
	e := newEngine(p, reg)
	hm := &hearing{links: make([][]linkCount, g.n)}
	for k, c := range g.links {
		hm.links[k[0]] = append(hm.links[k[0]], linkCount{k[1], c})
	}
	for s := range hm.links {
		slices.SortFunc(hm.links[s], func(a, b linkCount) int { return int(a.w - b.w) })
	}
	return e.untrusted(hm)
}

func span(lo, hi int32) []int32 {
	var out []int32
	for s := lo; s < hi; s++ {
		out = append(out, s)
	}
	return out
}

func TestUntrustedGraphRules(t *testing.T) {
	// sites 0–9: the town, a clique of ten (the root block)
	town := span(0, 10)
	cases := []struct {
		name    string
		build   func(g *trustGraph)
		anchors []int
		want    []int32
	}{
		{"town alone", func(g *trustGraph) {}, nil, nil},
		{"isolated ring of 5", func(g *trustGraph) { g.clique(span(10, 15)...) }, nil, span(10, 15)},
		{"isolated hamlet of 4 keeps its rewards", func(g *trustGraph) { g.clique(span(10, 14)...) }, nil, nil},
		{"ring of 6 behind one insider", func(g *trustGraph) {
			g.clique(span(10, 16)...)
			for _, r := range span(10, 16) {
				g.tie(3, r)
			}
		}, nil, span(10, 16)},
		{"four leaves on one hotspot are trusted", func(g *trustGraph) {
			for _, r := range span(10, 14) {
				g.tie(3, r)
			}
		}, nil, nil},
		{"five leaves on one hotspot are not", func(g *trustGraph) {
			for _, r := range span(10, 15) {
				g.tie(3, r)
			}
		}, nil, span(10, 15)},
		{"a chain of four behind the town is trusted", func(g *trustGraph) {
			g.tie(9, 10)
			g.tie(10, 11)
			g.tie(11, 12)
			g.tie(12, 13)
		}, nil, nil},
		{"ring tied by two insiders is in the root block (a limit)", func(g *trustGraph) {
			g.clique(span(10, 16)...)
			g.tie(3, 10)
			g.tie(4, 11)
		}, nil, nil},
		{"wormhole: one-way into a one-way ring", func(g *trustGraph) {
			for _, r := range span(10, 16) {
				g.oneWay(2, r)             // relayed town beacons
				g.oneWay(5, r)             // nobody in town hears the ring
				g.oneWay(r, 10+(r-10+1)%6) // the ring, one way round
			}
		}, nil, span(10, 16)},
		{"an anchor seeds a smaller component; the larger one is then untrusted", func(g *trustGraph) {
			g.clique(span(10, 16)...)
		}, []int{12}, town},
		{"anchored root block: a bigger block behind one hotspot is cut off", func(g *trustGraph) {
			g.clique(span(10, 22)...)
			g.tie(3, 10)
		}, []int{0}, span(10, 22)},
		{"without anchors the bigger block is the root (a limit)", func(g *trustGraph) {
			g.clique(span(10, 22)...)
			g.tie(3, 10)
		}, nil, town},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := newTrustGraph(30)
			g.clique(town...)
			c.build(g)
			if got := g.flags(t, c.anchors...); !slices.Equal(got, c.want) {
				t.Errorf("flagged %v, want %v", got, c.want)
			}
		})
	}
}

// An edge needs EdgeEvents valid events in all and at least one each way.
func TestUntrustedTieNeedsBothWays(t *testing.T) {
	g := newTrustGraph(16)
	g.clique(span(0, 10)...)
	// 10–15 hear the town one way only, and each other one way
	for _, r := range span(10, 16) {
		g.oneWay(0, r)
		g.oneWay(r, 10+(r-10+1)%6)
	}
	if got := g.flags(t); !slices.Equal(got, span(10, 16)) {
		t.Errorf("flagged %v, want the one-way group", got)
	}
	g.links[[2]int32{12, 0}] = 1 // one of them is heard back once: a tie (2 + 1 ≥ 2 events)
	want := []int32{10, 11, 13, 14, 15}
	if got := g.flags(t); !slices.Equal(got, want) {
		t.Errorf("flagged %v, want %v", got, want)
	}
}

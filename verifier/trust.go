package verifier

import "slices"

// The [hx] trust propagation (reason untrusted, 33, scope H).
//
// The weakness it closes: a ring of identities whose reports of each other
// are forged to be physically consistent (log-distance loss at the
// asserted distance, stable per-pair shadowing, fading, full reciprocity)
// produces no radio evidence where no honest hotspot could hear it: in
// empty land, around a village smaller than the ring, or joined to a town
// by a single real radio (an insider) that files reports for it, possibly
// relaying honest beacons to it over the internet (a wormhole). The
// statistical detectors see a healthy network there. What the attacker
// cannot forge cheaply is a tie to the rest of the network: a link heard
// both ways with a real hotspot needs a real radio in radio range of it.
//
// The rule, over the detector window's valid events:
//
//  1. Ties. Two hotspots are tied when each heard the other's valid
//     beacons (at least one valid event each way) and their link has at
//     least EdgeEvents valid events. Path loss is reciprocal, so a real
//     link is heard both ways; what a wormhole relays into a ring is
//     heard one way only (nobody hears the ring's beacons), and so are
//     the reports of one-way forgers.
//  2. Seeds. Trust starts in every connected component of the ties that
//     holds one of the public TrustAnchors (oracle-known hotspots, e.g.
//     checked on site, listed in the parameter set); when no anchor is in
//     the window's ties, in the largest component (ties: the one with the
//     lowest-keyed member). Inside a seeded component the root is its
//     largest biconnected block holding an anchor, or without one its
//     largest biconnected block (ties: the first found from its
//     lowest-keyed member): a part of the network that stays connected
//     when any single hotspot is removed.
//  3. Propagation with a cap per cut. Trust flows from the root block
//     through the ties; a hotspot whose removal cuts a part of the
//     component off from the root (an articulation point) carries trust
//     for at most TrustCutMax hotspots behind it (all the parts it cuts off
//     together). When more than TrustCutMax hotspots hang from one hotspot,
//     none of them is trusted, however many ties they have among
//     themselves: it is exactly what an insider with a ring behind it
//     looks like, and what the insider's vouching is worth does not grow
//     with the ring.
//  4. What is not trusted is grouped by all its valid events (one-way ones
//     included) among untrusted hotspots, and by the hotspot it hangs from
//     (what one hotspot cannot carry is one group); a group of more than
//     TrustCutMax hotspots is flagged untrusted, all of it. A smaller group keeps its
//     rewards: an honest hamlet behind a ridge, or a hotspot only heard one
//     way at the edge of the network, cannot be told from a small ring.
//
// The limits, published with the rule: a ring of at most TrustCutMax
// identities (per insider) is not caught; a ring tied to the root block
// by two or more insiders is part of it; without anchors, a ring larger
// than the largest honest component (or, behind one insider, a ring with
// a larger block than the town's) becomes the root and the honest network
// is flagged; and an honest town of more than TrustCutMax
// hotspots that is not tied to a seed (an island, a valley behind a
// ridge), or hangs from it by a single hotspot, is flagged unless one of
// its hotspots is an anchor. Operators list at least one anchor per such
// town, and in the main network.
//
// Everything is computed on site indices (registry key order) with sorted
// adjacency lists, so the result depends on the inputs only.
func (e *engine) untrusted(hm *hearing) []int32 {
	d := e.p.Detectors
	n := len(e.reg.sites)
	// hm.links: the valid events per directed link, by beaconer, sorted
	// by witness
	count := func(b, w int32) int32 {
		ls := hm.links[b]
		k, ok := slices.BinarySearchFunc(ls, w, func(l linkCount, w int32) int { return int(l.w - w) })
		if !ok {
			return 0
		}
		return ls[k].n
	}
	// ties (two-way) as sorted adjacency lists, and links (any way)
	tieDeg := make([]int32, n+1)
	var ties []tieEdge
	linked := make([]bool, n) // has a valid event, either way
	anyLink := false
	for b := range int32(n) {
		for _, l := range hm.links[b] {
			if l.w == b {
				continue
			}
			linked[b], linked[l.w], anyLink = true, true, true
			if b < l.w {
				if back := count(l.w, b); back > 0 && int(l.n+back) >= d.EdgeEvents {
					ties = append(ties, tieEdge{b, l.w})
				}
			}
		}
	}
	if !anyLink {
		return nil
	}
	tieAdj := csr(n, ties, tieDeg)
	nbrs := func(start []int32, adj []int32, u int32) []int32 { return adj[start[u]:start[u+1]] }

	// components of the ties
	comp := make([]int32, n)
	for i := range comp {
		comp[i] = -1
	}
	var compSize []int32
	var queue []int32
	for s := range int32(n) {
		if comp[s] >= 0 || tieDeg[s+1] == tieDeg[s] {
			continue
		}
		c := int32(len(compSize))
		comp[s] = c
		queue = append(queue[:0], s)
		size := int32(0)
		for len(queue) > 0 {
			u := queue[len(queue)-1]
			queue = queue[:len(queue)-1]
			size++
			for _, v := range nbrs(tieDeg, tieAdj, u) {
				if comp[v] < 0 {
					comp[v] = c
					queue = append(queue, v)
				}
			}
		}
		compSize = append(compSize, size)
	}
	seeded := make([]bool, len(compSize))
	anchor := make([]bool, n)
	anchored := false
	for _, k := range d.TrustAnchors {
		if i, ok := e.reg.index[k]; ok && comp[i] >= 0 {
			seeded[comp[i]] = true
			anchor[i] = true
			anchored = true
		}
	}
	if !anchored {
		largest := int32(-1)
		for c, sz := range compSize {
			if largest < 0 || sz > compSize[largest] {
				largest = int32(c) // components are numbered by their lowest member
			}
		}
		if largest >= 0 {
			seeded[largest] = true
		}
	}
	trusted := make([]bool, n)
	bd := &blockDFS{start: tieDeg, adj: tieAdj, disc: make([]int32, n), low: make([]int32, n)}
	for i := range bd.disc {
		bd.disc[i], bd.low[i] = -1, -1
	}
	done := make([]bool, len(compSize))
	var cutOff [][]int32
	for s := range int32(n) {
		if c := comp[s]; c >= 0 && seeded[c] && !done[c] {
			done[c] = true
			cutOff = e.trustFrom(bd, s, anchor, trusted, cutOff)
		}
	}

	// group the untrusted by any valid event among them and by the cut
	// vertex they hang from; flag the groups of more than TrustCutMax
	parent := make([]int32, n)
	for i := range parent {
		parent[i] = int32(i)
	}
	find := func(x int32) int32 {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	union := func(a, b int32) {
		if a, b = find(a), find(b); a != b {
			parent[max(a, b)] = min(a, b)
		}
	}
	for b := range int32(n) {
		for _, l := range hm.links[b] {
			if !trusted[b] && !trusted[l.w] {
				union(b, l.w)
			}
		}
	}
	for _, grp := range cutOff {
		for _, v := range grp[1:] {
			union(grp[0], v)
		}
	}
	size := make([]int32, n)
	for s := range int32(n) {
		if !trusted[s] && linked[s] {
			size[find(s)]++
		}
	}
	var out []int32
	for s := range int32(n) {
		if !trusted[s] && linked[s] && int(size[find(s)]) > d.TrustCutMax {
			out = append(out, s)
		}
	}
	return out
}

// csr builds undirected adjacency lists from edges: start has n+1 entries
// (start[u]..start[u+1] index the returned list), neighbours sorted.
func csr(n int, edges []tieEdge, start []int32) []int32 {
	for _, t := range edges {
		start[t.u+1]++
		start[t.v+1]++
	}
	for s := range n {
		start[s+1] += start[s]
	}
	adj := make([]int32, start[n])
	next := slices.Clone(start[:n])
	for _, t := range edges {
		adj[next[t.u]] = t.v
		next[t.u]++
		adj[next[t.v]] = t.u
		next[t.v]++
	}
	for s := range n {
		slices.Sort(adj[start[s]:start[s+1]])
	}
	return adj
}

type tieEdge struct{ u, v int32 }

// blockDFS is an iterative depth-first search over the ties that finds
// where subtrees hang from a single vertex (Tarjan's biconnected blocks).
type blockDFS struct {
	start, adj []int32
	disc, low  []int32 // -1: not discovered
	order      []int32 // vertices by discovery time
	stack      []int32
}

type dfsFrame struct{ u, parent, next int32 }

// run searches the component of root. For every tree edge (p, u) where
// u's subtree hangs from p (no back edge from it above p), visit gets p,
// u, the block's vertices other than p (those discovered since u and not
// yet given to an earlier visit) and the discovery-time interval
// [lo, hi) of u's whole subtree (order[lo:hi]).
func (b *blockDFS) run(root int32, visit func(p, u int32, block []int32, lo, hi int32)) {
	for _, v := range b.order {
		b.disc[v], b.low[v] = -1, -1
	}
	b.order = append(b.order[:0], root)
	b.disc[root], b.low[root] = 0, 0
	b.stack = append(b.stack[:0], root)
	frames := []dfsFrame{{root, -1, b.start[root]}}
	for len(frames) > 0 {
		f := &frames[len(frames)-1]
		if f.next < b.start[f.u+1] {
			v := b.adj[f.next]
			f.next++
			if v == f.parent {
				continue
			}
			if dv := b.disc[v]; dv >= 0 {
				b.low[f.u] = min(b.low[f.u], dv)
				continue
			}
			t := int32(len(b.order))
			b.disc[v], b.low[v] = t, t
			b.order = append(b.order, v)
			b.stack = append(b.stack, v)
			frames = append(frames, dfsFrame{v, f.u, b.start[v]})
			continue
		}
		u, p := f.u, f.parent
		frames = frames[:len(frames)-1]
		if p < 0 {
			break
		}
		b.low[p] = min(b.low[p], b.low[u])
		if b.low[u] >= b.disc[p] {
			k := len(b.stack) - 1
			for b.stack[k] != u {
				k--
			}
			visit(p, u, b.stack[k:], b.disc[u], int32(len(b.order)))
			b.stack = b.stack[:k]
		}
	}
}

// trustFrom marks the trusted hotspots of the component of s in the ties:
// the root block (its largest biconnected block; ties: the first found)
// and everything reachable from it except what hangs from a single
// hotspot when that is more than TrustCutMax hotspots (all the parts
// hanging from it together: ten leaves tied only to an insider are ten
// hotspots behind it).
func (e *engine) trustFrom(b *blockDFS, s int32, anchor, trusted []bool, cutOff [][]int32) [][]int32 {
	cutMax := int32(e.p.Detectors.TrustCutMax)
	// Pass 1: the blocks, to find the largest one.
	var rootBlock []int32
	rootAnchored := false
	b.run(s, func(p, _ int32, block []int32, _, _ int32) {
		anchored := anchor[p]
		for _, v := range block {
			anchored = anchored || anchor[v]
		}
		if (anchored && !rootAnchored) || (anchored == rootAnchored && len(block)+1 > len(rootBlock)) {
			rootBlock = append(append(rootBlock[:0], p), block...)
			rootAnchored = anchored
		}
	})
	if len(rootBlock) == 0 {
		return cutOff
	}
	// Pass 2: from the root block's lowest vertex. A subtree that hangs
	// from any vertex is cut off from the root block by that vertex, except
	// at the root the one subtree whose first vertex is in the root block
	// (it holds the rest of the block).
	root := slices.Min(rootBlock)
	// per cut vertex, the parts hanging from it and their total size
	behind := map[int32][][2]int32{}
	total := map[int32]int32{}
	var cuts []int32
	b.run(root, func(p, u int32, _ []int32, lo, hi int32) {
		if p == root && slices.Contains(rootBlock, u) {
			return
		}
		if _, ok := behind[p]; !ok {
			cuts = append(cuts, p)
		}
		behind[p] = append(behind[p], [2]int32{lo, hi})
		total[p] += hi - lo
	})
	for _, v := range b.order {
		trusted[v] = true
	}
	for _, p := range cuts {
		if total[p] <= cutMax {
			continue
		}
		var grp []int32
		for _, c := range behind[p] {
			for _, v := range b.order[c[0]:c[1]] {
				trusted[v] = false
				grp = append(grp, v)
			}
		}
		cutOff = append(cutOff, grp)
	}
	return cutOff
}

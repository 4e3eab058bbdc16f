package oracle

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/oracle/solana"
	"github.com/hexfield/hexfield/wire"
)

// noChain is an AuthChain with nothing authorised (the benchmark does
// not reach phase 1).
type noChain struct{}

func (noChain) Authorization(context.Context, uint64) (solana.Summary, bool, error) {
	return solana.Summary{}, false, nil
}

// BenchmarkReconcile100k measures one epoch's reconciliation between a
// leader and a peer over QUIC on loopback, for 100 000 hotspots with one
// report each in the epoch, where each side lacks a different 0.5 % (the
// peers differ by 1 % of reports): the peer fetches the list and the
// reports it lacks, pushes the leader the ones it lacks, and, in the next
// round, agrees and computes the manifest. It reports the bytes the peer
// exchanged (requests plus responses) and the wall time per epoch.
func BenchmarkReconcile100k(b *testing.B) {
	const hotspots = 100_000
	pr := newReconcilePair(b)
	leader, peer := pr.leader, pr.peer
	n := uint64(1000)
	from, to := leader.params.CloseAt(n-1), leader.params.CloseAt(n)
	hs := make([]ed25519.PrivateKey, 64)
	for i := range hs {
		hs[i] = testKey(b)
	}
	var forL, forP []*ingestItem
	for i := range hotspots {
		raw := packetReport(b, hs[i%len(hs)], uint64(i))
		pub := wire.PublicKeyOf(hs[i%len(hs)])
		ms := from + int64(i)%(to-from)
		mk := func() *ingestItem {
			return &ingestItem{id: wire.ReportID(raw), kind: wire.Kind_KIND_PACKET_REPORT, receivedMs: ms, signer: pub[:], envelope: raw, done: func(wire.Code, int64) {}}
		}
		if i%200 != 0 {
			forL = append(forL, mk())
		}
		if i%200 != 1 {
			forP = append(forP, mk())
		}
	}
	for _, st := range []struct {
		o     *Oracle
		items []*ingestItem
	}{{leader, forL}, {peer, forP}} {
		for k := 0; k < len(st.items); k += 4096 {
			batch := st.items[k:min(k+4096, len(st.items))]
			if err := st.o.commit.writeBatch(batch, make([]commitResult, len(batch))); err != nil {
				b.Fatal(err)
			}
		}
	}
	pr.run(b, n, from, to, "reports_reconciled")
}

// BenchmarkReconcileRegistry100k measures the registry part of one
// epoch's reconciliation: 100 000 hotspots onboarded before the epoch,
// each oracle missing a different 0.5 % of the onboardings (the peers
// differ by 1 % of registry changes). The peer lists the leader's change
// log, fetches and applies (signatures checked) the changes it lacks,
// pushes the leader the ones it lacks, and agrees in the next round. It
// reports the bytes the peer exchanged and the wall time per epoch.
func BenchmarkReconcileRegistry100k(b *testing.B) {
	const hotspots = 100_000
	pr := newReconcilePair(b)
	leader, peer := pr.leader, pr.peer
	n := uint64(1000)
	from, to := leader.params.CloseAt(n-1), leader.params.CloseAt(n)
	at := leader.params.EpochStart(n) - 50_000
	owner := testKey(b)
	// The changes both hold are written straight into the change log (a
	// registry transaction each would take minutes); the ones only one
	// holds are applied as the oracle applies any change.
	type onb struct {
		req OnboardRequest
		ms  int64
	}
	var common, forL, forP []onb
	for i := range hotspots {
		ms := at + int64(i%40_000)
		req, err := NewOnboardRequest(testKey(b), owner, false, time.UnixMilli(ms))
		if err != nil {
			b.Fatal(err)
		}
		switch i % 200 {
		case 0:
			forL = append(forL, onb{req, ms})
		case 1:
			forP = append(forP, onb{req, ms})
		default:
			common = append(common, onb{req, ms})
		}
	}
	for _, o := range []*Oracle{leader, peer} {
		w := o.store.db.NewWriteBatch()
		for _, c := range common {
			raw := encodeJSON(c.req)
			if err := w.Set(changeKey(c.ms, sha256.Sum256(raw), wire.Kind_KIND_ONBOARD), raw); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		o.store.regGen.Add(1)
	}
	for _, st := range []struct {
		o    *Oracle
		only []onb
	}{{leader, forL}, {peer, forP}} {
		for _, c := range st.only {
			if _, err := st.o.onboardAt(c.req, time.UnixMilli(leader.params.EpochStart(n)), true); err != nil {
				b.Fatal(err)
			}
		}
	}
	pr.run(b, n, from, to, "changes_reconciled")
}

// reconcilePair is a leader and a peer oracle, 2 of 2, the peer connected
// to the leader's co-signing server over QUIC on loopback.
type reconcilePair struct {
	leader, peer *Oracle
	client       *CosignClient
	ctx          context.Context
}

func newReconcilePair(b *testing.B) *reconcilePair {
	cfg := Config{EpochLength: time.Minute, BeaconInterval: time.Minute, EpochGrace: time.Second}
	leaderKey, peerKey := testKey(b), testKey(b)
	pr := &reconcilePair{}
	for _, o := range []struct {
		key ed25519.PrivateKey
		to  **Oracle
	}{{leaderKey, &pr.leader}, {peerKey, &pr.peer}} {
		c := cfg
		c.DataDir = b.TempDir()
		oc, err := New(c, Deps{Key: o.key})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { oc.store.Close() })
		*o.to = oc
	}
	leader, peer := pr.leader, pr.peer
	members := []wire.PublicKey{leader.pub, peer.pub}
	leader.cons = newConsensus(leader, members, 2, nil, nil, noChain{}, time.Hour, leader.log)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv, err := NewCosignServer(CosignServerConfig{Key: leaderKey, Leaders: []wire.PublicKey{peer.pub}, Consensus: leader.cons,
		Own: func(_ context.Context, l wire.PublicKey, e uint64) (solana.Summary, error) {
			return leader.cons.ownSummary(l, e)
		}}, pc)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	go srv.Run(ctx)
	cpc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	if pr.client, err = NewCosignClient(peerKey, leader.pub.String()+"@"+pc.LocalAddr().String(), cpc); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pr.client.Close() })
	peer.cons = newConsensus(peer, members, 2, []*CosignClient{pr.client}, nil, noChain{}, time.Hour, peer.log)
	pr.ctx = ctx
	return pr
}

// run reconciles epoch n (reports in [from, to)) b.N times: a first round
// in which the peer fetches and pushes, and a second in which it agrees.
func (pr *reconcilePair) run(b *testing.B, n uint64, from, to int64, unit string) {
	leader, peer := pr.leader, pr.peer
	propose := func(round uint32) *wire.InputRef {
		entries, err := leader.store.candidates(from, to)
		if err != nil {
			b.Fatal(err)
		}
		root := inputRoot(entries)
		froot := fundedRoot(nil)
		ref := &wire.InputRef{Epoch: n, Round: round, FromMs: from, ToMs: to, Count: uint64(len(entries)), Root: root[:], FundedRoot: froot[:]}
		if err := leader.cons.changesRef(ref); err != nil {
			b.Fatal(err)
		}
		leader.cons.mu.Lock()
		leader.cons.offered[n] = &offer{ref: ref, entries: entries}
		leader.cons.mu.Unlock()
		return ref
	}
	b.ResetTimer()
	for range b.N {
		s0, r0 := pr.client.Transferred()
		start := time.Now()
		// The first epoch measured has the differences; later ones (with
		// -benchtime above 1x) have none left.
		_, counts, err := peer.cons.take(pr.ctx, pr.client, propose(0), true)
		switch {
		case errors.Is(err, errPushed):
			if _, _, err := peer.cons.take(pr.ctx, pr.client, propose(1), true); err != nil {
				b.Fatalf("round 1: %v", err)
			}
		case err != nil:
			b.Fatalf("round 0: %v (counts %+v)", err, counts)
		}
		s1, r1 := pr.client.Transferred()
		b.ReportMetric(float64(s1-s0+r1-r0)/1e6, "MB/epoch")
		b.ReportMetric(time.Since(start).Seconds(), "s/epoch")
		b.ReportMetric(float64(counts.fetched+counts.pushed), unit)
	}
}

// FuzzConsensusRequests: any bytes a peer sends as a reconciliation
// request (input pages, reports, pushes, agreed inputs, proposals) get an
// answer that fits one frame, and never a panic; pushed reports are
// stored only with valid hotspot signatures.
func FuzzConsensusRequests(f *testing.F) {
	o, err := New(Config{DataDir: f.TempDir(), EpochLength: time.Minute, BeaconInterval: time.Minute, EpochGrace: time.Second}, Deps{Key: testKey(f)})
	if err != nil {
		f.Fatal(err)
	}
	defer o.store.Close()
	hs := testKey(f)
	good := packetReport(f, hs, 1)
	id := wire.ReportID(good)
	pub := wire.PublicKeyOf(hs)
	if err := o.commit.writeBatch([]*ingestItem{{id: id, kind: wire.Kind_KIND_PACKET_REPORT, receivedMs: o.params.CloseAt(999) + 5, signer: pub[:], envelope: good,
		done: func(wire.Code, int64) {}}}, make([]commitResult, 1)); err != nil {
		f.Fatal(err)
	}
	o.cons = newConsensus(o, []wire.PublicKey{o.pub}, 1, nil, nil, noChain{}, time.Minute, o.log)
	// A registry change in the log, and one to push (a grant by a key that
	// is no operator here: it never applies).
	owner := testKey(f)
	onb, _ := NewOnboardRequest(hs, owner, false, time.UnixMilli(o.params.EpochStart(1000)-5000))
	if _, err := o.onboardAt(onb, time.UnixMilli(o.params.EpochStart(1000)), true); err != nil {
		f.Fatal(err)
	}
	change, _, err := changeEntryOf(wire.Kind_KIND_ONBOARD, encodeJSON(onb))
	if err != nil {
		f.Fatal(err)
	}
	grant, _ := NewGrantRequest(owner, wire.PublicKeyOf(owner), 5, []byte("fuzz-consensus-grant"), time.UnixMilli(o.params.EpochStart(1000)-1000))
	ref := &wire.InputRef{Epoch: 1000, FromMs: o.params.CloseAt(999), ToMs: o.params.CloseAt(1000), Count: 1, Root: make([]byte, 32)}
	entries, _ := o.store.candidates(ref.FromMs, ref.ToMs)
	o.cons.offered[1000] = &offer{ref: ref, entries: entries}
	for _, m := range []*wire.CosignStream{
		{Msg: &wire.CosignStream_Input{Input: &wire.InputPageRequest{Ref: ref, Limit: 10}}},
		{Msg: &wire.CosignStream_Input{Input: &wire.InputPageRequest{Ref: ref, Funded: true}}},
		{Msg: &wire.CosignStream_Reports{Reports: &wire.ReportsRequest{Ids: [][]byte{id[:]}}}},
		{Msg: &wire.CosignStream_Push{Push: &wire.PushRequest{Epoch: 1000, Reports: []*wire.StampedReport{{Envelope: good, Ms: ref.FromMs + 1}}}}},
		{Msg: &wire.CosignStream_Agreed{Agreed: &wire.AgreedRequest{Epoch: 1000}}},
		{Msg: &wire.CosignStream_Reconcile{Reconcile: &wire.ReconcileRequest{Ref: ref}}},
		{Msg: &wire.CosignStream_Input{Input: &wire.InputPageRequest{Ref: ref, Changes: true, After: make([]byte, changeRefLen)}}},
		{Msg: &wire.CosignStream_Reports{Reports: &wire.ReportsRequest{Changes: true, Ids: [][]byte{change.ref()}}}},
		{Msg: &wire.CosignStream_Push{Push: &wire.PushRequest{Epoch: 1000, Changes: true,
			Reports: []*wire.StampedReport{{Envelope: grant.Envelope, Ms: change.Ms, Kind: wire.Kind_KIND_DC_GRANT}}}}},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req wire.CosignStream
		if proto.Unmarshal(b, &req) != nil {
			return
		}
		ctx := context.Background()
		var resp proto.Message
		switch {
		case req.GetInput() != nil:
			page := o.cons.serveInput(req.GetInput())
			if len(page.GetEntries()) > pageLimit {
				t.Fatalf("page of %d entries", len(page.GetEntries()))
			}
			resp = page
		case req.GetReports() != nil:
			resp = o.cons.serveReports(req.GetReports())
		case req.GetPush() != nil && req.GetPush().GetChanges():
			r := o.cons.received(req.GetPush())
			if r.GetStored() > 0 {
				t.Fatalf("applied %d pushed registry changes none of which verify here", r.GetStored())
			}
			resp = r
		case req.GetPush() != nil:
			r := o.cons.received(req.GetPush())
			if r.GetStored() > 0 {
				for _, sr := range req.GetPush().GetReports() {
					if _, err := checkedReport(sr.GetEnvelope(), sr.GetMs()); err != nil {
						t.Fatalf("stored a pushed report that does not check: %v", err)
					}
				}
			}
			resp = r
		case req.GetAgreed() != nil:
			resp = o.cons.serveAgreed(ctx, req.GetAgreed())
		case req.GetReconcile() != nil:
			resp = o.cons.reconcile(ctx, wire.PublicKeyOf(hs), req.GetReconcile().GetRef())
		default:
			return
		}
		if n := proto.Size(resp); n > wire.MaxFrameSize {
			t.Fatalf("answer of %d bytes exceeds a frame", n)
		}
	})
}

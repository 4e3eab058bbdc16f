package oracle

import (
	"context"
	"crypto/ed25519"
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
	cfg := Config{EpochLength: time.Minute, BeaconInterval: time.Minute, EpochGrace: time.Second}
	leaderKey, peerKey := testKey(b), testKey(b)
	leader, err := New(Config{DataDir: b.TempDir(), EpochLength: cfg.EpochLength, BeaconInterval: cfg.BeaconInterval, EpochGrace: cfg.EpochGrace}, Deps{Key: leaderKey})
	if err != nil {
		b.Fatal(err)
	}
	defer leader.store.Close()
	peer, err := New(Config{DataDir: b.TempDir(), EpochLength: cfg.EpochLength, BeaconInterval: cfg.BeaconInterval, EpochGrace: cfg.EpochGrace}, Deps{Key: peerKey})
	if err != nil {
		b.Fatal(err)
	}
	defer peer.store.Close()
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
	defer cancel()
	go srv.Run(ctx)
	cpc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	client, err := NewCosignClient(peerKey, leader.pub.String()+"@"+pc.LocalAddr().String(), cpc)
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	peer.cons = newConsensus(peer, members, 2, []*CosignClient{client}, nil, noChain{}, time.Hour, peer.log)
	propose := func(round uint32) *wire.InputRef {
		entries, err := leader.store.candidates(from, to)
		if err != nil {
			b.Fatal(err)
		}
		root := inputRoot(entries)
		froot := fundedRoot(nil)
		ref := &wire.InputRef{Epoch: n, Round: round, FromMs: from, ToMs: to, Count: uint64(len(entries)), Root: root[:], FundedRoot: froot[:]}
		leader.cons.mu.Lock()
		leader.cons.offered[n] = &offer{ref: ref, entries: entries}
		leader.cons.mu.Unlock()
		return ref
	}
	b.ResetTimer()
	for range b.N {
		s0, r0 := client.Transferred()
		start := time.Now()
		// The first epoch measured has the differences; later ones (with
		// -benchtime above 1x) have none left.
		_, counts, err := peer.cons.take(ctx, client, propose(0), true)
		switch {
		case errors.Is(err, errPushed):
			if _, _, err := peer.cons.take(ctx, client, propose(1), true); err != nil {
				b.Fatalf("round 1: %v", err)
			}
		case err != nil:
			b.Fatalf("round 0: %v (counts %+v)", err, counts)
		}
		s1, r1 := client.Transferred()
		b.ReportMetric(float64(s1-s0+r1-r0)/1e6, "MB/epoch")
		b.ReportMetric(time.Since(start).Seconds(), "s/epoch")
		b.ReportMetric(float64(counts.fetched+counts.pushed), "reports_reconciled")
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

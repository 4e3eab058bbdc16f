package oracle

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net"
	"testing"
	"time"

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

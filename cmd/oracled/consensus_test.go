package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/oracle/solana"
	"github.com/hexfield/hexfield/oracle/solana/localnet"
	"github.com/hexfield/hexfield/wire"
)

// cluster is N oracles in-process with oracled's wiring (oracle.NewNode),
// M-of-N against one local Solana, every one able to lead (they share the
// deployment's payer and distributor key files).
type cluster struct {
	t        *testing.T
	ctx      context.Context
	url      string
	epochLen time.Duration
	keys     []ed25519.PrivateKey
	cfgs     []oracle.Config
	offsets  []time.Duration
	cosign   []net.PacketConn
	nodes    []*oracle.Node
	clients  []*oracle.Client
	quic     []string
	logs     []*lockedBuffer
	stops    []func()
	operator ed25519.PrivateKey
}

// startCluster starts count oracles whose clocks run offsets[i] off;
// extra are more members ("ADDRESS@host:port") that the test plays itself.
func startCluster(t *testing.T, ctx context.Context, count, threshold int, epochLen time.Duration, offsets []time.Duration, extra ...string) *cluster {
	t.Helper()
	keys := make([]ed25519.PrivateKey, count)
	for i := range keys {
		keys[i], _ = wire.GenerateKey()
	}
	return startClusterKeys(t, ctx, keys, threshold, epochLen, offsets, extra...)
}

// startClusterWithKeys starts an oracle for each key, with true clocks.
func startClusterWithKeys(t *testing.T, ctx context.Context, keys []ed25519.PrivateKey, threshold int, epochLen time.Duration, extra ...string) *cluster {
	t.Helper()
	return startClusterKeys(t, ctx, keys, threshold, epochLen, make([]time.Duration, len(keys)), extra...)
}

func startClusterKeys(t *testing.T, ctx context.Context, keys []ed25519.PrivateKey, threshold int, epochLen time.Duration, offsets []time.Duration, extra ...string) *cluster {
	t.Helper()
	count := len(keys)
	c := &cluster{t: t, ctx: ctx, url: localnet.StartForTest(t).URL(), epochLen: epochLen, offsets: offsets}
	c.operator, _ = wire.GenerateKey()
	shared := t.TempDir()
	payerFile, distFile := filepath.Join(shared, "payer.json"), filepath.Join(shared, "distributor.json")
	payer, _, err := wire.LoadOrCreateKeyFile(payerFile)
	if err != nil {
		t.Fatal(err)
	}
	dist, _, err := wire.LoadOrCreateKeyFile(distFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []wire.PublicKey{wire.PublicKeyOf(payer), wire.PublicKeyOf(dist)} {
		var sig string
		if err := localnet.Call(ctx, c.url, "requestAirdrop", []any{k.String(), uint64(100e9)}, &sig); err != nil {
			t.Fatal(err)
		}
	}
	addrs := make([]string, count)
	c.keys, c.cosign = keys, make([]net.PacketConn, count)
	for i := range count {
		if c.cosign[i], err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		addrs[i] = fmt.Sprintf("%s@%s", wire.PublicKeyOf(c.keys[i]), c.cosign[i].LocalAddr())
	}
	for i := range count {
		cfg := oracle.Config{DataDir: t.TempDir(), SolanaRPC: c.url, EpochLength: epochLen, BeaconInterval: epochLen,
			EpochGrace: time.Second, EntropyPeriod: time.Second, Threshold: threshold, ChargeWithoutPoC: true,
			LeaderTimeout: epochLen / 3, Leader: true, SolanaPayerKey: payerFile, SolanaDistributorKey: distFile,
			SolanaPayerAddress: wire.PublicKeyOf(payer).String(), SolanaDistributorAddress: wire.PublicKeyOf(dist).String(),
			OperatorKeys: []string{wire.PublicKeyOf(c.operator).String()}}
		for j := range count {
			if j != i {
				cfg.Peers = append(cfg.Peers, addrs[j])
			}
		}
		cfg.Peers = append(cfg.Peers, extra...)
		c.cfgs = append(c.cfgs, cfg.Defaults())
	}
	c.nodes, c.clients, c.quic = make([]*oracle.Node, count), make([]*oracle.Client, count), make([]string, count)
	c.logs, c.stops = make([]*lockedBuffer, count), make([]func(), count)
	for i := range count {
		c.logs[i] = &lockedBuffer{}
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range c.stops {
			c.stop(i)
		}
	})
	return c
}

// members are the sorted member keys: the oracles' and extra ones.
func (c *cluster) members(extra ...wire.PublicKey) [][32]byte {
	var out [][32]byte
	for _, k := range c.keys {
		out = append(out, wire.PublicKeyOf(k))
	}
	for _, k := range extra {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	return out
}

// start runs oracle i (again, on its store and sockets' addresses).
func (c *cluster) start(i int) {
	t := c.t
	if err := c.cfgs[i].Validate(); err != nil {
		t.Fatal(err)
	}
	if c.cosign[i] == nil {
		pc, err := net.ListenPacket("udp", c.cfgs[i].CosignListen)
		if err != nil {
			t.Fatal(err)
		}
		c.cosign[i] = pc
	}
	// A restarted oracle gets new ingest and API ports (its old ones may
	// have been taken by then); its co-signing address is in its peers'
	// configs and stays.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.cfgs[i].CosignListen = c.cosign[i].LocalAddr().String()
	name := string(rune('A' + i))
	log := slog.New(slog.NewTextHandler(io.MultiWriter(testLog{t}, c.logs[i]), &slog.HandlerOptions{Level: slog.LevelInfo})).With("node", name)
	off := c.offsets[i]
	deps := oracle.Deps{Key: c.keys[i], PacketConn: pc, HTTPListener: ln, Logger: log, Now: func() time.Time { return time.Now().Add(off) }}
	n, err := oracle.NewNode(c.ctx, c.cfgs[i], deps, c.cosign[i])
	if err != nil {
		t.Fatalf("oracle %s: %v", name, err)
	}
	c.nodes[i], c.quic[i], c.clients[i] = n, pc.LocalAddr().String(), &oracle.Client{BaseURL: "http://" + ln.Addr().String()}
	rctx, cancel := context.WithCancel(c.ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := n.Run(rctx); err != nil {
			t.Errorf("oracle %s: %v", name, err)
		}
	})
	c.stops[i] = func() {
		cancel()
		wg.Wait()
	}
}

// stop stops oracle i (its sockets close; start reopens them).
func (c *cluster) stop(i int) {
	if c.stops[i] != nil {
		c.stops[i]()
		c.stops[i] = nil
		c.cosign[i] = nil
	}
}

// onboard registers hotspots (one owner each) and the test customer on
// every running oracle.
func (c *cluster) onboard(hotspots int) (hs []ed25519.PrivateKey, owners [][32]byte) {
	putTestRoute(c.t, c.ctx, time.Now(), c.operator, c.clients...)
	for range hotspots {
		h, _ := wire.GenerateKey()
		owner, _ := wire.GenerateKey()
		req, err := oracle.NewOnboardRequest(h, owner, false, time.Now())
		if err != nil {
			c.t.Fatal(err)
		}
		for _, cl := range c.clients {
			if _, err := cl.Onboard(c.ctx, req); err != nil {
				c.t.Fatal(err)
			}
		}
		openRewardAccount(c.t, c.ctx, c.url, c.cfgs[0], owner)
		hs, owners = append(hs, h), append(owners, wire.PublicKeyOf(owner))
	}
	return hs, owners
}

// openRewardAccount funds owner with SOL and opens its reward token
// account, paying the rent itself, as `hexfield rewards open-account` does.
func openRewardAccount(t *testing.T, ctx context.Context, url string, cfg oracle.Config, owner ed25519.PrivateKey) {
	t.Helper()
	var sig string
	if err := localnet.Call(ctx, url, "requestAirdrop", []any{wire.PublicKeyOf(owner).String(), uint64(1e9)}, &sig); err != nil {
		t.Fatal(err)
	}
	acc, err := oracle.ConfiguredAccounts(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := solana.NewChain(url).OpenAccount(ctx, owner, acc.Mint); err != nil {
		t.Fatal(err)
	}
}

func (c *cluster) epochStart(e uint64) time.Time {
	return time.UnixMilli(int64(e) * c.epochLen.Milliseconds())
}

// waitAgreed waits until every oracle in which has epoch e's manifest.
func (c *cluster) waitAgreed(e uint64, which ...int) []oracle.EpochResponse {
	c.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	out := make([]oracle.EpochResponse, len(which))
	for k, i := range which {
		out[k] = waitManifest(c.t, c.ctx, c.clients[i], e, deadline)
	}
	return out
}

// checkPaidOnce checks that the owners' balances on chain are exactly the
// sums of the given manifests' payouts (each epoch paid once).
func (c *cluster) checkPaidOnce(owners [][32]byte, epochs ...oracle.EpochResponse) {
	c.t.Helper()
	acc, err := oracle.ConfiguredAccounts(c.cfgs[0])
	if err != nil {
		c.t.Fatal(err)
	}
	waitBalances(c.t, c.ctx, c.url, acc.Mint, owners, epochs...)
}

// TestOraclesReconcileOnLocalnet: 3 oracles (2-of-3) and 5 (3-of-5), each
// missing a different 7.5 % of the reports, with clocks up to 1.5 s apart
// and reports sent right at the input's closing edge, so that oracles
// stamp them on different sides of it. Every epoch is agreed with
// byte-identical manifests on every oracle and paid on chain exactly once.
func TestOraclesReconcileOnLocalnet(t *testing.T) {
	t.Parallel() // wall-clock epochs, little CPU: the clusters run side by side
	for _, tc := range []struct{ n, m int }{{3, 2}, {5, 3}} {
		t.Run(fmt.Sprintf("%d-of-%d", tc.m, tc.n), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			offsets := []time.Duration{0, 1500 * time.Millisecond, -1500 * time.Millisecond, 700 * time.Millisecond, -700 * time.Millisecond}[:tc.n]
			c := startCluster(t, ctx, tc.n, tc.m, 20*time.Second, offsets)
			hs, owners := c.onboard(4)
			e := uint64(time.Now().Add(2*time.Second).UnixMilli()/c.epochLen.Milliseconds()) + 1
			time.Sleep(time.Until(c.epochStart(e).Add(3 * time.Second)))
			// 40 reports: hotspot h sends packets 10h … 10h+9. Oracle o
			// misses reports 3o, 3o+1, 3o+2.
			for h, k := range hs {
				for o := range c.nodes {
					var send []int
					for r := 10 * h; r < 10*h+10; r++ {
						if r/3 != o {
							send = append(send, r)
						}
					}
					for _, r := range send {
						submitPackets(t, ctx, c.quic[o], c.nodes[o].Oracle().PublicKey(), k, r%testDevAddrs, 1)
					}
				}
			}
			// At the closing edge of epoch e's input: oracle B's clock is
			// 1.5 s ahead, C's 1.5 s behind.
			closeAt := c.epochStart(e + 1).Add(time.Second)
			time.Sleep(time.Until(closeAt.Add(-500 * time.Millisecond)))
			for o := range c.nodes {
				submitPackets(t, ctx, c.quic[o], c.nodes[o].Oracle().PublicKey(), hs[0], 30, 1)
			}
			ms := c.waitAgreed(e, indices(tc.n)...)
			ms1 := c.waitAgreed(e+1, indices(tc.n)...)
			for i := 1; i < tc.n; i++ {
				if !bytes.Equal(ms[i].ManifestBytes, ms[0].ManifestBytes) || !bytes.Equal(ms1[i].ManifestBytes, ms1[0].ManifestBytes) {
					t.Fatalf("oracle %c's manifests differ from A's", 'A'+i)
				}
			}
			m0 := ms[0].Manifest
			if m0.Total == 0 || len(m0.Payouts) != 4 {
				t.Fatalf("epoch %d: total %d, %d payouts", e, m0.Total, len(m0.Payouts))
			}
			c.checkPaidOnce(owners, ms[0], ms1[0])
			for i := range tc.n {
				r, err := c.clients[i].Epoch(ctx, e, wire.PublicKey{})
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("oracle %c: epoch %d led by %s, %d reports reconciled", 'A'+i, e, r.State.Leader, r.State.Reconciled)
			}
		})
	}
}

func indices(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// sendAll submits reports first … first+n−1 of hotspot h (one uplink each)
// to the oracles in which.
func (c *cluster) sendAll(h ed25519.PrivateKey, first, n int, which ...int) {
	c.t.Helper()
	for _, o := range which {
		submitPackets(c.t, c.ctx, c.quic[o], c.nodes[o].Oracle().PublicKey(), h, first, n)
	}
}

// epochState reads epoch e's state on oracle i (found false before it closed).
func (c *cluster) epochState(i int, e uint64) (oracle.EpochResponse, bool) {
	r, err := c.clients[i].Epoch(c.ctx, e, wire.PublicKey{})
	return r, err == nil
}

// waitDisputed waits until oracle i records epoch e as disputed; a
// manifest of e on i first fails the test (settled says how that could be).
func (c *cluster) waitDisputed(i int, e uint64, settled string) {
	c.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		r, ok := c.epochState(i, e)
		if ok && r.State.Disputed {
			return
		}
		if ok && r.ManifestBytes != nil {
			c.t.Fatalf("epoch %d %s: %+v", e, settled, r.State)
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("epoch %d not disputed on oracle %c: %+v", e, 'A'+i, r.State)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestOraclesBelowQuorumOnLocalnet: with only one of three oracles alive
// (2-of-3), an epoch is not paid and is recorded as disputed, nothing is
// lost, and later epochs still close. When the other two come back, the
// disputed epoch is paid, once, with the manifest of all three.
func TestOraclesBelowQuorumOnLocalnet(t *testing.T) {
	t.Parallel() // wall-clock epochs, little CPU: the clusters run side by side
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	c := startCluster(t, ctx, 3, 2, 20*time.Second, []time.Duration{0, 0, 0})
	hs, owners := c.onboard(2)
	e := uint64(time.Now().Add(2*time.Second).UnixMilli()/c.epochLen.Milliseconds()) + 1
	time.Sleep(time.Until(c.epochStart(e).Add(2 * time.Second)))
	c.sendAll(hs[0], 0, 5, 0, 1, 2)
	c.sendAll(hs[1], 5, 7, 0, 1, 2)
	c.stop(1)
	c.stop(2)
	// A alone: epoch e goes through a whole pass of leader slots and is
	// disputed; epoch e+1 closes after it all the same.
	deadline := time.Now().Add(3 * time.Minute)
	c.waitDisputed(0, e, "agreed by one oracle of three")
	acc, err := oracle.ConfiguredAccounts(c.cfgs[0])
	if err != nil {
		t.Fatal(err)
	}
	bal, err := solana.NewChain(c.url).TokenBalances(ctx, acc.Mint, owners)
	if err != nil {
		t.Fatal(err)
	}
	if bal[0] != 0 || bal[1] != 0 {
		t.Fatalf("paid %v with one oracle of three", bal)
	}
	for {
		if _, ok := c.epochState(0, e+1); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("epoch %d never closed after disputed %d", e+1, e)
		}
		time.Sleep(250 * time.Millisecond)
	}
	c.start(1)
	c.start(2)
	ms := c.waitAgreed(e, 0, 1, 2)
	for i := 1; i < 3; i++ {
		if !bytes.Equal(ms[i].ManifestBytes, ms[0].ManifestBytes) {
			t.Fatalf("oracle %c's manifest of epoch %d differs from A's", 'A'+i, e)
		}
	}
	if ms[0].Manifest.Total == 0 {
		t.Fatalf("epoch %d pays nothing", e)
	}
	c.checkPaidOnce(owners, ms[0])
	t.Logf("epoch %d disputed with one oracle, paid %d once two came back (leader %s)", e, ms[0].Manifest.Total, ms[0].State.Leader)
}

// TestOraclePartitionOnLocalnet: oracle C is cut off for two epochs, which
// A and B pay (2-of-3); the hotspots' reports of those epochs reach C only
// later, as an outbox would deliver them. C catches up on the two epochs
// from its peers (their manifests are the ones the chain authorised), and
// co-signs the next epoch with the same manifest.
func TestOraclePartitionOnLocalnet(t *testing.T) {
	t.Parallel() // wall-clock epochs, little CPU: the clusters run side by side
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	c := startCluster(t, ctx, 3, 2, 20*time.Second, []time.Duration{0, 0, 0})
	hs, owners := c.onboard(2)
	e := uint64(time.Now().Add(2*time.Second).UnixMilli()/c.epochLen.Milliseconds()) + 1
	c.stop(2)
	for k := range uint64(2) {
		time.Sleep(time.Until(c.epochStart(e + k).Add(2 * time.Second)))
		c.sendAll(hs[0], int(10*k), 4, 0, 1)
		c.sendAll(hs[1], int(10*k+5), 3, 0, 1)
	}
	paid := c.waitAgreed(e, 0, 1)
	paid1 := c.waitAgreed(e+1, 0, 1)
	// C comes back during epoch e+2 and receives the late reports.
	time.Sleep(time.Until(c.epochStart(e + 2).Add(2 * time.Second)))
	c.start(2)
	for k := range 2 {
		c.sendAll(hs[0], 10*k, 4, 2)
		c.sendAll(hs[1], 10*k+5, 3, 2)
	}
	c.sendAll(hs[0], 20, 2, 0, 1, 2)
	for k, want := range []oracle.EpochResponse{paid[0], paid1[0]} {
		got := c.waitAgreed(e+uint64(k), 2)[0]
		if !bytes.Equal(got.ManifestBytes, want.ManifestBytes) {
			t.Fatalf("C's manifest of epoch %d differs from the one paid", e+uint64(k))
		}
	}
	ms := c.waitAgreed(e+2, 0, 1, 2)
	for i := 1; i < 3; i++ {
		if !bytes.Equal(ms[i].ManifestBytes, ms[0].ManifestBytes) {
			t.Fatalf("oracle %c's manifest of epoch %d differs from A's", 'A'+i, e+2)
		}
	}
	c.checkPaidOnce(owners, paid[0], paid1[0], ms[0])
	if !strings.Contains(c.logs[2].String(), "consensus: caught up") {
		t.Fatal("C did not log catching up")
	}
}

package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/oracle/solana"
	"github.com/hexfield/hexfield/oracle/solana/localnet"
	"github.com/hexfield/hexfield/wire"
)

// lockedBuffer collects one oracle's log lines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestThreeOraclesOnLocalnet runs three oracles in-process with oracled's
// wiring (oracle.NewNode), 2-of-3, against a local Solana. The same signed reports
// go to all three over QUIC, except that oracle B misses one. After the
// epoch closes, the leader A proposes phase 1: B recomputes a different
// manifest and refuses (the leader logs the first differing payout line),
// C agrees and co-signs, and the epoch is paid on chain as A's manifest
// says.
func TestThreeOraclesOnLocalnet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	net0 := localnet.StartForTest(t)
	var err error

	const epochLen = 20 * time.Second
	// The leader's clock runs lagBehind late, so the peers have written
	// their manifests when it asks them (otherwise it would simply retry
	// ten seconds later, and which peer it asked first would vary). Reports
	// are submitted well inside the epoch on every clock, so the stamps
	// (each oracle stamps received_ms itself) give identical manifests.
	const lagBehind = 3 * time.Second
	names := []string{"A", "B", "C"}
	keys := make([]ed25519.PrivateKey, 3)
	cosignPCs := make([]net.PacketConn, 3)
	addrs := make([]string, 3)
	for i := range names {
		if keys[i], err = wire.GenerateKey(); err != nil {
			t.Fatal(err)
		}
		if cosignPCs[i], err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		addrs[i] = fmt.Sprintf("%s@%s", wire.PublicKeyOf(keys[i]), cosignPCs[i].LocalAddr())
	}
	operator, _ := wire.GenerateKey()
	base := oracle.Config{SolanaRPC: net0.URL(), EpochLength: epochLen, BeaconInterval: epochLen,
		EpochGrace: time.Second, EntropyPeriod: time.Second, Threshold: 2, ChargeWithoutPoC: true,
		OperatorKeys: []string{wire.PublicKeyOf(operator).String()}}
	cfgs := make([]oracle.Config, 3)
	for i := range names {
		c := base
		c.DataDir = t.TempDir()
		for j := range names {
			if j != i {
				c.Peers = append(c.Peers, addrs[j])
			}
		}
		cfgs[i] = c.Defaults()
	}
	// A leads: it holds the funded payer and distributor keys; B and C
	// know their addresses.
	cfgs[0].Leader = true
	payer, _, err := wire.LoadOrCreateKeyFile(cfgs[0].SolanaPayerKey)
	if err != nil {
		t.Fatal(err)
	}
	dist, _, err := wire.LoadOrCreateKeyFile(cfgs[0].SolanaDistributorKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []wire.PublicKey{wire.PublicKeyOf(payer), wire.PublicKeyOf(dist)} {
		var sig string
		if err := localnet.Call(ctx, net0.URL(), "requestAirdrop", []any{k.String(), uint64(100e9)}, &sig); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < 3; i++ {
		cfgs[i].SolanaPayerAddress = wire.PublicKeyOf(payer).String()
		cfgs[i].SolanaDistributorAddress = wire.PublicKeyOf(dist).String()
	}

	nodes := make([]*oracle.Node, 3)
	quicAddrs := make([]string, 3)
	clients := make([]*oracle.Client, 3)
	logs := make([]*lockedBuffer, 3)
	var wg sync.WaitGroup
	rctx, stop := context.WithCancel(ctx)
	defer func() {
		stop()
		wg.Wait()
	}()
	for i, name := range names {
		if err := cfgs[i].Validate(); err != nil {
			t.Fatal(err)
		}
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		logs[i] = &lockedBuffer{}
		log := slog.New(slog.NewTextHandler(io.MultiWriter(testLog{t}, logs[i]), &slog.HandlerOptions{Level: slog.LevelInfo})).With("node", name)
		deps := oracle.Deps{Key: keys[i], PacketConn: pc, HTTPListener: ln, Logger: log}
		if i == 0 {
			deps.Now = func() time.Time { return time.Now().Add(-lagBehind) }
		}
		n, err := oracle.NewNode(ctx, cfgs[i], deps, cosignPCs[i])
		if err != nil {
			t.Fatalf("oracle %s: %v", name, err)
		}
		nodes[i], quicAddrs[i], clients[i] = n, pc.LocalAddr().String(), &oracle.Client{BaseURL: "http://" + ln.Addr().String()}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.Run(rctx); err != nil {
				t.Errorf("oracle %s: %v", name, err)
			}
		}()
	}

	// Onboard three hotspots on every oracle, then, inside the next epoch
	// (whose registry snapshot has them), deliver packets.
	putTestRoute(t, ctx, operator, clients...)
	var owners [][32]byte
	var hotspots []ed25519.PrivateKey
	for range 3 {
		hs, _ := wire.GenerateKey()
		owner, _ := wire.GenerateKey()
		req, err := oracle.NewOnboardRequest(hs, owner, false, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range clients {
			if _, err := c.Onboard(ctx, req); err != nil {
				t.Fatal(err)
			}
		}
		owners = append(owners, wire.PublicKeyOf(owner))
		hotspots = append(hotspots, hs)
	}
	epoch := uint64(time.Now().Add(time.Second).UnixMilli()/epochLen.Milliseconds()) + 1
	// The middle of the part of the epoch every clock agrees on.
	submitAt := time.UnixMilli(int64(epoch) * epochLen.Milliseconds()).Add((epochLen + lagBehind) / 2)
	time.Sleep(time.Until(submitAt))
	for i, hs := range hotspots {
		for o := range nodes {
			n := 4 + i
			if o == 1 && i == 2 {
				n-- // B did not get one report
			}
			submitPackets(t, ctx, quicAddrs[o], nodes[o].Oracle().PublicKey(), hs, 8*i, n)
		}
	}
	if time.Until(submitAt.Add((epochLen-lagBehind)/2)) < 2*time.Second {
		t.Fatalf("submitting took until %s, too close to the end of epoch %d", time.Now().UTC(), epoch)
	}

	// The leader pays the epoch on chain.
	deadline := time.Now().Add(90 * time.Second)
	var paid oracle.EpochResponse
	for time.Now().Before(deadline) {
		r, err := clients[0].Epoch(ctx, epoch, wire.PublicKey{})
		if err == nil && r.State.Distributed {
			paid = r
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if !paid.State.Distributed || paid.Manifest == nil {
		r, err := clients[0].Epoch(ctx, epoch, wire.PublicKey{})
		t.Fatalf("epoch %d not paid within 90 s: %+v err %v", epoch, r.State, err)
	}
	if paid.Manifest.Total == 0 || len(paid.Manifest.Payouts) != 3 {
		t.Fatalf("epoch %d manifest: total %d, %d payouts", epoch, paid.Manifest.Total, len(paid.Manifest.Payouts))
	}
	acc, err := oracle.ConfiguredAccounts(cfgs[1])
	if err != nil {
		t.Fatal(err)
	}
	bal, err := solana.NewChain(net0.URL()).TokenBalances(ctx, acc.Mint, owners)
	if err != nil {
		t.Fatal(err)
	}
	for i, ow := range owners {
		if want := paid.Manifest.Amount(ow); bal[i] != want {
			t.Fatalf("owner %d: balance %d, manifest %d", i, bal[i], want)
		}
	}

	// C agreed and co-signed; B's manifest differs: it refused, and the
	// leader logged the first differing line.
	sums := make([]solana.Summary, 3)
	for i, n := range nodes {
		if sums[i], err = n.Oracle().EpochSummary(ctx, epoch); err != nil {
			t.Fatal(err)
		}
	}
	if sums[2] != sums[0] || sums[1] == sums[0] {
		t.Fatalf("summaries: A %+v, B %+v, C %+v", sums[0], sums[1], sums[2])
	}
	ours, err := nodes[0].Oracle().EpochPayouts(ctx, epoch)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := nodes[1].Oracle().EpochPayouts(ctx, epoch)
	if err != nil {
		t.Fatal(err)
	}
	line := solana.PayoutDiff(ours, theirs)
	if line == "" {
		t.Fatal("A and B have the same payout lines")
	}
	bKey := wire.PublicKeyOf(keys[1]).String()
	leaderLog := logs[0].String()
	if !strings.Contains(leaderLog, "manifest disagreement") || !strings.Contains(leaderLog, fmt.Sprintf("oracle=%s first_difference=%q", bKey, line)) {
		t.Fatalf("leader did not log the first differing line %q of oracle B", line)
	}
	if !strings.Contains(logs[1].String(), "cosign: refused") {
		t.Fatal("B did not log its refusal")
	}
	if !strings.Contains(logs[2].String(), "cosigned phase 1") || strings.Contains(logs[2].String(), "cosign: refused") {
		t.Fatal("C did not co-sign exactly as expected")
	}
	// C, a non-leader whose manifest was paid, learns it from the chain and
	// says so; B's own manifest was not the one paid, and it does not.
	deadline = time.Now().Add(60 * time.Second)
	for {
		r, err := clients[2].Epoch(ctx, epoch, wire.PublicKey{})
		if err == nil && r.State.Distributed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("non-leader C still reports epoch %d not distributed: %+v err %v", epoch, r.State, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if r, err := clients[1].Epoch(ctx, epoch, wire.PublicKey{}); err != nil || r.State.Distributed {
		t.Fatalf("B, whose manifest differs from the one paid, reports distributed: %+v err %v", r.State, err)
	}
	t.Logf("epoch %d paid %d to %d owners, 2-of-3 (A+C); B refused at %s", epoch, paid.Manifest.Total, len(paid.Manifest.Payouts), line)
}

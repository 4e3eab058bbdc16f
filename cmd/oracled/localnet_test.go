package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"log/slog"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/oracle/solana"
	"github.com/hexfield/hexfield/oracle/solana/localnet"
	"github.com/hexfield/hexfield/wire"
)

// TestRewardsOnLocalnet runs the oracle with the chain wiring of oracled
// (blockhash for entropy, single-oracle distributor) against a local
// Solana: reports ingested in one epoch are paid on chain after it closes,
// exactly as the manifest says.
func TestRewardsOnLocalnet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	net0 := localnet.StartForTest(t)
	log := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	dir := t.TempDir()
	operator, _ := wire.GenerateKey()
	cfg := oracle.Config{DataDir: dir, SolanaRPC: net0.URL(), EpochLength: time.Minute, BeaconInterval: time.Minute,
		EpochGrace: time.Second, EntropyPeriod: time.Second, ChargeWithoutPoC: true,
		OperatorKeys: []string{wire.PublicKeyOf(operator).String()}}.Defaults()
	key, _, err := wire.LoadOrCreateKeyFile(filepath.Join(dir, "oracle-key.json"))
	if err != nil {
		t.Fatal(err)
	}
	payer, _, err := wire.LoadOrCreateKeyFile(cfg.SolanaPayerKey)
	if err != nil {
		t.Fatal(err)
	}
	dist, _, err := wire.LoadOrCreateKeyFile(cfg.SolanaDistributorKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []wire.PublicKey{wire.PublicKeyOf(payer), wire.PublicKeyOf(dist)} {
		var sig string
		if err := localnet.Call(ctx, net0.URL(), "requestAirdrop", []any{k.String(), uint64(100e9)}, &sig); err != nil {
			t.Fatal(err)
		}
	}
	bh, err := oracle.RPCBlockhash(net0.URL())(ctx)
	if err != nil || bh == ([32]byte{}) {
		t.Fatalf("blockhash %x err %v", bh, err)
	}

	// First run, five minutes in the past: onboard and ingest.
	var offset atomic.Int64
	offset.Store(int64(-5 * time.Minute))
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	// start runs an oracle: without chain parts (but with blockhash
	// entropy), or with oracled's whole wiring (oracle.NewNode).
	var ownerKeys []ed25519.PrivateKey
	start := func(chain bool) (*oracle.Oracle, string, string, func()) {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		deps := oracle.Deps{Key: key, PacketConn: pc, HTTPListener: ln, Logger: log, Now: now}
		var run func(context.Context) error
		var o *oracle.Oracle
		if chain {
			n, err := oracle.NewNode(ctx, cfg, deps, nil)
			if err != nil {
				t.Fatal(err)
			}
			o, run = n.Oracle(), n.Run
			// The mint exists now: the owners open their reward token
			// accounts (paying their own rent) before any epoch is paid.
			for _, k := range ownerKeys {
				openRewardAccount(t, ctx, net0.URL(), oracle.Config{SolanaPayerAddress: wire.PublicKeyOf(payer).String(),
					SolanaDistributorAddress: wire.PublicKeyOf(dist).String(), SolanaSeed: cfg.SolanaSeed, SolanaDecimals: cfg.SolanaDecimals}, k)
			}
		} else {
			deps.Blockhash = oracle.RPCBlockhash(net0.URL())
			if o, err = oracle.New(cfg, deps); err != nil {
				t.Fatal(err)
			}
			run = o.Run
		}
		rctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- run(rctx) }()
		return o, pc.LocalAddr().String(), "http://" + ln.Addr().String(), func() {
			stop()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
	o, quicAddr, httpURL, stop := start(false)
	c := &oracle.Client{BaseURL: httpURL}
	putTestRoute(t, ctx, now(), operator, c)
	var owners [][32]byte
	var hotspots [][]byte
	for range 3 {
		hs, _ := wire.GenerateKey()
		owner, _ := wire.GenerateKey()
		req, err := oracle.NewOnboardRequest(hs, owner, false, now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Onboard(ctx, req); err != nil {
			t.Fatal(err)
		}
		owners = append(owners, wire.PublicKeyOf(owner))
		ownerKeys = append(ownerKeys, owner)
		hotspots = append(hotspots, hs)
	}
	first := uint64(now().UnixMilli() / time.Minute.Milliseconds())
	// Two minutes later (a later epoch, whose registry snapshot has the
	// hotspots), they deliver packets.
	offset.Store(int64(-3 * time.Minute))
	for i, hs := range hotspots {
		submitPackets(t, ctx, quicAddr, o.PublicKey(), hs, 8*i, 4+i)
	}
	stop()

	// Second run, at the real time: the epoch closed minutes ago.
	offset.Store(0)
	_, _, httpURL2, stop2 := start(true)
	defer stop2()
	c2 := &oracle.Client{BaseURL: httpURL2}
	deadline := time.Now().Add(90 * time.Second)
	var paid *oracle.EpochResponse
	for paid == nil && time.Now().Before(deadline) {
		for e := first; e <= first+5; e++ {
			r, err := c2.Epoch(ctx, e, wire.PublicKey{})
			if err == nil && r.State.Distributed && r.Manifest != nil && r.Manifest.Total > 0 {
				paid = &r
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if paid == nil {
		for e := first; e <= first+5; e++ {
			r, err := c2.Epoch(ctx, e, wire.PublicKey{})
			t.Logf("epoch %d: %+v err %v", e, r.State, err)
		}
		t.Fatal("no epoch paid on chain within 90 s")
	}
	acc, err := solana.DeriveAccounts(wire.PublicKeyOf(payer), cfg.SolanaSeed, wire.PublicKeyOf(dist), uint8(cfg.SolanaDecimals))
	if err != nil {
		t.Fatal(err)
	}
	bal, err := solana.NewChain(net0.URL()).TokenBalances(ctx, acc.Mint, owners)
	if err != nil {
		t.Fatal(err)
	}
	for i, ow := range owners {
		want := paid.Manifest.Amount(ow)
		if bal[i] != want {
			t.Fatalf("owner %d: balance %d, manifest %d", i, bal[i], want)
		}
	}
	t.Logf("epoch %d paid %d to %d owners on localnet", paid.Epoch, paid.Manifest.Total, len(paid.Manifest.Payouts))
}

// submitPackets submits n packet reports of hotspot hs, one uplink each
// from the test devices dev0, dev0+1, …, and waits for their acks.
func submitPackets(t *testing.T, ctx context.Context, addr string, oraclePub wire.PublicKey, hs []byte, dev0, n int) {
	t.Helper()
	envs := make([][]byte, n)
	for i := range n {
		envs[i] = packetEnvelope(t, hs, dev0+i)
	}
	submitEnvelopes(t, ctx, addr, oraclePub, hs, envs...)
}

// packetEnvelope is hotspot hs's signed report of one uplink from test
// device dev: the same bytes (and report id) every time.
func packetEnvelope(t *testing.T, hs []byte, dev int) []byte {
	t.Helper()
	raw, err := sealPacket(hs, dev, 0)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// sealPacket is hotspot hs's signed report of one uplink from test device
// dev (on route "r") at hotspot clock ms.
func sealPacket(hs []byte, dev int, ms uint64) ([]byte, error) {
	pub := wire.PublicKeyOf(hs)
	phy := testUplink(dev, 40)
	ph := sha256.Sum256(phy)
	return wire.Seal(hs, wire.Kind_KIND_PACKET_REPORT, &wire.PacketReport{PubKey: pub[:], PayloadHash: ph[:],
		PayloadSize: uint32(len(phy)), Payload: phy, RouteId: "r", Datarate: "SF7BW125", TimestampMs: ms})
}

// submitEnvelopes submits reports of hotspot hs over QUIC and waits for
// their acks.
func submitEnvelopes(t *testing.T, ctx context.Context, addr string, oraclePub wire.PublicKey, hs []byte, envs ...[]byte) {
	t.Helper()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: udp}
	defer udp.Close()
	defer tr.Close()
	tlsConf, err := wire.ClientTLSConfig(hs, oraclePub)
	if err != nil {
		t.Fatal(err)
	}
	ua, _ := net.ResolveUDPAddr("udp", addr)
	conn, err := tr.Dial(ctx, ua, tlsConf, wire.QUICConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseWithError(0, "")
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fw, fr := wire.NewFrameWriter(str), wire.NewFrameReader(str)
	for _, raw := range envs {
		if err := fw.Write(&wire.Frame{Msg: &wire.Frame_Submit{Submit: &wire.Submit{Envelope: raw}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.Flush(); err != nil {
		t.Fatal(err)
	}
	for range envs {
		f, err := fr.Read()
		if err != nil || f.GetAck().GetCode() != wire.Code_CODE_OK {
			t.Fatalf("ack %v err %v", f, err)
		}
	}
}

// testDevAddrs is the customer's DevAddr space in these tests: four
// blocks of 8 from the devnet prefix 02000000/7, one device per address.
const (
	testDevAddr0 = 0x02000000
	testDevAddrs = 32
)

// testUplink is a LoRaWAN data uplink of size bytes from test device dev
// (DevAddr testDevAddr0 + dev, below testDevAddrs). Each device sends one
// uplink an epoch, far within its duty cycle, so no report of a test is
// ever capped and a missing one always changes the manifest.
func testUplink(dev, size int) []byte {
	addr := uint32(testDevAddr0 + dev%testDevAddrs)
	b := []byte{0x40, byte(addr), byte(addr >> 8), byte(addr >> 16), byte(addr >> 24), 0, 1, 0, 1}
	for len(b) < size-4 {
		b = append(b, byte(len(b)))
	}
	return append(b, 0xde, 0xad, 0xbe, 0xef)
}

// putTestRoute registers, on every oracle behind clients, the customer the
// tests' packets are for: organization "acme" with the test DevAddrs, its
// route "r", and its payer's data credits, granted by operator (one of the
// oracles' operator_keys; nil: no credits), signed at now. Each signed
// change goes to every oracle, as the CLI sends it.
func putTestRoute(t *testing.T, ctx context.Context, now time.Time, operator ed25519.PrivateKey, clients ...*oracle.Client) {
	t.Helper()
	owner, _ := wire.GenerateKey()
	pub := wire.PublicKeyOf(owner)
	start := uint32(testDevAddr0)
	create, err := oracle.NewOrgChange(owner, &wire.OrgChange{Org: "acme", Nonce: 1, Op: &wire.OrgChange_Create{
		Create: &wire.OrgCreate{Owner: pub[:], Payer: pub[:], Devaddr: &wire.DevAddrBlocks{Start: &start, Count: testDevAddrs / 8}}}}, now)
	if err != nil {
		t.Fatal(err)
	}
	route, err := oracle.NewOrgChange(owner, &wire.OrgChange{Org: "acme", Nonce: 2, Op: &wire.OrgChange_PutRoute{PutRoute: &wire.RouteSpec{
		Id: "r", Active: true, MaxCopies: 1,
		Lns:           []*wire.LNSEndpoint{{Region: "default", Addr: "127.0.0.1:1700"}},
		DevaddrRanges: []*wire.DevAddrRange{{Start: start, End: start + testDevAddrs - 1}},
	}}}, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		for _, req := range []oracle.OrgChangeRequest{create, route} {
			if _, err := c.OrgChange(ctx, req); err != nil {
				t.Fatal(err)
			}
		}
	}
	if operator == nil {
		return
	}
	grant, err := oracle.NewGrantRequest(operator, pub, 1_000_000, []byte("the tests' customer"), now)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		if _, err := c.Grant(ctx, grant); err != nil {
			t.Fatal(err)
		}
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(string(b))
	return len(b), nil
}

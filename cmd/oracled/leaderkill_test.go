package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/oracle/solana"
	"github.com/hexfield/hexfield/oracle/solana/localnet"
	"github.com/hexfield/hexfield/wire"
)

// proc is one oracled process of a cluster, restartable on its data dir.
type proc struct {
	bin, conf string
	cmd       *exec.Cmd
	log       *lockedBuffer
	lines     chan string // stderr lines, while a watcher reads them
	exit      chan error
}

func (p *proc) start(t *testing.T) {
	t.Helper()
	p.cmd = exec.Command(p.bin, "run", "--config", p.conf)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.exit, p.lines = make(chan error, 1), make(chan string, 4096)
	lines := p.lines
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.log.Write(append([]byte(sc.Text()), '\n'))
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	cmd := p.cmd
	go func() { p.exit <- cmd.Wait() }()
}

// freeAddr returns a loopback address free now, for a config file.
func freeAddr(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		return pc.LocalAddr().String()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestLeaderKilledOnLocalnet: three oracled processes co-sign 2-of-3. The
// leader of an epoch is killed with kill -9 during phase 1 (as soon as the
// input is agreed, while it collects signatures and sends), or during
// phase 2 (as soon as phase 1 landed). The next leader completes the
// epoch; the killed oracle, restarted, catches up; every owner is paid
// exactly once.
func TestLeaderKilledOnLocalnet(t *testing.T) {
	t.Parallel() // wall-clock epochs, little CPU: the clusters run side by side
	if testing.Short() {
		t.Skip("builds oracled and runs three processes")
	}
	bin := buildOracled(t)
	for _, tc := range []struct{ name, trigger string }{
		{"phase1", `msg="consensus: input agreed"`},
		{"phase2", `msg="phase 1 landed"`},
	} {
		t.Run(tc.name, func(t *testing.T) { leaderKilled(t, bin, tc.trigger) })
	}
}

func leaderKilled(t *testing.T, bin, trigger string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	url := localnet.StartForTest(t).URL()
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
		if err := localnet.Call(ctx, url, "requestAirdrop", []any{k.String(), uint64(100e9)}, &sig); err != nil {
			t.Fatal(err)
		}
	}
	operator, _ := wire.GenerateKey()
	const epochLen = 20 * time.Second
	type node struct {
		key              wire.PublicKey
		dir, quic, http  string
		cosign, peerAddr string
	}
	nodes := make([]node, 3)
	for i := range nodes {
		dir := t.TempDir()
		k, _, err := wire.LoadOrCreateKeyFile(filepath.Join(dir, "oracle-key.json"))
		if err != nil {
			t.Fatal(err)
		}
		cos := freeAddr(t, "udp")
		nodes[i] = node{key: wire.PublicKeyOf(k), dir: dir, quic: freeAddr(t, "udp"), http: freeAddr(t, "tcp"), cosign: cos,
			peerAddr: fmt.Sprintf("%s@%s", wire.PublicKeyOf(k), cos)}
	}
	procs := make([]*proc, 3)
	for i, n := range nodes {
		var peers []string
		for j, m := range nodes {
			if j != i {
				peers = append(peers, fmt.Sprintf("%q", m.peerAddr))
			}
		}
		conf := fmt.Sprintf(`data_dir = %q
quic_listen = %q
http_listen = %q
metrics_listen = "off"
cosign_listen = %q
peers = [%s]
threshold = 2
leader = true
leader_timeout = "7s"
solana_rpc = %q
solana_payer_key = %q
solana_distributor_key = %q
epoch_length = "20s"
beacon_interval = "20s"
epoch_grace = "1s"
entropy_period = "1s"
charge_without_poc = true
operator_keys = [%q]
log_level = "info"
`, n.dir, n.quic, n.http, n.cosign, strings.Join(peers, ", "), url, payerFile, distFile, wire.PublicKeyOf(operator).String())
		path := filepath.Join(n.dir, "oracled.toml")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		procs[i] = &proc{bin: bin, conf: path, log: &lockedBuffer{}}
		procs[i].start(t)
	}
	defer func() {
		for _, p := range procs {
			p.cmd.Process.Kill()
		}
		if t.Failed() {
			for i, p := range procs {
				t.Logf("oracle %c:\n%s", 'A'+i, p.log.String())
			}
		}
	}()
	clients := make([]*oracle.Client, 3)
	for i, n := range nodes {
		clients[i] = &oracle.Client{BaseURL: "http://" + n.http}
		deadline := time.Now().Add(time.Minute)
		for {
			if _, err := clients[i].Registry(ctx); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("oracle %c not serving: %s", 'A'+i, procs[i].log.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	putTestRoute(t, ctx, time.Now(), operator, clients...)
	acc, err := solana.DeriveAccounts(wire.PublicKeyOf(payer), "hexfield", wire.PublicKeyOf(dist), 6)
	if err != nil {
		t.Fatal(err)
	}
	cfg := oracle.Config{SolanaPayerAddress: wire.PublicKeyOf(payer).String(), SolanaDistributorAddress: wire.PublicKeyOf(dist).String(),
		SolanaSeed: "hexfield", SolanaDecimals: 6}
	var hs []ed25519.PrivateKey
	var owners [][32]byte
	for range 4 {
		h, _ := wire.GenerateKey()
		owner, _ := wire.GenerateKey()
		req, err := oracle.NewOnboardRequest(h, owner, false, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range clients {
			if _, err := c.Onboard(ctx, req); err != nil {
				t.Fatal(err)
			}
		}
		openRewardAccount(t, ctx, url, cfg, owner)
		hs, owners = append(hs, h), append(owners, wire.PublicKeyOf(owner))
	}
	e := uint64(time.Now().Add(2*time.Second).UnixMilli()/epochLen.Milliseconds()) + 1
	members := make([][32]byte, 3)
	for i, n := range nodes {
		members[i] = n.key
	}
	slices.SortFunc(members, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	leader := slices.IndexFunc(nodes, func(n node) bool { return n.key == members[e%3] })
	// Kill the leader of epoch e at the trigger.
	killed := make(chan struct{})
	var once sync.Once
	go func() {
		for line := range procs[leader].lines {
			if strings.Contains(line, trigger) && strings.Contains(line, fmt.Sprintf("epoch=%d ", e)) {
				once.Do(func() {
					procs[leader].cmd.Process.Signal(syscall.SIGKILL)
					close(killed)
				})
				return
			}
		}
	}()
	time.Sleep(time.Until(time.UnixMilli(int64(e) * epochLen.Milliseconds()).Add(2 * time.Second)))
	for i, h := range hs {
		for o, n := range nodes {
			submitPackets(t, ctx, n.quic, nodes[o].key, h, 5*i, 3+i)
		}
	}
	select {
	case <-killed:
		<-procs[leader].exit
	case <-time.After(2 * time.Minute):
		t.Fatalf("leader %c never reached %s for epoch %d", 'A'+leader, trigger, e)
	}
	others := []int{(leader + 1) % 3, (leader + 2) % 3}
	var paid oracle.EpochResponse
	deadline := time.Now().Add(2 * time.Minute)
	for _, i := range others {
		for {
			r, err := clients[i].Epoch(ctx, e, wire.PublicKey{})
			if err == nil && r.ManifestBytes != nil {
				if paid.ManifestBytes != nil && !bytes.Equal(paid.ManifestBytes, r.ManifestBytes) {
					t.Fatalf("the surviving oracles' manifests of epoch %d differ", e)
				}
				paid = r
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("epoch %d not agreed by oracle %c after the leader was killed: %+v %v", e, 'A'+i, r.State, err)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	if paid.Manifest.Total == 0 || len(paid.Manifest.Payouts) != 4 {
		t.Fatalf("epoch %d: total %d, %d payouts", e, paid.Manifest.Total, len(paid.Manifest.Payouts))
	}
	waitBalances(t, ctx, url, acc.Mint, owners, paid)
	// The killed oracle comes back, catches up on the epoch, and finishes
	// nothing twice.
	procs[leader].start(t)
	deadline = time.Now().Add(2 * time.Minute)
	for {
		r, err := clients[leader].Epoch(ctx, e, wire.PublicKey{})
		if err == nil && r.ManifestBytes != nil {
			if !bytes.Equal(r.ManifestBytes, paid.ManifestBytes) {
				mine, _ := json.Marshal(r.Manifest)
				theirs, _ := json.Marshal(paid.Manifest)
				t.Fatalf("the restarted leader's manifest of epoch %d differs:\n%s\n%s", e, mine, theirs)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted leader never settled epoch %d: %+v %v", e, r.State, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	// Its journal resumes whatever it had sent: still paid once, after the
	// next epoch too.
	next := waitManifest(t, ctx, clients[others[0]], e+1, time.Now().Add(2*time.Minute))
	waitBalances(t, ctx, url, acc.Mint, owners, paid, next)
	t.Logf("epoch %d: leader %c killed at %s; paid %d once, led by %s", e, 'A'+leader, trigger, paid.Manifest.Total, paid.State.Leader)
}

// waitManifest waits until deadline for epoch e's manifest on one oracle.
func waitManifest(t *testing.T, ctx context.Context, c *oracle.Client, e uint64, deadline time.Time) oracle.EpochResponse {
	t.Helper()
	for {
		r, err := c.Epoch(ctx, e, wire.PublicKey{})
		if err == nil && r.ManifestBytes != nil {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("oracle at %s has no manifest for epoch %d: %+v err %v", c.BaseURL, e, r.State, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitBalances waits until the owners' balances are exactly the sums of
// the epochs' manifests, failing at once if one is more.
func waitBalances(t *testing.T, ctx context.Context, url string, mint [32]byte, owners [][32]byte, epochs ...oracle.EpochResponse) {
	t.Helper()
	want := make([]uint64, len(owners))
	for _, r := range epochs {
		for i, ow := range owners {
			want[i] += r.Manifest.Amount(ow)
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		bal, err := solana.NewChain(url).TokenBalances(ctx, mint, owners)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(bal, want) {
			return
		}
		for i := range bal {
			if bal[i] > want[i] {
				t.Fatalf("owner %d paid %d, more than the manifests' %d", i, bal[i], want[i])
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("balances %v, manifests say %v", bal, want)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

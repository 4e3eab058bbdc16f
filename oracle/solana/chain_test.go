package solana

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hexfield/hexfield/oracle/solana/localnet"
)

// startLocalnet starts a localnet for the test or skips it when node or the packages are
// missing.
func startLocalnet(tb testing.TB) *localnet.Server {
	tb.Helper()
	return localnet.StartForTest(tb)
}

func testKey(tb testing.TB, seed string) ed25519.PrivateKey {
	tb.Helper()
	h := sha256.Sum256([]byte(seed))
	return ed25519.NewKeyFromSeed(h[:])
}

func pub(k ed25519.PrivateKey) [32]byte { return [32]byte(k.Public().(ed25519.PublicKey)) }

// fixture is one deployment with N oracles on a localnet.
type testWriter struct{ tb testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.tb.Log(string(bytes.TrimSpace(b)))
	return len(b), nil
}

type fixture struct {
	tb          testing.TB
	net         *localnet.Server
	oracles     []ed25519.PrivateKey
	payer, dist ed25519.PrivateKey
	m           int
	dir         string
}

func newFixture(tb testing.TB, n, m int) *fixture {
	tb.Helper()
	f := &fixture{tb: tb, net: startLocalnet(tb), m: m, dir: tb.TempDir(),
		payer: testKey(tb, "payer"), dist: testKey(tb, "distributor")}
	for i := range n {
		f.oracles = append(f.oracles, testKey(tb, fmt.Sprintf("oracle-%d", i)))
	}
	ctx := context.Background()
	c := rpc.New(f.net.URL())
	for _, k := range []ed25519.PrivateKey{f.payer, f.dist} {
		if _, err := c.RequestAirdrop(ctx, sol.PublicKey(pub(k)), 1_000*sol.LAMPORTS_PER_SOL, rpc.CommitmentFinalized); err != nil {
			tb.Fatal(err)
		}
	}
	return f
}

// config returns a distributor config co-signed by the oracles at indexes quorum (all
// trusting summaries from own).
func (f *fixture) config(quorum []int, own SummaryFunc) Config {
	var oracles [][32]byte
	for _, o := range f.oracles {
		oracles = append(oracles, pub(o))
	}
	acc, _ := DeriveAccounts(pub(f.payer), "hexfield", pub(f.dist), 6)
	var cos []Cosigner
	for _, i := range quorum {
		cos = append(cos, &LocalCosigner{Priv: f.oracles[i], Accounts: acc, Own: own})
	}
	return Config{RPCURL: f.net.URL(), JournalDir: f.dir, Payer: f.payer, Distributor: f.dist,
		Oracles: oracles, Threshold: f.m, Cosigners: cos, PollInterval: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(testWriter{f.tb}, nil))}
}

func (f *fixture) distributor(tb testing.TB, cfg Config) *Distributor {
	tb.Helper()
	d, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := d.Setup(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return d
}

// openAccounts gives every owner of ps a token account of the deployment's mint, written
// straight into the chain's state: owners open their own accounts (spec §4), so neither
// the payer nor the distributor pays for them.
func (f *fixture) openAccounts(tb testing.TB, ps ...EpochPayout) {
	tb.Helper()
	acc, err := DeriveAccounts(pub(f.payer), "hexfield", pub(f.dist), 6)
	if err != nil {
		tb.Fatal(err)
	}
	seen := map[[32]byte]bool{}
	for _, p := range ps {
		for _, q := range p.Payouts {
			if seen[q.Owner] {
				continue
			}
			seen[q.Owner] = true
			a, err := AssociatedTokenAddress(q.Owner, acc.Mint)
			if err != nil {
				tb.Fatal(err)
			}
			if err := f.net.SetTokenAccount(context.Background(), sol.PublicKey(a).String(), acc.Mint, q.Owner, 0); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// makePayout builds a sorted payout list of n owners with varied amounts.
func makePayout(epoch uint64, n int) EpochPayout { return makePayoutOwners(epoch, n, "owner") }

// makePayoutOwners builds n owners named by salt (a different salt gives new owners).
func makePayoutOwners(epoch uint64, n int, salt string) EpochPayout {
	p := EpochPayout{Epoch: epoch}
	for i := range n {
		h := sha256.Sum256(binary.LittleEndian.AppendUint64([]byte(salt), uint64(i)))
		p.Payouts = append(p.Payouts, Payout{Owner: h, Amount: 1_000 + uint64(i)*7919%1_000_003})
	}
	slices.SortFunc(p.Payouts, func(a, b Payout) int { return bytes.Compare(a.Owner[:], b.Owner[:]) })
	for _, q := range p.Payouts {
		p.Total += q.Amount
	}
	p.Root = testRoot(p)
	return p
}

// testRoot stands in for the manifest's Merkle root, which the verifier
// computes: any 32 bytes that differ between different payout lists.
func testRoot(p EpochPayout) [32]byte {
	h := sha256.New()
	for _, q := range p.Payouts {
		h.Write(q.Owner[:])
		h.Write(binary.LittleEndian.AppendUint64(nil, q.Amount))
	}
	return [32]byte(h.Sum(binary.LittleEndian.AppendUint64(nil, p.Epoch))[:32])
}

func summaries(ps ...EpochPayout) SummaryFunc {
	return func(_ context.Context, epoch uint64) (Summary, error) {
		for _, p := range ps {
			if p.Epoch == epoch {
				return p.Summary(), nil
			}
		}
		return Summary{}, fmt.Errorf("no epoch %d", epoch)
	}
}

// checkPaid asserts every owner's balance equals the sum of its payouts and the escrow
// holds want.
func checkPaid(tb testing.TB, f *fixture, d *Distributor, escrow uint64, ps ...EpochPayout) {
	tb.Helper()
	ctx := context.Background()
	want := map[[32]byte]uint64{}
	var owners [][32]byte
	var minted uint64
	for _, p := range ps {
		minted += p.Total
		for _, q := range p.Payouts {
			if _, ok := want[q.Owner]; !ok {
				owners = append(owners, q.Owner)
			}
			want[q.Owner] += q.Amount
		}
	}
	c := NewChain(f.net.URL())
	got, err := c.TokenBalances(ctx, d.Accounts().Mint, owners)
	if err != nil {
		tb.Fatal(err)
	}
	bad := 0
	for i, o := range owners {
		if got[i] != want[o] {
			if bad < 5 {
				tb.Errorf("owner %s: balance %d, want %d", sol.PublicKey(o), got[i], want[o])
			}
			bad++
		}
	}
	if bad > 0 {
		tb.Fatalf("%d of %d balances wrong", bad, len(owners))
	}
	es, err := c.Escrow(ctx, d.Accounts())
	if err != nil {
		tb.Fatal(err)
	}
	if es.Amount != escrow || es.Supply != minted {
		tb.Fatalf("escrow %d supply %d, want escrow %d supply %d", es.Amount, es.Supply, escrow, minted)
	}
}

func TestDistributeEpoch200(t *testing.T) {
	f := newFixture(t, 3, 2)
	p := makePayout(7, 200)
	cfg := f.config([]int{0, 1, 2}, summaries(p))
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	d := f.distributor(t, cfg)
	f.openAccounts(t, p)
	ctx := context.Background()
	if err := d.Distribute(ctx, p); err != nil {
		t.Fatal(err)
	}
	checkPaid(t, f, d, 0, p)
	// 1 marker funding + 1 phase 1 + 1 table + 8 extend + 7 batch transactions (setup's 5 counted too:
	// multisig, mint, escrow, nonce account, phase-1 lookup table); no token accounts.
	want := `
# HELP hexfield_solana_epochs_settled_total Epochs whose phase 1 and every phase-2 batch landed.
# TYPE hexfield_solana_epochs_settled_total counter
hexfield_solana_epochs_settled_total 1
# HELP hexfield_solana_last_settled_epoch The epoch this coordinator settled last (epochs settle in any order).
# TYPE hexfield_solana_last_settled_epoch gauge
hexfield_solana_last_settled_epoch 7
# HELP hexfield_solana_payouts_total Owner payouts of settled epochs.
# TYPE hexfield_solana_payouts_total counter
hexfield_solana_payouts_total 200
# HELP hexfield_solana_transactions_resigned_total Transactions signed again after their blockhash provably expired.
# TYPE hexfield_solana_transactions_resigned_total counter
hexfield_solana_transactions_resigned_total 0
# HELP hexfield_solana_transactions_signed_total Transactions signed and journaled (phase 1 counts once per assembled quorum).
# TYPE hexfield_solana_transactions_signed_total counter
hexfield_solana_transactions_signed_total 23
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"hexfield_solana_epochs_settled_total", "hexfield_solana_last_settled_epoch", "hexfield_solana_payouts_total",
		"hexfield_solana_transactions_resigned_total", "hexfield_solana_transactions_signed_total"); err != nil {
		t.Fatal(err)
	}
	st := d.Stats()
	t.Logf("stats %+v", st)
	// Settled epochs are not paid again.
	if err := d.Distribute(ctx, p); err != nil {
		t.Fatal(err)
	}
	checkPaid(t, f, d, 0, p)
	// Setup is idempotent.
	if err := d.Setup(ctx); err != nil {
		t.Fatal(err)
	}
}

package solana

import (
	"context"
	"fmt"
	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkPayout100k pays 100,000 owners on the localnet. The owners' token accounts are
// written into the chain first (owners open their own). The first epoch also creates the
// lookup tables; the next epochs reuse them, so their transaction count is phase 1 +
// ⌈n/BatchSize⌉. HEXFIELD_BENCH_OWNERS overrides n.
func BenchmarkPayout100k(b *testing.B) {
	n := 100_000
	if s := os.Getenv("HEXFIELD_BENCH_OWNERS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	f := newFixture(b, 3, 2)
	f.openAccounts(b, makePayout(1, n)) // the same owners every epoch
	ctx := context.Background()
	first := true
	epoch := uint64(0)
	for b.Loop() {
		epoch++
		p := makePayout(epoch, n)
		cfg := f.config([]int{0, 1, 2}, summaries(p))
		if os.Getenv("HEXFIELD_BENCH_LOG") == "" {
			cfg.Logger = nil
		}
		cfg.Workers = 8
		d := f.distributor(b, cfg)
		var cu []uint64
		d.cu = func(u uint64) { cu = append(cu, u) }
		b.StopTimer()
		before := f.lamports(b, pub(f.payer), pub(f.dist))
		b.StartTimer()
		start := time.Now()
		if err := d.Distribute(ctx, p); err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		b.StopTimer()
		// What the epoch cost the deployment: deposits (the markers' rent,
		// returned by Reclaim and ReclaimBatchMarkers beyond the horizon)
		// and the rest, fees (and, the first epoch, the lookup tables'
		// rent, returned by ReclaimTables once unused).
		spent := before - f.lamports(b, pub(f.payer), pub(f.dist))
		var markers [][32]byte
		for _, o := range f.oracles[:f.m] {
			m, err := MarkerAddress(pub(o), p.Epoch)
			if err != nil {
				b.Fatal(err)
			}
			markers = append(markers, m)
		}
		for k := range p.Batches() {
			m, err := BatchMarkerAddress(pub(f.dist), p.Epoch, k)
			if err != nil {
				b.Fatal(err)
			}
			markers = append(markers, m)
		}
		deposits := f.lamports(b, markers...)
		b.StartTimer()
		st := d.Stats()
		b.StopTimer()
		landed := actualUnits(b, f, d, p.Epoch)
		b.StartTimer()
		var sum, hi uint64
		for _, u := range cu {
			sum += u
			hi = max(hi, u)
		}
		label := "steady"
		if first {
			label = "first (with lookup tables)"
		}
		b.Logf("epoch %d %s: %d owners, %d transactions (⌈n/BatchSize⌉ = %d batches), %d sends, %d re-signed, %v, simulated batch CU mean %d max %d; landed batch CU %s",
			epoch, label, n, st.Transactions, p.Batches(), st.Sent, st.Resigned, el.Round(time.Millisecond), sum/uint64(max(len(cu), 1)), hi, landed)
		b.Logf("epoch %d %s: %.6f SOL spent: %.6f SOL deposits in %d markers (reclaimable), %.6f SOL fees and other rent",
			epoch, label, float64(spent)/1e9, float64(deposits)/1e9, len(markers), float64(spent-deposits)/1e9)
		if !first {
			b.ReportMetric(float64(st.Transactions), "tx/epoch")
			b.ReportMetric(float64(sum)/float64(max(len(cu), 1)), "CU/batch")
			b.ReportMetric(float64(spent-deposits)/1e9, "SOL-fees/epoch")
			b.ReportMetric(float64(deposits)/1e9, "SOL-deposits/epoch")
		}
		first = false
		if epoch == 1 {
			checkPaid(b, f, d, 0, p)
		}
	}
}

// lamports is the sum of the accounts' balances.
func (f *fixture) lamports(tb testing.TB, keys ...[32]byte) uint64 {
	tb.Helper()
	c := rpc.New(f.net.URL())
	var sum uint64
	for _, k := range keys {
		r, err := c.GetBalance(context.Background(), sol.PublicKey(k), rpc.CommitmentFinalized)
		if err != nil {
			tb.Fatal(err)
		}
		sum += r.Value
	}
	return sum
}

// actualUnits reads computeUnitsConsumed of up to 100 landed batches of the epoch.
func actualUnits(tb testing.TB, f *fixture, d *Distributor, epoch uint64) string {
	tb.Helper()
	c := rpc.New(f.net.URL())
	var lo, hi, sum, n uint64
	v := uint64(0)
	for _, e := range d.journal.list(fmt.Sprintf("e%d/batch-", epoch)) {
		if n == 100 {
			break
		}
		sig, err := sol.SignatureFromBase58(e.Signature)
		if err != nil {
			tb.Fatal(err)
		}
		tx, err := c.GetTransaction(context.Background(), sig, &rpc.GetTransactionOpts{Encoding: sol.EncodingBase64, MaxSupportedTransactionVersion: &v})
		if err != nil || tx.Meta == nil || tx.Meta.ComputeUnitsConsumed == nil {
			tb.Fatalf("get transaction %s: %v", e.Name, err)
		}
		u := *tx.Meta.ComputeUnitsConsumed
		if n == 0 || u < lo {
			lo = u
		}
		hi = max(hi, u)
		sum += u
		n++
	}
	if n == 0 {
		return "n/a"
	}
	return fmt.Sprintf("min %d mean %d max %d over %d", lo, sum/n, hi, n)
}

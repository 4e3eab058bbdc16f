package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hexfield/hexfield/wire"
)

// rpcGate is a loopback HTTP proxy in front of the localnet's JSON-RPC
// that a test can close: an oracle whose RPC node is down (or lagging)
// sees nothing authorised and cannot lead, while its peers go on.
type rpcGate struct {
	URL    string
	closed atomic.Bool
}

func newRPCGate(t *testing.T, target string) *rpcGate {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	g := &rpcGate{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.closed.Load() {
			http.Error(w, "rpc node unavailable", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	g.URL = "http://" + ln.Addr().String()
	return g
}

// TestLaggingOracleCatchesUpBeforeLeading: oracle L's RPC node is down
// through epoch e, so L records e as disputed while its two peers pay it
// (2-of-3). L leads the first slot of epoch e+1. It must first settle e
// from its peers (the chain shows e authorised), so that it proposes e+1
// on e's ledger: a proposal on L's stale accrual parent would be refused
// and e+1 would wait for the next leader's slot.
func TestLaggingOracleCatchesUpBeforeLeading(t *testing.T) {
	t.Parallel() // wall-clock epochs, little CPU: the clusters run side by side
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	c := startCluster(t, ctx, 3, 2, 20*time.Second, []time.Duration{0, 0, 0})
	hs, owners := c.onboard(2)
	e := uint64(time.Now().Add(2*time.Second).UnixMilli()/c.epochLen.Milliseconds()) + 2
	members := c.members()
	lag := -1
	for i, k := range c.keys {
		if wire.PublicKeyOf(k) == members[(e+1)%3] {
			lag = i
		}
	}
	// L reaches the chain through the gate from now on.
	gate := newRPCGate(t, c.url)
	c.stop(lag)
	c.cfgs[lag].SolanaRPC = gate.URL
	c.start(lag)
	c.waitAgreed(e-1, 0, 1, 2)
	gate.closed.Store(true)
	time.Sleep(time.Until(c.epochStart(e).Add(2 * time.Second)))
	c.sendAll(hs[0], 0, 4, 0, 1, 2)
	c.sendAll(hs[1], 5, 3, 0, 1, 2)
	c.waitDisputed(lag, e, "settled on L without its RPC node")
	gate.closed.Store(false)
	ms := c.waitAgreed(e, 0, 1, 2)
	ms1 := c.waitAgreed(e+1, 0, 1, 2)
	for i := range 3 {
		if !bytes.Equal(ms[i].ManifestBytes, ms[0].ManifestBytes) || !bytes.Equal(ms1[i].ManifestBytes, ms1[0].ManifestBytes) {
			t.Fatalf("oracle %c's manifests differ from A's", 'A'+i)
		}
	}
	if ms[0].Manifest.Total == 0 {
		t.Fatalf("epoch %d pays nothing", e)
	}
	if p := ms1[0].Manifest.Parent; p != e {
		t.Fatalf("epoch %d's accrual parent is %d, want %d", e+1, p, e)
	}
	if l := ms1[lag].State.Leader; l != wire.PublicKeyOf(c.keys[lag]).String() {
		t.Fatalf("epoch %d led by %s, not by L (%s), whose slot it was", e+1, l, wire.PublicKeyOf(c.keys[lag]))
	}
	c.checkPaidOnce(owners, ms[0], ms1[0])
}

package oracle

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hexfield/hexfield/wire"
)

func TestRPCBlockhash(t *testing.T) {
	want := wire.PublicKey{1, 2, 3, 4, 5, 6, 7, 8, 9}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(b), `"getLatestBlockhash"`) {
			w.Write([]byte(`{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"method not found"}}`))
			return
		}
		w.Write([]byte(`{"jsonrpc":"2.0","id":1,"result":{"context":{"slot":5},"value":{"blockhash":"` + want.String() + `","lastValidBlockHeight":150}}}`))
	}))
	defer srv.Close()
	got, err := RPCBlockhash(srv.URL)(context.Background())
	if err != nil || got != want {
		t.Fatalf("blockhash %x err %v, want %x", got, err, want)
	}
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"node is behind"}}`))
	}))
	defer bad.Close()
	if _, err := RPCBlockhash(bad.URL)(context.Background()); err == nil || !strings.Contains(err.Error(), "node is behind") {
		t.Fatalf("rpc error: %v", err)
	}
}

// TestNewNodeRejects checks the wiring errors that need no chain: a peer
// list naming this oracle, and a co-signing oracle without its socket.
func TestNewNodeRejects(t *testing.T) {
	key, _ := wire.GenerateKey()
	peer, _ := wire.GenerateKey()
	payer, _ := wire.GenerateKey()
	cfg := Config{DataDir: t.TempDir(), SolanaRPC: "http://127.0.0.1:1",
		Peers:              []string{wire.PublicKeyOf(peer).String() + "@127.0.0.1:9"},
		SolanaPayerAddress: wire.PublicKeyOf(payer).String(), SolanaDistributorAddress: wire.PublicKeyOf(peer).String()}.Defaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewNode(context.Background(), cfg, Deps{Key: key}, nil); err == nil || !strings.Contains(err.Error(), "cosign socket") {
		t.Fatalf("no cosign socket: %v", err)
	}
	self := cfg
	self.Peers = append(self.Peers, wire.PublicKeyOf(key).String()+"@127.0.0.1:8")
	if _, err := NewNode(context.Background(), self, Deps{Key: key}, nil); err == nil || !strings.Contains(err.Error(), "own key") {
		t.Fatalf("own key as peer: %v", err)
	}
}

// TestNodeCloseWithoutRun checks that a node that never ran releases its
// store and sockets: the same data directory and addresses open again.
func TestNodeCloseWithoutRun(t *testing.T) {
	key, _ := wire.GenerateKey()
	cfg := Config{DataDir: t.TempDir()}.Defaults()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n, err := NewNode(context.Background(), cfg, Deps{Key: key, PacketConn: pc, HTTPListener: ln}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := n.Accounts(); ok || n.Pays() {
		t.Fatal("a node without solana_rpc has chain parts")
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := NewNode(context.Background(), cfg, Deps{Key: key}, nil)
	if err != nil {
		t.Fatalf("store still held after Close: %v", err)
	}
	again.Close()
	if pc2, err := net.ListenPacket("udp", pc.LocalAddr().String()); err != nil {
		t.Fatalf("QUIC socket still open after Close: %v", err)
	} else {
		pc2.Close()
	}
	if ln2, err := net.Listen("tcp", ln.Addr().String()); err != nil {
		t.Fatalf("HTTP listener still open after Close: %v", err)
	} else {
		ln2.Close()
	}
}

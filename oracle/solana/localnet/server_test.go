package localnet_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/programs/system"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/jsonrpc"
	confirm "github.com/gagliardetto/solana-go/rpc/sendAndConfirmTransaction"
	"github.com/gagliardetto/solana-go/rpc/ws"

	"github.com/hexfield/hexfield/oracle/solana/localnet"
)

func start(t *testing.T) *localnet.Server {
	t.Helper()
	return localnet.StartForTest(t)
}

func key(s string) sol.PrivateKey {
	h := sha256.Sum256([]byte(s))
	return sol.PrivateKey(ed25519.NewKeyFromSeed(h[:]))
}

func funded(t *testing.T, c *rpc.Client, name string) sol.PrivateKey {
	t.Helper()
	k := key(name)
	if _, err := c.RequestAirdrop(context.Background(), k.PublicKey(), 10*sol.LAMPORTS_PER_SOL, rpc.CommitmentFinalized); err != nil {
		t.Fatal(err)
	}
	return k
}

func transfer(t *testing.T, c *rpc.Client, from sol.PrivateKey, to sol.PublicKey, lamports uint64, extra ...sol.Instruction) *sol.Transaction {
	t.Helper()
	bh, err := c.GetLatestBlockhash(context.Background(), rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	ixs := append([]sol.Instruction{system.NewTransferInstruction(lamports, from.PublicKey(), to).Build()}, extra...)
	tx, err := sol.NewTransaction(ixs, bh.Value.Blockhash, sol.TransactionPayer(from.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Sign(func(k sol.PublicKey) *sol.PrivateKey { return &from }); err != nil {
		t.Fatal(err)
	}
	return tx
}

func rpcErr(t *testing.T, err error) *jsonrpc.RPCError {
	t.Helper()
	var re *jsonrpc.RPCError
	if !errors.As(err, &re) {
		t.Fatalf("want an RPC error, got %v", err)
	}
	return re
}

func balance(t *testing.T, c *rpc.Client, k sol.PublicKey) uint64 {
	t.Helper()
	b, err := c.GetBalance(context.Background(), k, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	return b.Value
}

var memoID = sol.MustPublicKeyFromBase58("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")

func TestShapes(t *testing.T) {
	s := start(t)
	c := rpc.New(s.URL())
	ctx := context.Background()
	a := funded(t, c, "a")
	if got := balance(t, c, a.PublicKey()); got != 10*sol.LAMPORTS_PER_SOL {
		t.Fatalf("balance %d", got)
	}
	info, err := c.GetAccountInfo(ctx, a.PublicKey())
	if err != nil || info.Value.Lamports != 10*sol.LAMPORTS_PER_SOL || info.Value.RentEpoch.String() != "18446744073709551615" {
		t.Fatalf("account info %+v %v", info, err)
	}
	if _, err := c.GetAccountInfo(ctx, key("nobody").PublicKey()); !errors.Is(err, rpc.ErrNotFound) {
		t.Fatalf("missing account: %v", err)
	}
	if r, err := c.GetMinimumBalanceForRentExemption(ctx, 0, ""); err != nil || r != 890_880 {
		t.Fatalf("rent %d %v", r, err)
	}
	bh, err := c.GetLatestBlockhash(ctx, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	h, err := c.GetBlockHeight(ctx, "")
	if err != nil || bh.Value.LastValidBlockHeight != h+150 {
		t.Fatalf("height %d last valid %d %v", h, bh.Value.LastValidBlockHeight, err)
	}
	if v, err := c.IsBlockhashValid(ctx, bh.Value.Blockhash, ""); err != nil || !v.Value {
		t.Fatalf("isBlockhashValid %v %v", v, err)
	}
	if _, err := c.GetVersion(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetEpochInfo(ctx, ""); err != nil {
		t.Fatal(err)
	}
	// A transaction confirmed through the websocket (63-bit request ids echoed verbatim).
	wsc, err := ws.Connect(ctx, s.WSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer wsc.Close()
	b := key("b").PublicKey()
	memo := sol.NewInstruction(memoID, nil, []byte("hello localnet"))
	tx := transfer(t, c, a, b, 1_000_000, memo)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sig, err := confirm.SendAndConfirmTransaction(cctx, c, wsc, tx)
	if err != nil {
		t.Fatal(err)
	}
	if got := balance(t, c, b); got != 1_000_000 {
		t.Fatalf("recipient %d", got)
	}
	st, err := c.GetSignatureStatuses(ctx, true, sig)
	if err != nil || st.Value[0] == nil || st.Value[0].Err != nil || st.Value[0].ConfirmationStatus != rpc.ConfirmationStatusFinalized {
		t.Fatalf("status %+v %v", st, err)
	}
	sigs, err := c.GetSignaturesForAddress(ctx, b)
	if err != nil || len(sigs) != 1 || sigs[0].Signature != sig || sigs[0].Memo == nil || *sigs[0].Memo != "[14] hello localnet" {
		t.Fatalf("signatures for address %+v %v", sigs, err)
	}
	got, err := c.GetTransaction(ctx, sig, &rpc.GetTransactionOpts{Encoding: sol.EncodingBase64})
	if err != nil || got.Meta == nil || got.Meta.Fee != 5000 {
		t.Fatalf("get transaction %+v %v", got, err)
	}
	// Garbage is answered with an error, and the server keeps serving.
	resp, err := http.Post(s.URL(), "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := c.GetSlot(ctx, ""); err != nil {
		t.Fatal(err)
	}
	var unknown any
	err = s.Call(ctx, "getNothing", nil, &unknown)
	if err == nil || !strings.Contains(err.Error(), "-32601") {
		t.Fatalf("unknown method: %v", err)
	}
}

func TestPreflightAndLimits(t *testing.T) {
	s := start(t)
	c := rpc.New(s.URL())
	ctx := context.Background()
	a := funded(t, c, "a")
	b := key("b").PublicKey()
	start := balance(t, c, a.PublicKey())

	// Preflight failure: not executed, no fee, no status.
	tx := transfer(t, c, a, b, 100*sol.LAMPORTS_PER_SOL)
	_, err := c.SendTransaction(ctx, tx)
	re := rpcErr(t, err)
	if re.Code != -32002 || !strings.Contains(re.Message, "Transaction simulation failed") {
		t.Fatalf("preflight: %+v", re)
	}
	data, _ := re.Data.(map[string]any)
	if _, ok := data["err"].(map[string]any)["InstructionError"]; !ok || data["logs"] == nil {
		t.Fatalf("preflight data %+v", data)
	}
	if got := balance(t, c, a.PublicKey()); got != start {
		t.Fatalf("balance moved by a failed preflight: %d", got)
	}
	if st, _ := c.GetSignatureStatuses(ctx, true, tx.Signatures[0]); st.Value[0] != nil {
		t.Fatal("status recorded for a preflight failure")
	}
	// With skipPreflight it lands with the error and pays the fee.
	if _, err := c.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{SkipPreflight: true}); err != nil {
		t.Fatal(err)
	}
	st, _ := c.GetSignatureStatuses(ctx, true, tx.Signatures[0])
	if st.Value[0] == nil || st.Value[0].Err == nil || balance(t, c, a.PublicKey()) != start-5000 {
		t.Fatalf("skipPreflight: status %+v", st.Value[0])
	}

	// A resend of identical bytes is not executed twice.
	ok := transfer(t, c, a, b, 1_000_000)
	if _, err := c.SendTransaction(ctx, ok); err != nil {
		t.Fatal(err)
	}
	_, err = c.SendTransaction(ctx, ok)
	if re := rpcErr(t, err); re.Code != -32002 || re.Data.(map[string]any)["err"] != "AlreadyProcessed" {
		t.Fatalf("duplicate with preflight: %+v", re)
	}
	if _, err := c.SendTransactionWithOpts(ctx, ok, rpc.TransactionOpts{SkipPreflight: true}); err != nil {
		t.Fatal(err)
	}
	if got := balance(t, c, b); got != 1_000_000 {
		t.Fatalf("paid %d, want once 1000000", got)
	}

	// Signature failure.
	bad := transfer(t, c, a, b, 2_000)
	raw, _ := bad.MarshalBinary()
	raw[10] ^= 1
	_, err = c.SendRawTransaction(ctx, raw)
	if re := rpcErr(t, err); re.Code != -32003 {
		t.Fatalf("bad signature: %+v", re)
	}

	// Oversize: 1233+ bytes are refused by the server, not executed.
	big := transfer(t, c, a, b, 3_000, sol.NewInstruction(memoID, nil, bytes.Repeat([]byte("x"), 1_100)))
	raw, _ = big.MarshalBinary()
	if len(raw) <= 1232 {
		t.Fatalf("test transaction only %d bytes", len(raw))
	}
	_, err = c.SendRawTransactionWithOpts(ctx, raw, rpc.TransactionOpts{SkipPreflight: true})
	if re := rpcErr(t, err); !strings.Contains(re.Message, "too large") {
		t.Fatalf("oversize: %+v", re)
	}
	if got := balance(t, c, b); got != 1_000_000 {
		t.Fatalf("oversize transaction executed: %d", got)
	}

	// Blockhash expiry: the old hash is invalid, the block height passed its last valid height.
	old, _ := c.GetLatestBlockhash(ctx, rpc.CommitmentFinalized)
	late := transfer(t, c, a, b, 4_000)
	if err := s.ExpireBlockhash(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.IsBlockhashValid(ctx, old.Value.Blockhash, ""); v.Value {
		t.Fatal("expired blockhash still valid")
	}
	if h, _ := c.GetBlockHeight(ctx, ""); h <= old.Value.LastValidBlockHeight {
		t.Fatalf("height %d not past %d", h, old.Value.LastValidBlockHeight)
	}
	_, err = c.SendTransaction(ctx, late)
	if re := rpcErr(t, err); re.Data.(map[string]any)["err"] != "BlockhashNotFound" {
		t.Fatalf("expired: %+v", re)
	}
	if _, err := c.SendTransactionWithOpts(ctx, late, rpc.TransactionOpts{SkipPreflight: true}); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.GetSignatureStatuses(ctx, true, late.Signatures[0]); st.Value[0] != nil || balance(t, c, b) != 1_000_000 {
		t.Fatal("transaction with an expired blockhash landed")
	}
	// Warp.
	slot, _ := c.GetSlot(ctx, "")
	if err := s.WarpToSlot(ctx, slot+1000); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.GetSlot(ctx, ""); got != slot+1000 {
		t.Fatalf("slot %d after warp to %d", got, slot+1000)
	}
}

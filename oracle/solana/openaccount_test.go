package solana

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
)

// The open-account transaction has the owner as its only signer, fee
// payer and funder: no key of the network is in a position to pay.
func TestOpenAccountTxIsOwnerPaid(t *testing.T) {
	owner, mint := sol.PublicKey(pub(testKey(t, "owner"))), sol.PublicKey(pub(testKey(t, "mint")))
	tx, account, err := openAccountTx(owner, mint, sol.Hash{7})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ata(owner, mint)
	if account != want {
		t.Fatalf("account %s, want the ATA %s", account, want)
	}
	msg := tx.Message
	if msg.Header.NumRequiredSignatures != 1 || !msg.AccountKeys[0].Equals(owner) {
		t.Fatalf("signers %d, fee payer %s", msg.Header.NumRequiredSignatures, msg.AccountKeys[0])
	}
	if len(msg.Instructions) != 1 {
		t.Fatalf("%d instructions", len(msg.Instructions))
	}
	ix := msg.Instructions[0]
	if p, _ := msg.Program(ix.ProgramIDIndex); !p.Equals(ataProgram) || string(ix.Data) != "\x01" {
		t.Fatalf("program %s data %x, want CreateIdempotent", p, ix.Data)
	}
	wantAccounts := []sol.PublicKey{owner, account, owner, mint, systemProgram, tokenProgram}
	for i, k := range ix.Accounts {
		if !msg.AccountKeys[k].Equals(wantAccounts[i]) {
			t.Fatalf("account %d is %s, want %s", i, msg.AccountKeys[k], wantAccounts[i])
		}
	}
	if b, _ := tx.MarshalBinary(); len(b) > maxTxSize {
		t.Fatalf("%d bytes", len(b))
	}
}

// On the real SVM: owners open their own accounts, paying the rent from
// their own wallets; Funded reports exactly the owners whose token
// account can be paid; the network's keys pay nothing.
func TestOpenAccountAndFunded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newFixture(t, 1, 1)
	d := f.distributor(t, f.config([]int{0}, summaries()))
	defer d.Close()
	mint := d.Accounts().Mint
	c := rpc.New(f.net.URL())
	chain := NewChain(f.net.URL())
	balance := func(k [32]byte) uint64 {
		t.Helper()
		r, err := c.GetBalance(ctx, sol.PublicKey(k), rpc.CommitmentFinalized)
		if err != nil {
			t.Fatal(err)
		}
		return r.Value
	}
	alice, bob, carol := testKey(t, "open-alice"), testKey(t, "open-bob"), testKey(t, "open-carol")
	for _, k := range [][32]byte{pub(alice), pub(carol)} {
		if _, err := c.RequestAirdrop(ctx, sol.PublicKey(k), sol.LAMPORTS_PER_SOL, rpc.CommitmentFinalized); err != nil {
			t.Fatal(err)
		}
	}
	// Someone sends lamports to carol's account address before she opens
	// it: the address exists but is no token account, so it is not funded.
	carolATA, _ := AssociatedTokenAddress(pub(carol), mint)
	if err := f.net.Call(ctx, "litesvm_setAccount", []any{sol.PublicKey(carolATA).String(), map[string]any{
		"lamports": 1_000_000, "data": "", "owner": systemProgram.String(), "executable": false}}, nil); err != nil {
		t.Fatal(err)
	}
	owners := [][32]byte{pub(alice), pub(bob), pub(carol)}
	for i := range 247 { // more than one getMultipleAccounts request
		owners = append(owners, pub(testKey(t, fmt.Sprintf("open-other-%d", i))))
	}
	funded := func(want ...bool) {
		t.Helper()
		got, err := chain.Funded(ctx, mint, owners)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(owners) {
			t.Fatalf("%d answers for %d owners", len(got), len(owners))
		}
		for i, g := range got {
			w := i < len(want) && want[i]
			if g != w {
				t.Fatalf("owner %d funded = %v, want %v", i, g, w)
			}
		}
	}
	funded(false, false, false)

	network := func() uint64 { return balance(pub(f.payer)) + balance(pub(f.dist)) + balance(pub(f.oracles[0])) }
	networkBefore, aliceBefore := network(), balance(pub(alice))
	got, err := chain.OpenAccount(ctx, alice, mint)
	if err != nil {
		t.Fatal(err)
	}
	aliceATA, _ := AssociatedTokenAddress(pub(alice), mint)
	if got.Account != aliceATA || got.AlreadyOpen || got.Signature == "" || got.Rent != 2_039_280 || got.Fee != 5_000 {
		t.Fatalf("opened %+v", got)
	}
	if spent := aliceBefore - balance(pub(alice)); spent != 2_039_280+5_000 {
		t.Fatalf("alice spent %d lamports", spent)
	}
	if n := network(); n != networkBefore {
		t.Fatalf("the network's keys went from %d to %d lamports", networkBefore, n)
	}
	funded(true, false, false)

	// Again: already open, nothing sent, nothing paid.
	aliceBefore = balance(pub(alice))
	again, err := chain.OpenAccount(ctx, alice, mint)
	if err != nil || !again.AlreadyOpen || again.Signature != "" || again.Rent != 0 || balance(pub(alice)) != aliceBefore {
		t.Fatalf("second open: %+v, %v", again, err)
	}

	// Carol's address held lamports already: she pays only the rest.
	got, err = chain.OpenAccount(ctx, carol, mint)
	if err != nil {
		t.Fatal(err)
	}
	if got.Rent != 2_039_280-1_000_000 || got.Fee != 5_000 {
		t.Fatalf("carol opened %+v", got)
	}
	funded(true, false, true)

	// Bob has no SOL: told so, nothing sent.
	_, err = chain.OpenAccount(ctx, bob, mint)
	if err == nil || !strings.Contains(err.Error(), "fund the wallet") {
		t.Fatalf("bob without SOL: %v", err)
	}
	funded(true, false, true)

	// A wrong mint.
	if _, err := chain.OpenAccount(ctx, alice, pub(testKey(t, "no-such-mint"))); !errors.Is(err, ErrNotMint) {
		t.Fatalf("wrong mint: %v", err)
	}
	if n := network(); n != networkBefore {
		t.Fatalf("the network's keys went from %d to %d lamports", networkBefore, n)
	}
}

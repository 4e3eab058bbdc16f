package solana

import (
	"context"
	"testing"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/hexfield/hexfield/oracle/solana/localnet"
)

// DCFixture is a DC payment mint, a buyer holding tokens and SOL, and a
// treasury token account, on a real localnet.
type dcFixture struct {
	net      *localnet.Server
	chain    *Chain
	mint     [32]byte
	treasury [32]byte
}

func newDCFixture(t *testing.T, buyers map[string]uint64) *dcFixture {
	t.Helper()
	f := &dcFixture{net: startLocalnet(t)}
	f.chain = NewChain(f.net.URL())
	ctx := context.Background()
	f.mint = pub(testKey(t, "dc-mint"))
	if err := f.net.SetMint(ctx, sol.PublicKey(f.mint).String(), pub(testKey(t, "mint-authority")), 6, 1e12); err != nil {
		t.Fatal(err)
	}
	tr, err := AssociatedTokenAddress(pub(testKey(t, "treasury-owner")), f.mint)
	if err != nil {
		t.Fatal(err)
	}
	f.treasury = tr
	if err := f.net.SetTokenAccount(ctx, sol.PublicKey(tr).String(), f.mint, pub(testKey(t, "treasury-owner")), 0); err != nil {
		t.Fatal(err)
	}
	c := rpc.New(f.net.URL())
	for seed, amount := range buyers {
		b := pub(testKey(t, seed))
		a, _ := AssociatedTokenAddress(b, f.mint)
		if err := f.net.SetTokenAccount(ctx, sol.PublicKey(a).String(), f.mint, b, amount); err != nil {
			t.Fatal(err)
		}
		if _, err := c.RequestAirdrop(ctx, sol.PublicKey(b), sol.LAMPORTS_PER_SOL, rpc.CommitmentFinalized); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// TestDCPurchaseOnLocalnet: a purchase with a memo is read back from the
// chain with its amount, memo wallet and sender, and the treasury's
// signatures list it once, oldest first, after a cursor.
func TestDCPurchaseOnLocalnet(t *testing.T) {
	f := newDCFixture(t, map[string]uint64{"buyer": 1000})
	ctx := context.Background()
	buyer, beneficiary := testKey(t, "buyer"), pub(testKey(t, "beneficiary"))
	sig1, err := f.chain.BuyDC(ctx, buyer, f.treasury, 250, beneficiary)
	if err != nil {
		t.Fatal(err)
	}
	sig2, err := f.chain.BuyDC(ctx, buyer, f.treasury, 50, pub(buyer))
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := f.chain.TreasurySignatures(ctx, f.treasury, "")
	if err != nil || len(sigs) != 2 || sigs[0] != sig1 || sigs[1] != sig2 {
		t.Fatalf("treasury signatures %v, %v; want [%s %s]", sigs, err, sig1, sig2)
	}
	if after, err := f.chain.TreasurySignatures(ctx, f.treasury, sig1); err != nil || len(after) != 1 || after[0] != sig2 {
		t.Fatalf("signatures after the first: %v, %v", after, err)
	}
	tr, found, err := f.chain.TreasuryTransfer(ctx, sig1, f.treasury)
	if err != nil || !found {
		t.Fatalf("transfer %s: found %v, %v", sig1, found, err)
	}
	if tr.Failed || tr.Amount != 250 || !tr.HasMemo || tr.Memo != sol.PublicKey(beneficiary).String() || tr.Sender != pub(buyer) {
		t.Fatalf("transfer %+v", tr)
	}
	// A transaction that moved nothing into this treasury pays nothing into it.
	other := pub(testKey(t, "other-treasury"))
	if tr, _, err := f.chain.TreasuryTransfer(ctx, sig1, other); err != nil || tr.Amount != 0 {
		t.Fatalf("the same transaction seen from another treasury: %+v %v", tr, err)
	}
	// More than the buyer holds: refused by preflight, nothing lands.
	if _, err := f.chain.BuyDC(ctx, buyer, f.treasury, 10_000, beneficiary); err == nil {
		t.Fatal("a purchase beyond the buyer's tokens succeeded")
	}
	if sigs, _ := f.chain.TreasurySignatures(ctx, f.treasury, ""); len(sigs) != 2 {
		t.Fatalf("a refused purchase was recorded: %v", sigs)
	}
}

func testTx(t testing.TB, payer sol.PublicKey, ixs ...sol.Instruction) *sol.Transaction {
	t.Helper()
	tx, err := sol.NewTransaction(ixs, sol.Hash{1}, sol.TransactionPayer(payer))
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func transfer(source, dest, authority sol.PublicKey, amount uint64) sol.Instruction {
	return sol.NewInstruction(tokenProgram, sol.AccountMetaSlice{meta(source, true, false), meta(dest, true, false), meta(authority, false, true)},
		u64([]byte{3}, amount))
}

// TestParseTreasuryTransfer: only transfers into the treasury count, both
// Transfer and TransferChecked, summed; the first memo with the prefix
// names the wallet (either Memo program); without one the sender pays.
func TestParseTreasuryTransfer(t *testing.T) {
	treasury, other, mint := sol.PublicKey(pub(testKey(t, "t"))), sol.PublicKey(pub(testKey(t, "o"))), sol.PublicKey(pub(testKey(t, "m")))
	alice, bob := sol.PublicKey(pub(testKey(t, "alice"))), sol.PublicKey(pub(testKey(t, "bob")))
	src := sol.PublicKey(pub(testKey(t, "src")))
	memoV1 := func(text string) sol.Instruction { return sol.NewInstruction(memoProgramV1, nil, []byte(text)) }
	for _, tc := range []struct {
		name    string
		tx      *sol.Transaction
		amount  uint64
		memo    string
		hasMemo bool
		sender  sol.PublicKey
		err     bool
	}{
		{"no memo: the sender", testTx(t, alice, transfer(src, treasury, alice, 7)), 7, "", false, alice, false},
		{"checked with memo", testTx(t, bob, transferChecked(src, mint, treasury, bob, 5, 6), memoInstruction(DCMemoPrefix+"W")), 5, "W", true, bob, false},
		{"memo v1, first prefixed memo wins", testTx(t, bob, memoV1("hello"), memoV1(DCMemoPrefix+"X"), memoInstruction(DCMemoPrefix+"Y"),
			transfer(src, treasury, bob, 1)), 1, "X", true, bob, false},
		{"transfers elsewhere do not count", testTx(t, alice, transfer(src, other, alice, 100), transfer(src, treasury, bob, 2),
			transferChecked(src, mint, treasury, alice, 3, 6)), 5, "", false, bob, false},
		{"overflow", testTx(t, alice, transfer(src, treasury, alice, 1<<63), transfer(src, treasury, alice, 1<<63)), 0, "", false, alice, true},
	} {
		var out DCTransfer
		err := parseTreasuryTransfer(&out, tc.tx, treasury)
		if (err != nil) != tc.err {
			t.Fatalf("%s: err %v", tc.name, err)
		}
		if tc.err {
			continue
		}
		if out.Amount != tc.amount || out.Memo != tc.memo || out.HasMemo != tc.hasMemo || out.Sender != tc.sender {
			t.Errorf("%s: %+v", tc.name, out)
		}
	}
}

// FuzzTreasuryTransfer: any transaction bytes decode or not, and never
// panic the parser.
func FuzzTreasuryTransfer(f *testing.F) {
	treasury, src, alice := sol.PublicKey(pub(testKey(f, "t"))), sol.PublicKey(pub(testKey(f, "src"))), sol.PublicKey(pub(testKey(f, "alice")))
	for _, tx := range []*sol.Transaction{
		testTx(f, alice, transfer(src, treasury, alice, 7), memoInstruction(DCMemoPrefix+"W")),
		testTx(f, alice, transferChecked(src, src, treasury, alice, 3, 6)),
	} {
		b, err := tx.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tx, err := sol.TransactionFromBytes(b)
		if err != nil {
			return
		}
		var out DCTransfer
		parseTreasuryTransfer(&out, tx, treasury)
	})
}

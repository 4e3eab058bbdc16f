package solana

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/programs/system"
)

// fakeChain stands in for the chain in unit tests (no node here): one nonce account and
// one lookup table.
type fakeChain struct {
	nonceAddr [32]byte
	nonce     Nonce
	table     LookupTable
}

func (f *fakeChain) NonceValue(_ context.Context, addr [32]byte) (Nonce, error) {
	if addr != f.nonceAddr {
		return Nonce{}, fmt.Errorf("no nonce account %s", sol.PublicKey(addr))
	}
	return f.nonce, nil
}

func (f *fakeChain) LookupTable(_ context.Context, addr [32]byte) ([][32]byte, error) {
	if addr != f.table.Address {
		return nil, fmt.Errorf("no table %s", sol.PublicKey(addr))
	}
	return f.table.Entries, nil
}

func nonceFixture(t testing.TB) (Accounts, [32]byte, *fakeChain) {
	t.Helper()
	payer := pub(testKey(t, "payer"))
	acc, err := DeriveAccounts(payer, "hexfield", pub(testKey(t, "distributor")), 6)
	if err != nil {
		t.Fatal(err)
	}
	ch := &fakeChain{nonceAddr: acc.Nonce, nonce: Nonce{Authority: payer, Value: [32]byte{7, 7, 7}},
		table: LookupTable{Address: [32]byte{9, 9}, Entries: [][32]byte{acc.Mint, acc.Escrow, acc.Multisig, acc.Distributor, recentBlockhashes}}}
	return acc, payer, ch
}

func quorumOf(t testing.TB, n int) [][32]byte {
	t.Helper()
	var q [][32]byte
	for i := range n {
		q = append(q, pub(testKey(t, fmt.Sprintf("oracle-%d", i))))
	}
	return q
}

// TestBuildPhase1Nonce checks the durable-nonce form: AdvanceNonceAccount first with the
// runtime's accounts (nonce writable and static, RecentBlockhashes, the payer signing),
// the nonce value as blockhash, the non-signer accounts loaded from the table, and the
// size within 1 232 bytes for quorums of 3 (3-of-5) even in the worst case (epoch and
// totals of 10 digits and more, fee payer outside the quorum). It logs the sizes.
func TestBuildPhase1Nonce(t *testing.T) {
	acc, payer, ch := nonceFixture(t)
	worst := Summary{Epoch: 4_000_000_000, Count: 100_000, Total: 1 << 50, Root: [32]byte{1}}
	typical := Summary{Epoch: 42, Count: 200, Total: 3_750_042, Root: [32]byte{1}}
	for _, c := range []struct {
		name    string
		s       Summary
		inQuota bool // the fee payer is one of the co-signers
		want    int  // largest quorum that must fit
	}{{"worst case, payer apart", worst, false, 3}, {"typical, payer apart", typical, false, 3}, {"typical, payer co-signs", typical, true, 3}} {
		largest := 0
		for m := 1; m <= maxSigners; m++ {
			q := quorumOf(t, m)
			p := payer
			if c.inQuota {
				p = q[0]
				ch.nonce.Authority = p
			}
			msg, err := BuildPhase1Nonce(acc, p, c.s, q, ch.nonce.Value, ch.table)
			if errors.Is(err, errTooLarge) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			largest = m
			dm, err := decodeMessage(msg)
			if err != nil {
				t.Fatal(err)
			}
			if !dm.IsVersioned() || len(dm.AddressTableLookups) != 1 || dm.AddressTableLookups[0].AccountKey != ch.table.Address {
				t.Fatalf("quorum %d: not a v0 message on the table", m)
			}
			if dm.RecentBlockhash != sol.Hash(ch.nonce.Value) {
				t.Fatalf("quorum %d: blockhash %s, want the nonce value", m, dm.RecentBlockhash)
			}
			ix := dm.Instructions[0]
			if !isAdvanceNonce(dm, ix) || len(ix.Accounts) != 3 {
				t.Fatalf("quorum %d: first instruction is not AdvanceNonceAccount", m)
			}
			if int(ix.Accounts[0]) >= len(dm.AccountKeys) || dm.AccountKeys[ix.Accounts[0]] != sol.PublicKey(acc.Nonce) {
				t.Fatalf("quorum %d: nonce account is not a static key", m)
			}
			if dm.AccountKeys[ix.Accounts[2]] != sol.PublicKey(p) || !dm.IsSigner(p) {
				t.Fatalf("quorum %d: nonce authority is not the signing payer", m)
			}
			size := 1 + 64*int(dm.Header.NumRequiredSignatures) + len(msg)
			ls := "too large"
			if legacy, err := BuildPhase1Nonce(acc, p, c.s, q, ch.nonce.Value, LookupTable{}); err == nil {
				ls = fmt.Sprint(1 + 64*int(dm.Header.NumRequiredSignatures) + len(legacy))
			}
			cu := "with"
			if len(dm.Instructions) == 1+2*m+3 { // advance, markers, mint, approve, memo
				cu = "without"
			}
			t.Logf("%s: quorum %d: v0 + table %d bytes (%s compute-unit limit); legacy nonce form %s", c.name, m, size, cu, ls)
		}
		if largest < c.want {
			t.Fatalf("%s: largest quorum that fits is %d, want ≥ %d", c.name, largest, c.want)
		}
	}
	ch.nonce.Authority = payer
	s := typical
	// A table holding the nonce account would make it a loaded key, which the runtime
	// does not accept for a durable nonce.
	bad := ch.table
	bad.Entries = append(bad.Entries, acc.Nonce)
	if _, err := BuildPhase1Nonce(acc, payer, s, quorumOf(t, 2), ch.nonce.Value, bad); err == nil {
		t.Fatal("phase 1 with the nonce account in the table was built")
	}
	if _, err := BuildPhase1Nonce(Accounts{Mint: acc.Mint}, payer, s, quorumOf(t, 2), ch.nonce.Value, ch.table); err == nil {
		t.Fatal("phase 1 without a nonce account was built")
	}
}

// TestCheckProposalNonce: a co-signer accepts a nonce proposal only with the deployment's
// nonce account at its current value, authority the payer, and refuses it without a chain.
func TestCheckProposalNonce(t *testing.T) {
	acc, payer, ch := nonceFixture(t)
	ctx := context.Background()
	own := Summary{Epoch: 12, Count: 3, Total: 3_750_042, Root: [32]byte{4}}
	q := quorumOf(t, 3)[:2]
	msg, err := BuildPhase1Nonce(acc, payer, own, q, ch.nonce.Value, ch.table)
	if err != nil {
		t.Fatal(err)
	}
	prop := Proposal{Summary: own, Quorum: q, Message: msg}
	if err := CheckProposal(ctx, ch, acc, own, prop); err != nil {
		t.Fatalf("honest nonce proposal refused: %v", err)
	}
	if _, err := Cosign(ctx, ch, testKey(t, "oracle-1"), acc, own, prop); err != nil {
		t.Fatalf("cosign: %v", err)
	}
	if err := CheckProposal(ctx, nil, acc, own, prop); !errors.Is(err, ErrNonceUnchecked) {
		t.Fatalf("without a chain: %v, want ErrNonceUnchecked", err)
	}
	var nilChain *Chain
	if err := CheckProposal(ctx, nilChain, acc, own, prop); !errors.Is(err, ErrNonceUnchecked) {
		t.Fatalf("with a nil *Chain: %v, want ErrNonceUnchecked", err)
	}
	// The legacy (nonce, no table) form is checked the same way.
	legacy, err := BuildPhase1Nonce(acc, payer, own, q, ch.nonce.Value, LookupTable{})
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckProposal(ctx, ch, acc, own, Proposal{Summary: own, Quorum: q, Message: legacy}); err != nil {
		t.Fatalf("legacy nonce proposal refused: %v", err)
	}

	refused := func(name, field string, c *fakeChain, a Accounts, m []byte) {
		t.Helper()
		var mm *MismatchError
		err := CheckProposal(ctx, c, a, own, Proposal{Summary: own, Quorum: q, Message: m})
		if !errors.As(err, &mm) || mm.Field != field {
			t.Fatalf("%s: %v, want a mismatch at %q", name, err, field)
		}
	}
	// Stale: the nonce moved on since the proposal was built.
	moved := *ch
	moved.nonce.Value = [32]byte{8, 8, 8}
	refused("stale nonce", "nonce value", &moved, acc, msg)
	// Foreign: a nonce account other than the deployment's (here one the proposer owns).
	foreign := acc
	foreign.Nonce = [32]byte{5, 5}
	fm, err := BuildPhase1Nonce(foreign, payer, own, q, ch.nonce.Value, ch.table)
	if err != nil {
		t.Fatal(err)
	}
	fc := *ch
	refused("foreign nonce", "nonce account", &fc, acc, fm)
	// The nonce's authority is not the fee payer.
	other := *ch
	other.nonce.Authority = [32]byte{6}
	refused("foreign authority", "nonce authority", &other, acc, msg)
	// A table whose addresses differ from what the message loads.
	swapped := *ch
	swapped.table.Entries = [][32]byte{acc.Escrow, acc.Mint, acc.Multisig, acc.Distributor, recentBlockhashes}
	if err := CheckProposal(ctx, &swapped, acc, own, prop); err == nil {
		t.Fatal("proposal checked against a table with other addresses")
	}
}

// FuzzParseNonce: any account data decodes to a nonce state or an error, never a panic,
// and a decoded state is the bytes at its offsets.
func FuzzParseNonce(f *testing.F) {
	valid := make([]byte, nonceSize)
	valid[0], valid[4] = 1, 1
	copy(valid[8:40], bytes.Repeat([]byte{3}, 32))
	copy(valid[40:72], bytes.Repeat([]byte{4}, 32))
	f.Add(valid)
	f.Add(valid[:79])
	f.Add(make([]byte, nonceSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseNonce(b)
		if err != nil {
			return
		}
		if !bytes.Equal(st.authority[:], b[8:40]) || !bytes.Equal(st.value[:], b[40:72]) {
			t.Fatal("decoded nonce differs from its bytes")
		}
		_, _ = tableDeactivationSlot(b)
	})
}

// FuzzPhase1MemoEpoch: any memo text parses to an epoch or nothing; the memo of a summary
// parses back to its epoch.
func FuzzPhase1MemoEpoch(f *testing.F) {
	f.Add("[80] "+Phase1Memo(Summary{Epoch: 42, Count: 3, Total: 3_750_042}), uint64(42))
	f.Add("hexfield rwd e=7 b=1", uint64(7))
	f.Fuzz(func(t *testing.T, memo string, e uint64) {
		_, _ = phase1MemoEpoch(&memo)
		m := "[1] " + Phase1Memo(Summary{Epoch: e, Count: 1, Total: 1})
		if got, ok := phase1MemoEpoch(&m); !ok || got != e {
			t.Fatalf("memo of epoch %d parsed as %d %v", e, got, ok)
		}
	})
}

// FuzzCheckProposalNonce: proposal bytes come from another oracle; with a chain to read,
// any bytes give an error or exactly the expected durable-nonce message.
func FuzzCheckProposalNonce(f *testing.F) {
	acc, payer, ch := nonceFixture(f)
	own := Summary{Epoch: 12, Count: 3, Total: 3_750_042, Root: [32]byte{4}}
	q := quorumOf(f, 2)
	for _, table := range []LookupTable{ch.table, {}} {
		msg, err := BuildPhase1Nonce(acc, payer, own, q, ch.nonce.Value, table)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(msg)
	}
	want, err := BuildPhase1Nonce(acc, payer, own, q, ch.nonce.Value, ch.table)
	if err != nil {
		f.Fatal(err)
	}
	wantLegacy, err := BuildPhase1Nonce(acc, payer, own, q, ch.nonce.Value, LookupTable{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := CheckProposal(context.Background(), ch, acc, own, Proposal{Summary: own, Quorum: q, Message: b})
		if err == nil && !bytes.Equal(b, want) && !bytes.Equal(b, wantLegacy) {
			// A blockhash proposal whose blockhash happens to be anything is also accepted.
			if m, derr := decodeMessage(b); derr != nil || isAdvanceNonce(m, m.Instructions[0]) {
				t.Fatalf("accepted unexpected nonce bytes %x", b)
			}
		}
	})
}

// TestNonceInstructionBytes checks the System and ALT instructions built here against
// golden bytes and, for the System ones, against solana-go's own builders (an independent
// encoding of the same instruction; its account metas match the runtime's).
func TestNonceInstructionBytes(t *testing.T) {
	k := func(b byte) sol.PublicKey { return sol.PublicKey{b} }
	same := func(name string, ours, theirs sol.Instruction, wantHex string) {
		t.Helper()
		od, err := ours.Data()
		if err != nil {
			t.Fatal(err)
		}
		td, err := theirs.Data()
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(od) != wantHex || !bytes.Equal(od, td) {
			t.Fatalf("%s data %x, solana-go %x, want %s", name, od, td, wantHex)
		}
		metas := func(ms []*sol.AccountMeta) string {
			var out string
			for _, m := range ms {
				out += fmt.Sprintf("%s w=%v s=%v; ", m.PublicKey, m.IsWritable, m.IsSigner)
			}
			return out
		}
		if ours.ProgramID() != systemProgram || metas(ours.Accounts()) != metas(theirs.Accounts()) {
			t.Fatalf("%s accounts %s, solana-go %s", name, metas(ours.Accounts()), metas(theirs.Accounts()))
		}
	}
	same("AdvanceNonceAccount", advanceNonce(k(1), k(2)),
		system.NewAdvanceNonceAccountInstruction(k(1), recentBlockhashes, k(2)).Build(), "04000000")
	same("InitializeNonceAccount", initializeNonce(k(1), k(2)),
		system.NewInitializeNonceAccountInstruction(k(2), k(1), recentBlockhashes, rentSysvar).Build(),
		"06000000"+hex.EncodeToString(k(2).Bytes()))
	same("TransferWithSeed", transferWithSeed(k(1), k(2), k(3), 890_880, "rwd:e42", systemProgram),
		system.NewTransferWithSeedInstruction(890_880, "rwd:e42", systemProgram, k(1), k(2), k(3)).Build(),
		"0b00000000980d0000000000"+"0700000000000000"+hex.EncodeToString([]byte("rwd:e42"))+hex.EncodeToString(systemProgram.Bytes()))
	same("Transfer", transferLamports(k(1), k(2), markerRent),
		system.NewTransferInstruction(markerRent, k(1), k(2)).Build(), "02000000"+"f085110000000000")
	same("AllocateWithSeed", allocateWithSeed(k(1), k(2), "rwd:e42", markerSize, loaderV3),
		system.NewAllocateWithSeedInstruction(k(2), "rwd:e42", markerSize, loaderV3, k(1), k(2)).Build(),
		"09000000"+hex.EncodeToString(k(2).Bytes())+"0700000000000000"+hex.EncodeToString([]byte("rwd:e42"))+"2500000000000000"+hex.EncodeToString(loaderV3.Bytes()))
	// Loader-v3 InitializeBuffer [0] and Close [5] (u32 tags, bincode), Token BurnChecked.
	for _, c := range []struct {
		name string
		ix   sol.Instruction
		hex  string
		w, s string // writable and signing accounts, by position
	}{
		{"InitializeBuffer", initializeBuffer(k(1), k(2)), "00000000", "10", "00"},
		{"Close", closeBuffer(k(1), k(2), k(3)), "05000000", "110", "001"},
		{"BurnChecked", burnChecked(k(1), k(2), k(3), 258, 6), "0f020100000000000006", "110", "001"},
	} {
		d, err := c.ix.Data()
		if err != nil {
			t.Fatal(err)
		}
		var w, sg string
		for _, m := range c.ix.Accounts() {
			w += map[bool]string{true: "1", false: "0"}[m.IsWritable]
			sg += map[bool]string{true: "1", false: "0"}[m.IsSigner]
		}
		if hex.EncodeToString(d) != c.hex || w != c.w || sg != c.s {
			t.Fatalf("%s: data %x writable %s signers %s, want %s %s %s", c.name, d, w, sg, c.hex, c.w, c.s)
		}
	}
	a := advanceNonce(k(1), k(2)).Accounts()
	if !a[0].IsWritable || a[0].IsSigner || a[1].PublicKey != recentBlockhashes || a[1].IsWritable || !a[2].IsSigner {
		t.Fatalf("AdvanceNonceAccount metas %v", a)
	}
	for name, c := range map[string]struct {
		ix   sol.Instruction
		data string
		n    int
	}{
		"DeactivateLookupTable": {deactivateLookupTable(k(1), k(2)), "03000000", 2},
		"CloseLookupTable":      {closeLookupTable(k(1), k(2), k(3)), "04000000", 3},
	} {
		d, _ := c.ix.Data()
		ac := c.ix.Accounts()
		if hex.EncodeToString(d) != c.data || c.ix.ProgramID() != altProgram || len(ac) != c.n || !ac[0].IsWritable || !ac[1].IsSigner {
			t.Fatalf("%s: data %x accounts %v", name, d, ac)
		}
	}
	meta := make([]byte, 56)
	meta[0] = 1
	binary.LittleEndian.PutUint64(meta[4:12], 12345)
	if s, err := tableDeactivationSlot(meta); err != nil || s != 12345 {
		t.Fatalf("deactivation slot %d %v", s, err)
	}
	if _, err := tableDeactivationSlot(meta[:40]); err == nil {
		t.Fatal("short table meta accepted")
	}
}

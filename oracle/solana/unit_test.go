package solana

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	sol "github.com/gagliardetto/solana-go"
)

// TestPhase1MemoVector checks the phase-1 memo for the spec's manifest
// vector (solana-rewards.md §2; the root itself is tested in verifier).
func TestPhase1MemoVector(t *testing.T) {
	var o1, o2, o3 [32]byte
	for i := range 32 {
		o1[i], o2[i], o3[i] = 1, 2, 3
	}
	ps := []Payout{{o1, 1_500_000}, {o2, 2_250_000}, {o3, 42}}
	root, err := hex.DecodeString("663cf867bf70b3d4741804eff9ad81e1f495f053314be508717420eee9cdf0a0")
	if err != nil {
		t.Fatal(err)
	}
	p := EpochPayout{Epoch: 42, Root: [32]byte(root), Total: 3_750_042, Payouts: ps}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := Phase1Memo(p.Summary()); got != "hexfield rwd e=42 n=3 total=3750042 root=7t6WSiJHshxQj7LPbWFD1UoqkGmpyfs6kBVrK6tqhDRZ" {
		t.Fatalf("memo %q", got)
	}
}

func TestValidateRejects(t *testing.T) {
	good := makePayout(1, 5)
	cases := map[string]func(p *EpochPayout){
		"zero amount": func(p *EpochPayout) { p.Total -= p.Payouts[2].Amount; p.Payouts[2].Amount = 0 },
		"unsorted":    func(p *EpochPayout) { p.Payouts[1], p.Payouts[2] = p.Payouts[2], p.Payouts[1] },
		"duplicate":   func(p *EpochPayout) { p.Payouts[2].Owner = p.Payouts[1].Owner },
		"total":       func(p *EpochPayout) { p.Total++ },
		"overflow":    func(p *EpochPayout) { p.Payouts[0].Amount = ^uint64(0) },
	}
	for name, mutate := range cases {
		p := good
		p.Payouts = append([]Payout(nil), good.Payouts...)
		mutate(&p)
		if err := p.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestBatchPartition(t *testing.T) {
	p := makePayout(1, 100)
	if BatchSize != 33 || p.Batches() != 4 || len(p.Batch(0)) != 33 || len(p.Batch(2)) != 33 || len(p.Batch(3)) != 1 {
		t.Fatalf("batches %d: %d %d %d", p.Batches(), len(p.Batch(0)), len(p.Batch(2)), len(p.Batch(3)))
	}
	if p.Batch(1)[0] != p.Payouts[33] || p.Batch(3)[0] != p.Payouts[99] {
		t.Fatal("batch k is not payouts[33k:33k+33]")
	}
	if (EpochPayout{}).Batches() != 0 || makePayout(1, 66).Batches() != 2 {
		t.Fatal("partition of 0 or 66 payouts")
	}
}

func TestInstructionBytes(t *testing.T) {
	k := func(b byte) sol.PublicKey { return sol.PublicKey{b} }
	data := func(ix sol.Instruction) string {
		d, err := ix.Data()
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(d)
	}
	ms := initializeMultisig2(k(1), []sol.PublicKey{k(2), k(3), k(4)}, 2)
	if data(ms) != "1302" || ms.ProgramID() != tokenProgram {
		t.Fatalf("InitializeMultisig2 data %s", data(ms))
	}
	for i, a := range ms.Accounts() {
		if a.IsSigner || (i == 0) != a.IsWritable {
			t.Fatalf("multisig account %d: signer %v writable %v", i, a.IsSigner, a.IsWritable)
		}
	}
	mint := initializeMint2(k(1), k(9), 6)
	want := "1406" + hex.EncodeToString(k(9).Bytes()) + "00"
	if data(mint) != want || len(want) != 70 {
		t.Fatalf("InitializeMint2 %s, want %s (35 bytes, no freeze authority)", data(mint), want)
	}
	a := createATAIdempotent(k(1), k(2), k(3), k(4))
	if data(a) != "01" || a.ProgramID() != ataProgram || len(a.Accounts()) != 6 || !a.Accounts()[0].IsSigner {
		t.Fatalf("CreateIdempotent %s %v", data(a), a.Accounts())
	}
	m := memoInstruction("hexfield rwd e=1 b=0")
	if data(m) != hex.EncodeToString([]byte("hexfield rwd e=1 b=0")) {
		t.Fatalf("memo %s has a prefix", data(m))
	}
	long := strings.Repeat("é", 100)
	if data(memoInstruction(long)) != hex.EncodeToString([]byte(long)) {
		t.Fatal("long memo altered")
	}
	tc := transferChecked(k(1), k(2), k(3), k(4), 1_500_000, 6)
	if data(tc) != "0c60e316000000000006" {
		t.Fatalf("TransferChecked %s", data(tc))
	}
	mt := mintToChecked(k(1), k(2), k(3), []sol.PublicKey{k(4), k(5)}, 3_750_042, 6)
	if data(mt) != "0e9a38390000000000"+"06" || len(mt.Accounts()) != 5 || mt.Accounts()[2].IsSigner || !mt.Accounts()[3].IsSigner {
		t.Fatalf("MintToChecked %s %v", data(mt), mt.Accounts())
	}
	ap := approveChecked(k(1), k(2), k(3), k(4), []sol.PublicKey{k(5)}, 7, 6)
	if data(ap) != "0d070000000000000006" || len(ap.Accounts()) != 5 {
		t.Fatalf("ApproveChecked %s", data(ap))
	}
	if data(setComputeUnitLimit(60_000)) != "0260ea0000" {
		t.Fatalf("SetComputeUnitLimit %s", data(setComputeUnitLimit(60_000)))
	}
}

func TestMarkerAddress(t *testing.T) {
	o := pub(testKey(t, "oracle-0"))
	m, err := MarkerAddress(o, 42)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := sol.CreateWithSeed(sol.PublicKey(o), "rwd:e42", sol.BPFLoaderUpgradeableProgramID)
	if m != want {
		t.Fatal("marker is not createWithSeed(oracle, \"rwd:e42\", BPFLoaderUpgradeable)")
	}
	m2, _ := MarkerAddress(o, 43)
	if m == m2 {
		t.Fatal("markers of two epochs collide")
	}
}

func quorumKeys(t *testing.T, n int) [][32]byte {
	var q [][32]byte
	for i := range n {
		q = append(q, pub(testKey(t, fmt.Sprintf("oracle-%d", i))))
	}
	return q
}

// TestPhase1Size: a 2-of-3 quorum fits a legacy (blockhash) transaction, 3-of-5 does not
// (it is built on the durable nonce with a lookup table, TestBuildPhase1Nonce); 11 signers
// are refused before signing.
func TestPhase1Size(t *testing.T) {
	acc, _ := DeriveAccounts(pub(testKey(t, "payer")), "hexfield", pub(testKey(t, "distributor")), 6)
	s := makePayout(1_000_000, 3).Summary()
	msg, err := BuildPhase1(acc, pub(testKey(t, "payer")), s, quorumKeys(t, 2), sol.Hash{7})
	if err != nil {
		t.Fatal(err)
	}
	size := 1 + 64*3 + len(msg)
	if size > maxTxSize {
		t.Fatalf("2-of-3 phase 1 is %d bytes", size)
	}
	t.Logf("2 co-signers + payer, epoch 1 000 000: %d bytes", size)
	// 3-of-5 needs the durable-nonce form with its lookup table (TestBuildPhase1Nonce).
	if _, err := BuildPhase1(acc, pub(testKey(t, "payer")), s, quorumKeys(t, 3), sol.Hash{7}); !errors.Is(err, errTooLarge) {
		t.Fatalf("3-of-5 legacy phase 1: %v, want too large", err)
	}
	small, err := BuildPhase1(acc, pub(testKey(t, "payer")), makePayout(7, 3).Summary(), quorumKeys(t, 2), sol.Hash{7})
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := decodeMessage(small); m.Instructions[0].Data[0] != 2 {
		t.Fatal("small phase 1 lacks SetComputeUnitLimit")
	}
	if _, err := BuildPhase1(acc, pub(testKey(t, "payer")), s, quorumKeys(t, 11), sol.Hash{7}); err == nil {
		t.Fatal("11 co-signers accepted in a legacy transaction")
	}
}

// TestBatchSize: a full batch (marker, BatchSize transfers, memo) as v0 with one lookup
// table fits 1 232 bytes with SetComputeUnitLimit, even at the longest marker seed (32
// bytes) and so the longest memo; one payout more does not, so BatchSize is the largest.
func TestBatchSize(t *testing.T) {
	acc, _ := DeriveAccounts(pub(testKey(t, "payer")), "hexfield", pub(testKey(t, "distributor")), 6)
	size := func(epoch uint64, k, n int, skip ...int) int {
		t.Helper()
		p := makePayout(epoch, n)
		for i := range p.Payouts {
			p.Payouts[i].Amount = ^uint64(0) // amounts do not change the size; the widest anyway
		}
		atas := make([]sol.PublicKey, len(p.Payouts))
		for i, q := range p.Payouts {
			a, err := ata(sol.PublicKey(q.Owner), acc.Mint)
			if err != nil {
				t.Fatal(err)
			}
			atas[i] = a
		}
		body, err := batchInstructionsOf(acc, epoch, k, p.Payouts, atas, batchMarkerSeed(epoch, k), skip)
		if err != nil {
			t.Fatal(err)
		}
		ixs := append([]sol.Instruction{setComputeUnitLimit(1_400_000)}, body...)
		got, err := offlineSize(ixs, acc.Distributor, atas)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	// 18 + 7 digits: the 32-byte seed limit.
	worst, k := uint64(999_999_999_999_999_999), 9_999_999
	if n := len(batchMarkerSeed(worst, k)); n != sol.MaxSeedLength {
		t.Fatalf("seed of %d bytes", n)
	}
	if got := size(worst, k, BatchSize); got > maxTxSize {
		t.Fatalf("worst batch of %d: %d bytes", BatchSize, got)
	} else {
		t.Logf("batch of %d, 32-byte seed: %d bytes; 10-digit epoch: %d bytes", BatchSize, got, size(1_000_000_000, 99_999, BatchSize))
	}
	// A batch burning one payout (the longest memo for one skip) fits too.
	if got := size(worst, k, BatchSize, BatchSize-1); got > maxTxSize {
		t.Fatalf("worst batch of %d skipping one: %d bytes", BatchSize, got)
	}
	if got := size(worst, k, BatchSize, 3, 17); got > maxTxSize {
		t.Fatalf("worst batch of %d skipping two: %d bytes", BatchSize, got)
	}
	if got := size(worst, k, BatchSize+1); got <= maxTxSize {
		t.Fatalf("a batch of %d fits (%d bytes): BatchSize could be larger", BatchSize+1, got)
	}
	// The batch is v0.
	p := makePayout(1, 2)
	body, err := batchBody(acc, p, []sol.PublicKey{{1}, {2}}, 0, batchMarkerSeed(1, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := sol.NewTransaction(body, sol.Hash{1}, sol.TransactionPayer(acc.Distributor),
		sol.TransactionAddressTables(map[sol.PublicKey]sol.PublicKeySlice{{9}: {{1}, {2}}}))
	if err != nil {
		t.Fatal(err)
	}
	tx.Signatures = make([]sol.Signature, 1)
	raw, err := tx.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if raw[65]&0x80 == 0 {
		t.Fatal("batch is not v0")
	}
	// An epoch whose last batch's seed would exceed 32 bytes is refused.
	if err := checkMarkerSeeds(^uint64(0), 100_000); err != nil {
		t.Fatalf("seeds of 32 bytes refused: %v", err)
	}
	if err := checkMarkerSeeds(^uint64(0), 100_001); err == nil {
		t.Fatal("marker seed of 33 bytes accepted")
	}
}

func TestCheckProposal(t *testing.T) {
	acc, _ := DeriveAccounts(pub(testKey(t, "payer")), "hexfield", pub(testKey(t, "distributor")), 6)
	p := makePayout(5, 10)
	own := p.Summary()
	q := quorumKeys(t, 2)
	payer := pub(testKey(t, "payer"))
	msg, err := BuildPhase1(acc, payer, own, q, sol.Hash{3})
	if err != nil {
		t.Fatal(err)
	}
	// A deployment with a nonce account signs durable-nonce proposals only.
	var mm *MismatchError
	if err := CheckProposal(context.Background(), nil, acc, own, Proposal{Summary: own, Quorum: q, Message: msg}); !errors.As(err, &mm) || mm.Field != "form" {
		t.Fatalf("blockhash proposal on a nonce deployment: %v, want a form mismatch", err)
	}
	// The rest checks the blockhash form, as a deployment without a nonce account does.
	acc.Nonce = [32]byte{}
	if err := CheckProposal(context.Background(), nil, acc, own, Proposal{Summary: own, Quorum: q, Message: msg}); err != nil {
		t.Fatal(err)
	}
	mismatch := func(prop Proposal, field string) {
		t.Helper()
		var mm *MismatchError
		if err := CheckProposal(context.Background(), nil, acc, own, prop); !errors.As(err, &mm) || !strings.HasPrefix(mm.Field, field) {
			t.Fatalf("want mismatch at %s, got %v", field, err)
		}
	}
	for _, f := range []string{"epoch", "count", "total", "root"} {
		s := own
		switch f {
		case "epoch":
			s.Epoch++
		case "count":
			s.Count++
		case "total":
			s.Total++
		case "root":
			s.Root[5]++
		}
		mismatch(Proposal{Summary: s, Quorum: q, Message: msg}, f)
	}
	// Another distributor approved: the accounts differ.
	other := acc
	other.Distributor = [32]byte{1}
	evil, _ := BuildPhase1(other, payer, own, q, sol.Hash{3})
	mismatch(Proposal{Summary: own, Quorum: q, Message: evil}, "account")
	// More minted than the summary says.
	more := own
	more.Total++
	evil, _ = BuildPhase1(acc, payer, more, q, sol.Hash{3})
	mismatch(Proposal{Summary: own, Quorum: q, Message: evil}, "instruction")
	// Garbage bytes.
	if err := CheckProposal(context.Background(), nil, acc, own, Proposal{Summary: own, Quorum: q, Message: []byte{1, 2, 3}}); err == nil {
		t.Fatal("garbage message accepted")
	}
	// Cosign refuses a key outside the quorum and signs the message bytes otherwise.
	if _, err := Cosign(context.Background(), nil, testKey(t, "oracle-4"), acc, own, Proposal{Summary: own, Quorum: q, Message: msg}); err == nil {
		t.Fatal("cosigned outside the quorum")
	}
	sig, err := Cosign(context.Background(), nil, testKey(t, "oracle-1"), acc, own, Proposal{Summary: own, Quorum: q, Message: msg})
	if err != nil || !ed25519.Verify(testKey(t, "oracle-1").Public().(ed25519.PublicKey), msg, sig[:]) {
		t.Fatalf("cosign: %v", err)
	}
	if _, err := assemble(msg, map[[32]byte][64]byte{q[1]: sig}); err == nil {
		t.Fatal("assembled without every signature")
	}
}

func TestLookupTableAddresses(t *testing.T) {
	data := make([]byte, 56, 56+64)
	data = append(data, bytes.Repeat([]byte{1}, 32)...)
	data = append(data, bytes.Repeat([]byte{2}, 32)...)
	got, err := lookupTableAddresses(data)
	if err != nil || len(got) != 2 || got[1][0] != 2 {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := lookupTableAddresses(data[:60]); err == nil {
		t.Fatal("bad size accepted")
	}
}

// FuzzCheckProposal: the message bytes come from another oracle; any input yields an error or
// nil, never a panic, and only the exact expected bytes are accepted.
func FuzzCheckProposal(f *testing.F) {
	acc, _ := DeriveAccounts(pub(testKey(f, "payer")), "hexfield", pub(testKey(f, "distributor")), 6)
	own := makePayout(5, 10).Summary()
	q := quorumKeys(&testing.T{}, 2)
	msg, err := BuildPhase1(acc, pub(testKey(f, "payer")), own, q, sol.Hash{3})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(msg)
	f.Add(msg[:100])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		err := CheckProposal(context.Background(), nil, acc, own, Proposal{Summary: own, Quorum: q, Message: b})
		if err == nil && !bytes.Equal(b[:min(len(b), len(msg))], msg[:min(len(b), len(msg))]) {
			t.Fatalf("accepted different bytes")
		}
		_, _ = lookupTableAddresses(b)
	})
}

func TestMemoTexts(t *testing.T) {
	s := func(v string) *string { return &v }
	cases := map[string]struct {
		in   *string
		want []string
	}{
		"none":      {nil, nil},
		"one":       {s("[23] hexfield rwd e=5 b=12 x"), []string{"hexfield rwd e=5 b=12 x"}},
		"two":       {s("[3] abc; [20] hexfield rwd e=7 b=0"), []string{"abc", "hexfield rwd e=7 b=0"}},
		"separator": {s("[4] a; b; [1] c"), []string{"a; b", "c"}},
		"no prefix": {s("plain text"), []string{"plain text"}},
		"bad len":   {s("[99] short"), []string{"short"}},
	}
	for name, c := range cases {
		if got := memoTexts(c.in); !slices.Equal(got, c.want) {
			t.Errorf("%s: %q, want %q", name, got, c.want)
		}
	}
}

func TestRewardMemoEpoch(t *testing.T) {
	phase1 := Phase1Memo(makePayout(42, 3).Summary())
	cases := map[string]struct {
		in    string
		epoch uint64
		ok    bool
	}{
		"phase 1":   {phase1, 42, true},
		"batch":     {"hexfield rwd e=18446744073709551615 b=3", ^uint64(0), true},
		"dc":        {"hexfield-dc:abc", 0, false},
		"no tail":   {"hexfield rwd e=5", 0, false},
		"other":     {"hexfield rwd e=5 x=1", 0, false},
		"not a u64": {"hexfield rwd e=18446744073709551616 b=1", 0, false},
	}
	for name, c := range cases {
		if e, ok := rewardMemoEpoch(c.in); e != c.epoch || ok != c.ok {
			t.Errorf("%s: %d %v, want %d %v", name, e, ok, c.epoch, c.ok)
		}
	}
}

// FuzzMemoTexts: the memo field comes from an RPC node; any text splits without a panic,
// and a memo built from texts splits back into them.
func FuzzMemoTexts(f *testing.F) {
	f.Add("hexfield rwd e=5 b=1", "hexfield rwd e=5 n=3 total=9 root=x")
	f.Add("", "é")
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, m := range []string{a, b, a + "; " + b} {
			for _, text := range memoTexts(&m) {
				_, _ = rewardMemoEpoch(text)
			}
		}
		m := fmt.Sprintf("[%d] %s; [%d] %s", len(a), a, len(b), b)
		if got := memoTexts(&m); !slices.Equal(got, []string{a, b}) {
			t.Fatalf("%q split into %q", m, got)
		}
	})
}

func TestUnfinishedError(t *testing.T) {
	err := fmt.Errorf("distribute epoch 6: phase 1: %w", &UnfinishedError{Epoch: 6, Holder: 5, Known: true, Allowance: 10})
	if e, ok := UnfinishedEpoch(err); !errors.Is(err, ErrUnfinished) || !ok || e != 5 || !strings.Contains(err.Error(), "distribute epoch 5 first") {
		t.Fatalf("%v: %d %v", err, e, ok)
	}
	unknown := &UnfinishedError{Epoch: 6, Allowance: 10}
	if _, ok := UnfinishedEpoch(unknown); ok || !errors.Is(unknown, ErrUnfinished) {
		t.Fatalf("unknown holder: %v", unknown)
	}
}

// TestClassifyBatch: only a System Custom(0) at the marker counts a batch as paid, and only
// InvalidAccountData at a transfer (a closed token account) leaves it for a later run;
// error codes decode from status JSON (float64) and preflight data (json.Number).
func TestClassifyBatch(t *testing.T) {
	acc, _ := DeriveAccounts(pub(testKey(t, "payer")), "hexfield", pub(testKey(t, "distributor")), 6)
	d := &Distributor{accounts: acc, log: slog.New(slog.DiscardHandler)}
	p := makePayout(3, 4)
	atas := make([]sol.PublicKey, len(p.Payouts))
	for i := range atas {
		atas[i] = sol.PublicKey{byte(i + 1)}
	}
	body, err := batchBody(acc, p, atas, 0, batchMarkerSeed(3, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	ixs := append([]sol.Instruction{setComputeUnitLimit(1000)}, body...)
	tx, err := sol.NewTransaction(ixs, sol.Hash{1}, sol.TransactionPayer(acc.Distributor),
		sol.TransactionAddressTables(map[sol.PublicKey]sol.PublicKeySlice{{9}: atas}))
	if err != nil {
		t.Fatal(err)
	}
	tx.Signatures = make([]sol.Signature, 1)
	raw, err := tx.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	e := &entry{Name: "e3/batch-00000", Raw: raw}
	ie := func(i, v any) *TxError { return &TxError{Err: map[string]any{"InstructionError": []any{i, v}}} }
	custom := func(n any) map[string]any { return map[string]any{"Custom": n} }
	cases := map[string]struct {
		te   *TxError
		want failure
	}{
		"marker exists":              {ie(float64(2), custom(float64(0))), failPaid},
		"marker exists (preflight)":  {ie(json.Number("2"), custom(json.Number("0"))), failPaid},
		"no lamports for the marker": {ie(float64(1), custom(float64(1))), failFatal},
		"marker not initialised":     {ie(float64(3), custom(float64(0))), failFatal},
		"insufficient funds":         {ie(float64(4), custom(float64(1))), failFatal},
		"custom 0 at a transfer":     {ie(float64(4), custom(float64(0))), failFatal},
		"closed token account":       {ie(json.Number("5"), "InvalidAccountData"), failRetry},
		"invalid data at marker":     {ie(float64(2), "InvalidAccountData"), failFatal},
		"missing signature":          {ie(float64(4), "MissingRequiredSignature"), failFatal},
		"out of range":               {ie(float64(40), custom(float64(0))), failFatal},
		"not an instruction error":   {&TxError{Err: "AccountNotFound"}, failFatal},
	}
	for name, c := range cases {
		if got := d.classifyBatch(e, c.te); got != c.want {
			t.Errorf("%s: %d, want %d", name, got, c.want)
		}
	}
}

// TestReclaimTransactionSizes: a reclaim transaction of markersPerReclaim phase-1 markers
// (payer and oracle signing; funded addresses emptied with TransferWithSeed at the longest
// seed, the larger instruction) and one of batchMarkersPerReclaim batch markers (loader
// Close, the distributor signing) fit 1 232 bytes.
func TestReclaimTransactionSizes(t *testing.T) {
	payer, oracle, dist := sol.PublicKey(pub(testKey(t, "payer"))), sol.PublicKey(pub(testKey(t, "oracle-0"))), sol.PublicKey(pub(testKey(t, "distributor")))
	size := func(ixs []sol.Instruction, fee sol.PublicKey) int {
		t.Helper()
		tx, err := sol.NewTransaction(ixs, sol.Hash{1}, sol.TransactionPayer(fee))
		if err != nil {
			t.Fatal(err)
		}
		tx.Signatures = make([]sol.Signature, tx.Message.Header.NumRequiredSignatures)
		raw, err := tx.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return len(raw)
	}
	var ixs []sol.Instruction
	for i := range markersPerReclaim {
		e := ^uint64(0) - uint64(i)
		m, _ := MarkerAddress(oracle, e)
		ixs = append(ixs, transferWithSeed(m, oracle, payer, markerRent, markerSeed(e), loaderV3))
	}
	if n := size(ixs, payer); n > maxTxSize {
		t.Fatalf("reclaim of %d funded marker addresses: %d bytes", markersPerReclaim, n)
	}
	ixs = nil
	for k := range batchMarkersPerReclaim {
		m, _ := BatchMarkerAddress(dist, 1, k)
		ixs = append(ixs, closeBuffer(m, dist, dist))
	}
	if n := size(ixs, dist); n > maxTxSize {
		t.Fatalf("reclaim of %d batch markers: %d bytes", batchMarkersPerReclaim, n)
	} else {
		t.Logf("reclaim of %d batch markers: %d bytes", batchMarkersPerReclaim, n)
	}
}

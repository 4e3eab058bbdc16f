package oracle

import (
	"crypto/ed25519"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/hexfield/hexfield/verifier"
	"github.com/hexfield/hexfield/wire"
)

func onboardAt(t testing.TB, o *Oracle, hs, owner ed25519.PrivateKey, dataOnly bool, at, now time.Time) (hotspotRecord, error) {
	t.Helper()
	req, err := NewOnboardRequest(hs, owner, dataOnly, at)
	if err != nil {
		t.Fatal(err)
	}
	return o.onboard(req, now)
}

func assertAt(t testing.TB, o *Oracle, owner ed25519.PrivateKey, hs wire.PublicKey, cell uint64, nonce uint64, now time.Time) (hotspotRecord, error) {
	t.Helper()
	ar, err := NewAssertRequest(owner, hs, cell, 30, 5, nonce, now)
	if err != nil {
		t.Fatal(err)
	}
	return o.assertLocation(ar.Envelope, now)
}

func balanceOf(t testing.TB, o *Oracle, w wire.PublicKey) DCBalance {
	t.Helper()
	b, err := o.store.DCAccount(w)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFees: onboarding and assertion fees are debited from the owner's
// wallet with the registry change, once, and a wallet that cannot pay
// changes nothing.
func TestFees(t *testing.T) {
	now := time.Now()
	o := newRegistryOracle(t, Config{OnboardFeeDC: 100, AssertFeeDC: 40}, &now)
	hs, owner := testKey(t), testKey(t)
	ownerPub, hsPub := wire.PublicKeyOf(owner), wire.PublicKeyOf(hs)

	if _, err := onboardAt(t, o, hs, owner, false, now, now); !IsCode(err, "insufficient_dc") {
		t.Fatalf("onboarding without DC: %v", err)
	}
	if _, found, _ := o.store.hotspot(hsPub[:]); found {
		t.Fatal("a hotspot was onboarded although its fee was not paid")
	}
	creditTest(t, o, ownerPub, 170)
	if _, err := onboardAt(t, o, hs, owner, false, now, now); err != nil {
		t.Fatal(err)
	}
	if b := balanceOf(t, o, ownerPub); b.Balance != 70 || b.Debited != 100 {
		t.Fatalf("after onboarding: %+v", b)
	}
	// Changing the capability later is not a second onboarding: no fee.
	now = now.Add(time.Second)
	if rec, err := onboardAt(t, o, hs, owner, true, now, now); err != nil || !rec.DataOnly {
		t.Fatalf("capability change: %+v %v", rec, err)
	}
	if b := balanceOf(t, o, ownerPub); b.Balance != 70 {
		t.Fatalf("fee charged twice: %+v", b)
	}
	if _, err := assertAt(t, o, owner, hsPub, testCell(t, 0), 1, now); err != nil {
		t.Fatal(err)
	}
	if b := balanceOf(t, o, ownerPub); b.Balance != 30 {
		t.Fatalf("after one assertion: %+v", b)
	}
	// 30 DC cannot pay 40: the location stays where it was.
	if _, err := assertAt(t, o, owner, hsPub, testCell(t, 5), 2, now); !IsCode(err, "insufficient_dc") {
		t.Fatalf("assertion without DC: %v", err)
	}
	rec, _, _ := o.store.hotspot(hsPub[:])
	if rec.Cell != testCell(t, 0) || rec.Nonce != 1 || balanceOf(t, o, ownerPub).Balance != 30 {
		t.Fatalf("a refused assertion changed %+v", rec)
	}
	entries, err := o.store.dcEntries(ownerPub, ^uint64(0), 10)
	if err != nil || len(entries) != 3 || entries[0].Kind != dcAssertFee || entries[1].Kind != dcOnboardFee || entries[2].Kind != dcGrant {
		t.Fatalf("ledger %+v, %v", entries, err)
	}
}

// TestOnboardReplay (issue 9): an owner's earlier onboarding request,
// replayed within the hour, must not flip data_only back.
func TestOnboardReplay(t *testing.T) {
	now := time.Now()
	o := newRegistryOracle(t, Config{}, &now)
	hs, owner := testKey(t), testKey(t)
	first, err := NewOnboardRequest(hs, owner, false, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.onboard(first, now); err != nil {
		t.Fatal(err)
	}
	if _, err := onboardAt(t, o, hs, owner, true, now.Add(time.Minute), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := o.onboard(first, now.Add(30*time.Minute)); !IsCode(err, "stale_request") {
		t.Fatalf("replayed onboarding: %v", err)
	}
	hsPub := wire.PublicKeyOf(hs)
	if rec, _, _ := o.store.hotspot(hsPub[:]); !rec.DataOnly {
		t.Fatal("the replay flipped data_only back")
	}
}

// TestMakerKeys: with makers configured only a maker's approval of the
// very hotspot key onboards it.
func TestMakerKeys(t *testing.T) {
	now := time.Now()
	maker, other := testKey(t), testKey(t)
	o := newRegistryOracle(t, Config{MakerKeys: []string{wire.PublicKeyOf(maker).String()}}, &now)
	hs, owner := testKey(t), testKey(t)
	hsPub := wire.PublicKeyOf(hs)
	req, _ := NewOnboardRequest(hs, owner, false, now)
	if _, err := o.onboard(req, now); !IsCode(err, "maker_required") {
		t.Fatalf("no approval: %v", err)
	}
	req.MakerApproval, _ = NewMakerApproval(other, hsPub)
	if _, err := o.onboard(req, now); !IsCode(err, "wrong_key") {
		t.Fatalf("approval by a non-maker: %v", err)
	}
	req.MakerApproval, _ = NewMakerApproval(maker, wire.PublicKeyOf(other))
	if _, err := o.onboard(req, now); !IsCode(err, "wrong_key") {
		t.Fatalf("approval of another hotspot: %v", err)
	}
	req.MakerApproval, _ = NewMakerApproval(maker, hsPub)
	req.MakerApproval[len(req.MakerApproval)-1] ^= 1
	if _, err := o.onboard(req, now); !IsCode(err, "bad_signature") {
		t.Fatalf("forged approval: %v", err)
	}
	req.MakerApproval, _ = NewMakerApproval(maker, hsPub)
	if _, err := o.onboard(req, now); err != nil {
		t.Fatalf("approved hotspot: %v", err)
	}
}

// TestOnboardRateLimit (issue 9: 3,000 self-made keys onboarded in 1.3 s).
// The clock is the test's: 3,000 onboardings by one owner within 1.3 s get
// the burst; an hour of trying, every 10 s, gets the burst plus one
// a minute.
func TestOnboardRateLimit(t *testing.T) {
	start := time.Now()
	now := start
	o := newRegistryOracle(t, Config{}, &now)
	owner := testKey(t)
	accepted, limited := 0, 0
	for i := range 3000 {
		now = start.Add(time.Duration(i) * 1300 * time.Millisecond / 3000)
		_, err := onboardAt(t, o, testKey(t), owner, false, now, now)
		switch {
		case err == nil:
			accepted++
		case IsCode(err, "rate_limited"):
			limited++
		default:
			t.Fatal(err)
		}
	}
	if accepted != 20 || limited != 2980 {
		t.Fatalf("in 1.3 s: %d accepted, %d rate-limited; want the burst of 20", accepted, limited)
	}
	// Another owner is not affected.
	if _, err := onboardAt(t, o, testKey(t), testKey(t), false, now, now); err != nil {
		t.Fatalf("another owner: %v", err)
	}
	hour := 0
	for s := 10; s <= 3600; s += 10 {
		now = start.Add(1300*time.Millisecond + time.Duration(s)*time.Second)
		if _, err := onboardAt(t, o, testKey(t), owner, false, now, now); err == nil {
			hour++
		} else if !IsCode(err, "rate_limited") {
			t.Fatal(err)
		}
	}
	if hour != 60 {
		t.Fatalf("one owner onboarded %d in the following hour, want 60", hour)
	}
	t.Logf("one owner: %d onboardings in the first 1.3 s (3,000 tried), %d in the next hour (360 tried)", accepted, hour)
}

// TestAssertRateLimit (issue 9: five assertions in one second, one to
// another continent, were accepted).
func TestAssertRateLimit(t *testing.T) {
	now := time.Now()
	o := newRegistryOracle(t, Config{}, &now)
	hs, owner := testKey(t), testKey(t)
	hsPub := wire.PublicKeyOf(hs)
	if _, err := onboardAt(t, o, hs, owner, false, now, now); err != nil {
		t.Fatal(err)
	}
	ny, err := verifier.LatLngToCell(40.71, -74.0, 12)
	if err != nil {
		t.Fatal(err)
	}
	cells := []uint64{testCell(t, 0), testCell(t, 1), ny, testCell(t, 2), testCell(t, 3)}
	accepted := 0
	for i, c := range cells {
		at := now.Add(time.Duration(i) * 200 * time.Millisecond)
		if _, err := assertAt(t, o, owner, hsPub, c, uint64(i+1), at); err == nil {
			accepted++
		} else if !IsCode(err, "rate_limited") {
			t.Fatal(err)
		}
	}
	rec, _, _ := o.store.hotspot(hsPub[:])
	if accepted != 2 || rec.Cell != testCell(t, 1) {
		t.Fatalf("%d of 5 assertions in one second accepted (location %x); want 2, the move to New York refused", accepted, rec.Cell)
	}
	if _, err := assertAt(t, o, owner, hsPub, ny, 10, now.Add(59*time.Minute)); !IsCode(err, "rate_limited") {
		t.Fatalf("re-assertion within the hour: %v", err)
	}
	if _, err := assertAt(t, o, owner, hsPub, ny, 11, now.Add(61*time.Minute)); err != nil {
		t.Fatalf("re-assertion after the hour: %v", err)
	}
}

func TestLimiter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := newLimiter(3, 10*time.Second)
	for i := range 3 {
		if ok, _ := l.allow("a", t0); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
		l.take("a", t0)
	}
	ok, wait := l.allow("a", t0)
	if ok || wait != 10*time.Second {
		t.Fatalf("fourth at once: %v, wait %s", ok, wait)
	}
	if ok, _ := l.allow("a", t0.Add(10*time.Second)); !ok {
		t.Fatal("refused after one interval")
	}
	// allow alone never uses up the budget.
	for range 100 {
		l.allow("b", t0)
	}
	if ok, _ := l.allow("b", t0); !ok {
		t.Fatal("allow consumed the budget")
	}
	// Expired keys are dropped once the table is large.
	for i := range limiterSweepAt {
		l.take(strconv.Itoa(i), t0)
	}
	l.take("z", t0.Add(time.Hour))
	if len(l.tat) > 1 {
		t.Fatalf("%d keys kept after they expired", len(l.tat))
	}
}

// TestLedgerNeverNegative: concurrent debits of one wallet never take it
// below zero, and every debit that succeeds is in the ledger.
func TestLedgerNeverNegative(t *testing.T) {
	now := time.Now()
	o := newRegistryOracle(t, Config{}, &now)
	w := wire.PublicKeyOf(testKey(t))
	creditTest(t, o, w, 20)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, refused := 0, 0
	for range 50 {
		wg.Go(func() {
			err := o.store.registryUpdate(func(txn *badger.Txn) error {
				_, err := debitDC(txn, w[:], 3, 1, dcOnboardFee, "t")
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, errInsufficientDC):
				refused++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	b := balanceOf(t, o, w)
	if ok != 6 || refused != 44 || b.Balance != 2 || b.Debited != 18 {
		t.Fatalf("%d debits of 3 from 20 succeeded, %d refused; balance %+v", ok, refused, b)
	}
	// A charge takes what is there and no more.
	var got uint64
	err := o.store.registryUpdate(func(txn *badger.Txn) error {
		var err error
		got, err = chargeDC(txn, w[:], 1000, 2, "epoch 1 route r")
		return err
	})
	if err != nil || got != 2 || balanceOf(t, o, w).Balance != 0 {
		t.Fatalf("charge took %d, %v; balance %+v", got, err, balanceOf(t, o, w))
	}
	// Credits never overflow.
	w = wire.PublicKeyOf(testKey(t))
	creditTest(t, o, w, ^uint64(0))
	err = o.store.registryUpdate(func(txn *badger.Txn) error {
		_, err := creditDC(txn, w[:], 1, 3, dcGrant, "t")
		return err
	})
	if !errors.Is(err, errDCOverflow) {
		t.Fatalf("overflowing credit: %v", err)
	}
}

// TestGrants: operator-signed, once per request id, and nothing else
// credits a wallet.
func TestGrants(t *testing.T) {
	now := time.Now()
	op, stranger := testKey(t), testKey(t)
	o := newRegistryOracle(t, Config{OperatorKeys: []string{wire.PublicKeyOf(op).String()}}, &now)
	w := wire.PublicKeyOf(testKey(t))
	id := []byte("0123456789abcdef")
	g, _ := NewGrantRequest(op, w, 300, id, now)
	res, err := o.applyGrant(g.Envelope, now)
	if err != nil || !res.Applied || res.Wallet.Balance != 300 {
		t.Fatalf("grant: %+v %v", res, err)
	}
	if res, err := o.applyGrant(g.Envelope, now.Add(time.Minute)); err != nil || res.Applied || res.Wallet.Balance != 300 {
		t.Fatalf("the same grant again: %+v %v", res, err)
	}
	again, _ := NewGrantRequest(op, w, 300, id, now.Add(time.Second))
	if res, err := o.applyGrant(again.Envelope, now); err != nil || res.Applied || balanceOf(t, o, w).Balance != 300 {
		t.Fatalf("a new grant with a used request id: %+v %v", res, err)
	}
	for _, tc := range []struct {
		name, code string
		req        func() []byte
	}{
		{"not an operator", "wrong_key", func() []byte {
			g, _ := NewGrantRequest(stranger, w, 1, []byte("fedcba9876543210"), now)
			return g.Envelope
		}},
		{"forged", "bad_signature", func() []byte {
			g, _ := NewGrantRequest(op, w, 1, []byte("fedcba9876543211"), now)
			g.Envelope[len(g.Envelope)-2] ^= 1
			return g.Envelope
		}},
		{"stale", "stale_request", func() []byte {
			g, _ := NewGrantRequest(op, w, 1, []byte("fedcba9876543212"), now.Add(-11*time.Minute))
			return g.Envelope
		}},
		{"short request id", "bad_request", func() []byte {
			g, _ := NewGrantRequest(op, w, 1, []byte("short"), now)
			return g.Envelope
		}},
		{"signed as another kind", "malformed", func() []byte {
			g, _ := NewGrantRequest(op, w, 1, []byte("fedcba9876543213"), now)
			return wire.SealBytes(op, wire.Kind_KIND_ORG_CHANGE, mustBody(t, g.Envelope))
		}},
		{"overflow", "overflow", func() []byte {
			g, _ := NewGrantRequest(op, w, ^uint64(0), []byte("fedcba9876543214"), now)
			return g.Envelope
		}},
	} {
		if _, err := o.applyGrant(tc.req(), now); !IsCode(err, tc.code) {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	if b := balanceOf(t, o, w); b.Balance != 300 || b.Credited != 300 {
		t.Fatalf("balance after the refused grants %+v", b)
	}
}

// TestOnboardRateLimitConcurrent: concurrent requests of one owner cannot
// all pass the limit between its check and its count.
func TestOnboardRateLimitConcurrent(t *testing.T) {
	now := time.Now()
	o := newRegistryOracle(t, Config{OwnerOnboardBurst: 5}, &now)
	owner := testKey(t)
	reqs := make([]OnboardRequest, 40)
	for i := range reqs {
		reqs[i], _ = NewOnboardRequest(testKey(t), owner, false, now)
	}
	var ok atomic.Int32
	var wg sync.WaitGroup
	for _, r := range reqs {
		wg.Go(func() {
			if _, err := o.onboard(r, now); err == nil {
				ok.Add(1)
			} else if !IsCode(err, "rate_limited") {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 5 {
		t.Fatalf("%d concurrent onboardings passed a burst of 5", ok.Load())
	}
}

package oracle

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/wire"
)

// TestEntropyNeverReplaced: a clock stepping back never overwrites a
// stored value that beacons may already carry.
func TestEntropyNeverReplaced(t *testing.T) {
	o, err := New(Config{DataDir: t.TempDir()}, Deps{Key: seedKey("e")})
	if err != nil {
		t.Fatal(err)
	}
	defer o.store.Close()
	ctx := context.Background()
	if err := o.entropy.issue(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	first, _, _ := o.store.EntropyAt(1000)
	for _, ts := range []int64{1000, 999} {
		if err := o.entropy.issue(ctx, ts); err != nil {
			t.Fatal(err)
		}
	}
	again, _, _ := o.store.EntropyAt(1000)
	if string(first) != string(again) {
		t.Fatal("entropy at ts 1000 was replaced")
	}
	if _, found, _ := o.store.EntropyAt(999); found {
		t.Fatal("entropy issued for a time before the last value")
	}
}

func TestEntropyDataVector(t *testing.T) {
	var bh, r [32]byte
	for i := range bh {
		bh[i], r[i] = byte(i), byte(255-i)
	}
	msg := append([]byte("hexfield-entropy-v1"), binary.LittleEndian.AppendUint64(nil, uint64(1677163710))...)
	msg = append(append(msg, bh[:]...), r[:]...)
	if got, want := EntropyData(1677163710, bh, r), sha256.Sum256(msg); got != want {
		t.Fatalf("EntropyData = %x, want %x", got, want)
	}
}

// TestEntropyService runs the service with a one-second period: every
// value is signed by the oracle, stored, served, and mixes in the chain's
// blockhash; a failing chain does not stop it.
func TestEntropyService(t *testing.T) {
	var calls atomic.Int32
	blockhash := func(ctx context.Context) ([32]byte, error) {
		if calls.Add(1)%2 == 0 {
			return [32]byte{}, errors.New("rpc down")
		}
		return [32]byte{0xbb}, nil
	}
	to := startOracle(t, t.TempDir(), Config{EntropyPeriod: time.Second}, Deps{Blockhash: blockhash})
	deadline := time.Now().Add(15 * time.Second)
	var got [][]byte
	for len(got) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d entropy values after 15 s", len(got))
		}
		time.Sleep(200 * time.Millisecond)
		var err error
		if got, err = to.o.store.EntropyRange(0, 1<<40); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, raw := range got {
		var e wire.Entropy
		signer, err := wire.Unseal(raw, wire.Kind_KIND_ENTROPY, &e)
		if err != nil || signer != to.o.PublicKey() || e.GetVersion() != 1 || len(e.GetData()) != 32 {
			t.Fatalf("entropy %v signer %s err %v", &e, signer, err)
		}
		if seen[string(e.GetData())] {
			t.Fatal("entropy value repeated")
		}
		seen[string(e.GetData())] = true
	}
	if calls.Load() < 3 {
		t.Fatalf("blockhash asked %d times", calls.Load())
	}
	if testutil.ToFloat64(to.o.m.blockhashErrors) < 1 || testutil.ToFloat64(to.o.m.entropyIssued) < 3 {
		t.Fatal("entropy metrics not counted")
	}
	// What hotspots are served is one of the stored, signed values.
	var cur wire.Entropy
	if err := proto.Unmarshal(to.o.entropy.current().GetBody(), &cur); err != nil {
		t.Fatal(err)
	}
	if !seen[string(cur.GetData())] {
		if _, found, _ := to.o.store.EntropyAt(cur.GetTs()); !found {
			t.Fatal("served entropy is not stored")
		}
	}
}

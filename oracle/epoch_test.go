package oracle

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/oracle/solana"
	"github.com/hexfield/hexfield/verifier"
	"github.com/hexfield/hexfield/wire"
)

// seedKey is a deterministic test key.
func seedKey(name string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte(name))
	return ed25519.NewKeyFromSeed(s[:])
}

// epochCfg is a short-epoch config for scheduler tests.
// epochCfg is the epoch tests' config. They test the epoch state machine,
// not the charging rules (verifier's charging tests do), so the test
// hotspots, which have no reciprocity history, are paid for packets
// without valid PoC.
func epochCfg(first uint64) Config {
	return Config{EpochLength: time.Minute, BeaconInterval: time.Minute, EpochGrace: 10 * time.Second, FirstEpoch: first,
		ChargeWithoutPoC: true}
}

// testUplink is a LoRaWAN data uplink of size bytes (at least 13) from
// devAddr with frame counter fcnt; its MIC verifies under no key.
func testUplink(devAddr uint32, fcnt uint16, size int) []byte {
	b := []byte{0x40, byte(devAddr), byte(devAddr >> 8), byte(devAddr >> 16), byte(devAddr >> 24), 0, byte(fcnt), byte(fcnt >> 8), 1}
	for len(b) < size-4 {
		b = append(b, byte(len(b)))
	}
	return append(b, 0xde, 0xad, 0xbe, 0xef)
}

const testEpoch = 29_000_000 // an epoch of one minute in 2025

// seedEpochStore writes the same registry and reports for testEpoch into
// dir every time: hotspots onboarded before the epoch, packets (data
// transfer), beacons and witnesses inside it.
func seedEpochStore(t *testing.T, dir string) {
	t.Helper()
	cfg := epochCfg(testEpoch)
	cfg.DataDir = dir
	start := time.UnixMilli(int64(testEpoch) * 60_000)
	onboardAt := start.Add(-10 * time.Second)
	// The registry changes are made before the epoch starts, the reports
	// inside it.
	now := onboardAt
	o, err := New(cfg, Deps{Key: seedKey("oracle"), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer o.store.Close()
	var hs []ed25519.PrivateKey
	for i := range 5 {
		h, owner := seedKey(fmt.Sprint("hotspot", i)), seedKey(fmt.Sprint("owner", i%3))
		req, err := NewOnboardRequest(h, owner, false, onboardAt)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.onboard(req, onboardAt); err != nil {
			t.Fatal(err)
		}
		ar, err := NewAssertRequest(owner, wire.PublicKeyOf(h), testCell(t, i), 30, 5, 1, onboardAt.Add(time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.assertLocation(ar.Envelope, onboardAt.Add(time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	devAddr0 := uint32(putTestRoute(t, o, "acme", "r1", seedKey("payer"), 1000).DevAddrBlocks[0].Start)
	now = start
	entTs := start.Unix() + 1
	ent, err := wire.Seal(o.key, wire.Kind_KIND_ENTROPY, &wire.Entropy{Version: 1, Ts: entTs, Data: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.store.putEntropy(entTs, ent); err != nil {
		t.Fatal(err)
	}
	var items []*ingestItem
	add := func(h ed25519.PrivateKey, kind wire.Kind, ms int64, msg proto.Message, payload []byte) {
		raw, err := wire.Seal(h, kind, msg)
		if err != nil {
			t.Fatal(err)
		}
		pub := wire.PublicKeyOf(h)
		items = append(items, &ingestItem{id: wire.ReportID(raw), kind: kind, receivedMs: ms, signer: pub[:], payload: payload,
			envelope: raw, done: func(wire.Code, int64) {}})
	}
	base := start.UnixMilli() + 2000
	for i, h := range hs {
		pub := wire.PublicKeyOf(h)
		for j := range 3 + i {
			phy := testUplink(devAddr0+uint32(i), uint16(j), 20+10*j)
			ph := sha256.Sum256(phy)
			add(h, wire.Kind_KIND_PACKET_REPORT, base+int64(100*j+i), &wire.PacketReport{PubKey: pub[:], PayloadHash: ph[:],
				PayloadSize: uint32(len(phy)), Payload: phy, RouteId: "r1", DevAddr: devAddr0 + uint32(i), Datarate: "SF7BW125"}, nil)
		}
		payload := bytes.Repeat([]byte{byte(i + 1)}, 51)
		add(h, wire.Kind_KIND_BEACON_REPORT, base+5000+int64(i), &wire.BeaconReport{PubKey: pub[:], Entropy: ent,
			Nonce: make([]byte, 16), Payload: payload, FrequencyHz: 867_900_000, Datarate: "SF12BW125", TxPowerDbm: 13}, nil)
		for k, w := range hs {
			if k == i {
				continue
			}
			wp := wire.PublicKeyOf(w)
			add(w, wire.Kind_KIND_WITNESS_REPORT, base+5500+int64(10*k+i), &wire.WitnessReport{PubKey: wp[:], Payload: payload,
				FrequencyHz: 867_900_000, Datarate: "SF12BW125", RssiDdbm: -1100, SnrDdb: -50}, payload)
		}
	}
	c := newCommitter(o.store, 16, 1024, o.m)
	res := make([]commitResult, len(items))
	if err := c.writeBatch(items, res); err != nil {
		t.Fatal(err)
	}
}

// recordingRewarder remembers every payout handed to it.
type recordingRewarder struct {
	mu    sync.Mutex
	calls []solana.EpochPayout
}

func (r *recordingRewarder) Distribute(_ context.Context, p solana.EpochPayout) error {
	if err := p.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, p)
	return nil
}

// runEpochUntil starts an oracle on dir at a clock past testEpoch's close
// and waits until the epoch is done or Run fails (a hook stopping it).
func runEpochUntil(t *testing.T, dir string, rw Rewarder, hook func(uint64, EpochStep) error) error {
	t.Helper()
	p := verifier.DefaultParams()
	p.EpochLength, p.Grace = time.Minute, 10*time.Second
	now := time.UnixMilli(p.CloseAt(testEpoch)).Add(settle + time.Second)
	cfg := epochCfg(testEpoch)
	cfg.DataDir = dir
	o, err := New(cfg, Deps{Key: seedKey("oracle"), Now: func() time.Time { return now }, Rewarder: rw})
	if err != nil {
		t.Fatal(err)
	}
	o.epochHook = hook
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case err := <-done:
			return err
		case <-deadline:
			t.Fatal("epoch not done within 60 s")
		case <-time.After(20 * time.Millisecond):
		}
		if rec, _, err := o.store.epochRecord(testEpoch); err == nil && rec.Step == StepDone {
			cancel()
			return <-done
		}
	}
}

func readManifest(t *testing.T, dir string) []byte {
	t.Helper()
	st, err := OpenStore(dir, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	raw, found, err := st.Manifest(testEpoch)
	if err != nil || !found {
		t.Fatalf("manifest of epoch %d: found %v err %v", testEpoch, found, err)
	}
	// The 25 packets would cost 56 DC (poc-rules §10), but the last 80-byte
	// uplink of hotspot4 exceeds its DevAddr's 1 % duty cycle of the
	// one-minute epoch (600 ms of airtime), so 52 are charged, once.
	if b, err := st.DCAccount(wire.PublicKeyOf(seedKey("payer"))); err != nil || b.Balance != 1000-52 || b.Debited != 52 {
		t.Fatalf("payer after the epoch: %+v err %v", b, err)
	}
	next, _, _ := st.getMetaU64(metaEpochNext)
	if next != testEpoch+1 {
		t.Fatalf("epoch_next = %d, want %d", next, testEpoch+1)
	}
	return raw
}

// TestEpochStateMachineResumes interrupts the epoch scheduler after every
// step, restarts it, and checks the manifest bytes are those of an
// uninterrupted run and the payout reached the rewarder.
func TestEpochStateMachineResumes(t *testing.T) {
	refDir := t.TempDir()
	seedEpochStore(t, refDir)
	ref := &recordingRewarder{}
	if err := runEpochUntil(t, refDir, ref, nil); err != nil {
		t.Fatal(err)
	}
	want := readManifest(t, refDir)
	man, err := verifier.UnmarshalManifest(want)
	if err != nil {
		t.Fatal(err)
	}
	if len(man.Payouts) == 0 || man.Total == 0 || man.DC == 0 {
		t.Fatalf("reference manifest pays nothing: %+v", man)
	}
	if len(ref.calls) != 1 || ref.calls[0].Root != man.Root || ref.calls[0].Total != man.Total {
		t.Fatalf("rewarder calls %+v, want one with root %x", ref.calls, man.Root)
	}
	t.Run("manifest and proof over HTTP", func(t *testing.T) {
		cfg := epochCfg(testEpoch)
		cfg.DataDir = refDir
		o, err := New(cfg, Deps{Key: seedKey("oracle")})
		if err != nil {
			t.Fatal(err)
		}
		defer o.store.Close()
		sum, err := o.EpochSummary(context.Background(), testEpoch)
		if err != nil || sum.Root != man.Root || sum.Total != man.Total || sum.Count != uint64(len(man.Payouts)) {
			t.Fatalf("summary %+v err %v", sum, err)
		}
		pays, err := o.EpochPayouts(context.Background(), testEpoch)
		if err != nil || len(pays) != len(man.Payouts) || pays[0].Amount != man.Payouts[0].Amount {
			t.Fatalf("payouts %+v err %v", pays, err)
		}
		if _, err := o.EpochSummary(context.Background(), testEpoch+1); err == nil {
			t.Fatal("summary of an epoch without a manifest")
		}
		h := o.Handler()
		hs := wire.PublicKeyOf(seedKey("hotspot3"))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", fmt.Sprintf("/v1/epochs/%d?hotspot=%s", testEpoch, hs), nil))
		if w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		var resp EpochResponse
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
			t.Fatal(err)
		}
		owner := wire.PublicKeyOf(seedKey("owner0")) // hotspot3's owner (3 % 3)
		if resp.Proof == nil || resp.Proof.Payout.Owner != owner || !bytes.Equal(resp.ManifestBytes, want) {
			t.Fatalf("proof %+v", resp.Proof)
		}
		if !verifier.VerifyProof(man.Root, testEpoch, *resp.Proof) {
			t.Fatal("served proof does not verify against the manifest root")
		}
		// The root reads as on chain (the phase-1 memo) and in the CLI: base58.
		if resp.State.Root != wire.PublicKey(man.Root).String() {
			t.Fatalf("state root %q, want base58 %s", resp.State.Root, wire.PublicKey(man.Root))
		}
		w = httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", fmt.Sprintf("/v1/epochs/%d?owner=%s", testEpoch, wire.PublicKeyOf(seedKey("nobody"))), nil))
		if w.Code != 404 {
			t.Fatalf("unpaid owner: %d", w.Code)
		}
		var st HotspotStatus
		w = httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/v1/hotspots/"+hs.String(), nil))
		if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil || len(st.Rewards) != 1 || st.Rewards[0].Epoch != testEpoch {
			t.Fatalf("hotspot rewards %+v err %v", st.Rewards, err)
		}
	})
	crash := errors.New("simulated crash")
	for _, step := range []EpochStep{StepClosed, StepComputed, StepDistributed, StepDone} {
		t.Run(step.String(), func(t *testing.T) {
			dir := t.TempDir()
			seedEpochStore(t, dir)
			rw := &recordingRewarder{}
			err := runEpochUntil(t, dir, rw, func(n uint64, s EpochStep) error {
				if n == testEpoch && s == step {
					return crash
				}
				return nil
			})
			if !errors.Is(err, crash) {
				t.Fatalf("interrupted run returned %v, want the simulated crash", err)
			}
			if err := runEpochUntil(t, dir, rw, nil); err != nil {
				t.Fatal(err)
			}
			if got := readManifest(t, dir); !bytes.Equal(got, want) {
				t.Fatalf("manifest after a crash at %s differs from the uninterrupted one", step)
			}
			if len(rw.calls) == 0 || rw.calls[len(rw.calls)-1].Root != man.Root {
				t.Fatalf("payout not handed over after a crash at %s: %+v", step, rw.calls)
			}
			// The payout is handed over once: a crash after a step never
			// repeats a recorded hand-over.
			if len(rw.calls) != 1 {
				t.Fatalf("crash at %s: %d Distribute calls, want 1", step, len(rw.calls))
			}
		})
	}
}

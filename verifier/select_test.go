package verifier

import (
	"encoding/hex"
	"testing"
)

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// The selection vector of poc-rules §7.
func TestSelectionKeyVector(t *testing.T) {
	data := [32]byte(mustHex(t, "b6aa3f80d9355f139d998626b8d1ff1776cda36ae11a10006a8d516546276b09"))
	payload := mustHex(t, "ac5dae057696000fe733c884f22c63721151b03ecd34ed4f767c581f500a8e72d3f90ff99f96d85df26f2979cf0d3125d69314")
	want := []string{"172bb387", "725e5dae", "d8aeb5a4"}
	for i, w := range want {
		k := SelectionKey(data, payload, fill(byte(i+1)))
		if got := hex.EncodeToString(k[:4]); got != w {
			t.Errorf("key of %02x×32 starts %s, want %s", i+1, got, w)
		}
	}
}

// With more than 14 valid witnesses exactly 14 are selected, the ones
// with the smallest keys, and the choice does not depend on input order.
func TestSelectionPicksSmallestKeys(t *testing.T) {
	tw := newTown(t, 5)
	tw.grid("s", 47.3769, 8.5417, 5, 900, 200)
	tw.build()
	start := tw.p.EpochStart(testEpoch)
	tw.rounds(start-3*dayMs, start+tw.p.BeaconInterval.Milliseconds())
	res, err := EvaluateEpoch(tw.input(testEpoch))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, p := range res.PoCs {
		var valid []WitnessResult
		for _, w := range p.Witnesses {
			if w.Reason == ReasonNone {
				valid = append(valid, w)
			}
		}
		if len(valid) <= 14 {
			continue
		}
		checked++
		if p.Selected != 14 {
			t.Fatalf("selected %d of %d", p.Selected, len(valid))
		}
		var b *Beacon
		for i := range tw.beacons {
			if tw.beacons[i].ID == p.Beacon {
				b = &tw.beacons[i]
			}
		}
		e := newEngine(tw.p, &Registry{})
		ent := e.entropyOf(b.Report.Entropy)
		var maxSel, minUnsel [32]byte
		for i := range minUnsel {
			minUnsel[i] = 0xff
		}
		for _, w := range valid {
			k := SelectionKey(ent.data, b.Report.Payload, w.Hotspot)
			if w.Selected && cmpID(&k, &maxSel) > 0 {
				maxSel = k
			}
			if !w.Selected && cmpID(&k, &minUnsel) < 0 {
				minUnsel = k
			}
		}
		if cmpID(&maxSel, &minUnsel) >= 0 {
			t.Fatalf("a selected witness has a larger key than an unselected one")
		}
	}
	if checked == 0 {
		t.Fatal("no beacon had more than 14 valid witnesses")
	}
}

// sortByID: both paths (small and radix) sort by id, keep one report per
// id, and keep the earliest received_ms.
func TestSortByID(t *testing.T) {
	for _, n := range []int{50, 10_000} {
		type rep struct {
			id [32]byte
			ms int64
		}
		rs := make([]rep, n)
		for i := range rs {
			rs[i].id[0], rs[i].id[1], rs[i].id[2] = byte(i*7), byte(i*13), byte(i%(n/3+1))
			rs[i].id[3] = byte(i % (n/3 + 1) >> 8)
			rs[i].ms = int64(n - i)
		}
		// make every third report a copy of another id with a later time
		for i := 0; i+3 < n; i += 3 {
			rs[i+1].id = rs[i].id
			rs[i+1].ms = rs[i].ms + 5
		}
		got := sortByID(n, func(i int) (*[32]byte, int64, bool) { return &rs[i].id, rs[i].ms, true })
		seen := map[[32]byte]int64{}
		for _, r := range rs {
			if m, ok := seen[r.id]; !ok || r.ms < m {
				seen[r.id] = r.ms
			}
		}
		if len(got) != len(seen) {
			t.Fatalf("n=%d: %d kept, want %d", n, len(got), len(seen))
		}
		for j, i := range got {
			if rs[i].ms != seen[rs[i].id] {
				t.Fatalf("n=%d: kept a later copy", n)
			}
			if j > 0 && cmpID(&rs[got[j-1]].id, &rs[i].id) >= 0 {
				t.Fatalf("n=%d: not sorted", n)
			}
		}
	}
}

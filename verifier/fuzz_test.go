package verifier

import (
	"crypto/sha256"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/wire"
)

// FuzzVerifyPoC feeds arbitrary beacon and witness fields through the
// checks: no panic, and the outcome does not depend on the witness order.
func FuzzVerifyPoC(f *testing.F) {
	tw := smallTown(f)
	reg, err := NewRegistry(tw.registry())
	if err != nil {
		f.Fatal(err)
	}
	hist := NewHistory(tw.p, reg, tw.beacons, tw.witnesses)
	ms := tw.p.EpochStart(testEpoch) + hourMs
	base := tw.makeBeacon(tw.by["a"], ms)
	f.Add(base.Report.Payload, base.Report.Nonce, base.Report.FrequencyHz, base.Report.Datarate, int32(10), int64(300), int32(-1000), int32(150), true, int32(-1000), "SF12BW125", uint64(0))
	f.Add([]byte{1}, []byte{}, uint64(0), "SF99", int32(-1<<31), int64(-1<<62), int32(1<<30), int32(-1<<31), false, int32(0), "", uint64(1<<63))
	f.Fuzz(func(t *testing.T, payload, nonce []byte, freq uint64, dr string, power int32, lag int64,
		rssi, snr int32, hasRSSIS bool, rssis int32, wdr string, wfreq uint64) {
		b := base
		b.Report = proto.Clone(base.Report).(*wire.BeaconReport)
		b.Report.Nonce = nonce
		b.Report.FrequencyHz = freq
		b.Report.Datarate = dr
		b.Report.TxPowerDbm = power
		if len(payload) > 0 {
			b.Report.Payload = payload
		}
		mk := func(name string, l int64) Witness {
			r := &wire.WitnessReport{PubKey: tw.by[name].key[:], Payload: b.Report.Payload, FrequencyHz: wfreq,
				Datarate: wdr, RssiDdbm: rssi, SnrDdb: snr}
			if hasRSSIS {
				r.RssisDdbm = &rssis
			}
			return Witness{ID: sha256.Sum256([]byte(name)), ReceivedMs: ms + l, Report: r}
		}
		ws := []Witness{mk("b", lag), mk("c", lag/2), mk("d", 0)}
		p1 := VerifyPoC(tw.p, b, ws, reg, hist)
		p2 := VerifyPoC(tw.p, b, []Witness{ws[2], ws[0], ws[1]}, reg, hist)
		if p1.Reason != p2.Reason || len(p1.Witnesses) != len(p2.Witnesses) || p1.Selected != p2.Selected {
			t.Fatalf("order changed the outcome: %+v vs %+v", p1, p2)
		}
		for i := range p1.Witnesses {
			if p1.Witnesses[i].Reason != p2.Witnesses[i].Reason {
				t.Fatalf("order changed witness %d", i)
			}
		}
	})
}

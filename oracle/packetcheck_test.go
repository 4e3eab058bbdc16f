package oracle

import (
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/hexfield/hexfield/wire"
)

// TestIngestChecksPacketReports: packet reports that could never be
// charged (routing.md §7) are refused at ingest and not stored, each with
// its reason; valid data uplinks and joins of a route are stored, and a
// route created after the oracle started is taken at once.
func TestIngestChecksPacketReports(t *testing.T) {
	to := startOracle(t, t.TempDir(), Config{}, Deps{})
	o := to.o
	packetRoute(t, o)
	hs, _ := onboardHotspot(t, o, time.Now(), 0)
	hc := dialOracle(t, to.quic, hs, o.PublicKey())
	pub := wire.PublicKeyOf(hs)
	seq := uint64(0)
	report := func(phy []byte, edit func(*wire.PacketReport)) []byte {
		seq++
		sum := sha256.Sum256(phy)
		r := &wire.PacketReport{PubKey: pub[:], PayloadHash: sum[:], PayloadSize: uint32(len(phy)), Payload: phy,
			RouteId: "route-1", Datarate: "SF7BW125", TimestampMs: seq}
		if edit != nil {
			edit(r)
		}
		raw, err := wire.Seal(hs, wire.Kind_KIND_PACKET_REPORT, r)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	join := func(joinEUI, devEUI uint64) []byte {
		b := []byte{0x00}
		b = binary.LittleEndian.AppendUint64(b, joinEUI)
		b = binary.LittleEndian.AppendUint64(b, devEUI)
		return append(b, 0x01, 0x02, 0xde, 0xad, 0xbe, 0xef) // DevNonce, MIC
	}
	data := testUplink(testPacketDevAddr, 7, 23)
	downlink := append([]byte{0x60}, data[1:]...) // unconfirmed data down
	huge := make([]byte, 256)
	copy(huge, data)
	for _, tc := range []struct {
		name, want string
		env        []byte
	}{
		{"no payload", "payload of 0 bytes", report(nil, func(r *wire.PacketReport) { r.PayloadSize = 23 })},
		{"payload over 255 bytes", "payload of 256 bytes", report(huge, nil)},
		{"false hash", "payload_hash", report(data, func(r *wire.PacketReport) { r.PayloadHash = make([]byte, 32) })},
		{"false size", "payload_size 4294967295", report(data, func(r *wire.PacketReport) { r.PayloadSize = 1<<32 - 1 })},
		{"not LoRaWAN", "not a LoRaWAN uplink", report([]byte("hello, oracle"), nil)},
		{"a downlink", "not a LoRaWAN uplink", report(downlink, nil)},
		{"unknown route", `no route "nope"`, report(data, func(r *wire.PacketReport) { r.RouteId = "nope" })},
		{"DevAddr outside the route", "does not hold DevAddr 26011234", report(testUplink(0x26011234, 1, 23), nil)},
		{"join without an EUI pair", "no EUI pair", report(join(0x70b3d57ed0000001, 0x1122), nil)},
	} {
		a := hc.submit(t, tc.env)
		if a.GetCode() != wire.Code_CODE_MALFORMED || !strings.Contains(a.GetMessage(), tc.want) {
			t.Errorf("%s: ack %v %q, want MALFORMED with %q", tc.name, a.GetCode(), a.GetMessage(), tc.want)
		}
		if _, stored, err := o.store.Report(wire.ReportID(tc.env)); err != nil || stored {
			t.Errorf("%s: stored %v (%v)", tc.name, stored, err)
		}
	}
	if a := hc.submit(t, report(data, nil)); a.GetCode() != wire.Code_CODE_OK {
		t.Fatalf("valid data uplink: %v %s", a.GetCode(), a.GetMessage())
	}

	// A second organization's route with EUI pairs, created now: a join
	// of its JoinEUI is taken for the listed DevEUI, and for any DevEUI
	// under the wildcard pair.
	owner := testKey(t)
	res, err := change(t, o, owner, &wire.OrgChange{Org: "joins", Op: createOp(owner, wire.PublicKeyOf(owner), nil)})
	if err != nil {
		t.Fatal(err)
	}
	b := res.Org.DevAddrBlocks[0]
	op := putRouteOp("route-2", uint32(b.Start), uint32(b.End))
	op.PutRoute.EuiPairs = []*wire.EUIPair{{JoinEui: 0x70b3d57ed0000002, DevEui: 0x1122}, {JoinEui: 0x70b3d57ed0000003}}
	if _, err := change(t, o, owner, &wire.OrgChange{Org: "joins", Op: op}); err != nil {
		t.Fatal(err)
	}
	onRoute2 := func(r *wire.PacketReport) { r.RouteId, r.Join = "route-2", true }
	for _, tc := range []struct {
		name            string
		joinEUI, devEUI uint64
		ok              bool
	}{
		{"listed pair", 0x70b3d57ed0000002, 0x1122, true},
		{"other DevEUI of a listed JoinEUI", 0x70b3d57ed0000002, 0x3344, false},
		{"wildcard DevEUI", 0x70b3d57ed0000003, 0x5566, true},
		{"unlisted JoinEUI", 0x70b3d57ed0000004, 0x1122, false},
	} {
		a := hc.submit(t, report(join(tc.joinEUI, tc.devEUI), onRoute2))
		if got := a.GetCode() == wire.Code_CODE_OK; got != tc.ok {
			t.Errorf("join, %s: ack %v %q, want ok %v", tc.name, a.GetCode(), a.GetMessage(), tc.ok)
		}
	}
}

package e2e

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/brocaar/lorawan"

	"github.com/hexfield/hexfield/hotspot"
	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/radio/sim"
	"github.com/hexfield/hexfield/verifier"
	"github.com/hexfield/hexfield/wire"
)

// customerEpoch is the epoch of the customer test: short, so that a
// charged epoch closes within the test.
const customerEpoch = 30 * time.Second

// TestCustomerUplinksCharged: an IoT customer's organization has a route
// with max_copies 2 to its LNS (radio/sim's test LNS, checking MICs and
// counters) and data credits granted by the operator, on two oracles.
// Four hotspots hear an ABP sensor's confirmed uplinks and forward each to
// the LNS; their packet reports reach both oracles. When the epoch closes,
// each oracle charges exactly 2 copies per uplink, the same 2 hotspots on
// both, and the numbers add up: the route's charge is its copies' DC, the
// payer's balance drops by exactly that, the hotspots' DC sum to it, and
// the data-transfer pool is the DC at the peg (below the cap) split over
// those hotspots. Hotspots without proof of coverage may win copies here
// (charge_without_poc, as in a private network): the PoC rule is
// verifier's TestChargingDeniedHotspotEarnsNothing.
func TestCustomerUplinksCharged(t *testing.T) {
	operator, _ := wire.GenerateKey()
	edit := func(c *oracle.Config) {
		c.EpochLength, c.EpochGrace = customerEpoch, 2*time.Second
		c.ChargeWithoutPoC = true
		c.OperatorKeys = []string{wire.PublicKeyOf(operator).String()}
	}
	a, b := startOracleWith(t, "a", edit), startOracleWith(t, "b", edit)
	w := newWorld(t, 7)

	lns := startLNS(t, sim.LNSConfig{})
	ctx := context.Background()

	// The customer: organization, route and data credits, each signed
	// change sent to both oracles as the CLI does.
	owner, _ := wire.GenerateKey()
	const granted = 1_000_000
	devAddr := lorawan.DevAddr{0x02, 0x00, 0x00, 0x05}
	registerCustomer(t, []*oracleNode{a, b}, customer{org: "acme", route: "sensors", start: 0x02000000, maxCopies: 2,
		owner: owner, operator: operator, dc: granted, lns: lns.Addr().String()})

	offsets := [][2]float64{{0, 0}, {0.006, 0}, {0, 0.009}, {0.006, 0.009}}
	for i, d := range offsets {
		s := w.addSite(string(rune('a'+i)), d[0], d[1], a, b)
		s.startHotspot(t, hotspot.Config{}, a, b)
	}
	waitRegion(t, w.sites...)
	waitFor(t, "every hotspot has the customer's route", 2*time.Minute, func() bool {
		for _, s := range w.sites {
			if s.h.Status().Routing.Active < 1 {
				return false
			}
		}
		return true
	})

	nwk, app := lorawan.AES128Key{7, 1}, lorawan.AES128Key{7, 2}
	devEUI := lorawan.EUI64{0x70, 0xb3, 0xd5, 0x7e, 0xd0, 0, 0, 7}
	if err := lns.AddABP(sim.ABPDevice{DevEUI: devEUI, DevAddr: devAddr, NwkSKey: nwk, AppSKey: app}); err != nil {
		t.Fatal(err)
	}
	sensor, err := sim.NewSensor(w.medium, sim.SensorConfig{
		Device: sim.DeviceConfig{Radio: sim.RadioConfig{Name: "sensor", Lat: 52.373, Lng: 4.8945, Elevation: 2}},
		DevEUI: devEUI, ABP: true, DevAddr: devAddr, NwkSKey: nwk, AppSKey: app,
		RXWindow: 500 * time.Millisecond, // real timers on a loaded machine
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sensor.Close)

	// Three confirmed uplinks well inside one epoch.
	e := uint64(time.Now().Add(time.Second).UnixMilli()/customerEpoch.Milliseconds()) + 1
	start := time.UnixMilli(int64(e) * customerEpoch.Milliseconds())
	time.Sleep(time.Until(start.Add(time.Second)))
	const uplinks = 3
	acked := 0
	for i := range uplinks {
		res, err := sensor.Uplink(ctx, 1, []byte{byte(i), 0x42}, true)
		if err != nil {
			t.Fatal(err)
		}
		if res.Downlink != nil && res.Downlink.ACK {
			acked++
		}
	}
	if end := start.Add(customerEpoch); time.Now().After(end) {
		t.Skipf("the uplinks took until %v, past the epoch's end %v (machine too slow for a %v epoch)", time.Now(), end, customerEpoch)
	}
	// The LNS counts the copies that arrive within its dedup delay; under
	// load later ones are refused as replays, so only the uplinks are
	// checked here, and the copies at the oracles.
	waitFor(t, "the LNS has every uplink", 2*time.Minute, func() bool { return len(lns.Uplinks()) == uplinks })
	t.Logf("LNS: %d uplinks (%d ACKed at the sensor), copies %v", uplinks, acked, copiesOf(lns.Uplinks()))

	var ms [2]*verifier.Manifest
	for i, o := range []*oracleNode{a, b} {
		var r oracle.EpochResponse
		waitFor(t, "epoch's manifest on oracle "+o.name, 3*time.Minute, func() bool {
			r, err = o.client().Epoch(ctx, e, wire.PublicKey{})
			return err == nil && r.Manifest != nil
		})
		m := r.Manifest
		ms[i] = m
		if len(m.Charges) != 1 || m.Charges[0].Route != "sensors" || m.Charges[0].Payer != wire.PublicKeyOf(owner) {
			t.Fatalf("oracle %s charges %+v", o.name, m.Charges)
		}
		c := m.Charges[0]
		if c.Copies != 2*uplinks {
			t.Fatalf("oracle %s charged %d copies of %d uplinks with max_copies 2", o.name, c.Copies, uplinks)
		}
		var dc, transfer uint64
		earners := 0
		for _, h := range m.Hotspots {
			dc += h.DC
			transfer += h.DataTransfer
			if h.DC > 0 {
				earners++
			}
		}
		if dc != c.DC || m.DC != c.DC || c.DC == 0 {
			t.Fatalf("oracle %s: route charged %d DC, hotspots' DC sum to %d, manifest DC %d", o.name, c.DC, dc, m.DC)
		}
		if m.DataTransferOwed != c.DC*m.TokensPerDC.Num/m.TokensPerDC.Den || m.DataTransfer != m.DataTransferOwed || transfer > m.DataTransfer || m.DataTransfer-transfer >= uint64(earners) {
			t.Fatalf("oracle %s: %d DC at %d/%d owe %d, pool %d, paid to hotspots %d over %d earners", o.name, c.DC,
				m.TokensPerDC.Num, m.TokensPerDC.Den, m.DataTransferOwed, m.DataTransfer, transfer, earners)
		}
		waitFor(t, "the payer debited on oracle "+o.name, time.Minute, func() bool {
			bal, err := o.client().DCBalance(ctx, wire.PublicKeyOf(owner), 0)
			return err == nil && bal.Balance == granted-c.DC
		})
	}
	for i := range ms[0].Hotspots {
		x, y := ms[0].Hotspots[i], ms[1].Hotspots[i]
		if x.Hotspot != y.Hotspot || x.DC != y.DC || x.DataTransfer != y.DataTransfer {
			t.Fatalf("the oracles paid data transfer differently: %+v and %+v", x, y)
		}
	}
	t.Logf("epoch %d: %d copies charged, %d DC, data transfer %d, the same on both oracles", e, ms[0].Charges[0].Copies, ms[0].DC, ms[0].DataTransfer)
}

// customer is an IoT customer for registerCustomer: organization org,
// owned and paid by owner, with the DevAddr block from start, route id
// (max_copies copies) to the LNS at lns, and dc data credits granted by
// operator (none when dc is 0: the owner buys them on chain).
type customer struct {
	org, route      string
	start           uint32
	maxCopies       uint32
	owner, operator ed25519.PrivateKey
	dc              uint64
	lns             string
}

// registerCustomer sends c's signed changes and grant (if any) to every
// oracle, as the CLI does.
func registerCustomer(tb testing.TB, oracles []*oracleNode, c customer) {
	tb.Helper()
	ctx := context.Background()
	pub := wire.PublicKeyOf(c.owner)
	now := time.Now()
	create, err := oracle.NewOrgChange(c.owner, &wire.OrgChange{Org: c.org, Nonce: 1, Op: &wire.OrgChange_Create{
		Create: &wire.OrgCreate{Owner: pub[:], Payer: pub[:], Devaddr: &wire.DevAddrBlocks{Start: &c.start, Count: 1}}}}, now)
	if err != nil {
		tb.Fatal(err)
	}
	route, err := oracle.NewOrgChange(c.owner, &wire.OrgChange{Org: c.org, Nonce: 2, Op: &wire.OrgChange_PutRoute{PutRoute: &wire.RouteSpec{
		Id: c.route, Active: true, MaxCopies: c.maxCopies,
		Lns:           []*wire.LNSEndpoint{{Region: "default", Addr: c.lns}},
		DevaddrRanges: []*wire.DevAddrRange{{Start: c.start, End: c.start + 7}},
	}}}, now)
	if err != nil {
		tb.Fatal(err)
	}
	for _, o := range oracles {
		for _, req := range []oracle.OrgChangeRequest{create, route} {
			if _, err := o.client().OrgChange(ctx, req); err != nil {
				tb.Fatalf("oracle %s: %v", o.name, err)
			}
		}
	}
	if c.dc == 0 {
		return
	}
	grant, err := oracle.NewGrantRequest(c.operator, pub, c.dc, []byte("e2e grant for org "+c.org), now)
	if err != nil {
		tb.Fatal(err)
	}
	for _, o := range oracles {
		if _, err := o.client().Grant(ctx, grant); err != nil {
			tb.Fatalf("oracle %s: %v", o.name, err)
		}
	}
}

func copiesOf(ups []sim.LNSUplink) []int {
	out := make([]int, len(ups))
	for i, u := range ups {
		out[i] = u.Copies
	}
	return out
}

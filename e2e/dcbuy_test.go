package e2e

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/brocaar/lorawan"

	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/oracle/solana"
	"github.com/hexfield/hexfield/oracle/solana/localnet"
	"github.com/hexfield/hexfield/radio/sim"
	"github.com/hexfield/hexfield/verifier"
	"github.com/hexfield/hexfield/wire"
)

const (
	// dcEpoch is the epoch of the DC test: short, so that several close
	// within the test. One DevAddr is charged for at most 1 % of an epoch
	// (300 ms of airtime, about four of the test's frames at SF7), so each
	// sensor sends at most two uplinks an epoch.
	dcEpoch = 30 * time.Second
	// dcBought and dcTopUp are the customer's purchases before and after
	// the oracle's kill, in base units of the payment token; at
	// dc_per_base_unit 1 they buy as many DC.
	dcBought = 5_000_000
	dcTopUp  = 1_000_000
	// dcRoute is the customer's route; it pays for dcMaxCopies copies.
	dcRoute     = "sensors"
	dcMaxCopies = 2
)

// TestDCBoughtChargedOnceAcrossOracleKill is the customer's money path end
// to end (routing.md §4, §7), on the real local chain and the oracled and
// hotspotd binaries: a wallet buys DC with an SPL transfer to the DC
// treasury carrying the memo hexfield-dc:<wallet> (the code of `hexfield
// dc buy`), the oracle's watcher credits it, the wallet's organization
// routes two ABP sensors heard by three hotspots to the test LNS with
// max_copies 2, and each closed epoch charges the delivered copies. The
// oracle is killed with SIGKILL after one epoch was charged and, unless
// the machine is slow enough to let it close first (the log says), while
// the next one's reports are stored but not yet charged; it restarts on
// the same data directory, the wallet buys again and more traffic follows.
// At the end each purchase is credited once, each epoch charges exactly
// min(max_copies, copies delivered) × DC per uplink, the wallet's ledger
// holds each purchase and each epoch's charge once, and its balance is
// what it bought minus what it was charged.
func TestDCBoughtChargedOnceAcrossOracleKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the local chain, oracled and three hotspotd processes for several epochs")
	}
	ctx := context.Background()
	chain := localnet.StartForTest(t)
	wallet, _ := wire.GenerateKey() // the customer: organization owner, payer and token holder
	pub := wire.PublicKeyOf(wallet)
	treasury := newDCTreasury(t, chain, pub, 100_000_000)
	o, proc := newOracledProcess(t, "oracle", chainOracleConfig(t, chain)+fmt.Sprintf(`epoch_length = %q
epoch_grace = "15s"
beacon_interval = "10s"
entropy_period = "2s"
entropy_lifetime = "10s"
verify_interval = "1s"
charge_without_poc = true
dc_treasury = %q
dc_poll_interval = "500ms"
`, dcEpoch, treasury))
	proc.start()
	defer func() {
		if t.Failed() {
			t.Logf("oracled log (tail):\n%s", proc.log())
		}
	}()
	o.waitServing(t)

	lns := startLNS(t, sim.LNSConfig{})
	w := newWorld(t, 11)
	var hotspots []*daemon
	for i, d := range [][2]float64{{0, 0}, {0.006, 0}, {0, 0.009}} {
		s := w.addSite(string(rune('a'+i)), d[0], d[1], o)
		hotspots = append(hotspots, s.startHotspotd(t, []*oracleNode{o}, "--beacon-interval", "24h", "--outbox-sync-interval", "50ms"))
	}

	// The purchase, exactly as `hexfield dc buy` makes it.
	buyer := solana.NewChain(chain.URL())
	sig1, err := buyer.BuyDC(ctx, wallet, treasury, dcBought, pub)
	if err != nil {
		t.Fatal(err)
	}
	p1 := o.waitPurchase(t, sig1)
	if p1.Wallet != pub.String() || p1.Amount != dcBought || p1.DC != dcBought {
		t.Fatalf("purchase %s credited as %+v, want %d DC to %s", sig1, p1, dcBought, pub)
	}
	if bal, err := o.client().DCBalance(ctx, pub, 0); err != nil || bal.Balance != dcBought {
		t.Fatalf("balance after the purchase: %+v, %v", bal, err)
	}

	registerCustomer(t, []*oracleNode{o}, customer{org: "acme", route: dcRoute, start: 0x02000000, maxCopies: dcMaxCopies,
		owner: wallet, lns: lns.Addr().String()})
	waitFor(t, "every hotspot has the customer's route", 2*time.Minute, func() bool {
		for _, d := range hotspots {
			if st, err := d.statusNow(); err != nil || st.Routing.Active < 1 {
				return false
			}
		}
		return true
	})
	sensors := dcSensors(t, w.medium, lns, 2)
	tr := &dcTraffic{t: t, lns: lns, hotspots: hotspots, sensors: sensors}

	// Phase 1: the organization, its route, the hotspots and the balance
	// are in the registry snapshot of the next epoch: traffic from then on
	// is charged. Wait until that traffic's epochs are charged.
	from1 := waitNextEpoch(dcEpoch)
	frames1 := tr.send(2)
	to1 := tr.settle()
	want1 := tr.cost(frames1)
	got1 := o.routeCharges(t, from1, to1)

	// Phase 2: traffic whose reports the oracle has stored but not yet
	// charged when it is killed with SIGKILL.
	from2 := epochOfTime(time.Now(), dcEpoch)
	frames2 := tr.send(1)
	killed := tr.settle()
	uncharged := 0 // phase 2's epochs not charged yet at the kill
	for e := from2; e <= killed; e++ {
		if r, err := o.client().Epoch(ctx, e, wire.PublicKey{}); err != nil || r.Manifest == nil {
			uncharged++
		}
	}
	proc.kill9(t)
	t.Logf("oracled killed in epoch %d, with %d of phase 2's epochs so far (%d–%d) not yet charged", killed, uncharged, from2, killed)
	restarted := time.Now().Truncate(time.Second)
	proc.start()
	o.waitServing(t)
	// The watcher reads the treasury again after the restart: the first
	// purchase stays credited once (its record is the one written before
	// the kill) and a second one is credited.
	if p, err := o.client().DCPurchase(ctx, sig1); err != nil || p != p1 {
		t.Fatalf("purchase %s after the restart: %+v (%v), before it %+v", sig1, p, err, p1)
	}
	sig2, err := buyer.BuyDC(ctx, wallet, treasury, dcTopUp, pub)
	if err != nil {
		t.Fatal(err)
	}
	if p2 := o.waitPurchase(t, sig2); p2.Wallet != pub.String() || p2.DC != dcTopUp {
		t.Fatalf("purchase %s credited as %+v, want %d DC to %s", sig2, p2, dcTopUp, pub)
	}
	// The hotspots notice the dead connection (QUIC idle timeout) and dial
	// the new process; then more traffic, so that every copy of an uplink
	// reaches the oracle at about the same time.
	waitFor(t, "every hotspot reconnected to the restarted oracle", 3*time.Minute, func() bool {
		for _, d := range hotspots {
			st, err := d.statusNow()
			if err != nil || len(st.Oracles) == 0 || !st.Oracles[0].Connected {
				return false
			}
			since, err := time.Parse(time.RFC3339, st.Oracles[0].Since)
			if err != nil || since.Before(restarted) {
				return false
			}
		}
		return true
	})
	frames2 = append(frames2, tr.send(1)...)
	to2 := tr.settle()
	want2 := tr.cost(frames2)
	got2 := o.routeCharges(t, from2, to2)

	for i, c := range []struct {
		from, to   uint64
		want, got  dcCharge
		uplinks    int
		perEpochDC map[uint64]uint64
	}{{from1, to1, want1, got1.total, len(frames1), got1.epochs}, {from2, to2, want2, got2.total, len(frames2), got2.epochs}} {
		t.Logf("phase %d: %d uplinks, %d copies delivered, costing %d copies, %d DC at max_copies %d; epochs %d–%d charged %d copies, %d DC (per epoch %v)",
			i+1, c.uplinks, c.want.delivered, c.want.copies, c.want.dc, dcMaxCopies, c.from, c.to, c.got.copies, c.got.dc, c.perEpochDC)
		if c.got.copies != c.want.copies || c.got.dc != c.want.dc {
			t.Errorf("phase %d: epochs %d–%d charged %d copies, %d DC; the delivered copies cost %d copies, %d DC",
				i+1, c.from, c.to, c.got.copies, c.got.dc, c.want.copies, c.want.dc)
		}
	}
	charges := mergeEpochs(got1.epochs, got2.epochs)
	checkDCLedger(t, o, pub, map[string]uint64{sig1: dcBought, sig2: dcTopUp}, charges)
}

// dcCharge is what a route was charged, or what delivered copies cost.
type dcCharge struct {
	delivered uint32 // copies the LNS got (only for a cost)
	copies    uint32
	dc        uint64
}

// dcTraffic is the DC test's traffic: sensors heard by hotspots that
// forward to the LNS.
type dcTraffic struct {
	t        *testing.T
	lns      *sim.LNS
	hotspots []*daemon
	sensors  []*sim.Sensor
	n        int // uplinks sent so far, which numbers their payloads
}

// send makes each sensor send n unconfirmed uplinks of 33 bytes (2 DC a
// copy) and returns the frames sent.
func (tr *dcTraffic) send(n int) [][]byte {
	tr.t.Helper()
	var frames [][]byte
	for range n {
		for _, s := range tr.sensors {
			tr.n++
			payload := fmt.Appendf(nil, "reading %04d of the test.", tr.n)[:20]
			res, err := s.Uplink(context.Background(), 1, payload, false)
			if err != nil {
				tr.t.Fatal(err)
			}
			frames = append(frames, res.Frame)
		}
	}
	return frames
}

// settle waits until the LNS has every copy the hotspots forwarded and the
// oracle has acknowledged every hotspot's packet reports, and returns the
// epoch it is then: every report of the traffic so far was received in an
// epoch up to that one.
func (tr *dcTraffic) settle() uint64 {
	t := tr.t
	t.Helper()
	waitFor(t, "the LNS has every copy the hotspots forwarded", 2*time.Minute, func() bool {
		var forwarded float64
		for _, d := range tr.hotspots {
			forwarded += labelCount(scrape(t, d.status), "hexfield_hotspot_lns_uplinks_total", "result", "forwarded")
		}
		return float64(tr.delivered(nil)) == forwarded
	})
	waitFor(t, "the oracle acknowledged every packet report", 3*time.Minute, func() bool {
		for _, d := range tr.hotspots {
			if st, err := d.statusNow(); err != nil || st.Outbox.Reports != 0 {
				return false
			}
		}
		return true
	})
	return epochOfTime(time.Now(), dcEpoch)
}

// delivered counts the copies of frame that reached the LNS: those it
// took within its dedup delay and those it refused after it (as replays
// of the frame counter). frame nil counts every frame's.
func (tr *dcTraffic) delivered(frame []byte) int {
	n := 0
	for _, u := range tr.lns.Uplinks() {
		if frame == nil || bytes.Equal(u.RXPK.Data, frame) {
			n += u.Copies
		}
	}
	for _, r := range tr.lns.Rejections() {
		if frame == nil || bytes.Equal(r.Frame, frame) {
			n++
		}
	}
	return n
}

// cost is what the frames' delivered copies cost the route: per uplink,
// max_copies of them at most, each max(1, ⌈bytes / 24⌉) DC.
func (tr *dcTraffic) cost(frames [][]byte) dcCharge {
	tr.t.Helper()
	var c dcCharge
	for _, f := range frames {
		n := tr.delivered(f)
		if n == 0 {
			tr.t.Fatalf("no copy of uplink %x reached the LNS", f)
		}
		copies := min(uint32(n), dcMaxCopies)
		c.delivered += uint32(n)
		c.copies += copies
		c.dc += uint64(copies) * verifier.DataCredits(len(f), verifier.DefaultParams().BytesPerDC)
	}
	return c
}

// dcSensors registers n ABP sensors with the LNS, with DevAddrs in the
// customer's block, and places them among the hotspots.
func dcSensors(t *testing.T, m *sim.Medium, lns *sim.LNS, n int) []*sim.Sensor {
	t.Helper()
	var out []*sim.Sensor
	for i := range n {
		devAddr := lorawan.DevAddr{0x02, 0, 0, byte(1 + i)}
		devEUI := lorawan.EUI64{0x70, 0xb3, 0xd5, 0x7e, 0xd0, 0, 0xdc, byte(i)}
		nwk, app := lorawan.AES128Key{0xdc, byte(i), 1}, lorawan.AES128Key{0xdc, byte(i), 2}
		if err := lns.AddABP(sim.ABPDevice{DevEUI: devEUI, DevAddr: devAddr, NwkSKey: nwk, AppSKey: app}); err != nil {
			t.Fatal(err)
		}
		s, err := sim.NewSensor(m, sim.SensorConfig{
			Device: sim.DeviceConfig{Radio: sim.RadioConfig{Name: fmt.Sprintf("sensor-%d", i), Lat: 52.372, Lng: 4.893 + 0.001*float64(i), Elevation: 2}},
			DevEUI: devEUI, ABP: true, DevAddr: devAddr, NwkSKey: nwk, AppSKey: app,
			RXWindow: 500 * time.Millisecond, // real timers on a loaded machine
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		out = append(out, s)
	}
	return out
}

// epochCharges are the charges of the DC test's route over a range of
// epochs: in total and per epoch (DC).
type epochCharges struct {
	total  dcCharge
	epochs map[uint64]uint64
}

// routeCharges waits until epochs from..to are charged and returns what
// they charged the DC test's route.
func (n *oracleNode) routeCharges(t *testing.T, from, to uint64) epochCharges {
	t.Helper()
	out := epochCharges{epochs: map[uint64]uint64{}}
	for e := from; e <= to; e++ {
		var m *verifier.Manifest
		waitFor(t, fmt.Sprintf("epoch %d's manifest", e), 3*time.Minute, func() bool {
			r, err := n.client().Epoch(context.Background(), e, wire.PublicKey{})
			m = r.Manifest
			return err == nil && m != nil
		})
		for _, c := range m.Charges {
			if c.Route != dcRoute {
				t.Fatalf("epoch %d charged route %q: %+v", e, c.Route, m.Charges)
			}
			out.total.copies += c.Copies
			out.total.dc += c.DC
			out.epochs[e] += c.DC
		}
	}
	return out
}

func mergeEpochs(ms ...map[uint64]uint64) map[uint64]uint64 {
	out := map[uint64]uint64{}
	for _, m := range ms {
		for e, dc := range m {
			out[e] += dc
		}
	}
	return out
}

// checkDCLedger checks wallet's ledger on n: each purchase (signature →
// DC) credited once, each epoch's charge (epoch → DC, where non-zero)
// debited once, nothing else, and the balance what is left.
func checkDCLedger(t *testing.T, n *oracleNode, wallet wire.PublicKey, purchases map[string]uint64, charges map[uint64]uint64) {
	t.Helper()
	bal, err := n.client().DCBalance(context.Background(), wallet, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var bought, charged uint64
	for _, dc := range purchases {
		bought += dc
	}
	for _, dc := range charges {
		charged += dc
	}
	seen := map[string]bool{}
	for _, e := range bal.Entries {
		key := e.Kind + " " + e.Ref
		if seen[key] {
			t.Errorf("ledger entry %q twice: %+v", key, bal.Entries)
		}
		seen[key] = true
		switch e.Kind {
		case "purchase":
			if dc, ok := purchases[e.Ref]; !ok || e.Credit != dc || e.Debit != 0 {
				t.Errorf("purchase entry %+v; the purchases are %v", e, purchases)
			}
		case "charge":
			var epoch uint64
			if _, err := fmt.Sscanf(e.Ref, "epoch %d route "+dcRoute, &epoch); err != nil || charges[epoch] != e.Debit || e.Credit != 0 {
				t.Errorf("charge entry %+v; the epochs charged %v", e, charges)
			}
		default:
			t.Errorf("unexpected ledger entry %+v", e)
		}
	}
	wantEntries := len(purchases)
	for _, dc := range charges {
		if dc > 0 {
			wantEntries++
		}
	}
	if len(bal.Entries) != wantEntries {
		t.Errorf("%d ledger entries, want %d (%d purchases, charges %v): %+v", len(bal.Entries), wantEntries, len(purchases), charges, bal.Entries)
	}
	if bal.Credited != bought || bal.Debited != charged || bal.Balance != bought-charged {
		t.Errorf("wallet %s: balance %d, credited %d, debited %d; bought %d, charged %d", wallet, bal.Balance, bal.Credited, bal.Debited, bought, charged)
	}
	t.Logf("wallet %s: bought %d DC in %d purchases, charged %d DC over epochs %v, balance %d", wallet, bought, len(purchases), charged, charges, bal.Balance)
}

// waitPurchase waits until n has read treasury transaction sig from the
// chain and returns how it credited it.
func (n *oracleNode) waitPurchase(t *testing.T, sig string) oracle.DCPurchase {
	t.Helper()
	var p oracle.DCPurchase
	waitFor(t, "the oracle read purchase "+sig, 2*time.Minute, func() bool {
		var err error
		p, err = n.client().DCPurchase(context.Background(), sig)
		return err == nil
	})
	return p
}

func epochOfTime(at time.Time, length time.Duration) uint64 {
	return uint64(at.UnixMilli() / length.Milliseconds())
}

// waitNextEpoch waits until a second into the next epoch and returns it.
// Charging reads the registry (routes, balances, hotspots) as it was at an
// epoch's start, so what was registered now counts from the next epoch on.
func waitNextEpoch(length time.Duration) uint64 {
	e := epochOfTime(time.Now(), length) + 1
	time.Sleep(time.Until(time.UnixMilli(int64(e) * length.Milliseconds()).Add(time.Second)))
	return e
}

// newDCTreasury sets up DC payment on the local chain as the devnet does:
// the payment token's mint and the network's treasury token account,
// written directly as a faucet would, and buyer's token account holding
// tokens, with SOL for fees. It returns the treasury.
func newDCTreasury(t *testing.T, chain *localnet.Server, buyer wire.PublicKey, tokens uint64) wire.PublicKey {
	t.Helper()
	ctx := context.Background()
	mintKey, _ := wire.GenerateKey()
	authority, _ := wire.GenerateKey()
	treasuryOwner, _ := wire.GenerateKey()
	mint := wire.PublicKeyOf(mintKey)
	if err := chain.SetMint(ctx, mint.String(), wire.PublicKeyOf(authority), 6, 1e15); err != nil {
		t.Fatal(err)
	}
	treasury := tokenAccount(t, chain, mint, wire.PublicKeyOf(treasuryOwner), 0)
	tokenAccount(t, chain, mint, buyer, tokens)
	airdrop(t, chain, buyer, 1_000_000_000)
	return treasury
}

// tokenAccount writes owner's associated token account of mint, holding
// amount, and returns its address.
func tokenAccount(t *testing.T, chain *localnet.Server, mint, owner wire.PublicKey, amount uint64) wire.PublicKey {
	t.Helper()
	a, err := solana.AssociatedTokenAddress(owner, mint)
	if err != nil {
		t.Fatal(err)
	}
	if err := chain.SetTokenAccount(context.Background(), wire.PublicKey(a).String(), mint, owner, amount); err != nil {
		t.Fatal(err)
	}
	return a
}

func airdrop(t *testing.T, chain *localnet.Server, to wire.PublicKey, lamports uint64) {
	t.Helper()
	var sig string
	if err := chain.Call(context.Background(), "requestAirdrop", []any{to.String(), lamports}, &sig); err != nil {
		t.Fatalf("airdrop to %s: %v", to, err)
	}
}

// chainOracleConfig funds a fee payer and a reward distributor key on
// chain and returns the config lines that make an oracle use them and the
// chain.
func chainOracleConfig(t *testing.T, chain *localnet.Server) string {
	t.Helper()
	dir := t.TempDir()
	var files []string
	for _, name := range []string{"solana-payer.json", "solana-distributor.json"} {
		k, _ := wire.GenerateKey()
		f := filepath.Join(dir, name)
		if err := wire.WriteKeyFile(f, k); err != nil {
			t.Fatal(err)
		}
		airdrop(t, chain, wire.PublicKeyOf(k), 100_000_000_000)
		files = append(files, f)
	}
	return fmt.Sprintf("solana_rpc = %q\nsolana_payer_key = %q\nsolana_distributor_key = %q\n", chain.URL(), files[0], files[1])
}

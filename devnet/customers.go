package devnet

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"

	"github.com/brocaar/lorawan"
	"golang.org/x/sync/errgroup"

	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/radio/sim"
	"github.com/hexfield/hexfield/wire"
)

// The devnet's IoT customer: one organization whose owner (also its payer)
// buys data credits on the local chain, with one route to a test LNS
// (radio/sim's) and every sensor of the devnet.
const (
	orgID   = "devnet-customer"
	routeID = "devnet-lns"
	// dcBuy is what the customer pays the DC treasury, in base units of
	// the payment token (6 decimals): 5 tokens buy 5,000,000 DC at the
	// default dc_per_base_unit of 1.
	dcBuy = 5_000_000
	// dcTokens is what the customer's token account holds at the start.
	dcTokens = 100_000_000
	// dcDecimals are the payment token's.
	dcDecimals = 6
)

// joinEUI is the customer's JoinEUI: the route forwards every join of it.
var joinEUI = lorawan.EUI64{0x70, 0xb3, 0xd5, 0x7e, 0xd0, 0, 0, 1}

// dcSetup is the DC payment side of the chain: the payment token's mint,
// the network's treasury token account, and the customer holding tokens.
type dcSetup struct {
	mint     wire.PublicKey
	treasury wire.PublicKey
}

// customer is the organization, its LNS and its sensors.
type customer struct {
	owner    ed25519.PrivateKey // the organization's owner and payer
	lns      *sim.LNS
	devAddrs []oracle.DevAddrRange
	purchase string       // the DC purchase's transaction signature
	bought   uint64       // DC credited for it (or granted without a chain)
	sensors  []*devSensor // every sensor of the devnet
	dcSetup  *dcSetup     // nil without a chain
	grantKey ed25519.PrivateKey
}

// devSensor is one of the customer's sensors: radio/sim's LoRaWAN device,
// OTAA or ABP, and what it did.
type devSensor struct {
	name   string
	s      *sim.Sensor
	devEUI lorawan.EUI64
	otaa   bool

	joins, sent, confirmed, acked, downlinks atomic.Uint64
}

// setupDC creates the DC payment token on the local chain (its mint and
// the treasury token account, set directly as a faucet would) and gives
// the customer tokens and SOL for fees, before the oracles start: they
// watch the treasury from the first block.
func (n *network) setupDC(ctx context.Context) (*dcSetup, error) {
	d := &dcSetup{mint: wire.PublicKeyOf(n.key("dc-mint"))}
	srv := n.chain.srv
	if err := srv.SetMint(ctx, d.mint.String(), wire.PublicKeyOf(n.key("dc-mint-authority")), dcDecimals, 1e15); err != nil {
		return nil, fmt.Errorf("devnet: DC mint: %w", err)
	}
	treasuryOwner := wire.PublicKeyOf(n.key("dc-treasury"))
	tr, err := solanaATA(treasuryOwner, d.mint)
	if err != nil {
		return nil, err
	}
	d.treasury = tr
	if err := srv.SetTokenAccount(ctx, tr.String(), d.mint, treasuryOwner, 0); err != nil {
		return nil, fmt.Errorf("devnet: DC treasury: %w", err)
	}
	owner := n.key("customer-owner")
	acct, err := solanaATA(wire.PublicKeyOf(owner), d.mint)
	if err != nil {
		return nil, err
	}
	if err := srv.SetTokenAccount(ctx, acct.String(), d.mint, wire.PublicKeyOf(owner), dcTokens); err != nil {
		return nil, fmt.Errorf("devnet: customer's token account: %w", err)
	}
	if err := n.chain.fund(ctx, owner); err != nil {
		return nil, err
	}
	return d, nil
}

// startCustomer starts the test LNS, creates the organization and its
// route with signed changes sent to every oracle (as `hexfield org
// create` and `hexfield routes put` do), and buys the organization's DC
// on chain (`hexfield dc buy`), waiting until every oracle credited it.
// Without a chain, an operator grant stands in for the purchase.
func (n *network) startCustomer(ctx context.Context, g *errgroup.Group) error {
	c := n.customer
	c.owner = n.key("customer-owner")
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("devnet: LNS socket: %w", err)
	}
	lns, err := sim.NewLNS(sim.LNSConfig{Region: region}, conn, n.logger("lns"), nil)
	if err != nil {
		conn.Close()
		return fmt.Errorf("devnet: LNS: %w", err)
	}
	c.lns = lns
	g.Go(func() error { return lns.Run(ctx) })

	// A devnet restarted on the same data directory finds its
	// organization there.
	if _, err := n.api.Org(ctx, orgID); oracle.IsCode(err, "not_found") {
		blocks := uint32(max(1, (n.cfg.Sensors+8)/8)) // room for every sensor
		start, err := n.freeDevAddr(ctx, blocks)
		if err != nil {
			return err
		}
		pub := wire.PublicKeyOf(c.owner)
		create := &wire.OrgCreate{Owner: pub[:], Devaddr: &wire.DevAddrBlocks{Start: &start, Count: blocks}}
		if err := n.orgChange(ctx, &wire.OrgChange{Org: orgID, Op: &wire.OrgChange_Create{Create: create}}); err != nil {
			return err
		}
	}
	org, err := n.api.Org(ctx, orgID)
	if err != nil {
		return fmt.Errorf("devnet: organization: %w", err)
	}
	c.devAddrs = org.DevAddrBlocks
	route := oracle.Route{ID: routeID, LNS: map[string]string{"default": lns.Addr().String()}, DevAddrRanges: c.devAddrs,
		EUIPairs: []oracle.EUIPair{{JoinEUI: oracle.HexU64(binary.BigEndian.Uint64(joinEUI[:]))}}, MaxCopies: 1, Active: true}
	if err := n.orgChange(ctx, &wire.OrgChange{Org: orgID, Op: &wire.OrgChange_PutRoute{PutRoute: route.Spec()}}); err != nil {
		return err
	}
	if err := n.buyDC(ctx); err != nil {
		return err
	}
	return nil
}

// freeDevAddr asks every oracle for the lowest free run of blocks and
// takes the highest answer, which is free on each.
func (n *network) freeDevAddr(ctx context.Context, blocks uint32) (uint32, error) {
	var start uint32
	for _, o := range n.oracles {
		f, err := o.api.FreeDevAddr(ctx, int(blocks))
		if err != nil {
			return 0, fmt.Errorf("devnet: free DevAddr blocks on %s: %w", o.name, err)
		}
		start = max(start, uint32(f.Start))
	}
	return start, nil
}

// orgChange signs a change with the owner's key and sends it to every
// oracle, with a nonce above what each has applied.
func (n *network) orgChange(ctx context.Context, ch *wire.OrgChange) error {
	ch.Nonce = uint64(time.Now().UnixMilli())
	for _, o := range n.oracles {
		if org, err := o.api.Org(ctx, ch.Org); err == nil && org.Nonce >= ch.Nonce {
			ch.Nonce = org.Nonce + 1
		}
	}
	req, err := oracle.NewOrgChange(n.customer.owner, ch, time.Now())
	if err != nil {
		return fmt.Errorf("devnet: organization change: %w", err)
	}
	for _, o := range n.oracles {
		if _, err := o.api.OrgChange(ctx, req); err != nil {
			return fmt.Errorf("devnet: organization change on %s: %w", o.name, err)
		}
	}
	return nil
}

// buyDC pays the DC treasury from the customer's token account with the
// memo naming its wallet, and waits until every oracle has read the
// transaction from the chain and credited it.
func (n *network) buyDC(ctx context.Context) error {
	c := n.customer
	pub := wire.PublicKeyOf(c.owner)
	if n.chain == nil {
		req, err := oracle.NewGrantRequest(c.grantKey, pub, dcBuy, []byte("devnet-customer-grant-00"), time.Now())
		if err != nil {
			return fmt.Errorf("devnet: grant: %w", err)
		}
		for _, o := range n.oracles {
			if _, err := o.api.Grant(ctx, req); err != nil {
				return fmt.Errorf("devnet: grant on %s: %w", o.name, err)
			}
		}
		c.bought = dcBuy
		return nil
	}
	sig, err := n.chain.view.BuyDC(ctx, c.owner, c.dcSetup.treasury, dcBuy, pub)
	if err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	c.purchase = sig
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, o := range n.oracles {
		for {
			p, err := o.api.DCPurchase(wctx, sig)
			if err == nil {
				if p.DC == 0 {
					return fmt.Errorf("devnet: %s credited nobody for the DC purchase %s: %s", o.name, sig, p.Reason)
				}
				c.bought = p.DC
				break
			}
			if !oracle.IsCode(err, "not_found") {
				return fmt.Errorf("devnet: DC purchase on %s: %w", o.name, err)
			}
			select {
			case <-wctx.Done():
				return fmt.Errorf("devnet: %s did not credit the DC purchase %s: %w", o.name, sig, wctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

// uplinkEvery is how often each sensor reports.
const uplinkEvery = 10 * time.Second

// startSensors places the sensors among the hotspots, half of them OTAA
// (they join through the hotspots first) and half ABP, registers each
// with the LNS and starts them: every uplink goes through the hotspots
// that hear it to the LNS, every other one confirmed (the LNS ACKs it in
// RX1 or RX2), and the LNS queues application downlinks for them.
func (n *network) startSensors(ctx context.Context, g *errgroup.Group) error {
	c := n.customer
	rng := rand.New(rand.NewPCG(n.cfg.Seed, 0x73656e736f72))
	var abpAddr uint32
	if len(c.devAddrs) > 0 {
		abpAddr = uint32(c.devAddrs[len(c.devAddrs)-1].End) // ABP sessions from the top of the blocks down
	}
	for i := range n.cfg.Sensors {
		angle := rng.Float64() * 2 * math.Pi
		dist := rng.Float64() * n.cfg.Spacing * 1.5
		lat, lng := offset(n.cfg.Lat, n.cfg.Lng, math.Sin(angle)*dist, math.Cos(angle)*dist)
		ds := &devSensor{name: fmt.Sprintf("sensor-%02d", i), otaa: i%2 == 0}
		binary.BigEndian.PutUint64(ds.devEUI[:], 0x70b3d57ed0010000|uint64(i))
		cfg := sim.SensorConfig{
			Device: sim.DeviceConfig{
				Radio:  sim.RadioConfig{Name: ds.name, Lat: lat, Lng: lng, Elevation: 2},
				Region: region,
				// SF7: a reading's ~46 ms of airtime every 10 s stays
				// within the 1% duty cycle that charging budgets per
				// DevAddr (at SF9 only one uplink per 30 s epoch would be
				// charged).
				DataRate: radio.DataRate{SF: 7, Bandwidth: 125_000},
			},
			DevEUI: ds.devEUI, JoinEUI: joinEUI,
			// Timers on a loaded machine fire late: a wider window than a
			// radio's preamble timeout.
			RXWindow: 300 * time.Millisecond,
		}
		if ds.otaa {
			randKey(rng, &cfg.AppKey)
			if err := c.lns.AddOTAA(sim.OTAADevice{DevEUI: ds.devEUI, JoinEUI: joinEUI, AppKey: cfg.AppKey}); err != nil {
				return fmt.Errorf("devnet: %s: %w", ds.name, err)
			}
		} else {
			cfg.ABP = true
			binary.BigEndian.PutUint32(cfg.DevAddr[:], abpAddr)
			abpAddr--
			randKey(rng, &cfg.NwkSKey)
			randKey(rng, &cfg.AppSKey)
			if err := c.lns.AddABP(sim.ABPDevice{DevEUI: ds.devEUI, DevAddr: cfg.DevAddr, NwkSKey: cfg.NwkSKey, AppSKey: cfg.AppSKey}); err != nil {
				return fmt.Errorf("devnet: %s: %w", ds.name, err)
			}
		}
		s, err := sim.NewSensor(n.medium, cfg)
		if err != nil {
			return fmt.Errorf("devnet: %s: %w", ds.name, err)
		}
		ds.s = s
		c.sensors = append(c.sensors, ds)
		first := time.Duration(rng.Int64N(int64(uplinkEvery)))
		g.Go(func() error { return n.runSensor(ctx, ds, first) })
	}
	return nil
}

func randKey(rng *rand.Rand, k *lorawan.AES128Key) {
	for j := range k {
		k[j] = byte(rng.IntN(256))
	}
}

// runSensor joins (OTAA) and then sends a reading every uplinkEvery,
// confirmed every other time; before every third uplink the LNS queues a
// downlink for the device, which comes in that uplink's receive windows.
func (n *network) runSensor(ctx context.Context, ds *devSensor, first time.Duration) error {
	defer ds.s.Close()
	log := n.logger(ds.name)
	next := time.NewTimer(first)
	defer next.Stop()
	joined := !ds.otaa
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-next.C:
		}
		next.Reset(uplinkEvery)
		if !joined {
			if _, err := ds.s.Join(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				log.Info("join failed; trying again", "err", err)
				continue
			}
			joined = true
			ds.joins.Add(1)
			continue
		}
		k := ds.sent.Load()
		if k%3 == 2 {
			err := n.customer.lns.Enqueue(ds.devEUI, sim.Downlink{FPort: 2, Payload: []byte{0x01, byte(k)}})
			if err != nil && !errors.Is(err, sim.ErrNoSession) {
				log.Info("downlink not queued", "err", err)
			}
		}
		confirmed := k%2 == 0
		reading := binary.BigEndian.AppendUint16(nil, uint16(200+k%50))
		res, err := ds.s.Uplink(ctx, 1, reading, confirmed)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.Info("uplink failed", "err", err)
			continue
		}
		ds.sent.Add(1)
		if confirmed {
			ds.confirmed.Add(1)
		}
		if d := res.Downlink; d != nil {
			if d.ACK && confirmed {
				ds.acked.Add(1)
			}
			if d.FPort != nil {
				ds.downlinks.Add(1)
			}
		}
	}
}

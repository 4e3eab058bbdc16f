package devnet

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/wire"
)

// oracleNode is one oracle of the devnet, wired as oracled wires it
// (oracle.NewNode).
type oracleNode struct {
	name   string
	key    ed25519.PrivateKey
	cfg    oracle.Config
	node   *oracle.Node
	api    *oracle.Client
	quic   string // ADDRESS@host:port for hotspots
	cosign string // ADDRESS@host:port for its peers
}

// startOracles starts cfg.Oracles oracles. With more than one, every
// oracle holds the deployment's fee payer and distributor keys (the same
// two key files, as every coordinator of a real deployment does) and leads
// in turn: the leader of an epoch settles its input with the peers and has
// phase 1 co-signed by a threshold of oracles (itself included, more than
// half), each signing only the manifest it computed itself from that
// input; a leader that has not had phase 1 land within its slot (a third
// of the epoch) hands over to the next. Every oracle has its own store,
// QUIC ingest, HTTP API and co-signing socket; keys are derived from the
// seed.
func (n *network) startOracles(ctx context.Context, g *errgroup.Group) (err error) {
	count := n.cfg.Oracles
	// Sockets not yet handed to a node, and nodes not yet running, are
	// released on error.
	var open []io.Closer
	defer func() {
		if err != nil {
			for _, c := range open {
				c.Close()
			}
			for _, o := range n.oracles {
				if o.node != nil {
					o.node.Close()
				}
			}
			n.oracles = nil
		}
	}()
	type sockets struct {
		quic, cosign net.PacketConn
		http         net.Listener
	}
	socks := make([]sockets, count)
	for i := range count {
		o := &oracleNode{name: fmt.Sprintf("oracle-%d", i), key: n.key(fmt.Sprintf("oracle-%d", i))}
		n.oracles = append(n.oracles, o)
		s := &socks[i]
		if s.quic, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			return fmt.Errorf("devnet: %s socket: %w", o.name, err)
		}
		open = append(open, s.quic)
		addr := "127.0.0.1:0"
		if i == 0 {
			addr = n.cfg.HTTPListen
		}
		if s.http, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("devnet: %s HTTP on %s: %w", o.name, addr, err)
		}
		open = append(open, s.http)
		if count > 1 {
			if s.cosign, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
				return fmt.Errorf("devnet: %s cosign socket: %w", o.name, err)
			}
			open = append(open, s.cosign)
			o.cosign = fmt.Sprintf("%s@%s", wire.PublicKeyOf(o.key), s.cosign.LocalAddr())
		}
		o.quic = fmt.Sprintf("%s@%s", wire.PublicKeyOf(o.key), s.quic.LocalAddr())
		o.api = &oracle.Client{BaseURL: "http://" + s.http.Addr().String()}
	}
	n.cfg.HTTPListen = socks[0].http.Addr().String()
	n.api = n.oracles[0].api

	payer, dist := n.key("payer"), n.key("distributor")
	// The deployment's keys, shared by every oracle that leads.
	payerFile := filepath.Join(n.dir, "shared", "solana-payer.json")
	distFile := filepath.Join(n.dir, "shared", "solana-distributor.json")
	if n.chain != nil {
		for _, k := range []ed25519.PrivateKey{payer, dist} {
			if err := n.chain.fund(ctx, k); err != nil {
				return err
			}
		}
		if err := writeKey(payerFile, payer); err != nil {
			return err
		}
		if err := writeKey(distFile, dist); err != nil {
			return err
		}
	}
	for i, o := range n.oracles {
		c := oracle.Config{
			DataDir:         filepath.Join(n.dir, o.name),
			BeaconInterval:  n.cfg.BeaconInterval,
			EpochLength:     n.cfg.EpochLength,
			EpochGrace:      n.cfg.EntropyLifetime + 5*time.Second,
			EntropyPeriod:   n.cfg.EntropyPeriod,
			EntropyLifetime: n.cfg.EntropyLifetime,
			VerifyInterval:  2 * time.Second,
		}
		if count > 1 {
			// A leader's slot is a third of an epoch: with three oracles
			// a whole pass of slots fits in the epoch after the close.
			c.Leader, c.LeaderTimeout = true, n.cfg.EpochLength/3
		}
		for j, p := range n.oracles {
			if j != i {
				c.Peers = append(c.Peers, p.cosign)
			}
		}
		if d := n.customer.dcSetup; d != nil {
			c.DCTreasury, c.DCPollInterval = d.treasury.String(), time.Second
		} else {
			// Without a chain an operator grant stands in for the
			// customer's purchase.
			c.OperatorKeys = []string{wire.PublicKeyOf(n.customer.grantKey).String()}
		}
		if n.chain != nil {
			c.SolanaRPC = n.chain.url()
			c.SolanaPayerAddress = wire.PublicKeyOf(payer).String()
			c.SolanaDistributorAddress = wire.PublicKeyOf(dist).String()
			c.SolanaPayerKey, c.SolanaDistributorKey = payerFile, distFile
		}
		o.cfg = c.Defaults()
		if err := o.cfg.Validate(); err != nil {
			return fmt.Errorf("devnet: %s config: %w", o.name, err)
		}
	}
	// One after the other: the first sets up the reward deployment on
	// chain, the others find it there.
	for i, o := range n.oracles {
		s := socks[i]
		reg := prometheus.NewRegistry()
		deps := oracle.Deps{Key: o.key, PacketConn: s.quic, HTTPListener: s.http, Logger: n.logger(o.name),
			Registerer: reg, Gatherer: reg}
		var cosignPC net.PacketConn
		if s.cosign != nil {
			cosignPC = s.cosign
		}
		if o.node, err = oracle.NewNode(ctx, o.cfg, deps, cosignPC); err != nil {
			return fmt.Errorf("devnet: %s: %w", o.name, err)
		}
		// The node owns its sockets now.
		open = removeClosers(open, s.quic, s.http, s.cosign)
	}
	if n.chain != nil {
		acc, _ := n.oracles[0].node.Accounts()
		n.chain.accounts = acc
	}
	for _, o := range n.oracles {
		g.Go(func() error { return o.node.Run(ctx) })
	}
	if count > 1 {
		threshold := n.oracles[0].cfg.Threshold
		role := fmt.Sprintf("leads in turn and co-signs (%d-of-%d)", threshold, count)
		if n.chain == nil {
			role = "computes its own manifests (no chain: no agreement, no co-signing)"
		}
		for _, o := range n.oracles {
			fmt.Fprintf(n.out, "devnet: %s %s: API %s, QUIC %s, co-signing %s\n", o.name, role, o.api.BaseURL, o.quic, o.cosign)
		}
	}
	return nil
}

// oracleAddrs lists every oracle for the hotspots, which report to all.
func (n *network) oracleAddrs() []string {
	out := make([]string, len(n.oracles))
	for i, o := range n.oracles {
		out[i] = o.quic
	}
	return out
}

// writeKey writes the deterministic key to path unless a key file is
// already there (a devnet restarted on the same directory derives the same
// keys; the node checks the file against the configured address).
func writeKey(path string, key ed25519.PrivateKey) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("devnet: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	if err := wire.WriteKeyFile(path, key); err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	return nil
}

func removeClosers(list []io.Closer, drop ...io.Closer) []io.Closer {
	out := list[:0]
	for _, c := range list {
		keep := true
		for _, d := range drop {
			if d != nil && c == d {
				keep = false
			}
		}
		if keep {
			out = append(out, c)
		}
	}
	return out
}

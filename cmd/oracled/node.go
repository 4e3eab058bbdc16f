package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/hexfield/hexfield/oracle"
	"github.com/hexfield/hexfield/oracle/solana"
	"github.com/hexfield/hexfield/wire"
)

// node is one oracled: the oracle and, with solana_rpc, its chain parts.
type node struct {
	oracle  *oracle.Oracle
	cosign  *oracle.CosignServer // nil without peers or chain
	closers []io.Closer          // distributor and cosign clients
}

// newNode wires an oracle from a defaulted, valid cfg. deps holds the
// identity, the sockets, logger, metrics and clock; newNode adds the chain
// parts when cfg.SolanaRPC is set:
//
//   - entropy mixes in the latest blockhash;
//   - a single oracle, or the leader of several, pays each epoch with a
//     Distributor: this oracle co-signs phase 1 first, then its peers are
//     asked over QUIC (M-of-N, members sorted by key);
//   - with peers, every oracle (leader or not) answers its peers'
//     co-signing requests on cosignPC, checking each proposal against its
//     own manifest and the chain. Non-leaders keep manifests only.
//
// cosignPC is required with peers and a chain, and closed by Run. On error
// the sockets in deps and cosignPC stay open (the caller's).
func newNode(ctx context.Context, cfg oracle.Config, deps oracle.Deps, cosignPC net.PacketConn) (_ *node, err error) {
	n := &node{}
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	own := wire.PublicKeyOf(deps.Key)
	if slices.Contains(cfg.PeerKeys(), own) {
		return nil, fmt.Errorf("peers list this oracle's own key %s", own)
	}
	// The oracle is created last (it opens the store); the co-signing
	// functions reach it through o, set before anything runs.
	var o *oracle.Oracle
	summary := func(ctx context.Context, epoch uint64) (solana.Summary, error) { return o.EpochSummary(ctx, epoch) }
	payouts := func(ctx context.Context, epoch uint64) ([]solana.Payout, error) { return o.EpochPayouts(ctx, epoch) }
	if cfg.SolanaRPC != "" {
		deps.Blockhash = rpcBlockhash(cfg.SolanaRPC)
		var acc solana.Accounts
		if len(cfg.Peers) == 0 || cfg.Leader {
			var peers []solana.Cosigner
			for _, p := range cfg.Peers {
				pc, err := net.ListenPacket("udp", ":0")
				if err != nil {
					return nil, fmt.Errorf("cosign client socket: %w", err)
				}
				c, err := oracle.NewCosignClient(deps.Key, p, pc)
				if err != nil {
					pc.Close()
					return nil, err
				}
				n.closers = append(n.closers, c)
				peers = append(peers, c)
			}
			d, err := newDistributor(ctx, cfg, deps.Key, log, deps.Registerer, summary, peers)
			if err != nil {
				return nil, err
			}
			n.closers = append(n.closers, d)
			deps.Rewarder = d
			acc = d.Accounts()
		} else if acc, err = configuredAccounts(cfg); err != nil {
			return nil, err
		}
		if len(cfg.Peers) > 0 {
			if cosignPC == nil {
				return nil, errors.New("co-signing with peers needs a cosign socket")
			}
			n.cosign, err = oracle.NewCosignServer(oracle.CosignServerConfig{
				Key: deps.Key, Leaders: cfg.PeerKeys(), Accounts: acc, Own: summary, Payouts: payouts,
				Chain: solana.NewChain(cfg.SolanaRPC), Logger: log,
			}, cosignPC)
			if err != nil {
				return nil, err
			}
		}
	}
	if o, err = oracle.New(cfg, deps); err != nil {
		return nil, err
	}
	n.oracle = o
	return n, nil
}

// Run serves until ctx ends, then closes everything the node owns.
func (n *node) Run(ctx context.Context) error {
	defer n.close()
	if n.cosign == nil {
		return n.oracle.Run(ctx)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return n.oracle.Run(gctx) })
	g.Go(func() error { return n.cosign.Run(gctx) })
	return g.Wait()
}

func (n *node) close() {
	for _, c := range n.closers {
		c.Close()
	}
}

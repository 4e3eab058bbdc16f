package oracle

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/hexfield/hexfield/oracle/solana"
	"github.com/hexfield/hexfield/wire"
)

// Node is one oracle with its chain parts: what oracled runs, and what the
// devnet runs once per oracle. Create it with NewNode, then Run it (or
// Close it if it will not run).
type Node struct {
	oracle   *Oracle
	cosign   *CosignServer       // nil without peers or chain
	dist     *solana.Distributor // nil unless this oracle pays
	accounts solana.Accounts     // the deployment's accounts, with a chain
	chain    bool                // cfg.SolanaRPC is set
	cosignPC net.PacketConn      // owned from NewNode on, nil if none
	paid     epochPaidFunc       // non-paying node with a chain: was an epoch paid?
	closers  []io.Closer         // distributor and cosign clients
	sockets  []io.Closer         // deps' sockets, closed by Close when never run
	once     sync.Once           // Run or Close, whichever comes first, owns shutdown
	mu       sync.Mutex          // guards ran
	ran      bool                // Run was called
}

// NewNode wires an oracle from a defaulted, valid cfg. deps holds the
// identity, the sockets, logger, metrics and clock; NewNode adds the chain
// parts when cfg.SolanaRPC is set (deps.Blockhash and deps.Rewarder are
// then replaced):
//
//   - entropy mixes in the latest blockhash;
//   - a single oracle, or the leader of several, pays each epoch with a
//     Distributor: this oracle co-signs phase 1 first, then its peers are
//     asked over QUIC (M-of-N, members sorted by key);
//   - with peers, every oracle (leader or not) answers its peers'
//     co-signing requests on cosignPC, checking each proposal against its
//     own manifest and the chain. Non-leaders keep manifests only.
//
// cosignPC is required with peers and a chain. From a successful NewNode
// on, the node owns the sockets in deps and cosignPC: Run (or Close)
// closes them. On error they stay open (the caller's).
func NewNode(ctx context.Context, cfg Config, deps Deps, cosignPC net.PacketConn) (_ *Node, err error) {
	n := &Node{chain: cfg.SolanaRPC != ""}
	defer func() {
		if err != nil {
			n.closeChain()
		}
	}()
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	own0 := wire.PublicKeyOf(deps.Key)
	if slices.Contains(cfg.PeerKeys(), own0) {
		return nil, fmt.Errorf("peers list this oracle's own key %s", own0)
	}
	// The oracle is created last (it opens the store); the co-signing
	// functions reach it and its consensus through o and cons, set before
	// anything runs.
	var o *Oracle
	var cons *consensus
	own := func(ctx context.Context, leader wire.PublicKey, epoch uint64) (solana.Summary, error) {
		if cons == nil {
			return o.EpochSummary(ctx, epoch)
		}
		return cons.ownSummary(leader, epoch)
	}
	payouts := func(ctx context.Context, epoch uint64) ([]solana.Payout, error) { return o.EpochPayouts(ctx, epoch) }
	var peers []*CosignClient
	if n.chain {
		deps.Blockhash = RPCBlockhash(cfg.SolanaRPC)
		if cfg.DCTreasury != "" && deps.DCChain == nil {
			deps.DCChain = solana.NewChain(cfg.SolanaRPC)
		}
		for _, p := range cfg.Peers {
			pc, err := net.ListenPacket("udp", ":0")
			if err != nil {
				return nil, fmt.Errorf("cosign client socket: %w", err)
			}
			c, err := NewCosignClient(deps.Key, p, pc)
			if err != nil {
				pc.Close()
				return nil, err
			}
			n.closers = append(n.closers, c)
			peers = append(peers, c)
		}
		if len(cfg.Peers) == 0 || cfg.Leader {
			cosigners := make([]solana.Cosigner, len(peers))
			for i, p := range peers {
				cosigners[i] = p
			}
			self := wire.PublicKeyOf(deps.Key)
			d, err := newDistributor(ctx, cfg, deps.Key, log, deps.Registerer,
				func(ctx context.Context, epoch uint64) (solana.Summary, error) { return own(ctx, self, epoch) }, cosigners)
			if err != nil {
				return nil, err
			}
			n.closers = append(n.closers, d)
			n.dist = d
			deps.Rewarder = d
			n.accounts = d.Accounts()
		} else if n.accounts, err = ConfiguredAccounts(cfg); err != nil {
			return nil, err
		}
		if len(cfg.Peers) > 0 {
			if cosignPC == nil {
				return nil, errors.New("co-signing with peers needs a cosign socket")
			}
			chain, members := solana.NewChain(cfg.SolanaRPC), cfg.Members(own0)
			n.paid = func(ctx context.Context, s solana.Summary) (bool, error) {
				return chain.EpochPaid(ctx, n.accounts, members, s)
			}
			n.cosign, err = NewCosignServer(CosignServerConfig{
				Key: deps.Key, Leaders: cfg.PeerKeys(), Accounts: n.accounts, Own: own, Payouts: payouts,
				Chain: solana.NewChain(cfg.SolanaRPC).WithHorizon(cfg.ReclaimHorizon), Logger: log,
			}, cosignPC)
			if err != nil {
				return nil, err
			}
		}
	}
	if n.chain && deps.Funded == nil {
		chain, mint := solana.NewChain(cfg.SolanaRPC), n.accounts.Mint
		deps.Funded = func(ctx context.Context, owners [][32]byte) ([]bool, error) { return chain.Funded(ctx, mint, owners) }
	}
	if o, err = New(cfg, deps); err != nil {
		return nil, err
	}
	if n.cosign != nil {
		members := make([]wire.PublicKey, 0, len(cfg.Peers)+1)
		for _, k := range cfg.Members(own0) {
			members = append(members, k)
		}
		var pay Rewarder
		if n.dist != nil {
			pay = n.dist
		}
		chain, ms := solana.NewChain(cfg.SolanaRPC), cfg.Members(own0)
		auth := authFunc(func(ctx context.Context, epoch uint64) (solana.Summary, bool, error) {
			return chain.Authorization(ctx, ms, epoch)
		})
		cons = newConsensus(o, members, cfg.Threshold, peers, pay, auth, cfg.LeaderTimeout, log)
		o.cons = cons
		n.cosign.cfg.Consensus = cons
	}
	n.oracle = o
	n.cosignPC = cosignPC
	if deps.PacketConn != nil {
		n.sockets = append(n.sockets, deps.PacketConn)
	}
	if deps.HTTPListener != nil {
		n.sockets = append(n.sockets, deps.HTTPListener)
	}
	if deps.MetricsListener != nil {
		n.sockets = append(n.sockets, deps.MetricsListener)
	}
	return n, nil
}

// authFunc adapts a function to AuthChain.
type authFunc func(ctx context.Context, epoch uint64) (solana.Summary, bool, error)

func (f authFunc) Authorization(ctx context.Context, epoch uint64) (solana.Summary, bool, error) {
	return f(ctx, epoch)
}

// paidWatchInterval is how often a non-paying node asks the chain whether
// its recent epochs were paid.
const paidWatchInterval = 5 * time.Second

// Oracle is the node's oracle (its store, keys, summaries).
func (n *Node) Oracle() *Oracle { return n.oracle }

// Accounts returns the deployment's reward accounts (mint, escrow, …);
// false without a chain.
func (n *Node) Accounts() (solana.Accounts, bool) { return n.accounts, n.chain }

// Pays reports whether this node distributes rewards (a single oracle or
// the leader, with a chain).
func (n *Node) Pays() bool { return n.dist != nil }

// Run serves until ctx ends, then closes everything the node owns.
func (n *Node) Run(ctx context.Context) error {
	n.mu.Lock()
	n.ran = true
	n.mu.Unlock()
	defer n.once.Do(n.closeChain)
	if n.cosign == nil && n.cosignPC != nil {
		n.cosignPC.Close() // not needed without a chain
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return n.oracle.Run(gctx) })
	if n.cosign != nil {
		g.Go(func() error { return n.cosign.Run(gctx) })
	}
	if n.paid != nil {
		g.Go(func() error { return n.oracle.watchPaid(gctx, n.paid, paidWatchInterval) })
	}
	if n.dist != nil {
		g.Go(func() error { return n.oracle.reclaimRent(gctx, n.dist) })
	}
	return g.Wait()
}

// Close releases a node that will not be run: the store, the chain parts
// and the sockets. After Run it does nothing (Run closed everything).
func (n *Node) Close() error {
	n.mu.Lock()
	ran := n.ran
	n.mu.Unlock()
	if ran {
		return nil
	}
	var err error
	n.once.Do(func() {
		n.closeChain()
		err = n.oracle.store.Close()
		for _, s := range n.sockets {
			s.Close()
		}
		if n.cosignPC != nil {
			n.cosignPC.Close()
		}
	})
	return err
}

func (n *Node) closeChain() {
	for _, c := range n.closers {
		c.Close()
	}
}

// RPCBlockhash returns a function fetching the latest Solana blockhash
// (commitment processed) over JSON-RPC, for the entropy service.
func RPCBlockhash(url string) func(ctx context.Context) ([32]byte, error) {
	return func(ctx context.Context) ([32]byte, error) {
		body := []byte(`{"jsonrpc":"2.0","id":1,"method":"getLatestBlockhash","params":[{"commitment":"processed"}]}`)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return [32]byte{}, fmt.Errorf("blockhash: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return [32]byte{}, fmt.Errorf("blockhash: %w", err)
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return [32]byte{}, fmt.Errorf("blockhash: %w", err)
		}
		var out struct {
			Result struct {
				Value struct {
					Blockhash string `json:"blockhash"`
				} `json:"value"`
			} `json:"result"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			return [32]byte{}, fmt.Errorf("blockhash: decode: %w", err)
		}
		if out.Error != nil {
			return [32]byte{}, fmt.Errorf("blockhash: rpc: %s", out.Error.Message)
		}
		// A blockhash is 32 bytes in base58, like a public key.
		h, err := wire.ParsePublicKey(out.Result.Value.Blockhash)
		if err != nil {
			return [32]byte{}, fmt.Errorf("blockhash: %w", err)
		}
		return h, nil
	}
}

// newDistributor sets up reward distribution on the leader (or a single
// oracle): the multisig members are cfg.Members (this oracle and its peers,
// sorted by key), the threshold cfg.Threshold. This oracle co-signs first,
// after checking the proposal against own (its summary of the epoch) and
// the chain; then peers are asked in order until the threshold is reached.
func newDistributor(ctx context.Context, cfg Config, key ed25519.PrivateKey, log *slog.Logger, reg prometheus.Registerer,
	own solana.SummaryFunc, peers []solana.Cosigner) (*solana.Distributor, error) {
	payer, created, err := wire.LoadOrCreateKeyFile(cfg.SolanaPayerKey)
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("created a Solana fee payer key; fund it", "path", cfg.SolanaPayerKey, "address", wire.PublicKeyOf(payer).String())
	}
	dist, created, err := wire.LoadOrCreateKeyFile(cfg.SolanaDistributorKey)
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("created a Solana distributor key; fund it (it pays for token accounts)", "path", cfg.SolanaDistributorKey,
			"address", wire.PublicKeyOf(dist).String())
	}
	// Peers derive the accounts from the configured addresses: they must be
	// these keys.
	for _, c := range []struct {
		name, addr string
		key        ed25519.PrivateKey
	}{{"solana_payer_address", cfg.SolanaPayerAddress, payer}, {"solana_distributor_address", cfg.SolanaDistributorAddress, dist}} {
		if c.addr != "" && c.addr != wire.PublicKeyOf(c.key).String() {
			return nil, fmt.Errorf("%s %s is not the configured key file's address %s", c.name, c.addr, wire.PublicKeyOf(c.key))
		}
	}
	cos := &solana.LocalCosigner{Priv: key, Own: own, Chain: solana.NewChain(cfg.SolanaRPC).WithHorizon(cfg.ReclaimHorizon)}
	d, err := solana.New(solana.Config{
		RPCURL: cfg.SolanaRPC, JournalDir: filepath.Join(cfg.DataDir, "solana-journal"),
		Payer: payer, Distributor: dist, Oracles: cfg.Members(wire.PublicKeyOf(key)), Threshold: cfg.Threshold,
		Cosigners: append([]solana.Cosigner{cos}, peers...), Seed: cfg.SolanaSeed, Decimals: uint8(cfg.SolanaDecimals),
		Horizon:        cfg.ReclaimHorizon,
		AuthorizeEmpty: len(cfg.Peers) > 0,
		Logger:         log, Registerer: reg,
	})
	if err != nil {
		return nil, fmt.Errorf("solana distributor: %w", err)
	}
	cos.Accounts = d.Accounts()
	if err := d.Setup(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("solana setup: %w", err)
	}
	a := d.Accounts()
	log.Info("reward distribution on Solana", "rpc", cfg.SolanaRPC, "mint", wire.PublicKey(a.Mint).String(),
		"oracles", len(cfg.Peers)+1, "threshold", cfg.Threshold)
	return d, nil
}

// ConfiguredAccounts derives the deployment's accounts from the leader's
// payer and distributor addresses in cfg (on an oracle that does not hold
// their keys).
func ConfiguredAccounts(cfg Config) (solana.Accounts, error) {
	payer, err := wire.ParsePublicKey(cfg.SolanaPayerAddress)
	if err != nil {
		return solana.Accounts{}, fmt.Errorf("solana_payer_address: %w", err)
	}
	dist, err := wire.ParsePublicKey(cfg.SolanaDistributorAddress)
	if err != nil {
		return solana.Accounts{}, fmt.Errorf("solana_distributor_address: %w", err)
	}
	return solana.DeriveAccounts(payer, cfg.SolanaSeed, dist, uint8(cfg.SolanaDecimals))
}

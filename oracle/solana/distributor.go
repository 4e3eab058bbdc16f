package solana

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/prometheus/client_golang/prometheus"
)

// Cosigner is one oracle that co-signs phase 1: the local key, or a peer reached over QUIC.
type Cosigner interface {
	Key() [32]byte
	Cosign(ctx context.Context, p Proposal) ([64]byte, error)
}

// differ is an optional capability of a Cosigner: describe the first payout line where the
// cosigner's manifest differs from ours.
type differ interface {
	FirstDifference(ctx context.Context, ours EpochPayout) (string, error)
}

// SummaryFunc returns an oracle's own summary of an epoch (recomputed from its store).
type SummaryFunc func(ctx context.Context, epoch uint64) (Summary, error)

// LocalCosigner co-signs with a key held in this process, after checking the proposal
// against Own.
type LocalCosigner struct {
	Priv     ed25519.PrivateKey
	Accounts Accounts
	Own      SummaryFunc
	// Chain, when set, is checked first with CheckAuthorizable, and a durable-nonce
	// proposal's nonce is read from it. Unset, a Distributor that has this cosigner in its
	// Config reads the nonce through its own RPC endpoint.
	Chain  *Chain
	nonces Phase1Reader
}

// Key is the oracle's public key.
func (c *LocalCosigner) Key() [32]byte { return [32]byte(c.Priv.Public().(ed25519.PublicKey)) }

// Cosign checks the proposal against the oracle's own summary and signs it.
func (c *LocalCosigner) Cosign(ctx context.Context, p Proposal) ([64]byte, error) {
	own, err := c.Own(ctx, p.Summary.Epoch)
	if err != nil {
		return [64]byte{}, fmt.Errorf("cosign: own summary: %w", err)
	}
	if c.Chain != nil {
		if err := c.Chain.CheckAuthorizable(ctx, c.Accounts, c.Key(), p.Summary.Epoch); err != nil {
			return [64]byte{}, fmt.Errorf("cosign: %w", err)
		}
	}
	r := c.nonces
	if c.Chain != nil {
		r = c.Chain
	}
	return Cosign(ctx, r, c.Priv, c.Accounts, own, p)
}

// Config configures a Distributor.
type Config struct {
	// RPCURL is the Solana JSON-RPC endpoint (localnet, devnet or mainnet). Required.
	RPCURL string
	// JournalDir holds the signed transactions (exactly-once journal). Required.
	JournalDir string
	// Payer pays fees of setup and phase 1 and funds the markers (the coordinator). Required.
	Payer ed25519.PrivateKey
	// Distributor is the hot key that is approved for each epoch's total, signs phase 2 and
	// pays for token accounts and lookup tables. Required.
	Distributor ed25519.PrivateKey
	// Oracles are the N multisig members, in order. Required, 1..11.
	Oracles [][32]byte
	// Threshold is M; it must be > N/2 so any two quorums share a member.
	Threshold int
	// Cosigners are asked in order until Threshold signatures are collected.
	Cosigners []Cosigner
	// Seed prefixes the seeds of the mint and multisig addresses (derived from Payer).
	// Default "hexfield".
	Seed string
	// Decimals of the reward mint. Default 6.
	Decimals uint8
	// Horizon: Reclaim closes markers of epochs more than Horizon epochs behind the newest
	// authorised one. It must not be below the horizon co-signers refuse at
	// (Chain.WithHorizon). Default DefaultHorizon.
	Horizon uint64
	// PollInterval between status polls. Default 400 ms.
	PollInterval time.Duration
	// Workers sending in parallel. Default 4.
	Workers int
	// Logger; nil discards.
	Logger *slog.Logger
	// Registerer receives the hexfield_solana_* metrics; nil registers nowhere.
	Registerer prometheus.Registerer
}

func (c *Config) fill() {
	if c.Seed == "" {
		c.Seed = "hexfield"
	}
	if c.Decimals == 0 {
		c.Decimals = 6
	}
	if c.PollInterval == 0 {
		c.PollInterval = 400 * time.Millisecond
	}
	if c.Workers == 0 {
		c.Workers = 4
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate checks the configuration after defaults are filled.
func (c *Config) Validate() error {
	switch {
	case c.RPCURL == "":
		return errors.New("solana config: no rpc url")
	case c.JournalDir == "":
		return errors.New("solana config: no journal dir")
	case len(c.Payer) != ed25519.PrivateKeySize:
		return errors.New("solana config: no payer key")
	case len(c.Distributor) != ed25519.PrivateKeySize:
		return errors.New("solana config: no distributor key")
	case len(c.Oracles) == 0 || len(c.Oracles) > maxSigners:
		return fmt.Errorf("solana config: %d oracles (want 1..%d)", len(c.Oracles), maxSigners)
	case c.Threshold <= len(c.Oracles)/2 || c.Threshold > len(c.Oracles):
		return fmt.Errorf("solana config: threshold %d of %d must be > N/2 and ≤ N", c.Threshold, len(c.Oracles))
	case c.Workers < 1:
		return errors.New("solana config: workers < 1")
	}
	return nil
}

// Stats counts what a Distributor did.
type Stats struct {
	Sent, Resigned, Transactions int64
}

type counters struct{ sent, resigned, built atomic.Int64 }

// Distributor settles epochs on chain. It is safe to create a new one on the same journal
// after a crash: Distribute resumes.
type Distributor struct {
	cfg      Config
	rpc      *rpc.Client
	journal  *journal
	log      *slog.Logger
	accounts Accounts
	payer    sol.PrivateKey
	dist     sol.PrivateKey
	metrics  counters
	m        *metrics
	// crash, when set (tests), is called after every step; an error aborts like a crash.
	crash func(step string) error
	bh    struct {
		sync.Mutex
		hash      sol.Hash
		lastValid uint64
		at        time.Time
	}
	units map[int]uint64 // simulated compute units by transfers per batch
	// cu records compute units of phase-2 transactions (for benchmarks).
	cu func(units uint64)
}

// New creates a Distributor; it does not touch the network.
func New(cfg Config) (*Distributor, error) {
	cfg.fill()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	j, err := openJournal(cfg.JournalDir)
	if err != nil {
		return nil, err
	}
	d := &Distributor{cfg: cfg, rpc: rpc.New(cfg.RPCURL), journal: j, log: cfg.Logger,
		payer: sol.PrivateKey(cfg.Payer), dist: sol.PrivateKey(cfg.Distributor)}
	d.cfg.Cosigners = withNonceReader(cfg.Cosigners, &Chain{rpc: d.rpc})
	d.accounts, err = DeriveAccounts(d.payer.PublicKey(), cfg.Seed, [32]byte(d.dist.PublicKey()), cfg.Decimals)
	if err != nil {
		return nil, err
	}
	if d.m, err = newMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	if last, ok, err := d.lastSettled(); err != nil {
		return nil, err
	} else if ok {
		d.m.lastSettled.Set(float64(last))
	}
	return d, nil
}

// DeriveAccounts returns the deployment's addresses: mint and multisig created with seeds
// "<seed>:mint" and "<seed>:multisig" from base, escrow = ATA(multisig, mint), and the
// durable nonce account NonceAddress(base, seed).
func DeriveAccounts(base [32]byte, seed string, distributor [32]byte, decimals uint8) (Accounts, error) {
	b := sol.PublicKey(base)
	mint, err := sol.CreateWithSeed(b, seed+":mint", tokenProgram)
	if err != nil {
		return Accounts{}, fmt.Errorf("mint address: %w", err)
	}
	ms, err := sol.CreateWithSeed(b, seed+":multisig", tokenProgram)
	if err != nil {
		return Accounts{}, fmt.Errorf("multisig address: %w", err)
	}
	escrow, err := ata(ms, mint)
	if err != nil {
		return Accounts{}, err
	}
	nonce, err := NonceAddress(base, seed)
	if err != nil {
		return Accounts{}, err
	}
	return Accounts{Mint: mint, Multisig: ms, Escrow: escrow, Distributor: distributor, Decimals: decimals, Nonce: nonce}, nil
}

// Close releases the journal.
func (d *Distributor) Close() error { return d.journal.close() }

// Accounts returns the deployment's on-chain accounts.
func (d *Distributor) Accounts() Accounts { return d.accounts }

// Stats returns counters.
func (d *Distributor) Stats() Stats {
	return Stats{Sent: d.metrics.sent.Load(), Resigned: d.metrics.resigned.Load(), Transactions: d.metrics.built.Load()}
}

// signed counts journaled signed transactions.
func (d *Distributor) signed(n int) {
	d.metrics.built.Add(int64(n))
	d.m.signed.Add(float64(n))
}

func (d *Distributor) step(name string) error {
	if d.crash != nil {
		return d.crash(name)
	}
	return nil
}

func (d *Distributor) keyGetter(keys ...sol.PrivateKey) func(sol.PublicKey) *sol.PrivateKey {
	return func(k sol.PublicKey) *sol.PrivateKey {
		for i := range keys {
			if keys[i].PublicKey() == k {
				return &keys[i]
			}
		}
		return nil
	}
}

// sign builds and signs a transaction from instructions with a fresh blockhash.
func (d *Distributor) sign(ctx context.Context, ixs []sol.Instruction, payer sol.PublicKey, tables map[sol.PublicKey]sol.PublicKeySlice, signers ...sol.PrivateKey) (signedTx, error) {
	bh, lv, err := d.blockhash(ctx)
	if err != nil {
		return signedTx{}, err
	}
	opts := []sol.TransactionOption{sol.TransactionPayer(payer)}
	if tables != nil {
		opts = append(opts, sol.TransactionAddressTables(tables))
	}
	tx, err := sol.NewTransaction(ixs, bh, opts...)
	if err != nil {
		return signedTx{}, fmt.Errorf("build transaction: %w", err)
	}
	if _, err := tx.Sign(d.keyGetter(signers...)); err != nil {
		return signedTx{}, fmt.Errorf("sign transaction: %w", err)
	}
	raw, err := tx.MarshalBinary()
	if err != nil {
		return signedTx{}, fmt.Errorf("encode transaction: %w", err)
	}
	if len(raw) > maxTxSize {
		if len(ixs) > 1 && ixs[0].ProgramID() == computeBudgetProgram {
			// Drop SetComputeUnitLimit (≈ 40 bytes) rather than change the batch partition.
			return d.sign(ctx, ixs[1:], payer, tables, signers...)
		}
		return signedTx{}, fmt.Errorf("%w: %d bytes exceeds %d", errTooLarge, len(raw), maxTxSize)
	}
	return signedTx{raw: raw, signature: tx.Signatures[0], blockhash: bh, lastValid: lv}, nil
}

// run journals and settles simple transactions named name whose instructions are rebuilt
// by ixs on expiry. Entries already in the journal are resumed, not rebuilt.
func (d *Distributor) run(ctx context.Context, names []string, ixs func(name string) ([]sol.Instruction, error), payer sol.PublicKey, tables func(name string) map[sol.PublicKey]sol.PublicKeySlice, signers ...sol.PrivateKey) error {
	build := func(ctx context.Context, name string) (signedTx, error) {
		in, err := ixs(name)
		if err != nil {
			return signedTx{}, err
		}
		var t map[sol.PublicKey]sol.PublicKeySlice
		if tables != nil {
			t = tables(name)
		}
		return d.sign(ctx, in, payer, t, signers...)
	}
	var es, fresh []*entry
	for _, n := range names {
		e, err := d.journal.get(n)
		if err != nil {
			return err
		}
		if e == nil {
			s, err := build(ctx, n)
			if err != nil {
				return err
			}
			e = &entry{Name: n, Raw: s.raw, Signature: s.signature.String(), Blockhash: s.blockhash.String(), LastValid: s.lastValid}
			fresh = append(fresh, e)
		}
		es = append(es, e)
	}
	// Persist every new signed transaction (one fsync) before any is sent.
	if len(fresh) > 0 {
		if err := d.journal.put(fresh...); err != nil {
			return err
		}
		d.signed(len(fresh))
		for _, e := range fresh {
			if err := d.step("persisted " + e.Name); err != nil {
				return err
			}
		}
	}
	if err := d.settle(ctx, es, build); err != nil {
		return err
	}
	var done []*entry
	for _, e := range es {
		if e.Done && e.Raw != nil {
			e.Raw = nil // keep the record small once landed
			done = append(done, e)
		}
	}
	if len(done) > 0 {
		return d.journal.put(done...)
	}
	return nil
}

// accountsData fetches accounts (nil for missing), 100 per call.
func (d *Distributor) accountsData(ctx context.Context, ks []sol.PublicKey) ([]*rpc.Account, error) {
	out := make([]*rpc.Account, 0, len(ks))
	for i := 0; i < len(ks); i += 100 {
		r, err := d.rpc.GetMultipleAccountsWithOpts(ctx, ks[i:min(i+100, len(ks))], &rpc.GetMultipleAccountsOpts{Encoding: sol.EncodingBase64, Commitment: rpc.CommitmentFinalized})
		if err != nil {
			return nil, fmt.Errorf("get accounts: %w", err)
		}
		out = append(out, r.Value...)
	}
	return out, nil
}

// Setup creates the multisig, the mint, the escrow and the durable nonce account if missing,
// and checks them if they exist, then this journal's phase-1 lookup table. It is idempotent.
func (d *Distributor) Setup(ctx context.Context) error {
	a := d.accounts
	ms, mint, escrow := sol.PublicKey(a.Multisig), sol.PublicKey(a.Mint), sol.PublicKey(a.Escrow)
	payer := d.payer.PublicKey()
	got, err := d.accountsData(ctx, []sol.PublicKey{ms, mint, escrow})
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	rent := func(size uint64) (uint64, error) {
		return d.rpc.GetMinimumBalanceForRentExemption(ctx, size, rpc.CommitmentFinalized)
	}
	members := keys(d.cfg.Oracles)
	var names []string
	ixs := map[string][]sol.Instruction{}
	if got[0] == nil {
		r, err := rent(multisigSize)
		if err != nil {
			return fmt.Errorf("setup: rent: %w", err)
		}
		ixs["setup/multisig"] = []sol.Instruction{
			createAccountWithSeed(payer, ms, payer, d.cfg.Seed+":multisig", r, multisigSize, tokenProgram),
			initializeMultisig2(ms, members, uint8(d.cfg.Threshold)),
		}
		names = append(names, "setup/multisig")
	} else if err := checkMultisig(got[0].Data.GetBinary(), members, d.cfg.Threshold); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	if got[1] == nil {
		r, err := rent(mintSize)
		if err != nil {
			return fmt.Errorf("setup: rent: %w", err)
		}
		ixs["setup/mint"] = []sol.Instruction{
			createAccountWithSeed(payer, mint, payer, d.cfg.Seed+":mint", r, mintSize, tokenProgram),
			initializeMint2(mint, ms, a.Decimals),
		}
		names = append(names, "setup/mint")
	} else if err := checkMint(got[1].Data.GetBinary(), ms, a.Decimals); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	if got[2] == nil {
		ixs["setup/escrow"] = []sol.Instruction{createATAIdempotent(payer, escrow, ms, mint)}
		names = append(names, "setup/escrow")
	}
	// Order matters: the escrow needs the mint, the mint names the multisig.
	for _, n := range names {
		if err := d.run(ctx, []string{n}, func(n string) ([]sol.Instruction, error) { return ixs[n], nil }, payer, nil, d.payer); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
	}
	if err := d.setupNonce(ctx); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	return nil
}

func checkMultisig(data []byte, members []sol.PublicKey, m int) error {
	if len(data) != multisigSize || data[2] != 1 {
		return errors.New("multisig account is not an initialized SPL multisig")
	}
	if int(data[0]) != m || int(data[1]) != len(members) {
		return fmt.Errorf("multisig is %d of %d, configured %d of %d", data[0], data[1], m, len(members))
	}
	for i, k := range members {
		if !bytes.Equal(data[3+32*i:35+32*i], k[:]) {
			return fmt.Errorf("multisig member %d is %s, configured %s", i, sol.PublicKeyFromBytes(data[3+32*i:35+32*i]), k)
		}
	}
	return nil
}

func checkMint(data []byte, authority sol.PublicKey, decimals uint8) error {
	if len(data) != mintSize || data[45] != 1 {
		return errors.New("mint account is not an initialized SPL mint")
	}
	if data[0] != 1 || !bytes.Equal(data[4:36], authority[:]) {
		return errors.New("mint authority is not the oracle multisig")
	}
	if data[44] != decimals {
		return fmt.Errorf("mint has %d decimals, configured %d", data[44], decimals)
	}
	if data[46] != 0 {
		return errors.New("mint has a freeze authority")
	}
	return nil
}

// ErrAuthorizedElsewhere: the epoch's markers exist on chain but this journal never sent
// its phase 1, so another coordinator authorised it; this one must not pay it.
var ErrAuthorizedElsewhere = errors.New("epoch already authorised by another coordinator")

// ErrUnfinished: an earlier epoch must be completed first.
var ErrUnfinished = errors.New("earlier epoch unfinished")

// ErrSettled: the epoch is at or below the last settled epoch.
var ErrSettled = errors.New("epoch at or below the last settled epoch")

func epochDir(e uint64) string { return "e" + strconv.FormatUint(e, 10) }

// Distribute settles one epoch exactly once: phase 1 (co-signed mint and approval), token
// accounts, lookup tables, then phase 2 batches. It resumes from the journal after a crash
// and returns nil at once for an epoch already settled.
func (d *Distributor) Distribute(ctx context.Context, p EpochPayout) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("distribute: %w", err)
	}
	dir := epochDir(p.Epoch)
	if _, ok, err := d.journal.marked(dir + ".settled"); err != nil || ok {
		return err
	}
	if last, ok, err := d.lastSettled(); err != nil {
		return err
	} else if ok && p.Epoch <= last {
		return fmt.Errorf("distribute epoch %d (last settled %d): %w", p.Epoch, last, ErrSettled)
	}
	if p.Total == 0 {
		return d.settled(p.Epoch)
	}
	// Approve overwrites the allowance: an earlier epoch this journal authorised must be
	// fully paid first.
	for _, e := range d.journal.list("e") {
		var k uint64
		if _, err := fmt.Sscanf(e.Name, "e%d/phase1", &k); err != nil || !strings.HasSuffix(e.Name, "/phase1") || k >= p.Epoch {
			continue
		}
		if _, ok, err := d.journal.marked(epochDir(k) + ".settled"); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("distribute epoch %d: %w: epoch %d is authorised but not fully paid; distribute it first", p.Epoch, ErrUnfinished, k)
		}
	}
	if err := d.phase1(ctx, p); err != nil {
		return fmt.Errorf("distribute epoch %d: phase 1: %w", p.Epoch, err)
	}
	d.log.Info("phase 1 landed", "epoch", p.Epoch, "total", p.Total, "count", len(p.Payouts))
	if err := d.phase2(ctx, p); err != nil {
		return fmt.Errorf("distribute epoch %d: phase 2: %w", p.Epoch, err)
	}
	d.log.Info("epoch settled", "epoch", p.Epoch, "batches", p.Batches())
	if err := d.settled(p.Epoch); err != nil {
		return err
	}
	d.m.settled.Inc()
	d.m.payouts.Add(float64(len(p.Payouts)))
	d.m.lastSettled.Set(float64(p.Epoch))
	return nil
}

func (d *Distributor) lastSettled() (uint64, bool, error) {
	b, ok, err := d.journal.marked("last-settled")
	if err != nil || !ok {
		return 0, false, err
	}
	v, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("journal last-settled: %w", err)
	}
	return v, true, nil
}

func (d *Distributor) settled(epoch uint64) error {
	if err := d.journal.mark(epochDir(epoch)+".settled", []byte("1")); err != nil {
		return err
	}
	return d.journal.mark("last-settled", []byte(strconv.FormatUint(epoch, 10)))
}

// phase1 authorises the epoch: markers, mint, approve and memo, co-signed by M oracles.
func (d *Distributor) phase1(ctx context.Context, p EpochPayout) error {
	name := epochDir(p.Epoch) + "/phase1"
	e, err := d.journal.get(name)
	if err != nil {
		return err
	}
	if e == nil {
		// Never sent by us: the markers must not exist.
		var markers []sol.PublicKey
		for _, o := range d.cfg.Oracles {
			m, err := MarkerAddress(o, p.Epoch)
			if err != nil {
				return err
			}
			markers = append(markers, m)
		}
		got, err := d.accountsData(ctx, markers)
		if err != nil {
			return err
		}
		for i, a := range got {
			if a != nil {
				return fmt.Errorf("marker of oracle %s exists: %w", sol.PublicKey(d.cfg.Oracles[i]), ErrAuthorizedElsewhere)
			}
		}
		s, err := d.proposeAndCollect(ctx, p)
		if err != nil {
			return err
		}
		if e, err = d.newEntry(name, s); err != nil {
			return err
		}
	}
	err = d.settleNonce(ctx, e, func(ctx context.Context, _ string) (signedTx, error) {
		return d.proposeAndCollect(ctx, p)
	})
	if err == nil {
		// A nonce advance moves the localnet's blockhash on (localnet README).
		d.forgetBlockhash()
	}
	var te *TxError
	if errors.As(err, &te) {
		if _, code, ok := te.CustomCode(); ok && code == 0 {
			return fmt.Errorf("%w: %w", ErrAuthorizedElsewhere, err)
		}
	}
	return err
}

// proposeAndCollect builds the phase-1 message on the deployment's durable nonce (or a fresh
// blockhash) and collects M co-signatures (cosigners in order; the first M that agree form
// the quorum). When it gives up with signatures collected on a nonce, it advances the
// nonce (Abandon) so that they can never complete a transaction later.
func (d *Distributor) proposeAndCollect(ctx context.Context, ep EpochPayout) (signedTx, error) {
	s := ep.Summary()
	if len(d.cfg.Cosigners) < d.cfg.Threshold {
		return signedTx{}, fmt.Errorf("%d cosigners for a threshold of %d", len(d.cfg.Cosigners), d.cfg.Threshold)
	}
	var lastErr error
	var abandon *sol.Hash  // the nonce value proposals were built on
	collected := false     // some cosigner signed a proposal
	blockhashOnly := false // a cosigner cannot check durable-nonce proposals
	// Try quorums made of the first M cosigners that answer; a refusal drops that cosigner.
	avail := slices.Clone(d.cfg.Cosigners)
	for len(avail) >= d.cfg.Threshold {
		quorum := d.orderQuorum(avail[:d.cfg.Threshold])
		qk := make([][32]byte, len(quorum))
		for i, c := range quorum {
			qk[i] = c.Key()
		}
		payer := d.payer.PublicKey()
		msg, bh, lv, err := d.phase1Message(ctx, s, qk, blockhashOnly)
		if err != nil {
			return signedTx{}, err
		}
		if lv == nonceLife {
			abandon = &bh
		}
		prop := Proposal{Summary: s, Quorum: qk, Message: msg}
		sigs := map[[32]byte][64]byte{payer: [64]byte(ed25519.Sign(ed25519.PrivateKey(d.payer), msg))}
		refused := -1
		for i, c := range quorum {
			sig, err := c.Cosign(ctx, prop)
			if err != nil {
				d.log.Warn("cosigner refused phase 1", "epoch", s.Epoch, "oracle", sol.PublicKey(c.Key()).String(), "err", err)
				d.logFirstDifference(ctx, c, ep, err)
				lastErr = err
				refused = i
				d.m.refusals.Inc()
				break
			}
			sigs[c.Key()] = sig
			collected = true
		}
		if refused >= 0 && lv == nonceLife && nonceFormRefused(lastErr) {
			// A peer without a chain to read the nonce from, or of an older version:
			// propose again with a blockhash rather than lose its signature.
			d.log.Warn("cosigner refused the durable-nonce form; proposing with a blockhash", "epoch", s.Epoch, "oracle", sol.PublicKey(quorum[refused].Key()).String())
			blockhashOnly = true
			continue
		}
		if refused >= 0 {
			k := quorum[refused].Key()
			avail = slices.DeleteFunc(avail, func(c Cosigner) bool { return c.Key() == k })
			continue
		}
		raw, err := assemble(msg, sigs)
		if err != nil {
			return signedTx{}, err
		}
		var sig sol.Signature
		copy(sig[:], raw[1:65])
		return signedTx{raw: raw, signature: sig, blockhash: bh, lastValid: lv}, nil
	}
	if abandon != nil && collected {
		if err := d.Abandon(ctx, *abandon); err != nil {
			d.log.Warn("abandon phase-1 proposal", "epoch", s.Epoch, "err", err)
		}
	}
	return signedTx{}, fmt.Errorf("fewer than %d oracles agree: %w", d.cfg.Threshold, lastErr)
}

// logFirstDifference logs the first differing payout line when a cosigner refused over a
// summary mismatch and can list its payout lines.
func (d *Distributor) logFirstDifference(ctx context.Context, c Cosigner, ep EpochPayout, refusal error) {
	var mm *MismatchError
	df, ok := c.(differ)
	if !ok || !errors.As(refusal, &mm) {
		return
	}
	switch mm.Field {
	case "count", "total", "root":
	default:
		return
	}
	line, err := df.FirstDifference(ctx, ep)
	if err != nil {
		d.log.Warn("manifest disagreement: payout lines unavailable", "epoch", ep.Epoch, "oracle", sol.PublicKey(c.Key()).String(), "err", err)
		return
	}
	d.log.Warn("manifest disagreement", "epoch", ep.Epoch, "oracle", sol.PublicKey(c.Key()).String(), "first_difference", line)
}

// orderQuorum sorts cosigners by their position in the multisig.
func (d *Distributor) orderQuorum(cs []Cosigner) []Cosigner {
	pos := func(c Cosigner) int {
		k := c.Key()
		for i, o := range d.cfg.Oracles {
			if o == k {
				return i
			}
		}
		return math.MaxInt
	}
	out := slices.Clone(cs)
	slices.SortFunc(out, func(a, b Cosigner) int { return pos(a) - pos(b) })
	return out
}

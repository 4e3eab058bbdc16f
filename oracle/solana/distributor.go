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
	// JournalDir holds the signed transactions (exactly-once journal) of this coordinator
	// alone; another coordinator taking over an epoch has its own. Required.
	JournalDir string
	// Payer pays fees of setup and phase 1 and funds the phase-1 markers. Every coordinator
	// of a deployment holds the same key (the mint and multisig derive from it). Required.
	Payer ed25519.PrivateKey
	// Distributor is the hot key that is approved for each epoch's total, signs phase 2 and
	// pays its fees, its batch markers and the lookup tables (never owners' token
	// accounts). Every coordinator of a deployment holds the same key. Required.
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
	// AuthorizeEmpty authorises epochs that pay nothing too (phase 1 mints
	// and approves 0), so that every agreed epoch of an M-of-N deployment
	// has its record on chain: its markers and its memo, which an oracle
	// that missed the agreement reads to catch up. Default false: an empty
	// epoch is settled without a transaction.
	AuthorizeEmpty bool
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
	// busy serialises Distribute and the reclaims, which must not overlap.
	busy sync.Mutex
	// crash, when set (tests), is called after every step; an error aborts like a crash.
	crash func(step string) error
	bh    struct {
		sync.Mutex
		hash      sol.Hash
		lastValid uint64
		at        time.Time
	}
	units map[[2]int]uint64 // simulated compute units by payouts and skipped payouts per batch
	// group is how many batches are journaled and sent together (default 256; tests
	// lower it to crash between groups).
	group int
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

// errAlreadyDone: a builder found the entry's work already on chain (a batch whose marker
// exists); run records the entry as done without sending anything.
var errAlreadyDone = errors.New("already done on chain")

// run journals and settles simple transactions named name whose instructions are rebuilt
// by ixs on expiry. Entries already in the journal are resumed, not rebuilt, except those
// a classified failure left for a later run (failRetry), which are signed again. classify
// may be nil (every failure is fatal).
func (d *Distributor) run(ctx context.Context, names []string, ixs func(name string) ([]sol.Instruction, error), payer sol.PublicKey, tables func(name string) map[sol.PublicKey]sol.PublicKeySlice, classify classifyFunc, signers ...sol.PrivateKey) error {
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
		if e == nil || (!e.Done && e.Raw == nil) {
			s, err := build(ctx, n)
			if errors.Is(err, errAlreadyDone) {
				done := &entry{Name: n, Done: true, Elsewhere: true}
				if e != nil {
					done.Previous, done.Failed = e.Previous, e.Failed
				}
				if err := d.journal.put(done); err != nil {
					return err
				}
				d.m.elsewhere.Inc()
				continue
			}
			if err != nil {
				return err
			}
			ne := &entry{Name: n, Raw: s.raw, Signature: s.signature.String(), Blockhash: s.blockhash.String(), LastValid: s.lastValid}
			if e != nil {
				ne.Previous, ne.Failed = e.Previous, e.Failed
			}
			e = ne
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
	err := d.settle(ctx, es, build, classify)
	if err != nil && !errors.Is(err, errRetry) {
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
		if perr := d.journal.put(done...); perr != nil {
			return perr
		}
	}
	return err
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
		if err := d.run(ctx, []string{n}, func(n string) ([]sol.Instruction, error) { return ixs[n], nil }, payer, nil, nil, d.payer); err != nil {
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

// ErrAuthorizedElsewhere: the epoch's markers exist on chain, but the phase 1 that created
// them carries another manifest than the one given (another epoch count, total or root),
// so this coordinator must not pay it. A phase 1 with exactly the given manifest's memo is
// taken over instead (Distribute pays its phase 2).
var ErrAuthorizedElsewhere = errors.New("epoch already authorised with another manifest")

// ErrUnfinished: another authorised epoch's allowance is not used up, so this epoch cannot
// be authorised (ApproveChecked would overwrite that allowance). The error is an
// *UnfinishedError; UnfinishedEpoch names the epoch to finish first.
var ErrUnfinished = errors.New("another authorised epoch is unfinished")

// UnfinishedError names the epoch that holds the escrow's allowance.
type UnfinishedError struct {
	// Epoch is the requested epoch.
	Epoch uint64
	// Holder holds the allowance when Known (from the newest reward memo on the escrow).
	Holder uint64
	Known  bool
	// Allowance is what is left of the holder's allowance.
	Allowance uint64
}

func (e *UnfinishedError) Error() string {
	if !e.Known {
		return fmt.Sprintf("%v: an allowance of %d is left and no reward memo on the escrow names its epoch", ErrUnfinished, e.Allowance)
	}
	return fmt.Sprintf("%v: epoch %d holds the allowance (%d left); distribute epoch %d first", ErrUnfinished, e.Holder, e.Allowance, e.Holder)
}

// Unwrap makes errors.Is(err, ErrUnfinished) hold.
func (e *UnfinishedError) Unwrap() error { return ErrUnfinished }

// UnfinishedEpoch returns the epoch that must be finished (by Distribute with its payout)
// before the epoch of err can be authorised; ok is false when err is not ErrUnfinished or
// the epoch is unknown.
func UnfinishedEpoch(err error) (epoch uint64, ok bool) {
	var ue *UnfinishedError
	if !errors.As(err, &ue) || !ue.Known {
		return 0, false
	}
	return ue.Holder, true
}

func epochDir(e uint64) string { return "e" + strconv.FormatUint(e, 10) }

// Distribute settles one epoch exactly once, whoever else tries: phase 1 (co-signed mint
// and approval), lookup tables, then phase 2 batches, each batch guarded by its own
// marker. It resumes from the journal after a crash and returns nil at once for an epoch
// this journal settled. A coordinator whose journal never sent phase 1 takes the epoch
// over when the chain shows its phase 1 landed with exactly p's memo (another leader
// authorised it, then failed), and pays the batches no one paid yet. Epochs may be
// distributed in any order, except that none is authorised while another's allowance is
// unused (*UnfinishedError names that epoch).
func (d *Distributor) Distribute(ctx context.Context, p EpochPayout) error {
	d.busy.Lock()
	defer d.busy.Unlock()
	if err := p.Validate(); err != nil {
		return fmt.Errorf("distribute: %w", err)
	}
	dir := epochDir(p.Epoch)
	if _, ok, err := d.journal.marked(dir + ".settled"); err != nil || ok {
		return err
	}
	if p.Total == 0 && !d.cfg.AuthorizeEmpty {
		return d.settled(p.Epoch)
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

func (d *Distributor) settled(epoch uint64) error {
	return d.journal.mark(epochDir(epoch)+".settled", []byte("1"))
}

// phase1 authorises the epoch (markers, mint, approve and memo, co-signed by M oracles),
// or takes over a phase 1 that landed with this epoch's memo.
func (d *Distributor) phase1(ctx context.Context, p EpochPayout) error {
	name := epochDir(p.Epoch) + "/phase1"
	e, err := d.journal.get(name)
	if err != nil {
		return err
	}
	if e == nil {
		// Never sent by us: if the markers exist, another coordinator authorised it.
		if taken, err := d.takeOver(ctx, p, nil); err != nil || taken {
			return err
		}
		// Approve overwrites the allowance: the epoch holding it must be paid first.
		al, err := d.chain().Allowance(ctx, d.accounts)
		if err != nil {
			return err
		}
		if al.Amount > 0 && al.Known && al.Epoch == p.Epoch {
			// This epoch holds the allowance, yet no marker of it exists: its markers were
			// closed while it was unfinished. Authorising it again would pay it twice.
			return fmt.Errorf("%w: epoch %d holds the allowance (%d left) but has no phase-1 marker", ErrAuthorizedElsewhere, p.Epoch, al.Amount)
		}
		if al.Amount > 0 {
			return &UnfinishedError{Epoch: p.Epoch, Holder: al.Epoch, Known: al.Known, Allowance: al.Amount}
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
		if e.Raw != nil {
			e.Raw = nil // landed: keep the record small and skip the status poll on resume
			return d.journal.put(e)
		}
	}
	var te *TxError
	if errors.As(err, &te) {
		if _, code, ok := te.CustomCode(); ok && code == 0 {
			// A marker exists: another coordinator's phase 1 landed meanwhile.
			if taken, terr := d.takeOver(ctx, p, e); terr != nil || taken {
				return terr
			}
			return fmt.Errorf("%w: %w", ErrAuthorizedElsewhere, err)
		}
	}
	return err
}

// takeOver checks the epoch's markers. None exists: false. One exists and the phase 1
// that created it carries exactly p's memo: the journal records that phase 1 as done
// elsewhere (ours, if given, keeps its signatures as failed) and takeOver returns true.
// Otherwise ErrAuthorizedElsewhere.
func (d *Distributor) takeOver(ctx context.Context, p EpochPayout, ours *entry) (bool, error) {
	markers := make([]sol.PublicKey, 0, len(d.cfg.Oracles))
	for _, o := range d.cfg.Oracles {
		m, err := MarkerAddress(o, p.Epoch)
		if err != nil {
			return false, err
		}
		markers = append(markers, m)
	}
	got, err := d.accountsData(ctx, markers)
	if err != nil {
		return false, err
	}
	existing := -1
	for i, a := range got {
		if isMarker(a, d.cfg.Oracles[i]) {
			existing = i
			break
		}
	}
	if existing < 0 {
		return false, nil
	}
	seen, err := phase1Landed(ctx, d.rpc, d.cfg.Oracles, p.Epoch)
	if err != nil {
		return false, err
	}
	memo := Phase1Memo(p.Summary())
	for _, s := range seen {
		if s.Memo != memo {
			continue
		}
		e := &entry{Name: epochDir(p.Epoch) + "/phase1", Signature: s.Signature, Done: true, Slot: s.Slot, Elsewhere: true}
		if ours != nil {
			e.Previous = ours.Previous
			e.Failed = append(slices.Clone(ours.Failed), ours.Signature)
		}
		if err := d.journal.put(e); err != nil {
			return false, err
		}
		d.log.Info("taking over epoch authorised by another coordinator", "epoch", p.Epoch, "signature", s.Signature)
		d.m.takeovers.Inc()
		return true, nil
	}
	other := "no phase-1 memo found"
	if len(seen) > 0 {
		other = fmt.Sprintf("memo %q", seen[0].Memo)
	}
	return false, fmt.Errorf("marker of oracle %s exists with %s, want %q: %w", sol.PublicKey(d.cfg.Oracles[existing]), other, memo, ErrAuthorizedElsewhere)
}

// chain is a read-only view through the distributor's client.
func (d *Distributor) chain() *Chain { return (&Chain{rpc: d.rpc}).WithHorizon(d.horizon()) }

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
	var abandon *sol.Hash // the nonce value proposals were built on
	collected := false    // some cosigner signed a proposal
	// Try quorums made of the first M cosigners that answer; a refusal drops that cosigner.
	avail := slices.Clone(d.cfg.Cosigners)
	for len(avail) >= d.cfg.Threshold {
		quorum := d.orderQuorum(avail[:d.cfg.Threshold])
		qk := make([][32]byte, len(quorum))
		for i, c := range quorum {
			qk[i] = c.Key()
		}
		payer := d.payer.PublicKey()
		if err := d.fundMarkers(ctx, s.Epoch, qk); err != nil {
			return signedTx{}, err
		}
		msg, bh, lv, err := d.phase1Message(ctx, s, qk)
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

// fundMarkers tops the phase-1 marker addresses of quorum for epoch up to markerRent, from
// the payer, in a journaled transaction of its own before the proposal is built. Phase 1
// itself only allocates and initialises its markers (createMarker): a transfer per marker
// would not fit 3-of-5 in 1 232 bytes, and amounts read from balances that anyone can
// change would make the message differ between leader and co-signers. Funding is safe to
// repeat and cannot be undone by others: a System account without data at a marker
// address gives its lamports only to its base's signature (Reclaim returns them). An
// address that already is a marker is left alone; phase 1 then fails at it, as a second
// authorisation must.
func (d *Distributor) fundMarkers(ctx context.Context, epoch uint64, quorum [][32]byte) error {
	payer := d.payer.PublicKey()
	ms := make([]sol.PublicKey, len(quorum))
	for i, o := range quorum {
		m, err := MarkerAddress(o, epoch)
		if err != nil {
			return err
		}
		ms[i] = m
	}
	for attempt := range 3 {
		got, err := d.accountsData(ctx, ms)
		if err != nil {
			return fmt.Errorf("fund markers: %w", err)
		}
		var ixs []sol.Instruction
		for i, a := range got {
			var have uint64
			if a != nil {
				if a.Owner != systemProgram {
					continue // a marker already
				}
				have = a.Lamports
			}
			if have < markerRent {
				ixs = append(ixs, transferLamports(payer, ms[i], markerRent-have))
			}
		}
		if len(ixs) == 0 {
			return nil
		}
		name := fmt.Sprintf("%s/fund-markers-%s-%d", epochDir(epoch), groupName(ms), attempt)
		if err := d.run(ctx, []string{name}, func(string) ([]sol.Instruction, error) { return ixs, nil }, payer, nil, nil, d.payer); err != nil {
			return fmt.Errorf("fund markers: %w", err)
		}
	}
	return fmt.Errorf("fund markers of epoch %d: still below %d lamports after 3 transfers", epoch, markerRent)
}

package oracle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/oracle/solana"
	"github.com/hexfield/hexfield/verifier"
	"github.com/hexfield/hexfield/wire"
)

// M-of-N agreement on each epoch (issue 12). Oracles stamp reports by
// their own clocks and some miss reports, so before anyone signs, the
// epoch's leader and its peers settle one input, then compute the
// manifest from it.
//
// # The input
//
// An epoch's input is the registry snapshot and every report the
// verifier's window needs. The registry snapshot is the fold of the
// signed registry changes effective before the epoch's start
// (changes.go); a proposal commits to their list too
// (InputRef.changes_root), and a peer settles it first, as it does the
// reports: it fetches and applies the changes it lacks, each checked as
// a live request, and pushes the leader those the leader lacks.
//
// The reports whose stamps lie in the epoch's
// reconciled range [from, CloseAt(n)) are settled by the agreement;
// reports before the range were settled by earlier epochs' agreements. The
// range starts at CloseAt(n−1), or earlier when epochs before n are not
// settled yet (disputed, or still in flight): then their reports are
// reconciled again here. A proposal names its input by an InputRef: the
// range, the count and a root over the entries (id, kind, stamp) in id
// order; entries are fetched in id-ordered pages and reports by id.
//
// # Leaders
//
// The members are the N oracle keys sorted by bytes. Counting
// leaderTimeout slots from CloseAt(n) + settle, the leader of slot s is
// members[(n + s) mod N]. A leader that has not had phase 1 land by the
// end of its slot stops; the next one takes over, with no configuration
// change. The chain's per-epoch markers keep payment exactly once, whoever
// leads (oracle/solana). After a whole pass of N slots without
// authorisation the epoch is recorded as disputed, with the refusals
// logged, and later epochs go on; a disputed epoch is tried again for a
// pass after each later epoch closes, and is then still paid only once.
//
// # One round
//
//  1. The leader lists its reports in the range and sends the InputRef.
//  2. Each peer fetches the list, then every report it lacks, checking each
//     hotspot signature and that the report's id is the hash of its bytes;
//     it stores them with the leader's stamps. It pushes the leader every
//     report it holds in the range that the list lacks, with its own stamp.
//  3. A peer that pushed nothing, holds exactly the listed reports and
//     accepts every stamp (below) computes the manifest from the input and
//     answers with its hash. Otherwise it answers with what it pushed or
//     why it refuses.
//  4. The leader, with pushed reports stored, starts the next round; once
//     a round has no pushes and M − 1 peers computed its manifest, it asks
//     for phase-1 signatures. A peer signs only the summary it computed
//     itself from the input it accepted from that leader. After maxRounds
//     the leader gives up its slot.
//
// # Stamps
//
// The settled stamp of a report is the one in the agreed list: the
// leader's own, or for a report the leader lacked, the stamp of the peer
// that pushed it. A peer accepts a stamp s for a report it holds with its
// own stamp t when |s − t| ≤ stampSpread. When it does not hold the
// report, or received it late (t more than stampSpread after the report's
// own signed clock, as after an outage), s must be plausible against the
// report's signed content: not before the hotspot's signed clock minus
// clockSkew nor more than maxHold after it, and for a beacon within the
// life of the oracle-signed entropy it was built from. Once an epoch is
// authorised, every oracle records its input: the listed reports take
// their settled stamps, and reports it holds in the range that the input
// left out are excluded from every later input. So a report is counted in
// one epoch only, and every later epoch sees the same history.
//
// # What one dishonest oracle can and cannot do
//
// With M > N/2 and at most one dishonest oracle, every quorum of M has an
// honest member that computed the manifest itself.
//   - It cannot invent reports: every report carries a hotspot signature
//     that each peer checks, and its id is the hash of its bytes.
//   - It cannot invent or alter registry changes: each is signed by the
//     hotspot, owner, organization member or operator it must be, and
//     peers apply it with every check of a live request (ownership,
//     nonces, fees). It cannot date one: the time it takes effect is
//     signed in it. It can hold back a change only it received (as its
//     sender could have), or release a genuine one late; a late change
//     still cannot take effect before the last settled epoch's start or
//     before a later change of the same hotspot or organization, so
//     settled epochs keep their registry
//     (TestOraclesReconcileRegistryOnLocalnet, TestChangeChecks).
//   - It cannot leave out reports an honest peer holds: the peer pushes
//     them and refuses any input without them.
//   - It cannot tamper with the manifest: peers sign only what they
//     computed from the input themselves (TestDishonestLeader).
//   - It cannot move a stamp that an honest peer saw live by more than
//     stampSpread. For a report only it received, it can choose the stamp
//     within the plausible bounds of the report's signed content: the same
//     freedom a hotspot has in choosing when to send it.
//   - It can refuse to sign or to lead, and stall its own slot: the next
//     leader takes over after leaderTimeout.
//   - It cannot have an epoch paid twice, or paid after it was settled:
//     the chain's markers are created once per oracle and epoch, and any
//     two quorums share a member (oracle/solana).

// Consensus parameters, the same for every oracle of a network.
const (
	// stampSpread is how far apart honest oracles stamp a report they
	// receive live.
	stampSpread = 10 * time.Second
	// clockSkew is how far before a hotspot's signed clock a stamp may be.
	clockSkew = 2 * time.Minute
	// maxHold is how long after its signed clock a report may reach an
	// oracle (the hotspot's outbox holds reports while oracles are down).
	maxHold = 24 * time.Hour
	// maxRounds bounds the reconciliation rounds of one leader slot.
	maxRounds = 4
	// maxInput bounds the entries of an input a peer accepts.
	maxInput = 50_000_000
	// pageLimit is the entries per InputPage (≈ 45 bytes each, within
	// one frame); reportsLimit the ids per ReportsRequest and the reports
	// per PushRequest; a ReportsResponse or PushRequest also stops at
	// frameBudget bytes.
	pageLimit    = 1024
	reportsLimit = 256
	frameBudget  = wire.MaxFrameSize - 8<<10
)

// errDisputed: an epoch was not agreed within a pass of leader slots.
var errDisputed = errors.New("epoch disputed")

// AuthChain reads phase-1 authorisations from the chain.
type AuthChain interface {
	// Authorization returns the summary of epoch's phase 1 if it landed.
	Authorization(ctx context.Context, epoch uint64) (solana.Summary, bool, error)
}

// consensus is an oracle's part in M-of-N agreement.
type consensus struct {
	o       *Oracle
	self    wire.PublicKey
	members []wire.PublicKey // sorted by bytes, self included
	m       int
	peers   map[wire.PublicKey]*CosignClient
	// pay settles an authorised epoch on chain; nil: this oracle never
	// leads (it holds no payer and distributor keys).
	pay     Rewarder
	chain   AuthChain
	slot    time.Duration // leaderTimeout
	poll    time.Duration
	log     *slog.Logger
	mu      sync.Mutex
	offered map[uint64]*offer         // this oracle's current proposal, by epoch
	taken   map[acceptKey]*acceptance // inputs accepted, by leader and epoch
}

// offer is a leader's current proposal for an epoch.
type offer struct {
	ref     *wire.InputRef
	entries []inputEntry
	acc     accrualInput
}

type acceptKey struct {
	leader wire.PublicKey
	epoch  uint64
}

// acceptance is an input an oracle accepted and the manifest it computed.
type acceptance struct {
	ref      *wire.InputRef
	entries  []inputEntry
	acc      accrualInput
	manifest []byte
	summary  solana.Summary
	leader   wire.PublicKey
	// fetched and pushed count the reports this oracle fetched from or
	// sent to peers to settle the input.
	fetched, pushed int
	at              time.Time // when it was accepted
}

// agreement is how an epoch was settled.
type agreement struct {
	acceptance
	led      bool // this oracle led the authorisation and paid it
	attempts int
}

func newConsensus(o *Oracle, members []wire.PublicKey, m int, peers []*CosignClient, pay Rewarder, chain AuthChain, slot time.Duration, log *slog.Logger) *consensus {
	c := &consensus{o: o, self: o.pub, members: members, m: m, peers: map[wire.PublicKey]*CosignClient{},
		pay: pay, chain: chain, slot: slot, poll: 500 * time.Millisecond, log: log,
		offered: map[uint64]*offer{}, taken: map[acceptKey]*acceptance{}}
	for _, p := range peers {
		c.peers[p.Key()] = p
	}
	return c
}

// leaderAt returns the leader of epoch n at time t, and when its slot ends.
func (c *consensus) leaderAt(n uint64, t time.Time) (wire.PublicKey, int64, time.Time) {
	base := time.UnixMilli(c.o.params.CloseAt(n)).Add(settle)
	s := int64(0)
	if d := t.Sub(base); d > 0 {
		s = int64(d / c.slot)
	}
	return c.members[(n+uint64(s))%uint64(len(c.members))], s, base.Add(time.Duration(s+1) * c.slot)
}

// agree settles epoch n: it leads in its slots and otherwise waits for
// the chain, for one pass of N slots from now. It returns errDisputed after the
// pass.
func (c *consensus) agree(ctx context.Context, n uint64) (agreement, error) {
	_, first, _ := c.leaderAt(n, c.o.now())
	var refusals []string
	attempts := 0
	for {
		if a, ok, err := c.settled(ctx, n); err != nil {
			c.log.Warn("consensus: epoch state", "epoch", n, "err", err)
			if errors.Is(err, errNoParent) {
				// The parent is an epoch not settled here yet: catch it up
				// now rather than after this epoch.
				if err := c.o.catchUpAuthorised(ctx, n); err != nil && ctx.Err() == nil {
					c.log.Warn("consensus: catching up", "epoch", n, "err", err)
				}
			}
		} else if ok {
			a.attempts = attempts
			return a, nil
		}
		leader, s, end := c.leaderAt(n, c.o.now())
		if s >= first+int64(len(c.members)) {
			return agreement{}, fmt.Errorf("%w: epoch %d not authorised after %d leader slots: %v", errDisputed, n, len(c.members), refusals)
		}
		if leader == c.self && c.pay != nil {
			// Never lead on a stale accrual parent: settle first what
			// the others authorised while this oracle was behind, and
			// until that works, leave the slot to the others' answers.
			if err := c.o.catchUpAuthorised(ctx, n); err != nil {
				if ctx.Err() != nil {
					return agreement{}, ctx.Err()
				}
				c.log.Warn("consensus: catching up before leading", "epoch", n, "err", err)
				if r := "catching up: " + err.Error(); len(refusals) == 0 || refusals[len(refusals)-1] != r {
					refusals = append(refusals, r)
				}
				c.waitPoll(ctx, end)
				continue
			}
			attempts++
			sctx, cancel := context.WithDeadline(ctx, end)
			a, err := c.lead(sctx, n)
			cancel()
			if err == nil {
				a.attempts = attempts
				return a, nil
			}
			if ctx.Err() != nil {
				return agreement{}, ctx.Err()
			}
			refusals = append(refusals, err.Error())
			c.log.Warn("consensus: leading failed", "epoch", n, "slot", s, "err", err)
			c.wait(ctx, end)
			continue
		}
		c.waitPoll(ctx, end)
		if ctx.Err() != nil {
			return agreement{}, ctx.Err()
		}
	}
}

// waitPoll waits one poll interval, or until end if that is sooner.
func (c *consensus) waitPoll(ctx context.Context, end time.Time) {
	next := c.o.now().Add(c.poll)
	if end.Before(next) {
		next = end
	}
	c.wait(ctx, next)
}

func (c *consensus) wait(ctx context.Context, until time.Time) {
	d := until.Sub(c.o.now())
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// settled reports whether epoch n is settled: authorised on chain (every
// agreed epoch is, also one that pays nothing) with a summary this oracle
// can reproduce, from an input it accepted or one it fetches from a peer.
func (c *consensus) settled(ctx context.Context, n uint64) (agreement, bool, error) {
	s, ok, err := c.chain.Authorization(ctx, n)
	if err != nil || !ok {
		return agreement{}, false, err
	}
	// The input accepted last with the authorised summary: an earlier
	// leader's identical proposal that got no signatures is not the one
	// that was paid.
	c.mu.Lock()
	var found *acceptance
	for k, a := range c.taken {
		if k.epoch == n && a.summary == s && (found == nil || a.at.After(found.at)) {
			found = a
		}
	}
	c.mu.Unlock()
	if found != nil {
		return agreement{acceptance: *found}, true, nil
	}
	a, err := c.catchUp(ctx, n, s)
	if err != nil {
		return agreement{}, false, fmt.Errorf("epoch %d authorised on chain but not reproduced here: %w", n, err)
	}
	return agreement{acceptance: a}, true, nil
}

// catchUp fetches the input a peer settled (or proposed) for epoch n and
// accepts it if its manifest has the authorised summary s.
func (c *consensus) catchUp(ctx context.Context, n uint64, s solana.Summary) (acceptance, error) {
	var errs []error
	for _, k := range c.members {
		p := c.peers[k]
		if p == nil {
			continue
		}
		var resp wire.AgreedResponse
		if err := p.roundTrip(ctx, &wire.CosignStream{Msg: &wire.CosignStream_Agreed{Agreed: &wire.AgreedRequest{Epoch: n}}}, &resp); err != nil {
			errs = append(errs, err)
			continue
		}
		if resp.GetError() != "" {
			errs = append(errs, fmt.Errorf("oracle %s: %s", k, resp.GetError()))
			continue
		}
		a, _, err := c.take(ctx, p, resp.GetRef(), false)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if l, err := wire.PublicKeyFromBytes(resp.GetLeader()); err == nil && slices.Contains(c.members, l) {
			a.leader = l
		}
		if a.summary != s {
			errs = append(errs, fmt.Errorf("oracle %s's input gives %+v, the chain has %+v", k, a.summary, s))
			continue
		}
		c.log.Info("consensus: caught up", "epoch", n, "from", k.String(), "reports", len(a.entries))
		return a, nil
	}
	return acceptance{}, errors.Join(errs...)
}

// rangeOf returns the reconciled range of epoch n: from the close of the
// newest settled epoch before n (at most back to the verifier's input
// window) to CloseAt(n).
func (c *consensus) rangeOf(n uint64) (int64, int64, error) {
	p := c.o.params
	wfrom, to := p.InputWindow(n)
	from := p.CloseAt(n - 1)
	for m := n - 1; m > 0 && p.CloseAt(m-1) > wfrom; m-- {
		rec, found, err := c.o.store.epochRecord(m)
		if err != nil {
			return 0, 0, err
		}
		// Settled, or before this oracle's first epoch (it holds nothing
		// stamped then that it did not fetch for a settled input).
		if !found || rec.Step >= StepComputed {
			break
		}
		from = p.CloseAt(m - 1)
	}
	return max(from, wfrom), to, nil
}

// lead runs reconciliation rounds for epoch n as its leader and, once M
// oracles computed the same manifest, has it authorised and paid.
func (c *consensus) lead(ctx context.Context, n uint64) (agreement, error) {
	from, to, err := c.rangeOf(n)
	if err != nil {
		return agreement{}, err
	}
	var pushed, fetched int
	down := map[wire.PublicKey]bool{}
	for round := range maxRounds {
		// Read each round: registry changes a peer pushed add owners.
		acc, err := c.o.accrualFor(ctx, n)
		if err != nil {
			return agreement{}, err
		}
		froot := fundedRoot(acc.funded)
		entries, err := c.o.store.candidates(from, to)
		if err != nil {
			return agreement{}, err
		}
		root := inputRoot(entries)
		ref := &wire.InputRef{Epoch: n, Round: uint32(round), FromMs: from, ToMs: to, Count: uint64(len(entries)), Root: root[:],
			Parent: acc.parent, FundedCount: uint64(len(acc.funded)), FundedRoot: froot[:]}
		if err := c.changesRef(ref); err != nil {
			return agreement{}, err
		}
		c.mu.Lock()
		c.offered[n] = &offer{ref: ref, entries: entries, acc: acc}
		c.mu.Unlock()
		resps := c.reconcileAll(ctx, ref, down)
		roundPushed := 0
		for _, r := range resps {
			roundPushed += int(r.resp.GetPushed())
			pushed += int(r.resp.GetPushed())
			fetched += int(r.resp.GetFetched())
		}
		if roundPushed > 0 && round < maxRounds-1 {
			c.log.Info("consensus: peers sent missing reports or registry changes", "epoch", n, "round", round, "sent", roundPushed)
			continue
		}
		raw, sum, err := c.o.manifestFrom(n, from, entries, acc)
		if err != nil {
			return agreement{}, err
		}
		hash := sha256.Sum256(raw)
		agreeing := 1
		var refusals []string
		for _, r := range resps {
			switch {
			case r.err != nil:
				refusals = append(refusals, fmt.Sprintf("%s: %v", r.peer, r.err))
			case r.resp.GetAgree() && bytes.Equal(r.resp.GetManifestHash(), hash[:]):
				agreeing++
			case r.resp.GetAgree():
				refusals = append(refusals, fmt.Sprintf("%s: computed a different manifest from the same input", r.peer))
			case r.resp.GetRefused() != "":
				refusals = append(refusals, fmt.Sprintf("%s: %s", r.peer, r.resp.GetRefused()))
			default:
				refusals = append(refusals, fmt.Sprintf("%s: pushed %d reports in the last round", r.peer, r.resp.GetPushed()))
			}
		}
		if agreeing < c.m {
			return agreement{}, fmt.Errorf("round %d: %d of %d oracles agree on the input (%d reports): %v", round, agreeing, c.m, len(entries), refusals)
		}
		a := acceptance{ref: ref, entries: entries, acc: acc, manifest: raw, summary: sum, leader: c.self, fetched: fetched, pushed: pushed, at: time.Now()}
		c.mu.Lock()
		c.taken[acceptKey{c.self, n}] = &a
		c.mu.Unlock()
		c.log.Info("consensus: input agreed", "epoch", n, "round", round, "reports", len(entries), "oracles", agreeing,
			"reconciled", pushed+fetched)
		if err := c.distribute(ctx, n, raw); err != nil {
			return agreement{}, err
		}
		return agreement{acceptance: a, led: true}, nil
	}
	return agreement{}, fmt.Errorf("no agreement within %d rounds", maxRounds)
}

// distribute pays epoch n's manifest, first finishing an earlier
// authorised epoch whose allowance is still open (its leader died).
func (c *consensus) distribute(ctx context.Context, n uint64, raw []byte) error {
	man, err := verifier.UnmarshalManifest(raw)
	if err != nil {
		return err
	}
	for range 3 {
		err = c.pay.Distribute(ctx, payoutOf(man))
		m, ok := solana.UnfinishedEpoch(err)
		if !ok || m == n {
			return err
		}
		prev, found, err := c.o.store.Manifest(m)
		if err != nil || !found {
			return fmt.Errorf("epoch %d holds the allowance and its manifest is not here: %w", m, err)
		}
		pm, err := verifier.UnmarshalManifest(prev)
		if err != nil {
			return err
		}
		c.log.Info("consensus: finishing an earlier epoch's payouts first", "epoch", m)
		if err := c.pay.Distribute(ctx, payoutOf(pm)); err != nil {
			return fmt.Errorf("finish epoch %d: %w", m, err)
		}
	}
	return err
}

type peerAnswer struct {
	peer wire.PublicKey
	resp *wire.ReconcileResponse
	err  error
}

// reconcileAll sends ref to every peer not in down at once, and adds to
// down the peers that cannot be reached. It leaves the last 40 % of the
// slot for phase 1.
func (c *consensus) reconcileAll(ctx context.Context, ref *wire.InputRef, down map[wire.PublicKey]bool) []peerAnswer {
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Now().Add(time.Until(dl)*6/10))
		defer cancel()
	}
	out := make([]peerAnswer, 0, len(c.peers))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for k, p := range c.peers {
		if down[k] {
			continue
		}
		wg.Go(func() {
			var resp wire.ReconcileResponse
			err := p.roundTrip(ctx, &wire.CosignStream{Msg: &wire.CosignStream_Reconcile{Reconcile: &wire.ReconcileRequest{Ref: ref}}}, &resp)
			if err != nil {
				// Down, or too slow for this slot: not asked again in it,
				// and phase 1 does not wait for it either.
				p.markDown()
				mu.Lock()
				down[k] = true
				mu.Unlock()
			}
			mu.Lock()
			out = append(out, peerAnswer{peer: k, resp: &resp, err: err})
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.SortFunc(out, func(a, b peerAnswer) int { return bytes.Compare(a.peer[:], b.peer[:]) })
	return out
}

// reconcile answers a leader's proposal (step 2 and 3 of a round).
func (c *consensus) reconcile(ctx context.Context, leader wire.PublicKey, ref *wire.InputRef) *wire.ReconcileResponse {
	p := c.peers[leader]
	if p == nil {
		return &wire.ReconcileResponse{Refused: "not a peer"}
	}
	if l, _, _ := c.leaderAt(ref.GetEpoch(), c.o.now()); l != leader && !c.recentLeader(ref.GetEpoch(), leader) {
		return &wire.ReconcileResponse{Refused: fmt.Sprintf("not the leader of epoch %d now (%s is)", ref.GetEpoch(), l)}
	}
	a, counts, err := c.take(ctx, p, ref, true)
	resp := &wire.ReconcileResponse{Pushed: uint64(counts.pushed), Fetched: uint64(counts.fetched)}
	if err != nil {
		if !errors.Is(err, errPushed) {
			resp.Refused = err.Error()
			c.log.Warn("consensus: refused input", "epoch", ref.GetEpoch(), "leader", leader.String(), "reason", err.Error())
		}
		return resp
	}
	h := sha256.Sum256(a.manifest)
	resp.Agree, resp.ManifestHash = true, h[:]
	a.at = time.Now()
	c.mu.Lock()
	c.taken[acceptKey{leader, ref.GetEpoch()}] = &a
	c.mu.Unlock()
	return resp
}

// recentLeader: leader's slot for epoch n ended less than a slot ago (its
// clock may run a little behind ours).
func (c *consensus) recentLeader(n uint64, leader wire.PublicKey) bool {
	l, _, _ := c.leaderAt(n, c.o.now().Add(-c.slot/2))
	return l == leader
}

var errPushed = errors.New("pushed reports the leader lacked")

type takeCounts struct{ fetched, pushed int }

// take fetches the input ref from peer p, stores the reports it lacks and
// checks the input (see the package comment); with push, it sends the
// peer the reports of the range the input lacks (and then returns
// errPushed). It returns the accepted input with the manifest computed
// from it.
func (c *consensus) take(ctx context.Context, p *CosignClient, ref *wire.InputRef, push bool) (acceptance, takeCounts, error) {
	var counts takeCounts
	n := ref.GetEpoch()
	wfrom, wto := c.o.params.InputWindow(n)
	switch {
	case ref.GetToMs() != wto:
		return acceptance{}, counts, fmt.Errorf("input range ends at %d, epoch %d closes at %d", ref.GetToMs(), n, wto)
	case ref.GetFromMs() < wfrom || ref.GetFromMs() > c.o.params.CloseAt(n-1):
		return acceptance{}, counts, fmt.Errorf("input range starts at %d, outside [%d, %d]", ref.GetFromMs(), wfrom, c.o.params.CloseAt(n-1))
	case ref.GetCount() > maxInput:
		return acceptance{}, counts, fmt.Errorf("input of %d reports exceeds %d", ref.GetCount(), maxInput)
	case len(ref.GetRoot()) != 32:
		return acceptance{}, counts, fmt.Errorf("input root of %d bytes", len(ref.GetRoot()))
	}
	if own, _, err := c.rangeOf(n); push && err == nil && ref.GetFromMs() > own {
		return acceptance{}, counts, fmt.Errorf("input range starts at %d, after %d where this oracle's unsettled reports start", ref.GetFromMs(), own)
	}
	// The registry first: the reports' checks and the manifest read it.
	fetched, pushed, err := c.takeChanges(ctx, p, ref, push)
	counts.fetched, counts.pushed = fetched, pushed
	if err != nil {
		return acceptance{}, counts, err
	}
	acc, err := c.takeAccrual(ctx, p, ref, push)
	if err != nil {
		return acceptance{}, counts, err
	}
	theirs, err := c.fetchEntries(ctx, p, ref, false)
	if err != nil {
		return acceptance{}, counts, err
	}
	mine, err := c.o.store.candidates(ref.GetFromMs(), ref.GetToMs())
	if err != nil {
		return acceptance{}, counts, err
	}
	var lack [][32]byte
	var extra []inputEntry
	i, j := 0, 0
	for i < len(theirs) || j < len(mine) {
		switch {
		case j == len(mine) || (i < len(theirs) && bytes.Compare(theirs[i].ID[:], mine[j].ID[:]) < 0):
			lack = append(lack, theirs[i].ID)
			i++
		case i == len(theirs) || bytes.Compare(theirs[i].ID[:], mine[j].ID[:]) > 0:
			extra = append(extra, mine[j])
			j++
		default:
			// Catching up, the input is already authorised: its stamps
			// are the settled ones, whatever this oracle saw.
			if push {
				if err := c.checkStamp(theirs[i], mine[j]); err != nil {
					return acceptance{}, counts, err
				}
			}
			i++
			j++
		}
	}
	// Reports the leader listed that this oracle excluded when it settled
	// an earlier input, or holds outside the range, are fetched only if
	// not stored at all.
	var fetch [][32]byte
	for _, id := range lack {
		r, found, err := c.o.store.Report(id)
		if err != nil {
			return acceptance{}, counts, err
		}
		if !found {
			fetch = append(fetch, id)
			continue
		}
		// Stored, but not in the range here: its stamp must check out.
		e := theirs[slices.IndexFunc(theirs, func(e inputEntry) bool { return e.ID == id })]
		if push {
			if err := c.checkStamp(e, inputEntry{ID: id, Kind: r.Kind, Ms: r.ReceivedMs}); err != nil {
				return acceptance{}, counts, err
			}
		}
	}
	fetched, err = c.fetchReports(ctx, p, fetch, theirs)
	if counts.fetched += fetched; err != nil {
		return acceptance{}, counts, err
	}
	if push && len(extra) > 0 {
		pushed, err = c.push(ctx, p, n, extra)
		if counts.pushed += pushed; err != nil {
			return acceptance{}, counts, fmt.Errorf("push %d reports to the leader: %w", len(extra), err)
		}
		return acceptance{}, counts, errPushed
	}
	raw, sum, err := c.o.manifestFrom(n, ref.GetFromMs(), theirs, acc)
	if err != nil {
		return acceptance{}, counts, err
	}
	leader := wire.PublicKey(p.Key())
	return acceptance{ref: ref, entries: theirs, acc: acc, manifest: raw, summary: sum, leader: leader, fetched: counts.fetched, pushed: counts.pushed}, counts, nil
}

// checkStamp accepts the proposed settled stamp of a report this oracle
// holds with its own stamp.
func (c *consensus) checkStamp(proposed, own inputEntry) error {
	if proposed.Kind != own.Kind {
		return fmt.Errorf("report %x: proposed as %v, stored as %v", proposed.ID[:8], proposed.Kind, own.Kind)
	}
	d := proposed.Ms - own.Ms
	if d <= stampSpread.Milliseconds() && d >= -stampSpread.Milliseconds() {
		return nil
	}
	r, found, err := c.o.store.Report(own.ID)
	if err != nil || !found {
		return fmt.Errorf("report %x: %w", own.ID[:8], errors.Join(err, errNotStored))
	}
	sr, err := openReport(r.Envelope)
	if err != nil {
		return err
	}
	// Without a signed clock this oracle cannot tell that it received the
	// report late, so its own stamp stands.
	if sr.clockMs == 0 || own.Ms-sr.clockMs <= stampSpread.Milliseconds() {
		return fmt.Errorf("report %x: stamp %d is %d ms from this oracle's live stamp %d", own.ID[:8], proposed.Ms, d, own.Ms)
	}
	// Received late here: only plausibility.
	return sr.plausible(proposed.Ms)
}

// fetchEntries reads the entries of ref from p and checks them against it.
// With funded, it reads the funded owners' list instead (keys as ids).
func (c *consensus) fetchEntries(ctx context.Context, p *CosignClient, ref *wire.InputRef, funded bool) ([]inputEntry, error) {
	count := ref.GetCount()
	if funded {
		count = ref.GetFundedCount()
	}
	out := make([]inputEntry, 0, min(count, 1<<20))
	req := &wire.InputPageRequest{Ref: ref, Limit: pageLimit, Funded: funded}
	err := readPages(ctx, p, req, "input page", func(e *wire.InputEntry) ([]byte, error) {
		if len(e.GetId()) != 32 || (!funded && (!slices.Contains(reportKinds, e.GetKind()) || e.GetMs() < ref.GetFromMs() || e.GetMs() >= ref.GetToMs())) {
			return nil, fmt.Errorf("input entry %x: malformed or outside the range", e.GetId())
		}
		en := inputEntry{ID: [32]byte(e.GetId()), Kind: e.GetKind(), Ms: e.GetMs()}
		if len(out) > 0 && bytes.Compare(out[len(out)-1].ID[:], en.ID[:]) >= 0 {
			return nil, errors.New("input entries not in strict id order")
		}
		out = append(out, en)
		if uint64(len(out)) > count {
			return nil, fmt.Errorf("input has more than its %d entries", count)
		}
		return en.ID[:], nil
	})
	if err != nil {
		return nil, err
	}
	root, want := inputRoot(out), ref.GetRoot()
	if funded {
		keys := make([][32]byte, len(out))
		for i, e := range out {
			keys[i] = e.ID
		}
		root, want = fundedRoot(keys), ref.GetFundedRoot()
	}
	if uint64(len(out)) != count || !bytes.Equal(root[:], want) {
		return nil, fmt.Errorf("input list (%d entries) does not match its root and count %d", len(out), count)
	}
	return out, nil
}

// readPages reads the pages of req from p, each entry given to take,
// which checks and keeps it and returns it as the cursor to read on from.
func readPages(ctx context.Context, p *CosignClient, req *wire.InputPageRequest, what string, take func(*wire.InputEntry) ([]byte, error)) error {
	for {
		var page wire.InputPage
		if err := p.roundTrip(ctx, &wire.CosignStream{Msg: &wire.CosignStream_Input{Input: req}}, &page); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if page.GetError() != "" {
			return fmt.Errorf("%s: %s", what, page.GetError())
		}
		if len(page.GetEntries()) > pageLimit {
			return fmt.Errorf("%s of %d entries", what, len(page.GetEntries()))
		}
		for _, e := range page.GetEntries() {
			after, err := take(e)
			if err != nil {
				return err
			}
			req.After = after
		}
		if !page.GetMore() || len(page.GetEntries()) == 0 {
			return nil
		}
	}
}

// fundedRoot commits to the funded owners' keys, sorted.
func fundedRoot(keys [][32]byte) [32]byte {
	h := sha256.New()
	for _, k := range keys {
		h.Write(k[:])
	}
	return [32]byte(h.Sum(nil))
}

// takeAccrual checks a proposal's accrual inputs: when reconciling, the
// parent must be this oracle's last settled manifest and every owner listed
// as funded must have its token account on chain now; when catching up,
// the parent's manifest must be here.
func (c *consensus) takeAccrual(ctx context.Context, p *CosignClient, ref *wire.InputRef, live bool) (accrualInput, error) {
	acc := accrualInput{parent: ref.GetParent()}
	if live {
		own, err := c.o.lastSettled()
		if err != nil {
			return acc, err
		}
		if own < acc.parent {
			// The leader builds on an epoch authorised while this
			// oracle was behind: settle it here first.
			if err := c.o.catchUpAuthorised(ctx, ref.GetEpoch()); err != nil {
				return acc, fmt.Errorf("catching up to accrual parent %d: %w", acc.parent, err)
			}
			if own, err = c.o.lastSettled(); err != nil {
				return acc, err
			}
		}
		if own != acc.parent {
			return acc, fmt.Errorf("accrual parent %d, but this oracle's last settled manifest is %d", acc.parent, own)
		}
	} else if _, err := c.o.parentLedger(acc.parent); err != nil {
		return acc, err
	}
	if ref.GetFundedCount() > maxInput {
		return acc, fmt.Errorf("%d funded owners exceed %d", ref.GetFundedCount(), maxInput)
	}
	list, err := c.fetchEntries(ctx, p, ref, true)
	if err != nil {
		return acc, fmt.Errorf("funded owners: %w", err)
	}
	for _, e := range list {
		acc.funded = append(acc.funded, e.ID)
	}
	if live && c.o.funded != nil && len(acc.funded) > 0 {
		ok, err := c.o.funded(ctx, acc.funded)
		if err != nil {
			return acc, fmt.Errorf("funded owners: %w", err)
		}
		for i, k := range acc.funded {
			if !ok[i] {
				return acc, fmt.Errorf("owner %s listed as funded has no reward token account", wire.PublicKey(k))
			}
		}
	}
	return acc, nil
}

// fetchReports fetches the reports ids from p, checks each against its
// entry and stores it with the entry's stamp.
func (c *consensus) fetchReports(ctx context.Context, p *CosignClient, ids [][32]byte, entries []inputEntry) (int, error) {
	stamp := make(map[[32]byte]inputEntry, len(ids))
	for _, e := range entries {
		stamp[e.ID] = e
	}
	refs := make([][]byte, len(ids))
	for i := range ids {
		refs[i] = ids[i][:]
	}
	stored := 0
	err := fetchServed(ctx, p, refs, false, func(first int, served []*wire.StampedReport) error {
		items := make([]*ingestItem, 0, len(served))
		for k, sr := range served {
			id := ids[first+k]
			want := stamp[id]
			it, err := checkedReport(sr.GetEnvelope(), want.Ms)
			if err != nil {
				return fmt.Errorf("listed report %x: %w", id[:8], err)
			}
			if it.id != want.ID || it.kind != want.Kind {
				return fmt.Errorf("listed report %x: served report is %x (%v)", id[:8], it.id[:8], it.kind)
			}
			items = append(items, it)
		}
		if err := c.o.commit.writeBatch(items, make([]commitResult, len(items))); err != nil {
			return err
		}
		stored += len(items)
		return nil
	})
	return stored, err
}

// fetchServed asks p for the reports named by ids (with changes, the
// registry changes), reportsLimit at a time. p serves a prefix of each
// request's ids, as many as fit one frame; got is called with them and
// the index in ids of the first.
func fetchServed(ctx context.Context, p *CosignClient, ids [][]byte, changes bool, got func(first int, served []*wire.StampedReport) error) error {
	what := "reports"
	if changes {
		what = "registry changes"
	}
	for first := 0; first < len(ids); {
		batch := ids[first:min(len(ids), first+reportsLimit)]
		var resp wire.ReportsResponse
		req := &wire.ReportsRequest{Ids: batch, Changes: changes}
		if err := p.roundTrip(ctx, &wire.CosignStream{Msg: &wire.CosignStream_Reports{Reports: req}}, &resp); err != nil {
			return fmt.Errorf("fetch %s: %w", what, err)
		}
		if resp.GetError() != "" {
			return fmt.Errorf("fetch %s: %s", what, resp.GetError())
		}
		served := resp.GetReports()
		if len(served) == 0 || len(served) > len(batch) {
			return fmt.Errorf("fetch %s: %d of %d listed served", what, len(served), len(batch))
		}
		if err := got(first, served); err != nil {
			return err
		}
		first += len(served)
	}
	return nil
}

// push sends the leader reports it lacks, with this oracle's stamps.
func (c *consensus) push(ctx context.Context, p *CosignClient, n uint64, extra []inputEntry) (int, error) {
	return pushServed(ctx, p, n, false, len(extra), func(i int) (*wire.StampedReport, error) {
		r, found, err := c.o.store.Report(extra[i].ID)
		if err != nil || !found {
			return nil, err
		}
		return &wire.StampedReport{Envelope: r.Envelope, Ms: r.ReceivedMs}, nil
	})
}

// pushServed sends the leader the items 0 … n−1 that item gives (nil:
// nothing to send for it), reports or, with changes, registry changes, in
// PushRequests of at most reportsLimit that fit one frame, and returns how
// many it sent.
func pushServed(ctx context.Context, p *CosignClient, epoch uint64, changes bool, n int, item func(i int) (*wire.StampedReport, error)) (int, error) {
	sent := 0
	for i := 0; i < n; {
		req := &wire.PushRequest{Epoch: epoch, Changes: changes}
		size := 0
		for ; i < n && len(req.Reports) < reportsLimit; i++ {
			sr, err := item(i)
			if err != nil {
				return sent, err
			}
			if sr == nil {
				continue
			}
			if size += proto.Size(sr) + 4; size > frameBudget && len(req.Reports) > 0 {
				break
			}
			req.Reports = append(req.Reports, sr)
		}
		var resp wire.PushResponse
		if err := p.roundTrip(ctx, &wire.CosignStream{Msg: &wire.CosignStream_Push{Push: req}}, &resp); err != nil {
			return sent, err
		}
		if resp.GetError() != "" {
			return sent, errors.New(resp.GetError())
		}
		sent += len(req.Reports)
	}
	return sent, nil
}

// received stores reports a peer pushed, each checked like a fetched one.
func (c *consensus) received(req *wire.PushRequest) *wire.PushResponse {
	if req.GetChanges() {
		return c.receivedChanges(req)
	}
	if len(req.GetReports()) > reportsLimit {
		return &wire.PushResponse{Error: fmt.Sprintf("push of %d reports exceeds %d", len(req.GetReports()), reportsLimit)}
	}
	from, to := c.o.params.InputWindow(req.GetEpoch())
	items := make([]*ingestItem, 0, len(req.GetReports()))
	for _, sr := range req.GetReports() {
		if sr.GetMs() < from || sr.GetMs() >= to {
			return &wire.PushResponse{Error: fmt.Sprintf("pushed report stamped %d, outside epoch %d's window", sr.GetMs(), req.GetEpoch())}
		}
		it, err := checkedReport(sr.GetEnvelope(), sr.GetMs())
		if err != nil {
			return &wire.PushResponse{Error: err.Error()}
		}
		items = append(items, it)
	}
	results := make([]commitResult, len(items))
	if err := c.o.commit.writeBatch(items, results); err != nil {
		return &wire.PushResponse{Error: err.Error()}
	}
	// A report this oracle holds with a later stamp, past the range it
	// has not settled yet (it arrived here on the other side of the
	// input's edge), takes the earlier stamp: the settled stamp is the
	// earliest an oracle saw.
	unsettled, _, err := c.rangeOf(req.GetEpoch())
	if err != nil {
		return &wire.PushResponse{Error: err.Error()}
	}
	stored := 0
	for i, it := range items {
		if results[i].code == wire.Code_CODE_OK {
			stored++
			continue
		}
		if err := c.o.store.adoptEarlier(inputEntry{ID: it.id, Kind: it.kind, Ms: it.receivedMs}, unsettled); err != nil {
			return &wire.PushResponse{Error: err.Error()}
		}
	}
	return &wire.PushResponse{Stored: uint64(stored)}
}

// checkedReport checks a report envelope from another oracle (hotspot
// signature, kind, signer) and its stamp's plausibility, and returns it
// ready to store with that stamp.
func checkedReport(raw []byte, ms int64) (*ingestItem, error) {
	if len(raw) > wire.MaxFrameSize {
		return nil, fmt.Errorf("report of %d bytes", len(raw))
	}
	r, err := openReport(raw)
	if err != nil {
		return nil, err
	}
	if err := r.plausible(ms); err != nil {
		return nil, err
	}
	return &ingestItem{id: wire.ReportID(raw), kind: r.kind, receivedMs: ms, envelope: raw, signer: r.signer, payload: r.payload}, nil
}

// signedReport is what the stamp rules read from a report's signed
// content, opened (and its signature checked) once.
type signedReport struct {
	kind    wire.Kind
	signer  []byte
	payload []byte // witnesses: the beacon payload heard
	// clockMs is the hotspot's signed clock (timestamp_ms; 0 when unset);
	// entropyMs, for a beacon, when its oracle-signed entropy was issued.
	clockMs, entropyMs int64
}

// openReport opens a report envelope of any report kind.
func openReport(raw []byte) (signedReport, error) {
	env, err := wire.Open(raw, wire.Kind_KIND_UNSPECIFIED)
	if err != nil {
		return signedReport{}, err
	}
	r := signedReport{kind: env.Kind}
	switch env.Kind {
	case wire.Kind_KIND_BEACON_REPORT:
		var b wire.BeaconReport
		if _, err := wire.Unseal(raw, env.Kind, &b); err != nil {
			return r, err
		}
		var e wire.Entropy
		if _, err := wire.Unseal(b.GetEntropy(), wire.Kind_KIND_ENTROPY, &e); err != nil {
			return r, fmt.Errorf("beacon entropy: %w", err)
		}
		r.signer, r.clockMs, r.entropyMs = b.GetPubKey(), int64(b.GetTimestampMs()), e.GetTs()*1000
	case wire.Kind_KIND_WITNESS_REPORT:
		var w wire.WitnessReport
		if _, err := wire.Unseal(raw, env.Kind, &w); err != nil {
			return r, err
		}
		r.signer, r.clockMs = w.GetPubKey(), int64(w.GetTimestampMs())
		if len(w.GetPayload()) == payloadLen {
			r.payload = w.GetPayload()
		}
	case wire.Kind_KIND_PACKET_REPORT:
		var pk wire.PacketReport
		if _, err := wire.Unseal(raw, env.Kind, &pk); err != nil {
			return r, err
		}
		r.signer, r.clockMs = pk.GetPubKey(), int64(pk.GetTimestampMs())
	default:
		return r, fmt.Errorf("%v is not a report", env.Kind)
	}
	return r, nil
}

// plausible checks a stamp against the report's signed content: not
// before its signed clock minus clockSkew nor more than maxHold after it,
// and for a beacon not before its entropy was issued nor more than the
// entropy's life plus maxHold after.
func (r signedReport) plausible(ms int64) error {
	if r.clockMs != 0 && (ms < r.clockMs-clockSkew.Milliseconds() || ms > r.clockMs+maxHold.Milliseconds()) {
		return fmt.Errorf("stamp %d implausible for a report signed at %d", ms, r.clockMs)
	}
	if r.kind == wire.Kind_KIND_BEACON_REPORT &&
		(ms < r.entropyMs-clockSkew.Milliseconds() || ms > r.entropyMs+(verifier.DefaultParams().EntropyLifetime+maxHold).Milliseconds()) {
		return fmt.Errorf("beacon stamp %d implausible for entropy issued at %d", ms, r.entropyMs)
	}
	return nil
}

// serveInput answers a page of an input this oracle proposed, accepted or
// settled.
func (c *consensus) serveInput(req *wire.InputPageRequest) *wire.InputPage {
	if req.GetChanges() {
		return c.serveChangePage(req)
	}
	entries, acc, ok := c.entriesOf(req.GetRef())
	if !ok {
		return &wire.InputPage{Error: "no such input here"}
	}
	if req.GetFunded() {
		entries = make([]inputEntry, len(acc.funded))
		for i, k := range acc.funded {
			entries[i] = inputEntry{ID: k}
		}
	}
	start := 0
	if len(req.GetAfter()) > 0 {
		start, _ = slices.BinarySearchFunc(entries, req.GetAfter(), func(e inputEntry, id []byte) int { return bytes.Compare(e.ID[:], id) })
		if start < len(entries) && bytes.Equal(entries[start].ID[:], req.GetAfter()) {
			start++
		}
	}
	limit := int(min(max(req.GetLimit(), 1), pageLimit))
	end := min(start+limit, len(entries))
	page := &wire.InputPage{More: end < len(entries)}
	for _, e := range entries[start:end] {
		page.Entries = append(page.Entries, &wire.InputEntry{Id: e.ID[:], Kind: e.Kind, Ms: e.Ms})
	}
	return page
}

func (c *consensus) entriesOf(ref *wire.InputRef) ([]inputEntry, accrualInput, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	same := func(r *wire.InputRef) bool {
		return bytes.Equal(r.GetRoot(), ref.GetRoot()) && bytes.Equal(r.GetFundedRoot(), ref.GetFundedRoot()) && r.GetParent() == ref.GetParent()
	}
	if o := c.offered[ref.GetEpoch()]; o != nil && same(o.ref) {
		return o.entries, o.acc, true
	}
	for k, a := range c.taken {
		if k.epoch == ref.GetEpoch() && same(a.ref) {
			return a.entries, a.acc, true
		}
	}
	return nil, accrualInput{}, false
}

// serveReports answers stored reports by id.
func (c *consensus) serveReports(req *wire.ReportsRequest) *wire.ReportsResponse {
	if req.GetChanges() {
		return c.serveChanges(req)
	}
	if len(req.GetIds()) > reportsLimit {
		return &wire.ReportsResponse{Error: fmt.Sprintf("%d ids exceed %d", len(req.GetIds()), reportsLimit)}
	}
	resp := &wire.ReportsResponse{}
	size := 0
	for _, id := range req.GetIds() {
		if len(id) != 32 {
			return &wire.ReportsResponse{Error: "id of the wrong length"}
		}
		r, found, err := c.o.store.Report([32]byte(id))
		if err != nil {
			return &wire.ReportsResponse{Error: err.Error()}
		}
		if !found {
			return &wire.ReportsResponse{Error: fmt.Sprintf("report %x is not stored here", id[:8])}
		}
		sr := &wire.StampedReport{Envelope: r.Envelope, Ms: r.ReceivedMs}
		if size += proto.Size(sr) + 4; size > frameBudget && len(resp.Reports) > 0 {
			break
		}
		resp.Reports = append(resp.Reports, sr)
	}
	return resp
}

// serveAgreed names the input this oracle settled for an epoch, or else
// the one it proposed or accepted whose summary the chain shows.
func (c *consensus) serveAgreed(ctx context.Context, req *wire.AgreedRequest) *wire.AgreedResponse {
	n := req.GetEpoch()
	c.mu.Lock()
	var cands []*acceptance
	for k, a := range c.taken {
		if k.epoch == n {
			cands = append(cands, a)
		}
	}
	c.mu.Unlock()
	if len(cands) == 0 {
		if a, ok := c.loadSettled(n); ok {
			return &wire.AgreedResponse{Ref: a.ref, Leader: a.leader[:]}
		}
		return &wire.AgreedResponse{Error: fmt.Sprintf("no input for epoch %d here", n)}
	}
	s, ok, err := c.chain.Authorization(ctx, n)
	for _, a := range cands {
		if err == nil && ok && a.summary == s {
			return &wire.AgreedResponse{Ref: a.ref, Leader: a.leader[:]}
		}
	}
	return &wire.AgreedResponse{Error: fmt.Sprintf("epoch %d is not authorised with an input held here", n)}
}

// loadSettled reloads an epoch's settled input from the store (after a
// restart) so that peers can catch up from it.
func (c *consensus) loadSettled(n uint64) (*acceptance, bool) {
	rec, found, err := c.o.store.epochRecord(n)
	if err != nil || !found || rec.Step < StepComputed || rec.InputFromMs == 0 {
		return nil, false
	}
	entries, funded, err := c.o.store.agreedInput(n)
	if err != nil {
		return nil, false
	}
	raw, found, err := c.o.store.Manifest(n)
	if err != nil || !found {
		return nil, false
	}
	man, err := verifier.UnmarshalManifest(raw)
	if err != nil {
		return nil, false
	}
	_, to := c.o.params.InputWindow(n)
	root, froot := inputRoot(entries), fundedRoot(funded)
	a := &acceptance{ref: &wire.InputRef{Epoch: n, FromMs: rec.InputFromMs, ToMs: to, Count: uint64(len(entries)), Root: root[:],
		Parent: man.Parent, FundedCount: uint64(len(funded)), FundedRoot: froot[:]},
		entries: entries, acc: accrualInput{parent: man.Parent, funded: funded}, manifest: raw, summary: payoutOf(man).Summary()}
	if l, err := wire.ParsePublicKey(rec.Leader); err == nil {
		a.leader = l
	}
	// The change log before a settled epoch's start does not change.
	if err := c.changesRef(a.ref); err != nil {
		return nil, false
	}
	c.mu.Lock()
	c.taken[acceptKey{c.self, n}] = a
	c.mu.Unlock()
	return a, true
}

// ownSummary is the summary this oracle computed for epoch n from the
// input it accepted from leader (what it co-signs).
func (c *consensus) ownSummary(leader wire.PublicKey, n uint64) (solana.Summary, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.taken[acceptKey{leader, n}]
	if a == nil {
		return solana.Summary{}, fmt.Errorf("no input of epoch %d accepted from %s", n, leader)
	}
	return a.summary, nil
}

// forget drops the in-memory state of epochs before n (settled ones are
// served from the store).
func (c *consensus) forget(n uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := range c.offered {
		if e < n {
			delete(c.offered, e)
		}
	}
	for k := range c.taken {
		if k.epoch < n {
			delete(c.taken, k)
		}
	}
}

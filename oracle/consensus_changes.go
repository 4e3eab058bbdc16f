package oracle

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/wire"
)

// This file reconciles the registry input of an epoch (changes.go): the
// signed registry changes effective before the epoch's start.

// maxChanges bounds the change log entries a peer lists.
const maxChanges = 10_000_000

// changesRef fills ref's registry input from this oracle's change log.
func (c *consensus) changesRef(ref *wire.InputRef) error {
	d, err := c.o.changesDigestAt(c.o.params.EpochStart(ref.GetEpoch()))
	if err != nil {
		return err
	}
	ref.ChangesCount, ref.ChangesRoot = d.count, d.root[:]
	return nil
}

// takeChanges makes this oracle's registry input for ref's epoch the one
// proposed by p: it fetches and applies the changes it lacks and, with
// push, sends p those p lacks (and then returns errPushed). It returns how
// many changes it fetched and pushed.
func (c *consensus) takeChanges(ctx context.Context, p *CosignClient, ref *wire.InputRef, push bool) (fetched, pushed int, err error) {
	before := c.o.params.EpochStart(ref.GetEpoch())
	own, err := c.o.changesDigestAt(before)
	if err != nil {
		return 0, 0, err
	}
	if own.count == ref.GetChangesCount() && bytes.Equal(own.root[:], ref.GetChangesRoot()) {
		return 0, 0, nil
	}
	if len(ref.GetChangesRoot()) != 32 || ref.GetChangesCount() > maxChanges {
		return 0, 0, fmt.Errorf("registry input of %d changes with a root of %d bytes", ref.GetChangesCount(), len(ref.GetChangesRoot()))
	}
	theirs, err := c.fetchChangeList(ctx, p, ref)
	if err != nil {
		return 0, 0, err
	}
	mine, err := c.o.store.changesBefore(before)
	if err != nil {
		return 0, 0, err
	}
	var lack, extra []changeEntry
	i, j := 0, 0
	for i < len(theirs) || j < len(mine) {
		switch {
		case j == len(mine) || (i < len(theirs) && cmpChange(theirs[i], mine[j]) < 0):
			lack = append(lack, theirs[i])
			i++
		case i == len(theirs) || cmpChange(theirs[i], mine[j]) > 0:
			extra = append(extra, mine[j])
			j++
		default:
			i++
			j++
		}
	}
	if fetched, err = c.fetchChanges(ctx, p, lack); err != nil {
		return fetched, 0, err
	}
	if push && len(extra) > 0 {
		if pushed, err = c.pushChanges(ctx, p, ref.GetEpoch(), extra); err != nil {
			return fetched, pushed, fmt.Errorf("push %d registry changes to the leader: %w", len(extra), err)
		}
		return fetched, pushed, errPushed
	}
	if own, err = c.o.changesDigestAt(before); err != nil {
		return fetched, 0, err
	}
	if own.count != ref.GetChangesCount() || !bytes.Equal(own.root[:], ref.GetChangesRoot()) {
		return fetched, 0, fmt.Errorf("registry input differs: %d changes here before %d, %d proposed (%d not in the proposal)", own.count, before, ref.GetChangesCount(), len(extra))
	}
	return fetched, 0, nil
}

// fetchChangeList reads ref's registry change list from p and checks it
// against ref.
func (c *consensus) fetchChangeList(ctx context.Context, p *CosignClient, ref *wire.InputRef) ([]changeEntry, error) {
	before := c.o.params.EpochStart(ref.GetEpoch())
	out := make([]changeEntry, 0, min(ref.GetChangesCount(), 1<<20))
	req := &wire.InputPageRequest{Ref: ref, Limit: pageLimit, Changes: true}
	err := readPages(ctx, p, req, "registry change list", func(e *wire.InputEntry) ([]byte, error) {
		if len(e.GetId()) != 32 || e.GetMs() >= before || e.GetMs() < 0 {
			return nil, fmt.Errorf("registry change %x: malformed or not before the epoch's start", e.GetId())
		}
		en := changeEntry{Ms: e.GetMs(), ID: [32]byte(e.GetId()), Kind: e.GetKind()}
		if len(out) > 0 && cmpChange(out[len(out)-1], en) >= 0 {
			return nil, errors.New("registry changes not in strict log order")
		}
		if out = append(out, en); uint64(len(out)) > ref.GetChangesCount() {
			return nil, fmt.Errorf("registry input has more than its %d changes", ref.GetChangesCount())
		}
		return en.ref(), nil
	})
	if err != nil {
		return nil, err
	}
	if root := changesRoot(out); uint64(len(out)) != ref.GetChangesCount() || !bytes.Equal(root[:], ref.GetChangesRoot()) {
		return nil, fmt.Errorf("registry change list (%d entries) does not match its root and count %d", len(out), ref.GetChangesCount())
	}
	return out, nil
}

// fetchChanges fetches the listed changes from p, checks that each is the
// request listed and applies them in replay order.
func (c *consensus) fetchChanges(ctx context.Context, p *CosignClient, list []changeEntry) (int, error) {
	refs := make([][]byte, len(list))
	for i, e := range list {
		refs[i] = e.ref()
	}
	got := make([]servedChange, 0, len(list))
	err := fetchServed(ctx, p, refs, true, func(first int, served []*wire.StampedReport) error {
		for k, sr := range served {
			sc, err := checkServed(sr)
			if err != nil {
				return err
			}
			if want := list[first+k]; sc.e != want {
				return fmt.Errorf("registry change %x: served request is %x (%v at %d)", want.ID[:8], sc.e.ID[:8], sc.e.Kind, sc.e.Ms)
			}
			got = append(got, sc)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return c.applyServed(got)
}

// servedChange is a change another oracle served or pushed, with its log
// entry and nonce read from it.
type servedChange struct {
	e     changeEntry
	nonce uint64
	raw   []byte
}

func checkServed(sr *wire.StampedReport) (servedChange, error) {
	e, nonce, err := changeEntryOf(sr.GetKind(), sr.GetEnvelope())
	if err != nil {
		return servedChange{}, err
	}
	if sr.GetMs() != e.Ms {
		return servedChange{}, fmt.Errorf("registry change %x: listed at %d, signed at %d", e.ID[:8], sr.GetMs(), e.Ms)
	}
	return servedChange{e: e, nonce: nonce, raw: sr.GetEnvelope()}, nil
}

// applyServed applies changes in the order their signed times give, and
// within one millisecond by applyRank and nonce: the order in which their
// signers made them.
func (c *consensus) applyServed(list []servedChange) (int, error) {
	slices.SortFunc(list, func(a, b servedChange) int {
		if a.e.Ms != b.e.Ms {
			return cmp.Compare(a.e.Ms, b.e.Ms)
		}
		if ra, rb := applyRank(a.e.Kind), applyRank(b.e.Kind); ra != rb {
			return ra - rb
		}
		if a.nonce != b.nonce {
			return cmp.Compare(a.nonce, b.nonce)
		}
		return cmpChange(a.e, b.e)
	})
	for i, s := range list {
		if err := c.o.applyChange(s.e.Kind, s.raw); err != nil {
			return i, fmt.Errorf("registry change %x (%v at %d) does not apply here: %w", s.e.ID[:8], s.e.Kind, s.e.Ms, err)
		}
	}
	return len(list), nil
}

// pushChanges sends the leader the changes it lacks.
func (c *consensus) pushChanges(ctx context.Context, p *CosignClient, n uint64, extra []changeEntry) (int, error) {
	return pushServed(ctx, p, n, true, len(extra), func(i int) (*wire.StampedReport, error) {
		return c.servedChange(extra[i].ref())
	})
}

// servedChange is the logged change ref as it is served.
func (c *consensus) servedChange(ref []byte) (*wire.StampedReport, error) {
	kind, raw, found, err := c.o.store.changeRequest(ref)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("registry change %x: %w", ref, errNotStored)
	}
	// The log's key holds the change's signed time; the receiver checks it
	// against the request.
	return &wire.StampedReport{Envelope: raw, Ms: int64(binary.BigEndian.Uint64(ref[:8])), Kind: kind}, nil
}

// receivedChanges applies changes a peer pushed, each checked like a
// fetched one, skipping those applied here before.
func (c *consensus) receivedChanges(req *wire.PushRequest) *wire.PushResponse {
	if len(req.GetReports()) > reportsLimit {
		return &wire.PushResponse{Error: fmt.Sprintf("push of %d changes exceeds %d", len(req.GetReports()), reportsLimit)}
	}
	var list []servedChange
	for _, sr := range req.GetReports() {
		sc, err := checkServed(sr)
		if err != nil {
			return &wire.PushResponse{Error: err.Error()}
		}
		_, _, found, err := c.o.store.changeRequest(sc.e.ref())
		if err != nil {
			return &wire.PushResponse{Error: err.Error()}
		}
		if !found {
			list = append(list, sc)
		}
	}
	n, err := c.applyServed(list)
	resp := &wire.PushResponse{Stored: uint64(n)}
	if err != nil {
		resp.Error = err.Error()
	}
	return resp
}

// serveChangePage answers a page of this oracle's change log before ref's
// epoch's start, after req.After (ms ‖ id).
func (c *consensus) serveChangePage(req *wire.InputPageRequest) *wire.InputPage {
	if a := req.GetAfter(); len(a) != 0 && len(a) != changeRefLen {
		return &wire.InputPage{Error: "after must be empty or a 40-byte change reference"}
	}
	limit := int(min(max(req.GetLimit(), 1), pageLimit))
	list, more, err := c.o.store.changesPage(c.o.params.EpochStart(req.GetRef().GetEpoch()), req.GetAfter(), limit)
	if err != nil {
		return &wire.InputPage{Error: err.Error()}
	}
	page := &wire.InputPage{More: more}
	for _, e := range list {
		page.Entries = append(page.Entries, &wire.InputEntry{Id: e.ID[:], Kind: e.Kind, Ms: e.Ms})
	}
	return page
}

// serveChanges answers logged changes by reference, as many as fit a frame.
func (c *consensus) serveChanges(req *wire.ReportsRequest) *wire.ReportsResponse {
	if len(req.GetIds()) > reportsLimit {
		return &wire.ReportsResponse{Error: fmt.Sprintf("%d references exceed %d", len(req.GetIds()), reportsLimit)}
	}
	resp := &wire.ReportsResponse{}
	size := 0
	for _, ref := range req.GetIds() {
		if len(ref) != changeRefLen {
			return &wire.ReportsResponse{Error: "change reference of the wrong length"}
		}
		sr, err := c.servedChange(ref)
		if err != nil {
			return &wire.ReportsResponse{Error: err.Error()}
		}
		if size += proto.Size(sr) + 4; size > frameBudget && len(resp.Reports) > 0 {
			break
		}
		resp.Reports = append(resp.Reports, sr)
	}
	return resp
}

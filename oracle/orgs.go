package oracle

import (
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/hexfield/hexfield/verifier"
	"github.com/hexfield/hexfield/wire"
)

// Organizations of IoT customers (routing.md §2–§3). Every change is a
// wire.OrgChange signed by the owner (delegates, payer, DevAddr blocks) or
// by the owner or a delegate (routes), with a nonce strictly increasing per
// organization and a timestamp within registrySkew of the oracle's clock,
// when it takes effect (changes.go). A change is applied in one registry
// transaction with the organization's nonce, its DevAddr index, any fee and
// a version of the organization and its routes (for the charging snapshot
// of an epoch's start), and its signed bytes are kept in the organization's
// log and the change log.

// orgRecord is an organization as stored (prefixOrg).
type orgRecord struct {
	ID        string           `json:"id"`
	Owner     wire.PublicKey   `json:"owner"`
	Payer     wire.PublicKey   `json:"payer"`
	Delegates []wire.PublicKey `json:"delegates"`
	// Blocks are the allocated DevAddrs, one range per allocation, each a
	// whole number of blocks of 8.
	Blocks    []DevAddrRange `json:"devaddr_blocks"`
	Nonce     uint64         `json:"nonce"`
	CreatedMs int64          `json:"created_ms"`
	UpdatedMs int64          `json:"updated_ms"`
}

// Organization is GET /v1/orgs/{id}: the organization, its routes, and
// its payer's balance and the lock that follows from it.
type Organization struct {
	ID            string           `json:"id"`
	Owner         wire.PublicKey   `json:"owner"`
	Payer         wire.PublicKey   `json:"payer"`
	Delegates     []wire.PublicKey `json:"delegates"`
	DevAddrBlocks []DevAddrRange   `json:"devaddr_blocks"`
	Nonce         uint64           `json:"nonce"`
	CreatedMs     int64            `json:"created_ms"`
	UpdatedMs     int64            `json:"updated_ms"`
	// PayerDC is the payer wallet's data-credit balance.
	PayerDC uint64 `json:"payer_dc"`
	// Locked: the payer cannot pay for one copy, so hotspots forward
	// nothing for the organization.
	Locked bool     `json:"locked"`
	Routes []string `json:"routes"`
}

// OrgChangeRequest is the body of the organization and route changes: an
// encoded Envelope (KIND_ORG_CHANGE) of a wire.OrgChange.
type OrgChangeRequest struct {
	Envelope []byte `json:"envelope"`
}

// OrgChangeResult answers an applied change with the organization as it
// is now, the route it put (if any) and what it cost.
type OrgChangeResult struct {
	Org   Organization `json:"org"`
	Route *Route       `json:"route,omitempty"`
	// Deleted is the id of the route a delete_route removed.
	Deleted string `json:"deleted,omitempty"`
	// Fee is the ledger entry of the creation fee, when one was charged.
	Fee *DCEntry `json:"fee,omitempty"`
}

// NewOrgChange signs ch with key, filling its timestamp from now when it
// is zero.
func NewOrgChange(key ed25519.PrivateKey, ch *wire.OrgChange, now time.Time) (OrgChangeRequest, error) {
	if ch.TimestampMs == 0 {
		ch.TimestampMs = uint64(now.UnixMilli())
	}
	raw, err := wire.Seal(key, wire.Kind_KIND_ORG_CHANGE, ch)
	if err != nil {
		return OrgChangeRequest{}, fmt.Errorf("seal org change: %w", err)
	}
	return OrgChangeRequest{Envelope: raw}, nil
}

// minLockedDC is what a payer needs for one more copy (routing.md §4: a
// copy costs at least 1 DC).
const minLockedDC = 1

// orgOps names the operation of a change, for metrics and the log.
func orgOp(ch *wire.OrgChange) string {
	switch ch.GetOp().(type) {
	case *wire.OrgChange_Create:
		return "org_create"
	case *wire.OrgChange_AddDelegate:
		return "org_add_delegate"
	case *wire.OrgChange_RemoveDelegate:
		return "org_remove_delegate"
	case *wire.OrgChange_SetPayer:
		return "org_set_payer"
	case *wire.OrgChange_AddDevaddrBlocks:
		return "org_add_devaddr_blocks"
	case *wire.OrgChange_PutRoute:
		return "route_put"
	case *wire.OrgChange_DeleteRoute:
		return "route_delete"
	}
	return "org_unknown"
}

// applyOrgChange checks and applies one signed organization change
// received at now.
func (o *Oracle) applyOrgChange(raw []byte, now time.Time) (OrgChangeResult, error) {
	return o.applyOrgChangeAt(raw, now, false)
}

// applyOrgChangeAt applies a signed organization change, live or replayed
// from another oracle (changes.go); it takes effect at its timestamp.
func (o *Oracle) applyOrgChangeAt(raw []byte, now time.Time, replay bool) (OrgChangeResult, error) {
	var ch wire.OrgChange
	signer, err := openSigned(raw, wire.Kind_KIND_ORG_CHANGE, &ch)
	if err != nil {
		o.m.registryChanges.WithLabelValues("org_change", resultLabel(err)).Inc()
		return OrgChangeResult{}, err
	}
	op := orgOp(&ch)
	res, err := o.applyOrgChangeAs(signer, &ch, raw, now, replay)
	o.m.registryChanges.WithLabelValues(op, resultLabel(err)).Inc()
	if err != nil {
		return OrgChangeResult{}, err
	}
	o.log.Info("organization changed", "org", ch.Org, "op", op, "nonce", ch.Nonce, "signer", signer.String())
	return res, nil
}

func (o *Oracle) applyOrgChangeAs(signer wire.PublicKey, ch *wire.OrgChange, raw []byte, now time.Time, replay bool) (OrgChangeResult, error) {
	if !idPattern.MatchString(ch.Org) {
		return OrgChangeResult{}, apiErr(400, "bad_request", "organization id %q must be 1-64 of [a-zA-Z0-9._-], starting alphanumeric", ch.Org)
	}
	if ch.Nonce == 0 {
		return OrgChangeResult{}, apiErr(400, "bad_request", "the nonce must be at least 1")
	}
	ms, err := o.changeMs(ch.TimestampMs, now, replay)
	if err != nil {
		return OrgChangeResult{}, err
	}
	var route *Route
	switch op := ch.Op.(type) {
	case *wire.OrgChange_Create:
		if string(op.Create.GetOwner()) != string(signer[:]) {
			return OrgChangeResult{}, apiErr(403, "wrong_key", "an organization is created by its owner: the owner field must be the signer")
		}
	case *wire.OrgChange_PutRoute:
		r, err := routeFromSpec(ch.Org, op.PutRoute)
		if err != nil {
			return OrgChangeResult{}, err
		}
		route = &r
	case *wire.OrgChange_AddDelegate, *wire.OrgChange_RemoveDelegate, *wire.OrgChange_SetPayer,
		*wire.OrgChange_AddDevaddrBlocks, *wire.OrgChange_DeleteRoute:
	default:
		return OrgChangeResult{}, apiErr(400, "bad_request", "the change names no operation")
	}
	var res OrgChangeResult
	err = o.store.registryUpdate(func(txn *badger.Txn) error {
		org, found, err := loadOrg(txn, ch.Org)
		if err != nil {
			return err
		}
		if c, ok := ch.Op.(*wire.OrgChange_Create); ok {
			if found {
				if ch.Nonce <= org.Nonce {
					return apiErr(409, "stale_nonce", "nonce %d of organization %s must be greater than %d", ch.Nonce, ch.Org, org.Nonce)
				}
				return apiErr(409, "conflict", "organization %s exists", ch.Org)
			}
			if ok, wait := o.reg.orgLimit.allow(signer.String(), now); !ok && !replay {
				return rateLimited("organization creation", signer, wait)
			}
			if org, res.Fee, err = o.createOrg(txn, ch.Org, c.Create, ms); err != nil {
				return err
			}
			if !replay {
				o.reg.orgLimit.take(signer.String(), now)
			}
		} else {
			if !found {
				return apiErr(404, "not_found", "no organization %q", ch.Org)
			}
			if ch.Nonce <= org.Nonce {
				return apiErr(409, "stale_nonce", "nonce %d of organization %s must be greater than %d", ch.Nonce, ch.Org, org.Nonce)
			}
			// Changes apply in the order of their signed times on every
			// oracle (nonces within a millisecond), so that order must
			// be the nonces'.
			if ms < org.UpdatedMs {
				return apiErr(409, "stale_request", "the change is dated %d, before organization %s's last change (%d)", ms, ch.Org, org.UpdatedMs)
			}
			if err := o.changeOrg(txn, &org, signer, ch, route, &res); err != nil {
				return err
			}
		}
		org.Nonce, org.UpdatedMs = ch.Nonce, ms
		if err := txn.Set(orgKey(org.ID), encodeJSON(org)); err != nil {
			return err
		}
		if err := txn.Set(orgLogKey(org.ID, ch.Nonce), raw); err != nil {
			return err
		}
		if err := logChange(txn, ms, wire.Kind_KIND_ORG_CHANGE, raw); err != nil {
			return err
		}
		if err := putOrgVersion(txn, org, ms); err != nil {
			return err
		}
		res.Org, err = orgView(txn, org)
		return err
	})
	if errors.Is(err, errInsufficientDC) {
		return OrgChangeResult{}, feeErr(err, "creating an organization", o.cfg.OrgFeeDC, signer)
	}
	if err != nil {
		return OrgChangeResult{}, err
	}
	return res, nil
}

// createOrg makes organization id from c in txn; the owner pays the fee.
func (o *Oracle) createOrg(txn *badger.Txn, id string, c *wire.OrgCreate, ms int64) (orgRecord, *DCEntry, error) {
	owner, err := wire.PublicKeyFromBytes(c.GetOwner())
	if err != nil {
		return orgRecord{}, nil, apiErr(400, "malformed", "owner: %v", err)
	}
	org := orgRecord{ID: id, Owner: owner, Payer: owner, Delegates: []wire.PublicKey{}, CreatedMs: ms}
	if len(c.GetPayer()) > 0 {
		if org.Payer, err = wire.PublicKeyFromBytes(c.GetPayer()); err != nil {
			return orgRecord{}, nil, apiErr(400, "malformed", "payer: %v", err)
		}
	}
	if len(c.GetDelegates()) > maxOrgDelegates {
		return orgRecord{}, nil, apiErr(400, "bad_request", "at most %d delegates", maxOrgDelegates)
	}
	for _, d := range c.GetDelegates() {
		k, err := wire.PublicKeyFromBytes(d)
		if err != nil {
			return orgRecord{}, nil, apiErr(400, "malformed", "delegate: %v", err)
		}
		if !slices.Contains(org.Delegates, k) {
			org.Delegates = append(org.Delegates, k)
		}
	}
	blocks := c.GetDevaddr()
	if blocks == nil {
		blocks = &wire.DevAddrBlocks{}
	}
	if err := o.allocBlocks(txn, &org, blocks); err != nil {
		return orgRecord{}, nil, err
	}
	if o.cfg.OrgFeeDC == 0 {
		return org, nil, nil
	}
	e, err := debitDC(txn, owner[:], o.cfg.OrgFeeDC, ms, dcOrgFee, id)
	if err != nil {
		return orgRecord{}, nil, err
	}
	return org, &e, nil
}

// changeOrg applies every change but creation to org in txn.
func (o *Oracle) changeOrg(txn *badger.Txn, org *orgRecord, signer wire.PublicKey, ch *wire.OrgChange, route *Route, res *OrgChangeResult) error {
	isOwner := signer == org.Owner
	ownerOnly := func(what string) error {
		if !isOwner {
			return apiErr(403, "wrong_key", "only the owner of %s may %s; %s is not it", org.ID, what, signer)
		}
		return nil
	}
	key := func(b []byte, what string) (wire.PublicKey, error) {
		k, err := wire.PublicKeyFromBytes(b)
		if err != nil {
			return k, apiErr(400, "malformed", "%s: %v", what, err)
		}
		return k, nil
	}
	switch op := ch.Op.(type) {
	case *wire.OrgChange_AddDelegate:
		if err := ownerOnly("add delegates"); err != nil {
			return err
		}
		k, err := key(op.AddDelegate, "delegate")
		if err != nil {
			return err
		}
		if !slices.Contains(org.Delegates, k) {
			if len(org.Delegates) >= maxOrgDelegates {
				return apiErr(422, "limit", "%s has %d delegates, the most allowed", org.ID, maxOrgDelegates)
			}
			org.Delegates = append(org.Delegates, k)
		}
	case *wire.OrgChange_RemoveDelegate:
		if err := ownerOnly("remove delegates"); err != nil {
			return err
		}
		k, err := key(op.RemoveDelegate, "delegate")
		if err != nil {
			return err
		}
		i := slices.Index(org.Delegates, k)
		if i < 0 {
			return apiErr(404, "not_found", "%s is not a delegate of %s", k, org.ID)
		}
		org.Delegates = slices.Delete(org.Delegates, i, i+1)
	case *wire.OrgChange_SetPayer:
		if err := ownerOnly("change the payer"); err != nil {
			return err
		}
		k, err := key(op.SetPayer, "payer")
		if err != nil {
			return err
		}
		if k != org.Payer {
			ids, err := orgRouteIDs(txn, org.ID)
			if err != nil {
				return err
			}
			if len(ids) > 0 { // the lock follows the new payer's balance
				if err := bumpRouteTable(txn, routeChange{Routes: ids}); err != nil {
					return err
				}
			}
		}
		org.Payer = k
	case *wire.OrgChange_AddDevaddrBlocks:
		if err := ownerOnly("add DevAddr blocks"); err != nil {
			return err
		}
		return o.allocBlocks(txn, org, op.AddDevaddrBlocks)
	case *wire.OrgChange_PutRoute, *wire.OrgChange_DeleteRoute:
		if !isOwner && !slices.Contains(org.Delegates, signer) {
			return apiErr(403, "wrong_key", "%s is neither the owner nor a delegate of %s", signer, org.ID)
		}
		if route != nil {
			return putOrgRoute(txn, org, *route, res)
		}
		return deleteOrgRoute(txn, org, op.(*wire.OrgChange_DeleteRoute).DeleteRoute, res)
	}
	return nil
}

func putOrgRoute(txn *badger.Txn, org *orgRecord, r Route, res *OrgChangeResult) error {
	prev, found, err := loadRoute(txn, r.ID)
	if err != nil {
		return err
	}
	if found && prev.Org != org.ID {
		return apiErr(409, "conflict", "route %s belongs to another organization", r.ID)
	}
	if !found {
		ids, err := orgRouteIDs(txn, org.ID)
		if err != nil {
			return err
		}
		if len(ids) >= maxOrgRoutes {
			return apiErr(422, "limit", "%s has %d routes, the most allowed", org.ID, maxOrgRoutes)
		}
	}
	merged := mergeRanges(org.Blocks)
	for _, d := range r.DevAddrRanges {
		if !slices.ContainsFunc(merged, func(b DevAddrRange) bool { return b.Start <= d.Start && d.End <= b.End }) {
			return apiErr(403, "devaddr_not_owned", "DevAddr range %08x-%08x is not inside the DevAddr blocks of %s", uint32(d.Start), uint32(d.End), org.ID)
		}
	}
	if err := txn.Set(routeKey(r.ID), encodeJSON(r)); err != nil {
		return err
	}
	if err := bumpRouteTable(txn, routeChange{Routes: []string{r.ID}}); err != nil {
		return err
	}
	pub := r.public()
	res.Route = &pub
	return nil
}

func deleteOrgRoute(txn *badger.Txn, org *orgRecord, id string, res *OrgChangeResult) error {
	r, found, err := loadRoute(txn, id)
	if err != nil {
		return err
	}
	if !found || r.Org != org.ID {
		return apiErr(404, "not_found", "%s has no route %q", org.ID, id)
	}
	res.Deleted = id
	if err := bumpRouteTable(txn, routeChange{Routes: []string{id}}); err != nil {
		return err
	}
	return txn.Delete(routeKey(id))
}

// mergeRanges sorts ranges and joins adjacent ones.
func mergeRanges(rs []DevAddrRange) []DevAddrRange {
	out := slices.Clone(rs)
	slices.SortFunc(out, func(a, b DevAddrRange) int { return int(int64(a.Start) - int64(b.Start)) })
	n := 0
	for _, r := range out {
		if n > 0 && uint64(out[n-1].End)+1 >= uint64(r.Start) {
			out[n-1].End = max(out[n-1].End, r.End)
			continue
		}
		out[n] = r
		n++
	}
	return out[:n]
}

// blockCount is how many blocks of 8 org holds.
func (org *orgRecord) blockCount() int {
	n := 0
	for _, b := range org.Blocks {
		n += int((uint64(b.End) - uint64(b.Start) + 1) / devAddrBlock)
	}
	return n
}

// allocBlocks gives org req.count blocks of 8 DevAddrs inside the
// network's prefix, at req.start or the lowest free ones, never
// overlapping blocks of any organization.
func (o *Oracle) allocBlocks(txn *badger.Txn, org *orgRecord, req *wire.DevAddrBlocks) error {
	count := uint64(max(req.GetCount(), 1))
	if org.blockCount()+int(min(count, 1<<20)) > o.cfg.MaxDevAddrBlocks {
		return apiErr(422, "limit", "%s would hold more than %d DevAddr blocks", org.ID, o.cfg.MaxDevAddrBlocks)
	}
	p := o.reg.prefix
	size := count * devAddrBlock
	var start uint64
	if req.Start != nil {
		start = uint64(req.GetStart())
		if start%devAddrBlock != 0 {
			return apiErr(400, "bad_request", "DevAddr block start %08x is not a multiple of %d", start, devAddrBlock)
		}
		if start < uint64(p.first()) || start+size-1 > uint64(p.last()) {
			return apiErr(400, "outside_prefix", "DevAddrs %08x-%08x are not inside the network's prefix %s", start, start+size-1, p)
		}
		for a := start; a < start+size; a += devAddrBlock {
			owner, err := getValue(txn, devAddrBlockKey(uint32(a)))
			if err != nil {
				return err
			}
			if owner != nil {
				return apiErr(409, "devaddr_taken", "DevAddr block %08x already belongs to organization %s", a, owner)
			}
		}
	} else {
		// Oracles apply a change in different orders relative to other
		// changes, so only a named block is the same block on every one.
		if len(o.cfg.Peers) > 0 {
			return apiErr(400, "start_required", "with several oracles a DevAddr allocation must name its first block (GET /v1/devaddr/free on each tells a free one; hexfield org does this)")
		}
		var ok bool
		var err error
		if start, ok, err = freeBlocks(txn, p, count); err != nil {
			return err
		} else if !ok {
			return apiErr(507, "devaddr_exhausted", "no %d free DevAddr blocks left in %s", count, p)
		}
	}
	for a := start; a < start+size; a += devAddrBlock {
		if err := txn.Set(devAddrBlockKey(uint32(a)), []byte(org.ID)); err != nil {
			return err
		}
	}
	org.Blocks = append(org.Blocks, DevAddrRange{HexU32(start), HexU32(start + size - 1)})
	return nil
}

// freeBlocks finds the lowest run of count free blocks in p.
func freeBlocks(txn *badger.Txn, p devAddrPrefix, count uint64) (uint64, bool, error) {
	size := count * devAddrBlock
	cand := uint64(p.first())
	opts := badger.DefaultIteratorOptions
	opts.Prefix, opts.PrefetchValues = []byte{prefixDevAddr}, false
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Seek(devAddrBlockKey(p.first())); it.ValidForPrefix(opts.Prefix); it.Next() {
		k := it.Item().Key()
		if len(k) != 5 {
			return 0, false, fmt.Errorf("devaddr index key %x: %w", k, errCorrupt)
		}
		a := uint64(binary.BigEndian.Uint32(k[1:]))
		if a > uint64(p.last()) || a >= cand+size {
			break
		}
		cand = a + devAddrBlock
	}
	return cand, cand+size-1 <= uint64(p.last()), nil
}

// freeDevAddr is the lowest free run of blocks, for GET /v1/devaddr/free:
// the CLI asks for it, then sends the same explicit start to every oracle.
func (s *Store) freeDevAddr(p devAddrPrefix, count uint64) (uint64, bool, error) {
	var start uint64
	var ok bool
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		start, ok, err = freeBlocks(txn, p, count)
		return err
	})
	return start, ok, err
}

func loadOrg(txn *badger.Txn, id string) (orgRecord, bool, error) {
	var org orgRecord
	b, err := getValue(txn, orgKey(id))
	if err != nil || b == nil {
		return org, false, err
	}
	return org, true, decodeJSON(b, &org)
}

func loadRoute(txn *badger.Txn, id string) (Route, bool, error) {
	var r Route
	b, err := getValue(txn, routeKey(id))
	if err != nil || b == nil {
		return r, false, err
	}
	return r, true, decodeJSON(b, &r)
}

// orgRouteIDs lists the ids of org's routes, sorted.
func orgRouteIDs(txn *badger.Txn, org string) ([]string, error) {
	ids := []string{}
	opts := badger.DefaultIteratorOptions
	opts.Prefix = []byte{prefixRoute}
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		var r Route
		err := it.Item().Value(func(v []byte) error { return decodeJSON(v, &r) })
		if err != nil {
			return nil, err
		}
		if r.Org == org {
			ids = append(ids, r.ID)
		}
	}
	return ids, nil
}

// orgView is org as the API shows it, read in txn.
func orgView(txn *badger.Txn, org orgRecord) (Organization, error) {
	a, err := loadDCAccount(txn, org.Payer[:])
	if err != nil {
		return Organization{}, err
	}
	ids, err := orgRouteIDs(txn, org.ID)
	if err != nil {
		return Organization{}, err
	}
	return Organization{
		ID: org.ID, Owner: org.Owner, Payer: org.Payer, Delegates: org.Delegates, DevAddrBlocks: org.Blocks,
		Nonce: org.Nonce, CreatedMs: org.CreatedMs, UpdatedMs: org.UpdatedMs,
		PayerDC: a.Balance, Locked: a.Balance < minLockedDC, Routes: ids,
	}, nil
}

// Org returns organization id as the API shows it.
func (s *Store) Org(id string) (Organization, bool, error) {
	var out Organization
	var found bool
	err := s.db.View(func(txn *badger.Txn) error {
		org, ok, err := loadOrg(txn, id)
		if err != nil || !ok {
			return err
		}
		found = true
		out, err = orgView(txn, org)
		return err
	})
	return out, found, err
}

// orgsOf lists the organizations owner owns or is a delegate of, at most
// limit, sorted by id.
func (s *Store) orgsOf(key wire.PublicKey, limit int) ([]Organization, error) {
	out := []Organization{}
	err := s.db.View(func(txn *badger.Txn) error {
		return s.scanIndex(txn, []byte{prefixOrg}, nil, nil, false, func(_, v []byte) error {
			var org orgRecord
			if err := decodeJSON(v, &org); err != nil {
				return err
			}
			if org.Owner != key && org.Payer != key && !slices.Contains(org.Delegates, key) {
				return nil
			}
			view, err := orgView(txn, org)
			if err != nil {
				return err
			}
			out = append(out, view)
			if len(out) >= limit {
				return errStop
			}
			return nil
		})
	})
	return out, err
}

// routes returns every route sorted by id, with its organization's lock
// state; session keys included (for the oracle's own use only).
func (s *Store) routes() ([]Route, error) {
	var out []Route
	err := s.db.View(func(txn *badger.Txn) error {
		locked := map[string]bool{}
		return s.scanIndex(txn, []byte{prefixRoute}, nil, nil, false, func(_, v []byte) error {
			var r Route
			if err := decodeJSON(v, &r); err != nil {
				return err
			}
			l, ok := locked[r.Org]
			if !ok {
				org, found, err := loadOrg(txn, r.Org)
				if err != nil {
					return err
				}
				l = true
				if found {
					a, err := loadDCAccount(txn, org.Payer[:])
					if err != nil {
						return err
					}
					l = a.Balance < minLockedDC
				}
				locked[r.Org] = l
			}
			r.Locked = l
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// orgVersion is an organization and its routes as they were after one of
// its changes (prefixOrgVer), for the charging snapshot of an epoch.
type orgVersion struct {
	Org    orgRecord `json:"org"`
	Routes []Route   `json:"routes"`
}

// putOrgVersion records org and its routes as they are in txn, effective
// at ms (a version at the same millisecond replaces the earlier one).
func putOrgVersion(txn *badger.Txn, org orgRecord, ms int64) error {
	ids, err := orgRouteIDs(txn, org.ID)
	if err != nil {
		return err
	}
	v := orgVersion{Org: org, Routes: []Route{}}
	for _, id := range ids {
		r, found, err := loadRoute(txn, id)
		if err != nil {
			return err
		}
		if found {
			v.Routes = append(v.Routes, r)
		}
	}
	return txn.Set(orgVerKey(org.ID, ms), encodeJSON(v))
}

// chargingSnapshot returns the routes as the epoch's charging sees them
// (verifier.Route: the organization's payer, active only while the route is
// active and its organization unlocked, the session key filters), each
// organization as its last change before atMs (the epoch's start) left it,
// and the payers' balances at atMs (from their ledgers), read in one
// transaction: the same on every oracle that holds the same changes,
// whenever it reads them.
func (s *Store) chargingSnapshot(atMs int64) ([]verifier.Route, []verifier.Balance, error) {
	var routes []verifier.Route
	var balances []verifier.Balance
	err := s.db.View(func(txn *badger.Txn) error {
		var all []Route
		payers := map[string]wire.PublicKey{}
		// An org version's id is the org id and its 0x00 separator.
		valid := func(id []byte) bool { return len(id) > 1 && id[len(id)-1] == 0 }
		err := s.versionsAt(txn, prefixOrgVer, valid, atMs, func(b []byte) error {
			var v orgVersion
			if err := decodeJSON(b, &v); err != nil {
				return err
			}
			payers[v.Org.ID] = v.Org.Payer
			all = append(all, v.Routes...)
			return nil
		})
		if err != nil {
			return err
		}
		slices.SortFunc(all, func(a, b Route) int { return strings.Compare(a.ID, b.ID) })
		paid := map[wire.PublicKey]uint64{}
		for _, r := range all {
			payer := payers[r.Org]
			bal, ok := paid[payer]
			if !ok {
				var err error
				if bal, err = balanceAt(txn, payer[:], atMs); err != nil {
					return err
				}
				paid[payer] = bal
				balances = append(balances, verifier.Balance{Wallet: payer, DC: bal})
			}
			vr := verifier.Route{ID: r.ID, Payer: payer, MaxCopies: r.MaxCopies, Active: r.Active && bal >= minLockedDC}
			for _, d := range r.DevAddrRanges {
				vr.DevAddrs = append(vr.DevAddrs, verifier.DevAddrRange{Start: uint32(d.Start), End: uint32(d.End)})
			}
			for _, f := range r.SessionKeyFilters {
				var k verifier.SessionKey
				if n, err := hex.Decode(k.NwkSKey[:], []byte(f.NwkSKey)); err == nil && n == 16 {
					k.DevAddr = uint32(f.DevAddr)
					vr.SessionKeys = append(vr.SessionKeys, k)
				}
			}
			routes = append(routes, vr)
		}
		return nil
	})
	return routes, balances, err
}

// chargeRoutes debits each route's charge from its organization's payer
// in txn, never beyond the payer's balance (routing.md §7), and returns
// what was debited per route. Routes or organizations deleted since are
// charged nothing.
// balanceAt is a wallet's balance from its ledger entries dated before
// atMs (epoch charges are dated at their epoch's end), so that every
// oracle, whenever it computes an epoch, sees the same balance.
func balanceAt(txn *badger.Txn, wallet []byte, atMs int64) (uint64, error) {
	var bal uint64
	it := txn.NewIterator(badger.IteratorOptions{Prefix: dcEntryPrefix(wallet), PrefetchValues: true})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		var e DCEntry
		if err := it.Item().Value(func(v []byte) error { return decodeJSON(v, &e) }); err != nil {
			return 0, err
		}
		if e.Ms >= atMs {
			continue
		}
		bal += e.Credit
		bal -= min(bal, e.Debit)
	}
	return bal, nil
}

func chargeRoutes(txn *badger.Txn, charges map[string]uint64, ms int64, epoch uint64) (map[string]uint64, error) {
	ids := make([]string, 0, len(charges))
	for id := range charges {
		ids = append(ids, id)
	}
	slices.Sort(ids) // the order decides who pays when a payer runs out
	out := map[string]uint64{}
	for _, id := range ids {
		r, found, err := loadRoute(txn, id)
		if err != nil || !found {
			if err != nil {
				return nil, err
			}
			continue
		}
		org, found, err := loadOrg(txn, r.Org)
		if err != nil || !found {
			if err != nil {
				return nil, err
			}
			continue
		}
		got, err := chargeDC(txn, org.Payer[:], charges[id], ms, fmt.Sprintf("epoch %d route %s", epoch, id))
		if err != nil {
			return nil, err
		}
		out[id] = got
	}
	return out, nil
}

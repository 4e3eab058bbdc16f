package solana

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/jsonrpc"
)

// TxError is a transaction that failed on chain (it landed with an error, or its preflight
// simulation failed with a program error). It is final: the caller must stop and alert.
type TxError struct {
	Name      string
	Signature string
	Landed    bool // true: in a block with an error; false: rejected by preflight
	Err       any  // the Solana TransactionError JSON value
}

func (e *TxError) Error() string {
	b, _ := json.Marshal(e.Err)
	if e.Landed {
		return fmt.Sprintf("transaction %s (%s) landed with error %s", e.Name, e.Signature, b)
	}
	return fmt.Sprintf("transaction %s (%s) rejected by preflight: %s", e.Name, e.Signature, b)
}

// CustomCode returns the program's custom error code of an InstructionError and the index
// of the failing instruction.
func (e *TxError) CustomCode() (instruction int, code int, ok bool) {
	m, isMap := e.Err.(map[string]any)
	if !isMap {
		return 0, 0, false
	}
	ie, isArr := m["InstructionError"].([]any)
	if !isArr || len(ie) != 2 {
		return 0, 0, false
	}
	idx, _ := jsonInt(ie[0])
	c, isMap := ie[1].(map[string]any)
	if !isMap {
		return 0, 0, false
	}
	v, isNum := jsonInt(c["Custom"])
	return idx, v, isNum
}

// jsonInt reads a JSON number decoded as float64 (statuses) or json.Number (preflight
// error data).
func jsonInt(v any) (int, bool) {
	switch n := v.(type) {
	case float64:
		return int(n), true
	case json.Number:
		i, err := n.Int64()
		return int(i), err == nil
	}
	return 0, false
}

// InstructionError returns the failing instruction's index and the error's name for a
// fieldless InstructionError such as "InvalidAccountData" (ok is false for Custom codes and
// for errors that are not instruction errors).
func (e *TxError) InstructionError() (instruction int, name string, ok bool) {
	m, isMap := e.Err.(map[string]any)
	if !isMap {
		return 0, "", false
	}
	ie, isArr := m["InstructionError"].([]any)
	if !isArr || len(ie) != 2 {
		return 0, "", false
	}
	idx, _ := jsonInt(ie[0])
	name, ok = ie[1].(string)
	return idx, name, ok
}

// failure says what a failed transaction of an entry means.
type failure int

const (
	// failFatal: stop and alert (the default).
	failFatal failure = iota
	// failPaid: the entry's work is on chain already (a phase-2 batch whose marker exists,
	// created by this or another coordinator): the entry is done.
	failPaid
	// failRetry: nothing of the transaction took effect and the entry may be signed again
	// on a later run (for example a payout whose token account was closed meanwhile). Only
	// for transactions made idempotent on chain by other means (batch markers).
	failRetry
)

// classifyFunc classifies the failure of an entry's transaction; nil classifies every
// failure as failFatal.
type classifyFunc func(e *entry, te *TxError) failure

// errRetry wraps the failures classified failRetry that a settle run left pending.
var errRetry = errors.New("transaction failed; to be signed again on a later run")

// signedTx is a freshly signed transaction for an entry.
type signedTx struct {
	raw       []byte
	signature sol.Signature
	blockhash sol.Hash
	lastValid uint64
}

// rebuildFunc signs the entry's transaction again with a fresh blockhash.
type rebuildFunc func(ctx context.Context, name string) (signedTx, error)

// blockhash returns a fresh blockhash and its lastValidBlockHeight.
// It is cached for a second: a transaction signed with a hash that expires meanwhile is
// simply re-signed after provable expiry.
func (d *Distributor) blockhash(ctx context.Context) (sol.Hash, uint64, error) {
	d.bh.Lock()
	defer d.bh.Unlock()
	if time.Since(d.bh.at) < time.Second {
		return d.bh.hash, d.bh.lastValid, nil
	}
	r, err := d.rpc.GetLatestBlockhash(ctx, rpc.CommitmentFinalized)
	if err != nil {
		return sol.Hash{}, 0, fmt.Errorf("get latest blockhash: %w", err)
	}
	d.bh.hash, d.bh.lastValid, d.bh.at = r.Value.Blockhash, r.Value.LastValidBlockHeight, time.Now()
	return r.Value.Blockhash, r.Value.LastValidBlockHeight, nil
}

// forgetBlockhash drops the cached blockhash (after an expiry was seen).
func (d *Distributor) forgetBlockhash() {
	d.bh.Lock()
	d.bh.at = time.Time{}
	d.bh.Unlock()
}

// newEntry persists a signed transaction before its first send.
func (d *Distributor) newEntry(name string, s signedTx) (*entry, error) {
	e := &entry{Name: name, Raw: s.raw, Signature: s.signature.String(), Blockhash: s.blockhash.String(), LastValid: s.lastValid}
	if err := d.journal.put(e); err != nil {
		return nil, err
	}
	d.signed(1)
	return e, d.step("persisted " + name)
}

// send sends the raw bytes once; errors other than a failed preflight are ignored (the
// outcome is learned from signature statuses).
func (d *Distributor) send(ctx context.Context, e *entry, preflight bool) error {
	_, err := d.rpc.SendRawTransactionWithOpts(ctx, e.Raw, rpc.TransactionOpts{SkipPreflight: !preflight, PreflightCommitment: rpc.CommitmentFinalized})
	d.metrics.sent.Add(1)
	d.m.sent.Inc()
	if err == nil {
		return nil
	}
	var re *jsonrpc.RPCError
	if errors.As(err, &re) && re.Code == -32002 {
		data, _ := re.Data.(map[string]any)
		txErr := data["err"]
		switch txErr {
		case "AlreadyProcessed", "BlockhashNotFound", nil:
			return nil
		}
		return &TxError{Name: e.Name, Signature: e.Signature, Err: txErr}
	}
	d.log.Warn("send: outcome unknown", "tx", e.Name, "err", err)
	return nil
}

// settle drives entries until each landed: resend the same bytes while the blockhash can
// still land, re-sign only after block height > lastValidBlockHeight with no status for
// any earlier signature. A failure (landed with an error, or rejected by preflight) is
// classified by classify: failFatal stops with *TxError, failPaid marks the entry done,
// failRetry drops it from this run and makes settle return an error wrapping errRetry once
// the other entries settled.
func (d *Distributor) settle(ctx context.Context, entries []*entry, rebuild rebuildFunc, classify classifyFunc) error {
	pending := make([]*entry, 0, len(entries))
	for _, e := range entries {
		if !e.Done {
			pending = append(pending, e)
		}
	}
	var retry []error
	// Reconcile first: after a restart most entries have landed already.
	var err error
	if pending, err = d.reconcile(ctx, pending, rebuild, classify, &retry); err != nil {
		return err
	}
	preflight := true
	for round := 0; len(pending) > 0; round++ {
		if pending, err = d.sendAll(ctx, pending, preflight, classify, &retry); err != nil {
			return err
		}
		preflight = false
		if pending, err = d.reconcile(ctx, pending, rebuild, classify, &retry); err != nil {
			return err
		}
		if len(pending) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("settle: %w", ctx.Err())
		case <-time.After(d.cfg.PollInterval):
		}
	}
	if len(retry) > 0 {
		return fmt.Errorf("%w: %w", errRetry, errors.Join(retry...))
	}
	return nil
}

// failed applies the classification of te to e: it returns nil when e is finished for
// this run (done, or left for a later run with its failure appended to retry), or te.
func (d *Distributor) failed(e *entry, te *TxError, classify classifyFunc, retry *[]error) error {
	what := failFatal
	if classify != nil {
		what = classify(e, te)
	}
	switch what {
	case failPaid:
		e.Done, e.Elsewhere, e.Raw = true, true, nil
		e.Failed = append(e.Failed, e.Signature)
		d.log.Info("already on chain", "tx", e.Name, "err", te)
		d.m.elsewhere.Inc()
		return d.journal.put(e)
	case failRetry:
		// The failed signature can no longer do anything: it landed with an error or was
		// refused by preflight, in which case it may still land (and fail, or succeed once:
		// the batch marker keeps it exactly once). A later run signs the entry again.
		e.Failed = append(e.Failed, e.Signature)
		e.Raw = nil
		*retry = append(*retry, te)
		d.log.Warn("transaction failed, left for a later run", "tx", e.Name, "err", te)
		return d.journal.put(e)
	}
	return te
}

// sendAll sends every entry once and returns those still pending (a preflight rejection
// is classified at once).
func (d *Distributor) sendAll(ctx context.Context, es []*entry, preflight bool, classify classifyFunc, retry *[]error) ([]*entry, error) {
	errs := make([]error, len(es))
	if len(es) == 1 {
		errs[0] = d.send(ctx, es[0], preflight)
	} else {
		var wg sync.WaitGroup
		next := make(chan int)
		for range d.cfg.Workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					errs[i] = d.send(ctx, es[i], preflight)
				}
			}()
		}
		for i := range es {
			next <- i
		}
		close(next)
		wg.Wait()
	}
	pending := es[:0:0]
	for i, e := range es {
		if errs[i] != nil {
			var te *TxError
			if !errors.As(errs[i], &te) {
				return nil, errs[i]
			}
			if err := d.failed(e, te, classify, retry); err != nil {
				return nil, err
			}
			continue
		}
		pending = append(pending, e)
	}
	for _, e := range pending {
		if err := d.step("sent " + e.Name); err != nil {
			return nil, err
		}
	}
	return pending, nil
}

// reconcile reads statuses of every signature an entry ever had and returns the entries
// still pending; expired ones are re-signed (and persisted) here.
func (d *Distributor) reconcile(ctx context.Context, es []*entry, rebuild rebuildFunc, classify classifyFunc, retry *[]error) ([]*entry, error) {
	if len(es) == 0 {
		return nil, nil
	}
	// Block height first: a null status read after it proves the old blockhash can no
	// longer land when height > lastValidBlockHeight.
	height, err := d.rpc.GetBlockHeight(ctx, rpc.CommitmentFinalized)
	if err != nil {
		d.log.Warn("get block height", "err", err)
		return es, nil // unknown; try again next round
	}
	var sigs []sol.Signature
	owner := map[sol.Signature]*entry{}
	for _, e := range es {
		for _, s := range append([]string{e.Signature}, e.Previous...) {
			sig, err := sol.SignatureFromBase58(s)
			if err != nil {
				return nil, fmt.Errorf("journal %s: %w", e.Name, err)
			}
			sigs = append(sigs, sig)
			owner[sig] = e
		}
	}
	landed := map[*entry]uint64{}
	seen := map[*entry]bool{}
	finished := map[*entry]bool{}
	for i := 0; i < len(sigs); i += 256 {
		chunk := sigs[i:min(i+256, len(sigs))]
		res, err := d.rpc.GetSignatureStatuses(ctx, true, chunk...)
		if err != nil {
			d.log.Warn("get signature statuses", "err", err)
			return es, nil
		}
		for j, st := range res.Value {
			if st == nil || j >= len(chunk) {
				continue
			}
			e := owner[chunk[j]]
			if finished[e] {
				continue
			}
			if st.Err != nil {
				// Only the current signature can have landed (earlier ones expired unseen).
				if err := d.failed(e, &TxError{Name: e.Name, Signature: chunk[j].String(), Landed: true, Err: st.Err}, classify, retry); err != nil {
					return nil, err
				}
				finished[e] = true
				continue
			}
			if st.ConfirmationStatus != rpc.ConfirmationStatusFinalized {
				seen[e] = true // in a block, not final yet: neither done nor expired
				continue
			}
			landed[e] = st.Slot
		}
	}
	var pending []*entry
	for _, e := range es {
		if finished[e] {
			continue
		}
		if slot, ok := landed[e]; ok {
			e.Done, e.Slot = true, slot
			continue
		}
		if height > e.LastValid && !seen[e] {
			d.forgetBlockhash()
			if rebuild == nil {
				return nil, fmt.Errorf("%s: blockhash expired and the transaction cannot be re-signed here", e.Name)
			}
			s, err := rebuild(ctx, e.Name)
			if err != nil {
				return nil, fmt.Errorf("re-sign %s: %w", e.Name, err)
			}
			e.Previous = append(e.Previous, e.Signature)
			e.Raw, e.Signature, e.Blockhash, e.LastValid = s.raw, s.signature.String(), s.blockhash.String(), s.lastValid
			if err := d.journal.put(e); err != nil {
				return nil, err
			}
			d.signed(1)
			d.metrics.resigned.Add(1)
			d.m.resigned.Inc()
			d.log.Info("re-signed after blockhash expiry", "tx", e.Name, "signature", e.Signature)
			if err := d.step("resigned " + e.Name); err != nil {
				return nil, err
			}
		}
		pending = append(pending, e)
	}
	return pending, nil
}

package oracle

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/wire"
)

// entropyTag is the domain tag of the entropy hash (poc-rules §1).
const entropyTag = "hexfield-entropy-v1"

// EntropyData computes data = SHA-256("hexfield-entropy-v1" ‖ i64_le(ts) ‖
// blockhash[32] ‖ r[32]) of poc-rules §1.
func EntropyData(ts int64, blockhash, r [32]byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(entropyTag))
	h.Write(binary.LittleEndian.AppendUint64(nil, uint64(ts)))
	h.Write(blockhash[:])
	h.Write(r[:])
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// entropyService issues a signed entropy value every period and keeps
// every value in the store.
type entropyService struct {
	o         *Oracle
	mu        sync.RWMutex
	cur       *wire.Envelope
	curTs     int64
	blockhash [32]byte // last good blockhash, reused when the chain fails
}

func (e *entropyService) current() *wire.Envelope {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.cur
}

// load restores the newest stored value, so a restart keeps serving it.
func (e *entropyService) load() error {
	ts, raw, err := e.o.store.LatestEntropy()
	if err != nil {
		return fmt.Errorf("load entropy: %w", err)
	}
	if raw == nil {
		return nil
	}
	env, err := wire.Open(raw, wire.Kind_KIND_ENTROPY)
	if err != nil {
		return fmt.Errorf("load entropy: %w", err)
	}
	e.mu.Lock()
	e.cur, e.curTs = env, ts
	e.mu.Unlock()
	return nil
}

// issue creates, signs, stores and publishes the value for ts. A ts not
// after the current value's (a clock stepped back) issues nothing, so a
// stored value is never replaced.
func (e *entropyService) issue(ctx context.Context, ts int64) error {
	o := e.o
	e.mu.RLock()
	last := e.curTs
	e.mu.RUnlock()
	if ts <= last {
		o.log.Warn("clock is behind the last entropy value; not issuing", "ts", ts, "last_ts", last)
		return nil
	}
	if o.blockhash != nil {
		bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		bh, err := o.blockhash(bctx)
		cancel()
		if err != nil {
			o.m.blockhashErrors.Inc()
			o.log.Warn("blockhash for entropy; reusing the previous one", "err", err)
		} else {
			e.blockhash = bh
		}
	}
	var r [32]byte
	if _, err := rand.Read(r[:]); err != nil {
		return fmt.Errorf("entropy randomness: %w", err)
	}
	data := EntropyData(ts, e.blockhash, r)
	raw, err := wire.Seal(o.key, wire.Kind_KIND_ENTROPY, &wire.Entropy{Version: 1, Ts: ts, Data: data[:]})
	if err != nil {
		return fmt.Errorf("seal entropy: %w", err)
	}
	if err := o.store.putEntropy(ts, raw); err != nil {
		return fmt.Errorf("store entropy: %w", err)
	}
	var env wire.Envelope
	if err := proto.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("decode own entropy: %w", err)
	}
	e.mu.Lock()
	e.cur, e.curTs = &env, ts
	e.mu.Unlock()
	o.m.entropyIssued.Inc()
	o.log.Debug("entropy issued", "ts", ts)
	return nil
}

// Run issues a value at every multiple of the period, and one at once when
// the newest stored value is older than a period.
func (e *entropyService) Run(ctx context.Context) error {
	o := e.o
	period := o.cfg.EntropyPeriod
	if err := e.load(); err != nil {
		return err
	}
	e.mu.RLock()
	last := e.curTs
	e.mu.RUnlock()
	now := o.now()
	if now.Unix()-last >= int64(period/time.Second) {
		if err := e.issue(ctx, now.Unix()); err != nil {
			return err
		}
	}
	for {
		now := o.now()
		next := now.Truncate(period).Add(period)
		t := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		if err := e.issue(ctx, next.Unix()); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			o.log.Error("issue entropy", "err", err)
		}
	}
}

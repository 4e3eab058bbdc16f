package oracle

import (
	"sync"
	"time"
)

// limiter is a rate limit per key (an owner wallet, a hotspot): a burst
// of burst requests, then one per every. It is the generic cell rate
// algorithm: each key keeps one time, the theoretical arrival time of its
// next request, so a key costs a few dozen bytes and keys whose time has
// passed (a full burst available again) carry no information and are
// dropped when the table grows. Time comes from the caller, so tests run it
// in virtual time.
type limiter struct {
	mu    sync.Mutex
	burst int
	every time.Duration
	tat   map[string]time.Time
}

// limiterSweepAt is the table size at which expired keys are dropped.
const limiterSweepAt = 1 << 16

func newLimiter(burst int, every time.Duration) *limiter {
	return &limiter{burst: max(burst, 1), every: every, tat: map[string]time.Time{}}
}

// allow reports whether key may make a request at now, and if not, how
// long until it may. It does not count the request: take does, once the
// request has succeeded, so refused requests cost their key nothing.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	tat, ok := l.tat[key]
	if !ok || !tat.After(now) {
		return true, 0
	}
	// A request at now is allowed while tat − now ≤ (burst − 1)·every.
	slack := time.Duration(l.burst-1) * l.every
	if wait := tat.Sub(now) - slack; wait > 0 {
		return false, wait
	}
	return true, 0
}

// take counts one request of key at now.
func (l *limiter) take(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	tat, ok := l.tat[key]
	if !ok || tat.Before(now) {
		tat = now
	}
	l.tat[key] = tat.Add(l.every)
	if len(l.tat) >= limiterSweepAt {
		for k, t := range l.tat {
			if !t.After(now) {
				delete(l.tat, k)
			}
		}
	}
}

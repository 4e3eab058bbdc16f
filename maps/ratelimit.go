package maps

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// rateLimiter allows n requests per period per client IP (a token bucket
// refilled continuously), tracking at most maxClients clients: when full,
// the stalest entries are dropped.
type rateLimiter struct {
	mu     sync.Mutex
	n      float64
	period time.Duration
	now    func() time.Time
	m      map[string]*tokens
}

type tokens struct {
	left float64
	at   time.Time
}

const maxRateClients = 100000

func newRateLimiter(n int, period time.Duration, now func() time.Time) *rateLimiter {
	return &rateLimiter{n: float64(n), period: period, now: now, m: map[string]*tokens{}}
}

func (l *rateLimiter) allow(client string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	t := l.m[client]
	if t == nil {
		if len(l.m) >= maxRateClients {
			for k, v := range l.m {
				if now.Sub(v.at) >= l.period {
					delete(l.m, k)
				}
			}
			if len(l.m) >= maxRateClients {
				return false
			}
		}
		t = &tokens{left: l.n, at: now}
		l.m[client] = t
	}
	t.left = min(l.n, t.left+now.Sub(t.at).Seconds()*l.n/l.period.Seconds())
	t.at = now
	if t.left < 1 {
		return false
	}
	t.left--
	return true
}

// clientIP is the request's remote IP (proxies are not trusted).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

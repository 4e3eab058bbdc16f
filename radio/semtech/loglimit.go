package semtech

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// LogLimiter bounds one kind of log line that input from outside can
// trigger (a forwarder changing address, a second forwarder, a failed
// write, a witness): at most Burst lines per Interval are written, the rest
// are only counted, and the next line written says how many were left out
// ("suppressed"). The events themselves belong in metrics; the log says
// that they happen, not how often.
//
// One LogLimiter serves one call site. The zero value lets one line a
// minute through, timed by time.Now. It is safe for concurrent use and must
// not be copied after first use. It is used by the GWMP server and by the
// hotspot.
type LogLimiter struct {
	// Burst is how many lines pass per Interval; below 1 means 1.
	Burst int
	// Interval is the period Burst applies to; zero or less means a minute.
	Interval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu         sync.Mutex
	start      time.Time // of the current interval
	n          int       // lines written in it
	suppressed uint64    // lines left out since the last one written
}

// Allow reports whether a line may be written now and, if so, how many
// lines were left out since the last one allowed.
func (l *LogLimiter) Allow() (ok bool, suppressed uint64) {
	burst, interval, now := l.Burst, l.Interval, time.Now()
	if burst < 1 {
		burst = 1
	}
	if interval <= 0 {
		interval = time.Minute
	}
	if l.Now != nil {
		now = l.Now()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.start.IsZero() || now.Sub(l.start) >= interval || now.Before(l.start) {
		l.start, l.n = now, 0
	}
	if l.n >= burst {
		l.suppressed++
		return false, 0
	}
	l.n++
	s := l.suppressed
	l.suppressed = 0
	return true, s
}

// Log writes msg with args at level on log when the limiter allows it,
// adding "suppressed" with the count of lines left out before it.
func (l *LogLimiter) Log(log *slog.Logger, level slog.Level, msg string, args ...any) {
	if !log.Enabled(context.Background(), level) {
		return
	}
	ok, suppressed := l.Allow()
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	log.Log(context.Background(), level, msg, args...)
}

package oracle

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// logSampler bounds the lines of events that anyone on the network can
// cause at will (an unknown key's handshake, a refused connection, a failed
// write): at most burst lines per event in each period. The lines it drops
// are counted (the suppressed callback, a metric) and the first line of the
// next period says how many were dropped (suppressed=N). The events
// themselves are counted in their own metrics; the log only samples them.
type logSampler struct {
	log        *slog.Logger
	period     time.Duration
	burst      int
	now        func() time.Time
	suppressed func(event string)

	mu     sync.Mutex
	events map[string]*sampleWindow
}

type sampleWindow struct {
	start   time.Time
	lines   int
	dropped int
}

func newLogSampler(log *slog.Logger, period time.Duration, burst int, now func() time.Time, suppressed func(string)) *logSampler {
	if now == nil {
		now = time.Now
	}
	return &logSampler{log: log, period: period, burst: burst, now: now, suppressed: suppressed, events: map[string]*sampleWindow{}}
}

// Log writes msg with args at level unless event has used up its lines in
// the current period. event is a fixed name (bounded set), not data.
func (s *logSampler) Log(level slog.Level, event, msg string, args ...any) {
	if !s.log.Enabled(context.Background(), level) {
		return
	}
	now := s.now()
	s.mu.Lock()
	w := s.events[event]
	if w == nil {
		w = &sampleWindow{start: now}
		s.events[event] = w
	}
	if now.Sub(w.start) >= s.period || now.Before(w.start) {
		w.start, w.lines = now, 0
	}
	if w.lines >= s.burst {
		w.dropped++
		s.mu.Unlock()
		if s.suppressed != nil {
			s.suppressed(event)
		}
		return
	}
	w.lines++
	dropped := w.dropped
	w.dropped = 0
	s.mu.Unlock()
	if dropped > 0 {
		args = append(args, "suppressed", dropped)
	}
	s.log.Log(context.Background(), level, msg, args...)
}

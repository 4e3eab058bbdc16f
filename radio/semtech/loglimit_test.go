package semtech

import (
	"log/slog"
	"testing"
	"time"
)

func TestLogLimiter(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := &LogLimiter{Burst: 3, Interval: time.Minute, Now: clock.Now}
	allowed := 0
	for range 1000 {
		if ok, _ := l.Allow(); ok {
			allowed++
		}
	}
	if allowed != 3 {
		t.Fatalf("%d of 1000 allowed in one interval, want 3", allowed)
	}
	clock.Add(time.Minute)
	ok, suppressed := l.Allow()
	if !ok || suppressed != 997 {
		t.Fatalf("next interval: ok %v, suppressed %d, want 997", ok, suppressed)
	}
	if ok, s := l.Allow(); !ok || s != 0 {
		t.Fatalf("second line of the interval: %v %d", ok, s)
	}

	// Log adds the count of lines left out.
	logs := newLogCounter()
	log := slog.New(logs)
	l = &LogLimiter{Burst: 1, Interval: time.Minute, Now: clock.Now}
	for range 50 {
		l.Log(log, slog.LevelWarn, "flood")
	}
	if n := logs.count("flood"); n != 1 {
		t.Fatalf("%d lines", n)
	}
	// A disabled level costs nothing and counts nothing.
	quiet := slog.New(slog.NewTextHandler(discardWriter{}, &slog.HandlerOptions{Level: slog.LevelError}))
	l = &LogLimiter{Burst: 1, Interval: time.Minute, Now: clock.Now}
	for range 10 {
		l.Log(quiet, slog.LevelInfo, "x")
	}
	if ok, s := l.Allow(); !ok || s != 0 {
		t.Fatalf("disabled level counted: %v %d", ok, s)
	}
}

type discardWriter struct{}

func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }

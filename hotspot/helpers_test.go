package hotspot

import (
	"log/slog"
	"os"
	"testing"
)

// testLogger logs to stderr when -v is given, else discards.
func testLogger(t testing.TB) *slog.Logger {
	t.Helper()
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

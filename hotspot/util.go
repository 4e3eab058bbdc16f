package hotspot

import (
	"fmt"
	"log/slog"
	"net"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/wire"
)

// ParseLogLevel parses debug, info, warn or error.
func ParseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log_level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// parseOracle splits "ADDRESS@host:port" into the pinned key and the
// address to dial.
func parseOracle(s string) (wire.PublicKey, string, error) {
	keyText, addr, ok := strings.Cut(s, "@")
	if !ok {
		return wire.PublicKey{}, "", fmt.Errorf("oracle %q: want ADDRESS@host:port", s)
	}
	key, err := wire.ParsePublicKey(keyText)
	if err != nil {
		return wire.PublicKey{}, "", fmt.Errorf("oracle %q: %w", s, err)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" {
		return wire.PublicKey{}, "", fmt.Errorf("oracle %q: want ADDRESS@host:port", s)
	}
	return key, addr, nil
}

func lookupRegion(name string) (*radio.Region, error) {
	return radio.LookupRegion(name)
}

// marshalEnvelope re-encodes a decoded envelope canonically (the bytes the
// signer produced: wire envelopes are canonical).
func marshalEnvelope(env *wire.Envelope) ([]byte, error) {
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	return raw, nil
}

package wire

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ErrOracleAddr is returned (wrapped) for text that is not an oracle address.
var ErrOracleAddr = errors.New("invalid oracle address")

// OracleAddr says where an oracle is and which key it must prove it holds.
// Its text form is "ADDRESS@host:port": the oracle's base58 identity key,
// then a host name or IP (IPv6 in brackets) and a numeric UDP port, e.g.
// "7t6WSiJHshxQj7LPbWFD1UoqkGmpyfs6kBVrK6tqhDRZ@oracle.example.org:4470".
// It implements encoding.TextMarshaler, so config files can list oracles as
// strings.
type OracleAddr struct {
	Key      PublicKey
	HostPort string
}

// ParseOracleAddr parses "ADDRESS@host:port" into the oracle's key and its
// host:port.
func ParseOracleAddr(s string) (PublicKey, string, error) {
	a, err := parseOracleAddr(s)
	if err != nil {
		return PublicKey{}, "", err
	}
	return a.Key, a.HostPort, nil
}

func parseOracleAddr(s string) (OracleAddr, error) {
	fail := func(format string, args ...any) (OracleAddr, error) {
		return OracleAddr{}, fmt.Errorf("parse oracle address %q: %w: %s", truncateForError(s), ErrOracleAddr, fmt.Sprintf(format, args...))
	}
	keyText, hostPort, ok := strings.Cut(s, "@")
	if !ok {
		return fail("want ADDRESS@host:port")
	}
	key, err := ParsePublicKey(keyText)
	if err != nil {
		return fail("key: %v", err)
	}
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return fail("%v", err)
	}
	if host == "" {
		return fail("no host")
	}
	if strings.ContainsAny(host, "@/ \t") {
		return fail("host %q has a character not allowed in a host name", host)
	}
	if strings.Contains(host, ":") && net.ParseIP(host) == nil {
		return fail("host %q is not an IPv6 address", host)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 || port[0] == '0' || port[0] == '+' {
		return fail("port %q is not a number 1-65535", port)
	}
	return OracleAddr{Key: key, HostPort: hostPort}, nil
}

// String returns the "ADDRESS@host:port" form.
func (a OracleAddr) String() string {
	return a.Key.String() + "@" + a.HostPort
}

// MarshalText returns the "ADDRESS@host:port" form.
func (a OracleAddr) MarshalText() ([]byte, error) {
	return []byte(a.String()), nil
}

// UnmarshalText parses "ADDRESS@host:port".
func (a *OracleAddr) UnmarshalText(text []byte) error {
	p, err := parseOracleAddr(string(text))
	if err != nil {
		return err
	}
	*a = p
	return nil
}

package wire

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const tokenKey = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"

func TestParseOracleAddr(t *testing.T) {
	cases := []struct {
		in       string
		hostPort string
	}{
		{tokenKey + "@oracle.example.org:4470", "oracle.example.org:4470"},
		{tokenKey + "@127.0.0.1:1", "127.0.0.1:1"},
		{tokenKey + "@[::1]:65535", "[::1]:65535"},
		{tokenKey + "@localhost:4470", "localhost:4470"},
	}
	want, _ := ParsePublicKey(tokenKey)
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			k, hp, err := ParseOracleAddr(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if k != want || hp != tc.hostPort {
				t.Errorf("= %s, %q", k, hp)
			}
			a := OracleAddr{Key: k, HostPort: hp}
			if a.String() != tc.in {
				t.Errorf("String() = %q", a.String())
			}
		})
	}
}

func TestParseOracleAddrRejects(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"empty", "", "want ADDRESS@host:port"},
		{"no key", "oracle.example.org:4470", "want ADDRESS@host:port"},
		{"empty key", "@oracle.example.org:4470", "key"},
		{"bad key", "notakey0@oracle.example.org:4470", "key"},
		{"short key", "1111@h:1", "key"},
		{"no port", tokenKey + "@oracle.example.org", "missing port"},
		{"empty port", tokenKey + "@oracle.example.org:", "not a number"},
		{"port 0", tokenKey + "@h:0", "not a number"},
		{"port too big", tokenKey + "@h:65536", "not a number"},
		{"named port", tokenKey + "@h:https", "not a number"},
		{"leading zero port", tokenKey + "@h:0443", "not a number"},
		{"no host", tokenKey + "@:4470", "no host"},
		{"two @", tokenKey + "@a@b:1", "not allowed"},
		{"unbracketed ipv6", tokenKey + "@::1:4470", "too many colons"},
		{"bad ipv6", tokenKey + "@[zz:1]:4470", "not an IPv6"},
		{"space", tokenKey + "@a b:1", "not allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseOracleAddr(tc.in)
			if !errors.Is(err, ErrOracleAddr) {
				t.Fatalf("err = %v, want ErrOracleAddr", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestOracleAddrText(t *testing.T) {
	in := `["` + tokenKey + `@[::1]:4470"]`
	var as []OracleAddr
	if err := json.Unmarshal([]byte(in), &as); err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || as[0].HostPort != "[::1]:4470" || as[0].Key.String() != tokenKey {
		t.Fatalf("= %+v", as)
	}
	out, err := json.Marshal(as)
	if err != nil || string(out) != in {
		t.Errorf("= %s, %v", out, err)
	}
	var a OracleAddr
	if err := a.UnmarshalText([]byte("x@y")); !errors.Is(err, ErrOracleAddr) {
		t.Errorf("bad text: %v", err)
	}
}

func FuzzParseOracleAddr(f *testing.F) {
	f.Add(tokenKey + "@oracle.example.org:4470")
	f.Add(tokenKey + "@[::1]:1")
	f.Add("@:")
	f.Fuzz(func(t *testing.T, s string) {
		k, hp, err := ParseOracleAddr(s)
		if err != nil {
			if !errors.Is(err, ErrOracleAddr) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		a := OracleAddr{Key: k, HostPort: hp}
		k2, hp2, err := ParseOracleAddr(a.String())
		if err != nil || k2 != k || hp2 != hp {
			t.Fatalf("round trip of %q: %v", s, err)
		}
	})
}

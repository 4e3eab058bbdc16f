package wire

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// hexBytes decodes hex written in a test table; it panics on a typo.
func hexBytes(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Vectors: well-known Solana addresses and values checked against an
// independent big-integer implementation.
var publicKeyVectors = []struct {
	name string
	hex  string
	b58  string
}{
	{"system program (all zero)", "0000000000000000000000000000000000000000000000000000000000000000", "11111111111111111111111111111111"},
	{"spl token program", "06ddf6e1d765a193d9cbe146ceeb79ac1cb485ed5f5b37913a8cf5857eff00a9", "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"},
	{"merkle root vector (solana-rewards.md §2)", "663cf867bf70b3d4741804eff9ad81e1f495f053314be508717420eee9cdf0a0", "7t6WSiJHshxQj7LPbWFD1UoqkGmpyfs6kBVrK6tqhDRZ"},
	{"two leading zero bytes", "000001ffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "11QF7N3ErceFxTPNH9CGKqHisFCRSeGDL8Bb4wTGTp"},
	{"one leading zero byte", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "1thX6LZfHDZZKUs92febYZhYRcXddmzfzF2NvTkPNE"},
	{"all ones", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "JEKNVnkbo3jma5nREBBJCDoXFVeKkD56V3xKrvRmWxFG"},
}

func TestPublicKeyBase58(t *testing.T) {
	for _, tc := range publicKeyVectors {
		t.Run(tc.name, func(t *testing.T) {
			k, err := PublicKeyFromBytes(mustHex(t, tc.hex))
			if err != nil {
				t.Fatal(err)
			}
			if got := k.String(); got != tc.b58 {
				t.Errorf("String() = %s, want %s", got, tc.b58)
			}
			p, err := ParsePublicKey(tc.b58)
			if err != nil {
				t.Fatalf("ParsePublicKey: %v", err)
			}
			if p != k {
				t.Errorf("ParsePublicKey = %x, want %x", p, k)
			}
			text, _ := k.MarshalText()
			var u PublicKey
			if err := u.UnmarshalText(text); err != nil || u != k {
				t.Errorf("text round trip = %x, %v", u, err)
			}
		})
	}
}

func TestPublicKeyJSON(t *testing.T) {
	k, err := ParsePublicKey("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]PublicKey{"k": k})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"k":"TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"}` {
		t.Errorf("json = %s", b)
	}
	var back map[string]PublicKey
	if err := json.Unmarshal(b, &back); err != nil || back["k"] != k {
		t.Errorf("json round trip = %v, %v", back, err)
	}
}

func TestParsePublicKeyRejects(t *testing.T) {
	cases := []struct{ name, in string }{
		{"empty", ""},
		{"bad character 0", "0okenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"},
		{"bad character l", "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5Dl"},
		{"non-ascii", "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DÄ"},
		{"31 bytes", "1111111111111111111111111111111"},
		{"33 bytes (extra leading 1)", "1TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"},
		{"too large a number", "JEKNVnkbo3jma5nREBBJCDoXFVeKkD56V3xKrvRmWxFH"},
		{"too short", "Tokenkeg"},
		{"very long", strings.Repeat("z", 10000)},
		{"space", " TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParsePublicKey(tc.in)
			if err == nil {
				t.Fatalf("ParsePublicKey(%q) = %s, want error", tc.in, k)
			}
			if !errors.Is(err, ErrBadKey) || !errors.Is(err, ErrBase58) {
				t.Errorf("error %v does not wrap ErrBadKey and ErrBase58", err)
			}
			if len(err.Error()) > 300 {
				t.Errorf("error message is %d bytes long", len(err.Error()))
			}
		})
	}
}

func TestPublicKeyFromBytesRejects(t *testing.T) {
	for _, n := range []int{0, 31, 33, 64} {
		if _, err := PublicKeyFromBytes(make([]byte, n)); !errors.Is(err, ErrBadKey) {
			t.Errorf("%d bytes: err = %v, want ErrBadKey", n, err)
		}
	}
}

func TestGenerateKey(t *testing.T) {
	a, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != ed25519.PrivateKeySize || bytes.Equal(a, b) {
		t.Fatalf("keys %x and %x", a, b)
	}
	if pk := PublicKeyOf(a); !bytes.Equal(pk[:], a.Public().(ed25519.PublicKey)) {
		t.Errorf("PublicKeyOf = %x, want %x", pk, a.Public())
	}
	if got := PublicKeyOf(a).Ed25519(); !got.Equal(a.Public()) {
		t.Errorf("Ed25519() = %x", got)
	}
}

// keyFileVector is the keypair for the seed 00 01 … 1f, written as
// solana-keygen writes it (compact JSON). Its public key,
// 03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8, is the
// well-known ed25519 public key of that seed.
const keyFileVector = `[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,3,161,7,191,243,206,16,190,29,112,221,24,231,75,192,153,103,228,214,48,155,165,13,95,29,220,134,100,18,85,49,184]`

func seqSeedKey() ed25519.PrivateKey {
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i)
	}
	return ed25519.NewKeyFromSeed(seed)
}

func TestKeyFileVector(t *testing.T) {
	priv := seqSeedKey()
	got, err := MarshalKeyFile(priv)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != keyFileVector {
		t.Errorf("MarshalKeyFile =\n%s\nwant\n%s", got, keyFileVector)
	}
	back, err := ParseKeyFile([]byte(keyFileVector))
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(priv) {
		t.Errorf("ParseKeyFile = %x", back)
	}
	// Whitespace, as in a hand-edited or pretty-printed file, is fine.
	pretty := "\n[ " + strings.ReplaceAll(keyFileVector[1:len(keyFileVector)-1], ",", ",\n  ") + " ]\n"
	if back, err := ParseKeyFile([]byte(pretty)); err != nil || !back.Equal(priv) {
		t.Errorf("pretty-printed: %v", err)
	}
	if _, err := MarshalKeyFile(priv[:32]); err == nil {
		t.Error("MarshalKeyFile accepted a 32-byte key")
	}
}

func TestParseKeyFileRejects(t *testing.T) {
	swapped := []byte(keyFileVector)
	// Change the public key's last number (132 → 133): mismatch.
	swapped = bytes.Replace(swapped, []byte(",184]"), []byte(",185]"), 1)
	otherKey, _ := MarshalKeyFile(ed25519.NewKeyFromSeed(make([]byte, 32)))
	// Secret of the vector with the public key of another key.
	mixed := keyFileVector[:strings.Index(keyFileVector, ",3,161")] + "," + strings.Join(strings.Split(string(otherKey[1:len(otherKey)-1]), ",")[32:], ",") + "]"
	cases := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", "empty"},
		{"whitespace", "  \n", "empty"},
		{"object", `{"key":[1,2]}`, "not a JSON array"},
		{"base58 text", "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA", "not a JSON array"},
		{"truncated", keyFileVector[:100], "truncated"},
		{"truncated before ]", keyFileVector[:len(keyFileVector)-1], "truncated"},
		{"32 numbers", keyFileVector[:strings.Index(keyFileVector, ",3,161")] + "]", "32 numbers, want 64"},
		{"65 numbers", keyFileVector[:len(keyFileVector)-1] + ",0]", "65 numbers, want 64"},
		{"value 256", strings.Replace(keyFileVector, "[0,", "[256,", 1), "element 0 is not an integer 0-255"},
		{"negative", strings.Replace(keyFileVector, "[0,", "[-1,", 1), "element 0 is not an integer 0-255"},
		{"float", strings.Replace(keyFileVector, "[0,", "[0.5,", 1), "element 0 is not an integer 0-255"},
		{"exponent", strings.Replace(keyFileVector, "[0,", "[1e0,", 1), "element 0 is not an integer 0-255"},
		{"bad character", strings.Replace(keyFileVector, "[0,", "[0x,", 1), "not valid JSON at byte"},
		{"string element", strings.Replace(keyFileVector, "[0,", `["0",`, 1), "invalid key file"},
		{"trailing data", keyFileVector + "[]", "trailing data"},
		{"trailing garbage", keyFileVector + "x", "trailing data"},
		{"public key mismatch", string(swapped), "not the public key of the first 32"},
		{"public key of another key", mixed, "not the public key of the first 32"},
		{"huge", "[" + strings.Repeat(" ", 5000) + "]", "too large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKeyFile([]byte(tc.in))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrKeyFile) {
				t.Errorf("error %v does not wrap ErrKeyFile", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// TestKeyFileErrorsNeverEchoKeyMaterial feeds key files that are wrong in
// one place and checks that no error quotes a number of the file, in any
// form: every number in a key file is key material.
func TestKeyFileErrorsNeverEchoKeyMaterial(t *testing.T) {
	priv, _ := GenerateKey()
	good, _ := MarshalKeyFile(priv)
	nums := strings.Split(strings.Trim(string(good), "[]"), ",")
	with := func(i int, v string) string {
		n := append([]string(nil), nums...)
		n[i] = v
		return "[" + strings.Join(n, ",") + "]"
	}
	// seed ‖ seed: the "public key" half is the secret itself.
	seedTwice := "[" + strings.Join(append(append([]string(nil), nums[:32]...), nums[:32]...), ",") + "]"
	cases := map[string]string{
		"float element":   with(0, nums[0]+".0"),
		"exponent":        with(5, nums[5]+"e0"),
		"out of range":    with(7, "9"+nums[7]+"9"),
		"bad character":   with(3, nums[3]+"z"),
		"string element":  with(9, `"`+nums[9]+`"`),
		"seed twice":      seedTwice,
		"secret appended": string(good[:len(good)-1]) + "," + nums[0] + "]",
	}
	secretTexts := []string{PublicKey(priv[:32]).String(), fmt.Sprintf("%x", priv[:32]), fmt.Sprint([]byte(priv[:32]))}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseKeyFile([]byte(in))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			for _, s := range secretTexts {
				if strings.Contains(msg, s) {
					t.Fatalf("error %q quotes the secret", msg)
				}
			}
			// No number of the file (two digits or more, so that
			// element indexes stay allowed) appears in the message
			// as a value. The key's public address may be named (it is
			// public), and base58 can hold e.g. "7z" by chance.
			msg = strings.ReplaceAll(msg, PublicKeyOf(priv).String(), "ADDRESS")
			for _, n := range nums {
				for _, quoted := range []string{" is " + n, n + ".0", n + "e0", n + "z", "'" + n, `"` + n} {
					if strings.Contains(msg, quoted) {
						t.Fatalf("error %q quotes %q from the file", msg, quoted)
					}
				}
			}
			if strings.Contains(msg, "239.0") || strings.Contains(msg, "'z'") {
				t.Fatalf("error %q quotes file contents", msg)
			}
		})
	}
}

// TestReadKeyFileRefusesOpenModes: like ssh, a key file group or others may
// read or write is refused, with an error naming the path, the mode and the
// fix; 0600 and 0400 are accepted, and created files are 0600.
func TestReadKeyFileRefusesOpenModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no POSIX modes")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "hotspot.key")
	key, created, err := LoadOrCreateKeyFile(path)
	if err != nil || !created {
		t.Fatal(created, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("created with mode %04o", st.Mode().Perm())
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620, 0o602, 0o660, 0o666, 0o777} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := ReadKeyFile(path)
		if !errors.Is(err, ErrKeyFileMode) {
			t.Fatalf("mode %04o: err = %v, want ErrKeyFileMode", mode, err)
		}
		for _, want := range []string{path, fmt.Sprintf("%04o", mode), "chmod 600 " + path} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("mode %04o: error %q does not say %q", mode, err, want)
			}
		}
		// LoadOrCreateKeyFile refuses it too, and never replaces it.
		if _, _, err := LoadOrCreateKeyFile(path); !errors.Is(err, ErrKeyFileMode) {
			t.Fatalf("LoadOrCreateKeyFile with mode %04o: %v", mode, err)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		os.Chmod(path, mode)
		if back, err := ReadKeyFile(path); err != nil || !back.Equal(key) {
			t.Fatalf("mode %04o: %v", mode, err)
		}
	}
}

func TestWriteReadKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hotspot.json")
	priv := seqSeedKey()
	if err := WriteKeyFile(path, priv); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if string(data) != keyFileVector {
		t.Errorf("file = %s", data)
	}
	back, err := ReadKeyFile(path)
	if err != nil || !back.Equal(priv) {
		t.Fatalf("ReadKeyFile = %x, %v", back, err)
	}
	// Never overwritten.
	other, _ := GenerateKey()
	if err := WriteKeyFile(path, other); !errors.Is(err, fs.ErrExist) {
		t.Errorf("overwrite: err = %v, want fs.ErrExist", err)
	}
	if back, _ := ReadKeyFile(path); !back.Equal(priv) {
		t.Error("existing key was replaced")
	}
	// No temporary files left behind.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("dir has %d entries, want 1", len(entries))
	}
}

func TestReadKeyFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadKeyFile(filepath.Join(dir, "missing.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: err = %v, want fs.ErrNotExist", err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(keyFileVector[:50]), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ReadKeyFile(bad)
	if !errors.Is(err, ErrKeyFile) || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated file: err = %v", err)
	}
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, bytes.Repeat([]byte(" "), 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKeyFile(big); !errors.Is(err, ErrKeyFile) {
		t.Errorf("big file: err = %v", err)
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "keys", "hotspot.json")
	k1, created, err := LoadOrCreateKeyFile(path)
	if err != nil || !created {
		t.Fatalf("first: created=%v err=%v", created, err)
	}
	st, err := os.Stat(filepath.Dir(path))
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("dir mode = %v, %v", st.Mode().Perm(), err)
	}
	k2, created, err := LoadOrCreateKeyFile(path)
	if err != nil || created || !k2.Equal(k1) {
		t.Fatalf("second: created=%v err=%v same=%v", created, err, k2.Equal(k1))
	}
	// A corrupt file is an error, never replaced.
	if err := os.WriteFile(path, []byte("[1,2,3]"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKeyFile(path); !errors.Is(err, ErrKeyFile) {
		t.Errorf("corrupt: err = %v, want ErrKeyFile", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "[1,2,3]" {
		t.Errorf("corrupt file was replaced: %s", data)
	}
}

func TestLoadOrCreateKeyFileRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.json")
	const n = 8
	keys := make([]ed25519.PrivateKey, n)
	errs := make([]error, n)
	createdCount := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			keys[i], createdCount[i], errs[i] = LoadOrCreateKeyFile(path)
		})
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("goroutine %d: %v", i, errs[i])
		}
		if !keys[i].Equal(keys[0]) {
			t.Errorf("goroutine %d got another key", i)
		}
		if createdCount[i] {
			creators++
		}
	}
	if creators != 1 {
		t.Errorf("%d callers report created, want 1", creators)
	}
}

func FuzzParseKeyFile(f *testing.F) {
	f.Add([]byte(keyFileVector))
	f.Add([]byte(keyFileVector[:100]))
	f.Add([]byte("[]"))
	f.Add([]byte(`[1,2,3`))
	f.Add([]byte(`{"a":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		priv, err := ParseKeyFile(data)
		if err != nil {
			if !errors.Is(err, ErrKeyFile) {
				t.Fatalf("error %v does not wrap ErrKeyFile", err)
			}
			return
		}
		// Anything accepted is a consistent key and survives a round trip.
		if !ed25519.NewKeyFromSeed(priv.Seed()).Equal(priv) {
			t.Fatal("accepted an inconsistent key")
		}
		out, err := MarshalKeyFile(priv)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseKeyFile(out)
		if err != nil || !back.Equal(priv) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzBase58(f *testing.F) {
	for _, v := range publicKeyVectors {
		f.Add(v.b58)
	}
	f.Add("")
	f.Add("0OIl")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParsePublicKey(s)
		if err != nil {
			return
		}
		// Every accepted text is the one canonical spelling of its key.
		if k.String() != s {
			t.Fatalf("ParsePublicKey(%q) = %x, which prints as %q", s, k, k.String())
		}
	})
}

func FuzzBase58Encode(f *testing.F) {
	for _, v := range publicKeyVectors {
		f.Add(mustHex(f, v.hex))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 64 {
			return
		}
		s := string(appendBase58(nil, b))
		back, err := decodeBase58(s, len(b))
		if len(b) == 0 {
			if err == nil {
				t.Fatal("empty text accepted")
			}
			return
		}
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("%x → %q → %x, %v", b, s, back, err)
		}
	})
}

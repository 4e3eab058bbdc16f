package wire

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
)

// PublicKey is a 32-byte ed25519 public key: a hotspot's or an oracle's
// identity, and an owner's Solana wallet address. Its text form is base58,
// so a hotspot's address is also a valid Solana public key.
type PublicKey [32]byte

// PublicKeySize is the length of a PublicKey in bytes.
const PublicKeySize = 32

// ErrBadKey is returned for bytes or text that are not a 32-byte public key.
var ErrBadKey = errors.New("invalid public key")

// ParsePublicKey parses a base58 public key as printed by String (and by the
// Solana CLI). Text that does not decode to exactly 32 bytes is rejected.
func ParsePublicKey(s string) (PublicKey, error) {
	b, err := decodeBase58(s, PublicKeySize)
	if err != nil {
		return PublicKey{}, fmt.Errorf("parse public key %q: %w: %w", truncateForError(s), ErrBadKey, err)
	}
	return PublicKey(b), nil
}

// PublicKeyFromBytes converts the 32 raw bytes of a key, as carried in
// protobuf messages, into a PublicKey.
func PublicKeyFromBytes(b []byte) (PublicKey, error) {
	if len(b) != PublicKeySize {
		return PublicKey{}, fmt.Errorf("%w: %d bytes, want %d", ErrBadKey, len(b), PublicKeySize)
	}
	return PublicKey(b), nil
}

// PublicKeyOf returns the public key of priv.
func PublicKeyOf(priv ed25519.PrivateKey) PublicKey {
	return PublicKey(priv[ed25519.SeedSize:])
}

// String returns the base58 form of k.
func (k PublicKey) String() string {
	var buf [48]byte
	return string(appendBase58(buf[:0], k[:]))
}

// AppendText appends the base58 form of k to b.
func (k PublicKey) AppendText(b []byte) ([]byte, error) {
	return appendBase58(b, k[:]), nil
}

// MarshalText returns the base58 form of k.
func (k PublicKey) MarshalText() ([]byte, error) {
	return appendBase58(make([]byte, 0, 44), k[:]), nil
}

// UnmarshalText parses a base58 public key into k.
func (k *PublicKey) UnmarshalText(text []byte) error {
	p, err := ParsePublicKey(string(text))
	if err != nil {
		return err
	}
	*k = p
	return nil
}

// Bytes returns a copy of the key's 32 bytes, for protobuf fields.
func (k PublicKey) Bytes() []byte {
	return bytes.Clone(k[:])
}

// Ed25519 returns k as a crypto/ed25519 public key.
func (k PublicKey) Ed25519() ed25519.PublicKey {
	return ed25519.PublicKey(k.Bytes())
}

// IsZero reports whether k is all zeros (the unset value).
func (k PublicKey) IsZero() bool {
	return k == PublicKey{}
}

// GenerateKey returns a new random ed25519 private key.
func GenerateKey() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return priv, nil
}

// Key files use the Solana CLI keypair format (solana-keygen): a JSON array
// of 64 integers 0–255, the 32-byte seed followed by the 32-byte public key,
// which is also the byte layout of an ed25519.PrivateKey. Files are written
// with mode 0600, and a file that group or others may access is refused on
// reading, as ssh refuses such private keys.
//
// Errors about a key file never quote its contents: every number in it is
// key material, so they say where the file is wrong, not what it holds.

// ErrKeyFile is returned (wrapped) for a key file that is not a valid Solana
// CLI keypair.
var ErrKeyFile = errors.New("invalid key file")

// ErrKeyFileMode is returned (wrapped) by ReadKeyFile for a key file whose
// permissions let group or others read or write it.
var ErrKeyFileMode = errors.New("key file permissions are too open")

// maxKeyFileSize bounds how much of a key file is read: 64 numbers of at most
// three digits plus separators and whitespace fit easily.
const maxKeyFileSize = 4096

// ParseKeyFile parses the contents of a Solana CLI keypair file. It rejects
// anything but a JSON array of exactly 64 integers 0–255 whose last 32 bytes
// are the public key of its first 32.
func ParseKeyFile(data []byte) (ed25519.PrivateKey, error) {
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("%w: %d bytes is too large for a keypair", ErrKeyFile, len(data))
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrKeyFile)
	}
	if trimmed[0] != '[' {
		return nil, fmt.Errorf("%w: not a JSON array of 64 numbers", ErrKeyFile)
	}
	var nums []json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(&nums); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: truncated JSON", ErrKeyFile)
		}
		// The decoder's message quotes the offending character: give
		// only its position.
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			return nil, fmt.Errorf("%w: not valid JSON at byte %d", ErrKeyFile, se.Offset)
		}
		return nil, fmt.Errorf("%w: not a JSON array of 64 numbers", ErrKeyFile)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the array", ErrKeyFile)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the array", ErrKeyFile)
	}
	if len(nums) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: %d numbers, want %d", ErrKeyFile, len(nums), ed25519.PrivateKeySize)
	}
	key := make([]byte, ed25519.PrivateKeySize)
	for i, n := range nums {
		v, err := strconv.ParseUint(string(n), 10, 8)
		if err != nil || n[0] == '+' {
			// Never quote the element: it is (part of) the key.
			return nil, fmt.Errorf("%w: element %d is not an integer 0-255", ErrKeyFile, i)
		}
		key[i] = byte(v)
	}
	priv := ed25519.NewKeyFromSeed(key[:ed25519.SeedSize])
	if !bytes.Equal(priv[ed25519.SeedSize:], key[ed25519.SeedSize:]) {
		// Only the public key derived from the seed is shown: the file's
		// last 32 numbers may be anything, even a copy of the secret.
		return nil, fmt.Errorf("%w: the last 32 numbers are not the public key of the first 32 (which is %s)",
			ErrKeyFile, PublicKeyOf(priv))
	}
	return priv, nil
}

// MarshalKeyFile returns priv in the Solana CLI keypair format, byte for byte
// as solana-keygen writes it.
func MarshalKeyFile(priv ed25519.PrivateKey) ([]byte, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("marshal key file: private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	out := make([]byte, 0, 4*ed25519.PrivateKeySize+2)
	out = append(out, '[')
	for i, b := range priv {
		if i > 0 {
			out = append(out, ',')
		}
		out = strconv.AppendUint(out, uint64(b), 10)
	}
	return append(out, ']'), nil
}

// ReadKeyFile reads a Solana CLI keypair file. A file that group or others
// may read or write is refused with ErrKeyFileMode (except on Windows, whose
// permissions do not map to mode bits): a key others can read is no longer
// a secret, and one they can write is not ours.
func ReadKeyFile(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	defer f.Close()
	if err := checkKeyFileMode(path, f); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	priv, err := ParseKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	return priv, nil
}

// checkKeyFileMode refuses a key file open to group or others.
func checkKeyFileMode(path string, f *os.File) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("read key file %s: %w", path, err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("read key file %s: %w: mode %04o lets group or others access it; run: chmod 600 %s",
			path, ErrKeyFileMode, perm, path)
	}
	return nil
}

// WriteKeyFile writes priv to path as a Solana CLI keypair with mode 0600.
// It never replaces an existing file (the error wraps fs.ErrExist): a key
// that is lost cannot be recovered. The file appears complete or not at
// all: it is written and synced under a temporary name first.
func WriteKeyFile(path string, priv ed25519.PrivateKey) error {
	data, err := MarshalKeyFile(priv)
	if err != nil {
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	if err := writeNewFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	return nil
}

// LoadOrCreateKeyFile reads the key at path, or, when there is no file
// there, generates a key and writes it (mode 0600, creating the directory
// with mode 0700 if needed). created reports which happened. A file that
// exists but is not a valid keypair is an error, never replaced. When two
// processes race to create the file, both end up with the same key.
func LoadOrCreateKeyFile(path string) (key ed25519.PrivateKey, created bool, err error) {
	key, err = ReadKeyFile(path)
	if err == nil {
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("create key file: %w", err)
	}
	key, err = GenerateKey()
	if err != nil {
		return nil, false, err
	}
	err = WriteKeyFile(path, key)
	if errors.Is(err, fs.ErrExist) {
		// Someone else created it first; use theirs.
		key, err = ReadKeyFile(path)
		return key, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return key, true, nil
}

// writeNewFile writes data to a temporary file beside path, syncs it and
// links it into place, failing with fs.ErrExist if path exists. Where hard
// links are not supported it falls back to an exclusive create.
func writeNewFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	err = os.Link(tmpName, path)
	if err == nil || errors.Is(err, fs.ErrExist) {
		if err == nil {
			syncDir(dir)
		}
		return err
	}
	// No hard links here (some FUSE or FAT file systems): create exclusively.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir makes a new directory entry durable. Errors are ignored: not every
// platform can sync a directory, and the file itself is already synced.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// truncateForError shortens untrusted text quoted in an error message.
func truncateForError(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "…"
}

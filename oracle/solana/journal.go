package solana

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// entry is one journaled transaction: the signed bytes that are (re)sent, and what proves
// their expiry.
type entry struct {
	Name      string   `json:"name"`
	Raw       []byte   `json:"raw,omitempty"`
	Signature string   `json:"signature"`
	Blockhash string   `json:"blockhash"`
	LastValid uint64   `json:"last_valid_block_height"`
	Previous  []string `json:"previous,omitempty"` // signatures whose blockhash provably expired
	Done      bool     `json:"done,omitempty"`     // seen landed without error
	Slot      uint64   `json:"slot,omitempty"`     // where it landed
	// Elsewhere: done because the chain shows the entry's work already done, by another
	// coordinator or by an earlier attempt (a batch marker that exists, a phase 1 that
	// landed with this epoch's memo).
	Elsewhere bool `json:"elsewhere,omitempty"`
	// Failed are signatures that failed (landed with an error or refused by preflight)
	// and did nothing; they are not polled again.
	Failed []string `json:"failed,omitempty"`
}

// journal is an append-only log of entries (one JSON line each, the last line of a name
// wins) in dir/journal.log; every append is fsynced before it returns, so signed bytes are
// on disk before their first send. Small flags (settled epochs, table registry) are files
// written atomically.
type journal struct {
	dir     string
	mu      sync.Mutex
	f       *os.File
	entries map[string]*entry
}

const journalCompactSize = 64 << 20

func openJournal(dir string) (*journal, error) {
	if dir == "" {
		return nil, errors.New("journal: no directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	j := &journal{dir: dir, entries: map[string]*entry{}}
	path := filepath.Join(dir, "journal.log")
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("journal: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var e entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Name == "" {
			continue // a torn last line from a crash mid-append: that entry was never sent
		}
		j.entries[e.Name] = &e
	}
	if len(b) > journalCompactSize {
		if err := j.compact(path); err != nil {
			return nil, err
		}
	}
	if j.f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	return j, nil
}

// compact rewrites the log with the latest line of each entry.
func (j *journal) compact(path string) error {
	names := make([]string, 0, len(j.entries))
	for n := range j.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	for _, n := range names {
		b, err := json.Marshal(j.entries[n])
		if err != nil {
			return fmt.Errorf("journal compact: %w", err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return writeFileSync(path, buf.Bytes())
}

func (j *journal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.f.Close()
}

// put appends entries and fsyncs once.
func (j *journal) put(es ...*entry) error {
	var buf bytes.Buffer
	for _, e := range es {
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("journal %s: %w", e.Name, err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("journal write: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal sync: %w", err)
	}
	for _, e := range es {
		c := *e
		j.entries[e.Name] = &c
	}
	return nil
}

// get returns a copy of the entry or nil when it does not exist.
func (j *journal) get(name string) (*entry, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	e, ok := j.entries[name]
	if !ok {
		return nil, nil
	}
	c := *e
	return &c, nil
}

// list returns the entries whose name starts with prefix, sorted by name.
func (j *journal) list(prefix string) []*entry {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*entry
	for n, e := range j.entries {
		if strings.HasPrefix(n, prefix) {
			c := *e
			out = append(out, &c)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// mark and marked keep small flags (e.g. "e42.settled").
func (j *journal) mark(name string, value []byte) error {
	return writeFileSync(filepath.Join(j.dir, name), value)
}

func (j *journal) marked(name string) ([]byte, bool, error) {
	b, err := os.ReadFile(filepath.Join(j.dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("journal %s: %w", name, err)
	}
	return b, true, nil
}

// writeFileSync replaces path atomically: temp file, fsync, rename, fsync of the directory.
func writeFileSync(path string, b []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	tmp := f.Name()
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("journal write: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("journal sync: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("journal close: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("journal rename: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("journal sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("journal sync dir: %w", err)
	}
	return nil
}

package solana

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// entry is one journaled transaction: the signed bytes that are (re)sent, and what proves
// their expiry.
type entry struct {
	Name      string   `json:"name"`
	Raw       []byte   `json:"raw"`
	Signature string   `json:"signature"`
	Blockhash string   `json:"blockhash"`
	LastValid uint64   `json:"last_valid_block_height"`
	Previous  []string `json:"previous,omitempty"` // signatures whose blockhash provably expired
	Done      bool     `json:"done,omitempty"`     // seen landed without error
	Slot      uint64   `json:"slot,omitempty"`     // where it landed
}

// journal stores entries as one JSON file each, written atomically with fsync of the file
// and of its directory before any send.
type journal struct{ dir string }

func openJournal(dir string) (*journal, error) {
	if dir == "" {
		return nil, errors.New("journal: no directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	return &journal{dir: dir}, nil
}

func (j *journal) path(name string) string {
	return filepath.Join(j.dir, filepath.FromSlash(name)+".json")
}

func (j *journal) put(e *entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("journal %s: %w", e.Name, err)
	}
	return j.writeFile(j.path(e.Name), b)
}

func (j *journal) writeFile(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
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

// get returns the entry or nil when it does not exist.
func (j *journal) get(name string) (*entry, error) {
	b, err := os.ReadFile(j.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", name, err)
	}
	var e entry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("journal %s: %w", name, err)
	}
	return &e, nil
}

// list returns the entries under a directory prefix, e.g. "e42".
func (j *journal) list(prefix string) ([]*entry, error) {
	var out []*entry
	root := filepath.Join(j.dir, filepath.FromSlash(prefix))
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return filepath.SkipDir
		}
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".json") || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		rel, err := filepath.Rel(j.dir, p)
		if err != nil {
			return err
		}
		e, err := j.get(strings.TrimSuffix(filepath.ToSlash(rel), ".json"))
		if err != nil {
			return err
		}
		if e != nil {
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("journal list %s: %w", prefix, err)
	}
	return out, nil
}

// mark and marked keep small flags (e.g. "e42/settled").
func (j *journal) mark(name string, value []byte) error {
	return j.writeFile(filepath.Join(j.dir, filepath.FromSlash(name)), value)
}

func (j *journal) marked(name string) ([]byte, bool, error) {
	b, err := os.ReadFile(filepath.Join(j.dir, filepath.FromSlash(name)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("journal %s: %w", name, err)
	}
	return b, true, nil
}

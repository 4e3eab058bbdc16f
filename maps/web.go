package maps

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
)

// The page and its assets are embedded; every file has a gzip copy
// (level 9) beside it, made by `go generate` (gzipweb.go) and checked by
// TestWebGzipFresh.
//
//go:generate go run gzipweb.go
//go:embed all:web
var webFS embed.FS

type asset struct {
	raw, gz []byte
	etag    string
	ctype   string
}

var (
	assetsOnce sync.Once
	assets     map[string]*asset
)

func loadAssets() map[string]*asset {
	assetsOnce.Do(func() {
		assets = map[string]*asset{}
		fs.WalkDir(webFS, "web", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasSuffix(p, ".gz") {
				return err
			}
			raw, err := webFS.ReadFile(p)
			if err != nil {
				return err
			}
			gz, _ := webFS.ReadFile(p + ".gz")
			sum := sha256.Sum256(raw)
			ct := mime.TypeByExtension(path.Ext(p))
			switch path.Ext(p) {
			case ".mjs", ".js":
				ct = "text/javascript; charset=utf-8"
			case ".json":
				ct = "application/json"
			case "":
				ct = "text/plain; charset=utf-8"
			}
			assets[strings.TrimPrefix(p, "web")] = &asset{raw: raw, gz: gz, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: ct}
			return nil
		})
	})
	return assets
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) == "gzip" && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// writeGzipped writes gzipped bytes, decompressing for a client that does
// not accept gzip.
func writeGzipped(w http.ResponseWriter, r *http.Request, gz []byte) error {
	h := w.Header()
	h.Add("Vary", "Accept-Encoding")
	if acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		w.Write(gz)
		return nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return err
	}
	_, err = io.Copy(w, zr)
	return err
}

func serveAsset(w http.ResponseWriter, r *http.Request, a *asset, cache string) {
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", cache)
	h.Set("X-Content-Type-Options", "nosniff")
	if strings.Contains(r.Header.Get("If-None-Match"), a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if a.gz != nil && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
		w.Write(a.gz)
		return
	}
	w.Write(a.raw)
}

// staticHandler serves the embedded assets; /vendor/ and /basemap/ are
// cached for a long time (they change only with an upgrade, which changes
// their ETag), the page's own files are revalidated.
func staticHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeJSON(w, 405, map[string]string{"code": "method_not_allowed", "message": "the page's files are read with GET"})
			return
		}
		a := loadAssets()[r.URL.Path]
		if a == nil || r.URL.Path == "/index.html" {
			writeJSON(w, 404, map[string]string{"code": "not_found", "message": "no such page " + truncate(r.URL.Path)})
			return
		}
		cache := "no-cache"
		if strings.HasPrefix(r.URL.Path, "/vendor/") || strings.HasPrefix(r.URL.Path, "/basemap/") {
			cache = "public, max-age=2592000"
		}
		serveAsset(w, r, a, cache)
	})
}

// pageHandler serves index.html for the page's own paths (deep links).
func pageHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; worker-src 'self' blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'")
		serveAsset(w, r, loadAssets()["/index.html"], "no-cache")
	})
}

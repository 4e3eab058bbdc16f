//go:build ignore

// gzipweb writes a gzip copy (best compression) beside every file under
// web/, for the server to send as is: run by `go generate ./maps`.
package main

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	err := filepath.WalkDir("web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".gz") {
			return err
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(raw)
		if err := zw.Close(); err != nil {
			return err
		}
		return os.WriteFile(p+".gz", buf.Bytes(), 0o644)
	})
	if err != nil {
		log.Fatal(err)
	}
}

package wire

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports enforces the package rule: wire imports only the standard
// library, protobuf and quic-go (tests included, so both sides can run them
// without pulling in anything else).
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			switch {
			case !strings.Contains(first, "."): // standard library
			case path == "google.golang.org/protobuf" || strings.HasPrefix(path, "google.golang.org/protobuf/"):
			case path == "github.com/quic-go/quic-go" || strings.HasPrefix(path, "github.com/quic-go/quic-go/"):
			default:
				t.Errorf("%s imports %s: wire may import only the standard library, protobuf and quic-go", name, path)
			}
		}
	}
}

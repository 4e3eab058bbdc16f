package wire

import (
	"testing"
)

// The names are part of the protocol: these goldens change only when every
// hotspot is meant to be renamed.
func TestNameGolden(t *testing.T) {
	var zero PublicKey
	var ones PublicKey
	for i := range ones {
		ones[i] = 0xff
	}
	for _, c := range []struct {
		key  PublicKey
		want string
	}{
		{zero, "plain-bronze-bee"},
		{ones, "quiet-ginger-kiwi"},
	} {
		if got := c.key.Name(); got != c.want {
			t.Errorf("Name(%s) = %q, want %q", c.key, got, c.want)
		}
	}
}

func TestNameListsDistinct(t *testing.T) {
	for _, list := range [][]string{nameAdjectives[:], nameColours[:], nameAnimals[:]} {
		seen := map[string]bool{}
		for _, w := range list {
			if w == "" || seen[w] {
				t.Errorf("word %q empty or repeated", w)
			}
			seen[w] = true
		}
	}
}

func TestNormalizeName(t *testing.T) {
	var k PublicKey
	k[0] = 7
	name := k.Name()
	got, ok := NormalizeName(" " + string(toUpperFirst(name)) + " ")
	if !ok || got != name {
		t.Errorf("NormalizeName = %q, %v; want %q", got, ok, name)
	}
	for _, bad := range []string{"", "a-b", "brisk-amber-unicorn", "brisk amber otter extra"} {
		if _, ok := NormalizeName(bad); ok {
			t.Errorf("NormalizeName(%q) accepted", bad)
		}
	}
}

func toUpperFirst(s string) []byte {
	b := []byte(s)
	if len(b) > 0 && b[0] >= 'a' && b[0] <= 'z' {
		b[0] -= 32
	}
	for i := 1; i < len(b); i++ {
		if b[i] == '-' {
			b[i] = ' '
		}
	}
	return b
}

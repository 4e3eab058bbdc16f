package semtech

import "fmt"

// A small JSON scanner for the GWMP objects: it walks an object's members
// or an array's elements and hands out each value's raw bytes, which the
// lenient field types of json.go then read. It validates the JSON grammar
// (RFC 8259) of everything it walks over, so malformed input is an error,
// and avoids encoding/json's reflection on the hot PUSH_DATA path.

// maxDepth bounds nesting in skipped values.
const maxDepth = 64

func syntaxErr(_ []byte, i int, what string) error {
	return fmt.Errorf("%w: syntax error at offset %d: %s", ErrJSON, i, what)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// eachField calls fn for each member of the object that is the whole of b.
// key is the raw key text without quotes (escapes are unquoted); val is the
// value's raw JSON. Members are visited in order; a repeated key is visited
// again (the last one wins for the callers).
func eachField(b []byte, fn func(key, val []byte) error) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return syntaxErr(b, i, "want object")
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return checkEnd(b, i+1)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return syntaxErr(b, i, "want member name")
		}
		kEnd, err := skipString(b, i)
		if err != nil {
			return err
		}
		key := b[i+1 : kEnd-1]
		if !isPlain(key) {
			s, ok := unquote(b[i:kEnd])
			if !ok {
				return syntaxErr(b, i, "bad member name")
			}
			key = []byte(s)
		}
		i = skipSpace(b, kEnd)
		if i >= len(b) || b[i] != ':' {
			return syntaxErr(b, i, "want ':'")
		}
		i = skipSpace(b, i+1)
		vEnd, err := skipValue(b, i, 0)
		if err != nil {
			return err
		}
		if err := fn(key, b[i:vEnd]); err != nil {
			return err
		}
		i = skipSpace(b, vEnd)
		if i >= len(b) {
			return syntaxErr(b, i, "unterminated object")
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return checkEnd(b, i+1)
		default:
			return syntaxErr(b, i, "want ',' or '}'")
		}
	}
}

// eachElement calls fn for each element of the array that is the whole of b.
func eachElement(b []byte, fn func(i int, val []byte) error) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return syntaxErr(b, i, "want array")
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return checkEnd(b, i+1)
	}
	for n := 0; ; n++ {
		vEnd, err := skipValue(b, i, 0)
		if err != nil {
			return err
		}
		if err := fn(n, b[i:vEnd]); err != nil {
			return err
		}
		i = skipSpace(b, vEnd)
		if i >= len(b) {
			return syntaxErr(b, i, "unterminated array")
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return checkEnd(b, i+1)
		default:
			return syntaxErr(b, i, "want ',' or ']'")
		}
	}
}

func checkEnd(b []byte, i int) error {
	if i = skipSpace(b, i); i != len(b) {
		return syntaxErr(b, i, "trailing data")
	}
	return nil
}

// isPlain reports whether string contents need no unquoting.
func isPlain(s []byte) bool {
	for _, c := range s {
		if c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}

// skipValue returns the end of the JSON value starting at b[i].
func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return i, syntaxErr(b, i, "want value")
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return i, syntaxErr(b, i, "nested too deeply")
		}
		return skipContainer(b, i, depth+1)
	case c == '-' || ('0' <= c && c <= '9'):
		return skipNumber(b, i)
	case c == 't':
		return skipLiteral(b, i, "true")
	case c == 'f':
		return skipLiteral(b, i, "false")
	case c == 'n':
		return skipLiteral(b, i, "null")
	}
	return i, syntaxErr(b, i, "want value")
}

func skipLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, syntaxErr(b, i, "bad literal")
	}
	return i + len(lit), nil
}

func skipString(b []byte, i int) (int, error) {
	start := i
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, nil
		case c < 0x20:
			return i, syntaxErr(b, i, "control character in string")
		case c == '\\':
			i++
			if i >= len(b) {
				return i, syntaxErr(b, start, "unterminated string")
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i < 5 {
					return i, syntaxErr(b, i, "short \\u escape")
				}
				for _, h := range b[i+1 : i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return i, syntaxErr(b, i, "bad \\u escape")
					}
				}
				i += 4
			default:
				return i, syntaxErr(b, i, "bad escape")
			}
		}
	}
	return i, syntaxErr(b, start, "unterminated string")
}

func skipNumber(b []byte, i int) (int, error) {
	start := i
	digits := func() bool {
		n := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i > n
	}
	if b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if !digits() {
		return i, syntaxErr(b, start, "bad number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return i, syntaxErr(b, start, "bad fraction")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return i, syntaxErr(b, start, "bad exponent")
		}
	}
	return i, nil
}

func skipContainer(b []byte, i, depth int) (int, error) {
	open := b[i]
	closer := byte('}')
	if open == '[' {
		closer = ']'
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == closer {
		return i + 1, nil
	}
	for {
		var err error
		if open == '{' {
			if i >= len(b) || b[i] != '"' {
				return i, syntaxErr(b, i, "want member name")
			}
			if i, err = skipString(b, i); err != nil {
				return i, err
			}
			i = skipSpace(b, i)
			if i >= len(b) || b[i] != ':' {
				return i, syntaxErr(b, i, "want ':'")
			}
			i = skipSpace(b, i+1)
		}
		if i, err = skipValue(b, i, depth); err != nil {
			return i, err
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return i, syntaxErr(b, i, "unterminated container")
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case closer:
			return i + 1, nil
		default:
			return i, syntaxErr(b, i, "want ',' or end of container")
		}
	}
}

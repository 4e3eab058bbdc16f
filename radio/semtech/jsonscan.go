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

// scanner is a pull parser over one JSON text: object and array walk a
// container and call back positioned at each value, and the callback must
// consume exactly that value (with value, object or array). Every byte is
// read once and checked against the grammar.
type scanner struct {
	b     []byte
	i     int
	depth int
}

func (s *scanner) ws() { s.i = skipSpace(s.b, s.i) }

// peek returns the first byte of the next value (0 at the end).
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// value consumes the next value and returns its raw JSON.
func (s *scanner) value() ([]byte, error) {
	s.ws()
	start := s.i
	end, err := skipValue(s.b, s.i, s.depth)
	if err != nil {
		return nil, err
	}
	s.i = end
	return s.b[start:end], nil
}

// end checks nothing but whitespace follows.
func (s *scanner) end() error { return checkEnd(s.b, s.i) }

// open consumes the opening bracket c of a container.
func (s *scanner) open(c byte, what string) error {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != c {
		return syntaxErr(s.b, s.i, what)
	}
	if s.depth >= maxDepth {
		return syntaxErr(s.b, s.i, "nested too deeply")
	}
	s.depth++
	s.i++
	s.ws()
	return nil
}

// next consumes ',' (true) or the closing bracket (false).
func (s *scanner) next(closer byte) (bool, error) {
	s.ws()
	if s.i >= len(s.b) {
		return false, syntaxErr(s.b, s.i, "unterminated container")
	}
	switch s.b[s.i] {
	case ',':
		s.i++
		s.ws()
		return true, nil
	case closer:
		s.i++
		s.depth--
		return false, nil
	}
	return false, syntaxErr(s.b, s.i, "want ',' or end of container")
}

// object consumes an object, calling member for each member with the
// scanner at its value. key is the member name without quotes (escapes
// unquoted). A repeated name is visited again; the last one wins for the
// callers.
func (s *scanner) object(member func(key []byte) error) error {
	if err := s.open('{', "want object"); err != nil {
		return err
	}
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		s.depth--
		return nil
	}
	for {
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return syntaxErr(s.b, s.i, "want member name")
		}
		kEnd, err := skipString(s.b, s.i)
		if err != nil {
			return err
		}
		key := s.b[s.i+1 : kEnd-1]
		if !isPlain(key) {
			u, ok := unquote(s.b[s.i:kEnd])
			if !ok {
				return syntaxErr(s.b, s.i, "bad member name")
			}
			key = []byte(u)
		}
		s.i = skipSpace(s.b, kEnd)
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return syntaxErr(s.b, s.i, "want ':'")
		}
		s.i++
		if err := member(key); err != nil {
			return err
		}
		more, err := s.next('}')
		if err != nil || !more {
			return err
		}
	}
}

// array consumes an array, calling elem for each element with the scanner
// at it.
func (s *scanner) array(elem func(i int) error) error {
	if err := s.open('[', "want array"); err != nil {
		return err
	}
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		s.depth--
		return nil
	}
	for n := 0; ; n++ {
		if err := elem(n); err != nil {
			return err
		}
		more, err := s.next(']')
		if err != nil || !more {
			return err
		}
	}
}

// eachField calls fn for each member of the object that is the whole of b,
// with the member's raw value.
func eachField(b []byte, fn func(key, val []byte) error) error {
	s := scanner{b: b}
	err := s.object(func(key []byte) error {
		v, err := s.value()
		if err != nil {
			return err
		}
		return fn(key, v)
	})
	if err != nil {
		return err
	}
	return s.end()
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

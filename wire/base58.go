package wire

import (
	"errors"
	"fmt"
	"strings"
)

// base58Alphabet is the Bitcoin alphabet, which Solana uses for addresses.
const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// ErrBase58 is returned for text that is not valid base58.
var ErrBase58 = errors.New("invalid base58")

// appendBase58 appends the base58 encoding of src to dst. Each leading zero
// byte becomes a leading '1'; the rest is the big-endian number in base 58.
func appendBase58(dst, src []byte) []byte {
	zeros := 0
	for zeros < len(src) && src[zeros] == 0 {
		zeros++
	}
	// log(256)/log(58) ≈ 1.366, so 138/100 digits per byte is enough.
	var stack [96]byte
	var digits []byte
	if n := (len(src)-zeros)*138/100 + 1; n <= len(stack) {
		digits = stack[:n]
	} else {
		digits = make([]byte, n)
	}
	// digits holds the number little-endian in base 58; used is how many
	// of its low digits are non-zero so far.
	used := 0
	for _, b := range src[zeros:] {
		carry := int(b)
		i := 0
		for ; i < used || carry != 0; i++ {
			carry += 256 * int(digits[i])
			digits[i] = byte(carry % 58)
			carry /= 58
		}
		used = i
	}
	for range zeros {
		dst = append(dst, '1')
	}
	for i := used - 1; i >= 0; i-- {
		dst = append(dst, base58Alphabet[digits[i]])
	}
	return dst
}

// decodeBase58 decodes s into exactly n bytes. Text that decodes to any
// other length is an error, so every n-byte value has exactly one accepted
// spelling.
func decodeBase58(s string, n int) ([]byte, error) {
	// An n-byte value never needs more than n*138/100+1 digits plus one '1'
	// per zero byte, which is at most n characters; bounding the input keeps
	// the quadratic conversion cheap on hostile text.
	if len(s) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrBase58)
	}
	if len(s) > n*138/100+1+n {
		return nil, fmt.Errorf("%w: %d characters is too long", ErrBase58, len(s))
	}
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	out := make([]byte, n)
	// out holds the number big-endian; used counts its non-zero low bytes.
	used := 0
	for i := zeros; i < len(s); i++ {
		d := strings.IndexByte(base58Alphabet, s[i])
		if d < 0 {
			return nil, fmt.Errorf("%w: character %q at %d", ErrBase58, s[i], i)
		}
		carry := d
		j := 0
		for ; j < used || carry != 0; j++ {
			if j == n {
				return nil, fmt.Errorf("%w: decodes to more than %d bytes", ErrBase58, n)
			}
			carry += 58 * int(out[n-1-j])
			out[n-1-j] = byte(carry)
			carry >>= 8
		}
		used = j
	}
	if zeros+used != n {
		return nil, fmt.Errorf("%w: decodes to %d bytes, want %d", ErrBase58, zeros+used, n)
	}
	return out, nil
}

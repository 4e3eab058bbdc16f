package solana

import (
	"strconv"
	"strings"
)

// FormatAmount shows v base units of a token with the given decimals as
// tokens, every decimal written out: FormatAmount(1_500_000, 6) is
// "1.500000". The CLI and the devnet show amounts this way.
func FormatAmount(v uint64, decimals int) string {
	t := strconv.FormatUint(v, 10)
	if decimals <= 0 {
		return t
	}
	if len(t) <= decimals {
		t = strings.Repeat("0", decimals-len(t)+1) + t
	}
	return t[:len(t)-decimals] + "." + t[len(t)-decimals:]
}

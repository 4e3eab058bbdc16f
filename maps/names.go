package maps

import "github.com/hexfield/hexfield/wire"

// displayName is a hotspot's three-word name (wire.PublicKey.Name) when id
// is a hexfield address, else id itself (a mapper network's gateway id).
func displayName(id string) string {
	if k, err := wire.ParsePublicKey(id); err == nil {
		return k.Name()
	}
	return id
}

func normalizeName(s string) (string, bool) { return wire.NormalizeName(s) }

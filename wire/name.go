package wire

import (
	"crypto/sha256"
	"encoding/binary"
	"strings"
)

// Hotspot names are three words, "adjective-colour-animal", derived from
// the key alone (in the spirit of Helium's animal names): every program
// that knows a hotspot's key prints the same name without asking anyone.
// Names are for people, not identity: 128 × 64 × 128 ≈ 1 M combinations, so
// two hotspots can share a name; search by name may return several keys.
//
// The words and the derivation are part of the protocol: changing a list
// or the hash renames every hotspot. Each list is in a fixed order; a word
// is chosen by 16 bits of SHA-256("hexfield hotspot name" ‖ key) modulo the
// list length.

var nameAdjectives = [128]string{
	"able", "agile", "amiable", "ancient", "arctic", "atomic", "autumn", "bald",
	"bashful", "big", "bitter", "blunt", "bold", "brave", "breezy", "brief",
	"bright", "brisk", "broad", "bubbly", "busy", "calm", "careful", "cheery",
	"chilly", "clever", "cloudy", "cold", "cool", "cosmic", "cozy", "crisp",
	"curly", "curved", "daring", "dazzling", "deep", "dizzy", "dry", "dusty",
	"eager", "early", "easy", "electric", "elegant", "epic", "faint", "fancy",
	"fast", "fierce", "fluffy", "flying", "fresh", "friendly", "funny", "fuzzy",
	"gentle", "giant", "glad", "gleaming", "glorious", "grand", "great", "happy",
	"hasty", "hidden", "high", "hollow", "humble", "icy", "jolly", "joyful",
	"keen", "kind", "large", "late", "lazy", "little", "lively", "lofty",
	"long", "loud", "lucky", "magic", "mellow", "merry", "mighty", "mild",
	"misty", "modern", "narrow", "neat", "nimble", "noble", "odd", "old",
	"orbiting", "patient", "plain", "polite", "proud", "quaint", "quick", "quiet",
	"rapid", "rare", "rough", "round", "rugged", "shiny", "short", "silly",
	"sleepy", "slow", "small", "smooth", "soft", "sour", "spicy", "steady",
	"stout", "sunny", "sweet", "tall", "tame", "tiny", "warm", "wild",
}

var nameColours = [64]string{
	"amber", "aqua", "ash", "azure", "beige", "black", "blonde", "blue",
	"bronze", "brown", "burgundy", "carmine", "cedar", "cerise", "charcoal", "cherry",
	"chocolate", "cinnamon", "citrus", "cobalt", "copper", "coral", "cream", "crimson",
	"cyan", "denim", "ebony", "emerald", "fuchsia", "garnet", "ginger", "gold",
	"gray", "green", "hazel", "honey", "indigo", "ivory", "jade", "khaki",
	"lavender", "lemon", "lilac", "lime", "magenta", "maroon", "mauve", "mint",
	"navy", "ochre", "olive", "orange", "peach", "pearl", "pink", "plum",
	"purple", "red", "rose", "ruby", "rust", "sapphire", "silver", "teal",
}

var nameAnimals = [128]string{
	"albatross", "alligator", "alpaca", "ant", "antelope", "armadillo", "badger", "bat",
	"bear", "beaver", "bee", "beetle", "bison", "boar", "buffalo", "butterfly",
	"camel", "canary", "caribou", "cat", "caterpillar", "cheetah", "chicken", "chipmunk",
	"cobra", "condor", "cougar", "cow", "coyote", "crab", "crane", "cricket",
	"crocodile", "crow", "deer", "dingo", "dolphin", "donkey", "dove", "dragon",
	"duck", "eagle", "eel", "elephant", "elk", "emu", "falcon", "ferret",
	"finch", "flamingo", "fox", "frog", "gazelle", "gecko", "gerbil", "giraffe",
	"gnu", "goat", "goose", "gopher", "gorilla", "grasshopper", "gull", "hamster",
	"hare", "hawk", "hedgehog", "heron", "hippo", "hornet", "horse", "hyena",
	"ibis", "iguana", "impala", "jackal", "jaguar", "jellyfish", "kangaroo", "kiwi",
	"koala", "lemur", "leopard", "lion", "lizard", "llama", "lobster", "lynx",
	"magpie", "mallard", "manatee", "marmot", "meerkat", "mink", "mole", "mongoose",
	"monkey", "moose", "moth", "mouse", "mule", "narwhal", "newt", "octopus",
	"opossum", "orca", "ostrich", "otter", "owl", "ox", "panda", "panther",
	"parrot", "pelican", "penguin", "pig", "pigeon", "puma", "rabbit", "raccoon",
	"raven", "seal", "shark", "sloth", "snake", "swan", "tiger", "walrus",
}

// Name is the hotspot's three-word name, e.g. "brisk-amber-otter".
func (k PublicKey) Name() string {
	h := sha256.New()
	h.Write([]byte("hexfield hotspot name"))
	h.Write(k[:])
	var sum [32]byte
	h.Sum(sum[:0])
	a := binary.BigEndian.Uint16(sum[0:2]) % uint16(len(nameAdjectives))
	c := binary.BigEndian.Uint16(sum[2:4]) % uint16(len(nameColours))
	n := binary.BigEndian.Uint16(sum[4:6]) % uint16(len(nameAnimals))
	return nameAdjectives[a] + "-" + nameColours[c] + "-" + nameAnimals[n]
}

// NormalizeName turns what a person typed ("Brisk Amber Otter",
// "brisk_amber-otter ") into the form Name returns, so it can be compared;
// ok is false when the text is not three words of the name lists.
func NormalizeName(s string) (name string, ok bool) {
	f := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return r == ' ' || r == '-' || r == '_' })
	if len(f) != 3 || !inList(nameAdjectives[:], f[0]) || !inList(nameColours[:], f[1]) || !inList(nameAnimals[:], f[2]) {
		return "", false
	}
	return f[0] + "-" + f[1] + "-" + f[2], true
}

func inList(list []string, w string) bool {
	for _, x := range list {
		if x == w {
			return true
		}
	}
	return false
}

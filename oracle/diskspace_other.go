//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package oracle

import (
	"errors"
	"os"
)

// freeBytes cannot read the free space on this system: the store is never
// stopped for a full disk here.
func freeBytes(string) (uint64, error) {
	return 0, errors.New("free space is not known on this system")
}

func fsSpace(string) (free, total uint64, err error) {
	return 0, 0, errors.New("free space is not known on this system")
}

// allocatedBytes is a file's size.
func allocatedBytes(path string) uint64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return uint64(fi.Size())
}

//go:build linux || darwin || freebsd || netbsd || openbsd

package oracle

import (
	"fmt"
	"syscall"
)

// freeBytes is the space on dir's file system available to this process.
func freeBytes(dir string) (uint64, error) {
	free, _, err := fsSpace(dir)
	return free, err
}

// fsSpace is the available and the total space of dir's file system.
func fsSpace(dir string) (free, total uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return uint64(st.Bavail) * uint64(st.Bsize), uint64(st.Blocks) * uint64(st.Bsize), nil
}

// allocatedBytes is the disk space a file occupies (Badger's memtable logs
// are sparse: their size is not their use); 0 if it cannot be read.
func allocatedBytes(path string) uint64 {
	var st syscall.Stat_t
	if syscall.Stat(path, &st) != nil {
		return 0
	}
	return uint64(st.Blocks) * 512
}

package main

import (
	"os"
	"syscall"
)

// openDirect opens path for direct writes, or returns nil where the file
// system does not have them (tmpfs before Linux 6.6, some FUSE and network
// file systems).
func openDirect(path string) *os.File {
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_DIRECT, 0)
	if err != nil {
		return nil
	}
	return f
}

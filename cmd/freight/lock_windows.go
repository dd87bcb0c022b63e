//go:build windows

package main

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// fileLock is a LockFileEx lock on a lock file. Windows drops it when the
// process ends, however it ends.
type fileLock struct {
	f    *os.File
	path string
}

// lockFile locks path, creating it if need be, without waiting.
func lockFile(path string) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	err = windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, new(windows.Overlapped))
	if err != nil {
		f.Close()
		if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
			return nil, errLocked
		}
		return nil, err
	}
	return &fileLock{f: f, path: path}, nil
}

// Unlock lets go of the lock and removes the lock file. Removing fails,
// harmlessly, while another run has the file open: that run holds or is
// about to take the lock, and removes the file itself later.
func (l *fileLock) Unlock() {
	l.f.Close()
	os.Remove(l.path)
}

//go:build !unix && !windows

package main

import (
	"errors"
	"io/fs"
	"os"
)

// fileLock is, where the system has no file locks, the lock file's very
// existence. Unlike a real lock it outlives a process that is killed;
// the error names the file, to be removed once no download runs.
type fileLock struct{ path string }

// lockFile creates path, failing if it exists.
func lockFile(path string) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return nil, errLocked
	}
	if err != nil {
		return nil, err
	}
	f.Close()
	return &fileLock{path: path}, nil
}

// Unlock removes the lock file.
func (l *fileLock) Unlock() { os.Remove(l.path) }

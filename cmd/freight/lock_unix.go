//go:build unix

package main

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// fileLock is an exclusive flock(2) on a lock file. The kernel drops it
// when the process ends, however it ends, so a killed download leaves no
// stale lock behind, only the file, which the next run locks again.
type fileLock struct {
	f    *os.File
	path string
}

// lockFile locks path, creating it if need be, without waiting.
func lockFile(path string) (*fileLock, error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		err = flock(f)
		switch {
		case errors.Is(err, unix.EWOULDBLOCK):
			f.Close()
			return nil, errLocked
		case errors.Is(err, unix.ENOTSUP), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOLCK):
			// A filesystem without locks (some network and FUSE mounts):
			// refusing every download there would be worse than going on
			// unguarded, as downloads did before they locked.
			return &fileLock{f: f, path: path}, nil
		case err != nil:
			f.Close()
			return nil, err
		}
		// The holder before us removes the file as it lets go. If it did
		// so between our open and our lock, we hold a lock on a file
		// nobody else will open: try again with the file now at path.
		fi, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(fi, now) {
			return &fileLock{f: f, path: path}, nil
		}
		f.Close()
		if err2 != nil && !errors.Is(err2, os.ErrNotExist) {
			return nil, err2
		}
	}
}

func flock(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			ferr = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB)
			if !errors.Is(ferr, unix.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	return ferr
}

// Unlock removes the lock file and lets go of the lock, in that order: a
// run waiting to open the file then opens a new one, never the removed one.
func (l *fileLock) Unlock() {
	os.Remove(l.path)
	l.f.Close()
}

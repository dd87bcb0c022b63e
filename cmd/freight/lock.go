package main

import (
	"errors"
	"fmt"
)

// lockSuffix names the lock file of a download, next to its part and
// state files. Whoever holds the lock is the only writer of both.
const lockSuffix = ".freight-lock"

// errLocked is what lockFile returns when another process (or another
// download in this one) holds the lock.
var errLocked = errors.New("locked")

// lockDownload takes the lock of the download to path, or says that
// another run is writing it.
func lockDownload(path string) (*fileLock, error) {
	l, err := lockFile(path + lockSuffix)
	if errors.Is(err, errLocked) {
		return nil, fmt.Errorf("another freight download is writing %s (its lock is %s%s); wait for it to finish, or stop it and run this command again",
			path, path, lockSuffix)
	}
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return l, nil
}

package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestLockDownload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file.bin")
	l, err := lockDownload(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockDownload(path); err == nil || !strings.Contains(err.Error(), "another freight download is writing "+path) {
		t.Fatalf("locking a locked download: err = %v, want one naming %s", err, path)
	}
	// Other targets are not held up.
	other, err := lockDownload(path + ".other")
	if err != nil {
		t.Fatalf("locking another target: %v", err)
	}
	other.Unlock()
	l.Unlock()
	if _, err := os.Stat(path + lockSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the lock file is left after unlocking (%v)", err)
	}
	l, err = lockDownload(path)
	if err != nil {
		t.Fatalf("locking again after unlocking: %v", err)
	}
	l.Unlock()
}

// TestLockAcrossProcesses holds a download's lock in another process: this
// one cannot take it; once that process is killed, without a chance to
// clean up, it can.
func TestLockAcrossProcesses(t *testing.T) {
	if path := os.Getenv("FREIGHT_TEST_HOLD_LOCK"); path != "" {
		holdLock(path)
		return
	}
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("kills a process holding a lock; the lock file alone outlives it where there are no file locks")
	}
	path := filepath.Join(t.TempDir(), "file.bin")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockAcrossProcesses$")
	cmd.Env = append(os.Environ(), "FREIGHT_TEST_HOLD_LOCK="+path)
	cmd.Stderr = t.Output()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "locked\n" {
		t.Fatalf("the other process said %q (%v)", line, err)
	}
	if _, err := lockDownload(path); err == nil || !strings.Contains(err.Error(), "another freight download is writing") {
		t.Fatalf("locking what another process holds: err = %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := os.Stat(path + lockSuffix); err != nil {
		t.Fatalf("the killed process's lock file: %v; want it left, to show the lock does not depend on it", err)
	}
	l, err := lockDownload(path)
	if err != nil {
		t.Fatalf("locking after the holder was killed: %v", err)
	}
	l.Unlock()
}

// holdLock takes the lock of path, says so and waits to be killed.
func holdLock(path string) {
	if _, err := lockDownload(path); err != nil {
		os.Stdout.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.WriteString("locked\n")
	time.Sleep(10 * time.Minute)
}

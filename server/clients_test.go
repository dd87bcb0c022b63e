package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/internal/testdb"
)

// needClient returns the path of a download client, skipping the test when
// it is missing, unless FREIGHT_TEST_REQUIRE names "clients" (CI).
func needClient(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if testdb.Required("clients") {
			t.Fatalf("%s is not installed and FREIGHT_TEST_REQUIRE names clients", name)
		}
		t.Skipf("skipping: %s is not installed (Debian: apt-get install curl aria2)", name)
	}
	return p
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil))
}

// interrupted runs a command and kills it after d, as a dropped connection
// or a closed laptop would; it returns once the command is gone.
func interrupted(t *testing.T, d time.Duration, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = t.Output(), t.Output()
	cmd.Run() // killed on purpose
}

func run(t *testing.T, name string, args ...string) error {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = t.Output(), t.Output()
	return cmd.Run()
}

// TestCurl downloads with curl, interrupts a rate-limited transfer, lets
// the short start window pass, and resumes with curl -C -: the resumed
// file must be whole. A full download after the window is refused.
func TestCurl(t *testing.T) {
	curl := needClient(t, "curl")
	s := newShopSized(t, 24<<20+5)
	dir := t.TempDir()
	g := s.grant(s.acmeTok)

	full := filepath.Join(dir, "full.exe")
	if err := run(t, curl, "-fsS", "-o", full, g.URL); err != nil {
		t.Fatalf("curl: %v", err)
	}
	if got := fileSHA(t, full); got != sha(s.content) {
		t.Fatalf("curl's file hashes to %s, want %s", got, sha(s.content))
	}

	part := filepath.Join(dir, "part.exe")
	interrupted(t, 1500*time.Millisecond, curl, "-fsS", "--limit-rate", "2M", "-o", part, g.URL)
	fi, err := os.Stat(part)
	if err != nil || fi.Size() == 0 || fi.Size() >= int64(len(s.content)) {
		t.Fatalf("the interrupted transfer left %v bytes (%v); want part of the file", fi, err)
	}
	s.clock.Add(10 * time.Minute) // past the start window, inside the resume window
	if err := run(t, curl, "-fsS", "-C", "-", "-o", part, g.URL); err != nil {
		t.Fatalf("curl -C -: %v", err)
	}
	if got := fileSHA(t, part); got != sha(s.content) {
		t.Errorf("the resumed file hashes to %s, want %s", got, sha(s.content))
	}
	if err := run(t, curl, "-fsS", "-o", filepath.Join(dir, "late.exe"), g.URL); err == nil {
		t.Error("a full download after the start window succeeded")
	}
}

// TestAria2 downloads with 16 segments at once. The transfer is rate
// limited so that it outlives the start window: the test moves the
// server's clock past the window while aria2 runs, and aria2 keeps opening
// new segments (Range requests), which must be honoured until the file is
// whole.
func TestAria2(t *testing.T) {
	aria2 := needClient(t, "aria2c")
	s := newShopSized(t, 24<<20+5)
	dir := t.TempDir()
	common := []string{"--quiet", "--allow-overwrite=true", "--auto-file-renaming=false", "-x", "16", "-s", "16", "-k", "1M",
		"--min-split-size=1M", "--file-allocation=none", "-d", dir}

	if err := run(t, aria2, append(common, "-o", "a.exe", s.grant(s.acmeTok).URL)...); err != nil {
		t.Fatalf("aria2c: %v", err)
	}
	if got := fileSHA(t, filepath.Join(dir, "a.exe")); got != sha(s.content) {
		t.Fatalf("aria2's file hashes to %s, want %s", got, sha(s.content))
	}

	g := s.grant(s.acmeTok)
	cmd := exec.Command(aria2, append(common, "--max-overall-download-limit=6M", "-o", "b.exe", g.URL)...)
	cmd.Stdout, cmd.Stderr = t.Output(), t.Output()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	s.clock.Add(10 * time.Minute) // past the start window, inside the resume window
	windowClosed := s.clock.Now()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("aria2c across the start window: %v", err)
	}
	if got := fileSHA(t, filepath.Join(dir, "b.exe")); got != sha(s.content) {
		t.Errorf("the file hashes to %s, want %s", got, sha(s.content))
	}
	var l struct{ Items []freight.Download }
	s.must(http.StatusOK, "GET", "/api/v1/downloads?limit=500", s.token, nil).decode(t, &l)
	late := 0
	for _, d := range l.Items {
		if d.GrantID == g.ID && !d.StartedAt.Before(windowClosed) && d.Bytes > 0 {
			late++
		}
	}
	if late == 0 {
		t.Error("aria2 opened no segment after the start window; the test proves nothing")
	}
	// Only segments may come late: a new full download is refused.
	if err := run(t, aria2, append(common, "-o", "c.exe", g.URL)...); err == nil {
		t.Error("a new aria2 download after the start window succeeded")
	}
}

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	fsblob "github.com/freight-portal/freight/blob/fs"
	"github.com/freight-portal/freight/client"
)

// writeRandomFile writes size pseudo-random bytes to path and returns
// their SHA-256.
func writeRandomFile(t *testing.T, path string, size int64, seed uint64) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var s [32]byte
	s[0] = byte(seed)
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(mrand.NewChaCha8(s), size)); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

type publishOutput struct {
	Release freight.Release
	Files   []fileResult
}

// TestPublishSurvivesKill publishes a 1 GiB file in 16 parts sent 8 at a
// time; the server is killed (SIGKILL) while parts arrive, and the command
// fails. The server restarts and the same command runs again: it sends
// only the parts the server lacks, and the stored file verifies.
func TestPublishSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 1 GiB through a server process")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	token := createAdmin(t, bin, dir)
	serveArgs := []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir, "--upload-part-size", "67108864"}
	srv := startProcess(t, bin, serveArgs...)
	api{t, srv.url, token}.call("POST", "/api/v1/products", map[string]any{"slug": "mill", "name": "Mill"}, 201, nil)

	file := filepath.Join(t.TempDir(), "mill-1.0.0.iso")
	digest := writeRandomFile(t, file, 1<<30, 9)
	publish := func(ctx context.Context, url string, retries string) (publishOutput, error) {
		var o output
		err := run(ctx, []string{"publish", "--server", url, "--token", token, "--product", "mill", "--version", "1.0.0",
			"--concurrency", "8", "--retries", retries, "--quiet", "--json", file}, nil, &o, io.Discard)
		var po publishOutput
		if err == nil {
			if jerr := json.Unmarshal([]byte(o.String()), &po); jerr != nil {
				t.Fatalf("publish --json printed %q: %v", o.String(), jerr)
			}
		}
		return po, err
	}

	// Kill the server once a few parts are in.
	parts := func() int {
		n := 0
		dirs, _ := filepath.Glob(filepath.Join(dir, "blobs", "uploads", "*", "parts"))
		for _, d := range dirs {
			entries, _ := os.ReadDir(d)
			for _, e := range entries {
				// Markers are named by part number; a kill can leave a
				// marker's temporary file, which does not count.
				if _, err := strconv.Atoi(e.Name()); err == nil {
					n++
				}
			}
		}
		return n
	}
	done := make(chan error, 1)
	go func() { _, err := publish(context.Background(), srv.url, "2"); done <- err }()
	deadline := time.Now().Add(2 * time.Minute)
	for parts() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("no parts arrived")
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.kill(t)
	if err := <-done; err == nil {
		t.Fatal("publish succeeded although the server died")
	}
	before := parts()
	if before >= 16 {
		t.Fatalf("all %d parts arrived before the kill; the test proves nothing", before)
	}

	srv = startProcess(t, bin, serveArgs...)
	po, err := publish(context.Background(), srv.url, "8")
	if err != nil {
		t.Fatalf("publish after the restart: %v", err)
	}
	if len(po.Files) != 1 || po.Files[0].Outcome != "resumed" || po.Files[0].PartsSent != 16-before || po.Release.State != freight.ReleasePublished {
		t.Errorf("rerun = %+v; want the file resumed with %d parts sent, and the release published", po, 16-before)
	}
	if po.Files[0].SHA256 != digest {
		t.Errorf("sha256 %s, want %s", po.Files[0].SHA256, digest)
	}
	blobs, err := fsblob.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := blobs.Open(context.Background(), digest, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	io.Copy(h, rc)
	rc.Close()
	if got := hex.EncodeToString(h.Sum(nil)); got != digest {
		t.Errorf("the stored blob hashes to %s, want %s", got, digest)
	}
}

// TestPublish covers the everyday cases: a release created and published,
// a rerun that has nothing to do, a draft, and refusals.
func TestPublish(t *testing.T) {
	dir := t.TempDir()
	d := start(t, nil, "demo", "--addr", "127.0.0.1:0", "--data-dir", dir)
	d.stdout.waitFor(t, listeningDemoRE, d.done)
	info := readDemoInfo(t, dir)
	files := t.TempDir()
	a := filepath.Join(files, "tool-2.0.0.zip")
	b := filepath.Join(files, "tool-2.0.0.tar.gz")
	writeRandomFile(t, a, 7<<20, 1)
	writeRandomFile(t, b, 1000, 2)
	pub := func(args ...string) (publishOutput, error) {
		var o output
		all := append([]string{"publish", "--server", info.URL, "--token", info.Admin.Token, "--product", "lathe", "--quiet", "--json"}, args...)
		err := run(context.Background(), all, nil, &o, io.Discard)
		var po publishOutput
		if err == nil {
			json.Unmarshal([]byte(o.String()), &po)
		}
		return po, err
	}
	po, err := pub("--version", "2.1.0", "--platform", "linux", "--arch", "x86_64", a, b)
	if err != nil {
		t.Fatal(err)
	}
	if po.Release.State != freight.ReleasePublished || len(po.Files) != 2 || po.Files[0].Outcome != "uploaded" {
		t.Fatalf("first publish = %+v", po)
	}
	po, err = pub("--version", "2.1.0", "--platform", "linux", "--arch", "x86_64", a, b)
	if err != nil || po.Files[0].Outcome != "already-there" || po.Files[1].Outcome != "already-there" {
		t.Errorf("rerun = %+v, %v; want nothing to do", po, err)
	}
	// Another file cannot join a published release.
	c := filepath.Join(files, "extra.bin")
	writeRandomFile(t, c, 10, 3)
	if _, err := pub("--version", "2.1.0", c); err == nil {
		t.Error("a file joined a published release")
	}
	// Different content under a published name is refused.
	writeRandomFile(t, b, 1000, 4)
	if _, err := pub("--version", "2.1.0", "--platform", "linux", "--arch", "x86_64", b); err == nil {
		t.Error("changed content replaced a published file")
	}
	po, err = pub("--version", "2.2.0-beta.1", "--channel", "beta", "--draft", a)
	if err != nil || po.Release.State != freight.ReleaseDraft || po.Release.Channel != freight.ChannelBeta {
		t.Errorf("--draft = %+v, %v", po.Release, err)
	}
	for _, bad := range [][]string{
		{"--version", "2.3"},
		{"--version", "2.3.0", "--channel", "nightly"},
		{"--version", "2.3.0", filepath.Join(files, "missing.bin")},
	} {
		_, err := pub(append(bad, a)...)
		if err == nil {
			t.Errorf("publish %v succeeded", bad)
		}
	}
	_, err = pub("--version", "2.3")
	if !errors.As(err, new(usageError)) {
		t.Errorf("a bad version is a usage error (exit 2), got %T %v", err, err)
	}
}

// TestPublishResumeProgress resumes an upload of which the server has one
// part already: the bar shows the file done, but counts as moved, for its
// rate and ETA, only the parts this run sent.
func TestPublishResumeProgress(t *testing.T) {
	dir := t.TempDir()
	d := start(t, nil, "demo", "--addr", "127.0.0.1:0", "--data-dir", dir, "--upload-part-size", "5242880")
	d.stdout.waitFor(t, listeningDemoRE, d.done)
	info := readDemoInfo(t, dir)
	file := filepath.Join(t.TempDir(), "tool-3.0.0.zip")
	const size = 12 << 20 // parts of 5, 5 and 2 MiB
	digest := writeRandomFile(t, file, size, 5)

	c := publishConfig{cc: clientConfig{server: info.URL, token: info.Admin.Token}, product: "lathe", version: "3.0.0",
		channel: "stable", platform: "any", arch: "any", concurrency: 2, retries: 3}
	ctx := context.Background()
	cl, err := c.cc.client()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := c.release(ctx, cl, "")
	if err != nil {
		t.Fatal(err)
	}
	// An earlier run sent the first part.
	ca, err := cl.CreateArtifact(ctx, rel.ID, client.NewArtifact{Filename: "tool-3.0.0.zip", Platform: "any", Arch: "any", Size: size, SHA256: digest})
	if err != nil {
		t.Fatal(err)
	}
	if ca.Upload.PartSize != 5<<20 || len(ca.URLs) == 0 || ca.URLs[0].Number != 1 {
		t.Fatalf("upload of %d-byte parts with URLs %+v, want 5 MiB parts", ca.Upload.PartSize, ca.URLs)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := cl.PutPart(ctx, ca.URLs[0].URL, io.NewSectionReader(f, 0, 5<<20), 5<<20); err != nil {
		t.Fatal(err)
	}

	prog := newProgress(io.Discard, true)
	res, err := c.uploadFile(ctx, cl, rel, file, prog)
	prog.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != "resumed" || res.PartsSent != 2 || res.SHA256 != digest {
		t.Fatalf("upload = %+v, want it resumed with 2 parts sent", res)
	}
	b := prog.bars[0]
	if n, moved := b.n.Load(), b.moved.Load(); n != size || moved != size-5<<20 {
		t.Errorf("the bar counts %d bytes done and %d moved, want %d and %d", n, moved, size, size-5<<20)
	}
}

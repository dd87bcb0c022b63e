package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	fsblob "github.com/freight-portal/freight/blob/fs"
	"github.com/freight-portal/freight/client"
)

// jobsOfKind lists the jobs of a kind, newest first.
func (a api) jobsOfKind(kind string) []freight.Job {
	a.t.Helper()
	var l struct{ Items []freight.Job }
	a.call("GET", "/api/v1/jobs?kind="+kind+"&limit=100", nil, 200, &l)
	return l.Items
}

// TestPublishThroughAccepted: on a portal that answers every complete at
// once with 202 Accepted (--upload-complete-wait 0), the command follows
// the verification to its end. A file whose part 2 the portal turns out
// not to have is open again after its first verification: the command
// sends the part and completes again. Then publish runs end to end.
func TestPublishThroughAccepted(t *testing.T) {
	dir := t.TempDir()
	const partSize = 5 << 20
	url, info := startDemo(t, dir, "--upload-part-size", "5242880", "--upload-complete-wait", "0")
	a := api{t, url, info.Admin.Token}
	files := t.TempDir()
	file := filepath.Join(files, "tool-4.0.0.zip")
	const size = 12 << 20 // parts of 5, 5 and 2 MiB
	digest := writeRandomFile(t, file, size, 11)

	c := publishConfig{cc: clientConfig{server: url, token: info.Admin.Token}, product: "lathe", version: "4.0.0",
		channel: "stable", platform: "any", arch: "any", concurrency: 2, retries: 4}
	ctx := context.Background()
	cl, err := c.cc.client()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := c.release(ctx, cl, "")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := cl.CreateArtifact(ctx, rel.ID, client.NewArtifact{Filename: "tool-4.0.0.zip", Platform: "any", Arch: "any", Size: size, SHA256: digest})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, u := range ca.URLs {
		if u.Number == 2 {
			continue
		}
		off := int64(u.Number-1) * partSize
		if err := cl.PutPart(ctx, u.URL, io.NewSectionReader(f, off, u.Size), u.Size); err != nil {
			t.Fatal(err)
		}
	}

	// Asked directly, the portal answers 202 with where to look and when.
	req, err := http.NewRequest("POST", url+"/api/v1/uploads/"+ca.Upload.ID+"/complete", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+info.Admin.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Location") != "/api/v1/uploads/"+ca.Upload.ID || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("complete answered %d, Location %q, Retry-After %q; want 202 with both", resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Retry-After"))
	}

	prog := newProgress(io.Discard, true)
	bar := prog.Bar("tool-4.0.0.zip", size)
	art, err := c.complete(ctx, cl, f, &ca.Upload, bar)
	prog.Close()
	if err != nil {
		t.Fatal(err)
	}
	if art.State != freight.ArtifactAvailable || art.SHA256 != digest {
		t.Fatalf("artifact %+v, want available with %s", art, digest)
	}
	// Verified more than once: open again without part 2, then whole.
	js := a.jobsOfKind("verify-upload")
	if len(js) < 2 {
		t.Errorf("%d verifications, want the one that found part 2 missing and the one after it was sent", len(js))
	}
	for _, j := range js {
		if j.State != freight.JobDone {
			t.Errorf("verification %s is %s, want done", j.ID, j.State)
		}
	}

	// The whole command, with a second file.
	other := filepath.Join(files, "tool-4.0.0.tar.gz")
	otherDigest := writeRandomFile(t, other, 7<<20, 12)
	var o output
	if err := run(ctx, []string{"publish", "--server", url, "--token", info.Admin.Token, "--product", "lathe", "--version", "4.0.0",
		"--quiet", "--json", file, other}, nil, &o, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(o.String(), otherDigest) || !strings.Contains(o.String(), `"state":"published"`) {
		t.Errorf("publish printed %s, want the second file and the release published", o.String())
	}
}

// TestVerificationSurvivesKill kills a real server (SIGKILL) while it
// verifies a file of 256 MiB, the complete request answered 202 at once
// (--upload-complete-wait 0). Restarted, the server runs the verification
// again once the dead worker's lease has passed, and the artifact becomes
// available exactly once: one audit event, one blob, nothing left of the
// staging area.
func TestVerificationSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a server process")
	}
	const partSize, size = 64 << 20, 256 << 20
	bin := buildBinary(t)
	dir := t.TempDir()
	token := createAdmin(t, bin, dir)
	serveArgs := []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir, "--upload-part-size", "67108864",
		"--upload-complete-wait", "0", "--job-lease", "3s"}
	srv := startProcess(t, bin, serveArgs...)
	a := api{t, srv.url, token}
	file := filepath.Join(t.TempDir(), "mill-2.0.0.iso")
	digest := writeRandomFile(t, file, size, 13)

	a.call("POST", "/api/v1/products", map[string]any{"slug": "mill", "name": "Mill"}, 201, nil)
	var rel freight.Release
	a.call("POST", "/api/v1/products/mill/releases", map[string]any{"version": "2.0.0"}, 201, &rel)
	var c client.CreatedArtifact
	a.call("POST", "/api/v1/releases/"+rel.ID+"/artifacts", map[string]any{"filename": "mill-2.0.0.iso", "platform": "any", "arch": "any", "size": size, "sha256": digest}, 201, &c)
	cl := client.New(srv.url, token)
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, u := range c.URLs {
		off := int64(u.Number-1) * partSize
		if err := cl.PutPart(context.Background(), u.URL, io.NewSectionReader(f, off, u.Size), u.Size); err != nil {
			t.Fatal(err)
		}
	}
	a.call("POST", "/api/v1/uploads/"+c.Upload.ID+"/complete", nil, 202, nil)

	// Kill the server while the verification runs (or, on a machine that
	// hashes faster than it is watched, once it is over).
	state := freight.JobQueued
	deadline := time.Now().Add(time.Minute)
	for state == freight.JobQueued {
		if js := a.jobsOfKind("verify-upload"); len(js) == 1 {
			state = js[0].State
		}
		if time.Now().After(deadline) {
			t.Fatal("the verification did not start")
		}
	}
	srv.kill(t)

	srv = startProcess(t, bin, serveArgs...)
	a = api{t, srv.url, token}
	deadline = time.Now().Add(time.Minute)
	for {
		var up freight.Upload
		a.call("GET", "/api/v1/uploads/"+c.Upload.ID, nil, 200, &up)
		if up.State != freight.UploadCompleting {
			if up.State != freight.UploadCompleted {
				t.Fatalf("upload after the restart: %s (%q), want completed", up.State, up.Error)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the upload was not verified a minute after the restart")
		}
		time.Sleep(100 * time.Millisecond)
	}
	var art freight.Artifact
	a.call("POST", "/api/v1/uploads/"+c.Upload.ID+"/complete", nil, 200, &art)
	if art.State != freight.ArtifactAvailable || art.SHA256 != digest {
		t.Fatalf("artifact %+v, want available with %s", art, digest)
	}
	var log struct{ Items []freight.AuditEvent }
	a.call("GET", "/api/v1/audit?target_id="+art.ID, nil, 200, &log)
	n := 0
	for _, ev := range log.Items {
		if ev.Action == "artifact.available" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d artifact.available events, want 1", n)
	}
	js := a.jobsOfKind("verify-upload")
	if len(js) != 1 || js[0].State != freight.JobDone {
		t.Fatalf("verify-upload jobs: %+v, want one done", js)
	}
	// Attempts is 1 when the verification ended between the look and the
	// kill.
	t.Logf("killed while the verification was %s; it ran %d times", state, js[0].Attempts)
	blobs, err := fsblob.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	if infos, _, err := blobs.List(context.Background(), "", 10); err != nil || len(infos) != 1 || infos[0].Digest != digest {
		t.Errorf("blobs: %+v, %v; want the file's only", infos, err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "blobs", "uploads")); len(entries) != 0 {
		t.Errorf("%d staging areas left", len(entries))
	}
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	fsblob "github.com/freight-portal/freight/blob/fs"
)

// process is a freight binary running as a child process, so that a test
// can kill it without warning.
type process struct {
	cmd *exec.Cmd
	url string
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "freight")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// createAdmin runs the binary's create-admin on the data directory and
// returns the new admin's API token.
func createAdmin(t *testing.T, bin, dir string) string {
	t.Helper()
	out, err := exec.Command(bin, "create-admin", "--email", "ci@vendor.example", "--data-dir", dir).Output()
	if err != nil {
		t.Fatal(err)
	}
	return regexp.MustCompile(`frt_\S+`).FindString(string(out))
}

func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stderr = t.Output()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case u := <-found:
		return &process{cmd: cmd, url: u}
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not start")
	}
	return nil
}

// kill stops the process the hard way: no shutdown, no deferred cleanup.
func (p *process) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
}

// TestUploadSurvivesKill uploads a file in parallel-capable parts through a
// real server process: one part is cut off mid-body and sent again, the
// server is killed (SIGKILL) while a part is arriving, restarted, and the
// upload resumes, completes and verifies against the stored blob.
func TestUploadSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a server process")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	token := createAdmin(t, bin, dir)
	serveArgs := []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir, "--upload-part-size", "5242880"}
	srv := startProcess(t, bin, serveArgs...)
	a := api{t, srv.url, token}

	const partSize = 5 << 20
	content := make([]byte, 4*partSize-1000) // four parts, the last short
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range content {
		content[i] = byte(rng.Uint32())
	}
	sum := sha256.Sum256(content)
	digest := hex.EncodeToString(sum[:])
	part := func(n int) []byte { return content[(n-1)*partSize : min(n*partSize, len(content))] }

	a.call("POST", "/api/v1/products", map[string]any{"slug": "lathe", "name": "Lathe"}, 201, nil)
	var rel freight.Release
	a.call("POST", "/api/v1/products/lathe/releases", map[string]any{"version": "5.0.0"}, 201, &rel)
	var c struct {
		Artifact freight.Artifact
		Upload   struct{ ID string }
	}
	a.call("POST", "/api/v1/releases/"+rel.ID+"/artifacts", map[string]any{"filename": "lathe-5.0.0.msi", "platform": "windows", "arch": "x86_64", "size": len(content), "sha256": digest}, 201, &c)

	urlsOf := func(a api) map[int]string {
		var u struct {
			URLs []struct {
				Number int
				URL    string
			}
		}
		a.call("POST", "/api/v1/uploads/"+c.Upload.ID+"/urls", nil, 200, &u)
		m := map[int]string{}
		for _, p := range u.URLs {
			m[p.Number] = p.URL
		}
		return m
	}
	put := func(rawURL string, body []byte) {
		t.Helper()
		req, _ := http.NewRequest("PUT", rawURL, bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err) // not Fatal: put runs in goroutines too
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("PUT part: %d %s", resp.StatusCode, b)
		}
	}
	urls := urlsOf(a)
	put(urls[1], part(1))

	// Part 2 is cut off after 1 MiB by a dropped connection, then retried.
	cutOff(t, urls[2], part(2), 1<<20)
	put(urls[2], part(2))

	// Part 3 is arriving when the server dies.
	cutOffWith(t, urls[3], part(3), 2<<20, func() { srv.kill(t) })

	srv = startProcess(t, bin, serveArgs...)
	a.url = srv.url
	var up struct{ Received []freight.UploadedPart }
	a.call("GET", "/api/v1/uploads/"+c.Upload.ID, nil, 200, &up)
	if len(up.Received) != 2 || up.Received[0].Number != 1 || up.Received[1].Number != 2 {
		t.Fatalf("after the restart the upload has parts %+v, want exactly 1 and 2", up.Received)
	}
	blobs, err := fsblob.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	if infos, _, err := blobs.List(context.Background(), "", 10); err != nil || len(infos) != 0 {
		t.Fatalf("blobs before completion: %+v, %v; want none visible", infos, err)
	}

	urls = urlsOf(a) // new URLs: the old ones name the old address
	var wg sync.WaitGroup
	for _, n := range []int{3, 4} {
		wg.Go(func() { put(urls[n], part(n)) })
	}
	wg.Wait()
	var art freight.Artifact
	a.call("POST", "/api/v1/uploads/"+c.Upload.ID+"/complete", nil, 200, &art)
	if art.State != freight.ArtifactAvailable || art.SHA256 != digest {
		t.Fatalf("artifact after completion: %+v, want available with %s", art, digest)
	}
	rc, err := blobs.Open(context.Background(), digest, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	io.Copy(h, rc)
	rc.Close()
	if got := hex.EncodeToString(h.Sum(nil)); got != digest {
		t.Errorf("stored blob hashes to %s, want %s", got, digest)
	}
	// Nothing is left of the staging area.
	if entries, _ := os.ReadDir(filepath.Join(dir, "blobs", "uploads")); len(entries) != 0 {
		t.Errorf("%d staging areas left after completion", len(entries))
	}
}

// cutOff sends the first n bytes of a part's body and drops the connection.
func cutOff(t *testing.T, rawURL string, body []byte, n int) {
	cutOffWith(t, rawURL, body, n, nil)
}

// cutOffWith sends the first n bytes of body on a raw connection, calls
// during (if any) while the rest is still owed, and drops the connection.
func cutOffWith(t *testing.T, rawURL string, body []byte, n int, during func()) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", u.RequestURI(), u.Host, len(body))
	if _, err := conn.Write(body[:n]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the server is now writing the part
	if during != nil {
		during()
	}
}

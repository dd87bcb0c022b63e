package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/client"
)

// countingTransport counts the requests for part URLs that pass through
// it to the real server.
type countingTransport struct {
	n atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/urls") {
		c.n.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestPartURLCache asks a real portal for the URLs of a six-part upload
// through the cache: one request serves every part, each part gets its
// own URL, and a forgotten URL is asked for again.
func TestPartURLCache(t *testing.T) {
	dir := t.TempDir()
	d := start(t, nil, "demo", "--addr", "127.0.0.1:0", "--data-dir", dir, "--upload-part-size", "5242880", "--log-level", "warn")
	d.stdout.waitFor(t, listeningDemoRE, d.done)
	info := readDemoInfo(t, dir)
	ctx := context.Background()
	ct := &countingTransport{}
	cl := client.New(info.URL, info.Admin.Token).WithHTTPClient(&http.Client{Transport: ct})
	rel, err := cl.CreateRelease(ctx, "lathe", "9.9.9", freight.ChannelStable, "")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := cl.CreateArtifact(ctx, rel.ID, client.NewArtifact{Filename: "big.bin", Platform: "linux", Arch: "x86_64", Size: 5*5242880 + 1})
	if err != nil {
		t.Fatal(err)
	}
	if ca.Upload.Parts != 6 {
		t.Fatalf("the upload has %d parts, want 6", ca.Upload.Parts)
	}
	c := &partURLCache{cl: cl, uploadID: ca.Upload.ID, parts: []int{1, 2, 3, 4, 5, 6}, urls: map[int]string{}}
	seen := map[string]bool{}
	for n := 1; n <= 6; n++ {
		u, err := c.get(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("/parts/%d?", n); !strings.Contains(u, want) || seen[u] {
			t.Errorf("part %d got URL %s, want its own (…%s…)", n, u, want)
		}
		seen[u] = true
	}
	if got := ct.n.Load(); got != 1 {
		t.Errorf("%d requests for part URLs, want 1 for six parts", got)
	}
	// A URL used once is not handed out again, nor one forgotten after a
	// failed attempt: the next attempt asks afresh.
	c.forget(3)
	if u, err := c.get(ctx, 3); err != nil || !strings.Contains(u, "/parts/3?") {
		t.Errorf("part 3 again: %s, %v", u, err)
	}
	if got := ct.n.Load(); got != 2 {
		t.Errorf("%d requests for part URLs after asking part 3 again, want 2", got)
	}
}

package main

import (
	"context"
	"errors"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

func TestEdgeCommandRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"Bare", nil, "--origin, --token, --public-url"},
		{"APIToken", []string{"--origin", "http://127.0.0.1:1", "--token", "frt_x", "--public-url", "http://e.example"}, "edge credential (fre_…)"},
		{"BadSize", []string{"--cache-size", "12 parsecs"}, "unknown unit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"edge", "--addr", "127.0.0.1:0", "--cache-dir", t.TempDir()}, tc.args...)
			err := run(context.Background(), args, nil, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
			if _, ok := errors.AsType[usageError](err); !ok {
				t.Errorf("err = %v is not a usage error (exit status 2)", err)
			}
		})
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]int64{"1": 1, "500G": 500e9, "2T": 2e12, "800GiB": 800 << 30, "64 MiB": 64 << 20, "10K": 10000} {
		if got, err := parseByteSize(in); err != nil || got != want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "1X", "G", "99999999999999T"} {
		if _, err := parseByteSize(in); err == nil {
			t.Errorf("parseByteSize(%q) succeeded", in)
		}
	}
}

// TestEdgeCommand runs the portal and "freight edge" as commands, wired
// by their flags only, and checks the edge's whole life: a customer's
// download goes through the edge and is recorded by the portal, a second
// download is a hit, a restarted edge keeps its cache, and a product
// whose releases edges prefetch is in the cache before anyone asks, with
// the edge's prefetch rows at the portal done.
func TestEdgeCommand(t *testing.T) {
	dir := t.TempDir()
	url, info := startDemo(t, dir, "--delivery", "edge", "--edge-regions", "lab", "--edge-health-timeout", "5s", "--prefetch-window", "87600h")
	d := &downloadDemo{url: url, info: info}
	admin := api{t, url, d.info.Admin.Token}

	var created struct {
		ID         string `json:"id"`
		Name       string `json:"name"`
		Credential string `json:"credential"`
	}
	admin.call("POST", "/api/v1/edges", map[string]string{"name": "lab-1", "region": "lab"}, 201, &created)

	// The edge's public URL names its port, so the port is chosen first.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cacheDir := t.TempDir()
	startEdge := func() *started {
		e := start(t, nil, "edge", "--addr", addr, "--origin", url, "--token", created.Credential,
			"--cache-dir", cacheDir, "--public-url", "http://"+addr, "--region", "lab", "--heartbeat", "200ms", "--log-level", "warn")
		e.stdout.waitFor(t, regexp.MustCompile(`Freight edge is listening on (http://\S+)`), e.done)
		return e
	}
	type edgeView struct {
		Healthy  bool                       `json:"healthy"`
		Stats    freight.EdgeStats          `json:"stats"`
		Prefetch freight.EdgePrefetchCounts `json:"prefetch"`
	}
	// await polls the portal's view of the edge until ok holds.
	await := func(what string, ok func(edgeView) bool) edgeView {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var v edgeView
			admin.call("GET", "/api/v1/edges/"+created.ID, nil, 200, &v)
			if ok(v) {
				return v
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting for the edge: %s; the portal sees %+v", what, v)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// viaEdge waits until the portal holds the edge's records of at
	// least n downloads of a: grants whose requests through the edge
	// (one per segment) sent the whole file between them.
	viaEdge := func(a demoArtifact, n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var l struct{ Items []freight.Download }
			admin.call("GET", "/api/v1/downloads?limit=500&artifact_id="+a.ID, nil, 200, &l)
			sent := map[string]int64{}
			for _, dl := range l.Items {
				if dl.Via == created.Name && dl.Completed {
					sent[dl.GrantID] += dl.Bytes
				}
			}
			whole := 0
			for _, b := range sent {
				if b >= a.Size {
					whole++
				}
			}
			if whole >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the portal records %d whole downloads of %s through the edge, want %d: %+v", whole, a.Filename, n, l.Items)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	get := func(a demoArtifact) {
		t.Helper()
		res := d.download(t, "acme", a.ID, "--dir", t.TempDir())
		if res.SHA256 != a.SHA256 || res.Outcome != "downloaded" {
			t.Fatalf("download of %s: %+v", a.Filename, res)
		}
		if got := sha256File(t, res.Path); got != a.SHA256 {
			t.Fatalf("saved %s has SHA-256 %s, want %s", a.Filename, got, a.SHA256)
		}
	}

	e := startEdge()
	await("healthy", func(v edgeView) bool { return v.Healthy })

	// Two files of the release every demo customer sees: one fetched on
	// demand, one prefetched.
	if len(d.info.Artifacts) < 2 || d.info.Artifacts[0].SHA256 == d.info.Artifacts[1].SHA256 {
		t.Fatalf("the demo's shared release has no two distinct files: %+v", d.info.Artifacts)
	}
	a, b2 := d.info.Artifacts[0], d.info.Artifacts[1]
	get(a)
	viaEdge(a, 1)
	v := await("the fill counted", func(v edgeView) bool { return v.Stats.BytesFromOrigin == a.Size && v.Stats.BytesServed >= a.Size })
	if v.Stats.CacheBlobs != 1 || v.Stats.CacheBytes != a.Size {
		t.Errorf("after one download the cache holds %d blobs, %d bytes; want 1, %d", v.Stats.CacheBlobs, v.Stats.CacheBytes, a.Size)
	}

	get(a)
	viaEdge(a, 2)
	v = await("the hit counted", func(v edgeView) bool { return v.Stats.Hits >= 1 && v.Stats.BytesServed >= 2*a.Size })
	if v.Stats.BytesFromOrigin != a.Size {
		t.Errorf("a cached blob was fetched again: %d bytes from the origin, want %d", v.Stats.BytesFromOrigin, a.Size)
	}

	if err := e.wait(t); err != nil {
		t.Fatalf("edge stopped with %v", err)
	}
	startEdge() // stopped at the end of the test
	get(a)
	viaEdge(a, 3)
	v = await("the restarted edge served", func(v edgeView) bool { return v.Stats.BytesServed >= 3*a.Size })
	if v.Stats.BytesFromOrigin != a.Size {
		t.Errorf("the restarted edge fetched the blob again: %d bytes from the origin, want %d", v.Stats.BytesFromOrigin, a.Size)
	}

	// Prefetch: the edge caches the product's other published files
	// without a download asking for them.
	var want int64
	blobs := map[string]bool{a.SHA256: true}
	for _, p := range []demoProductIDs{d.info.Product} {
		admin.call("PATCH", "/api/v1/products/"+p.ID, map[string]any{"prefetch_edges": true}, 200, nil)
		var rels struct{ Items []freight.Release }
		admin.call("GET", "/api/v1/products/"+p.ID+"/releases?limit=500", nil, 200, &rels)
		for _, r := range rels.Items {
			if r.State != freight.ReleasePublished {
				continue
			}
			var arts struct{ Items []freight.Artifact }
			admin.call("GET", "/api/v1/releases/"+r.ID+"/artifacts?limit=500", nil, 200, &arts)
			for _, x := range arts.Items {
				if x.State == freight.ArtifactAvailable && !blobs[x.SHA256] {
					blobs[x.SHA256] = true
					want += x.Size
				}
			}
		}
	}
	if want == 0 {
		t.Fatal("the demo product has no other published file to prefetch")
	}
	v = await("the prefetch done", func(v edgeView) bool {
		return v.Stats.BytesFromOrigin == a.Size+want && v.Stats.CacheBlobs == int64(len(blobs)) && v.Stats.FillsInProgress == 0
	})
	// The edge reports every blob it was asked for, the one it held
	// already too, and the portal counts them all done.
	v = await("the prefetch reported", func(v edgeView) bool {
		return v.Prefetch == freight.EdgePrefetchCounts{Done: int64(len(blobs))}
	})
	get(b2)
	viaEdge(b2, 1)
	v = await("the prefetched download served", func(v edgeView) bool { return v.Stats.BytesServed >= 3*a.Size+b2.Size })
	if v.Stats.BytesFromOrigin != a.Size+want {
		t.Errorf("a prefetched blob was fetched again: %d bytes from the origin, want %d", v.Stats.BytesFromOrigin, a.Size+want)
	}
}

package edge_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/edge"
)

// TestReleaseDay is the release-day scenario: many clients ask one edge
// for the same cold blob at once. The origin must see exactly one read of
// it, every client that stays must get the right bytes, and clients that
// leave midway, the first one included, must not disturb the others.
func TestReleaseDay(t *testing.T) {
	const clients = 60
	const size = 24<<20 + 12345
	p := newPortal(t)
	a, content := p.artifact("cad-2.0.0.iso", size, 1)
	// Slow the origin so that the fill is still running while everyone
	// arrives: about 1.5 s for the blob.
	p.slow.Store(4000)
	n := startEdge(t, p, t.TempDir())

	type result struct {
		sum   string
		n     int
		err   error
		quits bool
	}
	results := make([]result, clients)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range clients {
		quits := i%6 == 0 // client 0, the one that starts the fill, among them
		results[i].quits = quits
		url := n.url + "/d/" + p.grantOf(a) + "/" + a.Filename
		wg.Go(func() {
			if i > 0 {
				<-start
			} else {
				defer close(start)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				results[i].err = err
				return
			}
			defer res.Body.Close()
			if res.StatusCode != http.StatusOK {
				results[i].err = &statusErr{res.StatusCode}
				return
			}
			h := sha256.New()
			var r io.Reader = res.Body
			if quits {
				r = io.LimitReader(res.Body, int64(1+i)<<18)
			}
			got, err := io.Copy(h, r)
			if quits {
				cancel() // gone midway
				if err != nil {
					results[i].err = err
				}
				return
			}
			results[i].n, results[i].err, results[i].sum = int(got), err, hex.EncodeToString(h.Sum(nil))
		})
	}
	wg.Wait()
	want := sha(content)
	for i, r := range results {
		if r.quits {
			if r.err != nil {
				t.Errorf("client %d, which leaves midway: %v", i, r.err)
			}
			continue
		}
		if r.err != nil || r.n != size || r.sum != want {
			t.Errorf("client %d: %d bytes, sha256 %.12s, err %v; want %d bytes, sha256 %.12s", i, r.n, r.sum, r.err, size, want)
		}
	}
	if got := p.blobBytes.Load(); got != size {
		t.Errorf("origin sent %d blob bytes for a blob of %d: want exactly one read", got, size)
	}
	if got := p.blobRequests.Load(); got != 1 {
		t.Errorf("origin got %d blob requests, want 1", got)
	}
	waitFor(t, "the fill to end", func() bool { return n.Stats().FillsInProgress == 0 })
	st := n.Stats()
	if st.BytesFromOrigin != size || st.CacheBlobs != 1 || st.Misses != clients {
		t.Errorf("stats = %+v; want %d bytes from origin, 1 blob, %d misses", st, size, clients)
	}
	// Late comers are hits and cost the origin nothing.
	code, body, _ := get(t, n.url+"/d/"+p.grantOf(a)+"/"+a.Filename, "")
	if code != http.StatusOK || sha(body) != want || p.blobBytes.Load() != size {
		t.Errorf("a later download: status %d, right bytes %v, origin bytes %d", code, sha(body) == want, p.blobBytes.Load())
	}
	if n.Stats().Hits != 1 {
		t.Errorf("hits = %d, want 1", n.Stats().Hits)
	}
}

type statusErr struct{ code int }

func (e *statusErr) Error() string { return http.StatusText(e.code) }

// TestFarRange checks that a range far beyond the filled part is served
// from the origin at once, not after the fill reaches it, and that ranges
// within reach come from the fill.
func TestFarRange(t *testing.T) {
	const size = 16 << 20
	p := newPortal(t)
	a, content := p.artifact("big.bin", size, 2)
	p.slow.Store(20000) // about 5 s for the whole blob
	n := startEdge(t, p, t.TempDir(), func(c *edge.Config) { c.FarRange, c.ChunkSize = 4<<20, 1<<20 })
	tok := p.grantOf(a)

	// Start the fill.
	go func() {
		if res, err := http.Get(n.url + "/d/" + tok + "/" + a.Filename); err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	}()
	waitFor(t, "the fill to start", func() bool { return n.Stats().FillsInProgress == 1 })
	begin := time.Now()
	code, body, h := get(t, n.url+"/d/"+tok+"/"+a.Filename, "bytes=15000000-15000999")
	if code != http.StatusPartialContent || string(body) != string(content[15000000:15001000]) {
		t.Fatalf("far range: status %d, %d bytes, right bytes %v", code, len(body), string(body) == string(content[15000000:15001000]))
	}
	if took := time.Since(begin); took > 3*time.Second {
		t.Errorf("far range took %v: it waited for the fill", took)
	}
	if h.Get("Content-Range") != "bytes 15000000-15000999/16777216" {
		t.Errorf("Content-Range = %q", h.Get("Content-Range"))
	}
	// The chunk fetched for the far range is part of the fill: the
	// origin still sends every byte once.
	waitFor(t, "the fill to end", func() bool { return n.Stats().FillsInProgress == 0 })
	if got := p.blobBytes.Load(); got != size {
		t.Errorf("origin sent %d bytes for a blob of %d: want each byte once", got, size)
	}
	code, body, _ = get(t, n.url+"/d/"+tok+"/"+a.Filename, "")
	if code != http.StatusOK || sha(body) != sha(content) {
		t.Errorf("the cached blob: status %d, right bytes %v", code, sha(body) == sha(content))
	}
}

// TestSegmentedClients is release day with download managers: many
// clients ask for the same cold blob at once, each in parallel range
// segments, as freight download and aria2 do. Segments far beyond the
// fill get their chunks fetched at once, and still the origin sends every
// byte of the blob once.
func TestSegmentedClients(t *testing.T) {
	const clients, segments = 12, 8
	const size = 24<<20 + 4321
	p := newPortal(t)
	a, content := p.artifact("segmented.iso", size, 7)
	p.slow.Store(4000)
	n := startEdge(t, p, t.TempDir(), func(c *edge.Config) { c.FarRange, c.ChunkSize = 2<<20, 1<<20 })
	tok := p.grantOf(a, func(g *freight.Grant) { g.ByteBudget = clients * size })
	url := n.url + "/d/" + tok + "/" + a.Filename

	seg := int64(size+segments-1) / segments
	errs := make(chan error, clients*segments)
	var wg sync.WaitGroup
	for range clients {
		for k := range int64(segments) {
			from, to := k*seg, min((k+1)*seg, size)-1
			wg.Go(func() {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("Range", "bytes="+strconv.FormatInt(from, 10)+"-"+strconv.FormatInt(to, 10))
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				defer res.Body.Close()
				body, err := io.ReadAll(res.Body)
				if err != nil || res.StatusCode != http.StatusPartialContent || string(body) != string(content[from:to+1]) {
					if len(body) > 200 {
						body = body[:200]
					}
					errs <- fmt.Errorf("segment %d-%d: status %d, %d bytes, right bytes %v, err %v: %q", from, to, res.StatusCode, len(body), string(body) == string(content[from:to+1]), err, body)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitFor(t, "the fill to end", func() bool { return n.Stats().FillsInProgress == 0 })
	if got := p.blobBytes.Load(); got != size {
		t.Errorf("origin sent %d bytes for a blob of %d (%.2f reads): want each byte once", got, size, float64(got)/size)
	}
	if st := n.Stats(); st.BytesFromOrigin != size || st.CacheBlobs != 1 {
		t.Errorf("stats = %+v; want %d bytes from origin and the blob cached", st, size)
	}
}

// TestChunkProgressSurvivesRestart stops an edge while chunks far apart
// are filled and the rest is not: the restarted edge fetches only the
// missing bytes.
func TestChunkProgressSurvivesRestart(t *testing.T) {
	const size = 12<<20 + 99
	p := newPortal(t)
	a, content := p.artifact("holes.bin", size, 8)
	dir := t.TempDir()
	cfg := func(c *edge.Config) { c.FarRange, c.ChunkSize = 1<<20, 1<<20 }
	p.slow.Store(60000) // about 11 s for the blob: the fill is far from done when the edge stops
	n := startEdge(t, p, dir, cfg)
	tok := p.grantOf(a, func(g *freight.Grant) { g.ByteBudget = 10 * size })
	url := n.url + "/d/" + tok + "/" + a.Filename
	go func() { // starts the sequential fetch
		if res, err := http.Get(url); err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	}()
	waitFor(t, "the fill to start", func() bool { return n.Stats().FillsInProgress == 1 })
	// A far segment: its chunk is fetched at once.
	if code, body, _ := get(t, url, "bytes=9437184-9437283"); code != http.StatusPartialContent || string(body) != string(content[9437184:9437284]) {
		t.Fatalf("far range: status %d, right bytes %v", code, string(body) == string(content[9437184:9437284]))
	}
	n.stop()
	sent := p.blobBytes.Load()
	if sent >= size {
		t.Fatalf("origin sent %d bytes of %d before the stop: the test needs a fill cut midway", sent, size)
	}
	p.slow.Store(0)
	n2 := startEdge(t, p, dir, cfg)
	code, body, _ := get(t, n2.url+"/d/"+tok+"/"+a.Filename, "")
	if code != http.StatusOK || sha(body) != sha(content) {
		t.Fatalf("download after the restart: status %d, right bytes %v", code, sha(body) == sha(content))
	}
	// Bytes in flight when the edge stopped may not have reached the
	// file; everything written and recorded is kept.
	if got := p.blobBytes.Load(); got > size+int64(2*256<<10) {
		t.Errorf("origin sent %d bytes in all for a blob of %d (%d before the restart): the filled chunks were fetched again", got, size, sent)
	}
}

// TestFillResumesAfterOriginDies cuts the origin mid-fill: the clients
// fail (and can resume later), the partial file stays, and the next
// request resumes the fill where it stopped.
func TestFillResumesAfterOriginDies(t *testing.T) {
	const size = 8<<20 + 7
	const cut = 3 << 20
	p := newPortal(t)
	a, content := p.artifact("f.bin", size, 3)
	n := startEdge(t, p, t.TempDir())
	p.dieAfter.Store(cut)
	code, body, _ := get(t, n.url+"/d/"+p.grantOf(a)+"/"+a.Filename, "")
	if code != -1 || len(body) >= size {
		t.Fatalf("download through a dying origin: status %d with %d bytes; want a broken answer", code, len(body))
	}
	if got := p.blobBytes.Load(); got != cut {
		t.Fatalf("origin sent %d bytes before dying, want %d", got, cut)
	}
	waitFor(t, "the fill to give up", func() bool { return n.Stats().FillsInProgress == 0 })

	// The client resumes from where it got, once the portal is back.
	p.down.Store(false)
	code, rest, _ := get(t, n.url+"/d/"+p.grantOf(a)+"/"+a.Filename, "bytes="+strconv.Itoa(len(body))+"-")
	if code != http.StatusPartialContent || sha(append(body, rest...)) != sha(content) {
		t.Fatalf("resumed download: status %d, %d+%d bytes, right bytes %v", code, len(body), len(rest), sha(append(body, rest...)) == sha(content))
	}
	if got := p.blobBytes.Load(); got != size {
		t.Errorf("origin sent %d bytes in all for a blob of %d: the fill restarted instead of resuming", got, size)
	}
}

// TestCorruptBlobNeverServed makes the origin send wrong bytes: no client
// receives a complete answer, the bytes are discarded, and the next fill
// starts over and serves the right file.
func TestCorruptBlobNeverServed(t *testing.T) {
	const size = 4 << 20
	p := newPortal(t)
	a, content := p.artifact("c.bin", size, 4)
	dir := t.TempDir()
	n := startEdge(t, p, dir)
	p.corrupt.Store(true)
	code, body, _ := get(t, n.url+"/d/"+p.grantOf(a)+"/"+a.Filename, "")
	if code != -1 || len(body) >= size {
		t.Fatalf("download of corrupt bytes: status %d, %d bytes; want an answer cut before its end", code, len(body))
	}
	waitFor(t, "the fill to end", func() bool { return n.Stats().FillsInProgress == 0 })
	if st := n.Stats(); st.CacheBlobs != 0 || st.CacheBytes != 0 {
		t.Errorf("after a digest mismatch the cache holds %d blobs, %d bytes; want none", st.CacheBlobs, st.CacheBytes)
	}
	for _, sub := range []string{"blobs", "partial"} {
		if des, _ := os.ReadDir(filepath.Join(dir, sub)); len(des) != 0 {
			t.Errorf("%s/ holds %d files after a digest mismatch", sub, len(des))
		}
	}
	p.corrupt.Store(false)
	code, body, _ = get(t, n.url+"/d/"+p.grantOf(a)+"/"+a.Filename, "")
	if code != http.StatusOK || sha(body) != sha(content) {
		t.Fatalf("download after the origin healed: status %d, right bytes %v", code, sha(body) == sha(content))
	}
	if got := p.blobBytes.Load(); got != 2*size {
		t.Errorf("origin sent %d bytes, want two full reads (%d)", got, 2*size)
	}
}

// TestRestartKeepsCache restarts an edge: a complete blob is served
// without the origin, and a partial one is resumed, not fetched again.
func TestRestartKeepsCache(t *testing.T) {
	const size = 6 << 20
	p := newPortal(t)
	full, fullContent := p.artifact("full.bin", size, 5)
	part, partContent := p.artifact("part.bin", size, 6)
	dir := t.TempDir()
	n := startEdge(t, p, dir)
	if code, body, _ := get(t, n.url+"/d/"+p.grantOf(full)+"/"+full.Filename, ""); code != 200 || sha(body) != sha(fullContent) {
		t.Fatalf("first download: %d", code)
	}
	p.dieAfter.Store(2 << 20)
	get(t, n.url+"/d/"+p.grantOf(part)+"/"+part.Filename, "")
	waitFor(t, "the fill to give up", func() bool { return n.Stats().FillsInProgress == 0 })
	n.stop()
	p.down.Store(false)
	before := p.blobBytes.Load()

	n2 := startEdge(t, p, dir)
	if st := n2.Stats(); st.CacheBlobs != 2 {
		t.Errorf("after a restart the cache holds %d blobs, want 2 (one complete, one partial)", st.CacheBlobs)
	}
	code, body, _ := get(t, n2.url+"/d/"+p.grantOf(full)+"/"+full.Filename, "")
	if code != 200 || sha(body) != sha(fullContent) || p.blobBytes.Load() != before {
		t.Errorf("cached blob after restart: status %d, right %v, origin bytes +%d", code, sha(body) == sha(fullContent), p.blobBytes.Load()-before)
	}
	code, body, _ = get(t, n2.url+"/d/"+p.grantOf(part)+"/"+part.Filename, "")
	if code != 200 || sha(body) != sha(partContent) {
		t.Fatalf("partial blob after restart: status %d, right %v", code, sha(body) == sha(partContent))
	}
	if got := p.blobBytes.Load(); got != 2*size {
		t.Errorf("origin sent %d bytes in all for two blobs of %d: the partial was not resumed", got, size)
	}
	// The counters survive too.
	if st := n2.Stats(); st.BytesFromOrigin != 2*size {
		t.Errorf("bytes from origin after restart = %d, want %d", st.BytesFromOrigin, 2*size)
	}
}

// TestEvictionSparesPinned fills a cache past its size while a client
// reads the oldest blob: the blob being read stays, the least recently
// used idle one goes.
func TestEvictionSparesPinned(t *testing.T) {
	const size = 16 << 20
	p := newPortal(t)
	a, aContent := p.artifact("a.bin", size, 7)
	b, _ := p.artifact("b.bin", size, 8)
	c, cContent := p.artifact("c.bin", size, 9)
	n := startEdge(t, p, t.TempDir(), func(c *edge.Config) { c.CacheSize = 40 << 20 })
	for _, x := range []*freight.Artifact{a, b} {
		if code, _, _ := get(t, n.url+"/d/"+p.grantOf(x)+"/"+x.Filename, ""); code != 200 {
			t.Fatalf("filling %s: %d", x.Filename, code)
		}
	}
	// A slow reader of a, the least recently used blob, pins it.
	res, err := http.Get(n.url + "/d/" + p.grantOf(a) + "/" + a.Filename)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	head := make([]byte, 1<<10)
	if _, err := io.ReadFull(res.Body, head); err != nil {
		t.Fatal(err)
	}
	// c needs room: b goes, not a.
	if code, body, _ := get(t, n.url+"/d/"+p.grantOf(c)+"/"+c.Filename, ""); code != 200 || sha(body) != sha(cContent) {
		t.Fatalf("filling c: %d", code)
	}
	rest, err := io.ReadAll(res.Body)
	if err != nil || sha(append(head, rest...)) != sha(aContent) {
		t.Fatalf("the pinned reader of a: %v, right bytes %v", err, sha(append(head, rest...)) == sha(aContent))
	}
	before := p.blobBytes.Load()
	get(t, n.url+"/d/"+p.grantOf(a)+"/"+a.Filename, "")
	if p.blobBytes.Load() != before {
		t.Errorf("a was evicted while read")
	}
	get(t, n.url+"/d/"+p.grantOf(b)+"/"+b.Filename, "")
	if p.blobBytes.Load() == before {
		t.Errorf("b, the least recently used idle blob, was not evicted")
	}
	if st := n.Stats(); st.CacheBytes > 40<<20 {
		t.Errorf("cache holds %d bytes, over its size", st.CacheBytes)
	}
}

// TestNoRoomPassesThrough serves a blob bigger than the whole cache
// straight from the origin.
func TestNoRoomPassesThrough(t *testing.T) {
	p := newPortal(t)
	a, content := p.artifact("huge.bin", 3<<20, 10)
	n := startEdge(t, p, t.TempDir(), func(c *edge.Config) { c.CacheSize = 1 << 20 })
	code, body, _ := get(t, n.url+"/d/"+p.grantOf(a)+"/"+a.Filename, "")
	if code != 200 || sha(body) != sha(content) {
		t.Fatalf("pass-through: status %d, right %v", code, sha(body) == sha(content))
	}
	if st := n.Stats(); st.CacheBlobs != 0 {
		t.Errorf("cache holds %d blobs", st.CacheBlobs)
	}
}

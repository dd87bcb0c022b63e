package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/freight-portal/freight/client"
)

// openDirectPart opens a part file in a fresh directory, skipping the test
// where the system or the file system has no direct writes.
func openDirectPart(t *testing.T) *partFile {
	t.Helper()
	p, err := openPartFile(filepath.Join(t.TempDir(), "file.freight-part"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if p.direct == nil {
		if runtime.GOOS == "linux" {
			t.Skip("the test directory's file system refuses O_DIRECT; direct writes are not used there")
		}
		t.Skip("direct writes are used on Linux only")
	}
	return p
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{3}).Read(b)
	return b
}

// TestPartFileWrites checks which bytes go directly: aligned ones that are
// asked to, with the unaligned rest of a buffer through the page cache,
// and the part file holds every byte either way.
func TestPartFileWrites(t *testing.T) {
	p := openDirectPart(t)
	data := randomBytes(6 * directAlign)
	buf := alignedBuffer(len(data))
	copy(buf, data)
	writes := []struct {
		name       string
		from, to   int
		direct     bool
		wantDirect int64
	}{
		{"aligned", 0, directAlign, true, directAlign},
		{"not asked to", directAlign, 2 * directAlign, false, 0},
		{"aligned with a tail", 2 * directAlign, 3*directAlign + 100, true, directAlign},
		{"unaligned offset", 3*directAlign + 100, 4 * directAlign, true, 0},
		{"shorter than a block", 4 * directAlign, 4*directAlign + 10, true, 0},
		{"after it", 4*directAlign + 10, 6 * directAlign, true, 0},
	}
	for _, w := range writes {
		before := p.directN.Load()
		n, err := p.writeAt(buf[w.from:w.to], int64(w.from), w.direct)
		if err != nil || n != w.to-w.from {
			t.Fatalf("%s: writeAt = %d, %v; want %d, nil", w.name, n, err, w.to-w.from)
		}
		if got := p.directN.Load() - before; got != w.wantDirect {
			t.Errorf("%s: %d bytes written directly, want %d", w.name, got, w.wantDirect)
		}
	}
	got, err := os.ReadFile(p.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Error("the part file does not hold the bytes written")
	}
	// A buffer that is not aligned in memory goes through the page cache.
	before := p.directN.Load()
	odd := make([]byte, 2*directAlign+1)[1:]
	copy(odd, data)
	if _, err := p.writeAt(odd, 0, true); err != nil {
		t.Fatal(err)
	}
	if p.directN.Load() != before {
		t.Error("a buffer at an unaligned address was written directly")
	}
}

// refusingWriter stands for a file system that refuses direct writes.
type refusingWriter struct {
	err   error
	calls atomic.Int32
}

func (w *refusingWriter) WriteAt([]byte, int64) (int, error) { w.calls.Add(1); return 0, w.err }
func (w *refusingWriter) Close() error                       { return nil }

// TestPartFileRefused: a direct write refused with EINVAL is made through
// the page cache and turns direct writes off; any other failure is the
// caller's to see.
func TestPartFileRefused(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "part"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data := randomBytes(2 * directAlign)
	buf := alignedBuffer(len(data))
	copy(buf, data)

	einval := &refusingWriter{err: &os.PathError{Op: "write", Path: "part", Err: syscall.EINVAL}}
	p := &partFile{File: f, direct: einval}
	for i := range 2 {
		if n, err := p.writeAt(buf[i*directAlign:(i+1)*directAlign], int64(i*directAlign), true); err != nil || n != directAlign {
			t.Fatalf("write %d: %d, %v; want %d, nil", i, n, err, directAlign)
		}
	}
	if c := einval.calls.Load(); c != 1 {
		t.Errorf("the refusing file system was asked %d times, want once", c)
	}
	if p.directN.Load() != 0 {
		t.Errorf("%d bytes counted as direct", p.directN.Load())
	}
	if got, _ := os.ReadFile(f.Name()); !bytes.Equal(got, data) {
		t.Error("the bytes refused directly are not in the file")
	}

	eio := &refusingWriter{err: syscall.EIO}
	p = &partFile{File: f, direct: eio}
	if _, err := p.writeAt(buf[:directAlign], 0, true); !errors.Is(err, syscall.EIO) {
		t.Errorf("a failing disk: writeAt error %v, want EIO", err)
	}
	if p.noDirect.Load() {
		t.Error("a failing disk turned direct writes off instead of failing the write")
	}
}

func TestFillSize(t *testing.T) {
	for _, c := range []struct {
		off  int64
		n    int
		left int64
		want int
	}{
		{0, fetchBuffer, 1 << 30, fetchBuffer},
		{directAlign, fetchBuffer, 1 << 30, fetchBuffer},
		{0, fetchBuffer, 100, 100},
		{1000, fetchBuffer, 1 << 30, directAlign - 1000},
		{directAlign + 1, fetchBuffer, 1 << 30, directAlign - 1},
		{1000, fetchBuffer, 10, 10},
		{1000, 1 << 10, 1 << 30, 1 << 10},
	} {
		if got := fillSize(c.off, c.n, c.left); got != c.want {
			t.Errorf("fillSize(%d, %d, %d) = %d, want %d", c.off, c.n, c.left, got, c.want)
		}
	}
}

// TestFetchWritesDirect downloads, with one segment, a file whose first
// answer breaks off at an unaligned offset: the next request realigns,
// and the bytes after it go directly, except the file's unaligned tail.
// With --no-direct-io none do. Both times the file is whole.
func TestFetchWritesDirect(t *testing.T) {
	openDirectPart(t)
	const cutAt = 1<<20 + 1000
	size := int64(8<<20 + 123)
	content := randomBytes(int(size))
	sum := sha256.Sum256(content)
	digest := hex.EncodeToString(sum[:])
	var cut atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"`+digest+`"`)
		if !cut.Swap(true) {
			// The first answer claims its range and breaks off.
			var from, to int64
			if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &from, &to); err != nil || from != 0 || to < cutAt {
				t.Errorf("the first request asks for %q", r.Header.Get("Range"))
			}
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, to, size))
			w.Header().Set("Content-Length", strconv.FormatInt(to-from+1, 10))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(content[:cutAt])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(content))
	}))
	defer srv.Close()
	file := remoteFile{ArtifactID: "art_direct", Filename: "file.bin", Size: size, SHA256: digest}
	cl := client.New(srv.URL, "")
	for _, noDirect := range []bool{false, true} {
		cut.Store(false)
		out := filepath.Join(t.TempDir(), "file.bin")
		g := &client.Grant{URL: srv.URL + "/d/file.bin", SHA256: digest, Size: size, Filename: "file.bin", ExpiresAt: time.Now().Add(time.Hour)}
		o := fetchOptions{segments: 1, quiet: true, noDirectIO: noDirect}
		prog := newProgress(io.Discard, true)
		res, err := o.fetch(context.Background(), cl, file, g, out, prog)
		prog.Close()
		if err != nil {
			t.Fatalf("no-direct-io %v: %v", noDirect, err)
		}
		if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, content) {
			t.Fatalf("no-direct-io %v: the file is not the content (%v)", noDirect, err)
		}
		if !cut.Load() {
			t.Fatal("the first answer was not cut off")
		}
		// Never direct: the bytes of the broken block and the tail.
		most := size - 1000 - (directAlign - 1000) - size%directAlign
		switch {
		case noDirect && res.bytesDirect != 0:
			t.Errorf("--no-direct-io wrote %d bytes directly", res.bytesDirect)
		case !noDirect && (res.bytesDirect > most || res.bytesDirect < size/2):
			t.Errorf("%d of %d bytes written directly, want between %d and %d", res.bytesDirect, size, size/2, most)
		}
	}
}

// TestPartWriterDirect: a segment's writer writes directly only the bytes
// that the hash takes from memory; bytes it will read back from the part
// file go through the page cache, where that read finds them.
func TestPartWriterDirect(t *testing.T) {
	p := openDirectPart(t)
	if err := p.Truncate(4 * fetchBuffer); err != nil {
		t.Fatal(err)
	}
	f := &fetcher{part: p, bar: &bar{}, file: remoteFile{Size: 4 * fetchBuffer}}
	// A follower that is not running: what it takes stays queued.
	f.hash = &hashFollower{f: f, h: sha256.New(), wake: make(chan struct{}, 1)}
	write := func(s *segment) {
		w := f.startWriter(s, s.start, func(err error) { t.Errorf("write failed: %v", err) })
		for range 2 {
			w.put(getBuffer(fetchBuffer))
		}
		if _, err := w.finish(); err != nil {
			t.Fatal(err)
		}
	}
	write(&segment{start: 2 * fetchBuffer, end: 4 * fetchBuffer}) // ahead of the hash
	if n := p.directN.Load(); n != 0 {
		t.Errorf("%d bytes ahead of the hash were written directly", n)
	}
	write(&segment{start: 0, end: 2 * fetchBuffer}) // at the hash's front
	if n := p.directN.Load(); n != 2*fetchBuffer {
		t.Errorf("%d bytes at the hash's front were written directly, want %d", n, 2*fetchBuffer)
	}
	if f.hash.queued != 2*fetchBuffer {
		t.Errorf("the hash holds %d bytes, want the %d written at its front", f.hash.queued, 2*fetchBuffer)
	}
}

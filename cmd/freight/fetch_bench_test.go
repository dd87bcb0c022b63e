package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/freight-portal/freight/client"
)

// benchFile writes size pseudo-random (incompressible) bytes into dir and
// returns the path and the SHA-256.
func benchFile(tb testing.TB, dir string, size int64) (string, string) {
	tb.Helper()
	path := filepath.Join(dir, "origin.bin")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	rng := rand.NewChaCha8([32]byte{7})
	if _, err := io.CopyN(io.MultiWriter(f, h), rng, size); err != nil {
		tb.Fatal(err)
	}
	return path, hex.EncodeToString(h.Sum(nil))
}

// benchOrigin serves the file at path the way the portal's origin does
// for the client: Range, If-Range against the SHA-256 as strong ETag, and
// sendfile (http.ServeContent on an *os.File).
func benchOrigin(tb testing.TB, path, sum string) string {
	tb.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		w.Header().Set("ETag", `"`+sum+`"`)
		http.ServeContent(w, r, "", time.Time{}, f)
	}))
	tb.Cleanup(srv.Close)
	return srv.URL + "/d/file.bin"
}

// BenchmarkFetch measures "freight download"'s transfer of a 256 MiB
// file over loopback into a part file, with the SHA-256 check, the
// progress saves and the final fsync and rename: the client's side of
// bench/cli.sh, without the portal's API calls.
func BenchmarkFetch(b *testing.B) {
	const size = 256 << 20
	dir := b.TempDir()
	path, sum := benchFile(b, dir, size)
	url := benchOrigin(b, path, sum)
	file := remoteFile{ArtifactID: "art_bench", Filename: "file.bin", Size: size, SHA256: sum}
	cl := client.New(url, "")
	for _, segments := range []int{1, 8} {
		b.Run(fmt.Sprintf("segments=%d", segments), func(b *testing.B) {
			b.SetBytes(size)
			o := fetchOptions{segments: segments, quiet: true}
			out := filepath.Join(dir, "out.bin")
			for b.Loop() {
				g := &client.Grant{URL: url, SHA256: sum, Size: size, Filename: "file.bin", ExpiresAt: time.Now().Add(time.Hour)}
				prog := newProgress(io.Discard, true)
				res, err := o.fetch(context.Background(), cl, file, g, out, prog)
				prog.Close()
				if err != nil || res.BytesFetched != size {
					b.Fatalf("fetch: %+v, %v", res, err)
				}
				b.StopTimer()
				os.Remove(out)
				b.StartTimer()
			}
		})
	}
}

package server_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	fsblob "github.com/freight-portal/freight/blob/fs"
	"github.com/freight-portal/freight/server"
)

// BenchmarkGrant measures issuing one download URL end to end in the
// handler: authenticate the bearer token, load the artifact, evaluate the
// entitlement rule, count usage, record the grant, and sign the token, on
// SQLite. Rate limits are off: the frozen test clock would drain the
// download bucket (BenchmarkRateLimit measures the limiter).
func BenchmarkGrant(b *testing.B) {
	blobs, err := fsblob.New(filepath.Join(b.TempDir(), "blobs"))
	if err != nil {
		b.Fatal(err)
	}
	s := newShopOn(b, newEnvWith(b, blobs, func(c *server.Config) { c.RateLimits = server.NoRateLimits() }), 6<<20+77)
	path := "/api/v1/artifacts/" + s.artifact.ID + "/download"
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", path, nil)
		req.Header.Set("Authorization", "Bearer "+s.acmeTok)
		w := httptest.NewRecorder()
		s.h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkRangedDownload measures one ranged request of 64 KiB on the
// download origin, as a segmented downloader makes them, on SQLite:
// verify the token, reserve the bytes, record the request, send the
// range, record how it ended and whether it completed the download. The
// ranges repeat, but the download completes once they add up to the
// file's size, after 97 requests, and the requests after it skip the
// check; sqlstore's BenchmarkRecordRange measures the records of a
// download that does not complete.
func BenchmarkRangedDownload(b *testing.B) {
	blobs, err := fsblob.New(filepath.Join(b.TempDir(), "blobs"))
	if err != nil {
		b.Fatal(err)
	}
	s := newShopOn(b, newEnvWith(b, blobs, func(c *server.Config) {
		c.RateLimits = server.NoRateLimits()
		c.BudgetFactor = 1 << 20
	}), 6<<20+77)
	g := s.grant(s.acmeTok)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("GET", g.URL, nil)
		req.Header.Set("Range", "bytes=65536-131071")
		w := httptest.NewRecorder()
		s.h.ServeHTTP(w, req)
		if w.Code != http.StatusPartialContent {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

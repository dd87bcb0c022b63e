package server_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkGrant measures issuing one download URL end to end in the
// handler: authenticate the bearer token, load the artifact, evaluate the
// entitlement rule, count usage, record the grant, and sign the token, on
// SQLite.
func BenchmarkGrant(b *testing.B) {
	s := newShop(b)
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

package server_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/internal/realip"
	"github.com/freight-portal/freight/server"
)

// TestTrustedProxies: behind a proxy the operator trusts, the client named
// in X-Forwarded-For is the caller: for the rate limits' buckets and in the
// audit. From anywhere else, and without trusted proxies, the header is
// ignored.
func TestTrustedProxies(t *testing.T) {
	proxies, err := realip.Parse("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	limits := withLimits(map[string]string{server.GroupAuth: "1/m burst 2", server.GroupAPI: "1/m burst 1000", server.GroupWrite: "1/m burst 1000"})
	call := func(e *env, method, path, token, peer, xff, body string) int {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.RemoteAddr = peer
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		e.checked.ServeHTTP(rec, req)
		return rec.Code
	}
	providers := func(e *env, peer, xff string) int {
		return call(e, "GET", "/api/v1/auth/providers", "", peer, xff, "")
	}

	e := newEnvWith(t, nil, limits, func(c *server.Config) { c.TrustedProxies = proxies })
	for i, c := range []struct {
		peer, xff string
		want      int
	}{
		// Two clients behind one proxy: a bucket each.
		{"10.0.0.2:1000", "203.0.113.5", 200}, {"10.0.0.2:1001", "203.0.113.5", 200}, {"10.0.0.3:1000", "203.0.113.5, 10.0.0.9", 429},
		{"10.0.0.2:1002", "203.0.113.6", 200},
		// A forged entry left of the client changes nothing.
		{"10.0.0.2:1003", "192.0.2.99, 203.0.113.6", 200}, {"10.0.0.2:1004", "198.51.100.77, 203.0.113.6", 429},
		// A caller that is not a trusted proxy is the client, whatever it
		// writes in the header.
		{"198.51.100.1:1000", "203.0.113.7", 200}, {"198.51.100.1:1001", "203.0.113.8", 200}, {"198.51.100.1:1002", "203.0.113.9", 429},
		{"10.0.0.2:1005", "203.0.113.7", 200},
	} {
		if got := providers(e, c.peer, c.xff); got != c.want {
			t.Errorf("request %d from %s with X-Forwarded-For %q: %d, want %d", i+1, c.peer, c.xff, got, c.want)
		}
	}

	// The audit names the client.
	if got := call(e, "POST", "/api/v1/products", e.token, "10.0.0.2:1006", "203.0.113.10", `{"slug":"viaproxy","name":"Via a proxy"}`); got != http.StatusCreated {
		t.Fatalf("creating a product through the proxy: %d", got)
	}
	events, _, err := e.store.AuditEvents(t.Context(), freight.AuditFilter{Action: "product.create"})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].IP != "203.0.113.10" {
		t.Errorf("audit of the product created through the proxy = %+v, want IP 203.0.113.10", events)
	}

	// Without trusted proxies, the proxy is the client of everyone behind it.
	plain := newEnvWith(t, nil, limits)
	for i, c := range []struct {
		xff  string
		want int
	}{{"203.0.113.5", 200}, {"203.0.113.6", 200}, {"203.0.113.7", 429}} {
		if got := providers(plain, "10.0.0.2:1000", c.xff); got != c.want {
			t.Errorf("without trusted proxies, request %d with X-Forwarded-For %q: %d, want %d", i+1, c.xff, got, c.want)
		}
	}
}

package server_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	fsblob "github.com/freight-portal/freight/blob/fs"
	"github.com/freight-portal/freight/server"
)

type edgeAnswer struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Region     string `json:"region"`
	PublicURL  string `json:"public_url"`
	Healthy    bool   `json:"healthy"`
	Credential string `json:"credential"`
	HitRatio   float64
	Stats      struct {
		BytesServed     int64 `json:"bytes_served"`
		BytesFromOrigin int64 `json:"bytes_from_origin"`
		Hits            int64 `json:"hits"`
		Misses          int64 `json:"misses"`
		FillsInProgress int64 `json:"fills_in_progress"`
	} `json:"stats"`
}

// TestEdgeDelivery hands out URLs on a healthy edge of the right region
// and falls back to the origin when no edge is healthy.
func TestEdgeDelivery(t *testing.T) {
	blobs, err := fsblob.New(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, blobs, func(c *server.Config) {
		c.DeliveryMode = server.DeliveryEdge
		c.EdgeRegions = []string{"us-east"}
	})
	s := newShopOn(t, e, 1<<20)

	var eu, us edgeAnswer
	e.must(http.StatusCreated, "POST", "/api/v1/edges", e.token, map[string]any{"name": "fra-1"}).decode(t, &eu)
	e.must(http.StatusCreated, "POST", "/api/v1/edges", e.token, map[string]any{"name": "nyc-1"}).decode(t, &us)
	if !strings.HasPrefix(eu.Credential, "fre_") || eu.Healthy {
		t.Fatalf("created edge: %+v", eu)
	}
	// Only admins manage edges; customers do not see them.
	wantError(t, e.do("POST", "/api/v1/edges", s.acmeTok, map[string]any{"name": "x"}), http.StatusForbidden, "forbidden", "")
	wantError(t, e.do("GET", "/api/v1/edges", s.acmeTok, nil), http.StatusForbidden, "forbidden", "")
	// An edge credential opens only the edge API; an API token not that.
	wantError(t, e.do("GET", "/api/v1/me", eu.Credential, nil), http.StatusUnauthorized, "unauthorized", "")
	wantError(t, e.do("POST", "/api/v1/edge/heartbeat", e.token, map[string]any{"public_url": "https://x.example"}), http.StatusUnauthorized, "unauthorized", "")

	download := func(query string) (url, via string) {
		var g struct {
			URL string `json:"url"`
			Via string `json:"via"`
		}
		e.must(http.StatusOK, "POST", "/api/v1/artifacts/"+s.artifact.ID+"/download"+query, s.acmeTok, nil).decode(t, &g)
		return g.URL, g.Via
	}
	if u, via := download(""); via != "origin" || !strings.HasPrefix(u, e.url+"/d/") {
		t.Errorf("no edge has reported: %s via %s, want the origin", u, via)
	}

	beat := func(a edgeAnswer, region, url string) {
		e.must(http.StatusOK, "POST", "/api/v1/edge/heartbeat", a.Credential, map[string]any{
			"region": region, "public_url": url,
			"stats": map[string]any{"bytes_served": 3000, "bytes_from_origin": 1000, "hits": 3, "misses": 1, "fills_in_progress": 1},
		})
	}
	beat(eu, "eu-west", "https://fra.edge.example")
	beat(us, "us-east", "https://nyc.edge.example/")
	if u, via := download(""); via != "edge" || !strings.HasPrefix(u, "https://nyc.edge.example/d/") {
		t.Errorf("configured order: %s via %s, want nyc", u, via)
	}
	if u, _ := download("?region=eu-west"); !strings.HasPrefix(u, "https://fra.edge.example/d/") {
		t.Errorf("preferred region: %s, want fra", u)
	}
	wantError(t, e.do("POST", "/api/v1/artifacts/"+s.artifact.ID+"/download?region=EU!", s.acmeTok, nil), http.StatusBadRequest, "invalid", "region")
	// The organization's region comes first.
	e.must(http.StatusOK, "PATCH", "/api/v1/organizations/"+s.acme.ID, e.token, map[string]any{"region": "eu-west"})
	if u, _ := download("?region=us-east"); !strings.HasPrefix(u, "https://fra.edge.example/d/") {
		t.Errorf("organization's region: %s, want fra", u)
	}

	// The admin API shows the figures.
	var list struct{ Items []edgeAnswer }
	e.must(http.StatusOK, "GET", "/api/v1/edges", e.token, nil).decode(t, &list)
	if len(list.Items) != 2 || !list.Items[0].Healthy || list.Items[0].Stats.BytesFromOrigin != 1000 || list.Items[0].Stats.FillsInProgress != 1 {
		t.Errorf("edges: %+v", list.Items)
	}
	var one map[string]any
	e.must(http.StatusOK, "GET", "/api/v1/edges/"+eu.ID, e.token, nil).decode(t, &one)
	if one["hit_ratio"] != 0.75 || one["credential"] != nil {
		t.Errorf("edge: hit_ratio %v, credential %v", one["hit_ratio"], one["credential"])
	}

	// Edges whose heartbeats stopped get nothing: the origin serves.
	e.clock.Add(2 * server.DefaultEdgeHealthTimeout)
	if u, via := download(""); via != "origin" || !strings.HasPrefix(u, e.url+"/d/") {
		t.Errorf("no healthy edge: %s via %s, want the origin", u, via)
	}
	beat(eu, "eu-west", "https://fra.edge.example")
	e.must(http.StatusOK, "PATCH", "/api/v1/organizations/"+s.acme.ID, e.token, map[string]any{"region": ""})
	if u, via := download(""); via != "origin" {
		t.Errorf("only an edge of another region is healthy: %s via %s, want the origin", u, via)
	}

	// Deleting an edge revokes its credential.
	e.must(http.StatusNoContent, "DELETE", "/api/v1/edges/"+eu.ID, e.token, nil)
	wantError(t, e.do("POST", "/api/v1/edge/heartbeat", eu.Credential, map[string]any{"public_url": "https://fra.edge.example"}), http.StatusUnauthorized, "unauthorized", "")
}

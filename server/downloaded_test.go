package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	fsblob "github.com/freight-portal/freight/blob/fs"
	"github.com/freight-portal/freight/server"
	"github.com/freight-portal/freight/webhook"
)

// downloadedData is the data of an artifact.downloaded event.
type downloadedData struct {
	GrantID      string `json:"grant_id"`
	OrgID        string `json:"org_id"`
	Organization struct {
		ID, Slug, Name string
	} `json:"organization"`
	Actor       string           `json:"actor"`
	Via         string           `json:"via"`
	CompletedAt time.Time        `json:"completed_at"`
	Artifact    freight.Artifact `json:"artifact"`
	Release     struct {
		ID, Version string
	} `json:"release"`
	Product struct {
		ID, Slug string
	} `json:"product"`
}

// downloaded runs the due jobs and returns the artifact.downloaded events
// rc received, in order.
func downloaded(t *testing.T, e *env, rc *receiver) []downloadedData {
	t.Helper()
	e.srv.Wait()
	var out []downloadedData
	for _, d := range rc.all() {
		if d.header.Get(webhook.HeaderEventType) != freight.EventArtifactDownloaded {
			continue
		}
		var ev struct{ Data downloadedData }
		if err := json.Unmarshal(d.body, &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev.Data)
	}
	return out
}

// finished waits until the origin has recorded how n requests of the
// grant ended: it records a request after its last byte went out, so a
// client can have the whole answer before the record exists.
func finished(t *testing.T, e *env, grantID string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ds, _, err := e.store.Downloads(t.Context(), freight.DownloadFilter{GrantID: grantID, Page: freight.Page{Limit: 100}})
		if err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, d := range ds {
			if d.FinishedAt != nil {
				done++
			}
		}
		if done == n {
			return
		}
		if done > n || time.Now().After(deadline) {
			t.Fatalf("grant %s: %d requests recorded as finished, want %d", grantID, done, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDownloadedEvent: artifact.downloaded tells that a download
// completed, once per download (one signed URL), however many requests it
// took, when the request that completes it is recorded: served by the
// origin, or reported by an edge. Handing out the URL, a HEAD, a request
// that breaks off and half of a segmented download send nothing.
func TestDownloadedEvent(t *testing.T) {
	onBackends(t, func(t *testing.T, dbURL string) {
		s := newShopOn(t, hookEnv(t, dbURL), 16<<20)
		vendorRC, acmeRC := newReceiver(t), newReceiver(t)
		s.mustHook("/api/v1/webhooks", s.token, vendorRC.URL, freight.EventArtifactDownloaded)
		s.mustHook("/api/v1/organizations/acme/webhooks", s.acmeAdminTok, acmeRC.URL, freight.EventArtifactDownloaded)
		size := len(s.content)

		g := s.grant(s.acmeTok)
		if r := s.fetch("HEAD", g.URL); r.status != http.StatusOK {
			t.Fatalf("HEAD: status %d", r.status)
		}
		if got := downloaded(t, s.env, vendorRC); len(got) != 0 {
			t.Fatalf("a URL handed out and a HEAD sent %d events, want none", len(got))
		}
		if r := s.fetch("GET", g.URL); r.status != http.StatusOK || len(r.body) != size {
			t.Fatalf("GET: status %d, %d bytes", r.status, len(r.body))
		}
		finished(t, s.env, g.ID, 1)
		got := downloaded(t, s.env, vendorRC)
		if len(got) != 1 {
			t.Fatalf("a whole download sent %d events, want 1", len(got))
		}
		ev := got[0]
		if ev.GrantID != g.ID || ev.OrgID != s.acme.ID || ev.Organization.Slug != "acme" || ev.Organization.Name != "Acme" ||
			ev.Via != "origin" || ev.Artifact.ID != s.artifact.ID || ev.Release.Version != "1.0.0" || ev.Product.Slug != "cad" ||
			!ev.CompletedAt.Equal(s.clock.Now().UTC().Truncate(time.Microsecond)) || ev.Actor == "" {
			t.Errorf("event data = %+v", ev)
		}
		if a := downloaded(t, s.env, acmeRC); len(a) != 1 || a[0].GrantID != g.ID {
			t.Errorf("acme's webhook got %+v, want the same event", a)
		}
		// The same URL again is the same download.
		s.fetch("GET", g.URL)
		s.fetch("GET", g.URL, "Range", "bytes=0-99")
		finished(t, s.env, g.ID, 3)
		if got := downloaded(t, s.env, vendorRC); len(got) != 1 {
			t.Errorf("after more requests on a completed URL: %d events, want still 1", len(got))
		}

		// A segmented download: half of it sends nothing; the other
		// half, in parallel segments, sends one event.
		seg := s.grant(s.acmeTok)
		const segments = 8
		part := size / segments
		get := func(k int) {
			to := (k+1)*part - 1
			if k == segments-1 {
				to = size - 1
			}
			if r := s.fetch("GET", seg.URL, "Range", fmt.Sprintf("bytes=%d-%d", k*part, to)); r.status != http.StatusPartialContent {
				t.Errorf("segment %d: status %d", k, r.status)
			}
		}
		for k := range segments / 2 {
			get(k)
		}
		finished(t, s.env, seg.ID, segments/2)
		if got := downloaded(t, s.env, vendorRC); len(got) != 1 {
			t.Fatalf("half a segmented download: %d events in all, want still 1", len(got))
		}
		var wg sync.WaitGroup
		for k := segments / 2; k < segments; k++ {
			wg.Go(func() { get(k) })
		}
		wg.Wait()
		finished(t, s.env, seg.ID, segments)
		got = downloaded(t, s.env, vendorRC)
		if len(got) != 2 || got[1].GrantID != seg.ID {
			t.Fatalf("a segmented download: %d events in all, want 2, the second of its URL", len(got))
		}

		// A request that breaks off leaves the download incomplete.
		cut := s.grant(s.acmeTok)
		req, _ := http.NewRequest("GET", cut.URL, nil)
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1000)
		resp.Body.Read(buf)
		resp.Body.Close()
		finished(t, s.env, cut.ID, 1)
		if got := downloaded(t, s.env, vendorRC); len(got) != 2 {
			t.Errorf("a download that broke off: %d events in all, want still 2", len(got))
		}

		// An edge's reports: its first half, then the rest, then the
		// same batch again.
		var edge struct {
			Credential string `json:"credential"`
		}
		s.must(http.StatusCreated, "POST", "/api/v1/edges", s.token, map[string]any{"name": "fra-1"}).decode(t, &edge)
		eg := s.grant(s.acmeTok)
		report := func(rng string, bytes int64) map[string]any {
			now := s.clock.Now()
			return map[string]any{"downloads": []*freight.Download{{ID: freight.NewID(freight.PrefixDownload, now), GrantID: eg.ID,
				IP: "192.0.2.1", Range: rng, Bytes: bytes, Completed: true, StartedAt: now, FinishedAt: &now}}}
		}
		s.must(http.StatusOK, "POST", "/api/v1/edge/events", edge.Credential, report(fmt.Sprintf("bytes=0-%d", size/2-1), int64(size/2)))
		if got := downloaded(t, s.env, vendorRC); len(got) != 2 {
			t.Fatalf("half a download reported by an edge: %d events in all, want still 2", len(got))
		}
		rest := report(fmt.Sprintf("bytes=%d-", size/2), int64(size-size/2))
		s.must(http.StatusOK, "POST", "/api/v1/edge/events", edge.Credential, rest)
		s.must(http.StatusOK, "POST", "/api/v1/edge/events", edge.Credential, rest)
		got = downloaded(t, s.env, vendorRC)
		if len(got) != 3 || got[2].GrantID != eg.ID || got[2].Via != "fra-1" {
			t.Fatalf("a download reported by an edge: %+v, want a third event of its URL via fra-1", got)
		}
		if a := downloaded(t, s.env, acmeRC); len(a) != 3 {
			t.Errorf("acme's webhook got %d events, want 3", len(a))
		}

		// The figures count the same completions.
		var f struct {
			Total struct{ Downloads, Completed int64 }
		}
		s.must(http.StatusOK, "GET", "/api/v1/analytics/downloads?org=acme", s.token, nil).decode(t, &f)
		if f.Total.Downloads != 4 || f.Total.Completed != 3 {
			t.Errorf("figures: %d downloads, %d completed; want 4 and 3, as the events say", f.Total.Downloads, f.Total.Completed)
		}
	})
}

// TestDownloadedEventRedirect: in the redirect modes the portal sees the
// redirects, not the bytes: a download completes when its redirects asked
// for the whole file, as the figures count it.
func TestDownloadedEventRedirect(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := fsblob.New(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, blobs, func(c *server.Config) {
		c.Webhooks.Policy = webhook.Policy{AllowHTTP: true, AllowPrivate: true}
		c.DeliveryMode = server.DeliveryCloudFront
		c.CloudFront = server.CloudFront{Domain: "d111111abcdef8.cloudfront.net", KeyID: "K2JCJMDEHXQW5F", Signer: key}
	})
	s := newShopOn(t, e, 10000)
	rc := newReceiver(t)
	s.mustHook("/api/v1/webhooks", s.token, rc.URL, freight.EventArtifactDownloaded)
	g := s.grant(s.acmeTok)
	nf := noFollow(s.env)
	if r := fetchWith(t, nf, "GET", g.URL, "Range", "bytes=0-4999"); r.status != http.StatusSeeOther {
		t.Fatalf("status %d, want 303", r.status)
	}
	if got := downloaded(t, s.env, rc); len(got) != 0 {
		t.Fatalf("half the file redirected: %d events, want none", len(got))
	}
	fetchWith(t, nf, "GET", g.URL, "Range", "bytes=5000-")
	if got := downloaded(t, s.env, rc); len(got) != 1 || got[0].Via != "cloudfront" || got[0].GrantID != g.ID {
		t.Errorf("the whole file redirected: %+v, want one event via cloudfront", got)
	}
}

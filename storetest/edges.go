package storetest

import (
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

var edgeTests = []subtest{
	{"CreateGet", testEdgeCreateGet},
	{"Invalid", testEdgeInvalid},
	{"DuplicateName", testEdgeDuplicateName},
	{"Heartbeat", testEdgeHeartbeat},
	{"ListDelete", testEdgeListDelete},
	{"RegionAndPrefetchSettings", testEdgeSettings},
	{"PrefetchReconcile", testPrefetchReconcile},
	{"PrefetchScope", testPrefetchScope},
	{"PrefetchDone", testPrefetchDone},
	{"PrefetchEvicted", testPrefetchEvicted},
	{"PrefetchInTx", testPrefetchInTx},
	{"PrefetchSerialized", testPrefetchSerialized},
}

// MustCreateEdge creates an edge with a fresh credential hash or fails the
// test.
func MustCreateEdge(t testing.TB, s freight.Store, name, region string) *freight.Edge {
	t.Helper()
	_, _, hash := freight.NewEdgeSecret(time.Now())
	e := &freight.Edge{Name: name, Region: region, SecretHash: hash}
	if err := s.CreateEdge(t.Context(), e); err != nil {
		t.Fatalf("CreateEdge(%q): %v", name, err)
	}
	return e
}

func testEdgeCreateGet(t *testing.T, s freight.Store) {
	e := MustCreateEdge(t, s, "Frankfurt 1", "eu-central")
	checkCreated(t, "CreateEdge", freight.PrefixEdge, e.ID, e.CreatedAt, nil)
	got, err := s.Edge(t.Context(), e.ID)
	noErr(t, "Edge", err)
	checkSame(t, "Edge", got, e)
	if len(got.SecretHash) != 32 || string(got.SecretHash) != string(e.SecretHash) {
		t.Errorf("SecretHash did not round-trip")
	}
	if got.LastSeenAt != nil {
		t.Errorf("LastSeenAt of a new edge = %v, want nil", got.LastSeenAt)
	}
	_, err = s.Edge(t.Context(), missingID(freight.PrefixEdge))
	wantCode(t, "Edge(missing)", err, freight.ENOTFOUND)
}

func testEdgeInvalid(t *testing.T, s freight.Store) {
	_, _, hash := freight.NewEdgeSecret(time.Now())
	for name, e := range map[string]*freight.Edge{
		"no name":       {SecretHash: hash},
		"bad region":    {Name: "x", Region: "EU West", SecretHash: hash},
		"bad url":       {Name: "x", PublicURL: "ftp://edge", SecretHash: hash},
		"no hash":       {Name: "x"},
		"negative stat": {Name: "x", SecretHash: hash, Stats: freight.EdgeStats{Hits: -1}},
	} {
		wantCode(t, "CreateEdge("+name+")", s.CreateEdge(t.Context(), e), freight.EINVALID)
	}
}

func testEdgeDuplicateName(t *testing.T, s freight.Store) {
	MustCreateEdge(t, s, "lan", "")
	_, _, hash := freight.NewEdgeSecret(time.Now())
	err := s.CreateEdge(t.Context(), &freight.Edge{Name: "lan", SecretHash: hash})
	wantCode(t, "CreateEdge(same name)", err, freight.ECONFLICT)
}

func testEdgeHeartbeat(t *testing.T, s freight.Store) {
	e := MustCreateEdge(t, s, "edge", "")
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
	stats := freight.EdgeStats{BytesServed: 5 << 40, BytesFromOrigin: 1 << 33, Hits: 10, Misses: 2, FillsInProgress: 1,
		CacheBytes: 1 << 35, CacheBlobs: 3, CacheLimit: 1 << 40}
	_, _, other := freight.NewEdgeSecret(time.Now())
	got, err := s.UpdateEdge(t.Context(), e.ID, func(e *freight.Edge) error {
		e.Region, e.PublicURL, e.LastSeenAt, e.Stats = "us-east", "https://edge.example.com:8443", &at, stats
		e.SecretHash = other // not changeable
		return nil
	})
	noErr(t, "UpdateEdge", err)
	again, err := s.Edge(t.Context(), e.ID)
	noErr(t, "Edge", err)
	checkSame(t, "Edge after UpdateEdge", again, got)
	if again.Stats != stats || again.Region != "us-east" || again.PublicURL != "https://edge.example.com:8443" {
		t.Errorf("after heartbeat: %+v", again)
	}
	if again.LastSeenAt == nil || !again.LastSeenAt.Equal(at) {
		t.Errorf("LastSeenAt = %v, want %v", again.LastSeenAt, at)
	}
	if string(again.SecretHash) != string(e.SecretHash) {
		t.Errorf("UpdateEdge changed the secret hash")
	}
	_, err = s.UpdateEdge(t.Context(), e.ID, func(e *freight.Edge) error { e.PublicURL = "not a url"; return nil })
	wantCode(t, "UpdateEdge(bad url)", err, freight.EINVALID)
	_, err = s.UpdateEdge(t.Context(), missingID(freight.PrefixEdge), func(*freight.Edge) error { return nil })
	wantCode(t, "UpdateEdge(missing)", err, freight.ENOTFOUND)
}

func testEdgeListDelete(t *testing.T, s freight.Store) {
	var ids []string
	for _, n := range []string{"a", "b", "c"} {
		ids = append(ids, MustCreateEdge(t, s, n, "").ID)
		settle()
	}
	page, next, err := s.Edges(t.Context(), freight.EdgeFilter{Page: freight.Page{Limit: 2}})
	noErr(t, "Edges", err)
	if len(page) != 2 || next == "" || page[0].ID != ids[0] {
		t.Fatalf("first page: %d edges, next %q", len(page), next)
	}
	rest, next, err := s.Edges(t.Context(), freight.EdgeFilter{Page: freight.Page{After: next}})
	noErr(t, "Edges", err)
	if len(rest) != 1 || next != "" || rest[0].ID != ids[2] {
		t.Fatalf("second page: %d edges, next %q", len(rest), next)
	}
	noErr(t, "DeleteEdge", s.DeleteEdge(t.Context(), ids[1]))
	_, err = s.Edge(t.Context(), ids[1])
	wantCode(t, "Edge(deleted)", err, freight.ENOTFOUND)
	wantCode(t, "DeleteEdge(again)", s.DeleteEdge(t.Context(), ids[1]), freight.ENOTFOUND)
}

func testEdgeSettings(t *testing.T, s freight.Store) {
	o := newOrg("factory")
	o.Region = "eu-west"
	MustCreateOrganization(t, s, o)
	got, err := s.Organization(t.Context(), o.ID)
	noErr(t, "Organization", err)
	if got.Region != "eu-west" {
		t.Errorf("Region = %q, want eu-west", got.Region)
	}
	got, err = s.UpdateOrganization(t.Context(), o.ID, func(o *freight.Organization) error { o.Region = ""; return nil })
	noErr(t, "UpdateOrganization", err)
	if got.Region != "" {
		t.Errorf("Region after clearing = %q", got.Region)
	}
	p := newProduct("big")
	p.PrefetchEdges = true
	MustCreateProduct(t, s, p)
	gp, err := s.Product(t.Context(), p.ID)
	noErr(t, "Product", err)
	if !gp.PrefetchEdges {
		t.Errorf("PrefetchEdges did not round-trip")
	}
}

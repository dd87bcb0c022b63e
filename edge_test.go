package freight_test

import (
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

func TestEdgeSecret(t *testing.T) {
	id, secret, hash := freight.NewEdgeSecret(time.Now())
	gotID, gotHash, ok := freight.ParseEdgeSecret(secret)
	if !ok || gotID != id || !freight.MatchSecretHash(gotHash, hash) {
		t.Fatalf("ParseEdgeSecret(NewEdgeSecret) = %q, %x, %v", gotID, gotHash, ok)
	}
	_, tokSecret, _ := freight.NewTokenSecret(time.Now())
	for name, s := range map[string]string{
		"API token":    tokSecret,
		"empty":        "",
		"newline":      secret[:len(secret)-1] + "\n",
		"short":        secret[:len(secret)-1],
		"long":         secret + "A",
		"wrong prefix": "frt_" + strings.TrimPrefix(secret, "fre_"),
	} {
		if _, _, ok := freight.ParseEdgeSecret(s); ok {
			t.Errorf("%s: ParseEdgeSecret(%q) accepted it", name, s)
		}
	}
}

func FuzzParseEdgeSecret(f *testing.F) {
	_, secret, _ := freight.NewEdgeSecret(time.Now())
	f.Add(secret)
	f.Add("fre_")
	f.Add("fre_edg_00000000000000000000000000_" + strings.Repeat("A", 43))
	f.Fuzz(func(t *testing.T, s string) {
		id, hash, ok := freight.ParseEdgeSecret(s)
		if !ok {
			return
		}
		if !freight.ValidID(freight.PrefixEdge, id) || len(hash) != 32 || !strings.HasPrefix(s, "fre_"+id+"_") {
			t.Fatalf("ParseEdgeSecret(%q) = %q, %d-byte hash", s, id, len(hash))
		}
	})
}

func TestEdgeHealthyAndRatio(t *testing.T) {
	now := time.Now()
	seen := now.Add(-time.Minute)
	e := freight.Edge{LastSeenAt: &seen, PublicURL: "https://e.example"}
	if !e.Healthy(now, 90*time.Second) || e.Healthy(now, 30*time.Second) {
		t.Errorf("Healthy wrong around the timeout")
	}
	e.PublicURL = ""
	if e.Healthy(now, time.Hour) {
		t.Errorf("an edge without a public URL is healthy")
	}
	if r := (freight.EdgeStats{Hits: 3, Misses: 1}).HitRatio(); r != 0.75 {
		t.Errorf("HitRatio = %v", r)
	}
	if r := (freight.EdgeStats{}).HitRatio(); r != 0 {
		t.Errorf("HitRatio of nothing = %v", r)
	}
}

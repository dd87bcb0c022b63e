package freight_test

import (
	"encoding/json"
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

func TestEdgeHeartbeatValidate(t *testing.T) {
	d := strings.Repeat("ab", 32)
	many := make([]string, freight.MaxEdgeCached)
	for i := range many {
		many[i] = d
	}
	for _, tc := range []struct {
		name  string
		hb    freight.EdgeHeartbeat
		field string // "" when valid
	}{
		{"Minimal", freight.EdgeHeartbeat{PublicURL: "https://e.example"}, ""},
		{"Cached", freight.EdgeHeartbeat{PublicURL: "https://e.example", Region: "eu-west", Cached: []string{d, d}}, ""},
		{"CachedAtTheLimit", freight.EdgeHeartbeat{PublicURL: "https://e.example", Cached: many}, ""},
		{"CachedOverTheLimit", freight.EdgeHeartbeat{PublicURL: "https://e.example", Cached: append(many, d)}, "cached"},
		{"CachedUpperCase", freight.EdgeHeartbeat{PublicURL: "https://e.example", Cached: []string{strings.ToUpper(d)}}, "cached"},
		{"CachedShort", freight.EdgeHeartbeat{PublicURL: "https://e.example", Cached: []string{d[1:]}}, "cached"},
		{"CachedEmpty", freight.EdgeHeartbeat{PublicURL: "https://e.example", Cached: []string{""}}, "cached"},
		{"CachedPath", freight.EdgeHeartbeat{PublicURL: "https://e.example", Cached: []string{"../" + d[3:]}}, "cached"},
		{"NoURL", freight.EdgeHeartbeat{}, "public_url"},
		{"BadRegion", freight.EdgeHeartbeat{PublicURL: "https://e.example", Region: "EU"}, "region"},
		{"NegativeStats", freight.EdgeHeartbeat{PublicURL: "https://e.example", Stats: freight.EdgeStats{Misses: -1}}, "stats"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.hb.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if freight.ErrorCode(err) != freight.EINVALID || freight.ErrorField(err) != tc.field {
				t.Fatalf("Validate() = %v, want EINVALID on %q", err, tc.field)
			}
		})
	}
}

// FuzzEdgeHeartbeat decodes and validates heartbeats of any shape: what
// passes names at most MaxEdgeCached well-formed digests.
func FuzzEdgeHeartbeat(f *testing.F) {
	d := strings.Repeat("0f", 32)
	f.Add(`{"public_url":"https://e.example","cached":["` + d + `"]}`)
	f.Add(`{"public_url":"https://e.example","cached":["` + strings.ToUpper(d) + `"]}`)
	f.Add(`{"public_url":"https://e.example","cached":[""]}`)
	f.Add(`{"public_url":"https://e.example","region":"x","stats":{"hits":-1}}`)
	f.Fuzz(func(t *testing.T, body string) {
		var hb freight.EdgeHeartbeat
		if json.Unmarshal([]byte(body), &hb) != nil || hb.Validate() != nil {
			return
		}
		if len(hb.Cached) > freight.MaxEdgeCached {
			t.Fatalf("%d digests passed", len(hb.Cached))
		}
		for _, c := range hb.Cached {
			if !freight.ValidDigest(c) {
				t.Fatalf("digest %q passed", c)
			}
		}
	})
}

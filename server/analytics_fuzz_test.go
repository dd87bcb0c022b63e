package server_test

import (
	"encoding/csv"
	"strings"
	"testing"

	"github.com/freight-portal/freight"
)

// FuzzAnalyticsQuery sends any query to the analytics API: bad input is a
// 400 that names the parameter, never a server error, and a CSV answer
// always parses.
func FuzzAnalyticsQuery(f *testing.F) {
	e := newEnv(f)
	for _, o := range []*freight.Organization{{Slug: "acme", Name: "=Acme"}} {
		if err := e.store.CreateOrganization(f.Context(), o); err != nil {
			f.Fatal(err)
		}
	}
	for _, q := range []string{
		"", "group=release&limit=3", "group=organization&org=acme&format=csv", "group=artifact&product=cad",
		"from=2025-02-27&to=2025-03-01", "from=0001-01-01&to=9999-12-31", "from=2025-13-01", "to=2025-03-01&from=2025-03-02",
		"group=day&format=csv&from=2024-02-29", "org=org_00000000000000000000000000", "limit=%00", "format=xml", "group=",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, query string) {
		target := "/api/v1/analytics/downloads?" + query
		rec := e.serve("GET", target, "")
		if rec == nil {
			return
		}
		if strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv") {
			if rec.Code != 200 {
				t.Fatalf("%s: CSV with status %d", target, rec.Code)
			}
			if _, err := csv.NewReader(rec.Body).ReadAll(); err != nil {
				t.Fatalf("%s: the CSV does not parse: %v", target, err)
			}
			return
		}
		checkAnswer(t, "GET", target, "", rec)
	})
}

package sqlstore

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/storetest"
)

// TestMigrateGrantTotals upgrades a database whose grants have downloads
// from before the grants kept their totals: the migration adds up what
// each grant's downloads hold, and CompleteGrant then decides as it did
// by counting them.
func TestMigrateGrantTotals(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		ctx := t.Context()
		db := MustOpen(t, url)
		if err := db.migrate(ctx, 17); err != nil {
			t.Fatal(err)
		}
		p := storetest.MustCreateProduct(t, db, &freight.Product{Slug: "mill", Name: "Mill"})
		r := storetest.MustCreateRelease(t, db, &freight.Release{ProductID: p.ID, Version: "1.0.0", Channel: freight.ChannelStable})
		a := storetest.MustCreateArtifact(t, db, &freight.Artifact{ReleaseID: r.ID, Filename: "mill.zip", Platform: "linux", Arch: "x86_64",
			Size: 100, SHA256: strings.Repeat("ab", 32), State: freight.ArtifactAvailable})
		now := time.Now()
		grant := func(size int64) *freight.Grant {
			return storetest.MustCreateGrant(t, db, &freight.Grant{ArtifactID: a.ID, Actor: "usr_test", Digest: a.SHA256, Size: size,
				Filename: a.Filename, StartBy: now.Add(time.Hour), ResumeUntil: now.Add(24 * time.Hour), ByteBudget: 2 * size})
		}
		// The store of this version writes totals: the old downloads go in
		// by hand.
		download := func(g *freight.Grant, rng string, bytes int64, completed bool) {
			t.Helper()
			_, err := db.exec(ctx, `INSERT INTO downloads (id, grant_id, artifact_id, product_id, actor, via, range_header, bytes, completed, started_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, db.newID(freight.PrefixDownload, now), g.ID, g.ArtifactID, g.ProductID, g.Actor,
				"origin", rng, bytes, completed, now)
			if err != nil {
				t.Fatal(err)
			}
		}
		halves, half, whole, broken, none, huge := grant(100), grant(100), grant(100), grant(1000), grant(0), grant(100)
		download(halves, "bytes=0-49", 50, true)
		download(halves, "bytes=50-", 50, true)
		download(half, "bytes=0-49", 50, true)
		download(whole, "", 100, true)
		download(whole, "", 30, false)
		download(broken, "", 30, false)
		download(huge, "bytes=0-", math.MaxInt64, false)
		download(huge, "bytes=0-", math.MaxInt64, false)

		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		for _, tc := range []struct {
			name                   string
			g                      *freight.Grant
			requests, bytes, whole int64
			complete               bool
		}{
			{"two halves", halves, 2, 100, 0, true},
			{"one half", half, 1, 50, 0, false},
			{"the whole file", whole, 2, 130, 1, true},
			{"broken off", broken, 1, 30, 0, false},
			{"no download", none, 0, 0, 0, false},
			{"more bytes than a total holds", huge, 2, math.MaxInt64, 0, true},
		} {
			var requests, bytes, whole int64
			err := db.queryRow(ctx, `SELECT requests, requests_bytes, requests_whole FROM grants WHERE id = ?`, tc.g.ID).Scan(&requests, &bytes, &whole)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := fmt.Sprint(requests, bytes, whole), fmt.Sprint(tc.requests, tc.bytes, tc.whole); got != want {
				t.Errorf("%s: requests, bytes, whole after the migration = %s, want %s", tc.name, got, want)
			}
			marked, err := db.CompleteGrant(ctx, tc.g.ID, now)
			if err != nil || marked != tc.complete {
				t.Errorf("%s: CompleteGrant = %v, %v; want %v", tc.name, marked, err, tc.complete)
			}
		}
		// A download recorded after the migration adds to the totals.
		storetest.MustCreateDownload(t, db, &freight.Download{GrantID: half.ID, Via: "origin", Range: "bytes=50-", Bytes: 50, Completed: true})
		if marked, err := db.CompleteGrant(ctx, half.ID, now); err != nil || !marked {
			t.Errorf("CompleteGrant after the other half = %v, %v; want true", marked, err)
		}
	})
}

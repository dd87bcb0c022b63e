package sqlstore_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/internal/testdb"
	"github.com/freight-portal/freight/sqlstore"
	"github.com/freight-portal/freight/storetest"
)

// BenchmarkRecordRange measures what the download origin writes for one
// ranged request of a download that does not complete: the request
// recorded as it starts, then, in one transaction, how it ended and
// whether it completed the grant. The grant has already served recorded
// requests: a URL that a segmented downloader has used for hours must
// not cost more per request than a new one.
func BenchmarkRecordRange(b *testing.B) {
	for _, backend := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", testdb.SQLite}, {"postgres", testdb.Postgres}} {
		for _, recorded := range []int{0, 1000, 10000, 100000} {
			b.Run(fmt.Sprintf("%s/recorded=%d", backend.name, recorded), func(b *testing.B) {
				benchmarkRecordRange(b, backend.url(b), recorded)
			})
		}
	}
}

func benchmarkRecordRange(b *testing.B, url string, recorded int) {
	ctx := b.Context()
	// The store's log would fill the benchmark's output.
	db, err := sqlstore.Open(ctx, url, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SealWith(testdb.SealKeys(b))
	if err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	// A file far larger than every range recorded together.
	const size, rangeBytes = 1 << 40, 64 << 10
	p := storetest.MustCreateProduct(b, db, &freight.Product{Slug: "mill", Name: "Mill"})
	r := storetest.MustCreateRelease(b, db, &freight.Release{ProductID: p.ID, Version: "1.0.0", Channel: freight.ChannelStable})
	a := storetest.MustCreateArtifact(b, db, &freight.Artifact{ReleaseID: r.ID, Filename: "mill.iso", Platform: "linux", Arch: "x86_64",
		Size: size, SHA256: strings.Repeat("ab", 32), State: freight.ArtifactAvailable})
	start := time.Now()
	g := storetest.MustCreateGrant(b, db, &freight.Grant{ArtifactID: a.ID, Actor: "usr_benchmark", Digest: a.SHA256, Size: size,
		Filename: a.Filename, StartBy: start.Add(time.Hour), ResumeUntil: start.Add(24 * time.Hour), ByteBudget: 2 * size})
	const batch = 1000
	for from := 0; from < recorded; from += batch {
		err := db.Tx(ctx, func(tx freight.Store) error {
			for i := from; i < min(from+batch, recorded); i++ {
				at := start.Add(time.Duration(i) * time.Millisecond)
				d := &freight.Download{GrantID: g.ID, Via: "origin", Range: "bytes=65536-131071", Bytes: rangeBytes,
					Completed: true, StartedAt: at, FinishedAt: &at}
				if err := tx.CreateDownload(ctx, d); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		d := &freight.Download{GrantID: g.ID, Via: "origin", Range: "bytes=65536-131071"}
		if err := db.CreateDownload(ctx, d); err != nil {
			b.Fatal(err)
		}
		err := db.Tx(ctx, func(tx freight.Store) error {
			if err := tx.FinishDownload(ctx, d.ID, rangeBytes, true, time.Time{}); err != nil {
				return err
			}
			done, err := tx.CompleteGrant(ctx, g.ID, time.Time{})
			if done {
				return fmt.Errorf("the grant completed")
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

package sqlstore

import (
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

// The errors of licenses name what is missing or what refuses a delete, on
// both backends: PostgreSQL names the violated constraint, SQLite does not
// and the store looks.
func TestLicenseErrors(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		db := MustMigrate(t, url)
		ctx := t.Context()
		o := &freight.Organization{Slug: "acme", Name: "Acme"}
		if err := db.CreateOrganization(ctx, o); err != nil {
			t.Fatal(err)
		}
		licensed := &freight.Product{Slug: "licensed", Name: "Licensed"}
		released := &freight.Product{Slug: "released", Name: "Released"}
		for _, p := range []*freight.Product{licensed, released} {
			if err := db.CreateProduct(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.CreateRelease(ctx, &freight.Release{ProductID: released.ID, Version: "1.0.0", Channel: freight.ChannelStable}); err != nil {
			t.Fatal(err)
		}
		newLicense := func(mod func(*freight.License)) *freight.License {
			l := &freight.License{OrgID: o.ID, ProductID: licensed.ID, NotBefore: time.Now(), KeyID: "k1", CreatedBy: "test", File: []byte{1}}
			mod(l)
			return l
		}
		if err := db.CreateLicense(ctx, newLicense(func(*freight.License) {})); err != nil {
			t.Fatal(err)
		}
		missing := func(prefix string) string { return freight.NewID(prefix, time.Now()) }

		for _, tc := range []struct {
			name    string
			err     error
			code    string
			message string
		}{
			{"organization missing", db.CreateLicense(ctx, newLicense(func(l *freight.License) { l.OrgID = missing(freight.PrefixOrganization) })),
				freight.ENOTFOUND, "organization not found"},
			{"product missing", db.CreateLicense(ctx, newLicense(func(l *freight.License) { l.ProductID = missing(freight.PrefixProduct) })),
				freight.ENOTFOUND, "product not found"},
			{"superseded license missing", db.CreateLicense(ctx, newLicense(func(l *freight.License) { l.SupersedesID = missing(freight.PrefixLicense) })),
				freight.ENOTFOUND, "license not found"},
			{"organization with licenses", db.DeleteOrganization(ctx, o.ID),
				freight.ECONFLICT, "the organization has licenses and cannot be deleted: licenses are kept as legal history"},
			{"product with licenses", db.DeleteProduct(ctx, licensed.ID),
				freight.ECONFLICT, "the product has licenses and cannot be deleted: licenses are kept as legal history"},
			{"product with releases", db.DeleteProduct(ctx, released.ID),
				freight.ECONFLICT, "the product has releases and cannot be deleted; delete its draft releases first"},
			{"immutable field", func() error {
				l, _, err := db.Licenses(ctx, freight.LicenseFilter{})
				if err != nil || len(l) != 1 {
					t.Fatalf("Licenses = %v, %v; want one license", l, err)
				}
				_, err = db.UpdateLicense(ctx, l[0].ID, func(c *freight.License) error { c.Seats = 9; return nil })
				return err
			}(), freight.EINVALID, "cannot change: an issued license is immutable but for its state; issue a new license that supersedes it"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if got := freight.ErrorCode(tc.err); got != tc.code {
					t.Errorf("code of %v = %q, want %q", tc.err, got, tc.code)
				}
				if got := freight.ErrorMessage(tc.err); got != tc.message {
					t.Errorf("message = %q, want %q", got, tc.message)
				}
			})
		}
	})
}

// Licenses created in one instant (a frozen clock, or replicas writing at
// once) list newest id first, and paging through them neither skips nor
// repeats one.
func TestLicensesSameCreatedTime(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		db := MustMigrate(t, url)
		ctx := t.Context()
		now := time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)
		db.Now = func() time.Time { return now }
		o := &freight.Organization{Slug: "acme", Name: "Acme"}
		if err := db.CreateOrganization(ctx, o); err != nil {
			t.Fatal(err)
		}
		p := &freight.Product{Slug: "widget", Name: "Widget"}
		if err := db.CreateProduct(ctx, p); err != nil {
			t.Fatal(err)
		}
		var want []string
		for range 7 {
			l := &freight.License{OrgID: o.ID, ProductID: p.ID, NotBefore: now, KeyID: "k1", CreatedBy: "test", File: []byte{1}}
			if err := db.CreateLicense(ctx, l); err != nil {
				t.Fatal(err)
			}
			if !l.CreatedAt.Equal(now) {
				t.Fatalf("CreatedAt = %v, want the frozen clock's %v", l.CreatedAt, now)
			}
			want = append([]string{l.ID}, want...)
		}
		for _, limit := range []int{1, 2, 3, 7} {
			var got []string
			after := ""
			for range 10 {
				page, next, err := db.Licenses(ctx, freight.LicenseFilter{Page: freight.Page{After: after, Limit: limit}, OrgID: o.ID})
				if err != nil {
					t.Fatalf("Licenses(After %q, Limit %d): %v", after, limit, err)
				}
				for _, l := range page {
					got = append(got, l.ID)
				}
				if next == "" {
					break
				}
				after = next
			}
			if len(got) != len(want) {
				t.Errorf("Limit %d: listed %q, want %q", limit, got, want)
				continue
			}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("Limit %d: listed %q, want %q", limit, got, want)
					break
				}
			}
		}
	})
}

package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/internal/testdb"
)

// backends runs fn once per backend: SQLite always, PostgreSQL when
// FREIGHT_TEST_POSTGRES names a server. fn gets the URL of a fresh database.
func backends(t *testing.T, fn func(t *testing.T, url string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, testdb.SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, testdb.Postgres(t)) })
}

// MustOpen opens url, closed when the test ends.
func MustOpen(tb testing.TB, url string) *DB {
	tb.Helper()
	db, err := Open(tb.Context(), url, slog.New(slog.NewTextHandler(tb.Output(), nil)))
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	db.SealWith(testdb.SealKeys(tb))
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return db
}

// MustMigrate opens and migrates url.
func MustMigrate(tb testing.TB, url string) *DB {
	tb.Helper()
	db := MustOpen(tb, url)
	if err := db.Migrate(tb.Context()); err != nil {
		tb.Fatalf("Migrate: %v", err)
	}
	return db
}

func appliedMigrations(tb testing.TB, db *DB) []string {
	tb.Helper()
	rows, err := db.sqlDB.QueryContext(tb.Context(), "SELECT version, name FROM schema_migrations ORDER BY version")
	if err != nil {
		tb.Fatalf("read schema_migrations: %v", err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var v int
		var name string
		if err := rows.Scan(&v, &name); err != nil {
			tb.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d %s", v, name))
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return got
}

func wantMigrations(tb testing.TB, dialect string) []string {
	tb.Helper()
	ms, err := migrations(dialect)
	if err != nil {
		tb.Fatal(err)
	}
	var want []string
	for _, m := range ms {
		want = append(want, fmt.Sprintf("%d %s", m.version, m.name))
	}
	return want
}

func TestMigrateIdempotent(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		db := MustOpen(t, url)
		for i := range 3 {
			if err := db.Migrate(t.Context()); err != nil {
				t.Fatalf("Migrate #%d: %v", i+1, err)
			}
		}
		if got, want := appliedMigrations(t, db), wantMigrations(t, db.Dialect()); !slices.Equal(got, want) {
			t.Errorf("schema_migrations = %q, want %q", got, want)
		}
		// The schema works after repeated migrations.
		if err := db.CreateOrganization(t.Context(), &freight.Organization{Slug: "acme", Name: "Acme"}); err != nil {
			t.Errorf("CreateOrganization after Migrate: %v", err)
		}
	})
}

// Replicas starting together migrate one database at once: each migration
// is applied once and none of them fails.
func TestMigrateConcurrent(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		const replicas = 4
		dbs := make([]*DB, replicas)
		for i := range dbs {
			dbs[i] = MustOpen(t, url)
		}
		var wg sync.WaitGroup
		errs := make([]error, replicas)
		for i, db := range dbs {
			wg.Go(func() { errs[i] = db.Migrate(t.Context()) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Migrate on replica %d: %v", i, err)
			}
		}
		if got, want := appliedMigrations(t, dbs[0]), wantMigrations(t, dbs[0].Dialect()); !slices.Equal(got, want) {
			t.Errorf("schema_migrations = %q, want %q", got, want)
		}
	})
}

// A binary older than the schema must not run on it.
func TestMigrateRefusesNewerSchema(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		db := MustMigrate(t, url)
		_, err := db.exec(t.Context(), `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`, 9999, "9999_future", db.now())
		if err != nil {
			t.Fatal(err)
		}
		err = db.Migrate(t.Context())
		if err == nil || !strings.Contains(err.Error(), "newer") {
			t.Errorf("Migrate on a newer schema = %v, want an error saying the schema is newer", err)
		}
	})
}

// The two dialects' migrations declare the same tables, constraints and
// indexes, and the same columns in the same order.
func TestMigrationsAgree(t *testing.T) {
	sq, err := migrations(dialectSQLite)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := migrations(dialectPostgres)
	if err != nil {
		t.Fatal(err)
	}
	if len(sq) != len(pg) {
		t.Fatalf("%d SQLite migrations, %d PostgreSQL migrations; want the same", len(sq), len(pg))
	}
	// Names of tables, constraints, indexes, and every column definition
	// reduced to its name; a column added by ALTER TABLE with its table
	// and the constraint it declares.
	shape := func(sql string) []string {
		var out []string
		re := regexp.MustCompile(`(?m)^(?:CREATE TABLE (\w+)|CREATE INDEX (\w+) ON (\w+) \(([^)]*)\)|\tCONSTRAINT (\w+) (.*?),?$|\t(\w+)\s|ALTER TABLE (\w+) ADD COLUMN (\w+)[^;]*?(?:CONSTRAINT (\w+) ([^;]*))?;$)`)
		for _, m := range re.FindAllStringSubmatch(sql, -1) {
			out = append(out, strings.Join(slices.DeleteFunc(m[1:], func(s string) bool { return s == "" }), " "))
		}
		return out
	}
	for i := range sq {
		if sq[i].name != pg[i].name {
			t.Errorf("migration %d is %s for SQLite, %s for PostgreSQL", i+1, sq[i].name, pg[i].name)
		}
		gotS, gotP := shape(sq[i].sql), shape(pg[i].sql)
		// A migration that creates tables has many lines of shape; one that
		// only adds a column has one per column.
		if len(gotS) == 0 || (len(gotS) < 10 && strings.Contains(sq[i].sql, "CREATE TABLE")) {
			t.Errorf("migration %s: shape has %d lines, the pattern no longer matches", sq[i].name, len(gotS))
		}
		if !slices.Equal(gotS, gotP) {
			for j := range max(len(gotS), len(gotP)) {
				var s, p string
				if j < len(gotS) {
					s = gotS[j]
				}
				if j < len(gotP) {
					p = gotP[j]
				}
				if s != p {
					t.Errorf("migration %s differs first at line %d of its shape:\n\tsqlite:   %s\n\tpostgres: %s", sq[i].name, j, s, p)
					break
				}
			}
		}
	}
	// No stray files that would never run.
	for _, dialect := range []string{dialectSQLite, dialectPostgres} {
		entries, err := fs.ReadDir(migrationFiles, "migrations/"+dialect)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".sql") {
				t.Errorf("migrations/%s/%s is not a .sql file", dialect, e.Name())
			}
		}
	}
}

func TestTimeFormat(t *testing.T) {
	ny := time.FixedZone("EST", -5*3600)
	for _, tc := range []struct {
		name string
		in   time.Time
		text string
	}{
		{"nanoseconds truncated", time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC), "2025-03-14T15:09:26.535897Z"},
		{"whole second", time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC), "2025-03-14T15:09:26.000000Z"},
		{"other zone", time.Date(2025, 3, 14, 10, 9, 26, 1000, ny), "2025-03-14T15:09:26.000001Z"},
		{"first year", time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), "0001-01-01T00:00:00.000000Z"},
		{"last year", time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), "9999-12-31T23:59:59.999999Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &store{db: &DB{dialect: dialectSQLite}}
			args, err := s.args([]any{tc.in, &tc.in, (*time.Time)(nil)})
			if err != nil {
				t.Fatal(err)
			}
			if got := args[0]; got != tc.text {
				t.Errorf("SQLite argument = %v, want %q", got, tc.text)
			}
			if got := args[1]; got != tc.text {
				t.Errorf("SQLite argument of a pointer = %v, want %q", got, tc.text)
			}
			if args[2] != nil {
				t.Errorf("SQLite argument of a nil pointer = %v, want nil", args[2])
			}
			want := tc.in.UTC().Truncate(time.Microsecond)
			for _, src := range []any{tc.text, []byte(tc.text), tc.in} {
				got, err := parseTime(src)
				if err != nil {
					t.Fatalf("parseTime(%T): %v", src, err)
				}
				// == rather than Equal: the location must be UTC too.
				if got != want {
					t.Errorf("parseTime(%T %v) = %v, want %v", src, src, got, want)
				}
			}
			pg := &store{db: &DB{dialect: dialectPostgres}}
			args, err = pg.args([]any{tc.in})
			if err != nil {
				t.Fatal(err)
			}
			if got := args[0]; got != want {
				t.Errorf("PostgreSQL argument = %v, want %v", got, want)
			}
		})
	}
	t.Run("text order is time order", func(t *testing.T) {
		s := &store{db: &DB{dialect: dialectSQLite}}
		times := []time.Time{
			time.Date(999, 1, 1, 0, 0, 0, 0, time.UTC),
			time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC),
			time.Date(2025, 3, 14, 15, 9, 26, 1000, time.UTC),
			time.Date(2025, 3, 14, 15, 9, 26, 100000, time.UTC),
			time.Date(2025, 3, 14, 15, 9, 27, 0, time.UTC),
			time.Date(2025, 3, 14, 23, 0, 0, 0, time.FixedZone("X", 9*3600)), // 14:00 UTC, earlier than all above but the first
		}
		args, err := s.args([]any{times[0], times[1], times[2], times[3], times[4], times[5]})
		if err != nil {
			t.Fatal(err)
		}
		for i := range times {
			for j := range times {
				a, b := args[i].(string), args[j].(string)
				if got, want := a < b, times[i].Before(times[j]); got != want {
					t.Errorf("%q < %q = %v, want %v", a, b, got, want)
				}
			}
		}
	})
	t.Run("out of range", func(t *testing.T) {
		s := &store{db: &DB{dialect: dialectSQLite}}
		_, err := s.args([]any{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
		if got, want := freight.ErrorCode(err), freight.EINVALID; got != want {
			t.Errorf("error code for the year 10000 = %q, want %q", got, want)
		}
	})
	t.Run("bad text", func(t *testing.T) {
		for _, src := range []any{"yesterday", int64(42), nil} {
			if _, err := parseTime(src); err == nil {
				t.Errorf("parseTime(%#v) = nil error, want one", src)
			}
		}
	})
}

// What a store writes is what it reads back, to the microsecond, in UTC,
// whatever the zone and precision of the clock and of the caller's times.
func TestTimeRoundTrip(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		db := MustMigrate(t, url)
		now := time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))
		db.Now = func() time.Time { return now }
		want := now.UTC().Truncate(time.Microsecond)
		ctx := t.Context()

		o := &freight.Organization{Slug: "acme", Name: "Acme"}
		if err := db.CreateOrganization(ctx, o); err != nil {
			t.Fatal(err)
		}
		if o.CreatedAt != want || o.UpdatedAt != want {
			t.Errorf("CreatedAt, UpdatedAt after create = %v, %v; want %v", o.CreatedAt, o.UpdatedAt, want)
		}
		got, err := db.Organization(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.CreatedAt != want || got.UpdatedAt != want {
			t.Errorf("CreatedAt, UpdatedAt read back = %v, %v; want %v", got.CreatedAt, got.UpdatedAt, want)
		}

		expires := time.Date(2030, 1, 2, 3, 4, 5, 999999999, time.FixedZone("PST", -8*3600))
		tok := &freight.Token{Name: "ci", Role: freight.RoleAdmin, ExpiresAt: &expires}
		if err := db.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		wantExpires := expires.UTC().Truncate(time.Microsecond)
		if *tok.ExpiresAt != wantExpires {
			t.Errorf("ExpiresAt after create = %v, want %v", *tok.ExpiresAt, wantExpires)
		}
		if expires.Nanosecond() != 999999999 {
			t.Errorf("CreateToken changed the caller's time to %v", expires)
		}
		gotTok, err := db.Token(ctx, tok.ID)
		if err != nil {
			t.Fatal(err)
		}
		if gotTok.ExpiresAt == nil || *gotTok.ExpiresAt != wantExpires {
			t.Errorf("ExpiresAt read back = %v, want %v", gotTok.ExpiresAt, wantExpires)
		}
		if gotTok.RevokedAt != nil || gotTok.LastUsedAt != nil {
			t.Errorf("RevokedAt, LastUsedAt read back = %v, %v; want nil, nil", gotTok.RevokedAt, gotTok.LastUsedAt)
		}
	})
}

// Parallel writers on one row are serialized, never fail with "database is
// locked" and lose nothing: 20 goroutines append their letter 10 times each
// to one product's description (an organization's name is too short to hold
// the 200 letters).
func TestConcurrentUpdates(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		db := MustMigrate(t, url)
		ctx := t.Context()
		p := &freight.Product{Slug: "widget", Name: "Widget"}
		if err := db.CreateProduct(ctx, p); err != nil {
			t.Fatal(err)
		}
		const goroutines, updates = 20, 10
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range goroutines {
			letter := string(rune('a' + g))
			wg.Go(func() {
				<-start
				for range updates {
					_, err := db.UpdateProduct(ctx, p.ID, func(p *freight.Product) error {
						p.Description += letter
						return nil
					})
					if err != nil {
						t.Errorf("UpdateProduct: %v (code %q)", err, freight.ErrorCode(err))
						return
					}
				}
			})
		}
		close(start)
		wg.Wait()
		got, err := db.Product(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(got.Description), goroutines*updates; got != want {
			t.Errorf("len(Description) = %d, want %d", got, want)
		}
		for g := range goroutines {
			letter := string(rune('a' + g))
			if got, want := strings.Count(got.Description, letter), updates; got != want {
				t.Errorf("updates of goroutine %s = %d, want %d", letter, got, want)
			}
		}
	})
}

// A writer waits for a transaction that holds the write lock for a while
// instead of failing.
func TestWriterWaitsForTx(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		db := MustMigrate(t, url)
		ctx := t.Context()
		o := &freight.Organization{Slug: "acme", Name: "Acme"}
		if err := db.CreateOrganization(ctx, o); err != nil {
			t.Fatal(err)
		}
		locked := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- db.Tx(ctx, func(tx freight.Store) error {
				if _, err := tx.UpdateOrganization(ctx, o.ID, func(o *freight.Organization) error { o.Name += " 1"; return nil }); err != nil {
					return err
				}
				close(locked)
				time.Sleep(300 * time.Millisecond)
				return nil
			})
		}()
		<-locked
		upd, err := db.UpdateOrganization(ctx, o.ID, func(o *freight.Organization) error { o.Name += " 2"; return nil })
		if err != nil {
			t.Fatalf("UpdateOrganization while a Tx holds the row: %v", err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Tx: %v", err)
		}
		if got, want := upd.Name, "Acme 1 2"; got != want {
			t.Errorf("Name = %q, want %q", got, want)
		}
	})
}

// Errors name what clashed or what is missing, and a canceled call says so
// to errors.Is.
func TestErrors(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		db := MustMigrate(t, url)
		ctx := t.Context()
		o := &freight.Organization{Slug: "acme", Name: "Acme"}
		if err := db.CreateOrganization(ctx, o); err != nil {
			t.Fatal(err)
		}
		p := &freight.Product{Slug: "widget", Name: "Widget"}
		if err := db.CreateProduct(ctx, p); err != nil {
			t.Fatal(err)
		}
		missingProduct := freight.NewID(freight.PrefixProduct, time.Now())
		_, missingOrg := db.Organization(ctx, freight.NewID(freight.PrefixOrganization, time.Now()))

		for _, tc := range []struct {
			name     string
			err      error
			code     string
			message  string
			internal bool
		}{
			{"slug taken", db.CreateOrganization(ctx, &freight.Organization{Slug: "acme", Name: "Other"}),
				freight.ECONFLICT, `an organization with slug "acme" already exists`, false},
			{"id taken", db.CreateOrganization(ctx, &freight.Organization{ID: o.ID, Slug: "other", Name: "Other"}),
				freight.ECONFLICT, fmt.Sprintf("an organization with id %q already exists", o.ID), false},
			{"organization missing", missingOrg, freight.ENOTFOUND, "organization not found", false},
			{"product missing in entitlement", db.CreateEntitlement(ctx, &freight.Entitlement{OrgID: o.ID, ProductID: missingProduct, Channels: []freight.Channel{freight.ChannelStable}}),
				freight.ENOTFOUND, "product not found", false},
			{"user missing in membership", db.PutMembership(ctx, &freight.Membership{UserID: freight.NewID(freight.PrefixUser, time.Now()), OrgID: o.ID, Role: freight.RoleMember}),
				freight.ENOTFOUND, "user not found", false},
			{"bad id", db.CreateOrganization(ctx, &freight.Organization{ID: "org_1", Slug: "other", Name: "Other"}),
				freight.EINVALID, "must be an id of the form org_ followed by 26 base32 characters", false},
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

		t.Run("canceled", func(t *testing.T) {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			_, err := db.Organization(cctx, o.ID)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Organization with a canceled context = %v, want context.Canceled", err)
			}
			err = db.CreateOrganization(cctx, &freight.Organization{Slug: "late", Name: "Late"})
			if !errors.Is(err, context.Canceled) {
				t.Errorf("CreateOrganization with a canceled context = %v, want context.Canceled", err)
			}
			err = db.Tx(cctx, func(freight.Store) error { return nil })
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Tx with a canceled context = %v, want context.Canceled", err)
			}
			if _, err := db.OrganizationBySlug(ctx, "late"); freight.ErrorCode(err) != freight.ENOTFOUND {
				t.Errorf("OrganizationBySlug of a canceled create = %v, want not found", err)
			}
		})
		t.Run("deadline", func(t *testing.T) {
			dctx, cancel := context.WithTimeout(ctx, -time.Second)
			defer cancel()
			_, _, err := db.Organizations(dctx, freight.OrganizationFilter{})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Organizations past the deadline = %v, want context.DeadlineExceeded", err)
			}
		})
		t.Run("ping", func(t *testing.T) {
			if err := db.Ping(ctx); err != nil {
				t.Errorf("Ping = %v", err)
			}
		})
	})
}

// Ids made within one millisecond still sort in creation order, so that
// lists in id order are in creation order even with a frozen clock.
func TestNewIDMonotonic(t *testing.T) {
	db := &DB{lastMS: map[string]int64{}}
	now := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	prev := ""
	for i := range 1000 {
		id := db.newID(freight.PrefixOrganization, now)
		if !freight.ValidID(freight.PrefixOrganization, id) {
			t.Fatalf("id %d = %q, not a valid id", i, id)
		}
		if id <= prev {
			t.Fatalf("id %d = %q, not after %q", i, id, prev)
		}
		prev = id
	}
	// Other types have their own sequence.
	if id := db.newID(freight.PrefixUser, now); id[len(freight.PrefixUser)+1:] >= prev[len(freight.PrefixOrganization)+1:] {
		t.Errorf("first user id %q does not start at the clock's millisecond", id)
	}
}

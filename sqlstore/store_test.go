package sqlstore_test

import (
	"database/sql"
	"log/slog"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for the backend check

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/internal/testdb"
	"github.com/freight-portal/freight/sqlstore"
	"github.com/freight-portal/freight/storetest"
)

var _ freight.Store = (*sqlstore.DB)(nil)

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) freight.Store {
		return openMigrated(t, testdb.SQLite(t))
	})
}

// TestPostgres runs when FREIGHT_TEST_POSTGRES names a server (CI sets it);
// testdb.Postgres skips otherwise, or fails when FREIGHT_TEST_REQUIRE asks
// for PostgreSQL.
func TestPostgres(t *testing.T) {
	checkRunsOnPostgres(t, testdb.Postgres(t))
	storetest.Run(t, func(t *testing.T) freight.Store {
		return openMigrated(t, testdb.Postgres(t))
	})
}

// open opens url with a logger writing to the test's output, closed when
// the test ends.
func open(t *testing.T, url string) *sqlstore.DB {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	db, err := sqlstore.Open(t.Context(), url, logger)
	if err != nil {
		t.Fatalf("sqlstore.Open: %v", err)
	}
	db.SealWith(testdb.SealKeys(t))
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func openMigrated(t *testing.T, url string) *sqlstore.DB {
	t.Helper()
	db := open(t, url)
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// checkRunsOnPostgres proves that the suite's stores really run on
// PostgreSQL, through a connection of its own on the same URL: the server
// says it is PostgreSQL, and Migrate on a store opened with that URL
// creates tables in the schema the URL selects, which starts empty.
func checkRunsOnPostgres(t *testing.T, url string) {
	t.Helper()
	ctx := t.Context()
	conn, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatalf("sql.Open(pgx): %v", err)
	}
	defer conn.Close()
	var version string
	if err := conn.QueryRowContext(ctx, "SELECT version()").Scan(&version); err != nil {
		t.Fatalf("SELECT version(): %v", err)
	}
	if !strings.HasPrefix(version, "PostgreSQL") {
		t.Fatalf("SELECT version() = %q, want PostgreSQL …", version)
	}
	t.Logf("running on %s", version)

	tables := func() int {
		t.Helper()
		var n int
		err := conn.QueryRowContext(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()").Scan(&n)
		if err != nil {
			t.Fatalf("count tables: %v", err)
		}
		return n
	}
	if n := tables(); n != 0 {
		t.Fatalf("the fresh test schema has %d tables, want 0", n)
	}
	db := open(t, url)
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if n := tables(); n == 0 {
		t.Fatalf("Migrate created no table in the schema the URL selects")
	}
}

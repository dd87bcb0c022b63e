// Package testdb gives tests fresh, isolated databases: a SQLite file in the
// test's temporary directory, or a PostgreSQL schema of its own that is
// dropped when the test ends, so that parallel tests and parallel runs
// against one server never see each other's rows. Blob stores get the same
// treatment: an S3 prefix of their own, emptied when the test ends.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// PostgresEnv names the variable that holds the PostgreSQL server used by
// tests, as a URL such as
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const PostgresEnv = "FREIGHT_TEST_POSTGRES"

// RequireEnv names the variable that lists, comma-separated, the backends
// that must not be skipped. CI sets it so that a missing database fails the
// run instead of passing as a skip.
const RequireEnv = "FREIGHT_TEST_REQUIRE"

// SQLite returns the URL of a fresh SQLite database in t.TempDir().
func SQLite(t testing.TB) string {
	t.Helper()
	u := url.URL{Scheme: "sqlite", Path: filepath.ToSlash(filepath.Join(t.TempDir(), "freight.db"))}
	return u.String()
}

// Postgres returns the URL of a fresh schema in the database named by
// FREIGHT_TEST_POSTGRES, dropped when the test ends. It skips the test when
// the variable is empty, unless FREIGHT_TEST_REQUIRE contains "postgres", in
// which case it fails the test.
func Postgres(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(PostgresEnv)
	if dsn == "" {
		if Required("postgres") {
			t.Fatalf("%s is empty but %s=%q requires PostgreSQL: set %s to a server URL such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
				PostgresEnv, RequireEnv, os.Getenv(RequireEnv), PostgresEnv)
		}
		t.Skipf("skipping PostgreSQL test: set %s to a server URL such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable", PostgresEnv)
	}
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// The error of url.Parse quotes the URL, which may hold a password.
		t.Fatalf("%s must be a postgres:// URL", PostgresEnv)
	}

	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "freight_test_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("open %s: %v", u.Redacted(), err)
	}
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("create schema %s on %s: %v", schema, u.Redacted(), err)
	}
	// Cleanups run last-registered first, so this runs after the test has
	// closed the stores it opened on the schema.
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})

	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Required reports whether FREIGHT_TEST_REQUIRE lists the backend.
func Required(backend string) bool {
	for _, b := range strings.Split(os.Getenv(RequireEnv), ",") {
		if strings.EqualFold(strings.TrimSpace(b), backend) {
			return true
		}
	}
	return false
}

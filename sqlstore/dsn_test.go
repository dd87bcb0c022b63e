package sqlstore

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight/internal/testdb"
)

// secret is the password used in URLs; no error or log line may show it.
const secret = "s3cr3t-Pa55"

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		name, url   string
		wantDialect string
		wantPath    string
	}{
		{"sqlite absolute", "sqlite:///var/lib/freight/freight.db", dialectSQLite, "/var/lib/freight/freight.db"},
		{"sqlite relative", "sqlite://data/freight.db", dialectSQLite, "data/freight.db"},
		{"sqlite relative file", "sqlite://freight.db", dialectSQLite, "freight.db"},
		{"sqlite escaped", "sqlite:///tmp/my%20data/a%23b.db", dialectSQLite, "/tmp/my data/a#b.db"},
		{"sqlite upper-case scheme", "SQLITE:///x.db", dialectSQLite, "/x.db"},
		{"postgres", "postgres://freight@db.example.com:5432/freight?sslmode=disable", dialectPostgres, ""},
		{"postgresql", "postgresql://freight@db.example.com/freight", dialectPostgres, ""},
		{"postgres with password", "postgres://freight:" + secret + "@db:5432/freight?sslmode=verify-full", dialectPostgres, ""},
		{"postgres with search_path", "postgres://freight@db/freight?search_path=tenant_a", dialectPostgres, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseURL(tc.url)
			if err != nil {
				t.Fatalf("parseURL(%q): %v", tc.url, err)
			}
			if got.dialect != tc.wantDialect {
				t.Errorf("dialect = %q, want %q", got.dialect, tc.wantDialect)
			}
			if got.path != filepath.FromSlash(tc.wantPath) {
				t.Errorf("path = %q, want %q", got.path, tc.wantPath)
			}
			if strings.Contains(got.redacted, secret) {
				t.Errorf("redacted URL %q shows the password", got.redacted)
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		wantIn    string // a part of the message that helps the operator
	}{
		{"empty", "", "sqlite:///"},
		{"no scheme", "/var/lib/freight.db", "no scheme"},
		{"unknown scheme", "mysql://root:" + secret + "@localhost/freight", `"mysql"`},
		{"file scheme", "file:///var/lib/freight.db", `"file"`},
		{"sqlite memory", "sqlite::memory:", "in-memory"},
		{"sqlite opaque", "sqlite:freight.db", "sqlite:///"},
		{"sqlite no path", "sqlite://", "no file path"},
		{"sqlite directory", "sqlite:///var/lib/", "directory"},
		{"sqlite parameters", "sqlite:///x.db?mode=ro", "no parameters"},
		{"sqlite user", "sqlite://admin:" + secret + "@host/x.db", "user"},
		{"sqlite port", "sqlite://host:99/x.db", "port"},
		{"sqlite fragment", "sqlite:///x#y.db", "%23"},
		{"sqlite question mark", "sqlite:///x%3Fy.db", "'?'"},
		{"malformed", "postgres://u:" + secret + "@host:port/db", "malformed"},
		{"malformed space", "postgres://u:" + secret + " x@host/db", "malformed"},
		{"malformed escape", "postgres://u:" + secret + "%zz@host/db", "malformed"},
		{"postgres opaque", "postgres:u:" + secret + "@host", "postgres://"},
		{"postgres fragment", "postgres://u:" + secret + "@host/db#x", "fragment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseURL(tc.url)
			if err == nil {
				t.Fatalf("parseURL(%q) = nil error, want one", tc.url)
			}
			msg := err.Error()
			if strings.Contains(msg, secret) {
				t.Errorf("error %q shows the password", msg)
			}
			if !strings.Contains(msg, tc.wantIn) {
				t.Errorf("error %q does not contain %q", msg, tc.wantIn)
			}
			if tc.url != "" && strings.Contains(msg, tc.url) && !strings.Contains(acceptedURLs, tc.url) {
				t.Errorf("error %q quotes the whole URL", msg)
			}
		})
	}
}

// Errors that come from the drivers, not from parseURL, must not show the
// password either.
func TestOpenErrorsHidePassword(t *testing.T) {
	for _, tc := range []struct{ name, url string }{
		{"bad pgx parameter", "postgres://u:" + secret + "@127.0.0.1:5432/db?sslmode=bogus"},
		{"password parameter", "postgres://u@127.0.0.1:5432/db?password=" + secret + "&sslmode=bogus"},
		{"unreachable", "postgres://u:" + secret + "@127.0.0.1:1/db?sslmode=disable&connect_timeout=2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			db, err := Open(ctx, tc.url, logger)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%s) = nil error, want one", tc.name)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("Open error %q shows the password", err)
			}
			if strings.Contains(logs.String(), secret) {
				t.Errorf("log %q shows the password", logs.String())
			}
		})
	}
}

func TestOpenPostgresLogHidesPassword(t *testing.T) {
	url := testdb.Postgres(t)
	// The test server trusts local connections, so any password works.
	url = strings.Replace(url, "://postgres@", "://postgres:"+secret+"@", 1)
	if !strings.Contains(url, secret) {
		t.Skip("FREIGHT_TEST_POSTGRES does not name the user postgres without a password")
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	db, err := Open(t.Context(), url, logger)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("log %q shows the password", logs.String())
	}
	if got, want := db.Dialect(), "postgres"; got != want {
		t.Errorf("Dialect() = %q, want %q", got, want)
	}
}

// Open creates the directories of a SQLite database and the file, private
// to the owner.
func TestOpenSQLiteCreatesPrivateFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a", "b", "freight.db")
	db, err := Open(t.Context(), "sqlite://"+filepath.ToSlash(path), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if got, want := db.Dialect(), "sqlite"; got != want {
		t.Errorf("Dialect() = %q, want %q", got, want)
	}
	for p, want := range map[string]os.FileMode{
		filepath.Join(dir, "a"):      0o700 | os.ModeDir,
		filepath.Join(dir, "a", "b"): 0o700 | os.ModeDir,
		path:                         0o600,
	} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode(); got != want {
			t.Errorf("mode of %s = %v, want %v", p, got, want)
		}
	}
	var mode string
	if err := db.sqlDB.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if got, want := mode, "wal"; got != want {
		t.Errorf("journal_mode = %q, want %q", got, want)
	}
	var fk int
	if err := db.sqlDB.QueryRowContext(t.Context(), "PRAGMA foreign_keys").Scan(&fk); err != nil {
		t.Fatal(err)
	}
	if got, want := fk, 1; got != want {
		t.Errorf("foreign_keys = %d, want %d", got, want)
	}
}

func TestRebind(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"none", "SELECT 1", "SELECT 1"},
		{"one", "SELECT * FROM t WHERE id = ?", "SELECT * FROM t WHERE id = $1"},
		{"many", "INSERT INTO t (a, b, c) VALUES (?, ?, ?)", "INSERT INTO t (a, b, c) VALUES ($1, $2, $3)"},
		{"ten and more", strings.Repeat("?,", 11) + "?", "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12"},
		{"in string literal", "SELECT '?' || ? FROM t WHERE a = 'it''s ?' AND b = ?", "SELECT '?' || $1 FROM t WHERE a = 'it''s ?' AND b = $2"},
		{"in quoted identifier", `SELECT "odd?" FROM t WHERE id = ?`, `SELECT "odd?" FROM t WHERE id = $1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := rebind(dialectPostgres, tc.in); got != tc.want {
				t.Errorf("rebind(postgres, %q) = %q, want %q", tc.in, got, tc.want)
			}
			if got := rebind(dialectSQLite, tc.in); got != tc.in {
				t.Errorf("rebind(sqlite, %q) = %q, want it unchanged", tc.in, got)
			}
		})
	}
}

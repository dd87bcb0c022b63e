package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/seal"
)

// Dialects returned by DB.Dialect.
const (
	dialectSQLite   = "sqlite"
	dialectPostgres = "postgres"
)

// acceptedURLs is quoted in every URL error so that a mistyped setting tells
// the operator what would have worked.
const acceptedURLs = "use sqlite:///absolute/path/freight.db, sqlite://relative/path/freight.db or postgres://user@host:port/database?sslmode=…"

// DB is a Store on one SQL database. Its methods run outside any
// transaction; Tx hands out a Store bound to one.
type DB struct {
	store

	// Now returns the current time, used for created and updated times.
	// It defaults to time.Now; tests replace it to control the clock.
	Now func() time.Time

	sqlDB   *sql.DB
	dialect string
	logger  *slog.Logger
	keys    *seal.Keys // see SealWith

	idMu   sync.Mutex
	lastMS map[string]int64 // per id prefix: the millisecond of the last generated id
}

var _ freight.Store = (*DB)(nil)

// Open opens the database named by url and returns a Store. It checks that
// the database answers but does not migrate it; call Migrate for that.
//
// Accepted URLs:
//
//	sqlite:///absolute/path/freight.db
//	sqlite://relative/path/freight.db
//	postgres://user:password@host:port/database?sslmode=disable
//	postgresql://… (the same)
//
// A PostgreSQL URL takes every parameter pgx understands; unknown ones, such
// as search_path, are sent to the server as run-time parameters.
func Open(ctx context.Context, url string, logger *slog.Logger) (*DB, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	db := &DB{dialect: t.dialect, logger: logger, lastMS: map[string]int64{}}
	db.store = store{db: db}
	switch t.dialect {
	case dialectSQLite:
		if err := prepareSQLiteFile(t.path); err != nil {
			return nil, err
		}
		db.sqlDB, err = sql.Open("sqlite", sqliteDSN(t.path))
		if err != nil {
			return nil, fmt.Errorf("sqlstore: open %s: %w", t.path, err)
		}
		// WAL lets readers run beside the one writer. Writers serialize on
		// the lock taken at BEGIN IMMEDIATE and wait for it up to the busy
		// timeout, so the pool only needs to be large enough for readers.
		db.sqlDB.SetMaxOpenConns(32)
		db.sqlDB.SetMaxIdleConns(8)
		db.sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	case dialectPostgres:
		cfg, err := pgx.ParseConfig(url)
		if err != nil {
			// Not wrapped: pgx's error keeps the URL, password and all, in
			// a field.
			return nil, redact(errors.New("sqlstore: invalid PostgreSQL URL: "+err.Error()), t.secrets)
		}
		db.sqlDB = stdlib.OpenDB(*cfg)
		db.sqlDB.SetMaxOpenConns(25)
		db.sqlDB.SetMaxIdleConns(10)
		db.sqlDB.SetConnMaxIdleTime(5 * time.Minute)
		db.sqlDB.SetConnMaxLifetime(time.Hour)
	}
	db.q = db.sqlDB
	if err := db.sqlDB.PingContext(ctx); err != nil {
		db.sqlDB.Close()
		return nil, redact(fmt.Errorf("sqlstore: connect to %s: %w", t.redacted, err), t.secrets)
	}
	logger.Debug("database opened", "dialect", t.dialect, "url", t.redacted)
	return db, nil
}

// Close closes the database.
func (db *DB) Close() error { return db.sqlDB.Close() }

// Dialect returns "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.dialect }

// SQL returns the underlying database handle, for tests and tools that
// inspect the data as it is stored.
func (db *DB) SQL() *sql.DB { return db.sqlDB }

// now returns the current time as the database stores it.
func (db *DB) now() time.Time {
	now := time.Now
	if db.Now != nil {
		now = db.Now
	}
	return normTime(now())
}

// newID returns a new id of the given type. freight.NewID orders ids by
// millisecond only, so ids made within one millisecond would list in random
// order; moving such an id to the next millisecond keeps the ids made by this
// process in creation order, which keyset pagination and "newest first"
// lists rely on. The drift is one millisecond per id beyond 1000 ids a
// second of one type.
func (db *DB) newID(prefix string, now time.Time) string {
	db.idMu.Lock()
	ms := now.UnixMilli()
	if last := db.lastMS[prefix]; ms <= last {
		ms = last + 1
	}
	db.lastMS[prefix] = ms
	db.idMu.Unlock()
	return freight.NewID(prefix, time.UnixMilli(ms))
}

// target is a parsed database URL.
type target struct {
	dialect  string
	path     string   // SQLite only
	redacted string   // the URL without its password, for messages
	secrets  []string // strings that must never appear in messages
}

// parseURL checks a database URL. Its errors never quote the URL itself,
// which may carry a password.
func parseURL(raw string) (target, error) {
	if raw == "" {
		return target{}, fmt.Errorf("sqlstore: no database URL: %s", acceptedURLs)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the whole URL, password included: keep only the
		// reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return target{}, redact(fmt.Errorf("sqlstore: malformed database URL (%v): %s", err, acceptedURLs), secretsOf(raw, nil))
	}
	t := target{secrets: secretsOf(raw, u), redacted: u.Redacted()}
	for _, k := range []string{"password", "sslpassword"} {
		if u.Query().Has(k) {
			q := u.Query()
			q.Set(k, "xxxxx")
			u2 := *u
			u2.RawQuery = q.Encode()
			t.redacted = u2.Redacted()
		}
	}
	switch u.Scheme {
	case "sqlite":
		t.dialect = dialectSQLite
		switch {
		case u.Opaque != "":
			return target{}, fmt.Errorf("sqlstore: SQLite URL must be sqlite:///path or sqlite://relative/path (in-memory databases are not supported): %s", acceptedURLs)
		case u.User != nil:
			return target{}, redact(fmt.Errorf("sqlstore: SQLite URL must not name a user: %s", acceptedURLs), t.secrets)
		case u.RawQuery != "" || u.ForceQuery:
			return target{}, fmt.Errorf("sqlstore: SQLite URL takes no parameters (got %q): %s", u.RawQuery, acceptedURLs)
		case u.Fragment != "":
			return target{}, fmt.Errorf("sqlstore: SQLite URL must not have a fragment (escape '#' in the path as %%23): %s", acceptedURLs)
		case u.Port() != "":
			return target{}, fmt.Errorf("sqlstore: SQLite URL must not have a port: %s", acceptedURLs)
		}
		// sqlite:///abs/path has an empty host; sqlite://rel/path puts the
		// first path element in the host.
		t.path = u.Host + u.Path
		if u.Host == "" && u.Path == "" {
			return target{}, fmt.Errorf("sqlstore: SQLite URL has no file path: %s", acceptedURLs)
		}
		if u.Host == "" && !strings.HasPrefix(u.Path, "/") {
			return target{}, fmt.Errorf("sqlstore: SQLite URL has no file path: %s", acceptedURLs)
		}
		if strings.HasSuffix(t.path, "/") {
			return target{}, fmt.Errorf("sqlstore: SQLite URL names a directory, not a file: %s", acceptedURLs)
		}
		// The driver cuts its own parameters at the first '?', so a path
		// containing one would be opened under the wrong name.
		if strings.ContainsAny(t.path, "?\x00") {
			return target{}, fmt.Errorf("sqlstore: SQLite file path must not contain '?' or NUL")
		}
		t.path = filepath.FromSlash(t.path)
	case "postgres", "postgresql":
		t.dialect = dialectPostgres
		if u.Opaque != "" {
			return target{}, redact(fmt.Errorf("sqlstore: PostgreSQL URL must start with %s://: %s", u.Scheme, acceptedURLs), t.secrets)
		}
		if u.Fragment != "" {
			return target{}, redact(fmt.Errorf("sqlstore: PostgreSQL URL must not have a fragment: %s", acceptedURLs), t.secrets)
		}
	case "":
		return target{}, fmt.Errorf("sqlstore: database URL has no scheme: %s", acceptedURLs)
	default:
		return target{}, fmt.Errorf("sqlstore: unsupported database URL scheme %q: %s", u.Scheme, acceptedURLs)
	}
	return t, nil
}

// secretsOf returns the passwords in a URL, raw and decoded, so that they
// can be scrubbed from messages built from errors of other libraries.
func secretsOf(raw string, u *url.URL) []string {
	var s []string
	add := func(v string) {
		if v != "" {
			s = append(s, v)
			if e := url.QueryEscape(v); e != v {
				s = append(s, e)
			}
			if e := url.PathEscape(v); e != v {
				s = append(s, e)
			}
		}
	}
	if u != nil {
		if p, ok := u.User.Password(); ok {
			add(p)
		}
		q := u.Query()
		add(q.Get("password"))
		add(q.Get("sslpassword"))
	}
	// A URL that does not parse may still hold user:password@.
	if _, rest, ok := strings.Cut(raw, "://"); ok {
		if userinfo, _, ok := strings.Cut(rest, "@"); ok {
			if _, p, ok := strings.Cut(userinfo, ":"); ok {
				s = append(s, p)
				if d, err := url.PathUnescape(p); err == nil {
					add(d)
				}
			}
		}
	}
	return s
}

// redact returns err, or when its text shows a secret, a copy of the text
// with every secret masked. The copy does not wrap err, whose chain would
// still hold the secret.
func redact(err error, secrets []string) error {
	msg := err.Error()
	masked := msg
	for _, s := range secrets {
		if len(s) > 0 {
			masked = strings.ReplaceAll(masked, s, "xxxxx")
		}
	}
	if masked == msg {
		return err
	}
	return errors.New(masked)
}

// sqliteDSN returns the driver's name for the file at path: WAL so that
// readers do not block the writer, foreign keys on (SQLite's default is
// off), a busy timeout so that writers queue instead of failing, NORMAL
// synchronous (durable at checkpoints, safe against corruption in WAL mode),
// and BEGIN IMMEDIATE so that a transaction takes the write lock when it
// starts: a deferred transaction that reads and then writes cannot wait for
// the lock and fails with SQLITE_BUSY instead.
func sqliteDSN(path string) string {
	return path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

// prepareSQLiteFile creates the directory of the database and the database
// file itself, private to the owner: it holds password and token hashes.
// SQLite gives its WAL and shared-memory files the same permissions.
func prepareSQLiteFile(path string) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("sqlstore: create database directory: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlstore: open database file: %w", err)
	}
	return f.Close()
}

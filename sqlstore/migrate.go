package sqlstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// migrationFiles holds one directory of numbered migrations per dialect,
// named NNNN_what.sql. A migration, once released, is never edited: a change
// is a new file.
//
//go:embed migrations
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the migrations of a dialect in order.
func migrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".sql")
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("sqlstore: migration %s: name must start with a positive number", e.Name())
		}
		b, err := fs.ReadFile(migrationFiles, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("sqlstore: read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("sqlstore: migration %s: expected version %d (versions are 1, 2, 3… without gaps)", m.name, i+1)
		}
	}
	return ms, nil
}

// Migrate brings the schema up to date. Each migration runs in its own
// transaction together with the row that records it in schema_migrations,
// so a migration is applied entirely or not at all. On PostgreSQL every
// step holds a transaction-scoped advisory lock, per schema, so replicas
// that start together apply each migration once. Migrate refuses a database
// whose schema is newer than this binary knows. With keys (SealWith), it
// then seals the secrets stored in clear or with an older key.
func (db *DB) Migrate(ctx context.Context) error {
	if err := db.migrate(ctx, 0); err != nil {
		return err
	}
	return db.sealSecrets(ctx)
}

// migrate applies the migrations up to version upTo, or all of them when
// upTo is 0: tests build the schema of an older release with it.
func (db *DB) migrate(ctx context.Context, upTo int) error {
	ms, err := migrations(db.dialect)
	if err != nil {
		return err
	}
	createTable := `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL
	)`
	if db.dialect == dialectPostgres {
		createTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    bigint NOT NULL PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL
		)`
	}
	var current int
	err = db.migrationTx(ctx, func(s *store) error {
		if _, err := s.exec(ctx, createTable); err != nil {
			return err
		}
		return s.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current)
	})
	if err != nil {
		return fmt.Errorf("sqlstore: prepare migrations: %w", err)
	}
	if latest := len(ms); current > latest {
		return fmt.Errorf("sqlstore: the database schema is at version %d, newer than this program knows (%d): run a newer freight", current, latest)
	}
	for _, m := range ms {
		if m.version <= current || (upTo > 0 && m.version > upTo) {
			continue
		}
		applied := false
		err := db.migrationTx(ctx, func(s *store) error {
			// Another replica may have applied it while this one waited
			// for the lock.
			var n int
			if err := s.queryRow(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := s.exec(ctx, m.sql); err != nil {
				return err
			}
			if _, err := s.exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`, m.version, m.name, db.now()); err != nil {
				return err
			}
			applied = true
			return nil
		})
		if err != nil {
			return fmt.Errorf("sqlstore: migration %s: %w", m.name, err)
		}
		if applied {
			db.logger.Info("database migrated", "dialect", db.dialect, "version", m.version, "migration", m.name)
		}
	}
	return nil
}

// migrationTx runs fn in a transaction that, on PostgreSQL, first takes the
// migration lock of the current schema. The lock is transaction-scoped so
// that a crashed migrator can never leave it held.
func (db *DB) migrationTx(ctx context.Context, fn func(*store) error) error {
	tx, err := db.sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	s := &store{db: db, q: tx, tx: &txState{tx: tx}}
	if db.dialect == dialectPostgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('freight.migrate:' || COALESCE(current_schema(), ''), 0))`); err != nil {
			return err
		}
	}
	if err := fn(s); err != nil {
		return err
	}
	return tx.Commit()
}

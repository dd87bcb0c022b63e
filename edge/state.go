package edge

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/freight-portal/freight"
)

// state is what an edge keeps across restarts besides the blobs: the bytes
// served per grant, the download events not yet acknowledged by the
// portal, the portal's public keys, and the counters it reports. It lives
// in one SQLite database in the cache directory; SQLite's journal makes
// every change atomic and durable, so a crash loses no acknowledged event
// and never counts a budget twice.
//
// The writes of requests (budget reservations, refunds, events) go through
// one committer that runs all those waiting in one transaction: each
// request still waits until its write is durable, but a thousand requests
// arriving at once share a few commits instead of queueing for a thousand.
type state struct {
	db  *sql.DB
	ops chan op
	wg  sync.WaitGroup
}

// op is one write of a request, run inside a shared transaction. Its
// error is its own answer (a spent budget); a failed commit fails all.
type op struct {
	fn   func(ctx context.Context, tx *sql.Tx) error
	done chan error
}

const stateSchema = `
CREATE TABLE IF NOT EXISTS budgets (
	grant_id     TEXT PRIMARY KEY,
	budget       INTEGER NOT NULL,
	used         INTEGER NOT NULL DEFAULT 0,
	resume_until INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
	seq  INTEGER PRIMARY KEY AUTOINCREMENT,
	id   TEXT NOT NULL UNIQUE,
	body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS keys (
	kid        TEXT PRIMARY KEY,
	public_key BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
	name  TEXT PRIMARY KEY,
	value INTEGER NOT NULL
);`

func openState(path string) (*state, error) {
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	// One connection: writes are short, and one writer at a time is what
	// SQLite does anyway.
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(stateSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("edge state %s: %w", path, err)
	}
	s := &state{db: db, ops: make(chan op, 1024)}
	s.wg.Go(s.committer)
	return s, nil
}

func (s *state) close() error {
	close(s.ops)
	s.wg.Wait()
	return s.db.Close()
}

// write runs fn in the next group commit and waits for it.
func (s *state) write(fn func(ctx context.Context, tx *sql.Tx) error) error {
	o := op{fn: fn, done: make(chan error, 1)}
	s.ops <- o
	return <-o.done
}

func (s *state) committer() {
	ctx := context.Background()
	for first := range s.ops {
		batch := []op{first}
	more:
		for len(batch) < 512 {
			select {
			case o, ok := <-s.ops:
				if !ok {
					break more
				}
				batch = append(batch, o)
			default:
				break more
			}
		}
		errs := make([]error, len(batch))
		tx, err := s.db.BeginTx(ctx, nil)
		if err == nil {
			for i, o := range batch {
				errs[i] = o.fn(ctx, tx)
			}
			err = tx.Commit()
		}
		for i, o := range batch {
			if err != nil {
				errs[i] = freight.Internal(err)
			}
			o.done <- errs[i]
		}
	}
}

// reserve charges n bytes to a grant's budget if they fit, as the portal's
// ReserveGrantBytes does. The budget and the end of the grant come from
// its verified token.
func (s *state) reserve(ctx context.Context, grantID string, budget, resumeUntil, n int64) error {
	if n <= 0 {
		return nil
	}
	return s.write(func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO budgets (grant_id, budget, resume_until) VALUES (?, ?, ?)`,
			grantID, budget, resumeUntil); err != nil {
			return freight.Internal(err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE budgets SET used = used + ? WHERE grant_id = ? AND used <= budget - ?`, n, grantID, n)
		if err != nil {
			return freight.Internal(err)
		}
		if k, _ := res.RowsAffected(); k != 1 {
			return freight.Errorf(freight.EFORBIDDEN, "this link's byte budget is used up; ask for a new one")
		}
		return nil
	})
}

// refund gives back bytes reserved but not sent.
func (s *state) refund(ctx context.Context, grantID string, n int64) error {
	if n <= 0 {
		return nil
	}
	return s.write(func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE budgets SET used = MAX(used - ?, 0) WHERE grant_id = ?`, n, grantID)
		return err
	})
}

// pruneBudgets forgets grants no request can use any more.
func (s *state) pruneBudgets(ctx context.Context, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM budgets WHERE resume_until <= ?`, now.Unix())
	return err
}

// spool stores a download event until the portal acknowledges it.
func (s *state) spool(ctx context.Context, d *freight.Download) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return s.write(func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO events (id, body) VALUES (?, ?)`, d.ID, string(b))
		return err
	})
}

// pending returns up to limit spooled events, oldest first. An event whose
// body does not decode (the file was damaged) is dropped with its id
// reported in bad.
func (s *state) pending(ctx context.Context, limit int) (events []*freight.Download, bad []string, err error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, body FROM events ORDER BY seq LIMIT ?`, limit)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, body string
		if err := rows.Scan(&id, &body); err != nil {
			return nil, nil, err
		}
		var d freight.Download
		if err := json.Unmarshal([]byte(body), &d); err != nil || d.ID != id {
			bad = append(bad, id)
			continue
		}
		events = append(events, &d)
	}
	return events, bad, rows.Err()
}

// ack deletes events the portal recorded.
func (s *state) ack(ctx context.Context, ids []string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `DELETE FROM events WHERE id = ?`, id); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// saveKeys replaces the stored keys with keys.
func (s *state) saveKeys(ctx context.Context, keys map[string]ed25519.PublicKey) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM keys`); err != nil {
		return err
	}
	for kid, k := range keys {
		if _, err := tx.ExecContext(ctx, `INSERT INTO keys (kid, public_key) VALUES (?, ?)`, kid, []byte(k)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (s *state) loadKeys(ctx context.Context) (map[string]ed25519.PublicKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kid, public_key FROM keys`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	keys := map[string]ed25519.PublicKey{}
	for rows.Next() {
		var kid string
		var k []byte
		if err := rows.Scan(&kid, &k); err != nil {
			return nil, err
		}
		if len(k) == ed25519.PublicKeySize {
			keys[kid] = ed25519.PublicKey(k)
		}
	}
	return keys, rows.Err()
}

func (s *state) saveCounters(ctx context.Context, c map[string]int64) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for name, v := range c {
		if _, err := tx.ExecContext(ctx, `INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, v); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (s *state) loadCounters(ctx context.Context) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, value FROM counters`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	c := map[string]int64{}
	for rows.Next() {
		var name string
		var v int64
		if err := rows.Scan(&name, &v); err != nil {
			return nil, err
		}
		c[name] = v
	}
	return c, rows.Err()
}

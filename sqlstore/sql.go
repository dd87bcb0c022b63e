package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/freight-portal/freight"
)

// querier is what *sql.DB and *sql.Tx have in common, so that every query
// runs the same way inside and outside a transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// store implements freight.Store on a querier: the database itself in DB,
// one transaction in the Store that Tx hands to its function.
type store struct {
	db *DB
	q  querier
	tx *txState // nil outside a transaction
}

var _ freight.Store = (*store)(nil)

// txState is shared by every Store bound to one transaction.
type txState struct {
	tx    *sql.Tx
	depth int // savepoints open
	// broken is set when a savepoint could not be rolled back: the
	// transaction then holds writes that were reported as undone, so it
	// must not commit.
	broken error
}

// exec runs a write. Inside a PostgreSQL transaction it runs under a
// savepoint: PostgreSQL aborts the whole transaction on a failed statement,
// and a conflict or a missing parent is an answer the caller may handle
// and go on from, as SQLite (which undoes only the failed statement) and
// every call outside a transaction allow.
func (s *store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	args, err := s.args(args)
	if err != nil {
		return nil, err
	}
	query = rebind(s.db.dialect, query)
	if s.tx == nil || s.db.dialect != dialectPostgres {
		return s.q.ExecContext(ctx, query, args...)
	}
	var res sql.Result
	err = s.savepoint(ctx, func(*store) error {
		var err error
		res, err = s.q.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

// execReturning runs a write that returns one row (INSERT … RETURNING),
// under a savepoint inside a PostgreSQL transaction, like exec.
func (s *store) execReturning(ctx context.Context, dest []any, query string, args ...any) error {
	if s.tx == nil || s.db.dialect != dialectPostgres {
		return s.queryRow(ctx, query, args...).Scan(dest...)
	}
	return s.savepoint(ctx, func(*store) error { return s.queryRow(ctx, query, args...).Scan(dest...) })
}

func (s *store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	args, err := s.args(args)
	if err != nil {
		return nil, err
	}
	return s.q.QueryContext(ctx, rebind(s.db.dialect, query), args...)
}

// queryRow returns a row scanner; a failure to convert the arguments shows
// up as the Scan error, like every other query error.
func (s *store) queryRow(ctx context.Context, query string, args ...any) scanner {
	args, err := s.args(args)
	if err != nil {
		return errRow{err}
	}
	return s.q.QueryRowContext(ctx, rebind(s.db.dialect, query), args...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// forUpdate is appended to a SELECT that reads a row the transaction will
// write. SQLite has no row locks and needs none: its transactions begin
// IMMEDIATE and so already exclude every other writer.
func (s *store) forUpdate() string {
	if s.db.dialect == dialectPostgres {
		return " FOR UPDATE"
	}
	return ""
}

// args converts times to what the dialect stores: fixed-width UTC text for
// SQLite, UTC time.Time for PostgreSQL, both truncated to microseconds.
func (s *store) args(in []any) ([]any, error) {
	args := make([]any, len(in))
	copy(args, in)
	for i, a := range args {
		var t time.Time
		switch v := a.(type) {
		case time.Time:
			t = v
		case *time.Time:
			if v == nil {
				args[i] = nil
				continue
			}
			t = *v
		default:
			continue
		}
		t = normTime(t)
		if y := t.Year(); y < 1 || y > 9999 {
			return nil, freight.Errorf(freight.EINVALID, "times must be between the years 1 and 9999")
		}
		if s.db.dialect == dialectSQLite {
			args[i] = t.Format(timeLayout)
		} else {
			args[i] = t
		}
	}
	return args, nil
}

// rebind turns the "?" placeholders of a query into PostgreSQL's $1, $2…
// Queries are written once for both dialects; "?" inside quotes is left
// alone.
func rebind(dialect, query string) string {
	if dialect != dialectPostgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// timeLayout is how SQLite stores times: fixed width and UTC, so that
// comparing and sorting the text compares and sorts the times.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// normTime returns t as the database gives it back: UTC, microseconds.
func normTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func normTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	n := normTime(*t)
	return &n
}

func parseTime(src any) (time.Time, error) {
	switch v := src.(type) {
	case time.Time:
		return normTime(v), nil
	case string:
		return parseTimeText(v)
	case []byte:
		return parseTimeText(string(v))
	}
	return time.Time{}, fmt.Errorf("sqlstore: cannot read a time from %T", src)
}

func parseTimeText(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		// Rows written by hand or by other tools may use another layout.
		t, err = time.Parse(time.RFC3339Nano, s)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("sqlstore: cannot read time %q", s)
	}
	return normTime(t), nil
}

// timeCol scans a NOT NULL time column.
type timeCol struct{ p *time.Time }

func (c timeCol) Scan(src any) error {
	t, err := parseTime(src)
	if err != nil {
		return err
	}
	*c.p = t
	return nil
}

// nullTimeCol scans a nullable time column into a *time.Time.
type nullTimeCol struct{ p **time.Time }

func (c nullTimeCol) Scan(src any) error {
	if src == nil {
		*c.p = nil
		return nil
	}
	t, err := parseTime(src)
	if err != nil {
		return err
	}
	*c.p = &t
	return nil
}

// zeroTimeCol scans a nullable time column into a time.Time; NULL reads as
// the zero time. It is the column of a time that may not have happened yet,
// stored with zeroTime.
type zeroTimeCol struct{ p *time.Time }

func (c zeroTimeCol) Scan(src any) error {
	if src == nil {
		*c.p = time.Time{}
		return nil
	}
	t, err := parseTime(src)
	if err != nil {
		return err
	}
	*c.p = t
	return nil
}

// zeroTime stores the zero time as NULL.
func zeroTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// normZeroTime is normTime that keeps the zero time as it is.
func normZeroTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return normTime(t)
}

// cloneBytes copies b; empty reads as nil, as bytesCol reads it back.
func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// nullStringCol scans a nullable text column; NULL reads as "".
type nullStringCol struct{ p *string }

func (c nullStringCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.p = ""
	case string:
		*c.p = v
	case []byte:
		*c.p = string(v)
	default:
		return fmt.Errorf("sqlstore: cannot read text from %T", src)
	}
	return nil
}

// nullString stores "" as NULL, for optional references that foreign keys
// must not check when absent.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// bytesCol scans a nullable binary column; NULL and empty read as nil.
type bytesCol struct{ p *[]byte }

func (c bytesCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.p = nil
	case []byte:
		if len(v) == 0 {
			*c.p = nil
		} else {
			*c.p = append([]byte(nil), v...)
		}
	case string:
		if v == "" {
			*c.p = nil
		} else {
			*c.p = []byte(v)
		}
	default:
		return fmt.Errorf("sqlstore: cannot read bytes from %T", src)
	}
	return nil
}

func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// boolCol scans a boolean, stored as 0 or 1 by SQLite.
type boolCol struct{ p *bool }

func (c boolCol) Scan(src any) error {
	v, err := driver.Bool.ConvertValue(src)
	if err != nil {
		return fmt.Errorf("sqlstore: cannot read a boolean from %T", src)
	}
	*c.p = v.(bool)
	return nil
}

// listCol scans a JSON array of strings; an empty list reads as nil, as the
// domain's Validate methods normalise it.
type listCol[T ~string] struct{ p *[]T }

func (c listCol[T]) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*c.p = nil
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("sqlstore: cannot read a list from %T", src)
	}
	var l []T
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("sqlstore: cannot read a list: %w", err)
	}
	if len(l) == 0 {
		l = nil
	}
	*c.p = l
	return nil
}

// list encodes a list as a JSON array; nil becomes [].
func list[T ~string](l []T) string {
	if len(l) == 0 {
		return "[]"
	}
	b, err := json.Marshal(l)
	if err != nil {
		panic(err) // a slice of strings always marshals
	}
	return string(b)
}

type scanner interface {
	Scan(dest ...any) error
}

// conds builds the WHERE clause of a list query.
type conds struct {
	where []string
	args  []any
}

func (c *conds) add(cond string, args ...any) {
	c.where = append(c.where, cond)
	c.args = append(c.args, args...)
}

func (c *conds) String() string {
	if len(c.where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(c.where, " AND ")
}

// listPage runs a list query that selects one more row than the page holds,
// to learn whether a next page exists without counting. query must end
// with its ORDER BY; listPage adds the LIMIT. The cursor of the next page is
// the key of the last row returned.
//
// named lists the objects the filter names. An empty page may mean that one
// of them does not exist, which is ENOTFOUND rather than an empty list; a
// page with rows proves they exist, through the foreign keys, so they are
// looked up only when the page is empty.
func listPage[T any](ctx context.Context, s *store, query string, args []any, size int, named []parent,
	scan func(scanner) (*T, error), key func(*T) string) ([]*T, string, error) {
	rows, err := s.query(ctx, query+" LIMIT ?", append(args, size+1)...)
	if err != nil {
		return nil, "", s.fail(ctx, err, nil)
	}
	defer rows.Close()
	out := make([]*T, 0, min(size, 64))
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, "", s.fail(ctx, err, nil)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, "", s.fail(ctx, err, nil)
	}
	if len(out) == 0 {
		if err := s.mustExist(ctx, named); err != nil {
			return nil, "", err
		}
	}
	if len(out) > size {
		out = out[:size]
		return out, key(out[size-1]), nil
	}
	return out, "", nil
}

// mustExist reports ENOTFOUND for the first of the objects that does not
// exist.
func (s *store) mustExist(ctx context.Context, objs []parent) error {
	for _, p := range objs {
		var one int
		q, args := p.exists()
		err := s.queryRow(ctx, q, args...).Scan(&one)
		if err != nil {
			return s.fail(ctx, err, &errs{notFound: p.notFound})
		}
	}
	return nil
}

// named returns the objects a list filter names, skipping empty ids.
func named(ps ...parent) []parent {
	var out []parent
	for _, p := range ps {
		if p.id != "" {
			out = append(out, p)
		}
	}
	return out
}

// Objects that filters name.

func orgNamed(id string) parent {
	return parent{table: "organizations", id: id, notFound: "organization not found"}
}

func userNamed(id string) parent {
	return parent{table: "users", id: id, notFound: "user not found"}
}

func productNamed(id string) parent {
	return parent{table: "products", id: id, notFound: "product not found"}
}

func releaseNamed(id string) parent {
	return parent{table: "releases", id: id, notFound: "release not found"}
}

func artifactNamed(id string) parent {
	return parent{table: "artifacts", id: id, notFound: "artifact not found"}
}

// badCursor is the answer to a cursor that no list returned.
func badCursor() error {
	return freight.FieldError("after", "is not a cursor returned by a previous page")
}

// idCursor checks the cursor of a list ordered by id.
func idCursor(prefix, after string) error {
	if !freight.ValidID(prefix, after) {
		return badCursor()
	}
	return nil
}

// inTx runs fn in a new transaction or, inside one, under a savepoint, so
// that an error from fn undoes what fn did and nothing else. A panic in fn
// rolls back and goes on up.
func (s *store) inTx(ctx context.Context, fn func(*store) error) error {
	if s.tx != nil {
		return s.savepoint(ctx, fn)
	}
	tx, err := s.db.sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(ctx, err, nil)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback()
		}
	}()
	st := &txState{tx: tx}
	if err := fn(&store{db: s.db, q: tx, tx: st}); err != nil {
		return err
	}
	if st.broken != nil {
		return freight.Internal(fmt.Errorf("sqlstore: transaction not committed: %w", st.broken))
	}
	committed = true
	if err := tx.Commit(); err != nil {
		return s.fail(ctx, err, nil)
	}
	return nil
}

// savepoint runs fn under a savepoint of the current transaction and rolls
// back to it when fn fails or panics.
func (s *store) savepoint(ctx context.Context, fn func(*store) error) error {
	st := s.tx
	st.depth++
	defer func() { st.depth-- }()
	name := "freight_sp" + strconv.Itoa(st.depth)
	if _, err := st.tx.ExecContext(ctx, "SAVEPOINT "+name); err != nil {
		return s.fail(ctx, err, nil)
	}
	released := false
	defer func() {
		if released {
			return
		}
		// Undo even when the call's context has ended: the transaction
		// may still commit what came before.
		ctx := context.WithoutCancel(ctx)
		if _, err := st.tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+name); err != nil {
			st.broken = err
			return
		}
		if _, err := st.tx.ExecContext(ctx, "RELEASE SAVEPOINT "+name); err != nil {
			st.broken = err
		}
	}()
	if err := fn(s); err != nil {
		return err
	}
	if _, err := st.tx.ExecContext(ctx, "RELEASE SAVEPOINT "+name); err != nil {
		return s.fail(ctx, err, nil)
	}
	released = true
	return nil
}

// Tx runs fn in one transaction on a Store bound to it. A nested Tx runs
// inside the same transaction under a savepoint, so that "nothing fn did is
// kept" holds for a failing nested fn too, while the outer fn may handle its
// error and commit its own writes.
func (s *store) Tx(ctx context.Context, fn func(tx freight.Store) error) error {
	return s.inTx(ctx, func(ts *store) error { return fn(ts) })
}

// Ping checks that the database answers.
func (s *store) Ping(ctx context.Context) error {
	if err := s.db.sqlDB.PingContext(ctx); err != nil {
		if e := ctxErr(ctx, err); e != nil {
			return e
		}
		return &freight.Error{Code: freight.EUNAVAILABLE, Message: "the database is unavailable", Err: err}
	}
	return nil
}

// checkID refuses a caller-chosen id of the wrong shape: ids sort by
// creation time, which pagination relies on, and carry their type.
func checkID(prefix, id string) error {
	if !freight.ValidID(prefix, id) {
		return freight.FieldError("id", "must be an id of the form %s_ followed by 26 base32 characters", prefix)
	}
	return nil
}

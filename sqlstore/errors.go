package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/freight-portal/freight"
)

// errs says what a database failure means to one call, in messages that
// are safe to show: the caller learns what clashed or what is missing,
// never the SQL.
type errs struct {
	notFound   string   // no row
	conflict   string   // a unique constraint other than the primary key
	idConflict string   // the primary key
	parents    []parent // foreign keys of a written row: a violation means a parent is missing
	restricted string   // a foreign key that refuses a delete
	// children are the foreign keys that refuse a delete, when there are
	// several to tell apart; restricted is then the message when none of
	// them can be named.
	children []child
}

// parent is a row that a written row refers to.
type parent struct {
	constraint string // the PostgreSQL constraint name, as in the migrations
	table      string
	id         string
	notFound   string
	// key selects a parent whose key is not one id column, such as a
	// membership: a condition with "?" placeholders for keyArgs.
	key     string
	keyArgs []any
}

// exists is the query and arguments that find the parent row.
func (p parent) exists() (string, []any) {
	if p.key != "" {
		return "SELECT 1 FROM " + p.table + " WHERE " + p.key, p.keyArgs
	}
	return "SELECT 1 FROM " + p.table + " WHERE id = ?", []any{p.id}
}

// child is a table whose rows refer to a row being deleted and refuse the
// delete.
type child struct {
	constraint string // the PostgreSQL constraint name, as in the migrations
	table      string
	column     string // the referring column
	id         string // the id of the row being deleted
	message    string
}

type violation int

const (
	violNone violation = iota
	violUnique
	violPrimaryKey
	violForeignKey
	violUnavailable
)

// fail maps a database error to a *freight.Error. e may be nil when the only
// expected failures are the database's own.
func (s *store) fail(ctx context.Context, err error, e *errs) error {
	if err == nil {
		panic("sqlstore: fail called without an error")
	}
	if _, ok := errors.AsType[*freight.Error](err); ok {
		return err
	}
	if ce := ctxErr(ctx, err); ce != nil {
		return ce
	}
	if e == nil {
		e = &errs{}
	}
	if errors.Is(err, sql.ErrNoRows) && e.notFound != "" {
		return &freight.Error{Code: freight.ENOTFOUND, Message: e.notFound}
	}
	v, constraint := classify(err)
	switch v {
	case violPrimaryKey:
		if e.idConflict != "" {
			return &freight.Error{Code: freight.ECONFLICT, Message: e.idConflict, Err: err}
		}
		if e.conflict != "" {
			return &freight.Error{Code: freight.ECONFLICT, Message: e.conflict, Err: err}
		}
	case violUnique:
		if e.conflict != "" {
			return &freight.Error{Code: freight.ECONFLICT, Message: e.conflict, Err: err}
		}
	case violForeignKey:
		if len(e.parents) > 0 {
			return &freight.Error{Code: freight.ENOTFOUND, Message: s.missingParent(ctx, e.parents, constraint), Err: err}
		}
		if len(e.children) > 0 {
			return &freight.Error{Code: freight.ECONFLICT, Message: s.blockingChild(ctx, e, constraint), Err: err}
		}
		if e.restricted != "" {
			return &freight.Error{Code: freight.ECONFLICT, Message: e.restricted, Err: err}
		}
	case violUnavailable:
		return &freight.Error{Code: freight.EUNAVAILABLE, Message: "the database is busy or unavailable; try again", Err: err}
	}
	return freight.Internal(err)
}

// missingParent names the parent whose absence broke a foreign key.
// PostgreSQL names the constraint; SQLite does not, so its parents are
// looked up, which works because SQLite, unlike PostgreSQL, keeps a
// transaction usable after a failed statement.
func (s *store) missingParent(ctx context.Context, parents []parent, constraint string) string {
	if constraint != "" {
		for _, p := range parents {
			if p.constraint == constraint {
				return p.notFound
			}
		}
	}
	if s.db.dialect == dialectSQLite {
		for _, p := range parents {
			if p.id == "" && p.key == "" {
				return p.notFound
			}
			var one int
			q, args := p.exists()
			err := s.queryRow(ctx, q, args...).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return p.notFound
			}
		}
	}
	msgs := make([]string, len(parents))
	for i, p := range parents {
		msgs[i] = p.notFound
	}
	return strings.Join(msgs, " or ")
}

// blockingChild names the rows that refused a delete. PostgreSQL names the
// constraint; on SQLite the children are looked up, as in missingParent.
func (s *store) blockingChild(ctx context.Context, e *errs, constraint string) string {
	if constraint != "" {
		for _, c := range e.children {
			if c.constraint == constraint {
				return c.message
			}
		}
	}
	if s.db.dialect == dialectSQLite {
		for _, c := range e.children {
			var one int
			err := s.queryRow(ctx, "SELECT 1 FROM "+c.table+" WHERE "+c.column+" = ? LIMIT 1", c.id).Scan(&one)
			if err == nil {
				return c.message
			}
		}
	}
	if e.restricted != "" {
		return e.restricted
	}
	return e.children[0].message
}

// ctxErr reports a canceled or timed-out call so that errors.Is finds the
// context's error whatever the driver made of it (SQLite reports an
// interrupt, pgx a closed connection).
func ctxErr(ctx context.Context, err error) error {
	cerr := ctx.Err()
	switch {
	case cerr != nil:
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		cerr = err
	default:
		return nil
	}
	msg := "the request was canceled"
	if errors.Is(cerr, context.DeadlineExceeded) {
		msg = "the database did not answer in time"
	}
	if cerr != err {
		cerr = fmt.Errorf("%w (%v)", cerr, err)
	}
	return &freight.Error{Code: freight.EUNAVAILABLE, Message: msg, Err: cerr}
}

// classify recognises the constraint violations and transient failures of
// both drivers; constraint is the violated constraint's name when the
// database says it.
func classify(err error) (v violation, constraint string) {
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok {
		switch {
		case pe.Code == "23505" && strings.HasSuffix(pe.ConstraintName, "_pkey"):
			return violPrimaryKey, pe.ConstraintName
		case pe.Code == "23505":
			return violUnique, pe.ConstraintName
		case pe.Code == "23503":
			return violForeignKey, pe.ConstraintName
		case pe.Code == "40001", pe.Code == "40P01", // serialization failure, deadlock
			strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"), // insufficient resources
			strings.HasPrefix(pe.Code, "57"): // operator intervention, e.g. shutdown
			return violUnavailable, ""
		}
		return violNone, ""
	}
	if se, ok := errors.AsType[*sqlite.Error](err); ok {
		switch c := se.Code(); {
		case c == sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return violUnique, ""
		case c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return violPrimaryKey, ""
		case c == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return violForeignKey, ""
		case c&0xff == sqlite3.SQLITE_BUSY, c&0xff == sqlite3.SQLITE_LOCKED:
			return violUnavailable, ""
		}
		return violNone, ""
	}
	if _, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		return violUnavailable, ""
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return violUnavailable, ""
	}
	if errors.Is(err, driver.ErrBadConn) {
		return violUnavailable, ""
	}
	return violNone, ""
}

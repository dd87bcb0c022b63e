package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/freight-portal/freight"
)

const sessionColumns = `id, user_id, level, method, org_id, ip, user_agent, created_at, last_seen_at, expires_at, secret_hash`

func scanSession(r scanner) (*freight.Session, error) {
	var x freight.Session
	err := r.Scan(&x.ID, &x.UserID, (*string)(&x.Level), &x.Method, nullStringCol{&x.OrgID}, &x.IP, &x.UserAgent,
		timeCol{&x.CreatedAt}, timeCol{&x.LastSeenAt}, timeCol{&x.ExpiresAt}, bytesCol{&x.SecretHash})
	if err != nil {
		return nil, err
	}
	return &x, nil
}

var errSessionNotFound = &errs{notFound: "session not found"}

// Bounds of what a session records about the sign-in. The user agent is
// cut to size by Session.Validate, being the browser's to choose; the
// address and the method come from the server, so a longer one is a bug
// and refused.
const (
	maxSessionIP     = 64
	maxSessionMethod = 128
)

// CreateSession stores x, giving it an id if it has none (sessions made
// with freight.NewSessionSecret have one), and sets its created time. Its
// last use is its created time unless x says otherwise. A session acting
// in an organization needs the user's membership there (ENOTFOUND
// otherwise) and is deleted with it.
func (s *store) CreateSession(ctx context.Context, x *freight.Session) error {
	c := *x
	if err := c.Validate(); err != nil {
		return err
	}
	if c.OrgID != "" && !freight.ValidID(freight.PrefixOrganization, c.OrgID) {
		return freight.FieldError("org_id", "must be an organization id")
	}
	if len(c.IP) > maxSessionIP {
		return freight.FieldError("ip", "must be at most %d bytes", maxSessionIP)
	}
	if len(c.Method) > maxSessionMethod {
		return freight.FieldError("method", "must be at most %d bytes", maxSessionMethod)
	}
	now := s.db.now()
	if c.ID == "" {
		c.ID = s.db.newID(freight.PrefixSession, now)
	} else if err := checkID(freight.PrefixSession, c.ID); err != nil {
		return err
	}
	c.CreatedAt = now
	if c.LastSeenAt.IsZero() {
		c.LastSeenAt = now
	}
	c.LastSeenAt, c.ExpiresAt = normTime(c.LastSeenAt), normTime(c.ExpiresAt)
	c.SecretHash = cloneBytes(c.SecretHash)
	_, err := s.exec(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.UserID, string(c.Level), c.Method, nullString(c.OrgID), c.IP, c.UserAgent,
		c.CreatedAt, c.LastSeenAt, c.ExpiresAt, c.SecretHash)
	if err != nil {
		e := &errs{
			idConflict: fmt.Sprintf("a session with id %q already exists", c.ID),
			parents:    []parent{{constraint: "sessions_user_id_fkey", table: "users", id: c.UserID, notFound: "user not found"}},
		}
		if c.OrgID != "" {
			e.parents = append(e.parents,
				parent{table: "organizations", id: c.OrgID, notFound: "organization not found"},
				parent{constraint: "sessions_membership_fkey", table: "memberships", notFound: "the user is not a member of the organization",
					key: "user_id = ? AND org_id = ?", keyArgs: []any{c.UserID, c.OrgID}})
		}
		return s.fail(ctx, err, e)
	}
	*x = c
	return nil
}

func (s *store) Session(ctx context.Context, id string) (*freight.Session, error) {
	x, err := scanSession(s.queryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id))
	if err != nil {
		return nil, s.fail(ctx, err, errSessionNotFound)
	}
	return x, nil
}

// Sessions lists every session of the user, expired ones included, in
// creation order; ENOTFOUND if the user does not exist.
func (s *store) Sessions(ctx context.Context, userID string) ([]*freight.Session, error) {
	rows, err := s.query(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE user_id = ? ORDER BY id`, userID)
	if err != nil {
		return nil, s.fail(ctx, err, nil)
	}
	defer rows.Close()
	out := []*freight.Session{}
	for rows.Next() {
		x, err := scanSession(rows)
		if err != nil {
			return nil, s.fail(ctx, err, nil)
		}
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, err, nil)
	}
	if len(out) == 0 {
		if err := s.mustExist(ctx, []parent{userNamed(userID)}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// TouchSession records that the session was used at the given time (now
// when zero). Like TouchToken it skips the write when the recorded use is
// less than touchInterval older, and never moves the time backwards.
func (s *store) TouchSession(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		at = s.db.now()
	}
	at = normTime(at)
	res, err := s.exec(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at <= ?`,
		at, id, at.Add(-touchInterval))
	if err != nil {
		return s.fail(ctx, err, errSessionNotFound)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail(ctx, err, errSessionNotFound)
	}
	if n > 0 {
		return nil
	}
	return s.mustExist(ctx, []parent{{table: "sessions", id: id, notFound: "session not found"}})
}

func (s *store) DeleteSession(ctx context.Context, id string) error {
	return s.deleteByID(ctx, `DELETE FROM sessions WHERE id = ?`, id, errSessionNotFound)
}

// DeleteSessions deletes every session of the user but except ("" keeps
// none) and returns how many it deleted; ENOTFOUND if the user does not
// exist.
func (s *store) DeleteSessions(ctx context.Context, userID, except string) (int, error) {
	res, err := s.exec(ctx, `DELETE FROM sessions WHERE user_id = ? AND id <> ?`, userID, except)
	if err != nil {
		return 0, s.fail(ctx, err, nil)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail(ctx, err, nil)
	}
	if n == 0 {
		if err := s.mustExist(ctx, []parent{userNamed(userID)}); err != nil {
			return 0, err
		}
	}
	return int(n), nil
}

// PruneSessions deletes the sessions that expired before the given time
// and returns how many.
func (s *store) PruneSessions(ctx context.Context, before time.Time) (int, error) {
	res, err := s.exec(ctx, `DELETE FROM sessions WHERE expires_at < ?`, before)
	if err != nil {
		return 0, s.fail(ctx, err, nil)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail(ctx, err, nil)
	}
	return int(n), nil
}

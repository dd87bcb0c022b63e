package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/freight-portal/freight"
)

const ticketColumns = `id, kind, email, user_id, org_id, role, vendor_role, created_by, created_at, expires_at, used_at, secret_hash, revoked_at, code_challenge, redirect_uri, client_name`

func scanTicket(r scanner) (*freight.Ticket, error) {
	var t freight.Ticket
	err := r.Scan(&t.ID, (*string)(&t.Kind), &t.Email, nullStringCol{&t.UserID}, nullStringCol{&t.OrgID},
		(*string)(&t.Role), (*string)(&t.VendorRole), &t.CreatedBy,
		timeCol{&t.CreatedAt}, timeCol{&t.ExpiresAt}, nullTimeCol{&t.UsedAt}, bytesCol{&t.SecretHash}, nullTimeCol{&t.RevokedAt},
		&t.CodeChallenge, &t.RedirectURI, &t.ClientName)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

var errTicketNotFound = &errs{notFound: "ticket not found"}

// CreateTicket stores t, giving it an id if it has none (tickets made with
// freight.NewTicketSecret have one), and sets its created time.
func (s *store) CreateTicket(ctx context.Context, t *freight.Ticket) error {
	c := *t
	if err := c.Validate(); err != nil {
		return err
	}
	if c.UserID != "" && !freight.ValidID(freight.PrefixUser, c.UserID) {
		return freight.FieldError("user_id", "must be a user id")
	}
	if c.OrgID != "" && !freight.ValidID(freight.PrefixOrganization, c.OrgID) {
		return freight.FieldError("org_id", "must be an organization id")
	}
	now := s.db.now()
	if c.ID == "" {
		c.ID = s.db.newID(freight.PrefixTicket, now)
	} else if err := checkID(freight.PrefixTicket, c.ID); err != nil {
		return err
	}
	c.CreatedAt = now
	c.ExpiresAt, c.UsedAt, c.RevokedAt = normTime(c.ExpiresAt), normTimePtr(c.UsedAt), normTimePtr(c.RevokedAt)
	c.SecretHash = cloneBytes(c.SecretHash)
	_, err := s.exec(ctx, `INSERT INTO tickets (`+ticketColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, string(c.Kind), c.Email, nullString(c.UserID), nullString(c.OrgID), string(c.Role), string(c.VendorRole),
		c.CreatedBy, c.CreatedAt, c.ExpiresAt, c.UsedAt, c.SecretHash, c.RevokedAt, c.CodeChallenge, c.RedirectURI, c.ClientName)
	if err != nil {
		e := &errs{idConflict: fmt.Sprintf("a ticket with id %q already exists", c.ID)}
		if c.UserID != "" {
			e.parents = append(e.parents, parent{constraint: "tickets_user_id_fkey", table: "users", id: c.UserID, notFound: "user not found"})
		}
		if c.OrgID != "" {
			e.parents = append(e.parents, parent{constraint: "tickets_org_id_fkey", table: "organizations", id: c.OrgID, notFound: "organization not found"})
		}
		return s.fail(ctx, err, e)
	}
	*t = c
	return nil
}

func (s *store) Ticket(ctx context.Context, id string) (*freight.Ticket, error) {
	t, err := scanTicket(s.queryRow(ctx, `SELECT `+ticketColumns+` FROM tickets WHERE id = ?`, id))
	if err != nil {
		return nil, s.fail(ctx, err, errTicketNotFound)
	}
	return t, nil
}

// UseTicket marks the ticket used at the given time (now when zero) and
// returns it. The one statement that does it only matches an unused,
// unrevoked ticket, so of concurrent uses, on any number of replicas, and
// of a use racing a withdrawal, exactly one succeeds; the others get
// ECONFLICT. Expiry is the caller's to check.
func (s *store) UseTicket(ctx context.Context, id string, at time.Time) (*freight.Ticket, error) {
	if at.IsZero() {
		at = s.db.now()
	}
	var sc scanner = scanFunc(func(dest ...any) error {
		return s.execReturning(ctx, dest, `UPDATE tickets SET used_at = ? WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL RETURNING `+ticketColumns, at, id)
	})
	t, err := scanTicket(sc)
	switch {
	case err == nil:
		return t, nil
	case !errors.Is(err, sql.ErrNoRows):
		return nil, s.fail(ctx, err, nil)
	}
	// No usable ticket: it was used, it was withdrawn, or it never existed.
	old, err := s.Ticket(ctx, id)
	if err != nil {
		return nil, err
	}
	if old.UsedAt == nil && old.RevokedAt != nil {
		return nil, &freight.Error{Code: freight.ECONFLICT, Message: "ticket withdrawn"}
	}
	return nil, &freight.Error{Code: freight.ECONFLICT, Message: "ticket already used"}
}

// RevokeTicket withdraws an unused ticket at the given time (now when
// zero) and returns it. Like UseTicket it is one statement that matches an
// unused ticket only, so a withdrawal and a use racing each other on
// different replicas cannot both succeed.
func (s *store) RevokeTicket(ctx context.Context, id string, at time.Time) (*freight.Ticket, error) {
	if at.IsZero() {
		at = s.db.now()
	}
	var out *freight.Ticket
	err := s.inTx(ctx, func(s *store) error {
		if _, err := s.exec(ctx, `UPDATE tickets SET revoked_at = ? WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL`, at, id); err != nil {
			return s.fail(ctx, err, errTicketNotFound)
		}
		t, err := s.Ticket(ctx, id)
		if err != nil {
			return err
		}
		if t.RevokedAt == nil {
			return &freight.Error{Code: freight.ECONFLICT, Message: "ticket already used"}
		}
		out = t
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Invitations lists pending invitations by id. A ticket created used or
// withdrawn has its time set; neither is pending whatever the time says,
// since both are final.
func (s *store) Invitations(ctx context.Context, f freight.InvitationFilter) ([]*freight.Ticket, string, error) {
	now := f.Now
	if now.IsZero() {
		now = s.db.now()
	}
	var c conds
	c.add(`kind = ?`, string(freight.TicketInvite))
	c.add(`used_at IS NULL`)
	c.add(`revoked_at IS NULL`)
	c.add(`expires_at > ?`, now)
	if f.After != "" {
		if err := idCursor(freight.PrefixTicket, f.After); err != nil {
			return nil, "", err
		}
		c.add(`id > ?`, f.After)
	}
	if f.OrgID != "" {
		c.add(`org_id = ?`, f.OrgID)
	}
	return listPage(ctx, s, `SELECT `+ticketColumns+` FROM tickets`+c.String()+` ORDER BY id`, c.args, f.Size(), named(orgNamed(f.OrgID)),
		scanTicket, func(t *freight.Ticket) string { return t.ID })
}

// scanFunc makes a scanner of a function, for queries that run through
// execReturning.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// ExpireTickets marks every unused ticket of the kind for the user used at
// the given time (now when zero); ENOTFOUND if the user does not exist.
func (s *store) ExpireTickets(ctx context.Context, userID string, kind freight.TicketKind, at time.Time) error {
	switch kind {
	case freight.TicketInvite, freight.TicketVerify, freight.TicketReset, freight.TicketCLI:
	default:
		return freight.FieldError("kind", "must be invite, verify, reset or cli")
	}
	if at.IsZero() {
		at = s.db.now()
	}
	res, err := s.exec(ctx, `UPDATE tickets SET used_at = ? WHERE user_id = ? AND kind = ? AND used_at IS NULL`, at, userID, string(kind))
	if err != nil {
		return s.fail(ctx, err, nil)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail(ctx, err, nil)
	}
	if n == 0 {
		return s.mustExist(ctx, []parent{userNamed(userID)})
	}
	return nil
}

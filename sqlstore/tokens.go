package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/freight-portal/freight"
)

const tokenColumns = `id, name, user_id, role, org_id, expires_at, revoked_at, last_used_at, created_by, created_at, secret_hash, products, ticket_id`

func scanToken(r scanner) (*freight.Token, error) {
	var t freight.Token
	err := r.Scan(&t.ID, &t.Name, nullStringCol{&t.UserID}, (*string)(&t.Role), nullStringCol{&t.OrgID},
		nullTimeCol{&t.ExpiresAt}, nullTimeCol{&t.RevokedAt}, nullTimeCol{&t.LastUsedAt},
		&t.CreatedBy, timeCol{&t.CreatedAt}, bytesCol{&t.SecretHash}, listCol[string]{&t.Products}, nullStringCol{&t.TicketID})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

var errTokenNotFound = &errs{notFound: "token not found"}

// touchInterval is how recent a recorded use must be for TouchToken to skip
// the write.
const touchInterval = freight.TokenTouchInterval

// CreateToken stores t, giving it an id if it has none (tokens made with
// freight.NewTokenSecret have one), and sets its created time.
func (s *store) CreateToken(ctx context.Context, t *freight.Token) error {
	c := *t
	if err := c.Validate(); err != nil {
		return err
	}
	if c.TicketID != "" && !freight.ValidID(freight.PrefixTicket, c.TicketID) {
		return freight.FieldError("ticket_id", "must be a ticket id")
	}
	now := s.db.now()
	if c.ID == "" {
		c.ID = s.db.newID(freight.PrefixToken, now)
	} else if err := checkID(freight.PrefixToken, c.ID); err != nil {
		return err
	}
	c.CreatedAt = now
	c.ExpiresAt, c.RevokedAt, c.LastUsedAt = normTimePtr(c.ExpiresAt), normTimePtr(c.RevokedAt), normTimePtr(c.LastUsedAt)
	c.SecretHash = cloneBytes(c.SecretHash)
	// Empty and nil both mean every product, and read back as nil.
	if len(c.Products) == 0 {
		c.Products = nil
	} else {
		c.Products = slices.Clone(c.Products)
	}
	err := s.inTx(ctx, func(s *store) error {
		// A list has no foreign key: the products are looked up. One
		// deleted later stays in the list and narrows the token to
		// nothing more.
		for _, id := range c.Products {
			if err := s.mustExist(ctx, []parent{productNamed(id)}); err != nil {
				return err
			}
		}
		_, err := s.exec(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.Name, nullString(c.UserID), string(c.Role), nullString(c.OrgID),
			c.ExpiresAt, c.RevokedAt, c.LastUsedAt, c.CreatedBy, c.CreatedAt, nullBytes(c.SecretHash), list(c.Products), nullString(c.TicketID))
		return err
	})
	if err != nil {
		e := &errs{idConflict: fmt.Sprintf("a token with id %q already exists", c.ID)}
		if c.UserID != "" {
			e.parents = append(e.parents, parent{constraint: "tokens_user_id_fkey", table: "users", id: c.UserID, notFound: "user not found"})
		}
		if c.OrgID != "" {
			e.parents = append(e.parents, parent{constraint: "tokens_org_id_fkey", table: "organizations", id: c.OrgID, notFound: "organization not found"})
		}
		return s.fail(ctx, err, e)
	}
	*t = c
	return nil
}

func (s *store) Token(ctx context.Context, id string) (*freight.Token, error) {
	t, err := scanToken(s.queryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE id = ?`, id))
	if err != nil {
		return nil, s.fail(ctx, err, errTokenNotFound)
	}
	return t, nil
}

func (s *store) Tokens(ctx context.Context, f freight.TokenFilter) ([]*freight.Token, string, error) {
	var c conds
	if f.After != "" {
		if err := idCursor(freight.PrefixToken, f.After); err != nil {
			return nil, "", err
		}
		c.add(`id > ?`, f.After)
	}
	if f.UserID != "" {
		c.add(`user_id = ?`, f.UserID)
	}
	if f.OrgID != "" {
		c.add(`org_id = ?`, f.OrgID)
	}
	if f.TicketID != "" {
		c.add(`ticket_id = ?`, f.TicketID)
	}
	return listPage(ctx, s, `SELECT `+tokenColumns+` FROM tokens`+c.String()+` ORDER BY id`, c.args, f.Size(), named(userNamed(f.UserID), orgNamed(f.OrgID)),
		scanToken, func(t *freight.Token) string { return t.ID })
}

// RevokeToken revokes the token at the given time (now when zero) unless it
// is revoked already, and returns it: revoking twice keeps the first time.
func (s *store) RevokeToken(ctx context.Context, id string, at time.Time) (*freight.Token, error) {
	if at.IsZero() {
		at = s.db.now()
	}
	var out *freight.Token
	err := s.inTx(ctx, func(s *store) error {
		if _, err := s.exec(ctx, `UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, at, id); err != nil {
			return s.fail(ctx, err, errTokenNotFound)
		}
		t, err := s.Token(ctx, id)
		out = t
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// TouchToken records that the token was used at the given time (now when
// zero). It skips the write when the recorded use is less than
// touchInterval older, and never moves the time backwards.
func (s *store) TouchToken(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		at = s.db.now()
	}
	at = normTime(at)
	res, err := s.exec(ctx, `UPDATE tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)`,
		at, id, at.Add(-touchInterval))
	if err != nil {
		return s.fail(ctx, err, errTokenNotFound)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail(ctx, err, errTokenNotFound)
	}
	if n > 0 {
		return nil
	}
	var one int
	if err := s.queryRow(ctx, `SELECT 1 FROM tokens WHERE id = ?`, id).Scan(&one); err != nil {
		return s.fail(ctx, err, errTokenNotFound)
	}
	return nil
}

package sqlstore

import (
	"context"
	"unicode"
	"unicode/utf8"

	"github.com/freight-portal/freight"
)

const identityColumns = `issuer, subject, user_id, provider, created_at`

func scanIdentity(r scanner) (*freight.Identity, error) {
	var i freight.Identity
	if err := r.Scan(&i.Issuer, &i.Subject, &i.UserID, &i.Provider, timeCol{&i.CreatedAt}); err != nil {
		return nil, err
	}
	return &i, nil
}

// Bounds of an identity. OpenID Connect limits a subject to 255 ASCII
// characters; an issuer is a URL.
const (
	maxIssuer   = 2048
	maxSubject  = 255
	maxProvider = 64
)

func validIdentity(i *freight.Identity) error {
	if !freight.ValidID(freight.PrefixUser, i.UserID) {
		return freight.FieldError("user_id", "must be a user id")
	}
	for _, f := range []struct {
		name, v  string
		max      int
		required bool
	}{
		{"issuer", i.Issuer, maxIssuer, true},
		{"subject", i.Subject, maxSubject, true},
		{"provider", i.Provider, maxProvider, false},
	} {
		if f.v == "" {
			if f.required {
				return freight.FieldError(f.name, "is required")
			}
			continue
		}
		if len(f.v) > f.max {
			return freight.FieldError(f.name, "must be at most %d bytes", f.max)
		}
		if !utf8.ValidString(f.v) {
			return freight.FieldError(f.name, "must be UTF-8 text")
		}
		for _, r := range f.v {
			if unicode.IsControl(r) {
				return freight.FieldError(f.name, "must not contain control characters")
			}
		}
	}
	return nil
}

// CreateIdentity links the account at a provider to a user and sets its
// created time. ECONFLICT if the issuer and subject are linked already, to
// this user or another; ENOTFOUND if the user does not exist.
func (s *store) CreateIdentity(ctx context.Context, i *freight.Identity) error {
	c := *i
	if err := validIdentity(&c); err != nil {
		return err
	}
	c.CreatedAt = s.db.now()
	_, err := s.exec(ctx, `INSERT INTO identities (`+identityColumns+`) VALUES (?, ?, ?, ?, ?)`,
		c.Issuer, c.Subject, c.UserID, c.Provider, c.CreatedAt)
	if err != nil {
		return s.fail(ctx, err, &errs{
			idConflict: "this account of the identity provider is linked to a user already",
			parents:    []parent{{constraint: "identities_user_id_fkey", table: "users", id: c.UserID, notFound: "user not found"}},
		})
	}
	*i = c
	return nil
}

// Identity finds the identity with the issuer and subject, exactly as the
// provider spells them.
func (s *store) Identity(ctx context.Context, issuer, subject string) (*freight.Identity, error) {
	i, err := scanIdentity(s.queryRow(ctx, `SELECT `+identityColumns+` FROM identities WHERE issuer = ? AND subject = ?`, issuer, subject))
	if err != nil {
		return nil, s.fail(ctx, err, &errs{notFound: "identity not found"})
	}
	return i, nil
}

// Identities lists the user's identities in the order they were linked;
// ENOTFOUND if the user does not exist.
func (s *store) Identities(ctx context.Context, userID string) ([]*freight.Identity, error) {
	rows, err := s.query(ctx, `SELECT `+identityColumns+` FROM identities WHERE user_id = ? ORDER BY created_at, issuer, subject`, userID)
	if err != nil {
		return nil, s.fail(ctx, err, nil)
	}
	defer rows.Close()
	out := []*freight.Identity{}
	for rows.Next() {
		i, err := scanIdentity(rows)
		if err != nil {
			return nil, s.fail(ctx, err, nil)
		}
		out = append(out, i)
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

package sqlstore

import (
	"context"
	"fmt"

	"github.com/freight-portal/freight"
)

const orgColumns = `id, slug, name, region, created_at, updated_at, require_mfa`

func scanOrganization(r scanner) (*freight.Organization, error) {
	var o freight.Organization
	if err := r.Scan(&o.ID, &o.Slug, &o.Name, &o.Region, timeCol{&o.CreatedAt}, timeCol{&o.UpdatedAt}, boolCol{&o.RequireMFA}); err != nil {
		return nil, err
	}
	return &o, nil
}

func orgErrs(o *freight.Organization) *errs {
	return &errs{
		notFound:   "organization not found",
		conflict:   fmt.Sprintf("an organization with slug %q already exists", o.Slug),
		idConflict: fmt.Sprintf("an organization with id %q already exists", o.ID),
	}
}

var errOrgNotFound = &errs{notFound: "organization not found"}

// CreateOrganization stores o, giving it an id if it has none, and sets its
// created and updated times.
func (s *store) CreateOrganization(ctx context.Context, o *freight.Organization) error {
	c := *o
	if err := c.Validate(); err != nil {
		return err
	}
	now := s.db.now()
	if c.ID == "" {
		c.ID = s.db.newID(freight.PrefixOrganization, now)
	} else if err := checkID(freight.PrefixOrganization, c.ID); err != nil {
		return err
	}
	c.CreatedAt, c.UpdatedAt = now, now
	_, err := s.exec(ctx, `INSERT INTO organizations (`+orgColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Slug, c.Name, c.Region, c.CreatedAt, c.UpdatedAt, c.RequireMFA)
	if err != nil {
		return s.fail(ctx, err, orgErrs(&c))
	}
	*o = c
	return nil
}

func (s *store) Organization(ctx context.Context, id string) (*freight.Organization, error) {
	return s.organization(ctx, "id", id, false)
}

func (s *store) OrganizationBySlug(ctx context.Context, slug string) (*freight.Organization, error) {
	return s.organization(ctx, "slug", slug, false)
}

func (s *store) organization(ctx context.Context, col, v string, lock bool) (*freight.Organization, error) {
	q := `SELECT ` + orgColumns + ` FROM organizations WHERE ` + col + ` = ?`
	if lock {
		q += s.forUpdate()
	}
	o, err := scanOrganization(s.queryRow(ctx, q, v))
	if err != nil {
		return nil, s.fail(ctx, err, errOrgNotFound)
	}
	return o, nil
}

func (s *store) Organizations(ctx context.Context, f freight.OrganizationFilter) ([]*freight.Organization, string, error) {
	var c conds
	if f.After != "" {
		if err := idCursor(freight.PrefixOrganization, f.After); err != nil {
			return nil, "", err
		}
		c.add(`id > ?`, f.After)
	}
	return listPage(ctx, s, `SELECT `+orgColumns+` FROM organizations`+c.String()+` ORDER BY id`, c.args, f.Size(), nil,
		scanOrganization, func(o *freight.Organization) string { return o.ID })
}

func (s *store) UpdateOrganization(ctx context.Context, id string, fn func(*freight.Organization) error) (*freight.Organization, error) {
	var out *freight.Organization
	err := s.inTx(ctx, func(s *store) error {
		old, err := s.organization(ctx, "id", id, true)
		if err != nil {
			return err
		}
		c := *old
		if err := fn(&c); err != nil {
			return err
		}
		c.ID, c.CreatedAt = old.ID, old.CreatedAt
		if err := c.Validate(); err != nil {
			return err
		}
		c.UpdatedAt = s.db.now()
		_, err = s.exec(ctx, `UPDATE organizations SET slug = ?, name = ?, region = ?, updated_at = ?, require_mfa = ? WHERE id = ?`,
			c.Slug, c.Name, c.Region, c.UpdatedAt, c.RequireMFA, c.ID)
		if err != nil {
			return s.fail(ctx, err, orgErrs(&c))
		}
		out = &c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteOrganization deletes the organization; the foreign keys delete its
// memberships, entitlements, tokens, tickets and the sessions acting in it
// (through the memberships). Audit events, grants and downloads
// keep its id. An organization that has licenses is kept, with ECONFLICT:
// licenses are legal history, and the foreign key refuses the delete, so a
// license issued concurrently cannot slip through a check made beforehand.
func (s *store) DeleteOrganization(ctx context.Context, id string) error {
	return s.deleteByID(ctx, `DELETE FROM organizations WHERE id = ?`, id, &errs{
		notFound:   "organization not found",
		restricted: "the organization has licenses and cannot be deleted: licenses are kept as legal history",
	})
}

// deleteByID runs a DELETE of one row and reports ENOTFOUND when there was
// none.
func (s *store) deleteByID(ctx context.Context, query string, id string, e *errs) error {
	return s.deleteRow(ctx, query, []any{id}, e)
}

func (s *store) deleteRow(ctx context.Context, query string, args []any, e *errs) error {
	res, err := s.exec(ctx, query, args...)
	if err != nil {
		return s.fail(ctx, err, e)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail(ctx, err, e)
	}
	if n == 0 {
		return &freight.Error{Code: freight.ENOTFOUND, Message: e.notFound}
	}
	return nil
}

package sqlstore

import (
	"context"
	"fmt"

	"github.com/freight-portal/freight"
)

const entitlementColumns = `id, org_id, product_id, channels, version_range, maintenance_until, not_before, not_after,
	platforms, arches, limit_downloads, limit_bytes, limit_period, created_at, updated_at`

func scanEntitlement(r scanner) (*freight.Entitlement, error) {
	var e freight.Entitlement
	err := r.Scan(&e.ID, &e.OrgID, &e.ProductID, listCol[freight.Channel]{&e.Channels}, &e.VersionRange,
		nullTimeCol{&e.MaintenanceUntil}, nullTimeCol{&e.NotBefore}, nullTimeCol{&e.NotAfter},
		listCol[string]{&e.Platforms}, listCol[string]{&e.Arches},
		&e.Limits.Downloads, &e.Limits.Bytes, (*string)(&e.Limits.Period),
		timeCol{&e.CreatedAt}, timeCol{&e.UpdatedAt})
	if err != nil {
		return nil, err
	}
	return &e, nil
}

func entitlementErrs(e *freight.Entitlement) *errs {
	return &errs{
		notFound:   "entitlement not found",
		conflict:   "the organization already has an entitlement to this product",
		idConflict: fmt.Sprintf("an entitlement with id %q already exists", e.ID),
		parents: []parent{
			{constraint: "entitlements_org_id_fkey", table: "organizations", id: e.OrgID, notFound: "organization not found"},
			{constraint: "entitlements_product_id_fkey", table: "products", id: e.ProductID, notFound: "product not found"},
		},
	}
}

var errEntitlementNotFound = &errs{notFound: "entitlement not found"}

func normEntitlementTimes(e *freight.Entitlement) {
	e.MaintenanceUntil = normTimePtr(e.MaintenanceUntil)
	e.NotBefore = normTimePtr(e.NotBefore)
	e.NotAfter = normTimePtr(e.NotAfter)
}

// CreateEntitlement stores e with its lists normalised, giving it an id if
// it has none, and sets its created and updated times.
func (s *store) CreateEntitlement(ctx context.Context, e *freight.Entitlement) error {
	c := *e
	normEntitlementTimes(&c)
	if err := c.Validate(); err != nil {
		return err
	}
	now := s.db.now()
	if c.ID == "" {
		c.ID = s.db.newID(freight.PrefixEntitlement, now)
	} else if err := checkID(freight.PrefixEntitlement, c.ID); err != nil {
		return err
	}
	c.CreatedAt, c.UpdatedAt = now, now
	_, err := s.exec(ctx, `INSERT INTO entitlements (`+entitlementColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.OrgID, c.ProductID, list(c.Channels), c.VersionRange, c.MaintenanceUntil, c.NotBefore, c.NotAfter,
		list(c.Platforms), list(c.Arches), c.Limits.Downloads, c.Limits.Bytes, string(c.Limits.Period),
		c.CreatedAt, c.UpdatedAt)
	if err != nil {
		return s.fail(ctx, err, entitlementErrs(&c))
	}
	*e = c
	return nil
}

func (s *store) Entitlement(ctx context.Context, id string) (*freight.Entitlement, error) {
	return s.entitlement(ctx, id, false)
}

func (s *store) entitlement(ctx context.Context, id string, lock bool) (*freight.Entitlement, error) {
	q := `SELECT ` + entitlementColumns + ` FROM entitlements WHERE id = ?`
	if lock {
		q += s.forUpdate()
	}
	e, err := scanEntitlement(s.queryRow(ctx, q, id))
	if err != nil {
		return nil, s.fail(ctx, err, errEntitlementNotFound)
	}
	return e, nil
}

func (s *store) Entitlements(ctx context.Context, f freight.EntitlementFilter) ([]*freight.Entitlement, string, error) {
	var c conds
	if f.After != "" {
		if err := idCursor(freight.PrefixEntitlement, f.After); err != nil {
			return nil, "", err
		}
		c.add(`id > ?`, f.After)
	}
	if f.OrgID != "" {
		c.add(`org_id = ?`, f.OrgID)
	}
	if f.ProductID != "" {
		c.add(`product_id = ?`, f.ProductID)
	}
	return listPage(ctx, s, `SELECT `+entitlementColumns+` FROM entitlements`+c.String()+` ORDER BY id`, c.args, f.Size(), named(orgNamed(f.OrgID), productNamed(f.ProductID)),
		scanEntitlement, func(e *freight.Entitlement) string { return e.ID })
}

// UpdateEntitlement writes what fn makes of the entitlement. Moving it to
// another organization or product is refused rather than ignored: that
// would be another entitlement, with its own history.
func (s *store) UpdateEntitlement(ctx context.Context, id string, fn func(*freight.Entitlement) error) (*freight.Entitlement, error) {
	var out *freight.Entitlement
	err := s.inTx(ctx, func(s *store) error {
		old, err := s.entitlement(ctx, id, true)
		if err != nil {
			return err
		}
		c := *old
		if err := fn(&c); err != nil {
			return err
		}
		c.ID, c.CreatedAt = old.ID, old.CreatedAt
		if c.OrgID != old.OrgID {
			return freight.FieldError("org_id", "cannot change: create an entitlement for the other organization")
		}
		if c.ProductID != old.ProductID {
			return freight.FieldError("product_id", "cannot change: create an entitlement for the other product")
		}
		normEntitlementTimes(&c)
		if err := c.Validate(); err != nil {
			return err
		}
		c.UpdatedAt = s.db.now()
		_, err = s.exec(ctx, `UPDATE entitlements SET channels = ?, version_range = ?, maintenance_until = ?, not_before = ?, not_after = ?,
			platforms = ?, arches = ?, limit_downloads = ?, limit_bytes = ?, limit_period = ?, updated_at = ? WHERE id = ?`,
			list(c.Channels), c.VersionRange, c.MaintenanceUntil, c.NotBefore, c.NotAfter,
			list(c.Platforms), list(c.Arches), c.Limits.Downloads, c.Limits.Bytes, string(c.Limits.Period),
			c.UpdatedAt, c.ID)
		if err != nil {
			return s.fail(ctx, err, entitlementErrs(&c))
		}
		out = &c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *store) DeleteEntitlement(ctx context.Context, id string) error {
	return s.deleteByID(ctx, `DELETE FROM entitlements WHERE id = ?`, id, errEntitlementNotFound)
}

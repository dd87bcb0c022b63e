package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/freight-portal/freight"
)

// The settings are the one row of the settings table, with id 1, created
// by the migration.
const settingsQuery = `SELECT require_vendor_mfa, updated_at FROM settings WHERE id = 1`

func scanSettings(r scanner) (*freight.Settings, error) {
	var x freight.Settings
	if err := r.Scan(boolCol{&x.RequireVendorMFA}, zeroTimeCol{&x.UpdatedAt}); err != nil {
		return nil, err
	}
	return &x, nil
}

// settingsFail maps a failure to read the row. A missing row is a damaged
// database, not an answer for a caller: an internal error.
func (s *store) settingsFail(ctx context.Context, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return freight.Internal(errors.New("sqlstore: the settings row is missing"))
	}
	return s.fail(ctx, err, nil)
}

// Settings returns the portal-wide settings; UpdatedAt is zero until the
// first update.
func (s *store) Settings(ctx context.Context) (*freight.Settings, error) {
	x, err := scanSettings(s.queryRow(ctx, settingsQuery))
	if err != nil {
		return nil, s.settingsFail(ctx, err)
	}
	return x, nil
}

// UpdateSettings locks the row, passes a copy to fn and writes what fn
// returns with the current time as UpdatedAt. Concurrent updates are
// serialized, so read-modify-write in fn is safe.
func (s *store) UpdateSettings(ctx context.Context, fn func(*freight.Settings) error) (*freight.Settings, error) {
	var out *freight.Settings
	err := s.inTx(ctx, func(s *store) error {
		old, err := scanSettings(s.queryRow(ctx, settingsQuery+s.forUpdate()))
		if err != nil {
			return s.settingsFail(ctx, err)
		}
		c := *old
		if err := fn(&c); err != nil {
			return err
		}
		c.UpdatedAt = s.db.now()
		if _, err := s.exec(ctx, `UPDATE settings SET require_vendor_mfa = ?, updated_at = ? WHERE id = 1`, c.RequireVendorMFA, c.UpdatedAt); err != nil {
			return s.fail(ctx, err, nil)
		}
		out = &c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

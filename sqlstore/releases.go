package sqlstore

import (
	"context"
	"fmt"

	"github.com/freight-portal/freight"
)

const releaseColumns = `id, product_id, version, channel, notes, state, published_at, yanked_at, yank_reason, created_at, updated_at`

func scanRelease(r scanner) (*freight.Release, error) {
	var rel freight.Release
	err := r.Scan(&rel.ID, &rel.ProductID, &rel.Version, (*string)(&rel.Channel), &rel.Notes, (*string)(&rel.State),
		nullTimeCol{&rel.PublishedAt}, nullTimeCol{&rel.YankedAt}, &rel.YankReason,
		timeCol{&rel.CreatedAt}, timeCol{&rel.UpdatedAt})
	if err != nil {
		return nil, err
	}
	return &rel, nil
}

func releaseErrs(r *freight.Release) *errs {
	return &errs{
		notFound:   "release not found",
		conflict:   fmt.Sprintf("the product already has a release with version %q", r.Version),
		idConflict: fmt.Sprintf("a release with id %q already exists", r.ID),
		parents: []parent{
			{constraint: "releases_product_id_fkey", table: "products", id: r.ProductID, notFound: "product not found"},
		},
	}
}

var errReleaseNotFound = &errs{notFound: "release not found"}

func validReleaseState(s freight.ReleaseState) error {
	switch s {
	case freight.ReleaseDraft, freight.ReleasePublished, freight.ReleaseYanked:
		return nil
	}
	return freight.FieldError("state", "must be one of draft, published, yanked")
}

// releaseTransition refuses the state changes that would rewrite history: a
// published release never becomes a draft again and a yanked one is never
// served again.
func releaseTransition(from, to freight.ReleaseState) error {
	if from == to {
		return nil
	}
	switch {
	case from == freight.ReleasePublished && to == freight.ReleaseDraft:
		return freight.Errorf(freight.ECONFLICT, "a published release cannot become a draft again; yank it instead")
	case from == freight.ReleaseYanked:
		return freight.Errorf(freight.ECONFLICT, "a yanked release cannot be %s again", to)
	}
	return nil
}

// CreateRelease stores r as a draft, giving it an id if it has none, and
// sets its created and updated times.
func (s *store) CreateRelease(ctx context.Context, r *freight.Release) error {
	c := *r
	c.State = freight.ReleaseDraft
	if err := c.Validate(); err != nil {
		return err
	}
	now := s.db.now()
	if c.ID == "" {
		c.ID = s.db.newID(freight.PrefixRelease, now)
	} else if err := checkID(freight.PrefixRelease, c.ID); err != nil {
		return err
	}
	c.CreatedAt, c.UpdatedAt = now, now
	c.PublishedAt, c.YankedAt = normTimePtr(c.PublishedAt), normTimePtr(c.YankedAt)
	_, err := s.exec(ctx, `INSERT INTO releases (`+releaseColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.ProductID, c.Version, string(c.Channel), c.Notes, string(c.State), c.PublishedAt, c.YankedAt, c.YankReason,
		c.CreatedAt, c.UpdatedAt)
	if err != nil {
		return s.fail(ctx, err, releaseErrs(&c))
	}
	*r = c
	return nil
}

func (s *store) Release(ctx context.Context, id string) (*freight.Release, error) {
	return s.release(ctx, id, false)
}

func (s *store) release(ctx context.Context, id string, lock bool) (*freight.Release, error) {
	q := `SELECT ` + releaseColumns + ` FROM releases WHERE id = ?`
	if lock {
		q += s.forUpdate()
	}
	r, err := scanRelease(s.queryRow(ctx, q, id))
	if err != nil {
		return nil, s.fail(ctx, err, errReleaseNotFound)
	}
	return r, nil
}

func (s *store) ReleaseByVersion(ctx context.Context, productID, version string) (*freight.Release, error) {
	r, err := scanRelease(s.queryRow(ctx, `SELECT `+releaseColumns+` FROM releases WHERE product_id = ? AND version = ?`, productID, version))
	if err != nil {
		return nil, s.fail(ctx, err, errReleaseNotFound)
	}
	return r, nil
}

// Releases lists releases newest first; the cursor is the id of the last
// release returned, and the next page holds the older ones.
func (s *store) Releases(ctx context.Context, f freight.ReleaseFilter) ([]*freight.Release, string, error) {
	var c conds
	if f.After != "" {
		if err := idCursor(freight.PrefixRelease, f.After); err != nil {
			return nil, "", err
		}
		c.add(`id < ?`, f.After)
	}
	if f.ProductID != "" {
		c.add(`product_id = ?`, f.ProductID)
	}
	if f.State != "" {
		c.add(`state = ?`, string(f.State))
	}
	if f.Channel != "" {
		c.add(`channel = ?`, string(f.Channel))
	}
	return listPage(ctx, s, `SELECT `+releaseColumns+` FROM releases`+c.String()+` ORDER BY id DESC`, c.args, f.Size(), named(productNamed(f.ProductID)),
		scanRelease, func(r *freight.Release) string { return r.ID })
}

// UpdateRelease writes what fn makes of the release. Moving it to another
// product is refused rather than ignored, and so is a state going backwards
// (see releaseTransition).
func (s *store) UpdateRelease(ctx context.Context, id string, fn func(*freight.Release) error) (*freight.Release, error) {
	var out *freight.Release
	err := s.inTx(ctx, func(s *store) error {
		old, err := s.release(ctx, id, true)
		if err != nil {
			return err
		}
		c := *old
		if err := fn(&c); err != nil {
			return err
		}
		c.ID, c.CreatedAt = old.ID, old.CreatedAt
		if c.ProductID != old.ProductID {
			return freight.FieldError("product_id", "cannot change: create the release under the other product")
		}
		if err := c.Validate(); err != nil {
			return err
		}
		if err := validReleaseState(c.State); err != nil {
			return err
		}
		if err := releaseTransition(old.State, c.State); err != nil {
			return err
		}
		c.PublishedAt, c.YankedAt = normTimePtr(c.PublishedAt), normTimePtr(c.YankedAt)
		c.UpdatedAt = s.db.now()
		_, err = s.exec(ctx, `UPDATE releases SET version = ?, channel = ?, notes = ?, state = ?, published_at = ?, yanked_at = ?, yank_reason = ?, updated_at = ? WHERE id = ?`,
			c.Version, string(c.Channel), c.Notes, string(c.State), c.PublishedAt, c.YankedAt, c.YankReason, c.UpdatedAt, c.ID)
		if err != nil {
			return s.fail(ctx, err, releaseErrs(&c))
		}
		out = &c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteRelease deletes a draft release and, through the foreign key, its
// artifacts. Like DeleteArtifact it refuses, with ECONFLICT, when one of
// the artifacts has download grants (staff may have downloaded a draft).
func (s *store) DeleteRelease(ctx context.Context, id string) error {
	return s.inTx(ctx, func(s *store) error {
		r, err := s.release(ctx, id, true)
		if err != nil {
			return err
		}
		if r.State != freight.ReleaseDraft {
			return freight.Errorf(freight.ECONFLICT, "only draft releases can be deleted; yank a published release")
		}
		return s.deleteByID(ctx, `DELETE FROM releases WHERE id = ?`, id, &errs{
			notFound:   "release not found",
			restricted: "an artifact of the release has download grants; the release cannot be deleted",
		})
	})
}

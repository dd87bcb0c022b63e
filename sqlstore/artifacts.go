package sqlstore

import (
	"context"
	"fmt"

	"github.com/freight-portal/freight"
)

const artifactColumns = `id, release_id, filename, platform, arch, size, sha256, state, error_message, created_at, updated_at`

func scanArtifact(r scanner) (*freight.Artifact, error) {
	var a freight.Artifact
	err := r.Scan(&a.ID, &a.ReleaseID, &a.Filename, &a.Platform, &a.Arch, &a.Size, &a.SHA256, (*string)(&a.State), &a.Error,
		timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

func artifactErrs(a *freight.Artifact) *errs {
	return &errs{
		notFound:   "artifact not found",
		conflict:   fmt.Sprintf("the release already has an artifact named %q", a.Filename),
		idConflict: fmt.Sprintf("an artifact with id %q already exists", a.ID),
		parents: []parent{
			{constraint: "artifacts_release_id_fkey", table: "releases", id: a.ReleaseID, notFound: "release not found"},
		},
	}
}

var errArtifactNotFound = &errs{notFound: "artifact not found"}

// CreateArtifact stores a in the state it has, uploading when none, gives
// it an id if it has none, and sets its created and updated times.
func (s *store) CreateArtifact(ctx context.Context, a *freight.Artifact) error {
	c := *a
	if c.State == "" {
		c.State = freight.ArtifactUploading
	}
	if err := c.Validate(); err != nil {
		return err
	}
	now := s.db.now()
	if c.ID == "" {
		c.ID = s.db.newID(freight.PrefixArtifact, now)
	} else if err := checkID(freight.PrefixArtifact, c.ID); err != nil {
		return err
	}
	c.CreatedAt, c.UpdatedAt = now, now
	_, err := s.exec(ctx, `INSERT INTO artifacts (`+artifactColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.ReleaseID, c.Filename, c.Platform, c.Arch, c.Size, c.SHA256, string(c.State), c.Error, c.CreatedAt, c.UpdatedAt)
	if err != nil {
		return s.fail(ctx, err, artifactErrs(&c))
	}
	*a = c
	return nil
}

func (s *store) Artifact(ctx context.Context, id string) (*freight.Artifact, error) {
	return s.artifact(ctx, id, false)
}

func (s *store) artifact(ctx context.Context, id string, lock bool) (*freight.Artifact, error) {
	q := `SELECT ` + artifactColumns + ` FROM artifacts WHERE id = ?`
	if lock {
		q += s.forUpdate()
	}
	a, err := scanArtifact(s.queryRow(ctx, q, id))
	if err != nil {
		return nil, s.fail(ctx, err, errArtifactNotFound)
	}
	return a, nil
}

func (s *store) Artifacts(ctx context.Context, f freight.ArtifactFilter) ([]*freight.Artifact, string, error) {
	var c conds
	if f.After != "" {
		if err := idCursor(freight.PrefixArtifact, f.After); err != nil {
			return nil, "", err
		}
		c.add(`id > ?`, f.After)
	}
	if f.ReleaseID != "" {
		c.add(`release_id = ?`, f.ReleaseID)
	}
	if f.State != "" {
		c.add(`state = ?`, string(f.State))
	}
	return listPage(ctx, s, `SELECT `+artifactColumns+` FROM artifacts`+c.String()+` ORDER BY id`, c.args, f.Size(), named(releaseNamed(f.ReleaseID)),
		scanArtifact, func(a *freight.Artifact) string { return a.ID })
}

// UpdateArtifact writes what fn makes of the artifact. Moving it to another
// release is refused rather than ignored. An available artifact is immutable: its bytes are cached by
// digest everywhere, so its name, size, digest and state stay as they are.
func (s *store) UpdateArtifact(ctx context.Context, id string, fn func(*freight.Artifact) error) (*freight.Artifact, error) {
	var out *freight.Artifact
	err := s.inTx(ctx, func(s *store) error {
		old, err := s.artifact(ctx, id, true)
		if err != nil {
			return err
		}
		c := *old
		if err := fn(&c); err != nil {
			return err
		}
		c.ID, c.CreatedAt = old.ID, old.CreatedAt
		if c.ReleaseID != old.ReleaseID {
			return freight.FieldError("release_id", "cannot change: create the artifact under the other release")
		}
		if err := c.Validate(); err != nil {
			return err
		}
		if old.State == freight.ArtifactAvailable &&
			(c.State != old.State || c.Filename != old.Filename || c.Size != old.Size || c.SHA256 != old.SHA256) {
			return freight.Errorf(freight.ECONFLICT, "an available artifact cannot be changed; upload a new one")
		}
		c.UpdatedAt = s.db.now()
		_, err = s.exec(ctx, `UPDATE artifacts SET filename = ?, platform = ?, arch = ?, size = ?, sha256 = ?, state = ?, error_message = ?, updated_at = ? WHERE id = ?`,
			c.Filename, c.Platform, c.Arch, c.Size, c.SHA256, string(c.State), c.Error, c.UpdatedAt, c.ID)
		if err != nil {
			return s.fail(ctx, err, artifactErrs(&c))
		}
		out = &c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteArtifact deletes the artifact and, through the foreign key, its
// uploads. An artifact that has download grants is kept, with ECONFLICT:
// grants are the record of what was handed out, and the foreign key
// refuses the delete, so a grant created concurrently cannot slip through
// a check made beforehand.
func (s *store) DeleteArtifact(ctx context.Context, id string) error {
	return s.deleteByID(ctx, `DELETE FROM artifacts WHERE id = ?`, id, &errs{
		notFound:   "artifact not found",
		restricted: "the artifact has download grants and cannot be deleted",
	})
}

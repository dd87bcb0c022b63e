package sqlstore

import (
	"context"
	"fmt"

	"github.com/freight-portal/freight"
)

const uploadColumns = `id, artifact_id, size, part_size, sha256, state, error_message, backend_id, url_key,
	job_id, digest, expires_at, created_by, created_at, updated_at`

func (s *store) scanUpload(r scanner) (*freight.Upload, error) {
	var u freight.Upload
	err := r.Scan(&u.ID, &u.ArtifactID, &u.Size, &u.PartSize, &u.SHA256, (*string)(&u.State), &u.Error, &u.BackendID,
		bytesCol{&u.URLKey}, &u.JobID, &u.Digest, timeCol{&u.ExpiresAt},
		&u.CreatedBy, timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt})
	if err != nil {
		return nil, err
	}
	if u.URLKey, err = s.open(colUploadURLKey, u.ID, u.URLKey); err != nil {
		return nil, err
	}
	return &u, nil
}

func uploadErrs(u *freight.Upload) *errs {
	return &errs{
		notFound:   "upload not found",
		idConflict: fmt.Sprintf("an upload with id %q already exists", u.ID),
		parents: []parent{
			{constraint: "uploads_artifact_id_fkey", table: "artifacts", id: u.ArtifactID, notFound: "artifact not found"},
		},
	}
}

var errUploadNotFound = &errs{notFound: "upload not found"}

// normUpload brings what a caller set to what the database gives back:
// times in UTC at microseconds, an empty URL key as nil, and a copy of the
// key, so that the stored upload does not share it with the caller.
func normUpload(u *freight.Upload) {
	u.ExpiresAt = normTime(u.ExpiresAt)
	if len(u.URLKey) == 0 {
		u.URLKey = nil
	} else {
		u.URLKey = append([]byte(nil), u.URLKey...)
	}
}

// uploadTransition refuses the state changes an upload's life does not
// have: an open upload is completed through completing, which may go back
// to open when a verification cannot finish; completed, failed and aborted
// uploads are final.
func uploadTransition(from, to freight.UploadState) error {
	if from == to {
		return nil
	}
	ok := false
	switch from {
	case freight.UploadOpen:
		ok = to == freight.UploadCompleting || to == freight.UploadAborted || to == freight.UploadFailed
	case freight.UploadCompleting:
		ok = to == freight.UploadOpen || to == freight.UploadCompleted || to == freight.UploadFailed
	case freight.UploadCompleted, freight.UploadFailed, freight.UploadAborted:
		return freight.Errorf(freight.ECONFLICT, "the upload is %s and cannot become %s; start a new upload", from, to)
	}
	if !ok {
		return freight.Errorf(freight.ECONFLICT, "an upload that is %s cannot become %s", from, to)
	}
	return nil
}

// CreateUpload stores u in the state it has, open when none, gives it an
// id if it has none, and sets its created and updated times.
func (s *store) CreateUpload(ctx context.Context, u *freight.Upload) error {
	c := *u
	if c.State == "" {
		c.State = freight.UploadOpen
	}
	if err := c.Validate(); err != nil {
		return err
	}
	normUpload(&c)
	now := s.db.now()
	if c.ID == "" {
		c.ID = s.db.newID(freight.PrefixUpload, now)
	} else if err := checkID(freight.PrefixUpload, c.ID); err != nil {
		return err
	}
	c.CreatedAt, c.UpdatedAt = now, now
	urlKey, err := s.seal(colUploadURLKey, c.ID, c.URLKey)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, `INSERT INTO uploads (`+uploadColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.ArtifactID, c.Size, c.PartSize, c.SHA256, string(c.State), c.Error, c.BackendID, nullBytes(urlKey),
		c.JobID, c.Digest, c.ExpiresAt, c.CreatedBy, c.CreatedAt, c.UpdatedAt)
	if err != nil {
		return s.fail(ctx, err, uploadErrs(&c))
	}
	*u = c
	return nil
}

func (s *store) Upload(ctx context.Context, id string) (*freight.Upload, error) {
	return s.upload(ctx, id, false)
}

func (s *store) upload(ctx context.Context, id string, lock bool) (*freight.Upload, error) {
	q := `SELECT ` + uploadColumns + ` FROM uploads WHERE id = ?`
	if lock {
		q += s.forUpdate()
	}
	u, err := s.scanUpload(s.queryRow(ctx, q, id))
	if err != nil {
		return nil, s.fail(ctx, err, errUploadNotFound)
	}
	return u, nil
}

// Uploads lists uploads in id order. ExpiredBefore keeps those whose
// expiry is strictly before it.
func (s *store) Uploads(ctx context.Context, f freight.UploadFilter) ([]*freight.Upload, string, error) {
	var c conds
	if f.After != "" {
		if err := idCursor(freight.PrefixUpload, f.After); err != nil {
			return nil, "", err
		}
		c.add(`id > ?`, f.After)
	}
	if f.ArtifactID != "" {
		c.add(`artifact_id = ?`, f.ArtifactID)
	}
	if f.State != "" {
		c.add(`state = ?`, string(f.State))
	}
	if !f.ExpiredBefore.IsZero() {
		c.add(`expires_at < ?`, f.ExpiredBefore)
	}
	return listPage(ctx, s, `SELECT `+uploadColumns+` FROM uploads`+c.String()+` ORDER BY id`, c.args, f.Size(), named(artifactNamed(f.ArtifactID)),
		s.scanUpload, func(u *freight.Upload) string { return u.ID })
}

// UpdateUpload writes what fn makes of the upload. Moving it to another
// artifact is refused rather than ignored, and so is a state change the
// upload's life does not have (see uploadTransition).
func (s *store) UpdateUpload(ctx context.Context, id string, fn func(*freight.Upload) error) (*freight.Upload, error) {
	var out *freight.Upload
	err := s.inTx(ctx, func(s *store) error {
		old, err := s.upload(ctx, id, true)
		if err != nil {
			return err
		}
		c := *old
		// fn gets a key of its own: changing it in place must not change
		// old.
		c.URLKey = append([]byte(nil), old.URLKey...)
		if err := fn(&c); err != nil {
			return err
		}
		c.ID, c.CreatedAt = old.ID, old.CreatedAt
		if c.ArtifactID != old.ArtifactID {
			return freight.FieldError("artifact_id", "cannot change: start an upload for the other artifact")
		}
		if err := c.Validate(); err != nil {
			return err
		}
		if err := uploadTransition(old.State, c.State); err != nil {
			return err
		}
		normUpload(&c)
		c.UpdatedAt = s.db.now()
		urlKey, err := s.seal(colUploadURLKey, c.ID, c.URLKey)
		if err != nil {
			return err
		}
		_, err = s.exec(ctx, `UPDATE uploads SET size = ?, part_size = ?, sha256 = ?, state = ?, error_message = ?, backend_id = ?,
			url_key = ?, job_id = ?, digest = ?, expires_at = ?, created_by = ?, updated_at = ? WHERE id = ?`,
			c.Size, c.PartSize, c.SHA256, string(c.State), c.Error, c.BackendID,
			nullBytes(urlKey), c.JobID, c.Digest, c.ExpiresAt, c.CreatedBy, c.UpdatedAt, c.ID)
		if err != nil {
			return s.fail(ctx, err, uploadErrs(&c))
		}
		out = &c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

package server

import (
	"context"
	"net/http"
	"time"

	"github.com/freight-portal/freight"
)

// claimFor is how long a server may take to hash and commit an upload of
// size bytes before another attempt may take over: generous, at 20 MB/s.
func claimFor(size int64) time.Duration {
	return 5*time.Minute + time.Duration(size/(20<<20))*time.Second
}

// completeUpload assembles, verifies and commits an upload. It runs in the
// request: the client learns the outcome, and a client that loses the
// connection asks again, which waits for a claim in progress or takes over
// one that lapsed (a crashed server).
func (s *Server) completeUpload(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := pathID(r, "upload", freight.PrefixUpload, "upload")
	if err != nil {
		return err
	}
	mp, err := s.multipart()
	if err != nil {
		return err
	}
	// Claim the upload.
	now := s.now()
	up, err := s.store.UpdateUpload(ctx, id, func(u *freight.Upload) error {
		switch {
		case u.State == freight.UploadCompleted:
			return nil // answered below with the artifact
		case u.State == freight.UploadCompleting && u.ClaimedUntil != nil && now.Before(*u.ClaimedUntil):
			return freight.Errorf(freight.ECONFLICT, "upload %s is being completed; ask again later", u.ID)
		case u.State == freight.UploadOpen || u.State == freight.UploadCompleting:
			if u.State == freight.UploadOpen && !now.Before(u.ExpiresAt) {
				return freight.Errorf(freight.ECONFLICT, "upload %s expired at %s; start a new one", u.ID, u.ExpiresAt.Format(time.RFC3339))
			}
			until := now.Add(claimFor(u.Size))
			u.State, u.ClaimedUntil = freight.UploadCompleting, &until
			return nil
		}
		return freight.Errorf(freight.ECONFLICT, "upload %s is %s", u.ID, u.State)
	})
	if err != nil {
		return err
	}
	if up.State == freight.UploadCompleted {
		a, err := s.store.Artifact(ctx, up.ArtifactID)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, a)
		return nil
	}
	// From here on the work must not stop half-way because the client
	// went away: the claim would then block retries until it lapses.
	ctx = context.WithoutCancel(ctx)
	a, err := s.finish(ctx, r, mp, up)
	if err != nil {
		s.metrics.uploads.WithLabelValues("failed").Inc()
		return err
	}
	s.metrics.uploads.WithLabelValues("ok").Inc()
	writeJSON(w, http.StatusOK, a)
	return nil
}

// finish hashes the staged upload and commits it under the blob lock.
func (s *Server) finish(ctx context.Context, r *http.Request, mp freight.MultipartStore, up *freight.Upload) (*freight.Artifact, error) {
	reopen := func(cause error) error {
		// A part is missing or the backend failed: the client may send
		// parts again and retry. Nothing is visible to anyone.
		if _, err := s.store.UpdateUpload(ctx, up.ID, func(u *freight.Upload) error {
			u.State, u.ClaimedUntil = freight.UploadOpen, nil
			return nil
		}); err != nil {
			s.logger.ErrorContext(ctx, "reopening upload", "upload_id", up.ID, "err", err)
		}
		return cause
	}
	digest, err := mp.FinishUpload(ctx, up.BackendID, up.Size, up.PartSize)
	if err != nil {
		return nil, reopen(err)
	}
	if up.SHA256 != "" && digest != up.SHA256 {
		// The bytes arrived whole but are not the declared file: fail the
		// artifact for good, with the reason, and drop the bytes.
		reason := "the received file's SHA-256 is " + digest + ", not the declared " + up.SHA256
		if err := s.failUpload(ctx, r, up, reason); err != nil {
			return nil, err
		}
		if err := mp.AbortUpload(ctx, up.BackendID); err != nil {
			s.logger.WarnContext(ctx, "discarding a rejected upload", "upload_id", up.ID, "err", err)
		}
		return nil, freight.FieldError("sha256", "%s; the artifact is marked failed", reason)
	}
	owner := "upload:" + up.ID
	if err := s.lockBlob(ctx, digest, owner, claimFor(up.Size)); err != nil {
		return nil, reopen(err)
	}
	defer func() {
		if err := s.store.UnlockBlob(ctx, digest, owner); err != nil {
			s.logger.WarnContext(ctx, "unlocking blob", "digest", digest, "err", err)
		}
	}()
	if err := mp.CommitUpload(ctx, up.BackendID, digest); err != nil {
		return nil, reopen(err)
	}
	var a *freight.Artifact
	err = s.change(r, "artifact.available", "artifact", func(tx freight.Store) (audited, error) {
		var err error
		a, err = tx.UpdateArtifact(ctx, up.ArtifactID, func(a *freight.Artifact) error {
			a.SHA256, a.State, a.Error = digest, freight.ArtifactAvailable, ""
			return nil
		})
		if err != nil {
			return audited{}, err
		}
		if _, err := tx.UpdateUpload(ctx, up.ID, func(u *freight.Upload) error {
			u.State, u.ClaimedUntil = freight.UploadCompleted, nil
			return nil
		}); err != nil {
			return audited{}, err
		}
		return audited{id: a.ID, details: a}, nil
	})
	if err != nil {
		return nil, reopen(err)
	}
	return a, nil
}

// lockBlob takes the blob lock, waiting while the garbage collector holds
// it (it holds it for one delete).
func (s *Server) lockBlob(ctx context.Context, digest, owner string, d time.Duration) error {
	for attempt := 0; ; attempt++ {
		err := s.store.LockBlob(ctx, digest, owner, s.now().Add(d))
		if freight.ErrorCode(err) != freight.ECONFLICT || attempt >= 50 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// failUpload marks an upload and its artifact failed, with the reason.
func (s *Server) failUpload(ctx context.Context, r *http.Request, up *freight.Upload, reason string) error {
	return s.changeAs(ctx, r, "artifact.failed", "artifact", func(tx freight.Store) (audited, error) {
		if _, err := tx.UpdateUpload(ctx, up.ID, func(u *freight.Upload) error {
			u.State, u.Error, u.ClaimedUntil = freight.UploadFailed, reason, nil
			return nil
		}); err != nil {
			return audited{}, err
		}
		a, err := tx.UpdateArtifact(ctx, up.ArtifactID, func(a *freight.Artifact) error {
			a.State, a.Error = freight.ArtifactFailed, reason
			return nil
		})
		if err != nil {
			return audited{}, err
		}
		return audited{id: a.ID, details: a}, nil
	})
}

// abortUpload cancels an open upload; its artifact is marked failed.
func (s *Server) abortUpload(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	up, err := s.uploadFromPath(r)
	if err != nil {
		return err
	}
	if up.State != freight.UploadOpen {
		return freight.Errorf(freight.ECONFLICT, "upload %s is %s; only an open upload can be cancelled", up.ID, up.State)
	}
	if err := s.cancelUpload(ctx, r, up, "upload cancelled"); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// cancelUpload aborts an upload's staging area and marks it aborted and its
// artifact failed. r is nil when the janitor does it.
func (s *Server) cancelUpload(ctx context.Context, r *http.Request, up *freight.Upload, reason string) error {
	mp, err := s.multipart()
	if err != nil {
		return err
	}
	err = s.changeAs(ctx, r, "upload.abort", "upload", func(tx freight.Store) (audited, error) {
		u, err := tx.UpdateUpload(ctx, up.ID, func(u *freight.Upload) error {
			if u.State != freight.UploadOpen {
				return freight.Errorf(freight.ECONFLICT, "upload %s is %s", u.ID, u.State)
			}
			u.State, u.Error = freight.UploadAborted, reason
			return nil
		})
		if err != nil {
			return audited{}, err
		}
		if _, err := tx.UpdateArtifact(ctx, up.ArtifactID, func(a *freight.Artifact) error {
			if a.State == freight.ArtifactUploading {
				a.State, a.Error = freight.ArtifactFailed, reason
			}
			return nil
		}); err != nil {
			return audited{}, err
		}
		return audited{id: u.ID, details: u}, nil
	})
	if err != nil {
		return err
	}
	// The staging area goes after the record: if this fails, the upload is
	// aborted all the same and its parts can no longer be completed.
	return mp.AbortUpload(ctx, up.BackendID)
}

func (s *Server) getArtifact(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "artifact", freight.PrefixArtifact, "artifact")
	if err != nil {
		return err
	}
	a, err := s.store.Artifact(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

// deleteArtifact removes an artifact of a draft release. Its blob stays
// until the garbage collector finds no artifact naming it.
func (s *Server) deleteArtifact(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := pathID(r, "artifact", freight.PrefixArtifact, "artifact")
	if err != nil {
		return err
	}
	var staging []string
	err = s.change(r, "artifact.delete", "artifact", func(tx freight.Store) (audited, error) {
		a, err := tx.Artifact(ctx, id)
		if err != nil {
			return audited{}, err
		}
		rel, err := tx.Release(ctx, a.ReleaseID)
		if err != nil {
			return audited{}, err
		}
		if rel.State != freight.ReleaseDraft {
			return audited{}, freight.Errorf(freight.ECONFLICT, "release %s is %s; its files stay (yank the release instead)", rel.Version, rel.State)
		}
		ups, _, err := tx.Uploads(ctx, freight.UploadFilter{ArtifactID: id, State: freight.UploadOpen, Page: freight.Page{Limit: freight.MaxPageSize}})
		if err != nil {
			return audited{}, err
		}
		for _, u := range ups {
			staging = append(staging, u.BackendID)
		}
		if err := tx.DeleteArtifact(ctx, id); err != nil {
			return audited{}, err
		}
		return audited{id: id, details: a}, nil
	})
	if err != nil {
		return err
	}
	if mp, ok := s.blobs.(freight.MultipartStore); ok {
		for _, b := range staging {
			if err := mp.AbortUpload(context.WithoutCancel(ctx), b); err != nil {
				s.logger.WarnContext(ctx, "discarding the staging area of a deleted artifact", "err", err)
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

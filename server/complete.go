package server

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/jobs"
)

// Completing an upload.
//
// POST /api/v1/uploads/{id}/complete moves an open upload to completing and
// queues, in the same transaction, a verify-upload job (verify.go) that
// hashes the staged bytes and commits them as a blob. Hashing a file of
// tens of GB read back from S3 takes minutes, longer than the proxies in
// front of a portal keep a request open; the job is durable, retried with
// backoff, and visible to admins when it keeps failing. The request waits
// for the outcome for a while (Config.UploadCompleteWait) and answers it,
// or answers 202 Accepted with the upload, after which the client asks
// again.

// Completion settings and their defaults.
const (
	// DefaultUploadCompleteWait is how long a complete request waits for
	// the verification before it answers 202: below the 30 s CloudFront
	// and the 60 s nginx wait for an origin's answer by default.
	DefaultUploadCompleteWait = 20 * time.Second
	// completeRetryAfter is the Retry-After of a 202: the next complete
	// waits again, so asking soon costs nothing.
	completeRetryAfter = 2 * time.Second
	// completePollMax bounds the pause between two looks at the upload
	// while a request waits for a verification on another replica.
	completePollMax = 2 * time.Second
)

func (s *Server) completeUpload(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := pathID(r, "upload", freight.PrefixUpload, "upload")
	if err != nil {
		return err
	}
	if _, err := s.multipart(); err != nil {
		return err
	}
	up, err := s.startVerification(r, id)
	if err != nil {
		return err
	}
	if up.State == freight.UploadCompleting {
		s.jobs.Notify() // the job is committed now
		if up, err = s.awaitVerification(ctx, up); err != nil {
			return err
		}
	}
	return s.answerCompletion(w, r, up)
}

// startVerification moves an open upload to completing and queues its
// verification, in one transaction, and returns the upload. An upload
// that is completing already keeps its job, so asking again is free,
// unless that job has ended without settling the upload (it died on its
// last attempt before it could reopen it): then a new job takes over.
// Settled uploads are returned as they are.
func (s *Server) startVerification(r *http.Request, id string) (*freight.Upload, error) {
	ctx := r.Context()
	up, err := s.store.Upload(ctx, id)
	if err != nil {
		return nil, err
	}
	// Most repeated requests find the upload settled, or verifying under a
	// live job: a read answers them, without a write.
	switch up.State {
	case freight.UploadOpen:
	case freight.UploadCompleting:
		if live, err := verificationLive(ctx, s.store, up.JobID); err != nil || live {
			return up, err
		}
	default:
		return up, nil
	}
	p := principal(ctx)
	payload := verifyUpload{Upload: id, Actor: p.Actor(), TokenID: p.TokenID, IP: clientIP(r), RequestID: RequestID(ctx)}
	now := s.now()
	err = s.store.Tx(ctx, func(tx freight.Store) error {
		var err error
		up, err = tx.UpdateUpload(ctx, id, func(u *freight.Upload) error {
			// Under the row lock: concurrent requests queue one job.
			switch u.State {
			case freight.UploadOpen:
				if !now.Before(u.ExpiresAt) {
					return freight.Errorf(freight.ECONFLICT, "upload %s expired at %s; start a new one", u.ID, u.ExpiresAt.Format(time.RFC3339))
				}
			case freight.UploadCompleting:
				if live, err := verificationLive(ctx, tx, u.JobID); err != nil || live {
					return err
				}
			default:
				return nil
			}
			j, err := s.jobs.Enqueue(ctx, tx, verifyUploadKind, payload, jobs.Options{MaxAttempts: verifyUploadAttempts})
			if err != nil {
				return err
			}
			u.State, u.JobID, u.Error = freight.UploadCompleting, j.ID, ""
			return nil
		})
		if err != nil || up.State != freight.UploadCompleting {
			return err
		}
		return markVerifying(ctx, tx, up.ArtifactID)
	})
	if err != nil {
		return nil, err
	}
	return up, nil
}

// markVerifying shows an uploading artifact as verifying while its upload
// is.
func markVerifying(ctx context.Context, tx freight.Store, artifactID string) error {
	_, err := tx.UpdateArtifact(ctx, artifactID, func(a *freight.Artifact) error {
		if a.State == freight.ArtifactUploading {
			a.State = freight.ArtifactVerifying
		}
		return nil
	})
	return err
}

// verificationLive reports whether the job of a completing upload may
// still settle it: it exists and is queued or running. A dead job, or one
// done without settling the upload, will not.
func verificationLive(ctx context.Context, st freight.Store, jobID string) (bool, error) {
	if jobID == "" {
		return false, nil
	}
	j, err := st.Job(ctx, jobID)
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return j.State == freight.JobQueued || j.State == freight.JobRunning, nil
}

// awaitVerification watches a completing upload until it is settled or
// Config.UploadCompleteWait has passed, and returns it as last seen. It
// looks at the row at growing intervals, for a worker on another replica,
// and at once when this replica's worker settles an upload. A client that
// goes away ends the wait; the verification goes on.
func (s *Server) awaitVerification(ctx context.Context, up *freight.Upload) (*freight.Upload, error) {
	wait := s.cfg.UploadCompleteWait
	if wait <= 0 {
		return up, nil
	}
	deadline := time.Now().Add(wait)
	pause := 50 * time.Millisecond
	for {
		// Before the read: a verification that ends after it raises the
		// signal this wait then sees.
		settled := s.verified.wait()
		cur, err := s.store.Upload(ctx, up.ID)
		if err != nil {
			if ctx.Err() != nil {
				return up, nil
			}
			return nil, err
		}
		left := time.Until(deadline)
		if cur.State != freight.UploadCompleting || left <= 0 {
			return cur, nil
		}
		t := time.NewTimer(min(pause, left))
		select {
		case <-settled:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return cur, nil
		}
		t.Stop()
		pause = min(pause*2, completePollMax)
	}
}

// answerCompletion answers a complete request with where the upload is:
// the artifact once it is available; 202 with the upload, where it is
// found, and when to ask again while it is being verified; otherwise the
// reason it is not available.
func (s *Server) answerCompletion(w http.ResponseWriter, r *http.Request, up *freight.Upload) error {
	switch up.State {
	case freight.UploadCompleted:
		a, err := s.store.Artifact(r.Context(), up.ArtifactID)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, a)
		return nil
	case freight.UploadCompleting:
		w.Header().Set("Location", "/api/v1/uploads/"+up.ID)
		w.Header().Set("Retry-After", strconv.Itoa(int(completeRetryAfter/time.Second)))
		writeJSON(w, http.StatusAccepted, uploadAnswer{Upload: up, Parts: up.Parts()})
		return nil
	case freight.UploadOpen:
		// Only a verification that could not finish leaves a completed
		// upload open.
		reason := up.Error
		if reason == "" {
			reason = "the verification did not finish"
		}
		return freight.Errorf(freight.ECONFLICT, "upload %s is open again: %s; send what is missing and complete it again", up.ID, reason)
	case freight.UploadFailed:
		if digestMismatch(up) {
			return freight.FieldError("sha256", "%s; the artifact is marked failed", up.Error)
		}
		if up.Error != "" {
			return freight.Errorf(freight.ECONFLICT, "upload %s failed: %s", up.ID, up.Error)
		}
	}
	return freight.Errorf(freight.ECONFLICT, "upload %s is %s", up.ID, up.State)
}

// digestMismatch reports whether up failed because its bytes are not the
// file whose SHA-256 was declared.
func digestMismatch(up *freight.Upload) bool {
	return up.State == freight.UploadFailed && up.SHA256 != "" && up.Digest != "" && up.Digest != up.SHA256
}

// signal wakes every goroutine waiting on it each time it is raised.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel that is closed at the next raise.
func (g *signal) wait() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ch == nil {
		g.ch = make(chan struct{})
	}
	return g.ch
}

func (g *signal) raise() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ch != nil {
		close(g.ch)
		g.ch = nil
	}
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
		// The staging areas of open uploads, and of one being verified:
		// its job finds the upload gone and stops.
		for _, st := range []freight.UploadState{freight.UploadOpen, freight.UploadCompleting} {
			ups, _, err := tx.Uploads(ctx, freight.UploadFilter{ArtifactID: id, State: st, Page: freight.Page{Limit: freight.MaxPageSize}})
			if err != nil {
				return audited{}, err
			}
			for _, u := range ups {
				staging = append(staging, u.BackendID)
			}
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

package server

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/jobs"
)

// verifyUploadKind is the job that verifies a completed upload and makes
// its artifact available.
const verifyUploadKind = "verify-upload"

// verifyUploadAttempts bounds the attempts of a verification that fails
// for a reason the client cannot fix (the blob store or the database
// away): with the queue's default backoff the retries span a few minutes,
// after which the upload is reopened with the reason, and the job is dead
// for admins to see and retry.
const verifyUploadAttempts = 7

// reopenGrace is the least time a reopened upload has left before it
// expires, so that the client can send what was missing even when the
// verification ended near the expiry.
const reopenGrace = time.Hour

// verifyUpload is the payload of a verify-upload job: the upload, and who
// completed it and from where, for the audit event of the outcome.
type verifyUpload struct {
	Upload    string `json:"upload_id"`
	Actor     string `json:"actor,omitempty"`
	TokenID   string `json:"token_id,omitempty"`
	IP        string `json:"ip,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// commitLockFor is how long the blob lock of an upload of size bytes is
// taken for: long enough for the commit, which on S3 copies the object,
// generous at 20 MB/s.
func commitLockFor(size int64) time.Duration {
	return 5*time.Minute + time.Duration(size/(20<<20))*time.Second
}

// errSettled ends a verification whose upload is no longer its own: it was
// settled, replaced by a newer job, or deleted with its artifact.
var errSettled = errors.New("the upload was settled without this job")

// verifyUploadJob does what completing an upload takes: it hashes the
// staged bytes, checks them against the declared SHA-256, commits them as
// the blob under the blob lock, and makes the artifact available and the
// upload completed in one transaction, which also completes the job
// (jobs.Queue.CompleteIn), so the artifact becomes available once however
// often the job runs. It runs again after a crash at any point: the
// hashing is repeated, and a commit made before the crash is found by the
// digest recorded on the upload.
//
// A declared SHA-256 that the bytes do not have fails the artifact for
// good. A missing or misshapen part reopens the upload with the reason, for
// the client to send it and complete again. Any other error is returned,
// for the queue to retry; the last attempt reopens the upload too, so that
// the client is not left waiting, and the job goes dead, for an admin to
// retry once the fault is gone, which verifies the upload if the client has
// not completed it again meanwhile.
func (s *Server) verifyUploadJob(ctx context.Context, j *freight.Job) error {
	var p verifyUpload
	if err := json.Unmarshal(j.Payload, &p); err != nil || !freight.ValidID(freight.PrefixUpload, p.Upload) {
		return jobs.Permanent(errors.New("the payload does not name an upload"))
	}
	mp, err := s.multipart()
	if err != nil {
		return jobs.Permanent(err)
	}
	v := &verification{s: s, j: j, p: p, mp: mp}
	err = v.run(ctx)
	if errors.Is(err, errSettled) {
		return nil
	}
	if err != nil && j.Attempts >= j.MaxAttempts && ctx.Err() == nil && !jobs.IsPermanent(err) {
		reason := "the portal could not verify the file (" + freight.ErrorMessage(err) + ")"
		if rerr := v.reopen(ctx, false, reason); rerr != nil && !errors.Is(rerr, errSettled) {
			s.logger.ErrorContext(ctx, "reopening an upload after its last verification attempt", "upload_id", p.Upload, "err", rerr)
		}
	}
	return err
}

// verification is one run of a verify-upload job.
type verification struct {
	s  *Server
	j  *freight.Job
	p  verifyUpload
	mp freight.MultipartStore
}

func (v *verification) run(ctx context.Context) error {
	start := time.Now()
	up, err := v.claim(ctx)
	if err != nil {
		return err
	}
	digest, err := v.mp.FinishUpload(ctx, up.BackendID, up.Size, up.PartSize)
	committed := false
	switch code := freight.ErrorCode(err); {
	case err == nil:
	case code == freight.ENOTFOUND && up.Digest != "":
		// An earlier run committed the staging area and stopped before
		// its last transaction: the blob is the one it recorded.
		digest, committed = up.Digest, true
	case code == freight.ENOTFOUND:
		return v.fail(ctx, up, "the received parts are gone; upload the file again")
	case code == freight.EINVALID:
		return v.reopen(ctx, true, freight.ErrorMessage(err))
	default:
		return err
	}
	if !committed && up.Digest != digest {
		// Recorded before the commit, which removes the staging area.
		up, err = v.update(ctx, v.s.store, func(u *freight.Upload) { u.Digest = digest })
		if err != nil {
			return err
		}
	}
	if up.SHA256 != "" && digest != up.SHA256 {
		return v.fail(ctx, up, "the received file's SHA-256 is "+digest+", not the declared "+up.SHA256)
	}

	owner := "upload:" + up.ID
	if err := v.s.lockBlob(ctx, digest, owner, commitLockFor(up.Size)); err != nil {
		return err
	}
	defer func() {
		if err := v.s.store.UnlockBlob(context.WithoutCancel(ctx), digest, owner); err != nil {
			v.s.logger.WarnContext(ctx, "unlocking blob", "digest", digest, "err", err)
		}
	}()
	if err := v.mp.CommitUpload(ctx, up.BackendID, digest); err != nil {
		if committed && freight.ErrorCode(err) == freight.ENOTFOUND {
			return v.fail(ctx, up, "the received file was lost before it became available; upload it again")
		}
		return err
	}
	a, err := v.conclude(ctx, up, "artifact.available", freight.UploadCompleted, "", func(a *freight.Artifact) {
		a.SHA256, a.State, a.Error = digest, freight.ArtifactAvailable, ""
	})
	if err != nil {
		return err
	}
	v.s.metrics.uploads.WithLabelValues("ok").Inc()
	v.s.verified.raise()
	v.s.logger.InfoContext(ctx, "upload verified", "upload_id", up.ID, "artifact_id", a.ID, "sha256", digest,
		"size", up.Size, "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// claim returns the upload if this job is the one to verify it. An upload
// that the job's last attempt reopened, and that nobody completed since,
// is taken back to completing: an admin retried the job.
func (v *verification) claim(ctx context.Context) (*freight.Upload, error) {
	up, err := v.s.store.Upload(ctx, v.p.Upload)
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		return nil, errSettled
	} else if err != nil {
		return nil, err
	}
	switch {
	case up.JobID != v.j.ID:
		return nil, errSettled
	case up.State == freight.UploadCompleting:
		return up, nil
	case up.State != freight.UploadOpen || !v.s.now().Before(up.ExpiresAt):
		return nil, errSettled
	}
	err = v.s.store.Tx(ctx, func(tx freight.Store) error {
		up, err = tx.UpdateUpload(ctx, up.ID, func(u *freight.Upload) error {
			if u.State != freight.UploadOpen || u.JobID != v.j.ID {
				return errSettled
			}
			u.State, u.Error = freight.UploadCompleting, ""
			return nil
		})
		if err != nil {
			return err
		}
		return markVerifying(ctx, tx, up.ArtifactID)
	})
	if err != nil {
		return nil, err
	}
	return up, nil
}

// update changes the upload on st if it is still completing under this
// job, and fails with errSettled otherwise.
func (v *verification) update(ctx context.Context, st freight.Store, fn func(*freight.Upload)) (*freight.Upload, error) {
	up, err := st.UpdateUpload(ctx, v.p.Upload, func(u *freight.Upload) error {
		if u.State != freight.UploadCompleting || u.JobID != v.j.ID {
			return errSettled
		}
		fn(u)
		return nil
	})
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		return nil, errSettled
	}
	return up, err
}

// reopen opens the upload again with the reason, for the client to fix
// what is wrong and complete it again. done completes the job in the same
// transaction: the job's work is over. Otherwise the job is on its last
// attempt and about to go dead.
func (v *verification) reopen(ctx context.Context, done bool, reason string) error {
	err := v.s.store.Tx(ctx, func(tx freight.Store) error {
		if done {
			if err := v.s.jobs.CompleteIn(ctx, tx, v.j); err != nil {
				return err
			}
		}
		up, err := v.update(ctx, tx, func(u *freight.Upload) {
			u.State, u.Error = freight.UploadOpen, reason
			if least := v.s.now().Add(reopenGrace); u.ExpiresAt.Before(least) {
				u.ExpiresAt = least
			}
		})
		if err != nil {
			return err
		}
		_, err = tx.UpdateArtifact(ctx, up.ArtifactID, func(a *freight.Artifact) error {
			if a.State == freight.ArtifactVerifying {
				a.State = freight.ArtifactUploading
			}
			return nil
		})
		return err
	})
	if err != nil {
		return err
	}
	v.s.metrics.uploads.WithLabelValues("failed").Inc()
	v.s.verified.raise()
	v.s.logger.WarnContext(ctx, "upload open again", "upload_id", v.p.Upload, "reason", reason)
	return nil
}

// fail marks the upload and its artifact failed for good, with the reason,
// and drops the staged bytes: nothing of them may become downloadable.
func (v *verification) fail(ctx context.Context, up *freight.Upload, reason string) error {
	_, err := v.conclude(ctx, up, "artifact.failed", freight.UploadFailed, reason, func(a *freight.Artifact) {
		a.State, a.Error = freight.ArtifactFailed, reason
	})
	if err != nil {
		return err
	}
	v.s.metrics.uploads.WithLabelValues("failed").Inc()
	v.s.verified.raise()
	v.s.logger.WarnContext(ctx, "upload failed", "upload_id", up.ID, "reason", reason)
	if err := v.mp.AbortUpload(ctx, up.BackendID); err != nil {
		v.s.logger.WarnContext(ctx, "discarding a rejected upload", "upload_id", up.ID, "err", err)
	}
	return nil
}

// event is the audit event of the outcome, in the name of whoever
// completed the upload.
// conclude ends the job with its outcome, in one transaction with the
// audit event action: the upload takes state st with error reason, and
// the artifact what set makes of it.
func (v *verification) conclude(ctx context.Context, up *freight.Upload, action string, st freight.UploadState, reason string, set func(*freight.Artifact)) (*freight.Artifact, error) {
	var a *freight.Artifact
	err := v.s.record(ctx, v.event(action, "artifact"), func(tx freight.Store) (audited, error) {
		if err := v.s.jobs.CompleteIn(ctx, tx, v.j); err != nil {
			return audited{}, err
		}
		if _, err := v.update(ctx, tx, func(u *freight.Upload) { u.State, u.Error = st, reason }); err != nil {
			return audited{}, err
		}
		var err error
		a, err = tx.UpdateArtifact(ctx, up.ArtifactID, func(a *freight.Artifact) error { set(a); return nil })
		if err != nil {
			return audited{}, err
		}
		return audited{id: a.ID, details: a}, nil
	})
	return a, err
}

func (v *verification) event(action, targetType string) freight.AuditEvent {
	actor := v.p.Actor
	if actor == "" {
		actor = "system"
	}
	return freight.AuditEvent{Actor: actor, TokenID: v.p.TokenID, IP: v.p.IP, RequestID: v.p.RequestID, Action: action, TargetType: targetType}
}

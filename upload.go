package freight

import "time"

// UploadState is where an upload session is in its life.
type UploadState string

// Upload states. An open session accepts parts until it expires; complete
// moves it to completing and queues the job that hashes and commits the
// blob, which then makes it completed, or failed when the bytes are not the
// declared file, or open again when a part is missing or the verification
// could not finish (Error says why). An open session that expires or is
// cancelled is aborted.
const (
	UploadOpen       UploadState = "open"
	UploadCompleting UploadState = "completing"
	UploadCompleted  UploadState = "completed"
	UploadFailed     UploadState = "failed"
	UploadAborted    UploadState = "aborted"
)

// Valid reports whether s is a known upload state.
func (s UploadState) Valid() bool {
	switch s {
	case UploadOpen, UploadCompleting, UploadCompleted, UploadFailed, UploadAborted:
		return true
	}
	return false
}

// MaxUploadParts is the most parts one upload may have: S3's limit, which
// the filesystem backend shares so that clients see one protocol.
const MaxUploadParts = 10000

// Upload is a session that brings the bytes of one artifact into the blob
// store in parts.
type Upload struct {
	ID         string      `json:"id"`
	ArtifactID string      `json:"artifact_id"`
	Size       int64       `json:"size"`
	PartSize   int64       `json:"part_size"`
	SHA256     string      `json:"sha256,omitempty"` // declared by the uploader; checked at completion
	State      UploadState `json:"state"`
	Error      string      `json:"error,omitempty"` // why it failed, or why it is open again after a completion
	ExpiresAt  time.Time   `json:"expires_at"`
	CreatedBy  string      `json:"created_by"`
	CreatedAt  time.Time   `json:"created_at"`
	UpdatedAt  time.Time   `json:"updated_at"`

	// BackendID is the MultipartStore's id of the staging area.
	BackendID string `json:"-"`
	// URLKey is a random per-session key that signs the portal's part
	// URLs (HMAC-SHA256) for backends whose parts travel through the portal.
	// A key per session, rather than one per server, means URLs can be
	// issued again at any time without invalidating those in flight, and a
	// key dies with its session. The store keeps it sealed (package seal).
	URLKey []byte `json:"-"`
	// JobID names the verification job of the last completion: the one
	// job that may settle the upload while it is completing. A job that
	// finds another id here has been replaced and does nothing.
	JobID string `json:"-"`
	// Digest is the SHA-256 of the received bytes, recorded by the
	// verification before it commits them as a blob, so that a
	// verification that runs again after the staging area became that blob
	// knows which blob it is.
	Digest string `json:"-"`
}

// Parts returns the number of parts of u.
func (u *Upload) Parts() int {
	if u.PartSize <= 0 || u.Size <= 0 {
		return 1
	}
	return int((u.Size + u.PartSize - 1) / u.PartSize)
}

// PartRange returns the offset and size of part n (1-based).
func (u *Upload) PartRange(n int) (offset, size int64) {
	offset = int64(n-1) * u.PartSize
	size = min(u.PartSize, u.Size-offset)
	return offset, max(size, 0)
}

// Validate checks the fields a caller sets.
func (u *Upload) Validate() error {
	if u.Size < 0 {
		return FieldError("size", "must not be negative")
	}
	if u.PartSize <= 0 {
		return FieldError("part_size", "must be positive")
	}
	if u.Parts() > MaxUploadParts {
		return FieldError("part_size", "makes %d parts; at most %d are allowed", u.Parts(), MaxUploadParts)
	}
	if u.SHA256 != "" && !ValidDigest(u.SHA256) {
		return FieldError("sha256", "must be 64 lower-case hexadecimal digits")
	}
	if !u.State.Valid() {
		return FieldError("state", "must be one of open, completing, completed, failed, aborted")
	}
	if u.JobID != "" && !ValidID(PrefixJob, u.JobID) {
		return FieldError("job_id", "must be the id of a job")
	}
	if u.Digest != "" && !ValidDigest(u.Digest) {
		return FieldError("digest", "must be 64 lower-case hexadecimal digits")
	}
	if u.ExpiresAt.IsZero() {
		return FieldError("expires_at", "is required")
	}
	return nil
}

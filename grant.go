package freight

import "time"

// Grant is the permission behind one signed download URL: who may fetch
// which artifact, until when, and how many bytes at most.
//
// A new download (no Range, or a Range starting at 0) must begin before
// StartBy; requests for later ranges on the same grant are honoured until
// ResumeUntil, so that browsers and segmented downloaders can resume. The
// bytes served are counted against ByteBudget, which bounds what a leaked
// URL can cost.
type Grant struct {
	ID          string    `json:"id"`
	ArtifactID  string    `json:"artifact_id"`
	ProductID   string    `json:"product_id"`
	OrgID       string    `json:"org_id,omitempty"` // empty for vendor staff
	Actor       string    `json:"actor"`            // user or token id
	TokenID     string    `json:"token_id,omitempty"`
	IP          string    `json:"ip"`      // of the request that got the grant
	BindIP      bool      `json:"bind_ip"` // downloads only from IP
	Digest      string    `json:"sha256"`
	Size        int64     `json:"size"`
	Filename    string    `json:"filename"`
	StartBy     time.Time `json:"start_by"`
	ResumeUntil time.Time `json:"resume_until"`
	ByteBudget  int64     `json:"byte_budget"`
	BytesServed int64     `json:"bytes_served"`
	CreatedAt   time.Time `json:"created_at"`
	// CompletedAt is when the grant's download completed: when its
	// requests together had served the file (see DownloadCounts), as
	// Store.CompleteGrant records it once. Nil until then.
	CompletedAt *time.Time `json:"completed_at,omitempty"`
}

// Download records one request that served bytes of a grant.
type Download struct {
	ID         string     `json:"id"`
	GrantID    string     `json:"grant_id"`
	ArtifactID string     `json:"artifact_id"`
	ProductID  string     `json:"product_id"`
	OrgID      string     `json:"org_id,omitempty"`
	Actor      string     `json:"actor"`
	IP         string     `json:"ip"`
	Via        string     `json:"via"`   // origin, s3, cloudfront, or an edge's name
	Range      string     `json:"range"` // the Range header, empty for the whole file
	Bytes      int64      `json:"bytes"` // bytes sent
	Completed  bool       `json:"completed"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// Usage is what an organization downloaded of a product since a time: the
// grants it received and the bytes those grants name.
type Usage struct {
	Downloads int64 `json:"downloads"`
	Bytes     int64 `json:"bytes"`
}

// SigningKey is an Ed25519 key of the portal. Grant tokens carry the key
// id, so keys can be rotated without breaking URLs already handed out: the
// newest active key signs, every key not retired verifies.
type SigningKey struct {
	ID        string     `json:"id"` // the key id in tokens
	Purpose   string     `json:"purpose"`
	Public    []byte     `json:"public_key"`
	CreatedAt time.Time  `json:"created_at"`
	RetiredAt *time.Time `json:"retired_at,omitempty"`

	// Private is the Ed25519 private key (seed and public key, 64 bytes).
	// It never leaves the server, and the store keeps it sealed (package
	// seal).
	Private []byte `json:"-"`
}

// Key purposes.
const (
	KeyGrants   = "grants"   // download grant tokens
	KeyLicenses = "licenses" // license files
)

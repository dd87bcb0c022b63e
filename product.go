package freight

import (
	"regexp"
	"slices"
	"time"

	"github.com/Masterminds/semver/v3"
)

// Product is something the vendor ships, released in versions.
type Product struct {
	ID          string `json:"id"`
	Slug        string `json:"slug"`
	Name        string `json:"name"`
	Description string `json:"description"`
	// PrefetchEdges asks edges to fetch the artifacts of a release of the
	// product into their caches when it is published.
	PrefetchEdges bool      `json:"prefetch_edges"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Validate checks the fields a caller sets.
func (p *Product) Validate() error {
	if err := validateSlug("slug", p.Slug); err != nil {
		return err
	}
	if err := validateName("name", p.Name); err != nil {
		return err
	}
	return validateText("description", p.Description, 10000)
}

// Channel is the stability level of a release.
type Channel string

// Channels from the most to the least stable. dev stands alone: it neither
// includes nor is included by the others.
const (
	ChannelStable Channel = "stable"
	ChannelRC     Channel = "rc"
	ChannelBeta   Channel = "beta"
	ChannelAlpha  Channel = "alpha"
	ChannelDev    Channel = "dev"
)

// Channels lists every channel, most stable first.
var Channels = []Channel{ChannelStable, ChannelRC, ChannelBeta, ChannelAlpha, ChannelDev}

// Valid reports whether c is a known channel.
func (c Channel) Valid() bool { return slices.Contains(Channels, c) }

// ReleaseState is where a release is in its life.
type ReleaseState string

// Release states. A draft is visible to vendor staff only; a published
// release is visible to entitled customers; a yanked release is withdrawn
// and never served again.
const (
	ReleaseDraft     ReleaseState = "draft"
	ReleasePublished ReleaseState = "published"
	ReleaseYanked    ReleaseState = "yanked"
)

// Release is one version of a product.
type Release struct {
	ID          string       `json:"id"`
	ProductID   string       `json:"product_id"`
	Version     string       `json:"version"` // semantic version 2.0.0, without a leading v
	Channel     Channel      `json:"channel"`
	Notes       string       `json:"notes"` // Markdown
	State       ReleaseState `json:"state"`
	PublishedAt *time.Time   `json:"published_at,omitempty"`
	YankedAt    *time.Time   `json:"yanked_at,omitempty"`
	YankReason  string       `json:"yank_reason,omitempty"`
	CreatedAt   time.Time    `json:"created_at"`
	UpdatedAt   time.Time    `json:"updated_at"`
}

// Validate checks the fields a caller sets.
func (r *Release) Validate() error {
	if _, err := ParseVersion(r.Version); err != nil {
		return err
	}
	if !r.Channel.Valid() {
		return FieldError("channel", "must be one of stable, rc, beta, alpha, dev")
	}
	if err := validateText("notes", r.Notes, 100000); err != nil {
		return err
	}
	return validateText("yank_reason", r.YankReason, 1000)
}

// ParseVersion parses a strict semantic version (2.0.0): three numbers, an
// optional pre-release and build metadata, no leading "v".
func ParseVersion(s string) (*semver.Version, error) {
	if s == "" {
		return nil, FieldError("version", "is required")
	}
	if len(s) > 128 {
		return nil, FieldError("version", "must be at most 128 characters")
	}
	v, err := semver.StrictNewVersion(s)
	if err != nil {
		return nil, FieldError("version", "%q is not a semantic version like 1.4.2 or 2.0.0-rc.1", s)
	}
	return v, nil
}

// ArtifactState is where an artifact is in its upload life.
type ArtifactState string

// Artifact states. Only an available artifact can be downloaded.
const (
	ArtifactUploading ArtifactState = "uploading"
	ArtifactVerifying ArtifactState = "verifying"
	ArtifactAvailable ArtifactState = "available"
	ArtifactFailed    ArtifactState = "failed"
)

// Valid reports whether s is a known artifact state.
func (s ArtifactState) Valid() bool {
	switch s {
	case ArtifactUploading, ArtifactVerifying, ArtifactAvailable, ArtifactFailed:
		return true
	}
	return false
}

// Artifact is one file of a release. Its bytes live in the blob store under
// their SHA-256; the artifact is immutable once available.
type Artifact struct {
	ID        string        `json:"id"`
	ReleaseID string        `json:"release_id"`
	Filename  string        `json:"filename"`
	Platform  string        `json:"platform"` // e.g. windows, linux, macos, any
	Arch      string        `json:"arch"`     // e.g. x86_64, arm64, any
	Size      int64         `json:"size"`
	SHA256    string        `json:"sha256,omitempty"` // lower-case hex, set once verified
	State     ArtifactState `json:"state"`
	Error     string        `json:"error,omitempty"` // why it failed
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
}

var (
	filenameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,254}$`)
	tagRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	sha256RE   = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Validate checks the fields a caller sets. Filenames are plain names (no
// directories, no leading dot) because they end up in Content-Disposition
// headers and on customers' disks.
func (a *Artifact) Validate() error {
	if !filenameRE.MatchString(a.Filename) || a.Filename == "." || a.Filename == ".." {
		return FieldError("filename", "must be a plain file name of letters, digits, '.', '_', '+' or '-' (at most 255), starting with a letter or digit")
	}
	if !tagRE.MatchString(a.Platform) {
		return FieldError("platform", "must be 1 to 32 lower-case letters, digits, '_' or '-'")
	}
	if !tagRE.MatchString(a.Arch) {
		return FieldError("arch", "must be 1 to 32 lower-case letters, digits, '_' or '-'")
	}
	if a.Size < 0 {
		return FieldError("size", "must not be negative")
	}
	if a.SHA256 != "" && !sha256RE.MatchString(a.SHA256) {
		return FieldError("sha256", "must be 64 lower-case hexadecimal digits")
	}
	if !a.State.Valid() {
		return FieldError("state", "must be one of uploading, verifying, available, failed")
	}
	return nil
}

package client

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/freight-portal/freight"
)

// Me describes the caller.
type Me struct {
	UserID  string       `json:"user_id,omitempty"`
	TokenID string       `json:"token_id,omitempty"`
	Role    freight.Role `json:"role"`
	OrgID   string       `json:"org_id,omitempty"`
	// User is the person the token belongs to; nil for a service account.
	User *freight.User `json:"user,omitempty"`
}

// Me answers who the token is.
func (c *Client) Me(ctx context.Context) (Me, error) {
	var m Me
	return m, c.Do(ctx, "GET", "/api/v1/me", nil, &m)
}

// Product returns a product by id or slug.
func (c *Client) Product(ctx context.Context, ref string) (*freight.Product, error) {
	var p freight.Product
	return &p, c.Do(ctx, "GET", "/api/v1/products/"+url.PathEscape(ref), nil, &p)
}

// Products lists one page of products.
func (c *Client) Products(ctx context.Context, p freight.Page) (List[*freight.Product], error) {
	var l List[*freight.Product]
	return l, c.Do(ctx, "GET", listPath("/api/v1/products", nil, p), nil, &l)
}

// CreateProduct creates a product.
func (c *Client) CreateProduct(ctx context.Context, slug, name, description string) (*freight.Product, error) {
	var p freight.Product
	in := map[string]string{"slug": slug, "name": name, "description": description}
	return &p, c.Do(ctx, "POST", "/api/v1/products", in, &p)
}

// ReleaseFilter narrows Releases.
type ReleaseFilter struct {
	State   freight.ReleaseState
	Channel freight.Channel
}

// Releases lists one page of a product's releases, newest first.
func (c *Client) Releases(ctx context.Context, product string, f ReleaseFilter, p freight.Page) (List[*freight.Release], error) {
	q := url.Values{}
	if f.State != "" {
		q.Set("state", string(f.State))
	}
	if f.Channel != "" {
		q.Set("channel", string(f.Channel))
	}
	var l List[*freight.Release]
	return l, c.Do(ctx, "GET", listPath("/api/v1/products/"+url.PathEscape(product)+"/releases", q, p), nil, &l)
}

// Release returns a release by id.
func (c *Client) Release(ctx context.Context, id string) (*freight.Release, error) {
	var r freight.Release
	return &r, c.Do(ctx, "GET", "/api/v1/releases/"+url.PathEscape(id), nil, &r)
}

// CreateRelease creates a draft release of a product.
func (c *Client) CreateRelease(ctx context.Context, product, version string, channel freight.Channel, notes string) (*freight.Release, error) {
	in := map[string]any{"version": version, "notes": notes}
	if channel != "" {
		in["channel"] = channel
	}
	var r freight.Release
	return &r, c.Do(ctx, "POST", "/api/v1/products/"+url.PathEscape(product)+"/releases", in, &r)
}

// PublishRelease publishes a draft.
func (c *Client) PublishRelease(ctx context.Context, id string) (*freight.Release, error) {
	var r freight.Release
	return &r, c.Do(ctx, "POST", "/api/v1/releases/"+url.PathEscape(id)+"/publish", nil, &r)
}

// YankRelease withdraws a published release.
func (c *Client) YankRelease(ctx context.Context, id, reason string) (*freight.Release, error) {
	var r freight.Release
	return &r, c.Do(ctx, "POST", "/api/v1/releases/"+url.PathEscape(id)+"/yank", map[string]string{"reason": reason}, &r)
}

// Artifacts lists one page of a release's files.
func (c *Client) Artifacts(ctx context.Context, releaseID string, p freight.Page) (List[*freight.Artifact], error) {
	var l List[*freight.Artifact]
	return l, c.Do(ctx, "GET", listPath("/api/v1/releases/"+url.PathEscape(releaseID)+"/artifacts", nil, p), nil, &l)
}

// Artifact returns an artifact by id.
func (c *Client) Artifact(ctx context.Context, id string) (*freight.Artifact, error) {
	var a freight.Artifact
	return &a, c.Do(ctx, "GET", "/api/v1/artifacts/"+url.PathEscape(id), nil, &a)
}

// NewArtifact describes a file to upload.
type NewArtifact struct {
	Filename string `json:"filename"`
	Platform string `json:"platform"`
	Arch     string `json:"arch"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256,omitempty"`
}

// Upload is an upload session as the API describes it.
type Upload struct {
	freight.Upload
	Parts    int                    `json:"parts"`
	Received []freight.UploadedPart `json:"received,omitempty"`
}

// PartURL is where one part goes.
type PartURL struct {
	Number int    `json:"number"`
	Size   int64  `json:"size"`
	URL    string `json:"url"`
}

// PartURLs are part URLs and when they stop working.
type PartURLs struct {
	URLs      []PartURL `json:"urls"`
	ExpiresAt time.Time `json:"expires_at"`
}

// CreatedArtifact is the answer to CreateArtifact.
type CreatedArtifact struct {
	Artifact *freight.Artifact `json:"artifact"`
	Upload   Upload            `json:"upload"`
	PartURLs
}

// CreateArtifact adds a file to a draft release and starts its upload.
func (c *Client) CreateArtifact(ctx context.Context, releaseID string, a NewArtifact) (*CreatedArtifact, error) {
	var ca CreatedArtifact
	return &ca, c.Do(ctx, "POST", "/api/v1/releases/"+url.PathEscape(releaseID)+"/artifacts", a, &ca)
}

// DeleteArtifact removes a file of a draft release.
func (c *Client) DeleteArtifact(ctx context.Context, id string) error {
	return c.Do(ctx, "DELETE", "/api/v1/artifacts/"+url.PathEscape(id), nil, nil)
}

// Upload returns an upload session with the parts received so far.
func (c *Client) Upload(ctx context.Context, id string) (*Upload, error) {
	var u Upload
	return &u, c.Do(ctx, "GET", "/api/v1/uploads/"+url.PathEscape(id), nil, &u)
}

// PartURLs asks for the URLs of the given parts (at most 1000).
func (c *Client) PartURLs(ctx context.Context, uploadID string, parts []int) (*PartURLs, error) {
	var u PartURLs
	return &u, c.Do(ctx, "POST", "/api/v1/uploads/"+url.PathEscape(uploadID)+"/urls", map[string]any{"parts": parts}, &u)
}

// PutPart sends one part's size bytes from r to its URL. The URL is the
// credential: no token is sent.
func (c *Client) PutPart(ctx context.Context, partURL string, r io.Reader, size int64) error {
	req, err := http.NewRequestWithContext(ctx, "PUT", partURL, r)
	if err != nil {
		return &freight.Error{Code: freight.EINVALID, Message: "bad part URL", Err: err}
	}
	req.ContentLength = size
	if size == 0 {
		// net/http reads a zero length with a body as "unknown" and sends
		// it chunked; the part of an empty file is exactly empty.
		req.Body = http.NoBody
	}
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return transportError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return apiError(resp)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return nil
}

// CompleteUpload asks the server to assemble and verify an upload; it
// answers the artifact once it is available.
func (c *Client) CompleteUpload(ctx context.Context, uploadID string) (*freight.Artifact, error) {
	var a freight.Artifact
	return &a, c.Do(ctx, "POST", "/api/v1/uploads/"+url.PathEscape(uploadID)+"/complete", nil, &a)
}

// AbortUpload cancels an open upload.
func (c *Client) AbortUpload(ctx context.Context, uploadID string) error {
	return c.Do(ctx, "DELETE", "/api/v1/uploads/"+url.PathEscape(uploadID), nil, nil)
}

// CatalogEntry is one release the caller may download, with its files.
type CatalogEntry struct {
	Product struct {
		ID   string `json:"id"`
		Slug string `json:"slug"`
		Name string `json:"name"`
	} `json:"product"`
	Release   *freight.Release    `json:"release"`
	Artifacts []*freight.Artifact `json:"artifacts"`
}

// CatalogFilter narrows the catalog.
type CatalogFilter struct {
	Product  string // id or slug
	Platform string
	Arch     string
}

func (f CatalogFilter) values() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"product": f.Product, "platform": f.Platform, "arch": f.Arch} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// Catalog lists one page of what the caller may download, newest first.
func (c *Client) Catalog(ctx context.Context, f CatalogFilter, p freight.Page) (List[CatalogEntry], error) {
	var l List[CatalogEntry]
	return l, c.Do(ctx, "GET", listPath("/api/v1/catalog", f.values(), p), nil, &l)
}

// Upgrade answers the newest release of product newer than from that the
// caller may download, with files for the platform and arch when given;
// nil when there is none.
func (c *Client) Upgrade(ctx context.Context, product, from string, channel freight.Channel, platform, arch string) (*CatalogEntry, error) {
	q := CatalogFilter{Platform: platform, Arch: arch}.values()
	q.Set("from", from)
	if channel != "" {
		q.Set("channel", string(channel))
	}
	resp, err := c.send(ctx, "GET", "/api/v1/products/"+url.PathEscape(product)+"/upgrade?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return nil, nil
	}
	var e CatalogEntry
	if err := decodeJSON(resp.Body, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// Grant is a signed download URL and what it names.
type Grant struct {
	GrantID     string    `json:"grant_id"`
	URL         string    `json:"url"`
	ExpiresAt   time.Time `json:"expires_at"`   // a new download must start before
	ResumeUntil time.Time `json:"resume_until"` // ranged requests work until
	SHA256      string    `json:"sha256"`
	Size        int64     `json:"size"`
	Filename    string    `json:"filename"`
}

// Download asks for a signed URL of an artifact.
func (c *Client) Download(ctx context.Context, artifactID string) (*Grant, error) {
	var g Grant
	return &g, c.Do(ctx, "POST", "/api/v1/artifacts/"+url.PathEscape(artifactID)+"/download", nil, &g)
}

func decodeJSON(r io.Reader, v any) error {
	if err := jsonDecode(io.LimitReader(r, maxAnswer), v); err != nil {
		return &freight.Error{Code: freight.EINTERNAL, Message: "the server's answer is not the JSON expected", Err: err}
	}
	return nil
}

// Uploads lists the upload sessions of an artifact (state "" for all).
func (c *Client) Uploads(ctx context.Context, artifactID string, state freight.UploadState) ([]Upload, error) {
	q := url.Values{"artifact_id": {artifactID}}
	if state != "" {
		q.Set("state", string(state))
	}
	var l List[Upload]
	return l.Items, c.Do(ctx, "GET", listPath("/api/v1/uploads", q, freight.Page{Limit: freight.MaxPageSize}), nil, &l)
}

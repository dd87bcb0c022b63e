package client

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/freight-portal/freight"
)

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

// Upload returns an upload session with the parts received so far.
func (c *Client) Upload(ctx context.Context, id string) (*Upload, error) {
	var u Upload
	return &u, c.Do(ctx, "GET", "/api/v1/uploads/"+url.PathEscape(id), nil, &u)
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

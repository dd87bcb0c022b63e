package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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

// CompleteUpload asks the server to assemble and verify an upload, and
// answers the artifact once it is available.
//
// The server verifies in the background. When that takes longer than it
// waits in the request, it answers 202 Accepted with the upload; then
// CompleteUpload watches the upload, as often as Retry-After says, until
// the verification is over, and asks for the outcome. An upload that the
// verification opened again (a part is missing, or the verification could
// not finish) is an ECONFLICT error with the reason, as the server answers
// it when it waits; the upload then takes parts again. ctx bounds the whole
// wait.
func (c *Client) CompleteUpload(ctx context.Context, uploadID string) (*freight.Artifact, error) {
	path := "/api/v1/uploads/" + url.PathEscape(uploadID)
	for {
		a, every, err := c.complete(ctx, path+"/complete")
		if err != nil || a != nil {
			return a, err
		}
		u, err := c.awaitVerification(ctx, path, every)
		if err != nil {
			return nil, err
		}
		if u.State == freight.UploadOpen {
			reason := u.Error
			if reason == "" {
				reason = "the verification did not finish"
			}
			return nil, &freight.Error{Code: freight.ECONFLICT,
				Message: fmt.Sprintf("upload %s is open again: %s; send what is missing and complete it again", u.ID, reason)}
		}
		// Completed or failed: asking again answers the artifact, or why
		// there is none, and verifies nothing again.
	}
}

// complete asks once. It answers the artifact, or, while the server is
// verifying the upload, how long to wait before looking again.
func (c *Client) complete(ctx context.Context, path string) (*freight.Artifact, time.Duration, error) {
	resp, err := c.send(ctx, "POST", path, nil)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusAccepted {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
		return nil, retryAfter(resp.Header.Get("Retry-After")), nil
	}
	var a freight.Artifact
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAnswer)).Decode(&a); err != nil {
		return nil, 0, &freight.Error{Code: freight.EINTERNAL, Message: "the server's answer is not the JSON expected", Err: err}
	}
	return &a, 0, nil
}

// awaitVerification looks at the upload every so often until it is no
// longer completing, and returns it. A server that cannot be reached for
// a while is waited for.
func (c *Client) awaitVerification(ctx context.Context, path string, every time.Duration) (*Upload, error) {
	failures := 0
	for {
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		var u Upload
		err := c.Do(ctx, "GET", path, nil, &u)
		switch {
		case err == nil && u.State != freight.UploadCompleting:
			return &u, nil
		case err == nil:
			failures = 0
		case Retryable(err) && failures < 8:
			failures++
		default:
			return nil, err
		}
	}
}

// retryAfter reads a Retry-After of seconds, bounded to a second to a
// minute; 2 s when there is none.
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 2 * time.Second
	}
	return time.Duration(min(max(n, 1), 60)) * time.Second
}

// AbortUpload cancels an open upload.
func (c *Client) AbortUpload(ctx context.Context, uploadID string) error {
	return c.Do(ctx, "DELETE", "/api/v1/uploads/"+url.PathEscape(uploadID), nil, nil)
}

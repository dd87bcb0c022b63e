// Package client is a Go client of Freight's HTTP API, used by the freight
// command line and by integration tests. A method of *Client stands for
// each API route a program calls, typed with the domain types of package
// freight:
//
//   - catalog and delivery: Catalog, Upgrade, Download (a signed URL),
//     and for vendor staff OrganizationCatalog and PreviewCatalog;
//   - products, releases and artifacts: Products, CreateRelease,
//     PublishRelease, YankRelease…, and uploads in parts: CreateArtifact,
//     PartURLs, PutPart, CompleteUpload, Uploads;
//   - organizations and their people: Organizations, Members, Invite,
//     Invitations, OrganizationTokens, Usage and SetQuota; users and
//     vendor staff: Users, UserMemberships, InviteStaff;
//   - access: Entitlements, API tokens (Tokens, CreateToken…), licenses
//     (IssueLicense, AmendLicense, RevokeLicense, LicenseFile,
//     LicenseRevocations);
//   - webhooks of the vendor (org "") and of an organization: Webhooks,
//     CreateWebhook, RotateWebhookSecret, TestWebhook, WebhookDeliveries,
//     RetryWebhookDelivery;
//   - figures and records: Downloads, DownloadFigures, AuditEvents;
//   - operations: Settings, Jobs and RetryJob, SigningKeys and their
//     rotation, Edges, Health, Ready, PublicKeys, OpenAPI;
//   - people's own accounts: SignIn (password and second factor) and its
//     Client, which alone may call the account methods (Sessions,
//     PersonalTokens, SetPreferences, ChangePassword, BeginTOTP…);
//     ExchangeCLICode for the browser sign-in of a program; and the links
//     sent by mail: AcceptInvitation, ResetPassword, VerifyEmail.
//
// Web pages, the browser's OpenID Connect redirects, the edge nodes' own
// API (package edge) and the download URLs themselves (which a grant
// names, and any HTTP client fetches) are outside it.
//
// Lists answer one page (List) and take a freight.Page; All walks every
// page. Errors from the API come back as *freight.Error with the server's
// code, safe message and field, so callers branch with freight.ErrorCode
// just as the server does. Transport failures come back as EUNAVAILABLE.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/freight-portal/freight"
)

// Client talks to one Freight server with one API token. It is safe for
// concurrent use.
type Client struct {
	base      string
	token     string
	http      *http.Client
	userAgent string
}

// New returns a client of the server at baseURL (e.g.
// "https://downloads.example.com") acting with the API token.
func New(baseURL, token string) *Client {
	return &Client{
		base:      strings.TrimSuffix(baseURL, "/"),
		token:     token,
		http:      &http.Client{Timeout: 0}, // bodies may take hours; calls carry contexts
		userAgent: "freight-client",
	}
}

// WithHTTPClient returns a copy of c that uses hc.
func (c *Client) WithHTTPClient(hc *http.Client) *Client {
	d := *c
	d.http = hc
	return &d
}

// WithUserAgent returns a copy of c that sends ua as its User-Agent.
func (c *Client) WithUserAgent(ua string) *Client {
	d := *c
	d.userAgent = ua
	return &d
}

// BaseURL is the server's URL.
func (c *Client) BaseURL() string { return c.base }

// HTTPClient is the client's transport, for requests to URLs the API hands
// out (part uploads, downloads).
func (c *Client) HTTPClient() *http.Client { return c.http }

// maxAnswer bounds a JSON answer: no API answer comes near it.
const maxAnswer = 64 << 20

// Do sends a request to the API and decodes the JSON answer into out (if
// not nil). in, if not nil, is sent as JSON. A 204 leaves out untouched.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent || out == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAnswer)).Decode(out); err != nil {
		return &freight.Error{Code: freight.EINTERNAL, Message: "the server's answer is not the JSON expected", Err: err}
	}
	return nil
}

// getBody GETs path and returns the body of its successful answer, which
// is not JSON to decode (a file, a document kept as it is).
func (c *Client) getBody(ctx context.Context, path string) ([]byte, error) {
	resp, err := c.send(ctx, "GET", path, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, transportError(err)
	}
	return b, nil
}

// send sends a request and returns the response if its status is 2xx;
// otherwise it returns the API's error.
func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, freight.Internal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, &freight.Error{Code: freight.EINVALID, Message: "bad server URL or path", Err: err}
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, transportError(err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, apiError(resp)
	}
	return resp, nil
}

// transportError turns a failure to talk to the server into EUNAVAILABLE,
// keeping context cancellation visible to errors.Is.
func transportError(err error) error {
	return &freight.Error{Code: freight.EUNAVAILABLE, Message: "cannot reach the server", Err: err}
}

// apiError reads the API's error answer; an answer that is not one (a
// proxy's HTML page, say) becomes an error naming the status.
func apiError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var body struct {
		Error struct {
			Code, Message, Field string
			RequestID            string `json:"request_id"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &body) == nil && body.Error.Code != "" {
		e := &freight.Error{Code: body.Error.Code, Message: body.Error.Message, Field: body.Error.Field}
		if body.Error.RequestID != "" {
			e.Err = fmt.Errorf("request %s: status %d", body.Error.RequestID, resp.StatusCode)
		}
		return e
	}
	code := freight.EINTERNAL
	switch {
	case resp.StatusCode == http.StatusNotFound:
		code = freight.ENOTFOUND
	case resp.StatusCode == http.StatusUnauthorized:
		code = freight.EUNAUTHORIZED
	case resp.StatusCode == http.StatusForbidden:
		code = freight.EFORBIDDEN
	case resp.StatusCode >= 500:
		code = freight.EUNAVAILABLE
	case resp.StatusCode >= 400:
		code = freight.EINVALID
	}
	return &freight.Error{Code: code, Message: fmt.Sprintf("the server answered %s", resp.Status)}
}

// List is one page of a list answer.
type List[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

// listPath adds the page parameters to path.
func listPath(path string, q url.Values, p freight.Page) string {
	if q == nil {
		q = url.Values{}
	}
	if p.Limit > 0 {
		q.Set("limit", fmt.Sprint(p.Limit))
	}
	if p.After != "" {
		q.Set("after", p.After)
	}
	if enc := q.Encode(); enc != "" {
		return path + "?" + enc
	}
	return path
}

// All calls page repeatedly from the first page to the last and returns
// every item.
func All[T any](ctx context.Context, page func(ctx context.Context, p freight.Page) (List[T], error)) ([]T, error) {
	var all []T
	p := freight.Page{Limit: freight.MaxPageSize}
	for {
		l, err := page(ctx, p)
		if err != nil {
			return all, err
		}
		all = append(all, l.Items...)
		if l.Next == "" {
			return all, nil
		}
		p.After = l.Next
	}
}

// Retryable reports whether err is worth trying again: the server could
// not be reached or is busy, as opposed to a refusal.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return freight.ErrorCode(err) == freight.EUNAVAILABLE || freight.ErrorCode(err) == freight.EINTERNAL
}

// Backoff returns how long to wait before attempt n (from 0): exponential
// from 250 ms, capped at 30 s, with full jitter so that many clients
// retrying at once do not retry in step.
func Backoff(n int, jitter func(time.Duration) time.Duration) time.Duration {
	d := 250 * time.Millisecond << min(n, 7)
	d = min(d, 30*time.Second)
	if jitter != nil {
		return jitter(d)
	}
	return d
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

func decodeJSON(r io.Reader, v any) error {
	if err := jsonDecode(io.LimitReader(r, maxAnswer), v); err != nil {
		return &freight.Error{Code: freight.EINTERNAL, Message: "the server's answer is not the JSON expected", Err: err}
	}
	return nil
}

package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/freight-portal/freight"
)

// Upload settings and their defaults.
const (
	DefaultPartSize        = 64 << 20
	DefaultMaxArtifactSize = 1 << 40
	DefaultUploadTTL       = 24 * time.Hour
	// minPartSize is S3's smallest part (except the last); the protocol is
	// the same on every backend so that clients need not know which.
	minPartSize = 5 << 20
	// partURLTTL bounds how long one part URL works; clients ask again.
	partURLTTL = time.Hour
	// maxURLsPerCall bounds one request for part URLs.
	maxURLsPerCall = 1000
)

// artifactInput is the body that creates an artifact and its upload.
type artifactInput struct {
	Filename string `json:"filename"`
	Platform string `json:"platform"`
	Arch     string `json:"arch"`
	Size     *int64 `json:"size"`
	SHA256   string `json:"sha256"`
}

// uploadAnswer describes an upload session to its client.
type uploadAnswer struct {
	*freight.Upload
	Parts    int                    `json:"parts"`
	Received []freight.UploadedPart `json:"received,omitempty"`
}

type createdArtifact struct {
	Artifact *freight.Artifact `json:"artifact"`
	Upload   uploadAnswer      `json:"upload"`
	urlsAnswer
}

// multipart returns the blob store's multipart capability, which uploads
// need.
func (s *Server) multipart() (freight.MultipartStore, error) {
	mp, ok := s.blobs.(freight.MultipartStore)
	if !ok || s.blobs == nil {
		return nil, freight.Errorf(freight.EUNAVAILABLE, "the blob store does not accept uploads")
	}
	return mp, nil
}

// partSize picks the part size for a file: the configured size, raised so
// that the file fits in MaxUploadParts parts, in whole MiB.
func (s *Server) partSize(size int64) int64 {
	ps := max(s.cfg.PartSize, minPartSize)
	if need := (size + freight.MaxUploadParts - 1) / freight.MaxUploadParts; need > ps {
		ps = (need + 1<<20 - 1) &^ (1<<20 - 1)
	}
	return ps
}

func (s *Server) createArtifact(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(ctx)
	relID, err := pathID(r, "release", freight.PrefixRelease, "release")
	if err != nil {
		return err
	}
	mp, err := s.multipart()
	if err != nil {
		return err
	}
	var in artifactInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	if in.Size == nil {
		return freight.FieldError("size", "is required: the exact size of the file in bytes")
	}
	if *in.Size > s.cfg.MaxArtifactSize {
		return freight.FieldError("size", "exceeds the largest artifact this portal accepts (%d bytes)", s.cfg.MaxArtifactSize)
	}
	a := freight.Artifact{ReleaseID: relID, Filename: in.Filename, Platform: in.Platform, Arch: in.Arch, Size: *in.Size, State: freight.ArtifactUploading}
	if err := a.Validate(); err != nil {
		return err
	}
	now := s.now()
	key := make([]byte, 32)
	rand.Read(key)
	up := freight.Upload{
		Size: a.Size, PartSize: s.partSize(a.Size), SHA256: in.SHA256, State: freight.UploadOpen,
		ExpiresAt: now.Add(s.cfg.UploadTTL), CreatedBy: p.Actor(), URLKey: key,
	}
	if err := up.Validate(); err != nil {
		return err
	}
	var backendID string
	err = s.change(r, "artifact.create", "artifact", func(tx freight.Store) (audited, error) {
		// Take the release's row lock, which publishing takes too, so that
		// no file joins a release while it is being published.
		if _, err := tx.UpdateRelease(ctx, relID, func(rel *freight.Release) error {
			if rel.State != freight.ReleaseDraft {
				return freight.Errorf(freight.ECONFLICT, "release %s is %s; artifacts can be added to drafts only", rel.Version, rel.State)
			}
			return nil
		}); err != nil {
			return audited{}, err
		}
		if err := tx.CreateArtifact(ctx, &a); err != nil {
			return audited{}, err
		}
		// The staging area is created last, inside the transaction, so that a
		// failed insert leaves none behind; a crash after it leaves one that
		// no session names, which expiry cannot find but costs only disk
		// until the backend's own lifecycle rules (S3) or a restart sweep.
		if backendID, err = mp.CreateUpload(ctx, up.Size, up.PartSize); err != nil {
			return audited{}, err
		}
		up.ArtifactID, up.BackendID = a.ID, backendID
		if err := tx.CreateUpload(ctx, &up); err != nil {
			mp.AbortUpload(context.WithoutCancel(ctx), backendID)
			return audited{}, err
		}
		return audited{id: a.ID, details: map[string]any{"artifact": &a, "upload_id": up.ID}}, nil
	})
	if err != nil {
		return err
	}
	// The first URLs come with the session, so that a small file needs no
	// second round trip; the rest are asked for with partURLs.
	ans := createdArtifact{Artifact: &a, Upload: uploadAnswer{Upload: &up, Parts: up.Parts()}}
	if ans.urlsAnswer, err = s.urlsFor(ctx, r, &up, firstParts(up.Parts())); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, ans)
	return nil
}

// firstParts returns the numbers of the first parts, as many as one
// answer carries.
func firstParts(n int) []int {
	parts := make([]int, 0, min(n, maxURLsPerCall))
	for i := 1; i <= min(n, maxURLsPerCall); i++ {
		parts = append(parts, i)
	}
	return parts
}

// urlsFor signs the URLs of the given parts of up.
func (s *Server) urlsFor(ctx context.Context, r *http.Request, up *freight.Upload, parts []int) (urlsAnswer, error) {
	expires := s.now().Add(partURLTTL)
	if up.ExpiresAt.Before(expires) {
		expires = up.ExpiresAt
	}
	ans := urlsAnswer{ExpiresAt: expires}
	for _, n := range parts {
		if n < 1 || n > up.Parts() {
			return ans, freight.FieldError("parts", "part %d does not exist; this upload has parts 1 to %d", n, up.Parts())
		}
		_, size := up.PartRange(n)
		u, err := s.partURL(ctx, r, up, n, expires)
		if err != nil {
			return ans, err
		}
		ans.URLs = append(ans.URLs, partURL{Number: n, Size: size, URL: u})
	}
	return ans, nil
}

func (s *Server) getUpload(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	up, err := s.uploadFromPath(r)
	if err != nil {
		return err
	}
	ans := uploadAnswer{Upload: up, Parts: up.Parts()}
	if up.State == freight.UploadOpen {
		mp, err := s.multipart()
		if err != nil {
			return err
		}
		if ans.Received, err = mp.ListParts(ctx, up.BackendID); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

func (s *Server) uploadFromPath(r *http.Request) (*freight.Upload, error) {
	id, err := pathID(r, "upload", freight.PrefixUpload, "upload")
	if err != nil {
		return nil, err
	}
	return s.store.Upload(r.Context(), id)
}

// openUpload checks that parts may still be sent to up.
func (s *Server) openUpload(up *freight.Upload) error {
	if up.State != freight.UploadOpen {
		return freight.Errorf(freight.ECONFLICT, "upload %s is %s; it accepts no more parts", up.ID, up.State)
	}
	if !s.now().Before(up.ExpiresAt) {
		return freight.Errorf(freight.ECONFLICT, "upload %s expired at %s; start a new one", up.ID, up.ExpiresAt.Format(time.RFC3339))
	}
	return nil
}

type urlsInput struct {
	Parts []int `json:"parts"`
}

type partURL struct {
	Number int    `json:"number"`
	Size   int64  `json:"size"`
	URL    string `json:"url"`
}

type urlsAnswer struct {
	URLs      []partURL `json:"urls"`
	ExpiresAt time.Time `json:"expires_at"`
}

// partURLs issues URLs to which the client PUTs parts. Asking again is
// always allowed: URLs expire after an hour, and a resumed upload needs
// new ones. Without a body it answers the URLs of the first parts.
func (s *Server) partURLs(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	up, err := s.uploadFromPath(r)
	if err != nil {
		return err
	}
	if err := s.openUpload(up); err != nil {
		return err
	}
	var in urlsInput
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	if len(body) > 0 {
		if err := decodeBytes(body, &in); err != nil {
			return err
		}
	}
	if len(in.Parts) == 0 {
		in.Parts = firstParts(up.Parts())
	}
	if len(in.Parts) > maxURLsPerCall {
		return freight.FieldError("parts", "at most %d part numbers per request", maxURLsPerCall)
	}
	ans, err := s.urlsFor(ctx, r, up, in.Parts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

// partURL returns where part n goes: a presigned URL straight to the
// backend when it has one, else a portal URL signed with the session key.
func (s *Server) partURL(ctx context.Context, r *http.Request, up *freight.Upload, n int, expires time.Time) (string, error) {
	if ps, ok := s.blobs.(freight.PartPresigner); ok {
		return ps.PresignPart(ctx, up.BackendID, n, expires.Sub(s.now()))
	}
	if _, ok := s.blobs.(freight.PartWriter); !ok {
		return "", freight.Errorf(freight.EUNAVAILABLE, "the blob store can take parts neither from clients nor from the portal")
	}
	q := url.Values{}
	q.Set("expires", strconv.FormatInt(expires.Unix(), 10))
	q.Set("sig", partSignature(up, n, expires.Unix()))
	return fmt.Sprintf("%s/api/v1/uploads/%s/parts/%d?%s", s.baseURL(r), up.ID, n, q.Encode()), nil
}

// partSignature is HMAC-SHA256 over the upload id, the part number and the
// expiry, keyed with the session's own key.
func partSignature(up *freight.Upload, n int, expires int64) string {
	m := hmac.New(sha256.New, up.URLKey)
	fmt.Fprintf(m, "freight-part\x00%s\x00%d\x00%d", up.ID, n, expires)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// baseURL is the configured public URL, or the one the request came to.
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

var errBadPartURL = freight.Errorf(freight.EUNAUTHORIZED, "invalid or expired part URL; ask for a new one")

// putPart receives one part through the portal. The URL is the credential:
// no bearer token, like a presigned S3 URL.
func (s *Server) putPart(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	pw, ok := s.blobs.(freight.PartWriter)
	if !ok {
		return freight.Errorf(freight.ENOTFOUND, "this portal's blob store takes parts directly; use the URLs it issued")
	}
	up, err := s.uploadFromPath(r)
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		return errBadPartURL
	} else if err != nil {
		return err
	}
	n, err := strconv.Atoi(r.PathValue("part"))
	if err != nil || n < 1 || n > up.Parts() {
		return errBadPartURL
	}
	expires, err := strconv.ParseInt(r.URL.Query().Get("expires"), 10, 64)
	if err != nil || !hmac.Equal([]byte(r.URL.Query().Get("sig")), []byte(partSignature(up, n, expires))) {
		return errBadPartURL
	}
	if s.now().Unix() >= expires {
		return errBadPartURL
	}
	if err := s.openUpload(up); err != nil {
		return err
	}
	_, size := up.PartRange(n)
	if r.ContentLength >= 0 && r.ContentLength != size {
		return freight.Errorf(freight.EINVALID, "part %d must be exactly %d bytes, not %d", n, size, r.ContentLength)
	}
	// One more byte than the part may hold is enough to tell a long body.
	body := http.MaxBytesReader(w, r.Body, size+1)
	if err := pw.WritePart(ctx, up.BackendID, n, size, body); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return freight.Errorf(freight.EINVALID, "part %d must be exactly %d bytes; the body is longer", n, size)
		}
		return err
	}
	writeJSON(w, http.StatusOK, freight.UploadedPart{Number: n, Size: size})
	return nil
}

// listUploads lists the upload sessions of an artifact, so that a client
// can find the open one and resume it.
func (s *Server) listUploads(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	pg, err := page(q)
	if err != nil {
		return err
	}
	f := freight.UploadFilter{Page: pg, State: freight.UploadState(q.Get("state"))}
	if f.ArtifactID, err = queryID(q, "artifact_id", freight.PrefixArtifact); err != nil {
		return err
	}
	if f.ArtifactID == "" {
		return freight.FieldError("artifact_id", "is required")
	}
	if f.State != "" && !f.State.Valid() {
		return freight.FieldError("state", "must be one of open, completing, completed, failed, aborted")
	}
	ups, next, err := s.store.Uploads(ctx, f)
	if err != nil {
		return err
	}
	out := make([]uploadAnswer, 0, len(ups))
	for _, u := range ups {
		out = append(out, uploadAnswer{Upload: u, Parts: u.Parts()})
	}
	writeList(w, out, next)
	return nil
}

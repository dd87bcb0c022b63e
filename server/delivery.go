package server

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/grant"
)

// Delivery defaults.
const (
	DefaultStartWindow  = 5 * time.Minute
	DefaultResumeWindow = 24 * time.Hour
	DefaultBudgetFactor = 3
)

// downloadAnswer is the answer to a download request.
type downloadAnswer struct {
	GrantID     string    `json:"grant_id"`
	URL         string    `json:"url"`
	ExpiresAt   time.Time `json:"expires_at"`   // a new download must start before
	ResumeUntil time.Time `json:"resume_until"` // ranged requests work until
	SHA256      string    `json:"sha256"`
	Size        int64     `json:"size"`
	Filename    string    `json:"filename"`
}

// requestDownload checks the entitlement rule for the caller and answers
// a signed URL. An artifact the caller may not see answers 404, exactly as
// one that does not exist; one it may see but not download now (limits)
// answers 403 with the reason.
func (s *Server) requestDownload(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(ctx)
	id, err := pathID(r, "artifact", freight.PrefixArtifact, "artifact")
	if err != nil {
		return err
	}
	a, rel, prod, err := s.artifactTree(ctx, id)
	if err != nil {
		return err
	}
	ents, err := s.entitlementsOf(ctx, p)
	if err != nil {
		return err
	}
	q := freight.AccessQuery{Principal: p, Entitlements: ents, Product: prod, Release: rel, Artifact: a, Now: s.now()}
	if d := freight.Decide(q); !d.Allowed {
		return errArtifactNotFound
	} else if d.Entitlement != nil {
		if q.Usage, err = s.store.GrantUsage(ctx, p.OrgID, prod.ID, freight.LimitWindowStart(d.Entitlement.Limits.Period, q.Now)); err != nil {
			return err
		}
	}
	q.Download = true
	if d := freight.Decide(q); !d.Allowed {
		return freight.Errorf(freight.EFORBIDDEN, "%s", d.Message)
	}
	now := s.now()
	g := &freight.Grant{
		ArtifactID: a.ID, ProductID: prod.ID, OrgID: p.OrgID, Actor: p.Actor(), TokenID: p.TokenID,
		IP: clientIP(r), BindIP: s.cfg.BindIP, Digest: a.SHA256, Size: a.Size, Filename: a.Filename,
		StartBy: now.Add(s.cfg.StartWindow), ResumeUntil: now.Add(s.cfg.ResumeWindow),
		ByteBudget: max(a.Size*s.cfg.BudgetFactor, a.Size),
	}
	if err := s.store.CreateGrant(ctx, g); err != nil {
		return err
	}
	claims := grant.ClaimsOf(g)
	token, err := grant.Encode(ctx, s.keys, claims)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, downloadAnswer{
		GrantID:   g.ID,
		URL:       s.baseURL(r) + "/d/" + token + "/" + url.PathEscape(a.Filename),
		ExpiresAt: g.StartBy, ResumeUntil: g.ResumeUntil, SHA256: a.SHA256, Size: a.Size, Filename: a.Filename,
	})
	return nil
}

var errArtifactNotFound = freight.Errorf(freight.ENOTFOUND, "artifact not found")

// artifactTree loads an artifact with its release and product.
func (s *Server) artifactTree(ctx context.Context, id string) (*freight.Artifact, *freight.Release, *freight.Product, error) {
	a, err := s.store.Artifact(ctx, id)
	if err != nil {
		return nil, nil, nil, err
	}
	rel, err := s.store.Release(ctx, a.ReleaseID)
	if err != nil {
		return nil, nil, nil, err
	}
	prod, err := s.store.Product(ctx, rel.ProductID)
	if err != nil {
		return nil, nil, nil, err
	}
	return a, rel, prod, nil
}

// entitlementsOf returns the entitlements of the caller's organization;
// vendor staff need none.
func (s *Server) entitlementsOf(ctx context.Context, p freight.Principal) ([]*freight.Entitlement, error) {
	if !p.Role.IsOrg() || p.OrgID == "" {
		return nil, nil
	}
	var all []*freight.Entitlement
	f := freight.EntitlementFilter{OrgID: p.OrgID, Page: freight.Page{Limit: freight.MaxPageSize}}
	for {
		es, next, err := s.store.Entitlements(ctx, f)
		if err != nil {
			return nil, err
		}
		all = append(all, es...)
		if next == "" {
			return all, nil
		}
		f.After = next
	}
}

// publicKeys publishes the keys that verify grant tokens, so that edges and
// third parties can check download URLs offline.
func (s *Server) publicKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := s.keys.PublicKeys(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

// serveDownload is the download origin: GET and HEAD of /d/{token}/{name}.
// It is mounted outside the logging middleware so that the response
// writer reaching http.ServeContent is net/http's own, which sends files
// with sendfile(2); it records the download itself.
func (s *Server) serveDownload(w http.ResponseWriter, r *http.Request) {
	if err := s.download(w, r); err != nil {
		if freight.ErrorCode(err) == freight.EFORBIDDEN {
			// Refusals are short and plain: downloaders show them as they are.
			s.logger.InfoContext(r.Context(), "download refused", "ip", clientIP(r), "range", r.Header.Get("Range"),
				"user_agent", r.UserAgent(), "reason", freight.ErrorMessage(err))
		}
		s.writeError(w, r, err)
	}
}

func (s *Server) download(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	c, err := grant.Parse(ctx, r.PathValue("token"), s.keys.PublicKey)
	if err != nil {
		return err
	}
	etag := `"` + c.Digest + `"`
	n, isStart := answerSize(r.Header.Get("Range"), r.Header.Get("If-Range"), etag, c.Size)
	// Edges judge starts with grant.IsStart; the origin agrees with them,
	// and also counts an answer that becomes the whole file as a start.
	isStart = isStart || grant.IsStart(r.Header.Get("Range"), c.Size)
	if err := c.Check(s.now(), isStart, clientIP(r), r.PathValue("name")); err != nil {
		return err
	}
	if r.Method == http.MethodHead {
		n = 0
	}
	if n > 0 {
		// Reserve before sending, so that parallel segments cannot
		// together exceed the budget; what is not sent is given back.
		if _, err := s.store.ReserveGrantBytes(ctx, c.GrantID, n); err != nil {
			if freight.ErrorCode(err) == freight.ETOOLARGE {
				return freight.Errorf(freight.EFORBIDDEN, "this link's byte budget is used up; ask for a new one")
			}
			return err
		}
	}
	content, err := s.openContent(ctx, c.Digest, c.Size)
	if err != nil {
		s.refund(ctx, c.GrantID, n)
		return err
	}
	defer content.Close()

	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", contentDisposition(c.Filename))
	h.Set("Repr-Digest", reprDigest(c.Digest))
	h.Set("Cache-Control", "private, no-transform")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		http.ServeContent(w, r, "", time.Time{}, content)
		return nil
	}
	var g *freight.Grant
	if g, err = s.store.Grant(ctx, c.GrantID); err != nil {
		s.refund(ctx, c.GrantID, n)
		return err
	}
	d := &freight.Download{GrantID: g.ID, ArtifactID: g.ArtifactID, ProductID: g.ProductID, OrgID: g.OrgID, Actor: g.Actor,
		IP: clientIP(r), Via: "origin", Range: r.Header.Get("Range"), StartedAt: s.now()}
	if err := s.store.CreateDownload(ctx, d); err != nil {
		s.refund(ctx, c.GrantID, n)
		return err
	}
	cw := &countingWriter{ResponseWriter: w}
	http.ServeContent(cw, r, "", time.Time{}, content)
	// Record the outcome even though the client may be gone.
	ctx = context.WithoutCancel(ctx)
	if n > cw.n {
		s.refund(ctx, c.GrantID, n-cw.n)
	}
	if err := s.store.FinishDownload(ctx, d.ID, cw.n, cw.n >= n, s.now()); err != nil {
		s.logger.ErrorContext(ctx, "recording a download", "download_id", d.ID, "err", err)
	}
	s.logger.InfoContext(ctx, "download", "grant_id", g.ID, "artifact_id", g.ArtifactID, "org_id", g.OrgID,
		"ip", clientIP(r), "range", d.Range, "bytes", cw.n, "completed", cw.n >= n)
	return nil
}

func (s *Server) refund(ctx context.Context, grantID string, n int64) {
	if n <= 0 {
		return
	}
	if _, err := s.store.ReserveGrantBytes(context.WithoutCancel(ctx), grantID, -n); err != nil {
		s.logger.WarnContext(ctx, "giving back unsent bytes", "grant_id", grantID, "err", err)
	}
}

// contentDisposition names the file for the browser: a plain ASCII name as
// it is, anything else in RFC 5987 form. Artifact names are plain already;
// this keeps the header safe whatever they become.
func contentDisposition(name string) string {
	if v := mime.FormatMediaType("attachment", map[string]string{"filename": name}); v != "" {
		return v
	}
	return "attachment"
}

// reprDigest is the RFC 9530 Repr-Digest of a blob.
func reprDigest(digest string) string {
	b, err := hex.DecodeString(digest)
	if err != nil {
		return ""
	}
	return "sha-256=:" + base64.StdEncoding.EncodeToString(b) + ":"
}

// filer is the capability of a blob store to hand out a blob as a file,
// which lets net/http use sendfile.
type filer interface {
	File(ctx context.Context, digest string) (*os.File, error)
}

// openContent returns a blob as something http.ServeContent can seek in.
func (s *Server) openContent(ctx context.Context, digest string, size int64) (io.ReadSeekCloser, error) {
	if s.blobs == nil {
		return nil, freight.Errorf(freight.EUNAVAILABLE, "no blob store")
	}
	if f, ok := s.blobs.(filer); ok {
		return f.File(ctx, digest)
	}
	return &lazyBlob{ctx: ctx, blobs: s.blobs, digest: digest, size: size}, nil
}

// lazyBlob is a ReadSeeker over a blob store that opens a ranged read at
// the first Read after each Seek: ServeContent seeks before it reads.
type lazyBlob struct {
	ctx    context.Context
	blobs  freight.BlobStore
	digest string
	size   int64
	off    int64
	rc     io.ReadCloser
}

func (b *lazyBlob) Read(p []byte) (int, error) {
	if b.rc == nil {
		rc, err := b.blobs.Open(b.ctx, b.digest, b.off, -1)
		if err != nil {
			return 0, err
		}
		b.rc = rc
	}
	n, err := b.rc.Read(p)
	b.off += int64(n)
	return n, err
}

func (b *lazyBlob) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += b.off
	case io.SeekEnd:
		offset += b.size
	}
	if offset < 0 {
		return 0, errors.New("seek before start")
	}
	if offset != b.off && b.rc != nil {
		b.rc.Close()
		b.rc = nil
	}
	b.off = offset
	return offset, nil
}

func (b *lazyBlob) Close() error {
	if b.rc != nil {
		return b.rc.Close()
	}
	return nil
}

// countingWriter counts the body bytes of an answer. It passes ReadFrom
// through so that sendfile still happens underneath it.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok {
		n, err := io.Copy(writerOnly{w.ResponseWriter}, r)
		w.n += n
		return n, err
	}
	n, err := rf.ReadFrom(r)
	w.n += n
	return n, err
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writerOnly hides every method but Write, so io.Copy cannot recurse into
// ReadFrom.
type writerOnly struct{ io.Writer }

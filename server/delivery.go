package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/feature/cloudfront/sign"

	"github.com/freight-portal/freight"
	s3blob "github.com/freight-portal/freight/blob/s3"
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
	// Via is where the URL points: "origin", or "edge" with the edge's id.
	Via    string `json:"via"`
	EdgeID string `json:"edge_id,omitempty"`
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
		s.metrics.grants.WithLabelValues(grantRefused, d.Reason).Inc()
		return errArtifactNotFound
	} else if e := d.Entitlement; e != nil && (e.Limits.Downloads > 0 || e.Limits.Bytes > 0) {
		// Usage is counted only where a limit needs it: the count scans
		// the organization's grants in the window, which for a limit over
		// the whole life of an entitlement is all of them.
		if q.Usage, err = s.store.GrantUsage(ctx, p.OrgID, prod.ID, freight.LimitWindowStart(e.Limits.Period, q.Now)); err != nil {
			return err
		}
	}
	q.Download = true
	d := freight.Decide(q)
	if !d.Allowed {
		s.metrics.grants.WithLabelValues(grantRefused, d.Reason).Inc()
		return freight.Errorf(freight.EFORBIDDEN, "%s", d.Message)
	}
	now := s.now()
	g := &freight.Grant{
		ArtifactID: a.ID, ProductID: prod.ID, OrgID: p.OrgID, Actor: p.Actor(), TokenID: p.TokenID,
		IP: clientIP(r), BindIP: s.cfg.BindIP, Digest: a.SHA256, Size: a.Size, Filename: a.Filename,
		StartBy: now.Add(s.cfg.StartWindow), ResumeUntil: now.Add(s.cfg.ResumeWindow),
		ByteBudget: max(a.Size*s.cfg.BudgetFactor, a.Size),
	}
	// The artifact.downloaded event waits for the download to complete
	// (downloadRecorded), not for its URL.
	err = s.store.Tx(ctx, func(tx freight.Store) error {
		if g.OrgID != "" {
			if err := s.chargeQuota(ctx, tx, g.OrgID, g.Size, now); err != nil {
				return err
			}
		}
		return tx.CreateGrant(ctx, g)
	})
	if err != nil {
		if c := freight.ErrorCode(err); c == freight.ERATELIMIT || c == freight.EFORBIDDEN {
			s.metrics.grants.WithLabelValues(grantRefused, "org_quota").Inc()
		}
		return err
	}
	s.metrics.grants.WithLabelValues(grantIssued, d.Reason).Inc()
	claims := grant.ClaimsOf(g)
	token, err := grant.Encode(ctx, s.keys, claims)
	if err != nil {
		return err
	}
	ans := downloadAnswer{
		GrantID:   g.ID,
		URL:       s.baseURL(r) + "/d/" + token + "/" + url.PathEscape(a.Filename),
		ExpiresAt: g.StartBy, ResumeUntil: g.ResumeUntil, SHA256: a.SHA256, Size: a.Size, Filename: a.Filename,
		Via: DeliveryOrigin,
	}
	if s.cfg.DeliveryMode == DeliveryEdge {
		// The same token works on the portal, so a customer whose edge
		// fails can still fetch from the origin.
		region := r.URL.Query().Get("region")
		if err := freight.ValidateRegion("region", region, true); err != nil {
			return err
		}
		e, err := s.pickEdge(ctx, p.OrgID, region)
		if err != nil {
			return err
		}
		if e != nil {
			ans.URL = e.PublicURL + "/d/" + token + "/" + url.PathEscape(a.Filename)
			ans.Via, ans.EdgeID = DeliveryEdge, e.ID
		}
	}
	writeJSON(w, http.StatusOK, ans)
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
	// The rule edges apply too.
	n, err := c.CheckRequest(s.now(), r.Header.Get("Range"), r.Header.Get("If-Range"), clientIP(r), r.PathValue("name"))
	if err != nil {
		return err
	}
	if done, err := s.redirect(w, r, c, n); done || err != nil {
		return err
	}
	if r.Method == http.MethodHead {
		n = 0
	}
	// Reserve before sending, so that parallel segments cannot together
	// exceed the budget; what is not sent is given back.
	if err := s.reserve(ctx, c.GrantID, n); err != nil {
		return err
	}
	content, err := s.openContent(ctx, c.Digest, c.Size)
	if err != nil {
		s.refund(ctx, c.GrantID, n)
		return err
	}
	defer content.Close()

	SetDownloadHeaders(w.Header(), c)
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
	cw := &CountingWriter{ResponseWriter: w}
	http.ServeContent(cw, r, "", time.Time{}, content)
	// Record the outcome even though the client may be gone.
	ctx = context.WithoutCancel(ctx)
	if n > cw.N {
		s.refund(ctx, c.GrantID, n-cw.N)
	}
	// How the request ended, and whether it completed the download, in
	// one transaction with the event that completion sends. A grant known
	// complete already skips the check.
	now := s.now()
	queued := false
	err = s.store.Tx(ctx, func(tx freight.Store) error {
		if err := tx.FinishDownload(ctx, d.ID, cw.N, cw.N >= n, now); err != nil {
			return err
		}
		if g.CompletedAt != nil {
			return nil
		}
		var err error
		queued, err = s.downloadRecorded(ctx, tx, g.ID, DeliveryOrigin, now)
		return err
	})
	if err != nil {
		s.logger.ErrorContext(ctx, "recording a download", "download_id", d.ID, "err", err)
	}
	if queued {
		s.jobs.Notify()
	}
	s.metrics.downloadBytes.WithLabelValues(DeliveryOrigin).Add(float64(cw.N))
	s.logger.InfoContext(ctx, "download", "grant_id", g.ID, "artifact_id", g.ArtifactID, "org_id", g.OrgID,
		"ip", clientIP(r), "range", d.Range, "bytes", cw.N, "completed", cw.N >= n)
	return nil
}

// reserve charges n bytes to a grant's byte budget, refusing the request
// when they do not fit.
func (s *Server) reserve(ctx context.Context, grantID string, n int64) error {
	if n <= 0 {
		return nil
	}
	if _, err := s.store.ReserveGrantBytes(ctx, grantID, n); err != nil {
		if freight.ErrorCode(err) == freight.ETOOLARGE {
			return freight.Errorf(freight.EFORBIDDEN, "this link's byte budget is used up; ask for a new one")
		}
		return err
	}
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

// SetDownloadHeaders sets the headers of a download answer of the blob
// of c, before http.ServeContent adds its own: the ETag is the digest,
// so that If-Range works the same on the origin and on every edge.
func SetDownloadHeaders(h http.Header, c grant.Claims) {
	h.Set("ETag", `"`+c.Digest+`"`)
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", contentDisposition(c.Filename))
	h.Set("Repr-Digest", reprDigest(c.Digest))
	h.Set("Cache-Control", "private, no-transform")
	h.Set("X-Content-Type-Options", "nosniff")
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

// CountingWriter counts the body bytes of an answer in N. It passes
// ReadFrom through so that sendfile still happens underneath it.
type CountingWriter struct {
	http.ResponseWriter
	N int64
}

func (w *CountingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.N += int64(n)
	return n, err
}

func (w *CountingWriter) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok {
		n, err := io.Copy(writerOnly{w.ResponseWriter}, r)
		w.N += n
		return n, err
	}
	n, err := rf.ReadFrom(r)
	w.N += n
	return n, err
}

func (w *CountingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writerOnly hides every method but Write, so io.Copy cannot recurse into
// ReadFrom.
type writerOnly struct{ io.Writer }

// Delivery modes: how the download origin answers a request that passed
// the grant's checks.
const (
	// DeliveryOrigin serves the blob from the portal.
	DeliveryOrigin = "origin"
	// DeliveryS3 answers 303 See Other to a presigned GET of the blob in
	// its S3 bucket; the blob store must presign (blob/s3 does).
	DeliveryS3 = "s3"
	// DeliveryCloudFront answers 303 See Other to a CloudFront signed URL
	// of the blob on a distribution in front of the bucket.
	DeliveryCloudFront = "cloudfront"
)

// RedirectTTL is the life of the URL a redirect answers: enough for the
// client to follow it. S3 and CloudFront check expiry when a request
// starts and let a request that started finish, and a resume or a new
// segment comes back through /d/ for a fresh one, with the grant's rules
// checked again.
const RedirectTTL = 60 * time.Second

// getPresigner is the capability of a blob store to sign a URL from which
// clients GET a blob straight from the storage, answered with the given
// Content-Disposition (blob/s3).
type getPresigner interface {
	PresignGet(ctx context.Context, digest, contentDisposition string, ttl time.Duration) (string, error)
}

// headPresigner signs the same for HEAD, where the storage signs the
// method (S3). A blob store without it has its HEADs answered by the
// portal.
type headPresigner interface {
	PresignHead(ctx context.Context, digest, contentDisposition string, ttl time.Duration) (string, error)
}

// CheckDelivery reports whether cfg's delivery mode can work with blobs:
// New cannot fail, so commands call this first and refuse to start with a
// mode that would fail every download.
func CheckDelivery(cfg Config, blobs freight.BlobStore) error {
	switch cfg.DeliveryMode {
	case "", DeliveryOrigin, DeliveryEdge:
		return nil
	case DeliveryS3:
		if _, ok := blobs.(getPresigner); !ok {
			return fmt.Errorf("delivery mode s3 redirects downloads to presigned S3 URLs and needs an s3:// blob store; this blob store (%T) cannot presign", blobs)
		}
		return nil
	case DeliveryCloudFront:
		cf := cfg.CloudFront
		var missing []string
		if cf.Domain == "" {
			missing = append(missing, "the distribution's domain name")
		}
		if cf.KeyID == "" {
			missing = append(missing, "the public key's id")
		}
		if cf.Signer == nil {
			missing = append(missing, "the private key")
		}
		if len(missing) > 0 {
			return fmt.Errorf("delivery mode cloudfront needs %s", strings.Join(missing, ", "))
		}
		if u, err := url.Parse("https://" + cf.Domain + "/"); err != nil || u.Host != cf.Domain || u.Port() != "" || strings.ContainsAny(cf.Domain, "/?#@ ") {
			return fmt.Errorf("cloudfront domain %q must be a host name such as d111111abcdef8.cloudfront.net, without scheme, port or path", cf.Domain)
		}
		if strings.IndexFunc(cf.Domain, func(c rune) bool { return c > unicode.MaxASCII }) >= 0 {
			return fmt.Errorf("cloudfront domain %q must be ASCII (Punycode)", cf.Domain)
		}
		if strings.ContainsAny(cf.KeyID, "&?#= ") {
			return fmt.Errorf("cloudfront key id %q is not a CloudFront public key id such as K2JCJMDEHXQW5F", cf.KeyID)
		}
		switch k := cf.Signer.Public().(type) {
		case *rsa.PublicKey:
			if k.N.BitLen() < 2048 {
				return fmt.Errorf("cloudfront private key: RSA of %d bits; CloudFront takes RSA 2048", k.N.BitLen())
			}
		case *ecdsa.PublicKey:
			if k.Curve != elliptic.P256() {
				return fmt.Errorf("cloudfront private key: ECDSA on %s; CloudFront takes P-256", k.Curve.Params().Name)
			}
		default:
			return fmt.Errorf("cloudfront private key: a %T; CloudFront takes RSA 2048 or ECDSA P-256", k)
		}
		return nil
	}
	return fmt.Errorf("unknown delivery mode %q (known: origin, s3, cloudfront, edge)", cfg.DeliveryMode)
}

// redirect answers a request that passed the grant's checks in the
// redirect modes: 303 See Other to a URL of the blob on S3 or CloudFront,
// valid for RedirectTTL. It reports false, doing nothing, in origin mode
// (and for a HEAD the blob store cannot presign). n is what the request
// asks for, as the origin would send it.
//
// The portal charges the grant's byte budget n bytes and records the
// download as finished when it redirects: it cannot see what S3 or
// CloudFront then send, so nothing is ever given back, and a download
// that stops early still costs what it asked for. Bytes is what was
// charged, Completed is false: the portal does not know.
//
// If-Range is judged against the portal's own ETag, as in origin mode.
// A client that resumes with S3's or CloudFront's validator is charged the
// whole file and must be in the start window, since the storage may well
// answer it with the whole file.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, c grant.Claims, n int64) (bool, error) {
	mode := s.cfg.DeliveryMode
	if mode != DeliveryS3 && mode != DeliveryCloudFront {
		return false, nil
	}
	ctx := r.Context()
	head := r.Method == http.MethodHead
	if _, ok := s.blobs.(headPresigner); head && mode == DeliveryS3 && !ok {
		return false, nil
	}
	loc, err := s.redirectURL(ctx, c, head)
	if err != nil {
		return true, err
	}
	// A HEAD costs nothing and is no download, as in origin mode.
	if !head {
		if err := s.reserve(ctx, c.GrantID, n); err != nil {
			return true, err
		}
		now := s.now()
		d := &freight.Download{GrantID: c.GrantID, IP: clientIP(r), Via: mode, Range: r.Header.Get("Range"),
			Bytes: n, Completed: false, StartedAt: now, FinishedAt: &now}
		queued := false
		err := s.store.Tx(ctx, func(tx freight.Store) error {
			if err := tx.CreateDownload(ctx, d); err != nil {
				return err
			}
			var err error
			queued, err = s.downloadRecorded(ctx, tx, c.GrantID, mode, now)
			return err
		})
		if err != nil {
			s.refund(ctx, c.GrantID, n)
			return true, err
		}
		if queued {
			s.jobs.Notify()
		}
		s.metrics.downloadBytes.WithLabelValues(mode).Add(float64(n))
		s.logger.InfoContext(ctx, "download redirected", "via", mode, "grant_id", c.GrantID, "artifact_id", d.ArtifactID,
			"org_id", d.OrgID, "ip", d.IP, "range", d.Range, "bytes", n)
	}
	h := w.Header()
	h.Set("Location", loc)
	// The URL is short-lived and is the credential: no cache may keep it.
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusSeeOther)
	return true, nil
}

// redirectURL signs the URL of the blob a redirect points to.
func (s *Server) redirectURL(ctx context.Context, c grant.Claims, head bool) (string, error) {
	switch s.cfg.DeliveryMode {
	case DeliveryS3:
		var loc string
		var err error
		if hp, ok := s.blobs.(headPresigner); head && ok {
			loc, err = hp.PresignHead(ctx, c.Digest, contentDisposition(c.Filename), RedirectTTL)
		} else if gp, ok := s.blobs.(getPresigner); ok {
			loc, err = gp.PresignGet(ctx, c.Digest, contentDisposition(c.Filename), RedirectTTL)
		} else {
			return "", freight.Errorf(freight.EUNAVAILABLE, "downloads are misconfigured: delivery mode s3 needs an s3:// blob store")
		}
		if err != nil {
			return "", err
		}
		return loc, nil
	case DeliveryCloudFront:
		return s.cloudFrontURL(c, s.now().Add(RedirectTTL))
	}
	return "", freight.Internal(fmt.Errorf("redirect in delivery mode %q", s.cfg.DeliveryMode))
}

// cloudFrontURL signs a CloudFront URL of the blob of c that expires at
// expires: a canned policy, or a custom one that adds the client's address
// when the grant is bound to it, so that CloudFront enforces the binding
// too.
//
// The URL asks for the artifact's file name with S3's
// response-content-disposition; it takes effect when the distribution
// forwards the query string to the S3 origin (with origin access control,
// which signs the origin request), and the cache key should include the
// query string then, since identical files share one blob.
func (s *Server) cloudFrontURL(c grant.Claims, expires time.Time) (string, error) {
	cf := s.cfg.CloudFront
	if s.cfSigner == nil {
		return "", freight.Errorf(freight.EUNAVAILABLE, "downloads are misconfigured: delivery mode cloudfront has no key")
	}
	if !freight.ValidDigest(c.Digest) {
		return "", freight.Internal(fmt.Errorf("grant %s names no valid digest", c.GrantID))
	}
	u := (&url.URL{
		Scheme:   "https",
		Host:     cf.Domain,
		Path:     "/" + s3blob.Key(cf.PathPrefix, c.Digest),
		RawQuery: url.Values{"response-content-disposition": {contentDisposition(c.Filename)}}.Encode(),
	}).String()
	var signed string
	var err error
	if c.IP == "" {
		signed, err = s.cfSigner.Sign(u, expires)
	} else {
		ip, perr := netip.ParseAddr(c.IP)
		if perr != nil {
			return "", freight.Internal(fmt.Errorf("grant %s: bound address %q: %w", c.GrantID, c.IP, perr))
		}
		ip = ip.WithZone("").Unmap()
		p := &sign.Policy{Statements: []sign.Statement{{
			Resource: u,
			Condition: sign.Condition{
				IPAddress:    &sign.IPAddress{SourceIP: netip.PrefixFrom(ip, ip.BitLen()).String()},
				DateLessThan: sign.NewAWSEpochTime(expires),
			},
		}}}
		signed, err = s.cfSigner.SignWithPolicy(u, p)
	}
	if err != nil {
		return "", freight.Internal(fmt.Errorf("sign a CloudFront URL: %w", err))
	}
	return signed, nil
}

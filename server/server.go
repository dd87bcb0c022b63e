package server

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/cloudfront/sign"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/internal/realip"
	"github.com/freight-portal/freight/jobs"
	"github.com/freight-portal/freight/mail"
	"github.com/freight-portal/freight/oidc"
	"github.com/freight-portal/freight/password"
	"github.com/freight-portal/freight/signing"
	"github.com/freight-portal/freight/web"
)

// Config holds the settings of the HTTP layer. Zero values take defaults.
type Config struct {
	// MaxBodyBytes bounds JSON request bodies; 0 means 1 MiB.
	MaxBodyBytes int64
	// Version is reported by /healthz.
	Version string
	// Now is the clock; nil means time.Now. Tests replace it.
	Now func() time.Time
	// PublicURL is the portal's base URL as clients reach it, used in the
	// URLs it hands out; empty means the scheme and host of each request.
	PublicURL string
	// PartSize is the preferred upload part size (raised for files that
	// would need more than freight.MaxUploadParts parts).
	PartSize int64
	// MaxArtifactSize bounds the size of one artifact.
	MaxArtifactSize int64
	// UploadTTL is how long an upload session accepts parts.
	UploadTTL time.Duration
	// UploadCompleteWait is how long a complete request waits for the
	// upload's verification before it answers 202 Accepted; 0 means
	// DefaultUploadCompleteWait, a negative value answers at once.
	UploadCompleteWait time.Duration
	// StartWindow is how long a download URL may wait before its first
	// byte; ResumeWindow how long ranged requests on it keep working.
	StartWindow  time.Duration
	ResumeWindow time.Duration
	// BudgetFactor times the file size is the most one URL may serve.
	BudgetFactor int64
	// BindIP ties a download URL to the address that asked for it.
	BindIP bool
	// MetricsToken, when set, is the bearer token GET /metrics requires;
	// empty leaves /metrics public.
	MetricsToken string
	// DeliveryMode is how the download origin answers once a request
	// passed the grant's checks and was charged to its byte budget:
	// DeliveryOrigin ("" too) serves the file; DeliveryS3 and
	// DeliveryCloudFront redirect to a short-lived URL of the blob on S3
	// or CloudFront. The download URLs handed out are the portal's in
	// every mode. Check it with CheckDelivery.
	DeliveryMode string
	// CloudFront configures DeliveryCloudFront.
	CloudFront CloudFront

	// InsecureCookies drops the Secure attribute and the __Host- prefix of
	// the session cookie, for plain-http local use only.
	InsecureCookies bool
	// SessionIdle and SessionLifetime end a browser session after that
	// long without a request, or that long after sign-in.
	SessionIdle     time.Duration
	SessionLifetime time.Duration
	// Mailer sends invitations, verification and reset links; nil drops
	// mail (with a warning in the log).
	Mailer freight.Mailer
	// PasswordParams are the argon2id parameters of new password hashes;
	// zero means password.Default. Older hashes are upgraded at sign-in.
	PasswordParams password.Params
	// Providers are the OpenID providers people may sign in with.
	Providers []*oidc.Provider
	// Jobs tunes the background job queue; its clock is Now.
	Jobs jobs.Config
	// SignInRate and SignInBurst bound the sign-in attempts (passwords,
	// second factors, reset and invitation links) per client address:
	// a token bucket refilled at SignInRate per second.
	SignInRate  float64
	SignInBurst int
	// EdgeRegions is the order in which DeliveryEdge tries regions after
	// the organization's region and the one a request prefers.
	EdgeRegions []string
	// EdgeHealthTimeout is how recent an edge's heartbeat must be for it
	// to get downloads.
	EdgeHealthTimeout time.Duration
	// PrefetchWindow is how long after publication edges are asked to
	// have a release's files.
	PrefetchWindow time.Duration
	// Webhooks configures the webhooks the portal sends.
	Webhooks WebhookConfig
	// TrustedProxies are the reverse proxies and load balancers in front
	// of the portal whose X-Forwarded-For is believed (see realip): rate
	// limits, download URLs bound to an address, the audit and the logs
	// then see each client's address rather than the proxy's. None by
	// default: the peer's address is the client's.
	TrustedProxies realip.Proxies
	// RateLimits is the token bucket of each route group (RateGroups),
	// per API token, signed-in user or edge, and per client address for
	// requests without a credential. A group missing from the map takes
	// its default (DefaultRateLimits); the zero RateLimit turns a group's
	// limit off. Check it with CheckRateLimits.
	RateLimits map[string]freight.RateLimit
	// SharedRateLimits keeps the buckets in the store, so that replicas
	// on one database count together; false keeps them in this process,
	// which is right for one replica (and for SQLite, where a write per
	// request would queue every request behind the one writer).
	SharedRateLimits bool
}

// CloudFront describes a CloudFront distribution in front of the blob
// bucket, for signed URLs.
type CloudFront struct {
	// Domain is the distribution's domain name, such as
	// d111111abcdef8.cloudfront.net (or an alternate domain of it).
	Domain string
	// KeyID is the id of the public key, in a trusted key group of the
	// distribution, that matches Signer (Key-Pair-Id).
	KeyID string
	// Signer is the private key: RSA 2048 or ECDSA P-256.
	Signer crypto.Signer
	// PathPrefix is the prefix of blob keys on the distribution: a blob is
	// at /<PathPrefix>/sha256/<2 hex>/<digest>, the layout of blob/s3.
	PathPrefix string
}

// Server serves Freight's HTTP API over a Store and a BlobStore.
type Server struct {
	store freight.Store
	blobs freight.BlobStore
	keys  *signing.Keyring // signs download grants
	// licenseKeys signs license files: a separate key, so that a leaked
	// grant key cannot forge licenses, and the two rotate on their own.
	licenseKeys *signing.Keyring
	logger      *slog.Logger
	cfg         Config
	maxBody     int64
	version     string
	now         func() time.Time
	handler     http.Handler
	// cfSigner signs CloudFront URLs; nil unless DeliveryCloudFront.
	cfSigner *sign.URLSigner
	// ui renders the web pages and serves their assets.
	ui *web.UI
	// routeList is every route with its permission, for Routes.
	routeList []Route
	// limiter bounds sign-in attempts per client address; lockouts keeps
	// the failure counters of unknown email addresses, so that they lock
	// out like real accounts and reveal nothing.
	limiter  *ipLimiter
	lockouts *ghostLockouts
	// metrics counts what the server does, for GET /metrics.
	metrics *metrics
	// jobs runs the background work: mail, password-reset requests, and
	// whatever other packages register on it.
	jobs *jobs.Queue
	// hookClient sends webhook deliveries under Config.Webhooks.Policy.
	hookClient *http.Client
	// dummyHash is checked against when an account does not exist, so
	// that an unknown email costs the same time as a wrong password.
	dummyHash string
	// rateLimits is the limit of each route group; buckets keeps the
	// callers' buckets; rateRefused counts refusals by group.
	rateLimits  map[string]freight.RateLimit
	buckets     buckets
	rateRefused *prometheus.CounterVec
	// replica names this server in the claims of janitor sweeps.
	replica string
	// verified is raised each time this replica's worker settles an
	// upload, for the complete requests waiting on one.
	verified signal
}

// New returns a Server. The logger should be wrapped with LogHandler so
// that request ids appear in every line. blobs may be nil for a server
// that only manages metadata.
func New(store freight.Store, blobs freight.BlobStore, logger *slog.Logger, cfg Config) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PartSize <= 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.MaxArtifactSize <= 0 {
		cfg.MaxArtifactSize = DefaultMaxArtifactSize
	}
	if cfg.UploadTTL <= 0 {
		cfg.UploadTTL = DefaultUploadTTL
	}
	if cfg.UploadCompleteWait == 0 {
		cfg.UploadCompleteWait = DefaultUploadCompleteWait
	}
	if cfg.StartWindow <= 0 {
		cfg.StartWindow = DefaultStartWindow
	}
	if cfg.ResumeWindow <= 0 {
		cfg.ResumeWindow = DefaultResumeWindow
	}
	cfg.ResumeWindow = max(cfg.ResumeWindow, cfg.StartWindow)
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = DefaultSessionIdle
	}
	if cfg.SessionLifetime <= 0 {
		cfg.SessionLifetime = DefaultSessionLifetime
	}
	if cfg.PasswordParams == (password.Params{}) {
		cfg.PasswordParams = password.Default
	}
	if cfg.SignInRate <= 0 {
		cfg.SignInRate = DefaultSignInRate
	}
	if cfg.SignInBurst <= 0 {
		cfg.SignInBurst = DefaultSignInBurst
	}
	if cfg.BudgetFactor <= 0 {
		cfg.BudgetFactor = DefaultBudgetFactor
	}
	if cfg.EdgeHealthTimeout <= 0 {
		cfg.EdgeHealthTimeout = DefaultEdgeHealthTimeout
	}
	if cfg.PrefetchWindow <= 0 {
		cfg.PrefetchWindow = DefaultPrefetchWindow
	}
	if cfg.Webhooks.Timeout <= 0 {
		cfg.Webhooks.Timeout = DefaultWebhookTimeout
	}
	if cfg.Webhooks.Attempts <= 0 {
		cfg.Webhooks.Attempts = DefaultWebhookAttempts
	}
	cfg.Webhooks.Attempts = min(cfg.Webhooks.Attempts, freight.MaxJobAttempts)
	if cfg.Webhooks.RotationGrace <= 0 {
		cfg.Webhooks.RotationGrace = DefaultWebhookGrace
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	s := &Server{store: store, blobs: blobs, logger: logger, cfg: cfg, maxBody: cfg.MaxBodyBytes, version: cfg.Version, now: cfg.Now,
		keys: signing.NewKeyring(store, freight.KeyGrants, cfg.Now), licenseKeys: signing.NewKeyring(store, freight.KeyLicenses, cfg.Now)}
	if cfg.DeliveryMode == DeliveryCloudFront && cfg.CloudFront.Signer != nil {
		s.cfSigner = sign.NewURLSigner(cfg.CloudFront.KeyID, cfg.CloudFront.Signer)
	}
	s.limiter = newIPLimiter(cfg.SignInRate, cfg.SignInBurst, cfg.Now)
	rl, err := checkRateLimits(cfg.RateLimits)
	if err != nil {
		// Callers check the configuration with CheckRateLimits first.
		panic(err)
	}
	s.rateLimits, s.buckets = rl, newMemBuckets()
	if cfg.SharedRateLimits {
		s.buckets = storeBuckets{store}
	}
	s.replica = rand.Text()
	s.lockouts = newGhostLockouts()
	s.dummyHash = dummyHash(cfg.PasswordParams)
	s.ui = web.MustNew()
	s.metrics = newMetrics(store)
	s.rateRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "freight_rate_limited_total",
		Help: "Requests refused by a rate limit, by route group.",
	}, []string{"group"})
	s.metrics.reg.MustRegister(s.rateRefused)
	jcfg := cfg.Jobs
	jcfg.Now = cfg.Now
	jcfg.Failed = s.metrics.jobFailed
	s.jobs = jobs.New(store, logger, jcfg)
	s.jobs.Handle(mail.JobKind, s.sendMailJob)
	s.jobs.Handle(resetRequestKind, s.resetRequestJob)
	s.jobs.Handle(releaseNotifyKind, s.releaseNotifyJob)
	s.jobs.Handle(edgePrefetchKind, s.edgePrefetchJob)
	s.hookClient = cfg.Webhooks.Policy.Client(cfg.Webhooks.Timeout)
	s.jobs.Handle(webhookJobKind, s.webhookJob)
	s.jobs.Handle(verifyUploadKind, s.verifyUploadJob)
	s.handleSweeps()
	s.handler = cfg.TrustedProxies.Handler(s.routes())
	return s
}

// Jobs returns the server's job queue, on which other parts of the program
// register the handlers of their kinds of work before RunJobs.
func (s *Server) Jobs() *jobs.Queue { return s.jobs }

// RunJobs runs the job worker until ctx ends; see jobs.Queue.Run. Every
// replica runs one.
func (s *Server) RunJobs(ctx context.Context) error { return s.jobs.Run(ctx) }

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// change runs fn in a transaction and records an audit event for it in the
// same transaction, so that no change lands without its record. fn returns
// the target's id, the organization concerned (or "") and the details.
func (s *Server) change(r *http.Request, action, targetType string, fn func(tx freight.Store) (audited, error)) error {
	return s.changeAs(r.Context(), r, action, targetType, fn)
}

// changeAs is change for work that may have no request (r == nil): the
// janitor acts as the system.
func (s *Server) changeAs(ctx context.Context, r *http.Request, action, targetType string, fn func(tx freight.Store) (audited, error)) error {
	p := principal(ctx)
	ev := freight.AuditEvent{Actor: p.Actor(), TokenID: p.TokenID, Action: action, TargetType: targetType}
	if r != nil {
		ev.IP, ev.RequestID = clientIP(r), RequestID(r.Context())
	}
	return s.record(ctx, ev, fn)
}

// record is change for a background job acting for whoever asked for its
// work: ev names them, the action and the target type.
func (s *Server) record(ctx context.Context, ev freight.AuditEvent, fn func(tx freight.Store) (audited, error)) error {
	return s.store.Tx(ctx, func(tx freight.Store) error {
		t, err := fn(tx)
		if err != nil {
			return err
		}
		details, err := json.Marshal(t.details)
		if err != nil {
			return freight.Internal(err)
		}
		ev.Time, ev.TargetID, ev.OrgID, ev.Details = s.now(), t.id, t.orgID, details
		return tx.CreateAuditEvent(ctx, &ev)
	})
}

// audited describes the target of a change for its audit event. details
// must never hold a secret; the domain types keep theirs out of JSON.
type audited struct {
	id, orgID string
	details   any
}

// dummyHash returns a hash of a random password with the given
// parameters, to check against when an account has none.
func dummyHash(p password.Params) string {
	b := make([]byte, 16)
	rand.Read(b)
	h, err := password.Hash(context.Background(), string(b), p)
	if err != nil {
		panic(err) // only a cancelled context fails, and this one is not
	}
	return h
}

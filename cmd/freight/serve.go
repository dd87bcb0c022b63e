package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/freight-portal/freight"
	fsblob "github.com/freight-portal/freight/blob/fs"
	s3blob "github.com/freight-portal/freight/blob/s3"
	"github.com/freight-portal/freight/internal/realip"
	"github.com/freight-portal/freight/jobs"
	"github.com/freight-portal/freight/server"
	"github.com/freight-portal/freight/sqlstore"
)

// serveConfig holds the settings of "freight serve".
type serveConfig struct {
	config          string
	addr            string
	publicURL       string
	shutdownTimeout time.Duration
	maxBody         int64
	partSize        int64
	maxArtifactSize int64
	uploadTTL       time.Duration
	completeWait    time.Duration
	janitorInterval time.Duration
	gcInterval      time.Duration
	blobs           string
	startWindow     time.Duration
	resumeWindow    time.Duration
	budgetFactor    int64
	bindIP          bool
	delivery        oneOf
	edgeRegions     string
	edgeHealth      time.Duration
	trustedProxies  realip.Proxies
	prefetchWindow  time.Duration
	cloudFront      cloudFrontConfig
	insecureCookies bool
	sessionIdle     time.Duration
	sessionLifetime time.Duration
	mailOutbox      string
	mailFrom        string
	smtpURL         string
	jobConcurrency  int
	jobLease        time.Duration
	jobPoll         time.Duration
	oidcProviders   string
	metricsToken    string
	webhooks        webhookFlags
	rateLimits      rateLimitConfig
	db              dbConfig
	log             logConfig
}

func (c *serveConfig) flags(fs *flag.FlagSet, defaultDataDir string) {
	fs.StringVar(&c.config, "config", "", "TOML config file whose keys are these flag names")
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "address to listen on (host:port)")
	fs.StringVar(&c.publicURL, "public-url", "", "base URL clients reach the portal at, used in the URLs it hands out (default: the URL each request came to)")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long in-flight requests may run after SIGINT/SIGTERM")
	fs.Var(&c.trustedProxies, "trusted-proxies", "comma-separated networks and addresses of the reverse proxies and load balancers in front of the portal, such as 10.0.0.0/8; their X-Forwarded-For names the client for rate limits, address-bound download URLs, the audit and the logs (default: none, the peer is the client)")
	fs.Int64Var(&c.maxBody, "max-body", 1<<20, "largest JSON request body in bytes")
	fs.Int64Var(&c.partSize, "upload-part-size", server.DefaultPartSize, "preferred upload part size in bytes (at least 5 MiB; raised for files over 10,000 parts)")
	fs.Int64Var(&c.maxArtifactSize, "max-artifact-size", server.DefaultMaxArtifactSize, "largest artifact in bytes")
	fs.DurationVar(&c.uploadTTL, "upload-expiry", server.DefaultUploadTTL, "how long an upload session accepts parts")
	fs.DurationVar(&c.completeWait, "upload-complete-wait", server.DefaultUploadCompleteWait, "how long a request to complete an upload waits for the file's verification, a background job, before it answers 202 Accepted for the client to ask again (0: at once); keep it below the timeout of any proxy in front of the portal")
	fs.DurationVar(&c.janitorInterval, "janitor-interval", time.Minute, "how often expired uploads are cleaned up")
	fs.DurationVar(&c.gcInterval, "gc-interval", time.Hour, "how often blobs that no artifact names are deleted")
	fs.DurationVar(&c.startWindow, "download-start-window", server.DefaultStartWindow, "how long a download URL may wait before the download starts")
	fs.DurationVar(&c.resumeWindow, "download-resume-window", server.DefaultResumeWindow, "how long ranged requests (resumes, segments) on a download URL keep working")
	fs.Int64Var(&c.budgetFactor, "download-budget", server.DefaultBudgetFactor, "most bytes one download URL may serve, as a multiple of the file size")
	fs.BoolVar(&c.bindIP, "download-bind-ip", false, "accept a download URL only from the address that asked for it")
	c.delivery = oneOf{value: server.DeliveryOrigin, allowed: []string{server.DeliveryOrigin, server.DeliveryS3, server.DeliveryCloudFront, server.DeliveryEdge}}
	fs.Var(&c.delivery, "delivery", "how downloads are delivered: origin (the portal sends the file), s3 (303 to a presigned URL on the s3:// blob store), cloudfront (303 to a CloudFront signed URL) or edge (URLs on a healthy freight edge, else the portal); the portal or edge checks every download URL first in every mode")
	fs.StringVar(&c.edgeRegions, "edge-regions", "", "delivery edge: comma-separated regions tried, in order, after the organization's region and the one a request prefers")
	fs.DurationVar(&c.edgeHealth, "edge-health-timeout", server.DefaultEdgeHealthTimeout, "delivery edge: an edge whose last heartbeat is older gets no downloads")
	fs.DurationVar(&c.prefetchWindow, "prefetch-window", server.DefaultPrefetchWindow, "how long after a release is published edges are asked to cache its files (products with prefetch_edges)")
	fs.StringVar(&c.cloudFront.domain, "cloudfront-domain", "", "delivery cloudfront: the distribution's domain name, such as d111111abcdef8.cloudfront.net")
	fs.StringVar(&c.cloudFront.keyID, "cloudfront-key-id", "", "delivery cloudfront: id of the public key in the distribution's trusted key group, such as K2JCJMDEHXQW5F")
	fs.StringVar(&c.cloudFront.privateKey, "cloudfront-private-key", "", "delivery cloudfront: path of the matching private key, PEM (RSA 2048 or ECDSA P-256; PKCS #1, SEC 1 or PKCS #8, unencrypted)")
	fs.StringVar(&c.cloudFront.pathPrefix, "cloudfront-path-prefix", "", "delivery cloudfront: path under which the distribution serves the blob store's sha256/ folder (default: the prefix of an s3:// blob store; / for none)")
	fs.BoolVar(&c.insecureCookies, "insecure-cookies", false, "send the session cookie without Secure and without the __Host- prefix, for plain-http use on localhost only")
	fs.DurationVar(&c.sessionIdle, "session-idle", server.DefaultSessionIdle, "a browser session ends after this long without a request")
	fs.DurationVar(&c.sessionLifetime, "session-lifetime", server.DefaultSessionLifetime, "a browser session ends this long after sign-in, whatever its use")
	fs.StringVar(&c.mailOutbox, "mail-outbox", "", "folder where mail (invitations, reset links) is written as .eml files (default: the outbox folder in the data directory)")
	fs.StringVar(&c.mailFrom, "mail-from", "Freight <noreply@freight.invalid>", "sender of the portal's mail, with an optional name")
	fs.StringVar(&c.smtpURL, "smtp-url", "", "send mail through this SMTP server instead of the outbox folder: smtp://user:password@host:587?tls=starttls (tls=tls or smtps:// for port 465, tls=none for a relay on this machine; from= overrides --mail-from; timeout=30s); prefer FREIGHT_SMTP_URL or the config file, since flags show in the process list")
	fs.IntVar(&c.jobConcurrency, "job-concurrency", jobs.DefaultConcurrency, "background jobs (mail, upload verification, clean-up) run at once by this replica")
	fs.DurationVar(&c.jobPoll, "job-poll-interval", jobs.DefaultPollInterval, "how often this replica looks for background jobs queued by others")
	fs.DurationVar(&c.jobLease, "job-lease", jobs.DefaultLease, "how long a running job stays reserved to this replica without word from it; after a crash, its jobs run elsewhere (or after a restart) once this has passed")
	fs.StringVar(&c.oidcProviders, "oidc-providers", "", "TOML file listing the OpenID Connect providers people may sign in with (see README)")
	fs.StringVar(&c.metricsToken, "metrics-token", "", "bearer token GET /metrics requires (default: none, /metrics is public: keep it from the internet); prefer FREIGHT_METRICS_TOKEN or the config file, since flags show in the process list")
	fs.StringVar(&c.blobs, "blobs", "", "blob store: file:///path or s3://bucket/prefix?endpoint=…&region=…&path_style=true (default: the blobs folder in the data directory)")
	c.webhooks.flags(fs)
	c.rateLimits.flags(fs)
	c.db.flags(fs, defaultDataDir)
	c.log.flags(fs)
}

// openBlobs opens the blob store named by c.blobs.
func (c *serveConfig) openBlobs(ctx context.Context, logger *slog.Logger) (freight.BlobStore, error) {
	u := c.blobs
	if u == "" {
		dir, err := filepath.Abs(filepath.Join(c.db.dataDir, "blobs"))
		if err != nil {
			return nil, err
		}
		u = "file://" + filepath.ToSlash(dir)
	}
	switch {
	case strings.HasPrefix(u, "file://"):
		return fsblob.Open(u)
	case strings.HasPrefix(u, "s3://"):
		return s3blob.Open(ctx, u, logger)
	}
	return nil, fmt.Errorf("blobs: unsupported URL; use file:///path or s3://bucket/prefix")
}

func serveFlags(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	var c serveConfig
	c.flags(fs, "freight-data")
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		logger := c.log.logger(stderr)
		db, err := openDB(ctx, &c.db, logger)
		if err != nil {
			return err
		}
		defer db.Close()
		blobs, err := c.openBlobs(ctx, logger)
		if err != nil {
			return err
		}
		return c.listenAndServe(ctx, db, blobs, logger, func(url string) {
			fmt.Fprintf(stdout, "Freight is listening on %s\n", url)
		})
	}
}

// cloudFrontConfig holds the settings of delivery mode cloudfront.
type cloudFrontConfig struct {
	domain, keyID, privateKey, pathPrefix string
}

// deliveryConfig fills the delivery settings of cfg and checks that they
// can work with blobs, so that a portal that would fail every download
// does not start.
func (c *serveConfig) deliveryConfig(cfg *server.Config, blobs freight.BlobStore) error {
	cfg.DeliveryMode = c.delivery.value
	switch cfg.DeliveryMode {
	case server.DeliveryS3:
		if err := server.CheckDelivery(*cfg, blobs); err != nil {
			return fmt.Errorf("--delivery s3 redirects downloads to presigned S3 URLs and needs an s3:// blob store (--blobs s3://bucket/prefix?…); the blob store is %s", blobKind(c.blobs))
		}
		return nil
	case server.DeliveryCloudFront:
		return c.cloudFrontConfig(cfg, blobs)
	}
	return server.CheckDelivery(*cfg, blobs)
}

// cloudFrontConfig fills and checks the settings of delivery mode
// cloudfront.
func (c *serveConfig) cloudFrontConfig(cfg *server.Config, blobs freight.BlobStore) error {
	cf := c.cloudFront
	var missing []string
	for _, f := range []struct{ flag, v string }{
		{"--cloudfront-domain", cf.domain}, {"--cloudfront-key-id", cf.keyID}, {"--cloudfront-private-key", cf.privateKey},
	} {
		if f.v == "" {
			missing = append(missing, f.flag)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("--delivery cloudfront needs %s", strings.Join(missing, ", "))
	}
	key, err := loadPrivateKey(cf.privateKey)
	if err != nil {
		return fmt.Errorf("--cloudfront-private-key: %w", err)
	}
	prefix := cf.pathPrefix
	if s, ok := blobs.(*s3blob.Store); ok && prefix == "" {
		prefix = s.Prefix()
	}
	cfg.CloudFront = server.CloudFront{Domain: cf.domain, KeyID: cf.keyID, Signer: key, PathPrefix: prefix}
	if err := server.CheckDelivery(*cfg, blobs); err != nil {
		return fmt.Errorf("--delivery cloudfront: %w", err)
	}
	return nil
}

// blobKind names the kind of blob store a --blobs value opens.
func blobKind(u string) string {
	if u == "" {
		return "the blobs folder in the data directory"
	}
	if scheme, _, ok := strings.Cut(u, "://"); ok {
		return scheme + "://"
	}
	return "not an s3:// one"
}

// loadPrivateKey reads a PEM private key for CloudFront: RSA in PKCS #1
// ("RSA PRIVATE KEY", what CloudFront's documentation makes with openssl
// genrsa), ECDSA in SEC 1 ("EC PRIVATE KEY", possibly after an "EC
// PARAMETERS" block), or either in PKCS #8 ("PRIVATE KEY"). The key's type
// and size are checked by server.CheckDelivery.
func loadPrivateKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("%s holds no PEM private key (RSA PRIVATE KEY, EC PRIVATE KEY or PRIVATE KEY)", path)
		}
		var key any
		switch block.Type {
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("%s: the key is encrypted; store it decrypted, readable only by the portal", path)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, block.Type, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%s: a %T cannot sign", path, key)
		}
		return signer, nil
	}
}

// listenAndServe serves the portal until ctx is cancelled, then stops
// accepting connections and lets in-flight requests finish for up to the
// shutdown timeout. ready is called with the base URL once the listener is
// bound, which with port 0 is the only way to learn the port.
func (c *serveConfig) listenAndServe(ctx context.Context, db *sqlstore.DB, blobs freight.BlobStore, logger *slog.Logger, ready func(url string)) error {
	if c.partSize < 5<<20 {
		return fmt.Errorf("upload-part-size must be at least 5 MiB (5242880), not %d", c.partSize)
	}
	if c.completeWait < 0 {
		return fmt.Errorf("upload-complete-wait must not be negative, not %s", c.completeWait)
	}
	cfg := server.Config{
		MaxBodyBytes: c.maxBody, Version: version, PublicURL: c.publicURL,
		PartSize: c.partSize, MaxArtifactSize: c.maxArtifactSize, UploadTTL: c.uploadTTL, UploadCompleteWait: c.completeWait,
		StartWindow: c.startWindow, ResumeWindow: c.resumeWindow, BudgetFactor: c.budgetFactor, BindIP: c.bindIP,
		InsecureCookies: c.insecureCookies, SessionIdle: c.sessionIdle, SessionLifetime: c.sessionLifetime,
		Jobs:              jobs.Config{Concurrency: c.jobConcurrency, PollInterval: c.jobPoll, Lease: c.jobLease},
		EdgeHealthTimeout: c.edgeHealth, PrefetchWindow: c.prefetchWindow,
		MetricsToken: c.metricsToken, TrustedProxies: c.trustedProxies,
	}
	if cfg.UploadCompleteWait == 0 {
		cfg.UploadCompleteWait = -1 // the server's zero is its default; the flag's is no wait
	}
	for r := range strings.SplitSeq(c.edgeRegions, ",") {
		if r = strings.TrimSpace(r); r == "" {
			continue
		}
		if err := freight.ValidateRegion("edge-regions", r, false); err != nil {
			return fmt.Errorf("--edge-regions: %q: %s", r, freight.ErrorMessage(err))
		}
		cfg.EdgeRegions = append(cfg.EdgeRegions, r)
	}
	webhooks, err := c.webhooks.config()
	if err != nil {
		return err
	}
	cfg.Webhooks = webhooks
	mailer, err := c.mailer(logger)
	if err != nil {
		return err
	}
	cfg.Mailer = mailer
	if cfg.Providers, err = c.providers(ctx, logger); err != nil {
		return err
	}
	if err := c.deliveryConfig(&cfg, blobs); err != nil {
		return err
	}
	if err := c.rateLimits.apply(&cfg, db); err != nil {
		return err
	}
	srv := server.New(db, blobs, logger, cfg)
	jctx, stopJanitor := context.WithCancel(context.WithoutCancel(ctx))
	janitorDone := make(chan struct{})
	go func() {
		defer close(janitorDone)
		srv.RunJanitor(jctx, c.janitorInterval, c.gcInterval)
	}()
	jobsDone := make(chan struct{})
	go func() {
		defer close(jobsDone)
		if err := srv.RunJobs(jctx); err != nil {
			logger.Error("job worker", "err", err)
		}
	}()
	defer func() { stopJanitor(); <-janitorDone; <-jobsDone }()
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		// Requests must not inherit ctx: its cancellation starts the
		// graceful shutdown, which lets them finish.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	url := "http://" + ln.Addr().String()
	logger.InfoContext(ctx, "listening", "url", url, "version", version, "database", db.Dialect())
	ready(url)

	return serveUntilDone(ctx, hs, ln, c.shutdownTimeout, logger)
}

// serveUntilDone serves on ln until ctx is cancelled, then stops accepting
// connections and lets in-flight requests finish for up to timeout.
func serveUntilDone(ctx context.Context, hs *http.Server, ln net.Listener, timeout time.Duration, logger *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", timeout)
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

func migrateFlags(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	var c struct {
		config string
		db     dbConfig
		log    logConfig
	}
	fs.StringVar(&c.config, "config", "", "TOML config file whose keys are these flag names")
	c.db.flags(fs, "freight-data")
	c.log.flags(fs)
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		db, err := openDB(ctx, &c.db, c.log.logger(stderr))
		if err != nil {
			return err
		}
		defer db.Close()
		fmt.Fprintf(stdout, "The %s database is up to date.\n", db.Dialect())
		return nil
	}
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/freight-portal/freight"
	fsblob "github.com/freight-portal/freight/blob/fs"
	s3blob "github.com/freight-portal/freight/blob/s3"
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
	janitorInterval time.Duration
	gcInterval      time.Duration
	blobs           string
	startWindow     time.Duration
	resumeWindow    time.Duration
	budgetFactor    int64
	bindIP          bool
	db              dbConfig
	log             logConfig
}

func (c *serveConfig) flags(fs *flag.FlagSet, defaultDataDir string) {
	fs.StringVar(&c.config, "config", "", "TOML config file whose keys are these flag names")
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "address to listen on (host:port)")
	fs.StringVar(&c.publicURL, "public-url", "", "base URL clients reach the portal at, used in the URLs it hands out (default: the URL each request came to)")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long in-flight requests may run after SIGINT/SIGTERM")
	fs.Int64Var(&c.maxBody, "max-body", 1<<20, "largest JSON request body in bytes")
	fs.Int64Var(&c.partSize, "upload-part-size", server.DefaultPartSize, "preferred upload part size in bytes (at least 5 MiB; raised for files over 10,000 parts)")
	fs.Int64Var(&c.maxArtifactSize, "max-artifact-size", server.DefaultMaxArtifactSize, "largest artifact in bytes")
	fs.DurationVar(&c.uploadTTL, "upload-expiry", server.DefaultUploadTTL, "how long an upload session accepts parts")
	fs.DurationVar(&c.janitorInterval, "janitor-interval", time.Minute, "how often expired uploads are cleaned up")
	fs.DurationVar(&c.gcInterval, "gc-interval", time.Hour, "how often blobs that no artifact names are deleted")
	fs.DurationVar(&c.startWindow, "download-start-window", server.DefaultStartWindow, "how long a download URL may wait before the download starts")
	fs.DurationVar(&c.resumeWindow, "download-resume-window", server.DefaultResumeWindow, "how long ranged requests (resumes, segments) on a download URL keep working")
	fs.Int64Var(&c.budgetFactor, "download-budget", server.DefaultBudgetFactor, "most bytes one download URL may serve, as a multiple of the file size")
	fs.BoolVar(&c.bindIP, "download-bind-ip", false, "accept a download URL only from the address that asked for it")
	fs.StringVar(&c.blobs, "blobs", "", "blob store: file:///path or s3://bucket/prefix?endpoint=…&region=…&path_style=true (default: the blobs folder in the data directory)")
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

// openDB opens and migrates the metadata database.
func openDB(ctx context.Context, c *dbConfig, logger *slog.Logger) (*sqlstore.DB, error) {
	url, err := c.url()
	if err != nil {
		return nil, err
	}
	db, err := sqlstore.Open(ctx, url, logger)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// listenAndServe serves the portal until ctx is cancelled, then stops
// accepting connections and lets in-flight requests finish for up to the
// shutdown timeout. ready is called with the base URL once the listener is
// bound, which with port 0 is the only way to learn the port.
func (c *serveConfig) listenAndServe(ctx context.Context, db *sqlstore.DB, blobs freight.BlobStore, logger *slog.Logger, ready func(url string)) error {
	if c.partSize < 5<<20 {
		return fmt.Errorf("upload-part-size must be at least 5 MiB (5242880), not %d", c.partSize)
	}
	srv := server.New(db, blobs, logger, server.Config{
		MaxBodyBytes: c.maxBody, Version: version, PublicURL: c.publicURL,
		PartSize: c.partSize, MaxArtifactSize: c.maxArtifactSize, UploadTTL: c.uploadTTL,
		StartWindow: c.startWindow, ResumeWindow: c.resumeWindow, BudgetFactor: c.budgetFactor, BindIP: c.bindIP,
	})
	jctx, stopJanitor := context.WithCancel(context.WithoutCancel(ctx))
	janitorDone := make(chan struct{})
	go func() {
		defer close(janitorDone)
		srv.RunJanitor(jctx, c.janitorInterval, c.gcInterval)
	}()
	defer func() { stopJanitor(); <-janitorDone }()
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

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", c.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
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

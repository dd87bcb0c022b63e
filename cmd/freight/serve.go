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
	"time"

	"github.com/freight-portal/freight/server"
	"github.com/freight-portal/freight/sqlstore"
)

// serveConfig holds the settings of "freight serve".
type serveConfig struct {
	config          string
	addr            string
	shutdownTimeout time.Duration
	maxBody         int64
	db              dbConfig
	log             logConfig
}

func (c *serveConfig) flags(fs *flag.FlagSet, defaultDataDir string) {
	fs.StringVar(&c.config, "config", "", "TOML config file whose keys are these flag names")
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "address to listen on (host:port)")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long in-flight requests may run after SIGINT/SIGTERM")
	fs.Int64Var(&c.maxBody, "max-body", 1<<20, "largest JSON request body in bytes")
	c.db.flags(fs, defaultDataDir)
	c.log.flags(fs)
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
		return c.listenAndServe(ctx, db, logger, func(url string) {
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
func (c *serveConfig) listenAndServe(ctx context.Context, db *sqlstore.DB, logger *slog.Logger, ready func(url string)) error {
	srv := server.New(db, logger, server.Config{MaxBodyBytes: c.maxBody, Version: version})
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

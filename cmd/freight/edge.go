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
	"strconv"
	"strings"
	"time"

	"github.com/freight-portal/freight/edge"
	"github.com/freight-portal/freight/internal/realip"
)

// edgeConfig holds the settings of "freight edge".
type edgeConfig struct {
	config          string
	addr            string
	origin          string
	token           string
	cacheDir        string
	cacheSize       byteSize
	region          string
	publicURL       string
	heartbeat       time.Duration
	keyRefresh      time.Duration
	shutdownTimeout time.Duration
	trustedProxies  realip.Proxies
	log             logConfig
}

func (c *edgeConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "TOML config file whose keys are these flag names")
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8081", "address to listen on (host:port)")
	fs.StringVar(&c.origin, "origin", "", "base URL of the portal, such as https://downloads.example.com (required)")
	fs.StringVar(&c.token, "token", "", "the edge's credential (fre_…), shown once when an admin creates the edge with POST /api/v1/edges (required)")
	fs.StringVar(&c.cacheDir, "cache-dir", "freight-edge", "directory of the cached blobs and the edge's state")
	c.cacheSize = 100 << 30
	fs.Var(&c.cacheSize, "cache-size", "most bytes of blobs kept, in bytes or with a unit: 500G, 2T, 800GiB (default 100G)")
	fs.StringVar(&c.region, "region", "", "region the edge serves, such as eu-west or factory-3; the portal sends an organization to an edge of its region")
	fs.StringVar(&c.publicURL, "public-url", "", "base URL clients reach this edge at, such as https://fra.edge.example.com (required)")
	fs.DurationVar(&c.heartbeat, "heartbeat", edge.DefaultHeartbeat, "how often the edge reports to the portal and asks what to prefetch")
	fs.DurationVar(&c.keyRefresh, "key-refresh", edge.DefaultKeyRefresh, "how often the portal's public keys are fetched again")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long in-flight downloads may run after SIGINT/SIGTERM")
	fs.Var(&c.trustedProxies, "trusted-proxies", "comma-separated networks and addresses of the reverse proxies and load balancers in front of the edge, such as 10.0.0.0/8; their X-Forwarded-For names the client for address-bound download URLs and the download records (default: none, the peer is the client)")
	c.log.flags(fs)
}

func edgeFlags(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	var c edgeConfig
	c.flags(fs)
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		return c.run(ctx, c.log.logger(stderr), func(url string) {
			fmt.Fprintf(stdout, "Freight edge is listening on %s\n", url)
		})
	}
}

func (c *edgeConfig) run(ctx context.Context, logger *slog.Logger, ready func(url string)) error {
	var missing []string
	for _, f := range []struct{ flag, v string }{{"--origin", c.origin}, {"--token", c.token}, {"--public-url", c.publicURL}} {
		if f.v == "" {
			missing = append(missing, f.flag)
		}
	}
	if len(missing) > 0 {
		return usageError{fmt.Errorf("freight edge needs %s", strings.Join(missing, ", "))}
	}
	e, err := edge.Open(edge.Config{
		Origin: c.origin, Credential: c.token, CacheDir: c.cacheDir, CacheSize: int64(c.cacheSize),
		Region: c.region, PublicURL: c.publicURL, Heartbeat: c.heartbeat, KeyRefresh: c.keyRefresh, TrustedProxies: c.trustedProxies, Logger: logger,
	})
	if err != nil {
		return usageError{err}
	}
	defer e.Close()
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	rctx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	runDone := make(chan struct{})
	go func() { defer close(runDone); e.Run(rctx) }()
	defer func() { stopRun(); <-runDone }()

	url := "http://" + ln.Addr().String()
	logger.InfoContext(ctx, "edge listening", "url", url, "origin", c.origin, "region", c.region, "public_url", c.publicURL,
		"cache_dir", c.cacheDir, "cache_size", int64(c.cacheSize))
	ready(url)
	return serveUntilDone(ctx, hs, ln, c.shutdownTimeout, logger)
}

// byteSize is a flag.Value of a size in bytes, with an optional unit: K,
// M, G, T (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024).
type byteSize int64

func (b *byteSize) String() string {
	if b == nil {
		return "0"
	}
	return strconv.FormatInt(int64(*b), 10)
}

func (b *byteSize) Set(s string) error {
	n, err := parseByteSize(s)
	if err != nil {
		return err
	}
	*b = byteSize(n)
	return nil
}

func parseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		i = len(s)
	}
	num, unit := s[:i], strings.TrimSpace(s[i:])
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("must be a positive number of bytes, optionally with a unit such as 500G or 800GiB")
	}
	mult := map[string]int64{"": 1, "B": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
		"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("unknown unit %q (use K, M, G, T or KiB, MiB, GiB, TiB)", unit)
	}
	if n > (1<<63-1)/mult {
		return 0, errors.New("too large")
	}
	return n * mult, nil
}

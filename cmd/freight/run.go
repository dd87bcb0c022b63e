package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/freight-portal/freight/server"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// errUsage reports a usage error whose message was already printed.
var errUsage = errors.New("usage")

// usageError marks an error in how a command was called (flags,
// arguments, configuration), which exits with status 2; every other error
// exits with 1.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// command is one subcommand of freight.
type command struct {
	name    string // one or two words: "serve", "license verify"
	args    string // the positional arguments it takes, for usage; "" for none
	summary string
	// flags declares the command's settings into fs and returns a function
	// that runs the command once they are parsed.
	flags func(fs *flag.FlagSet) func(ctx context.Context, out io.Writer, errOut io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "", "run the portal server", serveFlags},
		{"edge", "", "run a caching edge node that serves downloads near customers", edgeFlags},
		{"demo", "", "run the portal on embedded defaults with seeded demo data", demoFlags},
		{"migrate", "", "bring the database schema up to date and exit", migrateFlags},
		{"create-admin", "", "create a vendor admin (if needed) and print a new admin API token", createAdminFlags},
		{"secrets-key", "", "make a key that seals the secrets in the database: print it, or add it to a key file", secretsKeyFlags},
		{"login", "", "sign in to a portal (with your browser, a password, or an API token) and keep the token for the client commands", loginFlags},
		{"publish", "FILE...", "upload files to a release (resumable, parallel) and publish it", publishFlags},
		{"download", "REF", "download a file: parallel segments, resumable, verified against its SHA-256", downloadFlags},
		{"catalog", "", "list the releases and files you may download", catalogFlags},
		{"releases", "PRODUCT", "list the versions of a product you may download", releasesFlags},
		{"upgrade", "", "show the newest release newer than yours that you may download; --download fetches it", upgradeFlags},
		{"license verify", "LICENSE_FILE", "verify a license file offline and describe it", licenseVerifyFlags},
		{"license inspect", "LICENSE_FILE", "show a license file's contents without trusting them", licenseInspectFlags},
		{"completion", "bash|zsh|fish", "print a shell completion script", completionFlags},
		{"version", "", "print the version", versionFlags},
	}
}

// run is the whole program: main only adds the process's arguments,
// environment, output streams and a context cancelled by SIGINT/SIGTERM.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	known := knownEnv()
	for _, c := range commands() {
		words := len(strings.Fields(c.name))
		if len(args) < words || strings.Join(args[:words], " ") != c.name {
			continue
		}
		fs := flag.NewFlagSet("freight "+c.name, flag.ContinueOnError)
		fs.SetOutput(stderr)
		exec := c.flags(fs)
		fs.Usage = func() {
			fmt.Fprintf(fs.Output(), "Usage: freight %s [flags] %s\n\n%s.\n\nFlags (each also read from FREIGHT_<NAME> and the config file):\n", c.name, c.args, capitalize(c.summary))
			fs.PrintDefaults()
			if ex := examples[c.name]; ex != "" {
				fmt.Fprintf(fs.Output(), "\nExamples:\n%s", ex)
			}
		}
		if err := loadConfig(fs, args[words:], environ, known, c.args != ""); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return usageError{fmt.Errorf("%s: %w", c.name, err)}
		}
		return exec(ctx, stdout, stderr)
	}
	fmt.Fprintf(stderr, "freight: unknown command %q\n\n", args[0])
	usage(stderr)
	return errUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Freight delivers big, customer-specific, protected binaries.")
	fmt.Fprintln(w, "\nUsage: freight <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-16s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun \"freight <command> -h\" for the flags of a command.")
}

// knownEnv returns the environment variable of every flag of every command.
func knownEnv() map[string]bool {
	known := map[string]bool{envName("cpuprofile"): true} // see profile.go
	for _, c := range commands() {
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		c.flags(fs)
		fs.VisitAll(func(f *flag.Flag) { known[envName(f.Name)] = true })
	}
	return known
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// logConfig is the logging part of a command's settings.
type logConfig struct {
	format oneOf
	level  oneOf
}

func (c *logConfig) flags(fs *flag.FlagSet) {
	c.format = oneOf{value: "text", allowed: []string{"text", "json"}}
	c.level = oneOf{value: "info", allowed: []string{"debug", "info", "warn", "error"}}
	fs.Var(&c.format, "log-format", "log format: text or json")
	fs.Var(&c.level, "log-level", "least severe level logged: debug, info, warn or error")
}

// logger returns a logger writing to w that adds request ids to every line
// logged with a request's context.
func (c *logConfig) logger(w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(c.level.value))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if c.format.value == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(server.LogHandler(h))
}

// dbConfig is the database part of a command's settings.
type dbConfig struct {
	database       string
	dataDir        string
	secretsKeyFile string
	secretsKey     string
}

func (c *dbConfig) flags(fs *flag.FlagSet, defaultDataDir string) {
	fs.StringVar(&c.dataDir, "data-dir", defaultDataDir, "directory for the embedded database and local files")
	fs.StringVar(&c.database, "database", "", "metadata database: sqlite:///path/freight.db or postgres://user@host/db (default: SQLite in the data directory)")
	fs.StringVar(&c.secretsKeyFile, "secrets-key-file", "", "file of the keys that seal the secrets kept in the database (signing keys, TOTP and webhook secrets): lines keyid:base64key, newest last, readable by the portal's user only; see freight secrets-key (default with SQLite: "+secretsKeyFileName+" in the data directory, made on first start; PostgreSQL requires this or --secrets-key)")
	fs.StringVar(&c.secretsKey, "secrets-key", "", "the keys that seal secrets, written as in --secrets-key-file and separated by commas, instead of a file; prefer FREIGHT_SECRETS_KEY, since flags show in the process list")
}

// url returns the database URL, defaulting to SQLite in the data directory.
func (c *dbConfig) url() (string, error) {
	if c.database != "" {
		return c.database, nil
	}
	dir, err := filepath.Abs(c.dataDir)
	if err != nil {
		return "", err
	}
	return "sqlite://" + filepath.ToSlash(filepath.Join(dir, "freight.db")), nil
}

func versionFlags(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	return func(_ context.Context, stdout, _ io.Writer) error {
		fmt.Fprintln(stdout, versionString())
		return nil
	}
}

func versionString() string {
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " " + s.Value[:12]
			}
		}
	}
	return fmt.Sprintf("freight %s%s %s %s/%s", version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// defaultDemoDir is where "freight demo" keeps its data: a folder under the
// user's data directory (XDG_DATA_HOME on Unix).
func defaultDemoDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "freight", "demo")
	}
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" {
		if d, err := os.UserConfigDir(); err == nil {
			return filepath.Join(d, "freight", "demo")
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "freight", "demo")
	}
	return filepath.Join(os.TempDir(), "freight-demo")
}

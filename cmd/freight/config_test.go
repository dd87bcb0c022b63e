package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/internal/testdb"
)

// testFlags is a flag set shaped like a command's.
func testFlags() (*flag.FlagSet, *serveConfig) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var c serveConfig
	c.flags(fs, "data")
	return fs, &c
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "freight.toml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigPrecedence(t *testing.T) {
	file := writeFile(t, "addr = \"file:1\"\nshutdown-timeout = \"7s\"\nlog-format = \"json\"\nmax-body = 2048\n")
	fs, c := testFlags()
	env := []string{"FREIGHT_ADDR=env:1", "FREIGHT_SHUTDOWN_TIMEOUT=9s", "FREIGHT_CONFIG=" + file, "PATH=/bin"}
	if err := loadConfig(fs, []string{"--addr", "flag:1"}, env, nil, false); err != nil {
		t.Fatal(err)
	}
	if got, want := c.addr, "flag:1"; got != want {
		t.Errorf("addr = %q, want %q: a flag beats the environment and the file", got, want)
	}
	if got, want := c.shutdownTimeout, 9*time.Second; got != want {
		t.Errorf("shutdown-timeout = %v, want %v: the environment beats the file", got, want)
	}
	if got, want := c.log.format.value, "json"; got != want {
		t.Errorf("log-format = %q, want %q from the file", got, want)
	}
	if got, want := c.maxBody, int64(2048); got != want {
		t.Errorf("max-body = %d, want %d from the file", got, want)
	}
	if got, want := c.db.dataDir, "data"; got != want {
		t.Errorf("data-dir = %q, want the default %q", got, want)
	}
}

func TestConfigErrors(t *testing.T) {
	known := map[string]bool{"FREIGHT_TOKEN": true}
	for _, tc := range []struct {
		name    string
		args    []string
		env     []string
		file    string
		wantErr string // must appear in the error
	}{
		{"UnknownFlag", []string{"--adr", "x"}, nil, "", "-adr"},
		{"InvalidFlag", []string{"--shutdown-timeout", "soon"}, nil, "", "shutdown-timeout"},
		{"StrayArgument", []string{"extra"}, nil, "", `"extra"`},
		{"UnknownEnv", nil, []string{"FREIGHT_ADRR=x"}, "", "FREIGHT_ADRR"},
		{"InvalidEnv", nil, []string{"FREIGHT_LOG_LEVEL=loud"}, "", "FREIGHT_LOG_LEVEL"},
		{"InvalidEnvFormat", nil, []string{"FREIGHT_LOG_FORMAT=xml"}, "", "FREIGHT_LOG_FORMAT"},
		{"UnknownFileKey", nil, nil, "adress = \"x\"\n", `unknown key "adress"`},
		{"InvalidFileValue", nil, nil, "max-body = \"lots\"\n", `key "max-body"`},
		{"NestedFileKey", nil, nil, "[server]\naddr = \"x\"\n", `"server"`},
		{"ConfigInsideConfig", nil, nil, "config = \"other.toml\"\n", `unknown key "config"`},
		{"MalformedFile", nil, nil, "addr = \n", "config file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, _ := testFlags()
			args := tc.args
			if tc.file != "" {
				args = append([]string{"--config", writeFile(t, tc.file)}, args...)
			}
			err := loadConfig(fs, args, tc.env, known, false)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want one naming %s", err, tc.wantErr)
			}
		})
	}
	t.Run("MissingFile", func(t *testing.T) {
		fs, _ := testFlags()
		if err := loadConfig(fs, []string{"--config", "/nonexistent/freight.toml"}, nil, known, false); err == nil {
			t.Error("err = nil for a missing config file")
		}
	})
	t.Run("OtherCommandsEnvAndTestVarsAccepted", func(t *testing.T) {
		fs, _ := testFlags()
		env := []string{"FREIGHT_TOKEN=x", "FREIGHT_TEST_POSTGRES=postgres://", "HOME=/root"}
		if err := loadConfig(fs, nil, env, known, false); err != nil {
			t.Errorf("err = %v, want nil", err)
		}
	})
}

func TestRunRejectsBadConfig(t *testing.T) {
	var out output
	err := run(context.Background(), []string{"serve"}, []string{"FREIGHT_DATABSE=x"}, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "FREIGHT_DATABSE") {
		t.Errorf("err = %v, want one naming FREIGHT_DATABSE", err)
	}
	err = run(context.Background(), []string{"serve", "--database", "mysql://x"}, nil, &out, io.Discard)
	if err == nil {
		t.Error("serve with a mysql:// database started")
	}
}

func TestOpenBlobs(t *testing.T) {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	c := serveConfig{db: dbConfig{dataDir: t.TempDir()}}
	if _, err := c.openBlobs(ctx, logger); err != nil {
		t.Errorf("default blob store: %v", err)
	}
	for _, bad := range []string{"ftp://host/x", "blobs", "s3://", "s3://bucket/p?endpoint=http://x&colour=red"} {
		c.blobs = bad
		if _, err := c.openBlobs(ctx, logger); err == nil {
			t.Errorf("openBlobs(%q) succeeded, want an error", bad)
		}
	}
	t.Run("S3", func(t *testing.T) {
		c.blobs = testdb.S3(t)
		b, err := c.openBlobs(ctx, logger)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := b.(freight.PartPresigner); !ok {
			t.Errorf("an s3:// store (%T) does not presign parts", b)
		}
	})
}

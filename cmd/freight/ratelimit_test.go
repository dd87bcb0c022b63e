package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/internal/testdb"
	"github.com/freight-portal/freight/server"
	"github.com/freight-portal/freight/sqlstore"
)

// TestRateLimitConfig: each group's flag, environment variable and file
// key set its limit, the others keep their defaults, and the store of the
// buckets follows the database unless set.
func TestRateLimitConfig(t *testing.T) {
	db, err := sqlstore.Open(context.Background(), testdb.SQLite(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	file := writeFile(t, "rate-limit-upload = \"50/s burst 900\"\n")
	fs, c := testFlags()
	env := []string{"FREIGHT_RATE_LIMIT_WRITE=off", "FREIGHT_CONFIG=" + file}
	if err := loadConfig(fs, []string{"--rate-limit-api", "5/s burst 9"}, env, nil, false); err != nil {
		t.Fatal(err)
	}
	var cfg server.Config
	if err := c.rateLimits.apply(&cfg, db); err != nil {
		t.Fatal(err)
	}
	want := server.DefaultRateLimits()
	want[server.GroupAPI] = freight.RateLimit{Count: 5, Per: time.Second, Burst: 9}
	want[server.GroupWrite] = freight.RateLimit{}
	want[server.GroupUpload] = freight.RateLimit{Count: 50, Per: time.Second, Burst: 900}
	for g, l := range want {
		if cfg.RateLimits[g] != l {
			t.Errorf("group %s: %v, want %v", g, cfg.RateLimits[g], l)
		}
	}
	if cfg.SharedRateLimits {
		t.Error("auto keeps the buckets in the database on SQLite")
	}

	fs, c = testFlags()
	if err := loadConfig(fs, []string{"--rate-limit-store", "database"}, nil, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := c.rateLimits.apply(&cfg, db); err != nil || !cfg.SharedRateLimits {
		t.Errorf("--rate-limit-store database: shared %v, err %v", cfg.SharedRateLimits, err)
	}

	for _, args := range [][]string{
		{"--rate-limit-api", "10/x"}, {"--rate-limit-download", "10/s burst"}, {"--rate-limit-store", "redis"},
	} {
		fs, _ := testFlags()
		err := loadConfig(fs, args, nil, nil, false)
		if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(args[0], "--")) {
			t.Errorf("%v: err = %v, want one naming the flag", args, err)
		}
	}
}

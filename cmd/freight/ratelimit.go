package main

import (
	"flag"
	"fmt"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/server"
	"github.com/freight-portal/freight/sqlstore"
)

// rateLimitConfig holds the rate-limit settings of serve and demo: one
// flag per route group, and where the buckets live.
type rateLimitConfig struct {
	limits map[string]*rateLimitValue
	store  oneOf
}

// Where rate-limit buckets live.
const (
	rateStoreAuto     = "auto"
	rateStoreMemory   = "memory"
	rateStoreDatabase = "database"
)

// groupUsage says what each group's flag limits.
var groupUsage = map[string]string{
	server.GroupAuth:     "sign-in, sign-out, links from mail and OpenID sign-in",
	server.GroupAPI:      "reads (GET) of the API",
	server.GroupWrite:    "changes (POST, PUT, PATCH, DELETE) of the API",
	server.GroupDownload: "download requests, each of which mints a download URL (the URLs themselves never count)",
	server.GroupUpload:   "upload part URLs and part uploads",
	server.GroupEdge:     "edge heartbeats and download reports",
}

func (c *rateLimitConfig) flags(fs *flag.FlagSet) {
	c.limits = map[string]*rateLimitValue{}
	defaults := server.DefaultRateLimits()
	for _, g := range server.RateGroups {
		v := &rateLimitValue{l: defaults[g]}
		c.limits[g] = v
		fs.Var(v, "rate-limit-"+g, "token bucket for "+groupUsage[g]+", per caller (API token, signed-in user, edge, else client address): <count>/<s|m|h|d> burst <n>, or off")
	}
	c.store = oneOf{value: rateStoreAuto, allowed: []string{rateStoreAuto, rateStoreMemory, rateStoreDatabase}}
	fs.Var(&c.store, "rate-limit-store", "where rate-limit buckets live: memory (this process), database (shared by every replica; one upsert per request), or auto: database on PostgreSQL, memory on SQLite")
}

// apply fills the rate-limit settings of cfg.
func (c *rateLimitConfig) apply(cfg *server.Config, db *sqlstore.DB) error {
	cfg.RateLimits = map[string]freight.RateLimit{}
	for g, v := range c.limits {
		cfg.RateLimits[g] = v.l
	}
	switch c.store.value {
	case rateStoreDatabase:
		cfg.SharedRateLimits = true
	case rateStoreAuto:
		cfg.SharedRateLimits = db.Dialect() == "postgres"
	}
	return server.CheckRateLimits(cfg.RateLimits)
}

// rateLimitValue is a flag.Value holding one rate limit, written as
// freight.ParseRateLimit reads it.
type rateLimitValue struct{ l freight.RateLimit }

func (v *rateLimitValue) String() string {
	if v == nil {
		return ""
	}
	return v.l.String()
}

func (v *rateLimitValue) Set(s string) error {
	l, err := freight.ParseRateLimit(s)
	if err != nil {
		return fmt.Errorf("%s", freight.ErrorMessage(err))
	}
	v.l = l
	return nil
}

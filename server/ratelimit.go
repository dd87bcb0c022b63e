package server

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/freight-portal/freight"
)

// Route groups: every API route belongs to one, and each group has its
// own token bucket per caller (see rateLimited). routeGroups and groupOf
// say which route is in which.
const (
	// GroupAuth: signing in, links from mail, sign-out, OpenID sign-in.
	GroupAuth = "auth"
	// GroupAPI: reads (GET).
	GroupAPI = "api"
	// GroupWrite: changes (POST, PUT, PATCH, DELETE).
	GroupWrite = "write"
	// GroupDownload: download requests, each of which mints a grant.
	GroupDownload = "download"
	// GroupUpload: part URLs and the parts themselves.
	GroupUpload = "upload"
	// GroupEdge: what edges report (heartbeats, download events).
	GroupEdge = "edge"
)

// RateGroups lists the groups, in the order the configuration shows them.
var RateGroups = []string{GroupAuth, GroupAPI, GroupWrite, GroupDownload, GroupUpload, GroupEdge}

// DefaultRateLimits are the limits of each group when the configuration
// says nothing. They are far above what a person in a browser, the CLI
// (parallel part uploads, segmented downloads of many files) or a CI
// pipeline does, and bound only a runaway script or an abusive client.
// Edges are the vendor's own machines and report in batches: off.
func DefaultRateLimits() map[string]freight.RateLimit {
	return map[string]freight.RateLimit{
		GroupAuth:     {Count: 10, Per: time.Second, Burst: 300},
		GroupAPI:      {Count: 20, Per: time.Second, Burst: 400},
		GroupWrite:    {Count: 10, Per: time.Second, Burst: 200},
		GroupDownload: {Count: 10, Per: time.Second, Burst: 200},
		GroupUpload:   {Count: 100, Per: time.Second, Burst: 2000},
		GroupEdge:     {},
	}
}

// NoRateLimits turns every group's limit off.
func NoRateLimits() map[string]freight.RateLimit {
	m := map[string]freight.RateLimit{}
	for _, g := range RateGroups {
		m[g] = freight.RateLimit{}
	}
	return m
}

// routeGroups names the group of the routes that do not take the one
// groupOf gives by method and path.
var routeGroups = map[string]string{
	"POST /api/v1/artifacts/{artifact}/download": GroupDownload,
	"POST /api/v1/uploads/{upload}/urls":         GroupUpload,
	"PUT /api/v1/uploads/{upload}/parts/{part}":  GroupUpload,
	"POST /api/v1/edge/heartbeat":                GroupEdge,
	"POST /api/v1/edge/events":                   GroupEdge,
}

// groupOf returns the group of an API route: its entry in routeGroups,
// else auth for the sign-in routes, api for reads and write for the rest.
//
// The download origin (/d/…), the blobs edges fetch, the public keys, the
// health checks, the metrics and the web pages and assets are in no group
// and never count. Above all the download URLs: a segmented downloader
// (aria2c -s16) opens a new Range request per segment and per retry, and
// a browser resumes with more; counting those would break downloads at
// random. Each URL is already bounded by its grant's byte budget, start
// and resume windows and optional address binding, and the request that
// minted it counted in the download group and the organization's quota.
func groupOf(pattern string) string {
	if g, ok := routeGroups[pattern]; ok {
		return g
	}
	method, path, _ := strings.Cut(pattern, " ")
	switch {
	case strings.HasPrefix(path, "/api/v1/auth/"), strings.HasPrefix(path, "/auth/"):
		return GroupAuth
	case method == http.MethodGet || method == http.MethodHead:
		return GroupAPI
	}
	return GroupWrite
}

// groupWords names what a group counts, in refusals.
var groupWords = map[string]string{
	GroupAuth: "sign-in requests", GroupAPI: "reads", GroupWrite: "changes",
	GroupDownload: "download requests", GroupUpload: "upload requests", GroupEdge: "edge reports",
}

// buckets keeps rate-limit buckets: in process (memBuckets) or in the
// store, shared by the replicas on one database (storeBuckets).
type buckets interface {
	take(ctx context.Context, key string, l freight.RateLimit, now time.Time) (freight.RateDecision, error)
	// prune drops the buckets that are full at now.
	prune(ctx context.Context, now time.Time) (int, error)
}

// memBuckets is a map of TATs under one mutex: a map operation per
// request, far below the cost of the request itself. It holds at most
// memBucketsMax keys; past that it drops the full buckets, and then, if a
// flood of addresses keeps it full, arbitrary ones, which only makes
// their owners' next requests lenient.
type memBuckets struct {
	mu sync.Mutex
	m  map[string]time.Time
}

const memBucketsMax = 200_000

func newMemBuckets() *memBuckets { return &memBuckets{m: make(map[string]time.Time)} }

func (b *memBuckets) take(_ context.Context, key string, l freight.RateLimit, now time.Time) (freight.RateDecision, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	tat, known := b.m[key]
	next, ok := l.Take(tat, now)
	if ok {
		if !known && len(b.m) >= memBucketsMax {
			b.pruneLocked(now)
		}
		b.m[key] = next
	}
	return l.Decide(next, now, ok), nil
}

func (b *memBuckets) prune(_ context.Context, now time.Time) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pruneLocked(now), nil
}

func (b *memBuckets) pruneLocked(now time.Time) int {
	n := 0
	for k, tat := range b.m {
		if !tat.After(now) {
			delete(b.m, k)
			n++
		}
	}
	for k := range b.m {
		if len(b.m) < memBucketsMax*9/10 {
			break
		}
		delete(b.m, k)
		n++
	}
	return n
}

// storeBuckets keeps the buckets in the store (Store.TakeRateToken): on
// PostgreSQL one upsert of one row per limited request, so that a client
// gets one budget however many replicas its requests reach.
type storeBuckets struct{ store freight.Store }

func (b storeBuckets) take(ctx context.Context, key string, l freight.RateLimit, now time.Time) (freight.RateDecision, error) {
	return b.store.TakeRateToken(ctx, key, l, now)
}

func (b storeBuckets) prune(ctx context.Context, now time.Time) (int, error) {
	return b.store.PruneRateBuckets(ctx, now)
}

// rateLimited counts a request of group against its caller's bucket and
// refuses it with ERATELIMIT (429 and Retry-After) when the bucket is
// empty. It runs after authorize, so that the bucket is the caller's
// credential (API token, signed-in user, edge) rather than its address;
// requests without one count per client address.
//
// Every answer carries the fields of draft-ietf-httpapi-ratelimit-headers-10
// (September 2025): RateLimit-Policy, the group's bucket as a quota q of
// Burst requests over a window w of the seconds an empty bucket takes to
// fill, and RateLimit, the requests r that would pass now and the seconds
// t until one more would (left out when the bucket is full). Earlier
// drafts' RateLimit-Limit, -Remaining and -Reset are not sent: the draft
// replaced them with these two fields.
func (s *Server) rateLimited(group string, fail func(http.ResponseWriter, *http.Request, error), next http.Handler) http.Handler {
	l := s.rateLimits[group]
	if l.Off() {
		return next
	}
	policy := strconv.Quote(group) + ";q=" + strconv.Itoa(l.Burst) + ";w=" + strconv.FormatInt(freight.Seconds(l.Tolerance()), 10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, who := rateKey(r)
		d, err := s.buckets.take(r.Context(), group+"|"+key, l, s.now())
		if err != nil {
			// A limiter that fails must not turn a database hiccup into
			// refusals: the request goes on, and fails by itself if the
			// database is really gone.
			s.logger.WarnContext(r.Context(), "rate limiter failed; request not counted", "group", group, "err", err)
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("RateLimit-Policy", policy)
		v := strconv.Quote(group) + ";r=" + strconv.Itoa(d.Remaining)
		if d.Reset > 0 {
			v += ";t=" + strconv.FormatInt(freight.Seconds(d.Reset), 10)
		}
		h.Set("RateLimit", v)
		if !d.Allowed {
			s.rateRefused.WithLabelValues(group).Inc()
			e := freight.Errorf(freight.ERATELIMIT, "too many %s %s (limit %s): try again in %d seconds",
				groupWords[group], who, l, freight.Seconds(d.RetryAfter))
			e.RetryAfter = d.RetryAfter
			fail(w, r, e)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// rateKey names the bucket of a request's caller, and the caller in words.
// Addresses count per IPv4 address and per IPv6 /64, the block one
// subscriber gets: counting single IPv6 addresses would give one client
// 2^64 buckets.
func rateKey(r *http.Request) (key, who string) {
	ctx := r.Context()
	if e := edgeFrom(ctx); e != nil {
		return "e:" + e.ID, "from this edge"
	}
	p := principal(ctx)
	switch {
	case p.TokenID != "":
		return "t:" + p.TokenID, "with this token"
	case p.UserID != "":
		return "u:" + p.UserID, "from your account"
	}
	ip := clientIP(r)
	if a, err := netip.ParseAddr(ip); err == nil {
		a = a.Unmap()
		if a.Is6() {
			pfx, _ := a.Prefix(64)
			return "ip:" + pfx.String(), "from your network"
		}
		return "ip:" + a.String(), "from your address"
	}
	return "ip:" + ip, "from your address"
}

// checkRateLimits fills the missing groups of m with their defaults and
// checks every limit, so that a bad configuration fails at start.
func checkRateLimits(m map[string]freight.RateLimit) (map[string]freight.RateLimit, error) {
	out := DefaultRateLimits()
	for g, l := range m {
		if _, ok := out[g]; !ok {
			return nil, fmt.Errorf("rate limits: unknown group %q (groups: %s)", g, strings.Join(RateGroups, ", "))
		}
		if err := l.Validate(); err != nil {
			return nil, fmt.Errorf("rate limits: group %s: %s", g, freight.ErrorMessage(err))
		}
		out[g] = l
	}
	return out, nil
}

// CheckRateLimits reports what is wrong with a configuration's
// RateLimits, as New would find it.
func CheckRateLimits(m map[string]freight.RateLimit) error {
	_, err := checkRateLimits(m)
	return err
}

// Package edge is freight edge: a caching node that serves download URLs
// near customers with one origin read per blob.
//
// An edge verifies grant tokens offline with the portal's public keys
// (fetched, refreshed, and kept on disk for when the portal is down),
// applying the same rules as the origin (grant.Claims.CheckRequest) and
// charging a byte budget per grant that it keeps on disk. It caches blobs
// by digest: they are immutable, so nothing is invalidated, and the least
// recently used blob nobody reads goes when room is needed.
//
// Concurrent requests for a blob not yet cached share one fill: one origin
// fetch that no client can cancel, with every client reading the growing
// file as bytes arrive. A request for a range far beyond the fill (a later
// segment of a segmented download) has the chunk holding it fetched at
// once, as part of the same fill, so every byte still crosses the origin's
// uplink once. A fill's progress survives a restart chunk by chunk. A
// finished fill is checked against the digest before it is kept; bytes
// that do not match are discarded and never served again. Only a blob too
// big for the whole cache is passed through, by ranged origin reads.
//
// The edge reports itself to the portal with heartbeats (region, public
// URL, figures, which of the blobs it was asked to prefetch it now holds,
// and which blobs its cache dropped), whose answers name the blobs to
// prefetch, and sends the downloads it served in batches, spooled on disk
// until the portal acknowledges them.
package edge

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/internal/realip"
)

// Config holds the settings of an edge. Zero durations take defaults.
type Config struct {
	// Origin is the portal's base URL; Credential the edge credential an
	// admin created for this edge ("fre_…").
	Origin     string
	Credential string
	// CacheDir holds the blobs and the edge's state; CacheSize bounds the
	// blobs in bytes.
	CacheDir  string
	CacheSize int64
	// Region and PublicURL are reported to the portal, which sends the
	// customers of the region to PublicURL.
	Region    string
	PublicURL string

	// KeyRefresh is how often the portal's public keys are fetched again.
	KeyRefresh time.Duration
	// Heartbeat is how often the edge reports itself.
	Heartbeat time.Duration
	// EventFlush is how often spooled download events are sent.
	EventFlush time.Duration
	// ChunkSize is the unit in which a fill fetches a blob for readers
	// far ahead of its sequential fetch, and records its progress.
	ChunkSize int64
	// FarRange is how far beyond a fill's sequential fetch a read must
	// start to have its chunk fetched at once instead of waiting for the
	// sequential fetch to get there; also the size of the ranged origin
	// reads of a blob the cache has no room for.
	FarRange int64
	// FillRetries is how many times a fill reconnects after the origin
	// failed mid-blob before it gives up (clients then fail and can
	// resume; the next request resumes the fill); RetryDelay the first
	// pause between attempts.
	FillRetries int
	RetryDelay  time.Duration
	// TrustedProxies are the reverse proxies and load balancers in front
	// of the edge whose X-Forwarded-For is believed (see realip), for
	// download URLs bound to an address and the download records.
	TrustedProxies realip.Proxies

	// Client makes the requests to the portal; nil means a client with
	// sensible timeouts.
	Client *http.Client
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Defaults.
const (
	DefaultKeyRefresh = time.Minute
	DefaultHeartbeat  = 15 * time.Second
	DefaultEventFlush = 2 * time.Second
	DefaultFarRange   = 32 << 20
	DefaultChunkSize  = 16 << 20
)

// Edge is an edge node: an http.Handler for /d/{token}/{name} and
// /healthz, and background work started by Run.
type Edge struct {
	cfg    Config
	logger *slog.Logger
	now    func() time.Time
	origin *origin
	cache  *cache
	state  *state
	keys   *keyring

	ctx    context.Context // lives until Close; fills run on it
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// Counters for the portal; the totals include earlier runs.
	served     atomic.Int64
	fromOrigin atomic.Int64
	hits       atomic.Int64
	misses     atomic.Int64
	fills      atomic.Int64

	prefetch chan freight.EdgeBlob
	flush    chan struct{} // asks the event sender to send now
	// beating makes heartbeats one at a time. asked, which it guards, is
	// what the last heartbeat answer asked to prefetch, in its order: the
	// next heartbeat reports those of them now cached.
	beating sync.Mutex
	asked   []string

	handler http.Handler
}

// Open opens the cache and state in cfg.CacheDir and loads the keys kept
// from the last run. It does not contact the portal: Run does.
func Open(cfg Config) (*Edge, error) {
	if cfg.Origin == "" {
		return nil, fmt.Errorf("edge: the portal's URL (origin) is required")
	}
	if err := freight.ValidatePublicURL("origin", cfg.Origin); err != nil {
		return nil, fmt.Errorf("edge: origin %q must be an http or https URL", cfg.Origin)
	}
	if _, _, ok := freight.ParseEdgeSecret(cfg.Credential); !ok {
		return nil, fmt.Errorf("edge: the token must be an edge credential (fre_…) issued by the portal: POST /api/v1/edges")
	}
	if cfg.CacheDir == "" {
		return nil, fmt.Errorf("edge: a cache directory is required")
	}
	if cfg.CacheSize <= 0 {
		return nil, fmt.Errorf("edge: the cache size must be positive")
	}
	if cfg.PublicURL != "" {
		if err := freight.ValidatePublicURL("public_url", cfg.PublicURL); err != nil {
			return nil, fmt.Errorf("edge: public URL %q must be an http or https URL without query", cfg.PublicURL)
		}
	}
	if err := freight.ValidateRegion("region", cfg.Region, true); err != nil {
		return nil, fmt.Errorf("edge: region %q: %s", cfg.Region, freight.ErrorMessage(err))
	}
	if cfg.KeyRefresh <= 0 {
		cfg.KeyRefresh = DefaultKeyRefresh
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.EventFlush <= 0 {
		cfg.EventFlush = DefaultEventFlush
	}
	if cfg.FarRange <= 0 {
		cfg.FarRange = DefaultFarRange
	}
	if cfg.ChunkSize <= 0 {
		cfg.ChunkSize = DefaultChunkSize
	}
	// A reader's chunk must start beyond the sequential fetch's window.
	cfg.FarRange = max(cfg.FarRange, cfg.ChunkSize)
	if cfg.FillRetries < 0 {
		cfg.FillRetries = 0
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			ResponseHeaderTimeout: 30 * time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   16,
		}}
	}
	cfg.Origin = strings.TrimSuffix(cfg.Origin, "/")
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	if err := os.MkdirAll(cfg.CacheDir, 0o750); err != nil {
		return nil, fmt.Errorf("edge: cache directory: %w", err)
	}
	c, err := openCache(cfg.CacheDir, cfg.CacheSize)
	if err != nil {
		return nil, fmt.Errorf("edge: cache: %w", err)
	}
	st, err := openState(filepath.Join(cfg.CacheDir, "edge.db"))
	if err != nil {
		return nil, err
	}
	e := &Edge{cfg: cfg, logger: cfg.Logger, now: cfg.Now, cache: c, state: st,
		origin:   &origin{base: cfg.Origin, credential: cfg.Credential, client: cfg.Client},
		prefetch: make(chan freight.EdgeBlob, 64), flush: make(chan struct{}, 1)}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	counters, err := st.loadCounters(e.ctx)
	if err != nil {
		st.close()
		return nil, fmt.Errorf("edge: state: %w", err)
	}
	e.served.Store(counters["bytes_served"])
	e.fromOrigin.Store(counters["bytes_from_origin"])
	e.hits.Store(counters["hits"])
	e.misses.Store(counters["misses"])
	keys, err := st.loadKeys(e.ctx)
	if err != nil {
		st.close()
		return nil, fmt.Errorf("edge: state: %w", err)
	}
	e.keys = &keyring{e: e, keys: keys}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /d/{token}/{name}", e.serveDownload)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		e.writeError(w, r, freight.Errorf(freight.ENOTFOUND, "not found"))
	})
	e.handler = cfg.TrustedProxies.Handler(mux)
	return e, nil
}

// ServeHTTP makes Edge an http.Handler.
func (e *Edge) ServeHTTP(w http.ResponseWriter, r *http.Request) { e.handler.ServeHTTP(w, r) }

// Run fetches the portal's keys and then, until ctx ends, refreshes them,
// sends heartbeats, prefetches what the portal asks for, and sends the
// download events. A portal that does not answer is tried again later: the
// edge goes on serving with the keys it has.
func (e *Edge) Run(ctx context.Context) error {
	if err := e.keys.refresh(ctx); err != nil {
		e.logger.Warn("fetching the portal's keys; serving with the keys kept", "err", err, "keys", e.keys.count())
	}
	var wg sync.WaitGroup
	wg.Go(func() { e.every(ctx, e.cfg.KeyRefresh, nil, func() { e.keys.refresh(ctx) }) })
	wg.Go(func() { e.every(ctx, e.cfg.Heartbeat, nil, func() { e.heartbeat(ctx) }) })
	wg.Go(func() { e.every(ctx, e.cfg.EventFlush, e.flush, func() { e.sendEvents(ctx) }) })
	wg.Go(func() { e.prefetcher(ctx) })
	e.heartbeat(ctx)
	wg.Wait()
	// Last words: figures and events, best effort.
	final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	e.sendEvents(final)
	return nil
}

// every calls fn every d, and when poke fires, until ctx ends.
func (e *Edge) every(ctx context.Context, d time.Duration, poke <-chan struct{}, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-poke:
		}
		fn()
	}
}

// Close stops the fills (partial files stay and are resumed by the next
// run), saves the counters and closes the state.
func (e *Edge) Close() error {
	e.cancel()
	e.wg.Wait()
	err := e.state.saveCounters(context.Background(), e.counters())
	if cerr := e.state.close(); err == nil {
		err = cerr
	}
	return err
}

func (e *Edge) counters() map[string]int64 {
	return map[string]int64{"bytes_served": e.served.Load(), "bytes_from_origin": e.fromOrigin.Load(),
		"hits": e.hits.Load(), "misses": e.misses.Load()}
}

// Stats returns the edge's figures as it reports them.
func (e *Edge) Stats() freight.EdgeStats {
	bytes, blobs := e.cache.stats()
	return freight.EdgeStats{BytesServed: e.served.Load(), BytesFromOrigin: e.fromOrigin.Load(),
		Hits: e.hits.Load(), Misses: e.misses.Load(), FillsInProgress: e.fills.Load(),
		CacheBytes: bytes, CacheBlobs: blobs, CacheLimit: e.cfg.CacheSize}
}

// heartbeat reports the edge to the portal, with the blobs the portal
// asked for that are now in the cache and the blobs the cache dropped,
// and queues the prefetches it answers.
func (e *Edge) heartbeat(ctx context.Context) {
	e.beating.Lock()
	defer e.beating.Unlock()
	if err := e.state.saveCounters(ctx, e.counters()); err != nil {
		e.logger.Warn("saving counters", "err", err)
	}
	if err := e.state.pruneBudgets(ctx, e.now()); err != nil {
		e.logger.Warn("pruning budgets", "err", err)
	}
	var ans freight.EdgeHeartbeatAnswer
	hb := freight.EdgeHeartbeat{Region: e.cfg.Region, PublicURL: e.cfg.PublicURL, Stats: e.Stats(),
		Cached: e.cache.complete(e.asked), Evicted: e.cache.evicted(freight.MaxEdgeCached)}
	// The rest waits for the next heartbeat; the answer asks for them
	// again meanwhile.
	hb.Cached = hb.Cached[:min(len(hb.Cached), freight.MaxEdgeCached)]
	if err := e.origin.post(ctx, "/api/v1/edge/heartbeat", hb, &ans); err != nil {
		if ctx.Err() == nil {
			e.logger.Warn("heartbeat", "err", err)
		}
		return
	}
	// Evictions are reported until a heartbeat is answered; those after
	// the report, and the rest beyond the bound, go with the next one.
	e.cache.forget(hb.Evicted)
	// What the portal no longer lists is done, or no longer wanted:
	// either way, nothing to report.
	e.asked = e.asked[:0]
	for _, b := range ans.Prefetch {
		if !freight.ValidDigest(b.SHA256) || b.Size < 0 {
			continue
		}
		if len(e.asked) < freight.MaxEdgeCached {
			e.asked = append(e.asked, b.SHA256)
		}
		select {
		case e.prefetch <- b:
		default: // the queue is full; the next heartbeat names them again
		}
	}
}

// prefetcher fills queued blobs one at a time, so that prefetching takes
// one origin connection and leaves the rest to customers.
func (e *Edge) prefetcher(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-e.prefetch:
			if f := e.Prefetch(b.SHA256, b.Size); f != nil {
				select {
				case <-f:
				case <-ctx.Done():
					return
				}
			}
		}
	}
}

// displacedHold is how long a blob evicted to make room for a prefetch
// is not prefetched again.
const displacedHold = time.Hour

// Prefetch starts filling a blob unless it is cached or filling already,
// and returns a channel closed when the fill ends (nil when none runs).
//
// A cache too small for everything the portal wants prefetched would
// otherwise go round in circles: each prefetch evicts another prefetched
// blob, the heartbeat reports it evicted, the portal asks for it again.
// So a blob evicted to make room for a prefetch is not prefetched again
// for displacedHold; the portal meanwhile shows it pending, which is the
// truth.
func (e *Edge) Prefetch(digest string, size int64) <-chan struct{} {
	c := e.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	ent := c.entries[digest]
	if ent == nil {
		now := e.now()
		if at, ok := c.displaced[digest]; ok {
			if now.Sub(at) < displacedHold {
				e.logger.Debug("not prefetched again yet: it was evicted to make room for another prefetch", "sha256", digest)
				return nil
			}
			delete(c.displaced, digest)
		}
		ok, evicted := c.reserveLocked(size)
		if len(evicted) > 0 && len(c.displaced) >= 1024 {
			for d, at := range c.displaced {
				if now.Sub(at) >= displacedHold {
					delete(c.displaced, d)
				}
			}
		}
		for _, d := range evicted {
			c.displaced[d] = now
		}
		if !ok {
			e.logger.Warn("no room to prefetch", "sha256", digest, "size", size)
			return nil
		}
		ent = &entry{digest: digest, size: size}
		c.entries[digest] = ent
		c.touchLocked(ent)
	}
	if ent.complete {
		return nil
	}
	if ent.fill == nil {
		if _, err := e.startFillLocked(ent, ""); err != nil {
			e.logger.Warn("prefetch", "sha256", digest, "err", err)
			return nil
		}
	}
	return ent.fill.done
}

// maxEventBatch is the most events sent in one request.
const maxEventBatch = 500

// sendEvents sends spooled download events until none is left or the
// portal fails; an event is deleted only once the portal acknowledged it.
func (e *Edge) sendEvents(ctx context.Context) {
	for ctx.Err() == nil {
		events, bad, err := e.state.pending(ctx, maxEventBatch)
		if err != nil {
			e.logger.Warn("reading spooled events", "err", err)
			return
		}
		if len(bad) > 0 {
			e.logger.Warn("dropping damaged spooled events", "count", len(bad))
			e.state.ack(ctx, bad)
		}
		if len(events) == 0 {
			return
		}
		var ans struct {
			Recorded int `json:"recorded"`
			Rejected int `json:"rejected"`
		}
		if err := e.origin.post(ctx, "/api/v1/edge/events", freight.EdgeEvents{Downloads: events}, &ans); err != nil {
			if ctx.Err() == nil {
				e.logger.Warn("sending download events; they stay spooled", "err", err, "count", len(events))
			}
			return
		}
		if ans.Recorded+ans.Rejected != len(events) {
			e.logger.Warn("portal acknowledged a batch partly", "sent", len(events), "recorded", ans.Recorded, "rejected", ans.Rejected)
			return
		}
		ids := make([]string, len(events))
		for i, d := range events {
			ids[i] = d.ID
		}
		if err := e.state.ack(ctx, ids); err != nil {
			e.logger.Warn("deleting sent events", "err", err)
			return
		}
	}
}

// keyring holds the portal's public grant keys.
type keyring struct {
	e        *Edge
	fetching sync.Mutex // one refresh at a time, so an older answer never replaces a newer one
	mu       sync.Mutex
	keys     map[string]ed25519.PublicKey
	lastMiss time.Time     // the last refresh for an unknown key id
	missDone chan struct{} // closed when that refresh ends
}

func (k *keyring) count() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.keys)
}

// refresh fetches the keys and keeps them, on disk too. The portal's list
// is the truth: a key it no longer lists (retired) stops verifying. A
// failure keeps what the edge has.
func (k *keyring) refresh(ctx context.Context) error {
	k.fetching.Lock()
	defer k.fetching.Unlock()
	keys, err := k.e.origin.keys(ctx)
	if err != nil {
		return err
	}
	if err := k.e.state.saveKeys(ctx, keys); err != nil {
		k.e.logger.Warn("saving keys", "err", err)
	}
	k.mu.Lock()
	k.keys = keys
	k.mu.Unlock()
	return nil
}

// publicKey is the grant.KeyFunc of the edge. An unknown key id may be a
// key the portal made since the last refresh: it refreshes, at most every
// few seconds, before it says no. Requests that miss while that refresh
// runs (a burst of clients right after a start or a key rotation) wait
// for it instead of being refused.
func (k *keyring) publicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	lookup := func() (ed25519.PublicKey, bool) {
		k.mu.Lock()
		defer k.mu.Unlock()
		pub, ok := k.keys[kid]
		return pub, ok
	}
	k.mu.Lock()
	pub, ok := k.keys[kid]
	now := k.e.now()
	lead := !ok && now.Sub(k.lastMiss) > 5*time.Second
	if lead {
		k.lastMiss, k.missDone = now, make(chan struct{})
	}
	wait := k.missDone
	k.mu.Unlock()
	if ok {
		return pub, nil
	}
	if lead {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := k.refresh(rctx); err != nil {
			k.e.logger.Warn("fetching the portal's keys for an unknown key id", "err", err)
		}
		cancel()
		close(wait)
	} else if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if pub, ok := lookup(); ok {
		return pub, nil
	}
	return nil, freight.Errorf(freight.ENOTFOUND, "unknown key")
}

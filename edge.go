package freight

import (
	"net/url"
	"regexp"
	"time"
)

// Edge is a caching edge node (freight edge) known to the portal. An admin
// creates it, which issues its credential; the node then reports itself
// with heartbeats: its region, the URL clients reach it at, and its cache
// figures. The portal hands out URLs on edges whose last heartbeat is
// recent (Healthy).
type Edge struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Region     string     `json:"region"`
	PublicURL  string     `json:"public_url"`
	LastSeenAt *time.Time `json:"last_seen_at,omitempty"`
	Stats      EdgeStats  `json:"stats"`
	CreatedAt  time.Time  `json:"created_at"`

	// SecretHash is SHA-256 of the random part of the edge's credential.
	SecretHash []byte `json:"-"`
}

// EdgeStats are the figures an edge reports: counters since the edge's
// cache was created, and the state of its cache now.
type EdgeStats struct {
	BytesServed     int64 `json:"bytes_served"`      // body bytes sent to clients
	BytesFromOrigin int64 `json:"bytes_from_origin"` // body bytes fetched from the portal
	Hits            int64 `json:"hits"`              // requests answered from a complete cached blob
	Misses          int64 `json:"misses"`            // requests that waited for a fill or went to the origin
	FillsInProgress int64 `json:"fills_in_progress"`
	CacheBytes      int64 `json:"cache_bytes"`
	CacheBlobs      int64 `json:"cache_blobs"`
	CacheLimit      int64 `json:"cache_limit"`
}

// HitRatio is the share of requests answered from a complete cached blob,
// 0 when there was none.
func (s EdgeStats) HitRatio() float64 {
	if s.Hits+s.Misses <= 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Hits+s.Misses)
}

// Validate checks the counters: none is negative.
func (s EdgeStats) Validate() error {
	for _, v := range []int64{s.BytesServed, s.BytesFromOrigin, s.Hits, s.Misses, s.FillsInProgress, s.CacheBytes, s.CacheBlobs, s.CacheLimit} {
		if v < 0 {
			return FieldError("stats", "must not hold negative figures")
		}
	}
	return nil
}

// Validate checks the fields a caller sets.
func (e *Edge) Validate() error {
	if err := validateName("name", e.Name); err != nil {
		return err
	}
	if err := ValidateRegion("region", e.Region, true); err != nil {
		return err
	}
	if e.PublicURL != "" {
		if err := ValidatePublicURL("public_url", e.PublicURL); err != nil {
			return err
		}
	}
	return e.Stats.Validate()
}

// Healthy reports whether the edge's last heartbeat is within timeout of
// now.
func (e *Edge) Healthy(now time.Time, timeout time.Duration) bool {
	return e.LastSeenAt != nil && e.PublicURL != "" && now.Sub(*e.LastSeenAt) < timeout
}

var regionRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidateRegion checks a region name: 1 to 63 lower-case letters, digits
// or dashes, like "eu-west" or "factory-3". Empty is allowed when
// optional.
func ValidateRegion(field, s string, optional bool) error {
	if s == "" {
		if optional {
			return nil
		}
		return FieldError(field, "is required")
	}
	if !regionRE.MatchString(s) {
		return FieldError(field, "must be 1 to 63 lower-case letters, digits or dashes, starting and ending with a letter or digit")
	}
	return nil
}

// ValidatePublicURL checks a base URL clients are sent to: absolute http
// or https, a host, no user information, query or fragment.
func ValidatePublicURL(field, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || len(s) > 2000 {
		return FieldError(field, "must be an http or https URL such as https://edge.example.com, without query or fragment")
	}
	return nil
}

// edgeSecretPrefix marks edge credentials, which authenticate only the
// edge API, apart from API tokens (frt_).
const edgeSecretPrefix = "fre_"

// NewEdgeSecret returns a new edge id and its credential
// "fre_<id>_<random>", with the hash to store.
func NewEdgeSecret(now time.Time) (id, secret string, hash []byte) {
	return newSecret(edgeSecretPrefix, PrefixEdge, now)
}

// ParseEdgeSecret splits an edge credential into the edge id and the hash
// of its random part; false for anything not shaped like one.
func ParseEdgeSecret(secret string) (id string, hash []byte, ok bool) {
	return parseSecret(edgeSecretPrefix, PrefixEdge, secret)
}

// EdgeFilter selects edges, ordered by id.
type EdgeFilter struct {
	Page
}

// MaxEdgeCached bounds EdgeHeartbeat.Cached and EdgeHeartbeat.Evicted
// each: an edge reports at most this many blobs per heartbeat in each, and
// the rest at the next one.
const MaxEdgeCached = 1000

// EdgeHeartbeat is what an edge reports about itself, periodically.
// Cached names blobs the portal asked it to prefetch that are now
// complete in its cache, by SHA-256; the portal marks those done. Evicted
// names blobs its cache dropped (to make room) since its last heartbeat
// was answered and does not hold now; the portal sets those of its done
// rows back to pending, and the answer asks for them again.
type EdgeHeartbeat struct {
	Region    string    `json:"region"`
	PublicURL string    `json:"public_url"`
	Stats     EdgeStats `json:"stats"`
	Cached    []string  `json:"cached,omitempty"`
	Evicted   []string  `json:"evicted,omitempty"`
}

// Validate checks a heartbeat, which comes from a machine the vendor may
// not control: the region, the public URL, the figures, and at most
// MaxEdgeCached well-formed digests in Cached and in Evicted each.
func (h *EdgeHeartbeat) Validate() error {
	if err := ValidateRegion("region", h.Region, true); err != nil {
		return err
	}
	if err := ValidatePublicURL("public_url", h.PublicURL); err != nil {
		return err
	}
	if err := h.Stats.Validate(); err != nil {
		return err
	}
	for _, l := range []struct {
		field   string
		digests []string
	}{{"cached", h.Cached}, {"evicted", h.Evicted}} {
		if len(l.digests) > MaxEdgeCached {
			return FieldError(l.field, "must name at most %d blobs; send the rest with the next heartbeat", MaxEdgeCached)
		}
		for _, d := range l.digests {
			if !ValidDigest(d) {
				return FieldError(l.field, "must hold SHA-256 digests in lower-case hexadecimal")
			}
		}
	}
	return nil
}

// EdgeHeartbeatAnswer is the portal's answer to a heartbeat: the blobs
// the edge should have in its cache before customers ask for them, and
// has not yet reported as cached.
type EdgeHeartbeatAnswer struct {
	Prefetch []EdgeBlob `json:"prefetch"`
}

// EdgePrefetch is one blob the portal asked one edge to cache ahead of
// demand: a file of a release published recently of a product whose
// PrefetchEdges is on. The job that reconciles these rows
// (Store.ReconcileEdgePrefetch) runs when such a release is published or
// yanked, when a product's PrefetchEdges changes and when an edge is
// registered. The edge finds its pending rows in its heartbeat answers
// and reports each blob once cached, which sets DoneAt, and reports it
// again if its cache evicts it, which makes the row pending again. An edge may fetch
// from the portal, without the grant of a download, only the blobs of its
// own rows.
type EdgePrefetch struct {
	EdgeID string `json:"edge_id"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// ReleaseID is the newest release that wanted the blob when it was
	// requested; a blob shared by several releases has one row per edge.
	ReleaseID   string     `json:"release_id"`
	RequestedAt time.Time  `json:"requested_at"`
	DoneAt      *time.Time `json:"done_at,omitempty"`
}

// EdgePrefetchScope narrows a reconciliation of the prefetch rows to what
// one change can have changed. Zero fields do not narrow. EdgeID keeps the
// rows of one edge; ReleaseID and ProductID keep the blobs of one release,
// or of one product's releases, from being added for other releases.
type EdgePrefetchScope struct {
	EdgeID    string `json:"edge,omitempty"`
	ReleaseID string `json:"release,omitempty"`
	ProductID string `json:"product,omitempty"`
}

// EdgePrefetchFilter selects prefetch rows, ordered by edge, request time
// and digest. Zero fields do not filter. Pending keeps the rows not yet
// done; Since keeps those requested at or after it. Limit bounds the rows
// returned, at most MaxPageSize; zero means MaxPageSize.
type EdgePrefetchFilter struct {
	EdgeID    string
	ReleaseID string
	Pending   bool
	Since     time.Time
	Limit     int
}

// EdgePrefetchCounts sums up one edge's prefetch rows: how warm its cache
// is for what the portal asked.
type EdgePrefetchCounts struct {
	Pending      int64 `json:"pending"`
	Done         int64 `json:"done"`
	PendingBytes int64 `json:"pending_bytes"`
}

// EdgeBlob names a blob for an edge to fetch.
type EdgeBlob struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// EdgeEvents is a batch of downloads an edge reports; each download's id
// is made by the edge, so that a batch sent twice records each once.
type EdgeEvents struct {
	Downloads []*Download `json:"downloads"`
}

// EdgeEventsAnswer acknowledges a batch: every download in it is recorded
// (now or before).
type EdgeEventsAnswer struct {
	Recorded int `json:"recorded"`
}

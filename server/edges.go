package server

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/grant"
)

// Edge defaults.
const (
	// DefaultEdgeHealthTimeout is how recent an edge's last heartbeat must
	// be for the portal to send customers to it: a few missed heartbeats.
	DefaultEdgeHealthTimeout = 90 * time.Second
	// DefaultPrefetchWindow is how long after a release is published the
	// portal keeps asking edges to have its files.
	DefaultPrefetchWindow = 7 * 24 * time.Hour
	// maxEdgeEvents bounds one batch of download events.
	maxEdgeEvents = 1000
	// maxHeartbeatBody bounds a heartbeat: room for the figures and
	// freight.MaxEdgeCached digests in each list, whatever --max-body says.
	maxHeartbeatBody = 256 << 10
)

// DeliveryEdge hands out download URLs on a healthy edge node, falling
// back to the portal's own URL when none is healthy.
const DeliveryEdge = "edge"

// GrantHeader carries, on an edge's blob fetch, the grant token of the
// download the fetch serves: the portal checks that it names the blob.
const GrantHeader = "Freight-Grant"

// Edge API. An edge authenticates with its own credential ("fre_…",
// issued when an admin creates the edge), which is good for the /edge/
// routes only and for nothing else; API tokens are refused there. The
// check is made by each handler through edgeOf.

var errEdgeCredential = freight.Errorf(freight.EUNAUTHORIZED, "invalid edge credential")

// edgeOf authenticates the edge credential of a request. Every failure
// before the secret is proven answers the same, as for API tokens.
func (s *Server) edgeOf(r *http.Request) (*freight.Edge, error) {
	h := r.Header.Get("Authorization")
	scheme, secret, ok := strings.Cut(h, " ")
	if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, freight.Errorf(freight.EUNAUTHORIZED, "edge credential required: send the header \"Authorization: Bearer <edge credential>\"")
	}
	id, hash, ok := freight.ParseEdgeSecret(strings.TrimSpace(secret))
	if !ok {
		return nil, errEdgeCredential
	}
	e, err := s.store.Edge(r.Context(), id)
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		freight.MatchSecretHash(hash, make([]byte, len(hash)))
		return nil, errEdgeCredential
	} else if err != nil {
		return nil, err
	}
	if !freight.MatchSecretHash(hash, e.SecretHash) {
		return nil, errEdgeCredential
	}
	return e, nil
}

// edgeAPI adapts an edge handler: it authenticates the edge first.
func (s *Server) edgeAPI(h func(w http.ResponseWriter, r *http.Request, e *freight.Edge) error) apiFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		return h(w, r, edgeFrom(r.Context()))
	}
}

// edgeHeartbeat records what an edge says about itself, marks done the
// prefetches it reports cached and pending those it reports evicted, and
// answers the blobs it still has to
// prefetch: the portal never dials into edges, which often sit behind NAT
// on a customer's network, so the answer is how they learn.
func (s *Server) edgeHeartbeat(w http.ResponseWriter, r *http.Request, e *freight.Edge) error {
	var in freight.EdgeHeartbeat
	body, err := s.readBodyLimit(w, r, max(maxHeartbeatBody, s.maxBody))
	if err != nil {
		return err
	}
	if err := decodeBytes(body, &in); err != nil {
		return err
	}
	if err := in.Validate(); err != nil {
		return err
	}
	ctx := r.Context()
	now := s.now()
	if _, err := s.store.UpdateEdge(ctx, e.ID, func(e *freight.Edge) error {
		e.Region, e.PublicURL, e.Stats, e.LastSeenAt = in.Region, strings.TrimSuffix(in.PublicURL, "/"), in.Stats, &now
		return nil
	}); err != nil {
		return err
	}
	// Only this edge's rows: an edge reports for itself. What it evicted
	// is pending again, and in this very answer.
	if _, err := s.store.MarkEdgePrefetched(ctx, e.ID, in.Cached, now); err != nil {
		return err
	}
	if _, err := s.store.MarkEdgeEvicted(ctx, e.ID, in.Evicted); err != nil {
		return err
	}
	rows, err := s.store.EdgePrefetches(ctx, freight.EdgePrefetchFilter{EdgeID: e.ID, Pending: true,
		Since: now.Add(-s.cfg.PrefetchWindow), Limit: freight.MaxPageSize})
	if err != nil {
		return err
	}
	ans := freight.EdgeHeartbeatAnswer{Prefetch: make([]freight.EdgeBlob, len(rows))}
	for i, p := range rows {
		ans.Prefetch[i] = freight.EdgeBlob{SHA256: p.SHA256, Size: p.Size}
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

// edgeEventsAnswer acknowledges a batch of events; Rejected counts events
// that can never be recorded (a grant that does not exist, a malformed
// event), which the edge must drop rather than send again.
type edgeEventsAnswer struct {
	Recorded int `json:"recorded"`
	Rejected int `json:"rejected"`
}

// edgeEvents records the downloads an edge served. Each carries an id the
// edge made: a batch sent again after a lost answer records nothing twice.
func (s *Server) edgeEvents(w http.ResponseWriter, r *http.Request, e *freight.Edge) error {
	var in freight.EdgeEvents
	body, err := s.readBodyLimit(w, r, max(4<<20, s.maxBody))
	if err != nil {
		return err
	}
	if err := decodeBytes(body, &in); err != nil {
		return err
	}
	if len(in.Downloads) > maxEdgeEvents {
		return freight.FieldError("downloads", "must hold at most %d events", maxEdgeEvents)
	}
	ctx := r.Context()
	var ans edgeEventsAnswer
	queued := false
	for _, d := range in.Downloads {
		if d == nil || !freight.ValidID(freight.PrefixDownload, d.ID) || d.StartedAt.IsZero() {
			ans.Rejected++
			continue
		}
		// What the grant says is the portal's to fill in; the edge says
		// only what happened.
		rec := &freight.Download{ID: d.ID, GrantID: d.GrantID, IP: d.IP, Via: e.Name, Range: d.Range,
			Bytes: d.Bytes, Completed: d.Completed, StartedAt: d.StartedAt, FinishedAt: d.FinishedAt}
		// The download and, when it completes its grant, the mark and the
		// artifact.downloaded event commit together: a batch sent again
		// finds the download recorded and sends nothing twice. The event
		// is dated when the edge says the download finished.
		at := s.now()
		if d.FinishedAt != nil && !d.FinishedAt.IsZero() && d.FinishedAt.Before(at) {
			at = *d.FinishedAt
		}
		err := s.store.Tx(ctx, func(tx freight.Store) error {
			if err := tx.CreateDownload(ctx, rec); err != nil {
				return err
			}
			q, err := s.downloadRecorded(ctx, tx, rec.GrantID, e.Name, at)
			queued = queued || q
			return err
		})
		switch freight.ErrorCode(err) {
		case "", freight.ECONFLICT: // recorded now, or by an earlier delivery of the batch
			if err == nil && d.Bytes > 0 {
				s.metrics.downloadBytes.WithLabelValues(DeliveryEdge).Add(float64(d.Bytes))
			}
			ans.Recorded++
		case freight.ENOTFOUND, freight.EINVALID:
			s.logger.WarnContext(ctx, "edge event rejected", "edge_id", e.ID, "download_id", d.ID, "err", err)
			ans.Rejected++
		default:
			return err
		}
	}
	if queued {
		s.jobs.Notify()
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

// serveEdgeBlob sends a blob to an edge: GET and HEAD of
// /api/v1/edge/blobs/{sha256}, with Range, as the download origin does
// (and mounted beside it, outside the logging middleware, for sendfile).
//
// An edge may fetch a blob for a download it serves, proven by the grant
// token in the Freight-Grant header (signature valid, naming this blob,
// not expired), or a blob the portal asked this very edge to prefetch (a
// row of its own, pending or done). An edge's credential alone opens
// nothing else: an edge on a customer's site holds its credential on a
// machine the customer controls.
func (s *Server) serveEdgeBlob(w http.ResponseWriter, r *http.Request) {
	if err := s.edgeBlob(w, r); err != nil {
		s.writeError(w, r, err)
	}
}

func (s *Server) edgeBlob(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	e := edgeFrom(ctx)
	digest := r.PathValue("sha256")
	if !freight.ValidDigest(digest) {
		return freight.Errorf(freight.ENOTFOUND, "blob not found")
	}
	size, err := s.edgeMayFetch(ctx, e, r.Header.Get(GrantHeader), digest)
	if err != nil {
		s.logger.InfoContext(ctx, "edge blob fetch refused", "edge_id", e.ID, "sha256", digest, "reason", freight.ErrorMessage(err))
		return err
	}
	h := w.Header()
	h.Set("ETag", `"`+digest+`"`)
	h.Set("Repr-Digest", reprDigest(digest))
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Cache-Control", "private, no-transform")
	if gp, ok := s.blobs.(getPresigner); ok && r.Method == http.MethodGet {
		loc, err := gp.PresignGet(ctx, digest, "", RedirectTTL)
		if err != nil {
			return err
		}
		h.Set("Location", loc)
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusSeeOther)
		return nil
	}
	content, err := s.openContent(ctx, digest, size)
	if err != nil {
		return err
	}
	defer content.Close()
	http.ServeContent(w, r, "", time.Time{}, content)
	return nil
}

// edgeMayFetch decides an edge's blob fetch and returns the blob's size.
func (s *Server) edgeMayFetch(ctx context.Context, e *freight.Edge, token, digest string) (int64, error) {
	if token != "" {
		c, err := grant.Parse(ctx, token, s.keys.PublicKey)
		if err != nil {
			return 0, err
		}
		if c.Digest != digest {
			return 0, freight.Errorf(freight.EFORBIDDEN, "the grant is for another blob")
		}
		if s.now().Unix() >= c.ResumeUntil {
			return 0, freight.Errorf(freight.EFORBIDDEN, "link expired")
		}
		return c.Size, nil
	}
	p, err := s.store.EdgePrefetch(ctx, e.ID, digest)
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		return 0, freight.Errorf(freight.EFORBIDDEN, "an edge fetches a blob with the grant token of a download of it, or when asked to prefetch it")
	} else if err != nil {
		return 0, err
	}
	return p.Size, nil
}

// edgeView is an edge as the admin API shows it.
type edgeView struct {
	*freight.Edge
	Healthy  bool    `json:"healthy"`
	HitRatio float64 `json:"hit_ratio"`
	// Prefetch sums up what the portal asked the edge to prefetch: how
	// warm it is for the releases published recently.
	Prefetch freight.EdgePrefetchCounts `json:"prefetch"`
}

func (s *Server) viewEdge(e *freight.Edge, c freight.EdgePrefetchCounts) edgeView {
	return edgeView{Edge: e, Healthy: e.Healthy(s.now(), s.cfg.EdgeHealthTimeout), HitRatio: e.Stats.HitRatio(), Prefetch: c}
}

// viewEdges is viewEdge for a list, with the prefetch counts of every
// edge read at once.
func (s *Server) viewEdges(ctx context.Context, es []*freight.Edge) ([]edgeView, error) {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	counts, err := s.store.EdgePrefetchCounts(ctx, ids)
	if err != nil {
		return nil, err
	}
	views := make([]edgeView, len(es))
	for i, e := range es {
		views[i] = s.viewEdge(e, counts[e.ID])
	}
	return views, nil
}

// createdEdge is the answer to creating an edge: the only time its
// credential is shown.
type createdEdge struct {
	edgeView
	Credential string `json:"credential"`
}

func (s *Server) listEdges(w http.ResponseWriter, r *http.Request) error {
	pg, err := page(r.URL.Query())
	if err != nil {
		return err
	}
	es, next, err := s.store.Edges(r.Context(), freight.EdgeFilter{Page: pg})
	if err != nil {
		return err
	}
	views, err := s.viewEdges(r.Context(), es)
	if err != nil {
		return err
	}
	writeList(w, views, next)
	return nil
}

func (s *Server) getEdge(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "edge", freight.PrefixEdge, "edge")
	if err != nil {
		return err
	}
	e, err := s.store.Edge(r.Context(), id)
	if err != nil {
		return err
	}
	views, err := s.viewEdges(r.Context(), []*freight.Edge{e})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, views[0])
	return nil
}

type edgeInput struct {
	Name   string `json:"name"`
	Region string `json:"region"`
}

func (s *Server) createEdge(w http.ResponseWriter, r *http.Request) error {
	var in edgeInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	id, secret, hash := freight.NewEdgeSecret(s.now())
	e := freight.Edge{ID: id, Name: in.Name, Region: in.Region, SecretHash: hash}
	if err := e.Validate(); err != nil {
		return err
	}
	err := s.change(r, "edge.create", "edge", func(tx freight.Store) (audited, error) {
		if err := tx.CreateEdge(r.Context(), &e); err != nil {
			return audited{}, err
		}
		// The new edge is to prefetch what the others do.
		if err := s.queueEdgePrefetch(r.Context(), tx, freight.EdgePrefetchScope{EdgeID: e.ID}); err != nil {
			return audited{}, err
		}
		return audited{id: e.ID, details: &e}, nil
	})
	if err != nil {
		return err
	}
	s.jobs.Notify()
	// Nothing is asked of it before its job runs.
	writeJSON(w, http.StatusCreated, createdEdge{edgeView: s.viewEdge(&e, freight.EdgePrefetchCounts{}), Credential: secret})
	return nil
}

func (s *Server) deleteEdge(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "edge", freight.PrefixEdge, "edge")
	if err != nil {
		return err
	}
	err = s.change(r, "edge.delete", "edge", func(tx freight.Store) (audited, error) {
		e, err := tx.Edge(r.Context(), id)
		if err != nil {
			return audited{}, err
		}
		if err := tx.DeleteEdge(r.Context(), id); err != nil {
			return audited{}, err
		}
		return audited{id: id, details: e}, nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// pickEdge chooses the edge a download goes to: a healthy edge of the
// organization's region, else of the region the request prefers, else of
// the first region in the configured order that has one. nil when none of
// these has a healthy edge: the download goes to the origin. An edge of
// another region is never picked, since an edge on a customer's network
// serves that customer only.
func (s *Server) pickEdge(ctx context.Context, orgID, preferred string) (*freight.Edge, error) {
	var healthy []*freight.Edge
	now := s.now()
	f := freight.EdgeFilter{Page: freight.Page{Limit: freight.MaxPageSize}}
	for {
		es, next, err := s.store.Edges(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			if e.Healthy(now, s.cfg.EdgeHealthTimeout) {
				healthy = append(healthy, e)
			}
		}
		if next == "" {
			break
		}
		f.After = next
	}
	if len(healthy) == 0 {
		return nil, nil
	}
	var order []string
	if orgID != "" {
		o, err := s.store.Organization(ctx, orgID)
		if err != nil && freight.ErrorCode(err) != freight.ENOTFOUND {
			return nil, err
		}
		if o != nil && o.Region != "" {
			order = append(order, o.Region)
		}
	}
	if preferred != "" {
		order = append(order, preferred)
	}
	order = append(order, s.cfg.EdgeRegions...)
	for _, region := range order {
		var in []*freight.Edge
		for _, e := range healthy {
			if e.Region == region {
				in = append(in, e)
			}
		}
		if len(in) > 0 {
			return in[rand.IntN(len(in))], nil
		}
	}
	return nil, nil
}

type edgeKeyType struct{}

// edgeKey holds the edge a request authenticated as (permEdge routes).
var edgeKey edgeKeyType

func edgeFrom(ctx context.Context) *freight.Edge {
	e, _ := ctx.Value(edgeKey).(*freight.Edge)
	return e
}

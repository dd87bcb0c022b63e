package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/freight-portal/freight"
)

const edgeColumns = `id, name, region, public_url, secret_hash, last_seen_at,
	stats_bytes_served, stats_bytes_from_origin, stats_hits, stats_misses, stats_fills,
	stats_cache_bytes, stats_cache_blobs, stats_cache_limit, created_at`

func scanEdge(r scanner) (*freight.Edge, error) {
	var e freight.Edge
	st := &e.Stats
	err := r.Scan(&e.ID, &e.Name, &e.Region, &e.PublicURL, bytesCol{&e.SecretHash}, nullTimeCol{&e.LastSeenAt},
		&st.BytesServed, &st.BytesFromOrigin, &st.Hits, &st.Misses, &st.FillsInProgress,
		&st.CacheBytes, &st.CacheBlobs, &st.CacheLimit, timeCol{&e.CreatedAt})
	if err != nil {
		return nil, err
	}
	return &e, nil
}

func edgeErrs(e *freight.Edge) *errs {
	return &errs{
		notFound:   "edge not found",
		conflict:   fmt.Sprintf("an edge named %q already exists", e.Name),
		idConflict: fmt.Sprintf("an edge with id %q already exists", e.ID),
	}
}

var errEdgeNotFound = &errs{notFound: "edge not found"}

// CreateEdge stores e, giving it an id if it has none and setting its
// created time.
func (s *store) CreateEdge(ctx context.Context, e *freight.Edge) error {
	c := *e
	if err := c.Validate(); err != nil {
		return err
	}
	if len(c.SecretHash) != 32 {
		return freight.FieldError("secret_hash", "must be a SHA-256 hash")
	}
	now := s.db.now()
	if c.ID == "" {
		c.ID = s.db.newID(freight.PrefixEdge, now)
	} else if err := checkID(freight.PrefixEdge, c.ID); err != nil {
		return err
	}
	c.CreatedAt = now
	c.LastSeenAt = normTimePtr(c.LastSeenAt)
	c.SecretHash = append([]byte(nil), c.SecretHash...)
	st := c.Stats
	_, err := s.exec(ctx, `INSERT INTO edges (`+edgeColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Name, c.Region, c.PublicURL, c.SecretHash, c.LastSeenAt,
		st.BytesServed, st.BytesFromOrigin, st.Hits, st.Misses, st.FillsInProgress,
		st.CacheBytes, st.CacheBlobs, st.CacheLimit, c.CreatedAt)
	if err != nil {
		return s.fail(ctx, err, edgeErrs(&c))
	}
	*e = c
	return nil
}

func (s *store) Edge(ctx context.Context, id string) (*freight.Edge, error) {
	return s.edge(ctx, id, false)
}

func (s *store) edge(ctx context.Context, id string, lock bool) (*freight.Edge, error) {
	q := `SELECT ` + edgeColumns + ` FROM edges WHERE id = ?`
	if lock {
		q += s.forUpdate()
	}
	e, err := scanEdge(s.queryRow(ctx, q, id))
	if err != nil {
		return nil, s.fail(ctx, err, errEdgeNotFound)
	}
	return e, nil
}

func (s *store) Edges(ctx context.Context, f freight.EdgeFilter) ([]*freight.Edge, string, error) {
	var c conds
	if f.After != "" {
		if err := idCursor(freight.PrefixEdge, f.After); err != nil {
			return nil, "", err
		}
		c.add(`id > ?`, f.After)
	}
	return listPage(ctx, s, `SELECT `+edgeColumns+` FROM edges`+c.String()+` ORDER BY id`, c.args, f.Size(), nil,
		scanEdge, func(e *freight.Edge) string { return e.ID })
}

func (s *store) UpdateEdge(ctx context.Context, id string, fn func(*freight.Edge) error) (*freight.Edge, error) {
	var out *freight.Edge
	err := s.inTx(ctx, func(s *store) error {
		old, err := s.edge(ctx, id, true)
		if err != nil {
			return err
		}
		c := *old
		if err := fn(&c); err != nil {
			return err
		}
		c.ID, c.CreatedAt, c.SecretHash = old.ID, old.CreatedAt, old.SecretHash
		if err := c.Validate(); err != nil {
			return err
		}
		c.LastSeenAt = normTimePtr(c.LastSeenAt)
		st := c.Stats
		_, err = s.exec(ctx, `UPDATE edges SET name = ?, region = ?, public_url = ?, last_seen_at = ?,
			stats_bytes_served = ?, stats_bytes_from_origin = ?, stats_hits = ?, stats_misses = ?, stats_fills = ?,
			stats_cache_bytes = ?, stats_cache_blobs = ?, stats_cache_limit = ? WHERE id = ?`,
			c.Name, c.Region, c.PublicURL, c.LastSeenAt,
			st.BytesServed, st.BytesFromOrigin, st.Hits, st.Misses, st.FillsInProgress,
			st.CacheBytes, st.CacheBlobs, st.CacheLimit, c.ID)
		if err != nil {
			return s.fail(ctx, err, edgeErrs(&c))
		}
		out = &c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *store) DeleteEdge(ctx context.Context, id string) error {
	return s.deleteByID(ctx, `DELETE FROM edges WHERE id = ?`, id, errEdgeNotFound)
}

// Edge prefetch rows.

const edgePrefetchColumns = `edge_id, sha256, size, release_id, requested_at, done_at`

func scanEdgePrefetch(r scanner) (*freight.EdgePrefetch, error) {
	var p freight.EdgePrefetch
	if err := r.Scan(&p.EdgeID, &p.SHA256, &p.Size, &p.ReleaseID, timeCol{&p.RequestedAt}, nullTimeCol{&p.DoneAt}); err != nil {
		return nil, err
	}
	return &p, nil
}

var errEdgePrefetchNotFound = &errs{notFound: "the edge was not asked to prefetch this blob"}

// prefetchBatch bounds the rows of one multi-row statement: well under
// the parameter limits of both databases.
const prefetchBatch = 100

// ReconcileEdgePrefetch locks the edges in scope, reads the blobs wanted
// now, and adds and deletes rows to match. The work is in Go rather than
// in one INSERT … SELECT because a blob shared by releases must be added
// once, named after the newest of them, which the two dialects would say
// differently.
func (s *store) ReconcileEdgePrefetch(ctx context.Context, scope freight.EdgePrefetchScope, since, now time.Time) (added, deleted int, err error) {
	for _, c := range []struct{ prefix, id, field string }{
		{freight.PrefixEdge, scope.EdgeID, "edge"},
		{freight.PrefixRelease, scope.ReleaseID, "release"},
		{freight.PrefixProduct, scope.ProductID, "product"},
	} {
		if c.id != "" && !freight.ValidID(c.prefix, c.id) {
			return 0, 0, freight.FieldError(c.field, "must be an id of the form %s_ followed by 26 base32 characters", c.prefix)
		}
	}
	err = s.inTx(ctx, func(s *store) error {
		// The edges first: a reconciliation that waited here for another
		// one reads what is wanted after that one committed.
		var c conds
		if scope.EdgeID != "" {
			c.add(`id = ?`, scope.EdgeID)
		}
		edges, err := s.textColumn(ctx, `SELECT id FROM edges`+c.String()+` ORDER BY id`+s.forUpdate(), c.args...)
		if err != nil || len(edges) == 0 {
			return err
		}
		wanted, add, err := s.prefetchWanted(ctx, scope, since)
		if err != nil {
			return err
		}
		locked := make(map[string]bool, len(edges))
		for _, id := range edges {
			locked[id] = true
		}
		have := map[string]map[string]bool{}
		rows, err := s.query(ctx, `SELECT edge_id, sha256 FROM edge_prefetch`+edgeScope(scope.EdgeID), edgeScopeArgs(scope.EdgeID)...)
		if err != nil {
			return s.fail(ctx, err, nil)
		}
		for rows.Next() {
			var edge, digest string
			if err := rows.Scan(&edge, &digest); err != nil {
				rows.Close()
				return s.fail(ctx, err, nil)
			}
			// An edge created after the lock was taken is another
			// reconciliation's to look after.
			if !locked[edge] {
				continue
			}
			if have[edge] == nil {
				have[edge] = map[string]bool{}
			}
			have[edge][digest] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return s.fail(ctx, err, nil)
		}
		for _, edge := range edges {
			var gone []string
			for d := range have[edge] {
				if !wanted[d] {
					gone = append(gone, d)
				}
			}
			slices.Sort(gone)
			for chunk := range slices.Chunk(gone, prefetchBatch) {
				args := append([]any{edge}, anys(chunk)...)
				res, err := s.exec(ctx, `DELETE FROM edge_prefetch WHERE edge_id = ? AND sha256 IN (`+placeholders(len(chunk))+`)`, args...)
				if err != nil {
					return s.fail(ctx, err, nil)
				}
				n, err := res.RowsAffected()
				if err != nil {
					return s.fail(ctx, err, nil)
				}
				deleted += int(n)
			}
		}
		var rowsToAdd [][]any
		for _, edge := range edges {
			for _, w := range add {
				if !have[edge][w.SHA256] {
					rowsToAdd = append(rowsToAdd, []any{edge, w.SHA256, w.Size, w.ReleaseID, now})
				}
			}
		}
		for chunk := range slices.Chunk(rowsToAdd, prefetchBatch) {
			var args []any
			for _, r := range chunk {
				args = append(args, r...)
			}
			values := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, NULL), ", len(chunk)), ", ")
			res, err := s.exec(ctx, `INSERT INTO edge_prefetch (`+edgePrefetchColumns+`) VALUES `+values+
				` ON CONFLICT (edge_id, sha256) DO NOTHING`, args...)
			if err != nil {
				return s.fail(ctx, err, nil)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return s.fail(ctx, err, nil)
			}
			added += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return added, deleted, nil
}

// prefetchWanted reads the blobs edges should cache: every digest wanted
// by a published, not yanked release of a prefetching product since the
// given time, and, of those, the ones a release in scope wants, each once
// with the newest release that wants it.
func (s *store) prefetchWanted(ctx context.Context, scope freight.EdgePrefetchScope, since time.Time) (map[string]bool, []freight.EdgePrefetch, error) {
	rows, err := s.query(ctx, `SELECT a.sha256, a.size, r.id, r.product_id FROM artifacts a
		JOIN releases r ON r.id = a.release_id
		JOIN products p ON p.id = r.product_id
		WHERE r.state = 'published' AND r.published_at >= ? AND a.state = 'available' AND p.prefetch_edges = ?
		ORDER BY r.published_at DESC, r.id DESC, a.id`, since, true)
	if err != nil {
		return nil, nil, s.fail(ctx, err, nil)
	}
	defer rows.Close()
	wanted := map[string]bool{}
	newest := map[string]freight.EdgePrefetch{}
	inScope := map[string]bool{}
	var order []string
	for rows.Next() {
		var w freight.EdgePrefetch
		var productID string
		if err := rows.Scan(&w.SHA256, &w.Size, &w.ReleaseID, &productID); err != nil {
			return nil, nil, s.fail(ctx, err, nil)
		}
		if !wanted[w.SHA256] {
			wanted[w.SHA256] = true
			newest[w.SHA256] = w
			order = append(order, w.SHA256)
		}
		if (scope.ReleaseID == "" || scope.ReleaseID == w.ReleaseID) && (scope.ProductID == "" || scope.ProductID == productID) {
			inScope[w.SHA256] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, s.fail(ctx, err, nil)
	}
	var add []freight.EdgePrefetch
	for _, d := range order {
		if inScope[d] {
			add = append(add, newest[d])
		}
	}
	return wanted, add, nil
}

func edgeScope(edgeID string) string {
	if edgeID == "" {
		return ""
	}
	return ` WHERE edge_id = ?`
}

func edgeScopeArgs(edgeID string) []any {
	if edgeID == "" {
		return nil
	}
	return []any{edgeID}
}

// textColumn runs a query of one text column and returns its values.
func (s *store) textColumn(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, s.fail(ctx, err, nil)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, s.fail(ctx, err, nil)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, err, nil)
	}
	return out, nil
}

func anys[T any](l []T) []any {
	out := make([]any, len(l))
	for i, v := range l {
		out[i] = v
	}
	return out
}

func (s *store) EdgePrefetches(ctx context.Context, f freight.EdgePrefetchFilter) ([]*freight.EdgePrefetch, error) {
	var c conds
	if f.EdgeID != "" {
		c.add(`edge_id = ?`, f.EdgeID)
	}
	if f.ReleaseID != "" {
		c.add(`release_id = ?`, f.ReleaseID)
	}
	if f.Pending {
		c.add(`done_at IS NULL`)
	}
	if !f.Since.IsZero() {
		c.add(`requested_at >= ?`, f.Since)
	}
	limit := f.Limit
	if limit <= 0 || limit > freight.MaxPageSize {
		limit = freight.MaxPageSize
	}
	rows, err := s.query(ctx, `SELECT `+edgePrefetchColumns+` FROM edge_prefetch`+c.String()+
		` ORDER BY edge_id, requested_at, sha256 LIMIT ?`, append(c.args, limit)...)
	if err != nil {
		return nil, s.fail(ctx, err, nil)
	}
	defer rows.Close()
	out := []*freight.EdgePrefetch{}
	for rows.Next() {
		p, err := scanEdgePrefetch(rows)
		if err != nil {
			return nil, s.fail(ctx, err, nil)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, err, nil)
	}
	return out, nil
}

func (s *store) EdgePrefetch(ctx context.Context, edgeID, digest string) (*freight.EdgePrefetch, error) {
	p, err := scanEdgePrefetch(s.queryRow(ctx, `SELECT `+edgePrefetchColumns+` FROM edge_prefetch WHERE edge_id = ? AND sha256 = ?`, edgeID, digest))
	if err != nil {
		return nil, s.fail(ctx, err, errEdgePrefetchNotFound)
	}
	return p, nil
}

func (s *store) MarkEdgePrefetched(ctx context.Context, edgeID string, digests []string, at time.Time) (int, error) {
	return s.markEdgePrefetch(ctx, "cached", `done_at = ?`, []any{at}, `done_at IS NULL`, edgeID, digests)
}

func (s *store) MarkEdgeEvicted(ctx context.Context, edgeID string, digests []string) (int, error) {
	return s.markEdgePrefetch(ctx, "evicted", `done_at = NULL`, nil, `done_at IS NOT NULL`, edgeID, digests)
}

// markEdgePrefetch applies set to the edge's rows of the digests that are
// in the state cond says, and returns how many it changed. field names
// the digests in an error.
func (s *store) markEdgePrefetch(ctx context.Context, field, set string, setArgs []any, cond, edgeID string, digests []string) (int, error) {
	for _, d := range digests {
		if !freight.ValidDigest(d) {
			return 0, freight.FieldError(field, "must hold SHA-256 digests in lower-case hexadecimal")
		}
	}
	ds := slices.Clone(digests)
	slices.Sort(ds)
	ds = slices.Compact(ds)
	marked := 0
	for chunk := range slices.Chunk(ds, freight.MaxPageSize) {
		args := append(append(slices.Clone(setArgs), edgeID), anys(chunk)...)
		res, err := s.exec(ctx, `UPDATE edge_prefetch SET `+set+` WHERE edge_id = ? AND `+cond+` AND sha256 IN (`+placeholders(len(chunk))+`)`, args...)
		if err != nil {
			return marked, s.fail(ctx, err, nil)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return marked, s.fail(ctx, err, nil)
		}
		marked += int(n)
	}
	return marked, nil
}

func (s *store) EdgePrefetchCounts(ctx context.Context, edgeIDs []string) (map[string]freight.EdgePrefetchCounts, error) {
	out := make(map[string]freight.EdgePrefetchCounts, len(edgeIDs))
	for _, id := range edgeIDs {
		out[id] = freight.EdgePrefetchCounts{}
	}
	ids := slices.Clone(edgeIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for chunk := range slices.Chunk(ids, freight.MaxPageSize) {
		rows, err := s.query(ctx, `SELECT edge_id,
			CAST(COALESCE(SUM(CASE WHEN done_at IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT),
			CAST(COALESCE(SUM(CASE WHEN done_at IS NULL THEN 0 ELSE 1 END), 0) AS BIGINT),
			CAST(COALESCE(SUM(CASE WHEN done_at IS NULL THEN size ELSE 0 END), 0) AS BIGINT)
			FROM edge_prefetch WHERE edge_id IN (`+placeholders(len(chunk))+`) GROUP BY edge_id`, anys(chunk)...)
		if err != nil {
			return nil, s.fail(ctx, err, nil)
		}
		for rows.Next() {
			var id string
			var c freight.EdgePrefetchCounts
			if err := rows.Scan(&id, &c.Pending, &c.Done, &c.PendingBytes); err != nil {
				rows.Close()
				return nil, s.fail(ctx, err, nil)
			}
			out[id] = c
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, s.fail(ctx, err, nil)
		}
	}
	return out, nil
}

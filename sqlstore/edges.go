package sqlstore

import (
	"context"
	"fmt"
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

// PrefetchBlobs joins the published releases of prefetching products with
// their available artifacts; a blob shared by several artifacts appears
// once, at its newest release.
func (s *store) PrefetchBlobs(ctx context.Context, since time.Time) ([]freight.EdgeBlob, error) {
	rows, err := s.query(ctx, `SELECT a.sha256, a.size, r.published_at FROM artifacts a
		JOIN releases r ON r.id = a.release_id
		JOIN products p ON p.id = r.product_id
		WHERE r.state = 'published' AND r.published_at >= ? AND a.state = 'available' AND p.prefetch_edges = ?
		ORDER BY r.published_at DESC, a.id`, since, true)
	if err != nil {
		return nil, s.fail(ctx, err, nil)
	}
	defer rows.Close()
	out := []freight.EdgeBlob{}
	seen := map[string]bool{}
	for rows.Next() {
		var b freight.EdgeBlob
		var at time.Time
		if err := rows.Scan(&b.SHA256, &b.Size, timeCol{&at}); err != nil {
			return nil, s.fail(ctx, err, nil)
		}
		if !seen[b.SHA256] {
			seen[b.SHA256] = true
			out = append(out, b)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, err, nil)
	}
	return out, nil
}

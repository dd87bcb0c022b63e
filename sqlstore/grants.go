package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"

	"github.com/freight-portal/freight"
)

const grantColumns = `id, artifact_id, product_id, org_id, actor, token_id, ip, bind_ip, digest, size, filename,
	start_by, resume_until, byte_budget, bytes_served, created_at, completed_at`

// grantDest returns the scan destinations of grantColumns.
func grantDest(g *freight.Grant) []any {
	return []any{&g.ID, &g.ArtifactID, &g.ProductID, nullStringCol{&g.OrgID}, &g.Actor, nullStringCol{&g.TokenID},
		&g.IP, boolCol{&g.BindIP}, &g.Digest, &g.Size, &g.Filename,
		timeCol{&g.StartBy}, timeCol{&g.ResumeUntil}, &g.ByteBudget, &g.BytesServed, timeCol{&g.CreatedAt}, nullTimeCol{&g.CompletedAt}}
}

func scanGrant(r scanner) (*freight.Grant, error) {
	var g freight.Grant
	if err := r.Scan(grantDest(&g)...); err != nil {
		return nil, err
	}
	return &g, nil
}

func grantErrs(g *freight.Grant) *errs {
	return &errs{
		notFound:   "grant not found",
		idConflict: fmt.Sprintf("a grant with id %q already exists", g.ID),
		parents: []parent{
			{constraint: "grants_artifact_id_fkey", table: "artifacts", id: g.ArtifactID, notFound: "artifact not found"},
		},
	}
}

var errGrantNotFound = &errs{notFound: "grant not found"}

// checkOptionalID refuses an optional reference of the wrong shape.
func checkOptionalID(field, prefix, id string) error {
	if id != "" && !freight.ValidID(prefix, id) {
		return freight.FieldError(field, "must be empty or an id of the form %s_ followed by 26 base32 characters", prefix)
	}
	return nil
}

// validGrant checks the fields of a grant a caller sets. The filename goes
// into a Content-Disposition header: it is a plain name, without
// directories or control characters.
func validGrant(g *freight.Grant) error {
	if g.ID != "" {
		if err := checkID(freight.PrefixGrant, g.ID); err != nil {
			return err
		}
	}
	if !freight.ValidID(freight.PrefixArtifact, g.ArtifactID) {
		return freight.FieldError("artifact_id", "must be an artifact id")
	}
	if err := checkOptionalID("product_id", freight.PrefixProduct, g.ProductID); err != nil {
		return err
	}
	if err := checkOptionalID("org_id", freight.PrefixOrganization, g.OrgID); err != nil {
		return err
	}
	if err := checkOptionalID("token_id", freight.PrefixToken, g.TokenID); err != nil {
		return err
	}
	if g.Actor == "" {
		return freight.FieldError("actor", "is required")
	}
	if g.BindIP && g.IP == "" {
		return freight.FieldError("ip", "is required when the grant is bound to it")
	}
	if !freight.ValidDigest(g.Digest) {
		return freight.FieldError("sha256", "must be 64 lower-case hexadecimal digits")
	}
	if g.Size < 0 {
		return freight.FieldError("size", "must not be negative")
	}
	if g.Filename == "" || len(g.Filename) > 255 || strings.ContainsAny(g.Filename, `/\`) ||
		strings.ContainsFunc(g.Filename, func(r rune) bool { return unicode.IsControl(r) || r == unicode.ReplacementChar }) {
		return freight.FieldError("filename", "must be a file name of 1 to 255 bytes without '/', '\\' or control characters")
	}
	if g.StartBy.IsZero() {
		return freight.FieldError("start_by", "is required")
	}
	if g.ResumeUntil.IsZero() {
		return freight.FieldError("resume_until", "is required")
	}
	if normTime(g.ResumeUntil).Before(normTime(g.StartBy)) {
		return freight.FieldError("resume_until", "must not be before start_by")
	}
	if g.ByteBudget < g.Size {
		return freight.FieldError("byte_budget", "must be at least the size")
	}
	if g.BytesServed < 0 || g.BytesServed > g.ByteBudget {
		return freight.FieldError("bytes_served", "must be between 0 and the byte budget")
	}
	return nil
}

// CreateGrant stores g, giving it an id if it has none, and sets its
// created time (the time GrantUsage counts it at). ProductID is the
// product of the artifact's release: it is filled in when empty, and a
// different one is refused with EINVALID, because GrantUsage counts grants
// by it. ENOTFOUND if the artifact does not exist. The store does not look
// at the artifact's state or the release's: who may download what is the
// caller's decision.
func (s *store) CreateGrant(ctx context.Context, g *freight.Grant) error {
	c := *g
	if err := validGrant(&c); err != nil {
		return err
	}
	var productID string
	err := s.queryRow(ctx, `SELECT r.product_id FROM artifacts a JOIN releases r ON r.id = a.release_id WHERE a.id = ?`, c.ArtifactID).Scan(&productID)
	if err != nil {
		return s.fail(ctx, err, &errs{notFound: "artifact not found"})
	}
	switch c.ProductID {
	case "":
		c.ProductID = productID
	case productID:
	default:
		return freight.FieldError("product_id", "is not the product of the artifact, %s", productID)
	}
	now := s.db.now()
	if c.ID == "" {
		c.ID = s.db.newID(freight.PrefixGrant, now)
	}
	c.CreatedAt = now
	c.StartBy, c.ResumeUntil = normTime(c.StartBy), normTime(c.ResumeUntil)
	// A new grant has downloaded nothing: only CompleteGrant completes it.
	c.CompletedAt = nil
	// The artifact may go between the look-up and the insert: the foreign
	// key still answers ENOTFOUND.
	_, err = s.exec(ctx, `INSERT INTO grants (`+grantColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
		c.ID, c.ArtifactID, c.ProductID, nullString(c.OrgID), c.Actor, nullString(c.TokenID), c.IP, c.BindIP,
		c.Digest, c.Size, c.Filename, c.StartBy, c.ResumeUntil, c.ByteBudget, c.BytesServed, c.CreatedAt)
	if err != nil {
		return s.fail(ctx, err, grantErrs(&c))
	}
	*g = c
	return nil
}

func (s *store) Grant(ctx context.Context, id string) (*freight.Grant, error) {
	g, err := scanGrant(s.queryRow(ctx, `SELECT `+grantColumns+` FROM grants WHERE id = ?`, id))
	if err != nil {
		return nil, s.fail(ctx, err, errGrantNotFound)
	}
	return g, nil
}

// ReserveGrantBytes changes the bytes served in one statement that checks
// the budget and returns the row it wrote, so that concurrent callers, on
// one replica or many, never overrun the budget and each sees the total its
// own change made. PostgreSQL makes a concurrent UPDATE of the row wait and
// then re-checks the condition against the committed row; SQLite runs one
// writer at a time. The budget test is written as bytes_served <=
// byte_budget - n, which cannot overflow for n >= 0 (bytes_served + n
// can). When no row changed, a look-up tells a missing grant (ENOTFOUND)
// from a spent budget (ETOOLARGE).
func (s *store) ReserveGrantBytes(ctx context.Context, id string, n int64) (*freight.Grant, error) {
	var q string
	var args []any
	if n >= 0 {
		q = `UPDATE grants SET bytes_served = bytes_served + ? WHERE id = ? AND bytes_served <= byte_budget - ? RETURNING ` + grantColumns
		args = []any{n, id, n}
	} else {
		// Giving back: bytes_served + n cannot overflow, since
		// bytes_served >= 0 > n.
		q = `UPDATE grants SET bytes_served = CASE WHEN bytes_served + ? < 0 THEN 0 ELSE bytes_served + ? END WHERE id = ? RETURNING ` + grantColumns
		args = []any{n, n, id}
	}
	var g freight.Grant
	err := s.execReturning(ctx, grantDest(&g), q, args...)
	if err == nil {
		return &g, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, s.fail(ctx, err, errGrantNotFound)
	}
	var one int
	if err := s.queryRow(ctx, `SELECT 1 FROM grants WHERE id = ?`, id).Scan(&one); err != nil {
		return nil, s.fail(ctx, err, errGrantNotFound)
	}
	return nil, freight.Errorf(freight.ETOOLARGE, "the download's byte budget is used up")
}

// CompleteGrant reads the totals that CreateDownload and FinishDownload
// keep on the grant, so that its cost does not grow with the requests the
// URL served. It takes the grant's row lock first (on SQLite, the
// transaction excludes every other writer), so that callers racing on one
// grant take turns. On PostgreSQL the lock is FOR NO KEY UPDATE: each
// caller's download insert holds a key-share lock on the grant row for
// its foreign key, which FOR UPDATE would wait for, each caller on the
// others, in a deadlock (the totals' UPDATE takes the same lock as FOR NO
// KEY UPDATE). Each caller recorded its download before, so each sees,
// under the lock, the totals of every download committed before it got
// the lock and of its own: the caller whose download completes the grant
// sees it complete, and those after it see it marked. The rule is the one
// DownloadStats counts completions by, so that the figures and the marks
// agree; a grant needs at least one download, even for an empty file.
func (s *store) CompleteGrant(ctx context.Context, id string, at time.Time) (bool, error) {
	if at.IsZero() {
		at = s.db.now()
	}
	marked := false
	err := s.inTx(ctx, func(s *store) error {
		var size, requests, sent, whole int64
		var completedAt *time.Time
		lock := ""
		if s.db.dialect == dialectPostgres {
			lock = " FOR NO KEY UPDATE"
		}
		err := s.queryRow(ctx, `SELECT size, completed_at, requests, requests_bytes, requests_whole FROM grants WHERE id = ?`+lock, id).
			Scan(&size, nullTimeCol{&completedAt}, &requests, &sent, &whole)
		if err != nil {
			return s.fail(ctx, err, errGrantNotFound)
		}
		if completedAt != nil || requests == 0 || whole == 0 && sent < size {
			return nil
		}
		if _, err := s.exec(ctx, `UPDATE grants SET completed_at = ? WHERE id = ?`, at, id); err != nil {
			return s.fail(ctx, err, nil)
		}
		marked = true
		return nil
	})
	return marked, err
}

// addRequests returns the assignments of an UPDATE of grants that adds to
// a grant's totals (see 0018_grant_totals.sql) one more request (or none)
// and the change of its bytes and of its completed whole-file requests,
// with their arguments. The bytes saturate at the largest int64 rather
// than fail: an edge reports the bytes it served, and an absurd report
// must not keep every later request of the URL from being recorded.
func addRequests(requests, bytes, whole int64) (string, []any) {
	q := `requests = requests + ?, requests_whole = requests_whole + ?, `
	args := []any{requests, whole}
	if bytes >= 0 {
		return q + `requests_bytes = CASE WHEN requests_bytes > ? THEN ? ELSE requests_bytes + ? END`,
			append(args, int64(math.MaxInt64)-bytes, int64(math.MaxInt64), bytes)
	}
	return q + `requests_bytes = CASE WHEN requests_bytes < ? THEN 0 ELSE requests_bytes + ? END`, append(args, -bytes, bytes)
}

// wholeRequest reports whether a download counts as a completed request
// for the whole file.
func wholeRequest(rng string, completed bool) int64 {
	if completed && rng == "" {
		return 1
	}
	return 0
}

// GrantUsage counts the grants issued to the organization for the product
// at or after since, and sums their sizes. An organization or a product
// that does not exist (any more) has what its grants say, usually nothing:
// grants are history and outlive both. Both ids are required: vendor staff
// (no organization) have no usage to count.
func (s *store) GrantUsage(ctx context.Context, orgID, productID string, since time.Time) (freight.Usage, error) {
	if orgID == "" {
		return freight.Usage{}, freight.FieldError("org_id", "is required")
	}
	if productID == "" {
		return freight.Usage{}, freight.FieldError("product_id", "is required")
	}
	var u freight.Usage
	err := s.queryRow(ctx, `SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM grants
		WHERE org_id = ? AND product_id = ? AND created_at >= ?`, orgID, productID, since).Scan(&u.Downloads, &u.Bytes)
	if err != nil {
		return freight.Usage{}, s.fail(ctx, err, nil)
	}
	return u, nil
}

const downloadColumns = `id, grant_id, artifact_id, product_id, org_id, actor, ip, via, range_header, bytes, completed,
	started_at, finished_at`

func scanDownload(r scanner) (*freight.Download, error) {
	var d freight.Download
	err := r.Scan(&d.ID, &d.GrantID, &d.ArtifactID, &d.ProductID, nullStringCol{&d.OrgID}, &d.Actor, &d.IP, &d.Via, &d.Range,
		&d.Bytes, boolCol{&d.Completed}, timeCol{&d.StartedAt}, nullTimeCol{&d.FinishedAt})
	if err != nil {
		return nil, err
	}
	return &d, nil
}

var errDownloadNotFound = &errs{notFound: "download not found"}

// CreateDownload records d, giving it an id if it has none and the current
// time as StartedAt if it has none (an edge node may report a download
// late, with the time it started). ArtifactID, ProductID and OrgID are the
// grant's: each is filled in from the grant when empty, and one that
// differs is refused with EINVALID, so that the filters of Downloads tell
// the truth. An empty Actor is the grant's actor. ENOTFOUND if the grant
// does not exist.
func (s *store) CreateDownload(ctx context.Context, d *freight.Download) error {
	c := *d
	if c.ID != "" {
		if err := checkID(freight.PrefixDownload, c.ID); err != nil {
			return err
		}
	}
	if !freight.ValidID(freight.PrefixGrant, c.GrantID) {
		return freight.FieldError("grant_id", "must be a grant id")
	}
	if c.Via == "" {
		return freight.FieldError("via", "is required")
	}
	if c.Bytes < 0 {
		return freight.FieldError("bytes", "must not be negative")
	}
	now := s.db.now()
	if c.ID == "" {
		c.ID = s.db.newID(freight.PrefixDownload, now)
	}
	if c.StartedAt.IsZero() {
		c.StartedAt = now
	}
	c.StartedAt, c.FinishedAt = normTime(c.StartedAt), normTimePtr(c.FinishedAt)
	// The grant's totals change first: the update reads the grant and
	// takes its row lock (the one CompleteGrant takes after) in one
	// statement, and a refused download undoes it.
	err := s.inTx(ctx, func(s *store) error {
		var g freight.Grant
		set, args := addRequests(1, c.Bytes, wholeRequest(c.Range, c.Completed))
		err := s.execReturning(ctx, grantDest(&g), `UPDATE grants SET `+set+` WHERE id = ? RETURNING `+grantColumns, append(args, c.GrantID)...)
		if err != nil {
			return s.fail(ctx, err, errGrantNotFound)
		}
		for _, f := range []struct {
			field string
			v     *string
			grant string
		}{
			{"artifact_id", &c.ArtifactID, g.ArtifactID},
			{"product_id", &c.ProductID, g.ProductID},
			{"org_id", &c.OrgID, g.OrgID},
		} {
			switch *f.v {
			case "":
				*f.v = f.grant
			case f.grant:
			default:
				return freight.FieldError(f.field, "is not the grant's")
			}
		}
		if c.Actor == "" {
			c.Actor = g.Actor
		}
		_, err = s.exec(ctx, `INSERT INTO downloads (`+downloadColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.GrantID, c.ArtifactID, c.ProductID, nullString(c.OrgID), c.Actor, c.IP, c.Via, c.Range,
			c.Bytes, c.Completed, c.StartedAt, c.FinishedAt)
		if err != nil {
			return s.fail(ctx, err, &errs{
				idConflict: fmt.Sprintf("a download with id %q already exists", c.ID),
				parents: []parent{
					{constraint: "downloads_grant_id_fkey", table: "grants", id: c.GrantID, notFound: "grant not found"},
				},
			})
		}
		return nil
	})
	if err != nil {
		return err
	}
	*d = c
	return nil
}

// FinishDownload records how a download ended, at the given time (now when
// zero). Every call overwrites what the previous one recorded.
func (s *store) FinishDownload(ctx context.Context, id string, bytes int64, completed bool, at time.Time) error {
	if bytes < 0 {
		return freight.FieldError("bytes", "must not be negative")
	}
	if at.IsZero() {
		at = s.db.now()
	}
	// The grant's totals change by the difference from what the download
	// held, read under its row lock so that two calls for one download
	// count it once.
	return s.inTx(ctx, func(s *store) error {
		var grantID, rng string
		var was int64
		var wasCompleted bool
		lock := ""
		if s.db.dialect == dialectPostgres {
			lock = " FOR UPDATE"
		}
		err := s.queryRow(ctx, `SELECT grant_id, range_header, bytes, completed FROM downloads WHERE id = ?`+lock, id).
			Scan(&grantID, &rng, &was, boolCol{&wasCompleted})
		if err != nil {
			return s.fail(ctx, err, errDownloadNotFound)
		}
		if _, err := s.exec(ctx, `UPDATE downloads SET bytes = ?, completed = ?, finished_at = ? WHERE id = ?`, bytes, completed, at, id); err != nil {
			return s.fail(ctx, err, errDownloadNotFound)
		}
		bytesChange, wholeChange := bytes-was, wholeRequest(rng, completed)-wholeRequest(rng, wasCompleted)
		if bytesChange == 0 && wholeChange == 0 {
			return nil
		}
		set, args := addRequests(0, bytesChange, wholeChange)
		if _, err := s.exec(ctx, `UPDATE grants SET `+set+` WHERE id = ?`, append(args, grantID)...); err != nil {
			return s.fail(ctx, err, nil)
		}
		return nil
	})
}

// Downloads lists downloads newest first by their start time, then id, as
// AuditEvents lists events; the cursor holds the time and the id of the
// last download returned. Unlike other lists, a filter that names an
// organization, product, artifact or grant that does not exist gives an
// empty list, not ENOTFOUND: downloads are history, and outlive the
// organizations they name.
func (s *store) Downloads(ctx context.Context, f freight.DownloadFilter) ([]*freight.Download, string, error) {
	var c conds
	if f.After != "" {
		at, id, err := parseTimeIDCursor(freight.PrefixDownload, f.After)
		if err != nil {
			return nil, "", err
		}
		c.add(`(started_at < ? OR (started_at = ? AND id < ?))`, at, at, id)
	}
	for _, eq := range []struct{ col, v string }{
		{"org_id", f.OrgID},
		{"product_id", f.ProductID},
		{"artifact_id", f.ArtifactID},
		{"grant_id", f.GrantID},
	} {
		if eq.v != "" {
			c.add(eq.col+` = ?`, eq.v)
		}
	}
	if !f.Since.IsZero() {
		c.add(`started_at >= ?`, f.Since)
	}
	if !f.Until.IsZero() {
		c.add(`started_at < ?`, f.Until)
	}
	return listPage(ctx, s, `SELECT `+downloadColumns+` FROM downloads`+c.String()+` ORDER BY started_at DESC, id DESC`, c.args, f.Size(), nil,
		scanDownload, func(d *freight.Download) string { return d.StartedAt.UTC().Format(timeLayout) + "/" + d.ID })
}

// parseTimeIDCursor reads a cursor of a list ordered by time, then id: the
// time in timeLayout, a slash, an id of the given type.
func parseTimeIDCursor(prefix, after string) (time.Time, string, error) {
	ts, id, ok := strings.Cut(after, "/")
	if !ok || !freight.ValidID(prefix, id) {
		return time.Time{}, "", badCursor()
	}
	at, err := time.Parse(timeLayout, ts)
	if err != nil {
		return time.Time{}, "", badCursor()
	}
	return at, id, nil
}

package server

import (
	"cmp"
	"context"
	"encoding/csv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/freight-portal/freight"
)

// catalogEntry is one release the caller may see, with the files it may
// download.
type catalogEntry struct {
	Product   catalogProduct      `json:"product"`
	Release   *freight.Release    `json:"release"`
	Artifacts []*freight.Artifact `json:"artifacts"`
}

type catalogProduct struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
}

// visibleReleases returns every release of the product that the caller
// may see, with its visible files, newest first. When platform or arch is
// set, only files for it (or for "any") count, and a release without such
// a file is left out.
func (s *Server) visibleReleases(ctx context.Context, p freight.Principal, ents []*freight.Entitlement, prod *freight.Product, platform, arch string) ([]catalogEntry, error) {
	now := s.now()
	var out []catalogEntry
	f := freight.ReleaseFilter{ProductID: prod.ID, Page: freight.Page{Limit: freight.MaxPageSize}}
	if !p.Role.IsVendor() {
		f.State = freight.ReleasePublished
	}
	for {
		rels, next, err := s.store.Releases(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, rel := range rels {
			q := freight.AccessQuery{Principal: p, Entitlements: ents, Product: prod, Release: rel, Now: now}
			if !freight.Decide(q).Allowed {
				continue
			}
			arts, err := s.visibleArtifacts(ctx, q, platform, arch)
			if err != nil {
				return nil, err
			}
			if len(arts) == 0 && (platform != "" || arch != "") {
				continue
			}
			out = append(out, catalogEntry{Product: catalogProduct{prod.ID, prod.Slug, prod.Name}, Release: rel, Artifacts: arts})
		}
		if next == "" {
			break
		}
		f.After = next
	}
	slices.SortFunc(out, func(a, b catalogEntry) int { return newer(b.Release, a.Release) })
	return out, nil
}

func (s *Server) visibleArtifacts(ctx context.Context, q freight.AccessQuery, platform, arch string) ([]*freight.Artifact, error) {
	arts := []*freight.Artifact{}
	f := freight.ArtifactFilter{ReleaseID: q.Release.ID, State: freight.ArtifactAvailable, Page: freight.Page{Limit: freight.MaxPageSize}}
	for {
		as, next, err := s.store.Artifacts(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, a := range as {
			q.Artifact = a
			if !freight.Decide(q).Allowed {
				continue
			}
			if platform != "" && a.Platform != platform && a.Platform != "any" || arch != "" && a.Arch != arch && a.Arch != "any" {
				continue
			}
			arts = append(arts, a)
		}
		if next == "" {
			return arts, nil
		}
		f.After = next
	}
}

// newer orders releases by publication time, then by version precedence,
// then by id, so that the order is total and stable across pages.
func newer(a, b *freight.Release) int {
	ta, tb := publishedOrCreated(a), publishedOrCreated(b)
	if c := ta.Compare(tb); c != 0 {
		return c
	}
	va, ea := semver.StrictNewVersion(a.Version)
	vb, eb := semver.StrictNewVersion(b.Version)
	if ea == nil && eb == nil {
		if c := va.Compare(vb); c != 0 {
			return c
		}
	}
	return cmp.Compare(a.ID, b.ID)
}

func publishedOrCreated(r *freight.Release) time.Time {
	if r.PublishedAt != nil {
		return *r.PublishedAt
	}
	return r.CreatedAt
}

// catalog lists, newest first, the releases and files the caller may
// download: for a customer exactly what the entitlement rule allows.
func (s *Server) catalog(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(ctx)
	q := r.URL.Query()
	pg, err := page(q)
	if err != nil {
		return err
	}
	ents, err := s.entitlementsOf(ctx, p)
	if err != nil {
		return err
	}
	all, err := s.catalogEntries(ctx, p, ents, q.Get("product"), q.Get("platform"), q.Get("arch"))
	if err != nil {
		return err
	}
	return writeCatalogPage(w, all, pg)
}

// catalogEntries lists, newest first, every release and file that p may
// see with the entitlements ents, of one product when product is set.
// It is the catalog's own logic, also behind the console's view of what an
// organization sees, so that the two cannot disagree.
func (s *Server) catalogEntries(ctx context.Context, p freight.Principal, ents []*freight.Entitlement, product, platform, arch string) ([]catalogEntry, error) {
	prods, err := s.catalogProducts(ctx, p, ents, product)
	if err != nil {
		return nil, err
	}
	var all []catalogEntry
	for _, prod := range prods {
		es, err := s.visibleReleases(ctx, p, ents, prod, platform, arch)
		if err != nil {
			return nil, err
		}
		all = append(all, es...)
	}
	slices.SortFunc(all, func(a, b catalogEntry) int { return newer(b.Release, a.Release) })
	return all, nil
}

// writeCatalogPage answers one page of a catalog listing.
func writeCatalogPage(w http.ResponseWriter, all []catalogEntry, pg freight.Page) error {
	// The cursor is the id of the last release of the previous page; the
	// order is total, so the page after it is well defined.
	start := 0
	if pg.After != "" {
		i := slices.IndexFunc(all, func(e catalogEntry) bool { return e.Release.ID == pg.After })
		if i < 0 {
			return freight.FieldError("after", "is not a cursor returned by a previous page")
		}
		start = i + 1
	}
	end := min(start+pg.Size(), len(all))
	next := ""
	if end < len(all) {
		next = all[end-1].Release.ID
	}
	writeList(w, all[start:end], next)
	return nil
}

// catalogProducts returns the products whose releases the caller may see:
// those its organization is entitled to, or every product for vendor staff.
func (s *Server) catalogProducts(ctx context.Context, p freight.Principal, ents []*freight.Entitlement, only string) ([]*freight.Product, error) {
	var prods []*freight.Product
	if p.Role.IsVendor() {
		f := freight.ProductFilter{Page: freight.Page{Limit: freight.MaxPageSize}}
		for {
			ps, next, err := s.store.Products(ctx, f)
			if err != nil {
				return nil, err
			}
			prods = append(prods, ps...)
			if next == "" {
				break
			}
			f.After = next
		}
	} else {
		for _, e := range ents {
			prod, err := s.store.Product(ctx, e.ProductID)
			if err != nil {
				return nil, err
			}
			prods = append(prods, prod)
		}
	}
	if only != "" {
		prods = slices.DeleteFunc(prods, func(p *freight.Product) bool { return p.ID != only && p.Slug != only })
	}
	return prods, nil
}

// upgrade answers the newest release the caller may download that is newer
// than ?from=, on ?channel= (default: any the caller sees), with a file for
// ?platform= and ?arch= when given; 204 when there is none.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(ctx)
	q := r.URL.Query()
	from, err := freight.ParseVersion(q.Get("from"))
	if err != nil {
		return freight.FieldError("from", "must be the semantic version you have, like 1.4.2")
	}
	channel := freight.Channel(q.Get("channel"))
	if channel != "" && !channel.Valid() {
		return freight.FieldError("channel", "must be one of stable, rc, beta, alpha, dev")
	}
	ents, err := s.entitlementsOf(ctx, p)
	if err != nil {
		return err
	}
	prods, err := s.catalogProducts(ctx, p, ents, r.PathValue("product"))
	if err != nil {
		return err
	}
	if len(prods) != 1 {
		// Not entitled, or no such product: the same answer.
		return freight.Errorf(freight.ENOTFOUND, "product not found")
	}
	entries, err := s.visibleReleases(ctx, p, ents, prods[0], q.Get("platform"), q.Get("arch"))
	if err != nil {
		return err
	}
	var best *catalogEntry
	var bestV *semver.Version
	for i, e := range entries {
		if e.Release.State != freight.ReleasePublished || len(e.Artifacts) == 0 {
			continue
		}
		if channel != "" && !freight.ChannelVisible([]freight.Channel{channel}, e.Release.Channel) {
			continue
		}
		v, err := semver.StrictNewVersion(e.Release.Version)
		if err != nil || !v.GreaterThan(from) {
			continue
		}
		if bestV == nil || v.GreaterThan(bestV) {
			best, bestV = &entries[i], v
		}
	}
	if best == nil {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	writeJSON(w, http.StatusOK, best)
	return nil
}

// listDownloads lists downloads, newest first: every one for vendor staff,
// their own organization's for org-admins. ?format=csv exports every
// matching download (not one page) as CSV.
func (s *Server) listDownloads(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(ctx)
	q := r.URL.Query()
	f := freight.DownloadFilter{ArtifactID: q.Get("artifact_id"), ProductID: q.Get("product_id"), OrgID: q.Get("org_id"), GrantID: q.Get("grant_id")}
	switch {
	case p.CanRead():
	case p.Role == freight.RoleOrgAdmin:
		if f.OrgID != "" && f.OrgID != p.OrgID {
			return freight.Errorf(freight.EFORBIDDEN, "you may see your own organization's downloads only")
		}
		f.OrgID = p.OrgID
	default:
		return need(p, false, "see downloads")
	}
	var err error
	if f.Page, err = page(q); err != nil {
		return err
	}
	if f.Since, err = queryTime(q, "since"); err != nil {
		return err
	}
	if f.Until, err = queryTime(q, "until"); err != nil {
		return err
	}
	if q.Get("format") != "csv" {
		ds, next, err := s.store.Downloads(ctx, f)
		if err != nil {
			return err
		}
		writeList(w, ds, next)
		return nil
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="downloads.csv"`)
	h.Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	cw.Write([]string{"id", "started_at", "finished_at", "org_id", "product_id", "artifact_id", "grant_id", "actor", "ip", "via", "range", "bytes", "completed"})
	f.Limit = freight.MaxPageSize
	for {
		ds, next, err := s.store.Downloads(ctx, f)
		if err != nil {
			// The header is sent; end the file where the data ends.
			s.logger.ErrorContext(ctx, "exporting downloads", "err", err)
			break
		}
		for _, d := range ds {
			finished := ""
			if d.FinishedAt != nil {
				finished = d.FinishedAt.Format(time.RFC3339Nano)
			}
			cw.Write([]string{d.ID, d.StartedAt.Format(time.RFC3339Nano), finished, d.OrgID, d.ProductID, d.ArtifactID, d.GrantID,
				d.Actor, d.IP, d.Via, csvSafe(d.Range), strconv.FormatInt(d.Bytes, 10), strconv.FormatBool(d.Completed)})
		}
		if next == "" {
			break
		}
		f.After = next
	}
	cw.Flush()
	return nil
}

// csvSafe defuses a value a spreadsheet would run as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

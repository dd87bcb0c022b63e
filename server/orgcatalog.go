package server

import (
	"context"
	"net/http"
	"slices"

	"github.com/freight-portal/freight"
)

// An organization's catalog as vendor staff see it: what the
// organization's members may download now, and what they would see with a
// draft entitlement. Both go through catalogEntries, the code of
// GET /api/v1/catalog, as a member of the organization: the console can
// never show something other than what the customer sees.

// memberOf is the principal of an ordinary member of org, as the catalog
// sees one.
func memberOf(org *freight.Organization) freight.Principal {
	return freight.Principal{Role: freight.RoleMember, OrgID: org.ID}
}

// orgCatalog lists what the members of org see with the entitlements ents,
// newest first.
func (s *Server) orgCatalog(ctx context.Context, org *freight.Organization, ents []*freight.Entitlement) ([]catalogEntry, error) {
	return s.catalogEntries(ctx, memberOf(org), ents, "", "", "")
}

// organizationCatalog answers GET /api/v1/organizations/{org}/catalog:
// the releases and files the organization's members may download now,
// newest first, as the catalog answers them.
func (s *Server) organizationCatalog(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	pg, err := page(q)
	if err != nil {
		return err
	}
	org, err := organizationRef(ctx, s.store, r.PathValue("org"))
	if err != nil {
		return err
	}
	p := memberOf(org)
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

// previewInput is a draft change of an organization's entitlements:
// Entitlement is added (a new one, or the new version of Replaces), and
// Replaces, when set, is left out. Replaces alone previews a deletion.
type previewInput struct {
	Entitlement *entitlementInput `json:"entitlement"`
	Replaces    string            `json:"replaces"`
}

// Changes of a previewed release.
const (
	previewKept    = "kept"    // seen now and with the draft
	previewAdded   = "added"   // seen with the draft only
	previewRemoved = "removed" // seen now only
)

// previewEntry is one release of a preview, with what the draft changes.
type previewEntry struct {
	catalogEntry
	Change string `json:"change"`
}

// previewAnswer lists every release seen now or with the draft, newest
// first, in one answer: a preview is read as a whole.
type previewAnswer struct {
	Items []previewEntry `json:"items"`
}

// previewCatalog answers POST /api/v1/organizations/{org}/catalog/preview:
// what the organization's members would see with a draft entitlement,
// before it is saved, and how that differs from what they see now.
// Nothing is stored.
func (s *Server) previewCatalog(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var in previewInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	org, err := organizationRef(ctx, s.store, r.PathValue("org"))
	if err != nil {
		return err
	}
	if in.Entitlement == nil && in.Replaces == "" {
		return freight.FieldError("entitlement", "is required: the draft entitlement to preview (or replaces, to preview a deletion)")
	}
	p := memberOf(org)
	now, err := s.entitlementsOf(ctx, p)
	if err != nil {
		return err
	}
	draft := slices.Clone(now)
	if in.Replaces != "" {
		i := slices.IndexFunc(draft, func(e *freight.Entitlement) bool { return e.ID == in.Replaces })
		if i < 0 {
			return freight.FieldError("replaces", "is not an entitlement of this organization")
		}
		draft = slices.Delete(draft, i, i+1)
	}
	if in.Entitlement != nil {
		e, err := s.draftEntitlement(ctx, org, now, in.Entitlement, in.Replaces)
		if err != nil {
			return err
		}
		draft = append(draft, e)
	}
	before, err := s.orgCatalog(ctx, org, now)
	if err != nil {
		return err
	}
	after, err := s.orgCatalog(ctx, org, draft)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, previewAnswer{Items: comparePreview(before, after)})
	return nil
}

// draftEntitlement checks a draft as creating (or, when replaces is set,
// changing) the entitlement would, without storing it; now are the
// organization's entitlements.
func (s *Server) draftEntitlement(ctx context.Context, org *freight.Organization, now []*freight.Entitlement, in *entitlementInput, replaces string) (*freight.Entitlement, error) {
	if in.OrgID != "" && in.OrgID != org.ID {
		return nil, freight.FieldError("entitlement.org_id", "must be this organization's id, or left out")
	}
	var old *freight.Entitlement
	for _, e := range now {
		if e.ID == replaces {
			old = e
		}
	}
	if old != nil && in.ProductID == "" {
		in.ProductID = old.ProductID
	}
	if old != nil && in.ProductID != old.ProductID {
		// As changing it would.
		return nil, freight.FieldError("product_id", "cannot change; create an entitlement for the other product")
	}
	if !freight.ValidID(freight.PrefixProduct, in.ProductID) {
		return nil, freight.FieldError("product_id", "must be a product id")
	}
	if _, err := s.store.Product(ctx, in.ProductID); freight.ErrorCode(err) == freight.ENOTFOUND {
		return nil, freight.FieldError("product_id", "no such product")
	} else if err != nil {
		return nil, err
	}
	e := &freight.Entitlement{ID: "draft", OrgID: org.ID, ProductID: in.ProductID}
	in.apply(e)
	if err := e.Validate(); err != nil {
		return nil, err
	}
	// As creating it would: one entitlement per organization and product.
	for _, have := range now {
		if have.ProductID == in.ProductID && have != old {
			return nil, freight.Errorf(freight.ECONFLICT, "the organization already has an entitlement to this product: preview a change of that one instead")
		}
	}
	return e, nil
}

// comparePreview merges the releases seen before and after a change,
// newest first, each marked kept, added or removed.
func comparePreview(before, after []catalogEntry) []previewEntry {
	seen := map[string]bool{}
	for _, e := range before {
		seen[e.Release.ID] = true
	}
	out := []previewEntry{}
	stays := map[string]bool{}
	for _, e := range after {
		change := previewAdded
		if seen[e.Release.ID] {
			change = previewKept
		}
		stays[e.Release.ID] = true
		out = append(out, previewEntry{e, change})
	}
	for _, e := range before {
		if !stays[e.Release.ID] {
			out = append(out, previewEntry{e, previewRemoved})
		}
	}
	slices.SortStableFunc(out, func(a, b previewEntry) int { return newer(b.Release, a.Release) })
	return out
}

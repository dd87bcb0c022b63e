package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

var productTests = []subtest{
	{"CreateGet", testProductCreateGet},
	{"DuplicateSlug", testProductDuplicateSlug},
	{"Invalid", testProductInvalid},
	{"NotFound", testProductNotFound},
	{"Update", testProductUpdate},
	{"UpdateKeepsIDAndCreatedAt", testProductUpdateKeepsIDAndCreatedAt},
	{"UpdateFnError", testProductUpdateFnError},
	{"UpdateInvalid", testProductUpdateInvalid},
	{"UpdateSlugConflict", testProductUpdateSlugConflict},
	{"Pagination", testProductPagination},
	{"Delete", testProductDelete},
	{"DeleteWithReleases", testProductDeleteWithReleases},
}

func testProductCreateGet(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := &freight.Product{Slug: "widget", Name: "Widget Studio", Description: "# Widget\n\nThe\tbest widget.\n"}
	if err := s.CreateProduct(ctx, p); err != nil {
		t.Fatalf("CreateProduct: %v", err)
	}
	checkCreated(t, "CreateProduct", freight.PrefixProduct, p.ID, p.CreatedAt, &p.UpdatedAt)
	got, err := s.Product(ctx, p.ID)
	noErr(t, "Product", err)
	checkSame(t, "Product(id)", got, p)
	got, err = s.ProductBySlug(ctx, "widget")
	noErr(t, "ProductBySlug", err)
	checkSame(t, "ProductBySlug", got, p)

	// Without a description.
	q := MustCreateProduct(t, s, &freight.Product{Slug: "gadget", Name: "Gadget"})
	got, err = s.Product(ctx, q.ID)
	noErr(t, "Product", err)
	checkSame(t, "Product(no description)", got, q)
}

func testProductDuplicateSlug(t *testing.T, s freight.Store) {
	ctx := t.Context()
	first := MustCreateProduct(t, s, newProduct("widget"))
	wantCode(t, "CreateProduct with a taken slug", s.CreateProduct(ctx, &freight.Product{Slug: "widget", Name: "Other"}), freight.ECONFLICT)
	got, err := s.ProductBySlug(ctx, "widget")
	noErr(t, "ProductBySlug", err)
	checkSame(t, "the first product after the conflict", got, first)
	// Organization and product slugs are separate name spaces.
	MustCreateOrganization(t, s, newOrg("widget"))
}

func testProductInvalid(t *testing.T, s freight.Store) {
	for _, p := range []*freight.Product{
		{Slug: "", Name: "No slug"},
		{Slug: "Widget", Name: "Upper"},
		{Slug: "wid_get", Name: "Underscore"},
		{Slug: "widget", Name: ""},
		{Slug: "widget", Name: "Widget", Description: "nul\x00"},
	} {
		wantCode(t, fmt.Sprintf("CreateProduct(%+v)", *p), s.CreateProduct(t.Context(), p), freight.EINVALID)
	}
	if got := listAll(t, productList(t, s, freight.ProductFilter{})); len(got) != 0 {
		t.Errorf("Products after invalid creates = %d, want 0", len(got))
	}
}

func testProductNotFound(t *testing.T, s freight.Store) {
	ctx := t.Context()
	MustCreateProduct(t, s, newProduct("widget"))
	id := missingID(freight.PrefixProduct)
	got, err := s.Product(ctx, id)
	wantCode(t, "Product(missing)", err, freight.ENOTFOUND)
	if got != nil {
		t.Errorf("Product(missing) = %+v, want nil", got)
	}
	got, err = s.ProductBySlug(ctx, "nope")
	wantCode(t, "ProductBySlug(missing)", err, freight.ENOTFOUND)
	if got != nil {
		t.Errorf("ProductBySlug(missing) = %+v, want nil", got)
	}
	called := false
	got, err = s.UpdateProduct(ctx, id, func(*freight.Product) error { called = true; return nil })
	wantCode(t, "UpdateProduct(missing)", err, freight.ENOTFOUND)
	if got != nil || called {
		t.Errorf("UpdateProduct(missing) = %+v, fn called %v; want nil, false", got, called)
	}
	wantCode(t, "DeleteProduct(missing)", s.DeleteProduct(ctx, id), freight.ENOTFOUND)
}

func testProductUpdate(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	var seen freight.Product
	got, err := s.UpdateProduct(ctx, p.ID, func(c *freight.Product) error {
		seen = *c
		c.Slug, c.Name, c.Description = "widget-2", "Widget 2", ""
		return nil
	})
	noErr(t, "UpdateProduct", err)
	checkSame(t, "the product passed to fn", &seen, p)
	want := *p
	want.Slug, want.Name, want.Description, want.UpdatedAt = "widget-2", "Widget 2", "", got.UpdatedAt
	checkSame(t, "UpdateProduct result", got, &want)
	checkUpdated(t, "UpdateProduct", got.CreatedAt, got.UpdatedAt, p.CreatedAt, p.UpdatedAt)
	stored, err := s.ProductBySlug(ctx, "widget-2")
	noErr(t, "ProductBySlug(new slug)", err)
	checkSame(t, "ProductBySlug after update", stored, got)
	_, err = s.ProductBySlug(ctx, "widget")
	wantCode(t, "ProductBySlug(old slug)", err, freight.ENOTFOUND)
}

func testProductUpdateKeepsIDAndCreatedAt(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	otherID := missingID(freight.PrefixProduct)
	got, err := s.UpdateProduct(ctx, p.ID, func(c *freight.Product) error {
		c.ID, c.CreatedAt, c.Name = otherID, ts(-time.Hour*24*400), "Renamed"
		return nil
	})
	wantCodeIn(t, "UpdateProduct changing ID and CreatedAt", err, "", freight.EINVALID)
	if err == nil && (got.ID != p.ID || !got.CreatedAt.Equal(p.CreatedAt)) {
		t.Errorf("UpdateProduct result ID, CreatedAt = %q, %v; want %q, %v", got.ID, got.CreatedAt, p.ID, p.CreatedAt)
	}
	stored, err := s.Product(ctx, p.ID)
	noErr(t, "Product(original id)", err)
	if !stored.CreatedAt.Equal(p.CreatedAt) {
		t.Errorf("stored CreatedAt = %v, want %v", stored.CreatedAt, p.CreatedAt)
	}
	_, err = s.Product(ctx, otherID)
	wantCode(t, "Product(id set by fn)", err, freight.ENOTFOUND)
}

func testProductUpdateFnError(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	got, err := s.UpdateProduct(ctx, p.ID, func(c *freight.Product) error { c.Name = "Not written"; return errSentinel })
	wantSentinel(t, "UpdateProduct with fn failing", err)
	if got != nil {
		t.Errorf("UpdateProduct with fn failing = %+v, want nil", got)
	}
	stored, err := s.Product(ctx, p.ID)
	noErr(t, "Product", err)
	checkSame(t, "Product after a failed update", stored, p)
}

func testProductUpdateInvalid(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	_, err := s.UpdateProduct(ctx, p.ID, func(c *freight.Product) error { c.Slug = "Bad Slug"; return nil })
	wantCode(t, "UpdateProduct with a bad slug", err, freight.EINVALID)
	_, err = s.UpdateProduct(ctx, p.ID, func(c *freight.Product) error { c.Name = ""; return nil })
	wantCode(t, "UpdateProduct with an empty name", err, freight.EINVALID)
	stored, err := s.Product(ctx, p.ID)
	noErr(t, "Product", err)
	checkSame(t, "Product after invalid updates", stored, p)
}

func testProductUpdateSlugConflict(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	MustCreateProduct(t, s, newProduct("gadget"))
	_, err := s.UpdateProduct(ctx, p.ID, func(c *freight.Product) error { c.Slug = "gadget"; return nil })
	wantCode(t, "UpdateProduct to a taken slug", err, freight.ECONFLICT)
	stored, err := s.Product(ctx, p.ID)
	noErr(t, "Product", err)
	checkSame(t, "Product after the conflict", stored, p)
}

func testProductPagination(t *testing.T, s freight.Store) {
	list := productList(t, s, freight.ProductFilter{})
	checkPaging(t, "Products of an empty store", list, productID, nil)
	var want []string
	for i := range 7 {
		want = append(want, MustCreateProduct(t, s, newProduct(fmt.Sprintf("product-%d", i))).ID)
		settle()
	}
	checkPaging(t, "Products", list, productID, want)
}

// A product without releases can be deleted; its entitlements go with it.
func testProductDelete(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	keep := MustCreateProduct(t, s, newProduct("gadget"))
	o := MustCreateOrganization(t, s, newOrg("acme"))
	e := MustCreateEntitlement(t, s, newEntitlement(o.ID, p.ID))
	keepE := MustCreateEntitlement(t, s, newEntitlement(o.ID, keep.ID))

	noErr(t, "DeleteProduct", s.DeleteProduct(ctx, p.ID))
	_, err := s.Product(ctx, p.ID)
	wantCode(t, "Product after delete", err, freight.ENOTFOUND)
	_, err = s.ProductBySlug(ctx, "widget")
	wantCode(t, "ProductBySlug after delete", err, freight.ENOTFOUND)
	_, err = s.Entitlement(ctx, e.ID)
	wantCode(t, "Entitlement of the deleted product", err, freight.ENOTFOUND)
	checkKeys(t, "Entitlements of the organization", entitlementList(t, s, freight.EntitlementFilter{OrgID: o.ID}), entitlementID, []string{keepE.ID})
	wantCode(t, "second DeleteProduct", s.DeleteProduct(ctx, p.ID), freight.ENOTFOUND)
	checkKeys(t, "Products after delete", productList(t, s, freight.ProductFilter{}), productID, []string{keep.ID})
	if _, err := s.Organization(ctx, o.ID); err != nil {
		t.Errorf("Organization: %v, want it kept", err)
	}
}

// A product with releases, drafts included, cannot be deleted, and the
// refused delete changes nothing.
func testProductDeleteWithReleases(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	draftOnly := MustCreateProduct(t, s, newProduct("drafty"))
	draft := MustCreateRelease(t, s, newRelease(draftOnly.ID, "1.0.0"))
	published := MustCreateProduct(t, s, newProduct("shipped"))
	rel := MustCreateRelease(t, s, newRelease(published.ID, "1.0.0"))
	MustPublishRelease(t, s, rel.ID, ts(0))
	e := MustCreateEntitlement(t, s, newEntitlement(o.ID, published.ID))

	for _, p := range []*freight.Product{draftOnly, published} {
		wantCode(t, "DeleteProduct("+p.Slug+") with releases", s.DeleteProduct(ctx, p.ID), freight.ECONFLICT)
		stored, err := s.Product(ctx, p.ID)
		noErr(t, "Product after a refused delete", err)
		checkSame(t, "Product after a refused delete", stored, p)
	}
	if _, err := s.Release(ctx, draft.ID); err != nil {
		t.Errorf("Release after a refused product delete: %v", err)
	}
	if _, err := s.Release(ctx, rel.ID); err != nil {
		t.Errorf("Release after a refused product delete: %v", err)
	}
	if _, err := s.Entitlement(ctx, e.ID); err != nil {
		t.Errorf("Entitlement after a refused product delete: %v", err)
	}

	// Once its last release is gone the product can be deleted.
	noErr(t, "DeleteRelease(draft)", s.DeleteRelease(ctx, draft.ID))
	noErr(t, "DeleteProduct after deleting its draft", s.DeleteProduct(ctx, draftOnly.ID))
}

var releaseTests = []subtest{
	{"CreateGet", testReleaseCreateGet},
	{"CreatedAsDraft", testReleaseCreatedAsDraft},
	{"PublishYankRoundTrip", testReleasePublishYankRoundTrip},
	{"DuplicateVersion", testReleaseDuplicateVersion},
	{"Invalid", testReleaseInvalid},
	{"MissingProduct", testReleaseMissingProduct},
	{"NotFound", testReleaseNotFound},
	{"Update", testReleaseUpdate},
	{"UpdateKeepsIDAndCreatedAt", testReleaseUpdateKeepsIDAndCreatedAt},
	{"UpdateFnError", testReleaseUpdateFnError},
	{"UpdateInvalid", testReleaseUpdateInvalid},
	{"UpdateVersionConflict", testReleaseUpdateVersionConflict},
	{"UpdateParent", testReleaseUpdateParent},
	{"StateTransitions", testReleaseStateTransitions},
	{"Pagination", testReleasePagination},
	{"Filters", testReleaseFilters},
	{"Delete", testReleaseDelete},
	{"DeletePublishedOrYanked", testReleaseDeletePublishedOrYanked},
}

func testReleaseCreateGet(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	r := &freight.Release{ProductID: p.ID, Version: "2.0.0-rc.1+build.7", Channel: freight.ChannelRC, Notes: "## Changes\n\n- faster\n- «unicode»\n"}
	if err := s.CreateRelease(ctx, r); err != nil {
		t.Fatalf("CreateRelease: %v", err)
	}
	checkCreated(t, "CreateRelease", freight.PrefixRelease, r.ID, r.CreatedAt, &r.UpdatedAt)
	if r.State != freight.ReleaseDraft {
		t.Errorf("State after create = %q, want %q", r.State, freight.ReleaseDraft)
	}
	got, err := s.Release(ctx, r.ID)
	noErr(t, "Release", err)
	checkSame(t, "Release(id)", got, r)
	got, err = s.ReleaseByVersion(ctx, p.ID, "2.0.0-rc.1+build.7")
	noErr(t, "ReleaseByVersion", err)
	checkSame(t, "ReleaseByVersion", got, r)
	if got.PublishedAt != nil || got.YankedAt != nil {
		t.Errorf("PublishedAt, YankedAt of a new draft = %v, %v; want nil, nil", got.PublishedAt, got.YankedAt)
	}
}

// A release is created as a draft whatever State the caller passes.
func testReleaseCreatedAsDraft(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	for i, st := range []freight.ReleaseState{freight.ReleasePublished, freight.ReleaseYanked, "", "bogus"} {
		r := newRelease(p.ID, fmt.Sprintf("1.%d.0", i))
		r.State = st
		if err := s.CreateRelease(ctx, r); err != nil {
			t.Errorf("CreateRelease(State %q): %v", st, err)
			continue
		}
		if r.State != freight.ReleaseDraft {
			t.Errorf("CreateRelease(State %q): State after create = %q, want %q", st, r.State, freight.ReleaseDraft)
		}
		got, err := s.Release(ctx, r.ID)
		noErr(t, "Release", err)
		if got.State != freight.ReleaseDraft {
			t.Errorf("CreateRelease(State %q): stored State = %q, want %q", st, got.State, freight.ReleaseDraft)
		}
	}
	checkKeys(t, "Releases(State published)", releaseList(t, s, freight.ReleaseFilter{State: freight.ReleasePublished}), releaseID, []string{})
}

func testReleasePublishYankRoundTrip(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	r := MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	// A time in another zone reads back as the same instant.
	publishedAt := ts(time.Hour).In(time.FixedZone("UTC+5:30", 5*3600+1800))
	pub := MustPublishRelease(t, s, r.ID, publishedAt)
	want := *r
	want.State, want.PublishedAt, want.UpdatedAt = freight.ReleasePublished, &publishedAt, pub.UpdatedAt
	checkSame(t, "published release", pub, &want)
	got, err := s.Release(ctx, r.ID)
	noErr(t, "Release", err)
	checkSame(t, "Release after publish", got, &want)

	yankedAt := ts(48 * time.Hour)
	yanked := MustYankRelease(t, s, r.ID, yankedAt, "broken installer on Windows")
	want.State, want.YankedAt, want.YankReason, want.UpdatedAt = freight.ReleaseYanked, &yankedAt, "broken installer on Windows", yanked.UpdatedAt
	checkSame(t, "yanked release", yanked, &want)
	got, err = s.ReleaseByVersion(ctx, p.ID, "1.0.0")
	noErr(t, "ReleaseByVersion", err)
	checkSame(t, "Release after yank", got, &want)
}

func testReleaseDuplicateVersion(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	q := MustCreateProduct(t, s, newProduct("gadget"))
	first := MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	dup := newRelease(p.ID, "1.0.0")
	dup.Channel = freight.ChannelBeta
	wantCode(t, "CreateRelease with a taken version", s.CreateRelease(ctx, dup), freight.ECONFLICT)
	got, err := s.ReleaseByVersion(ctx, p.ID, "1.0.0")
	noErr(t, "ReleaseByVersion", err)
	checkSame(t, "the first release after the conflict", got, first)
	// The same version in another product is another release.
	other := MustCreateRelease(t, s, newRelease(q.ID, "1.0.0"))
	got, err = s.ReleaseByVersion(ctx, q.ID, "1.0.0")
	noErr(t, "ReleaseByVersion(other product)", err)
	checkSame(t, "ReleaseByVersion(other product)", got, other)
}

func testReleaseInvalid(t *testing.T, s freight.Store) {
	p := MustCreateProduct(t, s, newProduct("widget"))
	for _, r := range []*freight.Release{
		{ProductID: p.ID, Version: "v1.0.0", Channel: freight.ChannelStable},
		{ProductID: p.ID, Version: "v1.0", Channel: freight.ChannelStable},
		{ProductID: p.ID, Version: "1.0", Channel: freight.ChannelStable},
		{ProductID: p.ID, Version: "", Channel: freight.ChannelStable},
		{ProductID: p.ID, Version: "01.0.0", Channel: freight.ChannelStable},
		{ProductID: p.ID, Version: "1.0.0", Channel: "nightly"},
		{ProductID: p.ID, Version: "1.0.0", Channel: ""},
		{ProductID: p.ID, Version: "1.0.0", Channel: freight.ChannelStable, Notes: "esc\x1b[31m"},
	} {
		wantCode(t, fmt.Sprintf("CreateRelease(%q, %q)", r.Version, r.Channel), s.CreateRelease(t.Context(), r), freight.EINVALID)
	}
	checkKeys(t, "Releases after invalid creates", releaseList(t, s, freight.ReleaseFilter{}), releaseID, []string{})
}

func testReleaseMissingProduct(t *testing.T, s freight.Store) {
	err := s.CreateRelease(t.Context(), newRelease(missingID(freight.PrefixProduct), "1.0.0"))
	wantCode(t, "CreateRelease(missing product)", err, freight.ENOTFOUND)
	checkKeys(t, "Releases", releaseList(t, s, freight.ReleaseFilter{}), releaseID, []string{})
}

func testReleaseNotFound(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	id := missingID(freight.PrefixRelease)
	got, err := s.Release(ctx, id)
	wantCode(t, "Release(missing)", err, freight.ENOTFOUND)
	if got != nil {
		t.Errorf("Release(missing) = %+v, want nil", got)
	}
	got, err = s.ReleaseByVersion(ctx, p.ID, "9.9.9")
	wantCode(t, "ReleaseByVersion(missing version)", err, freight.ENOTFOUND)
	if got != nil {
		t.Errorf("ReleaseByVersion(missing version) = %+v, want nil", got)
	}
	got, err = s.ReleaseByVersion(ctx, missingID(freight.PrefixProduct), "1.0.0")
	wantCode(t, "ReleaseByVersion(missing product)", err, freight.ENOTFOUND)
	if got != nil {
		t.Errorf("ReleaseByVersion(missing product) = %+v, want nil", got)
	}
	called := false
	got, err = s.UpdateRelease(ctx, id, func(*freight.Release) error { called = true; return nil })
	wantCode(t, "UpdateRelease(missing)", err, freight.ENOTFOUND)
	if got != nil || called {
		t.Errorf("UpdateRelease(missing) = %+v, fn called %v; want nil, false", got, called)
	}
	wantCode(t, "DeleteRelease(missing)", s.DeleteRelease(ctx, id), freight.ENOTFOUND)
}

func testReleaseUpdate(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	r := MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	var seen freight.Release
	got, err := s.UpdateRelease(ctx, r.ID, func(c *freight.Release) error {
		seen = *c
		c.Version, c.Channel, c.Notes = "1.0.1-beta.1", freight.ChannelBeta, "New notes"
		return nil
	})
	noErr(t, "UpdateRelease", err)
	checkSame(t, "the release passed to fn", &seen, r)
	want := *r
	want.Version, want.Channel, want.Notes, want.UpdatedAt = "1.0.1-beta.1", freight.ChannelBeta, "New notes", got.UpdatedAt
	checkSame(t, "UpdateRelease result", got, &want)
	checkUpdated(t, "UpdateRelease", got.CreatedAt, got.UpdatedAt, r.CreatedAt, r.UpdatedAt)
	stored, err := s.ReleaseByVersion(ctx, p.ID, "1.0.1-beta.1")
	noErr(t, "ReleaseByVersion(new version)", err)
	checkSame(t, "ReleaseByVersion after update", stored, got)
	_, err = s.ReleaseByVersion(ctx, p.ID, "1.0.0")
	wantCode(t, "ReleaseByVersion(old version)", err, freight.ENOTFOUND)
}

func testReleaseUpdateKeepsIDAndCreatedAt(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	r := MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	otherID := missingID(freight.PrefixRelease)
	got, err := s.UpdateRelease(ctx, r.ID, func(c *freight.Release) error {
		c.ID, c.CreatedAt, c.Notes = otherID, ts(-time.Hour*24*400), "changed"
		return nil
	})
	wantCodeIn(t, "UpdateRelease changing ID and CreatedAt", err, "", freight.EINVALID)
	if err == nil && (got.ID != r.ID || !got.CreatedAt.Equal(r.CreatedAt)) {
		t.Errorf("UpdateRelease result ID, CreatedAt = %q, %v; want %q, %v", got.ID, got.CreatedAt, r.ID, r.CreatedAt)
	}
	stored, err := s.Release(ctx, r.ID)
	noErr(t, "Release(original id)", err)
	if !stored.CreatedAt.Equal(r.CreatedAt) {
		t.Errorf("stored CreatedAt = %v, want %v", stored.CreatedAt, r.CreatedAt)
	}
	_, err = s.Release(ctx, otherID)
	wantCode(t, "Release(id set by fn)", err, freight.ENOTFOUND)
}

func testReleaseUpdateFnError(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	r := MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	got, err := s.UpdateRelease(ctx, r.ID, func(c *freight.Release) error {
		c.State, c.PublishedAt = freight.ReleasePublished, ptr(ts(0))
		return errSentinel
	})
	wantSentinel(t, "UpdateRelease with fn failing", err)
	if got != nil {
		t.Errorf("UpdateRelease with fn failing = %+v, want nil", got)
	}
	stored, err := s.Release(ctx, r.ID)
	noErr(t, "Release", err)
	checkSame(t, "Release after a failed update", stored, r)
}

func testReleaseUpdateInvalid(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	r := MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	for name, fn := range map[string]func(*freight.Release){
		"version v2.0.0":  func(c *freight.Release) { c.Version = "v2.0.0" },
		"channel nightly": func(c *freight.Release) { c.Channel = "nightly" },
		"state bogus":     func(c *freight.Release) { c.State = "bogus" },
		"empty state":     func(c *freight.Release) { c.State = "" },
	} {
		_, err := s.UpdateRelease(ctx, r.ID, func(c *freight.Release) error { fn(c); return nil })
		wantCode(t, "UpdateRelease with "+name, err, freight.EINVALID)
	}
	stored, err := s.Release(ctx, r.ID)
	noErr(t, "Release", err)
	checkSame(t, "Release after invalid updates", stored, r)
}

func testReleaseUpdateVersionConflict(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	r := MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	MustCreateRelease(t, s, newRelease(p.ID, "1.1.0"))
	_, err := s.UpdateRelease(ctx, r.ID, func(c *freight.Release) error { c.Version = "1.1.0"; return nil })
	wantCode(t, "UpdateRelease to a taken version", err, freight.ECONFLICT)
	stored, err := s.Release(ctx, r.ID)
	noErr(t, "Release", err)
	checkSame(t, "Release after the conflict", stored, r)
}

// The life of a release goes one way: draft → published → yanked. A
// published release never becomes a draft again (it could then be deleted,
// which store.go forbids for published releases), and a yanked release is
// "never served again" (release states, product.go). Refused transitions
// are ECONFLICT ("a state transition is not allowed").
func testReleaseStateTransitions(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	pub := MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	pub = MustPublishRelease(t, s, pub.ID, ts(0))
	_, err := s.UpdateRelease(ctx, pub.ID, func(c *freight.Release) error { c.State = freight.ReleaseDraft; return nil })
	wantCode(t, "UpdateRelease published → draft", err, freight.ECONFLICT)
	stored, err := s.Release(ctx, pub.ID)
	noErr(t, "Release", err)
	checkSame(t, "Release after a refused transition", stored, pub)

	yanked := MustCreateRelease(t, s, newRelease(p.ID, "1.1.0"))
	MustPublishRelease(t, s, yanked.ID, ts(time.Hour))
	yanked = MustYankRelease(t, s, yanked.ID, ts(2*time.Hour), "bad")
	for _, st := range []freight.ReleaseState{freight.ReleasePublished, freight.ReleaseDraft} {
		_, err := s.UpdateRelease(ctx, yanked.ID, func(c *freight.Release) error { c.State = st; c.YankedAt = nil; c.YankReason = ""; return nil })
		wantCode(t, fmt.Sprintf("UpdateRelease yanked → %s", st), err, freight.ECONFLICT)
	}
	stored, err = s.Release(ctx, yanked.ID)
	noErr(t, "Release", err)
	checkSame(t, "Release after refused transitions", stored, yanked)

	// A yanked release may still have its notes and reason edited.
	got, err := s.UpdateRelease(ctx, yanked.ID, func(c *freight.Release) error { c.YankReason = "broken checksum"; return nil })
	noErr(t, "UpdateRelease of a yanked release's reason", err)
	if got.State != freight.ReleaseYanked || got.YankReason != "broken checksum" {
		t.Errorf("State, YankReason = %q, %q; want %q, %q", got.State, got.YankReason, freight.ReleaseYanked, "broken checksum")
	}
}

// Releases are listed newest created first.
func testReleasePagination(t *testing.T, s freight.Store) {
	p := MustCreateProduct(t, s, newProduct("widget"))
	list := releaseList(t, s, freight.ReleaseFilter{})
	checkPaging(t, "Releases of an empty store", list, releaseID, nil)
	var created []string
	for i := range 7 {
		// Versions go down while creation goes on, so that sorting by
		// version instead of creation shows.
		created = append(created, MustCreateRelease(t, s, newRelease(p.ID, fmt.Sprintf("1.%d.0", 9-i))).ID)
		settle()
	}
	checkPaging(t, "Releases", list, releaseID, reversed(created))
}

func testReleaseFilters(t *testing.T, s freight.Store) {
	ctx := t.Context()
	widget := MustCreateProduct(t, s, newProduct("widget"))
	gadget := MustCreateProduct(t, s, newProduct("gadget"))
	empty := MustCreateProduct(t, s, newProduct("empty"))
	type rel struct {
		product *freight.Product
		channel freight.Channel
		state   freight.ReleaseState
	}
	plan := []rel{
		{widget, freight.ChannelStable, freight.ReleasePublished},
		{gadget, freight.ChannelStable, freight.ReleaseDraft},
		{widget, freight.ChannelBeta, freight.ReleaseDraft},
		{widget, freight.ChannelStable, freight.ReleaseYanked},
		{gadget, freight.ChannelBeta, freight.ReleasePublished},
		{widget, freight.ChannelStable, freight.ReleaseDraft},
		{widget, freight.ChannelDev, freight.ReleasePublished},
		{gadget, freight.ChannelStable, freight.ReleasePublished},
	}
	var all []*freight.Release
	for i, pl := range plan {
		r := newRelease(pl.product.ID, fmt.Sprintf("1.0.%d", i))
		r.Channel = pl.channel
		MustCreateRelease(t, s, r)
		if pl.state != freight.ReleaseDraft {
			MustPublishRelease(t, s, r.ID, ts(time.Duration(i)*time.Hour))
			r.State = freight.ReleasePublished
		}
		if pl.state == freight.ReleaseYanked {
			MustYankRelease(t, s, r.ID, ts(time.Duration(i)*time.Hour+time.Minute), "bad")
			r.State = freight.ReleaseYanked
		}
		all = append(all, r)
		settle()
	}
	match := func(keep func(*freight.Release) bool) []string {
		var ids []string
		for _, r := range reversed(all) {
			if keep(r) {
				ids = append(ids, r.ID)
			}
		}
		return ids
	}
	for _, tc := range []struct {
		name string
		f    freight.ReleaseFilter
		keep func(*freight.Release) bool
	}{
		{"all", freight.ReleaseFilter{}, func(*freight.Release) bool { return true }},
		{"product widget", freight.ReleaseFilter{ProductID: widget.ID}, func(r *freight.Release) bool { return r.ProductID == widget.ID }},
		{"product gadget", freight.ReleaseFilter{ProductID: gadget.ID}, func(r *freight.Release) bool { return r.ProductID == gadget.ID }},
		{"product without releases", freight.ReleaseFilter{ProductID: empty.ID}, func(*freight.Release) bool { return false }},
		{"state draft", freight.ReleaseFilter{State: freight.ReleaseDraft}, func(r *freight.Release) bool { return r.State == freight.ReleaseDraft }},
		{"state published", freight.ReleaseFilter{State: freight.ReleasePublished}, func(r *freight.Release) bool { return r.State == freight.ReleasePublished }},
		{"state yanked", freight.ReleaseFilter{State: freight.ReleaseYanked}, func(r *freight.Release) bool { return r.State == freight.ReleaseYanked }},
		{"channel stable", freight.ReleaseFilter{Channel: freight.ChannelStable}, func(r *freight.Release) bool { return r.Channel == freight.ChannelStable }},
		{"channel beta", freight.ReleaseFilter{Channel: freight.ChannelBeta}, func(r *freight.Release) bool { return r.Channel == freight.ChannelBeta }},
		{"channel rc", freight.ReleaseFilter{Channel: freight.ChannelRC}, func(r *freight.Release) bool { return false }},
		{"widget published stable", freight.ReleaseFilter{ProductID: widget.ID, State: freight.ReleasePublished, Channel: freight.ChannelStable},
			func(r *freight.Release) bool {
				return r.ProductID == widget.ID && r.State == freight.ReleasePublished && r.Channel == freight.ChannelStable
			}},
		{"gadget published", freight.ReleaseFilter{ProductID: gadget.ID, State: freight.ReleasePublished},
			func(r *freight.Release) bool { return r.ProductID == gadget.ID && r.State == freight.ReleasePublished }},
	} {
		checkPaging(t, "Releases("+tc.name+")", releaseList(t, s, tc.f), releaseID, match(tc.keep))
	}
	// Methods that return a slice answer ENOTFOUND when the filter names
	// an object that does not exist (store.go), not an empty list.
	_, _, err := s.Releases(ctx, freight.ReleaseFilter{ProductID: missingID(freight.PrefixProduct)})
	wantCode(t, "Releases(ProductID missing)", err, freight.ENOTFOUND)
}

// Deleting a draft deletes its artifacts; nothing else goes.
func testReleaseDelete(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	r := MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	keep := MustCreateRelease(t, s, newRelease(p.ID, "1.1.0"))
	a1 := MustCreateArtifact(t, s, newArtifact(r.ID, "widget-1.0.0.tar.gz"))
	a2 := MustCreateArtifact(t, s, newArtifact(r.ID, "widget-1.0.0.zip"))
	keepA := MustCreateArtifact(t, s, newArtifact(keep.ID, "widget-1.1.0.tar.gz"))

	noErr(t, "DeleteRelease(draft)", s.DeleteRelease(ctx, r.ID))
	_, err := s.Release(ctx, r.ID)
	wantCode(t, "Release after delete", err, freight.ENOTFOUND)
	_, err = s.ReleaseByVersion(ctx, p.ID, "1.0.0")
	wantCode(t, "ReleaseByVersion after delete", err, freight.ENOTFOUND)
	for _, a := range []*freight.Artifact{a1, a2} {
		_, err := s.Artifact(ctx, a.ID)
		wantCode(t, "Artifact "+a.Filename+" of the deleted release", err, freight.ENOTFOUND)
	}
	checkKeys(t, "Artifacts after delete", artifactList(t, s, freight.ArtifactFilter{}), artifactID, []string{keepA.ID})
	checkKeys(t, "Releases after delete", releaseList(t, s, freight.ReleaseFilter{}), releaseID, []string{keep.ID})
	wantCode(t, "second DeleteRelease", s.DeleteRelease(ctx, r.ID), freight.ENOTFOUND)
	MustCreateRelease(t, s, newRelease(p.ID, "1.0.0")) // the version is free again
}

// Published and yanked releases are never deleted.
func testReleaseDeletePublishedOrYanked(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	pub := MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	a := MustCreateArtifact(t, s, newArtifact(pub.ID, "widget-1.0.0.tar.gz"))
	pub = MustPublishRelease(t, s, pub.ID, ts(0))
	yanked := MustCreateRelease(t, s, newRelease(p.ID, "1.1.0"))
	MustPublishRelease(t, s, yanked.ID, ts(time.Hour))
	yanked = MustYankRelease(t, s, yanked.ID, ts(2*time.Hour), "bad")

	for _, r := range []*freight.Release{pub, yanked} {
		wantCode(t, "DeleteRelease("+string(r.State)+")", s.DeleteRelease(ctx, r.ID), freight.ECONFLICT)
		stored, err := s.Release(ctx, r.ID)
		noErr(t, "Release after a refused delete", err)
		checkSame(t, "Release after a refused delete", stored, r)
	}
	stored, err := s.Artifact(ctx, a.ID)
	noErr(t, "Artifact of a release that was not deleted", err)
	checkSame(t, "Artifact of a release that was not deleted", stored, a)
}

var artifactTests = []subtest{
	{"CreateGet", testArtifactCreateGet},
	{"DuplicateFilename", testArtifactDuplicateFilename},
	{"Invalid", testArtifactInvalid},
	{"MissingRelease", testArtifactMissingRelease},
	{"NotFound", testArtifactNotFound},
	{"Update", testArtifactUpdate},
	{"UpdateKeepsIDAndCreatedAt", testArtifactUpdateKeepsIDAndCreatedAt},
	{"UpdateFnError", testArtifactUpdateFnError},
	{"UpdateInvalid", testArtifactUpdateInvalid},
	{"UpdateParent", testArtifactUpdateParent},
	{"AvailableIsImmutable", testArtifactAvailableIsImmutable},
	{"Pagination", testArtifactPagination},
	{"Filters", testArtifactFilters},
	{"Delete", testArtifactDelete},
}

const sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func testArtifactCreateGet(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	r := MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	a := &freight.Artifact{ReleaseID: r.ID, Filename: "Widget_Setup-1.0.0+x64.exe", Platform: "windows", Arch: "x86_64", Size: 40 << 30, State: freight.ArtifactUploading}
	if err := s.CreateArtifact(ctx, a); err != nil {
		t.Fatalf("CreateArtifact: %v", err)
	}
	checkCreated(t, "CreateArtifact", freight.PrefixArtifact, a.ID, a.CreatedAt, &a.UpdatedAt)
	got, err := s.Artifact(ctx, a.ID)
	noErr(t, "Artifact", err)
	checkSame(t, "Artifact(id)", got, a)
	if got.Size != 40<<30 {
		t.Errorf("Size = %d, want %d (sizes beyond 32 bits)", got.Size, int64(40<<30))
	}

	// One with every optional field set.
	b := &freight.Artifact{ReleaseID: r.ID, Filename: "widget.tar.gz", Platform: "any", Arch: "any", Size: 0, SHA256: sha, State: freight.ArtifactFailed, Error: "size mismatch: got 3 bytes, want 4"}
	MustCreateArtifact(t, s, b)
	got, err = s.Artifact(ctx, b.ID)
	noErr(t, "Artifact", err)
	checkSame(t, "Artifact(id) with every field", got, b)
}

func testArtifactDuplicateFilename(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	r := MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	r2 := MustCreateRelease(t, s, newRelease(p.ID, "1.1.0"))
	first := MustCreateArtifact(t, s, newArtifact(r.ID, "widget.tar.gz"))
	dup := newArtifact(r.ID, "widget.tar.gz")
	dup.Platform = "macos"
	wantCode(t, "CreateArtifact with a taken filename", s.CreateArtifact(ctx, dup), freight.ECONFLICT)
	checkKeys(t, "Artifacts of the release", artifactList(t, s, freight.ArtifactFilter{ReleaseID: r.ID}), artifactID, []string{first.ID})
	// The same filename in another release is fine.
	other := MustCreateArtifact(t, s, newArtifact(r2.ID, "widget.tar.gz"))
	// Renaming onto a taken filename is a conflict too.
	second := MustCreateArtifact(t, s, newArtifact(r.ID, "widget.zip"))
	_, err := s.UpdateArtifact(ctx, second.ID, func(a *freight.Artifact) error { a.Filename = "widget.tar.gz"; return nil })
	wantCode(t, "UpdateArtifact to a taken filename", err, freight.ECONFLICT)
	stored, err := s.Artifact(ctx, second.ID)
	noErr(t, "Artifact", err)
	checkSame(t, "Artifact after the conflict", stored, second)
	stored, err = s.Artifact(ctx, other.ID)
	noErr(t, "Artifact", err)
	checkSame(t, "Artifact of the other release", stored, other)
}

func testArtifactInvalid(t *testing.T, s freight.Store) {
	p := MustCreateProduct(t, s, newProduct("widget"))
	r := MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	mk := func(mod func(*freight.Artifact)) *freight.Artifact {
		a := newArtifact(r.ID, "widget.tar.gz")
		mod(a)
		return a
	}
	for name, a := range map[string]*freight.Artifact{
		"path filename":  mk(func(a *freight.Artifact) { a.Filename = "../etc/passwd" }),
		"slash filename": mk(func(a *freight.Artifact) { a.Filename = "dir/widget.tar.gz" }),
		"dot filename":   mk(func(a *freight.Artifact) { a.Filename = ".hidden" }),
		"empty filename": mk(func(a *freight.Artifact) { a.Filename = "" }),
		"upper platform": mk(func(a *freight.Artifact) { a.Platform = "Linux" }),
		"empty arch":     mk(func(a *freight.Artifact) { a.Arch = "" }),
		"negative size":  mk(func(a *freight.Artifact) { a.Size = -1 }),
		"upper-case sha256": mk(func(a *freight.Artifact) {
			a.SHA256 = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
		}),
		"short sha256":       mk(func(a *freight.Artifact) { a.SHA256 = "abc" }),
		"unknown state":      mk(func(a *freight.Artifact) { a.State = "done" }),
		"control characters": mk(func(a *freight.Artifact) { a.Filename = "a\nb" }),
	} {
		wantCode(t, "CreateArtifact with "+name, s.CreateArtifact(t.Context(), a), freight.EINVALID)
	}
	checkKeys(t, "Artifacts after invalid creates", artifactList(t, s, freight.ArtifactFilter{}), artifactID, []string{})

	// No state is either refused or the start of the upload life, as a
	// release without a state starts as a draft.
	a := newArtifact(r.ID, "widget.tar.gz")
	a.State = ""
	err := s.CreateArtifact(t.Context(), a)
	wantCodeIn(t, "CreateArtifact with no state", err, "", freight.EINVALID)
	if err == nil {
		if a.State != freight.ArtifactUploading {
			t.Errorf("State after create with no state = %q, want %q", a.State, freight.ArtifactUploading)
		}
		got, err := s.Artifact(t.Context(), a.ID)
		noErr(t, "Artifact", err)
		if got.State != freight.ArtifactUploading {
			t.Errorf("stored State after create with no state = %q, want %q", got.State, freight.ArtifactUploading)
		}
	}
}

func testArtifactMissingRelease(t *testing.T, s freight.Store) {
	err := s.CreateArtifact(t.Context(), newArtifact(missingID(freight.PrefixRelease), "widget.tar.gz"))
	wantCode(t, "CreateArtifact(missing release)", err, freight.ENOTFOUND)
	checkKeys(t, "Artifacts", artifactList(t, s, freight.ArtifactFilter{}), artifactID, []string{})
}

func testArtifactNotFound(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	r := MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	MustCreateArtifact(t, s, newArtifact(r.ID, "widget.tar.gz"))
	id := missingID(freight.PrefixArtifact)
	got, err := s.Artifact(ctx, id)
	wantCode(t, "Artifact(missing)", err, freight.ENOTFOUND)
	if got != nil {
		t.Errorf("Artifact(missing) = %+v, want nil", got)
	}
	called := false
	got, err = s.UpdateArtifact(ctx, id, func(*freight.Artifact) error { called = true; return nil })
	wantCode(t, "UpdateArtifact(missing)", err, freight.ENOTFOUND)
	if got != nil || called {
		t.Errorf("UpdateArtifact(missing) = %+v, fn called %v; want nil, false", got, called)
	}
	wantCode(t, "DeleteArtifact(missing)", s.DeleteArtifact(ctx, id), freight.ENOTFOUND)
}

// The upload life of an artifact: uploading → verifying → available, or
// failed with a reason.
func testArtifactUpdate(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	r := MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	a := MustCreateArtifact(t, s, newArtifact(r.ID, "widget.tar.gz"))
	var seen freight.Artifact
	got, err := s.UpdateArtifact(ctx, a.ID, func(c *freight.Artifact) error {
		seen = *c
		c.State = freight.ArtifactVerifying
		return nil
	})
	noErr(t, "UpdateArtifact(verifying)", err)
	checkSame(t, "the artifact passed to fn", &seen, a)
	checkUpdated(t, "UpdateArtifact", got.CreatedAt, got.UpdatedAt, a.CreatedAt, a.UpdatedAt)
	prev := got
	got, err = s.UpdateArtifact(ctx, a.ID, func(c *freight.Artifact) error {
		c.State, c.SHA256, c.Size = freight.ArtifactAvailable, sha, 4
		return nil
	})
	noErr(t, "UpdateArtifact(available)", err)
	want := *a
	want.State, want.SHA256, want.Size, want.UpdatedAt = freight.ArtifactAvailable, sha, 4, got.UpdatedAt
	checkSame(t, "UpdateArtifact result", got, &want)
	checkUpdated(t, "UpdateArtifact", got.CreatedAt, got.UpdatedAt, prev.CreatedAt, prev.UpdatedAt)
	stored, err := s.Artifact(ctx, a.ID)
	noErr(t, "Artifact", err)
	checkSame(t, "Artifact after update", stored, got)

	b := MustCreateArtifact(t, s, newArtifact(r.ID, "widget.zip"))
	got, err = s.UpdateArtifact(ctx, b.ID, func(c *freight.Artifact) error {
		c.State, c.Error = freight.ArtifactFailed, "sha256 mismatch"
		return nil
	})
	noErr(t, "UpdateArtifact(failed)", err)
	stored, err = s.Artifact(ctx, b.ID)
	noErr(t, "Artifact", err)
	checkSame(t, "failed Artifact", stored, got)
	if stored.State != freight.ArtifactFailed || stored.Error != "sha256 mismatch" {
		t.Errorf("State, Error = %q, %q; want %q, %q", stored.State, stored.Error, freight.ArtifactFailed, "sha256 mismatch")
	}
}

func testArtifactUpdateKeepsIDAndCreatedAt(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	r := MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	a := MustCreateArtifact(t, s, newArtifact(r.ID, "widget.tar.gz"))
	otherID := missingID(freight.PrefixArtifact)
	got, err := s.UpdateArtifact(ctx, a.ID, func(c *freight.Artifact) error {
		c.ID, c.CreatedAt, c.State = otherID, ts(-time.Hour*24*400), freight.ArtifactVerifying
		return nil
	})
	wantCodeIn(t, "UpdateArtifact changing ID and CreatedAt", err, "", freight.EINVALID)
	if err == nil && (got.ID != a.ID || !got.CreatedAt.Equal(a.CreatedAt)) {
		t.Errorf("UpdateArtifact result ID, CreatedAt = %q, %v; want %q, %v", got.ID, got.CreatedAt, a.ID, a.CreatedAt)
	}
	stored, err := s.Artifact(ctx, a.ID)
	noErr(t, "Artifact(original id)", err)
	if !stored.CreatedAt.Equal(a.CreatedAt) {
		t.Errorf("stored CreatedAt = %v, want %v", stored.CreatedAt, a.CreatedAt)
	}
	_, err = s.Artifact(ctx, otherID)
	wantCode(t, "Artifact(id set by fn)", err, freight.ENOTFOUND)
}

func testArtifactUpdateFnError(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	r := MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	a := MustCreateArtifact(t, s, newArtifact(r.ID, "widget.tar.gz"))
	got, err := s.UpdateArtifact(ctx, a.ID, func(c *freight.Artifact) error {
		c.State, c.SHA256 = freight.ArtifactAvailable, sha
		return errSentinel
	})
	wantSentinel(t, "UpdateArtifact with fn failing", err)
	if got != nil {
		t.Errorf("UpdateArtifact with fn failing = %+v, want nil", got)
	}
	stored, err := s.Artifact(ctx, a.ID)
	noErr(t, "Artifact", err)
	checkSame(t, "Artifact after a failed update", stored, a)
}

func testArtifactUpdateInvalid(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	r := MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	a := MustCreateArtifact(t, s, newArtifact(r.ID, "widget.tar.gz"))
	for name, fn := range map[string]func(*freight.Artifact){
		"unknown state":  func(c *freight.Artifact) { c.State = "done" },
		"bad sha256":     func(c *freight.Artifact) { c.SHA256 = "xyz" },
		"path filename":  func(c *freight.Artifact) { c.Filename = "../x" },
		"negative size":  func(c *freight.Artifact) { c.Size = -5 },
		"upper platform": func(c *freight.Artifact) { c.Platform = "Windows" },
	} {
		_, err := s.UpdateArtifact(ctx, a.ID, func(c *freight.Artifact) error { fn(c); return nil })
		wantCode(t, "UpdateArtifact with "+name, err, freight.EINVALID)
	}
	stored, err := s.Artifact(ctx, a.ID)
	noErr(t, "Artifact", err)
	checkSame(t, "Artifact after invalid updates", stored, a)
}

// "The artifact is immutable once available" (product.go): the bytes it
// names cannot change under customers who already downloaded them, so a
// store refuses to change the digest, the size or the filename of an
// available artifact, or to send it back to uploading, with ECONFLICT (a
// state transition that is not allowed).
func testArtifactAvailableIsImmutable(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	r := MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	a := MustCreateArtifact(t, s, newArtifact(r.ID, "widget.tar.gz"))
	a, err := s.UpdateArtifact(ctx, a.ID, func(c *freight.Artifact) error {
		c.State, c.SHA256, c.Size = freight.ArtifactAvailable, sha, 4
		return nil
	})
	noErr(t, "UpdateArtifact(available)", err)
	for name, fn := range map[string]func(*freight.Artifact){
		"sha256": func(c *freight.Artifact) {
			c.SHA256 = "0000000000000000000000000000000000000000000000000000000000000000"
		},
		"size":         func(c *freight.Artifact) { c.Size = 5 },
		"filename":     func(c *freight.Artifact) { c.Filename = "other.tar.gz" },
		"to uploading": func(c *freight.Artifact) { c.State = freight.ArtifactUploading },
	} {
		_, err := s.UpdateArtifact(ctx, a.ID, func(c *freight.Artifact) error { fn(c); return nil })
		wantCode(t, "UpdateArtifact of an available artifact's "+name, err, freight.ECONFLICT)
	}
	stored, err := s.Artifact(ctx, a.ID)
	noErr(t, "Artifact", err)
	checkSame(t, "available Artifact after refused updates", stored, a)
}

func testArtifactPagination(t *testing.T, s freight.Store) {
	p := MustCreateProduct(t, s, newProduct("widget"))
	r := MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	list := artifactList(t, s, freight.ArtifactFilter{})
	checkPaging(t, "Artifacts of an empty store", list, artifactID, nil)
	var want []string
	for i := range 7 {
		// Filenames go down while creation goes on, so that sorting by
		// name instead of id shows.
		want = append(want, MustCreateArtifact(t, s, newArtifact(r.ID, fmt.Sprintf("file-%d.bin", 9-i))).ID)
		settle()
	}
	checkPaging(t, "Artifacts", list, artifactID, want)
}

func testArtifactFilters(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	r1 := MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	r2 := MustCreateRelease(t, s, newRelease(p.ID, "2.0.0"))
	empty := MustCreateRelease(t, s, newRelease(p.ID, "3.0.0"))
	states := []freight.ArtifactState{freight.ArtifactUploading, freight.ArtifactAvailable, freight.ArtifactFailed, freight.ArtifactAvailable, freight.ArtifactVerifying, freight.ArtifactAvailable, freight.ArtifactUploading}
	var all []*freight.Artifact
	for i, st := range states {
		rel := r1
		if i%2 == 1 {
			rel = r2
		}
		a := newArtifact(rel.ID, fmt.Sprintf("file-%d.bin", i))
		a.State = st
		if st == freight.ArtifactAvailable {
			a.SHA256 = sha
		}
		all = append(all, MustCreateArtifact(t, s, a))
		settle()
	}
	match := func(keep func(*freight.Artifact) bool) []string {
		var ids []string
		for _, a := range all {
			if keep(a) {
				ids = append(ids, a.ID)
			}
		}
		return ids
	}
	for _, tc := range []struct {
		name string
		f    freight.ArtifactFilter
		keep func(*freight.Artifact) bool
	}{
		{"release 1", freight.ArtifactFilter{ReleaseID: r1.ID}, func(a *freight.Artifact) bool { return a.ReleaseID == r1.ID }},
		{"release 2", freight.ArtifactFilter{ReleaseID: r2.ID}, func(a *freight.Artifact) bool { return a.ReleaseID == r2.ID }},
		{"release without artifacts", freight.ArtifactFilter{ReleaseID: empty.ID}, func(*freight.Artifact) bool { return false }},
		{"available", freight.ArtifactFilter{State: freight.ArtifactAvailable}, func(a *freight.Artifact) bool { return a.State == freight.ArtifactAvailable }},
		{"uploading", freight.ArtifactFilter{State: freight.ArtifactUploading}, func(a *freight.Artifact) bool { return a.State == freight.ArtifactUploading }},
		{"release 2 available", freight.ArtifactFilter{ReleaseID: r2.ID, State: freight.ArtifactAvailable},
			func(a *freight.Artifact) bool { return a.ReleaseID == r2.ID && a.State == freight.ArtifactAvailable }},
		{"release 1 available", freight.ArtifactFilter{ReleaseID: r1.ID, State: freight.ArtifactAvailable},
			func(a *freight.Artifact) bool { return a.ReleaseID == r1.ID && a.State == freight.ArtifactAvailable }},
	} {
		checkPaging(t, "Artifacts("+tc.name+")", artifactList(t, s, tc.f), artifactID, match(tc.keep))
	}
	// Methods that return a slice answer ENOTFOUND when the filter names
	// an object that does not exist (store.go), not an empty list.
	_, _, err := s.Artifacts(ctx, freight.ArtifactFilter{ReleaseID: missingID(freight.PrefixRelease)})
	wantCode(t, "Artifacts(ReleaseID missing)", err, freight.ENOTFOUND)
}

func testArtifactDelete(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	r := MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	a := MustCreateArtifact(t, s, newArtifact(r.ID, "widget.tar.gz"))
	keep := MustCreateArtifact(t, s, newArtifact(r.ID, "widget.zip"))
	noErr(t, "DeleteArtifact", s.DeleteArtifact(ctx, a.ID))
	_, err := s.Artifact(ctx, a.ID)
	wantCode(t, "Artifact after delete", err, freight.ENOTFOUND)
	wantCode(t, "second DeleteArtifact", s.DeleteArtifact(ctx, a.ID), freight.ENOTFOUND)
	checkKeys(t, "Artifacts after delete", artifactList(t, s, freight.ArtifactFilter{}), artifactID, []string{keep.ID})
	if _, err := s.Release(ctx, r.ID); err != nil {
		t.Errorf("Release after DeleteArtifact: %v", err)
	}
	MustCreateArtifact(t, s, newArtifact(r.ID, "widget.tar.gz")) // the filename is free again
}

// UpdateRelease writes what fn returns; only the id and the creation time
// cannot change (store.go). A store may refuse to move a release to another
// product with EINVALID, but must not report success and keep the old one.
func testReleaseUpdateParent(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	p2 := MustCreateProduct(t, s, newProduct("gadget"))
	r := MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	got, err := s.UpdateRelease(ctx, r.ID, func(c *freight.Release) error { c.ProductID = p2.ID; return nil })
	wantCodeIn(t, "UpdateRelease to another product", err, "", freight.EINVALID)
	stored, serr := s.Release(ctx, r.ID)
	noErr(t, "Release", serr)
	if err == nil {
		if got.ProductID != p2.ID || stored.ProductID != p2.ID {
			t.Errorf("UpdateRelease succeeded, result and stored ProductID = %s, %s; want what fn set, %s (or an error)", got.ProductID, stored.ProductID, p2.ID)
		}
	} else {
		checkSame(t, "Release after a refused move", stored, r)
	}
}

// As for releases: an artifact moved to another release is moved, or the
// move is refused; never silently ignored.
func testArtifactUpdateParent(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	r := MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	r2 := MustCreateRelease(t, s, newRelease(p.ID, "2.0.0"))
	a := MustCreateArtifact(t, s, newArtifact(r.ID, "widget.tar.gz"))
	got, err := s.UpdateArtifact(ctx, a.ID, func(c *freight.Artifact) error { c.ReleaseID = r2.ID; return nil })
	wantCodeIn(t, "UpdateArtifact to another release", err, "", freight.EINVALID)
	stored, serr := s.Artifact(ctx, a.ID)
	noErr(t, "Artifact", serr)
	if err == nil {
		if got.ReleaseID != r2.ID || stored.ReleaseID != r2.ID {
			t.Errorf("UpdateArtifact succeeded, result and stored ReleaseID = %s, %s; want what fn set, %s (or an error)", got.ReleaseID, stored.ReleaseID, r2.ID)
		}
	} else {
		checkSame(t, "Artifact after a refused move", stored, a)
	}
}

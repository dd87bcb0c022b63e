package storetest

import (
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

var entitlementTests = []subtest{
	{"CreateGet", testEntitlementCreateGet},
	{"OptionalFieldsRoundTrip", testEntitlementOptionalFieldsRoundTrip},
	{"DuplicateOrgProduct", testEntitlementDuplicateOrgProduct},
	{"Invalid", testEntitlementInvalid},
	{"MissingOrgOrProduct", testEntitlementMissingOrgOrProduct},
	{"NotFound", testEntitlementNotFound},
	{"Update", testEntitlementUpdate},
	{"UpdateKeepsIDAndCreatedAt", testEntitlementUpdateKeepsIDAndCreatedAt},
	{"UpdateFnError", testEntitlementUpdateFnError},
	{"UpdateInvalid", testEntitlementUpdateInvalid},
	{"UpdateParent", testEntitlementUpdateParent},
	{"Pagination", testEntitlementPagination},
	{"Filters", testEntitlementFilters},
	{"Delete", testEntitlementDelete},
}

func fullEntitlement(orgID, productID string) *freight.Entitlement {
	ist := time.FixedZone("IST", 5*3600+1800)
	return &freight.Entitlement{
		OrgID:     orgID,
		ProductID: productID,
		// Unsorted and with a duplicate: the store keeps the normalised
		// list, which Create writes back into the struct.
		Channels:         []freight.Channel{freight.ChannelBeta, freight.ChannelStable, freight.ChannelBeta},
		VersionRange:     ">= 2.0, < 3.0",
		MaintenanceUntil: ptr(ts(365 * 24 * time.Hour)),
		NotBefore:        ptr(ts(-24 * time.Hour).In(ist)),
		NotAfter:         ptr(ts(2 * 365 * 24 * time.Hour)),
		Platforms:        []string{"windows", "linux"},
		Arches:           []string{"x86_64", "arm64", "x86_64"},
		Limits:           freight.DownloadLimits{Downloads: 100, Bytes: 5 << 40, Period: freight.LimitMonth},
	}
}

func testEntitlementCreateGet(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	e := fullEntitlement(o.ID, p.ID)
	if err := s.CreateEntitlement(ctx, e); err != nil {
		t.Fatalf("CreateEntitlement: %v", err)
	}
	checkCreated(t, "CreateEntitlement", freight.PrefixEntitlement, e.ID, e.CreatedAt, &e.UpdatedAt)
	got, err := s.Entitlement(ctx, e.ID)
	noErr(t, "Entitlement", err)
	checkSame(t, "Entitlement(id)", got, e)

	// The lists come back normalised: sorted, without duplicates.
	checkSame(t, "Entitlement.Channels", got.Channels, []freight.Channel{freight.ChannelBeta, freight.ChannelStable})
	checkSame(t, "Entitlement.Platforms", got.Platforms, []string{"linux", "windows"})
	checkSame(t, "Entitlement.Arches", got.Arches, []string{"arm64", "x86_64"})
}

// Absent optional clauses stay absent (nil pointers, empty lists, zero
// limits) and present ones stay present, through create and update.
func testEntitlementOptionalFieldsRoundTrip(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	e := MustCreateEntitlement(t, s, newEntitlement(o.ID, p.ID))
	got, err := s.Entitlement(ctx, e.ID)
	noErr(t, "Entitlement", err)
	checkSame(t, "minimal Entitlement", got, e)
	if got.MaintenanceUntil != nil || got.NotBefore != nil || got.NotAfter != nil {
		t.Errorf("MaintenanceUntil, NotBefore, NotAfter = %v, %v, %v; want nil, nil, nil", got.MaintenanceUntil, got.NotBefore, got.NotAfter)
	}
	if len(got.Platforms) != 0 || len(got.Arches) != 0 || got.VersionRange != "" || got.Limits != (freight.DownloadLimits{}) {
		t.Errorf("Platforms, Arches, VersionRange, Limits = %q, %q, %q, %+v; want all empty", got.Platforms, got.Arches, got.VersionRange, got.Limits)
	}

	// Set every clause, one pointer at a time being the only one set.
	for name, set := range map[string]func(*freight.Entitlement){
		"MaintenanceUntil only": func(c *freight.Entitlement) { c.MaintenanceUntil = ptr(ts(time.Hour)) },
		"NotBefore only":        func(c *freight.Entitlement) { c.NotBefore = ptr(ts(2 * time.Hour)) },
		"NotAfter only":         func(c *freight.Entitlement) { c.NotAfter = ptr(ts(3 * time.Hour)) },
		"everything": func(c *freight.Entitlement) {
			full := fullEntitlement(c.OrgID, c.ProductID)
			full.ID, full.CreatedAt, full.UpdatedAt = c.ID, c.CreatedAt, c.UpdatedAt
			*c = *full
		},
		"limits without period": func(c *freight.Entitlement) { c.Limits = freight.DownloadLimits{Downloads: 3} },
		"bytes per day": func(c *freight.Entitlement) {
			c.Limits = freight.DownloadLimits{Bytes: 1 << 33, Period: freight.LimitDay}
		},
	} {
		upd, err := s.UpdateEntitlement(ctx, e.ID, func(c *freight.Entitlement) error {
			// Start from the minimal entitlement each time.
			c.Channels = []freight.Channel{freight.ChannelStable}
			c.VersionRange, c.MaintenanceUntil, c.NotBefore, c.NotAfter = "", nil, nil, nil
			c.Platforms, c.Arches, c.Limits = nil, nil, freight.DownloadLimits{}
			set(c)
			return nil
		})
		if err != nil {
			t.Errorf("UpdateEntitlement(%s): %v", name, err)
			continue
		}
		stored, err := s.Entitlement(ctx, e.ID)
		noErr(t, "Entitlement", err)
		checkSame(t, "Entitlement after setting "+name, stored, upd)
	}

	// And back to nothing.
	upd, err := s.UpdateEntitlement(ctx, e.ID, func(c *freight.Entitlement) error {
		c.VersionRange, c.MaintenanceUntil, c.NotBefore, c.NotAfter = "", nil, nil, nil
		c.Platforms, c.Arches, c.Limits = nil, nil, freight.DownloadLimits{}
		return nil
	})
	noErr(t, "UpdateEntitlement(clear)", err)
	stored, err := s.Entitlement(ctx, e.ID)
	noErr(t, "Entitlement", err)
	checkSame(t, "Entitlement after clearing", stored, upd)
	if stored.MaintenanceUntil != nil || stored.NotBefore != nil || stored.NotAfter != nil || len(stored.Platforms) != 0 || len(stored.Arches) != 0 {
		t.Errorf("cleared Entitlement = %+v, want every optional clause absent", *stored)
	}
}

func testEntitlementDuplicateOrgProduct(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	o2 := MustCreateOrganization(t, s, newOrg("globex"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	p2 := MustCreateProduct(t, s, newProduct("gadget"))
	first := MustCreateEntitlement(t, s, newEntitlement(o.ID, p.ID))
	dup := newEntitlement(o.ID, p.ID)
	dup.Channels = []freight.Channel{freight.ChannelBeta}
	wantCode(t, "CreateEntitlement for a taken organization×product", s.CreateEntitlement(ctx, dup), freight.ECONFLICT)
	stored, err := s.Entitlement(ctx, first.ID)
	noErr(t, "Entitlement", err)
	checkSame(t, "the first entitlement after the conflict", stored, first)
	// Same organization, other product; same product, other organization.
	MustCreateEntitlement(t, s, newEntitlement(o.ID, p2.ID))
	other := MustCreateEntitlement(t, s, newEntitlement(o2.ID, p.ID))
	// Moving an entitlement onto a taken pair is a conflict too, or
	// refused as invalid by a store where OrgID cannot change.
	_, err = s.UpdateEntitlement(ctx, other.ID, func(c *freight.Entitlement) error { c.OrgID = o.ID; return nil })
	wantCodeIn(t, "UpdateEntitlement onto a taken organization×product", err, freight.ECONFLICT, freight.EINVALID)
	stored, err = s.Entitlement(ctx, other.ID)
	noErr(t, "Entitlement", err)
	checkSame(t, "Entitlement after the conflict", stored, other)
}

func testEntitlementInvalid(t *testing.T, s freight.Store) {
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	mk := func(mod func(*freight.Entitlement)) *freight.Entitlement {
		e := newEntitlement(o.ID, p.ID)
		mod(e)
		return e
	}
	for name, e := range map[string]*freight.Entitlement{
		"no channels":           mk(func(e *freight.Entitlement) { e.Channels = nil }),
		"unknown channel":       mk(func(e *freight.Entitlement) { e.Channels = []freight.Channel{"nightly"} }),
		"bad version range":     mk(func(e *freight.Entitlement) { e.VersionRange = ">= banana" }),
		"window ends first":     mk(func(e *freight.Entitlement) { e.NotBefore, e.NotAfter = ptr(ts(time.Hour)), ptr(ts(0)) }),
		"empty window":          mk(func(e *freight.Entitlement) { e.NotBefore, e.NotAfter = ptr(ts(0)), ptr(ts(0)) }),
		"bad platform":          mk(func(e *freight.Entitlement) { e.Platforms = []string{"Windows 11"} }),
		"bad arch":              mk(func(e *freight.Entitlement) { e.Arches = []string{""} }),
		"negative download cap": mk(func(e *freight.Entitlement) { e.Limits.Downloads = -1 }),
		"negative byte cap":     mk(func(e *freight.Entitlement) { e.Limits.Bytes = -1 }),
		"unknown limit period":  mk(func(e *freight.Entitlement) { e.Limits.Period = "year" }),
	} {
		wantCode(t, "CreateEntitlement with "+name, s.CreateEntitlement(t.Context(), e), freight.EINVALID)
	}
	checkKeys(t, "Entitlements after invalid creates", entitlementList(t, s, freight.EntitlementFilter{}), entitlementID, []string{})
}

func testEntitlementMissingOrgOrProduct(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	err := s.CreateEntitlement(ctx, newEntitlement(missingID(freight.PrefixOrganization), p.ID))
	wantCode(t, "CreateEntitlement(missing organization)", err, freight.ENOTFOUND)
	err = s.CreateEntitlement(ctx, newEntitlement(o.ID, missingID(freight.PrefixProduct)))
	wantCode(t, "CreateEntitlement(missing product)", err, freight.ENOTFOUND)
	checkKeys(t, "Entitlements", entitlementList(t, s, freight.EntitlementFilter{}), entitlementID, []string{})
	// Methods that return a slice answer ENOTFOUND when the filter names
	// an object that does not exist (store.go), not an empty list.
	_, _, err = s.Entitlements(ctx, freight.EntitlementFilter{OrgID: missingID(freight.PrefixOrganization)})
	wantCode(t, "Entitlements(OrgID missing)", err, freight.ENOTFOUND)
	_, _, err = s.Entitlements(ctx, freight.EntitlementFilter{ProductID: missingID(freight.PrefixProduct)})
	wantCode(t, "Entitlements(ProductID missing)", err, freight.ENOTFOUND)
}

func testEntitlementNotFound(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	MustCreateEntitlement(t, s, newEntitlement(o.ID, p.ID))
	id := missingID(freight.PrefixEntitlement)
	got, err := s.Entitlement(ctx, id)
	wantCode(t, "Entitlement(missing)", err, freight.ENOTFOUND)
	if got != nil {
		t.Errorf("Entitlement(missing) = %+v, want nil", got)
	}
	called := false
	got, err = s.UpdateEntitlement(ctx, id, func(*freight.Entitlement) error { called = true; return nil })
	wantCode(t, "UpdateEntitlement(missing)", err, freight.ENOTFOUND)
	if got != nil || called {
		t.Errorf("UpdateEntitlement(missing) = %+v, fn called %v; want nil, false", got, called)
	}
	wantCode(t, "DeleteEntitlement(missing)", s.DeleteEntitlement(ctx, id), freight.ENOTFOUND)
}

func testEntitlementUpdate(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	e := MustCreateEntitlement(t, s, fullEntitlement(o.ID, p.ID))
	var seen freight.Entitlement
	got, err := s.UpdateEntitlement(ctx, e.ID, func(c *freight.Entitlement) error {
		seen = *c
		c.Channels = []freight.Channel{freight.ChannelDev, freight.ChannelAlpha}
		c.VersionRange = "~2.4"
		c.NotAfter = nil
		c.Platforms = []string{"macos"}
		c.Limits = freight.DownloadLimits{Downloads: 5, Period: freight.LimitWeek}
		return nil
	})
	noErr(t, "UpdateEntitlement", err)
	checkSame(t, "the entitlement passed to fn", &seen, e)
	want := *e
	want.Channels = []freight.Channel{freight.ChannelAlpha, freight.ChannelDev} // normalised
	want.VersionRange, want.NotAfter, want.Platforms = "~2.4", nil, []string{"macos"}
	want.Limits = freight.DownloadLimits{Downloads: 5, Period: freight.LimitWeek}
	want.UpdatedAt = got.UpdatedAt
	checkSame(t, "UpdateEntitlement result", got, &want)
	checkUpdated(t, "UpdateEntitlement", got.CreatedAt, got.UpdatedAt, e.CreatedAt, e.UpdatedAt)
	stored, err := s.Entitlement(ctx, e.ID)
	noErr(t, "Entitlement", err)
	checkSame(t, "Entitlement after update", stored, &want)
}

func testEntitlementUpdateKeepsIDAndCreatedAt(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	e := MustCreateEntitlement(t, s, newEntitlement(o.ID, p.ID))
	otherID := missingID(freight.PrefixEntitlement)
	got, err := s.UpdateEntitlement(ctx, e.ID, func(c *freight.Entitlement) error {
		c.ID, c.CreatedAt, c.VersionRange = otherID, ts(-time.Hour*24*400), "2.x"
		return nil
	})
	wantCodeIn(t, "UpdateEntitlement changing ID and CreatedAt", err, "", freight.EINVALID)
	if err == nil && (got.ID != e.ID || !got.CreatedAt.Equal(e.CreatedAt)) {
		t.Errorf("UpdateEntitlement result ID, CreatedAt = %q, %v; want %q, %v", got.ID, got.CreatedAt, e.ID, e.CreatedAt)
	}
	stored, err := s.Entitlement(ctx, e.ID)
	noErr(t, "Entitlement(original id)", err)
	if !stored.CreatedAt.Equal(e.CreatedAt) {
		t.Errorf("stored CreatedAt = %v, want %v", stored.CreatedAt, e.CreatedAt)
	}
	_, err = s.Entitlement(ctx, otherID)
	wantCode(t, "Entitlement(id set by fn)", err, freight.ENOTFOUND)
}

func testEntitlementUpdateFnError(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	e := MustCreateEntitlement(t, s, fullEntitlement(o.ID, p.ID))
	got, err := s.UpdateEntitlement(ctx, e.ID, func(c *freight.Entitlement) error {
		c.Channels, c.NotAfter = []freight.Channel{freight.ChannelDev}, nil
		return errSentinel
	})
	wantSentinel(t, "UpdateEntitlement with fn failing", err)
	if got != nil {
		t.Errorf("UpdateEntitlement with fn failing = %+v, want nil", got)
	}
	stored, err := s.Entitlement(ctx, e.ID)
	noErr(t, "Entitlement", err)
	checkSame(t, "Entitlement after a failed update", stored, e)
}

func testEntitlementUpdateInvalid(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	e := MustCreateEntitlement(t, s, fullEntitlement(o.ID, p.ID))
	for name, fn := range map[string]func(*freight.Entitlement){
		"no channels":       func(c *freight.Entitlement) { c.Channels = nil },
		"bad version range": func(c *freight.Entitlement) { c.VersionRange = "latest please" },
		"window ends first": func(c *freight.Entitlement) { c.NotAfter = ptr(c.NotBefore.Add(-time.Second)) },
	} {
		_, err := s.UpdateEntitlement(ctx, e.ID, func(c *freight.Entitlement) error { fn(c); return nil })
		wantCode(t, "UpdateEntitlement with "+name, err, freight.EINVALID)
	}
	// Moving it to a missing product names a missing object (or is
	// refused as invalid by a store where ProductID cannot change).
	_, err := s.UpdateEntitlement(ctx, e.ID, func(c *freight.Entitlement) error { c.ProductID = missingID(freight.PrefixProduct); return nil })
	wantCodeIn(t, "UpdateEntitlement to a missing product", err, freight.ENOTFOUND, freight.EINVALID)
	stored, err := s.Entitlement(ctx, e.ID)
	noErr(t, "Entitlement", err)
	checkSame(t, "Entitlement after invalid updates", stored, e)
}

func testEntitlementPagination(t *testing.T, s freight.Store) {
	list := entitlementList(t, s, freight.EntitlementFilter{})
	checkPaging(t, "Entitlements of an empty store", list, entitlementID, nil)
	o := MustCreateOrganization(t, s, newOrg("acme"))
	var want []string
	for i := range 7 {
		p := MustCreateProduct(t, s, newProduct("product-"+string(rune('a'+6-i))))
		want = append(want, MustCreateEntitlement(t, s, newEntitlement(o.ID, p.ID)).ID)
		settle()
	}
	checkPaging(t, "Entitlements", list, entitlementID, want)
}

func testEntitlementFilters(t *testing.T, s freight.Store) {
	var orgs []*freight.Organization
	var products []*freight.Product
	for _, slug := range []string{"a", "b", "c"} {
		orgs = append(orgs, MustCreateOrganization(t, s, newOrg("org-"+slug)))
		products = append(products, MustCreateProduct(t, s, newProduct("product-"+slug)))
	}
	lonely := MustCreateOrganization(t, s, newOrg("lonely"))
	unsold := MustCreateProduct(t, s, newProduct("unsold"))
	byOrg := map[string][]string{}
	byProduct := map[string][]string{}
	pair := map[[2]int]string{}
	for i, o := range orgs {
		for j, p := range products {
			if i == 2 && j == 0 {
				continue
			}
			e := MustCreateEntitlement(t, s, newEntitlement(o.ID, p.ID))
			byOrg[o.ID] = append(byOrg[o.ID], e.ID)
			byProduct[p.ID] = append(byProduct[p.ID], e.ID)
			pair[[2]int{i, j}] = e.ID
			settle()
		}
	}
	for _, o := range orgs {
		checkPaging(t, "Entitlements(OrgID "+o.Slug+")", entitlementList(t, s, freight.EntitlementFilter{OrgID: o.ID}), entitlementID, byOrg[o.ID])
	}
	for _, p := range products {
		checkPaging(t, "Entitlements(ProductID "+p.Slug+")", entitlementList(t, s, freight.EntitlementFilter{ProductID: p.ID}), entitlementID, byProduct[p.ID])
	}
	checkKeys(t, "Entitlements(OrgID, ProductID)", entitlementList(t, s, freight.EntitlementFilter{OrgID: orgs[1].ID, ProductID: products[2].ID}),
		entitlementID, []string{pair[[2]int{1, 2}]})
	checkKeys(t, "Entitlements(OrgID, ProductID) of a pair without one", entitlementList(t, s, freight.EntitlementFilter{OrgID: orgs[2].ID, ProductID: products[0].ID}),
		entitlementID, []string{})
	checkKeys(t, "Entitlements(OrgID without entitlements)", entitlementList(t, s, freight.EntitlementFilter{OrgID: lonely.ID}), entitlementID, []string{})
	checkKeys(t, "Entitlements(ProductID without entitlements)", entitlementList(t, s, freight.EntitlementFilter{ProductID: unsold.ID}), entitlementID, []string{})
}

func testEntitlementDelete(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	q := MustCreateProduct(t, s, newProduct("gadget"))
	e := MustCreateEntitlement(t, s, newEntitlement(o.ID, p.ID))
	keep := MustCreateEntitlement(t, s, newEntitlement(o.ID, q.ID))
	noErr(t, "DeleteEntitlement", s.DeleteEntitlement(ctx, e.ID))
	_, err := s.Entitlement(ctx, e.ID)
	wantCode(t, "Entitlement after delete", err, freight.ENOTFOUND)
	wantCode(t, "second DeleteEntitlement", s.DeleteEntitlement(ctx, e.ID), freight.ENOTFOUND)
	checkKeys(t, "Entitlements after delete", entitlementList(t, s, freight.EntitlementFilter{}), entitlementID, []string{keep.ID})
	for _, err := range []error{
		func() error { _, err := s.Organization(ctx, o.ID); return err }(),
		func() error { _, err := s.Product(ctx, p.ID); return err }(),
	} {
		if err != nil {
			t.Errorf("after DeleteEntitlement: %v, want the organization and product kept", err)
		}
	}
	MustCreateEntitlement(t, s, newEntitlement(o.ID, p.ID)) // the pair is free again
}

// UpdateEntitlement writes what fn returns; only the id and the creation
// time cannot change (store.go). A store may also refuse to move an
// entitlement to another organization or product with EINVALID, but it must
// not report success and silently keep the old ones.
func testEntitlementUpdateParent(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	o2 := MustCreateOrganization(t, s, newOrg("globex"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	p2 := MustCreateProduct(t, s, newProduct("gadget"))
	e := MustCreateEntitlement(t, s, newEntitlement(o.ID, p.ID))
	got, err := s.UpdateEntitlement(ctx, e.ID, func(c *freight.Entitlement) error { c.OrgID, c.ProductID = o2.ID, p2.ID; return nil })
	wantCodeIn(t, "UpdateEntitlement to another organization and product", err, "", freight.EINVALID)
	stored, serr := s.Entitlement(ctx, e.ID)
	noErr(t, "Entitlement", serr)
	if err == nil {
		if got.OrgID != o2.ID || got.ProductID != p2.ID {
			t.Errorf("UpdateEntitlement result OrgID, ProductID = %s, %s; want what fn set, %s, %s (or an error)", got.OrgID, got.ProductID, o2.ID, p2.ID)
		}
		if stored.OrgID != o2.ID || stored.ProductID != p2.ID {
			t.Errorf("UpdateEntitlement succeeded but stored OrgID, ProductID = %s, %s; want what fn set, %s, %s", stored.OrgID, stored.ProductID, o2.ID, p2.ID)
		}
	} else {
		checkSame(t, "Entitlement after a refused move", stored, e)
	}
}

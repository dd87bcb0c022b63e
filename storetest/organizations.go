package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

var organizationTests = []subtest{
	{"CreateGet", testOrganizationCreateGet},
	{"DuplicateSlug", testOrganizationDuplicateSlug},
	{"Invalid", testOrganizationInvalid},
	{"NotFound", testOrganizationNotFound},
	{"MalformedID", testOrganizationMalformedID},
	{"Update", testOrganizationUpdate},
	{"UpdateKeepsIDAndCreatedAt", testOrganizationUpdateKeepsIDAndCreatedAt},
	{"UpdateFnError", testOrganizationUpdateFnError},
	{"UpdateInvalid", testOrganizationUpdateInvalid},
	{"UpdateSlugConflict", testOrganizationUpdateSlugConflict},
	{"Pagination", testOrganizationPagination},
	{"PageSizeLimits", testOrganizationPageSizeLimits},
	{"BadCursor", testOrganizationBadCursor},
	{"Delete", testOrganizationDelete},
	{"DeleteCascade", testOrganizationDeleteCascade},
	{"RequireMFA", testOrganizationRequireMFA},
}

func testOrganizationCreateGet(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := &freight.Organization{Slug: "acme", Name: "Acme Corp — Ünïcode"}
	if err := s.CreateOrganization(ctx, o); err != nil {
		t.Fatalf("CreateOrganization: %v", err)
	}
	checkCreated(t, "CreateOrganization", freight.PrefixOrganization, o.ID, o.CreatedAt, &o.UpdatedAt)
	if got, want := o.Slug, "acme"; got != want {
		t.Errorf("Slug after create = %q, want %q", got, want)
	}

	got, err := s.Organization(ctx, o.ID)
	noErr(t, "Organization", err)
	checkSame(t, "Organization(id)", got, o)

	got, err = s.OrganizationBySlug(ctx, "acme")
	noErr(t, "OrganizationBySlug", err)
	checkSame(t, "OrganizationBySlug", got, o)

	// What the caller does with its structs afterwards does not reach the store.
	o.Name = "changed by the caller"
	got.Name = "changed by the caller"
	again, err := s.Organization(ctx, o.ID)
	noErr(t, "Organization", err)
	if want := "Acme Corp — Ünïcode"; again.Name != want {
		t.Errorf("Name after the caller changed its copies = %q, want %q", again.Name, want)
	}

	// A second organization gets its own id.
	o2 := MustCreateOrganization(t, s, newOrg("globex"))
	if o2.ID == o.ID {
		t.Errorf("two organizations got the same id %q", o.ID)
	}
}

func testOrganizationDuplicateSlug(t *testing.T, s freight.Store) {
	ctx := t.Context()
	first := MustCreateOrganization(t, s, newOrg("acme"))
	err := s.CreateOrganization(ctx, &freight.Organization{Slug: "acme", Name: "Another"})
	wantCode(t, "CreateOrganization with a taken slug", err, freight.ECONFLICT)

	got, err := s.OrganizationBySlug(ctx, "acme")
	noErr(t, "OrganizationBySlug", err)
	checkSame(t, "the first organization after the conflict", got, first)
	if list := listAll(t, orgList(t, s, freight.OrganizationFilter{})); len(list) != 1 {
		t.Errorf("Organizations after the conflict = %d, want 1", len(list))
	}
}

func testOrganizationInvalid(t *testing.T, s freight.Store) {
	for _, o := range []*freight.Organization{
		{Slug: "", Name: "No slug"},
		{Slug: "Acme", Name: "Upper case"},
		{Slug: "acme corp", Name: "Space"},
		{Slug: "-acme", Name: "Leading dash"},
		{Slug: "acme", Name: ""},
		{Slug: "acme", Name: "   "},
		{Slug: "acme", Name: "bell\a"},
	} {
		err := s.CreateOrganization(t.Context(), o)
		wantCode(t, fmt.Sprintf("CreateOrganization(%+v)", *o), err, freight.EINVALID)
	}
	if list := listAll(t, orgList(t, s, freight.OrganizationFilter{})); len(list) != 0 {
		t.Errorf("Organizations after invalid creates = %d, want 0", len(list))
	}
}

func testOrganizationNotFound(t *testing.T, s freight.Store) {
	ctx := t.Context()
	MustCreateOrganization(t, s, newOrg("acme"))
	id := missingID(freight.PrefixOrganization)

	got, err := s.Organization(ctx, id)
	wantCode(t, "Organization(missing)", err, freight.ENOTFOUND)
	if got != nil {
		t.Errorf("Organization(missing) = %+v, want nil", got)
	}
	got, err = s.OrganizationBySlug(ctx, "nope")
	wantCode(t, "OrganizationBySlug(missing)", err, freight.ENOTFOUND)
	if got != nil {
		t.Errorf("OrganizationBySlug(missing) = %+v, want nil", got)
	}
	called := false
	got, err = s.UpdateOrganization(ctx, id, func(o *freight.Organization) error { called = true; return nil })
	wantCode(t, "UpdateOrganization(missing)", err, freight.ENOTFOUND)
	if got != nil {
		t.Errorf("UpdateOrganization(missing) = %+v, want nil", got)
	}
	if called {
		t.Errorf("UpdateOrganization(missing) called fn, want no call: there is nothing to update")
	}
	wantCode(t, "DeleteOrganization(missing)", s.DeleteOrganization(ctx, id), freight.ENOTFOUND)
}

// An id of the wrong type or shape names no organization. The store may say
// so with ENOTFOUND or refuse the id with EINVALID, but never succeed or fail
// with an internal error.
func testOrganizationMalformedID(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	for _, id := range []string{"", "nope", p.ID, "org_'; DROP TABLE organizations; --"} {
		_, err := s.Organization(ctx, id)
		wantCodeIn(t, fmt.Sprintf("Organization(%q)", id), err, freight.ENOTFOUND, freight.EINVALID)
	}
}

func testOrganizationUpdate(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	other := MustCreateOrganization(t, s, newOrg("globex"))

	var seen freight.Organization
	got, err := s.UpdateOrganization(ctx, o.ID, func(c *freight.Organization) error {
		seen = *c
		c.Name = "Acme Renamed"
		c.Slug = "acme-renamed"
		return nil
	})
	noErr(t, "UpdateOrganization", err)
	checkSame(t, "the organization passed to fn", &seen, o)

	want := *o
	want.Name, want.Slug, want.UpdatedAt = "Acme Renamed", "acme-renamed", got.UpdatedAt
	checkSame(t, "UpdateOrganization result", got, &want)
	checkUpdated(t, "UpdateOrganization", got.CreatedAt, got.UpdatedAt, o.CreatedAt, o.UpdatedAt)

	stored, err := s.Organization(ctx, o.ID)
	noErr(t, "Organization", err)
	checkSame(t, "Organization after update", stored, got)
	bySlug, err := s.OrganizationBySlug(ctx, "acme-renamed")
	noErr(t, "OrganizationBySlug(new slug)", err)
	checkSame(t, "OrganizationBySlug(new slug)", bySlug, got)
	_, err = s.OrganizationBySlug(ctx, "acme")
	wantCode(t, "OrganizationBySlug(old slug)", err, freight.ENOTFOUND)

	// The other organization is untouched.
	otherNow, err := s.Organization(ctx, other.ID)
	noErr(t, "Organization(other)", err)
	checkSame(t, "the other organization", otherNow, other)

	// The old slug is free again.
	MustCreateOrganization(t, s, newOrg("acme"))
}

// fn cannot change the id, the creation time, or set the update time: the
// store either ignores such changes or refuses them with EINVALID, and in
// both cases the stored organization keeps its identity.
func testOrganizationUpdateKeepsIDAndCreatedAt(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	otherID := missingID(freight.PrefixOrganization)
	got, err := s.UpdateOrganization(ctx, o.ID, func(c *freight.Organization) error {
		c.ID = otherID
		c.CreatedAt = ts(-24 * time.Hour * 365)
		c.UpdatedAt = ts(-24 * time.Hour * 365)
		c.Name = "Renamed"
		return nil
	})
	wantCodeIn(t, "UpdateOrganization changing ID and CreatedAt", err, "", freight.EINVALID)
	if err == nil {
		if got.ID != o.ID {
			t.Errorf("ID after update = %q, want %q", got.ID, o.ID)
		}
		if !got.CreatedAt.Equal(o.CreatedAt) {
			t.Errorf("CreatedAt after update = %v, want %v", got.CreatedAt, o.CreatedAt)
		}
		if got.UpdatedAt.Before(o.UpdatedAt) {
			t.Errorf("UpdatedAt after update = %v (set by fn?), want at least %v", got.UpdatedAt, o.UpdatedAt)
		}
	}
	stored, err := s.Organization(ctx, o.ID)
	noErr(t, "Organization(original id)", err)
	if !stored.CreatedAt.Equal(o.CreatedAt) {
		t.Errorf("stored CreatedAt = %v, want %v", stored.CreatedAt, o.CreatedAt)
	}
	if stored.UpdatedAt.Before(o.UpdatedAt) {
		t.Errorf("stored UpdatedAt = %v, want at least %v", stored.UpdatedAt, o.UpdatedAt)
	}
	_, err = s.Organization(ctx, otherID)
	wantCode(t, "Organization(id set by fn)", err, freight.ENOTFOUND)
	if list := listAll(t, orgList(t, s, freight.OrganizationFilter{})); len(list) != 1 {
		t.Errorf("Organizations = %d, want 1", len(list))
	}
}

func testOrganizationUpdateFnError(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	got, err := s.UpdateOrganization(ctx, o.ID, func(c *freight.Organization) error {
		c.Name = "Should not be written"
		c.Slug = "not-written"
		return errSentinel
	})
	wantSentinel(t, "UpdateOrganization with fn failing", err)
	if got != nil {
		t.Errorf("UpdateOrganization with fn failing = %+v, want nil", got)
	}
	stored, err := s.Organization(ctx, o.ID)
	noErr(t, "Organization", err)
	checkSame(t, "Organization after a failed update", stored, o)
}

func testOrganizationUpdateInvalid(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	for name, fn := range map[string]func(*freight.Organization){
		"bad slug":   func(c *freight.Organization) { c.Slug = "Not A Slug" },
		"empty name": func(c *freight.Organization) { c.Name = "" },
	} {
		_, err := s.UpdateOrganization(ctx, o.ID, func(c *freight.Organization) error { fn(c); return nil })
		wantCode(t, "UpdateOrganization with "+name, err, freight.EINVALID)
	}
	stored, err := s.Organization(ctx, o.ID)
	noErr(t, "Organization", err)
	checkSame(t, "Organization after invalid updates", stored, o)
}

func testOrganizationUpdateSlugConflict(t *testing.T, s freight.Store) {
	ctx := t.Context()
	a := MustCreateOrganization(t, s, newOrg("acme"))
	MustCreateOrganization(t, s, newOrg("globex"))
	_, err := s.UpdateOrganization(ctx, a.ID, func(c *freight.Organization) error { c.Slug = "globex"; return nil })
	wantCode(t, "UpdateOrganization to a taken slug", err, freight.ECONFLICT)
	stored, err := s.Organization(ctx, a.ID)
	noErr(t, "Organization", err)
	checkSame(t, "Organization after the conflict", stored, a)
}

func testOrganizationPagination(t *testing.T, s freight.Store) {
	list := orgList(t, s, freight.OrganizationFilter{})
	checkPaging(t, "Organizations of an empty store", list, orgID, nil)

	var want []string
	for i := range 7 {
		o := MustCreateOrganization(t, s, newOrg(fmt.Sprintf("org-%d", i)))
		want = append(want, o.ID)
		settle()
	}
	if !slices.IsSorted(want) {
		t.Errorf("ids of organizations created one after another do not sort in creation order: %q", want)
	}
	checkPaging(t, "Organizations", list, orgID, want)

	// Items are full copies, as Organization returns them.
	all := listAll(t, list)
	for _, o := range all {
		stored, err := s.Organization(t.Context(), o.ID)
		noErr(t, "Organization", err)
		checkSame(t, "listed organization", o, stored)
	}
}

// Limit 0 and negative limits mean DefaultPageSize; limits above
// MaxPageSize are clamped to it.
func testOrganizationPageSizeLimits(t *testing.T, s freight.Store) {
	ctx := t.Context()
	n := freight.MaxPageSize + 1
	err := s.Tx(ctx, func(tx freight.Store) error {
		for i := range n {
			if err := tx.CreateOrganization(ctx, newOrg(fmt.Sprintf("org-%04d", i))); err != nil {
				return err
			}
		}
		return nil
	})
	noErr(t, "create organizations", err)
	for _, tc := range []struct {
		limit, want int
	}{
		{0, freight.DefaultPageSize},
		{-1, freight.DefaultPageSize},
		{freight.MaxPageSize + 100, freight.MaxPageSize},
		{freight.MaxPageSize, freight.MaxPageSize},
	} {
		page, next, err := s.Organizations(ctx, freight.OrganizationFilter{Page: freight.Page{Limit: tc.limit}})
		noErr(t, "Organizations", err)
		if len(page) != tc.want {
			t.Errorf("Organizations(Limit %d) returned %d items, want %d", tc.limit, len(page), tc.want)
		}
		if next == "" {
			t.Errorf("Organizations(Limit %d) of %d returned no cursor, want one", tc.limit, n)
		}
	}
	if got := len(listAll(t, orgList(t, s, freight.OrganizationFilter{}))); got != n {
		t.Errorf("all pages hold %d organizations, want %d", got, n)
	}
}

// A cursor is opaque and comes from clients through the API; one the store
// did not make is refused with EINVALID rather than read as a position or
// failing as an internal error.
func testOrganizationBadCursor(t *testing.T, s freight.Store) {
	MustCreateOrganization(t, s, newOrg("acme"))
	for _, c := range []string{"not a cursor", "%%%", "\x00\xff"} {
		_, _, err := s.Organizations(t.Context(), freight.OrganizationFilter{Page: freight.Page{After: c}})
		wantCode(t, fmt.Sprintf("Organizations(After %q)", c), err, freight.EINVALID)
	}
}

func testOrganizationDelete(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	keep := MustCreateOrganization(t, s, newOrg("globex"))
	noErr(t, "DeleteOrganization", s.DeleteOrganization(ctx, o.ID))
	_, err := s.Organization(ctx, o.ID)
	wantCode(t, "Organization after delete", err, freight.ENOTFOUND)
	_, err = s.OrganizationBySlug(ctx, "acme")
	wantCode(t, "OrganizationBySlug after delete", err, freight.ENOTFOUND)
	wantCode(t, "second DeleteOrganization", s.DeleteOrganization(ctx, o.ID), freight.ENOTFOUND)
	checkKeys(t, "Organizations after delete", orgList(t, s, freight.OrganizationFilter{}), orgID, []string{keep.ID})
	// The slug is free again.
	MustCreateOrganization(t, s, newOrg("acme"))
}

// Deleting an organization deletes its memberships, entitlements and
// organization tokens; its audit events, its users and the products stay.
func testOrganizationDeleteCascade(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	other := MustCreateOrganization(t, s, newOrg("globex"))
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	MustPutMembership(t, s, &freight.Membership{UserID: u.ID, OrgID: o.ID, Role: freight.RoleOrgAdmin})
	keepM := MustPutMembership(t, s, &freight.Membership{UserID: u.ID, OrgID: other.ID, Role: freight.RoleMember})
	e := MustCreateEntitlement(t, s, newEntitlement(o.ID, p.ID))
	keepE := MustCreateEntitlement(t, s, newEntitlement(other.ID, p.ID))
	orgTok := MustCreateToken(t, s, newUserToken("ci", u.ID, o.ID))
	svcTok := MustCreateToken(t, s, newUserToken("service", "", o.ID)) // a service account
	keepTok := MustCreateToken(t, s, newUserToken("other", u.ID, other.ID))
	vendorTok := MustCreateToken(t, s, newUserToken("vendor", u.ID, ""))
	ev := MustCreateAuditEvent(t, s, &freight.AuditEvent{Actor: u.ID, Action: "organization.create", TargetType: "organization", TargetID: o.ID, OrgID: o.ID})

	noErr(t, "DeleteOrganization", s.DeleteOrganization(ctx, o.ID))

	checkKeys(t, "Memberships of the user", membershipList(t, s, freight.MembershipFilter{UserID: u.ID}), membershipKey, []string{membershipKey(keepM)})
	_, err := s.Entitlement(ctx, e.ID)
	wantCode(t, "Entitlement of the deleted organization", err, freight.ENOTFOUND)
	checkKeys(t, "Entitlements of the product", entitlementList(t, s, freight.EntitlementFilter{ProductID: p.ID}), entitlementID, []string{keepE.ID})
	for _, tok := range []*freight.Token{orgTok, svcTok} {
		_, err := s.Token(ctx, tok.ID)
		wantCode(t, "Token "+tok.Name+" of the deleted organization", err, freight.ENOTFOUND)
	}
	for _, tok := range []*freight.Token{keepTok, vendorTok} {
		if _, err := s.Token(ctx, tok.ID); err != nil {
			t.Errorf("Token %s of another organization or none: %v, want it kept", tok.Name, err)
		}
	}
	if _, err := s.User(ctx, u.ID); err != nil {
		t.Errorf("User of the deleted organization: %v, want the user kept", err)
	}
	if _, err := s.Product(ctx, p.ID); err != nil {
		t.Errorf("Product: %v, want it kept", err)
	}
	checkKeys(t, "AuditEvents of the deleted organization", auditList(t, s, freight.AuditFilter{OrgID: o.ID}), eventID, []string{ev.ID})
}

// RequireMFA is stored on create and on update, and lists carry it.
func testOrganizationRequireMFA(t *testing.T, s freight.Store) {
	ctx := t.Context()
	strict := newOrg("strict")
	strict.RequireMFA = true
	MustCreateOrganization(t, s, strict)
	lax := MustCreateOrganization(t, s, newOrg("lax"))
	got, err := s.Organization(ctx, strict.ID)
	noErr(t, "Organization", err)
	checkSame(t, "Organization(RequireMFA)", got, strict)
	if !got.RequireMFA {
		t.Errorf("RequireMFA = false, want true")
	}

	updated, err := s.UpdateOrganization(ctx, lax.ID, func(c *freight.Organization) error { c.RequireMFA = true; return nil })
	noErr(t, "UpdateOrganization(RequireMFA on)", err)
	if !updated.RequireMFA {
		t.Errorf("UpdateOrganization result RequireMFA = false, want true")
	}
	updated, err = s.UpdateOrganization(ctx, strict.ID, func(c *freight.Organization) error { c.RequireMFA = false; return nil })
	noErr(t, "UpdateOrganization(RequireMFA off)", err)
	if updated.RequireMFA {
		t.Errorf("UpdateOrganization result RequireMFA = true, want false")
	}
	want := map[string]bool{strict.ID: false, lax.ID: true}
	for _, o := range listAll(t, orgList(t, s, freight.OrganizationFilter{})) {
		if o.RequireMFA != want[o.ID] {
			t.Errorf("Organizations: %s RequireMFA = %v, want %v", o.Slug, o.RequireMFA, want[o.ID])
		}
	}
}

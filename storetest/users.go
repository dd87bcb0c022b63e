package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

var userTests = []subtest{
	{"CreateGet", testUserCreateGet},
	{"DuplicateEmail", testUserDuplicateEmail},
	{"Invalid", testUserInvalid},
	{"NotFound", testUserNotFound},
	{"Update", testUserUpdate},
	{"UpdateKeepsIDAndCreatedAt", testUserUpdateKeepsIDAndCreatedAt},
	{"UpdateFnError", testUserUpdateFnError},
	{"UpdateInvalid", testUserUpdateInvalid},
	{"UpdateEmailConflict", testUserUpdateEmailConflict},
	{"Pagination", testUserPagination},
	{"FilterOrg", testUserFilterOrg},
	{"FilterVendorOnly", testUserFilterVendorOnly},
	{"Delete", testUserDelete},
	{"DeleteCascade", testUserDeleteCascade},
	{"Security", testUserSecurity},
	{"SecurityInvalid", testUserSecurityInvalid},
	{"NotifyReleases", testUserNotifyReleases},
}

// Release notifications are on for a new user, and the choice to turn
// them off, or back on, is stored and read back by every query.
func testUserNotifyReleases(t *testing.T, s freight.Store) {
	ctx := t.Context()
	org := newOrg("notify-org")
	if err := s.CreateOrganization(ctx, org); err != nil {
		t.Fatal(err)
	}
	on := newUser("on@example.com")
	off := newUser("off@example.com")
	off.NoReleaseMail = true
	for _, u := range []*freight.User{on, off} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := s.PutMembership(ctx, &freight.Membership{UserID: u.ID, OrgID: org.ID, Role: freight.RoleMember}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string, wantOn, wantOff bool) {
		t.Helper()
		for _, tc := range []struct {
			u    *freight.User
			want bool
		}{{on, wantOn}, {off, wantOff}} {
			got, err := s.User(ctx, tc.u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.NoReleaseMail != tc.want {
				t.Errorf("%s: User(%s).NoReleaseMail = %v, want %v", when, tc.u.Email, got.NoReleaseMail, tc.want)
			}
			byEmail, err := s.UserByEmail(ctx, tc.u.Email)
			if err != nil {
				t.Fatal(err)
			}
			if byEmail.NoReleaseMail != tc.want {
				t.Errorf("%s: UserByEmail(%s).NoReleaseMail = %v, want %v", when, tc.u.Email, byEmail.NoReleaseMail, tc.want)
			}
		}
		list, _, err := s.Users(ctx, freight.UserFilter{OrgID: org.ID})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range list {
			if want := map[string]bool{on.ID: wantOn, off.ID: wantOff}[u.ID]; u.NoReleaseMail != want {
				t.Errorf("%s: Users lists %s with NoReleaseMail = %v, want %v", when, u.Email, u.NoReleaseMail, want)
			}
		}
	}
	check("created", false, true)
	for _, u := range []*freight.User{on, off} {
		if _, err := s.UpdateUser(ctx, u.ID, func(c *freight.User) error { c.NoReleaseMail = !c.NoReleaseMail; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	check("toggled", true, false)
	// An update of another field keeps the choice.
	if _, err := s.UpdateUser(ctx, on.ID, func(c *freight.User) error { c.Name = "Renamed"; return nil }); err != nil {
		t.Fatal(err)
	}
	check("renamed", true, false)
}

func testUserCreateGet(t *testing.T, s freight.Store) {
	ctx := t.Context()
	u := &freight.User{
		Email:        "Ann.Smith@Example.COM",
		Name:         "Ann Smith",
		VendorRole:   freight.RolePublisher,
		Disabled:     true,
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
	}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	checkCreated(t, "CreateUser", freight.PrefixUser, u.ID, u.CreatedAt, &u.UpdatedAt)
	if got, want := u.Email, "ann.smith@example.com"; got != want {
		t.Errorf("Email after create = %q, want %q (stored lower case)", got, want)
	}

	got, err := s.User(ctx, u.ID)
	noErr(t, "User", err)
	checkSame(t, "User(id)", got, u)

	got, err = s.UserByEmail(ctx, "ann.smith@example.com")
	noErr(t, "UserByEmail", err)
	checkSame(t, "UserByEmail", got, u)

	// Email addresses are case-insensitive identities (they are stored
	// lower case and unique regardless of case), so a lookup with other
	// capitals finds the same user.
	got, err = s.UserByEmail(ctx, "ANN.SMITH@example.com")
	noErr(t, "UserByEmail(upper case)", err)
	checkSame(t, "UserByEmail(upper case)", got, u)

	// A customer user: no vendor role, no password, enabled.
	c := MustCreateUser(t, s, &freight.User{Email: "bob@example.com"})
	checkCreated(t, "CreateUser(customer)", freight.PrefixUser, c.ID, c.CreatedAt, &c.UpdatedAt)
	got, err = s.User(ctx, c.ID)
	noErr(t, "User(customer)", err)
	checkSame(t, "User(customer)", got, c)
}

func testUserDuplicateEmail(t *testing.T, s freight.Store) {
	ctx := t.Context()
	first := MustCreateUser(t, s, newUser("a@x.com"))
	for _, email := range []string{"a@x.com", "A@x.com", "a@X.COM"} {
		err := s.CreateUser(ctx, newUser(email))
		wantCode(t, fmt.Sprintf("CreateUser(%q) after a@x.com", email), err, freight.ECONFLICT)
	}
	got, err := s.UserByEmail(ctx, "a@x.com")
	noErr(t, "UserByEmail", err)
	checkSame(t, "the first user after the conflicts", got, first)
	if list := listAll(t, userList(t, s, freight.UserFilter{})); len(list) != 1 {
		t.Errorf("Users after the conflicts = %d, want 1", len(list))
	}
}

func testUserInvalid(t *testing.T, s freight.Store) {
	for _, u := range []*freight.User{
		{Email: ""},
		{Email: "not-an-email"},
		{Email: "ann@localhost"},
		{Email: "Ann <ann@example.com>"},
		{Email: "ann@example.com", VendorRole: freight.RoleMember},
		{Email: "ann@example.com", VendorRole: "root"},
		{Email: "ann@example.com", Name: "tab\x01"},
	} {
		err := s.CreateUser(t.Context(), u)
		wantCode(t, fmt.Sprintf("CreateUser(%+v)", *u), err, freight.EINVALID)
	}
	if list := listAll(t, userList(t, s, freight.UserFilter{})); len(list) != 0 {
		t.Errorf("Users after invalid creates = %d, want 0", len(list))
	}
}

func testUserNotFound(t *testing.T, s freight.Store) {
	ctx := t.Context()
	MustCreateUser(t, s, newUser("ann@example.com"))
	id := missingID(freight.PrefixUser)
	got, err := s.User(ctx, id)
	wantCode(t, "User(missing)", err, freight.ENOTFOUND)
	if got != nil {
		t.Errorf("User(missing) = %+v, want nil", got)
	}
	got, err = s.UserByEmail(ctx, "nobody@example.com")
	wantCode(t, "UserByEmail(missing)", err, freight.ENOTFOUND)
	if got != nil {
		t.Errorf("UserByEmail(missing) = %+v, want nil", got)
	}
	called := false
	got, err = s.UpdateUser(ctx, id, func(*freight.User) error { called = true; return nil })
	wantCode(t, "UpdateUser(missing)", err, freight.ENOTFOUND)
	if got != nil {
		t.Errorf("UpdateUser(missing) = %+v, want nil", got)
	}
	if called {
		t.Errorf("UpdateUser(missing) called fn, want no call")
	}
	wantCode(t, "DeleteUser(missing)", s.DeleteUser(ctx, id), freight.ENOTFOUND)
}

func testUserUpdate(t *testing.T, s freight.Store) {
	ctx := t.Context()
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	var seen freight.User
	got, err := s.UpdateUser(ctx, u.ID, func(c *freight.User) error {
		seen = *c
		c.Email = "Ann@New.Example.com"
		c.Name = "Ann Renamed"
		c.VendorRole = freight.RoleSupport
		c.Disabled = true
		c.PasswordHash = "$argon2id$new"
		return nil
	})
	noErr(t, "UpdateUser", err)
	checkSame(t, "the user passed to fn", &seen, u)
	want := *u
	want.Email, want.Name, want.VendorRole, want.Disabled, want.PasswordHash = "ann@new.example.com", "Ann Renamed", freight.RoleSupport, true, "$argon2id$new"
	want.UpdatedAt = got.UpdatedAt
	checkSame(t, "UpdateUser result", got, &want)
	checkUpdated(t, "UpdateUser", got.CreatedAt, got.UpdatedAt, u.CreatedAt, u.UpdatedAt)

	stored, err := s.UserByEmail(ctx, "ann@new.example.com")
	noErr(t, "UserByEmail(new email)", err)
	checkSame(t, "UserByEmail after update", stored, got)
	_, err = s.UserByEmail(ctx, "ann@example.com")
	wantCode(t, "UserByEmail(old email)", err, freight.ENOTFOUND)

	// Back to a customer user.
	got, err = s.UpdateUser(ctx, u.ID, func(c *freight.User) error { c.VendorRole = ""; c.PasswordHash = ""; return nil })
	noErr(t, "UpdateUser", err)
	stored, err = s.User(ctx, u.ID)
	noErr(t, "User", err)
	checkSame(t, "User after the second update", stored, got)
	if stored.VendorRole != "" || stored.PasswordHash != "" {
		t.Errorf("VendorRole, PasswordHash = %q, %q, want both empty", stored.VendorRole, stored.PasswordHash)
	}
}

func testUserUpdateKeepsIDAndCreatedAt(t *testing.T, s freight.Store) {
	ctx := t.Context()
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	otherID := missingID(freight.PrefixUser)
	got, err := s.UpdateUser(ctx, u.ID, func(c *freight.User) error {
		c.ID = otherID
		c.CreatedAt = ts(-1000 * 24 * time.Hour)
		c.Name = "Renamed"
		return nil
	})
	wantCodeIn(t, "UpdateUser changing ID and CreatedAt", err, "", freight.EINVALID)
	if err == nil && (got.ID != u.ID || !got.CreatedAt.Equal(u.CreatedAt)) {
		t.Errorf("UpdateUser result ID, CreatedAt = %q, %v; want %q, %v", got.ID, got.CreatedAt, u.ID, u.CreatedAt)
	}
	stored, err := s.User(ctx, u.ID)
	noErr(t, "User(original id)", err)
	if !stored.CreatedAt.Equal(u.CreatedAt) {
		t.Errorf("stored CreatedAt = %v, want %v", stored.CreatedAt, u.CreatedAt)
	}
	_, err = s.User(ctx, otherID)
	wantCode(t, "User(id set by fn)", err, freight.ENOTFOUND)
}

func testUserUpdateFnError(t *testing.T, s freight.Store) {
	ctx := t.Context()
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	got, err := s.UpdateUser(ctx, u.ID, func(c *freight.User) error {
		c.Name = "Not written"
		c.Disabled = true
		return errSentinel
	})
	wantSentinel(t, "UpdateUser with fn failing", err)
	if got != nil {
		t.Errorf("UpdateUser with fn failing = %+v, want nil", got)
	}
	stored, err := s.User(ctx, u.ID)
	noErr(t, "User", err)
	checkSame(t, "User after a failed update", stored, u)
}

func testUserUpdateInvalid(t *testing.T, s freight.Store) {
	ctx := t.Context()
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	for name, fn := range map[string]func(*freight.User){
		"bad email":          func(c *freight.User) { c.Email = "not-an-email" },
		"org role as vendor": func(c *freight.User) { c.VendorRole = freight.RoleOrgAdmin },
	} {
		_, err := s.UpdateUser(ctx, u.ID, func(c *freight.User) error { fn(c); return nil })
		wantCode(t, "UpdateUser with "+name, err, freight.EINVALID)
	}
	stored, err := s.User(ctx, u.ID)
	noErr(t, "User", err)
	checkSame(t, "User after invalid updates", stored, u)
}

func testUserUpdateEmailConflict(t *testing.T, s freight.Store) {
	ctx := t.Context()
	a := MustCreateUser(t, s, newUser("ann@example.com"))
	MustCreateUser(t, s, newUser("bob@example.com"))
	_, err := s.UpdateUser(ctx, a.ID, func(c *freight.User) error { c.Email = "Bob@Example.com"; return nil })
	wantCode(t, "UpdateUser to a taken email in other case", err, freight.ECONFLICT)
	stored, err := s.User(ctx, a.ID)
	noErr(t, "User", err)
	checkSame(t, "User after the conflict", stored, a)
}

func testUserPagination(t *testing.T, s freight.Store) {
	list := userList(t, s, freight.UserFilter{})
	checkPaging(t, "Users of an empty store", list, userID, nil)
	var want []string
	for i := range 7 {
		want = append(want, MustCreateUser(t, s, newUser(fmt.Sprintf("user%d@example.com", i))).ID)
		settle()
	}
	checkPaging(t, "Users", list, userID, want)
}

// UserFilter.OrgID keeps the members of one organization, whatever their
// role; a user in several organizations is listed once for each.
func testUserFilterOrg(t *testing.T, s freight.Store) {
	ctx := t.Context()
	acme := MustCreateOrganization(t, s, newOrg("acme"))
	globex := MustCreateOrganization(t, s, newOrg("globex"))
	empty := MustCreateOrganization(t, s, newOrg("empty"))
	var inAcme, inGlobex []string
	for i := range 7 {
		u := MustCreateUser(t, s, newUser(fmt.Sprintf("user%d@example.com", i)))
		settle()
		if i%3 != 2 {
			role := freight.RoleMember
			if i == 0 {
				role = freight.RoleOrgAdmin
			}
			MustPutMembership(t, s, &freight.Membership{UserID: u.ID, OrgID: acme.ID, Role: role})
			inAcme = append(inAcme, u.ID)
		}
		if i%2 == 0 {
			MustPutMembership(t, s, &freight.Membership{UserID: u.ID, OrgID: globex.ID, Role: freight.RoleMember})
			inGlobex = append(inGlobex, u.ID)
		}
	}
	checkPaging(t, "Users(OrgID acme)", userList(t, s, freight.UserFilter{OrgID: acme.ID}), userID, inAcme)
	checkPaging(t, "Users(OrgID globex)", userList(t, s, freight.UserFilter{OrgID: globex.ID}), userID, inGlobex)
	checkPaging(t, "Users(OrgID with no members)", userList(t, s, freight.UserFilter{OrgID: empty.ID}), userID, nil)

	// Listed users are whole users, not bare ids.
	got, _, err := s.Users(ctx, freight.UserFilter{OrgID: acme.ID, Page: freight.Page{Limit: 1}})
	noErr(t, "Users(OrgID)", err)
	if len(got) != 1 {
		t.Fatalf("Users(OrgID, Limit 1) returned %d users, want 1", len(got))
	}
	stored, err := s.User(ctx, got[0].ID)
	noErr(t, "User", err)
	checkSame(t, "listed member", got[0], stored)

	// The list reflects membership changes.
	noErr(t, "DeleteMembership", s.DeleteMembership(ctx, inAcme[0], acme.ID))
	checkKeys(t, "Users(OrgID acme) after removing a member", userList(t, s, freight.UserFilter{OrgID: acme.ID}), userID, inAcme[1:])

	// Methods that return a slice answer ENOTFOUND when the filter names
	// an object that does not exist (store.go), not an empty list.
	_, _, err = s.Users(ctx, freight.UserFilter{OrgID: missingID(freight.PrefixOrganization)})
	wantCode(t, "Users(OrgID missing)", err, freight.ENOTFOUND)
}

func testUserFilterVendorOnly(t *testing.T, s freight.Store) {
	acme := MustCreateOrganization(t, s, newOrg("acme"))
	var all, vendor []string
	roles := []freight.Role{freight.RoleAdmin, "", freight.RolePublisher, "", "", freight.RoleSupport, ""}
	for i, r := range roles {
		u := newUser(fmt.Sprintf("user%d@example.com", i))
		u.VendorRole = r
		MustCreateUser(t, s, u)
		settle()
		all = append(all, u.ID)
		if r != "" {
			vendor = append(vendor, u.ID)
		} else {
			MustPutMembership(t, s, &freight.Membership{UserID: u.ID, OrgID: acme.ID, Role: freight.RoleMember})
		}
	}
	checkPaging(t, "Users(VendorOnly)", userList(t, s, freight.UserFilter{VendorOnly: true}), userID, vendor)
	checkPaging(t, "Users(all)", userList(t, s, freight.UserFilter{}), userID, all)
	checkKeys(t, "Users(OrgID, VendorOnly)", userList(t, s, freight.UserFilter{OrgID: acme.ID, VendorOnly: true}), userID, []string{})

	// Losing the vendor role leaves the list.
	_, err := s.UpdateUser(t.Context(), vendor[0], func(u *freight.User) error { u.VendorRole = ""; return nil })
	noErr(t, "UpdateUser", err)
	checkKeys(t, "Users(VendorOnly) after a demotion", userList(t, s, freight.UserFilter{VendorOnly: true}), userID, vendor[1:])
}

func testUserDelete(t *testing.T, s freight.Store) {
	ctx := t.Context()
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	keep := MustCreateUser(t, s, newUser("bob@example.com"))
	noErr(t, "DeleteUser", s.DeleteUser(ctx, u.ID))
	_, err := s.User(ctx, u.ID)
	wantCode(t, "User after delete", err, freight.ENOTFOUND)
	_, err = s.UserByEmail(ctx, "ann@example.com")
	wantCode(t, "UserByEmail after delete", err, freight.ENOTFOUND)
	wantCode(t, "second DeleteUser", s.DeleteUser(ctx, u.ID), freight.ENOTFOUND)
	checkKeys(t, "Users after delete", userList(t, s, freight.UserFilter{}), userID, []string{keep.ID})
	MustCreateUser(t, s, newUser("ann@example.com")) // the email is free again
}

// Deleting a user deletes its memberships and tokens; organizations, other
// users' rows and audit events stay.
func testUserDeleteCascade(t *testing.T, s freight.Store) {
	ctx := t.Context()
	acme := MustCreateOrganization(t, s, newOrg("acme"))
	globex := MustCreateOrganization(t, s, newOrg("globex"))
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	other := MustCreateUser(t, s, newUser("bob@example.com"))
	MustPutMembership(t, s, &freight.Membership{UserID: u.ID, OrgID: acme.ID, Role: freight.RoleOrgAdmin})
	MustPutMembership(t, s, &freight.Membership{UserID: u.ID, OrgID: globex.ID, Role: freight.RoleMember})
	keepM := MustPutMembership(t, s, &freight.Membership{UserID: other.ID, OrgID: acme.ID, Role: freight.RoleMember})
	gone := []*freight.Token{
		MustCreateToken(t, s, newUserToken("ann-acme", u.ID, acme.ID)),
		MustCreateToken(t, s, newUserToken("ann-vendor", u.ID, "")),
	}
	keepTok := MustCreateToken(t, s, newUserToken("bob-acme", other.ID, acme.ID))
	ev := MustCreateAuditEvent(t, s, &freight.AuditEvent{Actor: u.ID, Action: "user.sign_in", TargetType: "user", TargetID: u.ID})

	noErr(t, "DeleteUser", s.DeleteUser(ctx, u.ID))

	checkKeys(t, "Memberships after deleting a user", membershipList(t, s, freight.MembershipFilter{}), membershipKey, []string{membershipKey(keepM)})
	for _, tok := range gone {
		_, err := s.Token(ctx, tok.ID)
		wantCode(t, "Token "+tok.Name+" of the deleted user", err, freight.ENOTFOUND)
	}
	checkKeys(t, "Tokens after deleting a user", tokenList(t, s, freight.TokenFilter{}), tokenID, []string{keepTok.ID})
	for _, o := range []*freight.Organization{acme, globex} {
		if _, err := s.Organization(ctx, o.ID); err != nil {
			t.Errorf("Organization %s: %v, want it kept", o.Slug, err)
		}
	}
	checkKeys(t, "AuditEvents of the deleted user", auditList(t, s, freight.AuditFilter{Actor: u.ID}), eventID, []string{ev.ID})
}

var membershipTests = []subtest{
	{"PutList", testMembershipPutList},
	{"PutChangesRole", testMembershipPutChangesRole},
	{"InvalidRole", testMembershipInvalidRole},
	{"MissingUserOrOrg", testMembershipMissingUserOrOrg},
	{"Delete", testMembershipDelete},
	{"OrderAndPagination", testMembershipOrderAndPagination},
	{"Filters", testMembershipFilters},
}

func testMembershipPutList(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	m := &freight.Membership{UserID: u.ID, OrgID: o.ID, Role: freight.RoleOrgAdmin}
	noErr(t, "PutMembership", s.PutMembership(ctx, m))
	checkRecent(t, "PutMembership: CreatedAt", m.CreatedAt)

	for name, f := range map[string]freight.MembershipFilter{
		"all":     {},
		"by user": {UserID: u.ID},
		"by org":  {OrgID: o.ID},
		"by both": {UserID: u.ID, OrgID: o.ID},
	} {
		got := listAll(t, membershipList(t, s, f))
		if len(got) != 1 {
			t.Errorf("Memberships(%s) = %d items, want 1", name, len(got))
			continue
		}
		checkSame(t, "Memberships("+name+")", got[0], m)
	}
}

// PutMembership on an existing membership changes its role and keeps it
// one membership, created when it was first put.
func testMembershipPutChangesRole(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	first := MustPutMembership(t, s, &freight.Membership{UserID: u.ID, OrgID: o.ID, Role: freight.RoleMember})
	settle()
	noErr(t, "PutMembership(org-admin)", s.PutMembership(ctx, &freight.Membership{UserID: u.ID, OrgID: o.ID, Role: freight.RoleOrgAdmin}))

	got := listAll(t, membershipList(t, s, freight.MembershipFilter{UserID: u.ID}))
	if len(got) != 1 {
		t.Fatalf("Memberships after changing the role = %d, want 1", len(got))
	}
	want := *first
	want.Role = freight.RoleOrgAdmin
	checkSame(t, "membership after changing the role", got[0], &want)

	// Putting the same role again changes nothing.
	noErr(t, "PutMembership(same role)", s.PutMembership(ctx, &freight.Membership{UserID: u.ID, OrgID: o.ID, Role: freight.RoleOrgAdmin}))
	got = listAll(t, membershipList(t, s, freight.MembershipFilter{}))
	if len(got) != 1 {
		t.Fatalf("Memberships after putting the same role = %d, want 1", len(got))
	}
	checkSame(t, "membership after putting the same role", got[0], &want)
}

func testMembershipInvalidRole(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	for _, r := range []freight.Role{"", freight.RoleAdmin, freight.RoleSupport, "owner"} {
		err := s.PutMembership(ctx, &freight.Membership{UserID: u.ID, OrgID: o.ID, Role: r})
		wantCode(t, fmt.Sprintf("PutMembership(role %q)", r), err, freight.EINVALID)
	}
	// An invalid role does not overwrite a valid one.
	m := MustPutMembership(t, s, &freight.Membership{UserID: u.ID, OrgID: o.ID, Role: freight.RoleMember})
	err := s.PutMembership(ctx, &freight.Membership{UserID: u.ID, OrgID: o.ID, Role: freight.RoleAdmin})
	wantCode(t, "PutMembership(role admin) over a member", err, freight.EINVALID)
	got := listAll(t, membershipList(t, s, freight.MembershipFilter{}))
	if len(got) != 1 {
		t.Fatalf("Memberships = %d, want 1", len(got))
	}
	checkSame(t, "membership after an invalid put", got[0], m)
}

func testMembershipMissingUserOrOrg(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	err := s.PutMembership(ctx, &freight.Membership{UserID: missingID(freight.PrefixUser), OrgID: o.ID, Role: freight.RoleMember})
	wantCode(t, "PutMembership(missing user)", err, freight.ENOTFOUND)
	err = s.PutMembership(ctx, &freight.Membership{UserID: u.ID, OrgID: missingID(freight.PrefixOrganization), Role: freight.RoleMember})
	wantCode(t, "PutMembership(missing organization)", err, freight.ENOTFOUND)
	if got := listAll(t, membershipList(t, s, freight.MembershipFilter{})); len(got) != 0 {
		t.Errorf("Memberships = %d, want 0", len(got))
	}
	// Methods that return a slice answer ENOTFOUND when the filter names
	// an object that does not exist (store.go), not an empty list.
	_, _, err = s.Memberships(ctx, freight.MembershipFilter{UserID: missingID(freight.PrefixUser)})
	wantCode(t, "Memberships(UserID missing)", err, freight.ENOTFOUND)
	_, _, err = s.Memberships(ctx, freight.MembershipFilter{OrgID: missingID(freight.PrefixOrganization)})
	wantCode(t, "Memberships(OrgID missing)", err, freight.ENOTFOUND)
	checkKeys(t, "Memberships(UserID without memberships)", membershipList(t, s, freight.MembershipFilter{UserID: u.ID}), membershipKey, []string{})
	checkKeys(t, "Memberships(OrgID without memberships)", membershipList(t, s, freight.MembershipFilter{OrgID: o.ID}), membershipKey, []string{})
}

func testMembershipDelete(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	v := MustCreateUser(t, s, newUser("bob@example.com"))
	MustPutMembership(t, s, &freight.Membership{UserID: u.ID, OrgID: o.ID, Role: freight.RoleMember})
	keep := MustPutMembership(t, s, &freight.Membership{UserID: v.ID, OrgID: o.ID, Role: freight.RoleMember})

	noErr(t, "DeleteMembership", s.DeleteMembership(ctx, u.ID, o.ID))
	checkKeys(t, "Memberships after delete", membershipList(t, s, freight.MembershipFilter{}), membershipKey, []string{membershipKey(keep)})
	wantCode(t, "second DeleteMembership", s.DeleteMembership(ctx, u.ID, o.ID), freight.ENOTFOUND)
	wantCode(t, "DeleteMembership(missing user)", s.DeleteMembership(ctx, missingID(freight.PrefixUser), o.ID), freight.ENOTFOUND)
	wantCode(t, "DeleteMembership(missing org)", s.DeleteMembership(ctx, u.ID, missingID(freight.PrefixOrganization)), freight.ENOTFOUND)
	// The user and the organization stay.
	if _, err := s.User(ctx, u.ID); err != nil {
		t.Errorf("User after DeleteMembership: %v", err)
	}
	if _, err := s.Organization(ctx, o.ID); err != nil {
		t.Errorf("Organization after DeleteMembership: %v", err)
	}
}

// Memberships are ordered by user id, then organization id, whatever the
// order they were put in.
func testMembershipOrderAndPagination(t *testing.T, s freight.Store) {
	var users []*freight.User
	var orgs []*freight.Organization
	for i := range 3 {
		users = append(users, MustCreateUser(t, s, newUser(fmt.Sprintf("user%d@example.com", i))))
		orgs = append(orgs, MustCreateOrganization(t, s, newOrg(fmt.Sprintf("org-%d", i))))
		settle()
	}
	var want []string
	// Put them in an order unlike the listing order.
	for _, i := range []int{2, 0, 1} {
		for _, j := range []int{1, 2, 0} {
			MustPutMembership(t, s, &freight.Membership{UserID: users[i].ID, OrgID: orgs[j].ID, Role: freight.RoleMember})
			want = append(want, users[i].ID+"/"+orgs[j].ID)
		}
	}
	slices.Sort(want) // ids have one length, so this sorts by user id, then org id
	checkPaging(t, "Memberships", membershipList(t, s, freight.MembershipFilter{}), membershipKey, want)
}

func testMembershipFilters(t *testing.T, s freight.Store) {
	var users []*freight.User
	var orgs []*freight.Organization
	for i := range 4 {
		users = append(users, MustCreateUser(t, s, newUser(fmt.Sprintf("user%d@example.com", i))))
		orgs = append(orgs, MustCreateOrganization(t, s, newOrg(fmt.Sprintf("org-%d", i))))
	}
	byUser := map[string][]string{}
	byOrg := map[string][]string{}
	for i, u := range users {
		for j, o := range orgs {
			if (i+j)%2 == 0 || i == 3 {
				MustPutMembership(t, s, &freight.Membership{UserID: u.ID, OrgID: o.ID, Role: freight.RoleMember})
				k := u.ID + "/" + o.ID
				byUser[u.ID] = append(byUser[u.ID], k)
				byOrg[o.ID] = append(byOrg[o.ID], k)
			}
		}
	}
	for _, u := range users {
		want := byUser[u.ID]
		slices.Sort(want)
		checkPaging(t, "Memberships(UserID "+u.Email+")", membershipList(t, s, freight.MembershipFilter{UserID: u.ID}), membershipKey, want)
	}
	for _, o := range orgs {
		want := byOrg[o.ID]
		slices.Sort(want)
		checkPaging(t, "Memberships(OrgID "+o.Slug+")", membershipList(t, s, freight.MembershipFilter{OrgID: o.ID}), membershipKey, want)
	}
	checkKeys(t, "Memberships(UserID, OrgID) of a pair", membershipList(t, s, freight.MembershipFilter{UserID: users[3].ID, OrgID: orgs[2].ID}),
		membershipKey, []string{users[3].ID + "/" + orgs[2].ID})
	checkKeys(t, "Memberships(UserID, OrgID) of a pair without membership", membershipList(t, s, freight.MembershipFilter{UserID: users[0].ID, OrgID: orgs[1].ID}),
		membershipKey, []string{})
}

// fullSecurity returns a sign-in state with every field set, its times in
// zone.
func fullSecurity(zone *time.Location) freight.UserSecurity {
	return freight.UserSecurity{
		TOTPSecret:     []byte("12345678901234567890"),
		TOTPPending:    bytes.Repeat([]byte{0xa5}, 32),
		TOTPLastStep:   58_000_000,
		Failures:       3,
		LockedUntil:    ts(15 * time.Minute).In(zone),
		LastFailure:    ts(time.Minute).In(zone),
		MFAFailures:    5,
		MFALockedUntil: ts(time.Hour).In(zone),
		LastMFAFailure: ts(2 * time.Minute).In(zone),
	}
}

// The sign-in state is stored with the user and comes back whole; a time
// that never happened is the zero time, an absent secret nil.
func testUserSecurity(t *testing.T, s freight.Store) {
	ctx := t.Context()
	u := newUser("ann@example.com")
	u.EmailVerified = true
	u.Security = fullSecurity(time.FixedZone("UTC+5", 5*3600))
	secret := u.Security.TOTPSecret
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	got, err := s.User(ctx, u.ID)
	noErr(t, "User", err)
	checkSame(t, "User with a sign-in state", got, u)
	if !got.EmailVerified || !got.Security.MFAEnabled() {
		t.Errorf("EmailVerified, MFAEnabled = %v, %v; want true, true", got.EmailVerified, got.Security.MFAEnabled())
	}
	// The caller's byte slices are not shared with the store.
	secret[0] ^= 0xff
	again, err := s.User(ctx, u.ID)
	noErr(t, "User", err)
	if want := []byte("12345678901234567890"); !bytes.Equal(again.Security.TOTPSecret, want) {
		t.Errorf("TOTPSecret after the caller changed its slice = %q, want %q", again.Security.TOTPSecret, want)
	}

	// Clear everything.
	got, err = s.UpdateUser(ctx, u.ID, func(c *freight.User) error {
		c.EmailVerified = false
		c.Security = freight.UserSecurity{}
		return nil
	})
	noErr(t, "UpdateUser(clear)", err)
	stored, err := s.User(ctx, u.ID)
	noErr(t, "User", err)
	checkSame(t, "User after clearing the sign-in state", stored, got)
	checkSame(t, "the cleared sign-in state", stored.Security, freight.UserSecurity{})
	for name, tm := range map[string]time.Time{
		"LockedUntil": stored.Security.LockedUntil, "LastFailure": stored.Security.LastFailure,
		"MFALockedUntil": stored.Security.MFALockedUntil, "LastMFAFailure": stored.Security.LastMFAFailure,
	} {
		if !tm.IsZero() {
			t.Errorf("%s after clearing = %v, want the zero time", name, tm)
		}
	}
	if stored.Security.TOTPSecret != nil || stored.Security.TOTPPending != nil || stored.EmailVerified {
		t.Errorf("TOTPSecret, TOTPPending, EmailVerified after clearing = %v, %v, %v; want nil, nil, false",
			stored.Security.TOTPSecret, stored.Security.TOTPPending, stored.EmailVerified)
	}

	// Set everything through an update, as the sign-in code does.
	want := fullSecurity(time.UTC)
	got, err = s.UpdateUser(ctx, u.ID, func(c *freight.User) error {
		c.EmailVerified = true
		c.Security = fullSecurity(time.FixedZone("UTC-7", -7*3600))
		return nil
	})
	noErr(t, "UpdateUser(set)", err)
	checkSame(t, "UpdateUser result's sign-in state", got.Security, want)
	stored, err = s.User(ctx, u.ID)
	noErr(t, "User", err)
	checkSame(t, "User after setting the sign-in state", stored, got)
	listed := listAll(t, userList(t, s, freight.UserFilter{}))
	if len(listed) != 1 {
		t.Fatalf("Users = %d, want 1", len(listed))
	}
	checkSame(t, "Users", listed[0], got)
	byEmail, err := s.UserByEmail(ctx, u.Email)
	noErr(t, "UserByEmail", err)
	checkSame(t, "UserByEmail", byEmail, got)
}

// Negative counters are refused, on create and on update, and nothing is
// written.
func testUserSecurityInvalid(t *testing.T, s freight.Store) {
	ctx := t.Context()
	for name, sec := range map[string]freight.UserSecurity{
		"negative failures":     {Failures: -1},
		"negative MFA failures": {MFAFailures: -1},
		"negative TOTP step":    {TOTPLastStep: -1},
		"huge TOTP secret":      {TOTPSecret: make([]byte, 4096)},
	} {
		u := newUser("ann@example.com")
		u.Security = sec
		wantCode(t, "CreateUser with "+name, s.CreateUser(ctx, u), freight.EINVALID)
	}
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	_, err := s.UpdateUser(ctx, u.ID, func(c *freight.User) error {
		c.Name = "Not written"
		c.Security.Failures = -5
		return nil
	})
	wantCode(t, "UpdateUser with negative failures", err, freight.EINVALID)
	stored, err := s.User(ctx, u.ID)
	noErr(t, "User", err)
	checkSame(t, "User after a refused update", stored, u)
}

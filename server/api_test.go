package server_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/freight-portal/freight"
)

// TestRoleMatrix tries routes as every role and checks that allowed calls
// succeed (TestAuthorizationMatrix covers every route for refusals).
// Vendor staff are ranked admin > publisher > support; organization roles
// have no vendor API beyond their own organization.
func TestRoleMatrix(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	org := &freight.Organization{Slug: "acme", Name: "Acme"}
	if err := e.store.CreateOrganization(ctx, org); err != nil {
		t.Fatal(err)
	}
	tokens := map[freight.Role]string{}
	for _, role := range []freight.Role{freight.RoleAdmin, freight.RolePublisher, freight.RoleSupport, freight.RoleOrgAdmin, freight.RoleMember} {
		tok := &freight.Token{Name: string(role), Role: role}
		if role.IsOrg() {
			tok.OrgID = org.ID
		}
		tokens[role] = e.mustToken(tok)
	}
	const (
		A = 1 << iota // admin
		P             // publisher
		S             // support
		O             // org-admin of acme
	)
	for _, tc := range []struct {
		method, path string
		body         func(i int) any
		allowed      int
	}{
		{"GET", "/api/v1/organizations", nil, A | P | S},
		{"POST", "/api/v1/organizations", func(i int) any { return map[string]string{"slug": "o" + string(rune('a'+i)), "name": "O"} }, A},
		{"GET", "/api/v1/users", nil, A | P | S},
		{"POST", "/api/v1/users", func(i int) any { return map[string]string{"email": string(rune('a'+i)) + "@x.example"} }, A},
		{"GET", "/api/v1/products", nil, A | P | S},
		{"POST", "/api/v1/products", func(i int) any { return map[string]string{"slug": "p" + string(rune('a'+i)), "name": "P"} }, A | P},
		{"GET", "/api/v1/entitlements", nil, A | P | S},
		{"GET", "/api/v1/tokens", nil, A},
		{"POST", "/api/v1/tokens", func(int) any { return map[string]string{"name": "t", "role": "support"} }, A},
		{"GET", "/api/v1/audit", nil, A | P | S},
		{"GET", "/api/v1/organizations/acme/members", nil, A | P | S | O},
	} {
		for i, role := range []freight.Role{freight.RoleAdmin, freight.RolePublisher, freight.RoleSupport, freight.RoleOrgAdmin, freight.RoleMember} {
			t.Run(tc.method+" "+tc.path+" as "+string(role), func(t *testing.T) {
				var body any
				if tc.body != nil {
					body = tc.body(i)
				}
				r := e.do(tc.method, tc.path, tokens[role], body)
				bit := map[freight.Role]int{freight.RoleAdmin: A, freight.RolePublisher: P, freight.RoleSupport: S, freight.RoleOrgAdmin: O}[role]
				if tc.allowed&bit != 0 {
					if r.status >= 400 {
						t.Errorf("status %d, want success; body %s", r.status, r.body)
					}
				} else {
					wantError(t, r, http.StatusForbidden, freight.EFORBIDDEN, "")
				}
			})
		}
	}
	t.Run("MeForEveryRole", func(t *testing.T) {
		for role, tok := range tokens {
			var me struct {
				Role  freight.Role `json:"role"`
				OrgID string       `json:"org_id"`
			}
			e.must(http.StatusOK, "GET", "/api/v1/me", tok, nil).decode(t, &me)
			if me.Role != role || (role.IsOrg() && me.OrgID != org.ID) {
				t.Errorf("me = %+v for a %s token", me, role)
			}
		}
	})
}

func TestReleaseLifecycle(t *testing.T) {
	e := newEnv(t)
	e.must(http.StatusCreated, "POST", "/api/v1/products", e.token, map[string]any{"slug": "cad", "name": "CAD"})
	var rel freight.Release
	e.must(http.StatusCreated, "POST", "/api/v1/products/cad/releases", e.token, map[string]any{"version": "2.0.0-rc.1", "channel": "rc"}).decode(t, &rel)
	if rel.State != freight.ReleaseDraft || rel.Channel != freight.ChannelRC {
		t.Fatalf("created release = %+v, want an rc draft", rel)
	}
	path := "/api/v1/releases/" + rel.ID

	wantError(t, e.do("POST", "/api/v1/products/cad/releases", e.token, map[string]any{"version": "2.0.0-rc.1"}), 409, freight.ECONFLICT, "")
	wantError(t, e.do("PATCH", path, e.token, map[string]any{"version": "2.0.0"}), 400, freight.EINVALID, "version")
	e.must(http.StatusOK, "PATCH", path, e.token, map[string]any{"channel": "beta", "notes": "Draft notes"}).decode(t, &rel)
	if rel.Channel != freight.ChannelBeta || rel.Notes != "Draft notes" {
		t.Errorf("after PATCH: channel %q notes %q", rel.Channel, rel.Notes)
	}
	e.must(http.StatusOK, "POST", path+"/publish", e.token, nil).decode(t, &rel)
	if rel.State != freight.ReleasePublished || rel.PublishedAt == nil || !rel.PublishedAt.Equal(e.clock.Now()) {
		t.Errorf("after publish: %+v, want published at %v", rel, e.clock.Now())
	}
	wantError(t, e.do("POST", path+"/publish", e.token, nil), 409, freight.ECONFLICT, "")
	wantError(t, e.do("PATCH", path, e.token, map[string]any{"channel": "stable"}), 400, freight.EINVALID, "channel")
	e.must(http.StatusOK, "PATCH", path, e.token, map[string]any{"notes": "Final notes"})
	wantError(t, e.do("DELETE", path, e.token, nil), 409, freight.ECONFLICT, "")
	e.must(http.StatusOK, "POST", path+"/yank", e.token, map[string]any{"reason": "corrupt installer"}).decode(t, &rel)
	if rel.State != freight.ReleaseYanked || rel.YankReason != "corrupt installer" || rel.YankedAt == nil {
		t.Errorf("after yank: %+v", rel)
	}
	wantError(t, e.do("POST", path+"/yank", e.token, nil), 409, freight.ECONFLICT, "")
	wantError(t, e.do("DELETE", "/api/v1/products/cad", e.token, nil), 409, freight.ECONFLICT, "")

	var draft freight.Release
	e.must(http.StatusCreated, "POST", "/api/v1/products/cad/releases", e.token, map[string]any{"version": "2.0.1"}).decode(t, &draft)
	if draft.Channel != freight.ChannelStable {
		t.Errorf("default channel = %q, want stable", draft.Channel)
	}
	e.must(http.StatusNoContent, "DELETE", "/api/v1/releases/"+draft.ID, e.token, nil)
	wantError(t, e.do("GET", "/api/v1/releases/"+draft.ID, e.token, nil), 404, freight.ENOTFOUND, "")

	var list struct {
		Items []freight.Release
	}
	e.must(http.StatusOK, "GET", "/api/v1/products/cad/releases?state=yanked", e.token, nil).decode(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != rel.ID {
		t.Errorf("yanked releases = %+v, want only %s", list.Items, rel.ID)
	}
}

func TestEntitlementPatch(t *testing.T) {
	e := newEnv(t)
	var org freight.Organization
	var prod freight.Product
	e.must(http.StatusCreated, "POST", "/api/v1/organizations", e.token, map[string]any{"slug": "acme", "name": "Acme"}).decode(t, &org)
	e.must(http.StatusCreated, "POST", "/api/v1/products", e.token, map[string]any{"slug": "cad", "name": "CAD"}).decode(t, &prod)
	var ent freight.Entitlement
	e.must(http.StatusCreated, "POST", "/api/v1/entitlements", e.token, map[string]any{
		"org_id": org.ID, "product_id": prod.ID, "channels": []string{"rc", "stable", "rc"},
		"version_range": ">= 2.0, < 3.0", "maintenance_until": "2027-06-30T00:00:00Z",
		"platforms": []string{"windows"}, "limits": map[string]any{"downloads": 100, "period": "month"},
	}).decode(t, &ent)
	if len(ent.Channels) != 2 || ent.Channels[0] != freight.ChannelRC || ent.Channels[1] != freight.ChannelStable {
		t.Errorf("channels = %v, want [rc stable] (sorted, no duplicates)", ent.Channels)
	}
	wantError(t, e.do("POST", "/api/v1/entitlements", e.token, map[string]any{"org_id": org.ID, "product_id": prod.ID, "channels": []string{"stable"}}), 409, freight.ECONFLICT, "")

	path := "/api/v1/entitlements/" + ent.ID
	ent = freight.Entitlement{} // absent fields in the answer must not keep old values
	e.must(http.StatusOK, "PATCH", path, e.token, map[string]any{"maintenance_until": nil, "platforms": []string{}}).decode(t, &ent)
	if ent.MaintenanceUntil != nil || len(ent.Platforms) != 0 {
		t.Errorf("after clearing: maintenance_until %v platforms %v, want both cleared", ent.MaintenanceUntil, ent.Platforms)
	}
	if ent.VersionRange != ">= 2.0, < 3.0" || ent.Limits.Downloads != 100 {
		t.Errorf("PATCH changed fields it did not name: %+v", ent)
	}
	wantError(t, e.do("PATCH", path, e.token, map[string]any{"org_id": "org_00000000000000000000000000"}), 400, freight.EINVALID, "org_id")
	wantError(t, e.do("PATCH", path, e.token, map[string]any{"channels": []string{}}), 400, freight.EINVALID, "channels")
	wantError(t, e.do("PATCH", path, e.token, map[string]any{"not_before": "2027-01-02T00:00:00Z", "not_after": "2027-01-01T00:00:00Z"}), 400, freight.EINVALID, "not_after")
}

// TestTokenFollowsUser checks that a user's token never acts above what
// the user holds now.
func TestTokenFollowsUser(t *testing.T) {
	e := newEnv(t)
	var org freight.Organization
	var user freight.User
	e.must(http.StatusCreated, "POST", "/api/v1/organizations", e.token, map[string]any{"slug": "acme", "name": "Acme"}).decode(t, &org)
	e.must(http.StatusCreated, "POST", "/api/v1/users", e.token, map[string]any{"email": "ann@acme.example"}).decode(t, &user)
	e.must(http.StatusOK, "PUT", "/api/v1/organizations/acme/members/"+user.ID, e.token, map[string]any{"role": "member"})

	r := e.do("POST", "/api/v1/tokens", e.token, map[string]any{"name": "t", "role": "org-admin", "org_id": org.ID, "user_id": user.ID})
	wantError(t, r, 400, freight.EINVALID, "role")
	r = e.do("POST", "/api/v1/tokens", e.token, map[string]any{"name": "t", "role": "admin", "user_id": user.ID})
	wantError(t, r, 400, freight.EINVALID, "role")

	e.must(http.StatusOK, "PUT", "/api/v1/organizations/acme/members/"+user.ID, e.token, map[string]any{"role": "org-admin"})
	var created struct{ Secret string }
	e.must(http.StatusCreated, "POST", "/api/v1/tokens", e.token, map[string]any{"name": "t", "role": "org-admin", "org_id": org.ID, "user_id": user.ID}).decode(t, &created)

	var me struct{ Role freight.Role }
	e.must(http.StatusOK, "GET", "/api/v1/me", created.Secret, nil).decode(t, &me)
	if me.Role != freight.RoleOrgAdmin {
		t.Errorf("role = %q, want org-admin", me.Role)
	}
	e.must(http.StatusOK, "PUT", "/api/v1/organizations/acme/members/"+user.ID, e.token, map[string]any{"role": "member"})
	e.must(http.StatusOK, "GET", "/api/v1/me", created.Secret, nil).decode(t, &me)
	if me.Role != freight.RoleMember {
		t.Errorf("after demotion role = %q, want member", me.Role)
	}
	e.must(http.StatusNoContent, "DELETE", "/api/v1/organizations/acme/members/"+user.ID, e.token, nil)
	wantError(t, e.do("GET", "/api/v1/me", created.Secret, nil), 401, freight.EUNAUTHORIZED, "")
}

func TestSelfProtection(t *testing.T) {
	e := newEnv(t)
	wantError(t, e.do("DELETE", "/api/v1/users/"+e.admin.ID, e.token, nil), 409, freight.ECONFLICT, "")
	wantError(t, e.do("PATCH", "/api/v1/users/"+e.admin.ID, e.token, map[string]any{"disabled": true}), 409, freight.ECONFLICT, "")
	wantError(t, e.do("PATCH", "/api/v1/users/"+e.admin.ID, e.token, map[string]any{"vendor_role": "support"}), 409, freight.ECONFLICT, "")
	e.must(http.StatusOK, "GET", "/api/v1/me", e.token, nil)
}

func TestPagination(t *testing.T) {
	e := newEnv(t)
	for _, s := range []string{"a", "b", "c", "d", "e"} {
		e.must(http.StatusCreated, "POST", "/api/v1/organizations", e.token, map[string]any{"slug": s, "name": s})
	}
	var seen []string
	next := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		var l struct {
			Items []freight.Organization
			Next  string
		}
		e.must(http.StatusOK, "GET", "/api/v1/organizations?limit=2&after="+next, e.token, nil).decode(t, &l)
		for _, o := range l.Items {
			seen = append(seen, o.Slug)
		}
		if l.Next == "" {
			break
		}
		next = l.Next
	}
	if got, want := len(seen), 5; got != want {
		t.Fatalf("saw %v, want 5 organizations", seen)
	}
	for i, s := range []string{"a", "b", "c", "d", "e"} {
		if seen[i] != s {
			t.Errorf("order %v, want creation order a..e", seen)
			break
		}
	}
}

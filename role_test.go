package freight_test

import (
	"testing"

	"github.com/freight-portal/freight"
)

func TestRole(t *testing.T) {
	tests := []struct {
		role                freight.Role
		isVendor, isOrg, ok bool
		canRead, canPublish bool
		canAdminister       bool
	}{
		{freight.RoleAdmin, true, false, true, true, true, true},
		{freight.RolePublisher, true, false, true, true, true, false},
		{freight.RoleSupport, true, false, true, true, false, false},
		{freight.RoleOrgAdmin, false, true, true, false, false, false},
		{freight.RoleMember, false, true, true, false, false, false},
		{"", false, false, false, false, false, false},
		{"owner", false, false, false, false, false, false},
		{"Admin", false, false, false, false, false, false},
		{"admin ", false, false, false, false, false, false},
		{"org_admin", false, false, false, false, false, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.role), func(t *testing.T) {
			if got, want := tt.role.IsVendor(), tt.isVendor; got != want {
				t.Errorf("Role(%q).IsVendor() = %v, want %v", tt.role, got, want)
			}
			if got, want := tt.role.IsOrg(), tt.isOrg; got != want {
				t.Errorf("Role(%q).IsOrg() = %v, want %v", tt.role, got, want)
			}
			if got, want := tt.role.Valid(), tt.ok; got != want {
				t.Errorf("Role(%q).Valid() = %v, want %v", tt.role, got, want)
			}

			// Permissions depend on the role alone, not on who holds it
			// or in which organization.
			for _, p := range []freight.Principal{
				{Role: tt.role},
				{Role: tt.role, UserID: "usr_x"},
				{Role: tt.role, TokenID: "tok_x", OrgID: "org_x"},
			} {
				if got, want := p.CanRead(), tt.canRead; got != want {
					t.Errorf("%+v.CanRead() = %v, want %v", p, got, want)
				}
				if got, want := p.CanPublish(), tt.canPublish; got != want {
					t.Errorf("%+v.CanPublish() = %v, want %v", p, got, want)
				}
				if got, want := p.CanAdminister(), tt.canAdminister; got != want {
					t.Errorf("%+v.CanAdminister() = %v, want %v", p, got, want)
				}
			}
		})
	}
}

func TestRoleValues(t *testing.T) {
	// The role names are stored and appear in the API.
	tests := []struct {
		role freight.Role
		want string
	}{
		{freight.RoleAdmin, "admin"},
		{freight.RolePublisher, "publisher"},
		{freight.RoleSupport, "support"},
		{freight.RoleOrgAdmin, "org-admin"},
		{freight.RoleMember, "member"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got, want := string(tt.role), tt.want; got != want {
				t.Errorf("role = %q, want %q", got, want)
			}
		})
	}
}

func TestPrincipalActor(t *testing.T) {
	tests := []struct {
		name      string
		principal freight.Principal
		want      string
	}{
		{"user", freight.Principal{UserID: "usr_1", Role: freight.RoleAdmin}, "usr_1"},
		{"user with token", freight.Principal{UserID: "usr_1", TokenID: "tok_1", Role: freight.RoleAdmin}, "usr_1"},
		{"service token", freight.Principal{TokenID: "tok_1", Role: freight.RoleMember, OrgID: "org_1"}, "tok_1"},
		{"nobody", freight.Principal{}, "system"},
		{"role only", freight.Principal{Role: freight.RoleAdmin, OrgID: "org_1"}, "system"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := tt.principal.Actor(), tt.want; got != want {
				t.Errorf("%+v.Actor() = %q, want %q", tt.principal, got, want)
			}
		})
	}
}

package oidc_test

import (
	"slices"
	"testing"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/oidc"
)

func TestAssign(t *testing.T) {
	admin, member := freight.RoleOrgAdmin, freight.RoleMember
	rules := []oidc.Rule{
		{EmailDomain: "acme.example", Org: "acme"},
		{EmailDomain: "ACME-Labs.example", Org: "acme", Role: admin},
		{Claim: "groups", Value: "freight-admins", Org: "acme", Role: admin},
		{Claim: "hd", Value: "globex.example", Org: "globex"},
		{Claim: "cognito:groups", Value: "initech", Org: "initech", Role: member},
	}
	verified := func(email string, claims map[string]any) *oidc.Identity {
		return &oidc.Identity{Email: email, EmailVerified: true, Claims: claims}
	}
	for _, tc := range []struct {
		name string
		id   *oidc.Identity
		want []oidc.Assignment
	}{
		{"nil identity", nil, nil},
		{"no match", verified("a@other.example", nil), nil},
		{"verified domain", verified("a@acme.example", nil), []oidc.Assignment{{"acme", member}}},
		{"domain case-insensitive", verified("a@acme-labs.example", nil), []oidc.Assignment{{"acme", admin}}},
		{"unverified domain", &oidc.Identity{Email: "a@acme.example"}, nil},
		{"unverified domain, claim still matches", &oidc.Identity{Email: "a@acme.example", Claims: map[string]any{"hd": "globex.example"}},
			[]oidc.Assignment{{"globex", member}}},
		{"subdomain does not match", verified("a@eu.acme.example", nil), nil},
		{"suffix does not match", verified("a@notacme.example", nil), nil},
		{"domain in local part does not match", verified("acme.example@evil.example", nil), nil},
		{"no email", &oidc.Identity{EmailVerified: true}, nil},
		{"string claim", verified("", map[string]any{"hd": "globex.example"}), []oidc.Assignment{{"globex", member}}},
		{"string claim differs in case", verified("", map[string]any{"hd": "Globex.example"}), nil},
		{"array claim", verified("", map[string]any{"cognito:groups": []any{"x", "initech"}}), []oidc.Assignment{{"initech", member}}},
		{"string slice claim", verified("", map[string]any{"cognito:groups": []string{"initech"}}), []oidc.Assignment{{"initech", member}}},
		{"array without the value", verified("", map[string]any{"cognito:groups": []any{"initech-old", 7.0}}), nil},
		{"non-string claim", verified("", map[string]any{"hd": true}), nil},
		{"nested array does not match", verified("", map[string]any{"groups": []any{[]any{"freight-admins"}}}), nil},
		{"admin wins over member", verified("a@acme.example", map[string]any{"groups": []any{"freight-admins"}}), []oidc.Assignment{{"acme", admin}}},
		{"several organizations sorted", verified("a@acme.example", map[string]any{"hd": "globex.example", "cognito:groups": "initech"}),
			[]oidc.Assignment{{"acme", member}, {"globex", member}, {"initech", member}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := oidc.Assign(rules, tc.id); !slices.Equal(got, tc.want) {
				t.Errorf("Assign = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRuleValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rule  oidc.Rule
		field string
	}{
		{"domain", oidc.Rule{EmailDomain: "acme.example", Org: "acme"}, ""},
		{"claim admin", oidc.Rule{Claim: "groups", Value: "x", Org: "acme", Role: freight.RoleOrgAdmin}, ""},
		{"neither", oidc.Rule{Org: "acme"}, "email_domain"},
		{"both", oidc.Rule{EmailDomain: "acme.example", Claim: "groups", Value: "x", Org: "acme"}, "email_domain"},
		{"domain with @", oidc.Rule{EmailDomain: "@acme.example", Org: "acme"}, "email_domain"},
		{"domain without dot", oidc.Rule{EmailDomain: "localhost", Org: "acme"}, "email_domain"},
		{"domain with value", oidc.Rule{EmailDomain: "acme.example", Value: "x", Org: "acme"}, "value"},
		{"claim without value", oidc.Rule{Claim: "groups", Org: "acme"}, "value"},
		{"email claim", oidc.Rule{Claim: "email", Value: "a@acme.example", Org: "acme"}, "claim"},
		{"claim with control character", oidc.Rule{Claim: "gr\x00oups", Value: "x", Org: "acme"}, "claim"},
		{"no org", oidc.Rule{EmailDomain: "acme.example"}, "org"},
		{"vendor role", oidc.Rule{EmailDomain: "acme.example", Org: "acme", Role: freight.RoleAdmin}, "role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.rule.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if freight.ErrorCode(err) != freight.EINVALID || freight.ErrorField(err) != tc.field {
				t.Fatalf("got %v, want EINVALID on %s", err, tc.field)
			}
		})
	}
}

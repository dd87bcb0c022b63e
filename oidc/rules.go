package oidc

import (
	"slices"
	"strings"

	"github.com/freight-portal/freight"
)

// Rule places the users of a provider into an organization. A rule matches
// either on the domain of a verified email address (EmailDomain) or on a
// claim (Claim and Value); exactly one of the two is set.
type Rule struct {
	// EmailDomain matches an identity whose email address is at exactly
	// this domain (case-insensitive; subdomains do not match) and whose
	// provider asserted email_verified. Without that assertion anyone who
	// can type an address at some providers would claim the domain.
	EmailDomain string `toml:"email_domain"`
	// Claim names a claim of the ID token or of the userinfo response, by
	// its exact top-level name ("groups", "cognito:groups", "tid", "hd").
	// It matches when the claim is a string equal to Value or an array
	// with a string member equal to Value. Comparison is exact.
	Claim string `toml:"claim"`
	Value string `toml:"value"`
	// Org is the slug of the organization the user joins.
	Org string `toml:"org"`
	// Role is freight.RoleOrgAdmin or freight.RoleMember; empty means member.
	Role freight.Role `toml:"role"`
}

// Assignment is one organization membership a rule grants.
type Assignment struct {
	Org  string       `json:"org"`  // organization slug
	Role freight.Role `json:"role"` // freight.RoleOrgAdmin or freight.RoleMember
}

// Validate checks the rule's fields.
func (r Rule) Validate() error {
	switch {
	case r.EmailDomain != "" && r.Claim != "":
		return freight.FieldError("email_domain", "a rule matches either an email domain or a claim, not both")
	case r.EmailDomain != "":
		if len(r.EmailDomain) > 253 || !domainRE.MatchString(r.EmailDomain) {
			return freight.FieldError("email_domain", "must be a domain name like example.com")
		}
		if r.Value != "" {
			return freight.FieldError("value", "is only used with claim")
		}
	case r.Claim != "":
		if err := checkText("claim", r.Claim, 100); err != nil {
			return err
		}
		if r.Claim == "email" || r.Claim == "email_verified" {
			// A claim rule ignores email_verified; matching addresses
			// goes through email_domain, which does not.
			return freight.FieldError("claim", "use email_domain to match email addresses")
		}
		if r.Value == "" {
			return freight.FieldError("value", "is required with claim")
		}
		if err := checkText("value", r.Value, 200); err != nil {
			return err
		}
	default:
		return freight.FieldError("email_domain", "a rule needs email_domain or claim")
	}
	if !slugRE.MatchString(r.Org) {
		return freight.FieldError("org", "must be an organization slug")
	}
	if r.Role != "" && !r.Role.IsOrg() {
		return freight.FieldError("role", "must be org-admin or member")
	}
	return nil
}

// Matches reports whether the rule applies to id.
func (r Rule) Matches(id *Identity) bool {
	if id == nil {
		return false
	}
	if r.EmailDomain != "" {
		if !id.EmailVerified {
			return false
		}
		at := strings.LastIndexByte(id.Email, '@')
		return at > 0 && strings.EqualFold(id.Email[at+1:], r.EmailDomain)
	}
	if r.Claim == "" {
		return false
	}
	switch v := id.Claims[r.Claim].(type) {
	case string:
		return v == r.Value
	case []any:
		for _, m := range v {
			if s, ok := m.(string); ok && s == r.Value {
				return true
			}
		}
	case []string:
		return slices.Contains(v, r.Value)
	}
	return false
}

// Assign returns the organization memberships that rules grant to id,
// ordered by organization slug, one per organization: when several rules
// name the same organization the stronger role (org-admin) wins. It returns
// nil when no rule matches. Assign is pure; the caller decides whether to
// provision a new user, add memberships to an existing one, or refuse.
func Assign(rules []Rule, id *Identity) []Assignment {
	var out []Assignment
	for _, r := range rules {
		if !r.Matches(id) {
			continue
		}
		role := r.Role
		if role == "" {
			role = freight.RoleMember
		}
		i := slices.IndexFunc(out, func(a Assignment) bool { return a.Org == r.Org })
		switch {
		case i < 0:
			out = append(out, Assignment{Org: r.Org, Role: role})
		case role == freight.RoleOrgAdmin:
			out[i].Role = role
		}
	}
	slices.SortFunc(out, func(a, b Assignment) int { return strings.Compare(a.Org, b.Org) })
	return out
}

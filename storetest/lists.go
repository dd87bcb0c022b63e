package storetest

import (
	"testing"

	"github.com/freight-portal/freight"
)

// List methods bound to a filter, for collect, listAll, checkKeys and
// checkPaging.

func orgList(t testing.TB, s freight.Store, f freight.OrganizationFilter) listFunc[*freight.Organization] {
	return func(p freight.Page) ([]*freight.Organization, string, error) {
		f.Page = p
		return s.Organizations(t.Context(), f)
	}
}

func userList(t testing.TB, s freight.Store, f freight.UserFilter) listFunc[*freight.User] {
	return func(p freight.Page) ([]*freight.User, string, error) {
		f.Page = p
		return s.Users(t.Context(), f)
	}
}

func membershipList(t testing.TB, s freight.Store, f freight.MembershipFilter) listFunc[*freight.Membership] {
	return func(p freight.Page) ([]*freight.Membership, string, error) {
		f.Page = p
		return s.Memberships(t.Context(), f)
	}
}

func productList(t testing.TB, s freight.Store, f freight.ProductFilter) listFunc[*freight.Product] {
	return func(p freight.Page) ([]*freight.Product, string, error) {
		f.Page = p
		return s.Products(t.Context(), f)
	}
}

func releaseList(t testing.TB, s freight.Store, f freight.ReleaseFilter) listFunc[*freight.Release] {
	return func(p freight.Page) ([]*freight.Release, string, error) {
		f.Page = p
		return s.Releases(t.Context(), f)
	}
}

func artifactList(t testing.TB, s freight.Store, f freight.ArtifactFilter) listFunc[*freight.Artifact] {
	return func(p freight.Page) ([]*freight.Artifact, string, error) {
		f.Page = p
		return s.Artifacts(t.Context(), f)
	}
}

func entitlementList(t testing.TB, s freight.Store, f freight.EntitlementFilter) listFunc[*freight.Entitlement] {
	return func(p freight.Page) ([]*freight.Entitlement, string, error) {
		f.Page = p
		return s.Entitlements(t.Context(), f)
	}
}

func tokenList(t testing.TB, s freight.Store, f freight.TokenFilter) listFunc[*freight.Token] {
	return func(p freight.Page) ([]*freight.Token, string, error) {
		f.Page = p
		return s.Tokens(t.Context(), f)
	}
}

func auditList(t testing.TB, s freight.Store, f freight.AuditFilter) listFunc[*freight.AuditEvent] {
	return func(p freight.Page) ([]*freight.AuditEvent, string, error) {
		f.Page = p
		return s.AuditEvents(t.Context(), f)
	}
}

func uploadList(t testing.TB, s freight.Store, f freight.UploadFilter) listFunc[*freight.Upload] {
	return func(p freight.Page) ([]*freight.Upload, string, error) {
		f.Page = p
		return s.Uploads(t.Context(), f)
	}
}

package server

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/freight-portal/freight"
)

// perm is the permission a route needs. Every route declares one in
// routes.go, and authorize is the one place that decides, from the caller's
// role, organization and credential, whether a request may reach its
// handler. Handlers then only narrow what they return to what the caller
// may see (an org-admin's downloads are its organization's).
type perm int

const (
	// permPublic: anyone, signed in or not (sign-in itself, links from
	// mail, public keys).
	permPublic perm = iota
	// permSignedIn: any caller with a valid credential, of any role.
	permSignedIn
	// permSession: a person signed in through the browser, not an API
	// token: changing a password or a second factor, listing sessions and
	// minting personal tokens must not be open to a leaked token.
	permSession
	// permEnroll: like permSession, and also open to a person who must
	// enrol a second factor before doing anything else.
	permEnroll
	// permSelf: any caller with a valid credential, also during
	// enrolment: who am I.
	permSelf
	// permRead: vendor staff (admin, publisher, support).
	permRead
	// permPublish: admin and publisher; a publisher narrowed to some
	// products reaches only those (see productOf).
	permPublish
	// permAdmin: vendor admin.
	permAdmin
	// permOrgRead: vendor staff, or the org-admin of the organization
	// named by the route's {org}.
	permOrgRead
	// permOrgInvite: vendor staff, or the org-admin of {org}.
	permOrgInvite
	// permOrgManage: vendor admin, or the org-admin of {org}.
	permOrgManage
	// permDownloadsRead: vendor staff and org-admins; the handler keeps an
	// org-admin to its own organization.
	permDownloadsRead
	// permEdge: an edge node, with its own credential ("fre_…"); API
	// tokens and sessions are refused.
	permEdge
	// permOrgAdmin: an org-admin, in the organization it acts in; its
	// pages show that organization only.
	permOrgAdmin
)

var permNames = map[perm]string{
	permPublic: "public", permSignedIn: "signed-in", permSession: "session", permEnroll: "enroll", permSelf: "self",
	permRead: "read", permPublish: "publish", permAdmin: "admin",
	permOrgRead: "org-read", permOrgInvite: "org-invite", permOrgManage: "org-manage",
	permDownloadsRead: "downloads-read", permEdge: "edge", permOrgAdmin: "org-admin",
}

func (p perm) String() string { return permNames[p] }

// Route describes one route of the server for tests and documentation.
type Route struct {
	Pattern    string // as given to http.ServeMux: "GET /api/v1/users"
	Permission string // the name of the permission it needs
	// Page marks the web interface's HTML pages and assets, which the
	// OpenAPI description leaves out.
	Page bool
	// Group is the rate-limit group the route counts in (GroupAPI…), ""
	// for routes that never count.
	Group string
}

// Routes lists every route the server answers, with its permission.
func (s *Server) Routes() []Route { return slices.Clone(s.routeList) }

// allows reports whether a principal's role passes the permission, before
// any organization or product is looked at.
func (need perm) allows(p freight.Principal) bool {
	switch need {
	case permPublic, permSignedIn, permSelf:
		return true
	case permSession:
		return p.SessionID != ""
	case permEnroll:
		return p.SessionID != ""
	case permRead:
		return p.CanRead()
	case permPublish:
		return p.CanPublish()
	case permAdmin:
		return p.CanAdminister()
	case permOrgRead, permOrgInvite:
		return p.CanRead() || p.Role == freight.RoleOrgAdmin
	case permOrgManage:
		return p.CanAdminister() || p.Role == freight.RoleOrgAdmin
	case permDownloadsRead:
		return p.CanRead() || p.Role == freight.RoleOrgAdmin
	case permOrgAdmin:
		return p.Role == freight.RoleOrgAdmin && p.OrgID != ""
	}
	return false
}

// authorize authenticates the caller of a route that needs it and applies
// the route's permission; what names the action in refusals.
func (s *Server) authorize(need perm, what string, next http.Handler) http.Handler {
	if need == permPublic {
		return next
	}
	if need == permEdge {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			e, err := s.edgeOf(r)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), edgeKey, e)))
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err == nil {
			err = s.decide(r, need, what, p)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey, p)))
	})
}

// decide applies a permission to an authenticated principal.
func (s *Server) decide(r *http.Request, need perm, what string, p freight.Principal) error {
	if p.MFAEnrollment && need != permEnroll && need != permSelf {
		return freight.Errorf(freight.EFORBIDDEN, "a second factor is required for your account: enrol one (POST /api/v1/account/mfa/totp) before anything else")
	}
	if !need.allows(p) {
		if need == permSession || need == permEnroll {
			return freight.Errorf(freight.EFORBIDDEN, "only a signed-in browser session may %s, not an API token", what)
		}
		return need.refuse(p, what)
	}
	ctx := r.Context()
	switch need {
	case permOrgRead, permOrgInvite, permOrgManage:
		if p.Role.IsOrg() {
			return s.sameOrg(ctx, p, r.PathValue("org"), what)
		}
	case permPublish:
		if len(p.Products) == 0 {
			return nil
		}
		id, err := s.productOf(ctx, r)
		if err != nil {
			return err
		}
		if id == "" && r.Method != http.MethodGet {
			return freight.Errorf(freight.EFORBIDDEN, "this token is limited to some products and may not %s", what)
		}
		if id != "" && !slices.Contains(p.Products, id) {
			return freight.Errorf(freight.EFORBIDDEN, "this token may not %s of this product", what)
		}
	}
	return nil
}

func (need perm) refuse(p freight.Principal, what string) error {
	if p.Role == "" {
		return freight.Errorf(freight.EFORBIDDEN, "you may not %s", what)
	}
	return freight.Errorf(freight.EFORBIDDEN, "your role (%s) may not %s", p.Role, what)
}

// sameOrg admits an organization role to its own organization only. The
// answer for another organization is the same whether it exists or not.
func (s *Server) sameOrg(ctx context.Context, p freight.Principal, ref, what string) error {
	refuse := freight.Errorf(freight.EFORBIDDEN, "your role (%s) may %s of your own organization only", p.Role, what)
	if ref == "" || p.OrgID == "" {
		return refuse
	}
	if ref == p.OrgID {
		return nil
	}
	if strings.HasPrefix(ref, freight.PrefixOrganization+"_") {
		return refuse
	}
	o, err := s.store.Organization(ctx, p.OrgID)
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		return refuse
	} else if err != nil {
		return err
	}
	if o.Slug != ref {
		return refuse
	}
	return nil
}

// productOf finds the product a publishing request acts on, from its path
// ({product}, {release}, {artifact} or {upload}) or the artifact_id query
// parameter; "" when the route names none. A missing object answers
// ENOTFOUND, as its handler would.
func (s *Server) productOf(ctx context.Context, r *http.Request) (string, error) {
	if ref := r.PathValue("product"); ref != "" {
		pr, err := productRef(ctx, s.store, ref)
		if err != nil {
			return "", err
		}
		return pr.ID, nil
	}
	releaseID := r.PathValue("release")
	artifactID := r.PathValue("artifact")
	if artifactID == "" {
		artifactID = r.URL.Query().Get("artifact_id")
	}
	if id := r.PathValue("upload"); id != "" {
		u, err := s.store.Upload(ctx, id)
		if err != nil {
			return "", err
		}
		artifactID = u.ArtifactID
	}
	if artifactID != "" {
		a, err := s.store.Artifact(ctx, artifactID)
		if err != nil {
			return "", err
		}
		releaseID = a.ReleaseID
	}
	if releaseID == "" {
		return "", nil
	}
	rel, err := s.store.Release(ctx, releaseID)
	if err != nil {
		return "", err
	}
	return rel.ProductID, nil
}

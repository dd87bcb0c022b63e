package server

import (
	"net/http"

	"github.com/freight-portal/freight"
)

// apiFunc is the shape of API handlers: they write the success answer and
// return any error, which adapt writes in the one common way.
type apiFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) adapt(h apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// adaptPage is adapt for handlers of browser navigations: the error is
// answered with the error page.
func (s *Server) adaptPage(h apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.pageError(w, r, err)
		}
	})
}

// routes lists every route of the server, each with the permission it
// needs (see authz.go) and, for refusals, what it does.
func (s *Server) routes() http.Handler {
	api := http.NewServeMux()
	// Every API route counts against its group's rate limit (ratelimit.go),
	// after authorization has named the caller.
	handle := func(pattern string, need perm, what string, h apiFunc) {
		g := groupOf(pattern)
		s.routeList = append(s.routeList, Route{Pattern: pattern, Permission: need.String(), Group: g})
		api.Handle(pattern, s.authorize(need, what, s.rateLimited(g, s.writeError, s.adapt(h))))
	}

	// Signing in and the links sent by mail.
	handle("POST /api/v1/auth/signin", permPublic, "sign in", s.signIn)
	handle("POST /api/v1/auth/mfa", permPublic, "complete a sign-in", s.signInMFA)
	handle("POST /api/v1/auth/signout", permPublic, "sign out", s.signOut)
	handle("POST /api/v1/auth/forgot", permPublic, "ask for a password reset", s.forgotPassword)
	handle("POST /api/v1/auth/reset", permPublic, "reset a password", s.resetPassword)
	handle("POST /api/v1/auth/accept", permPublic, "accept an invitation", s.acceptInvitation)
	handle("POST /api/v1/auth/verify", permPublic, "verify an email address", s.verifyEmail)
	handle("GET /api/v1/auth/providers", permPublic, "list sign-in providers", s.listProviders)
	// Browser sign-in for the command line (cliauth.go): the person's
	// Allow, then the command line's exchange of the code.
	handle("POST /api/v1/auth/cli/authorize", permSession, "let the command line act as you", s.cliAuthorize)
	handle("POST /api/v1/auth/cli/token", permPublic, "finish a command-line sign-in", s.cliToken)

	handle("GET /api/v1/me", permSelf, "see who you are", s.getMe)

	// The signed-in person's own account.
	handle("POST /api/v1/auth/signout-everywhere", permEnroll, "sign out everywhere", s.signOutEverywhere)
	handle("POST /api/v1/account/organization", permSession, "switch organization", s.switchOrganization)
	handle("POST /api/v1/account/password", permEnroll, "change your password", s.changePassword)
	handle("POST /api/v1/account/verify-email", permSession, "ask for a verification link", s.sendVerification)
	handle("POST /api/v1/account/preferences", permSession, "change your preferences", s.setPreferences)
	handle("POST /api/v1/account/mfa/totp", permEnroll, "enrol a second factor", s.beginTOTP)
	handle("POST /api/v1/account/mfa/totp/confirm", permEnroll, "enrol a second factor", s.confirmTOTP)
	handle("POST /api/v1/account/mfa/recovery-codes", permSession, "renew recovery codes", s.renewRecoveryCodes)
	handle("POST /api/v1/account/mfa/disable", permSession, "turn off the second factor", s.disableMFA)
	handle("GET /api/v1/account/sessions", permSession, "list your sessions", s.listSessions)
	handle("DELETE /api/v1/account/sessions/{session}", permSession, "end a session", s.endSession)
	handle("GET /api/v1/account/tokens", permSession, "list your tokens", s.listPersonalTokens)
	handle("POST /api/v1/account/tokens", permSession, "create a personal token", s.createPersonalToken)
	handle("DELETE /api/v1/account/tokens/{token}", permSession, "revoke a personal token", s.revokePersonalToken)

	handle("GET /api/v1/settings", permRead, "read the settings", s.getSettings)
	handle("PATCH /api/v1/settings", permAdmin, "change the settings", s.updateSettings)

	handle("GET /api/v1/organizations", permRead, "list organizations", s.listOrganizations)
	handle("POST /api/v1/organizations", permAdmin, "create organizations", s.createOrganization)
	handle("GET /api/v1/organizations/{org}", permOrgRead, "read organizations", s.getOrganization)
	handle("PATCH /api/v1/organizations/{org}", permAdmin, "change organizations", s.updateOrganization)
	handle("DELETE /api/v1/organizations/{org}", permAdmin, "delete organizations", s.deleteOrganization)
	handle("GET /api/v1/organizations/{org}/members", permOrgRead, "list members", s.listMembers)
	handle("PUT /api/v1/organizations/{org}/members/{user}", permOrgManage, "change members", s.putMember)
	handle("DELETE /api/v1/organizations/{org}/members/{user}", permOrgManage, "remove members", s.deleteMember)
	handle("POST /api/v1/organizations/{org}/invitations", permOrgInvite, "invite users", s.inviteMember)
	handle("GET /api/v1/organizations/{org}/invitations", permOrgInvite, "list pending invitations", s.listInvitations)
	handle("DELETE /api/v1/organizations/{org}/invitations/{invitation}", permOrgManage, "withdraw invitations", s.revokeInvitation)
	handle("GET /api/v1/organizations/{org}/tokens", permOrgManage, "list service-account tokens", s.listOrgTokens)
	handle("POST /api/v1/organizations/{org}/tokens", permOrgManage, "create service-account tokens", s.createOrgToken)
	handle("DELETE /api/v1/organizations/{org}/tokens/{token}", permOrgManage, "revoke service-account tokens", s.revokeOrgToken)
	// What an organization's members see, for vendor staff: now, and
	// with a draft entitlement before it is saved.
	handle("GET /api/v1/organizations/{org}/catalog", permRead, "see an organization's catalog", s.organizationCatalog)
	handle("POST /api/v1/organizations/{org}/catalog/preview", permRead, "preview an organization's catalog", s.previewCatalog)
	handle("GET /api/v1/organizations/{org}/usage", permOrgRead, "see quotas and usage", s.getOrgUsage)
	handle("PUT /api/v1/organizations/{org}/quota", permAdmin, "change quotas", s.putOrgQuota)

	handle("GET /api/v1/users", permRead, "list users", s.listUsers)
	handle("POST /api/v1/users", permAdmin, "create users", s.createUser)
	handle("POST /api/v1/invitations", permAdmin, "invite vendor staff", s.inviteStaff)
	handle("GET /api/v1/users/{user}", permRead, "read users", s.getUser)
	handle("PATCH /api/v1/users/{user}", permAdmin, "change users", s.updateUser)
	handle("DELETE /api/v1/users/{user}", permAdmin, "delete users", s.deleteUser)
	handle("GET /api/v1/users/{user}/memberships", permRead, "list memberships", s.listUserMemberships)

	handle("GET /api/v1/products", permRead, "list products", s.listProducts)
	handle("POST /api/v1/products", permPublish, "create products", s.createProduct)
	handle("GET /api/v1/products/{product}", permRead, "read products", s.getProduct)
	handle("PATCH /api/v1/products/{product}", permPublish, "change products", s.updateProduct)
	handle("DELETE /api/v1/products/{product}", permAdmin, "delete products", s.deleteProduct)
	handle("GET /api/v1/products/{product}/releases", permRead, "list releases", s.listReleases)
	handle("POST /api/v1/products/{product}/releases", permPublish, "create releases", s.createRelease)

	handle("GET /api/v1/releases/{release}", permRead, "read releases", s.getRelease)
	handle("PATCH /api/v1/releases/{release}", permPublish, "change releases", s.updateRelease)
	handle("DELETE /api/v1/releases/{release}", permPublish, "delete releases", s.deleteRelease)
	handle("POST /api/v1/releases/{release}/publish", permPublish, "publish releases", s.publishRelease)
	handle("POST /api/v1/releases/{release}/yank", permPublish, "yank releases", s.yankRelease)
	handle("GET /api/v1/releases/{release}/artifacts", permRead, "list artifacts", s.listArtifacts)
	handle("POST /api/v1/releases/{release}/artifacts", permPublish, "upload artifacts", s.createArtifact)
	handle("GET /api/v1/artifacts/{artifact}", permRead, "read artifacts", s.getArtifact)
	handle("DELETE /api/v1/artifacts/{artifact}", permPublish, "delete artifacts", s.deleteArtifact)

	handle("GET /api/v1/uploads", permPublish, "see uploads", s.listUploads)
	handle("GET /api/v1/uploads/{upload}", permPublish, "see uploads", s.getUpload)
	handle("POST /api/v1/uploads/{upload}/urls", permPublish, "upload artifacts", s.partURLs)
	handle("POST /api/v1/uploads/{upload}/complete", permPublish, "complete uploads", s.completeUpload)
	handle("DELETE /api/v1/uploads/{upload}", permPublish, "cancel uploads", s.abortUpload)
	// A part URL is its own credential, like a presigned S3 URL.
	handle("PUT /api/v1/uploads/{upload}/parts/{part}", permPublic, "upload parts", s.putPart)

	handle("GET /api/v1/entitlements", permRead, "list entitlements", s.listEntitlements)
	handle("POST /api/v1/entitlements", permAdmin, "create entitlements", s.createEntitlement)
	handle("GET /api/v1/entitlements/{entitlement}", permRead, "read entitlements", s.getEntitlement)
	handle("PATCH /api/v1/entitlements/{entitlement}", permAdmin, "change entitlements", s.updateEntitlement)
	handle("DELETE /api/v1/entitlements/{entitlement}", permAdmin, "delete entitlements", s.deleteEntitlement)

	handle("GET /api/v1/tokens", permAdmin, "list tokens", s.listTokens)
	handle("POST /api/v1/tokens", permAdmin, "create tokens", s.createToken)
	handle("GET /api/v1/tokens/{token}", permAdmin, "read tokens", s.getToken)
	handle("DELETE /api/v1/tokens/{token}", permAdmin, "revoke tokens", s.revokeToken)

	handle("GET /api/v1/audit", permRead, "read the audit log", s.listAudit)

	// What customers may download; handlers keep every caller to what its
	// organization's entitlements allow.
	handle("GET /api/v1/catalog", permSignedIn, "see the catalog", s.catalog)
	handle("GET /api/v1/products/{product}/upgrade", permSignedIn, "check for upgrades", s.upgrade)
	handle("POST /api/v1/artifacts/{artifact}/download", permSignedIn, "download", s.requestDownload)
	handle("GET /api/v1/downloads", permDownloadsRead, "see downloads", s.listDownloads)
	handle("GET /api/v1/analytics/downloads", permDownloadsRead, "see download figures", s.downloadAnalytics)
	handle("GET /api/v1/licenses", permSignedIn, "list licenses", s.listLicenses)
	handle("POST /api/v1/licenses", permAdmin, "issue licenses", s.createLicense)
	handle("GET /api/v1/licenses/{license}", permSignedIn, "read licenses", s.getLicense)
	handle("GET /api/v1/licenses/{license}/file", permSignedIn, "download license files", s.licenseFile)
	handle("POST /api/v1/licenses/{license}/amend", permAdmin, "amend licenses", s.amendLicense)
	handle("POST /api/v1/licenses/{license}/revoke", permAdmin, "revoke licenses", s.revokeLicense)
	handle("GET /api/v1/license-revocations", permPublic, "list revoked licenses", func(w http.ResponseWriter, r *http.Request) error {
		s.licenseRevocations(w, r)
		return nil
	})

	handle("GET /api/v1/edges", permRead, "list edges", s.listEdges)
	handle("POST /api/v1/edges", permAdmin, "create edges", s.createEdge)
	handle("GET /api/v1/edges/{edge}", permRead, "read edges", s.getEdge)
	handle("DELETE /api/v1/edges/{edge}", permAdmin, "delete edges", s.deleteEdge)
	// Edges authenticate with their own credential, not an API token.
	handle("POST /api/v1/edge/heartbeat", permEdge, "report as an edge", s.edgeAPI(s.edgeHeartbeat))
	handle("POST /api/v1/edge/events", permEdge, "report downloads as an edge", s.edgeAPI(s.edgeEvents))
	handle("GET /api/v1/jobs", permAdmin, "see background jobs", s.listJobs)
	handle("POST /api/v1/jobs/{job}/retry", permAdmin, "retry background jobs", s.retryJob)

	// Webhooks: the vendor's, for admins; an organization's, for its
	// org-admins and vendor admins. The handlers keep each to its scope.
	for _, scope := range []struct {
		prefix string
		need   perm
	}{{"/api/v1", permAdmin}, {"/api/v1/organizations/{org}", permOrgManage}} {
		p, need := scope.prefix, scope.need
		handle("GET "+p+"/webhooks", need, "list webhooks", s.listWebhooks)
		handle("POST "+p+"/webhooks", need, "create webhooks", s.createWebhook)
		handle("GET "+p+"/webhooks/{webhook}", need, "read webhooks", s.getWebhook)
		handle("PATCH "+p+"/webhooks/{webhook}", need, "change webhooks", s.updateWebhook)
		handle("DELETE "+p+"/webhooks/{webhook}", need, "delete webhooks", s.deleteWebhook)
		handle("POST "+p+"/webhooks/{webhook}/rotate-secret", need, "rotate webhook secrets", s.rotateWebhookSecret)
		handle("POST "+p+"/webhooks/{webhook}/test", need, "send test events", s.testWebhook)
		handle("GET "+p+"/webhooks/{webhook}/deliveries", need, "see webhook deliveries", s.listWebhookDeliveries)
		handle("GET "+p+"/webhooks/{webhook}/deliveries/{delivery}", need, "see webhook deliveries", s.getWebhookDelivery)
		handle("POST "+p+"/webhooks/{webhook}/deliveries/{delivery}/retry", need, "retry webhook deliveries", s.retryWebhookDelivery)
	}

	handle("GET /api/v1/keys", permAdmin, "see signing keys", s.listKeys)
	handle("POST /api/v1/keys/rotate", permAdmin, "rotate signing keys", s.rotateKey)
	handle("POST /api/v1/keys/{key}/retire", permAdmin, "retire signing keys", s.retireKey)

	// The description of this API, for programs and for people.
	handle("GET /api/openapi.json", permPublic, "read the API description", s.openAPI)
	handle("GET /api/docs", permPublic, "read the API documentation", s.docs)

	// Anything else under /api/ answers a JSON 404, not the mux's text one.
	api.HandleFunc("/api/", s.notFound)

	mux := http.NewServeMux()
	// Sign-in at an OpenID provider: browser navigations, not API calls,
	// so refusals and failures are answered with the error page.
	browserRoute := func(pattern string, h apiFunc) {
		g := groupOf(pattern)
		s.routeList = append(s.routeList, Route{Pattern: pattern, Permission: permPublic.String(), Group: g})
		mux.Handle(pattern, s.rateLimited(g, s.pageError, s.adaptPage(h)))
	}
	browserRoute("GET /auth/oidc/{provider}/start", s.oidcStart)
	browserRoute("GET /auth/oidc/{provider}/callback", s.oidcCallback)

	// The web interface. Pages only read; their forms call the API.
	page := func(pattern string, need perm, what string, h pageFunc) {
		s.routeList = append(s.routeList, Route{Pattern: pattern, Permission: need.String(), Page: true})
		mux.Handle(pattern, s.page(need, what, h))
	}
	page("GET /sign-in", permPublic, "sign in", s.signInPage)
	page("GET /sign-in/mfa", permPublic, "sign in", s.signInMFAPage)
	page("GET /forgot-password", permPublic, "ask for a password reset", s.staticPage("forgot-password", "Forgot password"))
	page("GET /reset-password", permPublic, "reset a password", s.staticPage("reset-password", "Choose a new password"))
	page("GET /accept-invitation", permPublic, "accept an invitation", s.staticPage("accept-invitation", "Accept your invitation"))
	page("GET /verify-email", permPublic, "verify an email address", s.staticPage("verify-email", "Verify your email address"))
	page("GET /{$}", permSignedIn, "see the catalog", s.catalogPage)
	page("GET /products/{product}", permSignedIn, "see the catalog", s.productPage)
	page("GET /licenses", permSignedIn, "list licenses", s.licensesPage)
	page("GET /account", permEnroll, "manage your account", s.accountPage)
	page("GET /cli/authorize", permSession, "let the command line act as you", s.cliAuthorizePage)
	page("GET /account/mfa/qr.png", permEnroll, "enrol a second factor", s.mfaQRCode)
	page("GET /console/analytics", permRead, "see download figures", s.analyticsPage)
	page("GET /org", permOrgAdmin, "manage your organization", s.orgPage)
	page("GET /org/downloads", permOrgAdmin, "see your organization's downloads", s.orgDownloadsPage)
	page("GET /org/webhooks", permOrgAdmin, "manage your organization's webhooks", s.orgWebhooksPage)
	page("GET /console", permRead, "use the vendor console", s.consolePage)
	page("GET /console/products/{product}", permRead, "use the vendor console", s.consoleProductPage)
	page("GET /console/releases/{release}", permRead, "use the vendor console", s.consoleReleasePage)
	// The vendor console: customers and operations.
	page("GET /console/organizations", permRead, "use the vendor console", s.consoleOrganizationsPage)
	page("GET /console/organizations/{org}", permRead, "use the vendor console", s.consoleOrganizationPage)
	page("GET /console/users", permRead, "use the vendor console", s.consoleUsersPage)
	page("GET /console/licenses", permRead, "use the vendor console", s.consoleLicensesPage)
	page("GET /console/edges", permRead, "use the vendor console", s.consoleEdgesPage)
	page("GET /console/audit", permRead, "use the vendor console", s.consoleAuditPage)
	// As the API, which lets only admins read the vendor's webhooks.
	page("GET /console/webhooks", permAdmin, "manage the vendor's webhooks", s.consoleWebhooksPage)
	s.routeList = append(s.routeList, Route{Pattern: "GET /assets/{name}", Permission: permPublic.String(), Page: true})
	mux.HandleFunc("GET /assets/{name}", s.ui.ServeAsset)

	// Browsers must not be able to make a signed-in person's browser
	// change anything from another site: non-safe cross-origin requests
	// are refused (Sec-Fetch-Site, or Origin against Host). API clients
	// send neither header and pass.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, freight.Errorf(freight.EFORBIDDEN, "cross-origin request refused: a browser may change things only from this portal's own pages"))
	}))
	mux.Handle("/api/", cop.Handler(api))
	mux.HandleFunc("/", s.notFound)

	// The download origin and the public keys stay outside the logging
	// middleware: its response writer would hide net/http's ReadFrom, and
	// with it sendfile. The origin logs each download itself.
	top := http.NewServeMux()
	public := func(pattern string, h http.HandlerFunc) {
		s.routeList = append(s.routeList, Route{Pattern: pattern, Permission: permPublic.String()})
		top.HandleFunc(pattern, h)
	}
	public("GET /d/{token}/{name}", s.serveDownload)
	// Edges fetch blobs here; outside the logging middleware, like the
	// origin, to keep sendfile.
	s.routeList = append(s.routeList, Route{Pattern: "GET /api/v1/edge/blobs/{sha256}", Permission: permEdge.String()})
	top.Handle("GET /api/v1/edge/blobs/{sha256}", s.authorize(permEdge, "fetch blobs as an edge", http.HandlerFunc(s.serveEdgeBlob)))
	public("GET /.well-known/freight-keys.json", s.publicKeys)
	public("GET /.well-known/freight-license-keys.json", s.licensePublicKeys)
	public("GET /healthz", s.healthz)
	public("GET /readyz", s.readyz)
	public("GET /metrics", s.serveMetrics)
	top.Handle("/", s.withLogging(mux))
	return withRequestID(top)
}

package server

import "net/http"

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

// routes lists every route of the server.
func (s *Server) routes() http.Handler {
	api := http.NewServeMux()
	handle := func(pattern string, h apiFunc) { api.Handle(pattern, s.requireAuth(s.adapt(h))) }

	handle("GET /api/v1/me", s.getMe)

	handle("GET /api/v1/organizations", s.listOrganizations)
	handle("POST /api/v1/organizations", s.createOrganization)
	handle("GET /api/v1/organizations/{org}", s.getOrganization)
	handle("PATCH /api/v1/organizations/{org}", s.updateOrganization)
	handle("DELETE /api/v1/organizations/{org}", s.deleteOrganization)
	handle("GET /api/v1/organizations/{org}/members", s.listMembers)
	handle("PUT /api/v1/organizations/{org}/members/{user}", s.putMember)
	handle("DELETE /api/v1/organizations/{org}/members/{user}", s.deleteMember)

	handle("GET /api/v1/users", s.listUsers)
	handle("POST /api/v1/users", s.createUser)
	handle("GET /api/v1/users/{user}", s.getUser)
	handle("PATCH /api/v1/users/{user}", s.updateUser)
	handle("DELETE /api/v1/users/{user}", s.deleteUser)
	handle("GET /api/v1/users/{user}/memberships", s.listUserMemberships)

	handle("GET /api/v1/products", s.listProducts)
	handle("POST /api/v1/products", s.createProduct)
	handle("GET /api/v1/products/{product}", s.getProduct)
	handle("PATCH /api/v1/products/{product}", s.updateProduct)
	handle("DELETE /api/v1/products/{product}", s.deleteProduct)
	handle("GET /api/v1/products/{product}/releases", s.listReleases)
	handle("POST /api/v1/products/{product}/releases", s.createRelease)

	handle("GET /api/v1/releases/{release}", s.getRelease)
	handle("PATCH /api/v1/releases/{release}", s.updateRelease)
	handle("DELETE /api/v1/releases/{release}", s.deleteRelease)
	handle("POST /api/v1/releases/{release}/publish", s.publishRelease)
	handle("POST /api/v1/releases/{release}/yank", s.yankRelease)
	handle("GET /api/v1/releases/{release}/artifacts", s.listArtifacts)
	handle("POST /api/v1/releases/{release}/artifacts", s.createArtifact)
	handle("GET /api/v1/artifacts/{artifact}", s.getArtifact)
	handle("DELETE /api/v1/artifacts/{artifact}", s.deleteArtifact)

	handle("GET /api/v1/uploads", s.listUploads)
	handle("GET /api/v1/uploads/{upload}", s.getUpload)
	handle("POST /api/v1/uploads/{upload}/urls", s.partURLs)
	handle("POST /api/v1/uploads/{upload}/complete", s.completeUpload)
	handle("DELETE /api/v1/uploads/{upload}", s.abortUpload)
	// A part URL is its own credential, like a presigned S3 URL.
	api.Handle("PUT /api/v1/uploads/{upload}/parts/{part}", s.adapt(s.putPart))

	handle("GET /api/v1/entitlements", s.listEntitlements)
	handle("POST /api/v1/entitlements", s.createEntitlement)
	handle("GET /api/v1/entitlements/{entitlement}", s.getEntitlement)
	handle("PATCH /api/v1/entitlements/{entitlement}", s.updateEntitlement)
	handle("DELETE /api/v1/entitlements/{entitlement}", s.deleteEntitlement)

	handle("GET /api/v1/tokens", s.listTokens)
	handle("POST /api/v1/tokens", s.createToken)
	handle("GET /api/v1/tokens/{token}", s.getToken)
	handle("DELETE /api/v1/tokens/{token}", s.revokeToken)

	handle("GET /api/v1/audit", s.listAudit)

	handle("GET /api/v1/catalog", s.catalog)
	handle("GET /api/v1/products/{product}/upgrade", s.upgrade)
	handle("POST /api/v1/artifacts/{artifact}/download", s.requestDownload)
	handle("GET /api/v1/downloads", s.listDownloads)
	handle("GET /api/v1/licenses", s.listLicenses)
	handle("POST /api/v1/licenses", s.createLicense)
	handle("GET /api/v1/licenses/{license}", s.getLicense)
	handle("GET /api/v1/licenses/{license}/file", s.licenseFile)
	handle("POST /api/v1/licenses/{license}/amend", s.amendLicense)
	handle("POST /api/v1/licenses/{license}/revoke", s.revokeLicense)
	api.HandleFunc("GET /api/v1/license-revocations", s.licenseRevocations)

	handle("GET /api/v1/edges", s.listEdges)
	handle("POST /api/v1/edges", s.createEdge)
	handle("GET /api/v1/edges/{edge}", s.getEdge)
	handle("DELETE /api/v1/edges/{edge}", s.deleteEdge)
	// Edges authenticate with their own credential, checked by edgeAPI.
	api.Handle("POST /api/v1/edge/heartbeat", s.adapt(s.edgeAPI(s.edgeHeartbeat)))
	api.Handle("POST /api/v1/edge/events", s.adapt(s.edgeAPI(s.edgeEvents)))

	handle("GET /api/v1/keys", s.listKeys)
	handle("POST /api/v1/keys/rotate", s.rotateKey)
	handle("POST /api/v1/keys/{key}/retire", s.retireKey)

	// Anything else under /api/ answers a JSON 404, not the mux's text one.
	api.HandleFunc("/api/", s.notFound)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("/api/", api)
	mux.HandleFunc("/", s.notFound)

	// The download origin and the public keys stay outside the logging
	// middleware: its response writer would hide net/http's ReadFrom, and
	// with it sendfile. The origin logs each download itself.
	top := http.NewServeMux()
	top.HandleFunc("GET /d/{token}/{name}", s.serveDownload)
	top.HandleFunc("GET /api/v1/edge/blobs/{sha256}", s.serveEdgeBlob)
	top.HandleFunc("GET /.well-known/freight-keys.json", s.publicKeys)
	top.HandleFunc("GET /.well-known/freight-license-keys.json", s.licensePublicKeys)
	top.Handle("/", s.withLogging(mux))
	return withRequestID(top)
}

package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

// matrixRoles are the callers of the authorisation matrix, in the order of
// the letters of each row.
var matrixRoles = []string{"anonymous", "acme member", "acme org-admin", "globex member", "support", "publisher", "admin"}

// matrixRow is the expected outcome of one route for every caller: a
// letter per role, U for 401, F for 403, A for anything else (allowed
// through authorisation: the handler may still answer 400 or 404, since
// the requests carry empty bodies and ids of missing objects, so that no
// cell changes what the others see). sessions, when set, is the
// expectation for callers signed in with a browser session instead of an
// API token.
type matrixRow struct {
	tokens, sessions string
	org              string // the {org} of the path; "acme" when empty
}

// matrix has a row for every route of the server. A route without a row
// fails the test: a new route must state who may call it.
var matrix = map[string]matrixRow{
	"POST /api/v1/auth/signin":             {tokens: "AAAAAAA"},
	"POST /api/v1/auth/mfa":                {tokens: "UUUUUUU", sessions: "UAAAAAA"},
	"POST /api/v1/auth/signout":            {tokens: "AAAAAAA"},
	"POST /api/v1/auth/forgot":             {tokens: "AAAAAAA"},
	"POST /api/v1/auth/reset":              {tokens: "UUUUUUU"},
	"POST /api/v1/auth/accept":             {tokens: "UUUUUUU"},
	"POST /api/v1/auth/verify":             {tokens: "UUUUUUU"},
	"GET /api/v1/me":                       {tokens: "UAAAAAA"},
	"GET /api/v1/auth/providers":           {tokens: "AAAAAAA"},
	"POST /api/v1/auth/cli/authorize":      {tokens: "UFFFFFF", sessions: "UAAAAAA"},
	"POST /api/v1/auth/cli/token":          {tokens: "AAAAAAA"},
	"GET /auth/oidc/{provider}/start":      {tokens: "AAAAAAA"},
	"GET /auth/oidc/{provider}/callback":   {tokens: "AAAAAAA"},
	"POST /api/v1/auth/signout-everywhere": {tokens: "UFFFFFF", sessions: "UAAAAAA"},

	"POST /api/v1/account/organization":         {tokens: "UFFFFFF", sessions: "UAAAAAA"},
	"POST /api/v1/account/password":             {tokens: "UFFFFFF", sessions: "UAAAAAA"},
	"POST /api/v1/account/verify-email":         {tokens: "UFFFFFF", sessions: "UAAAAAA"},
	"POST /api/v1/account/preferences":          {tokens: "UFFFFFF", sessions: "UAAAAAA"},
	"POST /api/v1/account/mfa/totp":             {tokens: "UFFFFFF", sessions: "UAAAAAA"},
	"POST /api/v1/account/mfa/totp/confirm":     {tokens: "UFFFFFF", sessions: "UAAAAAA"},
	"POST /api/v1/account/mfa/recovery-codes":   {tokens: "UFFFFFF", sessions: "UAAAAAA"},
	"POST /api/v1/account/mfa/disable":          {tokens: "UFFFFFF", sessions: "UAAAAAA"},
	"GET /api/v1/account/sessions":              {tokens: "UFFFFFF", sessions: "UAAAAAA"},
	"DELETE /api/v1/account/sessions/{session}": {tokens: "UFFFFFF", sessions: "UAAAAAA"},
	"GET /api/v1/account/tokens":                {tokens: "UFFFFFF", sessions: "UAAAAAA"},
	"POST /api/v1/account/tokens":               {tokens: "UFFFFFF", sessions: "UAAAAAA"},
	"DELETE /api/v1/account/tokens/{token}":     {tokens: "UFFFFFF", sessions: "UAAAAAA"},

	"GET /api/v1/settings":   {tokens: "UFFFAAA"},
	"PATCH /api/v1/settings": {tokens: "UFFFFFA"},

	"GET /api/v1/organizations":                         {tokens: "UFFFAAA"},
	"POST /api/v1/organizations":                        {tokens: "UFFFFFA"},
	"GET /api/v1/organizations/{org}":                   {tokens: "UFAFAAA"},
	"PATCH /api/v1/organizations/{org}":                 {tokens: "UFFFFFA"},
	"DELETE /api/v1/organizations/{org}":                {tokens: "UFFFFFA", org: "nowhere"},
	"GET /api/v1/organizations/{org}/members":           {tokens: "UFAFAAA"},
	"PUT /api/v1/organizations/{org}/members/{user}":    {tokens: "UFAFFFA"},
	"DELETE /api/v1/organizations/{org}/members/{user}": {tokens: "UFAFFFA"},
	"POST /api/v1/organizations/{org}/invitations":      {tokens: "UFAFAAA"},
	"GET /api/v1/organizations/{org}/tokens":            {tokens: "UFAFFFA"},
	"POST /api/v1/organizations/{org}/tokens":           {tokens: "UFAFFFA"},
	"DELETE /api/v1/organizations/{org}/tokens/{token}": {tokens: "UFAFFFA"},
	"GET /api/v1/organizations/{org}/catalog":           {tokens: "UFFFAAA"},
	"POST /api/v1/organizations/{org}/catalog/preview":  {tokens: "UFFFAAA"},
	"GET /api/v1/organizations/{org}/usage":             {tokens: "UFAFAAA"},
	"PUT /api/v1/organizations/{org}/quota":             {tokens: "UFFFFFA"},
	"GET /api/v1/users":                                 {tokens: "UFFFAAA"},
	"POST /api/v1/users":                                {tokens: "UFFFFFA"},
	"POST /api/v1/invitations":                          {tokens: "UFFFFFA"},
	"GET /api/v1/users/{user}":                          {tokens: "UFFFAAA"},
	"PATCH /api/v1/users/{user}":                        {tokens: "UFFFFFA"},
	"DELETE /api/v1/users/{user}":                       {tokens: "UFFFFFA"},
	"GET /api/v1/users/{user}/memberships":              {tokens: "UFFFAAA"},
	"GET /api/v1/products":                              {tokens: "UFFFAAA"},
	"POST /api/v1/products":                             {tokens: "UFFFFAA"},
	"GET /api/v1/products/{product}":                    {tokens: "UFFFAAA"},
	"PATCH /api/v1/products/{product}":                  {tokens: "UFFFFAA"},
	"DELETE /api/v1/products/{product}":                 {tokens: "UFFFFFA"},
	"GET /api/v1/products/{product}/releases":           {tokens: "UFFFAAA"},
	"POST /api/v1/products/{product}/releases":          {tokens: "UFFFFAA"},
	"GET /api/v1/releases/{release}":                    {tokens: "UFFFAAA"},
	"PATCH /api/v1/releases/{release}":                  {tokens: "UFFFFAA"},
	"DELETE /api/v1/releases/{release}":                 {tokens: "UFFFFAA"},
	"POST /api/v1/releases/{release}/publish":           {tokens: "UFFFFAA"},
	"POST /api/v1/releases/{release}/yank":              {tokens: "UFFFFAA"},
	"GET /api/v1/releases/{release}/artifacts":          {tokens: "UFFFAAA"},
	"POST /api/v1/releases/{release}/artifacts":         {tokens: "UFFFFAA"},
	"GET /api/v1/artifacts/{artifact}":                  {tokens: "UFFFAAA"},
	"DELETE /api/v1/artifacts/{artifact}":               {tokens: "UFFFFAA"},
	"GET /api/v1/uploads":                               {tokens: "UFFFFAA"},
	"GET /api/v1/uploads/{upload}":                      {tokens: "UFFFFAA"},
	"POST /api/v1/uploads/{upload}/urls":                {tokens: "UFFFFAA"},
	"POST /api/v1/uploads/{upload}/complete":            {tokens: "UFFFFAA"},
	"DELETE /api/v1/uploads/{upload}":                   {tokens: "UFFFFAA"},
	"PUT /api/v1/uploads/{upload}/parts/{part}":         {tokens: "UUUUUUU"},
	"GET /api/v1/entitlements":                          {tokens: "UFFFAAA"},
	"POST /api/v1/entitlements":                         {tokens: "UFFFFFA"},
	"GET /api/v1/entitlements/{entitlement}":            {tokens: "UFFFAAA"},
	"PATCH /api/v1/entitlements/{entitlement}":          {tokens: "UFFFFFA"},
	"DELETE /api/v1/entitlements/{entitlement}":         {tokens: "UFFFFFA"},
	"GET /api/v1/tokens":                                {tokens: "UFFFFFA"},
	"POST /api/v1/tokens":                               {tokens: "UFFFFFA"},
	"GET /api/v1/tokens/{token}":                        {tokens: "UFFFFFA"},
	"DELETE /api/v1/tokens/{token}":                     {tokens: "UFFFFFA"},
	"GET /api/v1/audit":                                 {tokens: "UFFFAAA"},
	"GET /api/v1/jobs":                                  {tokens: "UFFFFFA"},
	"POST /api/v1/jobs/{job}/retry":                     {tokens: "UFFFFFA"},
	"GET /api/v1/catalog":                               {tokens: "UAAAAAA"},
	"GET /api/v1/products/{product}/upgrade":            {tokens: "UAAAAAA"},
	"POST /api/v1/artifacts/{artifact}/download":        {tokens: "UAAAAAA"},
	"GET /api/v1/downloads":                             {tokens: "UFAFAAA"},
	"GET /api/v1/analytics/downloads":                   {tokens: "UFAFAAA"},
	"GET /api/v1/licenses":                              {tokens: "UAAAAAA"},
	"POST /api/v1/licenses":                             {tokens: "UFFFFFA"},
	"GET /api/v1/licenses/{license}":                    {tokens: "UAAAAAA"},
	"GET /api/v1/licenses/{license}/file":               {tokens: "UAAAAAA"},
	"POST /api/v1/licenses/{license}/amend":             {tokens: "UFFFFFA"},
	"POST /api/v1/licenses/{license}/revoke":            {tokens: "UFFFFFA"},
	"GET /api/v1/license-revocations":                   {tokens: "AAAAAAA"},
	"GET /api/v1/keys":                                  {tokens: "UFFFFFA"},
	"POST /api/v1/keys/rotate":                          {tokens: "UFFFFFA"},
	"POST /api/v1/keys/{key}/retire":                    {tokens: "UFFFFFA"},
	"GET /d/{token}/{name}":                             {tokens: "FFFFFFF"},
	"GET /.well-known/freight-keys.json":                {tokens: "AAAAAAA"},
	"GET /.well-known/freight-license-keys.json":        {tokens: "AAAAAAA"},
	"GET /healthz":                                      {tokens: "AAAAAAA"},

	// Pending invitations: staff and the org-admin see them; the vendor
	// admin and the org-admin withdraw them.
	"GET /api/v1/organizations/{org}/invitations":                 {tokens: "UFAFAAA"},
	"DELETE /api/v1/organizations/{org}/invitations/{invitation}": {tokens: "UFAFFFA"},

	// Pages: anonymous callers are sent to the sign-in page (A); what
	// each organization sees on them is TestPages's matter.
	"GET /sign-in":                                         {tokens: "AAAAAAA"},
	"GET /sign-in/mfa":                                     {tokens: "AAAAAAA"},
	"GET /forgot-password":                                 {tokens: "AAAAAAA"},
	"GET /reset-password":                                  {tokens: "AAAAAAA"},
	"GET /accept-invitation":                               {tokens: "AAAAAAA"},
	"GET /verify-email":                                    {tokens: "AAAAAAA"},
	"GET /{$}":                                             {tokens: "AAAAAAA"},
	"GET /products/{product}":                              {tokens: "AAAAAAA"},
	"GET /licenses":                                        {tokens: "AAAAAAA"},
	"GET /account":                                         {tokens: "AFFFFFF", sessions: "AAAAAAA"},
	"GET /account/mfa/qr.png":                              {tokens: "AFFFFFF", sessions: "AAAAAAA"},
	"GET /console/analytics":                               {tokens: "AFFFAAA"},
	"GET /org":                                             {tokens: "AFAFFFF"},
	"GET /org/downloads":                                   {tokens: "AFAFFFF"},
	"GET /org/webhooks":                                    {tokens: "AFAFFFF"},
	"GET /assets/{name}":                                   {tokens: "AAAAAAA"},
	"GET /console":                                         {tokens: "AFFFAAA"},
	"GET /console/products/{product}":                      {tokens: "AFFFAAA"},
	"GET /console/releases/{release}":                      {tokens: "AFFFAAA"},
	"GET /readyz":                                          {tokens: "AAAAAAA"},
	"GET /metrics":                                         {tokens: "AAAAAAA"},
	"GET /api/v1/edges":                                    {tokens: "UFFFAAA"},
	"POST /api/v1/edges":                                   {tokens: "UFFFFFA"},
	"GET /api/v1/edges/{edge}":                             {tokens: "UFFFAAA"},
	"DELETE /api/v1/edges/{edge}":                          {tokens: "UFFFFFA"},
	"POST /api/v1/edge/heartbeat":                          {tokens: "UUUUUUU"},
	"POST /api/v1/edge/events":                             {tokens: "UUUUUUU"},
	"GET /api/v1/edge/blobs/{sha256}":                      {tokens: "UUUUUUU"},
	"GET /api/v1/webhooks":                                 {tokens: "UFFFFFA"},
	"POST /api/v1/webhooks":                                {tokens: "UFFFFFA"},
	"GET /api/v1/webhooks/{webhook}":                       {tokens: "UFFFFFA"},
	"PATCH /api/v1/webhooks/{webhook}":                     {tokens: "UFFFFFA"},
	"DELETE /api/v1/webhooks/{webhook}":                    {tokens: "UFFFFFA"},
	"POST /api/v1/webhooks/{webhook}/rotate-secret":        {tokens: "UFFFFFA"},
	"POST /api/v1/webhooks/{webhook}/test":                 {tokens: "UFFFFFA"},
	"GET /api/v1/webhooks/{webhook}/deliveries":            {tokens: "UFFFFFA"},
	"GET /api/v1/webhooks/{webhook}/deliveries/{delivery}": {tokens: "UFFFFFA"},
	"POST /api/v1/webhooks/{webhook}/deliveries/{delivery}/retry":                     {tokens: "UFFFFFA"},
	"GET /api/v1/organizations/{org}/webhooks":                                        {tokens: "UFAFFFA"},
	"POST /api/v1/organizations/{org}/webhooks":                                       {tokens: "UFAFFFA"},
	"GET /api/v1/organizations/{org}/webhooks/{webhook}":                              {tokens: "UFAFFFA"},
	"PATCH /api/v1/organizations/{org}/webhooks/{webhook}":                            {tokens: "UFAFFFA"},
	"DELETE /api/v1/organizations/{org}/webhooks/{webhook}":                           {tokens: "UFAFFFA"},
	"POST /api/v1/organizations/{org}/webhooks/{webhook}/rotate-secret":               {tokens: "UFAFFFA"},
	"POST /api/v1/organizations/{org}/webhooks/{webhook}/test":                        {tokens: "UFAFFFA"},
	"GET /api/v1/organizations/{org}/webhooks/{webhook}/deliveries":                   {tokens: "UFAFFFA"},
	"GET /api/v1/organizations/{org}/webhooks/{webhook}/deliveries/{delivery}":        {tokens: "UFAFFFA"},
	"POST /api/v1/organizations/{org}/webhooks/{webhook}/deliveries/{delivery}/retry": {tokens: "UFAFFFA"},
	"GET /api/openapi.json": {tokens: "AAAAAAA"},
	"GET /api/docs":         {tokens: "AAAAAAA"},

	// The vendor console's pages: vendor staff only.
	"GET /console/organizations":       {tokens: "AFFFAAA"},
	"GET /console/organizations/{org}": {tokens: "AFFFAAA"},
	"GET /console/users":               {tokens: "AFFFAAA"},
	"GET /console/licenses":            {tokens: "AFFFAAA"},
	"GET /console/edges":               {tokens: "AFFFAAA"},
	"GET /console/audit":               {tokens: "AFFFAAA"},
	"GET /console/webhooks":            {tokens: "AFFFFFA"},
	"GET /cli/authorize":               {tokens: "AFFFFFF", sessions: "AAAAAAA"},
}

// extraRows are requests beyond one per route, for tenancy: an acme
// org-admin reaching for globex.
var extraRows = map[string]matrixRow{
	"GET /api/v1/organizations/{org}/members#other-org":                                      {tokens: "UFFFAAA", org: "globex"},
	"POST /api/v1/organizations/{org}/invitations#globex":                                    {tokens: "UFFFAAA", org: "globex"},
	"GET /api/v1/organizations/{org}/tokens#globex":                                          {tokens: "UFFFFFA", org: "globex"},
	"GET /api/v1/organizations/{org}#globex-by-id":                                           {tokens: "UFFFAAA", org: "@globex"},
	"GET /api/v1/organizations/{org}#missing":                                                {tokens: "UFFFAAA", org: "nowhere"},
	"DELETE /api/v1/organizations/{org}/members/{user}#gx":                                   {tokens: "UFFFFFA", org: "globex"},
	"GET /api/v1/organizations/{org}/webhooks#globex":                                        {tokens: "UFFFFFA", org: "globex"},
	"POST /api/v1/organizations/{org}/webhooks#globex":                                       {tokens: "UFFFFFA", org: "globex"},
	"GET /api/v1/organizations/{org}/webhooks/{webhook}#globex":                              {tokens: "UFFFFFA", org: "globex"},
	"PATCH /api/v1/organizations/{org}/webhooks/{webhook}#globex":                            {tokens: "UFFFFFA", org: "globex"},
	"DELETE /api/v1/organizations/{org}/webhooks/{webhook}#globex":                           {tokens: "UFFFFFA", org: "globex"},
	"POST /api/v1/organizations/{org}/webhooks/{webhook}/rotate-secret#globex":               {tokens: "UFFFFFA", org: "globex"},
	"POST /api/v1/organizations/{org}/webhooks/{webhook}/test#globex":                        {tokens: "UFFFFFA", org: "globex"},
	"GET /api/v1/organizations/{org}/webhooks/{webhook}/deliveries#globex":                   {tokens: "UFFFFFA", org: "globex"},
	"GET /api/v1/organizations/{org}/webhooks/{webhook}/deliveries/{delivery}#globex":        {tokens: "UFFFFFA", org: "globex"},
	"POST /api/v1/organizations/{org}/webhooks/{webhook}/deliveries/{delivery}/retry#globex": {tokens: "UFFFFFA", org: "globex"},

	"GET /api/v1/organizations/{org}/invitations#globex":                       {tokens: "UFFFAAA", org: "globex"},
	"DELETE /api/v1/organizations/{org}/invitations/{invitation}#globex":       {tokens: "UFFFFFA", org: "globex"},
	"DELETE /api/v1/organizations/{org}/invitations/{invitation}#globex-by-id": {tokens: "UFFFFFA", org: "@globex"},
}

// pathValues fill the wildcards of the matrix's requests: ids of objects
// that do not exist, so that an allowed call changes nothing.
var pathValues = map[string]string{
	"user": "usr_00000000000000000000000000", "product": "nothing", "release": "rel_00000000000000000000000000",
	"artifact": "art_00000000000000000000000000", "upload": "upl_00000000000000000000000000",
	"entitlement": "ent_00000000000000000000000000", "token": "tok_00000000000000000000000000",
	"license": "lic_00000000000000000000000000", "key": "nokey", "session": "ses_00000000000000000000000000",
	"part": "1", "name": "file.zip", "provider": "nothing", "edge": "edg_00000000000000000000000000", "job": "job_00000000000000000000000000",
	"webhook": "whk_00000000000000000000000000", "delivery": "whd_00000000000000000000000000", "sha256": strings.Repeat("0", 64), "$": "",
	"invitation": "tkt_00000000000000000000000000",
}

// TestAuthorizationMatrix calls every route as every role, with an API
// token and with a browser session, and checks who gets through.
func TestAuthorizationMatrix(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acme, globex := e.mustOrg("acme"), e.mustOrg("globex")
	users := []*freight.User{
		nil,
		e.mustUser("member@acme.example", goodPassword, "", acme, freight.RoleMember),
		e.mustUser("admin@acme.example", goodPassword, "", acme, freight.RoleOrgAdmin),
		e.mustUser("member@globex.example", goodPassword, "", globex, freight.RoleMember),
		e.mustUser("support@vendor.example", goodPassword, freight.RoleSupport, nil, ""),
		e.mustUser("publisher@vendor.example", goodPassword, freight.RolePublisher, nil, ""),
		e.admin,
	}
	tokens := make([]string, len(users))
	for i, u := range users {
		if u == nil {
			continue
		}
		tok := &freight.Token{Name: "matrix", UserID: u.ID, Role: u.VendorRole}
		if u.VendorRole == "" {
			ms, _, err := e.store.Memberships(ctx, freight.MembershipFilter{UserID: u.ID})
			if err != nil || len(ms) != 1 {
				t.Fatal(ms, err)
			}
			tok.Role, tok.OrgID = ms[0].Role, ms[0].OrgID
		}
		tokens[i] = e.mustToken(tok)
	}
	// session signs a user in for one request, straight in the store: a
	// request may end its session (sign out), so each gets its own.
	session := func(u *freight.User) string {
		now := e.clock.Now()
		id, secret, hash := freight.NewSessionSecret(now)
		s := &freight.Session{ID: id, UserID: u.ID, Level: freight.SessionFull, Method: "password", SecretHash: hash,
			LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
		if u.VendorRole == "" {
			ms, _, _ := e.store.Memberships(ctx, freight.MembershipFilter{UserID: u.ID})
			s.OrgID = ms[0].OrgID
		}
		if err := e.store.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		return "__Host-freight-session=" + secret
	}

	// Every route has a row, and every row a route.
	routes := map[string]bool{}
	for _, r := range e.srv.Routes() {
		routes[r.Pattern] = true
		if _, ok := matrix[r.Pattern]; !ok {
			t.Errorf("route %s (permission %s) has no row in the authorisation matrix", r.Pattern, r.Permission)
		}
	}
	rows := map[string]matrixRow{}
	for k, v := range matrix {
		if strings.Contains(k, "#") {
			continue
		}
		if !routes[k] {
			t.Errorf("the matrix has a row for %s, which is not a route", k)
		}
		rows[k] = v
	}
	for k, v := range extraRows {
		rows[k] = v
	}
	if t.Failed() {
		t.FailNow()
	}

	for key, row := range rows {
		pattern, _, _ := strings.Cut(key, "#")
		method, path, _ := strings.Cut(pattern, " ")
		org := row.org
		switch org {
		case "":
			org = "acme"
		case "@globex":
			org = globex.ID
		}
		for name, v := range pathValues {
			path = strings.ReplaceAll(path, "{"+name+"}", v)
		}
		path = strings.ReplaceAll(path, "{org}", org)
		for _, mode := range []string{"tokens", "sessions"} {
			want := row.tokens
			if mode == "sessions" && row.sessions != "" {
				want = row.sessions
			}
			if len(want) != len(matrixRoles) {
				t.Fatalf("%s: row %q has %d letters, want %d", key, want, len(want), len(matrixRoles))
			}
			for i, role := range matrixRoles {
				body := ""
				if method != "GET" && method != "DELETE" {
					body = "{}"
				}
				req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				if users[i] != nil {
					if mode == "tokens" {
						req.Header.Set("Authorization", "Bearer "+tokens[i])
					} else {
						req.Header.Set("Cookie", session(users[i]))
					}
				}
				resp, err := e.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				got := byte('A')
				switch resp.StatusCode {
				case http.StatusUnauthorized:
					got = 'U'
				case http.StatusForbidden:
					got = 'F'
				}
				if got != want[i] {
					t.Errorf("%s %s as %s with %s: status %d (%c), want %c", method, path, role, mode, resp.StatusCode, got, want[i])
				}
			}
		}
	}
}

package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/freight-portal/freight"
)

// Browser sign-in for the command line follows OAuth 2.0 for native apps
// (RFC 8252) with PKCE (RFC 7636): "freight login --web" listens on a
// loopback address, opens GET /cli/authorize in the person's browser, and
// the person, signed in there (password, second factor, or an OpenID
// provider), allows or denies. Allowing stores a single-use authorization
// code for cliCodeLifetime, bound to the challenge, to the exact loopback
// address and to the machine's name, and sends the browser to that address
// with the code; the command line then exchanges the code and the
// verifier that only it knows for a personal token (POST
// /api/v1/auth/cli/token). The code alone is worth nothing: whoever reads
// it from the loopback redirect lacks the verifier.

// cliCodeLifetime is how long an authorization code may wait for its
// exchange: the command line exchanges it the moment it arrives.
const cliCodeLifetime = 2 * time.Minute

// Bounds of the authorize request's fields.
const (
	maxRedirectURI = 200
	maxCLIState    = 200
	maxClientName  = 64
)

// cliRequest is what the command line asks for, from the authorize page's
// query or, when the person allows, from the page's form.
type cliRequest struct {
	RedirectURI         string `json:"redirect_uri"`
	State               string `json:"state"`
	CodeChallenge       string `json:"code_challenge"`
	CodeChallengeMethod string `json:"code_challenge_method"`
	Name                string `json:"name"`
}

// parseCLIQuery reads the authorize page's query. Each parameter may come
// once: two values would leave open which one the person saw.
func parseCLIQuery(q url.Values) (cliRequest, error) {
	for _, k := range []string{"redirect_uri", "state", "code_challenge", "code_challenge_method", "name"} {
		if len(q[k]) > 1 {
			return cliRequest{}, freight.FieldError(k, "must be given once")
		}
	}
	c := cliRequest{RedirectURI: q.Get("redirect_uri"), State: q.Get("state"), CodeChallenge: q.Get("code_challenge"),
		CodeChallengeMethod: q.Get("code_challenge_method"), Name: q.Get("name")}
	return c, c.check()
}

// check validates a request. Nothing is ever sent to a redirect address
// that failed it: an error page is shown instead, so that the page cannot
// be used to send browsers elsewhere.
func (c cliRequest) check() error {
	if err := checkLoopbackRedirect(c.RedirectURI); err != nil {
		return err
	}
	if c.State == "" || len(c.State) > maxCLIState || !unreserved(c.State) {
		return freight.FieldError("state", "is required: 1 to %d letters, digits, '-', '.', '_' or '~'", maxCLIState)
	}
	if c.CodeChallengeMethod != "S256" {
		return freight.FieldError("code_challenge_method", "must be S256")
	}
	if len(c.CodeChallenge) != 43 || !base64URL(c.CodeChallenge) {
		return freight.FieldError("code_challenge", "must be the unpadded base64url SHA-256 of the verifier: 43 characters")
	}
	if strings.TrimSpace(c.Name) == "" || !utf8.ValidString(c.Name) || utf8.RuneCountInString(c.Name) > maxClientName {
		return freight.FieldError("name", "is required: the name of the machine, at most %d characters", maxClientName)
	}
	for _, r := range c.Name {
		if r < 0x20 || r >= 0x7f && r < 0xa0 || r == 0x2028 || r == 0x2029 {
			return freight.FieldError("name", "must not hold control characters")
		}
	}
	return nil
}

// checkLoopbackRedirect accepts only what RFC 8252 section 7.3 describes:
// plain http to the IPv4 or IPv6 loopback address with an explicit port,
// and a path of plain characters; no name ("localhost" may resolve
// elsewhere), no user, query or fragment.
func checkLoopbackRedirect(s string) error {
	bad := freight.FieldError("redirect_uri", "must be http://127.0.0.1:PORT/PATH or http://[::1]:PORT/PATH")
	if s == "" || len(s) > maxRedirectURI {
		return bad
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Opaque != "" || u.RawQuery != "" || u.ForceQuery ||
		u.Fragment != "" || strings.Contains(s, "#") || u.RawPath != "" {
		return bad
	}
	host, port, ok := strings.Cut(u.Host, "]:")
	if ok {
		host += "]"
	} else {
		host, port, ok = strings.Cut(u.Host, ":")
	}
	if !ok || host != "127.0.0.1" && host != "[::1]" {
		return bad
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return bad
	}
	if !strings.HasPrefix(u.Path, "/") || s != "http://"+u.Host+u.Path {
		return bad
	}
	for i := 0; i < len(u.Path); i++ {
		c := u.Path[i]
		if !(c == '/' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return bad
		}
	}
	return nil
}

// unreserved reports whether s holds only URL-safe characters (RFC 3986
// unreserved), which pass through a query unchanged.
func unreserved(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

func base64URL(s string) bool {
	return unreserved(s) && !strings.ContainsAny(s, ".~")
}

// redirect is where the browser goes with the answer.
func (c cliRequest) redirect(v url.Values) string {
	v.Set("state", c.State)
	return c.RedirectURI + "?" + v.Encode()
}

// cliAuthorizePageBody is what the authorize page shows.
type cliAuthorizePageBody struct {
	Request cliRequest
	Email   string
	Org     string
	Role    freight.Role
	DenyURL string
}

// cliAuthorizePage asks the signed-in person whether the command line on
// the named machine may act as them. A person not signed in is sent
// through sign-in (and its second factor) first, and back here after.
func (s *Server) cliAuthorizePage(w http.ResponseWriter, r *http.Request, p freight.Principal) error {
	c, err := parseCLIQuery(r.URL.Query())
	if err != nil {
		return err
	}
	ctx := r.Context()
	u, err := s.store.User(ctx, p.UserID)
	if err != nil {
		return err
	}
	body := cliAuthorizePageBody{Request: c, Email: u.Email, Role: p.Role,
		DenyURL: c.redirect(url.Values{"error": {"access_denied"}})}
	if p.OrgID != "" {
		o, err := s.store.Organization(ctx, p.OrgID)
		if err != nil {
			return err
		}
		body.Org = o.Name
	}
	return s.render(w, r, p, "cli-authorize", "Sign in the command line", "", body)
}

// cliAuthorizeAnswer tells the page where to send the browser.
type cliAuthorizeAnswer struct {
	RedirectTo string `json:"redirect_to"`
}

// cliAuthorize is the person's Allow: it stores an authorization code for
// the request and answers the loopback address to send it to.
func (s *Server) cliAuthorize(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(ctx)
	var c cliRequest
	if err := s.decode(w, r, &c); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	u, err := s.store.User(ctx, p.UserID)
	if err != nil {
		return err
	}
	t := &freight.Ticket{Kind: freight.TicketCLI, Email: u.Email, UserID: u.ID, CreatedBy: u.ID,
		CodeChallenge: c.CodeChallenge, RedirectURI: c.RedirectURI, ClientName: c.Name}
	switch {
	case p.Role.IsOrg():
		t.OrgID, t.Role = p.OrgID, p.Role
	case p.Role.IsVendor():
		t.VendorRole = p.Role
	default:
		return freight.Errorf(freight.EFORBIDDEN, "your account has no role here, so the command line could not act as you either")
	}
	now := s.now()
	id, secret, hash := freight.NewTicketSecret(now)
	t.ID, t.SecretHash, t.ExpiresAt = id, hash, now.Add(cliCodeLifetime)
	if err := t.Validate(); err != nil {
		return err
	}
	err = s.change(r, "cli.authorize", "ticket", func(tx freight.Store) (audited, error) {
		if err := tx.CreateTicket(ctx, t); err != nil {
			return audited{}, err
		}
		return audited{id: t.ID, orgID: t.OrgID, details: map[string]string{"client_name": t.ClientName, "redirect_uri": t.RedirectURI}}, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, cliAuthorizeAnswer{RedirectTo: c.redirect(url.Values{"code": {secret}})})
	return nil
}

type cliTokenInput struct {
	Code         string `json:"code"`
	CodeVerifier string `json:"code_verifier"`
	RedirectURI  string `json:"redirect_uri"`
}

var errBadCLICode = freight.Errorf(freight.EUNAUTHORIZED, "the sign-in code is invalid, used or expired, or does not belong to this verifier and address: run freight login again")

// cliToken exchanges an authorization code and its PKCE verifier for a
// new personal token of the person who allowed it, named after the
// machine. Every mismatch gets the same answer. A wrong verifier or
// address leaves the code unspent: it proves nothing about the code's
// owner, and whoever saw the code could otherwise spoil the sign-in.
func (s *Server) cliToken(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := s.limiter.allow(clientIP(r)); err != nil {
		return err
	}
	var in cliTokenInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	// RFC 7636 section 4.1: 43 to 128 unreserved characters.
	if len(in.CodeVerifier) < 43 || len(in.CodeVerifier) > 128 || !unreserved(in.CodeVerifier) {
		return freight.FieldError("code_verifier", "must be 43 to 128 letters, digits, '-', '.', '_' or '~'")
	}
	t, err := s.ticketFor(ctx, in.Code, freight.TicketCLI)
	if err != nil {
		s.cliCodeReused(ctx, r, in)
		return errBadCLICode
	}
	if !in.matches(t) {
		return errBadCLICode
	}
	expires, err := s.tokenExpiry(nil)
	if err != nil {
		return err
	}
	tok := &freight.Token{Name: "freight command line on " + t.ClientName, UserID: t.UserID, OrgID: t.OrgID,
		Role: t.Role, ExpiresAt: &expires, CreatedBy: t.UserID, TicketID: t.ID}
	if t.VendorRole != "" {
		tok.Role = t.VendorRole
	}
	// The audit records the person as the actor: they allowed it.
	actx := context.WithValue(ctx, principalKey, freight.Principal{UserID: t.UserID})
	var secret string
	err = s.changeAs(actx, r, "token.create", "token", func(tx freight.Store) (audited, error) {
		if err := useTicket(ctx, tx, t, s.now()); err != nil {
			return audited{}, errCLICodeRace
		}
		// The person may have lost the role, or the account, since.
		if err := checkTokenGrant(r, tx, tok); err != nil {
			return audited{}, freight.Errorf(freight.EFORBIDDEN, "%s", freight.ErrorMessage(err))
		}
		var err error
		if secret, err = freight.IssueToken(ctx, tx, tok, s.now()); err != nil {
			return audited{}, err
		}
		return audited{id: tok.ID, orgID: tok.OrgID, details: tok}, nil
	})
	if errors.Is(err, errCLICodeRace) {
		// Another exchange of the same code won the race.
		s.cliCodeReused(ctx, r, in)
		return errBadCLICode
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, createdToken{Token: tok, Secret: secret})
	return nil
}

var errCLICodeRace = freight.Errorf(freight.EUNAUTHORIZED, "%s", freight.ErrorMessage(errBadCLICode))

// matches reports whether the verifier and the address are the ones the
// code was issued for: the verifier's S256 challenge, compared in constant
// time, and the exact loopback address.
func (in cliTokenInput) matches(t *freight.Ticket) bool {
	sum := sha256.Sum256([]byte(in.CodeVerifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	okChallenge := subtle.ConstantTimeCompare([]byte(challenge), []byte(t.CodeChallenge)) == 1
	return okChallenge && in.RedirectURI == t.RedirectURI
}

// cliCodeReused handles a code presented again after it was exchanged:
// it leaked, and, as RFC 6749 section 4.1.2 asks, the token issued for it
// is revoked. Only a caller holding the verifier and the address as well
// gets that far; someone who merely saw the code could otherwise revoke
// the rightful token. Whatever happens here, the answer stays the one
// for every bad code.
func (s *Server) cliCodeReused(ctx context.Context, r *http.Request, in cliTokenInput) {
	id, hash, ok := freight.ParseTicketSecret(in.Code)
	if !ok {
		return
	}
	t, err := s.store.Ticket(ctx, id)
	if err != nil || t.Kind != freight.TicketCLI || t.UsedAt == nil || !freight.MatchSecretHash(hash, t.SecretHash) || !in.matches(t) {
		return
	}
	toks, _, err := s.store.Tokens(ctx, freight.TokenFilter{TicketID: t.ID, Page: freight.Page{Limit: freight.MaxPageSize}})
	if err != nil {
		s.logger.ErrorContext(ctx, "listing the tokens of a reused sign-in code", "ticket_id", t.ID, "err", err)
		return
	}
	actx := context.WithValue(ctx, principalKey, freight.Principal{UserID: t.UserID})
	for _, tok := range toks {
		if tok.RevokedAt != nil {
			continue
		}
		err := s.changeAs(actx, r, "token.revoke", "token", func(tx freight.Store) (audited, error) {
			rt, err := tx.RevokeToken(ctx, tok.ID, s.now())
			if err != nil {
				return audited{}, err
			}
			return audited{id: rt.ID, orgID: rt.OrgID, details: map[string]any{"token": rt, "reason": "its sign-in code was presented again"}}, nil
		})
		if err != nil {
			s.logger.ErrorContext(ctx, "revoking the token of a reused sign-in code", "token_id", tok.ID, "err", err)
			continue
		}
		s.logger.WarnContext(ctx, "command-line sign-in code presented again: the token issued for it is revoked", "ticket_id", t.ID, "token_id", tok.ID, "user_id", t.UserID)
	}
}

package oidc

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/freight-portal/freight"
)

// FlowTimeout is how long a browser has between Start and Finish: the
// lifetime of the flow cookie. OWASP ASVS 10.4.3 bounds codes to 10 minutes.
const FlowTimeout = 10 * time.Minute

// Options are the parts of a Provider that do not come from its
// configuration file entry.
type Options struct {
	// Key seals the flow cookie: KeySize bytes from a CSPRNG, kept secret
	// and the same on every replica that may receive a callback. Required.
	Key []byte
	// HTTPClient is used for discovery, keys, token and userinfo requests.
	// Default: a client with a 30 second timeout.
	HTTPClient *http.Client
	// InsecureCookie drops the Secure attribute and the __Host- prefix of
	// the flow cookie. It is only for a plain-http portal on a developer's
	// machine; New refuses it with an https RedirectURL and requires it
	// with an http one.
	InsecureCookie bool
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// Identity is a user as an external provider vouches for them after a
// successful sign-in. Link accounts by (Issuer, Subject): that pair is
// stable and unique per provider. Never link by Email alone: addresses are
// reassigned, and an unverified one proves nothing.
type Identity struct {
	Provider      string `json:"provider"`       // ProviderConfig.Name
	Issuer        string `json:"issuer"`         // ProviderConfig.Issuer, exactly
	Subject       string `json:"subject"`        // the sub claim, 1 to 255 bytes
	Email         string `json:"email"`          // lower case, or empty when absent or not a plain address
	EmailVerified bool   `json:"email_verified"` // the provider asserted email_verified for Email
	Name          string `json:"name"`           // display name, empty when absent or unusable
	// Claims holds the ID token claims, completed by userinfo claims the
	// ID token lacks. Rules match on it.
	Claims map[string]any `json:"claims"`
}

// Provider runs the authorization code flow with PKCE against one OpenID
// provider. It is safe for concurrent use.
type Provider struct {
	cfg      ProviderConfig
	oauth    oauth2.Config
	op       *gooidc.Provider
	verifier *gooidc.IDTokenVerifier
	client   *http.Client
	sealer   *sealer
	secure   bool
	now      func() time.Time
	used     usedStates
}

// New validates cfg, fetches the provider's discovery document (whose
// issuer must equal cfg.Issuer exactly) and returns a Provider. Errors are
// *freight.Error: EINVALID for the configuration, EUNAVAILABLE when
// discovery fails.
func New(ctx context.Context, cfg ProviderConfig, opts Options) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s, err := newSealer(opts.Key)
	if err != nil {
		return nil, err
	}
	redirect, _ := url.Parse(cfg.RedirectURL) // checked by Validate
	switch {
	case redirect.Scheme == "https" && opts.InsecureCookie:
		return nil, freight.FieldError("redirect_url", "is https, so cookies must be Secure")
	case redirect.Scheme == "http" && !opts.InsecureCookie:
		return nil, freight.FieldError("redirect_url", "must be https (plain http only with insecure cookies, for local use)")
	}
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	op, err := gooidc.NewProvider(gooidc.ClientContext(ctx, client), cfg.Issuer)
	if err != nil {
		if mismatch, ok := errors.AsType[*gooidc.IssuerMismatchError](err); ok {
			return nil, &freight.Error{Code: freight.EINVALID, Field: "issuer",
				Message: fmt.Sprintf("the provider's discovery document names issuer %q; the issuer must match exactly", mismatch.Discovered)}
		}
		return nil, &freight.Error{Code: freight.EUNAVAILABLE, Message: "the OpenID provider's discovery document cannot be read", Err: err}
	}
	scopes := cfg.Scopes
	if len(scopes) == 0 {
		scopes = DefaultScopes
	}
	endpoint := op.Endpoint()
	endpoint.AuthStyle = authStyle(op, cfg.ClientSecret)
	p := &Provider{
		cfg: cfg,
		oauth: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			Endpoint:     endpoint,
			RedirectURL:  cfg.RedirectURL,
			Scopes:       append([]string(nil), scopes...),
		},
		op:       op,
		verifier: op.Verifier(&gooidc.Config{ClientID: cfg.ClientID, Now: now}),
		client:   client,
		sealer:   s,
		secure:   !opts.InsecureCookie,
		now:      now,
	}
	return p, nil
}

// authStyle picks how the client authenticates at the token endpoint from
// the methods the provider advertises. Left to guess, x/oauth2 tries one
// and on any error (a used code included) repeats the request the other way.
func authStyle(op *gooidc.Provider, secret string) oauth2.AuthStyle {
	if secret == "" {
		return oauth2.AuthStyleInParams // a public client names itself in the body
	}
	var meta struct {
		Methods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := op.Claims(&meta); err != nil || len(meta.Methods) == 0 || slices.Contains(meta.Methods, "client_secret_basic") {
		// client_secret_basic is the default of OpenID Connect Discovery.
		return oauth2.AuthStyleInHeader
	}
	if slices.Contains(meta.Methods, "client_secret_post") {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleAutoDetect
}

// Name returns the provider's slug.
func (p *Provider) Name() string { return p.cfg.Name }

// DisplayName returns the label for the sign-in button.
func (p *Provider) DisplayName() string {
	if p.cfg.DisplayName != "" {
		return p.cfg.DisplayName
	}
	return p.cfg.Name
}

// Issuer returns the configured issuer URL.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// CookieName returns the name of the flow cookie:
// "__Host-freight-oidc-<name>", or "freight-oidc-<name>" with insecure
// cookies. One cookie per provider lets flows at two providers run side by
// side.
func (p *Provider) CookieName() string {
	if p.secure {
		return "__Host-freight-oidc-" + p.cfg.Name
	}
	return "freight-oidc-" + p.cfg.Name
}

// Assignments returns the organization memberships the provider's rules
// grant to id; see Assign.
func (p *Provider) Assignments(id *Identity) []Assignment { return Assign(p.cfg.Rules, id) }

// Start begins a sign-in: it makes a state, a nonce and a PKCE verifier,
// seals them with returnTo into the flow cookie, and redirects the browser
// to the provider's authorization endpoint. returnTo must pass
// CheckReturnTo; when it does not, Start writes nothing and returns its
// EINVALID error.
func (p *Provider) Start(w http.ResponseWriter, r *http.Request, returnTo string) error {
	returnTo, err := CheckReturnTo(returnTo)
	if err != nil {
		return err
	}
	f := flowState{
		Provider: p.cfg.Name,
		State:    randomSecret(),
		Nonce:    randomSecret(),
		Verifier: oauth2.GenerateVerifier(),
		ReturnTo: returnTo,
		Expires:  p.now().Add(FlowTimeout).Unix(),
	}
	value, err := p.sealer.seal(f)
	if err != nil {
		return err
	}
	http.SetCookie(w, p.cookie(value, int(FlowTimeout/time.Second)))
	target := p.oauth.AuthCodeURL(f.State, gooidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusFound)
	return nil
}

// cookie returns the flow cookie. SameSite=Lax, not Strict: the callback
// is a top-level navigation from the provider's site, and Strict would
// leave the cookie behind.
func (p *Provider) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     p.CookieName(),
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		Secure:   p.secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}

// Finish completes a sign-in at the callback URL. It clears the flow
// cookie whatever happens, so each cookie serves one callback, then checks
// the state, exchanges the code with the PKCE verifier, verifies the ID
// token (signature, exact issuer, audience, expiry, nonce) and, when the
// ID token carries no email, reads the userinfo endpoint. It returns the
// identity and the local path given to Start.
//
// Errors are *freight.Error with a message safe to show (it never holds a
// code or a token): EUNAUTHORIZED when the sign-in is refused, EUNAVAILABLE
// when the provider cannot be reached. The caller should log the error,
// whose cause carries detail, and offer to sign in again.
func (p *Provider) Finish(w http.ResponseWriter, r *http.Request) (*Identity, string, error) {
	w.Header().Set("Cache-Control", "no-store")
	var value string
	if c, err := r.Cookie(p.CookieName()); err == nil {
		value = c.Value
		http.SetCookie(w, p.cookie("", -1))
	}
	now := p.now()
	f, err := p.sealer.open(value, p.cfg.Name, now.Unix())
	switch {
	case errors.Is(err, errNoCookie):
		return nil, "", refuse("the sign-in has expired or was started in another browser; please sign in again", err)
	case errors.Is(err, errExpired):
		return nil, "", refuse("the sign-in has expired; please sign in again", err)
	case err != nil:
		return nil, "", refuse("the sign-in state is not valid; please sign in again", err)
	}
	if r.URL.Path != CallbackPath(p.cfg.Name) {
		return nil, "", refuse("the sign-in came back to the wrong address", fmt.Errorf("callback path %q", r.URL.Path))
	}

	q := r.URL.Query()
	for _, k := range []string{"state", "code", "error", "iss"} {
		if len(q[k]) > 1 {
			return nil, "", refuse("the identity provider's answer is malformed", fmt.Errorf("parameter %s repeated", k))
		}
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.State)) != 1 {
		return nil, "", refuse("the sign-in state does not match; please sign in again", errors.New("state mismatch"))
	}
	if !p.used.use(f.State, f.Expires, now.Unix()) {
		return nil, "", refuse("this sign-in has been used already; please sign in again", errors.New("state replayed"))
	}
	// RFC 9207: an authorization server that names itself must be the one
	// this flow went to (mix-up defence with several providers).
	if iss, ok := q["iss"]; ok && iss[0] != p.cfg.Issuer {
		return nil, "", refuse("the answer came from another identity provider", fmt.Errorf("iss parameter %.200q", iss[0]))
	}
	if e := q.Get("error"); e != "" {
		msg := "the identity provider refused the sign-in"
		if safeErrorCode(e) {
			msg += " (" + e + ")"
		}
		return nil, "", refuse(msg, fmt.Errorf("authorization error %.64q", e))
	}
	code := q.Get("code")
	if code == "" {
		return nil, "", refuse("the identity provider sent no authorization code", errors.New("no code"))
	}

	ctx := gooidc.ClientContext(r.Context(), p.client)
	tok, err := p.oauth.Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		if re, ok := errors.AsType[*oauth2.RetrieveError](err); ok {
			// RetrieveError's text holds the response body; keep only the
			// error code, which is safe to log.
			status := 0
			if re.Response != nil {
				status = re.Response.StatusCode
			}
			return nil, "", refuse("the identity provider did not accept the authorization code; please sign in again",
				fmt.Errorf("token endpoint: status %d, error %.64q", status, re.ErrorCode))
		}
		if _, ok := errors.AsType[*url.Error](err); ok {
			return nil, "", unavailable(err)
		}
		return nil, "", refuse("the identity provider's token response is not valid", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, "", refuse("the identity provider sent no ID token", errors.New("no id_token in token response"))
	}
	idt, err := p.verifyIDToken(ctx, raw, f.Nonce)
	if err != nil {
		return nil, "", err
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return nil, "", refuse("the identity provider's ID token is not valid", err)
		}
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, "", refuse("the identity provider's ID token is not valid", err)
	}
	if s, _ := claims["email"].(string); s == "" && p.op.UserInfoEndpoint() != "" {
		if err := p.addUserInfo(ctx, tok, idt.Subject, claims); err != nil {
			return nil, "", err
		}
	}
	return p.identity(idt.Subject, claims), f.ReturnTo, nil
}

// verifyIDToken checks a raw ID token: go-oidc checks the signature
// against the provider's keys, the exact issuer, that the audience contains
// the client id, and expiry; this adds the nonce, which go-oidc leaves to
// the caller, and the authorized party of OpenID Connect Core §3.1.3.7.
func (p *Provider) verifyIDToken(ctx context.Context, raw, nonce string) (*gooidc.IDToken, error) {
	idt, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		if _, ok := errors.AsType[*gooidc.TokenExpiredError](err); ok {
			return nil, refuse("the identity provider's ID token has expired; please sign in again", err)
		}
		return nil, refuse("the identity provider's ID token is not valid", err)
	}
	var extra struct {
		AZP string `json:"azp"`
	}
	if err := idt.Claims(&extra); err != nil {
		return nil, refuse("the identity provider's ID token is not valid", err)
	}
	// Another audience is acceptable only when the token says it was
	// issued to this client.
	if (len(idt.Audience) > 1 || extra.AZP != "") && extra.AZP != p.cfg.ClientID {
		return nil, refuse("the identity provider's ID token was issued to another application",
			fmt.Errorf("aud %q, azp %q", idt.Audience, extra.AZP))
	}
	if idt.Nonce == "" || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return nil, refuse("the ID token does not belong to this sign-in; please sign in again", errors.New("nonce mismatch"))
	}
	if idt.Subject == "" || len(idt.Subject) > 255 {
		return nil, refuse("the identity provider's ID token names no valid subject", fmt.Errorf("sub of %d bytes", len(idt.Subject)))
	}
	return idt, nil
}

// addUserInfo adds the claims of the userinfo response that claims lacks.
func (p *Provider) addUserInfo(ctx context.Context, tok *oauth2.Token, subject string, claims map[string]any) error {
	ui, err := p.op.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		if _, ok := errors.AsType[*url.Error](err); ok {
			return unavailable(err)
		}
		return refuse("the identity provider did not give the user's profile", err)
	}
	// OpenID Connect Core §5.3.2: the userinfo sub must equal the ID token's,
	// or the response may be about someone else.
	if ui.Subject != subject {
		return refuse("the identity provider's profile is about another user", errors.New("userinfo sub differs from ID token sub"))
	}
	var more map[string]any
	if err := ui.Claims(&more); err != nil {
		return refuse("the identity provider's profile is malformed", err)
	}
	for k, v := range more {
		if _, ok := claims[k]; !ok {
			claims[k] = v
		}
	}
	return nil
}

func (p *Provider) identity(subject string, claims map[string]any) *Identity {
	id := &Identity{
		Provider: p.cfg.Name,
		Issuer:   p.cfg.Issuer,
		Subject:  subject,
		Claims:   claims,
	}
	if s, ok := claims["email"].(string); ok {
		if email, err := freight.NormalizeEmail(s); err == nil {
			id.Email = email
			id.EmailVerified = claimTrue(claims["email_verified"])
		}
	}
	name, _ := claims["name"].(string)
	if name == "" {
		given, _ := claims["given_name"].(string)
		family, _ := claims["family_name"].(string)
		name = strings.TrimSpace(given + " " + family)
	}
	if name = strings.TrimSpace(name); name != "" && checkText("name", name, 200) == nil {
		id.Name = name
	}
	return id
}

// claimTrue reads a boolean claim. Some providers (Cognito's userinfo)
// send "true" as a string; anything else is false.
func claimTrue(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return v == "true"
	}
	return false
}

// safeErrorCode reports whether an error parameter looks like an RFC 6749
// error code, which may then be shown. Free text (error_description) never is.
func safeErrorCode(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; !('a' <= b && b <= 'z' || b == '_') {
			return false
		}
	}
	return true
}

func refuse(msg string, cause error) *freight.Error {
	return &freight.Error{Code: freight.EUNAUTHORIZED, Message: msg, Err: cause}
}

func unavailable(cause error) *freight.Error {
	return &freight.Error{Code: freight.EUNAVAILABLE, Message: "the identity provider cannot be reached; please try again", Err: cause}
}

package client

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"time"

	"github.com/freight-portal/freight"
)

// SignIn is a person's password sign-in from a program: it keeps the
// session cookie the server sets, completes the second factor when asked,
// and mints a personal API token, which is what the program then keeps.
type SignIn struct {
	c *Client
}

// NewSignIn starts a sign-in at the server at baseURL.
func NewSignIn(baseURL string) *SignIn {
	jar, _ := cookiejar.New(nil) // never fails without options
	c := New(baseURL, "")
	c.http = &http.Client{Jar: jar, Timeout: time.Minute}
	return &SignIn{c: c}
}

// WithUserAgent sets the User-Agent of the sign-in's requests.
func (s *SignIn) WithUserAgent(ua string) *SignIn {
	s.c = s.c.WithUserAgent(ua)
	return s
}

// Password checks the email and password. It reports whether the account
// asks for a second factor next.
func (s *SignIn) Password(ctx context.Context, email, password string) (mfaRequired bool, err error) {
	var a struct {
		MFARequired   bool `json:"mfa_required"`
		MFAEnrollment bool `json:"mfa_enrollment"`
	}
	if err := s.c.Do(ctx, "POST", "/api/v1/auth/signin", map[string]string{"email": email, "password": password}, &a); err != nil {
		return false, err
	}
	if a.MFAEnrollment {
		return false, freight.Errorf(freight.EFORBIDDEN, "your account must enrol a second factor first: sign in with a browser and enrol one")
	}
	return a.MFARequired, nil
}

// Code completes the sign-in with a TOTP code or a recovery code.
func (s *SignIn) Code(ctx context.Context, code string) error {
	body := map[string]string{"code": code}
	if len(code) > 8 {
		body = map[string]string{"recovery_code": code}
	}
	return s.c.Do(ctx, "POST", "/api/v1/auth/mfa", body, nil)
}

// Token mints a personal token with the person's role and the given
// lifetime (0: the server's default).
func (s *SignIn) Token(ctx context.Context, name string, lifetime time.Duration) (*CreatedToken, error) {
	t := NewPersonalToken{Name: name}
	if lifetime > 0 {
		exp := time.Now().Add(lifetime).UTC()
		t.ExpiresAt = &exp
	}
	ct, err := s.c.CreatePersonalToken(ctx, t)
	if err != nil {
		return nil, err
	}
	return ct, nil
}

// Client is a client that acts with the sign-in's session once Password
// (and Code, when asked) succeeded: the one that may call the account
// methods (Sessions, ChangePassword, BeginTOTP…), which refuse API tokens.
// It shares the session with s.
func (s *SignIn) Client() *Client { return s.c }

// SignOut ends the session: the program keeps the token only.
func (s *SignIn) SignOut(ctx context.Context) error {
	return s.c.Do(ctx, "POST", "/api/v1/auth/signout", nil, nil)
}

// ExchangeCLICode finishes a browser sign-in of a program (RFC 8252 with
// PKCE): it trades the authorization code the browser brought to
// redirectURI, with the verifier whose S256 challenge started the sign-in,
// for a new personal token.
func ExchangeCLICode(ctx context.Context, baseURL, userAgent, code, verifier, redirectURI string) (*CreatedToken, error) {
	c := New(baseURL, "").WithUserAgent(userAgent)
	c.http = &http.Client{Timeout: time.Minute}
	var t CreatedToken
	in := map[string]string{"code": code, "code_verifier": verifier, "redirect_uri": redirectURI}
	if err := c.Do(ctx, "POST", "/api/v1/auth/cli/token", in, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/internal/testdb"
	"github.com/freight-portal/freight/mfa"
	"github.com/freight-portal/freight/password"
	"github.com/freight-portal/freight/server"
)

// browser is a client that keeps the session cookie the way a browser
// does, so tests can also look at it and plant one.
type browser struct {
	e      *env
	cookie string // "name=value" of the session cookie, or ""
	header http.Header
}

func (e *env) browser() *browser { return &browser{e: e, header: http.Header{}} }

func (b *browser) do(method, path string, body any) response {
	b.e.t.Helper()
	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			b.e.t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, b.e.url+path, rd)
	if err != nil {
		b.e.t.Fatal(err)
	}
	for k, v := range b.header {
		req.Header[k] = v
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if b.cookie != "" {
		req.Header.Set("Cookie", b.cookie)
	}
	resp, err := b.e.client.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	for _, c := range resp.Cookies() {
		if strings.Contains(c.Name, "freight-session") {
			if c.MaxAge < 0 || c.Value == "" {
				b.cookie = ""
			} else {
				b.cookie = c.Name + "=" + c.Value
			}
		}
	}
	return response{status: resp.StatusCode, header: resp.Header, body: out}
}

func (b *browser) must(want int, method, path string, body any) response {
	b.e.t.Helper()
	r := b.do(method, path, body)
	if r.status != want {
		b.e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, want, r.body)
	}
	return r
}

// secret returns the value of the session cookie.
func (b *browser) secret() string {
	_, v, _ := strings.Cut(b.cookie, "=")
	return v
}

// mustUser creates a user with a password, in the given organization and
// role when org is not nil.
func (e *env) mustUser(email, pw string, vendorRole freight.Role, org *freight.Organization, role freight.Role) *freight.User {
	e.t.Helper()
	ctx := context.Background()
	h, err := password.Hash(ctx, pw, password.Params{Memory: 64, Time: 1, Threads: 1})
	if err != nil {
		e.t.Fatal(err)
	}
	u := &freight.User{Email: email, VendorRole: vendorRole, PasswordHash: h, EmailVerified: true}
	if err := e.store.CreateUser(ctx, u); err != nil {
		e.t.Fatal(err)
	}
	if org != nil {
		if err := e.store.PutMembership(ctx, &freight.Membership{UserID: u.ID, OrgID: org.ID, Role: role}); err != nil {
			e.t.Fatal(err)
		}
	}
	return u
}

func (e *env) mustOrg(slug string) *freight.Organization {
	e.t.Helper()
	o := &freight.Organization{Slug: slug, Name: strings.ToUpper(slug[:1]) + slug[1:]}
	if err := e.store.CreateOrganization(context.Background(), o); err != nil {
		e.t.Fatal(err)
	}
	return o
}

const goodPassword = "correct horse battery staple"

func TestSignIn(t *testing.T) {
	e := newEnv(t)
	acme := e.mustOrg("acme")
	u := e.mustUser("alice@acme.example", goodPassword, "", acme, freight.RoleMember)

	t.Run("CookieAttributes", func(t *testing.T) {
		b := e.browser()
		r := b.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": "Alice@Acme.example", "password": goodPassword})
		sc := r.header.Get("Set-Cookie")
		for _, want := range []string{"__Host-freight-session=frs_ses_", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
			if !strings.Contains(sc, want) {
				t.Errorf("Set-Cookie %q lacks %q", sc, want)
			}
		}
		if strings.Contains(sc, "Domain=") {
			t.Errorf("Set-Cookie %q names a domain; a __Host- cookie must not", sc)
		}
		var me struct {
			UserID string       `json:"user_id"`
			Role   freight.Role `json:"role"`
			OrgID  string       `json:"org_id"`
		}
		b.must(http.StatusOK, "GET", "/api/v1/me", nil).decode(t, &me)
		if me.UserID != u.ID || me.Role != freight.RoleMember || me.OrgID != acme.ID {
			t.Errorf("me = %+v, want member of acme", me)
		}
		// A session signs in to the catalog like a member's token does.
		b.must(http.StatusOK, "GET", "/api/v1/catalog", nil)
		b.must(http.StatusNoContent, "POST", "/api/v1/auth/signout", nil)
		wantError(t, b.do("GET", "/api/v1/me", nil), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
	})

	t.Run("SessionFixation", func(t *testing.T) {
		// An attacker signs in, then plants its own session cookie in the
		// victim's browser; the victim signs in. The planted session must
		// end, and the victim's must be a new one the attacker cannot know.
		attacker := e.browser()
		attacker.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": u.Email, "password": goodPassword})
		victim := e.browser()
		victim.cookie = attacker.cookie
		victim.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": u.Email, "password": goodPassword})
		if victim.cookie == attacker.cookie || victim.secret() == "" {
			t.Fatal("sign-in kept the planted session id")
		}
		wantError(t, attacker.do("GET", "/api/v1/me", nil), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		victim.must(http.StatusOK, "GET", "/api/v1/me", nil)
		// A made-up cookie is no session at all.
		forged := e.browser()
		forged.cookie = "__Host-freight-session=frs_ses_00000000000000000000000000_" + strings.Repeat("A", 43)
		wantError(t, forged.do("GET", "/api/v1/me", nil), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		// Nor is a real id with another secret.
		id, _, _ := freight.ParseSessionSecret(victim.secret())
		forged.cookie = "__Host-freight-session=frs_" + id + "_" + strings.Repeat("B", 43)
		wantError(t, forged.do("GET", "/api/v1/me", nil), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
	})

	t.Run("SameAnswerForUnknownAndWrong", func(t *testing.T) {
		b := e.browser()
		wrong := b.do("POST", "/api/v1/auth/signin", map[string]string{"email": u.Email, "password": "not the password"})
		unknown := b.do("POST", "/api/v1/auth/signin", map[string]string{"email": "nobody@acme.example", "password": "not the password"})
		if wrong.status != http.StatusUnauthorized || unknown.status != wrong.status {
			t.Fatalf("statuses %d and %d, want 401 for both", wrong.status, unknown.status)
		}
		_, m1, _ := wrong.err()
		_, m2, _ := unknown.err()
		if m1 != m2 {
			t.Errorf("wrong password says %q, unknown user says %q: they must not differ", m1, m2)
		}
		if b.cookie != "" {
			t.Error("a failed sign-in set a session cookie")
		}
	})

	t.Run("IdleAndAbsoluteTimeouts", func(t *testing.T) {
		b := e.browser()
		b.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": u.Email, "password": goodPassword})
		// Use within the idle timeout keeps the session going...
		for range 3 {
			e.clock.Add(server.DefaultSessionIdle - time.Minute)
			b.must(http.StatusOK, "GET", "/api/v1/me", nil)
		}
		// ...but idleness ends it.
		e.clock.Add(server.DefaultSessionIdle)
		wantError(t, b.do("GET", "/api/v1/me", nil), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")

		b.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": u.Email, "password": goodPassword})
		deadline := e.clock.Now().Add(server.DefaultSessionLifetime)
		for e.clock.Now().Add(30 * time.Minute).Before(deadline) {
			e.clock.Add(30 * time.Minute)
			b.must(http.StatusOK, "GET", "/api/v1/me", nil)
		}
		e.clock.Add(30 * time.Minute)
		wantError(t, b.do("GET", "/api/v1/me", nil), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
	})

	t.Run("CrossOriginRefused", func(t *testing.T) {
		b := e.browser()
		b.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": u.Email, "password": goodPassword})
		evil := &browser{e: e, cookie: b.cookie, header: http.Header{"Sec-Fetch-Site": {"cross-site"}}}
		// Refused like any other request: a JSON error with its code.
		wantError(t, evil.do("POST", "/api/v1/auth/signout-everywhere", nil), http.StatusForbidden, freight.EFORBIDDEN, "")
		evil.header = http.Header{"Origin": {"https://evil.example"}}
		if r := evil.do("POST", "/api/v1/auth/signout-everywhere", nil); r.status != http.StatusForbidden {
			t.Errorf("POST from another origin: status %d, want 403", r.status)
		}
		// Login CSRF too: a foreign page cannot sign the browser in.
		evil.cookie = ""
		if r := evil.do("POST", "/api/v1/auth/signin", map[string]string{"email": u.Email, "password": goodPassword}); r.status != http.StatusForbidden {
			t.Errorf("cross-origin sign-in: status %d, want 403", r.status)
		}
		// The session survived the attempts, and a same-origin request works.
		b.header.Set("Sec-Fetch-Site", "same-origin")
		b.must(http.StatusOK, "GET", "/api/v1/me", nil)
		b.must(http.StatusOK, "POST", "/api/v1/auth/signout-everywhere", nil)
	})

	t.Run("TokensCannotDoAccountChanges", func(t *testing.T) {
		tok := e.mustToken(&freight.Token{Name: "cli", UserID: u.ID, Role: freight.RoleMember, OrgID: acme.ID})
		for _, path := range []string{"/api/v1/account/password", "/api/v1/account/mfa/totp", "/api/v1/account/tokens"} {
			wantError(t, e.do("POST", path, tok, map[string]string{}), http.StatusForbidden, freight.EFORBIDDEN, "")
		}
	})
}

func TestLockout(t *testing.T) {
	e := newEnv(t)
	u := e.mustUser("bob@vendor.example", goodPassword, freight.RoleSupport, nil, "")

	for _, tc := range []struct{ name, email string }{{"Account", u.Email}, {"UnknownEmail", "ghost@vendor.example"}} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			attempt := func(pw string) response {
				return b.do("POST", "/api/v1/auth/signin", map[string]string{"email": tc.email, "password": pw})
			}
			locked := func(r response, wantWait int) {
				t.Helper()
				wantError(t, r, http.StatusTooManyRequests, freight.ERATELIMIT, "")
				if got := r.header.Get("Retry-After"); got != strconv.Itoa(wantWait) {
					t.Errorf("Retry-After = %q, want %d", got, wantWait)
				}
			}
			for i := 1; i <= 5; i++ {
				wantError(t, attempt("wrong password "+strconv.Itoa(i)), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
			}
			// The fifth failure locks for 1 s; attempts during it are
			// refused unchecked, even the right password, and do not
			// extend it.
			locked(attempt(goodPassword), 1)
			locked(attempt("wrong again"), 1)
			e.clock.Add(time.Second)
			// The sixth failure locks for 2 s, the seventh for 4 s.
			wantError(t, attempt("wrong 6"), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
			locked(attempt(goodPassword), 2)
			e.clock.Add(2 * time.Second)
			wantError(t, attempt("wrong 7"), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
			locked(attempt(goodPassword), 4)
			// Doubling up to 15 minutes at most.
			wait := 4 * time.Second
			for n := 8; n <= 15; n++ {
				e.clock.Add(wait)
				wantError(t, attempt("wrong"), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
				wait = min(time.Duration(1<<(n-5))*time.Second, 15*time.Minute)
				locked(attempt(goodPassword), int(wait/time.Second))
			}
			if wait != 15*time.Minute {
				t.Fatalf("the last lockout is %v, want the 15 minute cap", wait)
			}
			e.clock.Add(15 * time.Minute)
			if tc.email == u.Email {
				// After the lockout the right password works and resets
				// the counter: one failure then does not lock.
				b.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": tc.email, "password": goodPassword})
				wantError(t, attempt("wrong"), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
				b.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": tc.email, "password": goodPassword})
			}
		})
	}

	t.Run("QuietPeriodResets", func(t *testing.T) {
		v := e.mustUser("carol@vendor.example", goodPassword, freight.RoleSupport, nil, "")
		b := e.browser()
		for range 4 {
			wantError(t, b.do("POST", "/api/v1/auth/signin", map[string]string{"email": v.Email, "password": "x-wrong-x"}), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		}
		e.clock.Add(15 * time.Minute)
		// The counter started again: this is failure one, not five.
		wantError(t, b.do("POST", "/api/v1/auth/signin", map[string]string{"email": v.Email, "password": "x-wrong-x"}), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		b.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": v.Email, "password": goodPassword})
	})
}

func TestSignInPerAddressLimit(t *testing.T) {
	e := newEnvWith(t, nil, func(c *server.Config) { c.SignInBurst = 3; c.SignInRate = 1 })
	b := e.browser()
	for i := range 3 {
		wantError(t, b.do("POST", "/api/v1/auth/signin", map[string]string{"email": "user" + strconv.Itoa(i) + "@x.example", "password": "whatever-it-is"}), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
	}
	r := b.do("POST", "/api/v1/auth/signin", map[string]string{"email": "user9@x.example", "password": "whatever-it-is"})
	wantError(t, r, http.StatusTooManyRequests, freight.ERATELIMIT, "")
	if r.header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After = %q, want 1", r.header.Get("Retry-After"))
	}
	e.clock.Add(time.Second)
	wantError(t, b.do("POST", "/api/v1/auth/signin", map[string]string{"email": "user9@x.example", "password": "whatever-it-is"}), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
}

// TestSignInTiming checks that an unknown email costs about as much as a
// wrong password, with the real hash parameters: both check one hash.
func TestSignInTiming(t *testing.T) {
	e := newEnvWith(t, nil, func(c *server.Config) { c.PasswordParams = password.Default })
	ctx := context.Background()
	h, err := password.Hash(ctx, goodPassword, password.Default)
	if err != nil {
		t.Fatal(err)
	}
	var known []string
	for i := range 3 {
		u := &freight.User{Email: "dana" + strconv.Itoa(i) + "@vendor.example", VendorRole: freight.RoleSupport, PasswordHash: h}
		if err := e.store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		known = append(known, u.Email)
	}
	attempt := func(email string) time.Duration {
		start := time.Now()
		wantError(t, e.browser().do("POST", "/api/v1/auth/signin", map[string]string{"email": email, "password": "wrong password"}), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		return time.Since(start)
	}
	// Interleaved, so that whatever else the machine does weighs on both
	// alike; three accounts, so that none reaches its lockout.
	var wrong, unknown []time.Duration
	for i := range 9 {
		if i%2 == 0 {
			wrong = append(wrong, attempt(known[i%3]))
			unknown = append(unknown, attempt("nobody"+strconv.Itoa(i)+"@vendor.example"))
		} else {
			unknown = append(unknown, attempt("nobody"+strconv.Itoa(i)+"@vendor.example"))
			wrong = append(wrong, attempt(known[i%3]))
		}
	}
	slices.Sort(wrong)
	slices.Sort(unknown)
	w, u := wrong[4], unknown[4]
	ratio := float64(u) / float64(w)
	t.Logf("median wrong password %v, unknown email %v (ratio %.2f)", w, u, ratio)
	// Without the dummy hash an unknown email answers in a few hundredths
	// of the time (one index lookup against one argon2id hash); the band
	// is wide because tests share the machine.
	if ratio < 0.25 || ratio > 4 {
		t.Errorf("unknown email took %v, wrong password %v: the difference tells who has an account", u, w)
	}
}

func TestMFA(t *testing.T) {
	e := newEnv(t)
	u := e.mustUser("erin@vendor.example", goodPassword, freight.RolePublisher, nil, "")
	b := e.browser()
	b.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": u.Email, "password": goodPassword})
	other := e.browser()
	other.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": u.Email, "password": goodPassword})

	// Enrolment asks for the password, then a code from the new secret.
	wantError(t, b.do("POST", "/api/v1/account/mfa/totp", map[string]string{"password": "wrong-password"}), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
	var begin struct{ Secret, URI string }
	b.must(http.StatusOK, "POST", "/api/v1/account/mfa/totp", map[string]string{"password": goodPassword}).decode(t, &begin)
	if !strings.HasPrefix(begin.URI, "otpauth://totp/") || begin.Secret == "" {
		t.Fatalf("enrolment answer %+v", begin)
	}
	secret, err := mfa.DecodeSecret(begin.Secret)
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, b.do("POST", "/api/v1/account/mfa/totp/confirm", map[string]string{"code": "000000"}), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
	var rc struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	b.must(http.StatusOK, "POST", "/api/v1/account/mfa/totp/confirm", map[string]string{"code": mfa.Code(secret, e.clock.Now())}).decode(t, &rc)
	if len(rc.RecoveryCodes) != 10 {
		t.Fatalf("got %d recovery codes, want 10", len(rc.RecoveryCodes))
	}
	// The other session ended: a new factor is a new start.
	wantError(t, other.do("GET", "/api/v1/me", nil), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
	b.must(http.StatusOK, "GET", "/api/v1/me", nil)

	signIn := func() *browser {
		t.Helper()
		c := e.browser()
		var a struct {
			MFARequired bool `json:"mfa_required"`
		}
		c.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": u.Email, "password": goodPassword}).decode(t, &a)
		if !a.MFARequired {
			t.Fatal("sign-in did not ask for the second factor")
		}
		// Half signed in is not signed in.
		wantError(t, c.do("GET", "/api/v1/me", nil), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		return c
	}

	t.Run("TOTPReplayRefused", func(t *testing.T) {
		e.clock.Add(30 * time.Second)
		code := mfa.Code(secret, e.clock.Now())
		c := signIn()
		partial := c.cookie
		c.must(http.StatusOK, "POST", "/api/v1/auth/mfa", map[string]string{"code": code})
		if c.cookie == partial {
			t.Error("completing the sign-in kept the partial session's id")
		}
		c.must(http.StatusOK, "GET", "/api/v1/me", nil)
		// The same code, in the same 30 s step, is refused: single use.
		d := signIn()
		wantError(t, d.do("POST", "/api/v1/auth/mfa", map[string]string{"code": code}), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		// So is the code of the step before (within the skew window).
		wantError(t, d.do("POST", "/api/v1/auth/mfa", map[string]string{"code": mfa.Code(secret, e.clock.Now().Add(-30*time.Second))}), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		// The next step's code works.
		e.clock.Add(30 * time.Second)
		d.must(http.StatusOK, "POST", "/api/v1/auth/mfa", map[string]string{"code": mfa.Code(secret, e.clock.Now())})
	})

	t.Run("ConcurrentSameCode", func(t *testing.T) {
		e.clock.Add(30 * time.Second)
		code := mfa.Code(secret, e.clock.Now())
		cs := []*browser{signIn(), signIn(), signIn(), signIn()}
		var wg sync.WaitGroup
		statuses := make([]int, len(cs))
		for i, c := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = c.do("POST", "/api/v1/auth/mfa", map[string]string{"code": code}).status
			}()
		}
		wg.Wait()
		ok := 0
		for _, s := range statuses {
			if s == http.StatusOK {
				ok++
			}
		}
		if ok != 1 {
			t.Errorf("statuses %v: want exactly one sign-in with one code", statuses)
		}
	})

	t.Run("RecoveryCodeSingleUse", func(t *testing.T) {
		c := signIn()
		c.must(http.StatusOK, "POST", "/api/v1/auth/mfa", map[string]string{"recovery_code": strings.ToUpper(rc.RecoveryCodes[0])})
		d := signIn()
		wantError(t, d.do("POST", "/api/v1/auth/mfa", map[string]string{"recovery_code": rc.RecoveryCodes[0]}), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		d.must(http.StatusOK, "POST", "/api/v1/auth/mfa", map[string]string{"recovery_code": rc.RecoveryCodes[1]})
	})

	t.Run("CodeLockout", func(t *testing.T) {
		e.clock.Add(30 * time.Second) // a step no code was used in
		c := signIn()
		for i := range 5 {
			wantError(t, c.do("POST", "/api/v1/auth/mfa", map[string]string{"code": strconv.Itoa(100000 + i)}), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		}
		// Locked for a second: even the right code is refused unchecked.
		wantError(t, c.do("POST", "/api/v1/auth/mfa", map[string]string{"code": mfa.Code(secret, e.clock.Now())}), http.StatusTooManyRequests, freight.ERATELIMIT, "")
		e.clock.Add(time.Second)
		c.must(http.StatusOK, "POST", "/api/v1/auth/mfa", map[string]string{"code": mfa.Code(secret, e.clock.Now())})
	})

	t.Run("Disable", func(t *testing.T) {
		e.clock.Add(time.Minute)
		wantError(t, b.do("POST", "/api/v1/account/mfa/disable", map[string]string{"password": goodPassword, "code": "123"}), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		b.must(http.StatusNoContent, "POST", "/api/v1/account/mfa/disable", map[string]string{"password": goodPassword, "code": mfa.Code(secret, e.clock.Now())})
		c := e.browser()
		var a struct {
			MFARequired bool `json:"mfa_required"`
		}
		c.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": u.Email, "password": goodPassword}).decode(t, &a)
		if a.MFARequired {
			t.Error("sign-in asks for a second factor after it was turned off")
		}
	})
}

func TestMFARequiredByPolicy(t *testing.T) {
	e := newEnv(t)
	acme := e.mustOrg("acme")
	u := e.mustUser("fred@acme.example", goodPassword, "", acme, freight.RoleMember)
	e.must(http.StatusOK, "PATCH", "/api/v1/organizations/acme", e.token, map[string]any{"require_mfa": true})
	b := e.browser()
	var a struct {
		MFAEnrollment bool `json:"mfa_enrollment"`
	}
	b.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": u.Email, "password": goodPassword}).decode(t, &a)
	if !a.MFAEnrollment {
		t.Fatal("the answer does not say a second factor must be enrolled")
	}
	// Nothing but enrolment until then.
	wantError(t, b.do("GET", "/api/v1/catalog", nil), http.StatusForbidden, freight.EFORBIDDEN, "")
	b.must(http.StatusOK, "GET", "/api/v1/me", nil)
	var begin struct{ Secret string }
	b.must(http.StatusOK, "POST", "/api/v1/account/mfa/totp", map[string]string{"password": goodPassword}).decode(t, &begin)
	secret, err := mfa.DecodeSecret(begin.Secret)
	if err != nil {
		t.Fatal(err)
	}
	b.must(http.StatusOK, "POST", "/api/v1/account/mfa/totp/confirm", map[string]string{"code": mfa.Code(secret, e.clock.Now())})
	b.must(http.StatusOK, "GET", "/api/v1/catalog", nil)

	// The vendor's setting does the same for staff.
	staff := e.mustUser("gina@vendor.example", goodPassword, freight.RoleSupport, nil, "")
	e.must(http.StatusOK, "PATCH", "/api/v1/settings", e.token, map[string]any{"require_vendor_mfa": true})
	c := e.browser()
	c.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": staff.Email, "password": goodPassword}).decode(t, &a)
	if !a.MFAEnrollment {
		t.Fatal("vendor staff need not enrol although the setting says so")
	}
	wantError(t, c.do("GET", "/api/v1/organizations", nil), http.StatusForbidden, freight.EFORBIDDEN, "")
}

var linkRE = regexp.MustCompile(`https?://\S+\?token=(frl_[A-Za-z0-9_-]+)`)

// linkToken returns the secret of the link in the last mail to addr.
func (e *env) linkToken(addr string) string {
	e.t.Helper()
	e.srv.Wait()
	m := e.mail.last(addr)
	if m == nil {
		e.t.Fatalf("no mail to %s", addr)
	}
	sm := linkRE.FindStringSubmatch(m.Text)
	if sm == nil {
		e.t.Fatalf("no link in the mail to %s: %q", addr, m.Text)
	}
	return sm[1]
}

func TestPasswordReset(t *testing.T) {
	e := newEnv(t)
	u := e.mustUser("hank@vendor.example", goodPassword, freight.RoleSupport, nil, "")
	b := e.browser()
	b.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": u.Email, "password": goodPassword})

	// Unknown and known addresses get the same answer; only one mail goes.
	before := e.mail.count()
	b.must(http.StatusAccepted, "POST", "/api/v1/auth/forgot", map[string]string{"email": "nobody@vendor.example"})
	b.must(http.StatusAccepted, "POST", "/api/v1/auth/forgot", map[string]string{"email": u.Email})
	tok := e.linkToken(u.Email)
	if got := e.mail.count() - before; got != 1 {
		t.Errorf("%d mails sent, want 1", got)
	}
	const newPassword = "a brand new passphrase"
	wantError(t, b.do("POST", "/api/v1/auth/reset", map[string]string{"token": tok, "password": "password"}), http.StatusBadRequest, freight.EINVALID, "password")
	b.must(http.StatusNoContent, "POST", "/api/v1/auth/reset", map[string]string{"token": tok, "password": newPassword})
	// Single use.
	wantError(t, b.do("POST", "/api/v1/auth/reset", map[string]string{"token": tok, "password": "yet another passphrase"}), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
	// Every session ended; the new password works, the old does not.
	wantError(t, b.do("GET", "/api/v1/me", nil), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
	wantError(t, b.do("POST", "/api/v1/auth/signin", map[string]string{"email": u.Email, "password": goodPassword}), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
	b.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": u.Email, "password": newPassword})

	t.Run("Expiry", func(t *testing.T) {
		b.must(http.StatusAccepted, "POST", "/api/v1/auth/forgot", map[string]string{"email": u.Email})
		tok := e.linkToken(u.Email)
		e.clock.Add(time.Hour)
		wantError(t, b.do("POST", "/api/v1/auth/reset", map[string]string{"token": tok, "password": "expired link passphrase"}), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
	})
	t.Run("NewLinkVoidsOld", func(t *testing.T) {
		b.must(http.StatusAccepted, "POST", "/api/v1/auth/forgot", map[string]string{"email": u.Email})
		first := e.linkToken(u.Email)
		b.must(http.StatusAccepted, "POST", "/api/v1/auth/forgot", map[string]string{"email": u.Email})
		second := e.linkToken(u.Email)
		wantError(t, b.do("POST", "/api/v1/auth/reset", map[string]string{"token": first, "password": "first link passphrase"}), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		b.must(http.StatusNoContent, "POST", "/api/v1/auth/reset", map[string]string{"token": second, "password": "second link passphrase"})
	})
	t.Run("TamperedLink", func(t *testing.T) {
		b.must(http.StatusAccepted, "POST", "/api/v1/auth/forgot", map[string]string{"email": u.Email})
		tok := e.linkToken(u.Email)
		bad := tok[:len(tok)-2] + "xx"
		if bad == tok {
			bad = tok[:len(tok)-2] + "yy"
		}
		for _, s := range []string{bad, "", "frl_", tok + "\n", strings.Repeat("z", 3000)} {
			wantError(t, b.do("POST", "/api/v1/auth/reset", map[string]string{"token": s, "password": "tampered link passphrase"}), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		}
	})
	t.Run("DoesNotBypassMFA", func(t *testing.T) {
		c := e.browser()
		c.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": u.Email, "password": "second link passphrase"})
		var begin struct{ Secret string }
		c.must(http.StatusOK, "POST", "/api/v1/account/mfa/totp", map[string]string{"password": "second link passphrase"}).decode(t, &begin)
		secret, _ := mfa.DecodeSecret(begin.Secret)
		c.must(http.StatusOK, "POST", "/api/v1/account/mfa/totp/confirm", map[string]string{"code": mfa.Code(secret, e.clock.Now())})
		c.must(http.StatusAccepted, "POST", "/api/v1/auth/forgot", map[string]string{"email": u.Email})
		tok := e.linkToken(u.Email)
		c.must(http.StatusNoContent, "POST", "/api/v1/auth/reset", map[string]string{"token": tok, "password": "third link passphrase"})
		var a struct {
			MFARequired bool `json:"mfa_required"`
		}
		c.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": u.Email, "password": "third link passphrase"}).decode(t, &a)
		if !a.MFARequired {
			t.Error("after a reset, sign-in no longer asks for the second factor")
		}
	})
}

func TestInvitations(t *testing.T) {
	e := newEnv(t)
	acme, globex := e.mustOrg("acme"), e.mustOrg("globex")
	boss := e.mustUser("boss@acme.example", goodPassword, "", acme, freight.RoleOrgAdmin)
	e.mustUser("other@globex.example", goodPassword, "", globex, freight.RoleOrgAdmin)
	b := e.browser()
	b.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": boss.Email, "password": goodPassword})

	b.must(http.StatusCreated, "POST", "/api/v1/organizations/acme/invitations", map[string]string{"email": "new@acme.example", "role": "member"})
	wantError(t, b.do("POST", "/api/v1/organizations/globex/invitations", map[string]string{"email": "x@globex.example", "role": "member"}), http.StatusForbidden, freight.EFORBIDDEN, "")
	wantError(t, b.do("POST", "/api/v1/invitations", map[string]string{"email": "x@acme.example", "vendor_role": "admin"}), http.StatusForbidden, freight.EFORBIDDEN, "")

	tok := e.linkToken("new@acme.example")
	anon := e.browser()
	wantError(t, anon.do("POST", "/api/v1/auth/accept", map[string]string{"token": tok, "name": "New", "password": "short"}), http.StatusBadRequest, freight.EINVALID, "password")
	var u freight.User
	anon.must(http.StatusOK, "POST", "/api/v1/auth/accept", map[string]string{"token": tok, "name": "New Person", "password": "an invited passphrase"}).decode(t, &u)
	if !u.EmailVerified || u.VendorRole != "" {
		t.Errorf("accepted user %+v: want a verified customer", u)
	}
	wantError(t, anon.do("POST", "/api/v1/auth/accept", map[string]string{"token": tok, "name": "Again", "password": "an invited passphrase"}), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
	var me struct {
		Role  freight.Role `json:"role"`
		OrgID string       `json:"org_id"`
	}
	anon.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": "new@acme.example", "password": "an invited passphrase"})
	anon.must(http.StatusOK, "GET", "/api/v1/me", nil).decode(t, &me)
	if me.Role != freight.RoleMember || me.OrgID != acme.ID {
		t.Errorf("me = %+v, want member of acme", me)
	}

	t.Run("ExistingAccountJoins", func(t *testing.T) {
		// The globex org-admin is invited into acme: the invitation adds
		// the membership and never touches the password.
		e.must(http.StatusCreated, "POST", "/api/v1/organizations/acme/invitations", e.token, map[string]string{"email": "other@globex.example", "role": "member"})
		tok := e.linkToken("other@globex.example")
		c := e.browser()
		wantError(t, c.do("POST", "/api/v1/auth/accept", map[string]string{"token": tok, "password": "attacker chosen passphrase"}), http.StatusBadRequest, freight.EINVALID, "password")
		c.must(http.StatusOK, "POST", "/api/v1/auth/accept", map[string]string{"token": tok})
		c.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": "other@globex.example", "password": goodPassword})
	})
	t.Run("VendorStaff", func(t *testing.T) {
		e.must(http.StatusCreated, "POST", "/api/v1/invitations", e.token, map[string]string{"email": "pub@vendor.example", "vendor_role": "publisher"})
		tok := e.linkToken("pub@vendor.example")
		c := e.browser()
		var u freight.User
		c.must(http.StatusOK, "POST", "/api/v1/auth/accept", map[string]string{"token": tok, "name": "Pub", "password": "publisher passphrase"}).decode(t, &u)
		if u.VendorRole != freight.RolePublisher {
			t.Errorf("vendor role %q, want publisher", u.VendorRole)
		}
	})
	t.Run("Expired", func(t *testing.T) {
		e.must(http.StatusCreated, "POST", "/api/v1/organizations/acme/invitations", e.token, map[string]string{"email": "late@acme.example", "role": "member"})
		tok := e.linkToken("late@acme.example")
		e.clock.Add(7 * 24 * time.Hour)
		wantError(t, e.browser().do("POST", "/api/v1/auth/accept", map[string]string{"token": tok, "name": "Late", "password": "a late passphrase"}), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
	})
	t.Run("OrgAdminMembersOnly", func(t *testing.T) {
		// An org-admin changes its members' roles, but cannot pull in
		// someone who is not a member.
		b.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": boss.Email, "password": goodPassword})
		e.must(http.StatusOK, "PUT", "/api/v1/organizations/acme/members/"+u.ID, e.token, map[string]string{"role": "member"})
		b.must(http.StatusOK, "PUT", "/api/v1/organizations/acme/members/"+u.ID, map[string]string{"role": "org-admin"})
		staff := e.mustUser("staff@vendor.example", goodPassword, freight.RoleAdmin, nil, "")
		wantError(t, b.do("PUT", "/api/v1/organizations/acme/members/"+staff.ID, map[string]string{"role": "member"}), http.StatusNotFound, freight.ENOTFOUND, "")
	})
}

func TestEmailVerification(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.mustUser("ivy@vendor.example", goodPassword, freight.RoleSupport, nil, "")
	if _, err := e.store.UpdateUser(ctx, u.ID, func(u *freight.User) error { u.EmailVerified = false; return nil }); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": u.Email, "password": goodPassword})
	b.must(http.StatusAccepted, "POST", "/api/v1/account/verify-email", nil)
	tok := e.linkToken(u.Email)
	var got freight.User
	e.browser().must(http.StatusOK, "POST", "/api/v1/auth/verify", map[string]string{"token": tok}).decode(t, &got)
	if !got.EmailVerified {
		t.Error("the address is not verified")
	}
	wantError(t, e.browser().do("POST", "/api/v1/auth/verify", map[string]string{"token": tok}), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
	wantError(t, b.do("POST", "/api/v1/account/verify-email", nil), http.StatusConflict, freight.ECONFLICT, "")
}

func TestAccountChanges(t *testing.T) {
	e := newEnv(t)
	acme := e.mustOrg("acme")
	u := e.mustUser("jack@acme.example", goodPassword, "", acme, freight.RoleOrgAdmin)
	b, other := e.browser(), e.browser()
	b.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": u.Email, "password": goodPassword})
	other.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": u.Email, "password": goodPassword})

	t.Run("Sessions", func(t *testing.T) {
		var list struct {
			Items []struct {
				ID      string `json:"id"`
				Current bool   `json:"current"`
			}
		}
		b.must(http.StatusOK, "GET", "/api/v1/account/sessions", nil).decode(t, &list)
		if len(list.Items) != 2 {
			t.Fatalf("%d sessions, want 2", len(list.Items))
		}
		if strings.Contains(string(b.do("GET", "/api/v1/account/sessions", nil).body), "secret") {
			t.Error("the session list shows secrets")
		}
	})
	t.Run("ChangePassword", func(t *testing.T) {
		wantError(t, b.do("POST", "/api/v1/account/password", map[string]string{"password": "wrong", "new_password": "another fine passphrase"}), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		wantError(t, b.do("POST", "/api/v1/account/password", map[string]string{"password": goodPassword, "new_password": "jack@acme.example"}), http.StatusBadRequest, freight.EINVALID, "new_password")
		b.must(http.StatusNoContent, "POST", "/api/v1/account/password", map[string]string{"password": goodPassword, "new_password": "another fine passphrase"})
		// This session stays, the other one ends, and mail tells.
		b.must(http.StatusOK, "GET", "/api/v1/me", nil)
		wantError(t, other.do("GET", "/api/v1/me", nil), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		if m := e.mail.last(u.Email); m == nil || !strings.Contains(m.Subject, "password") {
			t.Errorf("no password-changed mail: %+v", m)
		}
	})
	t.Run("PersonalTokens", func(t *testing.T) {
		var created struct {
			ID     string       `json:"id"`
			Secret string       `json:"secret"`
			Role   freight.Role `json:"role"`
		}
		b.must(http.StatusCreated, "POST", "/api/v1/account/tokens", map[string]string{"name": "laptop", "role": "member"}).decode(t, &created)
		if created.Role != freight.RoleMember || !strings.HasPrefix(created.Secret, "frt_") {
			t.Fatalf("created %+v", created)
		}
		e.must(http.StatusOK, "GET", "/api/v1/catalog", created.Secret, nil)
		wantError(t, b.do("POST", "/api/v1/account/tokens", map[string]string{"name": "too strong", "role": "admin"}), http.StatusBadRequest, freight.EINVALID, "role")
		b.must(http.StatusOK, "DELETE", "/api/v1/account/tokens/"+created.ID, nil)
		wantError(t, e.do("GET", "/api/v1/catalog", created.Secret, nil), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		// Someone else's token is not found from here.
		wantError(t, b.do("DELETE", "/api/v1/account/tokens/"+tokenID(e.token), nil), http.StatusNotFound, freight.ENOTFOUND, "")
	})
	t.Run("ServiceAccountTokens", func(t *testing.T) {
		var created struct {
			ID     string       `json:"id"`
			Secret string       `json:"secret"`
			Role   freight.Role `json:"role"`
			UserID string       `json:"user_id"`
		}
		b.must(http.StatusCreated, "POST", "/api/v1/organizations/acme/tokens", map[string]string{"name": "ci download"}).decode(t, &created)
		if created.Role != freight.RoleMember || created.UserID != "" {
			t.Errorf("service account token %+v: want a member token of no user", created)
		}
		e.must(http.StatusOK, "GET", "/api/v1/catalog", created.Secret, nil)
		wantError(t, e.do("GET", "/api/v1/organizations/acme/members", created.Secret, nil), http.StatusForbidden, freight.EFORBIDDEN, "")
		b.must(http.StatusOK, "GET", "/api/v1/organizations/acme/tokens", nil)
		b.must(http.StatusOK, "DELETE", "/api/v1/organizations/acme/tokens/"+created.ID, nil)
	})
	t.Run("DisableEndsEverything", func(t *testing.T) {
		var created struct{ Secret string }
		b.must(http.StatusCreated, "POST", "/api/v1/account/tokens", map[string]string{"name": "ci"}).decode(t, &created)
		e.must(http.StatusOK, "GET", "/api/v1/catalog", created.Secret, nil)
		e.must(http.StatusOK, "PATCH", "/api/v1/users/"+u.ID, e.token, map[string]any{"disabled": true})
		wantError(t, b.do("GET", "/api/v1/me", nil), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		wantError(t, e.do("GET", "/api/v1/catalog", created.Secret, nil), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		// Enabling the account again does not bring them back.
		e.must(http.StatusOK, "PATCH", "/api/v1/users/"+u.ID, e.token, map[string]any{"disabled": false})
		wantError(t, e.do("GET", "/api/v1/catalog", created.Secret, nil), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		wantError(t, b.do("GET", "/api/v1/me", nil), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		r := e.browser().do("POST", "/api/v1/auth/signin", map[string]string{"email": u.Email, "password": "another fine passphrase"})
		if r.status != http.StatusOK {
			t.Errorf("sign-in after re-enabling: %d %s", r.status, r.body)
		}
	})
}

// tokenID returns the id inside a token secret.
func tokenID(secret string) string {
	id, _, _ := freight.ParseTokenSecret(secret)
	return id
}

func TestPublisherTokenNarrowedToProducts(t *testing.T) {
	e := newEnv(t)
	var mill, lathe freight.Product
	e.must(http.StatusCreated, "POST", "/api/v1/products", e.token, map[string]any{"slug": "mill", "name": "Mill"}).decode(t, &mill)
	e.must(http.StatusCreated, "POST", "/api/v1/products", e.token, map[string]any{"slug": "lathe", "name": "Lathe"}).decode(t, &lathe)
	var latheRel freight.Release
	e.must(http.StatusCreated, "POST", "/api/v1/products/lathe/releases", e.token, map[string]any{"version": "1.0.0"}).decode(t, &latheRel)
	var created struct{ Secret string }
	e.must(http.StatusCreated, "POST", "/api/v1/tokens", e.token, map[string]any{"name": "mill ci", "role": "publisher", "products": []string{mill.ID}}).decode(t, &created)
	ci := created.Secret

	var rel freight.Release
	e.must(http.StatusCreated, "POST", "/api/v1/products/mill/releases", ci, map[string]any{"version": "1.0.0"}).decode(t, &rel)
	e.must(http.StatusCreated, "POST", "/api/v1/releases/"+rel.ID+"/artifacts", ci, map[string]any{"filename": "mill.zip", "size": 3, "platform": "linux", "arch": "amd64"})
	wantError(t, e.do("POST", "/api/v1/products/lathe/releases", ci, map[string]any{"version": "2.0.0"}), http.StatusForbidden, freight.EFORBIDDEN, "")
	wantError(t, e.do("POST", "/api/v1/releases/"+latheRel.ID+"/publish", ci, nil), http.StatusForbidden, freight.EFORBIDDEN, "")
	wantError(t, e.do("POST", "/api/v1/products", ci, map[string]any{"slug": "new", "name": "New"}), http.StatusForbidden, freight.EFORBIDDEN, "")
	// Narrowing is for publisher tokens only.
	wantError(t, e.do("POST", "/api/v1/tokens", e.token, map[string]any{"name": "x", "role": "support", "products": []string{mill.ID}}), http.StatusBadRequest, freight.EINVALID, "products")
}

// TestSecretsAtRest reads every table of the database after the flows that
// make secrets, and checks that none is stored as it was shown: those that
// can be hashed are hashed, and those the portal must keep usable (signing
// keys, TOTP and webhook secrets, upload URL keys) are sealed, so that no
// encoding of them appears either.
func TestSecretsAtRest(t *testing.T) {
	e := hookEnv(t, testdb.SQLite(t))
	ctx := context.Background()
	acme := e.mustOrg("acme")
	u := e.mustUser("kim@acme.example", goodPassword, "", acme, freight.RoleOrgAdmin)
	b := e.browser()
	b.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": u.Email, "password": goodPassword})
	secrets := []string{goodPassword, b.secret(), e.token}
	var tok struct{ Secret string }
	b.must(http.StatusCreated, "POST", "/api/v1/account/tokens", map[string]string{"name": "t"}).decode(t, &tok)
	secrets = append(secrets, tok.Secret)
	b.must(http.StatusCreated, "POST", "/api/v1/organizations/acme/invitations", map[string]string{"email": "lee@acme.example", "role": "member"})
	secrets = append(secrets, e.linkToken("lee@acme.example"))
	var begin struct{ Secret string }
	b.must(http.StatusOK, "POST", "/api/v1/account/mfa/totp", map[string]string{"password": goodPassword}).decode(t, &begin)
	secret, _ := mfa.DecodeSecret(begin.Secret)
	var rc struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	b.must(http.StatusOK, "POST", "/api/v1/account/mfa/totp/confirm", map[string]string{"code": mfa.Code(secret, e.clock.Now())}).decode(t, &rc)
	secrets = append(secrets, rc.RecoveryCodes...)
	b.must(http.StatusAccepted, "POST", "/api/v1/auth/forgot", map[string]string{"email": u.Email})
	secrets = append(secrets, e.linkToken(u.Email))

	// Secrets that are sealed, as bytes: each must not appear in any
	// encoding.
	sealed := map[string][]byte{"TOTP secret": secret}
	// A second factor being enrolled, not yet confirmed.
	ann := e.mustUser("ann@acme.example", goodPassword, "", acme, freight.RoleMember)
	ab := e.browser()
	ab.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": ann.Email, "password": goodPassword})
	var pending struct{ Secret string }
	ab.must(http.StatusOK, "POST", "/api/v1/account/mfa/totp", map[string]string{"password": goodPassword}).decode(t, &pending)
	sealed["pending TOTP secret"], _ = mfa.DecodeSecret(pending.Secret)
	secrets = append(secrets, begin.Secret, pending.Secret)

	// Both signing keys, and a rotation, so that two grant keys exist.
	e.must(http.StatusOK, "POST", "/api/v1/keys/rotate", e.token, nil)
	e.must(http.StatusOK, "POST", "/api/v1/keys/rotate", e.token, nil)
	e.must(http.StatusOK, "POST", "/api/v1/keys/rotate?purpose=licenses", e.token, nil)
	var publics [][]byte
	for _, purpose := range []string{freight.KeyGrants, freight.KeyLicenses} {
		keys, err := e.store.SigningKeys(ctx, purpose)
		if err != nil || len(keys) == 0 {
			t.Fatalf("SigningKeys(%s) = %d keys, %v", purpose, len(keys), err)
		}
		for _, k := range keys {
			sealed["private key "+k.ID] = k.Private
			sealed["seed of "+k.ID] = k.Private[:ed25519.SeedSize]
			publics = append(publics, k.Public)
		}
	}

	// A webhook and its rotated secret, the old one kept for the grace.
	var hook, rot createdHook
	e.must(http.StatusCreated, "POST", "/api/v1/webhooks", e.token, map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{freight.EventLicenseIssued}}).decode(t, &hook)
	e.must(http.StatusOK, "POST", "/api/v1/webhooks/"+hook.ID+"/rotate-secret", e.token, nil).decode(t, &rot)
	for _, s := range []string{hook.Secret, rot.Secret} {
		secrets = append(secrets, s)
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, freight.WebhookSecretPrefix))
		if err != nil {
			t.Fatalf("webhook secret %.10s…: %v", s, err)
		}
		sealed["webhook secret "+s[:10]] = raw
	}

	// An upload whose part URLs the portal signs.
	started := e.startUpload(e.draft("1.0.0"), "cad.bin", []byte("0123456789"), "")
	up, err := e.store.Upload(ctx, started.Upload.ID)
	if err != nil || len(up.URLKey) == 0 {
		t.Fatalf("Upload: %v, URL key of %d bytes", err, len(up.URLKey))
	}
	sealed["upload URL key"] = up.URLKey

	dump := e.dumpDatabase()
	for _, s := range secrets {
		// Look for the random part too: a secret's hash may sit next to
		// its id, but never the random part itself.
		// The random part is the last 43 characters: base64url, which
		// may itself hold a '_'.
		random := s
		if (strings.HasPrefix(s, "fr") || strings.HasPrefix(s, freight.WebhookSecretPrefix)) && len(s) > 43 {
			random = s[len(s)-43:]
		}
		if strings.Contains(dump, random) {
			t.Errorf("the database holds a secret in plain text (%.8s…)", s)
		}
	}
	for name, b := range sealed {
		if len(b) < 16 {
			t.Fatalf("%s has %d bytes: too short to look for", name, len(b))
		}
		for enc, v := range encodings(b) {
			if strings.Contains(dump, v) {
				t.Errorf("the database holds the %s (%s)", name, enc)
			}
		}
	}
	// The dump reads the tables that hold them.
	for what, v := range map[string]string{"the user's email": u.Email, "the webhook's URL": "http://127.0.0.1:9/hook", "a public key": string(publics[0])} {
		if !strings.Contains(dump, v) {
			t.Fatalf("the dump does not hold %s: it does not read the tables", what)
		}
	}
	e.checkLogsClean(secrets)
}

// encodings returns the ways bytes are commonly written down.
func encodings(b []byte) map[string]string {
	return map[string]string{
		"raw":               string(b),
		"hex":               hex.EncodeToString(b),
		"upper-case hex":    strings.ToUpper(hex.EncodeToString(b)),
		"base64":            base64.RawStdEncoding.EncodeToString(b),
		"base64url":         base64.RawURLEncoding.EncodeToString(b),
		"base32":            base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b),
		"lower-case base32": strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)),
		"base32hex":         base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(b),
	}
}

// dumpDatabase returns the text of every row of every table.
func (e *env) dumpDatabase() string {
	e.t.Helper()
	ctx := context.Background()
	db := e.store.SQL()
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		e.t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	var out strings.Builder
	for _, tbl := range tables {
		rows, err := db.QueryContext(ctx, `SELECT * FROM "`+tbl+`"`)
		if err != nil {
			e.t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				e.t.Fatal(err)
			}
			for _, v := range vals {
				switch v := v.(type) {
				case []byte:
					out.Write(v)
				case string:
					out.WriteString(v)
				}
				out.WriteByte('\t')
			}
			out.WriteByte('\n')
		}
		rows.Close()
	}
	return out.String()
}

// checkLogsClean fails if any secret appears in the server's log.
func (e *env) checkLogsClean(secrets []string) {
	e.t.Helper()
	logs := e.logs.String()
	if len(logs) < 100 {
		e.t.Fatal("the log is nearly empty: the check would prove nothing")
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			e.t.Errorf("the log holds a secret (%.8s…)", s)
		}
	}
	if strings.Contains(logs, "?token=") {
		e.t.Error("the log holds a link with its secret")
	}
}

// TestRehashOnSignIn raises the hash parameters and checks that a sign-in
// re-hashes the password with them, and that the new hash still works.
func TestRehashOnSignIn(t *testing.T) {
	stronger := password.Params{Memory: 128, Time: 2, Threads: 1}
	e := newEnvWith(t, nil, func(c *server.Config) { c.PasswordParams = stronger })
	u := e.mustUser("old@vendor.example", goodPassword, freight.RoleSupport, nil, "") // made with m=64, t=1
	if !password.NeedsRehash(u.PasswordHash, stronger) {
		t.Fatal("the test user's hash is not weaker than the server's parameters")
	}
	b := e.browser()
	b.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": u.Email, "password": goodPassword})
	after, err := e.store.User(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.PasswordHash == u.PasswordHash || password.NeedsRehash(after.PasswordHash, stronger) {
		t.Errorf("hash after sign-in %q, want one made with %+v", after.PasswordHash, stronger)
	}
	e.browser().must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": u.Email, "password": goodPassword})
}

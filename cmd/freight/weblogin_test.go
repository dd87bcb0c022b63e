package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var authorizeURLRE = regexp.MustCompile(`(http://\S+/cli/authorize\?\S+)`)

// TestLoginWebBrowser runs "freight login --web --no-browser" against a
// demo, opens the address it prints in headless Chromium, signs in with a
// password there and allows; the command then keeps a token in a file
// only its user may read, with which "freight catalog" works. A second
// login is denied in the browser and fails.
func TestLoginWebBrowser(t *testing.T) {
	chromium(t) // skip before starting a demo for nothing
	config := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", config) // where os.UserConfigDir looks on Unix
	t.Setenv("HOME", config)            // and on macOS
	t.Setenv("AppData", config)         // and on Windows
	dir := t.TempDir()
	d := start(t, nil, "demo", "--addr", "127.0.0.1:0", "--data-dir", dir, "--log-level", "warn")
	base := d.stdout.waitFor(t, listeningDemoRE, d.done)
	info := readDemoInfo(t, dir)
	var email, password string
	for _, c := range info.Customers {
		if c.Org == "globex" {
			email, password = c.Email, c.Password
		}
	}
	u := newUI(t, base, t.TempDir())

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr output
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"login", "--web", "--no-browser", "--server", base}, nil, &stdout, &stderr)
	}()
	authURL := stderr.waitFor(t, authorizeURLRE, done)
	au, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	redirect := au.Query().Get("redirect_uri")
	if !regexp.MustCompile(`^http://127\.0\.0\.1:[0-9]+/callback$`).MatchString(redirect) {
		t.Fatalf("the command asks to be answered at %q, want a loopback address", redirect)
	}
	// An answer without the command's state is turned away, and the
	// command keeps waiting for the real one.
	resp, err := http.Get(redirect + "?code=frl_made_up&state=not-the-state")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("an answer with a wrong state: status %d, want 400", resp.StatusCode)
	}

	// Signed out, the browser goes through the sign-in page and back.
	u.do(chromedp.Navigate(authURL))
	u.waitPath("/sign-in")
	u.do(
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), password+"\r"),
	)
	u.waitPath("/cli/authorize")
	host := machineName()
	if got, want := u.text("#cli-q"), "Allow the Freight command line on "+host+" to act as "+email+" in Globex"; !strings.HasPrefix(got, want) {
		t.Errorf("the page asks %q, want %q…", got, want)
	}
	u.check("cli-authorize")
	u.do(chromedp.Click(chromedp.CSS("#cli-allow")))

	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("freight login --web: %v\nstderr:\n%s", err, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("freight login --web did not finish; browser at %s; stderr:\n%s", u.location(), stderr.String())
	}
	waitLocation(t, u, redirect+"?")
	if got := u.text("#result"); !strings.Contains(got, "signed in") {
		t.Errorf("the browser's last page says %q", got)
	}
	if want := "Logged in to " + base + " as " + email + " (member)."; !strings.Contains(stdout.String(), want) {
		t.Errorf("login printed %q, want %q", stdout.String(), want)
	}

	path := filepath.Join(config, "freight", "login.json")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the login file: %v", err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("%s has mode %o, want 600", path, mode)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), `"token": "frt_`) {
		t.Errorf("%s holds no token:\n%s", path, b)
	}

	// The kept token works, with nothing given on the command line.
	var cat output
	if err := run(ctx, []string{"catalog"}, nil, &cat, t.Output()); err != nil {
		t.Fatalf("freight catalog with the kept token: %v", err)
	}
	if !strings.Contains(cat.String(), "1.2.0-rc.1") {
		t.Errorf("globex's catalog lacks Millwright 1.2.0-rc.1:\n%s", cat.String())
	}

	// Deny: the command says so and keeps nothing new.
	var stderr2 output
	done2 := make(chan error, 1)
	go func() {
		done2 <- run(ctx, []string{"login", "--no-browser", "--server", base}, nil, io.Discard, &stderr2)
	}()
	u.do(chromedp.Navigate(stderr2.waitFor(t, authorizeURLRE, done2)))
	u.waitPath("/cli/authorize") // signed in already: straight to the question
	u.do(chromedp.Click(chromedp.CSS("#cli-deny")))
	select {
	case err := <-done2:
		if err == nil || !strings.Contains(err.Error(), "denied") {
			t.Errorf("a denied login ended with %v, want an error saying it was denied", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("a denied login did not finish")
	}
	if b2, _ := os.ReadFile(path); string(b2) != string(b) {
		t.Error("a denied login changed the login file")
	}
}

// waitLocation waits until the browser's address starts with prefix.
func waitLocation(t *testing.T, u *ui, prefix string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.HasPrefix(u.location(), prefix) {
		if time.Now().After(deadline) {
			t.Fatalf("the browser is at %s, want %s…", u.location(), prefix)
		}
		time.Sleep(50 * time.Millisecond)
	}
	u.do(chromedp.WaitReady(chromedp.CSS("#result")))
}

// TestLoginWebCallbackPage: the page that tells the browser the sign-in
// worked reaches it whole, though the command stops as soon as it has
// the token. Repeated, since stopping the callback server too early
// loses the page only some of the time.
func TestLoginWebCallbackPage(t *testing.T) {
	portal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v1/auth/cli/token" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"tok_1","name":"freight command line","role":"member","secret":"frt_test"}`)
	}))
	defer portal.Close()
	for i := range 20 {
		pr, pw := io.Pipe()
		type result struct {
			secret string
			err    error
		}
		done := make(chan result, 1)
		go func() {
			secret, err := webLogin(context.Background(), portal.URL, false, pw)
			pw.Close()
			done <- result{secret, err}
		}()
		// The command prints the address to open; its redirect_uri and
		// state are what the portal would send the browser back with.
		var authURL *url.URL
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); strings.HasPrefix(line, portal.URL+"/cli/authorize?") {
				var err error
				if authURL, err = url.Parse(line); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
		go io.Copy(io.Discard, pr)
		if authURL == nil {
			t.Fatal("freight login --web printed no address to open")
		}
		q := authURL.Query()
		resp, err := http.Get(q.Get("redirect_uri") + "?" + url.Values{"code": {"frc_1"}, "state": {q.Get("state")}}.Encode())
		if err != nil {
			t.Fatalf("attempt %d: the callback: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "is signed in") {
			t.Fatalf("attempt %d: the browser got %d %q (%v), want the signed-in page", i, resp.StatusCode, body, err)
		}
		if res := <-done; res.err != nil || res.secret != "frt_test" {
			t.Fatalf("attempt %d: webLogin = %q, %v", i, res.secret, res.err)
		}
	}
}

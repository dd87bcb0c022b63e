package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/freight-portal/freight/internal/testdb"
	"github.com/freight-portal/freight/mfa"
)

// screenshotDir is where the browser tests leave pictures of the main
// pages, for people to look at; .gitignore keeps them out of the
// repository.
var screenshotDir = filepath.Join("..", "..", "web", "testdata", "screenshots")

// chromium finds a Chromium to drive, or skips the test: unless
// FREIGHT_TEST_REQUIRE lists "browser", which makes a missing browser a
// failure.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if testdb.Required("browser") {
		t.Fatalf("no Chromium found but %s=%q requires the browser tests: install Debian's chromium package (apt-get install chromium)",
			testdb.RequireEnv, os.Getenv(testdb.RequireEnv))
	}
	t.Skip("skipping browser test: no Chromium found; install Debian's chromium package (apt-get install chromium)")
	return ""
}

// ui is a headless Chromium on one tab, at a phone's width of 360 px
// unless a step says otherwise.
type ui struct {
	t    *testing.T
	ctx  context.Context
	base string
	// errs collects the page's uncaught script exceptions.
	mu   sync.Mutex
	errs []string
}

const phoneWidth = 360

func newUI(t *testing.T, base, downloads string) *ui {
	t.Helper()
	exe := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(bcancel)
	u := &ui{t: t, ctx: bctx, base: base}
	u.do(chromedp.EmulateViewport(phoneWidth, 800), chromedp.Navigate("about:blank"))
	allow := true
	if _, err := chromedp.CallBrowser(bctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads, EventsEnabled: &allow,
	}); err != nil {
		t.Fatalf("allowing downloads: %v", err)
	}
	exceptions := chromedp.Events(bctx, cdpruntime.ExceptionThrown)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			u.mu.Lock()
			u.errs = append(u.errs, ev.ExceptionDetails.Text+" "+exceptionDescription(ev))
			u.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		u.mu.Lock()
		defer u.mu.Unlock()
		for _, e := range u.errs {
			t.Errorf("script exception in the page: %s", e)
		}
	})
	return u
}

func exceptionDescription(ev cdpruntime.EventExceptionThrown) string {
	if ev.ExceptionDetails.Exception != nil {
		return ev.ExceptionDetails.Exception.Description
	}
	return ""
}

// do runs steps and fails the test at the first error, naming the line of
// the test that asked.
func (u *ui) do(steps ...chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	if err := chromedp.Do(u.ctx, steps...); err != nil {
		_, file, line, _ := runtime.Caller(1)
		u.t.Fatalf("%s:%d: browser: %v (page %s)", filepath.Base(file), line, err, u.location())
	}
}

func (u *ui) location() string {
	ctx, cancel := context.WithTimeout(u.ctx, 2*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

func (u *ui) text(css string) string {
	u.t.Helper()
	s, err := chromedp.Run(u.ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		u.t.Fatalf("reading %s: %v (page %s)", css, err, u.location())
	}
	return strings.TrimSpace(s)
}

func evaluate[T any](u *ui, expr string) T {
	u.t.Helper()
	v, err := chromedp.Run(u.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		u.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// open navigates to a path of the portal.
func (u *ui) open(path string) {
	u.t.Helper()
	u.do(chromedp.Navigate(u.base + path))
}

// waitPath waits until the browser shows the page at path (with any query).
func (u *ui) waitPath(path string) {
	u.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		loc := u.location()
		if rest, ok := strings.CutPrefix(loc, u.base+path); ok && (rest == "" || rest[0] == '?' || rest[0] == '#') {
			u.do(chromedp.WaitReady(chromedp.CSS("footer")))
			return
		}
		if time.Now().After(deadline) {
			u.t.Fatalf("the browser is at %s, want %s", loc, path)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// formError waits for the error a form shows and returns it.
func (u *ui) formError(formCSS string) string {
	u.t.Helper()
	sel := formCSS + " .form-error"
	u.do(chromedp.WaitVisible(chromedp.CSS(sel)))
	return u.text(sel)
}

// check looks at the current page at a phone's width and at a desktop's:
// nothing may scroll sideways at 360 px, and a screenshot of each width is
// saved as name-360.png and name-1280.png.
func (u *ui) check(name string) {
	u.t.Helper()
	if w := evaluate[int](u, "document.scrollingElement.scrollWidth"); w > phoneWidth {
		u.t.Errorf("page %s is %d px wide at a width of %d px: it scrolls sideways", name, w, phoneWidth)
	}
	// Every field has a label a screen reader can read.
	if unlabelled := evaluate[[]string](u, `Array.from(document.querySelectorAll("input:not([type=hidden]), select, textarea"))
		.filter(el => el.labels.length === 0 && !el.getAttribute("aria-label")).map(el => el.name || el.id)`); len(unlabelled) > 0 {
		u.t.Errorf("page %s has fields without a label: %v", name, unlabelled)
	}
	u.shot(name + "-360")
	u.do(chromedp.EmulateViewport(1280, 900))
	u.shot(name + "-1280")
	u.do(chromedp.EmulateViewport(phoneWidth, 800))
}

func (u *ui) shot(name string) {
	u.t.Helper()
	png, err := chromedp.Run(u.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		u.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		u.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir, name+".png"), png, 0o644); err != nil {
		u.t.Fatal(err)
	}
}

// signIn types the credentials with the keyboard and sends the form with
// Enter.
func (u *ui) signIn(email, password string) {
	u.t.Helper()
	u.open("/sign-in")
	u.do(
		chromedp.WaitVisible(chromedp.CSS("#email")),
		clear("#email"),
		clear("#password"),
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), password+"\r"),
	)
}

// clear empties a field.
func clear(css string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf("document.querySelector(%q).value = ''", css))
}

func (u *ui) signOut() {
	u.t.Helper()
	u.do(chromedp.Click(chromedp.CSS(`form[data-api="/api/v1/auth/signout"] button`)))
	u.waitPath("/sign-in")
}

// TestBrowser drives the customer portal of a demo in headless Chromium:
// an acme customer signs in with a password, sets up two-step sign-in,
// signs in again with its password and a TOTP code, sees acme's releases
// and not globex's, and downloads a file whose SHA-256 matches.
func TestBrowser(t *testing.T) {
	chromium(t) // skip before starting a demo for nothing
	dir := t.TempDir()
	base, info := startDemo(t, dir)
	password := map[string]string{}
	for _, c := range info.Customers {
		password[c.Org] = c.Password
	}
	downloads := t.TempDir()
	u := newUI(t, base, downloads)

	// Signed out, the portal sends people to the sign-in page.
	u.open("/")
	u.waitPath("/sign-in")
	u.check("sign-in")

	u.signIn("alice@acme.example", "not the password")
	if got := u.formError(`form[data-api="/api/v1/auth/signin"]`); got != "wrong email or password" {
		t.Errorf("a wrong password shows %q", got)
	}
	u.shot("sign-in-error-360")
	if focused := evaluate[string](u, `document.activeElement.className`); focused != "form-error" {
		t.Errorf("after a failed sign-in the focus is on %q, want the error message", focused)
	}

	u.signIn("alice@acme.example", password["acme"])
	u.waitPath("/")
	u.do(chromedp.WaitVisible(chromedp.CSS(`a[href="/products/lathe"]`)))

	// Set up two-step sign-in from the account page.
	u.open("/account")
	u.do(chromedp.SendKeys(chromedp.CSS("#mfa-password"), password["acme"]+"\r"),
		chromedp.WaitVisible(chromedp.CSS(".mfa-setup img.qr")))
	if _, err := chromedp.Run(u.ctx, chromedp.Poll[bool](`document.querySelector("img.qr").complete && document.querySelector("img.qr").naturalWidth === 240`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the QR code did not load: %v", err)
	}
	u.check("account-mfa-setup")
	secret, err := mfa.DecodeSecret(u.text(".mfa-secret"))
	if err != nil {
		t.Fatalf("the key shown for typing: %v", err)
	}
	u.do(chromedp.SendKeys(chromedp.CSS("#mfa-code"), mfa.Code(secret, time.Now())+"\r"),
		chromedp.WaitVisible(chromedp.CSS(".codes")))
	if n := evaluate[int](u, `document.querySelectorAll(".recovery-codes li").length`); n != 10 {
		t.Errorf("%d recovery codes shown, want 10", n)
	}
	u.shot("account-recovery-codes-360")
	u.signOut()

	// Password, then the code: the code of the next time step, since the
	// current one was used to set up.
	u.signIn("alice@acme.example", password["acme"])
	u.waitPath("/sign-in/mfa")
	u.do(chromedp.SendKeys(chromedp.CSS("#code"), "12345\r"))
	if got := u.formError(`form[data-api="/api/v1/auth/mfa"]`); got != "wrong code" {
		t.Errorf("a wrong code shows %q", got)
	}
	u.check("sign-in-mfa")
	u.do(clear("#code"),
		chromedp.SendKeys(chromedp.CSS("#code"), mfa.Code(secret, time.Now().Add(mfa.Period))+"\r"))
	u.waitPath("/")
	u.do(chromedp.WaitVisible(chromedp.CSS(`a[href="/products/lathe"]`)))
	u.check("catalog")
	catalog := u.text("main")
	for _, want := range []string{"Lathe Studio", "Millwright CAM"} {
		if !strings.Contains(catalog, want) {
			t.Errorf("acme's catalog lacks %s", want)
		}
	}

	// acme sees Millwright 1.0.0 only: 1.1.0 is past its maintenance
	// date and 1.2.0-rc.1 is on a channel it does not follow.
	u.open("/products/millwright")
	page := u.text("main")
	if !strings.Contains(page, "1.0.0") {
		t.Error("acme does not see Millwright 1.0.0")
	}
	for _, hidden := range []string{"1.1.0", "1.2.0-rc.1"} {
		if strings.Contains(page, hidden) {
			t.Errorf("acme sees Millwright %s", hidden)
		}
	}
	u.check("product")

	// Download the smallest Lathe file with the button.
	var file demoArtifact
	for _, p := range info.Products {
		for _, r := range p.Releases {
			for _, a := range r.Artifacts {
				if p.Slug == "lathe" && (file.ID == "" || a.Size < file.Size) {
					file = a
				}
			}
		}
	}
	u.open("/products/lathe")
	if shown := u.text("#sha-" + file.ID); shown != file.SHA256 {
		t.Errorf("the page shows SHA-256 %s for %s, want %s", shown, file.Filename, file.SHA256)
	}
	u.do(chromedp.Click(chromedp.CSS(`button[data-download="` + file.ID + `"]`)))
	saved := filepath.Join(downloads, file.Filename)
	waitForFile(t, saved, file.Size, downloads)
	if got := sha256File(t, saved); got != file.SHA256 {
		t.Errorf("downloaded %s has SHA-256 %s, want %s", file.Filename, got, file.SHA256)
	}

	u.open("/licenses")
	u.check("licenses")
	u.open("/forgot-password")
	u.check("forgot-password")
	u.open("/account")
	u.check("account")
	u.signOut()

	// globex sees its release candidate and nothing of Lathe.
	u.signIn("bob@globex.example", password["globex"])
	u.waitPath("/")
	u.do(chromedp.WaitVisible(chromedp.CSS(`a[href="/products/millwright"]`)))
	if strings.Contains(u.text("main"), "Lathe") {
		t.Error("globex's catalog shows Lathe Studio")
	}
	u.open("/products/millwright")
	if page := u.text("main"); !strings.Contains(page, "1.2.0-rc.1") {
		t.Error("globex does not see Millwright 1.2.0-rc.1")
	}
	u.open("/products/lathe")
	if got := u.text("h1"); got != "Not found" {
		t.Errorf("globex opening Lathe Studio sees %q, want Not found", got)
	}
}

// waitForFile waits until the browser has saved a file of the given size.
func waitForFile(t *testing.T, path string, size int64, dir string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := os.Stat(path)
		if err == nil && st.Size() == size {
			return
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(dir)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Fatalf("%s was not downloaded within 60s; the folder holds %v", filepath.Base(path), names)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

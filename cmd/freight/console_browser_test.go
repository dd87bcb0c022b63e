package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// partGate is a reverse proxy in front of the portal through which the
// browser works, so that the test can see and pace the part uploads: it
// counts the parts the portal stored, holds part requests while its
// budget is spent (after reading their bodies, so that the browser's
// progress shows them sent, and so that a reload is seen as the client
// going away), and refuses the first attempt at chosen parts with a 503,
// as a failing server or load balancer would.
type partGate struct {
	proxy *httputil.ReverseProxy

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced at every change
	budget   int           // part requests that may still pass; -1 for any
	failOnce map[int]bool
	attempts map[int]int
	stored   []int // part numbers the portal answered 200 for, in order
	waiting  int   // requests held now
	dropped  int   // held requests whose client went away
}

var partPathRE = regexp.MustCompile(`^/api/v1/uploads/[^/]+/parts/([0-9]+)$`)

func newPartGate(t *testing.T, origin string) (*partGate, string) {
	t.Helper()
	target, err := url.Parse(origin)
	if err != nil {
		t.Fatal(err)
	}
	g := &partGate{proxy: httputil.NewSingleHostReverseProxy(target), changed: make(chan struct{}), budget: -1,
		failOnce: map[int]bool{}, attempts: map[int]int{}}
	// The portal builds part and download URLs from the Host it was asked
	// at, which the proxy keeps: they lead back through the gate.
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return g, srv.URL
}

// notify wakes the waiters; g.mu is held.
func (g *partGate) notify() {
	close(g.changed)
	g.changed = make(chan struct{})
}

func (g *partGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := partPathRE.FindStringSubmatch(r.URL.Path)
	if r.Method != http.MethodPut || m == nil {
		g.proxy.ServeHTTP(w, r)
		return
	}
	n, _ := strconv.Atoi(m[1])
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	g.mu.Lock()
	g.attempts[n]++
	if g.failOnce[n] {
		delete(g.failOnce, n)
		g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"error":{"code":"unavailable","message":"the gate refused this attempt"}}`)
		return
	}
	if g.budget == 0 {
		g.waiting++
		g.notify()
		for g.budget == 0 {
			ch := g.changed
			g.mu.Unlock()
			select {
			case <-ch:
			case <-r.Context().Done():
				g.mu.Lock()
				g.waiting--
				g.dropped++
				g.notify()
				g.mu.Unlock()
				return
			}
			g.mu.Lock()
		}
		g.waiting--
	}
	if g.budget > 0 {
		g.budget--
	}
	g.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := &statusWriter{ResponseWriter: w}
	g.proxy.ServeHTTP(rec, r)
	if rec.status == http.StatusOK {
		g.mu.Lock()
		g.stored = append(g.stored, n)
		g.notify()
		g.mu.Unlock()
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// limit lets n part requests through from now on, or any number for
// n < 0; allow lets n more through.
func (g *partGate) limit(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.budget = n
	g.notify()
}

func (g *partGate) allow(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.budget += n
	g.notify()
}

// refuseOnce makes the next attempt at part n fail.
func (g *partGate) refuseOnce(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failOnce[n] = true
}

// waitUntil waits until cond, called with g.mu held, is true.
func (g *partGate) waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		g.mu.Lock()
		ok, ch := cond(), g.changed
		g.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("waited 60s for %s", what)
		}
	}
}

// waitStored waits until the portal has stored n parts through the gate.
func (g *partGate) waitStored(t *testing.T, n int) {
	t.Helper()
	g.waitUntil(t, fmt.Sprintf("%d parts stored", n), func() bool { return len(g.stored) >= n })
}

func (g *partGate) snapshot() (stored []int, attempts map[int]int, dropped int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.stored), maps(g.attempts), g.dropped
}

func maps(m map[int]int) map[int]int {
	out := make(map[int]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// getJSON reads an API answer as the demo's admin.
func getJSON(t *testing.T, base, token, path string, v any) {
	t.Helper()
	req, err := http.NewRequest("GET", base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// TestBrowserConsole drives the vendor console in headless Chromium: the
// demo's admin creates a product and a release, uploads a file of over
// 100 MB with the browser while the progress bar rises, has one part
// refused and sent again, reloads the page half-way and resumes by
// picking the file again, which sends only the parts the portal lacks;
// then publishes, and an acme member finds the release in the catalog and
// downloads the file, whose SHA-256 matches.
func TestBrowserConsole(t *testing.T) {
	chromium(t) // skip before starting a demo for nothing
	dir := t.TempDir()
	const partSize = 5 << 20
	// The portal answers a complete at once with 202, the verification
	// running on: the page must follow it to the end, as it does when a
	// big file takes longer to verify than the request waits.
	origin, info := startDemo(t, dir, "--upload-part-size", strconv.Itoa(partSize), "--upload-complete-wait", "0")
	gate, base := newPartGate(t, origin)
	downloads := t.TempDir()
	u := newUI(t, base, downloads)
	// Leaving a page that is uploading asks first; the test says yes.
	go func() {
		for _, err := range chromedp.Events(u.ctx, page.JavascriptDialogOpening) {
			if err != nil {
				return
			}
			chromedp.Call(u.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()

	u.signIn(info.Admin.Email, info.Admin.Password)
	u.waitPath("/")
	u.open("/console")
	u.do(chromedp.WaitVisible(chromedp.CSS(`a[href="/console/products/lathe"]`)))
	u.check("console")

	// A new product: its slug follows the name.
	u.do(chromedp.SendKeys(chromedp.CSS("#product-name"), "Bandsaw Pro"))
	if slug := evaluate[string](u, `document.querySelector("#product-slug").value`); slug != "bandsaw-pro" {
		t.Errorf("the slug suggested for Bandsaw Pro is %q", slug)
	}
	u.do(chromedp.Click(chromedp.CSS(`form[data-api="/api/v1/products"] button[type=submit]`)))
	u.waitPath("/console/products/bandsaw-pro")
	if !strings.Contains(u.text("main"), "No releases yet") {
		t.Error("a new product's page does not say it has no releases")
	}

	// A draft release of Lathe Studio, which acme is entitled to.
	u.open("/console/products/lathe")
	// The API's own message explains a bad version, next to the form.
	u.do(chromedp.SendKeys(chromedp.CSS("#release-version"), "v2.1\r"))
	if got := u.formError(`form[data-then="console-release"]`); !strings.Contains(got, "is not a semantic version like 1.4.2") {
		t.Errorf("a bad version shows %q", got)
	}
	if invalid := evaluate[string](u, `document.querySelector("#release-version").getAttribute("aria-invalid") || ""`); invalid != "true" {
		t.Errorf("the version field is not marked invalid (aria-invalid=%q)", invalid)
	}
	u.do(clear("#release-version"), chromedp.SendKeys(chromedp.CSS("#release-version"), "2.1.0"),
		chromedp.SendKeys(chromedp.CSS("#release-notes"), "## New\n\n- Faster **threading** cycles\n"))
	u.check("console-product")
	u.do(chromedp.Click(chromedp.CSS(`form[data-then="console-release"] button[type=submit]`)))
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(u.location(), "/console/releases/rel_") {
		if time.Now().After(deadline) {
			t.Fatalf("creating the release did not lead to its page; the browser is at %s", u.location())
		}
		time.Sleep(50 * time.Millisecond)
	}
	releaseID := strings.TrimPrefix(u.location(), base+"/console/releases/")
	u.do(chromedp.WaitVisible(chromedp.CSS("#upload-files")))
	if got := evaluate[string](u, `document.querySelector(".notes strong").textContent`); got != "threading" {
		t.Errorf("the notes' bold text is %q", got)
	}

	// A file of just over 100 MiB: 20 whole parts and a short one.
	const size = 100<<20 + 12345
	const parts = (size + partSize - 1) / partSize
	file := filepath.Join(t.TempDir(), "lathe-2.1.0-linux-x86_64.tar.gz")
	digest := writeRandomFile(t, file, size, 7)

	// Three parts may pass at first, and the first attempt at part 2 is
	// refused: the script must send it again.
	gate.refuseOnce(2)
	gate.limit(3)
	u.do(chromedp.SetUploadFiles(chromedp.CSS("#upload-files"), []string{file}),
		chromedp.WaitVisible(chromedp.CSS(".upload-item")))
	if got := evaluate[string](u, `document.querySelector(".upload-item [name=platform]").value + "/" + document.querySelector(".upload-item [name=arch]").value`); got != "linux/x86_64" {
		t.Errorf("platform and architecture guessed from the name: %s, want linux/x86_64", got)
	}
	u.do(chromedp.Click(chromedp.CSS(".upload-start")))

	// The bar rises as parts arrive: sampled after 3 and after 9 stored
	// parts, with at most 4 more in flight each time.
	bar := `document.querySelector(".upload-bar").value`
	sample := func(atLeast int) float64 {
		t.Helper()
		v, err := chromedp.Run(u.ctx, chromedp.Poll[float64](bar+` >= `+strconv.Itoa(atLeast)+` && `+bar,
			chromedp.WithPollingTimeout(30*time.Second)))
		if err != nil {
			t.Fatalf("the progress bar did not reach %d bytes: %v (it shows %v)", atLeast, err, evaluate[float64](u, bar))
		}
		return v
	}
	gate.waitStored(t, 3)
	v1 := sample(3 * partSize)
	u.shot("console-upload-progress-360")
	gate.allow(6)
	gate.waitStored(t, 9)
	v2 := sample(9 * partSize)
	if max := evaluate[float64](u, `document.querySelector(".upload-bar").max`); max != size {
		t.Errorf("the progress bar's max is %v, want %d", max, size)
	}
	if !(0 < v1 && v1 < v2 && v2 < size) {
		t.Errorf("progress samples %v then %v: want two rising values between 0 and %d", v1, v2, size)
	}
	// The words say how much, how fast and how long: while parts move,
	// and, the gate holding them, that the network is waited for.
	statusRE := `/^[0-9.]+ MB of 105 MB · [0-9.]+ [kMG]B\/s · about [0-9].* left$|waiting for the network/`
	if _, err := chromedp.Run(u.ctx, chromedp.Poll[bool](statusRE+`.test(document.querySelector(".upload-status").textContent)`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Errorf("the upload's status shows %q, want bytes, rate and time left", u.text(".upload-status"))
	}

	// What the portal holds now, by its own account.
	var arts struct {
		Items []struct{ ID, Filename, State string }
	}
	getJSON(t, origin, info.Admin.Token, "/api/v1/releases/"+releaseID+"/artifacts", &arts)
	if len(arts.Items) != 1 {
		t.Fatalf("the release has %d artifacts, want 1", len(arts.Items))
	}
	artifactID := arts.Items[0].ID
	var ups struct {
		Items []struct{ ID string }
	}
	getJSON(t, origin, info.Admin.Token, "/api/v1/uploads?artifact_id="+artifactID+"&state=open", &ups)
	if len(ups.Items) != 1 {
		t.Fatalf("%d open uploads, want 1", len(ups.Items))
	}
	var status1 struct {
		Parts    int
		Received []struct{ Number int }
	}
	getJSON(t, origin, info.Admin.Token, "/api/v1/uploads/"+ups.Items[0].ID, &status1)
	before := map[int]bool{}
	for _, p := range status1.Received {
		before[p.Number] = true
	}
	storedBefore, _, _ := gate.snapshot()
	if len(before) != 9 || len(storedBefore) != 9 {
		t.Fatalf("before the reload the portal lists %d parts and the gate saw %d stored, want 9", len(before), len(storedBefore))
	}
	if status1.Parts != parts {
		t.Errorf("the upload has %d parts, want %d", status1.Parts, parts)
	}

	// Reload half-way: the parts in flight are lost. The page lists the
	// unfinished upload; picking the file again resumes it.
	u.do(chromedp.Reload())
	u.do(chromedp.WaitVisible(chromedp.CSS(".unfinished")))
	// The requests the gate held are gone with the old page; none may
	// slip through once it opens.
	gate.waitUntil(t, "the held requests to end", func() bool { return gate.waiting == 0 })
	if got := u.text(".unfinished-list"); !strings.Contains(got, "lathe-2.1.0-linux-x86_64.tar.gz") {
		t.Errorf("the unfinished uploads list %q", got)
	}
	if got := u.text("#file-" + artifactID); !strings.Contains(got, "47 MB of 105 MB received (44%)") {
		t.Errorf("the file's entry says %q, want what the portal has", got)
	}
	u.check("console-release-unfinished")
	gate.limit(-1)
	u.do(chromedp.SetUploadFiles(chromedp.CSS("#upload-files"), []string{file}),
		chromedp.WaitVisible(chromedp.CSS(".upload-item")))
	if got := u.text(".upload-status"); got != "Ready to resume." {
		t.Errorf("the picked file's status is %q, want Ready to resume.", got)
	}
	u.do(chromedp.Click(chromedp.CSS(".upload-start")),
		chromedp.WaitVisible(chromedp.CSS(`.upload-item[data-state="done"] .upload-sha`)))
	if got := u.text(".upload-sha"); got != digest {
		t.Errorf("the page shows SHA-256 %s, want the file's %s", got, digest)
	}
	if got, want := u.text(".upload-note"), "only the other 12 parts are sent"; !strings.Contains(got, want) {
		t.Errorf("the resumed upload's note says %q, want %q", got, want)
	}
	stored, attempts, dropped := gate.snapshot()
	after := stored[len(storedBefore):]
	t.Logf("parts stored before the reload %v, after %v; %d held requests dropped by the reload; attempts %v", storedBefore, after, dropped, attempts)
	if len(after) != parts-9 {
		t.Errorf("after the reload %d parts were stored, want the %d missing ones", len(after), parts-9)
	}
	for _, n := range after {
		if before[n] {
			t.Errorf("part %d was sent again after the reload although the portal had it", n)
		}
	}
	// The refused attempt at part 2 was sent again (before the reload or
	// after it, as the budget fell).
	if attempts[2] < 2 || !slices.Contains(stored, 2) {
		t.Errorf("part 2 was tried %d times and stored %v: the refused attempt was not sent again", attempts[2], slices.Contains(stored, 2))
	}
	all := slices.Sorted(slices.Values(stored))
	if len(slices.Compact(all)) != parts {
		t.Errorf("the portal stored parts %v, want each of 1 to %d", all, parts)
	}

	// The page reads the list of files again: the new one is there.
	u.do(chromedp.WaitVisible(chromedp.CSS("#sha-" + artifactID)))
	if got := u.text("#sha-" + artifactID); got != digest {
		t.Errorf("the files list shows SHA-256 %s, want %s", got, digest)
	}
	u.check("console-release-uploaded")

	// Publish, after the confirmation.
	u.do(chromedp.Click(chromedp.CSS("#publish summary")),
		chromedp.Click(chromedp.CSS(`#publish button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("h1 .badge-published")))
	u.check("console-release")
	u.signOut()

	// An acme member sees 2.1.0 and downloads the file.
	var alice string
	for _, c := range info.Customers {
		if c.Org == "acme" {
			alice = c.Password
		}
	}
	u.signIn("alice@acme.example", alice)
	u.waitPath("/")
	u.do(chromedp.WaitVisible(chromedp.CSS(`a[href="/products/lathe"]`)))
	if got := u.text("main"); !strings.Contains(got, "Latest: 2.1.0") {
		t.Errorf("acme's catalog does not show Lathe Studio 2.1.0 as the latest: %q", got)
	}
	u.open("/products/lathe")
	if got := u.text("#sha-" + artifactID); got != digest {
		t.Errorf("the product page shows SHA-256 %s, want %s", got, digest)
	}
	u.do(chromedp.Click(chromedp.CSS(`button[data-download="` + artifactID + `"]`)))
	saved := filepath.Join(downloads, "lathe-2.1.0-linux-x86_64.tar.gz")
	waitForFile(t, saved, size, downloads)
	if got := sha256File(t, saved); got != digest {
		t.Errorf("the downloaded file's SHA-256 is %s, want %s", got, digest)
	}
}

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	fsblob "github.com/freight-portal/freight/blob/fs"
	"github.com/freight-portal/freight/internal/testdb"
	"github.com/freight-portal/freight/seal"
)

// output collects what a command writes and lets a test wait for a line.
type output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// waitFor polls until re matches the output and returns its first group.
// The wait is long because a start on a busy machine (the demo hashes its
// accounts' passwords with argon2id) can take tens of seconds.
func (o *output) waitFor(t *testing.T, re *regexp.Regexp, done <-chan error) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(o.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("command ended before printing %v: %v\noutput:\n%s", re, err, o.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no match for %v in:\n%s", re, o.String())
	return ""
}

// started is a command running in the background.
type started struct {
	stdout *output
	done   chan error
	stop   context.CancelFunc
}

// start runs freight with args in the background; the test's end stops it
// and checks that it stopped cleanly.
func start(t *testing.T, environ []string, args ...string) *started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &started{stdout: &output{}, done: make(chan error, 1), stop: cancel}
	go func() { s.done <- run(ctx, args, environ, s.stdout, t.Output()) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("freight %s ended with %v", args[0], err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("freight %s did not stop within 30s of cancellation", args[0])
		}
	})
	return s
}

// wait stops the command and returns its error.
func (s *started) wait(t *testing.T) error {
	t.Helper()
	s.stop()
	select {
	case err := <-s.done:
		s.done <- nil // let the cleanup see a clean end
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("command did not stop")
	}
	return nil
}

var listeningRE = regexp.MustCompile(`Freight is listening on (http://\S+)`)

// api is a minimal JSON client for the tests.
type api struct {
	t     *testing.T
	url   string
	token string
}

func (a api) call(method, path string, body any, want int, out any) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.url+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		a.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: decoding %s: %v", method, path, b, err)
		}
	}
}

func TestDemo(t *testing.T) {
	dir := t.TempDir()
	readInfo := func() demoInfo {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, "demo.json"))
		if err != nil {
			t.Fatal(err)
		}
		var info demoInfo
		if err := json.Unmarshal(b, &info); err != nil {
			t.Fatal(err)
		}
		return info
	}
	check := func(info demoInfo) {
		t.Helper()
		resp, err := http.Get(info.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("healthz: %d", resp.StatusCode)
		}
		var me struct {
			Role  freight.Role `json:"role"`
			OrgID string       `json:"org_id"`
		}
		api{t, info.URL, info.Admin.Token}.call("GET", "/api/v1/me", nil, 200, &me)
		if me.Role != freight.RoleAdmin {
			t.Errorf("admin token acts as %q", me.Role)
		}
		if len(info.Customers) != 2 || info.Customers[0].Org != "acme" || info.Customers[1].Org != "globex" {
			t.Fatalf("customers = %+v, want acme and globex", info.Customers)
		}
		for _, c := range info.Customers {
			api{t, info.URL, c.Token}.call("GET", "/api/v1/me", nil, 200, &me)
			if me.Role != freight.RoleMember || me.OrgID == "" {
				t.Errorf("%s token acts as %+v, want a member of its organization", c.Org, me)
			}
			if c.Password == "" || c.Email == "" {
				t.Errorf("%s has no email or password in demo.json", c.Org)
			}
			// A customer cannot use the vendor API.
			api{t, info.URL, c.Token}.call("GET", "/api/v1/organizations", nil, 403, nil)
		}
		var orgs struct{ Items []freight.Organization }
		api{t, info.URL, info.Admin.Token}.call("GET", "/api/v1/organizations", nil, 200, &orgs)
		if len(orgs.Items) != 2 {
			t.Errorf("%d organizations, want 2", len(orgs.Items))
		}
		var releases struct{ Items []freight.Release }
		api{t, info.URL, info.Admin.Token}.call("GET", "/api/v1/products/millwright/releases", nil, 200, &releases)
		if len(releases.Items) != 3 || releases.Items[2].ID != info.Release.ID {
			t.Errorf("millwright has %d releases, want 3, the oldest %s", len(releases.Items), info.Release.ID)
		}
		// The two customers see different catalogues: acme has Lathe Studio
		// but a maintenance period that ends before Millwright 1.1.0;
		// globex follows the rc channel.
		for _, c := range []struct {
			org  string
			want []string
		}{
			{"acme", []string{"lathe 2.0.0", "millwright 1.0.0"}},
			{"globex", []string{"millwright 1.2.0-rc.1", "millwright 1.1.0", "millwright 1.0.0"}},
		} {
			tok := info.Customers[0].Token
			if c.org == "globex" {
				tok = info.Customers[1].Token
			}
			var cat struct {
				Items []struct {
					Product   struct{ Slug string }
					Release   freight.Release
					Artifacts []freight.Artifact
				}
			}
			api{t, info.URL, tok}.call("GET", "/api/v1/catalog", nil, 200, &cat)
			var got []string
			for _, e := range cat.Items {
				got = append(got, e.Product.Slug+" "+e.Release.Version)
				if len(e.Artifacts) == 0 {
					t.Errorf("%s's catalogue lists %s %s without files", c.org, e.Product.Slug, e.Release.Version)
				}
			}
			if strings.Join(got, ", ") != strings.Join(c.want, ", ") {
				t.Errorf("%s's catalogue = %v, want %v", c.org, got, c.want)
			}
		}
		if len(info.Artifacts) != 3 || info.Product.Slug != "millwright" {
			t.Fatalf("demo.json names product %+v and artifacts %+v, want millwright and 3 files", info.Product, info.Artifacts)
		}
		blobs, err := fsblob.New(filepath.Join(dir, "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		for _, da := range info.Artifacts {
			var a freight.Artifact
			api{t, info.URL, info.Admin.Token}.call("GET", "/api/v1/artifacts/"+da.ID, nil, 200, &a)
			if a.State != freight.ArtifactAvailable || a.SHA256 != da.SHA256 || a.Size < 32<<20 {
				t.Errorf("artifact %+v, want available, at least 32 MiB, matching demo.json", a)
			}
			rc, err := blobs.Open(context.Background(), a.SHA256, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			n, _ := io.Copy(h, rc)
			rc.Close()
			if hex.EncodeToString(h.Sum(nil)) != a.SHA256 || n != a.Size {
				t.Errorf("blob of %s: %d bytes with another digest", a.Filename, n)
			}
		}
	}

	d := start(t, nil, "demo", "--addr", "127.0.0.1:0", "--data-dir", dir)
	url := d.stdout.waitFor(t, regexp.MustCompile(`Freight demo is running at (http://\S+)`), d.done)
	first := readInfo()
	if first.URL != url {
		t.Errorf("demo.json url %q, printed %q", first.URL, url)
	}
	if !strings.Contains(d.stdout.String(), first.Admin.Token) || !strings.Contains(d.stdout.String(), first.Admin.Password) {
		t.Error("the demo does not print the admin's credentials")
	}
	if fi, err := os.Stat(filepath.Join(dir, "demo.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("demo.json mode = %v (%v), want 0600: it holds secrets", fi.Mode().Perm(), err)
	}
	check(first)
	if err := d.wait(t); err != nil {
		t.Fatalf("demo stopped with %v", err)
	}

	// A second run on the same directory reuses everything.
	d = start(t, nil, "demo", "--addr", "127.0.0.1:0", "--data-dir", dir)
	d.stdout.waitFor(t, regexp.MustCompile(`Freight demo is running at (http://\S+)`), d.done)
	second := readInfo()
	second.URL, first.URL = "", ""
	if fmt.Sprint(first) != fmt.Sprint(second) {
		t.Errorf("second run changed credentials:\n%+v\n%+v", first, second)
	}
	second.URL = readInfo().URL
	check(second)
}

// TestAdminAPI drives the admin API of a real server through run: the same
// path a person takes from create-admin to a published, entitled release.
func TestAdminAPI(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		testAdminAPI(t, "sqlite://"+filepath.ToSlash(filepath.Join(t.TempDir(), "f.db")))
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		testAdminAPI(t, testdb.Postgres(t))
	})
}

func testAdminAPI(t *testing.T, database string) {
	dir := t.TempDir()
	key, err := seal.NewKeyLine("k1")
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"FREIGHT_DATABASE=" + database, "FREIGHT_DATA_DIR=" + dir, "FREIGHT_SECRETS_KEY=" + key}
	var out output
	if err := run(context.Background(), []string{"create-admin", "--email", "Ops@Vendor.example"}, env, &out, t.Output()); err != nil {
		t.Fatal(err)
	}
	token := regexp.MustCompile(`(frt_\S+)`).FindString(out.String())
	if token == "" {
		t.Fatalf("create-admin printed no token:\n%s", out.String())
	}

	s := start(t, env, "serve", "--addr", "127.0.0.1:0")
	a := api{t, s.stdout.waitFor(t, listeningRE, s.done), token}
	var me struct {
		UserID string `json:"user_id"`
	}
	a.call("GET", "/api/v1/me", nil, 200, &me)

	var org freight.Organization
	a.call("POST", "/api/v1/organizations", map[string]any{"slug": "initech", "name": "Initech"}, 201, &org)
	var user freight.User
	a.call("POST", "/api/v1/users", map[string]any{"email": "peter@initech.example", "name": "Peter"}, 201, &user)
	a.call("PUT", "/api/v1/organizations/initech/members/"+user.ID, map[string]any{"role": "org-admin"}, 200, nil)
	var prod freight.Product
	a.call("POST", "/api/v1/products", map[string]any{"slug": "lathe", "name": "Lathe Studio"}, 201, &prod)
	var rel freight.Release
	a.call("POST", "/api/v1/products/lathe/releases", map[string]any{"version": "3.1.0", "notes": "Faster."}, 201, &rel)
	var ent freight.Entitlement
	a.call("POST", "/api/v1/entitlements", map[string]any{"org_id": org.ID, "product_id": prod.ID, "channels": []string{"stable"}}, 201, &ent)
	a.call("POST", "/api/v1/releases/"+rel.ID+"/publish", nil, 200, &rel)
	if rel.State != freight.ReleasePublished {
		t.Fatalf("release state %q after publish", rel.State)
	}

	var log struct{ Items []freight.AuditEvent }
	a.call("GET", "/api/v1/audit?actor="+me.UserID, nil, 200, &log)
	want := []struct{ action, target string }{
		{"release.publish", rel.ID},
		{"entitlement.create", ent.ID},
		{"release.create", rel.ID},
		{"product.create", prod.ID},
		{"membership.put", user.ID},
		{"user.create", user.ID},
		{"organization.create", org.ID},
	}
	if len(log.Items) != len(want) {
		t.Fatalf("audit log has %d events by the admin, want %d: %+v", len(log.Items), len(want), log.Items)
	}
	for i, w := range want {
		ev := log.Items[i]
		if ev.Action != w.action || ev.TargetID != w.target || ev.Actor != me.UserID || ev.TokenID == "" || ev.RequestID == "" || ev.IP == "" {
			t.Errorf("event %d = %+v, want %s on %s by %s with token, request id and ip", i, ev, w.action, w.target, me.UserID)
		}
	}
	a.call("GET", "/api/v1/audit?org_id="+org.ID, nil, 200, &log)
	if len(log.Items) != 3 { // organization.create, membership.put, entitlement.create
		t.Errorf("audit log for the organization has %d events, want 3: %+v", len(log.Items), log.Items)
	}
	a.call("GET", "/api/v1/audit?action=release.publish", nil, 200, &log)
	if len(log.Items) != 1 || !strings.Contains(string(log.Items[0].Details), `"published"`) {
		t.Errorf("release.publish events = %+v, want one whose details show the new state", log.Items)
	}
}

func TestGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	var out output
	if err := run(context.Background(), []string{"create-admin", "--email", "a@vendor.example", "--data-dir", dir}, nil, &out, t.Output()); err != nil {
		t.Fatal(err)
	}
	token := regexp.MustCompile(`(frt_\S+)`).FindString(out.String())
	s := start(t, nil, "serve", "--addr", "127.0.0.1:0", "--data-dir", dir)
	url := s.stdout.waitFor(t, listeningRE, s.done)

	// Start a request whose body is still on its way when shutdown begins.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", url+"/api/v1/organizations", pr)
	req.Header.Set("Authorization", "Bearer "+token)
	result := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			result <- -1
			return
		}
		resp.Body.Close()
		result <- resp.StatusCode
	}()
	pw.Write([]byte(`{"slug": "late", `))
	time.Sleep(100 * time.Millisecond) // let the server start reading the body
	s.stop()
	time.Sleep(100 * time.Millisecond) // shutdown is now waiting for the request
	pw.Write([]byte(`"name": "Late"}`))
	pw.Close()
	if got := <-result; got != http.StatusCreated {
		t.Errorf("in-flight request status %d, want 201: it must finish during shutdown", got)
	}
	if err := s.wait(t); err != nil {
		t.Errorf("serve ended with %v, want a clean stop", err)
	}
}

// TestHugeHeaders checks the server's own header limit (64 KiB), well
// below net/http's default of 1 MiB.
func TestHugeHeaders(t *testing.T) {
	s := start(t, nil, "serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir())
	url := s.stdout.waitFor(t, listeningRE, s.done)
	for _, tc := range []struct {
		size int
		want int
	}{
		{32 << 10, http.StatusOK},
		{100 << 10, http.StatusRequestHeaderFieldsTooLarge},
	} {
		req, _ := http.NewRequest("GET", url+"/healthz", nil)
		req.Header.Set("X-Junk", strings.Repeat("a", tc.size))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%d-byte header: %v", tc.size, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%d-byte header: status %d, want %d", tc.size, resp.StatusCode, tc.want)
		}
	}
}

func TestVersion(t *testing.T) {
	var out output
	if err := run(context.Background(), []string{"version"}, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "freight ") {
		t.Errorf("version printed %q", out.String())
	}
}

func TestUsage(t *testing.T) {
	var out, errOut output
	if err := run(context.Background(), nil, nil, &out, &errOut); err != errUsage {
		t.Errorf("no command: err = %v, want errUsage", err)
	}
	if err := run(context.Background(), []string{"nonsense"}, nil, &out, &errOut); err != errUsage {
		t.Errorf("unknown command: err = %v, want errUsage", err)
	}
	if !strings.Contains(errOut.String(), `unknown command "nonsense"`) {
		t.Errorf("stderr = %q, want it to name the unknown command", errOut.String())
	}
	if err := run(context.Background(), []string{"serve", "-h"}, nil, &out, &errOut); err != nil {
		t.Errorf("serve -h: %v", err)
	}
	if !strings.Contains(errOut.String(), "-database") {
		t.Error("serve -h does not list its flags")
	}
}

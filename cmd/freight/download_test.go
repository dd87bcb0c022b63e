package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/client"
)

// downloadDemo is a demo portal whose download URLs expire quickly: a new
// download must start within 2 s of the URL's issue, and ranged requests
// work for 2 s too, so that any transfer longer than that needs new URLs.
type downloadDemo struct {
	url  string
	info demoInfo
}

func startDownloadDemo(t *testing.T) *downloadDemo {
	t.Helper()
	dir := t.TempDir()
	url, info := startDemo(t, dir, "--download-start-window", "2s", "--download-resume-window", "2s")
	return &downloadDemo{url: url, info: info}
}

func (d *downloadDemo) token(t *testing.T, org string) string {
	t.Helper()
	for _, c := range d.info.Customers {
		if c.Org == org {
			return c.Token
		}
	}
	t.Fatalf("no customer %s in demo.json", org)
	return ""
}

// artifact returns a demo file by name, as demo.json describes it.
func (d *downloadDemo) artifact(t *testing.T, filename string) demoArtifact {
	t.Helper()
	for _, p := range d.info.Products {
		for _, r := range p.Releases {
			for _, a := range r.Artifacts {
				if a.Filename == filename {
					return a
				}
			}
		}
	}
	t.Fatalf("no file %s in demo.json", filename)
	return demoArtifact{}
}

// freight runs a client command as the customer org and returns its
// standard output.
func (d *downloadDemo) freight(ctx context.Context, t *testing.T, org string, args ...string) (string, error) {
	t.Helper()
	var out output
	args = append(args, "--server", d.url, "--token", d.token(t, org))
	err := run(ctx, args, nil, &out, t.Output())
	return out.String(), err
}

// downloadJSON is the JSON a download prints, spelled out here so that a
// change of the contract fails the test.
type downloadJSON struct {
	Path         string `json:"path"`
	ArtifactID   string `json:"artifact_id"`
	SHA256       string `json:"sha256"`
	Size         int64  `json:"size"`
	Outcome      string `json:"outcome"`
	BytesResumed int64  `json:"bytes_resumed"`
	BytesFetched int64  `json:"bytes_fetched"`
	Grants       int    `json:"grants"`
}

func (d *downloadDemo) download(t *testing.T, org string, args ...string) downloadJSON {
	t.Helper()
	out, err := d.freight(context.Background(), t, org, append([]string{"download", "--json", "--quiet"}, args...)...)
	if err != nil {
		t.Fatalf("freight download %q: %v", args, err)
	}
	var res downloadJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("freight download --json printed %q: %v", out, err)
	}
	return res
}

// checkSaved checks that path holds the demo file a, and that nothing of
// the transfer is left beside it.
func checkSaved(t *testing.T, path string, a demoArtifact) {
	t.Helper()
	if got := sha256File(t, path); got != a.SHA256 {
		t.Errorf("%s hashes to %s, want %s", path, got, a.SHA256)
	}
	for _, suffix := range []string{partSuffix, stateSuffix, lockSuffix} {
		if _, err := os.Stat(path + suffix); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s%s is left after the download (%v)", path, suffix, err)
		}
	}
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// served returns the portal's own record of the requests for an
// artifact, once every one of them has finished.
func (d *downloadDemo) served(t *testing.T, artifactID string) []freight.Download {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var l struct{ Items []freight.Download }
		api{t, d.url, d.info.Admin.Token}.call("GET", "/api/v1/downloads?limit=500&artifact_id="+artifactID, nil, 200, &l)
		finished := !slices.ContainsFunc(l.Items, func(dl freight.Download) bool { return dl.FinishedAt == nil })
		if finished || time.Now().After(deadline) {
			return l.Items
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// bytesServed sums the bytes the portal sent for the requests made with
// grants not in old.
func bytesServed(dls []freight.Download, old map[string]bool) (n int64, grants map[string]bool) {
	grants = map[string]bool{}
	for _, dl := range dls {
		if !old[dl.GrantID] {
			n += dl.Bytes
			grants[dl.GrantID] = true
		}
	}
	return n, grants
}

// savedState reads a download's state file and returns the bytes it says
// are in the part file, or -1 when there is no state (yet).
func savedState(t *testing.T, path string) (fetchState, int64) {
	t.Helper()
	b, err := os.ReadFile(path + stateSuffix)
	if errors.Is(err, os.ErrNotExist) {
		return fetchState{}, -1
	} else if err != nil {
		t.Fatal(err)
	}
	var st fetchState
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("state file: %v\n%s", err, b)
	}
	var done int64
	for _, s := range st.Segments {
		done += s.Next - s.Start
	}
	return st, done
}

// waitForProgress polls a running download's state file until it records
// at least min bytes.
func waitForProgress(t *testing.T, path string, least int64, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, n := savedState(t, path); n >= least {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("the download ended before saving %d bytes of progress: %v", least, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("the download saved no %d bytes of progress in 20 s", least)
}

// TestDownload drives freight download, catalog, releases and upgrade
// against a demo portal, as its two customers.
func TestDownload(t *testing.T) {
	d := startDownloadDemo(t)

	t.Run("PasswordLogin", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		var acme demoCustomer
		for _, c := range d.info.Customers {
			if c.Org == "acme" {
				acme = c
			}
		}
		noCode := func() string { t.Error("asked for a code of an account without a second factor"); return "" }
		if _, err := passwordLogin(ctx, d.url, acme.Email, acme.Password+"x", noCode); freight.ErrorCode(err) != freight.EUNAUTHORIZED {
			t.Errorf("wrong password: %v, want unauthorized", err)
		}
		tok, err := passwordLogin(ctx, d.url, acme.Email, acme.Password, noCode)
		if err != nil {
			t.Fatal(err)
		}
		if tok == acme.Token || !strings.HasPrefix(tok, "frt_") {
			t.Fatalf("token %.12s…: want a new personal token", tok)
		}
		me, err := client.New(d.url, tok).Me(ctx)
		if err != nil || me.Role != freight.RoleMember || me.UserID == "" {
			t.Errorf("the new token is %+v, %v: want the member of acme", me, err)
		}
	})

	t.Run("ByReference", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		byID := d.artifact(t, "millwright-1.0.0-macos-arm64.dmg")
		byName := d.artifact(t, "millwright-1.1.0-linux-x86_64.tar.gz")
		latest := d.artifact(t, "millwright-1.2.0-rc.1-windows-x86_64.msi")
		for _, tc := range []struct {
			args []string
			want demoArtifact
		}{
			{[]string{byID.ID}, byID},
			{[]string{"millwright@1.1.0/" + byName.Filename}, byName},
			{[]string{"millwright@latest", "--platform", "windows", "--arch", "x86_64"}, latest},
		} {
			res := d.download(t, "globex", append(tc.args, "--dir", dir)...)
			path := filepath.Join(dir, tc.want.Filename)
			if res.Path != path || res.SHA256 != tc.want.SHA256 || res.Size != tc.want.Size || res.ArtifactID != tc.want.ID ||
				res.Outcome != "downloaded" || res.BytesFetched != tc.want.Size || res.Grants < 1 {
				t.Errorf("download %q = %+v, want %s downloaded whole", tc.args, res, path)
			}
			checkSaved(t, path, tc.want)
		}

		// The text output names the file and what was fetched; a file in
		// place is verified, not fetched again; --output names the file.
		out, err := d.freight(context.Background(), t, "globex", "download", "--quiet", "--dir", dir, "millwright@latest", "--platform", "windows")
		if err != nil || !strings.Contains(out, filepath.Join(dir, latest.Filename)) || !strings.Contains(out, "fetched 0 bytes") {
			t.Errorf("downloading a file in place again: %v, printed %q, want the path and fetched 0 bytes", err, out)
		}
		other := filepath.Join(dir, "sub", "renamed.dmg")
		res := d.download(t, "globex", byID.ID, "--output", other)
		if res.Path != other || res.BytesFetched != byID.Size {
			t.Errorf("download -o %s = %+v", other, res)
		}
		checkSaved(t, other, byID)

		for _, tc := range []struct {
			ref      []string
			usage    bool
			wantMsgs []string
		}{
			{[]string{"millwright@1.0.0"}, true, []string{"3 files", "millwright-1.0.0-windows-x86_64.msi", "millwright-1.0.0-linux-x86_64.tar.gz", "millwright-1.0.0-macos-arm64.dmg"}},
			{[]string{"millwright@9.9.9"}, false, []string{"millwright@9.9.9", "no such release"}},
			{[]string{"millwright@1.0.0/nonesuch.zip"}, false, []string{"no file nonesuch.zip"}},
			{[]string{"millwright@latest", "--platform", "solaris"}, false, []string{"for solaris"}},
			{[]string{"lathe@latest"}, false, []string{"lathe@latest"}}, // globex has no lathe
			{[]string{"millwright"}, true, []string{"art_", "PRODUCT@VERSION/FILENAME"}},
			{[]string{"millwright@one"}, true, []string{"not a version"}},
			{[]string{"millwright@latest", "--segments", "0"}, true, []string{"--segments"}},
		} {
			_, err := d.freight(context.Background(), t, "globex", append([]string{"download", "--dir", dir}, tc.ref...)...)
			if err == nil {
				t.Errorf("download %q succeeded", tc.ref)
				continue
			}
			if _, isUsage := errors.AsType[usageError](err); isUsage != tc.usage {
				t.Errorf("download %q: usage error %v, want %v: %v", tc.ref, isUsage, tc.usage, err)
			}
			for _, want := range tc.wantMsgs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("download %q: error %q does not mention %q", tc.ref, err, want)
				}
			}
		}
		// None of the failures left anything behind.
		entries, _ := os.ReadDir(dir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if want := []string{byID.Filename, byName.Filename, latest.Filename, "sub"}; !slices.Equal(names, slices.Sorted(slices.Values(want))) {
			t.Errorf("download directory holds %q, want %q", names, want)
		}
	})

	t.Run("URLExpires", func(t *testing.T) {
		t.Parallel()
		// 40 MiB at 8 MiB/s in 8 segments take 5 s; every URL stops
		// working 2 s after its issue.
		a := d.artifact(t, "millwright-1.0.0-linux-x86_64.tar.gz")
		dir := t.TempDir()
		began := time.Now()
		res := d.download(t, "globex", "millwright@1.0.0/"+a.Filename, "--dir", dir, "--segments", "8", "--limit-rate", "8M")
		took := time.Since(began)
		checkSaved(t, filepath.Join(dir, a.Filename), a)
		if took < 3*time.Second {
			t.Fatalf("the transfer took %v, not longer than a URL lives: the test proves nothing", took)
		}
		if res.Grants < 2 || res.BytesFetched != a.Size || res.Outcome != "downloaded" {
			t.Errorf("download = %+v, want the whole file fetched with at least 2 URLs", res)
		}
		// The portal's own record: the requests used as many grants, began
		// at byte 0, and together sent the file exactly once.
		dls := d.served(t, a.ID)
		n, grants := bytesServed(dls, nil)
		if n != a.Size || len(grants) != res.Grants {
			t.Errorf("the portal sent %d bytes under %d grants, want %d under %d", n, len(grants), a.Size, res.Grants)
		}
		first := slices.MinFunc(dls, func(x, y freight.Download) int { return x.StartedAt.Compare(y.StartedAt) })
		if !strings.HasPrefix(first.Range, "bytes=0-") {
			t.Errorf("the first request asked for %q, want a range from byte 0", first.Range)
		}
	})

	t.Run("Interrupted", func(t *testing.T) {
		t.Parallel()
		a := d.artifact(t, "millwright-1.1.0-windows-x86_64.msi")
		dir := t.TempDir()
		path := filepath.Join(dir, a.Filename)
		args := []string{"download", "millwright@1.1.0/" + a.Filename, "--dir", dir, "--quiet", "--json"}

		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := d.freight(ctx, t, "globex", append(args, "--limit-rate", "4M")...)
			done <- err
		}()
		waitForProgress(t, path, 2<<20, done)
		cancel() // as SIGINT does
		err := <-done
		if err == nil || !strings.Contains(err.Error(), "interrupted") || !strings.Contains(err.Error(), "run the same command again to resume") {
			t.Fatalf("interrupted download: err = %v, want one saying how to resume", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("an interrupted download left %s (%v)", path, err)
		}
		st, saved := savedState(t, path)
		if saved <= 0 || saved >= a.Size || st.SHA256 != a.SHA256 || st.Size != a.Size {
			t.Fatalf("state after the interruption: %d bytes saved of %+v, want part of %s", saved, st, a.Filename)
		}
		// Every byte fetched was kept: the count in the message is the
		// count in the state.
		m := regexp.MustCompile(`fetching (\d+) bytes`).FindStringSubmatch(err.Error())
		if m == nil || m[1] != strconv.FormatInt(saved, 10) {
			t.Errorf("the interruption says %q; the state has %d bytes", err, saved)
		}
		_, before := bytesServed(d.served(t, a.ID), nil)

		res := d.download(t, "globex", args[1:]...)
		checkSaved(t, path, a)
		if res.Outcome != "resumed" || res.BytesResumed != saved || res.BytesFetched != a.Size-saved {
			t.Errorf("resumed download = %+v, want %d bytes resumed and %d fetched", res, saved, a.Size-saved)
		}
		// The portal agrees: the second run was sent only what was missing.
		if n, _ := bytesServed(d.served(t, a.ID), before); n != a.Size-saved {
			t.Errorf("the portal sent %d bytes to the second run, want %d", n, a.Size-saved)
		}
	})

	t.Run("Killed", func(t *testing.T) {
		if testing.Short() {
			t.Skip("builds and kills a client process")
		}
		t.Parallel()
		a := d.artifact(t, "millwright-1.0.0-windows-x86_64.msi")
		dir := t.TempDir()
		path := filepath.Join(dir, a.Filename)
		ref := "millwright@1.0.0/" + a.Filename
		cmd := exec.Command(buildBinary(t), "download", ref, "--dir", dir, "--quiet", "--limit-rate", "8M",
			"--server", d.url, "--token", d.token(t, "globex"))
		cmd.Stderr = t.Output()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		waitForProgress(t, path, 4<<20, done)
		cmd.Process.Kill() // no chance to save anything more
		<-done
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a killed download left %s (%v)", path, err)
		}
		_, saved := savedState(t, path)
		if saved <= 0 || saved >= a.Size {
			t.Fatalf("state after the kill: %d bytes of %d", saved, a.Size)
		}
		_, before := bytesServed(d.served(t, a.ID), nil)

		res := d.download(t, "globex", ref, "--dir", dir)
		checkSaved(t, path, a)
		if res.Outcome != "resumed" || res.BytesResumed != saved || res.BytesFetched != a.Size-saved {
			t.Errorf("resumed download = %+v, want %d bytes resumed and %d fetched", res, saved, a.Size-saved)
		}
		if n, _ := bytesServed(d.served(t, a.ID), before); n != a.Size-saved {
			t.Errorf("the portal sent %d bytes to the second run, want %d", n, a.Size-saved)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		// A second run to the same file while the first one writes it is
		// refused and touches nothing; the first one carries on.
		a := d.artifact(t, "millwright-1.1.0-linux-x86_64.tar.gz")
		dir := t.TempDir()
		path := filepath.Join(dir, a.Filename)
		args := []string{"download", "millwright@1.1.0/" + a.Filename, "--dir", dir, "--quiet", "--json"}
		done := make(chan error, 1)
		var first string
		go func() {
			var err error
			first, err = d.freight(context.Background(), t, "globex", append(args, "--limit-rate", "8M")...)
			done <- err
		}()
		waitForProgress(t, path, 1<<20, done)
		_, err := d.freight(context.Background(), t, "globex", args...)
		if err == nil || !strings.Contains(err.Error(), "another freight download is writing "+path) {
			t.Fatalf("a second download to the same file: err = %v, want one saying another is writing %s", err, path)
		}
		if _, usage := errors.AsType[usageError](err); usage {
			t.Errorf("a download that is in progress elsewhere is a failure, not a usage error: %v", err)
		}
		// The same file to another name is no conflict.
		other := filepath.Join(dir, "copy.tar.gz")
		d.download(t, "globex", "millwright@1.1.0/"+a.Filename, "--output", other)
		checkSaved(t, other, a)
		if err := <-done; err != nil {
			t.Fatalf("the first download: %v", err)
		}
		var firstRes downloadJSON
		if err := json.Unmarshal([]byte(first), &firstRes); err != nil || firstRes.Outcome != "downloaded" || firstRes.BytesFetched != a.Size {
			t.Errorf("the first download = %+v (%v), want all of it fetched, undisturbed", firstRes, err)
		}
		checkSaved(t, path, a)
	})

	t.Run("CorruptPart", func(t *testing.T) {
		t.Parallel()
		a := d.artifact(t, "lathe-2.0.0-windows-x86_64.msi")
		dir := t.TempDir()
		path := filepath.Join(dir, a.Filename)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := d.freight(ctx, t, "acme", "download", "lathe@latest", "--dir", dir, "--quiet", "--limit-rate", "4M")
			done <- err
		}()
		waitForProgress(t, path, 1<<20, done)
		cancel()
		if err := <-done; err == nil {
			t.Fatal("the interrupted download succeeded")
		}
		// Spoil bytes the state says were received.
		st, _ := savedState(t, path)
		seg := st.Segments[0]
		if seg.Next-seg.Start < 16 {
			t.Fatalf("state %+v: the first segment has no bytes to spoil", st)
		}
		f, err := os.OpenFile(path+partSuffix, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("not the file"), seg.Start+1); err != nil {
			t.Fatal(err)
		}
		f.Close()

		_, err = d.freight(context.Background(), t, "acme", "download", "lathe@latest", "--dir", dir, "--quiet")
		if err == nil || !strings.Contains(err.Error(), "do not match the file's SHA-256") || !strings.Contains(err.Error(), a.SHA256) {
			t.Fatalf("resuming a spoilt part: err = %v, want a SHA-256 mismatch", err)
		}
		for _, p := range []string{path, path + partSuffix, path + stateSuffix} {
			if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("after the mismatch %s exists (%v)", p, err)
			}
		}
		// The next run starts afresh and succeeds.
		res := d.download(t, "acme", "lathe@latest", "--dir", dir)
		checkSaved(t, path, a)
		if res.Outcome != "downloaded" || res.BytesFetched != a.Size {
			t.Errorf("download after the mismatch = %+v, want all of it fetched afresh", res)
		}
	})

	t.Run("Listing", func(t *testing.T) {
		t.Parallel()
		testListing(t, d)
	})
}

// tableColumns returns the first n columns of each row of a table,
// without its header.
func tableColumns(out string, n int) []string {
	var rows []string
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		rows = append(rows, strings.Join(f[:min(n, len(f))], " "))
	}
	return rows
}

func testListing(t *testing.T, d *downloadDemo) {
	ctx := context.Background()
	// One row per file, newest release first.
	for _, tc := range []struct {
		org  string
		want []string
	}{
		{"acme", []string{"lathe 2.0.0", "millwright 1.0.0", "millwright 1.0.0", "millwright 1.0.0"}},
		{"globex", []string{"millwright 1.2.0-rc.1", "millwright 1.1.0", "millwright 1.1.0", "millwright 1.0.0", "millwright 1.0.0", "millwright 1.0.0"}},
	} {
		out, err := d.freight(ctx, t, tc.org, "catalog")
		if err != nil {
			t.Fatalf("%s: catalog: %v", tc.org, err)
		}
		if got := tableColumns(out, 2); !slices.Equal(got, tc.want) {
			t.Errorf("%s's catalog rows = %q, want %q\n%s", tc.org, got, tc.want, out)
		}
		out, err = d.freight(ctx, t, tc.org, "catalog", "--json")
		if err != nil {
			t.Fatalf("%s: catalog --json: %v", tc.org, err)
		}
		var entries []struct {
			Product   struct{ Slug string }
			Release   struct{ Version string }
			Artifacts []struct{ ID, Filename, SHA256 string }
		}
		if err := json.Unmarshal([]byte(out), &entries); err != nil {
			t.Fatalf("%s: catalog --json printed %q: %v", tc.org, out, err)
		}
		var got []string
		for _, e := range entries {
			for _, a := range e.Artifacts {
				got = append(got, e.Product.Slug+" "+e.Release.Version)
				if want := d.artifact(t, a.Filename); a.ID != want.ID || a.SHA256 != want.SHA256 {
					t.Errorf("%s: catalog --json lists %+v, want %+v", tc.org, a, want)
				}
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s's catalog --json = %q, want %q", tc.org, got, tc.want)
		}
	}
	out, err := d.freight(ctx, t, "globex", "catalog", "--platform", "linux")
	if want := []string{"millwright 1.1.0", "millwright 1.0.0"}; err != nil || !slices.Equal(tableColumns(out, 2), want) {
		t.Errorf("catalog --platform linux: %v, rows %q, want %q", err, tableColumns(out, 2), want)
	}

	for _, tc := range []struct {
		org, product string
		want         []string
	}{
		{"globex", "millwright", []string{"1.2.0-rc.1 rc", "1.1.0 stable", "1.0.0 stable"}},
		{"acme", "millwright", []string{"1.0.0 stable"}},
		{"acme", "lathe", []string{"2.0.0 stable"}},
	} {
		out, err := d.freight(ctx, t, tc.org, "releases", tc.product)
		if err != nil {
			t.Fatalf("%s: releases %s: %v", tc.org, tc.product, err)
		}
		if got := tableColumns(out, 2); !slices.Equal(got, tc.want) {
			t.Errorf("%s: releases %s = %q, want %q\n%s", tc.org, tc.product, got, tc.want, out)
		}
		out, err = d.freight(ctx, t, tc.org, "releases", tc.product, "--json")
		var entries []struct{ Release freight.Release }
		if err != nil || json.Unmarshal([]byte(out), &entries) != nil || len(entries) != len(tc.want) ||
			entries[0].Release.Version+" "+string(entries[0].Release.Channel) != tc.want[0] {
			t.Errorf("%s: releases %s --json: %v, printed %q, want %q", tc.org, tc.product, err, out, tc.want)
		}
	}
	if _, err := d.freight(ctx, t, "globex", "releases", "lathe"); err == nil || !strings.Contains(err.Error(), `"lathe"`) {
		t.Errorf("globex: releases lathe: err = %v, want one naming lathe", err)
	}
	if _, err := d.freight(ctx, t, "globex", "releases"); !errors.As(err, new(usageError)) {
		t.Errorf("releases without a product: err = %v, want a usage error", err)
	}

	type upgradeJSON struct {
		UpToDate bool `json:"up_to_date"`
		Release  *struct {
			Release   struct{ Version string }
			Artifacts []struct{ Filename string }
		} `json:"release"`
		Downloads []downloadJSON `json:"downloads"`
	}
	for _, tc := range []struct {
		org  string
		args []string
		want string // the version offered, "" for up to date
	}{
		{"globex", []string{"--from", "1.0.0"}, "1.2.0-rc.1"},
		{"globex", []string{"--from", "1.0.0", "--channel", "stable"}, "1.1.0"},
		{"globex", []string{"--from", "1.1.0", "--platform", "linux"}, ""},
		{"globex", []string{"--from", "1.2.0-rc.1"}, ""},
		{"acme", []string{"--from", "1.0.0"}, ""}, // maintenance ended before 1.1.0
	} {
		args := append([]string{"upgrade", "--product", "millwright"}, tc.args...)
		out, err := d.freight(ctx, t, tc.org, args...)
		switch {
		case err != nil:
			t.Errorf("%s: %q: %v", tc.org, args, err)
		case tc.want == "" && !strings.Contains(out, "up to date"):
			t.Errorf("%s: %q printed %q, want up to date", tc.org, args, out)
		case tc.want != "" && !strings.HasPrefix(out, "millwright "+tc.want+" "):
			t.Errorf("%s: %q printed %q, want %s offered", tc.org, args, out, tc.want)
		}
		out, err = d.freight(ctx, t, tc.org, append(args, "--json")...)
		var u upgradeJSON
		if err != nil || json.Unmarshal([]byte(out), &u) != nil {
			t.Errorf("%s: %q --json: %v, printed %q", tc.org, args, err, out)
			continue
		}
		if got := ""; u.Release != nil {
			got = u.Release.Release.Version
			if got != tc.want || u.UpToDate {
				t.Errorf("%s: %q --json offers %q (up to date %v), want %q", tc.org, args, got, u.UpToDate, tc.want)
			}
		} else if tc.want != "" || !u.UpToDate {
			t.Errorf("%s: %q --json offers nothing (up to date %v), want %q", tc.org, args, u.UpToDate, tc.want)
		}
	}

	// --download fetches the files of the release offered.
	dir := t.TempDir()
	a := d.artifact(t, "millwright-1.1.0-linux-x86_64.tar.gz")
	out, err = d.freight(ctx, t, "globex", "upgrade", "--product", "millwright", "--from", "1.0.0", "--platform", "linux", "--arch", "x86_64",
		"--download", "--dir", dir, "--quiet", "--json")
	var u upgradeJSON
	if err != nil || json.Unmarshal([]byte(out), &u) != nil {
		t.Fatalf("upgrade --download: %v, printed %q", err, out)
	}
	path := filepath.Join(dir, a.Filename)
	if len(u.Downloads) != 1 || u.Downloads[0].Path != path || u.Downloads[0].SHA256 != a.SHA256 || u.Downloads[0].BytesFetched != a.Size {
		t.Errorf("upgrade --download reports %+v, want %s fetched", u.Downloads, path)
	}
	checkSaved(t, path, a)
	if _, err := d.freight(ctx, t, "globex", "upgrade", "--product", "millwright"); !errors.As(err, new(usageError)) {
		t.Errorf("upgrade without --from: err = %v, want a usage error", err)
	}
}

// fakePortal serves one file's catalogue entry, grant and download URL,
// with the download URL answered by serve.
func fakePortal(t *testing.T, content []byte, serve http.HandlerFunc) (url string) {
	t.Helper()
	sum := sha256.Sum256(content)
	digest := hex.EncodeToString(sum[:])
	mux := http.NewServeMux()
	var srvURL string
	mux.HandleFunc("GET /api/v1/catalog", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"items":[]}`)
	})
	mux.HandleFunc("POST /api/v1/artifacts/art_00000000000000000000000000/download", func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		json.NewEncoder(w).Encode(map[string]any{"grant_id": "grt_1", "url": srvURL + "/d/tok/file.bin", "expires_at": now.Add(time.Minute),
			"resume_until": now.Add(time.Hour), "sha256": digest, "size": len(content), "filename": "file.bin"})
	})
	mux.HandleFunc("GET /d/tok/file.bin", serve)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	srvURL = srv.URL
	return srv.URL
}

// TestDownloadDistrustsServer checks the download against servers that
// send something else than asked: nothing may end up under the file's
// name.
func TestDownloadDistrustsServer(t *testing.T) {
	content := []byte(strings.Repeat("freight ", 300000)) // 2.4 MB: a few segments
	for _, tc := range []struct {
		name    string
		serve   http.HandlerFunc
		wantErr string
	}{
		{"IgnoresRange", func(w http.ResponseWriter, r *http.Request) {
			w.Write(content) // 200 with the whole file
		}, "whole file (200)"},
		{"WrongBytes", func(w http.ResponseWriter, r *http.Request) {
			spoilt := slices.Clone(content)
			spoilt[len(spoilt)/2] ^= 1
			sum := sha256.Sum256(content)
			w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`) // as the portal does
			http.ServeContent(w, r, "", time.Time{}, strings.NewReader(string(spoilt)))
		}, "do not match the file's SHA-256"},
		{"WrongRange", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-9/%d", len(content)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(content[:10])
		}, "Content-Range"},
		{"Refuses", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"error":{"code":"forbidden","message":"wrong client address"}}`)
		}, "wrong client address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := fakePortal(t, content, tc.serve)
			dir := t.TempDir()
			err := run(context.Background(), []string{"download", "art_00000000000000000000000000", "--dir", dir, "--quiet", "--server", url, "--token", "t"}, nil, io.Discard, t.Output())
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
			}
			if _, err := os.Stat(filepath.Join(dir, "file.bin")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("file.bin exists (%v)", err)
			}
		})
	}
}

func TestPlanSegments(t *testing.T) {
	const M = 1 << 20
	for _, tc := range []struct {
		name string
		in   []stateSegment
		n    int
		want []stateSegment
	}{
		{"Fresh", []stateSegment{{0, 8 * M, 0}}, 4, []stateSegment{{0, 2 * M, 0}, {2 * M, 4 * M, 2 * M}, {4 * M, 6 * M, 4 * M}, {6 * M, 8 * M, 6 * M}}},
		{"Small", []stateSegment{{0, M + 5, 0}}, 8, []stateSegment{{0, M + 5, 0}}},
		{"Empty", nil, 8, nil},
		{"Resumed", []stateSegment{{0, 4 * M, 4 * M}, {4 * M, 8 * M, 6 * M}}, 2,
			[]stateSegment{{0, 6 * M, 6 * M}, {6 * M, 7 * M, 6 * M}, {7 * M, 8 * M, 7 * M}}},
		// Several workers take pieces of at most 32 MiB in file order;
		// one worker takes the file as one.
		{"Large", []stateSegment{{0, 160 * M, 0}}, 4, []stateSegment{{0, 32 * M, 0}, {32 * M, 64 * M, 32 * M}, {64 * M, 96 * M, 64 * M}, {96 * M, 128 * M, 96 * M}, {128 * M, 160 * M, 128 * M}}},
		{"LargeOneWorker", []stateSegment{{0, 160 * M, 0}}, 1, []stateSegment{{0, 160 * M, 0}}},
		{"LargeResumed", []stateSegment{{0, 40 * M, 10 * M}}, 2, []stateSegment{{0, 10 * M, 10 * M}, {10 * M, 25 * M, 10 * M}, {25 * M, 40 * M, 25 * M}}},
		{"MoreLeftThanWorkers", []stateSegment{{0, 2 * M, M}, {2 * M, 4 * M, 3 * M}, {4 * M, 6 * M, 5 * M}}, 2,
			[]stateSegment{{0, M, M}, {M, 2 * M, M}, {2 * M, 3 * M, 3 * M}, {3 * M, 4 * M, 3 * M}, {4 * M, 5 * M, 5 * M}, {5 * M, 6 * M, 5 * M}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := planSegments(tc.in, tc.n)
			if !slices.Equal(got, tc.want) {
				t.Errorf("planSegments(%v, %d) = %v, want %v", tc.in, tc.n, got, tc.want)
			}
		})
	}
}

func TestByteCount(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1000", 1000, true}, {"8M", 8 << 20, true}, {"500K", 500 << 10, true}, {"2GiB", 2 << 30, true}, {"0", 0, true},
		{"", 0, false}, {"-1", 0, false}, {"8X", 0, false}, {"M", 0, false},
	} {
		var b byteCount
		err := b.Set(tc.in)
		if (err == nil) != tc.ok || tc.ok && int64(b) != tc.want {
			t.Errorf("Set(%q) = %d, %v; want %d, ok %v", tc.in, b, err, tc.want, tc.ok)
		}
	}
}

// stallingReader gives n bytes of r, flushes them to the client and then
// blocks until the request ends, as a connection that hangs does.
type stallingReader struct {
	*strings.Reader
	w   http.ResponseWriter
	r   *http.Request
	n   int
	got int
}

func (s *stallingReader) Read(p []byte) (int, error) {
	if s.got >= s.n {
		http.NewResponseController(s.w).Flush()
		<-s.r.Context().Done()
		return 0, s.r.Context().Err()
	}
	n, err := s.Reader.Read(p[:min(len(p), s.n-s.got)])
	s.got += n
	return n, err
}

// TestDownloadStalls checks that a request that stops receiving data is
// given up and tried again from where it stopped.
func TestDownloadStalls(t *testing.T) {
	defer func(d time.Duration) { stallTimeout = d }(stallTimeout)
	stallTimeout = 300 * time.Millisecond
	content := []byte(strings.Repeat("freight ", 300000))
	sum := sha256.Sum256(content)
	etag := `"` + hex.EncodeToString(sum[:]) + `"`
	var mu sync.Mutex
	var ranges []string
	url := fakePortal(t, content, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		first := len(ranges) == 1
		mu.Unlock()
		w.Header().Set("ETag", etag)
		w.Header().Set("Content-Type", "application/octet-stream") // no sniffing read
		var rs io.ReadSeeker = strings.NewReader(string(content))
		if first {
			rs = &stallingReader{Reader: strings.NewReader(string(content)), w: w, r: r, n: 100000}
		}
		http.ServeContent(w, r, "", time.Time{}, rs)
	})
	dir := t.TempDir()
	var out output
	err := run(context.Background(), []string{"download", "art_00000000000000000000000000", "--dir", dir, "--segments", "1", "--quiet", "--json",
		"--server", url, "--token", "t"}, nil, &out, t.Output())
	if err != nil {
		t.Fatal(err)
	}
	var res downloadJSON
	if err := json.Unmarshal([]byte(out.String()), &res); err != nil {
		t.Fatal(err)
	}
	if got := sha256File(t, filepath.Join(dir, "file.bin")); got != hex.EncodeToString(sum[:]) {
		t.Errorf("file.bin hashes to %s", got)
	}
	// The bytes received before the stall were kept.
	if res.BytesFetched != int64(len(content)) {
		t.Errorf("fetched %d bytes, want %d: nothing twice", res.BytesFetched, len(content))
	}
	want := []string{fmt.Sprintf("bytes=0-%d", len(content)-1), fmt.Sprintf("bytes=100000-%d", len(content)-1)}
	if !slices.Equal(ranges, want) {
		t.Errorf("requests asked for %q, want %q", ranges, want)
	}
}

// TestDownloadResumeProgress resumes a download that an earlier run left
// half done: the progress bar shows the whole file, but counts as moved,
// for its rate and ETA, only what this run fetched.
func TestDownloadResumeProgress(t *testing.T) {
	content := []byte(strings.Repeat("freight ", 300000))
	sum := sha256.Sum256(content)
	digest := hex.EncodeToString(sum[:])
	url := fakePortal(t, content, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"`+digest+`"`)
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader(string(content)))
	})
	path := filepath.Join(t.TempDir(), "file.bin")
	half := int64(len(content) / 2)
	part := make([]byte, len(content))
	copy(part, content[:half])
	if err := os.WriteFile(path+partSuffix, part, 0o644); err != nil {
		t.Fatal(err)
	}
	st, _ := json.Marshal(fetchState{Version: 1, ArtifactID: "art_00000000000000000000000000", SHA256: digest, Size: int64(len(content)),
		Segments: []stateSegment{{0, int64(len(content)), half}}})
	if err := os.WriteFile(path+stateSuffix, st, 0o644); err != nil {
		t.Fatal(err)
	}

	cl, err := (&clientConfig{server: url, token: "t"}).client()
	if err != nil {
		t.Fatal(err)
	}
	prog := newProgress(io.Discard, true)
	o := fetchOptions{segments: 2}
	res, err := o.fetch(context.Background(), cl, remoteFile{ArtifactID: "art_00000000000000000000000000", Filename: "file.bin"}, nil, path, prog)
	prog.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != "resumed" || res.BytesResumed != half || res.BytesFetched != int64(len(content))-half {
		t.Fatalf("fetch = %+v, want %d bytes resumed", res, half)
	}
	if got := sha256File(t, path); got != digest {
		t.Fatalf("file.bin hashes to %s, want %s", got, digest)
	}
	b := prog.bars[0]
	if n, moved := b.n.Load(), b.moved.Load(); n != int64(len(content)) || moved != res.BytesFetched {
		t.Errorf("the bar counts %d bytes done and %d moved, want %d and %d", n, moved, len(content), res.BytesFetched)
	}
}

// TestPartWriter writes buffers behind the reader: in order, advancing the
// segment and the counters as each lands, and, when a write fails, says
// so once, stops the reading and takes the rest of the buffers without
// writing them.
func TestPartWriter(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "part")
	if err := os.WriteFile(path, make([]byte, 3*fetchBuffer), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("writes", func(t *testing.T) {
		part, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer part.Close()
		f := &fetcher{part: &partFile{File: part}, bar: &bar{}, file: remoteFile{Size: 3 * fetchBuffer}}
		s := &segment{start: fetchBuffer, end: 3 * fetchBuffer}
		s.next.Store(fetchBuffer)
		w := f.startWriter(s, fetchBuffer, func(err error) { t.Errorf("failed(%v) after a write that worked", err) })
		for i := range 2 {
			b := getBuffer(fetchBuffer)
			for j := range b {
				b[j] = byte(i + 1)
			}
			w.put(b)
		}
		got, err := w.finish()
		if got != 2*fetchBuffer || err != nil {
			t.Fatalf("finish = %d, %v; want %d, nil", got, err, 2*fetchBuffer)
		}
		if s.next.Load() != 3*fetchBuffer || f.fetched.Load() != 2*fetchBuffer || f.bar.n.Load() != 2*fetchBuffer {
			t.Errorf("next %d, fetched %d, bar %d; want the end of the segment and two buffers", s.next.Load(), f.fetched.Load(), f.bar.n.Load())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range []byte{0, 1, 2} {
			chunk := b[i*fetchBuffer : (i+1)*fetchBuffer]
			if strings.Trim(string(chunk), string(rune(want))) != "" {
				t.Errorf("the part file's MiB %d is not all %d", i, want)
			}
		}
	})
	t.Run("fails", func(t *testing.T) {
		part, err := os.Open(path) // read-only: every write fails
		if err != nil {
			t.Fatal(err)
		}
		defer part.Close()
		f := &fetcher{part: &partFile{File: part}, bar: &bar{}, file: remoteFile{Size: 3 * fetchBuffer}}
		s := &segment{start: 0, end: 3 * fetchBuffer}
		var calls atomic.Int32
		w := f.startWriter(s, 0, func(error) { calls.Add(1) })
		for range 3 {
			w.put(getBuffer(fetchBuffer))
		}
		got, err := w.finish()
		if got != 0 || err == nil {
			t.Fatalf("finish = %d, %v; want 0 and the write error", got, err)
		}
		if calls.Load() != 1 {
			t.Errorf("failed was called %d times, want once", calls.Load())
		}
		if s.next.Load() != 0 || f.fetched.Load() != 0 {
			t.Errorf("next %d, fetched %d after failed writes; want 0", s.next.Load(), f.fetched.Load())
		}
	})
}

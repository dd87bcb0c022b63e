package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var listeningDemoRE = regexp.MustCompile(`Freight demo is running at (http://\S+)`)

// startDemo runs freight demo on a free port with its data in dir and
// the extra flags given, and returns its URL and its demo.json.
func startDemo(t *testing.T, dir string, extra ...string) (string, demoInfo) {
	t.Helper()
	d := start(t, nil, append([]string{"demo", "--addr", "127.0.0.1:0", "--data-dir", dir, "--log-level", "warn"}, extra...)...)
	url := d.stdout.waitFor(t, listeningDemoRE, d.done)
	return url, readDemoInfo(t, dir)
}

func readDemoInfo(t *testing.T, dir string) demoInfo {
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

// TestLicenseVerify issues a license through the API of a real server,
// downloads it as the customer, and checks it offline with the command,
// as a vendor's support desk would.
func TestLicenseVerify(t *testing.T) {
	dir := t.TempDir()
	d := start(t, nil, "demo", "--addr", "127.0.0.1:0", "--data-dir", dir)
	d.stdout.waitFor(t, listeningDemoRE, d.done)
	info := readDemoInfo(t, dir)
	admin := api{t, info.URL, info.Admin.Token}
	var org struct{ ID string }
	admin.call("GET", "/api/v1/organizations/acme", nil, 200, &org)
	var lic struct{ ID string }
	admin.call("POST", "/api/v1/licenses", map[string]any{
		"org_id": org.ID, "product_id": info.Product.ID, "seats": 3, "hardware_ids": []string{"HASP-7"},
		"features": []map[string]any{{"name": "cam.5axis"}},
	}, 201, &lic)

	get := func(path, token string) []byte {
		req, _ := http.NewRequest("GET", info.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return b
	}
	licPath := filepath.Join(dir, "acme.lic")
	keysPath := filepath.Join(dir, "keys.json")
	os.WriteFile(licPath, get("/api/v1/licenses/"+lic.ID+"/file", info.Customers[0].Token), 0o600)
	os.WriteFile(keysPath, get("/.well-known/freight-license-keys.json", ""), 0o600)

	var out output
	if err := run(context.Background(), []string{"license", "verify", "--public-key", keysPath, "--hardware-id", "hasp-7", licPath}, nil, &out, io.Discard); err != nil {
		t.Fatalf("license verify: %v\n%s", err, out.String())
	}
	for _, want := range []string{lic.ID, "Acme Manufacturing", "cam.5axis", "Seats         3", "bound to HASP-7", "genuine and valid"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("verify output lacks %q:\n%s", want, out.String())
		}
	}
	// Flags after the file work too; a wrong dongle is refused.
	err := run(context.Background(), []string{"license", "verify", licPath, "--public-key", keysPath, "--hardware-id", "OTHER"}, nil, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "not bound") {
		t.Errorf("wrong hardware id: err = %v", err)
	}
	// One byte changed in the body: refused.
	b, _ := os.ReadFile(licPath)
	i := strings.Index(string(b), "\n") + 10
	b[i] ^= 0x01
	tampered := filepath.Join(dir, "tampered.lic")
	os.WriteFile(tampered, b, 0o600)
	if err := run(context.Background(), []string{"license", "verify", "--public-key", keysPath, tampered}, nil, &out, io.Discard); err == nil {
		t.Error("a tampered license verified")
	}
	// Inspect shows the contents, marked unverified, even for the tampered file's original.
	out = output{}
	if err := run(context.Background(), []string{"license", "inspect", licPath}, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "NOT VERIFIED") || !strings.Contains(out.String(), lic.ID) {
		t.Errorf("inspect output:\n%s", out.String())
	}
	if err := run(context.Background(), []string{"license", "verify", licPath}, nil, &out, io.Discard); err == nil {
		t.Error("verify without -public-key succeeded")
	}
}

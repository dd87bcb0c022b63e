package s3_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/blob/s3"
	"github.com/freight-portal/freight/internal/testdb"
)

func TestKey(t *testing.T) {
	const d = "ab0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
	for prefix, want := range map[string]string{
		"":           "sha256/ab/" + d,
		"/":          "sha256/ab/" + d,
		"ci":         "ci/sha256/ab/" + d,
		"ci/x/":      "ci/x/sha256/ab/" + d,
		"/ci/x":      "ci/x/sha256/ab/" + d,
		"//ci/x//":   "ci/x/sha256/ab/" + d,
		"dist/blobs": "dist/blobs/sha256/ab/" + d,
	} {
		if got := s3.Key(prefix, d); got != want {
			t.Errorf("Key(%q) = %q, want %q", prefix, got, want)
		}
	}
}

// TestS3PresignGet fetches a blob with a presigned GET, a presigned HEAD
// and a ranged GET, and checks the overridden response headers.
func TestS3PresignGet(t *testing.T) {
	url := testdb.S3(t)
	s := MustOpen(t, url)
	ctx := t.Context()
	data := bytes.Repeat([]byte("freight "), 1000)
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	if err := s.Put(ctx, digest, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(url, "/"+s.Prefix()+"?") && !strings.HasSuffix(url, "/"+s.Prefix()) {
		t.Errorf("Prefix() = %q is not the prefix of %s", s.Prefix(), url)
	}
	const cd = `attachment; filename="setup 1.0.exe"`
	get, err := s.PresignGet(ctx, digest, cd, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(get, s3.Key(s.Prefix(), digest)) {
		t.Errorf("URL %s does not name the key %s", get, s3.Key(s.Prefix(), digest))
	}
	do := func(method, u string, headers ...string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	resp, body := do("GET", get)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("GET: status %d, %d bytes: %s", resp.StatusCode, len(body), body[:min(len(body), 300)])
	}
	if got := resp.Header.Get("Content-Disposition"); got != cd {
		t.Errorf("Content-Disposition %q, want %q", got, cd)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/octet-stream" {
		t.Errorf("Content-Type %q", got)
	}
	resp, body = do("GET", get, "Range", "bytes=8-15")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[8:16]) {
		t.Errorf("ranged GET: status %d, %q", resp.StatusCode, body)
	}
	if resp, _ := do("HEAD", get); resp.StatusCode < 400 {
		t.Errorf("HEAD of a presigned GET: status %d; S3 signs the method", resp.StatusCode)
	}
	head, err := s.PresignHead(ctx, digest, cd, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := do("HEAD", head); resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(data)) || resp.Header.Get("Content-Disposition") != cd {
		t.Errorf("HEAD: status %d, length %d, Content-Disposition %q", resp.StatusCode, resp.ContentLength, resp.Header.Get("Content-Disposition"))
	}
	if _, err := s.PresignGet(ctx, "../etc/passwd", cd, time.Minute); freight.ErrorCode(err) != freight.EINVALID {
		t.Errorf("PresignGet of a bad digest: %v, want EINVALID", err)
	}
	if _, err := s.PresignGet(ctx, digest, cd, 8*24*time.Hour); freight.ErrorCode(err) != freight.EINVALID {
		t.Errorf("PresignGet for 8 days: %v, want EINVALID", err)
	}
}

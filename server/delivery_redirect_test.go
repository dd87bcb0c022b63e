package server_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	fsblob "github.com/freight-portal/freight/blob/fs"
	s3blob "github.com/freight-portal/freight/blob/s3"
	"github.com/freight-portal/freight/internal/testdb"
	"github.com/freight-portal/freight/server"
)

// noFollow is the env's client, but it stops at redirects.
func noFollow(e *env) *http.Client {
	c := *e.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// fetchWith is shop.fetch with another client.
func fetchWith(t testing.TB, c *http.Client, method, rawURL string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// tamperToken changes one character in the middle of the token of a /d/ URL.
func tamperToken(t testing.TB, rawURL string) string {
	t.Helper()
	i := strings.Index(rawURL, "/d/") + len("/d/")
	j := i + strings.Index(rawURL[i:], "/")
	pos := i + (j-i)*2/3
	c := byte('A')
	if rawURL[pos] == c {
		c = 'B'
	}
	return rawURL[:pos] + string(c) + rawURL[pos+1:]
}

// downloadsOf lists the downloads recorded, newest first.
func downloadsOf(s *shop) []freight.Download {
	s.t.Helper()
	var l struct{ Items []freight.Download }
	s.must(http.StatusOK, "GET", "/api/v1/downloads", s.token, nil).decode(s.t, &l)
	return l.Items
}

func bytesServed(s *shop, grantID string) int64 {
	s.t.Helper()
	g, err := s.store.Grant(context.Background(), grantID)
	if err != nil {
		s.t.Fatal(err)
	}
	return g.BytesServed
}

// TestDeliveryS3 runs delivery mode s3 against the S3 server of
// FREIGHT_TEST_S3 (MinIO in CI): the file is uploaded in parts straight to
// the bucket, and downloads are redirected to presigned GETs of its blob.
func TestDeliveryS3(t *testing.T) {
	rawURL := testdb.S3(t)
	blobs, err := s3blob.Open(context.Background(), rawURL, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	endpoint, err := url.Parse(u.Query().Get("endpoint"))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, blobs, func(c *server.Config) { c.DeliveryMode = server.DeliveryS3 })
	s := newShopOn(t, e, 6<<20+77)
	if _, ok := s.blobs.(freight.PartWriter); ok {
		t.Fatal("the S3 store receives parts through the portal")
	}
	g := s.grant(s.acmeTok)
	if !strings.HasPrefix(g.URL, s.url+"/d/") {
		t.Fatalf("download URL %s is not the portal's /d/", g.URL)
	}
	nf := noFollow(s.env)
	before := time.Now()

	r := fetchWith(t, nf, "GET", g.URL)
	if r.status != http.StatusSeeOther {
		t.Fatalf("GET %s: status %d, want 303: %s", g.URL, r.status, r.body)
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if loc.Host != endpoint.Host {
		t.Errorf("Location %s is not on the S3 server %s", loc, endpoint.Host)
	}
	if !strings.HasSuffix(loc.Path, "/sha256/"+g.SHA256[:2]+"/"+g.SHA256) {
		t.Errorf("Location path %s is not the blob's key", loc.Path)
	}
	q := loc.Query()
	if q.Get("X-Amz-Expires") != "60" || q.Get("X-Amz-Signature") == "" || q.Get("X-Amz-SignedHeaders") != "host" {
		t.Errorf("Location %s: want a SigV4 presigned URL for 60 s that signs only host", loc)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", got)
	}

	t.Run("FollowRedirect", func(t *testing.T) {
		r := fetchWith(t, http.DefaultClient, "GET", loc.String())
		if r.status != http.StatusOK || sha(r.body) != sha(s.content) {
			t.Fatalf("GET of the presigned URL: status %d, %d bytes (%s); want 200 and the file", r.status, len(r.body), r.body[:min(len(r.body), 300)])
		}
		_, params, err := mime.ParseMediaType(r.header.Get("Content-Disposition"))
		if err != nil || params["filename"] != "cad-1.0.0-setup.exe" {
			t.Errorf("Content-Disposition %q (%v), want the artifact's filename", r.header.Get("Content-Disposition"), err)
		}
		if got := r.header.Get("Content-Type"); got != "application/octet-stream" {
			t.Errorf("Content-Type %q", got)
		}
	})
	t.Run("Range", func(t *testing.T) {
		// The env's client follows the redirect and sends Range again.
		r := s.fetch("GET", g.URL, "Range", "bytes=1000-1999")
		if r.status != http.StatusPartialContent || !bytes.Equal(r.body, s.content[1000:2000]) {
			t.Errorf("Range through the redirect: status %d, %d bytes; want 206 with bytes 1000-1999", r.status, len(r.body))
		}
	})
	t.Run("Head", func(t *testing.T) {
		r := fetchWith(t, nf, "HEAD", g.URL)
		if r.status != http.StatusSeeOther || r.header.Get("Location") == "" {
			t.Fatalf("HEAD: status %d, Location %q; want 303", r.status, r.header.Get("Location"))
		}
		// S3 signs the method: the HEAD goes to a presigned HEAD.
		r = s.fetch("HEAD", g.URL)
		if r.status != http.StatusOK || r.header.Get("Content-Length") != strconv.Itoa(len(s.content)) {
			t.Errorf("HEAD through the redirect: status %d, length %q", r.status, r.header.Get("Content-Length"))
		}
	})
	t.Run("TamperedToken", func(t *testing.T) {
		r := fetchWith(t, nf, "GET", tamperToken(t, g.URL))
		wantError(t, r, http.StatusForbidden, freight.EFORBIDDEN, "")
		if r.header.Get("Location") != "" {
			t.Errorf("a tampered token was redirected to %s", r.header.Get("Location"))
		}
		r = fetchWith(t, nf, "GET", strings.Replace(g.URL, "/cad-1.0.0-setup.exe", "/other.exe", 1))
		wantError(t, r, http.StatusForbidden, freight.EFORBIDDEN, "")
	})
	t.Run("Log", func(t *testing.T) {
		ds := downloadsOf(s)
		if len(ds) != 2 {
			t.Fatalf("%d downloads, want the full one and the ranged one (no HEAD, no refusal): %+v", len(ds), ds)
		}
		full, ranged := ds[1], ds[0]
		if full.Via != "s3" || full.Bytes != int64(len(s.content)) || full.Completed || full.FinishedAt == nil || full.FinishedAt.Before(before.Add(-time.Minute)) || full.OrgID != s.acme.ID {
			t.Errorf("the full download is recorded as %+v; want via s3, the file's size charged, not completed, finished", full)
		}
		if ranged.Via != "s3" || ranged.Bytes != 1000 || ranged.Range != "bytes=1000-1999" || ranged.Completed {
			t.Errorf("the ranged download is recorded as %+v", ranged)
		}
		if got, want := bytesServed(s, g.ID), int64(len(s.content)+1000); got != want {
			t.Errorf("the grant was charged %d bytes, want %d", got, want)
		}
	})
}

// TestDeliveryCloudFront checks the CloudFront signed URLs of delivery mode
// cloudfront with a verifier written from AWS's documentation: the signed
// policy (canned, or custom when the grant is bound to an address), its
// SHA-1 and the public key. The SDK only signs.
func TestDeliveryCloudFront(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		key    crypto.Signer
		prefix string
		bindIP bool
	}{
		{"RSA", rsaKey, "", false},
		{"ECDSA", ecKey, "/dist/blobs/", false},
		{"RSABindIP", rsaKey, "", true},
		{"ECDSABindIP", ecKey, "dist", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testDeliveryCloudFront(t, tc.key, tc.prefix, tc.bindIP)
		})
	}
}

func testDeliveryCloudFront(t *testing.T, key crypto.Signer, prefix string, bindIP bool) {
	const domain, keyID = "d111111abcdef8.cloudfront.net", "K2JCJMDEHXQW5F"
	blobs, err := fsblob.New(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, blobs, func(c *server.Config) {
		c.DeliveryMode = server.DeliveryCloudFront
		c.CloudFront = server.CloudFront{Domain: domain, KeyID: keyID, Signer: key, PathPrefix: prefix}
		c.BindIP = bindIP
	})
	if err := server.CheckDelivery(server.Config{DeliveryMode: server.DeliveryCloudFront, CloudFront: server.CloudFront{Domain: domain, KeyID: keyID, Signer: key}}, blobs); err != nil {
		t.Fatalf("CheckDelivery: %v", err)
	}
	s := newShopOn(t, e, 10000)
	g := s.grant(s.acmeTok)
	nf := noFollow(s.env)

	r := fetchWith(t, nf, "GET", g.URL)
	if r.status != http.StatusSeeOther {
		t.Fatalf("GET %s: status %d, want 303: %s", g.URL, r.status, r.body)
	}
	signed := r.header.Get("Location")
	loc, err := url.Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	wantPath := "/" + s3blob.Key(prefix, g.SHA256)
	if loc.Scheme != "https" || loc.Host != domain || loc.Path != wantPath {
		t.Errorf("Location %s, want https://%s%s", signed, domain, wantPath)
	}
	if !strings.HasPrefix(wantPath, "/sha256/") && !strings.HasPrefix(wantPath, "/dist/") {
		t.Errorf("blob path %s does not follow the prefix %q", wantPath, prefix)
	}
	q := loc.Query()
	if q.Get("Key-Pair-Id") != keyID {
		t.Errorf("Key-Pair-Id %q, want %q", q.Get("Key-Pair-Id"), keyID)
	}
	cd, err := url.QueryUnescape(q.Get("response-content-disposition"))
	if _, params, perr := mime.ParseMediaType(cd); err != nil || perr != nil || params["filename"] != g.Filename {
		t.Errorf("response-content-disposition %q, want the file name", q.Get("response-content-disposition"))
	}
	expires := s.clock.Now().Add(60 * time.Second).Unix()

	p, err := verifyCloudFront(signed, key.Public(), keyID)
	if err != nil {
		t.Fatalf("the signed URL does not verify: %v\n%s", err, signed)
	}
	if !bindIP {
		if q.Get("Expires") != strconv.FormatInt(expires, 10) || q.Has("Policy") {
			t.Errorf("Expires %q (Policy %q), want a canned policy expiring at %d, 60 s from now", q.Get("Expires"), q.Get("Policy"), expires)
		}
	} else {
		if q.Has("Expires") || !q.Has("Policy") {
			t.Fatalf("a grant bound to an address got %s, want a custom policy", signed)
		}
		var pol struct {
			Statement []struct {
				Resource  string
				Condition struct {
					IpAddress struct {
						SourceIP string `json:"AWS:SourceIp"`
					}
					DateLessThan struct {
						EpochTime int64 `json:"AWS:EpochTime"`
					}
				}
			}
		}
		if err := json.Unmarshal(p, &pol); err != nil {
			t.Fatalf("policy %s: %v", p, err)
		}
		if len(pol.Statement) != 1 {
			t.Fatalf("policy %s: want one statement", p)
		}
		st := pol.Statement[0]
		if st.Resource != withoutSignature(signed) {
			t.Errorf("policy resource %q, want the URL %q", st.Resource, withoutSignature(signed))
		}
		if st.Condition.IpAddress.SourceIP != "127.0.0.1/32" {
			t.Errorf("policy %s: want the client's address 127.0.0.1/32", p)
		}
		if st.Condition.DateLessThan.EpochTime != expires {
			t.Errorf("policy %s: want DateLessThan %d", p, expires)
		}
		// A policy that lets anyone in no longer matches the signature.
		open := bytes.Replace(p, []byte("127.0.0.1/32"), []byte("0.0.0.0/0"), 1)
		forged := strings.Replace(signed, "Policy="+q.Get("Policy"), "Policy="+cfEncode(open), 1)
		if _, err := verifyCloudFront(forged, key.Public(), keyID); err == nil {
			t.Error("a URL with a widened policy verifies")
		}
	}
	// The verifier is not a rubber stamp.
	for name, tampered := range map[string]string{
		"later expiry": strings.Replace(signed, "Expires="+q.Get("Expires"), "Expires="+strconv.FormatInt(expires+3600, 10), 1),
		"other blob":   strings.Replace(signed, g.SHA256, sha([]byte("other")), 2),
		"other name":   strings.Replace(signed, "cad-1.0.0-setup.exe", "cad-9.9.9-setup.exe", 1),
		"signature":    strings.Replace(signed, "Signature="+q.Get("Signature")[:8], "Signature=AAAAAAAA", 1),
		"other key id": strings.Replace(signed, "Key-Pair-Id="+keyID, "Key-Pair-Id=KOTHER", 1),
	} {
		if tampered == signed {
			continue // Expires in a custom policy URL
		}
		if _, err := verifyCloudFront(tampered, key.Public(), keyID); err == nil {
			t.Errorf("the URL with %s verifies: %s", name, tampered)
		}
	}

	t.Run("Head", func(t *testing.T) {
		r := fetchWith(t, nf, "HEAD", g.URL)
		if r.status != http.StatusSeeOther || r.header.Get("Location") == "" {
			t.Errorf("HEAD: status %d, Location %q; want 303", r.status, r.header.Get("Location"))
		}
	})
	t.Run("TamperedToken", func(t *testing.T) {
		r := fetchWith(t, nf, "GET", tamperToken(t, g.URL))
		wantError(t, r, http.StatusForbidden, freight.EFORBIDDEN, "")
		if r.header.Get("Location") != "" {
			t.Errorf("a tampered token was redirected to %s", r.header.Get("Location"))
		}
	})
	t.Run("GrantRules", func(t *testing.T) {
		// Windows: after the start window only resumes are redirected.
		s.clock.Add(6 * time.Minute)
		wantError(t, fetchWith(t, nf, "GET", g.URL), http.StatusForbidden, freight.EFORBIDDEN, "")
		if r := fetchWith(t, nf, "GET", g.URL, "Range", "bytes=100-"); r.status != http.StatusSeeOther {
			t.Errorf("a resume after the start window: status %d, want 303", r.status)
		}
		// Budget: three times the file; two downloads of it and the
		// resume are charged already.
		fresh := s.grant(s.acmeTok)
		for i := range 3 {
			if r := fetchWith(t, nf, "GET", fresh.URL); r.status != http.StatusSeeOther {
				t.Fatalf("download %d of a fresh grant: status %d", i+1, r.status)
			}
		}
		wantError(t, fetchWith(t, nf, "GET", fresh.URL, "Range", "bytes=0-0"), http.StatusForbidden, freight.EFORBIDDEN, "")
		if got, want := bytesServed(s, fresh.ID), 3*int64(len(s.content)); got != want {
			t.Errorf("the fresh grant was charged %d bytes, want %d", got, want)
		}
	})
	t.Run("Log", func(t *testing.T) {
		ds := downloadsOf(s)
		if len(ds) != 5 {
			t.Fatalf("%d downloads, want 5: %+v", len(ds), ds)
		}
		for _, d := range ds {
			if d.Via != "cloudfront" || d.Completed || d.FinishedAt == nil {
				t.Errorf("download recorded as %+v, want via cloudfront, finished, not completed", d)
			}
		}
		var resumes int
		for _, d := range ds {
			if d.Range == "bytes=100-" {
				resumes++
				if d.Bytes != int64(len(s.content)-100) {
					t.Errorf("the resume is recorded as %+v, want the bytes from 100 on charged", d)
				}
			}
		}
		if resumes != 1 {
			t.Errorf("%d resumes recorded, want 1: %+v", resumes, ds)
		}
	})
}

// cfDecode undoes CloudFront's URL-safe base64: '-' for '+', '_' for '='
// and '~' for '/'.
func cfDecode(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.NewReplacer("-", "+", "_", "=", "~", "/").Replace(s))
}

func cfEncode(b []byte) string {
	return strings.NewReplacer("+", "-", "=", "_", "/", "~").Replace(base64.StdEncoding.EncodeToString(b))
}

// withoutSignature removes CloudFront's parameters from a signed URL, as
// CloudFront does to find the resource of a canned policy.
func withoutSignature(signed string) string {
	base, query, _ := strings.Cut(signed, "?")
	var keep []string
	for kv := range strings.SplitSeq(query, "&") {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "Expires", "Policy", "Signature", "Key-Pair-Id", "Hash-Algorithm":
		default:
			keep = append(keep, kv)
		}
	}
	if len(keep) == 0 {
		return base
	}
	return base + "?" + strings.Join(keep, "&")
}

// verifyCloudFront checks a signed URL as CloudFront documents it and
// returns the policy it signs: the custom policy in the Policy parameter,
// or the canned policy
// {"Statement":[{"Resource":"<URL>","Condition":{"DateLessThan":{"AWS:EpochTime":<Expires>}}}]}
// over the URL without the signing parameters; an RSA PKCS #1 v1.5 or
// ECDSA signature of its SHA-1 (SHA-256 with Hash-Algorithm=SHA256).
func verifyCloudFront(signed string, pub crypto.PublicKey, keyID string) ([]byte, error) {
	u, err := url.Parse(signed)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	if q.Get("Key-Pair-Id") != keyID {
		return nil, fmt.Errorf("key pair id %q is not %q", q.Get("Key-Pair-Id"), keyID)
	}
	sig, err := cfDecode(q.Get("Signature"))
	if err != nil || len(sig) == 0 {
		return nil, fmt.Errorf("bad signature parameter: %v", err)
	}
	var policy []byte
	switch {
	case q.Has("Policy") && q.Has("Expires"):
		return nil, errors.New("both a policy and an expiry")
	case q.Has("Policy"):
		if policy, err = cfDecode(q.Get("Policy")); err != nil {
			return nil, fmt.Errorf("bad policy parameter: %v", err)
		}
		var p struct{ Statement []struct{ Resource string } }
		if err := json.Unmarshal(policy, &p); err != nil || len(p.Statement) == 0 {
			return nil, fmt.Errorf("bad policy %s: %v", policy, err)
		}
		// CloudFront takes the request if a statement's resource
		// matches its URL; * matches any characters.
		matched := false
		for _, st := range p.Statement {
			matched = matched || globMatch(st.Resource, withoutSignature(signed))
		}
		if !matched {
			return nil, fmt.Errorf("no resource of the policy %s matches the URL", policy)
		}
	case q.Has("Expires"):
		exp, err := strconv.ParseInt(q.Get("Expires"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad expiry: %v", err)
		}
		policy = fmt.Appendf(nil, `{"Statement":[{"Resource":"%s","Condition":{"DateLessThan":{"AWS:EpochTime":%d}}}]}`, withoutSignature(signed), exp)
	default:
		return nil, errors.New("neither a policy nor an expiry")
	}
	var digest []byte
	h := crypto.SHA1
	if q.Get("Hash-Algorithm") == "SHA256" {
		d := sha256.Sum256(policy)
		digest, h = d[:], crypto.SHA256
	} else {
		d := sha1.Sum(policy)
		digest = d[:]
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(k, h, digest, sig); err != nil {
			return nil, err
		}
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return nil, errors.New("ecdsa: verification error")
		}
	default:
		return nil, fmt.Errorf("key %T", pub)
	}
	return policy, nil
}

// globMatch reports whether s matches pattern, where * matches any run of
// characters, / included.
func globMatch(pattern, s string) bool {
	before, after, found := strings.Cut(pattern, "*")
	if !found {
		return pattern == s
	}
	if !strings.HasPrefix(s, before) {
		return false
	}
	rest := s[len(before):]
	for i := 0; i <= len(rest); i++ {
		if globMatch(after, rest[i:]) {
			return true
		}
	}
	return false
}

func TestCheckDelivery(t *testing.T) {
	fsBlobs, err := fsblob.New(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	cf := func(domain, keyID string, key crypto.Signer) server.Config {
		return server.Config{DeliveryMode: server.DeliveryCloudFront, CloudFront: server.CloudFront{Domain: domain, KeyID: keyID, Signer: key}}
	}
	for _, tc := range []struct {
		name    string
		cfg     server.Config
		wantErr string
	}{
		{"Default", server.Config{}, ""},
		{"Origin", server.Config{DeliveryMode: server.DeliveryOrigin}, ""},
		{"Unknown", server.Config{DeliveryMode: "ftp"}, "unknown delivery mode"},
		{"S3OnFiles", server.Config{DeliveryMode: server.DeliveryS3}, "s3://"},
		{"CloudFront", cf("d1.cloudfront.net", "K1", rsaKey), ""},
		{"CloudFrontNoDomain", cf("", "K1", rsaKey), "domain"},
		{"CloudFrontNoKeyID", cf("d1.cloudfront.net", "", rsaKey), "key's id"},
		{"CloudFrontNoKey", cf("d1.cloudfront.net", "K1", nil), "private key"},
		{"CloudFrontURLAsDomain", cf("https://d1.cloudfront.net/", "K1", rsaKey), "host name"},
		{"CloudFrontDomainWithPath", cf("d1.cloudfront.net/x", "K1", rsaKey), "host name"},
		{"CloudFrontSmallRSA", cf("d1.cloudfront.net", "K1", small), "RSA of 1024 bits"},
		{"CloudFrontP384", cf("d1.cloudfront.net", "K1", p384), "P-384"},
		{"CloudFrontEd25519", cf("d1.cloudfront.net", "K1", edKey), "RSA 2048 or ECDSA P-256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := server.CheckDelivery(tc.cfg, fsBlobs)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("CheckDelivery = %v, want an error naming %q", err, tc.wantErr)
			}
		})
	}
}

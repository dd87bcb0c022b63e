package webhook_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freight-portal/freight/webhook"
)

const secret = "whsec_dGhpcyBpcyBhIHRlc3Qgc2VjcmV0IG9mIDMyIGJ5dGVz"

var body = []byte(`{"id":"wev_01","type":"webhook.test","created_at":"2026-01-01T00:00:00Z","data":{}}`)

func TestSignKnownAnswer(t *testing.T) {
	// printf '1767225600.{}' | openssl dgst -sha256 -hmac key
	got := webhook.Sign("key", 1767225600, []byte("{}"))
	if want := "df344de429b8ee672e1863e0008fdbd0080000536fbccdf0e4f89846acbbe872"; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
	h := webhook.SignatureHeader(time.Unix(1767225600, 0), []byte("{}"), "key")
	if want := "t=1767225600,v1=df344de429b8ee672e1863e0008fdbd0080000536fbccdf0e4f89846acbbe872"; h != want {
		t.Errorf("SignatureHeader = %s, want %s", h, want)
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1767225600, 0)
	h := webhook.SignatureHeader(now, body, secret)
	if err := webhook.Verify(secret, h, body, now); err != nil {
		t.Fatalf("Verify(good) = %v", err)
	}
	if err := webhook.Verify(secret, h, body, now.Add(4*time.Minute+59*time.Second)); err != nil {
		t.Errorf("Verify 4m59s later = %v, want nil", err)
	}
	tampered := append([]byte(nil), body...)
	tampered[len(tampered)-2] = ' '
	other := "whsec_b3RoZXIgc2VjcmV0IG9mIGF0IGxlYXN0IDMyIGJ5dGVzIQ"
	for _, tc := range []struct {
		name   string
		secret string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"TamperedBody", secret, h, tampered, now, webhook.ErrMismatch},
		{"EmptyBody", secret, h, nil, now, webhook.ErrMismatch},
		{"WrongSecret", other, h, body, now, webhook.ErrMismatch},
		{"TamperedTimestamp", secret, strings.Replace(h, "t=1767225600", "t=1767225660", 1), body, now, webhook.ErrMismatch},
		{"Replay", secret, h, body, now.Add(5*time.Minute + time.Second), webhook.ErrTooOld},
		{"FromTheFuture", secret, h, body, now.Add(-6 * time.Minute), webhook.ErrTooOld},
		{"NoV1", secret, "t=1767225600", body, now, webhook.ErrMalformed},
		{"NoT", secret, "v1=" + strings.Repeat("0", 64), body, now, webhook.ErrMalformed},
		{"Empty", secret, "", body, now, webhook.ErrMalformed},
		{"ShortMAC", secret, "t=1767225600,v1=abcd", body, now, webhook.ErrMalformed},
		{"TwoT", secret, h + ",t=1767225600", body, now, webhook.ErrMalformed},
		{"NegativeT", secret, "t=-5,v1=" + strings.Repeat("0", 64), body, now, webhook.ErrMalformed},
		{"Huge", secret, h + strings.Repeat(",x=y", 400), body, now, webhook.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := webhook.Verify(tc.secret, tc.header, tc.body, tc.now)
			if !errors.Is(err, tc.want) || !errors.Is(err, webhook.ErrInvalid) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("Rotation", func(t *testing.T) {
		// During a rotation both secrets sign; a receiver on either passes.
		h := webhook.SignatureHeader(now, body, other, secret)
		if c := strings.Count(h, "v1="); c != 2 {
			t.Fatalf("header %q has %d v1 values, want 2", h, c)
		}
		for _, s := range []string{secret, other} {
			if err := webhook.Verify(s, h, body, now); err != nil {
				t.Errorf("Verify with one of the two secrets = %v", err)
			}
		}
	})
	t.Run("UnknownSchemesIgnored", func(t *testing.T) {
		if err := webhook.Verify(secret, h+",v2=zzz", body, now); err != nil {
			t.Errorf("Verify with an extra v2 = %v, want nil", err)
		}
	})
}

func TestPublic(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		public bool
	}{
		{"8.8.8.8", true},
		{"203.0.113.10", true},
		{"2606:4700:4700::1111", true},
		{"127.0.0.1", false},
		{"127.255.0.1", false},
		{"0.0.0.0", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"100.64.0.1", false},      // CGNAT
		{"100.127.255.254", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"255.255.255.255", false},
		{"::", false},
		{"::1", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"ff02::1", false},
		{"::ffff:127.0.0.1", false}, // IPv4-mapped loopback
		{"::ffff:10.0.0.1", false},  // IPv4-mapped private
		{"::ffff:169.254.169.254", false},
		{"::ffff:8.8.8.8", true},
		{"64:ff9b::7f00:1", false}, // NAT64 of 127.0.0.1
		{"64:ff9b::808:808", true}, // NAT64 of 8.8.8.8
		{"2002:7f00:1::1", false},  // 6to4 of 127.0.0.1
		{"2002:a00:1::1", false},   // 6to4 of 10.0.0.1
		{"::127.0.0.1", false},     // IPv4-compatible
	} {
		addr := netip.MustParseAddr(tc.addr)
		if got := webhook.Public(addr); got != tc.public {
			t.Errorf("Public(%s) = %v, want %v", tc.addr, got, tc.public)
		}
	}
}

func TestPolicyCheckURL(t *testing.T) {
	strict := webhook.Policy{}
	lan := webhook.Policy{AllowHTTP: true, Allow: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}}
	open := webhook.Policy{AllowHTTP: true, AllowPrivate: true}
	for _, tc := range []struct {
		url                   string
		strict, lan, anywhere bool
	}{
		{"https://hooks.example.com/freight", true, true, true},
		{"https://203.0.113.10:8443/x?y=1", true, true, true},
		{"http://hooks.example.com/freight", false, true, true},
		{"https://127.0.0.1/x", false, false, true},
		{"https://[::1]:8443/x", false, false, true},
		{"https://[::ffff:127.0.0.1]/x", false, false, true},
		{"https://localhost:8443/x", false, false, true},
		{"https://api.localhost/x", false, false, true},
		{"http://10.20.3.4/x", false, true, true},
		{"https://10.21.3.4/x", false, false, true},
		{"https://169.254.169.254/latest/meta-data", false, false, true},
		{"https://user:pw@hooks.example.com/x", false, false, false},
		{"ftp://hooks.example.com/x", false, false, false},
		{"https:///x", false, false, false},
		{"hooks.example.com/x", false, false, false},
		{"https://hooks.example.com:0/x", false, false, false},
		{"https://hooks.example.com:99999/x", false, false, false},
	} {
		for _, p := range []struct {
			name string
			pol  webhook.Policy
			want bool
		}{{"strict", strict, tc.strict}, {"lan", lan, tc.lan}, {"anywhere", open, tc.anywhere}} {
			_, err := p.pol.CheckURL(tc.url)
			if (err == nil) != p.want {
				t.Errorf("%s CheckURL(%q) = %v, want allowed %v", p.name, tc.url, err, p.want)
			}
			if err != nil && !errors.Is(err, webhook.ErrRefused) {
				t.Errorf("%s CheckURL(%q) = %v, want it to wrap ErrRefused", p.name, tc.url, err)
			}
		}
	}
}

// TestClientRefusesAtConnect sends to a real server on 127.0.0.1 through
// a host name. The client does not trust any earlier check of the URL:
// the dial is refused after resolution, whatever the name resolves to
// then. This is what defeats DNS rebinding.
func TestClientRefusesAtConnect(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	target := "http://localhost:" + port + "/hook"

	pol := webhook.Policy{AllowHTTP: true}
	if _, err := pol.CheckURL(target); !errors.Is(err, webhook.ErrRefused) {
		t.Errorf("CheckURL(%s) = %v, want refused", target, err)
	}
	u, _ := url.Parse(target)
	if err := pol.Resolve(context.Background(), u); !errors.Is(err, webhook.ErrRefused) {
		t.Errorf("Resolve(%s) = %v, want a refusal naming the address", target, err)
	}
	resp, err := pol.Client(5*time.Second).Post(target, "application/json", strings.NewReader("{}"))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("POST to %s through the strict client succeeded, want the dial refused", target)
	}
	if !errors.Is(err, webhook.ErrRefused) {
		t.Errorf("POST error = %v, want it to wrap ErrRefused", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the loopback server got %d requests, want 0", n)
	}

	// Allowed networks open the same door.
	pol.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	resp, err = pol.Client(5*time.Second).Post(target, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("POST with 127.0.0.0/8 allowed: %v", err)
	}
	resp.Body.Close()
	if n := hits.Load(); n != 1 {
		t.Errorf("hits = %d, want 1", n)
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	var reached atomic.Bool
	final := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Store(true) }))
	defer final.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, final.URL, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	c := webhook.Policy{AllowHTTP: true, AllowPrivate: true}.Client(5 * time.Second)
	resp, err := c.Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || reached.Load() {
		t.Errorf("status %d, redirect followed %v; want the 307 as the answer", resp.StatusCode, reached.Load())
	}
}

func FuzzParseHeader(f *testing.F) {
	now := time.Unix(1767225600, 0)
	f.Add(webhook.SignatureHeader(now, body, secret))
	f.Add("t=1,v1=" + strings.Repeat("a", 64))
	f.Add("t=,v1=")
	f.Add(",,,")
	f.Add("t=99999999999999999999,v1=00")
	f.Fuzz(func(t *testing.T, h string) {
		sig, err := webhook.ParseHeader(h)
		if err != nil {
			if !errors.Is(err, webhook.ErrInvalid) {
				t.Fatalf("ParseHeader(%q) = %v, want an ErrInvalid", h, err)
			}
			return
		}
		if len(sig.V1) == 0 || sig.Timestamp < 0 {
			t.Fatalf("ParseHeader(%q) accepted %+v", h, sig)
		}
		for _, m := range sig.V1 {
			if len(m) != 32 {
				t.Fatalf("ParseHeader(%q) gave a MAC of %d bytes", h, len(m))
			}
		}
		// Only a header that holds the real MAC verifies.
		if webhook.Verify(secret, h, body, time.Unix(sig.Timestamp, 0)) == nil && !strings.Contains(strings.ToLower(h), webhook.Sign(secret, sig.Timestamp, body)) {
			t.Fatalf("Verify accepted %q, which holds no valid signature", h)
		}
	})
}

func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://hooks.example.com/x", "http://127.0.0.1:8080/", "https://[::ffff:10.0.0.1]/", "https://u:p@h/",
		"https://localhost./", "https://0x7f.1/", "https://2130706433/", "https://[fe80::1%25eth0]/", "https://h:0/"} {
		f.Add(s, false, false)
	}
	f.Fuzz(func(t *testing.T, raw string, allowHTTP, allowPrivate bool) {
		p := webhook.Policy{AllowHTTP: allowHTTP, AllowPrivate: allowPrivate}
		u, err := p.CheckURL(raw)
		if err != nil {
			if !errors.Is(err, webhook.ErrRefused) {
				t.Fatalf("CheckURL(%q) = %v, want an ErrRefused", raw, err)
			}
			return
		}
		if u.Scheme != "https" && !(allowHTTP && u.Scheme == "http") {
			t.Fatalf("CheckURL(%q) accepted scheme %q", raw, u.Scheme)
		}
		if u.User != nil || u.Hostname() == "" {
			t.Fatalf("CheckURL(%q) accepted user info or an empty host", raw)
		}
		if port := u.Port(); port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				t.Fatalf("CheckURL(%q) accepted port %q", raw, port)
			}
		}
		if addr, err := netip.ParseAddr(u.Hostname()); err == nil && !allowPrivate && !webhook.Public(addr) {
			t.Fatalf("CheckURL(%q) accepted the non-public address %s", raw, addr)
		}
		// What passes must be a URL the HTTP client can send to.
		if _, err := url.Parse(u.String()); err != nil {
			t.Fatalf("CheckURL(%q) gave %q, which does not parse: %v", raw, u, err)
		}
	})
}

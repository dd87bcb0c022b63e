package mfa

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

// rfcSecret is the SHA-1 seed of RFC 6238 appendix B.
var rfcSecret = []byte("12345678901234567890")

// RFC 6238 appendix B, SHA-1 rows: the 8-digit TOTP for each time.
var rfcVectors = []struct {
	unix int64
	step int64
	code string
}{
	{59, 0x1, "94287082"},
	{1111111109, 0x23523EC, "07081804"},
	{1111111111, 0x23523ED, "14050471"},
	{1234567890, 0x273EF07, "89005924"},
	{2000000000, 0x3F940AA, "69279037"},
	{20000000000, 0x27BC86AA, "65353130"},
}

func TestRFC6238Vectors(t *testing.T) {
	for _, v := range rfcVectors {
		now := time.Unix(v.unix, 0)
		if got := Step(now); got != v.step {
			t.Errorf("Step(%d) = %#x, want %#x", v.unix, got, v.step)
		}
		if got := hotp(rfcSecret, uint64(v.step), 8); got != v.code {
			t.Errorf("8-digit TOTP at %d = %s, want %s", v.unix, got, v.code)
		}
		// Six digits are the same number modulo 10^6.
		if got, want := Code(rfcSecret, now), v.code[2:]; got != want {
			t.Errorf("Code(%d) = %s, want %s", v.unix, got, want)
		}
	}
}

// RFC 4226 appendix D: HOTP values for counters 0 to 9 with the same seed.
func TestRFC4226Vectors(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for c, w := range want {
		if got := hotp(rfcSecret, uint64(c), 6); got != w {
			t.Errorf("HOTP(%d) = %s, want %s", c, got, w)
		}
	}
}

func TestVerify(t *testing.T) {
	secret := NewSecret()
	now := time.Unix(1_800_000_015, 0) // mid-step
	cur := Step(now)
	at := func(step int64) string { return hotp(secret, uint64(step), Digits) }
	for _, tc := range []struct {
		name     string
		code     string
		last     int64
		wantStep int64
		ok       bool
	}{
		{"current step", at(cur), 0, cur, true},
		{"one step behind", at(cur - 1), 0, cur - 1, true},
		{"one step ahead", at(cur + 1), 0, cur + 1, true},
		{"two steps behind", at(cur - 2), 0, 0, false},
		{"two steps ahead", at(cur + 2), 0, 0, false},
		{"replay of the current step", at(cur), cur, 0, false},
		{"an earlier step after a later one", at(cur - 1), cur, 0, false},
		{"the next step after the current one", at(cur + 1), cur, cur + 1, true},
		{"with a space", at(cur)[:3] + " " + at(cur)[3:], 0, cur, true},
		{"empty", "", 0, 0, false},
		{"five digits", at(cur)[:5], 0, 0, false},
		{"seven digits", at(cur) + "0", 0, 0, false},
		{"letters", "12a456", 0, 0, false},
		{"full-width digits", "１２３４５６", 0, 0, false},
		{"sign", "+12345", 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			step, ok := Verify(secret, tc.code, now, tc.last)
			if ok != tc.ok || step != tc.wantStep {
				t.Errorf("Verify(%q, last %d) = %d, %v; want %d, %v", tc.code, tc.last, step, ok, tc.wantStep, tc.ok)
			}
		})
	}
}

// A code accepted once is refused afterwards, even within its window.
func TestVerifySingleUse(t *testing.T) {
	secret := NewSecret()
	now := time.Now()
	code := Code(secret, now)
	last, ok := Verify(secret, code, now, 0)
	if !ok {
		t.Fatal("first use refused")
	}
	for _, later := range []time.Duration{0, time.Second, Period, 2 * Period} {
		if _, ok := Verify(secret, code, now.Add(later), last); ok {
			t.Errorf("code accepted again %v later", later)
		}
	}
}

func TestVerifyWrongSecret(t *testing.T) {
	now := time.Now()
	if _, ok := Verify(NewSecret(), Code(NewSecret(), now), now, 0); ok {
		// One chance in 333,333 for random secrets; a failure here repeats.
		t.Error("a code of another secret verifies")
	}
	if _, ok := Verify(nil, Code(nil, now), now, 0); ok {
		t.Error("an empty secret verifies")
	}
}

func TestSecretEncoding(t *testing.T) {
	s := NewSecret()
	if len(s) != 20 {
		t.Fatalf("len(NewSecret()) = %d, want 20", len(s))
	}
	if bytes.Equal(s, NewSecret()) {
		t.Fatal("two secrets are equal")
	}
	enc := EncodeSecret(s)
	if len(enc) != 32 || strings.ContainsAny(enc, "=abcdefghijklmnopqrstuvwxyz") {
		t.Errorf("EncodeSecret = %q, want 32 upper-case base32 characters without padding", enc)
	}
	spaced := strings.ToLower(enc[:4] + " " + enc[4:8] + "-" + enc[8:] + "\n")
	for _, in := range []string{enc, spaced, enc + "===="} {
		got, err := DecodeSecret(in)
		if err != nil || !bytes.Equal(got, s) {
			t.Errorf("DecodeSecret(%q) = %x, %v; want %x", in, got, err, s)
		}
	}
	for _, in := range []string{"", "GEZDGNBV", "not base32 at all!", enc + "1", enc[:31] + "8", strings.Repeat("A", 1000)} {
		if _, err := DecodeSecret(in); freight.ErrorCode(err) != freight.EINVALID {
			t.Errorf("DecodeSecret(%q) err = %v, want EINVALID", in, err)
		}
	}
}

func TestURI(t *testing.T) {
	got := URI("ACME Co: Downloads", "jane+ci@example.com", []byte("12345678901234567890"))
	want := "otpauth://totp/ACME%20Co%3A%20Downloads:jane%2Bci%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME%20Co%3A%20Downloads&algorithm=SHA1&digits=6&period=30"
	if got != want {
		t.Errorf("URI =\n%s\nwant\n%s", got, want)
	}
	u, err := url.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "otpauth" || u.Host != "totp" {
		t.Errorf("scheme/host = %s/%s", u.Scheme, u.Host)
	}
	issuer, account, found := strings.Cut(strings.TrimPrefix(u.EscapedPath(), "/"), ":")
	if !found {
		t.Fatalf("label %q has no unescaped ':' between issuer and account", u.EscapedPath())
	}
	if is, _ := url.PathUnescape(issuer); is != "ACME Co: Downloads" {
		t.Errorf("label issuer = %q", is)
	}
	if ac, _ := url.PathUnescape(account); ac != "jane+ci@example.com" {
		t.Errorf("label account = %q", ac)
	}
	q := u.Query()
	if q.Get("issuer") != "ACME Co: Downloads" || q.Get("secret") != "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" {
		t.Errorf("query = %v", q)
	}
	if got := URI("", "a@b", []byte("12345678901234567890")); !strings.HasPrefix(got, "otpauth://totp/a%40b?secret=") || strings.Contains(got, "issuer") {
		t.Errorf("URI without issuer = %s", got)
	}
}

func FuzzDecodeSecret(f *testing.F) {
	for _, s := range []string{"", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "gezd gnbv gy3t qojq gezd gnbv gy3t qojq", "====", "A-B-C", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		secret, err := DecodeSecret(s)
		if err != nil {
			if freight.ErrorCode(err) != freight.EINVALID {
				t.Fatalf("DecodeSecret(%q) err = %v, want EINVALID", s, err)
			}
			return
		}
		if len(secret) < 16 || len(secret) > 64 {
			t.Fatalf("DecodeSecret(%q) = %d bytes, out of bounds", s, len(secret))
		}
		again, err := DecodeSecret(EncodeSecret(secret))
		if err != nil || !bytes.Equal(again, secret) {
			t.Fatalf("round trip of %x: %x, %v", secret, again, err)
		}
	})
}

func FuzzVerify(f *testing.F) {
	f.Add("287082", int64(1))
	f.Add(" 28 70 82 ", int64(0))
	f.Add("２８７０８２", int64(0))
	f.Add("-28708", int64(-5))
	f.Fuzz(func(t *testing.T, code string, last int64) {
		now := time.Unix(59, 0)
		step, ok := Verify(rfcSecret, code, now, last)
		if !ok {
			return
		}
		if step <= last || step < Step(now)-Skew || step > Step(now)+Skew {
			t.Fatalf("Verify(%q, last %d) accepted step %d", code, last, step)
		}
		if hotp(rfcSecret, uint64(step), Digits) != strings.ReplaceAll(code, " ", "") {
			t.Fatalf("Verify(%q) accepted a code that is not the step's", code)
		}
	})
}

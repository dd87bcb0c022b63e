package grant_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/grant"
)

// staticSigner signs with one fixed key.
type staticSigner struct {
	kid  string
	priv ed25519.PrivateKey
}

func (s staticSigner) SignKeyed(_ context.Context, build func(string) []byte) (string, []byte, error) {
	return s.kid, ed25519.Sign(s.priv, build(s.kid)), nil
}

// testKey returns a deterministic key from a one-byte seed.
func testKey(seed byte) ed25519.PrivateKey {
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = seed
	}
	return ed25519.NewKeyFromSeed(s)
}

var (
	keyA = testKey(1)
	keyB = testKey(2)
)

const (
	kidA = "ktest0000aa"
	kidB = "ktest0000bb"
)

// keys knows kidA and kidB.
func keys(_ context.Context, kid string) (ed25519.PublicKey, error) {
	switch kid {
	case kidA:
		return keyA.Public().(ed25519.PublicKey), nil
	case kidB:
		return keyB.Public().(ed25519.PublicKey), nil
	}
	return nil, freight.Errorf(freight.ENOTFOUND, "signing key not found")
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func validClaims() grant.Claims {
	return grant.Claims{
		GrantID:     "grt_01jnqz8v6c0000000000000000",
		ArtifactID:  "art_01jnqz8v6c0000000000000001",
		Digest:      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Size:        5 << 30,
		Filename:    "widget-2.1.0-linux-x86_64.tar.gz",
		StartBy:     t0.Add(5 * time.Minute).Unix(),
		ResumeUntil: t0.Add(24 * time.Hour).Unix(),
		ByteBudget:  3 * (5 << 30),
	}
}

func encode(t testing.TB, c grant.Claims) string {
	t.Helper()
	tok, err := grant.Encode(context.Background(), staticSigner{kidA, keyA}, c)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return tok
}

// signRaw makes a token of any payload, signed under domain.
func signRaw(kid string, priv ed25519.PrivateKey, domain string, payload []byte) string {
	p64 := base64.RawURLEncoding.EncodeToString(payload)
	sig := ed25519.Sign(priv, []byte(domain+kid+"."+p64))
	return kid + "." + p64 + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// wantRefusal checks that err is an EFORBIDDEN *freight.Error with msg.
func wantRefusal(t *testing.T, what string, err error, msg string) {
	t.Helper()
	e, ok := errors.AsType[*freight.Error](err)
	if !ok {
		t.Errorf("%s: error %v, want a *freight.Error %q", what, err, msg)
		return
	}
	if e.Code != freight.EFORBIDDEN || e.Message != msg {
		t.Errorf("%s: error %q %q (%v), want %q %q", what, e.Code, e.Message, err, freight.EFORBIDDEN, msg)
	}
}

func TestRoundTrip(t *testing.T) {
	for name, mod := range map[string]func(*grant.Claims){
		"plain":          func(*grant.Claims) {},
		"ipv4":           func(c *grant.Claims) { c.IP = "203.0.113.7" },
		"ipv6":           func(c *grant.Claims) { c.IP = "2001:db8::7" },
		"empty file":     func(c *grant.Claims) { c.Size, c.ByteBudget = 0, 0 },
		"start is end":   func(c *grant.Claims) { c.ResumeUntil = c.StartBy },
		"longest name":   func(c *grant.Claims) { c.Filename = strings.Repeat("a", 255) },
		"largest values": func(c *grant.Claims) { c.Size, c.ByteBudget, c.ResumeUntil = 1<<53-1, 1<<53-1, 1<<53-1 },
	} {
		t.Run(name, func(t *testing.T) {
			c := validClaims()
			mod(&c)
			tok := encode(t, c)
			if len(tok) > grant.MaxTokenLen {
				t.Errorf("token of %d bytes", len(tok))
			}
			if strings.Trim(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") != "" {
				t.Errorf("token %q has characters outside [A-Za-z0-9_.-]", tok)
			}
			if !strings.HasPrefix(tok, kidA+".") || strings.Count(tok, ".") != 2 {
				t.Errorf("token %q is not kid.payload.signature", tok)
			}
			got, err := grant.Parse(context.Background(), tok, keys)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got != c {
				t.Errorf("Parse = %+v, want %+v", got, c)
			}
		})
	}
}

// TestKnownAnswer pins the format: a verifier written in another language
// can check itself against this vector. The key is the Ed25519 key of the
// seed of 32 bytes 0x01, whose public key is
// 8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c (hex).
func TestKnownAnswer(t *testing.T) {
	c := validClaims()
	c.IP = "203.0.113.7"
	const payload = `{"g":"grt_01jnqz8v6c0000000000000000","a":"art_01jnqz8v6c0000000000000001","d":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","s":5368709120,"f":"widget-2.1.0-linux-x86_64.tar.gz","sb":1772366700,"ru":1772452800,"bb":16106127360,"ip":"203.0.113.7"}`
	tok := encode(t, c)
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", tok)
	}
	p, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	if string(p) != payload {
		t.Errorf("payload\n%s\nwant\n%s", p, payload)
	}
	if want := signRaw(kidA, keyA, "freight-grant-v1.", []byte(payload)); tok != want {
		t.Errorf("token\n%s\nwant\n%s", tok, want)
	}
	// Ed25519 signatures are deterministic, so the whole token is fixed.
	const golden = "ktest0000aa.eyJnIjoiZ3J0XzAxam5xejh2NmMwMDAwMDAwMDAwMDAwMDAwIiwiYSI6ImFydF8wMWpucXo4djZjMDAwMDAwMDAwMDAwMDAwMSIsImQiOiI5Zjg2ZDA4MTg4NGM3ZDY1OWEyZmVhYTBjNTVhZDAxNWEzYmY0ZjFiMmIwYjgyMmNkMTVkNmMxNWIwZjAwYTA4IiwicyI6NTM2ODcwOTEyMCwiZiI6IndpZGdldC0yLjEuMC1saW51eC14ODZfNjQudGFyLmd6Iiwic2IiOjE3NzIzNjY3MDAsInJ1IjoxNzcyNDUyODAwLCJiYiI6MTYxMDYxMjczNjAsImlwIjoiMjAzLjAuMTEzLjcifQ.ovlQYvKkUSeIEGn3MX5mvlNzJx0qzXfsthADfFXRCgNM-7DYwjd1OYPd6_Lzkb0Zl4L20CJ7vaiy7ribHm5RCA"
	if tok != golden {
		t.Errorf("token\n%s\nwant the golden\n%s", tok, golden)
	}
	got, err := grant.Parse(context.Background(), golden, keys)
	if err != nil || got != c {
		t.Errorf("Parse(golden) = %+v, %v, want %+v", got, err, c)
	}
}

// TestEveryByteChange changes each byte of a token to every other byte
// value: no change verifies. Strict base64 matters here: the last
// character of the signature carries 2 unused bits, and a lax decoder
// would accept 4 spellings of it. With -short, one token instead of two.
func TestEveryByteChange(t *testing.T) {
	ips := []string{"", "2001:db8::7"}
	if testing.Short() {
		ips = ips[:1]
	}
	for _, ip := range ips {
		c := validClaims()
		c.IP = ip
		tok := encode(t, c)
		b := []byte(tok)
		n := 0
		for i := range b {
			orig := b[i]
			for v := range 256 {
				if byte(v) == orig {
					continue
				}
				b[i] = byte(v)
				if got, err := grant.Parse(context.Background(), string(b), keys); err == nil {
					t.Fatalf("token with byte %d changed from %q to %q verifies: %+v", i, orig, byte(v), got)
				} else if freight.ErrorCode(err) != freight.EFORBIDDEN {
					t.Fatalf("byte %d changed: error %v, want EFORBIDDEN", i, err)
				}
				n++
			}
			b[i] = orig
		}
		t.Logf("%d changed tokens refused", n)
	}
}

func TestTruncatedAndExtended(t *testing.T) {
	tok := encode(t, validClaims())
	for i := range len(tok) {
		if _, err := grant.Parse(context.Background(), tok[:i], keys); err == nil {
			t.Fatalf("prefix of %d bytes verifies", i)
		}
		if _, err := grant.Parse(context.Background(), tok[i+1:], keys); err == nil {
			t.Fatalf("suffix from byte %d verifies", i+1)
		}
	}
	for _, extra := range []string{".", "A", "=", "==", "\n", " ", ".x", "%00"} {
		_, err := grant.Parse(context.Background(), tok+extra, keys)
		wantRefusal(t, "token+"+extra, err, "malformed token")
	}
}

func TestRefusals(t *testing.T) {
	good := encode(t, validClaims())
	kid, rest, _ := strings.Cut(good, ".")
	p64, s64, _ := strings.Cut(rest, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(p64)
	ps := string(payload)
	// signed makes a token of a payload changed by replace, properly signed
	// by kidA: the signature is fine, so only payload checks can refuse it.
	signed := func(old, new string) string {
		if !strings.Contains(ps, old) {
			t.Fatalf("payload %s has no %q", ps, old)
		}
		return signRaw(kidA, keyA, grant.Domain, []byte(strings.Replace(ps, old, new, 1)))
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}

	tests := []struct {
		name, token, msg string
	}{
		{"empty", "", "malformed token"},
		{"one field", kid, "malformed token"},
		{"two fields", kid + "." + p64, "malformed token"},
		{"four fields", good + ".x", "malformed token"},
		{"extra dot inside payload", kid + "." + p64[:10] + "." + p64[10:] + "." + s64, "malformed token"},
		{"double dot", kid + ".." + p64 + "." + s64, "malformed token"},
		{"empty kid", "." + p64 + "." + s64, "malformed token"},
		{"empty payload", kid + ".." + s64, "malformed token"},
		{"empty signature", kid + "." + p64 + ".", "malformed token"},
		{"kid too long", strings.Repeat("k", 33) + "." + p64 + "." + s64, "malformed token"},
		{"kid with a slash", "k/1." + p64 + "." + s64, "malformed token"},
		{"padded payload", kid + "." + p64 + "==." + s64, "malformed token"},
		{"padded signature", good + "==", "malformed token"},
		{"std base64 payload", kid + "." + strings.NewReplacer("-", "+", "_", "/").Replace(p64) + "x+/." + s64, "malformed token"},
		{"newline in payload", kid + "." + p64[:8] + "\n" + p64[8:] + "." + s64, "malformed token"},
		{"CR LF in signature", kid + "." + p64 + "." + s64[:8] + "\r\n" + s64[8:], "malformed token"},
		{"short signature", kid + "." + p64 + "." + s64[:85], "malformed token"},
		{"long signature", kid + "." + p64 + "." + s64 + "AA", "malformed token"},
		{"oversize", kid + "." + strings.Repeat("A", grant.MaxTokenLen) + "." + s64, "malformed token"},
		{"non-ASCII", "ké." + p64 + "." + s64, "malformed token"},

		{"tampered payload", kid + "." + flip(p64, 20) + "." + s64, "bad signature"},
		{"tampered signature", kid + "." + p64 + "." + flip(s64, 10), "bad signature"},
		{"unknown key id", "kunknown000." + p64 + "." + s64, "unknown key"},
		{"other known key id", kidB + "." + p64 + "." + s64, "bad signature"},
		{"other key, same key id", signRaw(kidA, keyB, grant.Domain, payload), "bad signature"},
		{"license domain", signRaw(kidA, keyA, "freight-license-v1.", payload), "bad signature"},
		{"no domain", signRaw(kidA, keyA, "", payload), "bad signature"},
		{"version 2 domain", signRaw(kidA, keyA, "freight-grant-v2.", payload), "bad signature"},
		{"signature over the payload only", kid + "." + p64 + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(keyA, payload)), "bad signature"},

		// Signed, but not what Encode makes.
		{"unknown member", signed(`}`, `,"x":1}`), "malformed token"},
		{"unknown member only", signRaw(kidA, keyA, grant.Domain, []byte(`{"x":1}`)), "malformed token"},
		{"duplicate member, same value", signed(`,"f":"widget`, `,"s":5368709120,"f":"widget`), "malformed token"},
		{"duplicate member, other value", signed(`,"f":"widget`, `,"s":1,"f":"widget`), "malformed token"},
		{"duplicate member, first smaller", signed(`{"g"`, `{"s":1,"g"`), "malformed token"},
		{"member name in another case", signed(`"f":`, `"F":`), "malformed token"},
		{"escaped member name", signed(`"f":`, `"\u0066":`), "malformed token"},
		{"escaped value", signed(`widget`, `\u0077idget`), "malformed token"},
		{"whitespace", signed(`,"f"`, `, "f"`), "malformed token"},
		{"trailing whitespace", signed(`}`, "}\n"), "malformed token"},
		{"members reordered", signed(`{"g":"grt_01jnqz8v6c0000000000000000","a"`, `{"a":"art_01jnqz8v6c0000000000000001","g":"grt_01jnqz8v6c0000000000000000","a"`), "malformed token"},
		{"exponent", signed(`"s":5368709120`, `"s":5.36870912e9`), "malformed token"},
		{"fraction", signed(`"s":5368709120`, `"s":5368709120.0`), "malformed token"},
		{"leading zero", signed(`"s":5368709120`, `"s":05368709120`), "malformed token"},
		{"string number", signed(`"s":5368709120`, `"s":"5368709120"`), "malformed token"},
		{"explicit empty ip", signed(`}`, `,"ip":""}`), "malformed token"},
		{"null ip", signed(`}`, `,"ip":null}`), "malformed token"},
		{"trailing data", signed(`}`, `}{}`), "malformed token"},
		{"array", signRaw(kidA, keyA, grant.Domain, []byte(`[]`)), "malformed token"},
		{"null", signRaw(kidA, keyA, grant.Domain, []byte(`null`)), "malformed token"},
		{"string", signRaw(kidA, keyA, grant.Domain, []byte(`"x"`)), "malformed token"},
		{"not JSON", signRaw(kidA, keyA, grant.Domain, []byte(`hello`)), "malformed token"},
		{"invalid UTF-8", signed(`widget`, "w\xffidget"), "malformed token"},

		// Signed canonical JSON, but the claims break a rule.
		{"bad grant id", signed(`grt_01jnqz8v6c0000000000000000`, `tok_01jnqz8v6c0000000000000000`), "malformed token"},
		{"grant id with i", signed(`grt_01jnqz8v6c0000000000000000`, `grt_01jnqz8v6c000000000000000i`), "malformed token"},
		{"bad artifact id", signed(`art_01jnqz8v6c0000000000000001`, `art_x`), "malformed token"},
		{"upper-case digest", signed(`9f86d0`, `9F86D0`), "malformed token"},
		{"short digest", signed(`9f86d0`, `9f86d`), "malformed token"},
		{"negative size", signed(`"s":5368709120`, `"s":-1`), "malformed token"},
		{"budget below size", signed(`"bb":16106127360`, `"bb":5368709119`), "malformed token"},
		{"start after resume", signed(`"ru":1772452800`, `"ru":1772366699`), "malformed token"},
		{"zero start", signed(`"sb":1772366700`, `"sb":0`), "malformed token"},
		{"beyond 2^53", signed(`"bb":16106127360`, `"bb":9007199254740992`), "malformed token"},
		{"path in file name", signed(`widget-2.1.0`, `../widget-2.1.0`), "malformed token"},
		{"slash in file name", signed(`widget-2.1.0`, `dir/widget-2.1.0`), "malformed token"},
		{"dot file", signed(`widget-2.1.0`, `.widget-2.1.0`), "malformed token"},
		{"empty file name", signed(`"f":"widget-2.1.0-linux-x86_64.tar.gz"`, `"f":""`), "malformed token"},
		{"file name too long", signed(`widget-2.1.0`, strings.Repeat("w", 255)), "malformed token"},
		{"space in file name", signed(`widget-2.1.0`, `widget 2.1.0`), "malformed token"},
		{"bad ip", signed(`}`, `,"ip":"not-an-ip"}`), "malformed token"},
		{"ipv4-mapped ip", signed(`}`, `,"ip":"::ffff:203.0.113.7"}`), "malformed token"},
		{"ip with zone", signed(`}`, `,"ip":"fe80::1%eth0"}`), "malformed token"},
		{"ip not canonical", signed(`}`, `,"ip":"2001:DB8:0::7"}`), "malformed token"},
		{"ip with port", signed(`}`, `,"ip":"203.0.113.7:443"}`), "malformed token"},
		{"cidr", signed(`}`, `,"ip":"203.0.113.0/24"}`), "malformed token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := grant.Parse(context.Background(), tt.token, keys)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want a refusal", tt.token, got)
			}
			wantRefusal(t, "Parse", err, tt.msg)
			if got != (grant.Claims{}) {
				t.Errorf("Parse returned claims %+v with its error", got)
			}
		})
	}

	// The control: the same helpers make a token that verifies.
	if _, err := grant.Parse(context.Background(), signed(`"s":`, `"s":`), keys); err != nil {
		t.Errorf("control token: %v", err)
	}
}

func TestKeyFuncErrors(t *testing.T) {
	tok := encode(t, validClaims())
	ctx := context.Background()
	tests := []struct {
		name string
		key  grant.KeyFunc
		code string
	}{
		{"store down", func(context.Context, string) (ed25519.PublicKey, error) {
			return nil, freight.Errorf(freight.EUNAVAILABLE, "database unavailable")
		}, freight.EUNAVAILABLE},
		{"plain error", func(context.Context, string) (ed25519.PublicKey, error) {
			return nil, errors.New("boom")
		}, freight.EINTERNAL},
		{"short key", func(context.Context, string) (ed25519.PublicKey, error) {
			return make(ed25519.PublicKey, 31), nil
		}, freight.EINTERNAL},
		{"nil key", func(context.Context, string) (ed25519.PublicKey, error) {
			return nil, nil
		}, freight.EINTERNAL},
		{"wrapped not found", func(context.Context, string) (ed25519.PublicKey, error) {
			return nil, &freight.Error{Code: freight.ENOTFOUND, Message: "nope"}
		}, freight.EFORBIDDEN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := grant.Parse(ctx, tok, tt.key)
			if got := freight.ErrorCode(err); got != tt.code {
				t.Errorf("error %v (code %q), want code %q", err, got, tt.code)
			}
			if _, ok := errors.AsType[*freight.Error](err); !ok {
				t.Errorf("error %v is not a *freight.Error", err)
			}
		})
	}
}

func TestEncodeRefusesInvalidClaims(t *testing.T) {
	for name, mod := range map[string]func(*grant.Claims){
		"zero claims":      func(c *grant.Claims) { *c = grant.Claims{} },
		"bad grant id":     func(c *grant.Claims) { c.GrantID = "grt_x" },
		"bad digest":       func(c *grant.Claims) { c.Digest = "abc" },
		"negative size":    func(c *grant.Claims) { c.Size = -1 },
		"budget too small": func(c *grant.Claims) { c.ByteBudget = c.Size - 1 },
		"resume too early": func(c *grant.Claims) { c.ResumeUntil = c.StartBy - 1 },
		"bad file name":    func(c *grant.Claims) { c.Filename = "a/b" },
		"quote in name":    func(c *grant.Claims) { c.Filename = `a"b` },
		"mapped ip":        func(c *grant.Claims) { c.IP = "::ffff:1.2.3.4" },
		"too large":        func(c *grant.Claims) { c.ResumeUntil = 1 << 53 },
	} {
		t.Run(name, func(t *testing.T) {
			c := validClaims()
			mod(&c)
			tok, err := grant.Encode(context.Background(), staticSigner{kidA, keyA}, c)
			if got := freight.ErrorCode(err); got != freight.EINTERNAL || tok != "" {
				t.Errorf("Encode = %q, %v, want EINTERNAL", tok, err)
			}
		})
	}
}

type funcSigner func(ctx context.Context, build func(string) []byte) (string, []byte, error)

func (f funcSigner) SignKeyed(ctx context.Context, build func(string) []byte) (string, []byte, error) {
	return f(ctx, build)
}

func TestEncodeSignerErrors(t *testing.T) {
	tests := []struct {
		name   string
		signer grant.Signer
		code   string
	}{
		{"store down", funcSigner(func(context.Context, func(string) []byte) (string, []byte, error) {
			return "", nil, freight.Errorf(freight.EUNAVAILABLE, "database unavailable")
		}), freight.EUNAVAILABLE},
		{"plain error", funcSigner(func(context.Context, func(string) []byte) (string, []byte, error) {
			return "", nil, errors.New("boom")
		}), freight.EINTERNAL},
		{"kid differs from the one signed", funcSigner(func(_ context.Context, build func(string) []byte) (string, []byte, error) {
			return kidB, ed25519.Sign(keyA, build(kidA)), nil
		}), freight.EINTERNAL},
		{"malformed kid", funcSigner(func(_ context.Context, build func(string) []byte) (string, []byte, error) {
			return "a.b", ed25519.Sign(keyA, build("a.b")), nil
		}), freight.EINTERNAL},
		{"short signature", funcSigner(func(_ context.Context, build func(string) []byte) (string, []byte, error) {
			return kidA, ed25519.Sign(keyA, build(kidA))[:63], nil
		}), freight.EINTERNAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := grant.Encode(context.Background(), tt.signer, validClaims())
			if got := freight.ErrorCode(err); got != tt.code || tok != "" {
				t.Errorf("Encode = %q, %v, want code %q", tok, err, tt.code)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	c := validClaims()
	startBy := time.Unix(c.StartBy, 0)
	resumeUntil := time.Unix(c.ResumeUntil, 0)
	name := c.Filename
	bound := c
	bound.IP = "203.0.113.7"
	bound6 := c
	bound6.IP = "2001:db8::7"

	tests := []struct {
		name     string
		c        grant.Claims
		now      time.Time
		isStart  bool
		ip, file string
		msg      string // "" when allowed
	}{
		{"start in time", c, t0, true, "198.51.100.1", name, ""},
		{"start a nanosecond before StartBy", c, startBy.Add(-time.Nanosecond), true, "198.51.100.1", name, ""},
		{"start at StartBy", c, startBy, true, "198.51.100.1", name, "download window closed"},
		{"start just after StartBy", c, startBy.Add(time.Nanosecond), true, "198.51.100.1", name, "download window closed"},
		{"range at StartBy", c, startBy, false, "198.51.100.1", name, ""},
		{"range after StartBy", c, startBy.Add(time.Hour), false, "198.51.100.1", name, ""},
		{"range just before ResumeUntil", c, resumeUntil.Add(-time.Nanosecond), false, "198.51.100.1", name, ""},
		{"range at ResumeUntil", c, resumeUntil, false, "198.51.100.1", name, "link expired"},
		{"start at ResumeUntil", c, resumeUntil, true, "198.51.100.1", name, "link expired"},
		{"range after ResumeUntil", c, resumeUntil.Add(time.Hour), false, "198.51.100.1", name, "link expired"},
		{"before the grant", c, t0.Add(-time.Hour), true, "198.51.100.1", name, ""},
		{"wrong file name", c, t0, true, "198.51.100.1", "other.tar.gz", "wrong file name"},
		{"file name in another case", c, t0, true, "198.51.100.1", strings.ToUpper(name), "wrong file name"},
		{"empty file name", c, t0, true, "198.51.100.1", "", "wrong file name"},
		{"file name checked first", c, resumeUntil, true, "198.51.100.1", "x", "wrong file name"},
		{"bound, same address", bound, t0, true, "203.0.113.7", name, ""},
		{"bound, other address", bound, t0, true, "203.0.113.8", name, "wrong client address"},
		{"bound, mapped address", bound, t0, true, "::ffff:203.0.113.7", name, ""},
		{"bound, mapped other address", bound, t0, true, "::ffff:203.0.113.8", name, "wrong client address"},
		{"bound, empty address", bound, t0, true, "", name, "wrong client address"},
		{"bound, garbage address", bound, t0, true, "localhost", name, "wrong client address"},
		{"bound, address with port", bound, t0, true, "203.0.113.7:5000", name, "wrong client address"},
		{"bound v6, same address", bound6, t0, false, "2001:db8:0:0:0:0:0:7", name, ""},
		{"bound v6, with zone", bound6, t0, false, "2001:db8::7%eth0", name, ""},
		{"bound v6, other address", bound6, t0, false, "2001:db8::8", name, "wrong client address"},
		{"bound v6, v4 client", bound6, t0, false, "203.0.113.7", name, "wrong client address"},
		{"bound, expired wins", bound, resumeUntil, false, "203.0.113.8", name, "link expired"},
		{"bound to a garbage address", grant.Claims{Filename: name, StartBy: c.StartBy, ResumeUntil: c.ResumeUntil, IP: "x"}, t0, true, "x", name, "wrong client address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Check(tt.now, tt.isStart, tt.ip, tt.file)
			if tt.msg == "" {
				if err != nil {
					t.Errorf("Check: %v, want nil", err)
				}
				return
			}
			wantRefusal(t, "Check", err, tt.msg)
		})
	}
}

func TestIsStart(t *testing.T) {
	const size = 1000
	tests := []struct {
		rng  string
		want bool
	}{
		{"", true},
		{"bytes=0-", true},
		{"bytes=0-0", true},
		{"bytes=0-999", true},
		{"bytes=0-5000", true},
		{"Bytes = 0-", true},
		{"bytes=1-", false},
		{"bytes=500-999", false},
		{"bytes=500-", false},
		{"bytes=500-999, 0-99", true},
		{"bytes=500-999,,600-", false},
		{"bytes=-1000", true},
		{"bytes=-1001", true},
		{"bytes=-999", false},
		{"bytes=-1", false},
		// Ranges that do not parse are starts: servers answer them with
		// the whole file or an error.
		{"bytes=", true},
		{"bytes=x-", true},
		{"bytes=5-1", true},
		{"bytes=+5-", true},
		{"bytes=5--", true},
		{"bytes=-", true},
		{"bytes=--5", true},
		{"bytes=99999999999999999999-", true},
		{"items=5-", true},
		{"5-", true},
		{"bytes 5-", true},
	}
	for _, tt := range tests {
		if got := grant.IsStart(tt.rng, size); got != tt.want {
			t.Errorf("IsStart(%q, %d) = %v, want %v", tt.rng, size, got, tt.want)
		}
	}
}

func TestClaimsOf(t *testing.T) {
	start := t0.Add(5*time.Minute + 900*time.Millisecond)
	g := &freight.Grant{
		ID: "grt_01jnqz8v6c0000000000000000", ArtifactID: "art_01jnqz8v6c0000000000000001",
		ProductID: "prd_01jnqz8v6c0000000000000002", Actor: "usr_01jnqz8v6c0000000000000003",
		IP: "::ffff:203.0.113.7", BindIP: true,
		Digest: validClaims().Digest, Size: 10, Filename: "a.bin",
		StartBy: start, ResumeUntil: start.Add(time.Hour), ByteBudget: 30,
	}
	got := grant.ClaimsOf(g)
	want := grant.Claims{
		GrantID: g.ID, ArtifactID: g.ArtifactID, Digest: g.Digest, Size: 10, Filename: "a.bin",
		StartBy: t0.Add(5 * time.Minute).Unix(), ResumeUntil: t0.Add(time.Hour + 5*time.Minute).Unix(), ByteBudget: 30,
		IP: "203.0.113.7",
	}
	if got != want {
		t.Errorf("ClaimsOf = %+v, want %+v", got, want)
	}
	tok := encode(t, got)
	if _, err := grant.Parse(context.Background(), tok, keys); err != nil {
		t.Errorf("Parse(Encode(ClaimsOf)): %v", err)
	}

	g.BindIP = false
	if got := grant.ClaimsOf(g); got.IP != "" {
		t.Errorf("ClaimsOf of an unbound grant: IP = %q, want empty", got.IP)
	}
	g.BindIP, g.IP = true, "fe80::1%eth0"
	if got := grant.ClaimsOf(g); got.IP != "fe80::1" {
		t.Errorf("ClaimsOf with a zone: IP = %q, want fe80::1", got.IP)
	}
	g.IP = "garbage"
	if _, err := grant.Encode(context.Background(), staticSigner{kidA, keyA}, grant.ClaimsOf(g)); freight.ErrorCode(err) != freight.EINTERNAL {
		t.Errorf("Encode of a grant bound to a garbage address: %v, want EINTERNAL", err)
	}
	if got := grant.ClaimsOf(nil); got != (grant.Claims{}) {
		t.Errorf("ClaimsOf(nil) = %+v", got)
	}
}

// FuzzParse feeds Parse arbitrary strings and mutations of valid tokens.
// Parse must never panic, and a token that verifies must be one of the
// tokens signed here: byte for byte, not merely the same claims.
func FuzzParse(f *testing.F) {
	c := validClaims()
	signed := map[string]bool{encode(f, c): true}
	c.IP = "2001:db8::7"
	signed[encode(f, c)] = true
	c.Filename, c.Size, c.ByteBudget, c.IP = "x", 0, 0, "10.0.0.1"
	signed[encode(f, c)] = true
	for tok := range signed {
		f.Add(tok)
		f.Add(tok[:len(tok)-1])
		f.Add(tok + "A")
		f.Add(strings.Replace(tok, ".", "..", 1))
	}
	f.Add("")
	f.Add("..")
	f.Add("a.b.c")
	f.Add(kidA + ".e30." + strings.Repeat("A", 86))
	f.Add(signRaw(kidA, keyB, grant.Domain, []byte(`{}`)))
	f.Fuzz(func(t *testing.T, tok string) {
		got, err := grant.Parse(context.Background(), tok, keys)
		if err != nil {
			if _, ok := errors.AsType[*freight.Error](err); !ok {
				t.Fatalf("Parse(%q): error %v is not a *freight.Error", tok, err)
			}
			if got != (grant.Claims{}) {
				t.Fatalf("Parse(%q) returned claims with error %v", tok, err)
			}
			return
		}
		if !signed[tok] {
			t.Fatalf("Parse(%q) verified a token that was never signed: %+v", tok, got)
		}
		if again := encode(t, got); again != tok {
			t.Fatalf("re-encoding the claims of %q gives %q", tok, again)
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	ctx := context.Background()
	s := staticSigner{kidA, keyA}
	c := validClaims()
	c.IP = "203.0.113.7"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := grant.Encode(ctx, s, c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	ctx := context.Background()
	c := validClaims()
	c.IP = "203.0.113.7"
	tok := encode(b, c)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := grant.Parse(ctx, tok, keys); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseForged measures what a flood of forged tokens costs: they
// fail at the signature.
func BenchmarkParseForged(b *testing.B) {
	ctx := context.Background()
	tok := encode(b, validClaims())
	forged := tok[:len(tok)-2] + "AA"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := grant.Parse(ctx, forged, keys); err == nil {
			b.Fatal("forged token verified")
		}
	}
}

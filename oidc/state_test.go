package oidc

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func mustSealer(tb testing.TB, b byte) *sealer {
	tb.Helper()
	s, err := newSealer(bytes.Repeat([]byte{b}, KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func sampleFlow(now time.Time) flowState {
	return flowState{
		Provider: "test",
		State:    randomSecret(),
		Nonce:    randomSecret(),
		Verifier: randomSecret(),
		ReturnTo: "/releases?x=1#top",
		Expires:  now.Add(FlowTimeout).Unix(),
	}
}

func TestSealOpen(t *testing.T) {
	now := time.Now()
	s := mustSealer(t, 1)
	f := sampleFlow(now)
	v, err := s.seal(f)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.open(v, "test", now.Unix())
	if err != nil || got != f {
		t.Fatalf("open = %+v, %v; want %+v", got, err, f)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(v)
	if bytes.Contains(raw, []byte(f.State)) || bytes.Contains(raw, []byte(f.Verifier)) || bytes.Contains(raw, []byte("/releases")) {
		t.Error("sealed cookie shows its content")
	}
	if v2, _ := s.seal(f); v2 == v {
		t.Error("sealing twice gives the same value: the GCM nonce is not random")
	}

	for _, tc := range []struct {
		name     string
		value    string
		provider string
		now      int64
		want     error
	}{
		{"other provider", v, "other", now.Unix(), errGarbled},
		{"expired", v, "test", f.Expires, errExpired},
		{"empty", "", "test", now.Unix(), errNoCookie},
		{"padded", v + "=", "test", now.Unix(), errGarbled},
		{"too long", strings.Repeat("A", maxCookieValue+1), "test", now.Unix(), errGarbled},
		{"other key", func() string { v, _ := mustSealer(t, 2).seal(f); return v }(), "test", now.Unix(), errGarbled},
		{"other version", func() string {
			raw, _ := base64.RawURLEncoding.DecodeString(v)
			raw[0] = 2
			return base64.RawURLEncoding.EncodeToString(raw)
		}(), "test", now.Unix(), errGarbled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.open(tc.value, tc.provider, tc.now); !errors.Is(err, tc.want) {
				t.Errorf("open: %v, want %v", err, tc.want)
			}
		})
	}

	t.Run("sealed content is checked too", func(t *testing.T) {
		bad := f
		bad.ReturnTo = "//evil.example"
		v, _ := s.seal(bad)
		if _, err := s.open(v, "test", now.Unix()); !errors.Is(err, errGarbled) {
			t.Errorf("open of a sealed open redirect: %v, want errGarbled", err)
		}
	})
}

// FuzzOpenFlowCookie feeds arbitrary cookie values to the decoder: it must
// never panic, and anything it accepts must be a well-formed flow.
func FuzzOpenFlowCookie(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	s := mustSealer(f, 1)
	valid, err := s.seal(sampleFlow(now))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)-1])
	f.Add(valid[:30])
	f.Add("")
	f.Add("AQ")
	f.Add(strings.Repeat("_", 200))
	f.Add("not base64!")
	f.Fuzz(func(t *testing.T, value string) {
		got, err := s.open(value, "test", now.Unix())
		if err != nil {
			if got != (flowState{}) {
				t.Fatalf("open failed (%v) but returned %+v", err, got)
			}
			return
		}
		if got.Provider != "test" || !validSecret(got.State) || !validSecret(got.Nonce) || !validSecret(got.Verifier) || got.Expires <= now.Unix() {
			t.Fatalf("open accepted %+v", got)
		}
		if _, err := CheckReturnTo(got.ReturnTo); err != nil {
			t.Fatalf("open accepted return path %q", got.ReturnTo)
		}
	})
}

// FuzzCheckReturnTo checks that every accepted return path stays on the
// portal's origin when a browser resolves it.
func FuzzCheckReturnTo(f *testing.F) {
	for _, s := range []string{"", "/", "/releases?x=1", "//evil.example", "/\\evil.example", "https://evil.example",
		"/%2F%2Fevil.example", "/a/../..//evil", "/\t/evil", "javascript:alert(1)", "/ok#frag", "/@evil.example", "/:@evil"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://portal.example/some/page")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := CheckReturnTo(s)
		if err != nil {
			return
		}
		if s == "" && got != "/" || s != "" && got != s {
			t.Fatalf("CheckReturnTo(%q) = %q", s, got)
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("accepted %q, which does not parse: %v", got, err)
		}
		r := base.ResolveReference(u)
		if r.Scheme != "https" || r.Host != "portal.example" || r.User != nil {
			t.Fatalf("accepted %q, which resolves to %s", got, r)
		}
		if strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\t\r\n ") {
			t.Fatalf("accepted %q", got)
		}
	})
}

func TestUsedStates(t *testing.T) {
	var u usedStates
	if !u.use("a", 150, 100) || u.use("a", 150, 100) {
		t.Fatal("a state was accepted twice or not at all")
	}
	key := func(i int) string { return "state-" + strconv.Itoa(i) }
	// 1500 states that expire at 150, recorded at 100, then 600 more at
	// 200, which crosses the pruning threshold after the first ones expired.
	for i := range 1500 {
		u.use(key(i), 150, 100)
	}
	for i := 1500; i < 2100; i++ {
		u.use(key(i), 300, 200)
	}
	u.mu.Lock()
	n := len(u.m)
	u.mu.Unlock()
	if n > 1000 {
		t.Errorf("%d states remembered, want the expired ones dropped", n)
	}
	if u.use(key(2000), 300, 250) {
		t.Error("a live state was accepted twice after pruning")
	}
	if !u.use(key(10), 400, 250) {
		t.Error("an expired state could not be recorded again")
	}
}

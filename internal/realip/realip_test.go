package realip

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func mustParse(t testing.TB, s string) Proxies {
	t.Helper()
	ps, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return ps
}

func TestParse(t *testing.T) {
	ps := mustParse(t, " 10.0.0.0/8, 192.0.2.7 ,2001:db8::/32,::ffff:198.51.100.1,10.1.2.3/8")
	if got, want := ps.String(), "10.0.0.0/8,192.0.2.7/32,2001:db8::/32,198.51.100.1/32,10.0.0.0/8"; got != want {
		t.Errorf("Parse = %s, want %s", got, want)
	}
	if ps := mustParse(t, ""); len(ps) != 0 {
		t.Errorf("Parse(\"\") = %v, want none", ps)
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example.com", "10.0.0.1:80", "fe80::1%eth0", "::ffff:10.0.0.0/104"} {
		if _, err := Parse(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("Parse(%q) = %v, want an error naming it", bad, err)
		}
	}
}

func TestClient(t *testing.T) {
	ps := mustParse(t, "10.0.0.0/8,2001:db8:1::/48")
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"no proxy", "198.51.100.9:4711", nil, "198.51.100.9"},
		{"an untrusted peer's header is ignored", "198.51.100.9:4711", []string{"203.0.113.5"}, "198.51.100.9"},
		{"one proxy", "10.0.0.2:4711", []string{"203.0.113.5"}, "203.0.113.5"},
		{"two proxies", "10.0.0.2:4711", []string{"203.0.113.5, 10.0.0.3"}, "203.0.113.5"},
		{"a forged entry left of the client", "10.0.0.2:4711", []string{"192.0.2.66, 203.0.113.5"}, "203.0.113.5"},
		{"forged trusted entries left of the client", "10.0.0.2:4711", []string{"10.9.9.9, 203.0.113.5, 10.0.0.3"}, "203.0.113.5"},
		{"several header lines", "10.0.0.2:4711", []string{"192.0.2.66", "203.0.113.5", "10.0.0.3"}, "203.0.113.5"},
		{"no header", "10.0.0.2:4711", nil, "10.0.0.2"},
		{"only proxies", "10.0.0.2:4711", []string{"10.0.0.4, 10.0.0.3"}, "10.0.0.4"},
		{"garbage next to the peer", "10.0.0.2:4711", []string{"203.0.113.5, unknown"}, "10.0.0.2"},
		{"garbage after a proxy", "10.0.0.2:4711", []string{"203.0.113.5, nonsense, 10.0.0.3"}, "10.0.0.3"},
		{"empty entries", "10.0.0.2:4711", []string{"203.0.113.5,,"}, "10.0.0.2"},
		{"ports", "10.0.0.2:4711", []string{"203.0.113.5:61000, [2001:db8:1::7]:443"}, "203.0.113.5"},
		{"IPv6 client", "[2001:db8:1::2]:4711", []string{"2001:db8:ff::9"}, "2001:db8:ff::9"},
		{"IPv4-mapped peer", "[::ffff:10.0.0.2]:4711", []string{"203.0.113.5"}, "203.0.113.5"},
		{"IPv4-mapped client", "10.0.0.2:4711", []string{"::ffff:203.0.113.5"}, "203.0.113.5"},
		{"zone", "10.0.0.2:4711", []string{"fe80::1%eth0"}, "fe80::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ps.Client(tc.peer, tc.xff)
			if !ok || got.String() != tc.want {
				t.Errorf("Client(%q, %q) = %v, %v; want %s", tc.peer, tc.xff, got, ok, tc.want)
			}
		})
	}
	// A long forged list from a trusted proxy's side: only maxHops
	// entries are read, and the answer is the last address read.
	long := strings.TrimSuffix(strings.Repeat("10.1.1.1, ", 1000), ", ")
	if got, _ := ps.Client("10.0.0.2:1", []string{"203.0.113.5, " + long}); got.String() != "10.1.1.1" {
		t.Errorf("Client with 1000 trusted hops = %v, want the last one read", got)
	}
	if _, ok := ps.Client("not an address", nil); ok {
		t.Errorf("Client of a made-up peer reported ok")
	}
}

func TestHandler(t *testing.T) {
	var seen string
	h := mustParse(t, "127.0.0.0/8").Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.RemoteAddr }))
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "127.0.0.1:5000"
	r.Header.Set("X-Forwarded-For", "203.0.113.5")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if seen != "203.0.113.5:5000" {
		t.Errorf("RemoteAddr downstream = %q, want the client's with the peer's port", seen)
	}
	if r.RemoteAddr != "127.0.0.1:5000" {
		t.Errorf("the caller's request was changed: RemoteAddr %q", r.RemoteAddr)
	}
	// Without proxies the handler is the one given.
	var none Proxies
	r.RemoteAddr = "198.51.100.9:80"
	none.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.RemoteAddr })).ServeHTTP(httptest.NewRecorder(), r)
	if seen != "198.51.100.9:80" {
		t.Errorf("RemoteAddr without proxies = %q", seen)
	}
}

// FuzzClient feeds X-Forwarded-For as anyone may send it: the answer is
// always a valid address, and it is the peer's or one written in the
// header.
func FuzzClient(f *testing.F) {
	for _, s := range []string{"203.0.113.5", "203.0.113.5, 10.0.0.3", "[2001:db8::1]:443", ",,,", "unknown", "::ffff:1.2.3.4", "fe80::1%25eth0"} {
		f.Add(s)
	}
	ps := mustParse(f, "10.0.0.0/8,2001:db8::/32")
	f.Fuzz(func(t *testing.T, xff string) {
		a, ok := ps.Client("10.0.0.2:4711", []string{xff})
		if !ok || !a.IsValid() || a.Zone() != "" || a.Is4In6() {
			t.Fatalf("Client(%q) = %v, %v", xff, a, ok)
		}
		if a == netip.MustParseAddr("10.0.0.2") {
			return
		}
		for hop := range strings.SplitSeq(xff, ",") {
			if h, ok := parseHop(strings.TrimSpace(hop)); ok && h == a {
				return
			}
		}
		t.Fatalf("Client(%q) = %v, neither the peer nor an entry of the header", xff, a)
	})
}

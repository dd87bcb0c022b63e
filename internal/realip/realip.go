// Package realip finds the address of a client that reaches Freight
// through reverse proxies or load balancers the operator trusts.
//
// Behind a proxy every request comes from the proxy's address: rate limits
// would put every anonymous caller in one bucket, download URLs bound to a
// client address would bind to the proxy, and the audit would name the
// proxy. Proxies pass the address they saw in X-Forwarded-For, each
// appending its peer's, so the list reads client, proxy 1, proxy 2, …;
// anyone may send the header, so only what trusted proxies appended can be
// believed. The client is therefore the right-most address that is not a
// trusted proxy, found walking from the peer leftwards; a peer that is not
// trusted is the client, whatever the header says.
package realip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies are the networks of the reverse proxies whose X-Forwarded-For
// is believed. The zero value trusts none.
type Proxies []netip.Prefix

// maxHops bounds the addresses of X-Forwarded-For looked at, from the
// right: no real chain of proxies is longer, and the header comes from
// anyone.
const maxHops = 32

// Parse reads a comma-separated list of networks (10.0.0.0/8) and
// addresses (192.0.2.7, 2001:db8::1), as the --trusted-proxies flags take
// it. An empty list trusts none.
func Parse(s string) (Proxies, error) {
	var ps Proxies
	for n := range strings.SplitSeq(s, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		p, err := netip.ParsePrefix(n)
		if err != nil {
			a, aerr := netip.ParseAddr(n)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%q is neither a network like 10.0.0.0/8 nor an address", n)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if p.Addr().Is4In6() {
			return nil, fmt.Errorf("%q: write IPv4 networks as IPv4, like 10.0.0.0/8", n)
		}
		ps = append(ps, p.Masked())
	}
	return ps, nil
}

// String lists the networks as Parse reads them.
func (ps Proxies) String() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func (ps Proxies) trusted(a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Client returns the client's address of a request that came from peer
// (a RemoteAddr, "host:port") with the X-Forwarded-For header lines xff.
// ok is false when the peer is not an address, which only happens with
// made-up requests; the caller then keeps what it has.
func (ps Proxies) Client(peer string, xff []string) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(peer)
	if err != nil {
		return netip.Addr{}, false
	}
	client := ap.Addr().Unmap().WithZone("")
	if !ps.trusted(client) {
		return client, true
	}
	hops := 0
	for i := len(xff) - 1; i >= 0; i-- {
		line := xff[i]
		for line != "" {
			if hops++; hops > maxHops {
				return client, true
			}
			var hop string
			if j := strings.LastIndexByte(line, ','); j >= 0 {
				line, hop = line[:j], line[j+1:]
			} else {
				line, hop = "", line
			}
			a, ok := parseHop(strings.TrimSpace(hop))
			if !ok {
				// Garbage from a trusted proxy's side of the list: the
				// last address known is the best there is.
				return client, true
			}
			client = a
			if !ps.trusted(a) {
				return client, true
			}
		}
	}
	return client, true
}

// parseHop reads one entry of X-Forwarded-For: an address, possibly with
// a port ("192.0.2.7:4711", "[2001:db8::1]:4711"), as some proxies write.
func parseHop(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}

// Handler returns h with each request's RemoteAddr set to its client's
// address (and the peer's port), so that everything downstream that reads
// RemoteAddr sees the client. With no proxies it returns h.
func (ps Proxies) Handler(h http.Handler) http.Handler {
	if len(ps) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := ps.Client(r.RemoteAddr, r.Header.Values("X-Forwarded-For"))
		if ok {
			_, port, _ := net.SplitHostPort(r.RemoteAddr)
			if addr := net.JoinHostPort(a.String(), port); addr != r.RemoteAddr {
				r2 := *r
				r2.RemoteAddr = addr
				r = &r2
			}
		}
		h.ServeHTTP(w, r)
	})
}

// Set parses s as Parse does, making *Proxies a flag.Value.
func (ps *Proxies) Set(s string) error {
	p, err := Parse(s)
	if err != nil {
		return err
	}
	*ps = p
	return nil
}

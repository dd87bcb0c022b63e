package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Policy says where the portal may send webhooks. Its zero value is the
// safe default: https only, and only to public addresses, so that a
// webhook URL cannot make the portal reach its own network (metadata
// services, databases, admin interfaces on localhost): server-side
// request forgery.
//
// The address is checked when the connection is made (Control), after
// DNS resolution, not only when the URL is saved: a name that resolved
// to a public address then may resolve to 127.0.0.1 now (DNS rebinding).
type Policy struct {
	// AllowHTTP permits http:// URLs, for tests and local networks.
	AllowHTTP bool
	// AllowPrivate permits every address, private ones included.
	AllowPrivate bool
	// Allow lists networks permitted although they are not public, such
	// as a company's 10.20.0.0/16.
	Allow []netip.Prefix
}

// blocked are the networks that are not the public internet: this host,
// private and shared networks, link-local and multicast, and reserved
// ranges. IPv4 inside IPv6 (mapped, NAT64, 6to4) is unwrapped first.
var blocked = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network", unspecified
		"10.0.0.0/8",      // private
		"100.64.0.0/10",   // shared address space (carrier-grade NAT)
		"127.0.0.0/8",     // loopback
		"169.254.0.0/16",  // link-local, cloud metadata services
		"172.16.0.0/12",   // private
		"192.0.0.0/24",    // IETF protocol assignments
		"192.168.0.0/16",  // private
		"198.18.0.0/15",   // benchmarking
		"224.0.0.0/4",     // multicast
		"240.0.0.0/4",     // reserved, broadcast
		"::/96",           // unspecified, loopback, IPv4-compatible
		"100::/64",        // discard-only
		"2001::/23",       // IETF protocol assignments (Teredo, ORCHID…)
		"fc00::/7",        // unique-local
		"fe80::/10",       // link-local
		"fec0::/10",       // site-local, deprecated
		"ff00::/8",        // multicast
		"64:ff9b:1::/48",  // local-use NAT64
		"::ffff:0:0:0/96", // IPv4-translated
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// ErrRefused wraps every refusal of an address or a URL by a Policy.
var ErrRefused = errors.New("webhook: destination refused")

// Public reports whether addr is a public unicast address, the only kind
// the default policy lets webhooks reach.
func Public(addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	addr = addr.WithZone("")
	if addr.Is4In6() {
		addr = addr.Unmap()
	}
	if addr.Is6() && nat64.Contains(addr) {
		b := addr.As16()
		addr = netip.AddrFrom4([4]byte(b[12:]))
	}
	if addr.Is6() && sixToFour.Contains(addr) {
		b := addr.As16()
		addr = netip.AddrFrom4([4]byte(b[2:6]))
	}
	if addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() ||
		addr.IsInterfaceLocalMulticast() || addr.IsMulticast() || addr.IsUnspecified() {
		return false
	}
	for _, p := range blocked {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// CheckAddr reports whether the policy lets a webhook reach addr.
func (p Policy) CheckAddr(addr netip.Addr) error {
	if p.AllowPrivate || Public(addr) {
		return nil
	}
	plain := addr.WithZone("")
	if plain.Is4In6() {
		plain = plain.Unmap()
	}
	for _, n := range p.Allow {
		if n.Contains(plain) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is not a public address (loopback, private, link-local, multicast or reserved); allow it with --webhook-allow-private or --webhook-allow-networks", ErrRefused, addr)
}

// CheckURL checks the form of a webhook URL against the policy: https (or
// http when allowed), a host, no user information; and, when the host is
// an address, that address. A host name is checked when the connection is
// made (and by Resolve, for a clear error when the URL is saved).
func (p Policy) CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" || u.Opaque != "" {
		return nil, fmt.Errorf("%w: not an absolute URL", ErrRefused)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && p.AllowHTTP:
	case u.Scheme == "http":
		return nil, fmt.Errorf("%w: the URL must use https (http is allowed only with --webhook-allow-http)", ErrRefused)
	default:
		return nil, fmt.Errorf("%w: the URL must use https", ErrRefused)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: the URL must not hold a user name or password", ErrRefused)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%w: the port must be a number from 1 to 65535", ErrRefused)
		}
	}
	host := u.Hostname()
	if addr, err := netip.ParseAddr(host); err == nil {
		if err := p.CheckAddr(addr); err != nil {
			return nil, err
		}
	} else if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") || strings.HasSuffix(strings.ToLower(strings.TrimSuffix(host, ".")), ".localhost") {
		if err := p.CheckAddr(netip.MustParseAddr("127.0.0.1")); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// Resolve looks up the URL's host and checks every address it has now,
// for a clear error when a URL is saved. A name that does not resolve
// passes: it may be set up later, and the connection is checked anyway.
func (p Policy) Resolve(ctx context.Context, u *url.URL) error {
	host := u.Hostname()
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if err := p.CheckAddr(a); err != nil {
			return fmt.Errorf("%w (the address of %s)", err, host)
		}
	}
	return nil
}

// Control is a net.Dialer Control function that refuses a connection to
// an address the policy does not allow. It runs for every address the
// dialer tries, after resolution, so no name can smuggle a private
// address past it.
func (p Policy) Control(network, address string, _ syscall.RawConn) error {
	if network != "tcp4" && network != "tcp6" && network != "tcp" {
		return fmt.Errorf("%w: network %s", ErrRefused, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot read address %q", ErrRefused, address)
	}
	return p.CheckAddr(ap.Addr())
}

// Client returns the HTTP client that sends deliveries under the policy:
// each request bounded by timeout, no proxy from the environment (a proxy
// would make the connection, past the check), no redirects (a 3xx is the
// receiver's answer, not a new destination), no keep-alive reuse across
// endpoints beyond the usual idle pool.
func (p Policy) Client(timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: p.Control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Package grant encodes and verifies grant tokens, the credential in signed
// download URLs. A token says which blob may be downloaded under which name,
// until when, by whom; it is signed with an Ed25519 key of the portal
// (purpose freight.KeyGrants) and carries the key id, so edges and third
// parties verify it offline with the public keys alone.
//
// # Token format, version 1
//
// A token is three fields joined by '.':
//
//	<kid> "." <payload> "." <signature>
//
// where:
//   - kid is the key id, 1 to 32 characters of [A-Za-z0-9_-];
//   - payload is the claims as JSON, base64url-encoded (RFC 4648 §5)
//     without padding;
//   - signature is the 64-byte Ed25519 signature (RFC 8032, pure Ed25519),
//     base64url without padding: always 86 characters.
//
// The whole token is at most 2048 bytes (MaxTokenLen) and uses only the
// characters [A-Za-z0-9_.-], so it is safe in a URL path segment or query
// parameter without escaping.
//
// The signature is made over the ASCII bytes
//
//	"freight-grant-v1." <kid> "." <payload>
//
// that is, the token up to (excluding) its second '.', prefixed with
// "freight-grant-v1.". The prefix separates domains: a signature made for
// another kind of document (a license file, another version of this format)
// over the same key never verifies as a grant. The kid is signed too, so a
// token cannot be moved to another key id.
//
// The payload, decoded, is a JSON object with these members, in this order,
// with no whitespace:
//
//	{"g":"<grant id>","a":"<artifact id>","d":"<sha256 hex>","s":<size>,"f":"<filename>","sb":<start by>,"ru":<resume until>,"bb":<byte budget>,"ip":"<address>"}
//
// where:
//   - g is the grant id, "grt_" and 26 characters of
//     0123456789abcdefghjkmnpqrstvwxyz;
//   - a is the artifact id, "art_" and 26 characters of the same alphabet;
//   - d is the SHA-256 of the blob, 64 lower-case hexadecimal digits;
//   - s is the size of the blob in bytes;
//   - f is the file name: 1 to 255 characters of [A-Za-z0-9._+-], the first
//     a letter or digit;
//   - sb is a Unix time in seconds: a new download must begin before it;
//   - ru is a Unix time in seconds: every request, ranged or not, must come
//     before it;
//   - bb is the byte budget of the grant (enforced by the portal, not by the
//     token);
//   - ip is present only when the grant is bound to a client address: the
//     address in canonical text form (IPv4 dotted decimal; IPv6 as in RFC
//     5952, never an IPv4-mapped IPv6 address, never with a zone).
//
// Integers are written in plain decimal, without sign, leading zeros,
// fraction or exponent. Rules: 0 <= s <= bb, 0 < sb <= ru, and every integer
// is at most 2^53-1 so that verifiers whose numbers are doubles read them
// exactly. None of the strings can need escaping.
//
// A verifier MUST, in this order: check the length and the three fields
// (exactly two '.'); decode both base64url fields strictly (no padding, no
// other characters, zero trailing bits); look up the kid among the keys it
// trusts for grants; verify the signature; and only then parse the payload.
// It MUST reject a payload with an unknown or duplicate member. Freight's
// verifier goes further and accepts only the exact encoding above: after
// parsing, it re-encodes the claims and compares bytes, so every valid
// claim set has exactly one payload and no JSON parser differences
// (duplicates, escapes, number forms, case-insensitive member names) can
// change what a token means. Ed25519 verification must reject a
// non-canonical S (s >= L), as Go's crypto/ed25519 does, so that the
// signature itself is not malleable either.
//
// Then the verifier applies the request rules of Claims.Check.
//
// # Errors
//
// Parse and Check refuse with a *freight.Error of code EFORBIDDEN and one
// of these messages, safe to show: "malformed token", "unknown key", "bad
// signature", "download window closed", "link expired", "wrong client
// address", "wrong file name". The detail, for logs, is in the error's Err.
// A KeyFunc that fails for another reason than ENOTFOUND (the store is
// down) makes Parse return that error, not a refusal.
package grant

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/freight-portal/freight"
)

// MaxTokenLen is the greatest length of a token in bytes.
const MaxTokenLen = 2048

// Domain prefixes the signed message of version 1 tokens.
const Domain = "freight-grant-v1."

const (
	maxKeyIDLen = 32
	sigLen      = 86        // base64url characters of a 64-byte signature
	maxInt      = 1<<53 - 1 // the greatest integer a double holds exactly
	maxFilename = 255       // as freight.Artifact
	ipMember    = `,"ip":"` // the optional member
)

var b64 = base64.RawURLEncoding.Strict()

// Claims are what a grant token says.
type Claims struct {
	GrantID     string `json:"g"`
	ArtifactID  string `json:"a"`
	Digest      string `json:"d"` // sha256 hex of the blob
	Size        int64  `json:"s"`
	Filename    string `json:"f"`
	StartBy     int64  `json:"sb"` // unix seconds: a new download must begin before
	ResumeUntil int64  `json:"ru"` // unix seconds: ranged requests are honoured before
	ByteBudget  int64  `json:"bb"`
	IP          string `json:"ip,omitempty"` // when set, only this client IP may use the token
}

// ClaimsOf returns the claims of a grant. Times are rounded down to whole
// seconds, which ends the windows early rather than late. IP is set only
// when the grant binds downloads to its address, in canonical form (an
// IPv4-mapped IPv6 address becomes IPv4, a zone is dropped); an address
// that does not parse is kept as it is, and Encode refuses it.
func ClaimsOf(g *freight.Grant) Claims {
	if g == nil {
		return Claims{}
	}
	c := Claims{
		GrantID:     g.ID,
		ArtifactID:  g.ArtifactID,
		Digest:      g.Digest,
		Size:        g.Size,
		Filename:    g.Filename,
		StartBy:     g.StartBy.Unix(),
		ResumeUntil: g.ResumeUntil.Unix(),
		ByteBudget:  g.ByteBudget,
	}
	if g.BindIP {
		c.IP = g.IP
		if a, err := netip.ParseAddr(g.IP); err == nil {
			c.IP = a.WithZone("").Unmap().String()
		}
	}
	return c
}

// Signer signs a message that contains the id of the key that signs it.
// SignKeyed picks the key, calls build with its id, and returns the id and
// the Ed25519 signature of what build returned. (*signing.Keyring)
// satisfies it.
type Signer interface {
	SignKeyed(ctx context.Context, build func(kid string) []byte) (kid string, sig []byte, err error)
}

// KeyFunc returns the Ed25519 public key of a key id that may verify
// grants now, or an error with code ENOTFOUND. (*signing.Keyring).PublicKey
// satisfies it.
type KeyFunc func(ctx context.Context, kid string) (ed25519.PublicKey, error)

// Encode returns the token of c signed by s. Claims that Parse would refuse
// are a bug of the caller, reported as EINTERNAL; so is a Signer that
// returns a malformed key id or signature.
func Encode(ctx context.Context, s Signer, c Claims) (string, error) {
	if err := c.validate(); err != nil {
		return "", freight.Internal(fmt.Errorf("grant: encode: %w", err))
	}
	payload := c.appendJSON(make([]byte, 0, 320))
	p64 := b64.EncodeToString(payload)

	var signedKid string
	kid, sig, err := s.SignKeyed(ctx, func(kid string) []byte {
		signedKid = kid
		return signedMessage(nil, kid, p64)
	})
	if err != nil {
		if _, ok := errors.AsType[*freight.Error](err); ok {
			return "", err
		}
		return "", freight.Internal(err)
	}
	switch {
	case kid != signedKid:
		return "", freight.Internal(fmt.Errorf("grant: signer returned key id %q but signed for %q", kid, signedKid))
	case !validKeyID(kid):
		return "", freight.Internal(fmt.Errorf("grant: signer returned a malformed key id %q", kid))
	case len(sig) != ed25519.SignatureSize:
		return "", freight.Internal(fmt.Errorf("grant: signer returned a %d-byte signature", len(sig)))
	}
	var sb strings.Builder
	sb.Grow(len(kid) + 1 + len(p64) + 1 + sigLen)
	sb.WriteString(kid)
	sb.WriteByte('.')
	sb.WriteString(p64)
	sb.WriteByte('.')
	var s64 [sigLen]byte
	b64.Encode(s64[:], sig)
	sb.Write(s64[:])
	if sb.Len() > MaxTokenLen {
		return "", freight.Internal(fmt.Errorf("grant: token of %d bytes exceeds %d", sb.Len(), MaxTokenLen))
	}
	return sb.String(), nil
}

// Parse checks the token's shape and signature and returns its claims. It
// does not check times, address or file name: see Check. Refusals are
// EFORBIDDEN (see the package doc); an error of key other than ENOTFOUND is
// returned as it is.
func Parse(ctx context.Context, token string, key KeyFunc) (Claims, error) {
	if len(token) > MaxTokenLen {
		return Claims{}, malformed("token of %d bytes exceeds %d", len(token), MaxTokenLen)
	}
	i := strings.IndexByte(token, '.')
	j := strings.LastIndexByte(token, '.')
	if i < 0 || i == j {
		return Claims{}, malformed("not three fields")
	}
	kid, p64, s64 := token[:i], token[i+1:j], token[j+1:]
	if !validKeyID(kid) {
		return Claims{}, malformed("malformed key id")
	}
	// The alphabet check also rejects a third '.', and the CR and LF that
	// the base64 decoder would skip.
	if !isBase64URL(p64) || !isBase64URL(s64) {
		return Claims{}, malformed("characters outside base64url")
	}
	if len(s64) != sigLen {
		return Claims{}, malformed("signature of %d characters", len(s64))
	}
	var sig [ed25519.SignatureSize]byte
	if n, err := b64.Decode(sig[:], []byte(s64)); err != nil || n != len(sig) {
		return Claims{}, malformed("signature is not strict base64url")
	}
	payload, err := b64.DecodeString(p64)
	if err != nil || len(payload) == 0 {
		return Claims{}, malformed("payload is not strict base64url")
	}

	pub, err := key(ctx, kid)
	if err != nil {
		if freight.ErrorCode(err) == freight.ENOTFOUND {
			return Claims{}, refuse("unknown key", err)
		}
		if _, ok := errors.AsType[*freight.Error](err); ok {
			return Claims{}, err
		}
		return Claims{}, freight.Internal(err)
	}
	if len(pub) != ed25519.PublicKeySize {
		// ed25519.Verify would panic.
		return Claims{}, freight.Internal(fmt.Errorf("grant: key function returned a %d-byte key for %q", len(pub), kid))
	}
	if !ed25519.Verify(pub, signedMessage(make([]byte, 0, len(Domain)+j), kid, p64), sig[:]) {
		return Claims{}, refuse("bad signature", nil)
	}

	// Authenticated from here: only a holder of the private key made these
	// bytes. Still, accept only what Encode makes.
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Claims{}, malformed("payload: %v", err)
	}
	if err := c.validate(); err != nil {
		return Claims{}, malformed("claims: %v", err)
	}
	if !bytes.Equal(c.appendJSON(make([]byte, 0, len(payload))), payload) {
		return Claims{}, malformed("payload is not in canonical form")
	}
	return c, nil
}

// Check applies the request rules to verified claims, at time now, for a
// request from clientIP (an address without port; an IPv4-mapped IPv6
// address equals its IPv4 address, a zone is ignored) for the file name of
// the URL. isStart is true for a request that begins a download: see
// IsStart. In order:
//   - filename must equal Filename ("wrong file name");
//   - now must be before ResumeUntil ("link expired");
//   - a start must come before StartBy ("download window closed");
//   - if IP is set, clientIP must be that address ("wrong client address").
//
// Times compare to the second boundary: at the instant StartBy a new
// download is refused, and at ResumeUntil every request is.
func (c Claims) Check(now time.Time, isStart bool, clientIP, filename string) error {
	if filename != c.Filename {
		return refuse("wrong file name", nil)
	}
	// Unix rounds down, so now.Unix() >= t exactly when now is not before
	// the second t.
	if now.Unix() >= c.ResumeUntil {
		return refuse("link expired", nil)
	}
	if isStart && now.Unix() >= c.StartBy {
		return refuse("download window closed", nil)
	}
	if c.IP != "" {
		want, err := netip.ParseAddr(c.IP)
		if err != nil {
			return refuse("wrong client address", fmt.Errorf("grant: bound address %q: %w", c.IP, err))
		}
		got, err := netip.ParseAddr(clientIP)
		if err != nil || got.WithZone("").Unmap() != want.WithZone("").Unmap() {
			return refuse("wrong client address", nil)
		}
	}
	return nil
}

// IsStart reports whether a request with the Range header value rng (""
// when there is none) on a file of size bytes begins a download, as
// opposed to resuming one: no Range; a range set with a range that starts
// at byte 0 ("bytes=0-", "bytes=0-0", "bytes=500-999,0-99"); a suffix range
// that covers the whole file ("bytes=-N" with N >= size); or a Range that
// does not parse, since servers answer that with the whole file or an
// error, never with a resumption. A server that ignores a valid Range (an
// If-Range that does not match) serves the whole file and must pass "".
func IsStart(rng string, size int64) bool {
	if rng == "" {
		return true
	}
	unit, set, ok := strings.Cut(rng, "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return true
	}
	start, seen := false, false
	for spec := range strings.SplitSeq(set, ",") {
		spec = strings.Trim(spec, " \t")
		if spec == "" {
			continue // RFC 9110 allows empty list elements
		}
		first, last, ok := strings.Cut(spec, "-")
		if !ok {
			return true
		}
		if first == "" { // suffix range
			if !digits(last) {
				return true
			}
			n, err := strconv.ParseInt(last, 10, 64)
			if err != nil {
				return true
			}
			if n >= size {
				start = true
			}
		} else {
			if !digits(first) {
				return true
			}
			f, err := strconv.ParseInt(first, 10, 64)
			if err != nil {
				return true
			}
			if last != "" {
				if !digits(last) {
					return true
				}
				l, err := strconv.ParseInt(last, 10, 64)
				if err != nil || l < f {
					return true
				}
			}
			if f == 0 {
				start = true
			}
		}
		seen = true
	}
	return start || !seen
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// signedMessage appends Domain, kid, '.' and p64 to dst.
func signedMessage(dst []byte, kid, p64 string) []byte {
	dst = append(dst, Domain...)
	dst = append(dst, kid...)
	dst = append(dst, '.')
	return append(dst, p64...)
}

// appendJSON appends the canonical payload of c, which must be valid: no
// string of valid claims needs escaping.
func (c *Claims) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"g":"`...)
	dst = append(dst, c.GrantID...)
	dst = append(dst, `","a":"`...)
	dst = append(dst, c.ArtifactID...)
	dst = append(dst, `","d":"`...)
	dst = append(dst, c.Digest...)
	dst = append(dst, `","s":`...)
	dst = strconv.AppendInt(dst, c.Size, 10)
	dst = append(dst, `,"f":"`...)
	dst = append(dst, c.Filename...)
	dst = append(dst, `","sb":`...)
	dst = strconv.AppendInt(dst, c.StartBy, 10)
	dst = append(dst, `,"ru":`...)
	dst = strconv.AppendInt(dst, c.ResumeUntil, 10)
	dst = append(dst, `,"bb":`...)
	dst = strconv.AppendInt(dst, c.ByteBudget, 10)
	if c.IP != "" {
		dst = append(dst, ipMember...)
		dst = append(dst, c.IP...)
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// validate checks the rules of the package doc.
func (c *Claims) validate() error {
	switch {
	case !freight.ValidID(freight.PrefixGrant, c.GrantID):
		return errors.New("g: not a grant id")
	case !freight.ValidID(freight.PrefixArtifact, c.ArtifactID):
		return errors.New("a: not an artifact id")
	case !freight.ValidDigest(c.Digest):
		return errors.New("d: not a sha256 digest")
	case c.Size < 0 || c.Size > maxInt:
		return errors.New("s: out of range")
	case !validFilename(c.Filename):
		return errors.New("f: not a plain file name")
	case c.StartBy <= 0 || c.StartBy > maxInt:
		return errors.New("sb: out of range")
	case c.ResumeUntil < c.StartBy || c.ResumeUntil > maxInt:
		return errors.New("ru: before sb or out of range")
	case c.ByteBudget < c.Size || c.ByteBudget > maxInt:
		return errors.New("bb: below s or out of range")
	}
	if c.IP != "" {
		a, err := netip.ParseAddr(c.IP)
		if err != nil || a.Zone() != "" || a.Is4In6() || a.String() != c.IP {
			return errors.New("ip: not a canonical address")
		}
	}
	return nil
}

// validFilename matches freight's artifact file names:
// ^[A-Za-z0-9][A-Za-z0-9._+-]{0,254}$.
func validFilename(s string) bool {
	if len(s) == 0 || len(s) > maxFilename || !alnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !alnum(c) && c != '.' && c != '_' && c != '+' && c != '-' {
			return false
		}
	}
	return true
}

// validKeyID reports whether s is 1 to 32 characters of [A-Za-z0-9_-].
func validKeyID(s string) bool {
	return len(s) > 0 && len(s) <= maxKeyIDLen && isBase64URL(s)
}

// isBase64URL reports whether s is non-empty and made of [A-Za-z0-9_-].
func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !alnum(c) && c != '-' && c != '_' {
			return false
		}
	}
	return s != ""
}

func alnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func refuse(msg string, err error) *freight.Error {
	return &freight.Error{Code: freight.EFORBIDDEN, Message: msg, Err: err}
}

func malformed(format string, args ...any) *freight.Error {
	return refuse("malformed token", fmt.Errorf("grant: "+format, args...))
}

package freight

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"time"
)

// ID prefixes name the type of an identifier, so that an id pasted in the
// wrong place is rejected with a clear message instead of a silent miss.
const (
	PrefixOrganization = "org"
	PrefixUser         = "usr"
	PrefixProduct      = "prd"
	PrefixRelease      = "rel"
	PrefixArtifact     = "art"
	PrefixEntitlement  = "ent"
	PrefixToken        = "tok"
	PrefixAudit        = "evt"
	PrefixUpload       = "upl"
	PrefixGrant        = "grt"
	PrefixDownload     = "dl"
	PrefixLicense      = "lic"
	PrefixSession      = "ses"
	PrefixTicket       = "tkt"
	PrefixEdge         = "edg"
)

// crockford is Crockford's base32 alphabet in lower case: no i, l, o or u,
// so ids survive being read aloud and typed by hand.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// NewID returns a new identifier "prefix_" followed by 26 characters: 48 bits
// of milliseconds since the Unix epoch and 80 random bits, base32 encoded.
// Ids of one type sort by creation time, which keyset pagination relies on;
// the random part makes them unguessable.
func NewID(prefix string, now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	var sb strings.Builder
	sb.Grow(len(prefix) + 1 + 26)
	sb.WriteString(prefix)
	sb.WriteByte('_')
	// 128 bits as 26 base32 digits: the first digit carries the top 3 bits.
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	sb.Write(out[:])
	return sb.String()
}

// ValidID reports whether s has the shape of an id with the given prefix.
func ValidID(prefix, s string) bool {
	if len(s) != len(prefix)+1+26 || !strings.HasPrefix(s, prefix+"_") {
		return false
	}
	for _, c := range s[len(prefix)+1:] {
		if !strings.ContainsRune(crockford, c) {
			return false
		}
	}
	return true
}

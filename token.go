package freight

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"
	"time"
)

// Token is a bearer API credential. The secret is shown once, at creation;
// only its SHA-256 is stored. A token acts with its own role, which for an
// organization role is bound to one organization.
type Token struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	UserID string `json:"user_id,omitempty"` // empty for a service account
	Role   Role   `json:"role"`
	OrgID  string `json:"org_id,omitempty"` // set exactly when Role is an organization role
	// Products narrows a publisher token to the products with these ids:
	// a CI pipeline's service account publishes one product, not all.
	// Empty means every product.
	Products   []string   `json:"products,omitempty"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	// TicketID names the command-line sign-in code (a ticket of kind
	// cli) the token was issued for, if any: should the code be presented
	// again, it leaked, and this token is revoked.
	TicketID string `json:"-"`

	// SecretHash is SHA-256 of the secret part. The secret has 256 bits of
	// entropy, so a slow password hash would add nothing but latency.
	SecretHash []byte `json:"-"`
}

// Validate checks the fields a caller sets.
func (t *Token) Validate() error {
	if err := validateName("name", t.Name); err != nil {
		return err
	}
	if !t.Role.Valid() {
		return FieldError("role", "must be one of admin, publisher, support, org-admin, member")
	}
	if t.Role.IsOrg() && t.OrgID == "" {
		return FieldError("org_id", "is required for the role %s", t.Role)
	}
	if t.Role.IsVendor() && t.OrgID != "" {
		return FieldError("org_id", "must be empty for the vendor role %s", t.Role)
	}
	if len(t.Products) > 0 && t.Role != RolePublisher {
		return FieldError("products", "narrows publisher tokens only")
	}
	if len(t.Products) > 100 {
		return FieldError("products", "must name at most 100 products")
	}
	for _, id := range t.Products {
		if !ValidID(PrefixProduct, id) {
			return FieldError("products", "must hold product ids")
		}
	}
	return nil
}

// Active reports whether t may authenticate at time now.
func (t *Token) Active(now time.Time) bool {
	return t.RevokedAt == nil && (t.ExpiresAt == nil || now.Before(*t.ExpiresAt))
}

// TokenTouchInterval is how stale a token's recorded last use may get: a
// busy CI token authenticates many times a second, and the last-used time
// is for people deciding which tokens are dead, so a use is recorded at
// most this often.
const TokenTouchInterval = time.Minute

// Secret prefixes mark Freight secrets so that secret scanners and people
// recognise a leaked one: API tokens, session cookies and the single-use
// links of tickets each have their own.
const (
	tokenPrefix   = "frt_"
	sessionPrefix = "frs_"
	ticketPrefix  = "frl_"
)

// NewTokenSecret returns a new token id and its bearer secret. The secret
// reads "frt_<id>_<random>": the id lets the server find the token with an
// index lookup and then compare hashes in constant time.
func NewTokenSecret(now time.Time) (id, secret string, hash []byte) {
	return newSecret(tokenPrefix, PrefixToken, now)
}

// ParseTokenSecret splits a bearer secret into the token id and the hash of
// its random part. It reports false for anything that is not shaped like a
// Freight token.
func ParseTokenSecret(secret string) (id string, hash []byte, ok bool) {
	return parseSecret(tokenPrefix, PrefixToken, secret)
}

// newSecret returns a new id with the given id prefix and a secret
// "<marker><id>_<random>" holding 256 random bits, with the SHA-256 of the
// random part, which is all that is stored. The random part is so long that
// a slow password hash would add nothing but latency.
func newSecret(marker, idPrefix string, now time.Time) (id, secret string, hash []byte) {
	id = NewID(idPrefix, now)
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	random := base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(random))
	return id, marker + id + "_" + random, sum[:]
}

// parseSecret is the inverse of newSecret: it checks the shape strictly and
// returns the id and the hash of the random part.
func parseSecret(marker, idPrefix, secret string) (id string, hash []byte, ok bool) {
	rest, found := strings.CutPrefix(secret, marker)
	if !found || len(rest) > 128 {
		return "", nil, false
	}
	// The id contains an underscore itself ("tok_…"), so split at its end.
	n := len(idPrefix) + 1 + 26
	if len(rest) < n+2 || rest[n] != '_' {
		return "", nil, false
	}
	id, random := rest[:n], rest[n+1:]
	if !ValidID(idPrefix, id) || len(random) != 43 {
		return "", nil, false
	}
	// Check the alphabet by hand: the base64 decoder skips line breaks, so
	// it alone would accept a secret with a newline in it.
	for i := 0; i < len(random); i++ {
		c := random[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "", nil, false
		}
	}
	sum := sha256.Sum256([]byte(random))
	return id, sum[:], true
}

// MatchSecretHash compares two secret hashes in constant time.
func MatchSecretHash(a, b []byte) bool {
	return len(a) > 0 && len(a) == len(b) && subtle.ConstantTimeCompare(a, b) == 1
}

// IssueToken gives t a fresh id and secret, stores it, and returns the
// secret, which exists nowhere else afterwards.
func IssueToken(ctx context.Context, st Store, t *Token, now time.Time) (string, error) {
	if err := t.Validate(); err != nil {
		return "", err
	}
	id, secret, hash := NewTokenSecret(now)
	t.ID, t.SecretHash = id, hash
	if err := st.CreateToken(ctx, t); err != nil {
		return "", err
	}
	return secret, nil
}

package oidc

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"sync"

	"github.com/freight-portal/freight"
)

// KeySize is the size of Options.Key.
const KeySize = 32

// flowState is what the browser carries, sealed, between Start and Finish:
// the secrets that bind the provider's answer to this browser.
type flowState struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"` // PKCE code verifier
	ReturnTo string `json:"r"`
	Expires  int64  `json:"e"` // Unix seconds
}

// Cookie format, version 1:
//
//	base64url-nopad( 0x01 || nonce[12] || AES-256-GCM(key, nonce, json(flowState), aad) )
//	aad = "freight-oidc-flow-v1" 0x00 <provider name> 0x00 0x01
//
// The provider name in the additional data makes a cookie sealed for one
// provider useless at another even if its name were changed.
const (
	cookieVersion  = 1
	maxCookieValue = 3072 // well below the 4096 bytes browsers keep per cookie
	maxReturnTo    = 1024
	secretMin      = 22 // shortest state, nonce or verifier accepted: 128 bits
	secretMax      = 128
)

var (
	errNoCookie = errors.New("no flow cookie")
	errGarbled  = errors.New("flow cookie does not open")
	errExpired  = errors.New("flow cookie expired")
)

type sealer struct{ aead cipher.AEAD }

// newSealer derives the cookie key from key with HKDF, so that the same
// secret may serve other purposes of the portal without reuse of one AES key.
func newSealer(key []byte) (*sealer, error) {
	if len(key) != KeySize {
		return nil, freight.FieldError("key", "must be %d bytes", KeySize)
	}
	k, err := hkdf.Key(sha256.New, key, nil, "freight oidc flow cookie v1", 32)
	if err != nil {
		return nil, freight.Internal(err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, freight.Internal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, freight.Internal(err)
	}
	return &sealer{aead: aead}, nil
}

func additionalData(provider string) []byte {
	return []byte("freight-oidc-flow-v1\x00" + provider + "\x00\x01")
}

func (s *sealer) seal(f flowState) (string, error) {
	plain, err := json.Marshal(f)
	if err != nil {
		return "", freight.Internal(err)
	}
	buf := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	buf[0] = cookieVersion
	if _, err := rand.Read(buf[1:]); err != nil {
		return "", freight.Internal(err)
	}
	buf = s.aead.Seal(buf, buf[1:], plain, additionalData(f.Provider))
	v := base64.RawURLEncoding.EncodeToString(buf)
	if len(v) > maxCookieValue {
		return "", freight.Internal(errors.New("oidc flow cookie too long"))
	}
	return v, nil
}

// open decodes and checks a cookie value sealed for provider. It returns
// errNoCookie, errGarbled or errExpired; no error tells more than that.
func (s *sealer) open(value, provider string, now int64) (flowState, error) {
	var f flowState
	if value == "" {
		return f, errNoCookie
	}
	if len(value) > maxCookieValue {
		return f, errGarbled
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(value)
	ns := s.aead.NonceSize()
	if err != nil || len(raw) < 1+ns+s.aead.Overhead() || raw[0] != cookieVersion {
		return f, errGarbled
	}
	plain, err := s.aead.Open(nil, raw[1:1+ns], raw[1+ns:], additionalData(provider))
	if err != nil {
		return f, errGarbled
	}
	if err := json.Unmarshal(plain, &f); err != nil {
		return flowState{}, errGarbled
	}
	// The cookie is authenticated, so these checks catch only our own
	// mistakes or a key shared with something else; they are cheap.
	if f.Provider != provider || !validSecret(f.State) || !validSecret(f.Nonce) || !validSecret(f.Verifier) {
		return flowState{}, errGarbled
	}
	if _, err := CheckReturnTo(f.ReturnTo); err != nil || f.ReturnTo == "" {
		return flowState{}, errGarbled
	}
	if now >= f.Expires {
		return flowState{}, errExpired
	}
	return f, nil
}

func validSecret(s string) bool {
	if len(s) < secretMin || len(s) > secretMax {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}

// randomSecret returns 256 random bits, base64url: a state or nonce.
func randomSecret() string {
	var b [32]byte
	rand.Read(b[:]) // never fails: crypto/rand panics rather than return short
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// usedStates remembers the states of finished flows until their cookies
// expire, so that a copied cookie cannot be replayed at this process. Other
// replicas do not share it; there the provider's refusal to redeem a code
// twice is the defence.
type usedStates struct {
	mu        sync.Mutex
	m         map[string]int64 // state -> expiry, Unix seconds
	nextPrune int
}

// use records state and reports whether it was new.
func (u *usedStates) use(state string, expires, now int64) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = map[string]int64{}
	}
	if len(u.m) >= u.nextPrune {
		for k, exp := range u.m {
			if exp <= now {
				delete(u.m, k)
			}
		}
		u.nextPrune = max(1024, 2*len(u.m))
	}
	if _, ok := u.m[state]; ok {
		return false
	}
	u.m[state] = expires
	return true
}

// CheckReturnTo checks a path to go to after sign-in and returns it, "/"
// for the empty string. Only a local absolute path is accepted: it starts
// with a single '/', has no scheme, host, backslash, whitespace, control
// or non-ASCII character, and is at most 1024 bytes. Anything else could
// send the user to another site after signing in (an open redirect);
// browsers read "//host" and "/\host" as other hosts. The error is an
// EINVALID *freight.Error on field return_to.
func CheckReturnTo(s string) (string, error) {
	if s == "" {
		return "/", nil
	}
	bad := freight.FieldError("return_to", "must be a local path starting with a single /")
	if len(s) > maxReturnTo {
		return "", freight.FieldError("return_to", "must be at most %d bytes", maxReturnTo)
	}
	if s[0] != '/' || len(s) > 1 && (s[1] == '/' || s[1] == '\\') {
		return "", bad
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; b <= ' ' || b >= 0x7f || b == '\\' {
			return "", bad
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "", bad
	}
	return s, nil
}

// Package seal encrypts the secrets Freight must keep usable, so that the
// metadata database holds them only sealed: the private signing keys of
// download URLs and license files, TOTP secrets, webhook signing secrets
// and upload URL keys. Passwords and tokens are hashed instead; what cannot
// be hashed is sealed, with keys the database does not hold. A leaked
// backup or a read-only SQL injection then yields nothing usable.
//
// A sealed value is ASCII, so that it fits text columns as well as binary
// ones:
//
//	v1:<key id>:<base64url without padding of nonce[12] || ciphertext || tag[16]>
//
// The cipher is AES-256-GCM with a random 96-bit nonce per value, keyed
// with a key derived (HKDF-SHA-256) from the configured key. The additional
// data binds the version, the key id and a context the caller names, such
// as the table, column and row of the value: a sealed value copied to
// another row or column does not open.
//
// Keys come as lines "keyid:base64key" (32 bytes of key), newest last. The
// newest key seals; every key opens what it sealed, so a new key is added
// at the end, values are sealed again with it, and only then is the old
// one removed.
//
// AES-GCM with random nonces stays safe for about 2^32 values sealed with
// one key; rotating the key long before then costs nothing.
package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// KeySize is the size of a key in bytes: AES-256.
const KeySize = 32

const (
	prefix    = "v1:"
	nonceSize = 12
	tagSize   = 16
	// MaxKeyID bounds a key id, which every sealed value repeats.
	MaxKeyID = 32
	// maxSealed bounds the length of a sealed value that is looked at: the
	// secrets sealed are small, and a value comes from the database.
	maxSealed = 64 << 10
	// maxKeys bounds the keys of a key file.
	maxKeys = 256
)

// ErrMalformed is returned by Open for a value that is not a sealed value.
var ErrMalformed = errors.New("seal: not a sealed value")

// ErrNotOpened is returned by Open for a well-formed value that does not
// open with the key it names.
var ErrNotOpened = errors.New("seal: the sealed value does not open: it was altered, copied from another row or column, " +
	"or sealed with another key of the same id")

// UnknownKeyError is returned by Open for a value sealed with a key that is
// not configured.
type UnknownKeyError struct {
	ID    string   // the key that sealed the value
	Known []string // the keys configured, oldest first
}

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("seal: sealed with key %q, which is not configured (the configured keys are %s)", e.ID, quoteAll(e.Known))
}

func quoteAll(ids []string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = fmt.Sprintf("%q", id)
	}
	return strings.Join(q, ", ")
}

// Keys seals with the newest of its keys and opens with any of them. It is
// safe for concurrent use.
type Keys struct {
	ids   []string // oldest first: the last one seals
	aeads map[string]cipher.AEAD
}

// Key is one key: its id and its 32 bytes.
type Key struct {
	ID     string
	Secret []byte
}

// New returns keys that seal with the last of keys and open with any.
func New(keys ...Key) (*Keys, error) {
	k, err := newKeys(keys)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return k, nil
}

func newKeys(keys []Key) (*Keys, error) {
	if len(keys) == 0 {
		return nil, errors.New("no key")
	}
	if len(keys) > maxKeys {
		return nil, fmt.Errorf("%d keys, at most %d", len(keys), maxKeys)
	}
	k := &Keys{aeads: make(map[string]cipher.AEAD, len(keys))}
	for _, key := range keys {
		if !ValidKeyID(key.ID) {
			return nil, errBadKeyID
		}
		if _, dup := k.aeads[key.ID]; dup {
			return nil, fmt.Errorf("key id %q appears twice", key.ID)
		}
		if len(key.Secret) != KeySize {
			return nil, fmt.Errorf("key %q has %d bytes, want %d", key.ID, len(key.Secret), KeySize)
		}
		aead, err := newAEAD(key.Secret)
		if err != nil {
			return nil, err
		}
		k.ids = append(k.ids, key.ID)
		k.aeads[key.ID] = aead
	}
	return k, nil
}

var errBadKeyID = fmt.Errorf("a key id must be 1 to %d letters, digits, '.', '_' or '-'", MaxKeyID)

// newAEAD derives the sealing key from secret, so that the configured key
// could serve another purpose without one AES key doing two jobs.
func newAEAD(secret []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, secret, nil, "freight secrets at rest v1", 32)
	if err != nil {
		return nil, fmt.Errorf("derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// ValidKeyID reports whether id can name a key: 1 to 32 ASCII letters,
// digits, '.', '_' or '-'.
func ValidKeyID(id string) bool {
	if id == "" || len(id) > MaxKeyID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Current returns the id of the key that seals.
func (k *Keys) Current() string { return k.ids[len(k.ids)-1] }

// IDs returns the ids of the keys, oldest first.
func (k *Keys) IDs() []string { return slices.Clone(k.ids) }

// additionalData binds a value to its version, its key and its context.
func additionalData(keyID, context string) []byte {
	return []byte("freight-seal-v1\x00" + keyID + "\x00" + context)
}

// Seal seals plain with the newest key for the given context, which Open
// must be given again.
func (k *Keys) Seal(plain []byte, context string) []byte {
	id := k.Current()
	aead := k.aeads[id]
	raw := make([]byte, nonceSize, nonceSize+len(plain)+tagSize)
	rand.Read(raw) // never fails on supported platforms
	raw = aead.Seal(raw, raw[:nonceSize], plain, additionalData(id, context))
	out := make([]byte, 0, len(prefix)+len(id)+1+base64.RawURLEncoding.EncodedLen(len(raw)))
	out = append(out, prefix...)
	out = append(out, id...)
	out = append(out, ':')
	return base64.RawURLEncoding.AppendEncode(out, raw)
}

// Open opens a value sealed for context. Its errors are ErrMalformed,
// ErrNotOpened and *UnknownKeyError; none of them quotes the value.
func (k *Keys) Open(sealed []byte, context string) ([]byte, error) {
	id, raw, err := parse(sealed)
	if err != nil {
		return nil, err
	}
	aead, ok := k.aeads[id]
	if !ok {
		return nil, &UnknownKeyError{ID: id, Known: k.IDs()}
	}
	plain, err := aead.Open(nil, raw[:nonceSize], raw[nonceSize:], additionalData(id, context))
	if err != nil {
		return nil, ErrNotOpened
	}
	if plain == nil {
		plain = []byte{}
	}
	return plain, nil
}

// IsSealed reports whether b is a well-formed sealed value. A value that
// is not may be one stored before sealing began.
func IsSealed(b []byte) bool {
	_, _, err := parse(b)
	return err == nil
}

// KeyID returns the id of the key that sealed b.
func KeyID(b []byte) (string, error) {
	id, _, err := parse(b)
	return id, err
}

// Prefix returns how every value sealed with the key id begins, for
// queries that look for values sealed with another key.
func Prefix(keyID string) string { return prefix + keyID + ":" }

// parse splits a sealed value into its key id and its nonce, ciphertext
// and tag.
func parse(b []byte) (id string, raw []byte, err error) {
	if len(b) > maxSealed {
		return "", nil, ErrMalformed
	}
	rest, ok := bytes.CutPrefix(b, []byte(prefix))
	if !ok {
		return "", nil, ErrMalformed
	}
	idb, body, ok := bytes.Cut(rest, []byte{':'})
	if !ok || !ValidKeyID(string(idb)) {
		return "", nil, ErrMalformed
	}
	raw, err = base64.RawURLEncoding.Strict().AppendDecode(nil, body)
	// The decoder skips line breaks; a value has one spelling only.
	if err != nil || len(raw) < nonceSize+tagSize || base64.RawURLEncoding.EncodedLen(len(raw)) != len(body) {
		return "", nil, ErrMalformed
	}
	return string(idb), raw, nil
}

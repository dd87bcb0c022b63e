// Package signing keeps the Ed25519 keys of the portal in the metadata store
// and signs and verifies with them. One Keyring serves one purpose
// (freight.KeyGrants, freight.KeyLicenses, ...): keys of another purpose are
// invisible to it, so a key id taken from one kind of document never finds a
// key of another kind.
//
// Lifecycle: the newest key that is not retired signs; every key that is not
// retired verifies. Rotate adds a key, which signs from then on, while
// documents signed with older keys keep verifying. Retire ends a key: what
// it signed stops verifying. The current key cannot be retired (rotate
// first), so a keyring always has a key to sign with.
//
// Caching: a Keyring reads the keys from the store at most every 30 seconds
// (RefreshInterval), and when asked for a key id it does not know at most
// once per second (MissInterval), so that forged key ids cannot hammer the
// database. Consequences for operators with several replicas:
//   - after Rotate, other replicas keep signing with the previous key for up
//     to 30 seconds (those documents verify, the previous key is not
//     retired);
//   - after Retire, other replicas keep verifying, and may still sign with,
//     the retired key for up to 30 seconds. Retire a key in an emergency
//     when it leaked; in routine rotation, retire it only once every
//     document it signed has expired (for grants: the resume window).
//
// Creation is race-safe without coordination: when replicas create the first
// key of a purpose at once, every key they create is valid and the newest
// (by creation time, then id) becomes current everywhere within 30 seconds.
// "Newest" is the same order on every replica: CreatedAt descending, then
// id descending.
package signing

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/freight-portal/freight"
)

// Cache intervals.
const (
	// RefreshInterval is how long loaded keys are used before they are read
	// again.
	RefreshInterval = 30 * time.Second
	// MissInterval is the least time between two reads caused by a request
	// for a key id the keyring does not know.
	MissInterval = time.Second
)

// Algorithm is the signature algorithm of every key.
const Algorithm = "Ed25519"

// PublicKey is a verifying key as published to edges and third parties.
type PublicKey struct {
	ID        string    `json:"kid"`
	Algorithm string    `json:"alg"` // always "Ed25519"
	Key       []byte    `json:"key"` // raw 32-byte Ed25519 public key; base64 in JSON
	CreatedAt time.Time `json:"created_at"`
}

// Keyring signs with and verifies against the keys of one purpose. It is
// safe for concurrent use.
type Keyring struct {
	st      freight.Store
	purpose string
	now     func() time.Time

	// sem is held while reading keys from, or writing keys to, the store,
	// so that concurrent misses wait for one read instead of each making
	// their own, and so that one process creates one first key, not many.
	sem chan struct{}

	mu   sync.Mutex
	snap *snapshot // nil until the first load or after a failed refresh
}

// snapshot is one read of the keys. It is never modified after it is made,
// so it is shared without locks.
type snapshot struct {
	active   []*freight.SigningKey // not retired, newest first
	byID     map[string]*freight.SigningKey
	loadedAt time.Time
}

// NewKeyring returns a keyring for the keys of purpose in st. now is the
// clock (nil means time.Now); tests inject one to drive the cache.
// NewKeyring does not touch the store. It panics if st is nil or purpose is
// empty, which are programming errors.
func NewKeyring(st freight.Store, purpose string, now func() time.Time) *Keyring {
	if st == nil || purpose == "" {
		panic("signing: NewKeyring needs a store and a purpose")
	}
	if now == nil {
		now = time.Now
	}
	return &Keyring{st: st, purpose: purpose, now: now, sem: make(chan struct{}, 1)}
}

// Purpose returns the purpose of the keys of k.
func (k *Keyring) Purpose() string { return k.purpose }

// Current returns the newest key that is not retired, creating one if the
// purpose has none. It reads from the cache (see the package doc).
func (k *Keyring) Current(ctx context.Context) (*freight.SigningKey, error) {
	cur, err := k.current(ctx)
	if err != nil {
		return nil, err
	}
	return clone(cur), nil
}

// current is Current without the copy: the key belongs to a snapshot and
// must not be modified.
func (k *Keyring) current(ctx context.Context) (*freight.SigningKey, error) {
	s, err := k.snapshot(ctx, RefreshInterval)
	if err != nil {
		return nil, err
	}
	if len(s.active) > 0 {
		return s.active[0], nil
	}

	if err := k.lock(ctx); err != nil {
		return nil, err
	}
	defer k.unlock()
	// Read again under the lock: another goroutine, or another replica, may
	// have created the key meanwhile.
	if s, err = k.reload(ctx); err != nil {
		return nil, err
	}
	if len(s.active) > 0 {
		return s.active[0], nil
	}
	created, err := k.create(ctx)
	if err != nil {
		return nil, err
	}
	// Read once more: a replica that created a key at the same time may
	// have made a newer one, which is the current key then.
	if s, err = k.reload(ctx); err != nil || len(s.active) == 0 {
		return created, nil // created is valid; the next refresh sorts it out
	}
	return s.active[0], nil
}

// Rotate creates a new key, which becomes the current one. Older keys keep
// verifying until they are retired.
func (k *Keyring) Rotate(ctx context.Context) (*freight.SigningKey, error) {
	if err := k.lock(ctx); err != nil {
		return nil, err
	}
	defer k.unlock()
	created, err := k.create(ctx)
	if err != nil {
		return nil, err
	}
	// Make the new key current here at once. A failed read drops the
	// cache, so the next call reads the key then.
	_, _ = k.reload(ctx)
	return clone(created), nil
}

// Retire retires the key id of this keyring's purpose: what it signed stops
// verifying (on other replicas within RefreshInterval). Retiring a retired
// key returns it unchanged. Errors: ENOTFOUND if the purpose has no key id;
// ECONFLICT if id is the current key, that is the newest key not retired in
// the store (rotate first).
func (k *Keyring) Retire(ctx context.Context, id string) (*freight.SigningKey, error) {
	if !validKeyID(id) {
		return nil, notFound()
	}
	if err := k.lock(ctx); err != nil {
		return nil, err
	}
	defer k.unlock()

	var out *freight.SigningKey
	err := k.st.Tx(ctx, func(tx freight.Store) error {
		keys, err := tx.SigningKeys(ctx, k.purpose)
		if err != nil {
			return err
		}
		keys = slices.DeleteFunc(slices.Clone(keys), func(key *freight.SigningKey) bool {
			return key == nil || key.Purpose != k.purpose
		})
		slices.SortFunc(keys, newestFirst)
		var target, current *freight.SigningKey
		for _, key := range keys {
			if key.ID == id {
				target = key
			}
			if current == nil && key.RetiredAt == nil {
				current = key
			}
		}
		switch {
		case target == nil:
			return notFound()
		case target.RetiredAt != nil:
			out = target
			return nil
		case target == current:
			return freight.Errorf(freight.ECONFLICT, "signing key %s is the current key: rotate before retiring it", id)
		}
		out, err = tx.RetireSigningKey(ctx, id, k.now())
		return err
	})
	if err != nil {
		return nil, storeError(err)
	}
	_, _ = k.reload(ctx) // as in Rotate
	return clone(out), nil
}

// PublicKey returns the public key id if it verifies now, that is if it
// exists and is not retired. Errors: ENOTFOUND for an unknown or retired
// key; EUNAVAILABLE or EINTERNAL when the store fails.
//
// Its method value has the type of grant.KeyFunc.
func (k *Keyring) PublicKey(ctx context.Context, id string) (ed25519.PublicKey, error) {
	if !validKeyID(id) {
		return nil, notFound() // no store read for ids no key can have
	}
	s, err := k.snapshot(ctx, RefreshInterval)
	if err != nil {
		return nil, err
	}
	key, ok := s.byID[id]
	if !ok {
		// Maybe a key made by another replica since the last read: read
		// again, but at most once per MissInterval.
		if s, err = k.snapshot(ctx, MissInterval); err != nil {
			return nil, err
		}
		if key, ok = s.byID[id]; !ok {
			return nil, notFound()
		}
	}
	return bytes.Clone(key.Public), nil
}

// PublicKeys returns the keys that verify now, newest first.
func (k *Keyring) PublicKeys(ctx context.Context) ([]PublicKey, error) {
	s, err := k.snapshot(ctx, RefreshInterval)
	if err != nil {
		return nil, err
	}
	out := make([]PublicKey, 0, len(s.active))
	for _, key := range s.active {
		out = append(out, PublicKey{ID: key.ID, Algorithm: Algorithm, Key: bytes.Clone(key.Public), CreatedAt: key.CreatedAt})
	}
	return out, nil
}

// Sign signs msg with the current key and returns the key id and the
// signature.
func (k *Keyring) Sign(ctx context.Context, msg []byte) (kid string, sig []byte, err error) {
	return k.SignKeyed(ctx, func(string) []byte { return msg })
}

// SignKeyed picks the current key, calls build with its id to make the
// message, and signs that message. Formats that put the key id inside the
// signed bytes (grant tokens do) need the id before signing, which Sign
// cannot give. Its method value satisfies grant.Signer.
func (k *Keyring) SignKeyed(ctx context.Context, build func(kid string) []byte) (kid string, sig []byte, err error) {
	cur, err := k.current(ctx)
	if err != nil {
		return "", nil, err
	}
	msg := build(cur.ID)
	return cur.ID, ed25519.Sign(ed25519.PrivateKey(cur.Private), msg), nil
}

// snapshot returns the cached keys if they were read less than maxAge ago,
// and reads them otherwise. Reads are serialized: a caller that waited for
// a read in progress uses its result if it is recent enough.
func (k *Keyring) snapshot(ctx context.Context, maxAge time.Duration) (*snapshot, error) {
	if s := k.cached(maxAge); s != nil {
		return s, nil
	}
	if err := k.lock(ctx); err != nil {
		return nil, err
	}
	defer k.unlock()
	if s := k.cached(maxAge); s != nil {
		return s, nil
	}
	return k.reload(ctx)
}

func (k *Keyring) cached(maxAge time.Duration) *snapshot {
	k.mu.Lock()
	s := k.snap
	k.mu.Unlock()
	if s == nil {
		return nil
	}
	// A clock that went back makes the age negative: read again rather
	// than trust a snapshot of unknown age.
	if age := k.now().Sub(s.loadedAt); age < 0 || age >= maxAge {
		return nil
	}
	return s
}

func (k *Keyring) invalidate() {
	k.mu.Lock()
	k.snap = nil
	k.mu.Unlock()
}

// lock takes sem, giving up when ctx ends.
func (k *Keyring) lock(ctx context.Context) error {
	select {
	case k.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return &freight.Error{Code: freight.EUNAVAILABLE, Message: "signing keys are busy", Err: ctx.Err()}
	}
}

func (k *Keyring) unlock() { <-k.sem }

// reload reads the keys from the store and caches them. The caller holds
// sem. A failed read drops the cache: keys that cannot be confirmed are not
// used (a retired key must stop verifying even when the store is down).
func (k *Keyring) reload(ctx context.Context) (*snapshot, error) {
	loadedAt := k.now() // before the read: the snapshot is at least this old
	keys, err := k.st.SigningKeys(ctx, k.purpose)
	if err == nil {
		var s *snapshot
		if s, err = k.newSnapshot(keys, loadedAt); err == nil {
			k.mu.Lock()
			k.snap = s
			k.mu.Unlock()
			return s, nil
		}
	}
	k.invalidate()
	return nil, storeError(err)
}

func (k *Keyring) newSnapshot(keys []*freight.SigningKey, loadedAt time.Time) (*snapshot, error) {
	s := &snapshot{byID: make(map[string]*freight.SigningKey), loadedAt: loadedAt}
	for _, key := range keys {
		if key == nil || key.Purpose != k.purpose {
			continue // not ours, whatever the store thinks
		}
		if key.RetiredAt != nil {
			continue
		}
		// A corrupt key is an error, loudly: skipping it could make an
		// older key current or hide why grants stop verifying.
		if err := checkKey(key); err != nil {
			return nil, freight.Internal(err)
		}
		key = clone(key)
		s.active = append(s.active, key)
		s.byID[key.ID] = key
	}
	slices.SortFunc(s.active, newestFirst)
	return s, nil
}

// checkKey checks that a stored key can sign and verify: the private key is
// the one of the public key, derived from its seed.
func checkKey(key *freight.SigningKey) error {
	switch {
	case !validKeyID(key.ID):
		return fmt.Errorf("signing: key %q: malformed id", key.ID)
	case len(key.Public) != ed25519.PublicKeySize:
		return fmt.Errorf("signing: key %s: public key has %d bytes", key.ID, len(key.Public))
	case len(key.Private) != ed25519.PrivateKeySize:
		return fmt.Errorf("signing: key %s: private key has %d bytes", key.ID, len(key.Private))
	}
	derived := ed25519.NewKeyFromSeed(key.Private[:ed25519.SeedSize])
	if !bytes.Equal(derived, key.Private) || !bytes.Equal(derived[ed25519.SeedSize:], key.Public) {
		return fmt.Errorf("signing: key %s: private and public keys do not match", key.ID)
	}
	return nil
}

// create stores a new key. The store sets its creation time, which makes
// it the newest key unless the store's clock went back. The caller holds
// sem.
func (k *Keyring) create(ctx context.Context) (*freight.SigningKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, freight.Internal(err)
	}
	for attempt := 0; ; attempt++ {
		key := &freight.SigningKey{
			ID:        newKeyID(),
			Purpose:   k.purpose,
			Public:    pub,
			Private:   priv,
			CreatedAt: k.now(), // stores set their own
		}
		err := k.st.CreateSigningKey(ctx, key)
		if err == nil {
			return key, nil
		}
		// 50 random bits make a collision unlikely, not impossible.
		if freight.ErrorCode(err) != freight.ECONFLICT || attempt == 2 {
			return nil, storeError(err)
		}
	}
}

// newestFirst orders keys by creation time, then id, both descending: the
// same order on every replica.
func newestFirst(a, b *freight.SigningKey) int {
	if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

// crockford is the alphabet of freight ids: lower-case, URL-safe, no
// letters that read like digits.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// newKeyID returns "k" and 10 random base32 characters (50 bits).
func newKeyID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	v := binary.BigEndian.Uint64(b[:])
	out := make([]byte, 11)
	out[0] = 'k'
	for i := 1; i < len(out); i++ {
		out[i] = crockford[v&31]
		v >>= 5
	}
	return string(out)
}

// validKeyID reports whether id can be a key id: 1 to 32 characters of
// [A-Za-z0-9_-], the rule of grant tokens. Keys made here are narrower.
func validKeyID(id string) bool {
	if len(id) == 0 || len(id) > 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func notFound() *freight.Error {
	return freight.Errorf(freight.ENOTFOUND, "signing key not found")
}

// storeError keeps *freight.Error as it is and wraps anything else.
func storeError(err error) error {
	if _, ok := errors.AsType[*freight.Error](err); ok {
		return err
	}
	return freight.Internal(err)
}

func clone(k *freight.SigningKey) *freight.SigningKey {
	if k == nil {
		return nil
	}
	c := *k
	c.Public = bytes.Clone(k.Public)
	c.Private = bytes.Clone(k.Private)
	if k.RetiredAt != nil {
		t := *k.RetiredAt
		c.RetiredAt = &t
	}
	return &c
}

package signing_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/internal/testdb"
	"github.com/freight-portal/freight/signing"
	"github.com/freight-portal/freight/sqlstore"
)

// clock is a fake clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// countingStore counts the reads of signing keys and can make them fail.
type countingStore struct {
	freight.Store
	reads   atomic.Int64
	down    atomic.Bool
	corrupt atomic.Bool
}

func (s *countingStore) SigningKeys(ctx context.Context, purpose string) ([]*freight.SigningKey, error) {
	s.reads.Add(1)
	if s.down.Load() {
		return nil, freight.Errorf(freight.EUNAVAILABLE, "database unavailable")
	}
	keys, err := s.Store.SigningKeys(ctx, purpose)
	if err == nil && s.corrupt.Load() && len(keys) > 0 {
		k := *keys[0]
		k.Private = append([]byte(nil), k.Private...)
		k.Private[0] ^= 1
		keys[0] = &k
	}
	return keys, err
}

// newStore returns a migrated SQLite store whose clock is clk.
func newStore(t *testing.T, clk *clock) *countingStore {
	t.Helper()
	db, err := sqlstore.Open(t.Context(), testdb.SQLite(t), slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatalf("sqlstore.Open: %v", err)
	}
	db.SealWith(testdb.SealKeys(t))
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	db.Now = clk.Now
	return &countingStore{Store: db}
}

func mustCurrent(t *testing.T, k *signing.Keyring) *freight.SigningKey {
	t.Helper()
	key, err := k.Current(t.Context())
	if err != nil {
		t.Fatalf("Current: %v", err)
	}
	return key
}

func mustRotate(t *testing.T, k *signing.Keyring) *freight.SigningKey {
	t.Helper()
	key, err := k.Rotate(t.Context())
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	return key
}

// verifies reports whether k verifies a signature made by key.
func verifies(t *testing.T, k *signing.Keyring, key *freight.SigningKey) bool {
	t.Helper()
	pub, err := k.PublicKey(t.Context(), key.ID)
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		return false
	}
	if err != nil {
		t.Fatalf("PublicKey(%s): %v", key.ID, err)
	}
	msg := []byte("message " + key.ID)
	return ed25519.Verify(pub, msg, ed25519.Sign(ed25519.PrivateKey(key.Private), msg))
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := freight.ErrorCode(err); got != code {
		t.Errorf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
	if _, ok := errors.AsType[*freight.Error](err); !ok {
		t.Errorf("%s: error %v is not a *freight.Error", what, err)
	}
}

var keyIDRE = regexp.MustCompile(`^k[0-9abcdefghjkmnpqrstvwxyz]{10}$`)

func TestCurrentCreatesFirstKey(t *testing.T) {
	clk := newClock()
	st := newStore(t, clk)
	k := signing.NewKeyring(st, freight.KeyGrants, clk.Now)

	key := mustCurrent(t, k)
	if !keyIDRE.MatchString(key.ID) {
		t.Errorf("key id %q, want k and 10 base32 characters", key.ID)
	}
	if got, want := key.Purpose, freight.KeyGrants; got != want {
		t.Errorf("Purpose = %q, want %q", got, want)
	}
	if len(key.Public) != ed25519.PublicKeySize || len(key.Private) != ed25519.PrivateKeySize {
		t.Errorf("key sizes %d and %d, want %d and %d", len(key.Public), len(key.Private), ed25519.PublicKeySize, ed25519.PrivateKeySize)
	}
	if key.RetiredAt != nil {
		t.Errorf("RetiredAt = %v, want nil", key.RetiredAt)
	}
	stored, err := st.Store.SigningKeys(t.Context(), freight.KeyGrants)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1 || stored[0].ID != key.ID {
		t.Fatalf("stored keys %v, want the one key %s", stored, key.ID)
	}
	if !verifies(t, k, key) {
		t.Errorf("the first key does not verify")
	}
}

func TestCurrentIsStableAndCached(t *testing.T) {
	clk := newClock()
	st := newStore(t, clk)
	k := signing.NewKeyring(st, freight.KeyGrants, clk.Now)
	first := mustCurrent(t, k)
	reads := st.reads.Load()
	for range 5 {
		clk.Advance(5 * time.Second) // 25 s in all: within the refresh interval
		if got := mustCurrent(t, k); got.ID != first.ID {
			t.Fatalf("Current = %s, want %s", got.ID, first.ID)
		}
	}
	if got := st.reads.Load() - reads; got != 0 {
		t.Errorf("%d store reads within the refresh interval, want 0", got)
	}
	clk.Advance(5 * time.Second) // 30 s: stale
	if got := mustCurrent(t, k); got.ID != first.ID {
		t.Fatalf("Current = %s, want %s", got.ID, first.ID)
	}
	if got := st.reads.Load() - reads; got != 1 {
		t.Errorf("%d store reads at the refresh interval, want 1", got)
	}

	// A caller scribbling over the key changes nothing in the keyring.
	first.Private[0] ^= 0xff
	first.Public[0] ^= 0xff
	kid, sig, err := k.Sign(t.Context(), []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := k.PublicKey(t.Context(), kid)
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(pub, []byte("hello"), sig) {
		t.Errorf("signature after the caller modified a returned key does not verify")
	}
}

func TestRotate(t *testing.T) {
	clk := newClock()
	st := newStore(t, clk)
	k := signing.NewKeyring(st, freight.KeyGrants, clk.Now)
	old := mustCurrent(t, k)
	clk.Advance(time.Second)
	rotated := mustRotate(t, k)
	if rotated.ID == old.ID {
		t.Fatalf("Rotate returned the old key %s", old.ID)
	}
	if got := mustCurrent(t, k); got.ID != rotated.ID {
		t.Errorf("Current after Rotate = %s, want %s", got.ID, rotated.ID)
	}
	kid, sig, err := k.Sign(t.Context(), []byte("msg"))
	if err != nil {
		t.Fatal(err)
	}
	if kid != rotated.ID {
		t.Errorf("Sign used key %s, want the new key %s", kid, rotated.ID)
	}
	if !ed25519.Verify(ed25519.PublicKey(rotated.Public), []byte("msg"), sig) {
		t.Errorf("signature does not verify with the new key")
	}
	for _, key := range []*freight.SigningKey{old, rotated} {
		if !verifies(t, k, key) {
			t.Errorf("key %s does not verify after Rotate", key.ID)
		}
	}
	pks, err := k.PublicKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(pks) != 2 || pks[0].ID != rotated.ID || pks[1].ID != old.ID {
		t.Errorf("PublicKeys = %+v, want %s then %s", pks, rotated.ID, old.ID)
	}

	// Another replica signs with the old key until its cache expires, then
	// with the new one.
	clk2 := newClock()
	clk2.t = clk.Now()
	other := signing.NewKeyring(st, freight.KeyGrants, clk2.Now)
	if got := mustCurrent(t, other); got.ID != rotated.ID {
		t.Errorf("a fresh keyring's Current = %s, want %s", got.ID, rotated.ID)
	}
}

func TestRotateOnOtherReplica(t *testing.T) {
	clk := newClock()
	st := newStore(t, clk)
	a := signing.NewKeyring(st, freight.KeyGrants, clk.Now)
	b := signing.NewKeyring(st, freight.KeyGrants, clk.Now)
	old := mustCurrent(t, a)
	if got := mustCurrent(t, b); got.ID != old.ID {
		t.Fatalf("b.Current = %s, want %s", got.ID, old.ID)
	}
	clk.Advance(time.Second)
	rotated := mustRotate(t, a)

	// b has not read since: it signs with the old key, and knows the new
	// one only once it may read again for an unknown id.
	if got := mustCurrent(t, b); got.ID != old.ID {
		t.Errorf("b.Current right after a rotated = %s, want the cached %s", got.ID, old.ID)
	}
	// b's snapshot is one second old: an unknown id makes it read.
	if !verifies(t, b, rotated) {
		t.Errorf("b does not verify the new key after a miss")
	}
	clk.Advance(signing.RefreshInterval)
	if got := mustCurrent(t, b); got.ID != rotated.ID {
		t.Errorf("b.Current after the refresh interval = %s, want %s", got.ID, rotated.ID)
	}
}

func TestRetire(t *testing.T) {
	clk := newClock()
	st := newStore(t, clk)
	k := signing.NewKeyring(st, freight.KeyGrants, clk.Now)
	replica := signing.NewKeyring(st, freight.KeyGrants, clk.Now)
	old := mustCurrent(t, k)
	clk.Advance(time.Second)
	rotated := mustRotate(t, k)
	if !verifies(t, replica, old) || !verifies(t, replica, rotated) {
		t.Fatalf("replica does not verify both keys before retirement")
	}

	clk.Advance(time.Second)
	retiredAt := clk.Now()
	got, err := k.Retire(t.Context(), old.ID)
	if err != nil {
		t.Fatalf("Retire: %v", err)
	}
	if got.ID != old.ID || got.RetiredAt == nil || !got.RetiredAt.Equal(retiredAt) {
		t.Errorf("Retire = %s retired at %v, want %s retired at %v", got.ID, got.RetiredAt, old.ID, retiredAt)
	}
	// The keyring that retired stops at once; the replica at its next
	// refresh.
	_, err = k.PublicKey(t.Context(), old.ID)
	wantCode(t, "PublicKey(retired) on the retiring keyring", err, freight.ENOTFOUND)
	if !verifies(t, replica, old) {
		t.Errorf("replica stopped verifying the retired key before its refresh")
	}
	// The replica read the keys a second before the retirement.
	clk.Advance(signing.RefreshInterval - time.Second - time.Nanosecond)
	if !verifies(t, replica, old) {
		t.Errorf("replica stopped verifying the retired key before its refresh")
	}
	clk.Advance(time.Nanosecond)
	_, err = replica.PublicKey(t.Context(), old.ID)
	wantCode(t, "PublicKey(retired) after the refresh interval", err, freight.ENOTFOUND)
	if !verifies(t, replica, rotated) {
		t.Errorf("the current key stopped verifying")
	}
	pks, err := replica.PublicKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(pks) != 1 || pks[0].ID != rotated.ID {
		t.Errorf("PublicKeys = %+v, want only %s", pks, rotated.ID)
	}

	// Retiring again keeps the first time.
	clk.Advance(time.Hour)
	again, err := k.Retire(t.Context(), old.ID)
	if err != nil {
		t.Fatalf("Retire again: %v", err)
	}
	if again.RetiredAt == nil || !again.RetiredAt.Equal(retiredAt) {
		t.Errorf("Retire again: RetiredAt = %v, want %v", again.RetiredAt, retiredAt)
	}
}

func TestRetireRefusals(t *testing.T) {
	clk := newClock()
	st := newStore(t, clk)
	k := signing.NewKeyring(st, freight.KeyGrants, clk.Now)
	licenses := signing.NewKeyring(st, freight.KeyLicenses, clk.Now)
	only := mustCurrent(t, k)

	_, err := k.Retire(t.Context(), only.ID)
	wantCode(t, "Retire(the only key)", err, freight.ECONFLICT)

	clk.Advance(time.Second)
	rotated := mustRotate(t, k)
	_, err = k.Retire(t.Context(), rotated.ID)
	wantCode(t, "Retire(the current key)", err, freight.ECONFLICT)

	// A replica whose cache still has the old key as current cannot be
	// talked into retiring the new one either: the check reads the store.
	stale := signing.NewKeyring(st, freight.KeyGrants, clk.Now)
	_, err = stale.Retire(t.Context(), rotated.ID)
	wantCode(t, "Retire(the current key) from another keyring", err, freight.ECONFLICT)

	_, err = k.Retire(t.Context(), "knotakey000")
	wantCode(t, "Retire(unknown)", err, freight.ENOTFOUND)
	_, err = k.Retire(t.Context(), "../../etc")
	wantCode(t, "Retire(malformed)", err, freight.ENOTFOUND)

	lic := mustCurrent(t, licenses)
	clk.Advance(time.Second)
	mustRotate(t, licenses)
	_, err = k.Retire(t.Context(), lic.ID)
	wantCode(t, "Retire(a key of another purpose)", err, freight.ENOTFOUND)

	for _, key := range []*freight.SigningKey{only, rotated} {
		if !verifies(t, k, key) {
			t.Errorf("key %s stopped verifying after refused retirements", key.ID)
		}
	}
}

func TestPurposesAreSeparate(t *testing.T) {
	clk := newClock()
	st := newStore(t, clk)
	grants := signing.NewKeyring(st, freight.KeyGrants, clk.Now)
	licenses := signing.NewKeyring(st, freight.KeyLicenses, clk.Now)
	g := mustCurrent(t, grants)
	l := mustCurrent(t, licenses)
	if g.ID == l.ID {
		t.Fatalf("both purposes got key %s", g.ID)
	}
	clk.Advance(time.Second) // let misses read
	if verifies(t, grants, l) {
		t.Errorf("the grants keyring verifies a license key")
	}
	if verifies(t, licenses, g) {
		t.Errorf("the licenses keyring verifies a grant key")
	}
}

func TestUnknownIDsAreRateLimited(t *testing.T) {
	clk := newClock()
	st := newStore(t, clk)
	k := signing.NewKeyring(st, freight.KeyGrants, clk.Now)
	mustCurrent(t, k)
	clk.Advance(signing.MissInterval)

	reads := st.reads.Load()
	for range 100 {
		_, err := k.PublicKey(t.Context(), "kforged0000")
		wantCode(t, "PublicKey(unknown)", err, freight.ENOTFOUND)
	}
	if got := st.reads.Load() - reads; got != 1 {
		t.Errorf("%d store reads for 100 unknown ids within a second, want 1", got)
	}

	// Concurrent misses share one read.
	clk.Advance(signing.MissInterval)
	reads = st.reads.Load()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := k.PublicKey(t.Context(), "kforged0001"); freight.ErrorCode(err) != freight.ENOTFOUND {
				t.Errorf("PublicKey(unknown): %v, want ENOTFOUND", err)
			}
		})
	}
	wg.Wait()
	if got := st.reads.Load() - reads; got != 1 {
		t.Errorf("%d store reads for 20 concurrent unknown ids, want 1", got)
	}

	// Ids that no key can have never reach the store.
	clk.Advance(signing.MissInterval)
	reads = st.reads.Load()
	for _, id := range []string{"", "a.b", "k/../x", "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", "k\x00", "ké"} {
		_, err := k.PublicKey(t.Context(), id)
		wantCode(t, "PublicKey("+id+")", err, freight.ENOTFOUND)
	}
	if got := st.reads.Load() - reads; got != 0 {
		t.Errorf("%d store reads for malformed ids, want 0", got)
	}
}

func TestStoreDownFailsClosed(t *testing.T) {
	clk := newClock()
	st := newStore(t, clk)
	k := signing.NewKeyring(st, freight.KeyGrants, clk.Now)
	key := mustCurrent(t, k)

	st.down.Store(true)
	if !verifies(t, k, key) {
		t.Errorf("cached key does not verify while the store is down")
	}
	clk.Advance(signing.RefreshInterval)
	_, err := k.PublicKey(t.Context(), key.ID)
	wantCode(t, "PublicKey with the store down", err, freight.EUNAVAILABLE)
	_, _, err = k.Sign(t.Context(), []byte("x"))
	wantCode(t, "Sign with the store down", err, freight.EUNAVAILABLE)

	st.down.Store(false)
	if !verifies(t, k, key) {
		t.Errorf("key does not verify once the store is back")
	}
}

func TestCorruptKeyIsAnError(t *testing.T) {
	clk := newClock()
	st := newStore(t, clk)
	k := signing.NewKeyring(st, freight.KeyGrants, clk.Now)
	mustCurrent(t, k)
	st.corrupt.Store(true)
	clk.Advance(signing.RefreshInterval)
	_, err := k.Current(t.Context())
	wantCode(t, "Current with a corrupt key", err, freight.EINTERNAL)
}

func TestConcurrentFirstKey(t *testing.T) {
	t.Run("replicas", func(t *testing.T) {
		clk := newClock()
		st := newStore(t, clk)
		got := make([]*freight.SigningKey, 10)
		var wg sync.WaitGroup
		for i := range got {
			wg.Go(func() {
				k := signing.NewKeyring(st, freight.KeyGrants, clk.Now)
				key, err := k.Current(t.Context())
				if err != nil {
					t.Errorf("Current: %v", err)
					return
				}
				got[i] = key
			})
		}
		wg.Wait()
		checkConcurrent(t, st, clk, got, 1, len(got))
	})
	t.Run("one keyring", func(t *testing.T) {
		clk := newClock()
		st := newStore(t, clk)
		k := signing.NewKeyring(st, freight.KeyGrants, clk.Now)
		got := make([]*freight.SigningKey, 10)
		var wg sync.WaitGroup
		for i := range got {
			wg.Go(func() {
				key, err := k.Current(t.Context())
				if err != nil {
					t.Errorf("Current: %v", err)
					return
				}
				got[i] = key
			})
		}
		wg.Wait()
		checkConcurrent(t, st, clk, got, 1, 1)
	})
}

// checkConcurrent checks that the store has between min and max keys, and
// that every key returned verifies.
func checkConcurrent(t *testing.T, st *countingStore, clk *clock, got []*freight.SigningKey, min, max int) {
	t.Helper()
	if t.Failed() {
		return
	}
	stored, err := st.Store.SigningKeys(t.Context(), freight.KeyGrants)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) < min || len(stored) > max {
		t.Errorf("%d keys in the store, want %d to %d", len(stored), min, max)
	}
	verifier := signing.NewKeyring(st, freight.KeyGrants, clk.Now)
	for _, key := range got {
		if !verifies(t, verifier, key) {
			t.Errorf("returned key %s does not verify", key.ID)
		}
	}
	// Every keyring agrees on the current key from now on.
	if cur := mustCurrent(t, verifier); cur.ID != stored[0].ID {
		t.Errorf("Current = %s, want the newest stored key %s", cur.ID, stored[0].ID)
	}
}

func TestPublicKeysJSON(t *testing.T) {
	clk := newClock()
	st := newStore(t, clk)
	k := signing.NewKeyring(st, freight.KeyGrants, clk.Now)
	key := mustCurrent(t, k)
	pks, err := k.PublicKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(pks)
	if err != nil {
		t.Fatal(err)
	}
	var back []map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back) != 1 {
		t.Fatalf("PublicKeys JSON %s, want one key", b)
	}
	if got := back[0]["kid"]; got != key.ID {
		t.Errorf("kid = %v, want %s", got, key.ID)
	}
	if got := back[0]["alg"]; got != "Ed25519" {
		t.Errorf("alg = %v, want Ed25519", got)
	}
	if _, ok := back[0]["created_at"]; !ok {
		t.Errorf("no created_at in %s", b)
	}
	var decoded []signing.PublicKey
	if err := json.Unmarshal(b, &decoded); err != nil {
		t.Fatal(err)
	}
	if got := decoded[0].Key; string(got) != string(key.Public) {
		t.Errorf("key round trip = %x, want %x", got, key.Public)
	}
	if _, hasPrivate := back[0]["private_key"]; hasPrivate {
		t.Errorf("PublicKeys JSON carries a private key: %s", b)
	}
}

func TestCanceledContext(t *testing.T) {
	clk := newClock()
	st := newStore(t, clk)
	k := signing.NewKeyring(st, freight.KeyGrants, clk.Now)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := k.Current(ctx); err == nil {
		t.Errorf("Current with a canceled context succeeded")
	}
	if _, err := k.Current(t.Context()); err != nil {
		t.Errorf("Current after a canceled call: %v", err)
	}
}

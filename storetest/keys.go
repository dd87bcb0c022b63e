package storetest

import (
	"crypto/ed25519"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

var keyTests = []subtest{
	{"CreateList", testKeyCreateList},
	{"DuplicateID", testKeyDuplicateID},
	{"Invalid", testKeyInvalid},
	{"NewestFirst", testKeyNewestFirst},
	{"Retire", testKeyRetire},
	{"NotFound", testKeyNotFound},
}

// newSigningKey returns a fresh Ed25519 key of the purpose.
func newSigningKey(id, purpose string) *freight.SigningKey {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return &freight.SigningKey{ID: id, Purpose: purpose, Public: pub, Private: priv}
}

// MustCreateSigningKey creates k or fails the test.
func MustCreateSigningKey(t testing.TB, s freight.Store, k *freight.SigningKey) *freight.SigningKey {
	t.Helper()
	if err := s.CreateSigningKey(t.Context(), k); err != nil {
		t.Fatalf("CreateSigningKey(%q): %v", k.ID, err)
	}
	return k
}

// signingKeys lists the keys of a purpose or fails the test.
func signingKeys(t testing.TB, s freight.Store, purpose string) []*freight.SigningKey {
	t.Helper()
	ks, err := s.SigningKeys(t.Context(), purpose)
	if err != nil {
		t.Fatalf("SigningKeys(%q): %v", purpose, err)
	}
	return ks
}

func keyID(k *freight.SigningKey) string { return k.ID }

// checkKeyIDs fails the test unless the keys of purpose are want, in order.
func checkKeyIDs(t testing.TB, what string, s freight.Store, purpose string, want []string) {
	t.Helper()
	if got := keys(signingKeys(t, s, purpose), keyID); !slices.Equal(got, want) {
		t.Errorf("%s: SigningKeys(%q) = %q, want %q", what, purpose, got, want)
	}
}

// Every field comes back as written: the key bytes exactly, the times in
// UTC at microseconds, RetiredAt nil or set. The stored key does not share
// its bytes with the caller.
func testKeyCreateList(t *testing.T, s freight.Store) {
	ctx := t.Context()
	k := newSigningKey("grants-2025-03", freight.KeyGrants)
	pub, priv := append([]byte(nil), k.Public...), append([]byte(nil), k.Private...)
	callerPub, callerPriv := k.Public, k.Private
	if err := s.CreateSigningKey(ctx, k); err != nil {
		t.Fatalf("CreateSigningKey: %v", err)
	}
	if k.ID != "grants-2025-03" {
		t.Errorf("ID after create = %q, want the id given", k.ID)
	}
	checkRecent(t, "CreateSigningKey: CreatedAt", k.CreatedAt)
	if k.RetiredAt != nil {
		t.Errorf("RetiredAt of a new key = %v, want nil", k.RetiredAt)
	}
	// The caller scribbling over the slices it passed changes neither the
	// stored key nor the one CreateSigningKey returned.
	for _, b := range [][]byte{callerPub, callerPriv} {
		for i := range b {
			b[i] ^= 0xff
		}
	}
	checkSame(t, "Public returned by CreateSigningKey", k.Public, pub)
	checkSame(t, "Private returned by CreateSigningKey", k.Private, priv)
	retired := newSigningKey("licenses-old", freight.KeyLicenses)
	retired.RetiredAt = ptr(ts(time.Hour).In(time.FixedZone("CET", 3600)))
	MustCreateSigningKey(t, s, retired)

	got := signingKeys(t, s, freight.KeyGrants)
	if len(got) != 1 {
		t.Fatalf("SigningKeys(grants) = %d keys, want 1", len(got))
	}
	want := &freight.SigningKey{ID: k.ID, Purpose: freight.KeyGrants, Public: pub, Private: priv, CreatedAt: k.CreatedAt}
	checkSame(t, "SigningKeys(grants)[0]", got[0], want)
	if !ed25519.Verify(ed25519.PublicKey(got[0].Public), []byte("grant"), ed25519.Sign(ed25519.PrivateKey(got[0].Private), []byte("grant"))) {
		t.Errorf("the stored key does not sign and verify")
	}
	got = signingKeys(t, s, freight.KeyLicenses)
	if len(got) != 1 {
		t.Fatalf("SigningKeys(licenses) = %d keys, want 1", len(got))
	}
	checkSame(t, "SigningKeys(licenses)[0]", got[0], retired)
	if got[0].RetiredAt == nil || !got[0].RetiredAt.Equal(ts(time.Hour)) {
		t.Errorf("RetiredAt = %v, want %v", got[0].RetiredAt, ts(time.Hour))
	}
	for name, tm := range timesOf(got[0]) {
		if tm.Location() != time.UTC || tm.Nanosecond()%1000 != 0 {
			t.Errorf("%s = %v, want UTC at microsecond precision", name, tm)
		}
	}
}

func testKeyDuplicateID(t *testing.T, s freight.Store) {
	first := MustCreateSigningKey(t, s, newSigningKey("k1", freight.KeyGrants))
	// Ids are unique across purposes: a token names its key by id alone.
	for _, purpose := range []string{freight.KeyGrants, freight.KeyLicenses} {
		wantCode(t, "CreateSigningKey with a taken id, purpose "+purpose, s.CreateSigningKey(t.Context(), newSigningKey("k1", purpose)), freight.ECONFLICT)
	}
	got := signingKeys(t, s, freight.KeyGrants)
	if len(got) != 1 {
		t.Fatalf("SigningKeys = %d keys, want 1", len(got))
	}
	checkSame(t, "the first key after the conflict", got[0], first)
	checkKeyIDs(t, "after the conflict", s, freight.KeyLicenses, nil)
}

func testKeyInvalid(t *testing.T, s freight.Store) {
	mk := func(mod func(*freight.SigningKey)) *freight.SigningKey {
		k := newSigningKey("k1", freight.KeyGrants)
		mod(k)
		return k
	}
	other := newSigningKey("other", freight.KeyGrants)
	for name, k := range map[string]*freight.SigningKey{
		"empty id":              mk(func(k *freight.SigningKey) { k.ID = "" }),
		"id of 65 bytes":        mk(func(k *freight.SigningKey) { k.ID = strings.Repeat("k", 65) }),
		"id with a newline":     mk(func(k *freight.SigningKey) { k.ID = "k\n1" }),
		"empty purpose":         mk(func(k *freight.SigningKey) { k.Purpose = "" }),
		"unknown purpose":       mk(func(k *freight.SigningKey) { k.Purpose = "uploads" }),
		"no public key":         mk(func(k *freight.SigningKey) { k.Public = nil }),
		"public key of 31":      mk(func(k *freight.SigningKey) { k.Public = k.Public[:31] }),
		"public key of 33":      mk(func(k *freight.SigningKey) { k.Public = append(k.Public, 0) }),
		"no private key":        mk(func(k *freight.SigningKey) { k.Private = nil }),
		"private key of 32":     mk(func(k *freight.SigningKey) { k.Private = k.Private[:32] }),
		"private key of 65":     mk(func(k *freight.SigningKey) { k.Private = append(k.Private, 0) }),
		"another key's public":  mk(func(k *freight.SigningKey) { k.Public = other.Public }),
		"another key's private": mk(func(k *freight.SigningKey) { k.Private = other.Private }),
	} {
		wantCode(t, "CreateSigningKey with "+name, s.CreateSigningKey(t.Context(), k), freight.EINVALID)
	}
	checkKeyIDs(t, "after invalid creates", s, freight.KeyGrants, nil)
	checkKeyIDs(t, "after invalid creates", s, freight.KeyLicenses, nil)

	// 64 bytes is the longest id.
	MustCreateSigningKey(t, s, newSigningKey(strings.Repeat("k", 64), freight.KeyGrants))
	checkKeyIDs(t, "after an id of 64 bytes", s, freight.KeyGrants, []string{strings.Repeat("k", 64)})

	_, err := s.SigningKeys(t.Context(), "uploads")
	wantCode(t, "SigningKeys(unknown purpose)", err, freight.EINVALID)
}

// SigningKeys lists the keys of one purpose newest first, retired ones
// included: a key retired for signing may still be needed to tell why a
// token fails. Key ids do not sort by time, so the order must come from the
// created time.
func testKeyNewestFirst(t *testing.T, s freight.Store) {
	ks := signingKeys(t, s, freight.KeyGrants)
	if ks == nil || len(ks) != 0 {
		t.Errorf("SigningKeys of an empty store = %#v, want an empty, non-nil list", ks)
	}
	var grants []string
	for _, id := range []string{"m", "z", "a", "q"} {
		grants = append(grants, MustCreateSigningKey(t, s, newSigningKey(id, freight.KeyGrants)).ID)
		settle()
		MustCreateSigningKey(t, s, newSigningKey("lic-"+id, freight.KeyLicenses))
		settle()
	}
	_, err := s.RetireSigningKey(t.Context(), "z", ts(0))
	noErr(t, "RetireSigningKey", err)
	checkKeyIDs(t, "newest first", s, freight.KeyGrants, reversed(grants))
	checkKeyIDs(t, "newest first", s, freight.KeyLicenses, []string{"lic-q", "lic-a", "lic-z", "lic-m"})
	got := signingKeys(t, s, freight.KeyGrants)
	for i := 1; i < len(got); i++ {
		if !got[i].CreatedAt.Before(got[i-1].CreatedAt) {
			t.Errorf("SigningKeys[%d].CreatedAt = %v, not before [%d].CreatedAt = %v", i, got[i].CreatedAt, i-1, got[i-1].CreatedAt)
		}
	}
}

// RetireSigningKey is idempotent and keeps the first retirement time; a
// zero time means now.
func testKeyRetire(t *testing.T, s freight.Store) {
	ctx := t.Context()
	k := MustCreateSigningKey(t, s, newSigningKey("k1", freight.KeyGrants))
	keep := MustCreateSigningKey(t, s, newSigningKey("k2", freight.KeyGrants))
	at := ts(time.Hour)
	got, err := s.RetireSigningKey(ctx, k.ID, at.In(time.FixedZone("PST", -8*3600)))
	noErr(t, "RetireSigningKey", err)
	want := *k
	want.RetiredAt = &at
	checkSame(t, "RetireSigningKey result", got, &want)
	for _, again := range []time.Time{ts(2 * time.Hour), ts(-time.Hour), {}} {
		got, err = s.RetireSigningKey(ctx, k.ID, again)
		noErr(t, "RetireSigningKey again", err)
		checkSame(t, "RetireSigningKey(at "+again.String()+") of a retired key", got, &want)
	}
	for _, stored := range signingKeys(t, s, freight.KeyGrants) {
		switch stored.ID {
		case k.ID:
			checkSame(t, "the retired key", stored, &want)
		case keep.ID:
			checkSame(t, "the other key", stored, keep)
		default:
			t.Errorf("unexpected key %q", stored.ID)
		}
	}

	now, err := s.RetireSigningKey(ctx, keep.ID, time.Time{})
	noErr(t, "RetireSigningKey(zero time)", err)
	if now.RetiredAt == nil {
		t.Fatalf("RetireSigningKey(zero time): RetiredAt = nil, want now")
	}
	checkRecent(t, "RetiredAt after RetireSigningKey(zero time)", *now.RetiredAt)
}

func testKeyNotFound(t *testing.T, s freight.Store) {
	MustCreateSigningKey(t, s, newSigningKey("k1", freight.KeyGrants))
	got, err := s.RetireSigningKey(t.Context(), "k2", ts(0))
	wantCode(t, "RetireSigningKey(missing)", err, freight.ENOTFOUND)
	if got != nil {
		t.Errorf("RetireSigningKey(missing) = %+v, want nil", got)
	}
	checkKeyIDs(t, "SigningKeys(licenses)", s, freight.KeyLicenses, nil)
}

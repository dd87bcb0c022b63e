package sqlstore

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/seal"
	"github.com/freight-portal/freight/storetest"
)

// keysOf returns keys with the given ids, the same bytes for the same id
// in every call, so that two stores of a test share them.
func keysOf(tb testing.TB, ids ...string) *seal.Keys {
	tb.Helper()
	var ks []seal.Key
	for _, id := range ids {
		ks = append(ks, seal.Key{ID: id, Secret: bytes.Repeat([]byte(id), seal.KeySize/len(id)+1)[:seal.KeySize]})
	}
	k, err := seal.New(ks...)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// openWith opens url with keys (none when nil) without migrating it.
func openWith(tb testing.TB, url string, keys *seal.Keys) *DB {
	tb.Helper()
	db, err := Open(tb.Context(), url, slog.New(slog.NewTextHandler(tb.Output(), nil)))
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	if keys != nil {
		db.SealWith(keys)
	}
	return db
}

// secretValue is one secret a test stored: where it is, and what it is.
type secretValue struct {
	col   secretColumn
	id    string
	plain []byte
}

// seedSecrets stores one value of every sealed column through the store
// and returns them, the signing key last.
func seedSecrets(t *testing.T, db *DB) []secretValue {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	key := storetest.MustCreateSigningKey(t, db, &freight.SigningKey{ID: "grants-1", Purpose: freight.KeyGrants, Public: pub, Private: priv})
	return append(seedSecretsWithoutKey(t, db), secretValue{colPrivateKey, key.ID, priv})
}

// rawSecret reads a secret as the database holds it.
func rawSecret(tb testing.TB, db *DB, c secretColumn, id string) []byte {
	tb.Helper()
	var b []byte
	if err := db.queryRow(tb.Context(), `SELECT `+c.column+` FROM `+c.table+` WHERE id = ?`, id).Scan(bytesCol{&b}); err != nil {
		tb.Fatalf("read %s.%s of %s: %v", c.table, c.column, id, err)
	}
	return b
}

// setRaw writes a value as it is, past the store.
func setRaw(tb testing.TB, db *DB, c secretColumn, id string, v []byte) {
	tb.Helper()
	var arg any = v
	if c.text {
		arg = string(v)
	}
	if _, err := db.exec(tb.Context(), `UPDATE `+c.table+` SET `+c.column+` = ? WHERE id = ?`, arg, id); err != nil {
		tb.Fatalf("write %s.%s of %s: %v", c.table, c.column, id, err)
	}
}

// readSecret reads a secret through the store.
func readSecret(tb testing.TB, db *DB, c secretColumn, id string) ([]byte, error) {
	tb.Helper()
	ctx := tb.Context()
	switch c.name() {
	case colPrivateKey.name():
		keys, err := db.SigningKeys(ctx, freight.KeyGrants)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if k.ID == id {
				return k.Private, nil
			}
		}
		tb.Fatalf("no signing key %s", id)
	case colTOTPSecret.name(), colTOTPPending.name():
		u, err := db.User(ctx, id)
		if err != nil {
			return nil, err
		}
		if c.name() == colTOTPSecret.name() {
			return u.Security.TOTPSecret, nil
		}
		return u.Security.TOTPPending, nil
	case colWebhookSecret.name(), colWebhookPrevious.name():
		w, err := db.Webhook(ctx, id)
		if err != nil {
			return nil, err
		}
		if c.name() == colWebhookSecret.name() {
			return []byte(w.Secret), nil
		}
		return []byte(w.PreviousSecret), nil
	case colUploadURLKey.name():
		u, err := db.Upload(ctx, id)
		if err != nil {
			return nil, err
		}
		return u.URLKey, nil
	}
	tb.Fatalf("no reader for %s.%s", c.table, c.column)
	return nil, nil
}

// checkSealed checks that every value is stored sealed with the key kid
// and reads back as it was stored.
func checkSealed(t *testing.T, db *DB, kid string, values []secretValue) {
	t.Helper()
	for _, v := range values {
		name := v.col.name()
		raw := rawSecret(t, db, v.col, v.id)
		if got, err := seal.KeyID(raw); err != nil || got != kid {
			t.Errorf("%s is stored %.12q…, want a value sealed with key %q (KeyID = %q, %v)", name, raw, kid, got, err)
		}
		if bytes.Contains(raw, v.plain) {
			t.Errorf("%s holds the secret in clear", name)
		}
		got, err := readSecret(t, db, v.col, v.id)
		if err != nil {
			t.Errorf("read %s: %v", name, err)
		} else if !bytes.Equal(got, v.plain) {
			t.Errorf("%s reads %q, want %q", name, got, v.plain)
		}
	}
}

// TestSecretsSealed stores a secret in every sealed column and reads the
// columns as they are: each holds a value sealed with the store's key,
// which reads back as the secret.
func TestSecretsSealed(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		db := openWith(t, url, keysOf(t, "k1"))
		if err := db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		values := seedSecrets(t, db)
		if len(values) != len(secretColumns) {
			t.Fatalf("the test stores %d secrets, the store seals %d columns", len(values), len(secretColumns))
		}
		checkSealed(t, db, "k1", values)
		// Migrating again leaves values sealed with the newest key alone.
		before := make([][]byte, len(values))
		for i, v := range values {
			before[i] = rawSecret(t, db, v.col, v.id)
		}
		if err := db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		for i, v := range values {
			if !bytes.Equal(rawSecret(t, db, v.col, v.id), before[i]) {
				t.Errorf("Migrate sealed %s.%s again, which the newest key sealed already", v.col.table, v.col.column)
			}
		}
	})
}

// TestSecretsMoved copies sealed values to other rows and columns, as a
// person with write access to the database could: none of them opens
// there, and the error says why without the value.
func TestSecretsMoved(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		db := openWith(t, url, keysOf(t, "k1"))
		if err := db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		values := seedSecrets(t, db)
		byCol := map[string]secretValue{}
		for _, v := range values {
			byCol[v.col.name()] = v
		}
		other := storetest.MustCreateUser(t, db, &freight.User{Email: "lee@acme.example", Name: "Lee",
			Security: freight.UserSecurity{TOTPSecret: []byte("lee's own totp key")}})
		otherKey := func() string {
			pub, priv, _ := ed25519.GenerateKey(nil)
			return storetest.MustCreateSigningKey(t, db, &freight.SigningKey{ID: "grants-2", Purpose: freight.KeyGrants, Public: pub, Private: priv}).ID
		}()
		for _, tc := range []struct {
			name     string
			from, to secretColumn
			toID     string
		}{
			{"TOTP secret to another user", colTOTPSecret, colTOTPSecret, other.ID},
			{"TOTP secret to the pending column", colTOTPSecret, colTOTPPending, byCol[colTOTPSecret.name()].id},
			{"private key to another key", colPrivateKey, colPrivateKey, otherKey},
			{"previous webhook secret to the current one", colWebhookPrevious, colWebhookSecret, byCol[colWebhookSecret.name()].id},
		} {
			t.Run(tc.name, func(t *testing.T) {
				from := byCol[tc.from.name()]
				saved := rawSecret(t, db, tc.to, tc.toID)
				defer setRaw(t, db, tc.to, tc.toID, saved)
				setRaw(t, db, tc.to, tc.toID, rawSecret(t, db, tc.from, from.id))
				got, err := readSecret(t, db, tc.to, tc.toID)
				if err == nil {
					t.Fatalf("the moved value opened: %q", got)
				}
				if !errors.Is(err, seal.ErrNotOpened) || !strings.Contains(err.Error(), tc.to.table+"."+tc.to.column+" of "+tc.toID) {
					t.Errorf("error = %v, want seal.ErrNotOpened naming %s.%s of %s", err, tc.to.table, tc.to.column, tc.toID)
				}
				if strings.Contains(err.Error(), string(from.plain)) {
					t.Errorf("the error quotes the secret")
				}
			})
		}
		// Put back, each value opens again: the failures were the moves.
		checkSealed(t, db, "k1", values)
	})
}

// TestSecretsInClear upgrades a database whose secrets an older version
// stored in clear: the store reads them as they are, and Migrate seals
// every one of them, once.
func TestSecretsInClear(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		ctx := t.Context()
		db := openWith(t, url, keysOf(t, "k1"))
		// The schema of the release before sealing, whose check keeps
		// private keys at 64 bytes: the key goes in by hand.
		if err := db.migrate(ctx, 16); err != nil {
			t.Fatal(err)
		}
		pub, priv, _ := ed25519.GenerateKey(nil)
		if _, err := db.exec(ctx, `INSERT INTO signing_keys (id, purpose, public_key, private_key, created_at) VALUES (?, ?, ?, ?, ?)`,
			"grants-1", freight.KeyGrants, []byte(pub), []byte(priv), db.now()); err != nil {
			t.Fatal(err)
		}
		var values []secretValue
		for _, v := range seedSecretsWithoutKey(t, db) {
			setRaw(t, db, v.col, v.id, v.plain)
			values = append(values, v)
		}
		values = append(values, secretValue{colPrivateKey, "grants-1", priv})

		// Before the upgrade is finished, the values in clear read as they
		// are, even by a store without keys.
		keyless := openWith(t, url, nil)
		for _, v := range values[:len(values)-1] {
			got, err := readSecret(t, keyless, v.col, v.id)
			if err != nil || !bytes.Equal(got, v.plain) {
				t.Errorf("%s.%s in clear reads %q, %v; want %q", v.col.table, v.col.column, got, err, v.plain)
			}
		}

		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		checkSealed(t, db, "k1", values)
		before := rawSecret(t, db, colTOTPSecret, values[0].id)
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("Migrate again: %v", err)
		}
		if !bytes.Equal(rawSecret(t, db, colTOTPSecret, values[0].id), before) {
			t.Error("a second Migrate sealed the values again")
		}
		// A new key on a pre-sealing check would have failed: the check
		// now admits sealed keys.
		pub2, priv2, _ := ed25519.GenerateKey(nil)
		storetest.MustCreateSigningKey(t, db, &freight.SigningKey{ID: "grants-2", Purpose: freight.KeyGrants, Public: pub2, Private: priv2})
	})
}

// seedSecretsWithoutKey is seedSecrets without the signing key, for a
// schema that cannot store a sealed one.
func seedSecretsWithoutKey(t *testing.T, db *DB) []secretValue {
	t.Helper()
	ctx := t.Context()
	u := storetest.MustCreateUser(t, db, &freight.User{Email: "kim@acme.example", Name: "Kim",
		Security: freight.UserSecurity{TOTPSecret: []byte("totp secret of 20 b"), TOTPPending: []byte("pending totp secret")}})
	w := storetest.MustCreateWebhook(t, db, "", "https://hooks.vendor.example/freight", freight.EventReleasePublished)
	previous := w.Secret
	w, err := db.UpdateWebhook(ctx, w.ID, func(c *freight.Webhook) error {
		exp := time.Now().Add(time.Hour)
		c.PreviousSecret, c.Secret, c.PreviousSecretExpiresAt = c.Secret, freight.NewWebhookSecret(), &exp
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p := storetest.MustCreateProduct(t, db, &freight.Product{Slug: "mill", Name: "Mill"})
	r := storetest.MustCreateRelease(t, db, &freight.Release{ProductID: p.ID, Version: "1.0.0", Channel: freight.ChannelStable})
	a := storetest.MustCreateArtifact(t, db, &freight.Artifact{ReleaseID: r.ID, Filename: "mill.zip", Platform: "linux", Arch: "x86_64", Size: 10, State: freight.ArtifactUploading})
	up := storetest.MustCreateUpload(t, db, &freight.Upload{ArtifactID: a.ID, Size: 10, PartSize: 5 << 20, State: freight.UploadOpen,
		ExpiresAt: time.Now().Add(time.Hour), URLKey: bytes.Repeat([]byte{0xa5}, 32)})
	return []secretValue{
		{colTOTPSecret, u.ID, u.Security.TOTPSecret},
		{colTOTPPending, u.ID, u.Security.TOTPPending},
		{colWebhookSecret, w.ID, []byte(w.Secret)},
		{colWebhookPrevious, w.ID, []byte(previous)},
		{colUploadURLKey, up.ID, up.URLKey},
	}
}

// TestSecretsRotation adds a key: values sealed with the old one still
// open, Migrate seals them again with the new one, new values use it, and
// the old key can then go; a store without the new key says which key it
// lacks.
func TestSecretsRotation(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		ctx := t.Context()
		old := openWith(t, url, keysOf(t, "k1"))
		if err := old.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		values := seedSecrets(t, old)

		both := openWith(t, url, keysOf(t, "k1", "k2"))
		// Before Migrate, the old key's values open with the new keys.
		for _, v := range values {
			if got, err := readSecret(t, both, v.col, v.id); err != nil || !bytes.Equal(got, v.plain) {
				t.Errorf("%s.%s sealed with k1 reads %q, %v with k1 and k2", v.col.table, v.col.column, got, err)
			}
		}
		if err := both.Migrate(ctx); err != nil {
			t.Fatalf("Migrate with k1 and k2: %v", err)
		}
		checkSealed(t, both, "k2", values)
		u := storetest.MustCreateUser(t, both, &freight.User{Email: "new@acme.example", Name: "New",
			Security: freight.UserSecurity{TOTPSecret: []byte("a new totp secret")}})
		if kid, _ := seal.KeyID(rawSecret(t, both, colTOTPSecret, u.ID)); kid != "k2" {
			t.Errorf("a new secret is sealed with %q, want k2", kid)
		}

		// k1 can go.
		newOnly := openWith(t, url, keysOf(t, "k2"))
		if err := newOnly.Migrate(ctx); err != nil {
			t.Fatalf("Migrate with k2 only: %v", err)
		}
		checkSealed(t, newOnly, "k2", values)

		// A store that lacks k2 reads nothing it sealed, and will not start.
		stale := openWith(t, url, keysOf(t, "k1"))
		_, err := readSecret(t, stale, colTOTPSecret, values[0].id)
		if err == nil || !strings.Contains(err.Error(), `sealed with key "k2", which is not configured`) {
			t.Errorf("reading with k1 only = %v, want an error naming the missing key k2", err)
		}
		err = stale.Migrate(ctx)
		if err == nil || !strings.Contains(err.Error(), `sealed with key "k2", which is not configured`) {
			t.Errorf("Migrate with k1 only = %v, want an error naming the missing key k2", err)
		}

		// Nor does a store whose key k2 has other bytes, a key file made
		// again after it was lost: the start fails rather than every
		// request that needs a secret.
		impostor, err := seal.New(seal.Key{ID: "k2", Secret: bytes.Repeat([]byte{0x42}, seal.KeySize)})
		if err != nil {
			t.Fatal(err)
		}
		err = openWith(t, url, impostor).Migrate(ctx)
		if !errors.Is(err, seal.ErrNotOpened) {
			t.Errorf("Migrate with another key named k2 = %v, want seal.ErrNotOpened", err)
		}
	})
}

// TestSecretsWithoutKeys: a store opened without keys refuses to write a
// secret rather than write it in clear, and says what it lacks.
func TestSecretsWithoutKeys(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		db := openWith(t, url, nil)
		if err := db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		err := db.CreateUser(t.Context(), &freight.User{Email: "kim@acme.example", Name: "Kim",
			Security: freight.UserSecurity{TOTPSecret: []byte("totp secret")}})
		if !errors.Is(err, errNoKeys) {
			t.Errorf("CreateUser with a TOTP secret and no keys = %v, want errNoKeys", err)
		}
		pub, priv, _ := ed25519.GenerateKey(nil)
		err = db.CreateSigningKey(t.Context(), &freight.SigningKey{ID: "k", Purpose: freight.KeyGrants, Public: pub, Private: priv})
		if !errors.Is(err, errNoKeys) {
			t.Errorf("CreateSigningKey with no keys = %v, want errNoKeys", err)
		}
		// What holds no secret is stored as ever.
		storetest.MustCreateUser(t, db, &freight.User{Email: "lee@acme.example", Name: "Lee"})
	})
}

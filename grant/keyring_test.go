package grant_test

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/grant"
	"github.com/freight-portal/freight/internal/testdb"
	"github.com/freight-portal/freight/signing"
	"github.com/freight-portal/freight/sqlstore"
)

// The tests here run grant tokens through real keyrings on a real store.

type clock struct {
	mu sync.Mutex
	t  time.Time
}

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

func openStore(t *testing.T, clk *clock) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(t.Context(), testdb.SQLite(t), slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatalf("sqlstore.Open: %v", err)
	}
	db.SealWith(testdb.SealKeys(t))
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	db.Now = clk.Now
	return db
}

func TestKeyring(t *testing.T) {
	clk := &clock{t: t0}
	st := openStore(t, clk)
	ring := signing.NewKeyring(st, freight.KeyGrants, clk.Now)
	ctx := t.Context()
	c := validClaims()

	tok, err := grant.Encode(ctx, ring, c)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	first, err := ring.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, first.ID+".") {
		t.Errorf("token %q does not name the current key %s", tok, first.ID)
	}
	if got, err := grant.Parse(ctx, tok, ring.PublicKey); err != nil || got != c {
		t.Fatalf("Parse = %+v, %v, want %+v", got, err, c)
	}

	// A key of another keyring: another store, and another purpose in the
	// same store.
	other := signing.NewKeyring(openStore(t, clk), freight.KeyGrants, clk.Now)
	licenses := signing.NewKeyring(st, freight.KeyLicenses, clk.Now)
	for name, signer := range map[string]*signing.Keyring{"other store": other, "licenses": licenses} {
		foreign, err := grant.Encode(ctx, signer, c)
		if err != nil {
			t.Fatalf("%s: Encode: %v", name, err)
		}
		clk.Advance(signing.MissInterval) // let the miss read the store
		_, err = grant.Parse(ctx, foreign, ring.PublicKey)
		wantRefusal(t, name, err, "unknown key")
		// The same token under the key id of ring: the signature is wrong.
		_, rest, _ := strings.Cut(foreign, ".")
		_, err = grant.Parse(ctx, first.ID+"."+rest, ring.PublicKey)
		wantRefusal(t, name+" under our key id", err, "bad signature")
	}

	// Rotation: old tokens keep verifying, new ones use the new key.
	clk.Advance(time.Second)
	rotated, err := ring.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok2, err := grant.Encode(ctx, ring, c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok2, rotated.ID+".") {
		t.Errorf("token after Rotate %q does not name the new key %s", tok2, rotated.ID)
	}
	for _, tk := range []string{tok, tok2} {
		if _, err := grant.Parse(ctx, tk, ring.PublicKey); err != nil {
			t.Errorf("Parse after Rotate: %v", err)
		}
	}

	// Retirement: tokens of the retired key stop verifying.
	if _, err := ring.Retire(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	_, err = grant.Parse(ctx, tok, ring.PublicKey)
	wantRefusal(t, "retired key", err, "unknown key")
	if _, err := grant.Parse(ctx, tok2, ring.PublicKey); err != nil {
		t.Errorf("Parse with the current key after retiring the old one: %v", err)
	}
}

package sqlstore

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/seal"
)

// Secrets that must stay usable, and so cannot be hashed, are sealed (see
// package seal) by the store itself: every write seals them and every read
// opens them, so no caller can forget to, and the database holds none of
// them in clear. Each value is sealed for its table, column and row, so a
// value copied to another row or column does not open.
//
// Databases from before sealing hold these values in clear. A value that
// is not a well-formed sealed value is read as it is, when it has the shape
// of a value of its column, until Migrate seals it (see sealSecrets).

// secretColumn is a column that holds a sealed secret.
type secretColumn struct {
	table, column string
	// text is set for a text column: the sealed value is written as a
	// string (it is ASCII), for PostgreSQL's text type.
	text bool
	// clear reports whether a value that is not sealed is a value stored
	// before sealing began.
	clear func([]byte) bool
}

var (
	colPrivateKey = secretColumn{table: "signing_keys", column: "private_key",
		clear: func(b []byte) bool { return len(b) == ed25519.PrivateKeySize }}
	colTOTPSecret = secretColumn{table: "users", column: "totp_secret",
		clear: func(b []byte) bool { return len(b) <= maxTOTPSecret }}
	colTOTPPending = secretColumn{table: "users", column: "totp_pending",
		clear: func(b []byte) bool { return len(b) <= maxTOTPSecret }}
	colWebhookSecret = secretColumn{table: "webhooks", column: "secret", text: true,
		clear: func(b []byte) bool { return bytes.HasPrefix(b, []byte(freight.WebhookSecretPrefix)) }}
	colWebhookPrevious = secretColumn{table: "webhooks", column: "previous_secret", text: true,
		clear: func(b []byte) bool { return bytes.HasPrefix(b, []byte(freight.WebhookSecretPrefix)) }}
	colUploadURLKey = secretColumn{table: "uploads", column: "url_key",
		clear: func(b []byte) bool { return len(b) <= 64 }}
)

// secretColumns lists every column that holds a sealed secret.
var secretColumns = []secretColumn{colPrivateKey, colTOTPSecret, colTOTPPending, colWebhookSecret, colWebhookPrevious, colUploadURLKey}

// name is "table.column".
func (c secretColumn) name() string { return c.table + "." + c.column }

// context names a row's value of the column: what it is sealed for.
func (c secretColumn) context(id string) string { return c.name() + "/" + id }

// errNoKeys is returned when a secret is written to a store opened
// without keys.
var errNoKeys = errors.New("sqlstore: no key to seal secrets with: the store needs SealWith before it stores secrets")

// SealWith gives the store the keys that seal the secrets it stores and
// open those it reads (see package seal). Call it once, before Migrate,
// which seals the values that an older version stored in clear and those
// sealed with a key other than the newest. Without keys the store refuses
// to write a secret, and reads only those in clear.
func (db *DB) SealWith(keys *seal.Keys) { db.keys = keys }

// seal seals a row's secret. An empty secret, which the store keeps as
// NULL or an empty string, stays empty.
func (s *store) seal(c secretColumn, id string, plain []byte) ([]byte, error) {
	if len(plain) == 0 {
		return nil, nil
	}
	if s.db.keys == nil {
		return nil, errNoKeys
	}
	return s.db.keys.Seal(plain, c.context(id)), nil
}

// sealText is seal for a text column: an empty string for no secret.
func (s *store) sealText(c secretColumn, id, plain string) (string, error) {
	b, err := s.seal(c, id, []byte(plain))
	return string(b), err
}

// open opens a row's secret as it is stored. Its errors name the row and
// the key, never the value.
func (s *store) open(c secretColumn, id string, stored []byte) ([]byte, error) {
	if len(stored) == 0 {
		return nil, nil
	}
	if !seal.IsSealed(stored) {
		if !c.clear(stored) {
			return nil, fmt.Errorf("sqlstore: %s.%s of %s is neither sealed nor a value of the column", c.table, c.column, id)
		}
		return stored, nil
	}
	keys := s.db.keys
	if keys == nil {
		kid, _ := seal.KeyID(stored)
		return nil, fmt.Errorf("sqlstore: %s.%s of %s is sealed with key %q, and the store has no key (SealWith)", c.table, c.column, id, kid)
	}
	plain, err := keys.Open(stored, c.context(id))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %s.%s of %s: %w", c.table, c.column, id, err)
	}
	return plain, nil
}

// openText is open for a text column.
func (s *store) openText(c secretColumn, id, stored string) (string, error) {
	b, err := s.open(c, id, []byte(stored))
	return string(b), err
}

// sealSecrets seals every secret stored in clear, by a version from before
// sealing, and seals again every secret sealed with a key other than the
// newest, after a key was added: once it has run, the older keys can be
// removed. Each column is done in one transaction that holds the migration
// lock, and only rows whose value does not begin as the newest key's
// values do are read, so that a second run, or another replica's, finds
// nothing to do. A value sealed with a key that is not configured stops it
// with an error that names the key.
func (db *DB) sealSecrets(ctx context.Context) error {
	keys := db.keys
	if keys == nil {
		return nil
	}
	prefix := seal.Prefix(keys.Current())
	for _, c := range secretColumns {
		var n int
		err := db.migrationTx(ctx, func(s *store) error {
			var p any = []byte(prefix)
			if c.text {
				p = prefix
			}
			// A value in clear that happens to begin with the prefix (a
			// chance of 2^-40 or less for random bytes) is left as it is,
			// and read as it is.
			rows, err := s.query(ctx, `SELECT id, `+c.column+` FROM `+c.table+` WHERE `+c.column+` IS NOT NULL AND length(`+c.column+`) > 0
				AND substr(`+c.column+`, 1, ?) <> ?`+s.forUpdate(), len(prefix), p)
			if err != nil {
				return err
			}
			type row struct {
				id    string
				value []byte
			}
			var todo []row
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.id, bytesCol{&r.value}); err != nil {
					rows.Close()
					return err
				}
				todo = append(todo, r)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, r := range todo {
				plain, err := s.open(c, r.id, r.value)
				if err != nil {
					return err
				}
				var sealed any = keys.Seal(plain, c.context(r.id))
				if c.text {
					sealed = string(sealed.([]byte))
				}
				if _, err := s.exec(ctx, `UPDATE `+c.table+` SET `+c.column+` = ? WHERE id = ?`, sealed, r.id); err != nil {
					return err
				}
			}
			n = len(todo)
			return nil
		})
		if err != nil {
			return fmt.Errorf("sqlstore: seal %s.%s with key %q: %w", c.table, c.column, keys.Current(), err)
		}
		if n > 0 {
			db.logger.Info("secrets sealed", "table", c.table, "column", c.column, "rows", n, "key", keys.Current())
		}
		if err := db.checkSealed(ctx, c, prefix); err != nil {
			return err
		}
	}
	return nil
}

// checkSealed opens one value of the column sealed with the newest key, so
// that a key that has the id of the one that sealed the values, but not its
// bytes (a lost key file made again), stops the start instead of failing
// every request that needs a secret.
func (db *DB) checkSealed(ctx context.Context, c secretColumn, prefix string) error {
	var p any = []byte(prefix)
	if c.text {
		p = prefix
	}
	var id string
	var v []byte
	err := db.queryRow(ctx, `SELECT id, `+c.column+` FROM `+c.table+` WHERE substr(`+c.column+`, 1, ?) = ? LIMIT 1`, len(prefix), p).Scan(&id, bytesCol{&v})
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlstore: check %s.%s: %w", c.table, c.column, err)
	}
	if _, err := db.open(c, id, v); err != nil {
		return err
	}
	return nil
}

package sqlstore

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"time"
	"unicode"

	"github.com/freight-portal/freight"
)

const signingKeyColumns = `id, purpose, public_key, private_key, created_at, retired_at`

// maxKeyID is the longest key id: it travels in every grant token.
const maxKeyID = 64

func (s *store) scanSigningKey(r scanner) (*freight.SigningKey, error) {
	var k freight.SigningKey
	err := r.Scan(&k.ID, &k.Purpose, bytesCol{&k.Public}, bytesCol{&k.Private}, timeCol{&k.CreatedAt}, nullTimeCol{&k.RetiredAt})
	if err != nil {
		return nil, err
	}
	if k.Private, err = s.open(colPrivateKey, k.ID, k.Private); err != nil {
		return nil, err
	}
	return &k, nil
}

var errSigningKeyNotFound = &errs{notFound: "signing key not found"}

func checkKeyPurpose(purpose string) error {
	switch purpose {
	case freight.KeyGrants, freight.KeyLicenses:
		return nil
	}
	return freight.FieldError("purpose", "must be one of %s, %s", freight.KeyGrants, freight.KeyLicenses)
}

// validSigningKey checks what CreateSigningKey writes. The key id is chosen
// by the caller (it is the key id of the tokens), so it is only bounded:
// not empty, at most 64 bytes, no control characters. The private key must
// be the one of the public key: a key whose halves disagree signs tokens
// that nothing verifies.
func validSigningKey(k *freight.SigningKey) error {
	if k.ID == "" {
		return freight.FieldError("id", "is required")
	}
	if len(k.ID) > maxKeyID {
		return freight.FieldError("id", "must be at most %d bytes", maxKeyID)
	}
	for _, r := range k.ID {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return freight.FieldError("id", "must be printable UTF-8 text")
		}
	}
	if err := checkKeyPurpose(k.Purpose); err != nil {
		return err
	}
	if len(k.Public) != ed25519.PublicKeySize {
		return freight.FieldError("public_key", "must be an Ed25519 public key of %d bytes", ed25519.PublicKeySize)
	}
	if len(k.Private) != ed25519.PrivateKeySize {
		return freight.FieldError("private_key", "must be an Ed25519 private key of %d bytes", ed25519.PrivateKeySize)
	}
	if derived := ed25519.NewKeyFromSeed(k.Private[:ed25519.SeedSize]); !bytes.Equal(derived, k.Private) || !bytes.Equal(derived[ed25519.SeedSize:], k.Public) {
		return freight.FieldError("private_key", "is not the private key of public_key")
	}
	return nil
}

// CreateSigningKey stores k and sets its created time. The key is stored
// as given, retired when RetiredAt is set, its private key sealed; the
// stored key does not share its byte slices with the caller's.
func (s *store) CreateSigningKey(ctx context.Context, k *freight.SigningKey) error {
	c := *k
	if err := validSigningKey(&c); err != nil {
		return err
	}
	c.Public = append([]byte(nil), c.Public...)
	c.Private = append([]byte(nil), c.Private...)
	c.CreatedAt = s.db.now()
	c.RetiredAt = normTimePtr(c.RetiredAt)
	private, err := s.seal(colPrivateKey, c.ID, c.Private)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		c.ID, c.Purpose, c.Public, private, c.CreatedAt, c.RetiredAt)
	if err != nil {
		return s.fail(ctx, err, &errs{idConflict: fmt.Sprintf("a signing key with id %q already exists", c.ID)})
	}
	*k = c
	return nil
}

// SigningKeys lists every key of a purpose, retired or not, newest first
// by created time, then id. A purpose without keys has an empty list; an
// unknown purpose is EINVALID.
func (s *store) SigningKeys(ctx context.Context, purpose string) ([]*freight.SigningKey, error) {
	if err := checkKeyPurpose(purpose); err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, `SELECT `+signingKeyColumns+` FROM signing_keys WHERE purpose = ? ORDER BY created_at DESC, id DESC`, purpose)
	if err != nil {
		return nil, s.fail(ctx, err, nil)
	}
	defer rows.Close()
	out := []*freight.SigningKey{}
	for rows.Next() {
		k, err := s.scanSigningKey(rows)
		if err != nil {
			return nil, s.fail(ctx, err, nil)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, err, nil)
	}
	return out, nil
}

// RetireSigningKey retires the key at the given time (now when zero)
// unless it is retired already, and returns it: retiring twice keeps the
// first time.
func (s *store) RetireSigningKey(ctx context.Context, id string, at time.Time) (*freight.SigningKey, error) {
	if at.IsZero() {
		at = s.db.now()
	}
	var out *freight.SigningKey
	err := s.inTx(ctx, func(s *store) error {
		if _, err := s.exec(ctx, `UPDATE signing_keys SET retired_at = ? WHERE id = ? AND retired_at IS NULL`, at, id); err != nil {
			return s.fail(ctx, err, errSigningKeyNotFound)
		}
		k, err := s.scanSigningKey(s.queryRow(ctx, `SELECT `+signingKeyColumns+` FROM signing_keys WHERE id = ?`, id))
		if err != nil {
			return s.fail(ctx, err, errSigningKeyNotFound)
		}
		out = k
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

package sqlstore

import (
	"bytes"
	"context"
	"time"

	"github.com/freight-portal/freight"
)

// Bounds of a set of recovery codes: a hash is a digest, not a code, and a
// user holds a sheet of codes, not a book.
const (
	maxRecoveryCodes    = 100
	maxRecoveryCodeHash = 64
)

// SetRecoveryCodes replaces all of the user's recovery codes, used or not,
// with the given hashes; an empty list removes them all. The user's row is
// locked first, so that two concurrent replacements leave one set, not the
// union of both.
func (s *store) SetRecoveryCodes(ctx context.Context, userID string, hashes [][]byte) error {
	if len(hashes) > maxRecoveryCodes {
		return freight.FieldError("recovery_codes", "must be at most %d codes", maxRecoveryCodes)
	}
	for i, h := range hashes {
		if len(h) == 0 || len(h) > maxRecoveryCodeHash {
			return freight.FieldError("recovery_codes", "each hash must be 1 to %d bytes", maxRecoveryCodeHash)
		}
		for _, prev := range hashes[:i] {
			if bytes.Equal(prev, h) {
				return freight.FieldError("recovery_codes", "must not repeat a hash")
			}
		}
	}
	return s.inTx(ctx, func(s *store) error {
		if _, err := s.user(ctx, "id", userID, true); err != nil {
			return err
		}
		if _, err := s.exec(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
			return s.fail(ctx, err, nil)
		}
		now := s.db.now()
		for _, h := range hashes {
			_, err := s.exec(ctx, `INSERT INTO recovery_codes (user_id, hash, created_at) VALUES (?, ?, ?)`, userID, cloneBytes(h), now)
			if err != nil {
				return s.fail(ctx, err, errUserNotFound)
			}
		}
		return nil
	})
}

// UseRecoveryCode marks the user's unused code with the hash used, in one
// statement that matches only an unused code: of concurrent uses of one
// code exactly one succeeds. ENOTFOUND when there is no such unused code,
// whether it never existed, was used, or the user does not exist: the
// caller answers all of them alike.
func (s *store) UseRecoveryCode(ctx context.Context, userID string, hash []byte, at time.Time) error {
	if len(hash) == 0 {
		return &freight.Error{Code: freight.ENOTFOUND, Message: "recovery code not found"}
	}
	if at.IsZero() {
		at = s.db.now()
	}
	res, err := s.exec(ctx, `UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND hash = ? AND used_at IS NULL`, at, userID, hash)
	if err != nil {
		return s.fail(ctx, err, nil)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail(ctx, err, nil)
	}
	if n == 0 {
		return &freight.Error{Code: freight.ENOTFOUND, Message: "recovery code not found"}
	}
	return nil
}

// RecoveryCodesLeft counts the user's unused recovery codes; ENOTFOUND if
// the user does not exist.
func (s *store) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	var n int
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL`, userID).Scan(&n); err != nil {
		return 0, s.fail(ctx, err, nil)
	}
	if n == 0 {
		if err := s.mustExist(ctx, []parent{userNamed(userID)}); err != nil {
			return 0, err
		}
	}
	return n, nil
}

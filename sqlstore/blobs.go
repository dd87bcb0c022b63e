package sqlstore

import (
	"context"
	"time"

	"github.com/freight-portal/freight"
)

func checkDigest(digest string) error {
	if !freight.ValidDigest(digest) {
		return freight.FieldError("digest", "must be 64 lower-case hexadecimal digits")
	}
	return nil
}

func checkLockOwner(owner string) error {
	if owner == "" {
		return freight.FieldError("owner", "must not be empty")
	}
	return nil
}

// BlobReferenced reports whether any artifact, in any state, names digest
// as its SHA-256. The redundant test that sha256 is not empty lets both
// databases use the partial index artifacts_sha256_idx, whose condition
// it is.
func (s *store) BlobReferenced(ctx context.Context, digest string) (bool, error) {
	if err := checkDigest(digest); err != nil {
		return false, err
	}
	var found bool
	err := s.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM artifacts WHERE sha256 = ? AND sha256 <> '')`, digest).Scan(boolCol{&found})
	if err != nil {
		return false, s.fail(ctx, err, nil)
	}
	return found, nil
}

// LockBlob takes the lock on digest for owner until the given time, in one
// statement: it inserts the lock, or takes the existing one over when owner
// holds it already or it has expired by the store's clock. A statement that
// changes no row met a live lock of another owner. On PostgreSQL the upsert
// waits for a concurrent insert of the same digest and then checks the
// condition against the row that insert committed; SQLite runs one writer
// at a time. Either way exactly one of racing owners wins.
//
// A zero until is refused: it is a caller that forgot to set one, and the
// lock would be expired as soon as taken.
func (s *store) LockBlob(ctx context.Context, digest, owner string, until time.Time) error {
	if err := checkDigest(digest); err != nil {
		return err
	}
	if err := checkLockOwner(owner); err != nil {
		return err
	}
	if until.IsZero() {
		return freight.FieldError("until", "must be set")
	}
	res, err := s.exec(ctx, `INSERT INTO blob_locks (digest, owner, until) VALUES (?, ?, ?)
		ON CONFLICT (digest) DO UPDATE SET owner = excluded.owner, until = excluded.until
		WHERE blob_locks.owner = excluded.owner OR blob_locks.until < ?`,
		digest, owner, until, s.db.now())
	if err != nil {
		return s.fail(ctx, err, nil)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail(ctx, err, nil)
	}
	if n == 0 {
		return freight.Errorf(freight.ECONFLICT, "blob is locked")
	}
	return nil
}

// UnlockBlob releases owner's lock on digest. A lock held by another owner,
// or none, is left as it is.
func (s *store) UnlockBlob(ctx context.Context, digest, owner string) error {
	if err := checkDigest(digest); err != nil {
		return err
	}
	if err := checkLockOwner(owner); err != nil {
		return err
	}
	if _, err := s.exec(ctx, `DELETE FROM blob_locks WHERE digest = ? AND owner = ?`, digest, owner); err != nil {
		return s.fail(ctx, err, nil)
	}
	return nil
}

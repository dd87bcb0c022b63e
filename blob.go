package freight

import (
	"context"
	"io"
	"time"
)

// BlobStore keeps immutable blobs named by the SHA-256 of their bytes, as 64
// lower-case hexadecimal digits. Identical files are stored once; edges and
// CDNs may cache a blob forever. Implementations live in blob/fs and blob/s3
// and pass the conformance suite in blob/blobtest. A BlobStore is safe for
// concurrent use.
//
// Error contract, for every method:
//   - ENOTFOUND when the blob or upload does not exist;
//   - EINVALID for a malformed digest, a range that starts beyond the end,
//     or bytes that do not match what was declared (Put, FinishUpload);
//   - ECONFLICT when an upload's part is being replaced by a newer send of
//     the same part, or the upload is being finished;
//   - EUNAVAILABLE when the backend cannot be reached;
//   - EINTERNAL otherwise.
//
// No method builds a path or key from anything but a validated digest or an
// upload id the store generated itself.
type BlobStore interface {
	// Put stores size bytes read from r as the blob named digest. The blob
	// appears whole or not at all: if r yields more or fewer than size bytes,
	// or bytes that do not hash to digest, nothing is stored and Put returns
	// EINVALID. Putting a blob that exists already succeeds; r may then be
	// left unread.
	Put(ctx context.Context, digest string, size int64, r io.Reader) error

	// Open returns length bytes of a blob starting at offset; length < 0
	// reads to the end, and a length past the end stops at the end. An
	// offset beyond the size is EINVALID (an offset equal to the size gives
	// an empty reader). The caller closes the reader.
	Open(ctx context.Context, digest string, offset, length int64) (io.ReadCloser, error)

	// Stat returns the size and modification time of a blob.
	Stat(ctx context.Context, digest string) (BlobInfo, error)

	// Delete removes a blob; ENOTFOUND if there is none.
	Delete(ctx context.Context, digest string) error

	// List returns blobs in digest order, starting after the digest after
	// ("" for the first page), at most limit of them (clamped to 1..1000),
	// and the cursor of the next page, "" on the last page. Uploads in
	// progress are not blobs and are not listed.
	List(ctx context.Context, after string, limit int) ([]BlobInfo, string, error)
}

// BlobInfo describes a stored blob.
type BlobInfo struct {
	Digest  string
	Size    int64
	ModTime time.Time
}

// MultipartStore is the capability of a BlobStore to receive one blob in
// parts, sent in parallel and in any order, resumable until completed or
// aborted. It mirrors S3 multipart upload so that the S3 backend lets
// clients send parts straight to the bucket.
//
// Parts are numbered from 1; every part is partSize bytes except the last,
// which holds the rest (an empty blob is one empty part). Backends may
// require a least part size (S3: 5 MiB); the portal never asks for less.
// Sending a part again replaces it; a send that fails half-way leaves the
// part missing.
type MultipartStore interface {
	// CreateUpload starts a staging area for a blob of size bytes sent in
	// parts of partSize bytes and returns its id, opaque to callers.
	CreateUpload(ctx context.Context, size, partSize int64) (uploadID string, err error)

	// ListParts returns the parts received so far, in number order.
	ListParts(ctx context.Context, uploadID string) ([]UploadedPart, error)

	// FinishUpload assembles the parts into one staged object, checks that
	// every part arrived with its right size, hashes the object (streamed,
	// in constant memory), and returns its digest. A missing or misshapen
	// part is EINVALID naming the part. FinishUpload may be called again
	// after a crash or an error; it then hashes again.
	FinishUpload(ctx context.Context, uploadID string, size, partSize int64) (digest string, err error)

	// CommitUpload makes the staged object the blob named digest and
	// removes the staging area. digest must be the value FinishUpload
	// returned, and no part may have arrived since: otherwise EINVALID, so
	// that no blob is ever stored under a name that is not its hash. If
	// that blob exists already, the staged copy is discarded. Committing an
	// upload that was committed already succeeds when the blob exists.
	CommitUpload(ctx context.Context, uploadID, digest string) error

	// AbortUpload discards a staging area and every part in it. Aborting
	// an upload that does not exist (any more) succeeds; an id the store
	// cannot have made is ENOTFOUND.
	AbortUpload(ctx context.Context, uploadID string) error
}

// UploadedPart is a part received by a MultipartStore.
type UploadedPart struct {
	Number int    `json:"number"`
	Size   int64  `json:"size"`
	ETag   string `json:"etag,omitempty"`
}

// PartWriter is the capability of a MultipartStore whose parts travel
// through the portal (the filesystem backend): the portal receives the part
// and writes it.
type PartWriter interface {
	// WritePart stores part n of an upload from r, which must yield exactly
	// size bytes; otherwise nothing of the part counts and WritePart
	// returns EINVALID. A part counts only once it is durable.
	WritePart(ctx context.Context, uploadID string, n int, size int64, r io.Reader) error
}

// PartPresigner is the capability of a MultipartStore that accepts parts
// straight from clients (S3): it signs a URL to which a client PUTs part n.
type PartPresigner interface {
	PresignPart(ctx context.Context, uploadID string, n int, ttl time.Duration) (url string, err error)
}

// ValidDigest reports whether s is a SHA-256 digest as blob names use it.
func ValidDigest(s string) bool { return sha256RE.MatchString(s) }

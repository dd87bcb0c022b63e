// Package fs is the local filesystem freight.BlobStore: the embedded default
// of a one-machine portal. Blobs are files named by their digest,
//
//	<dir>/sha256/<first 2 hex digits>/<digest>   the blobs
//	<dir>/uploads/<upload id>/                   multipart uploads in progress
//	<dir>/tmp/                                   files being written
//
// and every path is built from a digest checked with freight.ValidDigest or
// from an upload id of the shape the store generates, never from anything
// else a caller passes.
//
// # Crash safety
//
// A blob becomes visible under sha256/ only by a rename of a complete,
// fsynced file (Put's temporary file or a finished upload's data file),
// followed by an fsync of the directory that holds it. A process killed at
// any point leaves either the whole blob or nothing under sha256/; what it
// leaves behind is a file in tmp/ or a directory in uploads/, which List
// never shows. New removes entries of tmp/ untouched for a day; upload
// directories belong to upload sessions and go when the portal aborts them.
//
// The parts of an upload are written in place into one preallocated data
// file, so that committing is a rename and never a copy of tens of
// gigabytes. A part counts (has a marker in parts/) only once its bytes are
// fsynced, and the marker of a part is removed, durably, before the part is
// written again, so a marker never describes bytes that were overwritten.
//
// # Concurrency
//
// A Store is safe for concurrent use. Writers of one upload coordinate in
// memory: one process (any number of Store values in it) owns a directory.
// Blobs themselves tolerate more (Put and Commit only ever rename complete
// files into place), but two processes writing parts of the same upload are
// not coordinated.
package fs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/freight-portal/freight"
)

var (
	_ freight.BlobStore      = (*Store)(nil)
	_ freight.MultipartStore = (*Store)(nil)
	_ freight.PartWriter     = (*Store)(nil)
)

// staleAfter is how long an entry of tmp/ may stay untouched before New
// removes it. A write in progress touches its file with every buffer, so a
// day of silence means the process that wrote it is gone.
const staleAfter = 24 * time.Hour

// Store keeps blobs in a directory. Create it with New or Open.
type Store struct {
	dir string // absolute
}

// New returns a store in dir, creating dir (mode 0700) and its
// subdirectories if needed, and removing what crashed writers left in tmp/
// more than a day ago.
func New(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob directory: %w", err)
	}
	s := &Store{dir: abs}
	for _, d := range []string{s.dir, s.blobRoot(), s.uploadRoot(), s.tmpRoot()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("blob directory: %w", err)
		}
	}
	if err := s.removeStale(time.Now().Add(-staleAfter)); err != nil {
		return nil, fmt.Errorf("blob directory: clean tmp: %w", err)
	}
	return s, nil
}

// Open returns the store named by a file:///absolute/path URL, as the
// --blobs flag holds it.
func Open(rawURL string) (*Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("blob URL: %w", err)
	}
	if u.Scheme != "file" {
		return nil, fmt.Errorf("blob URL: scheme %q is not file", u.Scheme)
	}
	if u.Host != "" && u.Host != "localhost" {
		return nil, fmt.Errorf("blob URL: host %q: a file URL names a local directory: file:///path", u.Host)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return nil, errors.New("blob URL: a file URL takes only a path: file:///path")
	}
	p := filepath.FromSlash(u.Path)
	if !filepath.IsAbs(p) {
		return nil, fmt.Errorf("blob URL: path %q is not absolute: file:///path", u.Path)
	}
	return New(p)
}

func (s *Store) blobRoot() string   { return filepath.Join(s.dir, "sha256") }
func (s *Store) uploadRoot() string { return filepath.Join(s.dir, "uploads") }
func (s *Store) tmpRoot() string    { return filepath.Join(s.dir, "tmp") }

// blobPath returns the path of a blob; digest must have been validated.
func (s *Store) blobPath(digest string) string {
	return filepath.Join(s.blobRoot(), digest[:2], digest)
}

func checkDigest(digest string) error {
	if !freight.ValidDigest(digest) {
		return freight.FieldError("digest", "must be 64 lower-case hexadecimal digits")
	}
	return nil
}

// Put implements freight.BlobStore. The bytes go to a temporary file in
// tmp/, on the same filesystem as the blobs, and are renamed into place
// only once they are complete, checked and fsynced.
func (s *Store) Put(ctx context.Context, digest string, size int64, r io.Reader) (err error) {
	if err := checkDigest(digest); err != nil {
		return err
	}
	if size < 0 {
		return freight.FieldError("size", "must not be negative")
	}
	final := s.blobPath(digest)
	if _, err := os.Stat(final); err == nil {
		return nil // content addressing: the bytes are the same
	} else if !errors.Is(err, iofs.ErrNotExist) {
		return freight.Internal(err)
	}

	f, err := os.CreateTemp(s.tmpRoot(), "put-*")
	if err != nil {
		return freight.Internal(err)
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(f.Name())
		}
	}()

	h := sha256.New()
	err = readExact(ctx, r, size, func(p []byte) error {
		h.Write(p)
		if _, err := f.Write(p); err != nil {
			return freight.Internal(err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != digest {
		return freight.Errorf(freight.EINVALID, "the bytes hash to sha256 %s, not to the digest declared", got)
	}
	if err := f.Sync(); err != nil {
		return freight.Internal(err)
	}
	if err := f.Close(); err != nil {
		return freight.Internal(err)
	}
	// Another Put of the same blob may have won the race meanwhile;
	// renaming over its file is harmless because the bytes are the same,
	// and readers that opened it keep their file.
	if err := s.moveIntoPlace(f.Name(), digest); err != nil {
		return err
	}
	done = true
	return nil
}

// moveIntoPlace renames a complete, fsynced file to the path of the blob
// digest and makes the rename durable.
func (s *Store) moveIntoPlace(src, digest string) error {
	shard := filepath.Dir(s.blobPath(digest))
	created := false
	if _, err := os.Stat(shard); errors.Is(err, iofs.ErrNotExist) {
		if err := os.Mkdir(shard, 0o700); err != nil && !errors.Is(err, iofs.ErrExist) {
			return freight.Internal(err)
		}
		created = true
	}
	if err := os.Rename(src, s.blobPath(digest)); err != nil {
		return freight.Internal(err)
	}
	if err := syncDir(shard); err != nil {
		return freight.Internal(err)
	}
	if created {
		if err := syncDir(s.blobRoot()); err != nil {
			return freight.Internal(err)
		}
	}
	return nil
}

// Open implements freight.BlobStore. The reader it returns reads straight
// from the *os.File, and its WriteTo hands that file to the destination's
// ReadFrom: io.Copy into an http.ResponseWriter on a plain TCP connection
// then sends the range with sendfile(2) without copying it through user
// space. (io.CopyN wraps the reader and loses that; use io.Copy.)
func (s *Store) Open(ctx context.Context, digest string, offset, length int64) (io.ReadCloser, error) {
	if err := checkDigest(digest); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, freight.FieldError("offset", "must not be negative")
	}
	f, err := os.Open(s.blobPath(digest))
	if err != nil {
		return nil, notFound(err, "blob")
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, freight.Internal(err)
	}
	if offset > fi.Size() {
		f.Close()
		return nil, freight.Errorf(freight.EINVALID, "offset %d is beyond the end of the blob", offset)
	}
	n := fi.Size() - offset
	if length >= 0 && length < n {
		n = length
	}
	// The file offset, not a SectionReader, carries the start: sendfile
	// reads from the file's own offset, and only an *os.File, bare or in
	// an *io.LimitedReader, qualifies for it.
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, freight.Internal(err)
	}
	return &fileReader{lr: io.LimitedReader{R: f, N: n}, f: f}, nil
}

// fileReader reads a range of a blob file.
type fileReader struct {
	lr io.LimitedReader // over f
	f  *os.File
}

func (r *fileReader) Read(p []byte) (int, error) { return r.lr.Read(p) }

// WriteTo lets io.Copy reach the destination's ReadFrom with the
// *io.LimitedReader over the *os.File, the shape net and os recognise for
// sendfile and copy_file_range.
func (r *fileReader) WriteTo(w io.Writer) (int64, error) { return io.Copy(w, &r.lr) }

func (r *fileReader) Close() error { return r.f.Close() }

// Stat implements freight.BlobStore.
func (s *Store) Stat(ctx context.Context, digest string) (freight.BlobInfo, error) {
	if err := checkDigest(digest); err != nil {
		return freight.BlobInfo{}, err
	}
	fi, err := os.Stat(s.blobPath(digest))
	if err != nil {
		return freight.BlobInfo{}, notFound(err, "blob")
	}
	return freight.BlobInfo{Digest: digest, Size: fi.Size(), ModTime: fi.ModTime().UTC()}, nil
}

// Delete implements freight.BlobStore. Empty shard directories stay: a
// concurrent Put may be about to rename a file into one.
func (s *Store) Delete(ctx context.Context, digest string) error {
	if err := checkDigest(digest); err != nil {
		return err
	}
	p := s.blobPath(digest)
	if err := os.Remove(p); err != nil {
		return notFound(err, "blob")
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return freight.Internal(err)
	}
	return nil
}

// List implements freight.BlobStore. Shards and the files in them are read
// in name order, which for lower-case hex is digest order; names that are
// not digests of their shard (editor backups, stray files) are skipped.
func (s *Store) List(ctx context.Context, after string, limit int) ([]freight.BlobInfo, string, error) {
	if after != "" && !freight.ValidDigest(after) {
		return nil, "", freight.FieldError("after", "must be empty or a digest of 64 lower-case hexadecimal digits")
	}
	limit = min(max(limit, 1), 1000)
	shards, err := os.ReadDir(s.blobRoot())
	if err != nil {
		return nil, "", freight.Internal(err)
	}
	var out []freight.BlobInfo
	for _, sh := range shards {
		name := sh.Name()
		if !sh.IsDir() || len(name) != 2 || !isLowerHex(name) || (after != "" && name < after[:2]) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, "", freight.Internal(err)
		}
		entries, err := os.ReadDir(filepath.Join(s.blobRoot(), name))
		if err != nil {
			if errors.Is(err, iofs.ErrNotExist) {
				continue
			}
			return nil, "", freight.Internal(err)
		}
		for _, e := range entries {
			d := e.Name()
			if d <= after || !e.Type().IsRegular() || !freight.ValidDigest(d) || d[:2] != name {
				continue
			}
			fi, err := e.Info()
			if errors.Is(err, iofs.ErrNotExist) {
				continue // deleted since ReadDir
			} else if err != nil {
				return nil, "", freight.Internal(err)
			}
			out = append(out, freight.BlobInfo{Digest: d, Size: fi.Size(), ModTime: fi.ModTime().UTC()})
			// One more than asked tells whether there is a next page.
			if len(out) > limit {
				return out[:limit], out[limit-1].Digest, nil
			}
		}
	}
	return out, "", nil
}

// removeStale removes entries of tmp/ not modified since before.
func (s *Store) removeStale(before time.Time) error {
	entries, err := os.ReadDir(s.tmpRoot())
	if err != nil {
		return err
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			if errors.Is(err, iofs.ErrNotExist) {
				continue
			}
			return err
		}
		if fi.ModTime().Before(before) {
			if err := os.RemoveAll(filepath.Join(s.tmpRoot(), e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// readExact reads exactly size bytes from r and hands them to write in
// chunks. It reads one byte past size to tell an exact reader from a long
// one. A reader that yields more or fewer bytes is EINVALID; an error of r
// keeps its code when it is a *freight.Error (the server's body limit, say)
// and is internal otherwise.
func readExact(ctx context.Context, r io.Reader, size int64, write func([]byte) error) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return freight.Internal(err)
		}
		b := *bp
		if rest := size - n; rest < int64(len(b)) {
			b = b[:rest+1]
		}
		m, rerr := r.Read(b)
		if m > 0 {
			if n+int64(m) > size {
				return freight.Errorf(freight.EINVALID, "the body holds more than the %d bytes declared", size)
			}
			if err := write(b[:m]); err != nil {
				return err
			}
			n += int64(m)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if _, ok := errors.AsType[*freight.Error](rerr); ok {
				return rerr
			}
			return freight.Internal(fmt.Errorf("read body: %w", rerr))
		}
	}
	if n < size {
		return freight.Errorf(freight.EINVALID, "the body holds %d bytes, not the %d declared", n, size)
	}
	return nil
}

// notFound maps a missing file to ENOTFOUND about what, and any other error
// to an internal one.
func notFound(err error, what string) error {
	if errors.Is(err, iofs.ErrNotExist) {
		return freight.Errorf(freight.ENOTFOUND, "%s not found", what)
	}
	return freight.Internal(err)
}

// syncDir makes the creation, rename or removal of entries in dir durable.
// Windows cannot fsync a directory and does not need to.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writeFileAtomic replaces dir/name by data, durably: temporary file,
// fsync, rename, fsync of dir. Readers see the old content or the new one.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

func isLowerHex(s string) bool {
	return strings.IndexFunc(s, func(c rune) bool { return !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') }) < 0
}

// Upload ids are 26 characters of lower-case base32: 130 random bits.
const (
	uploadIDLen      = 26
	uploadIDAlphabet = "abcdefghijklmnopqrstuvwxyz234567"
)

func newUploadID() string {
	var b [uploadIDLen]byte
	var r [uploadIDLen]byte
	if _, err := rand.Read(r[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	for i := range b {
		b[i] = uploadIDAlphabet[r[i]&31]
	}
	return string(b[:])
}

func validUploadID(id string) bool {
	return len(id) == uploadIDLen && strings.IndexFunc(id, func(c rune) bool {
		return !strings.ContainsRune(uploadIDAlphabet, c)
	}) < 0
}

// sortedKeys is for error messages that name the lowest part.
func sortedKeys(m map[int]int) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// File opens a blob as a file, for callers that serve it with
// http.ServeContent: net/http then sends it with sendfile(2), without
// copying it through user space. The caller closes the file.
func (s *Store) File(ctx context.Context, digest string) (*os.File, error) {
	if err := checkDigest(digest); err != nil {
		return nil, err
	}
	f, err := os.Open(s.blobPath(digest))
	if err != nil {
		return nil, notFound(err, "blob")
	}
	return f, nil
}

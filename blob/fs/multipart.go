package fs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/freight-portal/freight"
)

// An upload directory holds
//
//	meta       {"size":…, "part_size":…}, written once at creation
//	data       the blob being assembled, preallocated (sparse) to size
//	parts/<n>  the marker of a durable part: {"size":…, "crc32c":…}
//	finished   the digest FinishUpload computed, checked by CommitUpload
//
// CreateUpload builds the directory in tmp/ and renames it into uploads/,
// so an upload directory is never half made.

type uploadMeta struct {
	Size     int64 `json:"size"`
	PartSize int64 `json:"part_size"`
}

func (m uploadMeta) parts() int {
	if m.Size <= 0 {
		return 1 // an empty blob is one empty part, as S3 has it
	}
	return int((m.Size + m.PartSize - 1) / m.PartSize)
}

// partSize returns the size of part n: partSize except for the last part.
func (m uploadMeta) partSize(n int) int64 {
	off := int64(n-1) * m.PartSize
	return max(min(m.PartSize, m.Size-off), 0)
}

// partMarker records a durable part. Its checksum is CRC32C, not SHA-256:
// the file's SHA-256 is computed once, at FinishUpload, and a second
// SHA-256 of every byte as it arrives cost the upload a third of its CPU
// (bench/README.md). Markers written by earlier versions carry SHA256.
type partMarker struct {
	Size   int64  `json:"size"`
	CRC32C string `json:"crc32c,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// etag is the part's ETag in ListParts.
func (m partMarker) etag() string {
	if m.CRC32C != "" {
		return "crc32c:" + m.CRC32C
	}
	return m.SHA256
}

// castagnoli is the CRC32C table; the hardware computes it on amd64 and
// arm64 at many GB/s.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// uploadState coordinates, in memory, the calls on one upload directory:
// part writers of the same part, and part writers against FinishUpload,
// CommitUpload and AbortUpload. Every write into data happens under mu
// after checking that the writer is still the newest of its part and the
// upload is still open; this is what keeps a straggling writer from
// touching a file that has become a blob.
type uploadState struct {
	refs int // guarded by registry.mu

	mu        sync.Mutex
	closed    bool           // committed or aborted
	finishing bool           // FinishUpload is checking and hashing
	gen       map[int]uint64 // newest writer of each part
	active    map[int]int    // writers in flight of each part
}

// registry holds the state of the uploads that calls are using, keyed by
// absolute directory, so that Store values opened on one directory share it.
var registry = struct {
	mu sync.Mutex
	m  map[string]*uploadState
}{m: map[string]*uploadState{}}

func acquire(dir string) *uploadState {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	st := registry.m[dir]
	if st == nil {
		st = &uploadState{gen: map[int]uint64{}, active: map[int]int{}}
		registry.m[dir] = st
	}
	st.refs++
	return st
}

func release(dir string, st *uploadState) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if st.refs--; st.refs == 0 {
		delete(registry.m, dir)
	}
}

// uploadDir returns the directory of an upload. An id of another shape
// cannot be one this store made: ENOTFOUND, and no path is built from it.
func (s *Store) uploadDir(id string) (string, error) {
	if !validUploadID(id) {
		return "", freight.Errorf(freight.ENOTFOUND, "upload not found")
	}
	return filepath.Join(s.uploadRoot(), id), nil
}

func readMeta(dir string) (uploadMeta, error) {
	var m uploadMeta
	b, err := os.ReadFile(filepath.Join(dir, "meta"))
	if err != nil {
		return m, notFound(err, "upload")
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, freight.Internal(fmt.Errorf("upload meta: %w", err))
	}
	return m, nil
}

func checkShape(size, partSize int64) error {
	if size < 0 {
		return freight.FieldError("size", "must not be negative")
	}
	if partSize <= 0 {
		return freight.FieldError("part_size", "must be positive")
	}
	if n := (uploadMeta{size, partSize}).parts(); n > freight.MaxUploadParts {
		return freight.FieldError("part_size", "makes %d parts; at most %d are allowed", n, freight.MaxUploadParts)
	}
	return nil
}

// CreateUpload implements freight.MultipartStore.
func (s *Store) CreateUpload(ctx context.Context, size, partSize int64) (string, error) {
	if err := checkShape(size, partSize); err != nil {
		return "", err
	}
	staging, err := os.MkdirTemp(s.tmpRoot(), "upload-*")
	if err != nil {
		return "", freight.Internal(err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(staging)
		}
	}()
	f, err := os.OpenFile(filepath.Join(staging, "data"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", freight.Internal(err)
	}
	// A sparse file of the final size: parts land at their offsets, in any
	// order, and the disk fills as they arrive.
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", freight.Internal(err)
	}
	if err := os.Mkdir(filepath.Join(staging, "parts"), 0o700); err != nil {
		return "", freight.Internal(err)
	}
	meta, err := json.Marshal(uploadMeta{Size: size, PartSize: partSize})
	if err != nil {
		return "", freight.Internal(err)
	}
	if err := writeFileAtomic(staging, "meta", meta); err != nil {
		return "", freight.Internal(err)
	}
	id := newUploadID()
	if err := os.Rename(staging, filepath.Join(s.uploadRoot(), id)); err != nil {
		return "", freight.Internal(err)
	}
	done = true
	if err := syncDir(s.uploadRoot()); err != nil {
		return "", freight.Internal(err)
	}
	return id, nil
}

// WritePart implements freight.PartWriter. The part is written in place
// into the data file; its marker appears only after an fsync. When the same
// part is sent again while an earlier send is still running, the newer send
// wins: the older one stops at its next buffer with ECONFLICT and never
// writes again, so the bytes of the part are those of one send. (This is
// what a client retrying a stalled part needs: its retry must not wait for
// the stalled connection to time out.)
func (s *Store) WritePart(ctx context.Context, uploadID string, n int, size int64, r io.Reader) error {
	dir, err := s.uploadDir(uploadID)
	if err != nil {
		return err
	}
	st := acquire(dir)
	defer release(dir, st)
	m, err := readMeta(dir)
	if err != nil {
		return err
	}
	if n < 1 || n > m.parts() {
		return freight.FieldError("part", "part %d does not exist: the upload has parts 1 to %d", n, m.parts())
	}
	if want := m.partSize(n); size != want {
		return freight.FieldError("size", "part %d must have %d bytes, not %d", n, want, size)
	}

	st.mu.Lock()
	if err := st.open(); err != nil {
		st.mu.Unlock()
		return err
	}
	st.gen[n]++
	gen := st.gen[n]
	st.active[n]++
	// The part is about to change: its old marker, and the digest of the
	// whole, must go (durably) before its first byte does.
	err = invalidate(dir, n)
	st.mu.Unlock()
	defer func() {
		st.mu.Lock()
		if st.active[n]--; st.active[n] == 0 {
			delete(st.active, n)
		}
		st.mu.Unlock()
	}()
	if err != nil {
		return freight.Internal(err)
	}

	f, err := os.OpenFile(filepath.Join(dir, "data"), os.O_WRONLY, 0)
	if err != nil {
		return notFound(err, "upload")
	}
	defer f.Close()
	h := crc32.New(castagnoli)
	w := io.NewOffsetWriter(f, int64(n-1)*m.PartSize)
	err = readExact(ctx, r, size, func(p []byte) error {
		h.Write(p)
		st.mu.Lock()
		defer st.mu.Unlock()
		if err := st.newest(n, gen); err != nil {
			return err
		}
		if _, err := w.Write(p); err != nil {
			return freight.Internal(err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Outside the lock: an fsync of a big file takes a while, and other
	// parts keep flowing meanwhile.
	if err := f.Sync(); err != nil {
		return freight.Internal(err)
	}
	marker, err := json.Marshal(partMarker{Size: size, CRC32C: hex.EncodeToString(h.Sum(nil))})
	if err != nil {
		return freight.Internal(err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if err := st.newest(n, gen); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, "parts"), strconv.Itoa(n), marker); err != nil {
		return freight.Internal(err)
	}
	return nil
}

// open reports whether parts may be written. Called with mu held.
func (st *uploadState) open() error {
	if st.closed {
		return freight.Errorf(freight.ENOTFOUND, "upload not found")
	}
	if st.finishing {
		return freight.Errorf(freight.ECONFLICT, "the upload is being finished")
	}
	return nil
}

// newest reports whether the writer gen of part n may still write. Called
// with mu held.
func (st *uploadState) newest(n int, gen uint64) error {
	if err := st.open(); err != nil {
		return err
	}
	if st.gen[n] != gen {
		return freight.Errorf(freight.ECONFLICT, "part %d is being sent again by a newer request", n)
	}
	return nil
}

// invalidate removes the marker of part n and the finished digest, durably.
func invalidate(dir string, n int) error {
	for _, p := range []string{filepath.Join(dir, "parts", strconv.Itoa(n)), filepath.Join(dir, "finished")} {
		err := os.Remove(p)
		if errors.Is(err, iofs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := syncDir(filepath.Dir(p)); err != nil {
			return err
		}
	}
	return nil
}

// ListParts implements freight.MultipartStore. The ETag of a part is the
// CRC32C of its bytes.
func (s *Store) ListParts(ctx context.Context, uploadID string) ([]freight.UploadedPart, error) {
	dir, err := s.uploadDir(uploadID)
	if err != nil {
		return nil, err
	}
	m, err := readMeta(dir)
	if err != nil {
		return nil, err
	}
	markers, err := readMarkers(dir, m.parts())
	if err != nil {
		return nil, err
	}
	parts := make([]freight.UploadedPart, 0, len(markers))
	for n, mk := range markers {
		parts = append(parts, freight.UploadedPart{Number: n, Size: mk.Size, ETag: mk.etag()})
	}
	slices.SortFunc(parts, func(a, b freight.UploadedPart) int { return a.Number - b.Number })
	return parts, nil
}

// readMarkers returns the markers of parts 1..parts by number. Temporary
// files and other names in parts/ are not markers.
func readMarkers(dir string, parts int) (map[int]partMarker, error) {
	entries, err := os.ReadDir(filepath.Join(dir, "parts"))
	if err != nil {
		return nil, notFound(err, "upload")
	}
	markers := make(map[int]partMarker, len(entries))
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n < 1 || n > parts || strconv.Itoa(n) != e.Name() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "parts", e.Name()))
		if errors.Is(err, iofs.ErrNotExist) {
			continue // being sent again
		} else if err != nil {
			return nil, freight.Internal(err)
		}
		var mk partMarker
		if err := json.Unmarshal(b, &mk); err != nil {
			return nil, freight.Internal(fmt.Errorf("part %d marker: %w", n, err))
		}
		markers[n] = mk
	}
	return markers, nil
}

// FinishUpload implements freight.MultipartStore. The data file is the
// assembled object already; finishing checks the markers, hashes the file
// and records the digest for CommitUpload. It refuses to start while a
// part is still being received, and parts cannot start while it runs.
func (s *Store) FinishUpload(ctx context.Context, uploadID string, size, partSize int64) (string, error) {
	dir, err := s.uploadDir(uploadID)
	if err != nil {
		return "", err
	}
	st := acquire(dir)
	defer release(dir, st)
	m, err := readMeta(dir)
	if err != nil {
		return "", err
	}
	if m.Size != size || m.PartSize != partSize {
		return "", freight.Errorf(freight.EINVALID, "the upload was created with size %d and part size %d, not %d and %d",
			m.Size, m.PartSize, size, partSize)
	}

	st.mu.Lock()
	if err := st.open(); err != nil {
		st.mu.Unlock()
		return "", err
	}
	if len(st.active) > 0 {
		st.mu.Unlock()
		return "", freight.Errorf(freight.EINVALID, "part %d is still being received", sortedKeys(st.active)[0])
	}
	st.finishing = true
	st.mu.Unlock()
	defer func() {
		st.mu.Lock()
		st.finishing = false
		st.mu.Unlock()
	}()

	markers, err := readMarkers(dir, m.parts())
	if err != nil {
		return "", err
	}
	for n := 1; n <= m.parts(); n++ {
		mk, ok := markers[n]
		if !ok {
			return "", freight.Errorf(freight.EINVALID, "part %d is missing", n)
		}
		if want := m.partSize(n); mk.Size != want {
			return "", freight.Errorf(freight.EINVALID, "part %d has %d bytes, not %d", n, mk.Size, want)
		}
	}

	f, err := os.Open(filepath.Join(dir, "data"))
	if err != nil {
		return "", notFound(err, "upload")
	}
	defer f.Close()
	h := sha256.New()
	got, err := io.Copy(h, readerFunc(func(p []byte) (int, error) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		return f.Read(p)
	}))
	if err != nil {
		return "", freight.Internal(err)
	}
	if got != size {
		return "", freight.Internal(fmt.Errorf("upload data holds %d bytes, not %d", got, size))
	}
	digest := hex.EncodeToString(h.Sum(nil))

	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return "", freight.Errorf(freight.ENOTFOUND, "upload not found")
	}
	if err := writeFileAtomic(dir, "finished", []byte(digest)); err != nil {
		return "", freight.Internal(err)
	}
	return digest, nil
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// CommitUpload implements freight.MultipartStore. It renames the data file
// into place (the upload and the blobs share a filesystem), and refuses a
// digest other than the one FinishUpload recorded, or an upload changed
// since: a blob's name must be the hash of its bytes.
func (s *Store) CommitUpload(ctx context.Context, uploadID, digest string) error {
	if err := checkDigest(digest); err != nil {
		return err
	}
	dir, err := s.uploadDir(uploadID)
	if err != nil {
		return err
	}
	st := acquire(dir)
	defer release(dir, st)
	// Held throughout: no part writer may touch data while it becomes a blob.
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.finishing {
		return freight.Errorf(freight.ECONFLICT, "the upload is being finished")
	}
	blobExists := func() (bool, error) {
		_, err := os.Stat(s.blobPath(digest))
		if errors.Is(err, iofs.ErrNotExist) {
			return false, nil
		}
		return err == nil, err
	}

	finished, err := os.ReadFile(filepath.Join(dir, "finished"))
	if errors.Is(err, iofs.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(dir, "meta")); errors.Is(err, iofs.ErrNotExist) {
			// Committed (or aborted) before: fine if the blob is there.
			ok, err := blobExists()
			if err != nil {
				return freight.Internal(err)
			}
			if !ok {
				return freight.Errorf(freight.ENOTFOUND, "upload not found")
			}
			return nil
		}
		return freight.Errorf(freight.EINVALID, "the upload is not finished, or a part changed since it was: finish it first")
	} else if err != nil {
		return freight.Internal(err)
	}
	if string(finished) != digest {
		return freight.FieldError("digest", "is not the digest of the finished upload")
	}

	ok, err := blobExists()
	if err != nil {
		return freight.Internal(err)
	}
	if !ok {
		if err := s.moveIntoPlace(filepath.Join(dir, "data"), digest); err != nil {
			return err
		}
	}
	st.closed = true
	return s.removeUpload(dir)
}

// AbortUpload implements freight.MultipartStore.
func (s *Store) AbortUpload(ctx context.Context, uploadID string) error {
	dir, err := s.uploadDir(uploadID)
	if err != nil {
		return err
	}
	st := acquire(dir)
	defer release(dir, st)
	st.mu.Lock()
	defer st.mu.Unlock()
	st.closed = true
	return s.removeUpload(dir)
}

// removeUpload makes an upload directory disappear at once, by a rename
// into tmp/, and then removes it; what a crash leaves in tmp/ goes later.
func (s *Store) removeUpload(dir string) error {
	trash, err := os.MkdirTemp(s.tmpRoot(), "removed-*")
	if err != nil {
		return freight.Internal(err)
	}
	err = os.Rename(dir, filepath.Join(trash, "upload"))
	if errors.Is(err, iofs.ErrNotExist) {
		os.Remove(trash)
		return nil
	}
	if err != nil {
		os.Remove(trash)
		return freight.Internal(err)
	}
	if err := syncDir(s.uploadRoot()); err != nil {
		return freight.Internal(err)
	}
	if err := os.RemoveAll(trash); err != nil {
		return freight.Internal(err)
	}
	return nil
}

package fs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/blob/blobtest"
	"github.com/freight-portal/freight/blob/fs"
)

func TestFS(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) freight.BlobStore {
		return MustNew(t, t.TempDir())
	})
}

func MustNew(t testing.TB, dir string) *fs.Store {
	t.Helper()
	s, err := fs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewCreatesPrivateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "blobs")
	MustNew(t, dir)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if got, want := fi.Mode().Perm(), iofs.FileMode(0o700); got != want {
			t.Errorf("mode = %v, want %v", got, want)
		}
	}
}

func TestOpenURL(t *testing.T) {
	dir := t.TempDir()
	s, err := fs.Open("file://" + filepath.ToSlash(dir) + "/blobs")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	d := blobtest.MustPut(t, s, []byte("hello"))
	if _, err := os.Stat(filepath.Join(dir, "blobs", "sha256", d[:2], d)); err != nil {
		t.Errorf("the blob is not where the URL says: %v", err)
	}
	if _, err := fs.Open("file://localhost" + filepath.ToSlash(dir)); err != nil {
		t.Errorf("Open(file://localhost/…): %v", err)
	}
	for _, u := range []string{
		"relative/path",
		"file:relative",
		"file://host/path",
		"s3://bucket/prefix",
		"file:///tmp/x?mode=0777",
		"file:///tmp/x#frag",
		"file://user:secret@/tmp/x",
		"%zz",
	} {
		if _, err := fs.Open(u); err == nil {
			t.Errorf("Open(%q) succeeded", u)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error shows the password: %v", u, err)
		}
	}
}

// entries returns the paths of everything under dir, relative to it.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFailedPutLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	s := MustNew(t, dir)
	ctx := t.Context()
	data := blobtest.Bytes(1, 1<<20)
	d := blobtest.Digest(data)
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	for name, put := range map[string]func() error{
		"WrongDigest": func() error { return s.Put(ctx, blobtest.Digest(nil), 1<<20, bytes.NewReader(data)) },
		"Short":       func() error { return s.Put(ctx, d, 1<<20, bytes.NewReader(data[:1000])) },
		"Long":        func() error { return s.Put(ctx, d, 1000, bytes.NewReader(data)) },
		"ReaderError": func() error { return s.Put(ctx, d, 1<<20, io.MultiReader(bytes.NewReader(data[:5000]), errReader{})) },
		"Canceled":    func() error { return s.Put(canceled, d, 1<<20, bytes.NewReader(data)) },
	} {
		if err := put(); err == nil {
			t.Errorf("%s: Put succeeded", name)
		}
	}
	if got, want := entries(t, dir), []string{".", "sha256", "tmp", "uploads"}; !slices.Equal(got, want) {
		t.Errorf("after failed Puts the store holds %q, want %q", got, want)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// TestConfined tries every method with hostile digests and upload ids and
// checks that nothing appears outside the store's directory.
func TestConfined(t *testing.T) {
	root := t.TempDir()
	s := MustNew(t, filepath.Join(root, "store", "blobs"))
	ctx := t.Context()
	ids := []string{"../../../escape", "..", "/tmp/escape", `..\..\escape`, "aaaaaaaaaaaaaaaaaaaaaaaaa/", strings.Repeat("a", 26) + "/../../x"}
	for _, d := range append(slices.Clone(blobtest.MalformedDigests), "../../../../escape/"+strings.Repeat("a", 48)) {
		s.Put(ctx, d, 1, strings.NewReader("x"))
		if rc, err := s.Open(ctx, d, 0, -1); err == nil {
			rc.Close()
		}
		s.Stat(ctx, d)
		s.Delete(ctx, d)
		s.List(ctx, d, 10)
		for _, id := range ids {
			s.CommitUpload(ctx, id, d)
		}
	}
	for _, id := range ids {
		s.WritePart(ctx, id, 1, 1, strings.NewReader("x"))
		s.ListParts(ctx, id)
		s.FinishUpload(ctx, id, 1, 5<<20)
		s.AbortUpload(ctx, id)
	}
	for _, p := range entries(t, root) {
		if p != "." && p != "store" && p != "store/blobs" && !strings.HasPrefix(p, "store/blobs/") {
			t.Errorf("%s was created outside the store", p)
		}
	}
	if got, want := entries(t, filepath.Join(root, "store", "blobs")), []string{".", "sha256", "tmp", "uploads"}; !slices.Equal(got, want) {
		t.Errorf("the store holds %q, want %q", got, want)
	}
}

// TestCrashLeftovers plays what a killed process leaves behind: a half
// written temporary file, an upload that was never committed, and strays in
// the blob tree. None of it is a blob.
func TestCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	s := MustNew(t, dir)
	ctx := t.Context()
	real := blobtest.MustPut(t, s, []byte("a real blob"))

	half := blobtest.Bytes(2, 1000)
	halfDigest := blobtest.Digest(half)
	write := func(p string, data []byte) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "tmp", "put-123"), half[:500])
	write(filepath.Join(dir, "sha256", real[:2], real+".tmp"), half)
	write(filepath.Join(dir, "sha256", real[:2], "README"), half)
	write(filepath.Join(dir, "sha256", "zz", halfDigest), half)
	write(filepath.Join(dir, "sha256", "xx"), half)
	wrongShard := "00"
	if halfDigest[:2] == wrongShard {
		wrongShard = "01"
	}
	write(filepath.Join(dir, "sha256", wrongShard, halfDigest), half)

	id, err := s.CreateUpload(ctx, 1000, 5<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WritePart(ctx, id, 1, 1000, bytes.NewReader(half)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FinishUpload(ctx, id, 1000, 5<<20); err != nil {
		t.Fatal(err)
	}

	// A restart: a new Store on the same directory.
	s = MustNew(t, dir)
	page, next, err := s.List(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 1 || page[0].Digest != real || next != "" {
		t.Errorf("List = %v, %q; want only %s", page, next, real[:8])
	}
	_, err = s.Stat(ctx, halfDigest)
	blobtest.WantCode(t, err, freight.ENOTFOUND)
	// The upload survives the restart and can be committed.
	if err := s.CommitUpload(ctx, id, halfDigest); err != nil {
		t.Fatalf("CommitUpload after restart: %v", err)
	}
	if got := blobtest.MustRead(t, s, halfDigest, 0, -1); !bytes.Equal(got, half) {
		t.Error("committed blob differs")
	}
}

func TestNewRemovesStaleTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	MustNew(t, dir)
	old := time.Now().Add(-25 * time.Hour)
	for _, name := range []string{"put-old", "put-new"} {
		if err := os.WriteFile(filepath.Join(dir, "tmp", name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp", "upload-old", "parts"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"put-old", "upload-old"} {
		if err := os.Chtimes(filepath.Join(dir, "tmp", name), old, old); err != nil {
			t.Fatal(err)
		}
	}
	MustNew(t, dir)
	if got, want := entries(t, filepath.Join(dir, "tmp")), []string{".", "put-new"}; !slices.Equal(got, want) {
		t.Errorf("tmp holds %q, want %q", got, want)
	}
}

// TestOpenReaderSendfile checks the shape that lets io.Copy use sendfile or
// copy_file_range: the reader hands an *os.File to the destination.
func TestOpenReaderSendfile(t *testing.T) {
	s := MustNew(t, t.TempDir())
	data := blobtest.Bytes(3, 3<<20)
	d := blobtest.MustPut(t, s, data)
	rc, err := s.Open(t.Context(), d, 1000, 2<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, ok := rc.(io.WriterTo); !ok {
		t.Fatalf("%T is not an io.WriterTo", rc)
	}
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	n, err := io.Copy(out, rc)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := n, int64(2<<20); got != want {
		t.Errorf("copied %d bytes, want %d", got, want)
	}
	got, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data[1000:1000+2<<20]) {
		t.Error("copied bytes differ")
	}
}

// TestCommitRenames checks that committing moves the data file, which may
// be tens of gigabytes, instead of copying it.
func TestCommitRenames(t *testing.T) {
	dir := t.TempDir()
	s := MustNew(t, dir)
	ctx := t.Context()
	data := blobtest.Bytes(4, 12345)
	id, err := s.CreateUpload(ctx, int64(len(data)), 5<<20)
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(filepath.Join(dir, "uploads", id, "data"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WritePart(ctx, id, 1, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	d, err := s.FinishUpload(ctx, id, int64(len(data)), 5<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CommitUpload(ctx, id, d); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(filepath.Join(dir, "sha256", d[:2], d))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Error("the blob is not the upload's data file: it was copied")
	}
	if _, err := os.Stat(filepath.Join(dir, "uploads", id)); !errors.Is(err, iofs.ErrNotExist) {
		t.Errorf("upload directory still there: %v", err)
	}
}

// TestFailedResendDropsPart: the bytes of a part that failed half-way over
// an earlier copy are no longer that copy, so the part no longer counts.
func TestFailedResendDropsPart(t *testing.T) {
	s := MustNew(t, t.TempDir())
	ctx := t.Context()
	const ps = 5 << 20
	id, err := s.CreateUpload(ctx, 2*ps, ps)
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 2; n++ {
		if err := s.WritePart(ctx, id, n, ps, blobtest.Pattern(5, int64(n-1)*ps, ps)); err != nil {
			t.Fatal(err)
		}
	}
	err = s.WritePart(ctx, id, 2, ps, blobtest.Pattern(6, 0, 1000))
	blobtest.WantCode(t, err, freight.EINVALID)
	parts, err := s.ListParts(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 1 || parts[0].Number != 1 {
		t.Errorf("ListParts = %v, want only part 1", parts)
	}
	_, err = s.FinishUpload(ctx, id, 2*ps, ps)
	blobtest.WantCode(t, err, freight.EINVALID)
}

// blockingReader yields first, then closes blocked and waits for more on
// a channel, as a stalled connection does.
type blockingReader struct {
	first   []byte
	more    chan []byte
	blocked chan struct{}
	once    sync.Once
}

func newBlockingReader(first []byte) *blockingReader {
	return &blockingReader{first: first, more: make(chan []byte), blocked: make(chan struct{})}
}

func (r *blockingReader) Read(p []byte) (int, error) {
	if len(r.first) > 0 {
		n := copy(p, r.first)
		r.first = r.first[n:]
		return n, nil
	}
	r.once.Do(func() { close(r.blocked) })
	b, ok := <-r.more
	if !ok {
		return 0, io.EOF
	}
	return copy(p, b), nil
}

// TestPartSentTwiceAtOnce: a client retries a stalled part while the first
// send still hangs. The retry wins at once, and the stalled send can never
// write again, even when its connection wakes up.
func TestPartSentTwiceAtOnce(t *testing.T) {
	s := MustNew(t, t.TempDir())
	ctx := t.Context()
	const size = 1 << 20
	id, err := s.CreateUpload(ctx, size, 5<<20)
	if err != nil {
		t.Fatal(err)
	}
	data := blobtest.Bytes(7, size)
	stalled := newBlockingReader(blobtest.Bytes(8, 1000))
	done := make(chan error)
	go func() { done <- s.WritePart(ctx, id, 1, size, stalled) }()
	<-stalled.blocked
	_, err = s.FinishUpload(ctx, id, size, 5<<20)
	blobtest.WantCode(t, err, freight.EINVALID)
	if msg := freight.ErrorMessage(err); !strings.Contains(msg, "part 1 is still being received") {
		t.Errorf("FinishUpload with a part in flight: %q", msg)
	}
	if err := s.WritePart(ctx, id, 1, size, bytes.NewReader(data)); err != nil {
		t.Fatalf("retry: %v", err)
	}
	// The stalled connection wakes up with garbage.
	stalled.more <- blobtest.Bytes(9, size-1000)
	close(stalled.more)
	blobtest.WantCode(t, <-done, freight.ECONFLICT)

	d, err := s.FinishUpload(ctx, id, size, 5<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d, blobtest.Digest(data); got != want {
		t.Errorf("digest = %s, want that of the retry %s", got, want)
	}
}

// TestAbortStopsWriter: a part in flight when its upload is aborted (or
// committed) never writes again.
func TestAbortStopsWriter(t *testing.T) {
	dir := t.TempDir()
	s := MustNew(t, dir)
	ctx := t.Context()
	const size = 1 << 20
	id, err := s.CreateUpload(ctx, size, 5<<20)
	if err != nil {
		t.Fatal(err)
	}
	r := newBlockingReader(blobtest.Bytes(10, 1000))
	done := make(chan error)
	go func() { done <- s.WritePart(ctx, id, 1, size, r) }()
	<-r.blocked
	if err := s.AbortUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	r.more <- blobtest.Bytes(11, size-1000)
	close(r.more)
	blobtest.WantCode(t, <-done, freight.ENOTFOUND)
	if got, want := entries(t, filepath.Join(dir, "uploads")), []string{"."}; !slices.Equal(got, want) {
		t.Errorf("uploads holds %q, want %q", got, want)
	}
}

// TestPartAfterFinish: sending a part after FinishUpload voids the digest it
// recorded, so CommitUpload cannot name changed bytes with it.
func TestPartAfterFinish(t *testing.T) {
	s := MustNew(t, t.TempDir())
	ctx := t.Context()
	a, b := blobtest.Bytes(12, 1000), blobtest.Bytes(13, 1000)
	id, err := s.CreateUpload(ctx, 1000, 5<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WritePart(ctx, id, 1, 1000, bytes.NewReader(a)); err != nil {
		t.Fatal(err)
	}
	d, err := s.FinishUpload(ctx, id, 1000, 5<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WritePart(ctx, id, 1, 1000, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	blobtest.WantCode(t, s.CommitUpload(ctx, id, d), freight.EINVALID)
	d2, err := s.FinishUpload(ctx, id, 1000, 5<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d2, blobtest.Digest(b); got != want {
		t.Fatalf("digest = %s, want %s", got, want)
	}
	if err := s.CommitUpload(ctx, id, d2); err != nil {
		t.Fatal(err)
	}
	if got := blobtest.MustRead(t, s, d2, 0, -1); !bytes.Equal(got, b) {
		t.Error("content differs")
	}
}

// TestPartETag checks that a part's ETag is the CRC32C of its bytes, so a
// client can check what the store received.
func TestPartETag(t *testing.T) {
	ctx := context.Background()
	s, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("freight"), 1000)
	id, err := s.CreateUpload(ctx, int64(len(data)), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WritePart(ctx, id, 1, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	parts, err := s.ListParts(ctx, id)
	if err != nil || len(parts) != 1 {
		t.Fatalf("ListParts = %+v, %v", parts, err)
	}
	sum := crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))
	if got, want := parts[0].ETag, fmt.Sprintf("crc32c:%08x", sum); got != want {
		t.Errorf("ETag = %q, want %q", got, want)
	}
}

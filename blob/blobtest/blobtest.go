// Package blobtest is the conformance suite of freight.BlobStore. Every
// backend runs the same tests from its own test file:
//
//	func TestFS(t *testing.T) {
//		blobtest.Run(t, func(t *testing.T) freight.BlobStore { … })
//	}
//
// The suite checks the contract written in the doc comments of
// freight.BlobStore and of its capabilities: round trips, ranges, listing
// order and paging, the error codes, what a failed Put leaves behind (nothing),
// concurrent writers, and, for a MultipartStore, parts out of order, parts
// sent twice, missing and misshapen parts, commit and abort. Parts travel
// through PartWriter when the store has it, else through a PartPresigner URL
// with a plain HTTP PUT, as a client would send them.
//
// The large-object tests stream 300 MiB of deterministic pseudo-random bytes
// through the store, hashing on the way, never holding the object in
// memory; they are skipped with -short. Part sizes are at least 5 MiB, S3's
// minimum for every part but the last.
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

// LargeSize is the size of the object of the large-object tests.
const LargeSize = 300 << 20

// Run runs the conformance suite against stores made by open; every subtest
// gets its own empty store.
func Run(t *testing.T, open func(t *testing.T) freight.BlobStore) {
	for _, g := range groups() {
		t.Run(g.name, func(t *testing.T) {
			for _, st := range g.tests {
				t.Run(st.name, func(t *testing.T) {
					st.fn(t, open(t))
				})
			}
		})
	}
}

type subtest struct {
	name string
	fn   func(t *testing.T, s freight.BlobStore)
}

type group struct {
	name  string
	tests []subtest
}

func groups() []group {
	return []group{
		{"Blobs", []subtest{
			{"PutOpen", testPutOpen},
			{"Ranges", testRanges},
			{"Empty", testEmpty},
			{"Stat", testStat},
			{"List", testList},
			{"ListClampsLimit", testListClampsLimit},
			{"Delete", testDelete},
			{"Missing", testMissing},
			{"MalformedDigests", testMalformedDigests},
			{"PutRejected", testPutRejected},
			{"PutExisting", testPutExisting},
			{"ConcurrentPuts", testConcurrentPuts},
			{"Large", testLarge},
		}},
		{"Multipart", []subtest{
			{"Upload", testUpload},
			{"Empty", testUploadEmpty},
			{"NotListedUntilCommitted", testUploadNotListed},
			{"Abort", testAbort},
			{"PartNumbers", testPartNumbers},
			{"PartSizes", testPartSizes},
			{"FinishChecksShape", testFinishChecksShape},
			{"CommitChecksDigest", testCommitChecksDigest},
			{"CommitExisting", testCommitExisting},
			{"MalformedIDs", testMalformedUploadIDs},
			{"Large", testUploadLarge},
		}},
	}
}

// WantCode fails the test unless err has the code want.
func WantCode(t testing.TB, err error, want string) {
	t.Helper()
	if got := freight.ErrorCode(err); got != want {
		t.Errorf("error code = %q (%v), want %q", got, err, want)
	}
}

// MustPut stores data or fails the test, and returns its digest.
func MustPut(t testing.TB, s freight.BlobStore, data []byte) string {
	t.Helper()
	d := Digest(data)
	if err := s.Put(context.Background(), d, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatalf("Put(%s, %d bytes): %v", d[:12], len(data), err)
	}
	return d
}

// MustRead reads a range of a blob or fails the test.
func MustRead(t testing.TB, s freight.BlobStore, digest string, offset, length int64) []byte {
	t.Helper()
	rc, err := s.Open(context.Background(), digest, offset, length)
	if err != nil {
		t.Fatalf("Open(%s, %d, %d): %v", digest[:12], offset, length, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", digest[:12], err)
	}
	return b
}

// Digest returns the SHA-256 of data as blob names use it.
func Digest(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// Bytes returns size deterministic pseudo-random bytes, different for each
// seed.
func Bytes(seed uint64, size int) []byte {
	b := make([]byte, size)
	io.ReadFull(Pattern(seed, 0, int64(size)), b)
	return b
}

const patternBlock = 1 << 20

// Pattern returns a reader of length bytes, from offset, of an endless
// deterministic pseudo-random stream chosen by seed. Block i (of 1 MiB) of
// the stream is the ChaCha8 stream keyed by (seed, i), so that any range is
// cheap to produce on its own: parts of one object are generated
// independently and in parallel.
func Pattern(seed uint64, offset, length int64) io.Reader {
	return &patternReader{seed: seed, off: offset, end: offset + length, block: -1}
}

type patternReader struct {
	seed     uint64
	off, end int64
	block    int64
	c        *rand.ChaCha8
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.end {
		return 0, io.EOF
	}
	if blk := p.off / patternBlock; blk != p.block {
		var key [32]byte
		binary.LittleEndian.PutUint64(key[0:], p.seed)
		binary.LittleEndian.PutUint64(key[8:], uint64(blk))
		p.c, p.block = rand.NewChaCha8(key), blk
		if skip := p.off % patternBlock; skip > 0 {
			p.c.Read(make([]byte, skip))
		}
	}
	n := int(min(int64(len(b)), patternBlock-p.off%patternBlock, p.end-p.off))
	p.c.Read(b[:n])
	p.off += int64(n)
	return n, nil
}

// PatternDigest returns the digest of the first size bytes of the stream.
func PatternDigest(t testing.TB, seed uint64, size int64) string {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, Pattern(seed, 0, size)); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func testPutOpen(t *testing.T, s freight.BlobStore) {
	data := Bytes(1, 100_000)
	d := MustPut(t, s, data)
	if got := MustRead(t, s, d, 0, -1); !bytes.Equal(got, data) {
		t.Errorf("Open(0, -1) read %d bytes that differ from the %d put", len(got), len(data))
	}
}

func testRanges(t *testing.T, s freight.BlobStore) {
	data := Bytes(2, 10_000)
	d := MustPut(t, s, data)
	size := int64(len(data))
	for _, tc := range []struct {
		name           string
		offset, length int64
		want           []byte
	}{
		{"Whole", 0, size, data},
		{"FromStartToEnd", 0, -1, data},
		{"Head", 0, 100, data[:100]},
		{"Middle", 1000, 2345, data[1000:3345]},
		{"OpenEnded", 9000, -1, data[9000:]},
		{"LengthPastEnd", 9990, 100, data[9990:]},
		{"HugeLength", 10, math.MaxInt64, data[10:]},
		{"LastByte", size - 1, 1, data[size-1:]},
		{"ZeroLength", 500, 0, nil},
		{"OffsetAtEnd", size, -1, nil},
		{"OffsetAtEndWithLength", size, 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := MustRead(t, s, d, tc.offset, tc.length)
			if !bytes.Equal(got, tc.want) {
				t.Errorf("Open(%d, %d) read %d bytes, want the %d bytes of that range", tc.offset, tc.length, len(got), len(tc.want))
			}
		})
	}
	for _, tc := range []struct {
		name           string
		offset, length int64
	}{
		{"OffsetBeyondEnd", size + 1, -1},
		{"OffsetFarBeyondEnd", 1 << 40, 10},
		{"NegativeOffset", -1, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := s.Open(t.Context(), d, tc.offset, tc.length)
			if err == nil {
				rc.Close()
			}
			WantCode(t, err, freight.EINVALID)
		})
	}
}

func testEmpty(t *testing.T, s freight.BlobStore) {
	d := MustPut(t, s, nil)
	if got, want := d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"; got != want {
		t.Fatalf("digest of nothing = %s, want %s", got, want)
	}
	if got := MustRead(t, s, d, 0, -1); len(got) != 0 {
		t.Errorf("Open(empty) read %d bytes", len(got))
	}
	info, err := s.Stat(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := info.Size, int64(0); got != want {
		t.Errorf("Size = %d, want %d", got, want)
	}
	_, err = s.Open(t.Context(), d, 1, -1)
	WantCode(t, err, freight.EINVALID)
}

func testStat(t *testing.T, s freight.BlobStore) {
	data := Bytes(3, 4321)
	before := time.Now()
	d := MustPut(t, s, data)
	info, err := s.Stat(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := info.Digest, d; got != want {
		t.Errorf("Digest = %s, want %s", got, want)
	}
	if got, want := info.Size, int64(len(data)); got != want {
		t.Errorf("Size = %d, want %d", got, want)
	}
	// Object stores keep seconds and run their own clock: a loose window.
	if info.ModTime.Before(before.Add(-time.Minute)) || info.ModTime.After(time.Now().Add(time.Minute)) {
		t.Errorf("ModTime = %v, want about %v", info.ModTime, before)
	}
}

func testList(t *testing.T, s freight.BlobStore) {
	ctx := t.Context()
	var want []string
	sizes := map[string]int64{}
	for i := range 7 {
		data := Bytes(uint64(100+i), 100+i)
		d := MustPut(t, s, data)
		want = append(want, d)
		sizes[d] = int64(len(data))
	}
	slices.Sort(want)

	var got []string
	after, pages := "", 0
	for {
		page, next, err := s.List(ctx, after, 3)
		if err != nil {
			t.Fatalf("List(%q, 3): %v", after, err)
		}
		if pages++; pages > 10 {
			t.Fatal("List does not end")
		}
		if len(page) > 3 {
			t.Errorf("List(%q, 3) returned %d blobs", after, len(page))
		}
		for _, b := range page {
			got = append(got, b.Digest)
			if b.Size != sizes[b.Digest] {
				t.Errorf("List: %s has size %d, want %d", b.Digest[:12], b.Size, sizes[b.Digest])
			}
			if b.ModTime.IsZero() {
				t.Errorf("List: %s has no ModTime", b.Digest[:12])
			}
		}
		if next == "" {
			break
		}
		if len(page) == 0 {
			t.Fatalf("List(%q, 3) returned no blobs but cursor %q", after, next)
		}
		if got, want := next, page[len(page)-1].Digest; got != want {
			t.Errorf("cursor = %q, want the last digest of the page %q", got, want)
		}
		after = next
	}
	if !slices.Equal(got, want) {
		t.Errorf("List pages = %v,\nwant %v (digest order, each once)", short(got), short(want))
	}
	if got, want := pages, 3; got != want {
		t.Errorf("List took %d pages of 3 for 7 blobs, want %d", got, want)
	}

	// A cursor need not be a stored digest: the next page starts after it.
	page, _, err := s.List(ctx, want[2][:63]+"0", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) == 0 || page[0].Digest <= want[2][:63]+"0" {
		t.Errorf("List after a digest that is not stored returned %v", page)
	}

	for _, bad := range []string{"x", strings.ToUpper(want[0]), want[0][:63], "../" + want[0][3:]} {
		_, _, err := s.List(ctx, bad, 3)
		WantCode(t, err, freight.EINVALID)
	}
}

func short(ds []string) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d[:8]
	}
	return out
}

func testListClampsLimit(t *testing.T, s freight.BlobStore) {
	for i := range 3 {
		MustPut(t, s, Bytes(uint64(200+i), 10))
	}
	for _, tc := range []struct {
		limit, want int
	}{{0, 1}, {-5, 1}, {2, 2}, {1_000_000, 3}} {
		page, _, err := s.List(t.Context(), "", tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(page); got != tc.want {
			t.Errorf("List(limit %d) returned %d blobs, want %d", tc.limit, got, tc.want)
		}
	}
}

func testDelete(t *testing.T, s freight.BlobStore) {
	ctx := t.Context()
	keep := MustPut(t, s, Bytes(4, 50))
	d := MustPut(t, s, Bytes(5, 50))
	if err := s.Delete(ctx, d); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err := s.Stat(ctx, d)
	WantCode(t, err, freight.ENOTFOUND)
	_, err = s.Open(ctx, d, 0, -1)
	WantCode(t, err, freight.ENOTFOUND)
	WantCode(t, s.Delete(ctx, d), freight.ENOTFOUND)
	page, _, err := s.List(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 1 || page[0].Digest != keep {
		t.Errorf("List after Delete = %v, want only %s", page, keep[:8])
	}
	// A deleted blob can be put again.
	MustPut(t, s, Bytes(5, 50))
	if _, err := s.Stat(ctx, d); err != nil {
		t.Errorf("Stat after putting again: %v", err)
	}
}

func testMissing(t *testing.T, s freight.BlobStore) {
	ctx := t.Context()
	d := Digest([]byte("never stored"))
	_, err := s.Stat(ctx, d)
	WantCode(t, err, freight.ENOTFOUND)
	_, err = s.Open(ctx, d, 0, -1)
	WantCode(t, err, freight.ENOTFOUND)
	_, err = s.Open(ctx, d, 10, 10)
	WantCode(t, err, freight.ENOTFOUND)
	WantCode(t, s.Delete(ctx, d), freight.ENOTFOUND)
	page, next, err := s.List(ctx, "", 10)
	if err != nil || len(page) != 0 || next != "" {
		t.Errorf("List of an empty store = %v, %q, %v; want nothing", page, next, err)
	}
}

// MalformedDigests are digests every method must refuse before building a
// path or key from them.
var MalformedDigests = []string{
	"",
	"../etc/passwd",
	"../../../../../../../../../../../../../../../../../../../../etc/passwd",
	strings.Repeat("A", 64),
	"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",   // 63
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555", // 65
	"e3/0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85\x00",
	"g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
}

func testMalformedDigests(t *testing.T, s freight.BlobStore) {
	ctx := t.Context()
	for _, d := range MalformedDigests {
		WantCode(t, s.Put(ctx, d, 0, strings.NewReader("")), freight.EINVALID)
		rc, err := s.Open(ctx, d, 0, -1)
		if err == nil {
			rc.Close()
		}
		WantCode(t, err, freight.EINVALID)
		_, err = s.Stat(ctx, d)
		WantCode(t, err, freight.EINVALID)
		WantCode(t, s.Delete(ctx, d), freight.EINVALID)
		if d != "" {
			_, _, err = s.List(ctx, d, 10)
			WantCode(t, err, freight.EINVALID)
		}
		if m, ok := s.(freight.MultipartStore); ok {
			id, err := m.CreateUpload(ctx, 1, 5<<20)
			if err != nil {
				t.Fatal(err)
			}
			WantCode(t, m.CommitUpload(ctx, id, d), freight.EINVALID)
			if err := m.AbortUpload(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	mustBeEmpty(t, s)
}

// errReader yields some bytes and then an error, as a dropped client does.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		return n, e.err
	}
	return n, err
}

func testPutRejected(t *testing.T, s freight.BlobStore) {
	data := Bytes(6, 70_000)
	d := Digest(data)
	size := int64(len(data))
	for _, tc := range []struct {
		name   string
		digest string
		size   int64
		r      io.Reader
		code   string
	}{
		{"WrongDigest", Digest([]byte("other")), size, bytes.NewReader(data), freight.EINVALID},
		{"ShortReader", d, size, bytes.NewReader(data[:size-1]), freight.EINVALID},
		{"EmptyReader", d, size, bytes.NewReader(nil), freight.EINVALID},
		{"LongReader", d, size - 1, bytes.NewReader(data), freight.EINVALID},
		{"OneByteMore", d, size, io.MultiReader(bytes.NewReader(data), strings.NewReader("x")), freight.EINVALID},
		{"NegativeSize", d, -1, bytes.NewReader(data), freight.EINVALID},
		{"ReaderFails", d, size, &errReader{bytes.NewReader(data[:1000]), errors.New("connection reset")}, freight.EINTERNAL},
		{"ReaderFailsWithCode", d, size, &errReader{bytes.NewReader(data[:1000]), freight.Errorf(freight.ETOOLARGE, "body too large")}, freight.ETOOLARGE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			WantCode(t, s.Put(t.Context(), tc.digest, tc.size, tc.r), tc.code)
			_, err := s.Stat(t.Context(), tc.digest)
			WantCode(t, err, freight.ENOTFOUND)
			mustBeEmpty(t, s)
		})
	}
	t.Run("Canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := s.Put(ctx, d, size, bytes.NewReader(data)); err == nil {
			t.Error("Put with a canceled context succeeded")
		}
		mustBeEmpty(t, s)
	})
}

func mustBeEmpty(t *testing.T, s freight.BlobStore) {
	t.Helper()
	page, _, err := s.List(context.Background(), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 0 {
		t.Errorf("List = %v, want no blobs", page)
	}
}

func testPutExisting(t *testing.T, s freight.BlobStore) {
	data := Bytes(7, 3000)
	d := MustPut(t, s, data)
	MustPut(t, s, data)
	page, _, err := s.List(t.Context(), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 1 {
		t.Errorf("List after two Puts of one blob = %d blobs, want 1", len(page))
	}
	if got := MustRead(t, s, d, 0, -1); !bytes.Equal(got, data) {
		t.Error("content changed")
	}
}

func testConcurrentPuts(t *testing.T, s freight.BlobStore) {
	data := Bytes(8, 200_000)
	d := Digest(data)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			errs[i] = s.Put(t.Context(), d, int64(len(data)), bytes.NewReader(data))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Put %d: %v", i, err)
		}
	}
	page, _, err := s.List(t.Context(), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 1 || page[0].Digest != d || page[0].Size != int64(len(data)) {
		t.Errorf("List = %v, want the one blob", page)
	}
	if got := MustRead(t, s, d, 0, -1); !bytes.Equal(got, data) {
		t.Error("content differs")
	}
}

func testLarge(t *testing.T, s freight.BlobStore) {
	if testing.Short() {
		t.Skip("skipping the large object in -short mode")
	}
	const seed = 9
	size := int64(LargeSize)
	d := PatternDigest(t, seed, size)
	if err := s.Put(t.Context(), d, size, Pattern(seed, 0, size)); err != nil {
		t.Fatalf("Put: %v", err)
	}
	mustHash(t, s, d, 0, -1, d, size)
	// A range across the middle, as a resumed download asks for it.
	off, n := size/2-12345, int64(20<<20)
	h := sha256.New()
	io.Copy(h, Pattern(seed, off, n))
	mustHash(t, s, d, off, n, hex.EncodeToString(h.Sum(nil)), n)
}

// mustHash reads a range of a blob, streamed, and checks its hash and size.
func mustHash(t *testing.T, s freight.BlobStore, digest string, offset, length int64, want string, wantSize int64) {
	t.Helper()
	rc, err := s.Open(t.Context(), digest, offset, length)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if n != wantSize {
		t.Errorf("read %d bytes, want %d", n, wantSize)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		t.Errorf("read bytes hash to %s, want %s", got, want)
	}
}

// Multipart.

const partSize = 5 << 20 // S3's minimum

func multipart(t *testing.T, s freight.BlobStore) freight.MultipartStore {
	t.Helper()
	m, ok := s.(freight.MultipartStore)
	if !ok {
		t.Skipf("%T is not a MultipartStore", s)
	}
	if _, ok := s.(freight.PartWriter); !ok {
		if _, ok := s.(freight.PartPresigner); !ok {
			t.Fatalf("%T is a MultipartStore but neither a PartWriter nor a PartPresigner: parts cannot reach it", s)
		}
	}
	return m
}

// SendPart sends part n of an upload as the portal or a client would: through
// PartWriter when the store has it, else with an HTTP PUT to a presigned URL.
func SendPart(ctx context.Context, m freight.MultipartStore, uploadID string, n int, size int64, r io.Reader) error {
	if w, ok := m.(freight.PartWriter); ok {
		return w.WritePart(ctx, uploadID, n, size, r)
	}
	p, ok := m.(freight.PartPresigner)
	if !ok {
		return fmt.Errorf("%T can neither write nor presign parts", m)
	}
	u, err := p.PresignPart(ctx, uploadID, n, 15*time.Minute)
	if err != nil {
		return err
	}
	body := io.NopCloser(r)
	if size == 0 {
		body = http.NoBody // else net/http sends an unknown length, chunked
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1000))
		return fmt.Errorf("PUT part %d: %s: %s", n, resp.Status, msg)
	}
	return nil
}

// object is the content of an upload in the tests: size bytes of the
// pattern stream seed.
type object struct {
	seed           uint64
	size, partSize int64
}

func (o object) parts() int {
	if o.size == 0 {
		return 1
	}
	return int((o.size + o.partSize - 1) / o.partSize)
}

func (o object) part(n int) (offset, size int64) {
	offset = int64(n-1) * o.partSize
	return offset, max(min(o.partSize, o.size-offset), 0)
}

func (o object) send(t *testing.T, m freight.MultipartStore, id string, n int) {
	t.Helper()
	off, size := o.part(n)
	if err := SendPart(t.Context(), m, id, n, size, Pattern(o.seed, off, size)); err != nil {
		t.Fatalf("send part %d: %v", n, err)
	}
}

func (o object) create(t *testing.T, m freight.MultipartStore) string {
	t.Helper()
	id, err := m.CreateUpload(t.Context(), o.size, o.partSize)
	if err != nil {
		t.Fatalf("CreateUpload(%d, %d): %v", o.size, o.partSize, err)
	}
	if id == "" {
		t.Fatal("CreateUpload returned an empty id")
	}
	return id
}

func wantParts(t *testing.T, m freight.MultipartStore, id string, o object, numbers ...int) {
	t.Helper()
	parts, err := m.ListParts(t.Context(), id)
	if err != nil {
		t.Fatalf("ListParts: %v", err)
	}
	var got []int
	for _, p := range parts {
		got = append(got, p.Number)
		if _, size := o.part(p.Number); p.Size != size {
			t.Errorf("ListParts: part %d has size %d, want %d", p.Number, p.Size, size)
		}
	}
	if !slices.Equal(got, numbers) {
		t.Errorf("ListParts = parts %v, want %v", got, numbers)
	}
}

func testUpload(t *testing.T, s freight.BlobStore) {
	m := multipart(t, s)
	ctx := t.Context()
	o := object{seed: 20, size: 2*partSize + 1<<20 + 123, partSize: partSize}
	id := o.create(t, m)
	wantParts(t, m, id, o)

	// Out of order, and part 1 twice: first with wrong bytes of the right
	// size, then with the right ones, which replace them.
	o.send(t, m, id, 3)
	_, size1 := o.part(1)
	if err := SendPart(ctx, m, id, 1, size1, Pattern(999, 0, size1)); err != nil {
		t.Fatalf("send part 1: %v", err)
	}
	o.send(t, m, id, 1)
	wantParts(t, m, id, o, 1, 3)

	_, err := m.FinishUpload(ctx, id, o.size, o.partSize)
	WantCode(t, err, freight.EINVALID)
	if msg := freight.ErrorMessage(err); !strings.Contains(msg, "part 2") {
		t.Errorf("FinishUpload with part 2 missing: message %q does not name part 2", msg)
	}

	o.send(t, m, id, 2)
	wantParts(t, m, id, o, 1, 2, 3)
	want := PatternDigest(t, o.seed, o.size)
	d, err := m.FinishUpload(ctx, id, o.size, o.partSize)
	if err != nil {
		t.Fatalf("FinishUpload: %v", err)
	}
	if d != want {
		t.Fatalf("FinishUpload = %s, want %s", d, want)
	}
	// Finishing again (a retry after a crash) hashes again.
	if d, err := m.FinishUpload(ctx, id, o.size, o.partSize); err != nil || d != want {
		t.Fatalf("FinishUpload again = %s, %v; want %s", d, err, want)
	}
	if err := m.CommitUpload(ctx, id, d); err != nil {
		t.Fatalf("CommitUpload: %v", err)
	}
	mustHash(t, s, d, 0, -1, want, o.size)
	info, err := s.Stat(ctx, d)
	if err != nil || info.Size != o.size {
		t.Errorf("Stat = %+v, %v; want size %d", info, err, o.size)
	}

	if err := m.CommitUpload(ctx, id, d); err != nil {
		t.Errorf("CommitUpload again: %v", err)
	}
	_, err = m.ListParts(ctx, id)
	WantCode(t, err, freight.ENOTFOUND)
	page, _, err := s.List(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 1 || page[0].Digest != d {
		t.Errorf("List = %v, want the one committed blob", page)
	}
	// Aborting a committed upload leaves the blob alone.
	if err := m.AbortUpload(ctx, id); err != nil {
		t.Errorf("AbortUpload after commit: %v", err)
	}
	if _, err := s.Stat(ctx, d); err != nil {
		t.Errorf("Stat after abort of the committed upload: %v", err)
	}
}

func testUploadEmpty(t *testing.T, s freight.BlobStore) {
	m := multipart(t, s)
	o := object{seed: 21, size: 0, partSize: partSize}
	id := o.create(t, m)
	o.send(t, m, id, 1)
	wantParts(t, m, id, o, 1)
	d, err := m.FinishUpload(t.Context(), id, o.size, o.partSize)
	if err != nil {
		t.Fatalf("FinishUpload: %v", err)
	}
	if got, want := d, Digest(nil); got != want {
		t.Errorf("digest = %s, want %s", got, want)
	}
	if err := m.CommitUpload(t.Context(), id, d); err != nil {
		t.Fatalf("CommitUpload: %v", err)
	}
	if got := MustRead(t, s, d, 0, -1); len(got) != 0 {
		t.Errorf("read %d bytes, want none", len(got))
	}
}

func testUploadNotListed(t *testing.T, s freight.BlobStore) {
	m := multipart(t, s)
	o := object{seed: 22, size: partSize + 10, partSize: partSize}
	id := o.create(t, m)
	o.send(t, m, id, 1)
	o.send(t, m, id, 2)
	mustBeEmpty(t, s)
	d, err := m.FinishUpload(t.Context(), id, o.size, o.partSize)
	if err != nil {
		t.Fatal(err)
	}
	mustBeEmpty(t, s)
	_, err = s.Stat(t.Context(), d)
	WantCode(t, err, freight.ENOTFOUND)
	// Committing without finishing is refused.
	id2 := o.create(t, m)
	o.send(t, m, id2, 1)
	o.send(t, m, id2, 2)
	WantCode(t, m.CommitUpload(t.Context(), id2, d), freight.EINVALID)
	mustBeEmpty(t, s)
	for _, id := range []string{id, id2} {
		if err := m.AbortUpload(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
}

func testAbort(t *testing.T, s freight.BlobStore) {
	m := multipart(t, s)
	ctx := t.Context()
	o := object{seed: 23, size: partSize + 10, partSize: partSize}
	id := o.create(t, m)
	o.send(t, m, id, 2)
	if err := m.AbortUpload(ctx, id); err != nil {
		t.Fatalf("AbortUpload: %v", err)
	}
	_, err := m.ListParts(ctx, id)
	WantCode(t, err, freight.ENOTFOUND)
	_, err = m.FinishUpload(ctx, id, o.size, o.partSize)
	WantCode(t, err, freight.ENOTFOUND)
	WantCode(t, m.CommitUpload(ctx, id, PatternDigest(t, o.seed, o.size)), freight.ENOTFOUND)
	if err := m.AbortUpload(ctx, id); err != nil {
		t.Errorf("AbortUpload again: %v", err)
	}
	if w, ok := m.(freight.PartWriter); ok {
		_, size := o.part(1)
		WantCode(t, w.WritePart(ctx, id, 1, size, Pattern(o.seed, 0, size)), freight.ENOTFOUND)
	}
	mustBeEmpty(t, s)
}

func testPartNumbers(t *testing.T, s freight.BlobStore) {
	m := multipart(t, s)
	ctx := t.Context()
	o := object{seed: 24, size: 2*partSize + 1, partSize: partSize}
	id := o.create(t, m)
	defer m.AbortUpload(context.Background(), id)
	for _, n := range []int{0, -1, o.parts() + 1, freight.MaxUploadParts + 1} {
		if w, ok := m.(freight.PartWriter); ok {
			WantCode(t, w.WritePart(ctx, id, n, 1, strings.NewReader("x")), freight.EINVALID)
		}
		if p, ok := m.(freight.PartPresigner); ok {
			_, err := p.PresignPart(ctx, id, n, time.Minute)
			WantCode(t, err, freight.EINVALID)
		}
	}
	wantParts(t, m, id, o)
}

func testPartSizes(t *testing.T, s freight.BlobStore) {
	m := multipart(t, s)
	ctx := t.Context()
	o := object{seed: 25, size: 2*partSize + 1000, partSize: partSize}
	id := o.create(t, m)
	defer m.AbortUpload(context.Background(), id)
	o.send(t, m, id, 1)
	o.send(t, m, id, 2)
	off, size := o.part(3)

	if w, ok := m.(freight.PartWriter); ok {
		// The portal checks the size before a byte is written, and the
		// bytes against it as they come.
		WantCode(t, w.WritePart(ctx, id, 3, size+1, Pattern(o.seed, off, size+1)), freight.EINVALID)
		WantCode(t, w.WritePart(ctx, id, 1, partSize-1, Pattern(o.seed, 0, partSize-1)), freight.EINVALID)
		WantCode(t, w.WritePart(ctx, id, 3, size, Pattern(o.seed, off, size-1)), freight.EINVALID)
		WantCode(t, w.WritePart(ctx, id, 3, size, Pattern(o.seed, off, size+1)), freight.EINVALID)
		wantParts(t, m, id, o, 1, 2)
		// A failed resend of a part received before: whether the old
		// part still counts is the backend's business, but sending it
		// again must work.
		WantCode(t, w.WritePart(ctx, id, 2, partSize, Pattern(o.seed, partSize, 1000)), freight.EINVALID)
		o.send(t, m, id, 2)
	} else {
		// A client may PUT a body of another size to a presigned URL:
		// either the storage refuses it (a URL that signs the length)
		// or FinishUpload finds out and names the part.
		if err := SendPart(ctx, m, id, 3, size+1, Pattern(o.seed, off, size+1)); err == nil {
			_, err := m.FinishUpload(ctx, id, o.size, o.partSize)
			WantCode(t, err, freight.EINVALID)
			if msg := freight.ErrorMessage(err); !strings.Contains(msg, "part 3") {
				t.Errorf("FinishUpload with a misshapen part 3: message %q does not name part 3", msg)
			}
		}
		// Either way, part 3 does not count.
		_, err := m.FinishUpload(ctx, id, o.size, o.partSize)
		WantCode(t, err, freight.EINVALID)
	}
	o.send(t, m, id, 3)
	wantParts(t, m, id, o, 1, 2, 3)
	d, err := m.FinishUpload(ctx, id, o.size, o.partSize)
	if err != nil {
		t.Fatal(err)
	}
	if want := PatternDigest(t, o.seed, o.size); d != want {
		t.Errorf("FinishUpload = %s, want %s", d, want)
	}
}

func testFinishChecksShape(t *testing.T, s freight.BlobStore) {
	m := multipart(t, s)
	ctx := t.Context()
	o := object{seed: 26, size: partSize + 7, partSize: partSize}
	id := o.create(t, m)
	defer m.AbortUpload(context.Background(), id)
	o.send(t, m, id, 1)
	o.send(t, m, id, 2)
	for _, tc := range []struct{ size, partSize int64 }{
		{o.size + 1, o.partSize},
		{o.size - 1, o.partSize},
		{o.size, o.partSize + 1},
	} {
		_, err := m.FinishUpload(ctx, id, tc.size, tc.partSize)
		WantCode(t, err, freight.EINVALID)
	}
	for _, tc := range []struct{ size, partSize int64 }{{-1, partSize}, {10, 0}, {10, -1}, {freight.MaxUploadParts*partSize + 1, partSize}} {
		_, err := m.CreateUpload(ctx, tc.size, tc.partSize)
		WantCode(t, err, freight.EINVALID)
	}
	if _, err := m.FinishUpload(ctx, id, o.size, o.partSize); err != nil {
		t.Errorf("FinishUpload with the right shape: %v", err)
	}
}

func testCommitChecksDigest(t *testing.T, s freight.BlobStore) {
	m := multipart(t, s)
	ctx := t.Context()
	o := object{seed: 27, size: 1000, partSize: partSize}
	id := o.create(t, m)
	defer m.AbortUpload(context.Background(), id)
	o.send(t, m, id, 1)
	d, err := m.FinishUpload(ctx, id, o.size, o.partSize)
	if err != nil {
		t.Fatal(err)
	}
	// A blob's name is the hash of its bytes: committing under another
	// name would break every cache that trusts it.
	other := Digest([]byte("something else"))
	WantCode(t, m.CommitUpload(ctx, id, other), freight.EINVALID)
	_, err = s.Stat(ctx, other)
	WantCode(t, err, freight.ENOTFOUND)
	if err := m.CommitUpload(ctx, id, d); err != nil {
		t.Fatalf("CommitUpload with the right digest after a wrong one: %v", err)
	}
}

func testCommitExisting(t *testing.T, s freight.BlobStore) {
	m := multipart(t, s)
	ctx := t.Context()
	o := object{seed: 28, size: partSize + 99, partSize: partSize}
	data := Bytes(o.seed, int(o.size))
	d := MustPut(t, s, data)
	for range 2 {
		id := o.create(t, m)
		o.send(t, m, id, 2)
		o.send(t, m, id, 1)
		got, err := m.FinishUpload(ctx, id, o.size, o.partSize)
		if err != nil || got != d {
			t.Fatalf("FinishUpload = %s, %v; want %s", got, err, d)
		}
		if err := m.CommitUpload(ctx, id, d); err != nil {
			t.Fatalf("CommitUpload of a blob that exists: %v", err)
		}
		_, err = m.ListParts(ctx, id)
		WantCode(t, err, freight.ENOTFOUND)
	}
	page, _, err := s.List(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 1 || page[0].Digest != d {
		t.Errorf("List = %v, want the one blob", page)
	}
	if got := MustRead(t, s, d, 0, -1); !bytes.Equal(got, data) {
		t.Error("content differs")
	}
}

func testMalformedUploadIDs(t *testing.T, s freight.BlobStore) {
	m := multipart(t, s)
	ctx := t.Context()
	d := MustPut(t, s, []byte("x"))
	for _, id := range []string{"", ".", "..", "../../etc", "/etc/passwd", "a/b", strings.Repeat("a", 5000), "upl_\x00"} {
		_, err := m.ListParts(ctx, id)
		WantCode(t, err, freight.ENOTFOUND)
		_, err = m.FinishUpload(ctx, id, 1, partSize)
		WantCode(t, err, freight.ENOTFOUND)
		// An id the store cannot have made is an error even where an id
		// that is gone is not: the caller mixed something up.
		WantCode(t, m.CommitUpload(ctx, id, d), freight.ENOTFOUND)
		WantCode(t, m.AbortUpload(ctx, id), freight.ENOTFOUND)
		if w, ok := m.(freight.PartWriter); ok {
			WantCode(t, w.WritePart(ctx, id, 1, 1, strings.NewReader("x")), freight.ENOTFOUND)
		}
		if p, ok := m.(freight.PartPresigner); ok {
			_, err := p.PresignPart(ctx, id, 1, time.Minute)
			WantCode(t, err, freight.ENOTFOUND)
		}
	}
}

func testUploadLarge(t *testing.T, s freight.BlobStore) {
	if testing.Short() {
		t.Skip("skipping the large object in -short mode")
	}
	m := multipart(t, s)
	ctx := t.Context()
	o := object{seed: 29, size: LargeSize, partSize: 64 << 20}
	want := PatternDigest(t, o.seed, o.size)
	id := o.create(t, m)

	// Four parts at a time, highest first, as a parallel client sends them.
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	errs := make([]error, o.parts()+1)
	for n := o.parts(); n >= 1; n-- {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			off, size := o.part(n)
			errs[n] = SendPart(ctx, m, id, n, size, Pattern(o.seed, off, size))
		})
	}
	wg.Wait()
	for n, err := range errs {
		if err != nil {
			t.Fatalf("part %d: %v", n, err)
		}
	}
	numbers := make([]int, o.parts())
	for i := range numbers {
		numbers[i] = i + 1
	}
	wantParts(t, m, id, o, numbers...)
	d, err := m.FinishUpload(ctx, id, o.size, o.partSize)
	if err != nil {
		t.Fatalf("FinishUpload: %v", err)
	}
	if d != want {
		t.Fatalf("FinishUpload = %s, want %s", d, want)
	}
	if err := m.CommitUpload(ctx, id, d); err != nil {
		t.Fatalf("CommitUpload: %v", err)
	}
	mustHash(t, s, d, 0, -1, want, o.size)
}

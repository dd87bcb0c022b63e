package s3_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/blob/blobtest"
	"github.com/freight-portal/freight/blob/s3"
	"github.com/freight-portal/freight/internal/testdb"
)

// TestS3 runs the conformance suite against the server named by
// FREIGHT_TEST_S3 (CI starts a MinIO), each subtest in a prefix of its own.
func TestS3(t *testing.T) {
	testdb.S3(t) // skips (or fails) once here rather than in every subtest
	blobtest.Run(t, func(t *testing.T) freight.BlobStore {
		return MustOpen(t, testdb.S3(t))
	})
}

func MustOpen(t testing.TB, url string) *s3.Store {
	t.Helper()
	s, err := s3.Open(t.Context(), url, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// keys returns every object key and pending multipart upload under the
// store's prefix.
func keys(t *testing.T, s *s3.Store) (objects, uploads []string) {
	t.Helper()
	client, bucket, prefix := s3.Raw(s)
	p := awss3.NewListObjectsV2Paginator(client, &awss3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			objects = append(objects, strings.TrimPrefix(aws.ToString(o.Key), prefix))
		}
	}
	mu, err := client.ListMultipartUploads(t.Context(), &awss3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range mu.Uploads {
		uploads = append(uploads, strings.TrimPrefix(aws.ToString(u.Key), prefix))
	}
	return objects, uploads
}

// TestS3PutRejectedMultipart checks that a Put big enough for a multipart
// upload leaves nothing behind when its bytes are wrong: the check at the
// end of the body must abort the upload before it completes.
func TestS3PutRejectedMultipart(t *testing.T) {
	s := MustOpen(t, testdb.S3(t))
	s3.SetThresholds(s, 5<<30, 1<<30, 5<<20)
	ctx := t.Context()
	const size = 17<<20 + 3
	d := blobtest.PatternDigest(t, 1, size)
	for name, put := range map[string]func() error{
		"WrongDigest": func() error { return s.Put(ctx, blobtest.Digest(nil), size, blobtest.Pattern(1, 0, size)) },
		"Short":       func() error { return s.Put(ctx, d, size, blobtest.Pattern(1, 0, size-1)) },
		"ShortAtPart": func() error { return s.Put(ctx, d, size, blobtest.Pattern(1, 0, 15<<20)) },
		"Long":        func() error { return s.Put(ctx, d, size, blobtest.Pattern(1, 0, size+1)) },
	} {
		blobtest.WantCode(t, put(), freight.EINVALID)
		objects, uploads := keys(t, s)
		if len(objects) > 0 || len(uploads) > 0 {
			t.Errorf("%s: after a rejected Put the prefix holds objects %q and uploads %q", name, objects, uploads)
		}
	}
	if err := s.Put(ctx, d, size, blobtest.Pattern(1, 0, size)); err != nil {
		t.Fatalf("Put: %v", err)
	}
	objects, uploads := keys(t, s)
	if want := "sha256/" + d[:2] + "/" + d; len(objects) != 1 || objects[0] != want || len(uploads) > 0 {
		t.Errorf("after Put the prefix holds objects %q and uploads %q, want only %s", objects, uploads, want)
	}
}

// TestS3CommitMultipartCopy commits through UploadPartCopy, the path of
// blobs over 5 GiB, with the thresholds lowered.
func TestS3CommitMultipartCopy(t *testing.T) {
	s := MustOpen(t, testdb.S3(t))
	s3.SetThresholds(s, 6<<20, 5<<20, 16<<20)
	ctx := t.Context()
	const size, partSize = 13<<20 + 5, 5 << 20
	id, err := s.CreateUpload(ctx, size, partSize)
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 3; n++ {
		off := int64(n-1) * partSize
		l := min(int64(partSize), size-off)
		if err := blobtest.SendPart(ctx, s, id, n, l, blobtest.Pattern(2, off, l)); err != nil {
			t.Fatal(err)
		}
	}
	d, err := s.FinishUpload(ctx, id, size, partSize)
	if err != nil {
		t.Fatal(err)
	}
	if want := blobtest.PatternDigest(t, 2, size); d != want {
		t.Fatalf("FinishUpload = %s, want %s", d, want)
	}
	if err := s.CommitUpload(ctx, id, d); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	rc, err := s.Open(ctx, d, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := buf.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	if got := blobtest.Digest(buf.Bytes()); got != d {
		t.Errorf("committed blob hashes to %s, want %s", got, d)
	}
	objects, uploads := keys(t, s)
	if len(objects) != 1 || len(uploads) > 0 {
		t.Errorf("after commit the prefix holds objects %q and uploads %q, want only the blob", objects, uploads)
	}
}

// TestS3PresignedURLSignsLength: a client cannot PUT more (or less) than
// the part's size to its URL.
func TestS3PresignedURLSignsLength(t *testing.T) {
	s := MustOpen(t, testdb.S3(t))
	ctx := t.Context()
	const size, partSize = 6 << 20, 5 << 20
	id, err := s.CreateUpload(ctx, size, partSize)
	if err != nil {
		t.Fatal(err)
	}
	defer s.AbortUpload(context.Background(), id)
	if err := blobtest.SendPart(ctx, s, id, 2, 1<<20+1, blobtest.Pattern(3, 0, 1<<20+1)); err == nil {
		t.Error("a PUT of the wrong length to a presigned part URL succeeded")
	}
	if err := blobtest.SendPart(ctx, s, id, 2, 1<<20, blobtest.Pattern(3, 0, 1<<20)); err != nil {
		t.Errorf("a PUT of the right length: %v", err)
	}
}

func TestParseURL(t *testing.T) {
	for _, u := range []string{
		"s3://bucket",
		"s3://bucket/",
		"s3://bucket/a/b",
		"s3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1&path_style=true",
		"s3://my.bucket-1/p?region=eu-central-1&path_style=false",
	} {
		if err := s3.ParseURL(u); err != nil {
			t.Errorf("ParseURL(%q): %v", u, err)
		}
	}
	for _, tc := range []struct{ url, want string }{
		{"file:///tmp", "scheme"},
		{"s3:///prefix", "bucket"},
		{"s3://UPPER/prefix", "bucket"},
		{"s3://bucket/a/../b", ".."},
		{"s3://bucket/a//b", "segment"},
		{"s3://bucket/p?regoin=us-east-1", "regoin"},
		{"s3://bucket/p?b=1&a=2&region=x", "a, b"},
		{"s3://bucket/p?region=a&region=b", "region"},
		{"s3://bucket/p?path_style=yes", "path_style"},
		{"s3://bucket/p?endpoint=127.0.0.1:9000", "endpoint"},
		{"s3://bucket/p?endpoint=http://key:secret@127.0.0.1:9000", "endpoint"},
		{"s3://key:secret@bucket/p", "credentials"},
		{"s3://bucket/p#x", "s3://"},
	} {
		err := s3.ParseURL(tc.url)
		if err == nil {
			t.Errorf("ParseURL(%q) succeeded", tc.url)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseURL(%q) = %v, want an error about %q", tc.url, err, tc.want)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseURL(%q) error shows the secret: %v", tc.url, err)
		}
	}
}

// TestS3Unavailable: a server that cannot be reached does not stop Open
// (the portal starts and recovers when storage returns), and calls fail
// with EUNAVAILABLE. It needs no server.
func TestS3Unavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	s := MustOpen(t, "s3://bucket/p?region=us-east-1&path_style=true&endpoint=http://"+addr)
	ctx := t.Context()
	d := blobtest.Digest([]byte("x"))
	_, err = s.Stat(ctx, d)
	blobtest.WantCode(t, err, freight.EUNAVAILABLE)
	blobtest.WantCode(t, s.Put(ctx, d, 1, strings.NewReader("x")), freight.EUNAVAILABLE)
	_, _, err = s.List(ctx, "", 10)
	blobtest.WantCode(t, err, freight.EUNAVAILABLE)
	_, err = s.CreateUpload(ctx, 10, 5<<20)
	blobtest.WantCode(t, err, freight.EUNAVAILABLE)
	if err != nil && strings.Contains(err.Error(), "test-secret") {
		t.Errorf("error shows the secret key: %v", err)
	}
}

// Package s3 is the freight.BlobStore on any S3-compatible object store (AWS
// S3, MinIO, R2, Ceph), through aws-sdk-go-v2. Blobs are objects
//
//	<prefix>/sha256/<first 2 hex digits>/<digest>
//
// and multipart uploads are staged at <prefix>/uploads/<random>, an object
// name the store chooses, never one a caller passes. Clients send the parts
// of a multipart upload straight to the bucket through presigned URLs
// (freight.PartPresigner); the portal only creates, finishes and commits.
//
// Nothing half-written is ever visible under sha256/: S3 makes an object
// appear whole, when its PutObject or CompleteMultipartUpload succeeds, and
// Put checks size and digest of the bytes before the upload can complete.
// A process killed in the middle leaves at most an incomplete multipart
// upload or a staging object; give the bucket a lifecycle rule that aborts
// incomplete multipart uploads after a few days.
//
// Credentials come from the SDK's default chain (environment, shared files,
// SSO, web identity, container and instance roles), never from the URL.
package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"golang.org/x/sync/errgroup"

	"github.com/freight-portal/freight"
)

var (
	_ freight.BlobStore      = (*Store)(nil)
	_ freight.MultipartStore = (*Store)(nil)
	_ freight.PartPresigner  = (*Store)(nil)
)

// S3's limits.
const (
	minPartSize    = 5 << 20 // of every part but the last
	maxPartSize    = 5 << 30 // of any part, uploaded or copied
	maxCopySize    = 5 << 30 // of a CopyObject
	maxPresignTTL  = 7 * 24 * time.Hour
	putPartSize    = 16 << 20 // Put buffers this much per part in flight
	putConcurrency = 3
	copyPartSize   = 1 << 30
	copyParallel   = 4
)

// Store keeps blobs in a bucket. Create it with Open.
type Store struct {
	client   *s3.Client
	presign  *s3.PresignClient
	transfer *transfermanager.Client
	bucket   string
	prefix   string // "" or ending in "/"
	logger   *slog.Logger

	// Tests lower these to reach the multipart paths with small objects.
	maxCopySize  int64
	copyPartSize int64
	putPartSize  int64
}

// Options are what an s3:// URL says besides bucket and prefix.
type options struct {
	bucket, prefix string
	endpoint       string
	region         string
	pathStyle      bool
}

// parseURL reads s3://bucket/prefix?endpoint=…&region=…&path_style=true.
// Its errors never quote the URL, which could hold a password by mistake.
func parseURL(rawURL string) (options, error) {
	var o options
	u, err := url.Parse(rawURL)
	if err != nil {
		return o, errors.New("blob URL: not a valid URL: want s3://bucket/prefix?region=…")
	}
	if u.Scheme != "s3" {
		return o, fmt.Errorf("blob URL: scheme %q is not s3", u.Scheme)
	}
	if u.User != nil {
		return o, errors.New("blob URL: credentials do not belong in the URL: use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a shared credentials file or a role")
	}
	if u.Opaque != "" || u.Fragment != "" {
		return o, errors.New("blob URL: want s3://bucket/prefix?region=…")
	}
	o.bucket = u.Host
	if !validBucket(o.bucket) {
		return o, fmt.Errorf("blob URL: %q is not a valid bucket name", o.bucket)
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		for seg := range strings.SplitSeq(p, "/") {
			if seg == "" || seg == "." || seg == ".." {
				return o, fmt.Errorf("blob URL: prefix %q has an empty, . or .. segment", p)
			}
		}
		o.prefix = p + "/"
	}
	q := u.Query()
	var unknown []string
	for k, v := range q {
		if len(v) != 1 {
			return o, fmt.Errorf("blob URL: parameter %s is given %d times", k, len(v))
		}
		switch k {
		case "endpoint":
			e, err := url.Parse(v[0])
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" || e.User != nil {
				return o, errors.New("blob URL: endpoint must be an http:// or https:// URL without credentials, such as http://127.0.0.1:9000")
			}
			o.endpoint = v[0]
		case "region":
			o.region = v[0]
		case "path_style":
			b, err := strconv.ParseBool(v[0])
			if err != nil {
				return o, fmt.Errorf("blob URL: path_style must be true or false, not %q", v[0])
			}
			o.pathStyle = b
		default:
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return o, fmt.Errorf("blob URL: unknown parameter %s (known: endpoint, region, path_style)", strings.Join(unknown, ", "))
	}
	return o, nil
}

// validBucket checks S3's bucket naming rules loosely: enough to keep a
// typo or an injected path out of requests.
func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	return strings.IndexFunc(b, func(c rune) bool {
		return !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_')
	}) < 0
}

// Open returns the store named by an s3://bucket/prefix URL. Parameters:
// endpoint (the S3 API of MinIO, R2, Ceph…; AWS by default), region
// (AWS_REGION or the shared config by default), path_style (true for most
// S3-compatible servers). A bucket that does not exist or cannot be
// accessed fails Open; a server that cannot be reached is only logged, so
// that the portal starts and recovers when the storage comes back.
func Open(ctx context.Context, rawURL string, logger *slog.Logger) (*Store, error) {
	o, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var loadOpts []func(*config.LoadOptions) error
	if o.region != "" {
		loadOpts = append(loadOpts, config.WithRegion(o.region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("blob storage: load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("blob storage: no region: add ?region=… to the URL or set AWS_REGION")
	}
	// The SDK's own log lines go to the portal's log, not to stderr.
	cfg.Logger = logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		level := slog.LevelDebug
		if c == logging.Warn {
			level = slog.LevelWarn
		}
		logger.Log(context.Background(), level, "aws sdk: "+fmt.Sprintf(format, v...))
	})
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.endpoint != "" {
			so.BaseEndpoint = aws.String(o.endpoint)
		}
		so.UsePathStyle = o.pathStyle
		// Ranges and multipart objects have no whole-object checksum to
		// validate; saying so on every GET is noise.
		so.DisableLogOutputChecksumValidationSkipped = true
	})
	s := &Store{
		client: client,
		// A presigned part URL must never carry a checksum: it would be
		// one of the empty body being presigned, and every real part
		// would fail it (a trap SDKs with default checksums fell into).
		presign: s3.NewPresignClient(client, s3.WithPresignClientFromClientOptions(func(so *s3.Options) {
			so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		})),
		transfer: transfermanager.New(client, func(o *transfermanager.Options) {
			o.Concurrency = putConcurrency
			// Aborting a failed upload must outlive a canceled request.
			o.FailTimeout = time.Minute
		}),
		bucket:       o.bucket,
		prefix:       o.prefix,
		logger:       logger,
		maxCopySize:  maxCopySize,
		copyPartSize: copyPartSize,
		putPartSize:  putPartSize,
	}
	_, err = client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(o.bucket)})
	switch {
	case err == nil:
	case unavailable(err):
		logger.WarnContext(ctx, "blob storage unreachable; continuing", "bucket", o.bucket, "err", err)
	default:
		return nil, fmt.Errorf("blob storage: bucket %s: %w", o.bucket, err)
	}
	return s, nil
}

// Key returns the object key of the blob named digest under prefix, in the
// layout the store uses: <prefix>/sha256/<first 2 hex digits>/<digest>. The
// prefix may be empty, and slashes around it do not matter. Anything that
// serves the bucket under its own names, such as a CloudFront distribution
// with the bucket as its origin, finds blobs there. digest must be valid
// (freight.ValidDigest).
func Key(prefix, digest string) string {
	if p := strings.Trim(prefix, "/"); p != "" {
		prefix = p + "/"
	} else {
		prefix = ""
	}
	return prefix + "sha256/" + digest[:2] + "/" + digest
}

// Prefix returns the prefix of the store's keys in the bucket, as the URL
// named it ("" for none, else without a trailing slash): Key(s.Prefix(), d)
// is the key of the blob d.
func (s *Store) Prefix() string { return strings.TrimSuffix(s.prefix, "/") }

func (s *Store) blobKey(digest string) string { return Key(s.prefix, digest) }

// PresignGet returns a URL that GETs the blob named digest straight from
// the bucket for ttl, answered with the given Content-Disposition and
// Content-Type application/octet-stream. The URL signs only the host, so a
// client may add Range and conditional headers. S3 checks the expiry when
// a request starts: a download that started in time finishes. The blob
// need not exist: S3 answers 404 then.
func (s *Store) PresignGet(ctx context.Context, digest, contentDisposition string, ttl time.Duration) (string, error) {
	if err := checkDigest(digest); err != nil {
		return "", err
	}
	if ttl <= 0 || ttl > maxPresignTTL {
		return "", freight.FieldError("ttl", "must be positive and at most 7 days")
	}
	in := &s3.GetObjectInput{
		Bucket:              aws.String(s.bucket),
		Key:                 aws.String(s.blobKey(digest)),
		ResponseContentType: aws.String("application/octet-stream"),
	}
	if contentDisposition != "" {
		in.ResponseContentDisposition = aws.String(contentDisposition)
	}
	req, err := s.presign.PresignGetObject(ctx, in, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", freight.Internal(err)
	}
	return req.URL, nil
}

// PresignHead is PresignGet for HEAD requests: S3 signs the method, so a
// GET URL cannot answer a HEAD.
func (s *Store) PresignHead(ctx context.Context, digest, contentDisposition string, ttl time.Duration) (string, error) {
	if err := checkDigest(digest); err != nil {
		return "", err
	}
	if ttl <= 0 || ttl > maxPresignTTL {
		return "", freight.FieldError("ttl", "must be positive and at most 7 days")
	}
	in := &s3.HeadObjectInput{
		Bucket:              aws.String(s.bucket),
		Key:                 aws.String(s.blobKey(digest)),
		ResponseContentType: aws.String("application/octet-stream"),
	}
	if contentDisposition != "" {
		in.ResponseContentDisposition = aws.String(contentDisposition)
	}
	req, err := s.presign.PresignHeadObject(ctx, in, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", freight.Internal(err)
	}
	return req.URL, nil
}

func (s *Store) stagingKey(name string) string { return s.prefix + "uploads/" + name }

// digestKey is where FinishUpload records the digest of a staged object,
// for CommitUpload to check.
func (s *Store) digestKey(name string) string { return s.prefix + "uploads/" + name + ".sha256" }

func checkDigest(digest string) error {
	if !freight.ValidDigest(digest) {
		return freight.FieldError("digest", "must be 64 lower-case hexadecimal digits")
	}
	return nil
}

// Put implements freight.BlobStore. The bytes stream to the final key
// through the SDK's transfer manager (a multipart upload for big bodies, in
// bounded memory) and are checked on the way: at the end of the body, a
// wrong size or digest becomes a read error, which makes the transfer
// manager abort before the object is completed. So no staging copy is
// needed: the object appears only with the right bytes.
func (s *Store) Put(ctx context.Context, digest string, size int64, r io.Reader) error {
	if err := checkDigest(digest); err != nil {
		return err
	}
	if size < 0 {
		return freight.FieldError("size", "must not be negative")
	}
	key := s.blobKey(digest)
	if _, err := s.head(ctx, key); err == nil {
		return nil // content addressing: the bytes are the same
	} else if freight.ErrorCode(err) != freight.ENOTFOUND {
		return err
	}
	if err := ctx.Err(); err != nil {
		return freight.Internal(err)
	}

	vr := &verifyingReader{r: r, size: size, digest: digest, h: sha256.New()}
	// Parts grow for huge blobs so that they fit S3's 10,000 parts. The
	// body's length stays unsaid: the transfer manager must read to the
	// end of the body, where the check is, before it completes.
	ps := max(s.putPartSize, size/(freight.MaxUploadParts-1)+1)
	_, err := s.transfer.UploadObject(ctx, &transfermanager.UploadObjectInput{
		Bucket:      aws.String(s.bucket),
		Key:         aws.String(key),
		Body:        vr,
		ContentType: aws.String("application/octet-stream"),
	}, func(o *transfermanager.Options) {
		o.PartSizeBytes = ps
		o.MultipartUploadThreshold = ps
	})
	if vr.err != nil {
		return vr.err
	}
	if err != nil {
		return s.mapErr(err, "blob")
	}
	return nil
}

// verifyingReader counts and hashes what the transfer manager reads, and
// turns the end of the body into an error when it does not match what was
// declared. It must not implement io.Seeker: the transfer manager would
// then take the length from it instead of reading to the end.
type verifyingReader struct {
	r      io.Reader
	size   int64
	digest string
	h      hash.Hash
	n      int64
	err    error // the first error returned, kept for Put
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	// One byte past size tells an exact body from a long one.
	if rest := v.size + 1 - v.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := v.r.Read(p)
	v.n += int64(n)
	v.h.Write(p[:n])
	switch {
	case v.n > v.size:
		v.err = freight.Errorf(freight.EINVALID, "the body holds more than the %d bytes declared", v.size)
	case err == io.EOF && v.n < v.size:
		v.err = freight.Errorf(freight.EINVALID, "the body holds %d bytes, not the %d declared", v.n, v.size)
	case err == io.EOF:
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.digest {
			v.err = freight.Errorf(freight.EINVALID, "the bytes hash to sha256 %s, not to the digest declared", got)
		}
	case err != nil:
		if _, ok := errors.AsType[*freight.Error](err); ok {
			v.err = err
		} else {
			v.err = freight.Internal(fmt.Errorf("read body: %w", err))
		}
	}
	if v.err != nil {
		return 0, v.err
	}
	return n, err
}

// Open implements freight.BlobStore with one ranged GET; only a range that
// S3 refuses (at or past the end) costs a HEAD to tell the two apart.
func (s *Store) Open(ctx context.Context, digest string, offset, length int64) (io.ReadCloser, error) {
	if err := checkDigest(digest); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, freight.FieldError("offset", "must not be negative")
	}
	key := s.blobKey(digest)
	if length == 0 {
		// HTTP cannot ask for zero bytes.
		return s.emptyAt(ctx, key, offset)
	}
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)}
	switch {
	case length > 0 && length <= math.MaxInt64-offset:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
	case offset > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		if apiCode(err) == "InvalidRange" || httpStatus(err) == http.StatusRequestedRangeNotSatisfiable {
			return s.emptyAt(ctx, key, offset)
		}
		return nil, s.mapErr(err, "blob")
	}
	return out.Body, nil
}

// emptyAt returns an empty reader if offset is the size of the object,
// EINVALID if it is beyond.
func (s *Store) emptyAt(ctx context.Context, key string, offset int64) (io.ReadCloser, error) {
	h, err := s.head(ctx, key)
	if err != nil {
		return nil, err
	}
	if offset > aws.ToInt64(h.ContentLength) {
		return nil, freight.Errorf(freight.EINVALID, "offset %d is beyond the end of the blob", offset)
	}
	return http.NoBody, nil
}

func (s *Store) head(ctx context.Context, key string) (*s3.HeadObjectOutput, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, s.mapErr(err, "blob")
	}
	return out, nil
}

// Stat implements freight.BlobStore.
func (s *Store) Stat(ctx context.Context, digest string) (freight.BlobInfo, error) {
	if err := checkDigest(digest); err != nil {
		return freight.BlobInfo{}, err
	}
	h, err := s.head(ctx, s.blobKey(digest))
	if err != nil {
		return freight.BlobInfo{}, err
	}
	return freight.BlobInfo{Digest: digest, Size: aws.ToInt64(h.ContentLength), ModTime: aws.ToTime(h.LastModified).UTC()}, nil
}

// Delete implements freight.BlobStore. S3 deletes a missing key without
// complaint, hence the HEAD.
func (s *Store) Delete(ctx context.Context, digest string) error {
	if err := checkDigest(digest); err != nil {
		return err
	}
	key := s.blobKey(digest)
	if _, err := s.head(ctx, key); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	return s.mapErr(err, "blob")
}

// List implements freight.BlobStore. S3 lists keys in byte order, which
// for sha256/<2 hex>/<digest> is digest order; keys of another shape are
// skipped.
func (s *Store) List(ctx context.Context, after string, limit int) ([]freight.BlobInfo, string, error) {
	if after != "" && !freight.ValidDigest(after) {
		return nil, "", freight.FieldError("after", "must be empty or a digest of 64 lower-case hexadecimal digits")
	}
	limit = min(max(limit, 1), 1000)
	root := s.prefix + "sha256/"
	in := &s3.ListObjectsV2Input{
		Bucket:  aws.String(s.bucket),
		Prefix:  aws.String(root),
		MaxKeys: aws.Int32(int32(limit + 1)),
	}
	if after != "" {
		in.StartAfter = aws.String(s.blobKey(after))
	}
	var out []freight.BlobInfo
	p := s3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, "", s.mapErr(err, "bucket")
		}
		for _, obj := range page.Contents {
			k := aws.ToString(obj.Key)
			d := k[len(root):]
			if len(d) != 67 || d[2] != '/' || !freight.ValidDigest(d[3:]) || d[:2] != d[3:5] {
				continue
			}
			out = append(out, freight.BlobInfo{Digest: d[3:], Size: aws.ToInt64(obj.Size), ModTime: aws.ToTime(obj.LastModified).UTC()})
			// One more than asked tells whether there is a next page.
			if len(out) > limit {
				return out[:limit], out[limit-1].Digest, nil
			}
		}
	}
	return out, "", nil
}

// copyObject copies src to dst inside the bucket, server side: one
// CopyObject up to S3's 5 GiB limit, a multipart copy of 1 GiB ranges
// beyond.
func (s *Store) copyObject(ctx context.Context, src, dst string, size int64) (err error) {
	source := s.copySource(src)
	if size <= s.maxCopySize {
		_, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket:     aws.String(s.bucket),
			Key:        aws.String(dst),
			CopySource: aws.String(source),
		})
		return s.mapErr(err, "upload")
	}
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:      aws.String(s.bucket),
		Key:         aws.String(dst),
		ContentType: aws.String("application/octet-stream"),
	})
	if err != nil {
		return s.mapErr(err, "upload")
	}
	defer func() {
		if err != nil {
			s.abort(ctx, dst, aws.ToString(created.UploadId))
		}
	}()
	n := int((size + s.copyPartSize - 1) / s.copyPartSize)
	parts := make([]types.CompletedPart, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(copyParallel)
	for i := range n {
		g.Go(func() error {
			first := int64(i) * s.copyPartSize
			last := min(first+s.copyPartSize, size) - 1
			out, err := s.client.UploadPartCopy(gctx, &s3.UploadPartCopyInput{
				Bucket:          aws.String(s.bucket),
				Key:             aws.String(dst),
				UploadId:        created.UploadId,
				PartNumber:      aws.Int32(int32(i + 1)),
				CopySource:      aws.String(source),
				CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", first, last)),
			})
			if err != nil {
				return err
			}
			parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.CopyPartResult.ETag}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return s.mapErr(err, "upload")
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.bucket),
		Key:             aws.String(dst),
		UploadId:        created.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	return s.mapErr(err, "upload")
}

// copySource is bucket/key, URL-encoded as x-amz-copy-source wants it.
func (s *Store) copySource(key string) string {
	segs := strings.Split(key, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return s.bucket + "/" + strings.Join(segs, "/")
}

// abort aborts a multipart upload, logging a failure: it only runs on
// paths that return another error already.
func (s *Store) abort(ctx context.Context, key, uploadID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: aws.String(uploadID),
	})
	if err != nil && apiCode(err) != "NoSuchUpload" {
		s.logger.WarnContext(ctx, "abort multipart upload", "key", key, "err", err)
	}
}

// deleteObjects deletes keys, missing ones included: S3 deletes are
// idempotent.
func (s *Store) deleteObjects(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(k)})
		if err != nil && !notFound(err) {
			return s.mapErr(err, "upload")
		}
	}
	return nil
}

// mapErr maps an SDK error to the error contract of freight.BlobStore:
// missing keys and uploads are ENOTFOUND about what, an unreachable or
// overloaded server EUNAVAILABLE, anything else internal. A *freight.Error
// (from a reader) keeps its code.
func (s *Store) mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	if fe, ok := errors.AsType[*freight.Error](err); ok {
		return fe
	}
	if notFound(err) {
		return freight.Errorf(freight.ENOTFOUND, "%s not found", what)
	}
	if unavailable(err) {
		return &freight.Error{Code: freight.EUNAVAILABLE, Message: "blob storage is unavailable", Err: err}
	}
	return freight.Internal(err)
}

func notFound(err error) bool {
	switch apiCode(err) {
	case "NoSuchKey", "NotFound", "NoSuchUpload":
		return true
	}
	return false
}

func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false // the caller went away; the server may be fine
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var send *smithyhttp.RequestSendError
	var nerr net.Error
	if errors.As(err, &send) || errors.As(err, &nerr) {
		return true
	}
	switch apiCode(err) {
	case "SlowDown", "ServiceUnavailable", "RequestTimeout", "InternalError", "XMinioServerNotInitialized":
		return true
	}
	st := httpStatus(err)
	return st == http.StatusServiceUnavailable || st == http.StatusBadGateway || st == http.StatusGatewayTimeout
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// Staging names are 26 characters of lower-case base32: 130 random bits.
const (
	nameLen      = 26
	nameAlphabet = "abcdefghijklmnopqrstuvwxyz234567"
)

func newName() string {
	var r [nameLen]byte
	if _, err := rand.Read(r[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	for i := range r {
		r[i] = nameAlphabet[r[i]&31]
	}
	return string(r[:])
}

func validName(n string) bool {
	return len(n) == nameLen && strings.IndexFunc(n, func(c rune) bool {
		return !strings.ContainsRune(nameAlphabet, c)
	}) < 0
}

// hashObject streams an object through SHA-256 and returns its digest and
// size.
func (s *Store) hashObject(ctx context.Context, key string) (string, int64, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return "", 0, s.mapErr(err, "upload")
	}
	defer out.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, out.Body)
	if err != nil {
		return "", 0, s.mapErr(err, "upload")
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// putSmall stores a small object from memory.
func (s *Store) putSmall(ctx context.Context, key string, data []byte) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), Body: bytes.NewReader(data),
		ContentType: aws.String("text/plain"),
	})
	return s.mapErr(err, "upload")
}

// getSmall reads a small object; "" with no error when it does not exist.
func (s *Store) getSmall(ctx context.Context, key string) (string, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if notFound(err) {
		return "", nil
	} else if err != nil {
		return "", s.mapErr(err, "upload")
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, 1024))
	if err != nil {
		return "", s.mapErr(err, "upload")
	}
	return string(b), nil
}

// base64 without padding survives URLs, JSON and database text as is.
var idEncoding = base64.RawURLEncoding

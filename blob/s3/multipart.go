package s3

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/freight-portal/freight"
)

// upload is what an upload id carries: the staging name, the shape the
// upload was created with, and S3's UploadId. Carrying the shape lets
// PresignPart refuse part numbers past the end and sign each part's exact
// length, and lets ListParts answer after the parts were assembled, without
// any state in the bucket.
type upload struct {
	name           string
	size, partSize int64
	s3ID           string
}

func (u upload) encode() string {
	return idEncoding.EncodeToString(fmt.Appendf(nil, "%s.%d.%d.%s", u.name, u.size, u.partSize, u.s3ID))
}

// decodeUpload parses an upload id. Anything this store cannot have made
// is ENOTFOUND, and no key is built from it.
func decodeUpload(id string) (upload, error) {
	nf := freight.Errorf(freight.ENOTFOUND, "upload not found")
	if len(id) > 2048 {
		return upload{}, nf
	}
	b, err := idEncoding.DecodeString(id)
	if err != nil {
		return upload{}, nf
	}
	f := strings.SplitN(string(b), ".", 4)
	if len(f) != 4 || !validName(f[0]) {
		return upload{}, nf
	}
	u := upload{name: f[0], s3ID: f[3]}
	if u.size, err = strconv.ParseInt(f[1], 10, 64); err != nil || strconv.FormatInt(u.size, 10) != f[1] {
		return upload{}, nf
	}
	if u.partSize, err = strconv.ParseInt(f[2], 10, 64); err != nil || strconv.FormatInt(u.partSize, 10) != f[2] {
		return upload{}, nf
	}
	if checkShape(u.size, u.partSize) != nil || u.s3ID == "" || strings.IndexFunc(u.s3ID, func(c rune) bool { return c <= ' ' || c > '~' }) >= 0 {
		return upload{}, nf
	}
	return u, nil
}

func (u upload) parts() int {
	if u.size <= 0 {
		return 1 // an empty blob is one empty part
	}
	return int((u.size + u.partSize - 1) / u.partSize)
}

func (u upload) partLen(n int) int64 {
	off := int64(n-1) * u.partSize
	return max(min(u.partSize, u.size-off), 0)
}

// checkShape applies S3's limits: at most 10,000 parts of 5 MiB to 5 GiB,
// the last one smaller.
func checkShape(size, partSize int64) error {
	if size < 0 {
		return freight.FieldError("size", "must not be negative")
	}
	if partSize <= 0 {
		return freight.FieldError("part_size", "must be positive")
	}
	if partSize > maxPartSize {
		return freight.FieldError("part_size", "must be at most 5 GiB")
	}
	u := upload{size: size, partSize: partSize}
	if n := u.parts(); n > freight.MaxUploadParts {
		return freight.FieldError("part_size", "makes %d parts; at most %d are allowed", n, freight.MaxUploadParts)
	} else if n > 1 && partSize < minPartSize {
		return freight.FieldError("part_size", "must be at least 5 MiB when there is more than one part")
	}
	return nil
}

// CreateUpload implements freight.MultipartStore.
func (s *Store) CreateUpload(ctx context.Context, size, partSize int64) (string, error) {
	if err := checkShape(size, partSize); err != nil {
		return "", err
	}
	u := upload{name: newName(), size: size, partSize: partSize}
	out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:      aws.String(s.bucket),
		Key:         aws.String(s.stagingKey(u.name)),
		ContentType: aws.String("application/octet-stream"),
	})
	if err != nil {
		return "", s.mapErr(err, "upload")
	}
	u.s3ID = aws.ToString(out.UploadId)
	id := u.encode()
	if _, err := decodeUpload(id); err != nil {
		s.abort(ctx, s.stagingKey(u.name), u.s3ID)
		return "", freight.Internal(fmt.Errorf("S3 returned an unusable upload id %q", u.s3ID))
	}
	return id, nil
}

// PresignPart implements freight.PartPresigner. The URL signs the part's
// exact Content-Length, so S3 itself refuses a part of the wrong size.
func (s *Store) PresignPart(ctx context.Context, uploadID string, n int, ttl time.Duration) (string, error) {
	u, err := decodeUpload(uploadID)
	if err != nil {
		return "", err
	}
	if n < 1 || n > u.parts() {
		return "", freight.FieldError("part", "part %d does not exist: the upload has parts 1 to %d", n, u.parts())
	}
	if ttl <= 0 || ttl > maxPresignTTL {
		return "", freight.FieldError("ttl", "must be positive and at most 7 days")
	}
	in := &s3.UploadPartInput{
		Bucket:     aws.String(s.bucket),
		Key:        aws.String(s.stagingKey(u.name)),
		UploadId:   aws.String(u.s3ID),
		PartNumber: aws.Int32(int32(n)),
	}
	if l := u.partLen(n); l > 0 {
		in.ContentLength = aws.Int64(l)
	}
	req, err := s.presign.PresignUploadPart(ctx, in, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", freight.Internal(err)
	}
	return req.URL, nil
}

// listParts returns every part S3 holds for the upload, in number order.
func (s *Store) listParts(ctx context.Context, u upload) ([]types.Part, error) {
	var parts []types.Part
	p := s3.NewListPartsPaginator(s.client, &s3.ListPartsInput{
		Bucket:   aws.String(s.bucket),
		Key:      aws.String(s.stagingKey(u.name)),
		UploadId: aws.String(u.s3ID),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		parts = append(parts, page.Parts...)
	}
	return parts, nil
}

// assembled reports whether the staging object exists: the multipart upload
// was completed by an earlier FinishUpload.
func (s *Store) assembled(ctx context.Context, u upload) (bool, error) {
	_, err := s.head(ctx, s.stagingKey(u.name))
	if err == nil {
		return true, nil
	}
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		return false, nil
	}
	return false, err
}

// ListParts implements freight.MultipartStore. After FinishUpload has
// assembled the parts, they are all there, with no ETag.
func (s *Store) ListParts(ctx context.Context, uploadID string) ([]freight.UploadedPart, error) {
	u, err := decodeUpload(uploadID)
	if err != nil {
		return nil, err
	}
	parts, err := s.listParts(ctx, u)
	if notFound(err) {
		ok, err := s.assembled(ctx, u)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, freight.Errorf(freight.ENOTFOUND, "upload not found")
		}
		all := make([]freight.UploadedPart, u.parts())
		for i := range all {
			all[i] = freight.UploadedPart{Number: i + 1, Size: u.partLen(i + 1)}
		}
		return all, nil
	} else if err != nil {
		return nil, s.mapErr(err, "upload")
	}
	out := make([]freight.UploadedPart, 0, len(parts))
	for _, p := range parts {
		out = append(out, freight.UploadedPart{
			Number: int(aws.ToInt32(p.PartNumber)),
			Size:   aws.ToInt64(p.Size),
			ETag:   strings.Trim(aws.ToString(p.ETag), `"`),
		})
	}
	return out, nil
}

// FinishUpload implements freight.MultipartStore: it completes the S3
// multipart upload into the staging object, hashes that object as it
// streams back, and records the digest next to it for CommitUpload.
func (s *Store) FinishUpload(ctx context.Context, uploadID string, size, partSize int64) (string, error) {
	u, err := decodeUpload(uploadID)
	if err != nil {
		return "", err
	}
	if u.size != size || u.partSize != partSize {
		return "", freight.Errorf(freight.EINVALID, "the upload was created with size %d and part size %d, not %d and %d",
			u.size, u.partSize, size, partSize)
	}
	key := s.stagingKey(u.name)
	parts, err := s.listParts(ctx, u)
	switch {
	case notFound(err):
		// Completed by an earlier call that crashed or failed later: the
		// staging object holds the parts already.
		ok, err := s.assembled(ctx, u)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", freight.Errorf(freight.ENOTFOUND, "upload not found")
		}
	case err != nil:
		return "", s.mapErr(err, "upload")
	default:
		if err := s.complete(ctx, u, parts); err != nil {
			return "", err
		}
	}

	digest, n, err := s.hashObject(ctx, key)
	if err != nil {
		return "", err
	}
	if n != size {
		return "", freight.Errorf(freight.EINVALID, "the assembled upload holds %d bytes, not %d", n, size)
	}
	if err := s.putSmall(ctx, s.digestKey(u.name), []byte(digest)); err != nil {
		return "", err
	}
	return digest, nil
}

// complete checks the parts and completes the multipart upload.
func (s *Store) complete(ctx context.Context, u upload, parts []types.Part) error {
	byNumber := make(map[int]types.Part, len(parts))
	for _, p := range parts {
		byNumber[int(aws.ToInt32(p.PartNumber))] = p
	}
	completed := make([]types.CompletedPart, 0, u.parts())
	for n := 1; n <= u.parts(); n++ {
		p, ok := byNumber[n]
		if !ok {
			return freight.Errorf(freight.EINVALID, "part %d is missing", n)
		}
		if got, want := aws.ToInt64(p.Size), u.partLen(n); got != want {
			return freight.Errorf(freight.EINVALID, "part %d has %d bytes, not %d", n, got, want)
		}
		completed = append(completed, types.CompletedPart{PartNumber: p.PartNumber, ETag: p.ETag})
	}
	_, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.bucket),
		Key:             aws.String(s.stagingKey(u.name)),
		UploadId:        aws.String(u.s3ID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: completed},
	})
	if notFound(err) {
		// A concurrent or earlier call completed it.
		if ok, aerr := s.assembled(ctx, u); aerr == nil && ok {
			return nil
		}
	}
	return s.mapErr(err, "upload")
}

// CommitUpload implements freight.MultipartStore. It copies the staging
// object to the blob's key, server side, and removes the staging object.
// It refuses a digest other than the one FinishUpload recorded: a blob's
// name must be the hash of its bytes.
func (s *Store) CommitUpload(ctx context.Context, uploadID, digest string) error {
	if err := checkDigest(digest); err != nil {
		return err
	}
	u, err := decodeUpload(uploadID)
	if err != nil {
		return err
	}
	staging, final := s.stagingKey(u.name), s.blobKey(digest)
	recorded, err := s.getSmall(ctx, s.digestKey(u.name))
	if err != nil {
		return err
	}
	if recorded != "" && recorded != digest {
		return freight.FieldError("digest", "is not the digest of the finished upload")
	}
	exists := func() (bool, error) {
		_, err := s.head(ctx, final)
		if err == nil {
			return true, nil
		}
		if freight.ErrorCode(err) == freight.ENOTFOUND {
			return false, nil
		}
		return false, err
	}
	if recorded == "" {
		// Not finished, or committed (or aborted) before and gone.
		ok, err := s.assembled(ctx, u)
		if err != nil {
			return err
		}
		if ok {
			return freight.Errorf(freight.EINVALID, "the upload is not finished: finish it first")
		}
		if _, err := s.listParts(ctx, u); err == nil {
			return freight.Errorf(freight.EINVALID, "the upload is not finished: finish it first")
		} else if !notFound(err) {
			return s.mapErr(err, "upload")
		}
		if ok, err := exists(); err != nil || ok {
			return err
		}
		return freight.Errorf(freight.ENOTFOUND, "upload not found")
	}
	if ok, err := exists(); err != nil {
		return err
	} else if ok {
		// Committed before, or the same bytes arrived another way.
		return s.cleanup(ctx, u)
	}
	if err := s.copyObject(ctx, staging, final, u.size); err != nil {
		return err
	}
	return s.cleanup(ctx, u)
}

// cleanup removes the staging object, then the digest record, and aborts
// the multipart upload if it is still open. In this order a crash leaves
// the record, so that a retried CommitUpload still checks the digest.
func (s *Store) cleanup(ctx context.Context, u upload) error {
	if err := s.deleteObjects(ctx, s.stagingKey(u.name)); err != nil {
		return err
	}
	if err := s.deleteObjects(ctx, s.digestKey(u.name)); err != nil {
		return err
	}
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(s.stagingKey(u.name)), UploadId: aws.String(u.s3ID),
	})
	if err != nil && !notFound(err) {
		return s.mapErr(err, "upload")
	}
	return nil
}

// AbortUpload implements freight.MultipartStore.
func (s *Store) AbortUpload(ctx context.Context, uploadID string) error {
	u, err := decodeUpload(uploadID)
	if err != nil {
		return err
	}
	return s.cleanup(ctx, u)
}

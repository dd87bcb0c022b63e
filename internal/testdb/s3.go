package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3Env names the variable that holds the S3 server used by tests, as a
// blob URL such as
// s3://freight-test/ci?endpoint=http://127.0.0.1:9000&region=us-east-1&path_style=true.
// Credentials come from the SDK's usual places, AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY in CI.
const S3Env = "FREIGHT_TEST_S3"

// S3 returns the URL of a fresh prefix under the bucket and prefix named by
// FREIGHT_TEST_S3, creating the bucket if it is missing (CI starts an empty
// MinIO and has no other client), and deletes every object and multipart
// upload under the prefix when the test ends. It skips the test when the
// variable is empty, unless FREIGHT_TEST_REQUIRE contains "s3", in which
// case it fails the test.
func S3(t testing.TB) string {
	t.Helper()
	raw := os.Getenv(S3Env)
	if raw == "" {
		if Required("s3") {
			t.Fatalf("%s is empty but %s=%q requires S3: set %s to a URL such as s3://freight-test/ci?endpoint=http://127.0.0.1:9000&region=us-east-1&path_style=true",
				S3Env, RequireEnv, os.Getenv(RequireEnv), S3Env)
		}
		t.Skipf("skipping S3 test: set %s to a URL such as s3://freight-test/ci?endpoint=http://127.0.0.1:9000&region=us-east-1&path_style=true, with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", S3Env)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.User != nil {
		// The error of url.Parse quotes the URL, which may hold a password.
		t.Fatalf("%s must be an s3://bucket/prefix URL without credentials", S3Env)
	}
	bucket := u.Host

	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	prefix := path.Join(strings.Trim(u.Path, "/"), "freight-test-"+hex.EncodeToString(b[:])) + "/"

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := s3Client(ctx, t, u.Query())
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		in := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
		if r := client.Options().Region; r != "us-east-1" {
			in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(r)}
		}
		var ae smithy.APIError
		if _, err := client.CreateBucket(ctx, in); err != nil &&
			!(errors.As(err, &ae) && (ae.ErrorCode() == "BucketAlreadyOwnedByYou" || ae.ErrorCode() == "BucketAlreadyExists")) {
			t.Fatalf("create bucket %s: %v", bucket, err)
		}
	}
	// Cleanups run last-registered first, so this runs after the test has
	// closed what it opened on the prefix.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := emptyPrefix(ctx, client, bucket, prefix); err != nil {
			t.Errorf("delete s3://%s/%s: %v", bucket, prefix, err)
		}
	})

	u.Path = "/" + strings.TrimSuffix(prefix, "/")
	return u.String()
}

// s3Client makes a client from the parameters of a blob URL, the few that
// matter for the helper; the store under test checks them all.
func s3Client(ctx context.Context, t testing.TB, q url.Values) *s3.Client {
	t.Helper()
	var opts []func(*config.LoadOptions) error
	if r := q.Get("region"); r != "" {
		opts = append(opts, config.WithRegion(r))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		t.Fatalf("load AWS configuration: %v", err)
	}
	pathStyle, _ := strconv.ParseBool(q.Get("path_style"))
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if e := q.Get("endpoint"); e != "" {
			o.BaseEndpoint = aws.String(e)
		}
		o.UsePathStyle = pathStyle
	})
}

// emptyPrefix aborts the multipart uploads and deletes the objects under
// prefix.
func emptyPrefix(ctx context.Context, client *s3.Client, bucket, prefix string) error {
	uploads := s3.NewListMultipartUploadsPaginator(client, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for uploads.HasMorePages() {
		page, err := uploads.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, up := range page.Uploads {
			if _, err := client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: up.Key, UploadId: up.UploadId}); err != nil {
				return err
			}
		}
	}
	objects := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for objects.HasMorePages() {
		page, err := objects.NextPage(ctx)
		if err != nil {
			return err
		}
		if len(page.Contents) == 0 {
			continue
		}
		ids := make([]types.ObjectIdentifier, len(page.Contents))
		for i, o := range page.Contents {
			ids[i] = types.ObjectIdentifier{Key: o.Key}
		}
		out, err := client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err != nil {
			return err
		}
		if len(out.Errors) > 0 {
			return errors.New(aws.ToString(out.Errors[0].Key) + ": " + aws.ToString(out.Errors[0].Message))
		}
	}
	return nil
}

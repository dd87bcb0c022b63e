package s3

import "github.com/aws/aws-sdk-go-v2/service/s3"

// Hooks for the tests of package s3_test, which live outside the package so
// that they can use internal/testdb.

// SetThresholds lowers the sizes at which Put and CommitUpload switch to
// multipart, so that small objects reach those paths.
func SetThresholds(s *Store, maxCopySize, copyPartSize, putPartSize int64) {
	s.maxCopySize, s.copyPartSize, s.putPartSize = maxCopySize, copyPartSize, putPartSize
}

// Raw returns the client, bucket and key prefix of s.
func Raw(s *Store) (*s3.Client, string, string) { return s.client, s.bucket, s.prefix }

// ParseURL reports what parseURL thinks of a URL.
func ParseURL(rawURL string) error {
	_, err := parseURL(rawURL)
	return err
}

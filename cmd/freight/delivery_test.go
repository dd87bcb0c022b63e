package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/freight-portal/freight/internal/testdb"
	"github.com/freight-portal/freight/server"
)

// TestServeRejectsDeliveryConfig checks that serve refuses to start with a
// delivery mode that would fail every download, saying why.
func TestServeRejectsDeliveryConfig(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		env      []string
		wantErrs []string // each must appear in the error
	}{
		{"S3OnFiles", []string{"--delivery", "s3"}, nil, []string{"--delivery s3", "needs an s3:// blob store", "--blobs", "the blobs folder"}},
		{"S3OnFileURL", []string{"--delivery", "s3", "--blobs", "file://" + filepath.ToSlash(t.TempDir())}, nil, []string{"--delivery s3", "is file://"}},
		{"CloudFrontBare", []string{"--delivery", "cloudfront"}, nil, []string{"--cloudfront-domain", "--cloudfront-key-id", "--cloudfront-private-key"}},
		{"CloudFrontNoKey", []string{"--delivery", "cloudfront", "--cloudfront-domain", "d1.cloudfront.net"}, nil, []string{"--cloudfront-key-id", "--cloudfront-private-key"}},
		{"CloudFrontMissingKeyFile", []string{"--delivery", "cloudfront", "--cloudfront-domain", "d1.cloudfront.net", "--cloudfront-key-id", "K1", "--cloudfront-private-key", "/nonexistent/cf.pem"}, nil, []string{"--cloudfront-private-key", "/nonexistent/cf.pem"}},
		{"UnknownMode", nil, []string{"FREIGHT_DELIVERY=pigeon"}, []string{"FREIGHT_DELIVERY", "origin, s3, cloudfront, edge"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0"}, tc.args...)
			var out output
			err := run(context.Background(), args, tc.env, &out, io.Discard)
			if err == nil {
				t.Fatalf("serve %q started", tc.args)
			}
			for _, want := range tc.wantErrs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("err = %v, want one naming %s", err, want)
				}
			}
			if strings.Contains(out.String(), "listening") {
				t.Errorf("serve listened before failing: %s", out.String())
			}
		})
	}
}

// writePEM writes PEM blocks into a file of the test and returns its path.
func writePEM(t *testing.T, blocks ...*pem.Block) string {
	t.Helper()
	var b []byte
	for _, bl := range blocks {
		b = append(b, pem.EncodeToMemory(bl)...)
	}
	p := filepath.Join(t.TempDir(), "cloudfront.pem")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCloudFrontConfig(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	p384sec1, _ := x509.MarshalECPrivateKey(p384)
	pkcs8 := func(k any) []byte {
		b, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// openssl ecparam -genkey writes the curve's parameters first.
	params := &pem.Block{Type: "EC PARAMETERS", Bytes: []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}}

	blobs, err := (&serveConfig{db: dbConfig{dataDir: t.TempDir()}}).openBlobs(context.Background(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		key     string
		wantErr string
	}{
		{"RSAPKCS1", writePEM(t, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), ""},
		{"RSAPKCS8", writePEM(t, &pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8(rsaKey)}), ""},
		{"ECDSASEC1", writePEM(t, params, &pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), ""},
		{"ECDSAPKCS8", writePEM(t, &pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8(ecKey)}), ""},
		{"ECDSAP384", writePEM(t, &pem.Block{Type: "EC PRIVATE KEY", Bytes: p384sec1}), "P-256"},
		{"Ed25519", writePEM(t, &pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8(edKey)}), "RSA 2048 or ECDSA P-256"},
		{"Encrypted", writePEM(t, &pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}}), "encrypted"},
		{"PublicKeyOnly", writePEM(t, &pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}}), "no PEM private key"},
		{"Garbage", writePEM(t, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte{1, 2, 3}}), "RSA PRIVATE KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := serveConfig{delivery: oneOf{value: server.DeliveryCloudFront},
				cloudFront: cloudFrontConfig{domain: "d1.cloudfront.net", keyID: "K1", privateKey: tc.key}}
			var cfg server.Config
			err := c.deliveryConfig(&cfg, blobs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "cloudfront") {
					t.Errorf("err = %v, want one naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.DeliveryMode != server.DeliveryCloudFront || cfg.CloudFront.Domain != "d1.cloudfront.net" || cfg.CloudFront.KeyID != "K1" || cfg.CloudFront.Signer == nil || cfg.CloudFront.PathPrefix != "" {
				t.Errorf("config %+v", cfg)
			}
		})
	}
	t.Run("BadDomain", func(t *testing.T) {
		c := serveConfig{delivery: oneOf{value: server.DeliveryCloudFront},
			cloudFront: cloudFrontConfig{domain: "https://d1.cloudfront.net", keyID: "K1", privateKey: writePEM(t, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})}}
		var cfg server.Config
		if err := c.deliveryConfig(&cfg, blobs); err == nil || !strings.Contains(err.Error(), "host name") {
			t.Errorf("err = %v, want one about the domain", err)
		}
	})
	t.Run("S3PathPrefix", func(t *testing.T) {
		c := serveConfig{blobs: testdb.S3(t), delivery: oneOf{value: server.DeliveryCloudFront},
			cloudFront: cloudFrontConfig{domain: "d1.cloudfront.net", keyID: "K1", privateKey: writePEM(t, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})}}
		s3blobs, err := c.openBlobs(context.Background(), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		var cfg server.Config
		if err := c.deliveryConfig(&cfg, s3blobs); err != nil {
			t.Fatal(err)
		}
		// The default: the distribution serves the bucket as it is.
		if p := cfg.CloudFront.PathPrefix; p == "" || !strings.Contains(c.blobs, "/"+p+"?") {
			t.Errorf("path prefix %q, want the prefix of %s", p, c.blobs)
		}
		c.cloudFront.pathPrefix = "/"
		if err := c.deliveryConfig(&cfg, s3blobs); err != nil || cfg.CloudFront.PathPrefix != "/" {
			t.Errorf("path prefix %q (%v), want / (none)", cfg.CloudFront.PathPrefix, err)
		}
		// And delivery s3 is fine with an s3:// store.
		c.delivery.value = server.DeliveryS3
		if err := c.deliveryConfig(&cfg, s3blobs); err != nil {
			t.Errorf("delivery s3 on an s3:// store: %v", err)
		}
	})
}

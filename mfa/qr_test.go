package mfa

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/freight-portal/freight/internal/testdb"
)

func TestQRCodePNG(t *testing.T) {
	uri := URI("Freight", "jane@example.com", NewSecret())
	for _, size := range []int{200, 256, 301} {
		b, err := QRCodePNG(uri, size)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("size %d: not a PNG: %v", size, err)
		}
		if got := img.Bounds(); got != image.Rect(0, 0, size, size) {
			t.Errorf("size %d: bounds %v", size, got)
		}
		// The border is white (quiet zone) and the corner finder pattern is
		// black somewhere inside.
		dark := func(x, y int) bool { r, _, _, _ := img.At(x, y).RGBA(); return r < 0x8000 }
		for i := range size {
			if dark(i, 0) || dark(0, i) || dark(i, size-1) || dark(size-1, i) {
				t.Fatalf("size %d: border pixel at %d is dark", size, i)
			}
		}
		blacks := 0
		for y := range size {
			for x := range size {
				if dark(x, y) {
					blacks++
				}
			}
		}
		if blacks < size*size/8 || blacks > size*size*3/4 {
			t.Errorf("size %d: %d of %d pixels dark, not a QR code", size, blacks, size*size)
		}
	}
	if _, err := QRCodePNG(uri, 20); err == nil {
		t.Error("QRCodePNG(size 20) succeeded; the code cannot fit")
	}
	if _, err := QRCodePNG(uri, 100000); err == nil {
		t.Error("QRCodePNG(size 100000) succeeded")
	}
}

// A real QR reader (zbarimg, Debian package zbar-tools) reads the URI back.
func TestQRCodeDecodes(t *testing.T) {
	zbar, err := exec.LookPath("zbarimg")
	if err != nil {
		if testdb.Required("clients") {
			t.Fatal("zbarimg (zbar-tools) is required")
		}
		t.Skip("zbarimg not installed (apt-get install zbar-tools)")
	}
	uri := URI("Freight Downloads", "jane+ops@example.com", NewSecret())
	b, err := QRCodePNG(uri, 240)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "qr.png")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(zbar, "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", file).Output()
	if err != nil {
		t.Fatalf("zbarimg: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != uri {
		t.Errorf("decoded %q, want %q", got, uri)
	}
}

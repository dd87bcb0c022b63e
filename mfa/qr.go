package mfa

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"

	"rsc.io/qr"
)

// quietZone is the white border, in modules, that QR readers need.
const quietZone = 4

// QRCodePNG returns a square PNG of size×size pixels showing uri as a QR
// code, for enrolment in an authenticator app. Modules are whole pixels
// (no blurring) and the code is centred with a quiet zone of at least four
// modules; size must leave room for that.
func QRCodePNG(uri string, size int) ([]byte, error) {
	code, err := qr.Encode(uri, qr.M)
	if err != nil {
		return nil, fmt.Errorf("mfa: QR code: %w", err)
	}
	if size > 4096 {
		return nil, fmt.Errorf("mfa: QR code size %d is above 4096 pixels", size)
	}
	scale := size / (code.Size + 2*quietZone)
	if scale < 1 {
		return nil, fmt.Errorf("mfa: QR code needs at least %d pixels a side, %d asked", code.Size+2*quietZone, size)
	}
	off := (size - scale*code.Size) / 2
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black})
	for y := range code.Size {
		for x := range code.Size {
			if !code.Black(x, y) {
				continue
			}
			for dy := range scale {
				row := img.Pix[(off+y*scale+dy)*img.Stride:]
				for dx := range scale {
					row[off+x*scale+dx] = 1
				}
			}
		}
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Package licensefile reads and writes Freight license files: the signed
// license key file each customer receives next to the binaries, which the
// vendor's software reads at start to decide what the customer may use.
// Verification works offline with the vendor's public key alone, so it
// suits factories where the software runs without a network, bound to a
// hardware dongle.
//
// The package imports only the standard library, so that vendors can
// import it into their own software without pulling anything else in.
//
// A license file is text that survives email and copy-paste:
//
//	-----BEGIN FREIGHT LICENSE-----
//	eyJ2IjoxLCJhbGciOiJlZDI1NTE5Iiwia2lkIjoiazEiLCJlbmMiOiJub25lIiwi
//	...
//	-----END FREIGHT LICENSE-----
//
// The body is a base64 JSON envelope holding the payload (the license as
// JSON, or that JSON encrypted with AES-256-GCM under the customer's
// secret) and an Ed25519 signature over it. FORMAT.md, next to this file,
// specifies the format exactly, and testdata/vectors.json holds test
// vectors for verifiers in other languages.
//
// # Verifying
//
// An application embeds the vendor's public key(s) and at start calls
// Verify (or VerifyEncrypted), then the checks it needs:
//
//	lic, err := licensefile.Verify(data, keys)   // genuine and well formed?
//	err = lic.Valid(time.Now())                  // within not_before .. expires_at?
//	ok := lic.BoundTo(dongleSerial)              // this hardware, or unbound?
//	ok = lic.HasFeature("export")                // a licensed function?
//	ok = lic.CoversRelease(buildDate)            // within maintenance?
//	ok = lic.AllowsSeats(users)                  // within the seats?
//
// Verify checks the signature and the format, never the clock: an
// application decides which time it trusts. Errors wrap one sentinel error
// (ErrMalformed, ErrUnsupportedVersion, ErrUnknownKey, ErrBadSignature,
// ErrEncrypted, ErrWrongSecret; ErrNotYetValid and ErrExpired from Valid)
// for errors.Is, with detail for logs. No input makes Verify panic.
//
// Inspect takes a file apart without verifying it, for showing it to a
// person; its result must never decide what software may do.
//
// # Issuing
//
// The portal issues files with Sign, or SignEncrypted with a secret from
// NewSecret given to the customer in the text form of EncodeSecret.
//
// # Limits of any license file
//
// A signature proves who issued a file and that nobody changed it; it
// cannot stop a user from setting the clock back (Valid trusts the time it
// is given) or from patching the public key out of the application. Bind
// licenses to hardware, and compare the clock with IssuedAt or a time the
// application has seen before, where that matters.
package licensefile

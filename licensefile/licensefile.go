package licensefile

import (
	"errors"
	"fmt"
	"time"
)

// Format constants of version 1. FORMAT.md is the specification.
const (
	// Version is the format version this package reads and writes.
	Version = 1

	// Header and Footer are the lines around the base64 body.
	Header = "-----BEGIN FREIGHT LICENSE-----"
	Footer = "-----END FREIGHT LICENSE-----"

	// MaxFileSize is the greatest size of a license file in bytes, text
	// outside the block included. Every license within the limits of
	// FORMAT.md fits, encrypted or not.
	MaxFileSize = 1 << 20

	// Algorithm is the signature algorithm: pure Ed25519 (RFC 8032).
	Algorithm = "ed25519"

	// Encryptions of the payload.
	EncNone      = "none"
	EncAES256GCM = "aes-256-gcm"

	// SecretSize is the size in bytes of a customer's secret, the key
	// material of encrypted license files.
	SecretSize = 32
)

// Errors. Every error of Verify, VerifyEncrypted, Inspect and Valid wraps
// exactly one of them, with detail for logs; test with errors.Is.
var (
	// ErrMalformed: the file is not a license file of this format: no or
	// several armored blocks, bad base64, an envelope or payload that breaks
	// a rule of FORMAT.md, or a file over MaxFileSize.
	ErrMalformed = errors.New("licensefile: malformed license file")
	// ErrUnsupportedVersion: a well-formed file of another format version.
	ErrUnsupportedVersion = errors.New("licensefile: unsupported license file version")
	// ErrUnknownKey: the file names a key id the caller does not trust.
	ErrUnknownKey = errors.New("licensefile: unknown signing key")
	// ErrBadSignature: the signature does not verify with the key it names:
	// the file was changed, or signed by someone else.
	ErrBadSignature = errors.New("licensefile: bad signature")
	// ErrEncrypted: a genuine file whose payload is encrypted was given to
	// Verify; VerifyEncrypted with the customer's secret reads it.
	ErrEncrypted = errors.New("licensefile: license file is encrypted")
	// ErrWrongSecret: the payload does not decrypt with the secret given,
	// or the secret is not a secret (not SecretSize bytes).
	ErrWrongSecret = errors.New("licensefile: wrong secret")
	// ErrNotYetValid: the license starts later (License.Valid).
	ErrNotYetValid = errors.New("licensefile: license not yet valid")
	// ErrExpired: the license has ended (License.Valid).
	ErrExpired = errors.New("licensefile: license expired")
)

// errorf wraps sentinel with a detail message.
func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}

// License is what a license file grants. Verify returns it only when the
// signature holds; a nil *License grants nothing (every method says no), so
// ignoring Verify's error fails closed.
//
// The JSON tags give the member names of the payload, for display; the
// exact payload encoding is written by Sign (see FORMAT.md).
type License struct {
	Version      int          `json:"version"` // format version, 1
	ID           string       `json:"id"`      // the license's id
	KeyID        string       `json:"key_id"`  // id of the key that signed the file
	Organization Organization `json:"organization"`
	Product      string       `json:"product"` // the product's identifier
	// Features are sorted by name, names unique.
	Features []Feature `json:"features"`
	// Seats is the number of seats licensed; 0 means no seat limit.
	Seats int `json:"seats"`
	// HardwareIDs are dongle serials or machine fingerprints the license is
	// bound to, sorted; none means the license is not bound.
	HardwareIDs []string  `json:"hardware_ids"`
	IssuedAt    time.Time `json:"issued_at"`
	// NotBefore is the first instant at which the license is valid.
	NotBefore time.Time `json:"not_before"`
	// ExpiresAt is the first instant at which the license is no longer
	// valid; nil means it never expires.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// MaintenanceUntil is the last publication instant of releases the
	// license covers; nil means it covers every release.
	MaintenanceUntil *time.Time `json:"maintenance_until,omitempty"`
}

// Organization is the customer the license is issued to.
type Organization struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Feature is one licensed function of the product: a name, and optionally a
// value (an edition, a level) and a numeric limit, both meaning what the
// vendor's software makes of them.
type Feature struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
	Limit *int64 `json:"limit,omitempty"`
}

// Valid reports whether the license is valid at now: nil when
// NotBefore <= now < ExpiresAt, an error wrapping ErrNotYetValid before and
// ErrExpired from ExpiresAt on. Verify does not look at the clock; call Valid
// with the time the application trusts.
func (l *License) Valid(now time.Time) error {
	if l == nil {
		return errorf(ErrMalformed, "no license")
	}
	if now.Before(l.NotBefore) {
		return errorf(ErrNotYetValid, "valid from %s, now is %s", l.NotBefore.UTC().Format(timeLayout), now.UTC().Format(time.RFC3339))
	}
	if l.ExpiresAt != nil && !now.Before(*l.ExpiresAt) {
		return errorf(ErrExpired, "expired at %s, now is %s", l.ExpiresAt.UTC().Format(timeLayout), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// Feature returns the feature of that name. Names are compared exactly.
func (l *License) Feature(name string) (Feature, bool) {
	if l == nil {
		return Feature{}, false
	}
	for _, f := range l.Features {
		if f.Name == name {
			return f, true
		}
	}
	return Feature{}, false
}

// HasFeature reports whether the license lists the feature.
func (l *License) HasFeature(name string) bool {
	_, ok := l.Feature(name)
	return ok
}

// AllowsSeats reports whether n seats are within the license: true when
// Seats is 0 (no limit) or n <= Seats.
func (l *License) AllowsSeats(n int) bool {
	if l == nil {
		return false
	}
	return l.Seats == 0 || n <= l.Seats
}

// Bound reports whether the license is bound to hardware.
func (l *License) Bound() bool { return l != nil && len(l.HardwareIDs) > 0 }

// BoundTo reports whether the license may run on the hardware with that id:
// true when the license is not bound, or when the id is listed. Spaces, tabs
// and line breaks around id are ignored and ASCII letters match regardless
// of case ("ab12-cd34 " matches "AB12-CD34"); nothing else is normalised. An
// empty id matches only an unbound license.
func (l *License) BoundTo(hardwareID string) bool {
	if l == nil {
		return false
	}
	if len(l.HardwareIDs) == 0 {
		return true
	}
	id := trimSpace(hardwareID)
	if id == "" {
		return false
	}
	for _, h := range l.HardwareIDs {
		if equalFoldASCII(h, id) {
			return true
		}
	}
	return false
}

// CoversRelease reports whether the license covers a release published at
// that instant: true when MaintenanceUntil is nil or published is not after
// it. A perpetual license with a maintenance date keeps running the releases
// it covers and refuses newer ones.
func (l *License) CoversRelease(published time.Time) bool {
	if l == nil {
		return false
	}
	return l.MaintenanceUntil == nil || !published.After(*l.MaintenanceUntil)
}

// isSpace reports whether c is whitespace of the format: space, tab, CR, LF.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func trimSpace(s string) string {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

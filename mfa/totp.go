// Package mfa holds the second factors of Freight's user pool: time-based
// one-time passwords (TOTP, RFC 6238) and recovery codes.
//
// TOTP uses the parameters every authenticator app supports: HMAC-SHA1,
// 6 digits, a 30 second step and a 160-bit secret. A code is accepted for the
// current step and one step either side (clock skew), and never for a step at
// or before the last one accepted: the caller stores the step Verify returns
// and passes it back next time, which makes every code single use (RFC 6238
// section 5.2).
//
// Recovery codes are random, shown to the user once and stored as SHA-256
// hashes: each carries 80 bits from the system's random source, which puts
// guessing out of reach without a slow hash. A used code's hash is deleted by
// the caller.
package mfa

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/freight-portal/freight"
)

// TOTP parameters.
const (
	SecretSize = 20 // bytes: 160 bits, RFC 4226's recommendation
	Digits     = 6
	Period     = 30 * time.Second
	// Skew is how many steps before or after the current one are accepted.
	Skew = 1
)

// Bounds on a decoded secret: RFC 4226 requires at least 128 bits; the upper
// bound keeps a pasted document from being taken for a key.
const (
	minSecret = 16
	maxSecret = 64
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSecret returns a new random TOTP secret of SecretSize bytes.
func NewSecret() []byte {
	s := make([]byte, SecretSize)
	rand.Read(s) // never fails: crypto/rand panics rather than return short
	return s
}

// EncodeSecret returns the secret as authenticator apps take it: base32
// without padding, upper case.
func EncodeSecret(secret []byte) string {
	return b32.EncodeToString(secret)
}

// DecodeSecret parses a base32 secret as typed or pasted by a person: case,
// spaces, dashes and trailing padding are ignored. A secret shorter than
// 128 bits is refused.
func DecodeSecret(s string) ([]byte, error) {
	if len(s) > 4*maxSecret {
		return nil, badSecret()
	}
	s = strings.Map(func(r rune) rune {
		switch {
		case r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '-':
			return -1
		case 'a' <= r && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, s)
	s = strings.TrimRight(s, "=")
	secret, err := b32.DecodeString(s)
	if err != nil || len(secret) < minSecret || len(secret) > maxSecret {
		return nil, badSecret()
	}
	return secret, nil
}

func badSecret() *freight.Error {
	return freight.FieldError("secret", "not a valid TOTP secret: expected base32 text of at least 26 characters")
}

// Step returns the TOTP time step that t falls in.
func Step(t time.Time) int64 {
	return floorDiv(t.Unix(), int64(Period/time.Second))
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// Code returns the TOTP code of secret at time t.
func Code(secret []byte, t time.Time) string {
	return hotp(secret, uint64(Step(t)), Digits)
}

// hotp is RFC 4226's HOTP with a counter and a number of digits.
func hotp(secret []byte, counter uint64, digits int) string {
	mac := hmac.New(sha1.New, secret)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	s := strconv.FormatUint(uint64(bin%mod), 10)
	return strings.Repeat("0", digits-len(s)) + s
}

// Verify checks a code typed by the user against secret at time now. It
// accepts the code of the current step or of Skew steps either side, but
// only for a step after lastStep, the one accepted last time (pass 0, or
// any value below Step(now)-Skew, when none was). On success it returns the
// step to store as the new lastStep. Spaces in code are ignored; anything
// but Digits digits is refused.
func Verify(secret []byte, code string, now time.Time, lastStep int64) (step int64, ok bool) {
	code = strings.ReplaceAll(code, " ", "")
	if len(code) != Digits || len(secret) == 0 {
		return 0, false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return 0, false
		}
	}
	cur := Step(now)
	found := false
	// Every candidate is computed and compared, so the time taken does not
	// depend on which step, if any, matched.
	for s := cur - Skew; s <= cur+Skew; s++ {
		match := subtle.ConstantTimeCompare([]byte(hotp(secret, uint64(s), Digits)), []byte(code)) == 1
		if match && s > lastStep && !found {
			step, found = s, true
		}
	}
	if !found {
		return 0, false
	}
	return step, true
}

// URI returns the otpauth:// key URI that authenticator apps read from a QR
// code: otpauth://totp/Issuer:account?secret=…&issuer=Issuer&… The issuer
// names the portal to the user; account is usually the email address.
func URI(issuer, account string, secret []byte) string {
	label := escape(account)
	if issuer != "" {
		label = escape(issuer) + ":" + label
	}
	q := "secret=" + EncodeSecret(secret)
	if issuer != "" {
		q += "&issuer=" + escape(issuer)
	}
	q += "&algorithm=SHA1&digits=" + strconv.Itoa(Digits) + "&period=" + strconv.Itoa(int(Period/time.Second))
	return "otpauth://totp/" + label + "?" + q
}

// escape percent-encodes s for the label or a query value. Spaces become
// %20, not "+", which some apps show literally; ":" is escaped because it
// separates the issuer from the account in the label.
func escape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

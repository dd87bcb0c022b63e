package mfa

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"strings"
)

// Recovery codes are 16 characters of Crockford's base32 alphabet (80 bits),
// shown in lower case as four groups of four: "7k2m-x9qd-4hvn-b0tc". The
// alphabet has no I, L, O or U, and reading accepts i and l for 1 and o for
// 0, so a code copied by hand from paper still works.
const (
	recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	recoveryLen      = 16
	recoveryGroup    = 4
)

var recoveryEncoding = base32.NewEncoding(recoveryAlphabet).WithPadding(base32.NoPadding)

// NewRecoveryCodes returns n new recovery codes to show the user once, and
// their hashes to store. hashes[i] is HashRecoveryCode(codes[i]).
func NewRecoveryCodes(n int) (codes []string, hashes [][]byte) {
	codes = make([]string, n)
	hashes = make([][]byte, n)
	raw := make([]byte, recoveryLen*5/8) // 80 bits
	for i := range n {
		rand.Read(raw)
		plain := recoveryEncoding.EncodeToString(raw)
		var b strings.Builder
		for j := 0; j < len(plain); j += recoveryGroup {
			if j > 0 {
				b.WriteByte('-')
			}
			b.WriteString(plain[j : j+recoveryGroup])
		}
		codes[i] = b.String()
		hashes[i] = HashRecoveryCode(codes[i])
	}
	return codes, hashes
}

// NormalizeRecoveryCode returns the canonical form of a recovery code as
// typed: lower case, without spaces or dashes, i and l read as 1 and o as 0.
// ok is false when the result is not a well-formed code.
func NormalizeRecoveryCode(code string) (canonical string, ok bool) {
	if len(code) > 4*recoveryLen {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(code); i++ {
		c := code[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		switch c {
		case ' ', '-', '\t':
			continue
		case 'i', 'l':
			c = '1'
		case 'o':
			c = '0'
		}
		if strings.IndexByte(recoveryAlphabet, c) < 0 {
			return "", false
		}
		b.WriteByte(c)
	}
	if b.Len() != recoveryLen {
		return "", false
	}
	return b.String(), true
}

// HashRecoveryCode returns the SHA-256 of the canonical form of code, the
// value to store. A malformed code hashes its raw text, which matches no
// stored hash.
func HashRecoveryCode(code string) []byte {
	if c, ok := NormalizeRecoveryCode(code); ok {
		code = c
	} else {
		code = "\x00malformed:" + code
	}
	h := sha256.Sum256([]byte(code))
	return h[:]
}

// MatchRecoveryCode returns the index of the stored hash that code matches,
// or -1. Every hash is compared in constant time, so the time taken does not
// tell which one matched. The caller deletes the matched hash: codes are
// single use.
func MatchRecoveryCode(code string, hashes [][]byte) int {
	c, ok := NormalizeRecoveryCode(code)
	if !ok {
		return -1
	}
	h := sha256.Sum256([]byte(c))
	found := -1
	for i, stored := range hashes {
		if subtle.ConstantTimeCompare(h[:], stored) == 1 && found < 0 {
			found = i
		}
	}
	return found
}

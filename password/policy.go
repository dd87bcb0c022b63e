package password

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/freight-portal/freight"
)

// Length bounds of a password. Lengths count Unicode code points of the NFC
// form, so "é" is one character whether it was typed as one code point or as
// "e" plus a combining accent. MaxBytes bounds the raw input so that the work
// done on it (normalising, hashing) stays small whatever a client sends; a
// password of MaxLength code points always fits.
const (
	MinLength = 8
	MaxLength = 128
	MaxBytes  = 1024
)

// Normalize returns the form of pw that is counted and hashed: Unicode NFC.
// NFC rather than NFKC keeps distinct characters distinct (a full-width
// letter stays itself), which keeps every password a user can type valid.
func Normalize(pw string) string {
	return norm.NFC.String(pw)
}

// always are related values that every password is compared with.
var always = []string{"freight"}

// Check reports whether pw may be chosen as a password. It returns nil or an
// EINVALID *freight.Error for the field "password" whose message says what
// to change. The rules are those of OWASP ASVS 5.0 level 2: at least
// MinLength and at most MaxLength characters, no rules about character
// classes, not on the embedded list of common passwords (compared without
// regard to case), and not equal to a related value: pass the user's email
// address and name; the local part of an email address is compared too.
func Check(pw string, related ...string) error {
	if len(pw) > MaxBytes {
		return tooLong()
	}
	if !utf8.ValidString(pw) {
		return invalid("password is not valid UTF-8 text")
	}
	pw = Normalize(pw)
	n := utf8.RuneCountInString(pw)
	if n < MinLength {
		return invalid("password must be at least %d characters long", MinLength)
	}
	if n > MaxLength {
		return tooLong()
	}
	if isCommon(pw) {
		return invalid("password is one of the most commonly used passwords; choose another")
	}
	for _, r := range append(related, always...) {
		for _, v := range relatedForms(r) {
			if strings.EqualFold(pw, v) {
				return invalid("password must not be your email address, your name or the product's name")
			}
		}
	}
	return nil
}

// relatedForms returns the normalised value r and, for an email address,
// its local part.
func relatedForms(r string) []string {
	r = Normalize(strings.TrimSpace(r))
	if r == "" {
		return nil
	}
	forms := []string{r}
	if i := strings.LastIndexByte(r, '@'); i > 0 {
		forms = append(forms, r[:i])
	}
	return forms
}

func invalid(format string, args ...any) *freight.Error {
	return freight.FieldError("password", format, args...)
}

func tooLong() *freight.Error {
	return invalid("password must be at most %d characters long", MaxLength)
}

// common.txt.gz holds the common passwords of at least MinLength
// characters, one a line, lower case; see README.md for its source.
//
//go:embed common.txt.gz
var commonGz []byte

// commonSet is loaded on first use: a server that never checks a password
// does not pay for it.
var commonSet = sync.OnceValue(func() map[string]struct{} {
	set, err := parseList(commonGz)
	if err != nil {
		// The list is part of the binary and a test reads it: a broken one is
		// a build defect, not a runtime condition to recover from.
		panic("password: embedded common-password list: " + err.Error())
	}
	return set
})

func parseList(gz []byte) (map[string]struct{}, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	set := make(map[string]struct{}, 12000)
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		if w := strings.TrimSpace(sc.Text()); w != "" {
			set[strings.ToLower(Normalize(w))] = struct{}{}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return set, zr.Close()
}

// isCommon reports whether the normalised pw is on the common list.
func isCommon(pw string) bool {
	_, ok := commonSet()[strings.ToLower(pw)]
	return ok
}

package seal

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
)

// maxKeyFile bounds the size of a key file read.
const maxKeyFile = 64 << 10

// Parse reads keys written as "keyid:base64key", oldest first: the last
// one seals. Entries are separated by line breaks, commas or spaces, so
// that several fit in one environment variable; '#' starts a comment that
// runs to the end of its line. The key is 32 bytes in base64, standard or
// URL-safe, with or without padding. Errors name the line and, once it is
// known to be one, the key id, but never quote what could be key material.
func Parse(text string) (*Keys, error) {
	k, err := parseKeys(text)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return k, nil
}

func parseKeys(text string) (*Keys, error) {
	var keys []Key
	for n, line := range strings.Split(text, "\n") {
		line, _, _ = strings.Cut(line, "#")
		for entry := range strings.FieldsFuncSeq(line, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\r' }) {
			id, b64, ok := strings.Cut(entry, ":")
			if !ok {
				return nil, fmt.Errorf("line %d: an entry is not keyid:base64key", n+1)
			}
			if !ValidKeyID(id) {
				return nil, fmt.Errorf("line %d: %w", n+1, errBadKeyID)
			}
			secret, err := decodeKey(b64)
			if err != nil {
				return nil, fmt.Errorf("line %d: key %q: %w", n+1, id, err)
			}
			keys = append(keys, Key{ID: id, Secret: secret})
			if len(keys) > maxKeys {
				return nil, fmt.Errorf("line %d: more than %d keys", n+1, maxKeys)
			}
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no key: write one key a line as keyid:base64key (freight secrets-key makes one)")
	}
	return newKeys(keys)
}

// decodeKey decodes a key in any of the four base64 alphabets and
// paddings.
func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.Strict().DecodeString(s); err == nil && enc.EncodedLen(len(b)) == len(s) {
			if len(b) != KeySize {
				return nil, fmt.Errorf("must be %d bytes, not %d", KeySize, len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("is not base64")
}

// ReadFile reads the keys of a key file (see Parse). The file must be
// private to its owner: a key file that other users may read or write is
// refused, as ssh refuses such a private key.
func ReadFile(path string) (*Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seal: key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal: key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("seal: key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("seal: key file %s may be read or written by other users (mode %04o): make it private with chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("seal: key file: %w", err)
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("seal: key file %s is larger than %d bytes", path, maxKeyFile)
	}
	k, err := parseKeys(string(b))
	if err != nil {
		return nil, fmt.Errorf("seal: key file %s: %w", path, err)
	}
	return k, nil
}

// NewKeyLine returns a new random key with the given id, as a line of a
// key file (without the line break).
func NewKeyLine(id string) (string, error) {
	if !ValidKeyID(id) {
		return "", fmt.Errorf("seal: %w", errBadKeyID)
	}
	var b [KeySize]byte
	rand.Read(b[:]) // never fails on supported platforms
	return id + ":" + base64.StdEncoding.EncodeToString(b[:]), nil
}

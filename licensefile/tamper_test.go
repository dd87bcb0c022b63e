package licensefile_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/freight-portal/freight/licensefile"
)

// TestTolerance: what email, editors and copy-paste do to a file does not
// matter, as long as they leave the characters of the block alone.
func TestTolerance(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		file := MustSign(t, fullLicense())
		verify := func(data []byte) (*licensefile.License, error) { return licensefile.Verify(data, trustedKeys) }
		if encrypted {
			file = MustSignEncrypted(t, fullLicense())
			verify = func(data []byte) (*licensefile.License, error) {
				return licensefile.VerifyEncrypted(data, trustedKeys, secret)
			}
		}
		want, err := verify(file)
		if err != nil {
			t.Fatal(err)
		}
		s := string(file)
		body := bodyOf(s)
		for _, tc := range []struct{ name, file string }{
			{"as written", s},
			{"CRLF", strings.ReplaceAll(s, "\n", "\r\n")},
			{"CR", strings.ReplaceAll(s, "\n", "\r")},
			{"mixed line ends", strings.Replace(strings.Replace(s, "\n", "\r\n", 2), "\n", "\r", 2)},
			{"no final line break", strings.TrimSuffix(s, "\n")},
			{"one body line", licensefile.Header + "\n" + body + "\n" + licensefile.Footer},
			{"76 columns", licensefile.Header + "\n" + wrap(body, 76) + licensefile.Footer + "\n"},
			{"1 column", licensefile.Header + "\n" + wrap(body, 1) + licensefile.Footer + "\n"},
			{"trailing spaces", strings.ReplaceAll(s, "\n", " \t \n")},
			{"indented", "    " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n    ") + "\n"},
			{"blank lines", strings.ReplaceAll(s, "\n", "\n\n")},
			{"spaces inside the body", licensefile.Header + "\n" + wrap(body, 4) + licensefile.Footer},
			{"text around", "Dear customer,\n\nyour license file:\n\n" + s + "\nBest regards\n-- \nACME licensing\n"},
			{"text around on the same line breaks", "Hello\r\n" + s + "Bye"},
			{"other armor around", "-----BEGIN PGP SIGNED MESSAGE-----\n" + s + "-----END PGP SIGNATURE-----\n"},
			{"byte order mark", "\ufeff" + s},
			{"Markdown fence", "```\n" + s + "```\n"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := verify([]byte(tc.file))
				if err != nil {
					t.Fatalf("Verify(%q): %v", tc.file, err)
				}
				if g, w := jsonOf(t, got), jsonOf(t, want); g != w {
					t.Errorf("Verify =\n%s\nwant\n%s", g, w)
				}
			})
		}
	}
}

func bodyOf(file string) string {
	s := strings.TrimPrefix(file, licensefile.Header+"\n")
	s = strings.TrimSuffix(s, licensefile.Footer+"\n")
	return strings.ReplaceAll(s, "\n", "")
}

func wrap(s string, n int) string {
	var b strings.Builder
	for len(s) > 0 {
		k := min(n, len(s))
		b.WriteString(s[:k])
		if n == 4 {
			b.WriteString(" ") // groups of four on one line
		} else {
			b.WriteString("\n")
		}
		s = s[k:]
	}
	if n == 4 {
		b.WriteString("\n")
	}
	return b.String()
}

// TestEveryByteChanged: a change of any byte of the file to another value
// either fails or turns whitespace into whitespace; it never yields another
// license.
func TestEveryByteChanged(t *testing.T) {
	t.Parallel()
	for _, encrypted := range []bool{false, true} {
		file := MustSign(t, fullLicense())
		verify := func(data []byte) (*licensefile.License, error) { return licensefile.Verify(data, trustedKeys) }
		if encrypted {
			file = MustSignEncrypted(t, fullLicense())
			verify = func(data []byte) (*licensefile.License, error) {
				return licensefile.VerifyEncrypted(data, trustedKeys, secret)
			}
		}
		want := jsonOf(t, mustVerify(t, verify, file))
		// Every bit flip, and characters that are base64, padding or
		// whitespace.
		subs := []byte{'A', 'Q', 'g', 'w', '/', '+', '=', ' ', '\t', '\r', '\n', 0, 0xff, '-'}
		tried, passed := 0, 0
		for i := range file {
			var news []byte
			for bit := range 8 {
				news = append(news, file[i]^1<<bit)
			}
			news = append(news, subs...)
			for _, c := range news {
				if c == file[i] {
					continue
				}
				changed := bytes.Clone(file)
				changed[i] = c
				tried++
				got, err := verify(changed)
				if err != nil {
					if !errors.Is(err, licensefile.ErrMalformed) && !errors.Is(err, licensefile.ErrBadSignature) &&
						!errors.Is(err, licensefile.ErrUnknownKey) && !errors.Is(err, licensefile.ErrUnsupportedVersion) {
						t.Fatalf("encrypted %v: byte %d %q->%q: unexpected error %v", encrypted, i, file[i], c, err)
					}
					continue
				}
				passed++
				if !isSpace(file[i]) || !isSpace(c) {
					t.Fatalf("encrypted %v: byte %d changed from %q to %q, and the file still verifies", encrypted, i, file[i], c)
				}
				if g := jsonOf(t, got); g != want {
					t.Fatalf("encrypted %v: byte %d %q->%q gives another license:\n%s", encrypted, i, file[i], c, g)
				}
			}
		}
		t.Logf("encrypted %v: %d changes tried, %d whitespace changes verify", encrypted, tried, passed)
	}
}

// TestSignedBytesChanged: flipping any bit of the payload (plain or
// ciphertext) or of the signature, re-armored canonically so that only the
// cryptography can tell, gives ErrBadSignature.
func TestSignedBytesChanged(t *testing.T) {
	t.Parallel()
	for _, file := range [][]byte{MustSign(t, fullLicense()), MustSignEncrypted(t, fullLicense())} {
		e := MustInspect(t, file)
		for _, field := range []*[]byte{&e.Payload, &e.Signature} {
			for i := range *field {
				for bit := range 8 {
					(*field)[i] ^= 1 << bit
					_, err := licensefile.VerifyEncrypted(licensefile.Armor(e), trustedKeys, secret)
					(*field)[i] ^= 1 << bit
					if !errors.Is(err, licensefile.ErrBadSignature) {
						t.Fatalf("%s: byte %d bit %d flipped: error %v, want ErrBadSignature", e.Encryption, i, bit, err)
					}
				}
			}
		}
		if _, err := licensefile.VerifyEncrypted(licensefile.Armor(e), trustedKeys, secret); err != nil {
			t.Fatalf("the unchanged file fails: %v", err)
		}
	}
}

// TestTruncated: every prefix of a file fails, but for the one that drops
// only the final line break.
func TestTruncated(t *testing.T) {
	for _, file := range [][]byte{MustSign(t, fullLicense()), MustSignEncrypted(t, fullLicense())} {
		for n := range len(file) - 1 {
			if _, err := licensefile.VerifyEncrypted(file[:n], trustedKeys, secret); err == nil {
				t.Fatalf("the first %d of %d bytes verify", n, len(file))
			}
		}
		if _, err := licensefile.VerifyEncrypted(file[:len(file)-1], trustedKeys, secret); err != nil {
			t.Errorf("without the final line break: %v", err)
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func mustVerify(tb testing.TB, verify func([]byte) (*licensefile.License, error), file []byte) *licensefile.License {
	tb.Helper()
	l, err := verify(file)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}
